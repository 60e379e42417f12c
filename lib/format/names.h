/* names.h: stored names: validation, entries under STORE/names/, listing. */
#ifndef CDT_NAMES_H
#define CDT_NAMES_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "base/hash.h"
#include "format/store.h"
#include "base/strbuf.h"

#define CDT_NAME_MAX 4096
#define CDT_NAME_COMPONENT_MAX 255

/*
 * names/<name>: one entry file per name; directories are implied by '/'.
 * The entry of a stored directory (its metadata, and that it exists when
 * empty) is names/<name>/CDT_NAME_DIRENT, a file name no stored name can
 * have (it holds a control character).
 *
 * Version 1 (a regular file, nothing more; its name is taken literally):
 *   "CDTN" version(1) reserved(3) mode(LE32) uid(LE32) gid(LE32)
 *   mtime_nsec(LE32) mtime_sec(LE64, signed) added_sec(LE64, signed)
 *   size(LE64) content id(32) name_len(LE16) reserved(2) name
 *   checksum(32): SHA-256 of every byte before it
 * Version 2 (any type; its name is in the escaped form, see
 * cdt_name_escape()):
 *   "CDTN" version(1)=2 type(1) flags(1) reserved(1), then bytes 8..80 as
 *   in version 1, name_len(LE16) target_len(LE16) xattr_len(LE32) name
 *   target xattrs checksum(32).
 *   target: a symbolic link's target (raw bytes), or for a regular file
 *   with CDT_NAME_HARDLINK the stored name of an earlier name of the same
 *   file (inode) in the same add. xattrs: records
 *   { name_len(LE16) value_len(LE32) name value }, names in byte order.
 * Writers use version 1 whenever it can say everything, so that stores of
 * plain files stay readable by earlier versions.
 */
#define CDT_NAME_MAGIC "CDTN"
#define CDT_NAME_VERSION 1
#define CDT_NAME_VERSION2 2
#define CDT_NAME_FIXED 84
#define CDT_NAME_FIXED2 88
#define CDT_NAME_TARGET_MAX 4096
#define CDT_NAME_XATTR_MAX (256u << 10)
#define CDT_NAME_ENTRY_MAX (CDT_NAME_FIXED2 + CDT_NAME_MAX + CDT_NAME_TARGET_MAX + \
			    CDT_NAME_XATTR_MAX + CDT_ID_LEN)
#define CDT_NAME_DIRENT "\001dir"

enum cdt_name_type {
	CDT_NAME_REG = 1,	/* a regular file: content, size */
	CDT_NAME_SYMLINK = 2,	/* a symbolic link: target */
	CDT_NAME_DIR = 3,	/* a directory: only metadata */
};
/* Flags (version 2). */
#define CDT_NAME_HARDLINK 0x01	/* target names an earlier link to the same file */
#define CDT_NAME_FLAGS_KNOWN CDT_NAME_HARDLINK

struct cdt_name_entry {
	char name[CDT_NAME_MAX + 1];
	uint8_t version;	/* as read, or as cdt_name_encode() will write */
	uint8_t type;		/* enum cdt_name_type */
	uint8_t flags;
	uint32_t mode;		/* permission bits (07777) */
	uint32_t uid, gid;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	int64_t added_sec;	/* when this name was written */
	uint64_t size;
	struct cdt_id content;	/* the content id (base/cid.h): the manifest's key (regular files) */
	char target[CDT_NAME_TARGET_MAX + 1];	/* symbolic link target, hard link name */
	/* Extended attributes (records as on disk), owned: cdt_name_entry_release(). */
	unsigned char *xattrs;
	size_t xattrs_len;
};

/* Does this entry name stored content (a manifest)? */
static inline int cdt_name_has_content(const struct cdt_name_entry *e)
{
	return e->type == CDT_NAME_REG;
}

/* Free what an entry owns (its extended attributes). */
void cdt_name_entry_release(struct cdt_name_entry *e);

/*
 * The escaped form: a name read from a file system may hold any byte but
 * '/' and NUL. Stored names are valid UTF-8 without control characters, so
 * each byte that is not part of such a character becomes "\xHH" (two
 * lower-case hex digits) and a backslash becomes "\\". The form is
 * reversible and one-to-one: every raw name has exactly one escaped form.
 * cdt_name_escape() appends the escaped form of raw[0..len) to out;
 * cdt_name_unescape() appends the raw bytes of an escaped name, refusing
 * (-EINVAL, reason in why) anything that is not the escaped form of a raw
 * name without NUL bytes.
 */
void cdt_name_escape(const char *raw, size_t len, struct strbuf *out);
int cdt_name_unescape(const char *name, struct strbuf *out, struct strbuf *why);
/* The raw bytes the entry's name stands for (version 1 names are literal). */
int cdt_name_raw(const struct cdt_name_entry *e, struct strbuf *out, struct strbuf *why);

/*
 * Is `name` a valid stored name? Relative, '/'-separated, no empty, "." or
 * ".." component, no control characters, valid UTF-8, at most
 * CDT_NAME_MAX bytes and CDT_NAME_COMPONENT_MAX per component, and every
 * backslash part of an escape (the escaped form, above). Returns 0, or
 * -EINVAL with the reason in `why`.
 */
int cdt_name_check(const char *name, struct strbuf *why);

/*
 * Derive a name from a path as given on the command line: leading '/',
 * empty and "." components are dropped, and the rest is escaped. A ".."
 * component is refused. Appends to `out`; 0 or -EINVAL (reason in why).
 */
int cdt_name_from_path(const char *path, struct strbuf *out, struct strbuf *why);

/*
 * Serialise an entry (name must be valid): version 1 when it can hold it
 * (a regular file, no flags, no extended attributes, and no backslash in
 * its name unless it was read as version 1), else version 2. Sets
 * e->version to the version written.
 */
void cdt_name_encode(struct cdt_name_entry *e, struct strbuf *out);
/*
 * Parse an entry file; checks everything, including that it holds `name`.
 * The entry may then own extended attributes: cdt_name_entry_release().
 */
int cdt_name_decode(const unsigned char *buf, size_t len, const char *name,
		    struct cdt_name_entry *e, struct strbuf *why);

/* Read the entry for `name`. 0, -ENOENT, -CDT_ECORRUPT (why) or -errno. */
int cdt_name_read(struct cdt_store *s, const char *name, struct cdt_name_entry *e,
		  struct strbuf *why);

/*
 * Write (durably) the entry e->name. With `replace` unset an existing name
 * is -EEXIST. A name that would need a stored name to be a directory, or a
 * directory to be a name, is -ENOTDIR or -EISDIR (a directory entry goes
 * into its directory, beside the names under it). 0 or -errno.
 */
int cdt_name_write(struct cdt_store *s, struct cdt_name_entry *e, int replace);
/*
 * Which file holds an entry in names/: every change of a name renames a
 * new file into place, so a file that is still there with the same
 * device, inode, change time and size is the one installed (an inode
 * number used again gets a new change time).
 */
struct cdt_name_file {
	dev_t dev;
	ino_t ino;
	struct timespec ctime;
	off_t size;
};
/* Is the entry of `name` (of `type`) still the file f? 1, or 0 (another, or none). */
int cdt_name_is_file(struct cdt_store *s, const char *name, int type, const struct cdt_name_file *f);
/*
 * The same in two steps, for a group commit: write the entry to a
 * temporary file (not synced; its name in tmpname), then, after the
 * caller's syncfs, move it into place (new directories and the rename are
 * not synced: the caller syncs the store). install removes the temporary
 * file if it fails; its errors are cdt_name_write()'s. `installed` (or
 * NULL) gets the file now in place (all zero if it cannot be told).
 */
int cdt_name_stage(struct cdt_store *s, struct cdt_name_entry *e, struct strbuf *tmpname);
struct cdt_name_dirs;
/*
 * dirs (or NULL) keeps the directory of the last name installed open for
 * the next: names of one directory are installed with one open. It lives
 * no longer than one commit under the add lock; a directory another add
 * removed meanwhile (a name of another kind put in its place) makes the
 * rename into it fail, never succeed elsewhere.
 */
/*
 * With `gone` (and replace), names of another type in the way of the
 * entry are removed first, and gone->fn told each: the directory of names
 * `name` with every name under it, for a file or link; a stored file or
 * link that is a parent of the entry, for a directory or what goes under
 * it. Without, the install fails with -EISDIR or -ENOTDIR.
 */
struct cdt_name_gone {
	void (*fn)(const char *name, int type, void *data);
	void *data;
};
int cdt_name_install(struct cdt_store *s, struct cdt_name_dirs *dirs,
		     const struct cdt_name_entry *e, const char *tmpname, int replace,
		     const struct cdt_name_gone *gone, struct cdt_name_file *installed);
struct cdt_name_dirs *cdt_name_dirs_new(void);
void cdt_name_dirs_free(struct cdt_name_dirs *dirs);

/*
 * Can `name` be written as an entry of `type`? 0, 1 (yes, and its parent
 * directory of names is missing: so is every name under that parent),
 * -EEXIST (exists and no_replace), -EISDIR (a file or link where names
 * exist under it), -ENOTDIR (a parent, or for a directory the name
 * itself, is a stored name that is not a directory) or -errno. A
 * directory's entry is always replaced.
 */
int cdt_name_writable(struct cdt_store *s, const char *name, int type, int no_replace);

/*
 * Remove one name durably and prune directories it leaves empty: the entry
 * of a file or symbolic link, or with `dir` the entry of the directory
 * `name` (names under it stay); with `dir` < 0 whichever is there. -ENOENT
 * if there is no such entry.
 */
int cdt_name_remove(struct cdt_store *s, const char *name, int dir);

/*
 * Visit stored names in byte order, a directory's own entry (if it has
 * one) before the names under it. With a prefix, only `prefix` itself and
 * names under `prefix/`. For each, fn gets the entry, or NULL with err and a
 * reason when the entry cannot be read. A non-zero return from fn stops the
 * walk and is returned. Returns 0, that value, or -errno for a walk error.
 */
typedef int (*cdt_name_fn)(const char *name, const struct cdt_name_entry *e,
			   int err, const char *why, void *data);
int cdt_names_walk(struct cdt_store *s, const char *prefix, cdt_name_fn fn, void *data);
/* The same walk, giving each entry's bytes as read (raw, len) with it. */
typedef int (*cdt_name_raw_fn)(const char *name, const struct cdt_name_entry *e,
			       const unsigned char *raw, size_t len, int err, const char *why,
			       void *data);
int cdt_names_walk_raw(struct cdt_store *s, const char *prefix, cdt_name_raw_fn fn, void *data);

/* Open rel under dirfd without following any symbolic link on the way. */
int openat_beneath(int dirfd, const char *rel, int flags, mode_t mode);

#endif
