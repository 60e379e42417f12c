/*
 * fuzz-object.c: chunk objects (lib/format/object.h cdt_object_decode, and the
 * zlib and zstd decoders behind it).
 *
 * The first byte picks a mode:
 *   0  the rest is an object file, checked against the SHA-256 of its
 *      payload (so well-formed raw objects decode);
 *   1  the rest is header fields and a payload, assembled into an object
 *      with a good magic and version; zlib's own inflate, or libzstd's
 *      decoder with the same window limit, says what it must decode to, and its SHA-256 is the id, so valid objects are reached
 *      that random bytes never hash to;
 *   2  the rest is chunk data: encoded with a codec and level from the
 *      next byte, then decoded, which must give it back.
 *   3  the rest is a delta object file (object.h), decoded against a
 *      fixed base: it can only fail (the id it must hash to is all zero),
 *      cleanly, whatever its header and zstd frame say;
 *   4  the rest is a base and a chunk (split where the first two bytes
 *      say): the chunk is encoded as a delta against the base, and parsing
 *      and decoding that must give the chunk back.
 * Whatever the mode, decoding returns 0 with the checked content or
 * -CDT_ECORRUPT with a reason, and never writes past raw_max (the output
 * buffer is allocated with exactly raw_max bytes, so ASan sees any overrun).
 */
#include "fuzz.h"
#include "base/compress.h"
#include "format/object.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define RAW_MAX (256u << 10)

static struct cdt_decompressor *dec;
static struct cdt_compressor *comp[CDT_ZLIB_LEVEL_MAX + 1];
static struct cdt_compressor *zcomp[CDT_ZSTD_LEVEL_MAX + 1];
static ZSTD_DCtx *ref_zstd;

/* Check what a decode returned; `out` holds raw_max bytes. */
static void check_decode(int ret, const struct cdt_id *id, const unsigned char *out,
			 uint32_t len, uint32_t raw_max, const struct strbuf *why)
{
	struct cdt_id got;

	if (ret) {
		FUZZ_CHECK(ret == -CDT_ECORRUPT);
		FUZZ_CHECK(why->len > 0);
		return;
	}
	FUZZ_CHECK(len <= raw_max);
	cdt_hash(out, len, &got);
	FUZZ_CHECK(cdt_id_eq(&got, id));
}

static void decode_file(const uint8_t *obj, size_t len)
{
	unsigned char *out = xmalloc(RAW_MAX);
	struct strbuf why = STRBUF_INIT;
	struct cdt_id id;
	uint32_t got = 0;
	int ret;

	if (len >= CDT_OBJ_HDR)
		cdt_hash(obj + CDT_OBJ_HDR, len - CDT_OBJ_HDR, &id);
	else
		cdt_hash(obj, len, &id);
	ret = cdt_object_decode(dec, &id, obj, len, 0, RAW_MAX, out, &got, &why);
	fuzz_note("decode", ret, &why);
	check_decode(ret, &id, out, got, RAW_MAX, &why);
	strbuf_release(&why);
	free(out);
}

/*
 * Inflate with zlib as cdt_decompress() is specified to: one stream that
 * uses all of `in` and gives exactly `want` bytes (or, with want_any, any
 * number up to cap). Returns the length or -1.
 */
static long ref_inflate(const unsigned char *in, size_t in_len, unsigned char *out,
			size_t cap, int want_any)
{
	z_stream zs;
	long ret = -1;

	memset(&zs, 0, sizeof(zs));
	if (inflateInit(&zs) != Z_OK)
		die("inflateInit failed");
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)in_len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	if (inflate(&zs, Z_FINISH) == Z_STREAM_END && !zs.avail_in &&
	    (want_any || zs.total_out == cap))
		ret = (long)zs.total_out;
	inflateEnd(&zs);
	return ret;
}

/*
 * Decode with libzstd as cdt_decompress() is specified to: exactly one
 * frame, no window over 2^25, giving exactly `cap` bytes (or, with
 * want_any, any number up to cap). Returns the length or -1.
 */
static long ref_unzstd(const unsigned char *in, size_t in_len, unsigned char *out,
		       size_t cap, int want_any)
{
	size_t n;

	if (!ref_zstd) {
		ref_zstd = ZSTD_createDCtx();
		if (!ref_zstd || ZSTD_isError(ZSTD_DCtx_setParameter(ref_zstd, ZSTD_d_windowLogMax, 25)))
			die("cannot set up the reference zstd decoder");
	}
	if (ZSTD_findFrameCompressedSize(in, in_len) != in_len)
		return -1;
	n = ZSTD_decompressDCtx(ref_zstd, out, cap, in, in_len);
	if (ZSTD_isError(n) || (!want_any && n != cap))
		return -1;
	return (long)n;
}

/*
 * Layout after the mode byte: codec, flags, raw length (LE32), raw_max
 * (LE24), payload. Flags: bit 0 passes the raw length as want_len, bit 1
 * passes a different want_len, bit 2 replaces the stated raw length by the
 * payload's true one (so the fuzzer need not find it).
 */
static void decode_assembled(const uint8_t *data, size_t size)
{
	unsigned char *obj, *out, *ref;
	struct strbuf why = STRBUF_INIT;
	uint32_t raw, raw_max, want = 0, got = 0;
	size_t plen;
	unsigned codec, flags;
	long ref_len = -1;
	struct cdt_id id;
	int ret;

	if (size < 9)
		return;
	codec = data[0] < 0xf0 ? data[0] % 3 : data[0];
	flags = data[1];
	raw = get_le32(data + 2);
	raw_max = 1 + (uint32_t)(data[6] | data[7] << 8 | data[8] << 16) % RAW_MAX;
	data += 9;
	plen = size - 9;

	ref = xmalloc(RAW_MAX);
	if (flags & 4) {
		if (codec == CDT_CODEC_RAW)
			raw = (uint32_t)plen;
		else if (codec == CDT_CODEC_ZLIB || codec == CDT_CODEC_ZSTD) {
			long n = codec == CDT_CODEC_ZLIB ? ref_inflate(data, plen, ref, RAW_MAX, 1) :
							   ref_unzstd(data, plen, ref, RAW_MAX, 1);

			if (n >= 0)
				raw = (uint32_t)n;
		}
	}
	if (flags & 1)
		want = raw;
	else if (flags & 2)
		want = raw + 1;

	/* What the object holds, by the format's definition. */
	if (raw <= raw_max && (!want || want == raw)) {
		if (codec == CDT_CODEC_RAW && plen == raw) {
			memcpy(ref, data, plen);
			ref_len = raw;
		} else if (codec == CDT_CODEC_ZLIB) {
			ref_len = ref_inflate(data, plen, ref, raw, 0);
		} else if (codec == CDT_CODEC_ZSTD) {
			ref_len = ref_unzstd(data, plen, ref, raw, 0);
		}
	}
	if (ref_len >= 0)
		cdt_hash(ref, (size_t)ref_len, &id);
	else
		cdt_hash(data, plen, &id);

	obj = xmalloc(CDT_OBJ_HDR + plen);
	memcpy(obj, CDT_OBJ_MAGIC, 4);
	obj[4] = CDT_OBJ_VERSION;
	obj[5] = (unsigned char)codec;
	obj[6] = obj[7] = 0;
	put_le32(obj + 8, raw);
	memcpy(obj + CDT_OBJ_HDR, data, plen);
	out = xmalloc(raw_max);
	ret = cdt_object_decode(dec, &id, obj, CDT_OBJ_HDR + plen, want, raw_max, out, &got,
				&why);
	fuzz_note("decode assembled", ret, &why);
	check_decode(ret, &id, out, got, raw_max, &why);
	if (ref_len >= 0) {
		/* A valid object must decode, to the same bytes. */
		FUZZ_CHECK(ret == 0);
		FUZZ_CHECK(got == (uint32_t)ref_len);
		FUZZ_CHECK(!memcmp(out, ref, got));
	}
	if (!ret)
		FUZZ_CHECK(got == raw);
	strbuf_release(&why);
	free(out);
	free(obj);
	free(ref);
}

static void round_trip(const uint8_t *data, size_t size)
{
	unsigned char *obj, *out;
	struct strbuf why = STRBUF_INIT;
	uint32_t len, got = 0;
	size_t olen;
	struct cdt_id id;
	struct cdt_compressor *c;
	int level, ret;

	if (size < 1)
		return;
	/* Even: zlib at a level 0..12; odd: zstd at 1..19 (levels over 9 are slow: cut). */
	if (data[0] & 1) {
		level = CDT_ZSTD_LEVEL_MIN + (data[0] >> 1) % 9;
		if (!zcomp[level])
			zcomp[level] = cdt_compressor_new(CDT_CODEC_ZSTD, level);
		c = zcomp[level];
	} else {
		level = (data[0] >> 1) % (CDT_ZLIB_LEVEL_MAX + 1);
		if (!comp[level])
			comp[level] = cdt_compressor_new(CDT_CODEC_ZLIB, level);
		c = comp[level];
	}
	data++;
	len = (uint32_t)MIN(size - 1, (size_t)RAW_MAX);
	obj = xmalloc(CDT_OBJ_MAX(len));
	olen = cdt_object_encode(c, data, len, obj);
	FUZZ_CHECK(olen >= CDT_OBJ_HDR && olen <= CDT_OBJ_MAX(len));
	cdt_hash(data, len, &id);
	/* raw_max as tight as it can be. */
	out = xmalloc(len);
	ret = cdt_object_decode(dec, &id, obj, olen, len, len, out, &got, &why);
	FUZZ_CHECK(ret == 0);
	FUZZ_CHECK(got == len && !memcmp(out, data, len));
	strbuf_release(&why);
	free(out);
	free(obj);
}

/* A fixed base for mode 3: text-like bytes, so that real deltas against it are small. */
static unsigned char fixed_base[4096];

static void decode_delta(const uint8_t *obj, size_t len)
{
	unsigned char *out = xmalloc(RAW_MAX);
	struct strbuf why = STRBUF_INIT;
	struct cdt_delta_info di;
	struct cdt_id zero;
	int ret;

	memset(&zero, 0, sizeof(zero));
	ret = cdt_delta_parse(obj, len, RAW_MAX, &di, &why);
	if (!ret) {
		FUZZ_CHECK(di.obj_len <= len && di.raw_len && di.raw_len <= RAW_MAX);
		/* The base must be the length the delta names: give it that many bytes. */
		if (di.base_len <= sizeof(fixed_base))
			ret = cdt_delta_decode(dec, &di, fixed_base, &zero, out, &why);
		else
			ret = cdt_corrupt(&why, "base longer than the fixed one");
	}
	fuzz_note("delta", ret, &why);
	FUZZ_CHECK(ret == -CDT_ECORRUPT && why.len > 0);
	strbuf_release(&why);
	free(out);
}

static void delta_round_trip(const uint8_t *data, size_t size)
{
	struct strbuf why = STRBUF_INIT;
	struct cdt_delta_info di;
	struct cdt_id base_id, id;
	unsigned char *obj, *out;
	uint32_t blen, len;
	size_t olen;
	int ret;

	if (size < 3)
		return;
	if (!zcomp[3])
		zcomp[3] = cdt_compressor_new(CDT_CODEC_ZSTD, 3);
	blen = (uint32_t)(((size_t)data[0] | (size_t)data[1] << 8) % (size - 2));
	data += 2;
	size -= 2;
	len = (uint32_t)MIN(size - blen, (size_t)RAW_MAX);
	if (!blen || !len)
		return;
	cdt_hash(data, blen, &base_id);
	cdt_hash(data + blen, len, &id);
	obj = xmalloc(CDT_DELTA_MAX(len) + 1024);
	olen = cdt_delta_encode(zcomp[3], &base_id, data, blen, data + blen, len, obj,
				CDT_DELTA_MAX(len) + 1024);
	if (olen) {
		out = xmalloc(len);
		ret = cdt_delta_parse(obj, olen, RAW_MAX, &di, &why);
		FUZZ_CHECK(ret == 0 && di.obj_len == olen && di.raw_len == len &&
			   di.base_len == blen && cdt_id_eq(&di.base, &base_id));
		ret = cdt_delta_decode(dec, &di, data, &id, out, &why);
		FUZZ_CHECK(ret == 0 && !memcmp(out, data + blen, len));
		free(out);
	}
	strbuf_release(&why);
	free(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dec) {
		fuzz_quiet();
		dec = cdt_decompressor_new();
		{
			size_t i;

			for (i = 0; i < sizeof(fixed_base); i++)
				fixed_base[i] = (unsigned char)"the base of a delta "[i % 20];
		}
	}
	if (!size)
		return 0;
	switch (data[0] % 5) {
	case 0:
		decode_file(data + 1, size - 1);
		break;
	case 1:
		decode_assembled(data + 1, size - 1);
		break;
	case 2:
		round_trip(data + 1, size - 1);
		break;
	case 3:
		decode_delta(data + 1, size - 1);
		break;
	case 4:
		delta_round_trip(data + 1, size - 1);
		break;
	}
	return 0;
}
