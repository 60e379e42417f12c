/* refs-internal.h: what refs.c (reading, compaction) and refs-write.c (writing tables) share. */
#ifndef CDT_REFS_INTERNAL_H
#define CDT_REFS_INTERNAL_H

#include "format/refs.h"

/* Order of pairs: chunk id, then manifest id (qsort-style). */
int cdt_refs_pair_cmp(const void *a, const void *b);
/* refs/<sub> opened as a directory (made first with `create`): an fd or -errno. */
int cdt_refs_open_subdir(struct cdt_store *s, const char *sub, int create);
/*
 * Write a table, of the version the store writes, from a stream of sorted,
 * unique pairs: `next` fills one pair and returns 1, or 0 at the end, or
 * -errno. The table is renamed into refs/chunks/ under its checksum (not
 * synced: the caller syncs) and its file name put in out_name (if not
 * NULL); no pairs, no table. Returns 0 or -errno.
 */
typedef int (*cdt_ref_pair_source)(struct cdt_ref_pair *p, void *data);
int cdt_refs_write_table(struct cdt_store *s, cdt_ref_pair_source next, void *data,
			 char *out_name);

#endif
