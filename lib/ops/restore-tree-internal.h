/* restore-tree-internal.h: what restore-tree.c (names, directories, links, the driver) and restore-tree-files.c (regular files, the workers) share. */
#ifndef CDT_RESTORE_TREE_INTERNAL_H
#define CDT_RESTORE_TREE_INTERNAL_H

#include "ops/restore-tree.h"
#include "base/hash.h"
#include "base/strbuf.h"
#include "format/names.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#define TMP_PREFIX ".cdt-restore"

/* An open directory of the tree being written, shared by the files queued in it. */
struct tnode {
	int fd;			/* -1: it could not be made (reported) or, dry run, is not there */
	int missing;		/* dry run: it would be made, so everything under it is new */
	int refs;		/* under tree.mu */
	int parked;		/* fd closed while deeper directories are written; reopened */
	int borrowed;		/* fd is tree.rootfd: not closed with the node */
	dev_t dev;		/* the directory opened, to know it again when reopened */
	ino_t ino;
};

enum { ST_PENDING, ST_DONE, ST_FAILED };

/* One stored name to restore: what its entry says, and how its restore went. */
struct titem {
	char *stored;		/* the stored name, for messages */
	char *rel;		/* raw path under DIR ("" for DIR itself) */
	const char *base;	/* its last component */
	uint8_t type, flags;
	uint32_t mode, uid, gid;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint64_t size;
	struct cdt_id content;
	char *target;		/* link target, or the stored name of the first hard link */
	unsigned char *xattrs;
	size_t xattrs_len;
	int leader;		/* the item this one is a hard link to, else -1 */
	/* A leader's hard links, chained through next_link (-1 ends); their number. */
	int first_link, next_link;
	uint32_t links;
	int state;		/* ST_*, under tree.mu */
	struct tnode *dir;	/* while it is queued */
	int made;		/* a directory opened: its metadata is set at the end */
	/* A regular file already there kept as it was (dry run: would be), a directory reused. */
	int kept;
	dev_t dev;
	ino_t ino;
};

struct tree;

struct worker {
	struct tree *t;
	pthread_t thread;
	struct cdt_restore *r;
	struct cdt_name_entry *e;	/* what cdt_restore_fd() reads */
	struct cdt_cid *h;	/* content ids, of the store's kind */
	unsigned char *buf;
	uint64_t last;			/* progress within the file being written */
};

struct tree {
	struct cdt_store *s;
	const struct cdt_tree_opts *o;
	struct cdt_tree_result *res;
	const char *dir;		/* as given, for messages */
	int dry, owners, xattrs;
	int rootfd;
	int root_made;			/* DIR did not exist */
	dev_t store_dev;		/* the store's own directory: never written into */
	ino_t store_ino;

	struct titem *items;
	size_t nr, alloc;
	size_t prefix_comps;		/* components of the prefix */
	const char *prefix;
	int walk_failed;

	pthread_mutex_t mu;
	pthread_cond_t work;		/* the queue has items (or is closing) */
	pthread_cond_t space;		/* the queue has room */
	pthread_cond_t state;		/* a file the main thread waits for is done */
	int waiting;			/* the main thread waits on `state` */
	size_t *queue;
	size_t qhead, qlen, qcap;
	int closing;
	struct worker *workers;
	int nworkers;
	int jobs;
	struct worker *big;		/* the main thread's, for big files */
	int big_jobs;			/* its readers (below 2: big files go to the workers) */
	size_t open_levels;		/* directories of the walk kept open (see restore-tree-fds.c) */
	char **gone;			/* rel of directories found replaced while restoring (reported) */
	size_t nr_gone, alloc_gone;
	uint64_t done_bytes, done_names;
};

#define BUF_SIZE (1u << 20)
/*
 * A file this big is written by the main thread with every thread reading
 * ahead in it, as cat does, while the workers go on with small files: one
 * worker reading a big file alone would take longer than all of them.
 */
#define BIG_FILE (32u << 20)

/* restore-tree-collect.c: the list of items. */
/* Components of a '/'-separated path. */
int rt_count_comps(const char *s);
/* cdt_names_walk() callback: one entry under the prefix into t->items (data: the tree). */
int rt_collect(const char *name, const struct cdt_name_entry *e, int err, const char *why,
	       void *data);
/* Point each hard link at the item of its first name, when that is restored too. */
void rt_find_leaders(struct tree *t);

/* restore-tree.c: reporting and bookkeeping, shared with the workers. */
void rt_report(struct tree *t, enum cdt_tree_action a, const char *stored);
void rt_show_progress(struct tree *t);
void rt_name_done(struct tree *t, int failed, int kept, uint64_t bytes_written);
void rt_set_state(struct tree *t, struct titem *it, int state);
void rt_node_unref(struct tree *t, struct tnode *n);
void rt_node_ref(struct tree *t, struct tnode *n);
/* Is rel the directory dir or under it ("" holds everything)? */
int rt_is_under(const char *dir, const char *rel);
/* DIR/rel of an item, for messages. */
const char *rt_local_path(const struct tree *t, const struct titem *it, struct strbuf *sb);
/* Mode, owner, times and extended attributes of an item written to fd. 0 or -1 (reported). */
int rt_set_meta(struct tree *t, const struct titem *it, int fd, const char *shown);
/*
 * A fresh temporary name in dirfd, remembered so that a signal removes
 * whatever is made there: the open file with keep_file, else 0 (the file
 * removed again). -errno on failure.
 */
int rt_tmp_name(int dirfd, struct strbuf *name, int keep_file);
/*
 * Open the directory rel under rootfd without leaving it and without
 * following any symbolic link. fd or -errno.
 */
int rt_open_dir_beneath(int rootfd, const char *rel);
/*
 * Make an entry's extended attributes the stored ones on fd, or on
 * dirfd/base (a link): those set, and user, trusted, ACL and capability
 * attributes not stored removed (security labels are left alone).
 */
void rt_set_xattrs(const struct titem *it, int fd, int dirfd, const char *shown);

/* restore-tree-fds.c: the descriptors a restore may use. */
/*
 * Share out the descriptors the limit of open files leaves free between
 * the workers (*jobs, lowered if need be), the queue of files
 * (t->qcap), big files (t->big_jobs) and the directories of the walk
 * (t->open_levels). 0, or -EMFILE (reported) when too few are left to
 * restore at all.
 */
int rt_plan_descriptors(struct tree *t, int *jobs);

/* restore-tree-meta.c: the directories' own metadata. */
/*
 * Set the stored metadata of every directory made or reused, deepest
 * first, once all that is in them is written (their times stay); each
 * one found replaced is reported once, with the directories under it.
 */
void rt_finish_dirs(struct tree *t);

/* restore-tree-links.c: links, made by the main thread in name order. */
/* A symbolic link: made, kept when it has the same target and no other link, else made anew over a non-directory. */
void rt_restore_symlink(struct tree *t, struct tnode *dir, struct titem *it);
/* A hard link to the first name of its file: 1 done (or failed, reported), 0 to be written as a copy. */
int rt_restore_hardlink(struct tree *t, struct tnode *dir, struct titem *it);

/* restore-tree-files.c: the workers that write regular files. */
/* cdt_restore_fd()'s progress callback for a worker (data: the worker). */
void rt_file_progress(uint64_t done, void *data);
void *rt_worker_main(void *data);
struct worker *rt_worker_new(struct tree *t, int jobs);
void rt_worker_release(struct worker *w);
/* Queue item i (a regular file) to be written into dir. */
void rt_enqueue(struct tree *t, size_t i, struct tnode *dir);

#endif
