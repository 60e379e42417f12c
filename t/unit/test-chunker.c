/* test-chunker.c: chunk boundaries, limits and shift resistance. */
#include "format/chunker.h"
#include "base/hash.h"
#include "base/util.h"
#include "unit.h"

#include <string.h>

static uint64_t seed_state;

static uint64_t rnd(void)
{
	uint64_t z = (seed_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void fill(unsigned char *p, size_t n, uint64_t seed)
{
	size_t i;

	seed_state = seed;
	for (i = 0; i < n; i++)
		p[i] = (unsigned char)rnd();
}

struct cuts {
	size_t *len;
	size_t nr;
};

/* Cut a whole buffer, feeding it in pieces of `step` bytes as a reader would. */
static void cut_all(const struct cdt_chunker *c, const unsigned char *p, size_t n,
		    size_t step, struct cuts *out)
{
	size_t pos = 0, avail = 0, alloc = 0;

	out->len = NULL;
	out->nr = 0;
	while (pos < n) {
		size_t k;

		avail = MIN(n, avail + step);
		while ((k = cdt_chunker_next(c, p + pos, avail - pos, avail == n))) {
			ALLOC_GROW(out->len, out->nr + 1, alloc);
			out->len[out->nr++] = k;
			pos += k;
		}
	}
}

static void test_limits(void)
{
	struct cdt_chunker c;
	size_t n = 8 << 20, i, total = 0;
	unsigned char *p = xmalloc(n);
	struct cuts cuts;

	CHECK(cdt_chunker_init(&c, CDT_CHUNKER_FASTCDC, 64 << 10) == 0);
	CHECK(c.min_size == 16 << 10 && c.max_size == 256 << 10);
	fill(p, n, 1);
	cut_all(&c, p, n, 1 << 20, &cuts);
	for (i = 0; i < cuts.nr; i++) {
		CHECK(cuts.len[i] <= c.max_size);
		if (i + 1 < cuts.nr)
			CHECK(cuts.len[i] > c.min_size);
		total += cuts.len[i];
	}
	CHECK(total == n);
	/* Normalized chunking keeps the average near the target. */
	CHECK(cuts.nr > n / (96 << 10) && cuts.nr < n / (40 << 10));
	free(cuts.len);

	/* Zeros never match the mask: every chunk is max size but the last. */
	memset(p, 0, n);
	cut_all(&c, p, n, n, &cuts);
	for (i = 0; i + 1 < cuts.nr; i++)
		CHECK(cuts.len[i] == c.max_size);
	free(cuts.len);

	/* Bad parameters. */
	CHECK(cdt_chunker_init(&c, CDT_CHUNKER_FASTCDC, 3000) < 0);
	CHECK(cdt_chunker_init(&c, CDT_CHUNKER_FASTCDC, 512) < 0);
	CHECK(cdt_chunker_init(&c, CDT_CHUNKER_FASTCDC, 8 << 20) < 0);
	CHECK(cdt_chunker_init(&c, CDT_CHUNKER_FIXED, 100) < 0);
	CHECK(cdt_chunker_init(&c, (enum cdt_chunker_kind)7, 4096) < 0);
	free(p);
}

static void test_feed_independence(void)
{
	struct cdt_chunker c;
	size_t n = 4 << 20, i;
	unsigned char *p = xmalloc(n);
	struct cuts a, b;

	cdt_chunker_init(&c, CDT_CHUNKER_FASTCDC, 16 << 10);
	fill(p, n, 2);
	/* Cut points must not depend on how the input is split into reads. */
	cut_all(&c, p, n, n, &a);
	cut_all(&c, p, n, 77777, &b);
	CHECK(a.nr == b.nr);
	for (i = 0; i < a.nr && i < b.nr; i++)
		CHECK(a.len[i] == b.len[i]);
	free(a.len);
	free(b.len);
	free(p);
}

/* Chunk ids of a buffer, as a set for comparison. */
static size_t ids_of(const struct cdt_chunker *c, const unsigned char *p, size_t n,
		     struct cdt_id **out)
{
	struct cuts cuts;
	size_t i, off = 0;

	cut_all(c, p, n, n, &cuts);
	*out = xmalloc(cuts.nr * sizeof(**out));
	for (i = 0; i < cuts.nr; i++) {
		cdt_hash(p + off, cuts.len[i], &(*out)[i]);
		off += cuts.len[i];
	}
	free(cuts.len);
	return cuts.nr;
}

static size_t count_shared(struct cdt_id *a, size_t na, struct cdt_id *b, size_t nb)
{
	size_t i, j, shared = 0;

	for (i = 0; i < nb; i++)
		for (j = 0; j < na; j++)
			if (cdt_id_eq(&b[i], &a[j])) {
				shared++;
				break;
			}
	return shared;
}

static void test_shift_resistance(void)
{
	struct cdt_chunker c;
	size_t n = 4 << 20, na, nb;
	unsigned char *p = xmalloc(n + 100), *q = xmalloc(n + 100);
	struct cdt_id *a, *b;

	cdt_chunker_init(&c, CDT_CHUNKER_FASTCDC, 16 << 10);
	fill(p, n, 3);
	/* Insert 7 bytes near the start. */
	memcpy(q, p, 1000);
	memcpy(q + 1000, "INSERT!", 7);
	memcpy(q + 1007, p + 1000, n - 1000);
	na = ids_of(&c, p, n, &a);
	nb = ids_of(&c, q, n + 7, &b);
	/* Only the chunks around the edit change: at most 2 new ones. */
	CHECK(nb >= na - 2 && nb <= na + 2);
	CHECK(count_shared(a, na, b, nb) >= nb - 2);
	free(b);

	/* Delete 5000 bytes in the middle. */
	memcpy(q, p, n / 2);
	memcpy(q + n / 2, p + n / 2 + 5000, n / 2 - 5000);
	nb = ids_of(&c, q, n - 5000, &b);
	fprintf(stderr, "delete: %zu of %zu chunks shared\n", count_shared(a, na, b, nb), nb);
	CHECK(count_shared(a, na, b, nb) >= nb - 3);
	free(b);

	/* Fixed-size blocks have no such resistance: nearly all change. */
	cdt_chunker_init(&c, CDT_CHUNKER_FIXED, 16 << 10);
	free(a);
	na = ids_of(&c, p, n, &a);
	memcpy(q, p, 1000);
	memcpy(q + 1000, "INSERT!", 7);
	memcpy(q + 1007, p + 1000, n - 1000);
	nb = ids_of(&c, q, n + 7, &b);
	CHECK(count_shared(a, na, b, nb) == 0);
	free(a);
	free(b);
	free(p);
	free(q);
}

static void test_fixed(void)
{
	struct cdt_chunker c;
	unsigned char buf[10000] = { 0 };

	CHECK(cdt_chunker_init(&c, CDT_CHUNKER_FIXED, 4096) == 0);
	CHECK(cdt_chunker_next(&c, buf, 10000, 0) == 4096);
	CHECK(cdt_chunker_next(&c, buf, 4095, 0) == 0);
	CHECK(cdt_chunker_next(&c, buf, 4095, 1) == 4095);
	CHECK(cdt_chunker_next(&c, buf, 0, 1) == 0);
}

/* The gear table is part of the format: pin a few cut points. */
static void test_stable_cut_points(void)
{
	struct cdt_chunker c;
	size_t n = 1 << 20;
	unsigned char *p = xmalloc(n);
	struct cuts cuts;
	uint64_t h = 0;
	size_t i;

	cdt_chunker_init(&c, CDT_CHUNKER_FASTCDC, 16 << 10);
	fill(p, n, 42);
	cut_all(&c, p, n, n, &cuts);
	for (i = 0; i < cuts.nr; i++)
		h = h * 31 + cuts.len[i];
	/* Changing the gear table, the masks or the loop changes these. */
	CHECK(cuts.nr == 53);
	CHECK(h == 0x3a68a0df50b2a28eull);
	free(cuts.len);
	free(p);
}

/* Zero bytes at the start of p[0..n). */
static size_t zero_prefix(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n && !p[i])
		i++;
	return i;
}

/*
 * Cut p[0..n) fed in pieces of `step` bytes twice, hashing every byte and
 * passing over known zeros (told all of them, or only `part` of each run);
 * 1 when the cuts are the same.
 */
static int same_cuts_over_zeros(const struct cdt_chunker *c, const unsigned char *p,
				size_t n, size_t step, unsigned part)
{
	size_t pos = 0, avail = 0, z = 0;
	int same = 1;

	while (pos < n && same) {
		avail = MIN(n, avail + step);
		for (;;) {
			size_t zeros, k, kz;

			/* Past max_size zeros no longer matter. */
			zeros = zero_prefix(p + pos, MIN(avail - pos, (size_t)c->max_size + 1));
			/* Told fewer zeros than there are must cut the same too. */
			zeros = part ? zeros * (part - 1) / part : zeros;
			k = cdt_chunker_next(c, p + pos, avail - pos, avail == n);
			kz = cdt_chunker_next_zeros(c, p + pos, avail - pos, avail == n, zeros);
			if (k != kz) {
				fprintf(stderr, "cut %zu at %zu: %zu hashing every byte, %zu over "
					"%zu zeros\n", z, pos, k, kz, zeros);
				same = 0;
			}
			if (!k)
				break;
			pos += k;
			z++;
		}
	}
	return same;
}

/* Random bytes with zero runs of many lengths at many places. */
static void fill_with_zero_runs(unsigned char *p, size_t n, const struct cdt_chunker *c,
				uint64_t seed)
{
	size_t lens[] = { 1, 2, 63, 64, 65, 127, 4095, 4096, 4097,
			  c->min_size - 1, c->min_size, c->min_size + 1, c->min_size + 64,
			  c->avg_size - 64, c->avg_size - 1, c->avg_size, c->avg_size + 1,
			  c->max_size - 1, c->max_size, c->max_size + 1, 3 * c->max_size + 17 };
	size_t pos = 0;

	fill(p, n, seed);
	while (pos < n) {
		size_t len = lens[rnd() % (sizeof(lens) / sizeof(lens[0]))];

		pos += rnd() % (2 * (size_t)c->avg_size);
		if (pos >= n)
			break;
		len = MIN(len, n - pos);
		memset(p + pos, 0, len);
		pos += len;
	}
}

static void test_zero_runs(void)
{
	uint32_t sizes[] = { CDT_CHUNK_AVG_MIN, 4096, 32768 };
	/*
	 * The store's gear[0]; ones whose fixed point over zeros always, or
	 * never, cuts; one whose fixed point cuts only from avg on (set
	 * below); a random one.
	 */
	uint64_t gear0[] = { 0, ~0ull, 1, 1ull << 63, 0x00ff00ff00ff00ffull, 0, 0 };
	size_t n = 3 << 20, i, j;
	unsigned char *p = xmalloc(n);
	struct cdt_chunker c;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (j = 0; j < sizeof(gear0) / sizeof(gear0[0]); j++) {
			CHECK(cdt_chunker_init(&c, CDT_CHUNKER_FASTCDC, sizes[i]) == 0);
			if (j == sizeof(gear0) / sizeof(gear0[0]) - 1)
				c.gear[0] = rnd();
			else if (j == sizeof(gear0) / sizeof(gear0[0]) - 2)
				/* Fixed point: the lowest bit of mask_s, not in mask_l. */
				c.gear[0] = -(c.mask_s & -c.mask_s);
			else if (j)
				c.gear[0] = gear0[j];
			fill_with_zero_runs(p, n, &c, 100 + i * 10 + j);
			CHECK(same_cuts_over_zeros(&c, p, n, n, 0));
			CHECK(same_cuts_over_zeros(&c, p, n, 77777, 0));
			CHECK(same_cuts_over_zeros(&c, p, n, 65536, 3));
			CHECK(same_cuts_over_zeros(&c, p, n, 1 << 20, 2));
			/* All zeros, and zeros then data at every kind of offset. */
			memset(p, 0, n);
			CHECK(same_cuts_over_zeros(&c, p, n, n, 0));
			CHECK(same_cuts_over_zeros(&c, p, n, 100000, 0));
		}
	}
	/* A run told of need not be in the buffer at all: only its length counts. */
	CHECK(cdt_chunker_init(&c, CDT_CHUNKER_FASTCDC, 4096) == 0);
	memset(p, 0, c.max_size);
	{
		size_t want = cdt_chunker_next(&c, p, c.max_size, 0);

		memset(p, 0xa5, c.max_size);
		CHECK(cdt_chunker_next_zeros(&c, p, c.max_size, 0, c.max_size) == want);
	}
	free(p);
}

int main(void)
{
	test_limits();
	test_feed_independence();
	test_shift_resistance();
	test_fixed();
	test_stable_cut_points();
	test_zero_runs();
	UNIT_DONE();
}
