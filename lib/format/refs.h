/* refs.h: reverse reference tables (chunk -> manifests): writing, lookups, compaction, rebuilding. */
#ifndef CDT_REFS_H
#define CDT_REFS_H

#include <stdint.h>
#include "base/hash.h"
#include "format/store.h"

/*
 * Chunk references live in immutable, content-addressed tables
 * refs/chunks/<64 hex>.ref, each a sorted set of (chunk id, manifest id)
 * pairs. Version 1 (format-1 stores) spells every pair out:
 *   "CDTR" version(1)=1 reserved(3) count(LE64)
 *   count x { chunk id (32), manifest id (32) }   sorted, no duplicates
 *   checksum (32): SHA-256 of the records, then of the 16-byte header
 *   (the count is known last)
 * Version 2 (format-2 stores) names each manifest once:
 *   "CDTR" version(1)=2 reserved(3) count(LE64) manifests m (LE32) reserved(4)
 *   count x { chunk id (32), manifest number (LE32) }
 *   m x manifest id (32), numbered in the order the records first use them
 *   checksum (32): SHA-256 of the records and manifests, then of the
 *   24-byte header
 * with the pairs sorted by chunk id, then manifest id, without duplicates,
 * and every manifest listed once and used; so a set of pairs has exactly
 * one encoding (and one name) in each version.
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
#define CDT_REFS_VERSION_NUMBERED 2
#define CDT_REFS_HDR2 24
#define CDT_REFS_REC2 36

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
 * A snapshot for checking, as fsck takes it: every file in refs/chunks/,
 * listed and mapped while no add can merge tables, and each table checked
 * in full (its shape, its checksum, that its name is that checksum, and
 * the order of its pairs), which lookups do not do. bad() gets each file
 * there that is not a table (err 0; dirfd and file let the caller see its
 * size) and each table that fails a check (err -CDT_ECORRUPT, or -errno
 * when it cannot be read), with why in words. A table that fails a check
 * once mapped is counted by cdt_refs_table_count() but not read. Returns 0
 * or -errno (*out NULL).
 */
typedef void (*cdt_ref_table_bad_fn)(int dirfd, const char *file, int err, const char *why,
				     void *data);
int cdt_refs_open_checked(struct cdt_store *s, cdt_ref_table_bad_fn bad, void *data,
			  struct cdt_refs **out);
/*
 * Each distinct pair of the snapshot's tables, in order (a k-way merge);
 * a non-zero return from fn stops the walk. Returns 0 or fn's value.
 */
typedef int (*cdt_ref_pair_fn)(const struct cdt_ref_pair *p, void *data);
int cdt_refs_for_each_pair(const struct cdt_refs *r, cdt_ref_pair_fn fn, void *data);

/*
 * Merge tables into one when there are more than `max_tables` (0: always
 * merge all). With `keep` set, only pairs for which keep() returns non-zero
 * survive (used under the exclusive lock to drop dead references). A table
 * that does not check in full (checksum, name, order) is left where it is,
 * with a warning. Returns the number of tables merged (0 if nothing to do)
 * or -errno.
 */
typedef int (*cdt_ref_keep_fn)(const struct cdt_ref_pair *p, void *data);
int cdt_refs_compact(struct cdt_store *s, size_t max_tables, cdt_ref_keep_fn keep, void *data);

/*
 * Rebuild refs/chunks/ from what the caller knows (fsck --rebuild-refs,
 * under the exclusive lock): fresh tables are written from the pairs fill()
 * adds (those of every manifest that can be read) and from the pairs of the
 * old tables that carry() keeps (those of a manifest that exists but cannot
 * be read: what it lists is unknown, and gc must not take its chunks). Once
 * the fresh tables are durable and read back as written, every other table
 * is removed and the fresh ones are merged into one. Errors are reported;
 * returns 0 or -errno. written and removed count the tables.
 */
struct cdt_refs_rebuild {
	int (*fill)(struct cdt_ref_writer *w, void *data);	/* 0 or -errno */
	cdt_ref_keep_fn carry;					/* may be NULL */
	void *data;
	uint64_t written, removed;				/* out */
};
int cdt_refs_rebuild(struct cdt_store *s, struct cdt_refs_rebuild *rb);

#endif
