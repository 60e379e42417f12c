/* compress.h: the chunk codecs: zstd, and the zlib format (RFC 1950) through libdeflate or zlib. */
#ifndef CDT_COMPRESS_H
#define CDT_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

/* The codecs, as an object's header numbers them (store-format.md). */
enum cdt_codec {
	CDT_CODEC_RAW = 0,
	CDT_CODEC_ZLIB = 1,
	CDT_CODEC_ZSTD = 2,
};

/* Levels each codec takes; 0 with zlib stores every chunk raw. */
#define CDT_ZLIB_LEVEL_MIN 0
#define CDT_ZLIB_LEVEL_MAX 12
#define CDT_ZLIB_LEVEL_DEFAULT 1
#define CDT_ZSTD_LEVEL_MIN 1
#define CDT_ZSTD_LEVEL_MAX 19
#define CDT_ZSTD_LEVEL_DEFAULT 3

/* "zlib", "zstd" (or "raw"). */
const char *cdt_codec_name(enum cdt_codec codec);
/* Parse "zlib" or "zstd": 0 or -EINVAL. */
int cdt_codec_parse(const char *s, enum cdt_codec *out);
int cdt_codec_level_min(enum cdt_codec codec);
int cdt_codec_level_max(enum cdt_codec codec);
int cdt_codec_level_default(enum cdt_codec codec);

/* Name of the deflate implementation this binary was built with. */
const char *cdt_deflate_backend(void);
/* Version of the zstd library in use ("1.5.4"). */
const char *cdt_zstd_version(void);
/* CRC-32 (the gzip and zlib polynomial) of n bytes. */
uint32_t cdt_crc32(const void *p, size_t n);

/* One compressor per thread; not shareable. codec is zlib or zstd. */
struct cdt_compressor;
struct cdt_compressor *cdt_compressor_new(enum cdt_codec codec, int level);
void cdt_compressor_free(struct cdt_compressor *c);
enum cdt_codec cdt_compressor_codec(const struct cdt_compressor *c);
/*
 * Compress in[0..len) as one zlib stream or one zstd frame into out
 * (capacity cap). Returns the compressed size, or 0 when the result would
 * not fit in cap; callers pass cap = len - 1 to get 0 for data that does
 * not shrink, and store it raw.
 */
size_t cdt_compress(struct cdt_compressor *c, const void *in, size_t len,
		    void *out, size_t cap);

/*
 * Compress in[0..len) as one zstd frame that may refer back into ref (the
 * bytes of a similar chunk, which the decoder must be given again), into
 * out (capacity cap). Returns the compressed size, or 0 when it would not
 * fit in cap or the compressor is not zstd.
 */
size_t cdt_compress_ref(struct cdt_compressor *c, const void *ref, size_t ref_len,
			const void *in, size_t len, void *out, size_t cap);

/*
 * Does data look incompressible? An order-0 entropy estimate over a few
 * samples of the chunk (about 4 KiB in all): above 7.9 bits per byte,
 * deflate cannot gain more than about 1%, and trying costs a full pass.
 * Compressed and encrypted data land here; text and binaries do not.
 */
int cdt_probably_incompressible(const void *data, size_t len);

/* One decompressor per thread, for every codec. */
struct cdt_decompressor;
struct cdt_decompressor *cdt_decompressor_new(void);
void cdt_decompressor_free(struct cdt_decompressor *d);
/*
 * Decode one zlib stream or zstd frame that must produce exactly out_len
 * bytes and use all of in; anything else (a bad stream, more or less
 * output, trailing bytes, an unknown codec, a zstd window over 32 MiB) is
 * -CDT_ECORRUPT. Output never exceeds out_len.
 */
int cdt_decompress(struct cdt_decompressor *d, enum cdt_codec codec, const void *in,
		   size_t in_len, void *out, size_t out_len);
/*
 * Decode one zstd frame made by cdt_compress_ref() against the same ref
 * into exactly out_len bytes, as cdt_decompress() does. 0 or -CDT_ECORRUPT.
 */
int cdt_decompress_ref(struct cdt_decompressor *d, const void *ref, size_t ref_len,
		       const void *in, size_t in_len, void *out, size_t out_len);
/*
 * Decode the stream or frame that starts `in` (which may go on past it: a
 * pack read without its index) into exactly out_len bytes; *used gets its
 * length. 0 or -CDT_ECORRUPT.
 */
int cdt_decompress_prefix(struct cdt_decompressor *d, enum cdt_codec codec, const void *in,
			  size_t in_len, void *out, size_t out_len, size_t *used);

/*
 * Decode in steps, for a reader that wants only the start of a frame:
 * start with the whole stream or frame (in, in_len) and the buffer for
 * all of its out_len bytes, then ask cdt_decompress_more() for at least
 * `want` of them, as often as needed; *got says how many are in out
 * (zstd decodes a block, up to 128 KiB, at a time). Asking for all out_len
 * bytes checks the frame as cdt_decompress() does; bytes handed out
 * before that are only as good as the caller's own check of them (chunk
 * ids). zlib and raw decode whole at the start. in must stay as it is
 * until the last step; d does nothing else meanwhile. 0 or
 * -CDT_ECORRUPT.
 */
int cdt_decompress_start(struct cdt_decompressor *d, enum cdt_codec codec, const void *in,
			 size_t in_len, void *out, size_t out_len);
int cdt_decompress_more(struct cdt_decompressor *d, size_t want, size_t *got);

#endif
