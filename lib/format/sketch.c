/* sketch.c: resemblance sketches of chunks, and the per-pack sketch files. */
#include "format/sketch.h"
#include "base/csum-file.h"
#include "base/fsutil.h"
#include "base/util.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>

#define NFEATURES (4 * CDT_SKETCH_SF)
#define SAMPLE_MASK 63u
#define SKETCH_SEED 0x6364742d736b6574ull /* "cdt-sket" */

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static struct sketch_params {
	uint64_t gear[256];
	uint64_t a[NFEATURES], b[NFEATURES];
} params;
static pthread_once_t params_once = PTHREAD_ONCE_INIT;

static void init_params(void)
{
	uint64_t state = SKETCH_SEED;
	int i;

	for (i = 0; i < 256; i++)
		params.gear[i] = splitmix64(&state);
	for (i = 0; i < NFEATURES; i++) {
		params.a[i] = splitmix64(&state) | 1;
		params.b[i] = splitmix64(&state);
	}
}

/* Fold the sample fp into the features' maxima. */
static inline void sample(uint64_t fp, uint64_t *mx)
{
	int k;

	for (k = 0; k < NFEATURES; k++) {
		uint64_t v = params.a[k] * fp + params.b[k];

		if (v > mx[k])
			mx[k] = v;
	}
}

/* Below this length the chunk is hashed in one pass (see below). */
#define TWO_PASS_MIN 256

void cdt_sketch_compute(const unsigned char *p, size_t len, struct cdt_sketch_sf *out)
{
	uint64_t fa = 0, fb = 0, mx[NFEATURES] = { 0 };
	size_t i, mid = len < TWO_PASS_MIN ? len : len - len / 2, nb = len - mid;
	const unsigned char *q = p + mid;
	int k;

	pthread_once(&params_once, init_params);
	/*
	 * The rolling hash is a chain, one step a byte, each waiting for the
	 * one before: the CPU runs it about 1.3x as fast as two chains at
	 * once, over each half of the chunk. That gives the same samples: fp
	 * at a position depends only on the 64 bytes that end there (the
	 * older ones are shifted out of the word), so the second half's
	 * chain starts 64 bytes before the half, without sampling them (the
	 * first half's chain samples those). The maxima do not depend on the
	 * order of the samples. t/unit/test-sketch.c checks it against the
	 * plain loop.
	 */
	if (nb)
		for (i = 0; i < 64; i++)
			fb = (fb << 1) + params.gear[q[(ptrdiff_t)i - 64]];
	for (i = 0; i < nb; i++) {
		fa = (fa << 1) + params.gear[p[i]];
		fb = (fb << 1) + params.gear[q[i]];
		if (!(fa & SAMPLE_MASK))
			sample(fa, mx);
		if (!(fb & SAMPLE_MASK))
			sample(fb, mx);
	}
	/* The first half is the longer one by a byte, or the whole of a short chunk. */
	for (; i < mid; i++) {
		fa = (fa << 1) + params.gear[p[i]];
		if (!(fa & SAMPLE_MASK))
			sample(fa, mx);
	}
	for (k = 0; k < CDT_SKETCH_SF; k++) {
		/* Mix the group's four features and its number into one word. */
		uint64_t h = 0x6a09e667f3bcc908ull ^ (uint64_t)k;
		int j;

		for (j = 0; j < 4; j++) {
			uint64_t st = h ^ mx[4 * k + j];

			h = splitmix64(&st);
		}
		out->sf[k] = h | 1;
	}
}

static size_t sketch_size(uint64_t n)
{
	return CDT_SKETCH_HDR + (size_t)n * CDT_SKETCH_REC + CDT_ID_LEN;
}

int cdt_sketch_open(int packsfd, const char *pack, uint64_t entries, struct cdt_sketch *sk,
		    struct strbuf *why)
{
	char path[CDT_ID_HEXLEN + 16];
	struct cdt_id named;
	uint64_t i;
	int ret;

	memset(sk, 0, sizeof(*sk));
	if (strlen(pack) != 5 + CDT_ID_HEXLEN || cdt_id_from_hex(pack + 5, &named) < 0)
		return cdt_corrupt(why, "not a pack name");
	snprintf(path, sizeof(path), "%s.sketch", pack);
	ret = map_file_at(packsfd, path, sketch_size(0),
			  sketch_size((uint64_t)CDT_SKETCH_SF * CDT_SKETCH_MAX_ENTRIES), &sk->map,
			  &sk->map_len);
	if (ret == -CDT_ECORRUPT)
		return cdt_corrupt(why, "sketch file has an impossible size");
	if (ret < 0) {
		if (why && ret != -ENOENT)
			strbuf_addf(why, "cannot read sketch file: %s", cdt_strerror(ret));
		return ret;
	}
	sk->count = get_le64(sk->map + 8);
	if (memcmp(sk->map, CDT_SKETCH_MAGIC, 4) || sk->map[4] != CDT_SKETCH_VERSION ||
	    sk->map[6] || sk->map[7]) {
		ret = cdt_corrupt(why, "sketch file has a bad header");
		goto fail;
	}
	if (sk->map[5] != CDT_SKETCH_PARAMS) {
		ret = cdt_corrupt(why, "sketch file was made with other feature parameters");
		goto fail;
	}
	if (sk->count > (uint64_t)CDT_SKETCH_SF * CDT_SKETCH_MAX_ENTRIES ||
	    sketch_size(sk->count) != sk->map_len) {
		ret = cdt_corrupt(why, "sketch file length does not match its count");
		goto fail;
	}
	if (memcmp(sk->map + 16, named.b, CDT_ID_LEN)) {
		ret = cdt_corrupt(why, "sketch file belongs to another pack");
		goto fail;
	}
	sk->recs = sk->map + CDT_SKETCH_HDR;
	for (i = 0; i < sk->count; i++) {
		if (get_le32(sk->recs + i * CDT_SKETCH_REC + 8) >= entries) {
			ret = cdt_corrupt(why, "sketch record %llu names an entry the pack does not have",
					  (unsigned long long)i);
			goto fail;
		}
	}
	return 0;
fail:
	cdt_sketch_close(sk);
	return ret;
}

void cdt_sketch_close(struct cdt_sketch *sk)
{
	if (sk->map)
		munmap((void *)sk->map, sk->map_len);
	memset(sk, 0, sizeof(*sk));
}

void cdt_sketch_get(const struct cdt_sketch *sk, uint64_t i, struct cdt_sketch_rec *rec)
{
	const unsigned char *r = sk->recs + i * CDT_SKETCH_REC;

	rec->sf = get_le64(r);
	rec->entry = get_le32(r + 8);
}

int cdt_sketch_check(const struct cdt_sketch *sk, struct strbuf *why)
{
	struct cdt_sketch_rec prev = { 0, 0 }, cur;
	struct cdt_id sum;
	uint64_t i;

	cdt_hash(sk->map, sk->map_len - CDT_ID_LEN, &sum);
	if (memcmp(sum.b, sk->map + sk->map_len - CDT_ID_LEN, CDT_ID_LEN))
		return cdt_corrupt(why, "sketch file checksum does not match its contents");
	for (i = 0; i < sk->count; i++) {
		cdt_sketch_get(sk, i, &cur);
		if (i && (cur.sf < prev.sf || (cur.sf == prev.sf && cur.entry <= prev.entry)))
			return cdt_corrupt(why, "sketch records are out of order at %llu",
					   (unsigned long long)i);
		prev = cur;
	}
	return 0;
}

int64_t cdt_sketch_find(const struct cdt_sketch *sk, uint64_t sf)
{
	uint64_t lo = 0, hi = sk->count;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (get_le64(sk->recs + mid * CDT_SKETCH_REC) < sf)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < sk->count && get_le64(sk->recs + lo * CDT_SKETCH_REC) == sf)
		return get_le32(sk->recs + lo * CDT_SKETCH_REC + 8);
	return -1;
}

static int cmp_rec(const void *a, const void *b)
{
	const struct cdt_sketch_rec *x = a, *y = b;

	if (x->sf != y->sf)
		return x->sf < y->sf ? -1 : 1;
	return x->entry < y->entry ? -1 : x->entry > y->entry;
}

int cdt_sketch_write(int tmpfd, struct cdt_sketch_rec *recs, size_t n,
		     const struct cdt_id *pack_sum, unsigned flags, struct cdt_csum_file **out)
{
	unsigned char hdr[16] = { 'C', 'D', 'T', 'S', CDT_SKETCH_VERSION, CDT_SKETCH_PARAMS, 0, 0 };
	struct cdt_csum_file *f;
	size_t i, k = 0;
	int ret = cdt_csum_file_open(tmpfd, "sketch", &f);

	*out = NULL;
	if (ret < 0)
		return ret;
	if (n > 1)
		qsort(recs, n, sizeof(*recs), cmp_rec);
	/* Drop repeats (the same chunk given twice). */
	for (i = 0; i < n; i++)
		if (!k || cmp_rec(&recs[k - 1], &recs[i]))
			recs[k++] = recs[i];
	put_le64(hdr + 8, k);
	cdt_csum_file_write(f, hdr, sizeof(hdr));
	cdt_csum_file_write(f, pack_sum->b, CDT_ID_LEN);
	for (i = 0; i < k; i++) {
		unsigned char r[CDT_SKETCH_REC];

		put_le64(r, recs[i].sf);
		put_le32(r + 8, recs[i].entry);
		cdt_csum_file_write(f, r, sizeof(r));
	}
	ret = cdt_csum_file_finish(f, CDT_CSUM_APPEND | flags, NULL);
	if (ret < 0) {
		cdt_csum_file_free(f);
		return ret;
	}
	*out = f;
	return 0;
}
