/* util.h: allocation wrappers, error reporting and small helpers shared by all of cdt. */
#ifndef CDT_UTIL_H
#define CDT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/*
 * Error codes beyond errno. Library functions return 0 (or a count) on
 * success and a negative errno value on failure; data that fails a check is
 * -CDT_ECORRUPT, so callers (and the FUSE view) can tell damage from I/O.
 */
#define CDT_ECORRUPT EBADMSG
#define CDT_EVERSION EPROTONOSUPPORT

/*
 * Allocation that cannot fail: on exhaustion the process dies with the size
 * it tried. Sizes derived from on-disk data must be bounded before they get
 * here; these wrappers are not a defence against hostile lengths.
 */
void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xstrfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grow an array to hold at least `nr` elements (amortised doubling). */
#define ALLOC_GROW(x, nr, alloc) \
	do { \
		if ((size_t)(nr) > (size_t)(alloc)) { \
			size_t alloc_grow_n_ = ((size_t)(alloc) + 16) * 3 / 2; \
			if (alloc_grow_n_ < (size_t)(nr)) \
				alloc_grow_n_ = (nr); \
			(x) = xrealloc((x), alloc_grow_n_ * sizeof(*(x))); \
			(alloc) = alloc_grow_n_; \
		} \
	} while (0)

/*
 * Reporting. error() prints "error: MSG" to stderr and returns -1, so that
 * `return error(...)` reads naturally; warning() prints "warning: MSG".
 * The FUSE view replaces the routine to send messages to its log instead.
 */
int error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Like error(), but returns `err` (a negative error code) unchanged:
 * `return error_code(ret, "cannot open '%s': %s", path, cdt_strerror(ret))`.
 * (Not git's error_errno(), which appends strerror(errno) itself.)
 */
int error_code(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

typedef void (*report_fn)(const char *prefix, const char *fmt, va_list ap);
void set_report_routine(report_fn fn);

/*
 * A name or path made safe for a one-line message: control characters (C0,
 * DEL, C1), bytes that are not valid UTF-8, and backslashes escaped (\x0a,
 * \xff, \\), cut after QUOTE_MAX bytes of it with "...".
 * Returns one of a few per-thread buffers: use at most four per message.
 */
#define QUOTE_MAX 200
const char *quote(const char *s);

/*
 * Record why data failed a check (appended to `why`, when not NULL) and
 * return -CDT_ECORRUPT: `return cdt_corrupt(why, "bad magic")`.
 */
struct strbuf;
int cdt_corrupt(struct strbuf *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Text for an error code (a negative one as lib/ returns, or an errno;
 * CDT_E* included): the one way an error becomes text, so that the same
 * damage reads the same from every command ("data is corrupt", never
 * "Bad message").
 */
const char *cdt_strerror(int err);

/* I/O that retries on EINTR and short transfers. Return 0 or -errno. */
int write_all(int fd, const void *buf, size_t len);
int pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* Read up to len bytes; returns bytes read (short only at EOF) or -errno. */
ssize_t read_full(int fd, void *buf, size_t len);
ssize_t pread_full(int fd, void *buf, size_t len, off_t off);

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

#endif
