/* test-namerefs.c: name records: tables (writing, lookups, merging, rewriting), the old layout, the walk. */
#include "base/fsutil.h"
#include "base/hash.h"
#include "format/namerefs.h"
#include "base/util.h"
#include "unit.h"
#include "unit-store.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct cdt_id idn(const char *kind, unsigned n)
{
	char buf[32];
	struct cdt_id id;

	snprintf(buf, sizeof(buf), "%s%u", kind, n);
	cdt_hash(buf, strlen(buf), &id);
	return id;
}

/* Names a list call gave, sorted, and its errors. */
struct seen {
	char names[64][64];
	int n;
	int errs;		/* records refused as damaged (-CDT_ECORRUPT) */
	int other;		/* any other error */
	int stop_after;
};

static int collect_name(const char *name, int err, void *data)
{
	struct seen *sn = data;

	if (!name && err == -CDT_ECORRUPT)
		sn->errs++;
	else if (!name)
		sn->other++;
	else if (sn->n < 64)
		snprintf(sn->names[sn->n++], sizeof(sn->names[0]), "%s", name);
	return sn->stop_after && sn->n + sn->errs >= sn->stop_after ? 42 : 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The names recorded for m, as a fresh lookup sees them; "a,b,c" (sorted, duplicates kept). */
static const char *list(struct cdt_store *s, const struct cdt_id *m, struct seen *sn)
{
	static char out[4096];
	struct cdt_namerefs *r;
	int i, ret;

	memset(sn, 0, sizeof(*sn));
	ret = cdt_namerefs_open(s, &r);
	CHECK(ret == 0);
	if (ret)
		return "";
	ret = cdt_namerefs_list(r, m, collect_name, sn);
	CHECK(ret == 0);
	cdt_namerefs_close(r);
	qsort(sn->names, (size_t)sn->n, sizeof(sn->names[0]), cmp_str);
	out[0] = '\0';
	for (i = 0; i < sn->n; i++) {
		if (i)
			strcat(out, ",");
		strcat(out, sn->names[i]);
	}
	return out;
}

static size_t count_tables(struct cdt_store *s)
{
	struct cdt_dent *d;
	size_t n, i, tables = 0;

	if (cdt_list_dir(cdt_store_dirfd(s, CDT_DIR_REFS), "names", &d, &n) < 0)
		return 0;
	for (i = 0; i < n; i++)
		if (strlen(d[i].name) == CDT_ID_HEXLEN + 4 && !strcmp(d[i].name + CDT_ID_HEXLEN, ".rec"))
			tables++;
	cdt_dents_free(d, n);
	return tables;
}

/* A table's bytes, as given (any order), with its checksum; its file name in name. */
struct crec {
	struct cdt_id m;
	const char *name;
};

static void craft(const struct crec *r, size_t n, struct strbuf *out, char *name)
{
	unsigned char hdr[32] = "CDTN\001";
	uint64_t off = 0, nbytes = 0;
	struct cdt_id sum;
	size_t i;

	for (i = 0; i < n; i++)
		nbytes += strlen(r[i].name);
	put_le64(hdr + 8, n);
	put_le64(hdr + 16, nbytes);
	strbuf_reset(out);
	strbuf_add(out, hdr, sizeof(hdr));
	for (i = 0; i < n; i++) {
		unsigned char o[8];

		strbuf_add(out, r[i].m.b, CDT_ID_LEN);
		put_le64(o, off);
		strbuf_add(out, o, 8);
		off += strlen(r[i].name);
	}
	for (i = 0; i < n; i++)
		strbuf_addstr(out, r[i].name);
	cdt_hash(out->buf, out->len, &sum);
	strbuf_add(out, sum.b, CDT_ID_LEN);
	cdt_id_to_hex(&sum, name);
	strcat(name, ".rec");
}

static void put_table(struct cdt_store *s, const struct strbuf *b, const char *name)
{
	int refsfd = cdt_store_dirfd(s, CDT_DIR_REFS);
	char *p = xstrfmt("names/%s", name);

	CHECK(mkdirat(refsfd, "names", 0777) == 0 || errno == EEXIST);
	unit_write_file(refsfd, p, b->buf, b->len);
	free(p);
}

static void test_writer(struct cdt_store *s)
{
	struct cdt_id m1 = idn("m", 1), m2 = idn("m", 2), m3 = idn("m", 3);
	struct cdt_nameref_writer *w = cdt_nameref_writer_new(s);
	struct seen sn;

	CHECK(!strcmp(list(s, &m1, &sn), ""));	/* no refs/names yet */
	CHECK(cdt_nameref_writer_commit(w, 0) == 0 && count_tables(s) == 0);	/* nothing: no table */
	cdt_nameref_writer_add(w, &m1, "c");
	cdt_nameref_writer_add(w, &m1, "a/b");
	cdt_nameref_writer_add(w, &m2, "a/b");
	cdt_nameref_writer_add(w, &m1, "c");
	cdt_nameref_writer_add(w, &m1, "a");
	CHECK(cdt_nameref_writer_count(w) == 5);
	CHECK(cdt_nameref_writer_commit(w, 1) == 0);
	CHECK(cdt_nameref_writer_count(w) == 0);
	CHECK(count_tables(s) == 1);
	CHECK(!strcmp(list(s, &m1, &sn), "a,a/b,c"));
	CHECK(!strcmp(list(s, &m2, &sn), "a/b"));
	CHECK(!strcmp(list(s, &m3, &sn), ""));
	/* The same set again is the same table. */
	cdt_nameref_writer_add(w, &m2, "a/b");
	cdt_nameref_writer_add(w, &m1, "a/b");
	cdt_nameref_writer_add(w, &m1, "c");
	cdt_nameref_writer_add(w, &m1, "a");
	CHECK(cdt_nameref_writer_commit(w, 0) == 0 && count_tables(s) == 1);
	/* Another table: lookups see both, duplicates and all. */
	CHECK(cdt_nameref_add(s, &m1, "d") == 0 && cdt_nameref_add(s, &m3, "a") == 0);
	CHECK(count_tables(s) == 3);
	CHECK(!strcmp(list(s, &m1, &sn), "a,a/b,c,d"));
	CHECK(!strcmp(list(s, &m3, &sn), "a"));
	CHECK(cdt_nameref_add(s, &m1, "a") == 0);
	CHECK(!strcmp(list(s, &m1, &sn), "a,a,a/b,c,d"));
	/* fn stops a listing with its value. */
	{
		struct cdt_namerefs *r;

		memset(&sn, 0, sizeof(sn));
		sn.stop_after = 2;
		CHECK(cdt_namerefs_open(s, &r) == 0);
		CHECK(cdt_namerefs_list(r, &m1, collect_name, &sn) == 42 && sn.n == 2);
		cdt_namerefs_close(r);
	}
	cdt_nameref_writer_free(w);
}

/* Every way a table can be wrong: it is not used, and the walk says why. */
struct bad_seen {
	int bad, records;
	char why[256];
};

static void on_bad(const char *path, int err, const char *why, void *data)
{
	struct bad_seen *b = data;

	(void)path;
	if (err == -CDT_ECORRUPT)
		b->bad++;
	snprintf(b->why, sizeof(b->why), "%s", why);
}

static int on_any_record(const struct cdt_nameref_visit *v, void *data)
{
	struct bad_seen *b = data;

	(void)v;
	b->records++;
	return 0;
}

static int bad_table(struct cdt_store *s, struct strbuf *tb, const char *name, const char *want)
{
	struct cdt_nameref_walker w = { on_any_record, on_bad, NULL, NULL, NULL };
	struct bad_seen b = { 0, 0, "" };
	struct cdt_id m = idn("bad", 0);
	struct seen sn;
	char *p = xstrfmt("names/%s", name);
	int ok;

	w.data = &b;
	put_table(s, tb, name);
	ok = !strcmp(list(s, &m, &sn), "") && cdt_nameref_walk(s, &w) == 0 && b.bad == 1 &&
	     b.records == 0 && strstr(b.why, want);
	if (!ok)
		fprintf(stderr, "bad table: want '%s', got %d bad, %d records, '%s'\n", want, b.bad,
			b.records, b.why);
	unlinkat(cdt_store_dirfd(s, CDT_DIR_REFS), p, 0);
	free(p);
	return ok;
}

static void test_damaged(struct cdt_store *s)
{
	struct cdt_id m = idn("bad", 0), m0 = idn("bad", 1);
	struct crec good[2] = { { m, "a" }, { m, "b" } };
	struct crec unsorted[2] = { { m, "b" }, { m, "a" } };
	struct crec dup[2] = { { m, "a" }, { m, "a" } };
	struct crec by_id[2] = { { m, "a" }, { m0, "a" } };
	struct crec badname[1] = { { m, "../x" } };
	struct strbuf tb = STRBUF_INIT;
	char name[CDT_ID_HEXLEN + 8], other[CDT_ID_HEXLEN + 8];

	if (memcmp(m.b, m0.b, CDT_ID_LEN) < 0) {	/* by_id must be out of order */
		by_id[0].m = m0;
		by_id[1].m = m;
	}
	craft(good, 2, &tb, name);
	tb.buf[40] ^= 1;	/* a flipped bit in the first manifest id */
	CHECK(bad_table(s, &tb, name, "checksum mismatch"));
	craft(good, 2, &tb, name);	/* good bytes under another name */
	strcpy(other, name);
	other[0] = other[0] == 'a' ? 'b' : 'a';
	CHECK(bad_table(s, &tb, other, "file name is not its checksum"));
	craft(unsorted, 2, &tb, name);
	CHECK(bad_table(s, &tb, name, "out of order"));
	craft(dup, 2, &tb, name);
	CHECK(bad_table(s, &tb, name, "out of order"));
	craft(by_id, 2, &tb, name);
	CHECK(bad_table(s, &tb, name, "out of order"));
	craft(badname, 1, &tb, name);
	CHECK(bad_table(s, &tb, name, "not a valid name"));
	craft(good, 2, &tb, name);
	strbuf_setlen(&tb, tb.len - 1);
	CHECK(bad_table(s, &tb, name, ""));	/* cut short */
	craft(good, 2, &tb, name);
	tb.buf[4] = 2;
	CHECK(bad_table(s, &tb, name, "unknown table version"));
	craft(good, 2, &tb, name);
	put_le64((unsigned char *)tb.buf + 8, 3);
	CHECK(bad_table(s, &tb, name, "counts do not match"));
	craft(good, 2, &tb, name);
	put_le64((unsigned char *)tb.buf + 32 + 40 + 32, 5);	/* second name past the end */
	CHECK(bad_table(s, &tb, name, ""));
	/* The good one is used. */
	craft(good, 2, &tb, name);
	put_table(s, &tb, name);
	{
		struct seen sn;

		CHECK(!strcmp(list(s, &m, &sn), "a,b"));
	}
	strbuf_release(&tb);
}

static void test_merge(struct cdt_store *s)
{
	struct cdt_id m[40];
	struct seen sn;
	unsigned i;
	char nm[16];
	int merged;

	for (i = 0; i < 40; i++) {
		m[i] = idn("merge", i % 7);
		snprintf(nm, sizeof(nm), "n%u", i);
		CHECK(cdt_nameref_add(s, &m[i], nm) == 0);
	}
	CHECK(count_tables(s) == 40);
	merged = cdt_nameref_merge(s);
	CHECK(merged >= 9);
	CHECK(count_tables(s) == 41 - (size_t)merged);
	CHECK(count_tables(s) <= CDT_NAMEREF_MAX_TABLES);
	CHECK(cdt_nameref_merge(s) == 0);	/* few enough now */
	CHECK(!strcmp(list(s, &m[0], &sn), "n0,n14,n21,n28,n35,n7"));
	CHECK(!strcmp(list(s, &m[6], &sn), "n13,n20,n27,n34,n6"));
}

/* A merge whose inputs are all in one of them keeps that one. */
static void test_merge_superset(struct cdt_store *s)
{
	struct cdt_nameref_writer *w = cdt_nameref_writer_new(s);
	struct cdt_id m = idn("sup", 0);
	struct seen sn;
	unsigned i;
	char nm[16];

	for (i = 0; i < 40; i++) {
		snprintf(nm, sizeof(nm), "n%02u", i);
		cdt_nameref_writer_add(w, &m, nm);
	}
	CHECK(cdt_nameref_writer_commit(w, 1) == 0);
	for (i = 0; i < 33; i++) {
		snprintf(nm, sizeof(nm), "n%02u", i);
		CHECK(cdt_nameref_add(s, &m, nm) == 0);
	}
	CHECK(count_tables(s) == 34);
	CHECK(cdt_nameref_merge(s) > 0);
	CHECK(count_tables(s) >= 1);
	list(s, &m, &sn);
	CHECK(sn.n >= 40);
	for (i = 0; i < 40; i++) {
		int j, found = 0;

		snprintf(nm, sizeof(nm), "n%02u", i);
		for (j = 0; j < sn.n && j < 64; j++)
			found |= !strcmp(sn.names[j], nm);
		CHECK(found);
	}
	cdt_nameref_writer_free(w);
}

/* An old-layout record file: refs/names/XX/<62 hex>/<64 hex of `as`> holding `holds`. */
static void old_record(struct cdt_store *s, const struct cdt_id *m, const char *as,
		       const char *holds)
{
	int refsfd = cdt_store_dirfd(s, CDT_DIR_REFS);
	char path[CDT_ID_HEXLEN + 2], hex[CDT_ID_HEXLEN + 1];
	struct cdt_id h;
	char *p;

	cdt_hash(as, strlen(as), &h);
	p = xstrfmt("names/%s", cdt_id_path(m, path));
	CHECK(mkdirat_p(refsfd, p) == 0);
	free(p);
	p = xstrfmt("names/%s/%s", path, cdt_id_to_hex(&h, hex));
	unit_write_file(refsfd, p, holds, strlen(holds));
	free(p);
}

static int keep_not_x(const struct cdt_nameref_visit *v, void *data)
{
	int *asked = data;

	(*asked)++;
	return v->name && strcmp(v->name, "x");
}

static void test_old_layout(struct cdt_store *s)
{
	int refsfd = cdt_store_dirfd(s, CDT_DIR_REFS);
	struct cdt_id m1 = idn("old", 1), m2 = idn("old", 2);
	struct cdt_idset only = CDT_IDSET_INIT;
	uint64_t dropped, bad;
	struct seen sn;
	struct stat st;
	char path[CDT_ID_HEXLEN + 2];
	char *p;
	int asked = 0;

	old_record(s, &m1, "a", "a");
	old_record(s, &m1, "x", "x");
	old_record(s, &m1, "zzz", "yyy");	/* not the name its file is the hash of */
	old_record(s, &m1, "../x", "../x");	/* not a valid name */
	old_record(s, &m2, "x", "x");
	CHECK(cdt_nameref_add(s, &m1, "t") == 0);
	CHECK(!strcmp(list(s, &m1, &sn), "a,t,x") && sn.errs == 2 && sn.other == 0);

	/* rm's way: the old file goes; the last takes its directory. */
	CHECK(cdt_nameref_remove(s, &m2, "x") == 0);
	CHECK(cdt_nameref_remove(s, &m2, "x") == 0);	/* missing: no error */
	p = xstrfmt("names/%s", cdt_id_path(&m2, path));
	CHECK(fstatat(refsfd, p, &st, 0) < 0 && errno == ENOENT);
	free(p);
	old_record(s, &m2, "x", "x");

	/* A dry run counts only; `only` limits what keep() is asked. */
	cdt_idset_add(&only, &m2);
	CHECK(cdt_nameref_filter(s, &only, keep_not_x, &asked, CDT_NAMEREF_DRY_RUN, &dropped,
				 &bad) == 0);
	CHECK(asked == 1 && dropped == 1 && bad == 0);
	CHECK(!strcmp(list(s, &m2, &sn), "x"));
	/* Converting: kept records move into a table, the rest go, and so do their directories. */
	asked = 0;
	CHECK(cdt_nameref_filter(s, NULL, keep_not_x, &asked,
				 CDT_NAMEREF_CONVERT | CDT_NAMEREF_DROP_BAD, &dropped, &bad) == 0);
	CHECK(asked == 6 && dropped == 4);	/* x twice, and the two damaged */
	CHECK(!strcmp(list(s, &m1, &sn), "a,t") && sn.errs == 0);
	CHECK(!strcmp(list(s, &m2, &sn), ""));
	{
		struct cdt_dent *d;
		size_t n, i, dirs = 0;

		CHECK(cdt_list_dir(refsfd, "names", &d, &n) == 0);
		for (i = 0; i < n; i++)
			dirs += d[i].type == DT_DIR;
		CHECK(dirs == 0);
		cdt_dents_free(d, n);
	}
	cdt_idset_clear(&only);
}

static int keep_even(const struct cdt_nameref_visit *v, void *data)
{
	(void)data;
	return (v->name[strlen(v->name) - 1] - '0') % 2 == 0;
}

static void test_filter(struct cdt_store *s)
{
	struct cdt_id m = idn("f", 0), m2 = idn("f", 1);
	struct cdt_nameref_writer *w = cdt_nameref_writer_new(s);
	struct strbuf tb = STRBUF_INIT;
	struct crec good[1] = { { { { 0 } }, "q" } };
	char name[CDT_ID_HEXLEN + 8];
	uint64_t dropped, bad;
	struct seen sn;

	cdt_nameref_writer_add(w, &m, "n1");
	cdt_nameref_writer_add(w, &m, "n2");
	CHECK(cdt_nameref_writer_commit(w, 1) == 0);
	cdt_nameref_writer_add(w, &m, "n4");
	cdt_nameref_writer_add(w, &m2, "n6");
	CHECK(cdt_nameref_writer_commit(w, 1) == 0);
	CHECK(cdt_nameref_add(s, &m, "n3") == 0);	/* a table left empty just goes */
	good[0].m = m;
	craft(good, 1, &tb, name);
	tb.buf[tb.len - 1] ^= 1;
	put_table(s, &tb, name);
	CHECK(count_tables(s) == 4);
	CHECK(cdt_nameref_filter(s, NULL, keep_even, NULL, CDT_NAMEREF_DRY_RUN, &dropped, &bad) == 0);
	CHECK(dropped == 2 && bad == 0 && count_tables(s) == 4);
	CHECK(cdt_nameref_filter(s, NULL, keep_even, NULL, CDT_NAMEREF_DROP_BAD | CDT_NAMEREF_DRY_RUN,
				 &dropped, &bad) == 0);
	CHECK(dropped == 2 && bad == 1 && count_tables(s) == 4);
	CHECK(cdt_nameref_filter(s, NULL, keep_even, NULL, 0, &dropped, &bad) == 0);
	CHECK(dropped == 2 && bad == 0 && count_tables(s) == 3);	/* the damaged one stays */
	CHECK(!strcmp(list(s, &m, &sn), "n2,n4"));
	CHECK(!strcmp(list(s, &m2, &sn), "n6"));
	CHECK(cdt_nameref_filter(s, NULL, keep_even, NULL, CDT_NAMEREF_DROP_BAD, &dropped, &bad) == 0);
	CHECK(dropped == 0 && bad == 1 && count_tables(s) == 2);
	CHECK(!strcmp(list(s, &m, &sn), "n2,n4"));
	cdt_nameref_writer_free(w);
	strbuf_release(&tb);
}

/* What a walk met, in order. */
struct walked {
	struct strbuf log;
	int stop_at, visits;
};

static int on_record(const struct cdt_nameref_visit *v, void *data)
{
	struct walked *wk = data;
	struct cdt_id nh;

	if (v->name) {
		cdt_hash(v->name, strlen(v->name), &nh);
		CHECK(cdt_id_eq(&nh, &v->name_hash));
	}
	strbuf_addf(&wk->log, "%s %s %.6s\n", v->in_table ? "table" : "old", v->name ? v->name : "-",
		    v->path);
	return ++wk->visits == wk->stop_at ? 9 : 0;
}

static int on_stray(int dirfd, const char *file, const char *path, const char *why, void *data)
{
	struct walked *wk = data;
	struct stat st;

	CHECK(fstatat(dirfd, file, &st, AT_SYMLINK_NOFOLLOW) == 0);
	strbuf_addf(&wk->log, "stray %s: %s\n", path, why);
	return ++wk->visits == wk->stop_at ? 9 : 0;
}

static void test_walk(struct cdt_store *s)
{
	int refsfd = cdt_store_dirfd(s, CDT_DIR_REFS);
	struct walked wk = { STRBUF_INIT, 0, 0 };
	struct cdt_nameref_walker w = { on_record, NULL, on_stray, NULL, &wk };
	struct cdt_id m = idn("walk", 0);
	const char *p;

	CHECK(cdt_nameref_walk(s, &w) == 0 && wk.log.len == 0);	/* no refs/names yet */
	CHECK(cdt_nameref_add(s, &m, "t1") == 0);
	old_record(s, &m, "o1", "o1");
	old_record(s, &m, "o2", "damaged");
	unit_write_file(refsfd, "names/zz", "", 0);
	CHECK(mkdirat(refsfd, "names/ab", 0777) == 0);
	CHECK(mkdirat(refsfd, "names/ab/short", 0777) == 0);
	CHECK(cdt_nameref_walk(s, &w) == 0);
	p = wk.log.buf;
	/* The tables' records, then the old layout's; strays where they are met. */
	CHECK(strstr(p, "table t1 names/\n") != NULL);
	CHECK(strstr(p, "table t1") < strstr(p, "old o1"));
	CHECK(strstr(p, "old o1 names/\n") != NULL);
	CHECK(strstr(p, "old - names/\n") != NULL);
	CHECK(strstr(p, "stray names/zz: not a table of name records\n") != NULL);
	CHECK(strstr(p, "stray names/ab/short: not a manifest's directory of records\n") != NULL);
	if (wk.visits != 5)
		fprintf(stderr, "walked:\n%s", p);
	CHECK(wk.visits == 5);
	/* A callback's non-zero return stops the walk and is its result. */
	strbuf_reset(&wk.log);
	wk.visits = 0;
	wk.stop_at = 2;
	CHECK(cdt_nameref_walk(s, &w) == 9 && wk.visits == 2);
	strbuf_release(&wk.log);
}

int main(void)
{
	char *dir = unit_tmpdir("test-namerefs");
	struct cdt_store *s;

	s = unit_store_new(dir, "writer", CDT_CHUNKER_FASTCDC, 4096);
	test_writer(s);
	cdt_store_close(s);
	s = unit_store_new(dir, "damaged", CDT_CHUNKER_FASTCDC, 4096);
	test_damaged(s);
	cdt_store_close(s);
	s = unit_store_new(dir, "merge", CDT_CHUNKER_FASTCDC, 4096);
	test_merge(s);
	cdt_store_close(s);
	s = unit_store_new(dir, "superset", CDT_CHUNKER_FASTCDC, 4096);
	test_merge_superset(s);
	cdt_store_close(s);
	s = unit_store_new(dir, "old", CDT_CHUNKER_FASTCDC, 4096);
	test_old_layout(s);
	cdt_store_close(s);
	s = unit_store_new(dir, "filter", CDT_CHUNKER_FASTCDC, 4096);
	test_filter(s);
	cdt_store_close(s);
	s = unit_store_new(dir, "walk", CDT_CHUNKER_FASTCDC, 4096);
	test_walk(s);
	cdt_store_close(s);
	unit_tmpdir_remove(dir);
	UNIT_DONE();
}
