/* diff.h: what differs between the names under two prefixes (cdt diff). */
#ifndef CDT_DIFF_H
#define CDT_DIFF_H

#include <stdint.h>
#include "format/names.h"
#include "format/store.h"

/* What differs about one relative name: a bitmask. */
enum {
	CDT_DIFF_ADDED = 1 << 0,	/* only under the second prefix */
	CDT_DIFF_REMOVED = 1 << 1,	/* only under the first */
	CDT_DIFF_CONTENT = 1 << 2,	/* content id or size */
	CDT_DIFF_MODE = 1 << 3,		/* permission bits */
	CDT_DIFF_OWNER = 1 << 4,	/* uid or gid */
	CDT_DIFF_MTIME = 1 << 5,	/* modification time, to the nanosecond */
	CDT_DIFF_DAMAGED = 1 << 6,	/* an entry could not be read: nothing is known */
	CDT_DIFF_XATTRS = 1 << 7,	/* extended attributes (ACLs among them) */
	CDT_DIFF_TYPE = 1 << 8,		/* file, directory or symbolic link (with CONTENT) */
};
/* The differences that leave the content alone. */
#define CDT_DIFF_META (CDT_DIFF_MODE | CDT_DIFF_OWNER | CDT_DIFF_MTIME | CDT_DIFF_XATTRS)

/*
 * What differs between two entries of one relative name: CDT_DIFF_CONTENT
 * (and CDT_DIFF_TYPE when the types differ) and CDT_DIFF_META bits, 0 when
 * they are the same. The one place that
 * says which fields of an entry count; when it was written (added_sec)
 * does not.
 */
unsigned cdt_name_entry_diff(const struct cdt_name_entry *a, const struct cdt_name_entry *b);

struct cdt_diff_item {
	/* Relative to the prefixes; "" when a prefix is itself a stored name. */
	const char *path;
	unsigned what;
	/* The entries under the first and second prefix; NULL where absent or damaged. */
	const struct cdt_name_entry *a, *b;
	/* CDT_DIFF_DAMAGED: the stored name that could not be read, and why. */
	const char *damaged_name, *why;
};

struct cdt_diff_result {
	uint64_t added, removed, changed, meta_only, same, damaged;
	/*
	 * Sizes of the files only on one side: a file whose name became a
	 * directory or a link is removed bytes, one in the place of either added.
	 */
	uint64_t added_bytes, removed_bytes;
	uint64_t old_bytes, new_bytes;		/* sizes of changed files, before and after */
	/* CDT_DIFF_CHUNKS: chunks the second prefix's contents list and the first's do not. */
	uint64_t new_chunks, new_raw_bytes, new_stored_bytes;
};

enum {
	CDT_DIFF_CHUNKS = 1 << 0,	/* count new chunks (reads both sides' manifests) */
};

/*
 * Gets each difference in byte order of path; a non-zero return stops the
 * diff. A name that changed type is one item (CDT_DIFF_TYPE), given where
 * its entry that is not a directory is walked.
 */
typedef int (*cdt_diff_fn)(const struct cdt_diff_item *it, void *data);

/*
 * Compare the names under prefix1 with those under prefix2, by their names
 * relative to each prefix (a prefix is a stored name or a directory of
 * them). Both are walked with cdt_names_walk() at once, the first in a
 * thread that hands its entries over through a small bounded queue, so
 * memory does not grow with the number of names. With CDT_DIFF_CHUNKS,
 * the content ids of both sides (with a name for each) and the chunk ids
 * of the first's contents are held, to count the new chunks (read after
 * the walk). A prefix with no
 * names is an error (reported; -ENOENT) before anything is compared.
 * Returns 0, fn's non-zero return, -CDT_ECORRUPT when a manifest could not
 * be read (reported; the chunk figures are then lower bounds), -ESTALE when
 * it could not because the name that held it was replaced or removed since
 * it was walked (reported as that; lower bounds too), or -errno.
 * Damaged entries go to fn and are counted; they are not an error here.
 */
int cdt_diff(struct cdt_store *s, const char *prefix1, const char *prefix2, unsigned flags,
	     cdt_diff_fn fn, void *data, struct cdt_diff_result *res);

#endif
