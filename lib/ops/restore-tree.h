/* restore-tree.h: writing the names under a prefix back into a directory, as cp -a would have copied them. */
#ifndef CDT_RESTORE_TREE_H
#define CDT_RESTORE_TREE_H

#include <stdint.h>
#include "format/store.h"

/* What was done (or, in a dry run, would be done) for one name. */
enum cdt_tree_action {
	CDT_TREE_WRITE,		/* a new regular file written */
	CDT_TREE_REPLACE,	/* a regular file written over a different file or a link */
	CDT_TREE_SKIP,		/* an identical file, or a link to the same target, kept */
	CDT_TREE_MKDIR,		/* a directory made */
	CDT_TREE_SYMLINK,	/* a symbolic link made (or one with another target replaced) */
	CDT_TREE_LINK,		/* a hard link to a name restored earlier in this run made */
};

/* The word each action is shown as ("write", "skip", ...). */
const char *cdt_tree_action_name(enum cdt_tree_action a);

#define CDT_TREE_DRY_RUN 0x01	/* decide and report, change nothing */
#define CDT_TREE_XATTRS 0x02	/* set stored extended attributes and ACLs */
#define CDT_TREE_OWNERS 0x04	/* set owners and keep set-id bits (the caller is root) */

struct cdt_tree_opts {
	unsigned flags;
	int jobs;		/* files written at once (0: online CPUs) */
	/*
	 * Optional, called for each name with what was done to it: the
	 * stored name (a directory only implied by the names under it is
	 * named as such a prefix). Calls are serialised but may come from
	 * any thread.
	 */
	void (*action)(enum cdt_tree_action a, const char *stored, void *data);
	/*
	 * Optional, called (serialised, from any thread) as work goes on:
	 * the bytes of regular files written or found identical, of
	 * `total` (known before the first is written), and names done of
	 * `names`.
	 */
	void (*progress)(uint64_t done, uint64_t total, uint64_t names_done, uint64_t names,
			 void *data);
	void *data;
};

struct cdt_tree_result {
	uint64_t names;		/* names under the prefix (and the prefix itself) */
	uint64_t bytes;		/* their regular files' bytes */
	uint64_t written;	/* names made or replaced */
	uint64_t skipped;	/* names found as stored and kept */
	uint64_t failed;	/* names that could not be restored (each reported) */
	uint64_t bytes_written;	/* file bytes written (not those kept) */
};

/*
 * Write every stored name under `prefix` (a valid stored name) into the
 * directory `dir`: prefix/x/y becomes dir/x/y (its raw bytes), the entry
 * of `prefix` itself, a directory, gives `dir` its metadata, and a prefix
 * that is one file or link becomes dir/<its last component>. `dir` is
 * made if missing (its parent must exist); nothing is ever written
 * outside it, whatever the names say or whatever changes in it meanwhile.
 *
 * Regular files are checked chunk by chunk as they are written to a
 * temporary file, which is renamed into place when complete. What is in
 * the way: an identical regular file (same bytes, one link) is kept and
 * gets the stored metadata; a directory is reused; a symbolic link to the
 * same target is kept; any other non-directory is replaced; a directory
 * where a file or link goes, or a non-directory where a directory goes,
 * is an error for that name (and what is under it), as with cp -a.
 *
 * Each failing name is reported in one line and the others are restored.
 * Returns 0 when everything was restored; 1 when some names failed (counted
 * in res->failed); -ENOENT (reported, nothing made) when no name is
 * `prefix` or under it; another -errno (reported) when `dir` cannot be
 * made or the names cannot be listed.
 */
int cdt_restore_tree(struct cdt_store *s, const char *prefix, const char *dir,
		     const struct cdt_tree_opts *o, struct cdt_tree_result *res);

#endif
