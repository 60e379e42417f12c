/* test-cid.c: content ids: the tree id against known answers and a plain recursive model, fed every way. */
#include "base/cid.h"
#include "base/util.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#define L CDT_CID_LEAF

/* A reproducible sequence (splitmix64). */
static uint64_t unit_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* RFC 6962's Merkle tree hash over leaf hashes, as the definition says it. */
static void mth(const struct cdt_id *leaves, size_t n, struct cdt_id *out)
{
	unsigned char buf[1 + 2 * CDT_ID_LEN];
	struct cdt_id l, r;
	size_t k = 1;

	if (n == 1) {
		*out = leaves[0];
		return;
	}
	while (k * 2 < n)
		k *= 2;
	mth(leaves, k, &l);
	mth(leaves + k, n - k, &r);
	buf[0] = 1;
	memcpy(buf + 1, l.b, CDT_ID_LEN);
	memcpy(buf + 1 + CDT_ID_LEN, r.b, CDT_ID_LEN);
	cdt_hash(buf, sizeof(buf), out);
}

static void model(const unsigned char *data, size_t len, struct cdt_id *out)
{
	size_t n = len ? (len + L - 1) / L : 1, i;
	struct cdt_id *leaves = xcalloc(n, sizeof(*leaves)), root;
	unsigned char buf[18 + CDT_ID_LEN];

	for (i = 0; i < n; i++) {
		size_t off = i * L, take = len - off < L ? len - off : L;

		cdt_cid_leaf_hash(data + off, len ? take : 0, &leaves[i]);
	}
	mth(leaves, n, &root);
	memcpy(buf, "cdt-tree-1", 10);
	put_le64(buf + 10, len);
	memcpy(buf + 18, root.b, CDT_ID_LEN);
	cdt_hash(buf, sizeof(buf), out);
	free(leaves);
}

static int is_hex(const struct cdt_id *id, const char *want)
{
	char hex[CDT_ID_HEXLEN + 1];

	cdt_id_to_hex(id, hex);
	if (strcmp(hex, want))
		fprintf(stderr, "got %s\nwant %s\n", hex, want);
	return !strcmp(hex, want);
}

static unsigned char *pattern(size_t n)
{
	unsigned char *p = xmalloc(n ? n : 1);
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)((i * 7 + (i >> 13)) & 255);
	return p;
}

/* Known answers (computed by an independent implementation of the definition). */
static void test_known(void)
{
	unsigned char *p = pattern(3 * L + 5), *z = xcalloc(5 * L, 1);
	struct cdt_id id;

	cdt_cid_buf(CDT_CID_TREE, "", 0, &id);
	CHECK(is_hex(&id, "8d2cad6897fec05281e0bc1df42ecd19dca5ed4343e0b1d2be35e373d60c2fd6"));
	cdt_cid_buf(CDT_CID_TREE, "abc", 3, &id);
	CHECK(is_hex(&id, "c4e7396a536e6f3f58b5b88cf363fcc947c89d0ed77ccde4288027a219e2d67e"));
	cdt_cid_buf(CDT_CID_TREE, p, 3 * L + 5, &id);
	CHECK(is_hex(&id, "dba98321d774d4f14da24d6b7462f164edbeecc1aac3b6fc336ee288ed8672cb"));
	cdt_cid_buf(CDT_CID_TREE, z, 5 * L, &id);
	CHECK(is_hex(&id, "21b9ff9f53912b0e63996f597593c10608b7826f8ba07d4bd2291a6587f60d6b"));
	/* SHA-256 ids are what sha256sum prints. */
	cdt_cid_buf(CDT_CID_SHA256, "abc", 3, &id);
	CHECK(is_hex(&id, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	free(p);
	free(z);
}

/* Every size near the leaf boundaries, fed in random pieces, with zero runs fed as zeros. */
static void test_feeding(void)
{
	static const size_t sizes[] = { 0, 1, 63, 64, L - 1, L, L + 1, 2 * L, 3 * L + 5, 4 * L,
					5 * L - 1, 7 * L + 100, 9 * L };
	uint64_t seed = 12345;
	size_t s, round;

	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t len = sizes[s];
		unsigned char *buf = pattern(len);
		struct cdt_id want, got, flat;
		struct cdt_cid *c = cdt_cid_new(CDT_CID_TREE);
		struct cdt_cid *f = cdt_cid_new(CDT_CID_SHA256);

		/* Zero runs at random places, some longer than a leaf. */
		for (round = 0; round < 3 && len; round++) {
			size_t at = (size_t)(unit_rand(&seed) % len);
			size_t n = (size_t)(unit_rand(&seed) % (len - at + 1));

			if (round == 2 && len > 3 * L)
				at = L / 2, n = 2 * L + 7;
			memset(buf + at, 0, n);
		}
		model(buf, len, &want);
		cdt_hash(buf, len, &flat);
		for (round = 0; round < 4; round++) {
			size_t off = 0;

			while (off < len) {
				size_t n = 1 + (size_t)(unit_rand(&seed) % (round == 0 ? 10 : 3 * L));
				size_t k;

				if (n > len - off)
					n = len - off;
				/* A piece that is all zeros goes in as zeros (rounds 2 and 3). */
				for (k = 0; k < n && !buf[off + k]; k++)
					;
				if (round >= 2 && k == n) {
					cdt_cid_zeros(c, n);
					cdt_cid_zeros(f, n);
				} else {
					cdt_cid_update(c, buf + off, n);
					cdt_cid_update(f, buf + off, n);
				}
				off += n;
			}
			CHECK(cdt_cid_size(c) == len);
			cdt_cid_final(c, &got);
			CHECK(cdt_id_eq(&got, &want));
			cdt_cid_final(f, &got);
			CHECK(cdt_id_eq(&got, &flat));
		}
		/* Leaves hashed elsewhere, then the tail fed. */
		if (len >= L) {
			size_t n = len / L, i;
			struct cdt_id *lh = xcalloc(n, sizeof(*lh));

			for (i = 0; i < n; i++)
				cdt_cid_leaf_hash(buf + i * L, L, &lh[i]);
			cdt_cid_leaves(c, lh, n, (uint64_t)n * L);
			cdt_cid_update(c, buf + n * L, len - n * L);
			cdt_cid_final(c, &got);
			CHECK(cdt_id_eq(&got, &want));
			free(lh);
		}
		cdt_cid_free(c);
		cdt_cid_free(f);
		free(buf);
	}
}

/* Many leaves of zeros (a sparse file): the same as the model, and quick. */
static void test_zeros(void)
{
	struct cdt_cid *c = cdt_cid_new(CDT_CID_TREE);
	uint64_t n = (uint64_t)5000 * L + 3;
	struct cdt_id got, z5;
	unsigned char *z = xcalloc(5 * L, 1);

	cdt_cid_zeros(c, 5 * L);
	cdt_cid_final(c, &got);
	model(z, 5 * L, &z5);
	CHECK(cdt_id_eq(&got, &z5));
	cdt_cid_update(c, "x", 1);
	cdt_cid_zeros(c, n);
	cdt_cid_update(c, "y", 1);
	CHECK(cdt_cid_size(c) == n + 2);
	cdt_cid_final(c, &got);
	CHECK(!cdt_id_eq(&got, &z5));
	cdt_cid_free(c);
	free(z);
}

int main(void)
{
	test_known();
	test_feeding();
	test_zeros();
	UNIT_DONE();
}
