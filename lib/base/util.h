/*
 * util.h: small helpers shared by all of cdt; includes alloc.h and error.h,
 * which every file needs too.
 */
#ifndef CDT_UTIL_H
#define CDT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/types.h>

#include "base/alloc.h"
#include "base/error.h"

/*
 * A name or path made safe for a one-line message: control characters (C0,
 * DEL, C1), bytes that are not valid UTF-8, and backslashes escaped (\x0a,
 * \xff, \\), cut after QUOTE_MAX bytes of it with "...".
 * Returns one of a few per-thread buffers: use at most four per message.
 */
#define QUOTE_MAX 200
const char *quote(const char *s);
/*
 * Length of the valid UTF-8 character at p (at most n bytes; a NUL stops
 * it), or 0 when the byte there starts none (a stray byte, an overlong
 * form, a surrogate, past U+10FFFF) or starts a C1 control character.
 */
size_t utf8_char_len(const unsigned char *p, size_t n);
/*
 * The same, 0 also for a C0 control, DEL and a backslash: the length of
 * the character at p that quote() and the escaped form of names keep as
 * it is (0: the byte is written \xHH, or \\).
 */
size_t plain_char_len(const unsigned char *p, size_t n);

/*
 * Record why data failed a check (appended to `why`, when not NULL) and
 * return -CDT_ECORRUPT: `return cdt_corrupt(why, "bad magic")`.
 */
struct strbuf;
int cdt_corrupt(struct strbuf *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* I/O that retries on EINTR and short transfers. Return 0 or -errno. */
int write_all(int fd, const void *buf, size_t len);
int pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* Read up to len bytes; returns bytes read (short only at EOF) or -errno. */
ssize_t read_full(int fd, void *buf, size_t len);
ssize_t pread_full(int fd, void *buf, size_t len, off_t off);
/*
 * Read exactly len bytes at off: 0, 1 if the file ends first (for a
 * file of known layout, damage), or -errno (an error reading, which says
 * nothing about the bytes).
 */
int pread_exact(int fd, void *buf, size_t len, off_t off);

/* Little-endian encoding of on-disk integers. */
static inline void put_le16(unsigned char *p, uint16_t v)
{
	p[0] = v; p[1] = v >> 8;
}
static inline void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24;
}
static inline void put_le64(unsigned char *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}
static inline uint16_t get_le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}
static inline uint64_t get_le64(const unsigned char *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* Parse a size like "64K", "1M", "4096"; returns 0 or -EINVAL/-ERANGE. */
int parse_size(const char *s, uint64_t *out);
/* Format bytes for humans ("1.5 MiB") into buf of at least 16 bytes. */
const char *human_size(uint64_t bytes, char *buf, size_t len);

/* Monotonic seconds, for progress and timing. */
double now_seconds(void);

/*
 * Raise the soft limit of open files to the hard one (as Go programs,
 * restic among them, do at start). The soft default of 1024 exists for
 * programs that use select(); cdt does not, and a store of many packs, a
 * deep tree or many jobs can need more. A limit set low on purpose (both
 * limits, as `ulimit -n N` sets them) stays as it is.
 */
void raise_open_files_limit(void);

#endif
