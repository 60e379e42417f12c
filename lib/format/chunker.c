/* chunker.c: FastCDC (gear hash, normalized chunking level 2) and fixed blocks. */
#include "format/chunker.h"
#include "base/util.h"

#include <errno.h>
#include <string.h>

/*
 * The gear table is part of the store format: changing it changes every cut
 * point. It is the splitmix64 sequence from the seed below, documented in
 * Documentation/technical/store-format.md so that other implementations can
 * reproduce it without copying a table.
 */
#define GEAR_SEED 0x6364742d67656172ull /* "cdt-gear" */

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * A mask of `bits` set bits at the top of the word. With the gear hash
 * (fp << 1) + gear[b], bit k of fp depends on the last k+1 bytes, so the top
 * bits see a 64-byte window; low bits would see only the last few bytes.
 */
static uint64_t top_mask(unsigned bits)
{
	return bits ? ~0ull << (64 - bits) : 0;
}

static unsigned log2u(uint32_t v)
{
	unsigned r = 0;

	while (v >>= 1)
		r++;
	return r;
}

int cdt_chunker_init(struct cdt_chunker *c, enum cdt_chunker_kind kind, uint32_t size)
{
	uint64_t state = GEAR_SEED;
	unsigned bits;
	int i;

	memset(c, 0, sizeof(*c));
	c->kind = kind;
	switch (kind) {
	case CDT_CHUNKER_FASTCDC:
		if (size < CDT_CHUNK_AVG_MIN || size > CDT_CHUNK_AVG_MAX || (size & (size - 1)))
			return -EINVAL;
		c->avg_size = size;
		c->min_size = size / 4;
		c->max_size = size * 4;
		bits = log2u(size);
		/* Normalized chunking level 2: harder before avg, easier after. */
		c->mask_s = top_mask(bits + 2);
		c->mask_l = top_mask(bits - 2);
		for (i = 0; i < 256; i++)
			c->gear[i] = splitmix64(&state);
		return 0;
	case CDT_CHUNKER_FIXED:
		if (size < CDT_FIXED_MIN || size > CDT_FIXED_MAX)
			return -EINVAL;
		c->min_size = c->avg_size = c->max_size = size;
		return 0;
	}
	return -EINVAL;
}

/*
 * A run of zero bytes, passed over without hashing it. Over a zero byte
 * the gear step is fp = 2 fp + gear[0], whose one fixed point is
 * ZERO_FP = -gear[0] (mod 2^64): once fp equals it, further zero bytes
 * leave it there, so every position of the run gives the same answer to
 * the cut test under one mask. Starting from fp = 0, k zero bytes give
 * gear[0] (2^k - 1), which is ZERO_FP from k = 64 on: at most 64 bytes
 * of a run are hashed before the rest of it, up to where the mask
 * changes or the zeros end, is passed over. The cut points are exactly
 * those of hashing every byte (t/unit/test-chunker.c compares them).
 */
static size_t fastcdc_next(const struct cdt_chunker *c, const unsigned char *p,
			   size_t len, int eof, size_t zeros)
{
	size_t i, n, normal, zend;
	uint64_t fp = 0, zero_fp = -c->gear[0];

	if (len <= c->min_size)
		return eof ? len : 0;
	n = MIN(len, (size_t)c->max_size);
	normal = MIN(n, (size_t)c->avg_size);
	/* Cut-point skipping: bytes before min_size are never hashed. */
	i = c->min_size;
	zend = MIN(zeros, n);
	while (i < zend) {
		uint64_t mask = i < normal ? c->mask_s : c->mask_l;

		if (fp == zero_fp) {
			if (!(fp & mask))
				return i + 1;
			i = i < normal ? MIN(zend, normal) : zend;
			continue;
		}
		fp = (fp << 1) + c->gear[0];
		if (!(fp & mask))
			return i + 1;
		i++;
	}
	for (; i < normal; i++) {
		fp = (fp << 1) + c->gear[p[i]];
		if (!(fp & c->mask_s))
			return i + 1;
	}
	for (; i < n; i++) {
		fp = (fp << 1) + c->gear[p[i]];
		if (!(fp & c->mask_l))
			return i + 1;
	}
	if (n == c->max_size || eof)
		return n;
	return 0;
}

size_t cdt_chunker_next_zeros(const struct cdt_chunker *c, const unsigned char *data,
			      size_t len, int eof, size_t zeros)
{
	if (!len)
		return 0;
	if (c->kind == CDT_CHUNKER_FIXED) {
		if (len >= c->max_size)
			return c->max_size;
		return eof ? len : 0;
	}
	return fastcdc_next(c, data, len, eof, zeros);
}

size_t cdt_chunker_next(const struct cdt_chunker *c, const unsigned char *data,
			size_t len, int eof)
{
	return cdt_chunker_next_zeros(c, data, len, eof, 0);
}

const char *cdt_chunker_name(enum cdt_chunker_kind kind)
{
	switch (kind) {
	case CDT_CHUNKER_FASTCDC:
		return "fastcdc";
	case CDT_CHUNKER_FIXED:
		return "fixed";
	}
	return "unknown";
}

int cdt_chunker_parse(const char *s, enum cdt_chunker_kind *out)
{
	if (!strcmp(s, "fastcdc"))
		*out = CDT_CHUNKER_FASTCDC;
	else if (!strcmp(s, "fixed"))
		*out = CDT_CHUNKER_FIXED;
	else
		return -EINVAL;
	return 0;
}
