/* test-names.c: which names are valid, names from paths, and name entries in a store. */
#include "base/hash.h"
#include "format/names.h"
#include "base/util.h"
#include "unit.h"
#include "unit-store.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Is name refused, with `reason` in why? */
static int refused(const char *name, const char *reason)
{
	struct strbuf why = STRBUF_INIT;
	int ok = cdt_name_check(name, &why) == -EINVAL && strstr(why.buf, reason);

	if (!ok)
		fprintf(stderr, "'%s': expected '%s', got '%s'\n", quote(name), reason, why.buf);
	strbuf_release(&why);
	return ok;
}

static int accepted(const char *name)
{
	struct strbuf why = STRBUF_INIT;
	int ok = cdt_name_check(name, &why) == 0 && !why.len;

	if (!ok)
		fprintf(stderr, "'%s' refused: %s\n", quote(name), why.buf);
	strbuf_release(&why);
	return ok;
}

static void test_check(void)
{
	static const char *const good[] = {
		"a", "a/b", "données/été.tar", "x y", "a.b/c-d_e", "\xe2\x82\xac", "...", "..a",
		"a..", ".hidden", "a/.b/..c", " ", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf",
		"\xc2\xa0", "\xef\xbf\xbf",
	};
	static const char *const bad[] = {
		"", "/a", "a/", "a//b", ".", "..", "a/./b", "a/../b", "a\nb", "a\tb", "a\x7f",
		"\xff", "\xc0\xaf", "\xed\xa0\x80", "\xc2\x85", "\xf4\x90\x80\x80", "\xe2\x82",
		"./a", "../a", "a/.", "a/..", "\x80", "a\xbf", "\xf8\x88\x80\x80\x80", "\xe0\x80\xaf",
		"\xf0\x9f\x98", "\xc2\x9f", "\x1b[1m", "\xf0\x8f\xbf\xbf", "\xe0\x9f\xbf",
	};
	struct strbuf why = STRBUF_INIT;
	char big[5000];
	size_t i;
	int ok;

	for (ok = 1, i = 0; i < ARRAY_SIZE(good); i++)
		ok &= accepted(good[i]);
	CHECK(ok);
	/* Every refusal says why. */
	for (ok = 1, i = 0; i < ARRAY_SIZE(bad); i++) {
		strbuf_reset(&why);
		ok &= cdt_name_check(bad[i], &why) == -EINVAL && why.len > 0;
	}
	CHECK(ok);
	CHECK(refused("", "empty"));
	CHECK(refused("/a", "absolute"));
	CHECK(refused("a//b", "empty component"));
	CHECK(refused("a/", "empty component"));
	CHECK(refused("a/./b", "'.' component"));
	CHECK(refused("a/..", "'..' component"));
	CHECK(refused("a\x01", "control character"));
	CHECK(refused("\xc0\xaf", "not valid UTF-8"));

	/* Components: at most 255 bytes, counted in bytes, in any position. */
	memset(big, 'a', 256);
	big[256] = '\0';
	CHECK(refused(big, "component longer than 255"));
	big[255] = '\0';
	CHECK(accepted(big));
	memcpy(big + 253, "\xc3\xa9", 3);	/* 253 + 2 bytes */
	CHECK(accepted(big));
	big[253] = 'a';
	memcpy(big + 254, "\xc3\xa9", 3);	/* 254 + 2 bytes */
	CHECK(refused(big, "component longer"));
	memcpy(big, "x/", 2);
	memset(big + 2, 'a', 255);
	memcpy(big + 257, "/y", 3);
	CHECK(accepted(big));
	memset(big + 2, 'a', 256);
	memcpy(big + 258, "/y", 3);
	CHECK(refused(big, "component longer"));

	/* The whole name: at most 4096 bytes. */
	for (i = 0; i < 4096; i++)
		big[i] = (i % 100 == 99) ? '/' : 'a';
	big[4096] = '\0';
	CHECK(accepted(big));
	big[4096] = 'a';
	big[4097] = '\0';
	CHECK(refused(big, "longer than 4096"));
	strbuf_release(&why);
}

/* The name derived from path, or NULL when it is refused (then out must be as it was). */
static const char *from_path(const char *path, struct strbuf *out)
{
	struct strbuf why = STRBUF_INIT;
	size_t before = out->len;
	int ret = cdt_name_from_path(path, out, &why);

	strbuf_release(&why);
	if (ret < 0)
		return out->len == before ? NULL : "(changed on failure)";
	return out->buf + before;
}

static void test_from_path(void)
{
	struct strbuf out = STRBUF_INIT;
	const char *n;

	CHECK((n = from_path("/var/./backups//x.tar", &out)) && !strcmp(n, "var/backups/x.tar"));
	strbuf_reset(&out);
	CHECK((n = from_path("./a/b/", &out)) && !strcmp(n, "a/b"));
	strbuf_reset(&out);
	CHECK((n = from_path("...", &out)) && !strcmp(n, "..."));
	strbuf_reset(&out);
	CHECK((n = from_path("a/..b/.c", &out)) && !strcmp(n, "a/..b/.c"));
	/* It appends: what out held stays in front. */
	strbuf_reset(&out);
	strbuf_addstr(&out, "keep:");
	CHECK((n = from_path("/x//y", &out)) && !strcmp(out.buf, "keep:x/y"));
	/* Refused, and out left as it was. */
	CHECK(from_path("../x", &out) == NULL);
	CHECK(from_path("a/b/../c", &out) == NULL);
	CHECK(from_path("a/..", &out) == NULL);
	CHECK(from_path("/", &out) == NULL);
	CHECK(from_path(".", &out) == NULL);
	CHECK(from_path("", &out) == NULL);
	CHECK(!strcmp(out.buf, "keep:x/y"));
	strbuf_release(&out);
}

static void entry(struct cdt_name_entry *e, const char *name, unsigned seed)
{
	char buf[16];

	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->mode = 0600 + seed;
	e->uid = 1000 + seed;
	e->gid = 100;
	e->mtime_sec = 1700000000 + seed;
	e->mtime_nsec = seed;
	e->added_sec = 1800000000;
	e->size = 12345 + seed;
	snprintf(buf, sizeof(buf), "%u", seed);
	cdt_hash(buf, strlen(buf), &e->content);
}

static int same_entry(const struct cdt_name_entry *a, const struct cdt_name_entry *b)
{
	return !strcmp(a->name, b->name) && a->mode == b->mode && a->uid == b->uid &&
	       a->gid == b->gid && a->mtime_sec == b->mtime_sec &&
	       a->mtime_nsec == b->mtime_nsec && a->added_sec == b->added_sec &&
	       a->size == b->size && cdt_id_eq(&a->content, &b->content);
}

/* Read name: the error code, with the entry compared against want when it reads. */
static int read_name(struct cdt_store *s, const char *name, const struct cdt_name_entry *want,
		     const char *reason)
{
	struct cdt_name_entry got;
	struct strbuf why = STRBUF_INIT;
	int ret = cdt_name_read(s, name, &got, &why);

	if (!ret && want && !same_entry(&got, want))
		ret = 1;
	if (reason && !strstr(why.buf, reason)) {
		fprintf(stderr, "%s: expected '%s', got '%s'\n", name, reason, why.buf);
		ret = 2;
	}
	strbuf_release(&why);
	return ret;
}

static void test_store_entries(struct cdt_store *s)
{
	int nfd = cdt_store_dirfd(s, CDT_DIR_NAMES);
	struct cdt_name_entry e, f;
	struct strbuf sb = STRBUF_INIT;
	struct stat st;

	entry(&e, "dir/sub/file", 1);
	CHECK(cdt_name_writable(s, "dir/sub/file", CDT_NAME_REG, 1) == 1);
	CHECK(cdt_name_write(s, &e, 0) == 0);
	CHECK(read_name(s, "dir/sub/file", &e, NULL) == 0);
	/* Replacing: refused without replace, done with it. */
	entry(&f, "dir/sub/file", 2);
	CHECK(cdt_name_write(s, &f, 0) == -EEXIST);
	CHECK(read_name(s, "dir/sub/file", &e, NULL) == 0);
	CHECK(cdt_name_writable(s, "dir/sub/file", CDT_NAME_REG, 1) == -EEXIST);
	CHECK(cdt_name_writable(s, "dir/sub/file", CDT_NAME_REG, 0) == 0);
	CHECK(cdt_name_write(s, &f, 1) == 0);
	CHECK(read_name(s, "dir/sub/file", &f, NULL) == 0);
	/* A name cannot be a directory of names, nor sit under another name. */
	entry(&f, "dir/sub", 3);
	CHECK(cdt_name_writable(s, "dir/sub", CDT_NAME_REG, 0) == -EISDIR);
	CHECK(cdt_name_write(s, &f, 1) == -EISDIR);
	entry(&f, "dir/sub/file/x", 3);
	CHECK(cdt_name_writable(s, "dir/sub/file/x", CDT_NAME_REG, 0) == -ENOTDIR);
	CHECK(cdt_name_write(s, &f, 0) == -ENOTDIR);

	/* Not there: missing, a directory, under a name. */
	CHECK(read_name(s, "nothing", NULL, NULL) == -ENOENT);
	CHECK(read_name(s, "dir/sub", NULL, NULL) == -ENOENT);
	CHECK(read_name(s, "dir/sub/file/x", NULL, NULL) == -ENOENT);

	/* An entry moved (or copied) to another name is refused there. */
	CHECK(unit_read_file(nfd, "dir/sub/file", &sb) == 0);
	unit_write_file(nfd, "moved", sb.buf, sb.len);
	CHECK(read_name(s, "moved", NULL, "belongs to another name") == -CDT_ECORRUPT);
	/* Damaged in place: a flipped bit anywhere is refused. */
	sb.buf[sb.len / 2] ^= 0x10;
	unit_write_file(nfd, "dir/sub/file", sb.buf, sb.len);
	CHECK(read_name(s, "dir/sub/file", NULL, "checksum") == -CDT_ECORRUPT);
	unit_write_file(nfd, "dir/sub/file", sb.buf, 10);
	CHECK(read_name(s, "dir/sub/file", NULL, "impossible length") == -CDT_ECORRUPT);
	/* A symbolic link is not followed, even to a good entry. */
	CHECK(cdt_name_write(s, &e, 1) == 0);
	CHECK(symlinkat("dir/sub/file", nfd, "link") == 0);
	CHECK(read_name(s, "link", NULL, "symbolic link") == -CDT_ECORRUPT);

	/* Removing prunes the directories it leaves empty, and only those. */
	entry(&f, "dir/sub/other", 4);
	CHECK(cdt_name_write(s, &f, 0) == 0);
	entry(&f, "p/q/r", 5);
	CHECK(cdt_name_write(s, &f, 0) == 0);
	CHECK(cdt_name_remove(s, "p/q/r", 0) == 0);
	CHECK(fstatat(nfd, "p", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
	CHECK(cdt_name_remove(s, "dir/sub/file", 0) == 0);
	CHECK(fstatat(nfd, "dir/sub", &st, AT_SYMLINK_NOFOLLOW) == 0);
	CHECK(read_name(s, "dir/sub/other", NULL, NULL) == 0);
	CHECK(cdt_name_remove(s, "dir/sub/file", 0) == -ENOENT);
	CHECK(cdt_name_remove(s, "dir/sub", 0) == -ENOENT);
	CHECK(cdt_name_remove(s, "dir/sub/other/x", 0) == -ENOENT);
	strbuf_release(&sb);
}

/* What a walk met, one line each. */
struct walked {
	struct strbuf log;
	int stop_at, visits;
};

static int on_name(const char *name, const struct cdt_name_entry *e, int err, const char *why,
		   void *data)
{
	struct walked *wk = data;

	if (e)
		strbuf_addf(&wk->log, "%s%s\n", name, strcmp(e->name, name) ? " (wrong entry)" : "");
	else
		strbuf_addf(&wk->log, "%s: %d %s\n", name, err, why ? why : "(no reason)");
	return ++wk->visits == wk->stop_at ? 7 : 0;
}

static const char *walk(struct cdt_store *s, const char *prefix, struct walked *wk, int *ret)
{
	strbuf_reset(&wk->log);
	wk->visits = 0;
	*ret = cdt_names_walk(s, prefix, on_name, wk);
	return wk->log.buf;
}

static void test_walk(struct cdt_store *s)
{
	static const char *const names[] = { "a0", "a/b", "a-c", "a b", "a/c/d", "ab", "b" };
	int nfd = cdt_store_dirfd(s, CDT_DIR_NAMES), ret;
	struct walked wk = { STRBUF_INIT, 0, 0 };
	struct cdt_name_entry e;
	struct strbuf sb = STRBUF_INIT;
	char line[256];
	size_t i;

	CHECK(!strcmp(walk(s, NULL, &wk, &ret), "") && ret == 0);
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		entry(&e, names[i], (unsigned)i);
		CHECK(cdt_name_write(s, &e, 0) == 0);
	}
	/* In byte order of the whole name, as if directories ended in '/'. */
	CHECK(!strcmp(walk(s, NULL, &wk, &ret), "a b\na-c\na/b\na/c/d\na0\nab\nb\n") && ret == 0);
	/* A prefix is a name, or a directory: never a string prefix ("a" is not "a0"). */
	CHECK(!strcmp(walk(s, "a", &wk, &ret), "a/b\na/c/d\n") && ret == 0);
	CHECK(!strcmp(walk(s, "a/c", &wk, &ret), "a/c/d\n") && ret == 0);
	CHECK(!strcmp(walk(s, "ab", &wk, &ret), "ab\n") && ret == 0);
	CHECK(!strcmp(walk(s, "zz", &wk, &ret), "") && ret == 0);
	CHECK(!strcmp(walk(s, "b/x", &wk, &ret), "") && ret == 0);
	/* fn's non-zero return stops the walk and is returned. */
	wk.stop_at = 3;
	walk(s, NULL, &wk, &ret);
	CHECK(ret == 7 && wk.visits == 3);
	wk.stop_at = 0;

	/* Damage is reported in its place, with a reason, and the walk goes on. */
	CHECK(unit_read_file(nfd, "ab", &sb) == 0);
	unit_write_file(nfd, "a/c/moved", sb.buf, sb.len);
	CHECK(symlinkat("ab", nfd, "a/link") == 0);
	walk(s, "a", &wk, &ret);
	snprintf(line, sizeof(line), "a/c/moved: %d name entry belongs to another name\n",
		 -CDT_ECORRUPT);
	CHECK(ret == 0 && strstr(wk.log.buf, line));
	snprintf(line, sizeof(line), "a/link: %d not a regular file", -CDT_ECORRUPT);
	CHECK(strstr(wk.log.buf, line) != NULL);
	CHECK(strstr(wk.log.buf, "a/b\n") && strstr(wk.log.buf, "a/c/d\n"));
	CHECK(!strstr(wk.log.buf, "wrong entry"));
	strbuf_release(&wk.log);
	strbuf_release(&sb);
}

/* raw -> escaped form -> valid name -> the same raw bytes. */
static int round_trip(const char *raw, size_t len, const char *want)
{
	struct strbuf esc = STRBUF_INIT, back = STRBUF_INIT, why = STRBUF_INIT;
	int ok;

	cdt_name_escape(raw, len, &esc);
	ok = cdt_name_check(esc.buf, &why) == 0 &&
	     cdt_name_unescape(esc.buf, &back, &why) == 0 &&
	     back.len == len && !memcmp(back.buf, raw, len) && (!want || !strcmp(esc.buf, want));
	if (!ok)
		fprintf(stderr, "round trip of '%s' (%zu bytes): '%s' %s\n", quote(esc.buf), len,
			quote(back.buf), why.buf);
	strbuf_release(&esc);
	strbuf_release(&back);
	strbuf_release(&why);
	return ok;
}

static void test_escape(void)
{
	static const char *const noncanonical[] = {
		"\\x41", "a\\x2f", "\\x00", "\\q", "a\\", "\\x5c", "\\xc3\\xa9", "\\xC3",
		"\\x4", "\\x", "\\xe2\\x82\\xac", "a\\xc3\\xa9b",
	};
	struct strbuf out = STRBUF_INIT, why = STRBUF_INIT;
	unsigned char raw[64];
	unsigned seed = 12345;
	size_t i, k;
	int ok;

	/* Valid names without a backslash are their own escaped form. */
	CHECK(round_trip("données/été", strlen("données/été"), "données/été"));
	CHECK(round_trip("a\\b", 3, "a\\\\b"));
	CHECK(round_trip("a\xff" "b", 3, "a\\xffb"));
	CHECK(round_trip("\n", 1, "\\x0a"));
	CHECK(round_trip("\x7f\x1b", 2, "\\x7f\\x1b"));
	CHECK(round_trip("\xc2\x85", 2, "\\xc2\\x85"));		/* a C1 control */
	CHECK(round_trip("\xc3" "A", 2, "\\xc3A"));		/* a lead byte alone */
	CHECK(round_trip("\xc3\xc3\xa9", 3, "\\xc3\xc3\xa9"));	/* then a valid é */
	CHECK(round_trip("\xed\xa0\x80", 3, "\\xed\\xa0\\x80"));	/* a surrogate */
	/* Random bytes (no NUL, no '/') all survive, and the form is valid. */
	for (ok = 1, i = 0; i < 20000; i++) {
		size_t len = 1 + (i % 12);

		for (k = 0; k < len; k++) {
			seed = seed * 1103515245 + 12345;
			raw[k] = (unsigned char)(seed >> 16);
			if (!raw[k] || raw[k] == '/')
				raw[k] = (i & 1) ? 0x80 : '\\';
		}
		/* No file system gives these names (and they are never stored). */
		if (len <= 2 && !memcmp(raw, "..", len))
			continue;
		ok &= round_trip((const char *)raw, len, NULL);
	}
	CHECK(ok);
	/* Only the one escaped form is a name: nothing else unescapes. */
	for (ok = 1, i = 0; i < ARRAY_SIZE(noncanonical); i++) {
		strbuf_reset(&out);
		strbuf_reset(&why);
		ok &= cdt_name_unescape(noncanonical[i], &out, &why) == -EINVAL && why.len &&
		      cdt_name_check(noncanonical[i], &why) == -EINVAL;
		if (!ok)
			fprintf(stderr, "'%s' was accepted\n", quote(noncanonical[i]));
	}
	CHECK(ok);
	/* A component is at most 255 bytes on disk, escapes included. */
	strbuf_reset(&out);
	for (i = 0; i < 64; i++)
		strbuf_addstr(&out, "\\xff");
	CHECK(refused(out.buf, "component longer"));
	strbuf_release(&out);
	strbuf_release(&why);
}

/* Encode, decode, compare every field; then each damaged form is refused. */
static void test_entry_v2(void)
{
	struct cdt_name_entry e, d;
	struct strbuf sb = STRBUF_INIT, why = STRBUF_INIT;
	static const unsigned char xa[] = {
		4, 0, 9, 0, 0, 0, 'u', 's', 'e', 'r', 'v', 'a', 'l', 'u', 'e', '\0', 'x', 'y', 'z',
		4, 0, 0, 0, 0, 0, 'u', 's', 'e', 's',
	};

	/* A plain file is version 1; a backslash in its name makes it version 2. */
	memset(&e, 0, sizeof(e));
	strcpy(e.name, "a/b");
	e.size = 3;
	cdt_hash("abc", 3, &e.content);
	cdt_name_encode(&e, &sb);
	CHECK(e.version == 1 && e.type == CDT_NAME_REG && sb.len == CDT_NAME_FIXED + 3 + 32);
	/* An entry read as version 1 stays literal; a new one is escaped. */
	strbuf_reset(&sb);
	strcpy(e.name, "a\\\\b");
	cdt_name_encode(&e, &sb);
	CHECK(e.version == 1);
	strbuf_reset(&sb);
	e.version = 0;
	cdt_name_encode(&e, &sb);
	CHECK(e.version == 2);
	CHECK(cdt_name_decode((unsigned char *)sb.buf, sb.len, "a\\\\b", &d, &why) == 0);
	strbuf_reset(&why);
	CHECK(cdt_name_raw(&d, &why, NULL) == 0 && !strcmp(why.buf, "a\\b"));
	strbuf_reset(&why);

	/* A symbolic link with a raw target. */
	memset(&e, 0, sizeof(e));
	strcpy(e.name, "l\\xff");
	e.type = CDT_NAME_SYMLINK;
	e.mode = 0777;
	strcpy(e.target, "../t\xff/x");
	strbuf_reset(&sb);
	cdt_name_encode(&e, &sb);
	CHECK(cdt_name_decode((unsigned char *)sb.buf, sb.len, "l\\xff", &d, &why) == 0);
	CHECK(d.type == CDT_NAME_SYMLINK && !strcmp(d.target, "../t\xff/x") && d.version == 2);
	strbuf_reset(&why);
	CHECK(cdt_name_raw(&d, &why, NULL) == 0 && !strcmp(why.buf, "l\xff"));
	strbuf_reset(&why);
	/* Fields a type does not use must be zero: one encoding per entry. */
	e.size = 1;
	strbuf_reset(&sb);
	cdt_name_encode(&e, &sb);
	CHECK(cdt_name_decode((unsigned char *)sb.buf, sb.len, NULL, &d, &why) == -CDT_ECORRUPT &&
	      strstr(why.buf, "does not use"));
	strbuf_reset(&why);

	/* A directory with extended attributes. */
	memset(&e, 0, sizeof(e));
	strcpy(e.name, "d");
	e.type = CDT_NAME_DIR;
	e.mode = 01777;
	e.xattrs = (unsigned char *)xa;
	e.xattrs_len = sizeof(xa);
	strbuf_reset(&sb);
	cdt_name_encode(&e, &sb);
	CHECK(cdt_name_decode((unsigned char *)sb.buf, sb.len, "d", &d, &why) == 0);
	CHECK(d.type == CDT_NAME_DIR && d.mode == 01777 && d.xattrs_len == sizeof(xa) &&
	      !memcmp(d.xattrs, xa, sizeof(xa)));
	cdt_name_entry_release(&d);
	/* Out of order attributes are refused. */
	{
		unsigned char bad[sizeof(xa)];

		memcpy(bad, xa + 19, 10);
		memcpy(bad + 10, xa, 19);
		e.xattrs = bad;
		strbuf_reset(&sb);
		cdt_name_encode(&e, &sb);
		CHECK(cdt_name_decode((unsigned char *)sb.buf, sb.len, "d", &d, &why) ==
		      -CDT_ECORRUPT && strstr(why.buf, "extended attributes"));
		strbuf_reset(&why);
	}
	/* A hard link names a valid name; a regular file without the flag has no target. */
	memset(&e, 0, sizeof(e));
	strcpy(e.name, "h");
	e.flags = CDT_NAME_HARDLINK;
	strcpy(e.target, "first/name");
	strbuf_reset(&sb);
	cdt_name_encode(&e, &sb);
	CHECK(e.version == 2);
	CHECK(cdt_name_decode((unsigned char *)sb.buf, sb.len, "h", &d, &why) == 0 &&
	      (d.flags & CDT_NAME_HARDLINK) && !strcmp(d.target, "first/name"));
	sb.buf[6] = 0;	/* flag cleared: a target it cannot have (checksum fixed below) */
	{
		struct cdt_id sum;

		cdt_hash(sb.buf, sb.len - 32, &sum);
		memcpy(sb.buf + sb.len - 32, sum.b, 32);
	}
	CHECK(cdt_name_decode((unsigned char *)sb.buf, sb.len, "h", &d, &why) == -CDT_ECORRUPT);
	strbuf_release(&sb);
	strbuf_release(&why);
}

/* Directory entries live in their directory, beside the names under it. */
static void test_dir_entries(struct cdt_store *s)
{
	struct cdt_name_entry e, f;
	struct walked wk = { STRBUF_INIT, 0, 0 };
	struct strbuf why = STRBUF_INIT;
	int ret;

	memset(&e, 0, sizeof(e));
	strcpy(e.name, "t/empty");
	e.type = CDT_NAME_DIR;
	e.mode = 0750;
	CHECK(cdt_name_writable(s, "t/empty", CDT_NAME_DIR, 1) == 1);
	CHECK(cdt_name_write(s, &e, 0) == 0);
	strcpy(e.name, "t");
	e.mode = 0700;
	CHECK(cdt_name_write(s, &e, 0) == 0);
	entry(&f, "t/file", 3);
	CHECK(cdt_name_write(s, &f, 0) == 0);
	memset(&e, 0, sizeof(e));
	strcpy(e.name, "t/link");
	e.type = CDT_NAME_SYMLINK;
	strcpy(e.target, "/etc/passwd");
	CHECK(cdt_name_write(s, &e, 0) == 0);
	/* The directory's entry first, then what is under it. */
	CHECK(!strcmp(walk(s, "t", &wk, &ret), "t\nt/empty\nt/file\nt/link\n") && ret == 0);
	CHECK(cdt_name_read(s, "t/empty", &e, &why) == 0 && e.type == CDT_NAME_DIR && e.mode == 0750);
	CHECK(cdt_name_read(s, "t", &e, &why) == 0 && e.type == CDT_NAME_DIR && e.mode == 0700);
	/* A file cannot go where a directory is, nor a directory over a file. */
	CHECK(cdt_name_writable(s, "t/empty", CDT_NAME_REG, 0) == -EISDIR);
	CHECK(cdt_name_writable(s, "t/file", CDT_NAME_DIR, 0) == -ENOTDIR);
	strcpy(f.name, "t/empty");
	CHECK(cdt_name_write(s, &f, 1) == -EISDIR);
	memset(&e, 0, sizeof(e));
	strcpy(e.name, "t/file");
	e.type = CDT_NAME_DIR;
	CHECK(cdt_name_write(s, &e, 1) == -ENOTDIR);
	/* Removing a directory's entry keeps the names under it. */
	CHECK(cdt_name_remove(s, "t", 1) == 0);
	CHECK(cdt_name_read(s, "t", &e, &why) == -ENOENT);
	CHECK(!strcmp(walk(s, "t", &wk, &ret), "t/empty\nt/file\nt/link\n"));
	CHECK(cdt_name_remove(s, "t/empty", -1) == 0);
	CHECK(cdt_name_remove(s, "t/empty", 1) == -ENOENT);
	CHECK(!strcmp(walk(s, "t", &wk, &ret), "t/file\nt/link\n"));
	strbuf_release(&wk.log);
	strbuf_release(&why);
}

int main(void)
{
	char *dir = unit_tmpdir("test-names");
	struct cdt_store *s;

	test_check();
	test_from_path();
	s = unit_store_new(dir, "entries", CDT_CHUNKER_FASTCDC, 4096);
	test_store_entries(s);
	cdt_store_close(s);
	s = unit_store_new(dir, "walk", CDT_CHUNKER_FASTCDC, 4096);
	test_walk(s);
	cdt_store_close(s);
	test_escape();
	test_entry_v2();
	s = unit_store_new(dir, "dirs", CDT_CHUNKER_FASTCDC, 4096);
	test_dir_entries(s);
	cdt_store_close(s);
	unit_tmpdir_remove(dir);
	UNIT_DONE();
}
