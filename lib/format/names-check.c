/* names-check.c: which stored names are valid, names from paths, and the escaped form of any bytes. */
#include "format/names.h"
#include "format/names-internal.h"
#include "base/util.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}


/*
 * Length of the escape at p ("\\" or "\xHH" for a byte that needs one, not
 * NUL and not '/'), or 0 if p holds none. Only the one escape the byte has
 * is accepted, so that each raw name has exactly one escaped form.
 */
static size_t escape_len(const unsigned char *p, size_t n)
{
	int hi, lo;
	unsigned char b;

	if (n >= 2 && p[1] == '\\')
		return 2;
	if (n < 4 || p[1] != 'x' || (hi = hexval(p[2])) < 0 || (lo = hexval(p[3])) < 0)
		return 0;
	b = (unsigned char)(hi << 4 | lo);
	if (!b || b == '/' || b == '\\')
		return 0;
	/* A byte that starts a valid character alone would not be escaped... */
	if (b < 0x80)
		return b < 0x20 || b == 0x7f ? 4 : 0;
	/*
	 * ...and a byte >= 0x80 is escaped only where it does not start a
	 * valid character. What follows the escape is what follows the byte
	 * in the raw name: the next escape's byte or a plain character.
	 */
	{
		unsigned char raw[4];
		size_t k = 1, j = 4;

		raw[0] = b;
		while (k < 4 && j < n) {
			if (p[j] == '\\' && j + 3 < n && p[j + 1] == 'x' &&
			    hexval(p[j + 2]) >= 0 && hexval(p[j + 3]) >= 0) {
				raw[k++] = (unsigned char)(hexval(p[j + 2]) << 4 | hexval(p[j + 3]));
				j += 4;
			} else {
				raw[k++] = p[j++];
			}
		}
		if (plain_char_len(raw, k))
			return 0;
	}
	return 4;
}

void cdt_name_escape(const char *raw, size_t len, struct strbuf *out)
{
	const unsigned char *p = (const unsigned char *)raw;
	size_t i = 0, n;

	while (i < len) {
		n = p[i] == '/' ? 1 : plain_char_len(p + i, len - i);
		if (n) {
			strbuf_add(out, raw + i, n);
			i += n;
		} else if (p[i] == '\\') {
			strbuf_addstr(out, "\\\\");
			i++;
		} else {
			strbuf_addf(out, "\\x%02x", p[i]);
			i++;
		}
	}
}

int cdt_name_unescape(const char *name, struct strbuf *out, struct strbuf *why)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t len = strlen(name), i = 0, start = out->len;

	while (i < len) {
		if (p[i] != '\\') {
			strbuf_addch(out, name[i++]);
			continue;
		}
		if (!escape_len(p + i, len - i)) {
			strbuf_setlen(out, start);
			strbuf_addstr(why, "name has a backslash that is not an escape");
			return -EINVAL;
		}
		if (p[i + 1] == '\\') {
			strbuf_addch(out, '\\');
			i += 2;
		} else {
			strbuf_addch(out, (char)(hexval(p[i + 2]) << 4 | hexval(p[i + 3])));
			i += 4;
		}
	}
	return 0;
}

int cdt_name_raw(const struct cdt_name_entry *e, struct strbuf *out, struct strbuf *why)
{
	if (e->version == CDT_NAME_VERSION) {
		strbuf_addstr(out, e->name);
		return 0;
	}
	return cdt_name_unescape(e->name, out, why);
}

void cdt_name_entry_release(struct cdt_name_entry *e)
{
	free(e->xattrs);
	e->xattrs = NULL;
	e->xattrs_len = 0;
}

int cdt_name_check_literal(const char *name, int literal, struct strbuf *why)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t len = strlen(name), comp = 0, i;

	if (!len) {
		strbuf_addstr(why, "name is empty");
		return -EINVAL;
	}
	if (len > CDT_NAME_MAX) {
		strbuf_addf(why, "name is longer than %d bytes", CDT_NAME_MAX);
		return -EINVAL;
	}
	if (name[0] == '/') {
		strbuf_addstr(why, "name is an absolute path");
		return -EINVAL;
	}
	for (i = 0; i <= len; i++) {
		size_t n;

		if (i == len || p[i] == '/') {
			const char *c = name + i - comp;

			if (!comp) {
				strbuf_addstr(why, "name has an empty component");
				return -EINVAL;
			}
			if ((comp == 1 && c[0] == '.') || (comp == 2 && c[0] == '.' && c[1] == '.')) {
				strbuf_addf(why, "name has a '%.*s' component", (int)comp, c);
				return -EINVAL;
			}
			comp = 0;
			continue;
		}
		if (p[i] < 0x20 || p[i] == 0x7f) {
			strbuf_addstr(why, "name contains a control character");
			return -EINVAL;
		}
		if (p[i] == '\\' && !literal) {
			/* Each escape stands for one byte: count that. */
			n = escape_len(p + i, len - i);
			if (!n) {
				strbuf_addstr(why, "name has a backslash that is not an escape "
					      "(write \\\\ for a backslash, \\xHH for a byte)");
				return -EINVAL;
			}
			comp += n;	/* the component on disk holds the escape */
			if (comp > CDT_NAME_COMPONENT_MAX) {
				strbuf_addf(why, "name has a component longer than %d bytes",
					    CDT_NAME_COMPONENT_MAX);
				return -EINVAL;
			}
			i += n - 1;
			continue;
		}
		n = utf8_char_len(p + i, len - i);
		if (!n) {
			strbuf_addstr(why, "name is not valid UTF-8 (or has a control character)");
			return -EINVAL;
		}
		comp += n;
		if (comp > CDT_NAME_COMPONENT_MAX) {
			strbuf_addf(why, "name has a component longer than %d bytes",
				    CDT_NAME_COMPONENT_MAX);
			return -EINVAL;
		}
		i += n - 1;
	}
	return 0;
}

int cdt_name_check(const char *name, struct strbuf *why)
{
	return cdt_name_check_literal(name, 0, why);
}

int cdt_name_from_path(const char *path, struct strbuf *out, struct strbuf *why)
{
	const char *p = path;
	size_t start = out->len;

	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 2 && p[0] == '.' && p[1] == '.') {
			strbuf_setlen(out, start);
			strbuf_addstr(why, "path has a '..' component");
			return -EINVAL;
		}
		if (n && !(n == 1 && p[0] == '.')) {
			if (out->len > start)
				strbuf_addch(out, '/');
			cdt_name_escape(p, n, out);
		}
		p += n;
		if (*p)
			p++;
	}
	if (out->len == start) {
		strbuf_addstr(why, "path gives an empty name");
		return -EINVAL;
	}
	return 0;
}
