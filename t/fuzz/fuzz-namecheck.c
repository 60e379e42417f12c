/*
 * fuzz-namecheck.c: name validation (lib/names.h cdt_name_check and
 * cdt_name_from_path) on the input as a string (up to its first NUL).
 *
 * cdt_name_check() is compared with a second, plainer reading of the rule
 * in names.h (a backslash is valid where the name is the escaped form of
 * its unescaped bytes); cdt_name_from_path() must leave a valid name
 * without backslashes unchanged, produce only valid names that unescape
 * to the path's own components, and never an empty, "." or ".." one.
 */
#include "fuzz.h"
#include "format/names.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Decode one UTF-8 character at p (n bytes left); its length, or 0. */
static size_t ref_char(const unsigned char *p, size_t n, uint32_t *cp)
{
	size_t len, i;
	uint32_t min;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2; *cp = p[0] & 0x1f; min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3; *cp = p[0] & 0x0f; min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4; *cp = p[0] & 0x07; min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
		*cp = *cp << 6 | (p[i] & 0x3f);
	}
	if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return len;
}

/* The rule of names.h, read plainly: 1 for a valid name. */
static int ref_valid(const char *name)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t len = strlen(name), i = 0;

	if (!len || len > CDT_NAME_MAX || name[0] == '/')
		return 0;
	while (i <= len) {
		size_t start = i;

		while (i < len && p[i] != '/') {
			uint32_t cp;
			size_t n = ref_char(p + i, len - i, &cp);

			/* C0 and C1 controls and DEL. */
			if (!n || cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
				return 0;
			i += n;
		}
		if (i == start || i - start > CDT_NAME_COMPONENT_MAX)
			return 0;
		if ((i - start == 1 && p[start] == '.') ||
		    (i - start == 2 && p[start] == '.' && p[start + 1] == '.'))
			return 0;
		i++;
	}
	return 1;
}

static int has_bad_component(const char *name)
{
	const char *p = name;

	if (*p == '/')
		return 1;
	for (;;) {
		size_t n = strcspn(p, "/");

		if (!n || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return 1;
		if (!p[n])
			return 0;
		p += n + 1;
	}
}

/* Is s the escaped form of what it unescapes to? */
static int canonical(const char *s)
{
	struct strbuf raw = STRBUF_INIT, esc = STRBUF_INIT, why = STRBUF_INIT;
	int ok = cdt_name_unescape(s, &raw, &why) == 0;

	if (ok) {
		cdt_name_escape(raw.buf, raw.len, &esc);
		ok = !strcmp(esc.buf, s) && strlen(raw.buf) == raw.len;
	}
	strbuf_release(&raw);
	strbuf_release(&esc);
	strbuf_release(&why);
	return ok;
}

/* The path's components without empty and "." ones, joined by '/'. */
static void plain_path(const char *path, struct strbuf *out)
{
	const char *p = path;

	while (*p) {
		size_t n = strcspn(p, "/");

		if (n && !(n == 1 && p[0] == '.')) {
			if (out->len)
				strbuf_addch(out, '/');
			strbuf_add(out, p, n);
		}
		p += n;
		if (*p)
			p++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf why = STRBUF_INIT, out = STRBUF_INIT, again = STRBUF_INIT;
	char *s = xstrndup((const char *)data, size);
	int valid, ret;

	fuzz_quiet();
	valid = cdt_name_check(s, &why) == 0;
	fuzz_note("name check", valid ? 0 : -EINVAL, &why);
	FUZZ_CHECK(valid == (ref_valid(s) && canonical(s)));
	FUZZ_CHECK(valid ? why.len == 0 : why.len > 0);

	strbuf_reset(&why);
	strbuf_addstr(&out, "keep/");
	ret = cdt_name_from_path(s, &out, &why);
	if (ret) {
		FUZZ_CHECK(ret == -EINVAL && why.len > 0);
		/* Nothing is left appended on failure. */
		FUZZ_CHECK(out.len == 5 && !strcmp(out.buf, "keep/"));
		FUZZ_CHECK(!valid);
	} else {
		const char *name = out.buf + 5;

		struct strbuf raw = STRBUF_INIT, plain = STRBUF_INIT;

		FUZZ_CHECK(!has_bad_component(name));
		if (valid && !strchr(s, '\\'))
			FUZZ_CHECK(!strcmp(name, s));
		/* Long components may be too long once escaped; others are valid names. */
		if (strlen(name) < 255)
			FUZZ_CHECK(cdt_name_check(name, &why) == 0);
		FUZZ_CHECK(cdt_name_unescape(name, &raw, &why) == 0);
		plain_path(s, &plain);
		FUZZ_CHECK(!strcmp(raw.buf, plain.buf));
		strbuf_release(&raw);
		strbuf_release(&plain);
	}
	strbuf_release(&why);
	strbuf_release(&out);
	strbuf_release(&again);
	free(s);
	return 0;
}
