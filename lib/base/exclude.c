/* exclude.c: gitignore-style exclude patterns, compiled once and matched against paths. */
#include "base/exclude.h"
#include "base/alloc.h"
#include "base/strbuf.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An exclude file larger than this is surely not one. */
#define EXCLUDE_FILE_MAX (64u << 20)

/*
 * A pattern is compiled into tokens, each matching one byte (or, for a
 * star, any run of bytes), grouped into segments that each match one
 * component of the path. Matching then needs no parsing, and no
 * recursion: a segment's stars and the path's "**" are both matched by
 * the greedy walk that backtracks to the last star only, which is exact
 * when every other token takes exactly one element.
 */
enum tok_kind {
	TOK_BYTE,		/* the byte `ch` */
	TOK_ANY,		/* any byte ('?') */
	TOK_SET,		/* a byte in sets[set] ("[...]") */
	TOK_STAR,		/* any run of bytes ('*') */
};

struct tok {
	unsigned char kind;
	unsigned char ch;
	uint32_t set;
};

enum seg_kind {
	SEG_GLOB,		/* one component, matched by tokens [first, first + nr) */
	SEG_ONE,		/* any one component (what a trailing "**" needs first) */
	SEG_STARSTAR,		/* zero or more components */
};

struct seg {
	enum seg_kind kind;
	size_t first, nr;
};

struct pattern {
	unsigned negative:1;	/* "!": a match re-includes */
	unsigned dir_only:1;	/* trailing '/': directories only */
	unsigned anchored:1;	/* matched against the whole path, else the base name */
	struct tok *tok;
	size_t ntok, atok;
	unsigned char (*sets)[32];
	size_t nsets, asets;
	struct seg *seg;	/* anchored: the components; else one SEG_GLOB */
	size_t nseg, aseg;
};

struct cdt_exclude {
	struct pattern *pat;
	size_t nr, alloc;
};

struct cdt_exclude *cdt_exclude_new(void)
{
	return xcalloc(1, sizeof(struct cdt_exclude));
}

static void pattern_release(struct pattern *p)
{
	free(p->tok);
	free(p->sets);
	free(p->seg);
}

void cdt_exclude_free(struct cdt_exclude *ex)
{
	size_t i;

	if (!ex)
		return;
	for (i = 0; i < ex->nr; i++)
		pattern_release(&ex->pat[i]);
	free(ex->pat);
	free(ex);
}

int cdt_exclude_empty(const struct cdt_exclude *ex)
{
	return !ex || !ex->nr;
}

static void add_tok(struct pattern *p, enum tok_kind kind, unsigned char ch, uint32_t set)
{
	ALLOC_GROW(p->tok, p->ntok + 1, p->atok);
	p->tok[p->ntok].kind = (unsigned char)kind;
	p->tok[p->ntok].ch = ch;
	p->tok[p->ntok].set = set;
	p->ntok++;
}

static void add_seg(struct pattern *p, enum seg_kind kind, size_t first, size_t nr)
{
	ALLOC_GROW(p->seg, p->nseg + 1, p->aseg);
	p->seg[p->nseg].kind = kind;
	p->seg[p->nseg].first = first;
	p->seg[p->nseg].nr = nr;
	p->nseg++;
}

static void set_add(unsigned char *set, unsigned lo, unsigned hi)
{
	unsigned c;

	for (c = lo; c <= hi; c++)
		set[c >> 3] |= (unsigned char)(1u << (c & 7));
}

static int set_has(const unsigned char *set, unsigned char c)
{
	return set[c >> 3] >> (c & 7) & 1;
}

/* The POSIX classes a bracket expression may hold, in the C locale. */
static int add_class(unsigned char *set, const char *name, size_t len)
{
	static const struct {
		const char *name;
		const char *ranges;	/* pairs of bytes: lo, hi */
	} classes[] = {
		{ "alnum", "09AZaz" },
		{ "alpha", "AZaz" },
		{ "blank", "  \t\t" },
		{ "cntrl", "\x01\x1f\x7f\x7f" },
		{ "digit", "09" },
		{ "graph", "!~" },
		{ "lower", "az" },
		{ "print", " ~" },
		{ "punct", "!/:@[`{~" },
		{ "space", "\t\r  " },
		{ "upper", "AZ" },
		{ "xdigit", "09AFaf" },
	};
	size_t i;
	const char *r;

	for (i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		if (strlen(classes[i].name) != len || memcmp(classes[i].name, name, len))
			continue;
		for (r = classes[i].ranges; *r; r += 2)
			set_add(set, (unsigned char)r[0], (unsigned char)r[1]);
		if (!strcmp(classes[i].name, "cntrl"))
			set_add(set, 0, 0);	/* the string cannot hold it */
		return 0;
	}
	return -1;
}

/*
 * Compile the bracket expression starting at s[*i] ('[') up to e into a
 * set, leaving *i after its ']'. -EINVAL with the reason in why.
 */
static int compile_set(struct pattern *p, const char *s, size_t *i, size_t e, struct strbuf *why)
{
	unsigned char set[32] = { 0 };
	size_t j = *i + 1, k;
	int negate = 0, first = 1;

	if (j < e && (s[j] == '!' || s[j] == '^')) {
		negate = 1;
		j++;
	}
	for (;;) {
		unsigned lo, hi;

		if (j >= e) {
			strbuf_addstr(why, "'[' without a matching ']'");
			return -EINVAL;
		}
		if (s[j] == ']' && !first)
			break;
		first = 0;
		if (s[j] == '[' && j + 1 < e && s[j + 1] == ':') {
			for (k = j + 2; k < e && s[k] != ']'; k++)
				;
			if (k < e && k >= j + 3 && s[k - 1] == ':') {
				if (add_class(set, s + j + 2, k - 1 - (j + 2)) < 0) {
					strbuf_addf(why, "unknown character class '%.*s'",
						    (int)(k + 1 - j), s + j);
					return -EINVAL;
				}
				j = k + 1;
				continue;
			}
			/* No ":]": the '[' is an ordinary member. */
		}
		if (s[j] == '\\') {
			if (++j >= e)
				continue;	/* reported as unclosed above */
		}
		lo = (unsigned char)s[j++];
		hi = lo;
		if (j + 1 < e && s[j] == '-' && s[j + 1] != ']') {
			j++;
			if (s[j] == '\\' && ++j >= e)
				continue;
			hi = (unsigned char)s[j++];
		}
		if (lo <= hi)	/* a range backwards holds nothing */
			set_add(set, lo, hi);
	}
	if (negate) {
		for (k = 0; k < sizeof(set); k++)
			set[k] = (unsigned char)~set[k];
	}
	set[(unsigned char)'/' >> 3] &= (unsigned char)~(1u << ('/' & 7));
	ALLOC_GROW(p->sets, p->nsets + 1, p->asets);
	memcpy(p->sets[p->nsets], set, sizeof(set));
	add_tok(p, TOK_SET, 0, (uint32_t)p->nsets);
	p->nsets++;
	*i = j + 1;
	return 0;
}

/*
 * Compile s[0..e) (no '!', no trailing '/', and for an anchored pattern no
 * leading '/') into tokens and segments. Without `split`, '/' is an
 * ordinary byte (a base-name pattern has none).
 */
static int compile(struct pattern *p, const char *s, size_t e, int split, struct strbuf *why)
{
	size_t i = 0, seg_first = 0, stars = 0;
	int seg_plain_stars = 1;	/* the segment so far is unquoted '*'s only */

	for (;;) {
		if (i == e || (split && (s[i] == '/' || (s[i] == '\\' && i + 1 < e && s[i + 1] == '/')))) {
			size_t nr = p->ntok - seg_first;

			if (split && seg_plain_stars && nr == 1 && stars >= 2)
				add_seg(p, SEG_STARSTAR, 0, 0);
			else
				add_seg(p, SEG_GLOB, seg_first, nr);
			if (i == e)
				break;
			i += s[i] == '\\' ? 2 : 1;
			seg_first = p->ntok;
			seg_plain_stars = 1;
			stars = 0;
			continue;
		}
		switch (s[i]) {
		case '\\':
			if (i + 1 == e) {
				strbuf_addstr(why, "'\\' at the end quotes nothing");
				return -EINVAL;
			}
			add_tok(p, TOK_BYTE, (unsigned char)s[i + 1], 0);
			seg_plain_stars = 0;
			i += 2;
			break;
		case '*':
			for (; i < e && s[i] == '*'; i++)
				stars++;
			add_tok(p, TOK_STAR, 0, 0);
			break;
		case '?':
			add_tok(p, TOK_ANY, 0, 0);
			seg_plain_stars = 0;
			i++;
			break;
		case '[':
			if (compile_set(p, s, &i, e, why) < 0)
				return -EINVAL;
			seg_plain_stars = 0;
			break;
		default:
			add_tok(p, TOK_BYTE, (unsigned char)s[i], 0);
			seg_plain_stars = 0;
			i++;
		}
	}
	/* A "**" last matches what is inside, not the directory itself: one component at least. */
	if (split && p->seg[p->nseg - 1].kind == SEG_STARSTAR) {
		p->seg[p->nseg - 1].kind = SEG_ONE;
		add_seg(p, SEG_STARSTAR, 0, 0);
	}
	return 0;
}

int cdt_exclude_add(struct cdt_exclude *ex, const char *pattern, struct strbuf *why)
{
	struct pattern p = { 0 };
	const char *s = pattern;
	size_t len;

	if (*s == '!') {
		p.negative = 1;
		s++;
	}
	len = strlen(s);
	if (len && s[len - 1] == '/') {
		p.dir_only = 1;
		len--;
	}
	/* As git does: any '/' left, even quoted or in brackets, anchors. */
	p.anchored = memchr(s, '/', len) != NULL;
	if (p.anchored && *s == '/') {
		s++;
		len--;
	}
	if (!len) {
		strbuf_addstr(why, "empty pattern");
		return -EINVAL;
	}
	if (compile(&p, s, len, p.anchored, why) < 0) {
		pattern_release(&p);
		return -EINVAL;
	}
	ALLOC_GROW(ex->pat, ex->nr + 1, ex->alloc);
	ex->pat[ex->nr++] = p;
	return 0;
}

/*
 * The end of a line without its trailing spaces, as gitignore(5) trims
 * them: a space quoted with '\' stays, and so does everything before it.
 */
static size_t trim_spaces(const char *s, size_t len)
{
	size_t i, end = len;
	int in_spaces = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == ' ') {
			if (!in_spaces)
				end = i;
			in_spaces = 1;
			continue;
		}
		if (s[i] == '\\')
			i++;
		in_spaces = 0;
		end = len;
	}
	return in_spaces ? end : len;
}

int cdt_exclude_add_lines(struct cdt_exclude *ex, const char *buf, size_t len, struct strbuf *why)
{
	struct strbuf line = STRBUF_INIT;
	size_t pos = 0, nr_before = ex->nr, lineno = 0;
	int ret = 0;

	if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
		pos = 3;
	while (pos < len) {
		const char *s = buf + pos, *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;

		pos += n + (nl != NULL);
		lineno++;
		if (n && s[n - 1] == '\r')
			n--;
		if (n && s[0] == '#')
			continue;
		n = trim_spaces(s, n);
		if (!n)
			continue;
		if (memchr(s, '\0', n)) {
			strbuf_addf(why, "line %zu: a NUL byte in a pattern", lineno);
			ret = -EINVAL;
			break;
		}
		strbuf_reset(&line);
		strbuf_add(&line, s, n);
		strbuf_addf(why, "line %zu: '%s': ", lineno, quote(line.buf));
		ret = cdt_exclude_add(ex, line.buf, why);
		if (ret < 0)
			break;
		strbuf_reset(why);
	}
	if (ret < 0) {
		while (ex->nr > nr_before)
			pattern_release(&ex->pat[--ex->nr]);
	}
	strbuf_release(&line);
	return ret;
}

int cdt_exclude_add_file(struct cdt_exclude *ex, const char *path, struct strbuf *why)
{
	struct strbuf sb = STRBUF_INIT;
	int fd, ret = 0;

	/* Followed if a link, and not only a regular file: "<(cmd)" is a pipe. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n;

		strbuf_grow(&sb, 65536);
		n = read(fd, sb.buf + sb.len, sb.alloc - sb.len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (!n)
			break;
		strbuf_setlen(&sb, sb.len + (size_t)n);
		if (sb.len > EXCLUDE_FILE_MAX) {
			ret = -EFBIG;
			break;
		}
	}
	close(fd);
	if (!ret)
		ret = cdt_exclude_add_lines(ex, sb.buf, sb.len, why);
	strbuf_release(&sb);
	return ret;
}

static int tok_match(const struct pattern *p, const struct tok *t, unsigned char c)
{
	switch (t->kind) {
	case TOK_BYTE: return t->ch == c;
	case TOK_ANY: return 1;
	case TOK_SET: return set_has(p->sets[t->set], c);
	}
	return 0;
}

/* Do tokens tok[0..m) match the component s[0..n) (which holds no '/')? */
static int glob_match(const struct pattern *p, const struct tok *tok, size_t m,
		      const unsigned char *s, size_t n)
{
	size_t pi = 0, ti = 0, star_pi = 0, star_ti = 0;
	int star = 0;

	while (ti < n) {
		if (pi < m && tok[pi].kind == TOK_STAR) {
			star = 1;
			star_pi = ++pi;
			star_ti = ti;
		} else if (pi < m && tok_match(p, &tok[pi], s[ti])) {
			pi++;
			ti++;
		} else if (star) {
			/* The last star takes one byte more; retry from there. */
			pi = star_pi;
			ti = ++star_ti;
		} else {
			return 0;
		}
	}
	while (pi < m && tok[pi].kind == TOK_STAR)
		pi++;
	return pi == m;
}

static int seg_match(const struct pattern *p, const struct seg *g, const unsigned char *s, size_t n)
{
	if (g->kind == SEG_ONE)
		return 1;
	return glob_match(p, p->tok + g->first, g->nr, s, n);
}

/* Where the component after the one starting at `at` starts (len at the end). */
static size_t next_component(const char *path, size_t len, size_t at)
{
	const char *slash = memchr(path + at, '/', len - at);

	return slash ? (size_t)(slash - path) + 1 : len;
}

/* Do the segments match the components of path[0..len), all of them? */
static int path_match(const struct pattern *p, const char *path, size_t len)
{
	size_t si = 0, t = 0, star_si = 0, star_t = 0;
	int star = 0;

	while (t < len) {
		size_t next = next_component(path, len, t);
		size_t clen = next < len ? next - t - 1 : len - t;

		if (si < p->nseg && p->seg[si].kind == SEG_STARSTAR) {
			star = 1;
			star_si = ++si;
			star_t = t;
		} else if (si < p->nseg &&
			   seg_match(p, &p->seg[si], (const unsigned char *)path + t, clen)) {
			si++;
			t = next;
		} else if (star) {
			/* The last "**" takes one component more; retry from there. */
			star_t = next_component(path, len, star_t);
			t = star_t;
			si = star_si;
		} else {
			return 0;
		}
	}
	while (si < p->nseg && p->seg[si].kind == SEG_STARSTAR)
		si++;
	return si == p->nseg;
}

int cdt_exclude_match(const struct cdt_exclude *ex, const char *path, size_t len, int is_dir)
{
	const char *slash;
	const unsigned char *base;
	size_t baselen, i;

	if (!ex || !len)
		return 0;
	slash = memrchr(path, '/', len);
	base = (const unsigned char *)(slash ? slash + 1 : path);
	baselen = len - (size_t)(base - (const unsigned char *)path);
	for (i = ex->nr; i-- > 0;) {
		const struct pattern *p = &ex->pat[i];
		int hit;

		if (p->dir_only && !is_dir)
			continue;
		if (p->anchored)
			hit = path_match(p, path, len);
		else
			hit = glob_match(p, p->tok, p->ntok, base, baselen);
		if (hit)
			return !p->negative;
	}
	return 0;
}
