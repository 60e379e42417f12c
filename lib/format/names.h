/* names.h: stored names: validation, entries under STORE/names/, listing. */
#ifndef CDT_NAMES_H
#define CDT_NAMES_H

#include <stdint.h>
#include <sys/types.h>
#include "base/hash.h"
#include "format/store.h"
#include "base/strbuf.h"

#define CDT_NAME_MAX 4096
#define CDT_NAME_COMPONENT_MAX 255

/*
 * names/<name>: one entry file per name; directories are implied by '/'.
 *   "CDTN" version(1) reserved(3) mode(LE32) uid(LE32) gid(LE32)
 *   mtime_nsec(LE32) mtime_sec(LE64, signed) added_sec(LE64, signed)
 *   size(LE64) content id(32) name_len(LE16) reserved(2) name
 *   checksum(32): SHA-256 of every byte before it
 */
#define CDT_NAME_MAGIC "CDTN"
#define CDT_NAME_VERSION 1
#define CDT_NAME_FIXED 84
#define CDT_NAME_ENTRY_MAX (CDT_NAME_FIXED + CDT_NAME_MAX + CDT_ID_LEN)

struct cdt_name_entry {
	char name[CDT_NAME_MAX + 1];
	uint32_t mode;		/* permission bits (07777) */
	uint32_t uid, gid;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	int64_t added_sec;	/* when this name was written */
	uint64_t size;
	struct cdt_id content;	/* whole-file SHA-256: the manifest's key */
};

/*
 * Is `name` a valid stored name? Relative, '/'-separated, no empty, "." or
 * ".." component, no control characters, valid UTF-8, at most
 * CDT_NAME_MAX bytes and CDT_NAME_COMPONENT_MAX per component. Returns 0, or
 * -EINVAL with the reason in `why`.
 */
int cdt_name_check(const char *name, struct strbuf *why);

/*
 * Derive a name from a path as given on the command line: leading '/',
 * empty and "." components are dropped. A ".." component is refused.
 * Appends to `out`; 0 or -EINVAL (reason in why).
 */
int cdt_name_from_path(const char *path, struct strbuf *out, struct strbuf *why);

/* Serialise an entry (name must be valid). */
void cdt_name_encode(const struct cdt_name_entry *e, struct strbuf *out);
/* Parse an entry file; checks everything, including that it holds `name`. */
int cdt_name_decode(const unsigned char *buf, size_t len, const char *name,
		    struct cdt_name_entry *e, struct strbuf *why);

/* Read the entry for `name`. 0, -ENOENT, -CDT_ECORRUPT (why) or -errno. */
int cdt_name_read(struct cdt_store *s, const char *name, struct cdt_name_entry *e,
		  struct strbuf *why);

/*
 * Write (durably) the entry e->name. With `replace` unset an existing name
 * is -EEXIST. A name that would need a stored name to be a directory, or a
 * directory to be a name, is -ENOTDIR or -EISDIR. 0 or -errno.
 */
int cdt_name_write(struct cdt_store *s, const struct cdt_name_entry *e, int replace);

/*
 * Can `name` be written? 0, -EEXIST (exists and no_replace), -EISDIR (names
 * exist under it), -ENOTDIR (a parent is a stored name) or -errno.
 */
int cdt_name_writable(struct cdt_store *s, const char *name, int no_replace);

/* Remove one name durably and prune directories it leaves empty. */
int cdt_name_remove(struct cdt_store *s, const char *name);

/*
 * Visit stored names in byte order. With a prefix, only `prefix` itself and
 * names under `prefix/`. For each, fn gets the entry, or NULL with err and a
 * reason when the entry cannot be read. A non-zero return from fn stops the
 * walk and is returned. Returns 0, that value, or -errno for a walk error.
 */
typedef int (*cdt_name_fn)(const char *name, const struct cdt_name_entry *e,
			   int err, const char *why, void *data);
int cdt_names_walk(struct cdt_store *s, const char *prefix, cdt_name_fn fn, void *data);

/* Open rel under dirfd without following any symbolic link on the way. */
int openat_beneath(int dirfd, const char *rel, int flags, mode_t mode);

#endif
