/* tree.h: the stored names of a mounted store as an in-memory directory tree. */
#ifndef CDT_VIEW_TREE_H
#define CDT_VIEW_TREE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "base/hash.h"
#include "format/store.h"

/*
 * One node per stored name and per directory that names imply. Directories
 * keep their children sorted by byte order of `base`, so that a lookup is a
 * binary search per path component and a listing is a walk of one array.
 */
struct view_node {
	char *base;			/* last path component, its raw bytes; "" for the root */
	char *stored;			/* directories: the component in names/, if not base */
	struct view_node **kids;	/* directories: children, sorted by base */
	size_t nkids, alloc;
	uint32_t nsubdirs;		/* directories: for st_nlink */
	unsigned is_dir : 1;
	unsigned is_link : 1;		/* a symbolic link to `target` */
	unsigned has_meta : 1;		/* directories: stored with their own entry */
	char *target;
	/*
	 * Files: the kernel may keep cached pages of this name across opens.
	 * Set once the content was opened; carried over by a rebuild only if
	 * the name still holds the same content.
	 */
	int cached;
	uint32_t mode, uid, gid;
	int64_t mtime_sec, added_sec;
	uint32_t mtime_nsec;
	uint64_t size;
	struct cdt_id content;
};

/*
 * A tree is immutable once built; readers hold a reference while they use
 * it (view_tree_get/put), so a rebuild can swap in a new one at any time.
 * refs is guarded by the lock of the view_current the tree was shown by.
 */
struct view_tree {
	struct view_node *root;
	size_t files, dirs, unreadable;
	/* Directories of names/ as they were after the walk, to notice changes. */
	struct dir_stamp *stamps;
	size_t nstamps;
	int unsure;	/* a directory changed too close to the walk to trust its stamp */
	/*
	 * Files of the tree it was built from (`old`) that this one shows
	 * otherwise ("/a/b"): what the kernel cached of them is out of date.
	 */
	char **changed;
	size_t nchanged, changed_alloc;
	unsigned refs;
};

/*
 * List the store's names into a new tree. Names that cannot be read are
 * left out and reported (once per rebuild). `old`, when given, passes on
 * the `cached` marks of names that still hold the same content, and its
 * files shown otherwise now are listed in `changed`. Returns 0
 * or -errno (the names directory could not be walked).
 */
int view_tree_build(struct cdt_store *s, const struct view_tree *old, struct view_tree **out);
/* Free t and all its nodes; NULL is allowed. */
void view_tree_free(struct view_tree *t);

/*
 * Has names/ changed since `t` was built? Compares the stamps of every
 * directory (one fstatat each; entries are never read). 1, 0, or -errno.
 */
int view_tree_stale(struct cdt_store *s, const struct view_tree *t);

/* The node at `path` ("/" or "/a/b"), or NULL. */
struct view_node *view_tree_lookup(const struct view_tree *t, const char *path);

/*
 * The tree a mounted view shows now. It holds one reference to its tree;
 * view_current_set() replaces the tree whole, and the old one is freed
 * when its last reader lets go.
 */
struct view_current {
	pthread_mutex_t lock;
	struct view_tree *tree;	/* NULL until the first view_current_set() */
};

/* Start with no tree: view_current_set() one before any view_tree_get(). */
void view_current_init(struct view_current *c);
/* Drop the current tree (if any); no reader may still hold a reference. */
void view_current_release(struct view_current *c);
/* Show `fresh` (taking over its reference) in place of the tree before. */
void view_current_set(struct view_current *c, struct view_tree *fresh);
/* Returns the tree shown now, with a reference for the caller to put. */
struct view_tree *view_tree_get(struct view_current *c);
/* Give back a reference from view_tree_get(); the last one frees the tree. */
void view_tree_put(struct view_current *c, struct view_tree *t);

#endif
