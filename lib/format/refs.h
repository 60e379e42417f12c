/* refs.h: reverse reference tables (chunk -> manifests): writing, lookups, compaction. */
#ifndef CDT_REFS_H
#define CDT_REFS_H

#include <stdint.h>
#include "base/hash.h"
#include "format/store.h"

/*
 * Chunk references live in immutable, content-addressed tables
 * refs/chunks/<64 hex>.ref, each a sorted set of (chunk id, manifest id)
 * pairs:
 *   "CDTR" version(1) reserved(3) count(LE64)
 *   count x { chunk id (32), manifest id (32) }   sorted, no duplicates
 *   checksum (32): SHA-256 of the records, then of the 16-byte header
 *   (the count is known last)
 * An add writes one small table per new manifest; lookups binary-search
 * every table; compaction merges tables (as an LSM tree does) so that their
 * number stays small. A pair is live while its manifest exists: removing a
 * manifest drops its references at once, and compaction under the exclusive
 * lock later deletes them. Sets make every operation idempotent: a table
 * written twice, or present both merged and unmerged, changes nothing.
 *
 * Name records (manifest -> names) are namerefs.h's.
 */
#define CDT_REFS_MAGIC "CDTR"
#define CDT_REFS_VERSION 1
#define CDT_REFS_HDR 16
#define CDT_REFS_REC 64

struct cdt_ref_pair {
	struct cdt_id chunk;
	struct cdt_id manifest;
};

/* Collects pairs and writes them as tables (bounded memory per table). */
struct cdt_ref_writer;
struct cdt_ref_writer *cdt_ref_writer_new(struct cdt_store *s);
int cdt_ref_writer_add(struct cdt_ref_writer *w, const struct cdt_id *chunk,
		       const struct cdt_id *manifest);
/* Write what is buffered as a table (not synced: the caller syncs). */
int cdt_ref_writer_flush(struct cdt_ref_writer *w);
/*
 * Names ("<64 hex>.ref", in refs/chunks/) of the tables this writer has
 * written so far, including any it found already present with the same
 * contents. Valid until the next flush or free.
 */
size_t cdt_ref_writer_tables(const struct cdt_ref_writer *w, const char *const **names);
void cdt_ref_writer_free(struct cdt_ref_writer *w);

/* A snapshot of the tables present when it was opened (mmapped). */
struct cdt_refs;
int cdt_refs_open(struct cdt_store *s, struct cdt_refs **out);
void cdt_refs_close(struct cdt_refs *r);
size_t cdt_refs_table_count(const struct cdt_refs *r);
/*
 * Manifests recorded for `chunk` (live or not), sorted and without
 * duplicates, into *out (caller frees). Returns the number or -errno.
 */
int cdt_refs_lookup(struct cdt_refs *r, const struct cdt_id *chunk, struct cdt_id **out);

/*
 * Merge tables into one when there are more than `max_tables` (0: always
 * merge all). With `keep` set, only pairs for which keep() returns non-zero
 * survive (used under the exclusive lock to drop dead references). Returns
 * the number of tables merged (0 if nothing to do) or -errno.
 */
typedef int (*cdt_ref_keep_fn)(const struct cdt_ref_pair *p, void *data);
int cdt_refs_compact(struct cdt_store *s, size_t max_tables, cdt_ref_keep_fn keep, void *data);

#endif
