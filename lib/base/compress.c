/* compress.c: zlib-format compression with libdeflate (default) or zlib (DEFLATE=zlib). */
#include "base/compress.h"
#include "base/util.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include <math.h>

#define SAMPLE_BLOCKS 4
#define SAMPLE_BLOCK 1024
#ifndef ENTROPY_LIMIT
#define ENTROPY_LIMIT 7.9
#endif

int cdt_probably_incompressible(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t count[256] = { 0 };
	size_t total = 0, b, i;
	double h = 0;

	if (len < SAMPLE_BLOCKS * SAMPLE_BLOCK * 2)
		return 0;	/* small chunks: just compress */
	for (b = 0; b < SAMPLE_BLOCKS; b++) {
		const unsigned char *q = p + (len - SAMPLE_BLOCK) * b / (SAMPLE_BLOCKS - 1);

		for (i = 0; i < SAMPLE_BLOCK; i++)
			count[q[i]]++;
		total += SAMPLE_BLOCK;
	}
	for (i = 0; i < 256; i++) {
		if (count[i]) {
			double f = (double)count[i] / (double)total;

			h -= f * log2(f);
		}
	}
	return h > ENTROPY_LIMIT;
}

#ifdef CDT_USE_ZLIB
#include <zlib.h>

struct cdt_compressor {
	z_stream zs;
	int level;
};

struct cdt_decompressor {
	z_stream zs;
};

const char *cdt_deflate_backend(void)
{
	return "zlib";
}

struct cdt_compressor *cdt_compressor_new(int level)
{
	struct cdt_compressor *c = xcalloc(1, sizeof(*c));

	/* zlib stops at 9; the stream format is the same at every level. */
	c->level = level > 9 ? 9 : level;
	if (deflateInit(&c->zs, c->level) != Z_OK)
		die("cannot initialise zlib compressor");
	return c;
}

void cdt_compressor_free(struct cdt_compressor *c)
{
	if (!c)
		return;
	deflateEnd(&c->zs);
	free(c);
}

size_t cdt_compress(struct cdt_compressor *c, const void *in, size_t len,
		    void *out, size_t cap)
{
	int ret;

	if (len > UINT_MAX || cap > UINT_MAX || !cap)
		return 0;
	if (deflateReset(&c->zs) != Z_OK)
		return 0;
	c->zs.next_in = (Bytef *)in;
	c->zs.avail_in = (uInt)len;
	c->zs.next_out = out;
	c->zs.avail_out = (uInt)cap;
	ret = deflate(&c->zs, Z_FINISH);
	if (ret != Z_STREAM_END)
		return 0;
	return c->zs.total_out;
}

struct cdt_decompressor *cdt_decompressor_new(void)
{
	struct cdt_decompressor *d = xcalloc(1, sizeof(*d));

	if (inflateInit(&d->zs) != Z_OK)
		die("cannot initialise zlib decompressor");
	return d;
}

void cdt_decompressor_free(struct cdt_decompressor *d)
{
	if (!d)
		return;
	inflateEnd(&d->zs);
	free(d);
}

int cdt_decompress(struct cdt_decompressor *d, const void *in, size_t in_len,
		   void *out, size_t out_len)
{
	int ret;

	if (in_len > UINT_MAX || out_len > UINT_MAX)
		return -CDT_ECORRUPT;
	if (inflateReset(&d->zs) != Z_OK)
		return -CDT_ECORRUPT;
	d->zs.next_in = (Bytef *)in;
	d->zs.avail_in = (uInt)in_len;
	d->zs.next_out = out;
	d->zs.avail_out = (uInt)out_len;
	ret = inflate(&d->zs, Z_FINISH);
	if (ret != Z_STREAM_END || d->zs.avail_in || d->zs.total_out != out_len)
		return -CDT_ECORRUPT;
	return 0;
}

int cdt_decompress_prefix(struct cdt_decompressor *d, const void *in, size_t in_len,
			  void *out, size_t out_len, size_t *used)
{
	int ret;

	if (out_len > UINT_MAX)
		return -CDT_ECORRUPT;
	if (in_len > UINT_MAX)
		in_len = UINT_MAX;	/* a stream for out_len bytes is far shorter */
	if (inflateReset(&d->zs) != Z_OK)
		return -CDT_ECORRUPT;
	d->zs.next_in = (Bytef *)in;
	d->zs.avail_in = (uInt)in_len;
	d->zs.next_out = out;
	d->zs.avail_out = (uInt)out_len;
	ret = inflate(&d->zs, Z_FINISH);
	if (ret != Z_STREAM_END || d->zs.total_out != out_len)
		return -CDT_ECORRUPT;
	*used = in_len - d->zs.avail_in;
	return 0;
}

uint32_t cdt_crc32(const void *p, size_t n)
{
	uLong c = crc32(0L, Z_NULL, 0);

	while (n) {
		uInt k = n > 1u << 30 ? 1u << 30 : (uInt)n;

		c = crc32(c, p, k);
		p = (const unsigned char *)p + k;
		n -= k;
	}
	return (uint32_t)c;
}

#else /* libdeflate */
#include <libdeflate.h>

/* The same CRC-32 as zlib's, with carry-less multiplication where the CPU has it. */
uint32_t cdt_crc32(const void *p, size_t n)
{
	return libdeflate_crc32(0, p, n);
}

struct cdt_compressor {
	struct libdeflate_compressor *ld;
};

struct cdt_decompressor {
	struct libdeflate_decompressor *ld;
};

const char *cdt_deflate_backend(void)
{
	return "libdeflate";
}

struct cdt_compressor *cdt_compressor_new(int level)
{
	struct cdt_compressor *c = xmalloc(sizeof(*c));

	c->ld = libdeflate_alloc_compressor(level);
	if (!c->ld)
		die("cannot allocate libdeflate compressor at level %d", level);
	return c;
}

void cdt_compressor_free(struct cdt_compressor *c)
{
	if (!c)
		return;
	libdeflate_free_compressor(c->ld);
	free(c);
}

size_t cdt_compress(struct cdt_compressor *c, const void *in, size_t len,
		    void *out, size_t cap)
{
	if (!cap)
		return 0;
	return libdeflate_zlib_compress(c->ld, in, len, out, cap);
}

struct cdt_decompressor *cdt_decompressor_new(void)
{
	struct cdt_decompressor *d = xmalloc(sizeof(*d));

	d->ld = libdeflate_alloc_decompressor();
	if (!d->ld)
		die("cannot allocate libdeflate decompressor");
	return d;
}

void cdt_decompressor_free(struct cdt_decompressor *d)
{
	if (!d)
		return;
	libdeflate_free_decompressor(d->ld);
	free(d);
}

int cdt_decompress(struct cdt_decompressor *d, const void *in, size_t in_len,
		   void *out, size_t out_len)
{
	size_t in_used = 0, out_got = 0;
	enum libdeflate_result r;

	r = libdeflate_zlib_decompress_ex(d->ld, in, in_len, out, out_len,
					  &in_used, &out_got);
	if (r != LIBDEFLATE_SUCCESS || in_used != in_len || out_got != out_len)
		return -CDT_ECORRUPT;
	return 0;
}

int cdt_decompress_prefix(struct cdt_decompressor *d, const void *in, size_t in_len,
			  void *out, size_t out_len, size_t *used)
{
	size_t out_got = 0;
	enum libdeflate_result r;

	*used = 0;
	r = libdeflate_zlib_decompress_ex(d->ld, in, in_len, out, out_len, used, &out_got);
	if (r != LIBDEFLATE_SUCCESS || out_got != out_len)
		return -CDT_ECORRUPT;
	return 0;
}
#endif
