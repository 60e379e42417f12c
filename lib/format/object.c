/* object.c: encoding and decoding one chunk object. */
#include "format/object.h"
#include "base/compress.h"
#include "base/util.h"

#include <string.h>

size_t cdt_object_encode(struct cdt_compressor *c, const void *data, uint32_t len,
			 unsigned char *out)
{
	size_t clen = 0;

	memcpy(out, CDT_OBJ_MAGIC, 4);
	out[4] = CDT_OBJ_VERSION;
	out[6] = out[7] = 0;
	put_le32(out + 8, len);
	if (c && len > 16 && !cdt_probably_incompressible(data, len))
		clen = cdt_compress(c, data, len, out + CDT_OBJ_HDR, len - 1);
	if (clen) {
		out[5] = (unsigned char)cdt_compressor_codec(c);
		return CDT_OBJ_HDR + clen;
	}
	out[5] = CDT_CODEC_RAW;
	memcpy(out + CDT_OBJ_HDR, data, len);
	return CDT_OBJ_HDR + (size_t)len;
}

/* The 12-byte header: 0 with the raw length in *raw, or -CDT_ECORRUPT. */
static int check_header(const unsigned char *obj, size_t obj_len, uint32_t want_len,
			uint32_t raw_max, uint32_t *raw, struct strbuf *why)
{
	if (obj_len < CDT_OBJ_HDR)
		return cdt_corrupt(why, "object is shorter than its header");
	if (memcmp(obj, CDT_OBJ_MAGIC, 4))
		return cdt_corrupt(why, "object has a bad magic number");
	if (obj[4] != CDT_OBJ_VERSION)
		return cdt_corrupt(why, "object has an unknown version");
	if (obj[6] || obj[7])
		return cdt_corrupt(why, "object header has reserved bits set");
	if (obj[5] != CDT_CODEC_RAW && obj[5] != CDT_CODEC_ZLIB && obj[5] != CDT_CODEC_ZSTD)
		return cdt_corrupt(why, "object has an unknown codec");
	*raw = get_le32(obj + 8);
	if (*raw > raw_max) {
		if (why)
			strbuf_addf(why, "object claims %u bytes, more than the largest chunk (%u)",
				    *raw, raw_max);
		return -CDT_ECORRUPT;
	}
	if (want_len && *raw != want_len) {
		if (why)
			strbuf_addf(why, "object holds %u bytes, the manifest says %u", *raw, want_len);
		return -CDT_ECORRUPT;
	}
	return 0;
}

int cdt_object_decode(struct cdt_decompressor *d, const struct cdt_id *id,
		      const unsigned char *obj, size_t obj_len, uint32_t want_len,
		      uint32_t raw_max, unsigned char *out, uint32_t *len,
		      struct strbuf *why)
{
	uint32_t raw;
	size_t payload;
	struct cdt_id got;
	int ret = check_header(obj, obj_len, want_len, raw_max, &raw, why);

	if (ret < 0)
		return ret;
	payload = obj_len - CDT_OBJ_HDR;
	if (obj[5] == CDT_CODEC_RAW) {
		if (payload != raw)
			return cdt_corrupt(why, "raw object has the wrong length");
		memcpy(out, obj + CDT_OBJ_HDR, raw);
	} else if (cdt_decompress(d, obj[5], obj + CDT_OBJ_HDR, payload, out, raw) < 0) {
		return cdt_corrupt(why, "compressed data does not decode to the stated length");
	}
	cdt_hash(out, raw, &got);
	if (!cdt_id_eq(&got, id))
		return cdt_corrupt(why, "content does not match its id");
	*len = raw;
	return 0;
}

int cdt_object_parse(struct cdt_decompressor *d, const unsigned char *buf, size_t avail,
		     uint32_t raw_max, unsigned char *out, uint32_t *len, size_t *obj_len,
		     struct cdt_id *id, struct strbuf *why)
{
	uint32_t raw;
	size_t used;
	int ret = check_header(buf, avail, 0, raw_max, &raw, why);

	if (ret < 0)
		return ret;
	if (buf[5] == CDT_CODEC_RAW) {
		if (avail - CDT_OBJ_HDR < raw)
			return cdt_corrupt(why, "raw object runs past the end");
		memcpy(out, buf + CDT_OBJ_HDR, raw);
		used = raw;
	} else if (cdt_decompress_prefix(d, buf[5], buf + CDT_OBJ_HDR, avail - CDT_OBJ_HDR, out,
					 raw, &used) < 0) {
		return cdt_corrupt(why, "compressed data does not decode to the stated length");
	}
	cdt_hash(out, raw, id);
	*len = raw;
	*obj_len = CDT_OBJ_HDR + used;
	return 0;
}

size_t cdt_frame_encode(struct cdt_compressor *c, const unsigned char *raw, const uint32_t *lens,
			uint32_t n, unsigned char *out)
{
	size_t total = 0, hdr = CDT_FRAME_HDR + 4 * (size_t)n, clen = 0;
	uint32_t i;

	memcpy(out, CDT_OBJ_MAGIC, 4);
	out[4] = CDT_FRAME_VERSION;
	out[6] = CDT_FRAME_KIND;
	out[7] = 0;
	put_le32(out + 8, n);
	for (i = 0; i < n; i++) {
		put_le32(out + CDT_FRAME_HDR + 4 * (size_t)i, lens[i]);
		total += lens[i];
	}
	/*
	 * No entropy guess first, as for a single chunk: a frame often mixes
	 * chunks that compress with some that do not, which a sample misjudges,
	 * and zstd passes over incompressible blocks quickly by itself.
	 */
	if (c && total > 16)
		clen = cdt_compress(c, raw, total, out + hdr, total - 1);
	if (clen) {
		out[5] = (unsigned char)cdt_compressor_codec(c);
	} else {
		out[5] = CDT_CODEC_RAW;
		memcpy(out + hdr, raw, total);
		clen = total;
	}
	put_le32(out + 12, (uint32_t)clen);
	return hdr + clen;
}

int cdt_object_is_frame(const unsigned char *obj, size_t len)
{
	return len > 6 && obj[4] == CDT_FRAME_VERSION && obj[6] == CDT_FRAME_KIND;
}

int cdt_object_is_delta(const unsigned char *obj, size_t len)
{
	return len > 6 && obj[4] == CDT_FRAME_VERSION && obj[6] == CDT_DELTA_KIND;
}

size_t cdt_delta_encode(struct cdt_compressor *c, const struct cdt_id *base_id,
			const unsigned char *base, uint32_t base_len, const unsigned char *data,
			uint32_t len, unsigned char *out, size_t cap)
{
	size_t clen;

	if (cap <= CDT_DELTA_HDR || !len || !base_len)
		return 0;
	clen = cdt_compress_ref(c, base, base_len, data, len, out + CDT_DELTA_HDR,
				cap - CDT_DELTA_HDR);
	if (!clen)
		return 0;
	memcpy(out, CDT_OBJ_MAGIC, 4);
	out[4] = CDT_FRAME_VERSION;
	out[5] = CDT_CODEC_ZSTD;
	out[6] = CDT_DELTA_KIND;
	out[7] = 0;
	put_le32(out + 8, len);
	put_le32(out + 12, (uint32_t)clen);
	put_le32(out + 16, base_len);
	memcpy(out + 20, base_id->b, CDT_ID_LEN);
	return CDT_DELTA_HDR + clen;
}

int cdt_delta_parse(const unsigned char *obj, size_t avail, uint32_t raw_max,
		    struct cdt_delta_info *di, struct strbuf *why)
{
	if (avail < CDT_DELTA_HDR)
		return cdt_corrupt(why, "delta is shorter than its header");
	if (memcmp(obj, CDT_OBJ_MAGIC, 4))
		return cdt_corrupt(why, "delta has a bad magic number");
	if (obj[4] != CDT_FRAME_VERSION || obj[6] != CDT_DELTA_KIND)
		return cdt_corrupt(why, "object is not a delta");
	if (obj[7])
		return cdt_corrupt(why, "delta header has reserved bits set");
	if (obj[5] != CDT_CODEC_ZSTD)
		return cdt_corrupt(why, "delta has an unknown codec");
	di->raw_len = get_le32(obj + 8);
	di->payload_len = get_le32(obj + 12);
	di->base_len = get_le32(obj + 16);
	if (!di->raw_len || di->raw_len > raw_max || !di->base_len || di->base_len > raw_max)
		return cdt_corrupt(why, "delta has an impossible length");
	if (avail - CDT_DELTA_HDR < di->payload_len)
		return cdt_corrupt(why, "delta runs past its end");
	memcpy(di->base.b, obj + 20, CDT_ID_LEN);
	di->payload = obj + CDT_DELTA_HDR;
	di->obj_len = CDT_DELTA_HDR + di->payload_len;
	return 0;
}

int cdt_delta_decode(struct cdt_decompressor *d, const struct cdt_delta_info *di,
		     const unsigned char *base, const struct cdt_id *id, unsigned char *out,
		     struct strbuf *why)
{
	struct cdt_id got;

	if (cdt_decompress_ref(d, base, di->base_len, di->payload, di->payload_len, out,
			       di->raw_len) < 0)
		return cdt_corrupt(why, "delta does not decode to the stated length");
	cdt_hash(out, di->raw_len, &got);
	if (!cdt_id_eq(&got, id))
		return cdt_corrupt(why, "content does not match its id");
	return 0;
}

int cdt_frame_parse(const unsigned char *obj, size_t avail, uint32_t raw_max, uint64_t frame_max,
		    struct cdt_frame_info *fi, struct strbuf *why)
{
	uint64_t total = 0;
	size_t hdr;
	uint32_t i;

	if (avail < CDT_FRAME_HDR)
		return cdt_corrupt(why, "frame is shorter than its header");
	if (memcmp(obj, CDT_OBJ_MAGIC, 4))
		return cdt_corrupt(why, "frame has a bad magic number");
	if (obj[4] != CDT_FRAME_VERSION || obj[6] != CDT_FRAME_KIND)
		return cdt_corrupt(why, "object is not a frame");
	if (obj[7])
		return cdt_corrupt(why, "frame header has reserved bits set");
	if (obj[5] != CDT_CODEC_RAW && obj[5] != CDT_CODEC_ZLIB && obj[5] != CDT_CODEC_ZSTD)
		return cdt_corrupt(why, "frame has an unknown codec");
	fi->codec = obj[5];
	fi->n = get_le32(obj + 8);
	fi->payload_len = get_le32(obj + 12);
	if (!fi->n || fi->n > CDT_FRAME_MAX_CHUNKS)
		return cdt_corrupt(why, "frame holds an impossible number of chunks");
	hdr = CDT_FRAME_HDR + 4 * (size_t)fi->n;
	if (avail < hdr || avail - hdr < fi->payload_len)
		return cdt_corrupt(why, "frame runs past its end");
	fi->lens = obj + CDT_FRAME_HDR;
	for (i = 0; i < fi->n; i++) {
		uint32_t l = get_le32(fi->lens + 4 * (size_t)i);

		if (!l || l > raw_max)
			return cdt_corrupt(why, "frame chunk %u has an impossible length", i);
		total += l;
	}
	if (total > frame_max || total > CDT_FRAME_RAW_HARD_MAX)
		return cdt_corrupt(why, "frame holds more than a frame can");
	if (fi->codec == CDT_CODEC_RAW && fi->payload_len != total)
		return cdt_corrupt(why, "raw frame has the wrong length");
	fi->raw_total = total;
	fi->payload = obj + hdr;
	fi->obj_len = hdr + fi->payload_len;
	return 0;
}

void cdt_frame_chunk(const struct cdt_frame_info *fi, uint32_t i, uint32_t *off, uint32_t *len)
{
	uint32_t k, o = 0;

	for (k = 0; k < i; k++)
		o += get_le32(fi->lens + 4 * (size_t)k);
	*off = o;
	*len = get_le32(fi->lens + 4 * (size_t)i);
}

int cdt_frame_decode(struct cdt_decompressor *d, const struct cdt_frame_info *fi,
		     unsigned char *out, struct strbuf *why)
{
	if (fi->codec == CDT_CODEC_RAW) {
		memcpy(out, fi->payload, fi->payload_len);
		return 0;
	}
	if (cdt_decompress(d, fi->codec, fi->payload, fi->payload_len, out, fi->raw_total) < 0)
		return cdt_corrupt(why, "compressed frame does not decode to the stated length");
	return 0;
}
