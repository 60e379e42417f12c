/* csum-file.h: one writer for the files that end in (or are named by) a SHA-256 of their bytes. */
#ifndef CDT_CSUM_FILE_H
#define CDT_CSUM_FILE_H

#include <stddef.h>
#include <stdint.h>
#include "base/hash.h"

/*
 * Every format that ends in a checksum (packs and their indexes, the
 * multi-pack index, manifests, reference tables) is written through one of
 * these: a new temporary file, filled through a buffer and a running
 * SHA-256 of what goes in, finished by appending the checksum (or only
 * computing it, for a format that needs it elsewhere), synced if the
 * caller's durability rules ask for it, closed, and renamed into place.
 * Until it is renamed, the temporary file is removed when the writer is
 * freed, so that a failure leaves nothing behind.
 *
 * Bytes are hashed in the order they are written, except room made with
 * cdt_csum_file_reserve(): it is hashed when it is filled in, after all
 * that was written before that. (A reference table's checksum covers its
 * records, then its header, whose count is known last.)
 *
 * A failed write sticks: every later call returns the same -errno.
 */
struct cdt_csum_file;

/*
 * Create a temporary file "PREFIX-..." in directory tmpfd (see
 * tmpfile_openat()). Returns 0 with the writer in *out, or -errno.
 */
int cdt_csum_file_open(int tmpfd, const char *prefix, struct cdt_csum_file **out);
/*
 * The same, but the file is created only when bytes must go out: when its
 * buffer is full, when it is finished, or, for a file of at most 4 KiB
 * finished without CDT_CSUM_FSYNC, only by cdt_csum_file_write_out() (it
 * is kept in memory until then). A writer freed before that leaves nothing
 * behind and cost no file. Errors in creating it come from the call that
 * needed it.
 */
struct cdt_csum_file *cdt_csum_file_open_lazy(int tmpfd, const char *prefix);

/* Append n bytes, hashed. Returns 0 or -errno. */
int cdt_csum_file_write(struct cdt_csum_file *f, const void *buf, size_t n);

/* Returns the number of bytes written so far (the offset of the next one). */
uint64_t cdt_csum_file_offset(const struct cdt_csum_file *f);

/*
 * Append n zero bytes (at most 4096) that are not hashed yet: room for a
 * field that is known only at the end. Returns the room's offset, for
 * cdt_csum_file_fill().
 */
uint64_t cdt_csum_file_reserve(struct cdt_csum_file *f, size_t n);

/*
 * Write n bytes into room made at `off` by cdt_csum_file_reserve(), and
 * hash them now, after everything written so far. Returns 0 or -errno.
 */
int cdt_csum_file_fill(struct cdt_csum_file *f, uint64_t off, const void *buf, size_t n);

/* cdt_csum_file_finish() flags. */
#define CDT_CSUM_APPEND 1	/* append the checksum: the file's last 32 bytes */
#define CDT_CSUM_FSYNC 2	/* fsync the file (else the caller syncs the store) */

/*
 * Write out what is buffered, compute the checksum of every hashed byte
 * (into *sum, when not NULL), append it with CDT_CSUM_APPEND, fsync the
 * file with CDT_CSUM_FSYNC, and close it. The file keeps its temporary
 * name until cdt_csum_file_rename(). Returns 0 or -errno.
 */
int cdt_csum_file_finish(struct cdt_csum_file *f, unsigned flags, struct cdt_id *sum);
/*
 * Write a finished file kept in memory (cdt_csum_file_open_lazy()) to its
 * temporary file; nothing for one already written. It must be, before
 * cdt_csum_file_rename(). 0 or -errno.
 */
int cdt_csum_file_write_out(struct cdt_csum_file *f);

/*
 * The bytes of a finished file still kept in memory (never written out):
 * 1 with them in *p (valid until the writer is freed) and *n, else 0.
 */
int cdt_csum_file_in_memory(const struct cdt_csum_file *f, const unsigned char **p, size_t *n);

/* cdt_csum_file_rename() flags. */
#define CDT_CSUM_NOREPLACE 4	/* never replace a file already there */
#define CDT_CSUM_SYNC_DIR 8	/* fsync the directory the file lands in */

/*
 * Move the finished file to `name` (which may have a directory part)
 * relative to dirfd, replacing any file there unless CDT_CSUM_NOREPLACE.
 * Returns 0; 1 when CDT_CSUM_NOREPLACE found `name` already there (the
 * temporary file is then removed, and no directory synced); or -errno
 * (the temporary file stays until cdt_csum_file_free()).
 */
int cdt_csum_file_rename(struct cdt_csum_file *f, int dirfd, const char *name, unsigned flags);

/* Returns the temporary file's name in tmpfd; "" once it was renamed. */
const char *cdt_csum_file_tmpname(const struct cdt_csum_file *f);

/* Close the file, remove it unless it was renamed, and free the writer. */
void cdt_csum_file_free(struct cdt_csum_file *f);

#endif
