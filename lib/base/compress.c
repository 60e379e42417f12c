/* compress.c: the chunk codecs: zstd, and the zlib format through libdeflate (default) or zlib. */
#include "base/compress.h"
#include "base/util.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

struct zlib_comp {
	z_stream zs;
	int level;
};

struct zlib_decomp {
	z_stream zs;
};

const char *cdt_deflate_backend(void)
{
	return "zlib";
}

static struct zlib_comp *zlib_comp_new(int level)
{
	struct zlib_comp *c = xcalloc(1, sizeof(*c));

	/* zlib stops at 9; the stream format is the same at every level. */
	c->level = level > 9 ? 9 : level;
	if (deflateInit(&c->zs, c->level) != Z_OK)
		die("cannot initialise zlib compressor");
	return c;
}

static void zlib_comp_free(struct zlib_comp *c)
{
	if (!c)
		return;
	deflateEnd(&c->zs);
	free(c);
}

static size_t zlib_compress(struct zlib_comp *c, const void *in, size_t len,
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

static struct zlib_decomp *zlib_decomp_new(void)
{
	struct zlib_decomp *d = xcalloc(1, sizeof(*d));

	if (inflateInit(&d->zs) != Z_OK)
		die("cannot initialise zlib decompressor");
	return d;
}

static void zlib_decomp_free(struct zlib_decomp *d)
{
	if (!d)
		return;
	inflateEnd(&d->zs);
	free(d);
}

static int zlib_decompress(struct zlib_decomp *d, const void *in, size_t in_len,
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

static int zlib_decompress_prefix(struct zlib_decomp *d, const void *in, size_t in_len,
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

struct zlib_comp {
	struct libdeflate_compressor *ld;
};

struct zlib_decomp {
	struct libdeflate_decompressor *ld;
};

const char *cdt_deflate_backend(void)
{
	return "libdeflate";
}

static struct zlib_comp *zlib_comp_new(int level)
{
	struct zlib_comp *c = xmalloc(sizeof(*c));

	c->ld = libdeflate_alloc_compressor(level);
	if (!c->ld)
		die("cannot allocate libdeflate compressor at level %d", level);
	return c;
}

static void zlib_comp_free(struct zlib_comp *c)
{
	if (!c)
		return;
	libdeflate_free_compressor(c->ld);
	free(c);
}

static size_t zlib_compress(struct zlib_comp *c, const void *in, size_t len,
			    void *out, size_t cap)
{
	if (!cap)
		return 0;
	return libdeflate_zlib_compress(c->ld, in, len, out, cap);
}

static struct zlib_decomp *zlib_decomp_new(void)
{
	struct zlib_decomp *d = xmalloc(sizeof(*d));

	d->ld = libdeflate_alloc_decompressor();
	if (!d->ld)
		die("cannot allocate libdeflate decompressor");
	return d;
}

static void zlib_decomp_free(struct zlib_decomp *d)
{
	if (!d)
		return;
	libdeflate_free_decompressor(d->ld);
	free(d);
}

static int zlib_decompress(struct zlib_decomp *d, const void *in, size_t in_len,
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

static int zlib_decompress_prefix(struct zlib_decomp *d, const void *in, size_t in_len,
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

/* zstd, the default codec of new stores. */
#include <zstd.h>

/*
 * Decoding memory is bounded whatever a hostile frame header claims: no
 * window over 2^25 bytes (32 MiB, twice the largest chunk).
 */
#define ZSTD_WINDOW_LOG_MAX 25

struct cdt_compressor {
	enum cdt_codec codec;
	int level;
	struct zlib_comp *z;
	ZSTD_CCtx *zs;
};

struct cdt_decompressor {
	struct zlib_decomp *z;
	ZSTD_DCtx *zs;
	/* A decode in steps (cdt_decompress_start()). */
	ZSTD_inBuffer in;
	unsigned char *out;
	size_t out_len, out_pos;
	int ended;
};

const char *cdt_zstd_version(void)
{
	return ZSTD_versionString();
}

const char *cdt_codec_name(enum cdt_codec codec)
{
	switch (codec) {
	case CDT_CODEC_RAW: return "raw";
	case CDT_CODEC_ZLIB: return "zlib";
	case CDT_CODEC_ZSTD: return "zstd";
	}
	return "unknown";
}

int cdt_codec_parse(const char *s, enum cdt_codec *out)
{
	if (!strcmp(s, "zlib"))
		*out = CDT_CODEC_ZLIB;
	else if (!strcmp(s, "zstd"))
		*out = CDT_CODEC_ZSTD;
	else
		return -EINVAL;
	return 0;
}

int cdt_codec_level_min(enum cdt_codec codec)
{
	return codec == CDT_CODEC_ZSTD ? CDT_ZSTD_LEVEL_MIN : CDT_ZLIB_LEVEL_MIN;
}

int cdt_codec_level_max(enum cdt_codec codec)
{
	return codec == CDT_CODEC_ZSTD ? CDT_ZSTD_LEVEL_MAX : CDT_ZLIB_LEVEL_MAX;
}

int cdt_codec_level_default(enum cdt_codec codec)
{
	return codec == CDT_CODEC_ZSTD ? CDT_ZSTD_LEVEL_DEFAULT : CDT_ZLIB_LEVEL_DEFAULT;
}

struct cdt_compressor *cdt_compressor_new(enum cdt_codec codec, int level)
{
	struct cdt_compressor *c = xcalloc(1, sizeof(*c));

	c->codec = codec;
	c->level = level;
	if (codec == CDT_CODEC_ZSTD) {
		c->zs = ZSTD_createCCtx();
		if (!c->zs || ZSTD_isError(ZSTD_CCtx_setParameter(c->zs, ZSTD_c_compressionLevel, level)) ||
		    /* The raw length is in the object's header; the frame need not repeat it. */
		    ZSTD_isError(ZSTD_CCtx_setParameter(c->zs, ZSTD_c_contentSizeFlag, 0)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(c->zs, ZSTD_c_checksumFlag, 0)))
			die("cannot initialise the zstd compressor at level %d", level);
	} else {
		c->z = zlib_comp_new(level);
	}
	return c;
}

void cdt_compressor_free(struct cdt_compressor *c)
{
	if (!c)
		return;
	if (c->z)
		zlib_comp_free(c->z);
	ZSTD_freeCCtx(c->zs);
	free(c);
}

enum cdt_codec cdt_compressor_codec(const struct cdt_compressor *c)
{
	return c->codec;
}

size_t cdt_compress(struct cdt_compressor *c, const void *in, size_t len, void *out, size_t cap)
{
	size_t n;

	if (!cap)
		return 0;
	if (c->codec != CDT_CODEC_ZSTD)
		return zlib_compress(c->z, in, len, out, cap);
	n = ZSTD_compress2(c->zs, out, cap, in, len);
	if (ZSTD_isError(n)) {
		/* Output that did not fit leaves a frame open: close it for the next call. */
		ZSTD_CCtx_reset(c->zs, ZSTD_reset_session_only);
		return 0;
	}
	return n;
}

size_t cdt_compress_ref(struct cdt_compressor *c, const void *ref, size_t ref_len,
			const void *in, size_t len, void *out, size_t cap)
{
	size_t n;

	if (!cap || c->codec != CDT_CODEC_ZSTD)
		return 0;
	/*
	 * A prefix serves one frame only: the next compression starts clean.
	 * zstd refuses one while a frame is open, so none may be, whatever
	 * this context compressed before.
	 */
	ZSTD_CCtx_reset(c->zs, ZSTD_reset_session_only);
	if (ZSTD_isError(ZSTD_CCtx_refPrefix(c->zs, ref, ref_len)))
		return 0;
	n = ZSTD_compress2(c->zs, out, cap, in, len);
	if (ZSTD_isError(n)) {
		ZSTD_CCtx_reset(c->zs, ZSTD_reset_session_only);
		return 0;
	}
	return n;
}

struct cdt_decompressor *cdt_decompressor_new(void)
{
	struct cdt_decompressor *d = xcalloc(1, sizeof(*d));

	d->z = zlib_decomp_new();
	d->zs = ZSTD_createDCtx();
	if (!d->zs || ZSTD_isError(ZSTD_DCtx_setParameter(d->zs, ZSTD_d_windowLogMax,
							   ZSTD_WINDOW_LOG_MAX)))
		die("cannot initialise the zstd decompressor");
	return d;
}

void cdt_decompressor_free(struct cdt_decompressor *d)
{
	if (!d)
		return;
	zlib_decomp_free(d->z);
	ZSTD_freeDCtx(d->zs);
	free(d);
}

/* One zstd frame, exactly in[0..in_len), decoded into exactly out_len bytes. */
static int zstd_decompress(struct cdt_decompressor *d, const void *in, size_t in_len,
			   void *out, size_t out_len)
{
	size_t n;

	if (ZSTD_findFrameCompressedSize(in, in_len) != in_len)
		return -CDT_ECORRUPT;	/* a damaged frame, or bytes after it */
	n = ZSTD_decompressDCtx(d->zs, out, out_len, in, in_len);
	if (ZSTD_isError(n) || n != out_len)
		return -CDT_ECORRUPT;
	return 0;
}

int cdt_decompress_ref(struct cdt_decompressor *d, const void *ref, size_t ref_len,
		       const void *in, size_t in_len, void *out, size_t out_len)
{
	size_t n;

	if (ZSTD_findFrameCompressedSize(in, in_len) != in_len)
		return -CDT_ECORRUPT;
	/* Raw content whatever its first bytes (never read as a zstd dictionary), for one frame. */
	if (ZSTD_isError(ZSTD_DCtx_refPrefix(d->zs, ref, ref_len)))
		return -CDT_ECORRUPT;
	n = ZSTD_decompressDCtx(d->zs, out, out_len, in, in_len);
	if (ZSTD_isError(n) || n != out_len)
		return -CDT_ECORRUPT;
	return 0;
}

int cdt_decompress(struct cdt_decompressor *d, enum cdt_codec codec, const void *in,
		   size_t in_len, void *out, size_t out_len)
{
	switch (codec) {
	case CDT_CODEC_ZLIB:
		return zlib_decompress(d->z, in, in_len, out, out_len);
	case CDT_CODEC_ZSTD:
		return zstd_decompress(d, in, in_len, out, out_len);
	default:
		return -CDT_ECORRUPT;
	}
}

int cdt_decompress_prefix(struct cdt_decompressor *d, enum cdt_codec codec, const void *in,
			  size_t in_len, void *out, size_t out_len, size_t *used)
{
	size_t n;

	switch (codec) {
	case CDT_CODEC_ZLIB:
		return zlib_decompress_prefix(d->z, in, in_len, out, out_len, used);
	case CDT_CODEC_ZSTD:
		n = ZSTD_findFrameCompressedSize(in, in_len);
		if (ZSTD_isError(n))
			return -CDT_ECORRUPT;
		*used = n;
		return zstd_decompress(d, in, n, out, out_len);
	default:
		return -CDT_ECORRUPT;
	}
}

int cdt_decompress_start(struct cdt_decompressor *d, enum cdt_codec codec, const void *in,
			 size_t in_len, void *out, size_t out_len)
{
	int ret;

	d->out = out;
	d->out_len = out_len;
	d->out_pos = 0;
	d->ended = 0;
	if (codec != CDT_CODEC_ZSTD) {
		/* libdeflate has no steps: the whole stream at once. */
		if (codec == CDT_CODEC_RAW) {
			if (in_len != out_len)
				return -CDT_ECORRUPT;
			memcpy(out, in, in_len);
		} else if ((ret = cdt_decompress(d, codec, in, in_len, out, out_len)) < 0) {
			return ret;
		}
		d->out_pos = out_len;
		d->ended = 1;
		return 0;
	}
	if (ZSTD_findFrameCompressedSize(in, in_len) != in_len)
		return -CDT_ECORRUPT;
	/* Keeps the window limit; drops a prefix a delta may have left. */
	if (ZSTD_isError(ZSTD_DCtx_reset(d->zs, ZSTD_reset_session_only)))
		return -CDT_ECORRUPT;
	d->in.src = in;
	d->in.size = in_len;
	d->in.pos = 0;
	return 0;
}

int cdt_decompress_more(struct cdt_decompressor *d, size_t want, size_t *got)
{
	if (want > d->out_len)
		want = d->out_len;
	/*
	 * zstd decodes a block (up to 128 KiB) at a time into its own window
	 * and hands out what the room allows: asking for a little decodes
	 * no more blocks than that little needs.
	 */
	while (!d->ended && (d->out_pos < want || want == d->out_len)) {
		ZSTD_outBuffer o = { d->out, want, d->out_pos };
		size_t in_pos = d->in.pos, r = ZSTD_decompressStream(d->zs, &o, &d->in);

		if (ZSTD_isError(r))
			return -CDT_ECORRUPT;
		if (!r) {
			/* The frame is over: it must have filled out and used all of in. */
			if (o.pos != d->out_len || d->in.pos != d->in.size)
				return -CDT_ECORRUPT;
			d->ended = 1;
		} else if (o.pos == d->out_pos && d->in.pos == in_pos) {
			/* Stuck: more output than stated, or a truncated frame. */
			return -CDT_ECORRUPT;
		}
		d->out_pos = o.pos;
	}
	*got = d->out_pos;
	return 0;
}
