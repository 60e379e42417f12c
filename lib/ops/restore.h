/* restore.h: reading a stored file back, every chunk checked. */
#ifndef CDT_RESTORE_H
#define CDT_RESTORE_H

#include <stdint.h>
#include "format/names.h"
#include "format/store.h"

struct cdt_restore;

/* A reader with `jobs` threads reading and inflating ahead (0: online CPUs). */
struct cdt_restore *cdt_restore_new(struct cdt_store *s, int jobs);
void cdt_restore_free(struct cdt_restore *r);
/* The store it reads. */
struct cdt_store *cdt_restore_store(const struct cdt_restore *r);

/*
 * Have cdt_restore_fd() call progress() after each round of chunks with
 * the bytes of the file written so far (NULL: never). The bytes of every
 * name are known up front (its size), so callers can show how far along
 * they are.
 */
void cdt_restore_set_progress(struct cdt_restore *r, void (*progress)(uint64_t done, void *data),
			      void *data);

/*
 * Readers take no lock: while one reads a name, add or rm may replace or
 * remove it and gc then delete what it held, so that a read finds a chunk
 * or the manifest missing (or a pack it listed before, damage) though the
 * store lacks nothing. After such a
 * read, what does e->name hold now? CDT_NAME_SAME (e's content, or the
 * entry cannot be read: the missing data is the store's loss),
 * CDT_NAME_REPLACED (other content, or no longer a regular file) or
 * CDT_NAME_REMOVED (no such name).
 */
enum { CDT_NAME_SAME, CDT_NAME_REPLACED, CDT_NAME_REMOVED };
int cdt_restore_name_now(struct cdt_store *s, const struct cdt_name_entry *e);
/* What follows the quoted name in the message for REPLACED and REMOVED. */
const char *cdt_restore_moved_why(int now);
/*
 * After a read of `e` failed with err: when err is damage (missing or
 * corrupt) and the name no longer holds e's content, report "'NAME' was
 * replaced (removed) while it was read; read it again" and return -ESTALE;
 * else 0, and the caller reports err.
 */
int cdt_restore_report_moved(struct cdt_store *s, const struct cdt_name_entry *e, int err);

/*
 * Write the contents of `e` to fd (called `outname` in messages). Every
 * chunk is checked against its id, and the manifest against its checksum;
 * the first failure is reported (naming the name, the offset and the chunk)
 * and returned: -ENOENT for a missing chunk or manifest, -CDT_ECORRUPT for
 * damage, -errno for I/O. A chunk or manifest missing or damaged while the
 * name was replaced or removed (cdt_restore_name_now()) is reported as
 * that, and is -ESTALE. With `sparse`, zero bytes that fill whole blocks
 * of the file system become holes (fd must be a fresh regular file, written
 * from its start; it is extended to the full size).
 */
int cdt_restore_fd(struct cdt_restore *r, const struct cdt_name_entry *e, int fd,
		   const char *outname, int sparse);

/*
 * Checking without writing (verify): read `e` exactly as cdt_restore_fd()
 * does, but go on past damage. bad() is called, in file order, for each
 * range that cannot be read: a chunk (with its id), or the whole file (chunk
 * NULL) when its manifest is damaged or the whole-file hash does not match.
 * progress(), when set, gets the bytes of the file gone through so far.
 */
struct cdt_restore_check {
	void (*bad)(uint64_t offset, uint64_t len, const struct cdt_id *chunk, int err,
		    const char *why, void *data);
	void (*progress)(uint64_t done, void *data);
	void *data;
	/*
	 * Optional: when every chunk could be read, *hashed is set to 1 and
	 * *got to the SHA-256 of all of them in order (what the content id
	 * must be); else *hashed is set to 0.
	 */
	int *hashed;
	struct cdt_id *got;
};
/*
 * Returns 0 when every check held; -ENOENT or -CDT_ECORRUPT (or another
 * -errno for I/O) when bad() was called for something.
 */
int cdt_restore_check(struct cdt_restore *r, const struct cdt_name_entry *e,
		      const struct cdt_restore_check *c);

#endif
