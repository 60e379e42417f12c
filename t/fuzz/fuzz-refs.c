/*
 * fuzz-refs.c: reverse reference tables (lib/refs.h): cdt_refs_open,
 * cdt_refs_lookup and cdt_refs_compact.
 *
 * The first byte holds flags, the rest is a table, written to the scratch
 * store (of format 2, which writes tables of version 2) as
 * refs/chunks/<64 hex>.ref:
 *   bit 0  set the header's count from the length (version 1);
 *   bit 1  sort the records and drop duplicates, as a writer does
 *          (version 1);
 *   bit 5  then spell a version-1 table as version 2: manifests numbered
 *          in order of first use, listed after the records;
 *   bit 2  recompute the checksum (of the records and manifests, then the
 *          header) and name the table by it, as a writer does;
 *   bit 3  also write a copy under another name and compact: a merge
 *          takes only tables that check in full, and the copy's name is
 *          not its checksum, so it is left where it is (and removed
 *          before the checks that follow);
 *   bit 4  compact keeping only pairs whose manifest id starts with an
 *          even byte.
 * A table of the wrong shape is skipped with a message, never used. For a
 * well-shaped sorted table a lookup must return exactly the manifests
 * listed for the chunk, sorted; compaction must keep exactly the pairs
 * asked for of a table that checks, and leave one that does not as it
 * is; merging a version-2 table that checks must give the table back.
 */
#include "fuzz.h"
#include "format/refs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int keep_even(const struct cdt_ref_pair *p, void *data)
{
	return !(p->manifest.b[0] & 1);
}

static int rec_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CDT_REFS_REC);
}

struct table {
	const unsigned char *recs;
	uint64_t count;
	int shape_ok, sorted;
	int version;
	const unsigned char *mans;	/* version 2 */
	uint64_t nman;
};

/* Pair i of a well-shaped table, spelt out; 0 if its manifest number is out of range. */
static int model_pair(const struct table *t, uint64_t i, unsigned char out[CDT_REFS_REC])
{
	const unsigned char *rec;
	uint32_t k;

	if (t->version == CDT_REFS_VERSION) {
		memcpy(out, t->recs + i * CDT_REFS_REC, CDT_REFS_REC);
		return 1;
	}
	rec = t->recs + i * CDT_REFS_REC2;
	k = get_le32(rec + CDT_ID_LEN);
	if (k >= t->nman)
		return 0;
	memcpy(out, rec, CDT_ID_LEN);
	memcpy(out + CDT_ID_LEN, t->mans + (size_t)k * CDT_ID_LEN, CDT_ID_LEN);
	return 1;
}

/*
 * Rewrite the version-1 table in file (len bytes, n sorted unique
 * records) as version 2; returns its new length (the checksum's room kept).
 */
static size_t to_version2(unsigned char **file, size_t len, uint64_t n)
{
	unsigned char *in = *file, *out = xmalloc(CDT_REFS_HDR2 + n * (CDT_REFS_REC2 + CDT_ID_LEN) +
						   CDT_ID_LEN);
	unsigned char *recs = out + CDT_REFS_HDR2, *mans = recs + n * CDT_REFS_REC2;
	uint64_t i, m = 0, k;

	for (i = 0; i < n; i++) {
		const unsigned char *rec = in + CDT_REFS_HDR + i * CDT_REFS_REC;

		for (k = 0; k < m; k++)
			if (!memcmp(mans + k * CDT_ID_LEN, rec + CDT_ID_LEN, CDT_ID_LEN))
				break;
		if (k == m)
			memcpy(mans + m++ * CDT_ID_LEN, rec + CDT_ID_LEN, CDT_ID_LEN);
		memcpy(recs + i * CDT_REFS_REC2, rec, CDT_ID_LEN);
		put_le32(recs + i * CDT_REFS_REC2 + CDT_ID_LEN, (uint32_t)k);
	}
	memmove(recs + n * CDT_REFS_REC2, mans, m * CDT_ID_LEN);
	memset(out, 0, CDT_REFS_HDR2);
	memcpy(out, CDT_REFS_MAGIC, 4);
	out[4] = CDT_REFS_VERSION_NUMBERED;
	put_le64(out + 8, n);
	put_le32(out + 16, (uint32_t)m);
	/* The old checksum, to be recomputed or left wrong. */
	memcpy(recs + n * CDT_REFS_REC2 + m * CDT_ID_LEN, in + len - CDT_ID_LEN, CDT_ID_LEN);
	free(in);
	*file = out;
	return CDT_REFS_HDR2 + n * CDT_REFS_REC2 + m * CDT_ID_LEN + CDT_ID_LEN;
}

/* Shape, order and manifests of the table in file, as the reader must judge them. */
static void model_table(struct table *t, const unsigned char *file, size_t len)
{
	unsigned char prev[CDT_REFS_REC], cur[CDT_REFS_REC];
	uint64_t i;

	t->version = len > 4 ? file[4] : 0;
	t->shape_ok = 0;
	t->sorted = 1;
	if (len < CDT_REFS_HDR + CDT_ID_LEN || memcmp(file, CDT_REFS_MAGIC, 4) || file[5] ||
	    file[6] || file[7])
		return;
	t->count = get_le64(file + 8);
	if (t->version == CDT_REFS_VERSION) {
		t->recs = file + CDT_REFS_HDR;
		t->shape_ok = (len - CDT_REFS_HDR - CDT_ID_LEN) % CDT_REFS_REC == 0 &&
			      t->count == (len - CDT_REFS_HDR - CDT_ID_LEN) / CDT_REFS_REC;
	} else if (t->version == CDT_REFS_VERSION_NUMBERED && len >= CDT_REFS_HDR2 + CDT_ID_LEN &&
		   !get_le32(file + 20)) {
		t->nman = get_le32(file + 16);
		t->recs = file + CDT_REFS_HDR2;
		t->shape_ok = t->count <= len / CDT_REFS_REC2 && t->nman <= t->count &&
			      (!t->nman) == (!t->count) &&
			      CDT_REFS_HDR2 + t->count * CDT_REFS_REC2 + t->nman * CDT_ID_LEN +
			      CDT_ID_LEN == len;
		if (t->shape_ok)
			t->mans = t->recs + t->count * CDT_REFS_REC2;
	}
	for (i = 0; t->shape_ok && i < t->count; i++) {
		if (!model_pair(t, i, cur) || (i && memcmp(prev, cur, CDT_REFS_REC) >= 0))
			t->sorted = 0;
		memcpy(prev, cur, CDT_REFS_REC);
	}
}

/* A version-2 table as a writer makes it: manifests numbered by first use, each listed once. */
static int canonical(const struct table *t)
{
	uint64_t i, next = 0, k;

	for (i = 0; i < t->count; i++) {
		uint32_t n = get_le32(t->recs + i * CDT_REFS_REC2 + CDT_ID_LEN);

		if (n > next)
			return 0;
		next += n == next;
	}
	for (i = 0; i < t->nman; i++)
		for (k = 0; k < i; k++)
			if (!memcmp(t->mans + i * CDT_ID_LEN, t->mans + k * CDT_ID_LEN, CDT_ID_LEN))
				return 0;
	return next == t->nman;
}

/* The manifests recorded for chunk in t, as a lookup must return them. */
static void check_lookup(struct cdt_refs *r, const struct table *t, const unsigned char *chunk,
			 int (*keep)(const struct cdt_ref_pair *, void *))
{
	struct cdt_id c, *ids = NULL;
	uint64_t i;
	int n, k, want = 0;

	memcpy(c.b, chunk, CDT_ID_LEN);
	n = cdt_refs_lookup(r, &c, &ids);
	FUZZ_CHECK(n >= 0);
	for (k = 1; k < n; k++)
		FUZZ_CHECK(cdt_id_cmp(&ids[k - 1], &ids[k]) < 0);
	if (t->shape_ok && t->sorted) {
		for (i = 0; i < t->count; i++) {
			unsigned char rec[CDT_REFS_REC];

			model_pair(t, i, rec);
			if (memcmp(rec, chunk, CDT_ID_LEN))
				continue;
			if (keep && !keep((const struct cdt_ref_pair *)rec, NULL))
				continue;
			FUZZ_CHECK(want < n);
			FUZZ_CHECK(!memcmp(ids[want].b, rec + CDT_ID_LEN, CDT_ID_LEN));
			want++;
		}
		FUZZ_CHECK(want == n);
	} else if (!t->shape_ok) {
		FUZZ_CHECK(n == 0);
	}
	free(ids);
}

static void check_lookups(struct cdt_refs *r, const struct table *t, const unsigned char *file,
			  size_t len, int (*keep)(const struct cdt_ref_pair *, void *))
{
	unsigned char probe[CDT_ID_LEN];

	size_t rec = t->version == CDT_REFS_VERSION ? CDT_REFS_REC : CDT_REFS_REC2;

	if (t->shape_ok && t->count) {
		check_lookup(r, t, t->recs, keep);
		check_lookup(r, t, t->recs + t->count / 2 * rec, keep);
		check_lookup(r, t, t->recs + (t->count - 1) * rec, keep);
	}
	/* An id that is probably absent, taken from the input. */
	memset(probe, 0, sizeof(probe));
	memcpy(probe, file, MIN(len, sizeof(probe)));
	check_lookup(r, t, probe, keep);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cdt_store *s;
	struct cdt_refs *r;
	struct table t = { NULL, 0, 0, 1, 0, NULL, 0 };
	unsigned char *file;
	char name[CDT_ID_HEXLEN + 8], copy[CDT_ID_HEXLEN + 8];
	struct cdt_id id;
	unsigned flags;
	size_t len;
	uint64_t i;
	int refsfd, ret;

	s = fuzz_store(CDT_CHUNKER_FASTCDC, 1024);
	fuzz_quiet();
	if (!size)
		return 0;
	refsfd = cdt_store_dirfd(s, CDT_DIR_REFS);
	flags = data[0];
	len = size - 1;
	file = xmalloc(len);
	memcpy(file, data + 1, len);

	if (len >= CDT_REFS_HDR + CDT_ID_LEN && len > 4 && file[4] == CDT_REFS_VERSION) {
		uint64_t n = (len - CDT_REFS_HDR - CDT_ID_LEN) / CDT_REFS_REC;

		if (flags & 2) {
			qsort(file + CDT_REFS_HDR, n, CDT_REFS_REC, rec_cmp);
			for (i = 1; i < n; ) {
				unsigned char *rec = file + CDT_REFS_HDR + i * CDT_REFS_REC;

				if (memcmp(rec - CDT_REFS_REC, rec, CDT_REFS_REC)) {
					i++;
					continue;
				}
				/* Drop the duplicate; the tail (and checksum) moves down. */
				memmove(rec, rec + CDT_REFS_REC, len - (size_t)(rec - file) - CDT_REFS_REC);
				len -= CDT_REFS_REC;
				n--;
			}
		}
		if (flags & 1)
			put_le64(file + 8, n);
		/* Well-formed records only: sorted, unique, a count that holds. */
		if ((flags & 32) && (flags & 2) && n <= 4096 && get_le64(file + 8) == n &&
		    (len - CDT_REFS_HDR - CDT_ID_LEN) % CDT_REFS_REC == 0)
			len = to_version2(&file, len, n);
	}
	if (len >= CDT_REFS_HDR + CDT_ID_LEN && (flags & 4)) {
		struct cdt_hasher *h = cdt_hasher_new();
		size_t body = len - CDT_ID_LEN;
		size_t hdr = file[4] == CDT_REFS_VERSION_NUMBERED && len >= CDT_REFS_HDR2 + CDT_ID_LEN
				     ? CDT_REFS_HDR2 : CDT_REFS_HDR;

		cdt_hasher_update(h, file + hdr, body - hdr);
		cdt_hasher_update(h, file, hdr);
		cdt_hasher_final(h, &id);
		cdt_hasher_free(h);
		memcpy(file + body, id.b, CDT_ID_LEN);
	}
	model_table(&t, file, len);
	if (!(flags & 4))
		cdt_hash(file, len, &id);
	cdt_id_to_hex(&id, name);
	strcat(name, ".ref");
	if (mkdirat(refsfd, "chunks", 0777) < 0 && errno != EEXIST)
		die("cannot create refs/chunks");
	/* The store's refs/ as the fuzzer sees it: chunks/ holds this table only. */
	fuzz_empty_dir(refsfd, "chunks");
	fuzz_write_at(refsfd, fuzz_fmt("chunks/%s", name), file, len);

	ret = cdt_refs_open(s, &r);
	fuzz_note("refs open (tables)", ret < 0 ? ret : (int)cdt_refs_table_count(r), NULL);
	FUZZ_CHECK(ret == 0);
	FUZZ_CHECK(cdt_refs_table_count(r) == (size_t)t.shape_ok);
	check_lookups(r, &t, file, len, NULL);
	cdt_refs_close(r);

	if (flags & 8) {
		int (*keep)(const struct cdt_ref_pair *, void *) = flags & 16 ? keep_even : NULL;

		/* Another valid name for the same bytes. */
		cdt_hash(name, CDT_ID_HEXLEN, &id);
		cdt_id_to_hex(&id, copy);
		strcat(copy, ".ref");
		fuzz_write_at(refsfd, fuzz_fmt("chunks/%s", copy), file, len);
		/*
		 * What a merge takes: a table whose checksum (bit 2 made it),
		 * name (the checksum) and order hold, manifests numbered as a
		 * writer numbers them.
		 */
		int checks = t.shape_ok && t.sorted && (flags & 4) &&
			     (t.version != CDT_REFS_VERSION_NUMBERED || canonical(&t));

		ret = cdt_refs_compact(s, 0, keep, NULL);
		fuzz_note("refs compact", ret, NULL);
		FUZZ_CHECK(ret == (checks && keep ? 1 : 0));
		/* The copy is left as it was. */
		FUZZ_CHECK(!t.shape_ok || faccessat(refsfd, fuzz_fmt("chunks/%s", copy), F_OK, 0) == 0);
		unlinkat(refsfd, fuzz_fmt("chunks/%s", copy), 0);
		FUZZ_CHECK(cdt_refs_open(s, &r) == 0);
		if (!checks) {
			/* Left as it is. */
			FUZZ_CHECK(cdt_refs_table_count(r) == (size_t)t.shape_ok);
			check_lookups(r, &t, file, len, NULL);
		} else {
			FUZZ_CHECK(cdt_refs_table_count(r) <= 1);
			check_lookups(r, &t, file, len, keep);
			if (!keep && t.count && (flags & 4) && t.version == CDT_REFS_VERSION_NUMBERED &&
			    canonical(&t)) {
				/* Merging a table with itself gives it back, under its own name. */
				FUZZ_CHECK(cdt_refs_table_count(r) == 1);
				FUZZ_CHECK(faccessat(refsfd, fuzz_fmt("chunks/%s", name), F_OK, 0) == 0);
			}
		}
		cdt_refs_close(r);
	}
	fuzz_empty_dir(refsfd, "chunks");
	fuzz_empty_dir(cdt_store_dirfd(s, CDT_DIR_TMP), ".");
	free(file);
	return 0;
}
