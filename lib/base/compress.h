/* compress.h: whole-chunk zlib (RFC 1950) compression through libdeflate or zlib. */
#ifndef CDT_COMPRESS_H
#define CDT_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#define CDT_LEVEL_MIN 0
#define CDT_LEVEL_MAX 12

/* Name of the deflate implementation this binary was built with. */
const char *cdt_deflate_backend(void);
/* CRC-32 (the gzip and zlib polynomial) of n bytes. */
uint32_t cdt_crc32(const void *p, size_t n);

/* One compressor per thread; not shareable. */
struct cdt_compressor;
struct cdt_compressor *cdt_compressor_new(int level);
void cdt_compressor_free(struct cdt_compressor *c);
/*
 * Compress in[0..len) as one zlib stream into out (capacity cap). Returns the
 * compressed size, or 0 when the result would not fit in cap; callers pass
 * cap = len - 1 to get 0 for data that does not shrink, and store it raw.
 */
size_t cdt_compress(struct cdt_compressor *c, const void *in, size_t len,
		    void *out, size_t cap);

/*
 * Does data look incompressible? An order-0 entropy estimate over a few
 * samples of the chunk (about 4 KiB in all): above 7.9 bits per byte,
 * deflate cannot gain more than about 1%, and trying costs a full pass.
 * Compressed and encrypted data land here; text and binaries do not.
 */
int cdt_probably_incompressible(const void *data, size_t len);

struct cdt_decompressor;
struct cdt_decompressor *cdt_decompressor_new(void);
void cdt_decompressor_free(struct cdt_decompressor *d);
/*
 * Inflate one zlib stream that must produce exactly out_len bytes and use
 * all of in; anything else (a bad stream, more or less output, trailing
 * bytes) is -CDT_ECORRUPT. Output never exceeds out_len.
 */
int cdt_decompress(struct cdt_decompressor *d, const void *in, size_t in_len,
		   void *out, size_t out_len);
/*
 * Inflate the zlib stream that starts `in` (which may go on past it: a
 * pack read without its index) into exactly out_len bytes; *used gets the
 * stream's length. 0 or -CDT_ECORRUPT.
 */
int cdt_decompress_prefix(struct cdt_decompressor *d, const void *in, size_t in_len,
			  void *out, size_t out_len, size_t *used);

#endif
