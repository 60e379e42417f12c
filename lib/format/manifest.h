/* manifest.h: per-file manifests, the ordered chunk list of one file content. */
#ifndef CDT_MANIFEST_H
#define CDT_MANIFEST_H

#include <stdint.h>
#include "base/hash.h"
#include "format/store.h"

#include "format/manifest-layout.h"

struct cdt_manifest_entry {
	struct cdt_id id;
	uint64_t offset;	/* where the chunk starts in the file */
	uint32_t len;
};

/* Streaming writer to a temporary file in the store's tmp/ (through csum-file.h). */
struct cdt_manifest_writer;
/* 0 with the writer in *out, or -errno. */
int cdt_manifest_writer_new(struct cdt_store *s, struct cdt_manifest_writer **out);
/* Append the next chunk of the file. 0 or -errno. */
int cdt_manifest_writer_add(struct cdt_manifest_writer *w, const struct cdt_id *id,
			    uint32_t len);
/*
 * Write the trailer for a file with id `file_id`. A small manifest is
 * then still in memory: cdt_manifest_writer_write_out() writes it to its
 * temporary file (nothing for one written already). The data is not yet
 * durable: the caller writes it out and syncs the store before
 * cdt_manifest_writer_commit().
 */
int cdt_manifest_writer_finish(struct cdt_manifest_writer *w, const struct cdt_id *file_id);
int cdt_manifest_writer_write_out(struct cdt_manifest_writer *w);
/*
 * Move the finished manifest to its final name and sync its directory.
 * Returns 0, 1 when an identical manifest already existed, or -errno. With
 * `replace`, a manifest already there (found damaged) is replaced.
 */
int cdt_manifest_writer_commit(struct cdt_manifest_writer *w, int replace);
/* The same, syncing nothing without `sync` (a group commit syncs the store after). */
int cdt_manifest_writer_commit_flags(struct cdt_manifest_writer *w, int replace, int sync);
/* Remove the temporary file (if still there) and free. */
void cdt_manifest_writer_free(struct cdt_manifest_writer *w);
uint64_t cdt_manifest_writer_count(const struct cdt_manifest_writer *w);
/*
 * The chunk ids added so far, in order (cdt_manifest_writer_count() of
 * them), while there are few enough to be kept in memory; else NULL, and
 * they are read from the file (cdt_manifest_writer_tmpname()).
 */
const struct cdt_id *cdt_manifest_writer_ids(const struct cdt_manifest_writer *w);
/*
 * The finished manifest's checksum (its last 32 bytes), or NULL before
 * finish. Two manifests with equal checksums are the same bytes.
 */
const struct cdt_id *cdt_manifest_writer_checksum(const struct cdt_manifest_writer *w);
/* A finished manifest still in memory: 1 with its bytes (see cdt_csum_file_in_memory()), else 0. */
int cdt_manifest_writer_in_memory(const struct cdt_manifest_writer *w, const unsigned char **p,
				  size_t *n);
/* Name of the temporary file under tmp/ (valid until commit). */
const char *cdt_manifest_writer_tmpname(const struct cdt_manifest_writer *w);

/* Does a manifest for file id exist? 1, 0 or -errno. */
int cdt_manifest_exists(struct cdt_store *s, const struct cdt_id *file_id);

/* A manifest opened for reading; its checksum and structure are checked. */
struct cdt_manifest;
/*
 * Open and check the manifest of file_id: its length, trailer, checksum,
 * that it names itself, and that chunk lengths are between 1 and the store's
 * maximum and add up to the file size. Returns 0, -ENOENT, -CDT_ECORRUPT
 * (reason in `why`) or -errno.
 */
int cdt_manifest_open(struct cdt_store *s, const struct cdt_id *file_id,
		      struct cdt_manifest **out, struct strbuf *why);
void cdt_manifest_close(struct cdt_manifest *m);
uint64_t cdt_manifest_count(const struct cdt_manifest *m);
uint64_t cdt_manifest_size(const struct cdt_manifest *m);
/* Its checksum, as checked when it was opened. */
const struct cdt_id *cdt_manifest_checksum(const struct cdt_manifest *m);
/*
 * Entry i (0 <= i < count). 0 or -errno (the file changed under us).
 * Reads through a window kept in `m`, so one thread at a time per manifest.
 */
int cdt_manifest_get(struct cdt_manifest *m, uint64_t i, struct cdt_manifest_entry *e);
/*
 * Entry i like cdt_manifest_get(), but with one pread() of its own and no
 * shared state: any number of threads may call it on one manifest at once,
 * together with cdt_manifest_find().
 */
int cdt_manifest_pget(struct cdt_manifest *m, uint64_t i, struct cdt_manifest_entry *e);
/*
 * Index of the chunk holding byte `offset` (< size): a binary search over
 * the groups of records noted at open, then over one group read with
 * pread() (safe from several threads).
 */
int cdt_manifest_find(struct cdt_manifest *m, uint64_t offset, uint64_t *index);

/*
 * Read only the trailer (count and size) without checking the whole file:
 * for listings. 0, -ENOENT or -CDT_ECORRUPT.
 */
int cdt_manifest_peek(struct cdt_store *s, const struct cdt_id *file_id,
		      uint64_t *count, uint64_t *size);

#endif
