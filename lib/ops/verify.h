/* verify.h: comparing a local file with a stored one, without restoring it. */
#ifndef CDT_VERIFY_H
#define CDT_VERIFY_H

#include <stdint.h>
#include "format/names.h"
#include "format/store.h"

struct cdt_verify_diff {
	int identical;
	/*
	 * The first byte that differs (the stored size when the local file
	 * is a longer copy). When `exact` is 0 the stored chunk starting here
	 * is damaged, so the local file differs somewhere in the `len` bytes
	 * from `offset`, but which byte cannot be told.
	 */
	uint64_t offset;
	uint32_t len;
	int exact;
};

/*
 * Compare what fd holds (read to its end or to the first difference; called
 * `what` in messages) with the stored file `e`: the local bytes are cut
 * where the manifest cuts, hashed in parallel (`jobs` threads, 0: CPUs) and
 * compared with the chunk ids, so the store's chunk data is read only to
 * find the exact byte of a difference. Returns 0 with *diff filled in, or
 * -errno when the comparison could not be made (reported: a damaged
 * manifest, a read error).
 */
int cdt_verify_against(struct cdt_store *s, const struct cdt_name_entry *e, int fd,
		       const char *what, int jobs, struct cdt_verify_diff *diff);

/*
 * The content id the store gives what fd holds, read from where fd is to
 * its end (`cdt hash`): the SHA-256 of the bytes, or in a format 3 store
 * their tree id, for which the holes of a sparse regular file are passed
 * over (SEEK_DATA, SEEK_HOLE) rather than read. *size gets the bytes.
 * 0 or -errno.
 */
int cdt_content_id_fd(struct cdt_store *s, int fd, struct cdt_id *out, uint64_t *size);

#endif
