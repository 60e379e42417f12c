/* test-sketch.c: sketches against the plain loop of the documented parameters. */
#include "format/sketch.h"
#include "unit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * Parameter set 1 as Documentation/technical/store-format.md gives it
 * (Sketches): the gear table, then a_i (odd) and b_i of each feature, all
 * splitmix64 outputs from the seed "cdt-sket"; and the plain loop, one
 * rolling hash over the whole chunk.
 */
static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t gear[256], a[12], b[12];

static void ref_init(void)
{
	uint64_t st = 0x6364742d736b6574ull;
	int i;

	for (i = 0; i < 256; i++)
		gear[i] = splitmix64(&st);
	for (i = 0; i < 12; i++) {
		a[i] = splitmix64(&st) | 1;
		b[i] = splitmix64(&st);
	}
}

static void ref_sketch(const unsigned char *p, size_t len, struct cdt_sketch_sf *out)
{
	uint64_t fp = 0, mx[12] = { 0 };
	size_t i;
	int k, j;

	for (i = 0; i < len; i++) {
		fp = (fp << 1) + gear[p[i]];
		if (fp & 63)
			continue;
		for (k = 0; k < 12; k++)
			if (a[k] * fp + b[k] > mx[k])
				mx[k] = a[k] * fp + b[k];
	}
	for (k = 0; k < CDT_SKETCH_SF; k++) {
		uint64_t h = 0x6a09e667f3bcc908ull ^ (uint64_t)k;

		for (j = 0; j < 4; j++) {
			uint64_t st = h ^ mx[4 * k + j];

			h = splitmix64(&st);
		}
		out->sf[k] = h | 1;
	}
}

int main(void)
{
	/* Lengths around every edge of the two-chain loop, and real sizes. */
	static const size_t lens[] = { 0, 1, 63, 64, 65, 127, 128, 129, 255, 256, 257, 258,
				       300, 1023, 4096, 4097, 32767, 32768, 131071, 1 << 20 };
	size_t n = 1 << 20, i, k;
	unsigned char *buf = malloc(n);
	uint64_t st = 42;
	int low_entropy;

	ref_init();
	for (low_entropy = 0; low_entropy < 2; low_entropy++) {
		/* Random bytes, and text-like bytes of a small alphabet. */
		for (i = 0; i < n; i++)
			buf[i] = low_entropy ? (unsigned char)("abcde \n"[splitmix64(&st) % 7]) :
					       (unsigned char)splitmix64(&st);
		for (k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
			struct cdt_sketch_sf got, want;
			size_t off = (size_t)(splitmix64(&st) % 64);

			if (lens[k] + off > n)
				off = 0;
			cdt_sketch_compute(buf + off, lens[k], &got);
			ref_sketch(buf + off, lens[k], &want);
			CHECK(!memcmp(&got, &want, sizeof(got)));
		}
		/* Many chunk lengths in a row. */
		for (i = 200; i < 5000; i += 37) {
			struct cdt_sketch_sf got, want;

			cdt_sketch_compute(buf + i, i, &got);
			ref_sketch(buf + i, i, &want);
			CHECK(!memcmp(&got, &want, sizeof(got)));
		}
	}
	/* The same bytes at another address: the same sketch. */
	{
		struct cdt_sketch_sf x, y;

		memmove(buf + 1, buf, 40000);
		cdt_sketch_compute(buf + 1, 40000, &x);
		cdt_sketch_compute(buf + 1, 40000, &y);
		CHECK(!memcmp(&x, &y, sizeof(x)));
	}
	free(buf);
	UNIT_DONE();
}
