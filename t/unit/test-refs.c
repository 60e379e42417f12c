/* test-refs.c: reference tables (writing, lookups, compaction). */
#include "base/fsutil.h"
#include "base/hash.h"
#include "format/refs.h"
#include "base/util.h"
#include "unit.h"
#include "unit-store.h"

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

/* The pairs a store's tables should hold, as a plain list (duplicates allowed). */
struct model {
	struct cdt_ref_pair *p;
	size_t nr, alloc;
};

static void model_add(struct model *m, const struct cdt_id *c, const struct cdt_id *man)
{
	ALLOC_GROW(m->p, m->nr + 1, m->alloc);
	m->p[m->nr].chunk = *c;
	m->p[m->nr].manifest = *man;
	m->nr++;
}

/* Add the pairs to a writer, each twice, the second round backwards; flush. */
static int write_pairs(struct cdt_store *s, const struct model *m, size_t from, size_t to,
		       char *name_out)
{
	struct cdt_ref_writer *w = cdt_ref_writer_new(s);
	const char *const *names;
	size_t i;
	int ret = 0;

	for (i = from; i < to && !ret; i++)
		ret = cdt_ref_writer_add(w, &m->p[i].chunk, &m->p[i].manifest);
	for (i = to; i-- > from && !ret;)
		ret = cdt_ref_writer_add(w, &m->p[i].chunk, &m->p[i].manifest);
	if (!ret)
		ret = cdt_ref_writer_flush(w);
	if (name_out && cdt_ref_writer_tables(w, &names) == 1)
		strcpy(name_out, names[0]);
	cdt_ref_writer_free(w);
	return ret;
}

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CDT_ID_LEN);
}

/* Does every lookup of chunks c0..c<n> give, sorted and once each, the model's manifests? */
static int lookups_match(struct cdt_store *s, const struct model *m, unsigned n)
{
	struct cdt_refs *r;
	unsigned c;
	int ok = 1;

	if (cdt_refs_open(s, &r) < 0)
		return 0;
	for (c = 0; c < n; c++) {
		struct cdt_id chunk = idn("c", c), *got = NULL, *want = NULL;
		size_t nwant = 0, alloc = 0, i, j;
		int ngot = cdt_refs_lookup(r, &chunk, &got);

		for (i = 0; i < m->nr; i++)
			if (cdt_id_eq(&m->p[i].chunk, &chunk)) {
				ALLOC_GROW(want, nwant + 1, alloc);
				want[nwant++] = m->p[i].manifest;
			}
		if (nwant > 1)
			qsort(want, nwant, sizeof(*want), id_cmp);
		for (i = j = 0; i < nwant; i++)
			if (!j || !cdt_id_eq(&want[i], &want[j - 1]))
				want[j++] = want[i];
		if (ngot != (int)j || (j && memcmp(got, want, j * sizeof(*want)))) {
			fprintf(stderr, "chunk c%u: %d manifests, expected %zu\n", c, ngot, j);
			ok = 0;
		}
		free(got);
		free(want);
	}
	cdt_refs_close(r);
	return ok;
}

static size_t table_count(struct cdt_store *s)
{
	struct cdt_refs *r;
	size_t n;

	if (cdt_refs_open(s, &r) < 0)
		return SIZE_MAX;
	n = cdt_refs_table_count(r);
	cdt_refs_close(r);
	return n;
}

/* Is refs/chunks/<name> a table of n pairs, in strictly increasing order? */
static int table_is_sorted_set(struct cdt_store *s, const char *name, uint64_t n)
{
	struct strbuf sb = STRBUF_INIT;
	char *rel = xstrfmt("chunks/%s", name);
	const unsigned char *p;
	uint64_t i;
	int ok;

	ok = unit_read_file(cdt_store_dirfd(s, CDT_DIR_REFS), rel, &sb) == 0 &&
	     sb.len > CDT_REFS_HDR2 && !memcmp(sb.buf, CDT_REFS_MAGIC, 4) &&
	     get_le64((unsigned char *)sb.buf + 8) == n;
	p = (const unsigned char *)sb.buf;
	if (ok && p[4] == CDT_REFS_VERSION) {
		ok = sb.len == CDT_REFS_HDR + n * CDT_REFS_REC + CDT_ID_LEN;
		p += CDT_REFS_HDR;
		for (i = 1; ok && i < n; i++)
			ok = memcmp(p + (i - 1) * CDT_REFS_REC, p + i * CDT_REFS_REC, CDT_REFS_REC) < 0;
	} else if (ok && p[4] == CDT_REFS_VERSION_NUMBERED) {
		/* Pairs spelt out from the numbered manifests, in order. */
		uint32_t nman = get_le32(p + 16), k, next = 0;
		const unsigned char *recs = p + CDT_REFS_HDR2, *mans = recs + n * CDT_REFS_REC2;
		unsigned char prev[CDT_REFS_REC], cur[CDT_REFS_REC];

		ok = sb.len == CDT_REFS_HDR2 + n * CDT_REFS_REC2 + (size_t)nman * CDT_ID_LEN +
			       CDT_ID_LEN;
		for (i = 0; ok && i < n; i++) {
			k = get_le32(recs + i * CDT_REFS_REC2 + CDT_ID_LEN);
			ok = k <= next && k < nman;
			if (!ok)
				break;
			next += k == next;
			memcpy(cur, recs + i * CDT_REFS_REC2, CDT_ID_LEN);
			memcpy(cur + CDT_ID_LEN, mans + (size_t)k * CDT_ID_LEN, CDT_ID_LEN);
			ok = !i || memcmp(prev, cur, CDT_REFS_REC) < 0;
			memcpy(prev, cur, CDT_REFS_REC);
		}
		ok = ok && next == nman;
	} else {
		ok = 0;
	}
	free(rel);
	strbuf_release(&sb);
	return ok;
}

static void test_tables(struct cdt_store *s)
{
	struct model m = { 0 };
	char name[CDT_ID_HEXLEN + 8] = "", again[CDT_ID_HEXLEN + 8] = "";
	struct cdt_id absent = idn("c", 1000), *got;
	struct cdt_refs *r;
	unsigned c, k;
	size_t first;

	CHECK(table_count(s) == 0);
	/* Chunk c refers to c % 5 manifests (some none). */
	for (c = 0; c < 50; c++)
		for (k = 0; k < c % 5; k++) {
			struct cdt_id chunk = idn("c", c), man = idn("m", (c * 7 + k) % 11);

			model_add(&m, &chunk, &man);
		}
	CHECK(write_pairs(s, &m, 0, m.nr, name) == 0);
	CHECK(strlen(name) == CDT_ID_HEXLEN + 4 && !strcmp(name + CDT_ID_HEXLEN, ".ref"));
	CHECK(table_count(s) == 1);
	/* Written once each and sorted, though every pair came twice and out of order. */
	CHECK(table_is_sorted_set(s, name, m.nr));
	CHECK(lookups_match(s, &m, 50));
	CHECK(cdt_refs_open(s, &r) == 0);
	if (r) {
		CHECK(cdt_refs_lookup(r, &absent, &got) == 0);
		free(got);
		cdt_refs_close(r);
	}

	/* The same pairs again make the same table: nothing new, and it is named. */
	CHECK(write_pairs(s, &m, 0, m.nr, again) == 0);
	CHECK(!strcmp(name, again));
	CHECK(table_count(s) == 1);
	/* A writer given nothing writes nothing. */
	CHECK(write_pairs(s, &m, 0, 0, again) == 0);
	CHECK(table_count(s) == 1);

	/* Overlapping tables: a lookup merges them and drops what repeats. */
	first = m.nr;
	for (c = 40; c < 60; c++) {
		struct cdt_id chunk = idn("c", c), man = idn("m", c % 3);

		model_add(&m, &chunk, &man);
	}
	model_add(&m, &m.p[0].chunk, &m.p[0].manifest);
	CHECK(write_pairs(s, &m, first, m.nr, NULL) == 0);
	CHECK(table_count(s) == 2);
	CHECK(lookups_match(s, &m, 60));
	free(m.p);
}

/* A writer holds a bounded number of pairs: past that, it writes a table and goes on. */
static void test_writer_bound(struct cdt_store *s)
{
	struct cdt_ref_writer *w = cdt_ref_writer_new(s);
	struct cdt_id man = idn("m", 0);
	const char *const *names;
	struct model m = { 0 };
	size_t before = table_count(s);
	unsigned c;
	int ret = 0;

	for (c = 0; c < 70000 && !ret; c++) {
		struct cdt_id chunk = idn("b", c);

		ret = cdt_ref_writer_add(w, &chunk, &man);
		if (c % 1000 == 0)
			model_add(&m, &chunk, &man);
	}
	CHECK(ret == 0);
	CHECK(cdt_ref_writer_tables(w, &names) == 1);
	CHECK(cdt_ref_writer_flush(w) == 0);
	CHECK(cdt_ref_writer_tables(w, &names) == 2);
	cdt_ref_writer_free(w);
	CHECK(table_count(s) == before + 2);
	/* Sampled chunks, from both tables: c0, c1000, ..., c69000. */
	{
		struct cdt_refs *r;
		size_t i;
		int ok = 1;

		CHECK(cdt_refs_open(s, &r) == 0);
		for (i = 0; r && i < m.nr; i++) {
			struct cdt_id *got = NULL;

			ok &= cdt_refs_lookup(r, &m.p[i].chunk, &got) == 1 && cdt_id_eq(got, &man);
			free(got);
		}
		CHECK(ok);
		cdt_refs_close(r);
	}
	free(m.p);
}

struct keep_ctx {
	struct cdt_id drop;
	int all;
	size_t calls;
};

static int keep_pair(const struct cdt_ref_pair *p, void *data)
{
	struct keep_ctx *k = data;

	k->calls++;
	return !k->all && !cdt_id_eq(&p->manifest, &k->drop);
}

static int table_exists(struct cdt_store *s, const char *name)
{
	char *rel = xstrfmt("chunks/%s", name);
	struct stat st;
	int ret = fstatat(cdt_store_dirfd(s, CDT_DIR_REFS), rel, &st, 0) == 0;

	free(rel);
	return ret;
}

static void test_compact(struct cdt_store *s)
{
	struct model m = { 0 };
	struct keep_ctx keep = { idn("m", 1), 0, 0 };
	char big[CDT_ID_HEXLEN + 8] = "";
	size_t i, j, before;
	unsigned c;

	CHECK(cdt_refs_compact(s, 0, NULL, NULL) == 0);	/* no tables at all */
	/* Three tables of one pair and one of a hundred (of which one repeats). */
	for (c = 0; c < 100; c++) {
		struct cdt_id chunk = idn("c", c), man = idn("m", c % 4);

		model_add(&m, &chunk, &man);
	}
	CHECK(write_pairs(s, &m, 0, 100, big) == 0);
	for (c = 0; c < 3; c++) {
		struct cdt_id chunk = idn("c", c), man = idn("m", 10 + c);

		model_add(&m, &chunk, &man);
		CHECK(write_pairs(s, &m, m.nr - 1, m.nr, NULL) == 0);
	}
	model_add(&m, &m.p[5].chunk, &m.p[5].manifest);
	CHECK(write_pairs(s, &m, m.nr - 1, m.nr, NULL) == 0);
	CHECK(table_count(s) == 5);

	/* Within the limit: nothing to do. */
	CHECK(cdt_refs_compact(s, 5, NULL, NULL) == 0);
	CHECK(table_count(s) == 5);
	/* Over it: the small ones merge; the big one, more than twice their size, is not rewritten. */
	CHECK(cdt_refs_compact(s, 2, NULL, NULL) == 4);
	CHECK(table_count(s) == 2);
	CHECK(table_exists(s, big));
	CHECK(lookups_match(s, &m, 100));
	/* 0: everything into one table. */
	CHECK(cdt_refs_compact(s, 0, NULL, NULL) == 2);
	CHECK(table_count(s) == 1 && !table_exists(s, big));
	CHECK(lookups_match(s, &m, 100));
	CHECK(cdt_refs_compact(s, 0, NULL, NULL) == 0);

	/* keep() sees each distinct pair once and drops what it refuses, even from one table. */
	CHECK(cdt_refs_compact(s, 0, keep_pair, &keep) == 1);
	CHECK(keep.calls == 103);
	for (i = j = 0; i < m.nr; i++)
		if (!cdt_id_eq(&m.p[i].manifest, &keep.drop))
			m.p[j++] = m.p[i];
	m.nr = j;
	CHECK(m.nr == 78);
	CHECK(table_count(s) == 1);
	CHECK(lookups_match(s, &m, 100));
	/* Nothing kept: no table is left. */
	before = keep.calls;
	keep.all = 1;
	CHECK(cdt_refs_compact(s, 0, keep_pair, &keep) == 1);
	CHECK(keep.calls - before == 78);
	CHECK(table_count(s) == 0);
	m.nr = 0;
	CHECK(lookups_match(s, &m, 100));
	free(m.p);
}

static void count_bad(int dirfd, const char *file, int err, const char *why, void *data)
{
	(void)dirfd;
	(void)file;
	(void)why;
	if (err == -CDT_ECORRUPT)
		(*(int *)data)++;
}

/* A store of format 1 (zlib, chunks alone), whose tables are of version 1. */
static struct cdt_store *format1_store(const char *dir, const char *name)
{
	struct cdt_config cfg;
	struct cdt_store *s;
	char *path = xstrfmt("%s/%s", dir, name);

	cdt_config_defaults(&cfg);
	cfg.format = 1;
	cfg.codec = CDT_CODEC_ZLIB;
	cfg.level = 1;
	cfg.frame_size = 0;
	cfg.deltas = 0;
	cfg.chunk_size = 4096;
	if (cdt_store_init(path, &cfg, CDT_SHARE_PRIVATE) < 0 || cdt_store_open(path, &s) < 0)
		die("cannot make a store at '%s'", path);
	free(path);
	return s;
}

/* The version of the only table in refs/chunks, or -1. */
static int only_table_version(struct cdt_store *s)
{
	struct cdt_dent *ents;
	struct strbuf sb = STRBUF_INIT;
	size_t n, i;
	int v = -1, dfd = openat(cdt_store_dirfd(s, CDT_DIR_REFS), "chunks", O_RDONLY | O_DIRECTORY);

	if (dfd < 0 || cdt_list_dir(dfd, ".", &ents, &n) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		strbuf_reset(&sb);
		if (n == 1 && unit_read_file(dfd, ents[i].name, &sb) == 0 && sb.len > 4)
			v = (unsigned char)sb.buf[4];
	}
	cdt_dents_free(ents, n);
	strbuf_release(&sb);
	close(dfd);
	return v;
}

/*
 * A format-1 store writes tables of version 1, a format-2 store of version
 * 2, which take 36 bytes a pair instead of 64; a version-1 table brought
 * into a format-2 store is read, and merged into version 2 with the same
 * pairs. A version-2 table whose manifest number is out of range loses
 * that pair only, and fsck's check names it.
 */
static void test_versions(const char *dir)
{
	struct cdt_store *s1 = format1_store(dir, "v1"), *s2 = unit_store_new(dir, "v2",
									   CDT_CHUNKER_FASTCDC, 4096);
	struct model m = { 0 };
	char name1[CDT_ID_HEXLEN + 8] = "", name2[CDT_ID_HEXLEN + 8] = "";
	struct strbuf b1 = STRBUF_INIT, b2 = STRBUF_INIT;
	char *rel1, *rel2;
	unsigned c;
	int bad = 0;

	for (c = 0; c < 300; c++) {
		struct cdt_id chunk = idn("c", c / 2), man = idn("m", c % 5);

		model_add(&m, &chunk, &man);
	}
	CHECK(write_pairs(s1, &m, 0, m.nr, name1) == 0);
	CHECK(write_pairs(s2, &m, 0, m.nr, name2) == 0);
	CHECK(only_table_version(s1) == CDT_REFS_VERSION);
	CHECK(only_table_version(s2) == CDT_REFS_VERSION_NUMBERED);
	CHECK(table_is_sorted_set(s1, name1, 300) && table_is_sorted_set(s2, name2, 300));
	CHECK(lookups_match(s1, &m, 150) && lookups_match(s2, &m, 150));
	rel1 = xstrfmt("chunks/%s", name1);
	rel2 = xstrfmt("chunks/%s", name2);
	CHECK(unit_read_file(cdt_store_dirfd(s1, CDT_DIR_REFS), rel1, &b1) == 0);
	CHECK(unit_read_file(cdt_store_dirfd(s2, CDT_DIR_REFS), rel2, &b2) == 0);
	CHECK(b1.len == CDT_REFS_HDR + 300 * CDT_REFS_REC + CDT_ID_LEN);
	CHECK(b2.len == CDT_REFS_HDR2 + 300 * CDT_REFS_REC2 + 5 * CDT_ID_LEN + CDT_ID_LEN);

	/* The version-1 table beside the version-2 one: both read, merged into version 2. */
	unit_write_file(cdt_store_dirfd(s2, CDT_DIR_REFS), rel1, b1.buf, b1.len);
	CHECK(table_count(s2) == 2 && lookups_match(s2, &m, 150));
	CHECK(cdt_refs_compact(s2, 0, NULL, NULL) == 2);
	CHECK(only_table_version(s2) == CDT_REFS_VERSION_NUMBERED);
	CHECK(table_exists(s2, name2));
	CHECK(lookups_match(s2, &m, 150));

	/* Pair 0 numbered past the manifests: lookups skip it, the checked open refuses the table. */
	put_le32((unsigned char *)b2.buf + CDT_REFS_HDR2 + CDT_ID_LEN, 7);
	unit_write_file(cdt_store_dirfd(s2, CDT_DIR_REFS), rel2, b2.buf, b2.len);
	{
		struct cdt_refs *r;
		struct cdt_id *ids, first;
		int n;

		memcpy(first.b, b2.buf + CDT_REFS_HDR2, CDT_ID_LEN);

		CHECK(cdt_refs_open(s2, &r) == 0);
		n = cdt_refs_lookup(r, &first, &ids);
		CHECK(n == 1);	/* its chunk had two manifests: one record is damaged */
		free(ids);
		cdt_refs_close(r);
		CHECK(cdt_refs_open_checked(s2, count_bad, &bad, &r) == 0);
		CHECK(bad == 1);
		cdt_refs_close(r);
	}
	free(rel1);
	free(rel2);
	strbuf_release(&b1);
	strbuf_release(&b2);
	free(m.p);
	cdt_store_close(s1);
	cdt_store_close(s2);
}

int main(void)
{
	char *dir = unit_tmpdir("test-refs");
	struct cdt_store *s;

	s = unit_store_new(dir, "tables", CDT_CHUNKER_FASTCDC, 4096);
	test_tables(s);
	test_writer_bound(s);
	cdt_store_close(s);
	s = unit_store_new(dir, "compact", CDT_CHUNKER_FASTCDC, 4096);
	test_compact(s);
	cdt_store_close(s);
	s = format1_store(dir, "tables1");
	test_tables(s);
	cdt_store_close(s);
	s = format1_store(dir, "compact1");
	test_compact(s);
	cdt_store_close(s);
	test_versions(dir);
	unit_tmpdir_remove(dir);
	UNIT_DONE();
}
