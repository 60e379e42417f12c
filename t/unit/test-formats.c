/* test-formats.c: parsers of on-disk data reject every damaged input and never overrun. */
#include "base/compress.h"
#include "format/config.h"
#include "base/hash.h"
#include "format/names.h"
#include "format/object.h"
#include "base/util.h"
#include "unit.h"

#include <errno.h>
#include <string.h>

static uint64_t rs = 12345;

static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

static void test_config(void)
{
	struct cdt_config cfg, got;
	struct strbuf sb = STRBUF_INIT, why = STRBUF_INIT;
	size_t i;

	cdt_config_defaults(&cfg);
	memcpy(cfg.store_id, "0123456789abcdef0123456789abcdef", 33);
	cdt_config_format(&cfg, &sb);
	CHECK(cdt_config_parse(sb.buf, sb.len, &got, &why) == 0);
	CHECK(got.chunk_size == cfg.chunk_size && got.level == cfg.level &&
	      got.chunker == cfg.chunker && !strcmp(got.store_id, cfg.store_id));

	/* Every single-byte change is caught (checksum or syntax). */
	for (i = 0; i < sb.len; i++) {
		char *copy = xstrndup(sb.buf, sb.len);

		copy[i] ^= 0x01;
		strbuf_reset(&why);
		CHECK(cdt_config_parse(copy, sb.len, &got, &why) < 0);
		free(copy);
	}
	/* Every truncation too. */
	for (i = 0; i < sb.len; i++) {
		strbuf_reset(&why);
		CHECK(cdt_config_parse(sb.buf, i, &got, &why) < 0);
	}
	/* A newer version is told apart from damage. */
	{
		struct strbuf v = STRBUF_INIT;

		strbuf_addstr(&v, "format 9\nchunker fastcdc\n");
		strbuf_reset(&why);
		CHECK(cdt_config_parse(v.buf, v.len, &got, &why) == -CDT_EVERSION);
		strbuf_release(&v);
	}
	strbuf_release(&sb);
	strbuf_release(&why);
}

static void test_name_entry(void)
{
	struct cdt_name_entry e, got;
	struct strbuf sb = STRBUF_INIT, why = STRBUF_INIT;
	size_t i;

	memset(&e, 0, sizeof(e));
	strcpy(e.name, "dir/file.tar");
	e.mode = 0640;
	e.uid = 1000;
	e.gid = 100;
	e.mtime_sec = -5;
	e.mtime_nsec = 999999999;
	e.added_sec = 1700000000;
	e.size = 1ull << 40;
	memset(e.content.b, 0xab, CDT_ID_LEN);
	cdt_name_encode(&e, &sb);
	CHECK(cdt_name_decode((unsigned char *)sb.buf, sb.len, "dir/file.tar", &got, &why) == 0);
	CHECK(got.mode == 0640 && got.uid == 1000 && got.mtime_sec == -5 &&
	      got.size == 1ull << 40 && cdt_id_eq(&got.content, &e.content));
	/* The entry must belong to the name it is stored under. */
	CHECK(cdt_name_decode((unsigned char *)sb.buf, sb.len, "other", &got, &why) < 0);
	/* Every bit flip and truncation is caught. */
	for (i = 0; i < sb.len * 8; i++) {
		unsigned char *copy = (unsigned char *)xstrndup(sb.buf, sb.len);

		copy[i / 8] ^= (unsigned char)(1u << (i % 8));
		strbuf_reset(&why);
		CHECK(cdt_name_decode(copy, sb.len, NULL, &got, &why) == -CDT_ECORRUPT);
		free(copy);
	}
	for (i = 0; i < sb.len; i++)
		CHECK(cdt_name_decode((unsigned char *)sb.buf, i, NULL, &got, &why) == -CDT_ECORRUPT);
	/* Random garbage of every length up to the maximum never parses. */
	for (i = 0; i < 2000; i++) {
		size_t n = (size_t)(rnd() % (CDT_NAME_ENTRY_MAX + 10)), k;
		unsigned char *buf = xmalloc(n + 1);

		for (k = 0; k < n; k++)
			buf[k] = (unsigned char)rnd();
		if (n >= 4)
			memcpy(buf, CDT_NAME_MAGIC, 4);
		if (n > 4)
			buf[4] = CDT_NAME_VERSION;
		CHECK(cdt_name_decode(buf, n, NULL, &got, &why) == -CDT_ECORRUPT);
		free(buf);
	}
	strbuf_release(&sb);
	strbuf_release(&why);
}

static void test_objects(void)
{
	struct cdt_compressor *c = cdt_compressor_new(CDT_CODEC_ZLIB, 6);
	struct cdt_decompressor *d = cdt_decompressor_new();
	size_t n = 65536, olen, i;
	unsigned char *data = xmalloc(n), *obj = xmalloc(CDT_OBJ_MAX(n)), *out = xmalloc(n + 64);
	struct cdt_id id;
	struct strbuf why = STRBUF_INIT;
	uint32_t len;

	for (i = 0; i < n; i++)
		data[i] = (unsigned char)("abcabd"[i % 6] + (i % 1000 == 0));
	cdt_hash(data, n, &id);
	olen = cdt_object_encode(c, data, (uint32_t)n, obj);
	CHECK(olen < n / 4);
	CHECK(obj[5] == CDT_CODEC_ZLIB);
	CHECK(cdt_object_decode(d, &id, obj, olen, (uint32_t)n, (uint32_t)n, out, &len, &why) == 0);
	CHECK(len == n && !memcmp(out, data, n));
	/* Wrong expected length, and a raw length beyond the maximum. */
	CHECK(cdt_object_decode(d, &id, obj, olen, (uint32_t)n - 1, (uint32_t)n, out, &len, &why) < 0);
	CHECK(cdt_object_decode(d, &id, obj, olen, 0, (uint32_t)n - 1, out, &len, &why) < 0);
	/*
	 * Every bit flip is caught or harmless: the padding bits at the end of
	 * the last deflate block do not change the output, and then the exact
	 * original bytes come out. Wrong bytes never do.
	 */
	for (i = 0; i < olen * 8; i++) {
		int r;

		obj[i / 8] ^= (unsigned char)(1u << (i % 8));
		memset(out, 0, n);
		r = cdt_object_decode(d, &id, obj, olen, 0, (uint32_t)n, out, &len, &why);
		CHECK(r == -CDT_ECORRUPT || (r == 0 && len == n && !memcmp(out, data, n)));
		obj[i / 8] ^= (unsigned char)(1u << (i % 8));
	}
	/* Truncations. */
	for (i = 0; i < olen; i += 7)
		CHECK(cdt_object_decode(d, &id, obj, i, 0, (uint32_t)n, out, &len, &why) ==
		      -CDT_ECORRUPT);
	/*
	 * A decompression bomb: a valid zlib stream of 64 KiB whose header says
	 * 4 KiB. Output stays within the stated length and it is refused.
	 */
	put_le32(obj + 8, 4096);
	memset(out, 0x5a, n + 64);
	CHECK(cdt_object_decode(d, &id, obj, olen, 0, (uint32_t)n, out, &len, &why) ==
	      -CDT_ECORRUPT);
	for (i = 4096; i < n + 64; i++)
		if (out[i] != 0x5a)
			break;
	CHECK(i == n + 64);
	/* Random data is stored raw. */
	for (i = 0; i < n; i++)
		data[i] = (unsigned char)rnd();
	cdt_hash(data, n, &id);
	olen = cdt_object_encode(c, data, (uint32_t)n, obj);
	CHECK(olen == n + CDT_OBJ_HDR && obj[5] == CDT_CODEC_RAW);
	CHECK(cdt_object_decode(d, &id, obj, olen, 0, (uint32_t)n, out, &len, &why) == 0);
	CHECK(!memcmp(out, data, n));
	cdt_compressor_free(c);
	cdt_decompressor_free(d);
	free(data);
	free(obj);
	free(out);
	strbuf_release(&why);
}

static void test_quote(void)
{
	CHECK(!strcmp(quote("a\nb\\c"), "a\\x0ab\\\\c"));
	/* Valid UTF-8 passes; stray bytes, overlong forms and C1 controls do not. */
	CHECK(!strcmp(quote("\xc3\xa9t\xc3\xa9"), "\xc3\xa9t\xc3\xa9"));
	CHECK(!strcmp(quote("a\xff\xfe"), "a\\xff\\xfe"));
	CHECK(!strcmp(quote("\xc0\xaf"), "\\xc0\\xaf"));
	CHECK(!strcmp(quote("\xc2\x9b" "1m"), "\\xc2\\x9b1m"));
	CHECK(!strcmp(quote("\xe2\x82"), "\\xe2\\x82"));
	CHECK(!strcmp(quote("\x1b[1m"), "\\x1b[1m"));
	{
		char big[300];

		memset(big, 'x', 299);
		big[299] = '\0';
		CHECK(strlen(quote(big)) == QUOTE_MAX + 3);
		/* The cut never splits a character, and escapes fit the buffer. */
		memcpy(big + QUOTE_MAX - 1, "\xc3\xa9", 2);
		CHECK(strlen(quote(big)) == QUOTE_MAX - 1 + 3);
		memset(big, 0xff, 299);
		CHECK(strlen(quote(big)) == 4 * QUOTE_MAX + 3);
	}
}

static void test_parse_size(void)
{
	uint64_t v;

	CHECK(parse_size("64K", &v) == 0 && v == 65536);
	CHECK(parse_size("1MiB", &v) == 0 && v == 1 << 20);
	CHECK(parse_size("4096", &v) == 0 && v == 4096);
	CHECK(parse_size("-1", &v) < 0);
	CHECK(parse_size("1X", &v) < 0);
	CHECK(parse_size("", &v) < 0);
	CHECK(parse_size("99999999999999999999", &v) < 0);
	CHECK(parse_size("17179869184G", &v) < 0);
}

/*
 * A zstd context that failed to compress (the output did not fit) still
 * compresses against a prefix next, and alone after that, to the same
 * bytes a fresh context makes.
 */
static void test_zstd_after_failure(void)
{
	struct cdt_compressor *c = cdt_compressor_new(CDT_CODEC_ZSTD, 3);
	struct cdt_compressor *fresh = cdt_compressor_new(CDT_CODEC_ZSTD, 3);
	struct cdt_decompressor *d = cdt_decompressor_new();
	size_t n = 32768, i, dl, fl;
	unsigned char *noise = xmalloc(n), *base = xmalloc(n), *edit = xmalloc(n);
	unsigned char *out = xmalloc(2 * n), *out2 = xmalloc(2 * n), *back = xmalloc(n);

	for (i = 0; i < n; i++) {
		noise[i] = (unsigned char)rnd();
		base[i] = (unsigned char)rnd();
	}
	memcpy(edit, base, n);
	memset(edit + 1000, 'x', 64);
	/* Random bytes cannot fit in fewer: this call fails. */
	CHECK(cdt_compress(c, noise, n, out, n / 2) == 0);
	dl = cdt_compress_ref(c, base, n, edit, n, out, 2 * n);
	fl = cdt_compress_ref(fresh, base, n, edit, n, out2, 2 * n);
	CHECK(dl > 0 && dl < n / 16);
	CHECK(dl == fl && !memcmp(out, out2, dl));
	CHECK(cdt_decompress_ref(d, base, n, out, dl, back, n) == 0 && !memcmp(back, edit, n));
	/* The same after a failed compression against a prefix. */
	CHECK(cdt_compress_ref(c, base, n, noise, n, out, n / 2) == 0);
	CHECK(cdt_compress(c, edit, n, out, 2 * n) == cdt_compress(fresh, edit, n, out2, 2 * n));
	cdt_compressor_free(c);
	cdt_compressor_free(fresh);
	cdt_decompressor_free(d);
	free(noise);
	free(base);
	free(edit);
	free(out);
	free(out2);
	free(back);
}

int main(void)
{
	test_config();
	test_name_entry();
	test_objects();
	test_zstd_after_failure();
	test_quote();
	test_parse_size();
	UNIT_DONE();
}
