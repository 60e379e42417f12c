/* strbuf.h: growable, always NUL-terminated byte strings for paths and text. */
#ifndef CDT_STRBUF_H
#define CDT_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

/*
 * Invariants: `buf` is never NULL (an empty strbuf points at a shared ""),
 * buf[len] == '\0', and len < alloc whenever alloc > 0. The contents may hold
 * NUL bytes; `len` is authoritative.
 */
struct strbuf {
	size_t alloc;
	size_t len;
	char *buf;
};

extern char strbuf_slopbuf[];
#define STRBUF_INIT { 0, 0, strbuf_slopbuf }

void strbuf_init(struct strbuf *sb, size_t hint);
void strbuf_release(struct strbuf *sb);
/* Hand the buffer to the caller (who frees it) and reset sb. */
char *strbuf_detach(struct strbuf *sb, size_t *len);
void strbuf_grow(struct strbuf *sb, size_t extra);
void strbuf_setlen(struct strbuf *sb, size_t len);
#define strbuf_reset(sb) strbuf_setlen(sb, 0)
void strbuf_add(struct strbuf *sb, const void *data, size_t len);
void strbuf_addstr(struct strbuf *sb, const char *s);
void strbuf_addbuf(struct strbuf *sb, const struct strbuf *other);
void strbuf_addch(struct strbuf *sb, int c);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Append s as a JSON string literal (with quotes and escapes). */
void strbuf_add_json_string(struct strbuf *sb, const char *s);

#endif
