/* test-exclude.c: exclude patterns: each gitignore(5) rule, git's own examples, files and bad patterns. */
#include "base/exclude.h"
#include "base/strbuf.h"
#include "unit.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { FILE_, DIR_ };

/* Is path (a file or a directory) excluded by the patterns, in order? */
static int excluded(const char *const *pats, const char *path, int is_dir)
{
	struct cdt_exclude *ex = cdt_exclude_new();
	struct strbuf why = STRBUF_INIT;
	int r;

	for (; *pats; pats++) {
		if (cdt_exclude_add(ex, *pats, &why) < 0) {
			fprintf(stderr, "pattern '%s' refused: %s\n", *pats, why.buf);
			r = -1;
			goto out;
		}
	}
	r = cdt_exclude_match(ex, path, strlen(path), is_dir);
out:
	cdt_exclude_free(ex);
	strbuf_release(&why);
	return r;
}

/* One pattern against one path. */
static int m1(const char *pat, const char *path, int is_dir)
{
	const char *pats[] = { pat, NULL };

	return excluded(pats, path, is_dir);
}

#define YES(pat, path) CHECK(m1(pat, path, FILE_) == 1)
#define NO(pat, path) CHECK(m1(pat, path, FILE_) == 0)

static void test_basename(void)
{
	/* No '/': the base name, at any depth. */
	YES("*.o", "a.o");
	YES("*.o", "x/y/a.o");
	NO("*.o", "a.oo");
	NO("*.o", "a.o/b");
	YES("a.o", "x/a.o");
	NO("a.o", "xa.o");
	/* gitignore(5): "hello.*" matches any file or directory named hello.<anything>. */
	YES("hello.*", "hello.c");
	YES("hello.*", "d/hello.");
	NO("hello.*", "hello");
	CHECK(m1("hello.*", "sub/hello.d", DIR_) == 1);
	/* A name with spaces, and one that is a single '*'. */
	YES("my file", "d/my file");
	YES("*", "anything");
	YES("**", "x/y/z");
}

static void test_anchored(void)
{
	/* gitignore(5): "doc/frotz" and "/doc/frotz" are the same; neither matches a/doc/frotz. */
	YES("doc/frotz", "doc/frotz");
	YES("/doc/frotz", "doc/frotz");
	NO("doc/frotz", "a/doc/frotz");
	NO("/doc/frotz", "a/doc/frotz");
	/* A leading '/' alone anchors. */
	YES("/foo", "foo");
	NO("/foo", "a/foo");
	YES("foo", "a/foo");
	/* gitignore(5): foo, then a "*" component, matches foo/test.json and foo/bar, not foo/bar/hello.c. */
	YES("foo/*", "foo/test.json");
	CHECK(m1("foo/*", "foo/bar", DIR_) == 1);
	NO("foo/*", "foo/bar/hello.c");
	NO("foo/*", "foo");
	/* '*' and '?' never match '/'. */
	NO("a*b/c", "a/b/c");
	NO("a?b/c", "a/b/c");
	YES("a?b/c", "axb/c");
	NO("x/a*", "x/a/b");
	/* A path matches whole, not a prefix or a suffix of it. */
	NO("a/b", "a/b/c");
	NO("a/b", "a/bc");
}

static void test_dir_only(void)
{
	/* gitignore(5): "frotz/" matches frotz and a/frotz that are directories. */
	CHECK(m1("frotz/", "frotz", DIR_) == 1);
	CHECK(m1("frotz/", "a/frotz", DIR_) == 1);
	CHECK(m1("frotz/", "frotz", FILE_) == 0);
	CHECK(m1("frotz/", "a/frotz", FILE_) == 0);
	/* Only the trailing '/' is dropped; what is left decides anchoring. */
	CHECK(m1("doc/build/", "doc/build", DIR_) == 1);
	CHECK(m1("doc/build/", "x/doc/build", DIR_) == 0);
	CHECK(m1("/build/", "build", DIR_) == 1);
	CHECK(m1("/build/", "x/build", DIR_) == 0);
	CHECK(m1("*.d/", "x/y.d", DIR_) == 1);
	CHECK(m1("*.d/", "x/y.d", FILE_) == 0);
}

static void test_negation(void)
{
	const char *html[] = { "*.html", "!foo.html", NULL };
	const char *html_rev[] = { "!foo.html", "*.html", NULL };
	/* gitignore(5): everything but directory foo/bar. */
	const char *only[] = { "/*", "!/foo", "/foo/*", "!/foo/bar", NULL };
	const char *reinc[] = { "build/", "!build/keep", NULL };
	const char *lit[] = { "\\!important!.txt", NULL };

	/* The last matching pattern decides. */
	CHECK(excluded(html, "bar.html", FILE_) == 1);
	CHECK(excluded(html, "foo.html", FILE_) == 0);
	CHECK(excluded(html, "d/foo.html", FILE_) == 0);
	CHECK(excluded(html_rev, "foo.html", FILE_) == 1);
	CHECK(excluded(only, "x", FILE_) == 1);
	CHECK(excluded(only, "x", DIR_) == 1);
	CHECK(excluded(only, "foo", DIR_) == 0);
	CHECK(excluded(only, "foo/y", FILE_) == 1);
	CHECK(excluded(only, "foo/bar", DIR_) == 0);
	/* Not excluded by this list is not excluded at all. */
	CHECK(excluded(only, "foo/bar/z", FILE_) == 0);
	/*
	 * The matcher answers for one path: build/keep is re-included, but a
	 * walk never asks, since it does not go into build.
	 */
	CHECK(excluded(reinc, "build", DIR_) == 1);
	CHECK(excluded(reinc, "build/keep", FILE_) == 0);
	/* A negation that matches nothing changes nothing. */
	CHECK(excluded(html, "a.txt", FILE_) == 0);
	/* "\!" is a literal '!'. */
	CHECK(excluded(lit, "!important!.txt", FILE_) == 1);
	CHECK(excluded(lit, "important!.txt", FILE_) == 0);
}

static void test_starstar(void)
{
	/* gitignore(5): a leading "**" component: foo, file or directory, anywhere. */
	YES("**/foo", "foo");
	YES("**/foo", "a/foo");
	YES("**/foo", "a/b/foo");
	NO("**/foo", "a/foox");
	/* Then foo/bar: bar directly under a directory foo, anywhere. */
	YES("**/foo/bar", "foo/bar");
	YES("**/foo/bar", "x/y/foo/bar");
	NO("**/foo/bar", "foo/x/bar");
	/* A trailing "**" component: everything inside abc, at any depth, not abc itself. */
	YES("abc/**", "abc/x");
	YES("abc/**", "abc/x/y/z");
	NO("abc/**", "abc");
	NO("abc/**", "x/abc/y");
	CHECK(m1("abc/**", "abc", DIR_) == 0);
	/* One between two others: zero or more directories. */
	YES("a/**/b", "a/b");
	YES("a/**/b", "a/x/b");
	YES("a/**/b", "a/x/y/b");
	NO("a/**/b", "a/xb");
	NO("a/**/b", "b");
	NO("a/**/b", "a/b/c");
	NO("a/**/b", "x/a/b");
	/* Several, with backtracking over each. */
	YES("a/**/b/**/c", "a/b/c");
	YES("a/**/b/**/c", "a/x/b/y/b/z/c");
	NO("a/**/b/**/c", "a/x/c/b");
	YES("**/b/**", "x/b/y");
	NO("**/b/**", "x/b");
	/* More stars bounded by '/' are "**" too; anywhere else, "**" is "*". */
	YES("a/***/b", "a/x/y/b");
	YES("a**b", "axxb");
	YES("a**b", "d/ab");
	NO("x/a**b", "x/a/b");
	NO("x/**b", "x/y/b");
	YES("x/**b", "x/yb");
	NO("x/b**", "x/b/y");
	/* A "**" component alone, anchored: everything. */
	YES("/**", "a");
	YES("/**", "a/b");
}

static void test_sets(void)
{
	YES("[abc].txt", "b.txt");
	NO("[abc].txt", "d.txt");
	YES("[!abc].txt", "d.txt");
	NO("[!abc].txt", "a.txt");
	YES("[^abc].txt", "d.txt");
	NO("[^abc].txt", "c.txt");
	YES("x[a-c]", "xb");
	NO("x[a-c]", "xd");
	NO("x[c-a]", "xb");		/* a range backwards holds nothing */
	YES("[]]", "]");		/* ']' first is a member */
	NO("[]]", "a");
	YES("[!]]", "a");
	NO("[!]]", "]");
	YES("[]a-]", "-");		/* '-' last is a member */
	YES("[a\\-z]", "-");		/* quoted, '-' is no range */
	NO("[a\\-z]", "b");
	YES("[\\]]", "]");
	YES("[[:digit:]]*", "7up");
	NO("[[:digit:]]*", "up");
	YES("[[:upper:][:digit:]]", "Q");
	YES("[[:upper:][:digit:]]", "4");
	NO("[[:upper:][:digit:]]", "q");
	YES("[[:space:]]x", " x");
	YES("[[:punct:]]", "_");
	YES("[[:xdigit:]][[:xdigit:]]", "fA");
	YES("[[]", "[");		/* "[[" with no ":" is an ordinary '[' */
	/* A set never matches '/', even negated or naming it. */
	NO("a[!x]b", "a/b");
	NO("a[/]b", "a/b");
	/* Bytes, not characters: "?" is one byte, sets are byte ranges. */
	YES("caf??", "caf\xc3\xa9");
	NO("caf?", "caf\xc3\xa9");
	YES("[\x80-\xff]*", "\xff\xfe");
	NO("[\x80-\xff]*", "a\xff");
	YES("\xff*", "\xff");
	YES("d/\xfe?", "d/\xfe\x01");
}

static void test_quoting(void)
{
	YES("\\*", "*");
	NO("\\*", "a");
	YES("\\?", "?");
	NO("\\?", "a");
	YES("\\[a]", "[a]");
	YES("\\\\", "\\");
	YES("a\\ b", "a b");
	YES("\\#x", "#x");
	/* "\/" separates as '/' does, and anchors. */
	YES("a\\/b", "a/b");
	NO("a\\/b", "x/a/b");
}

/* The patterns of a file's text, matched against one path. */
static int lines_match(const char *text, const char *path, int is_dir)
{
	struct cdt_exclude *ex = cdt_exclude_new();
	struct strbuf why = STRBUF_INIT;
	int r;

	r = cdt_exclude_add_lines(ex, text, strlen(text), &why);
	if (r == 0)
		r = cdt_exclude_match(ex, path, strlen(path), is_dir);
	else
		fprintf(stderr, "lines refused: %s\n", why.buf);
	cdt_exclude_free(ex);
	strbuf_release(&why);
	return r;
}

static void test_lines(void)
{
	struct cdt_exclude *ex = cdt_exclude_new();
	struct strbuf why = STRBUF_INIT;
	static const char text[] = "# a comment\n\n*.o\n   \n#not.c\n\\#hash.c\n";

	/* Comments and blank lines are skipped; "\#" is a '#'. */
	CHECK(cdt_exclude_add_lines(ex, text, strlen(text), &why) == 0);
	CHECK(cdt_exclude_match(ex, "x.o", 3, FILE_) == 1);
	CHECK(cdt_exclude_match(ex, "#not.c", 6, FILE_) == 0);
	CHECK(cdt_exclude_match(ex, "# a comment", 11, FILE_) == 0);
	CHECK(cdt_exclude_match(ex, "#hash.c", 7, FILE_) == 1);
	cdt_exclude_free(ex);
	strbuf_release(&why);
	/* A '#' not first is part of the pattern. */
	CHECK(lines_match(" #x\n", " #x", FILE_) == 1);
	/* Trailing spaces go, unless quoted; leading ones stay. */
	CHECK(lines_match("foo   \n", "foo", FILE_) == 1);
	CHECK(lines_match("foo\\ \n", "foo ", FILE_) == 1);
	CHECK(lines_match("foo\\ \n", "foo", FILE_) == 0);
	CHECK(lines_match("foo\\  \n", "foo ", FILE_) == 1);
	CHECK(lines_match("a \\  \n", "a  ", FILE_) == 1);
	CHECK(lines_match(" foo\n", " foo", FILE_) == 1);
	CHECK(lines_match(" foo\n", "foo", FILE_) == 0);
	/* Tabs are not spaces here. */
	CHECK(lines_match("foo\t\n", "foo\t", FILE_) == 1);
	/* CRLF ends a line; a byte order mark first is dropped; no newline at the end. */
	CHECK(lines_match("a\r\nb\r\n", "b", FILE_) == 1);
	CHECK(lines_match("\xef\xbb\xbf" "a\n", "a", FILE_) == 1);
	CHECK(lines_match("a\nlast", "last", FILE_) == 1);
	/* Order across lines: the last match wins. */
	CHECK(lines_match("*.log\n!keep.log\n", "keep.log", FILE_) == 0);
	CHECK(lines_match("*.log\n!keep.log\n", "x.log", FILE_) == 1);
}

static void test_errors(void)
{
	struct cdt_exclude *ex = cdt_exclude_new();
	struct strbuf why = STRBUF_INIT;
	static const char bad[] = "*.o\n\n[abc\n";
	static const char nul[] = "a\0b\n";

	CHECK(cdt_exclude_empty(ex));
	CHECK(cdt_exclude_add(ex, "[abc", &why) == -EINVAL);
	CHECK(!strcmp(why.buf, "'[' without a matching ']'"));
	strbuf_reset(&why);
	CHECK(cdt_exclude_add(ex, "[]", &why) == -EINVAL);
	strbuf_reset(&why);
	CHECK(cdt_exclude_add(ex, "a[!", &why) == -EINVAL);
	strbuf_reset(&why);
	CHECK(cdt_exclude_add(ex, "[a-\\", &why) == -EINVAL);
	strbuf_reset(&why);
	CHECK(cdt_exclude_add(ex, "[[:bogus:]]", &why) == -EINVAL);
	CHECK(!strcmp(why.buf, "unknown character class '[:bogus:]'"));
	strbuf_reset(&why);
	CHECK(cdt_exclude_add(ex, "a\\", &why) == -EINVAL);
	CHECK(!strcmp(why.buf, "'\\' at the end quotes nothing"));
	strbuf_reset(&why);
	CHECK(cdt_exclude_add(ex, "", &why) == -EINVAL);
	CHECK(!strcmp(why.buf, "empty pattern"));
	strbuf_reset(&why);
	CHECK(cdt_exclude_add(ex, "!", &why) == -EINVAL);
	strbuf_reset(&why);
	CHECK(cdt_exclude_add(ex, "/", &why) == -EINVAL);
	strbuf_reset(&why);
	CHECK(cdt_exclude_empty(ex));
	/* A bad line names itself, and none of the file's patterns are kept. */
	CHECK(cdt_exclude_add_lines(ex, bad, strlen(bad), &why) == -EINVAL);
	CHECK(!strcmp(why.buf, "line 3: '[abc': '[' without a matching ']'"));
	CHECK(cdt_exclude_empty(ex));
	CHECK(cdt_exclude_match(ex, "x.o", 3, FILE_) == 0);
	strbuf_reset(&why);
	CHECK(cdt_exclude_add_lines(ex, nul, sizeof(nul) - 1, &why) == -EINVAL);
	CHECK(!strcmp(why.buf, "line 1: a NUL byte in a pattern"));
	cdt_exclude_free(ex);
	strbuf_release(&why);
}

static void test_file(void)
{
	char path[] = "/tmp/cdt-test-exclude.XXXXXX";
	static const char text[] = "# build output\nbuild/\n*.tmp\n";
	struct cdt_exclude *ex = cdt_exclude_new();
	struct strbuf why = STRBUF_INIT;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, text, sizeof(text) - 1) == (ssize_t)(sizeof(text) - 1));
	close(fd);
	CHECK(cdt_exclude_add_file(ex, path, &why) == 0);
	CHECK(cdt_exclude_match(ex, "a/build", 7, DIR_) == 1);
	CHECK(cdt_exclude_match(ex, "a/x.tmp", 7, FILE_) == 1);
	CHECK(cdt_exclude_match(ex, "a/x.c", 5, FILE_) == 0);
	unlink(path);
	CHECK(cdt_exclude_add_file(ex, path, &why) == -ENOENT);
	CHECK(cdt_exclude_add_file(ex, "/", &why) == -EISDIR);
	cdt_exclude_free(ex);
	strbuf_release(&why);
}

/* Patterns that would take exponential time with naive backtracking. */
static void test_backtracking(void)
{
	char name[201], deep[4001];
	size_t i;

	memset(name, 'a', 200);
	name[200] = '\0';
	NO("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", name);
	YES("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*", name);
	for (i = 0; i < 2000; i++) {
		deep[2 * i] = 'a';
		deep[2 * i + 1] = '/';
	}
	deep[3999] = '\0';
	NO("**/a/**/a/**/a/**/a/**/a/**/a/**/b", deep);
	YES("**/a/**/a/**/a/**/a/**/a/**/a", deep);
}

static uint64_t rs = 1;

static unsigned rnd(unsigned n)
{
	rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)(rs >> 33) % n;
}

/*
 * Where the two agree on what a pattern means, fnmatch(3) with
 * FNM_PATHNAME must give the same answers: for patterns without '/' on
 * a base name, and for anchored ones without "**" or a quoted '/' (which
 * gitignore(5) treats its own way) on a whole path. Random patterns and
 * names over a few bytes that mean something to either.
 */
static void test_against_fnmatch(void)
{
	static const char pat_bytes[] = "ab*?[]!^-\\/", name_bytes[] = "ab]-!^*?[\\/";
	int round, differ = 0, compared = 0;

	for (round = 0; round < 400000; round++) {
		int anchored = round & 1, r;
		size_t plen = 1 + rnd(8), nlen = 1 + rnd(6), i;
		char pat[16], name[16];
		struct cdt_exclude *ex;
		struct strbuf why = STRBUF_INIT;

		for (i = 0; i < plen; i++)
			pat[i] = pat_bytes[rnd(sizeof(pat_bytes) - (anchored ? 1 : 2))];
		pat[plen] = '\0';
		for (i = 0; i < nlen; i++)
			name[i] = name_bytes[rnd(sizeof(name_bytes) - (anchored ? 1 : 2))];
		name[nlen] = '\0';
		if (pat[0] == '!' || pat[0] == '/' || pat[plen - 1] == '/')
			continue;
		if (anchored && (!strchr(pat, '/') || strstr(pat, "**") || strstr(pat, "\\/")))
			continue;
		/* A path has no empty component and no '/' at either end. */
		if (name[0] == '/' || name[nlen - 1] == '/' || strstr(name, "//"))
			continue;
		ex = cdt_exclude_new();
		if (cdt_exclude_add(ex, pat, &why) == 0) {
			compared++;
			r = cdt_exclude_match(ex, name, nlen, 0);
			if (r != (fnmatch(pat, name, FNM_PATHNAME) == 0) && differ++ < 10)
				fprintf(stderr, "'%s' on '%s': %d, fnmatch says otherwise\n", pat, name, r);
		}
		cdt_exclude_free(ex);
		strbuf_release(&why);
	}
	CHECK(compared > 100000);
	CHECK(differ == 0);
}

int main(void)
{
	test_basename();
	test_anchored();
	test_dir_only();
	test_negation();
	test_starstar();
	test_sets();
	test_quoting();
	test_lines();
	test_errors();
	test_file();
	test_backtracking();
	test_against_fnmatch();
	UNIT_DONE();
}
