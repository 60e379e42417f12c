/* object.h: one chunk object: its header, its codecs, and decoding checked against its id. */
#ifndef CDT_OBJECT_H
#define CDT_OBJECT_H

#include <stddef.h>
#include <stdint.h>
#include "base/compress.h"
#include "base/hash.h"
#include "base/strbuf.h"

struct cdt_compressor;
struct cdt_decompressor;

/*
 * A chunk object, loose (objects/XX/<62 hex>) or in a pack, is
 *   "CDTC" version(1)=1 codec(1) reserved(2)=0 raw length (LE32)
 *   payload: the raw bytes (codec 0), one zlib stream (codec 1) or one
 *   zstd frame (codec 2)
 * and its id is the SHA-256 of the raw bytes.
 */
#define CDT_OBJ_MAGIC "CDTC"
#define CDT_OBJ_VERSION 1
#define CDT_OBJ_HDR 12

/* Largest object file a chunk of raw_max bytes can need. */
#define CDT_OBJ_MAX(raw_max) ((size_t)(raw_max) + CDT_OBJ_HDR)

/*
 * A frame (object version 2, only ever in a pack of version 2) holds
 * several chunks compressed together, so that the compressor sees each
 * chunk's neighbours:
 *   "CDTC" version(1)=2 codec(1) kind(1)=1 reserved(1)=0
 *   count n (LE32), payload length (LE32)
 *   n x raw length of each chunk (LE32), in the order of the payload
 *   payload: the chunks' raw bytes one after the other, compressed as one
 *   zlib stream or zstd frame (or raw, codec 0)
 * A chunk's ids is the SHA-256 of its own raw bytes, as ever; the pack's
 * index says which part of which frame holds it.
 */
#define CDT_FRAME_VERSION 2
#define CDT_FRAME_KIND 1
#define CDT_FRAME_HDR 16
#define CDT_FRAME_MAX_CHUNKS 65536u
/* No frame holds more raw bytes than this, whatever a store's frame size. */
#define CDT_FRAME_RAW_HARD_MAX (32u << 20)
/*
 * Is a frame that holds n chunks of raw bytes in all closed, in a store of
 * this frame size? add's plan (ingest.c) and its reader ahead (ahead.c)
 * cut frames by it alike.
 */
static inline int cdt_frame_full(uint64_t raw, uint64_t n, uint32_t frame_size)
{
	return raw >= frame_size || n >= CDT_FRAME_MAX_CHUNKS;
}

/* Largest frame object for n chunks of raw_total bytes in all. */
#define CDT_FRAME_MAX(raw_total, n) ((size_t)CDT_FRAME_HDR + 4 * (size_t)(n) + (size_t)(raw_total))

/*
 * Encode n chunks, whose raw bytes lie one after the other in `raw`
 * (lens[i] bytes each), as one frame with `c` (raw when that does not
 * shrink them, or c is NULL). `out` holds CDT_FRAME_MAX(sum, n) bytes.
 * Returns the frame's size.
 */
size_t cdt_frame_encode(struct cdt_compressor *c, const unsigned char *raw, const uint32_t *lens,
			uint32_t n, unsigned char *out);

/* A frame's header, parsed and checked (cdt_frame_parse()). */
struct cdt_frame_info {
	enum cdt_codec codec;
	uint32_t n;
	const unsigned char *lens;	/* n x LE32 */
	const unsigned char *payload;
	size_t payload_len;
	uint64_t raw_total;
	size_t obj_len;			/* header, lengths and payload */
};
/*
 * Parse the frame that starts obj (avail bytes, which may go on past its
 * end): magic, version, kind, reserved byte, count, every chunk length
 * (1..raw_max) and their sum (at most frame_max), and that the payload
 * fits. 0 or -CDT_ECORRUPT (reason in why).
 */
int cdt_frame_parse(const unsigned char *obj, size_t avail, uint32_t raw_max, uint64_t frame_max,
		    struct cdt_frame_info *fi, struct strbuf *why);
/* Raw offset and length of chunk i of a parsed frame. */
void cdt_frame_chunk(const struct cdt_frame_info *fi, uint32_t i, uint32_t *off, uint32_t *len);
/*
 * Decode a parsed frame's payload into out (fi->raw_total bytes): exactly
 * that many bytes, all of the payload used. 0 or -CDT_ECORRUPT.
 */
int cdt_frame_decode(struct cdt_decompressor *d, const struct cdt_frame_info *fi,
		     unsigned char *out, struct strbuf *why);
/* Is obj (len bytes) a frame rather than a one-chunk object? */
int cdt_object_is_frame(const unsigned char *obj, size_t len);

/*
 * A delta (object version 2, kind 2, only ever in a pack of version 2)
 * holds one chunk compressed against another stored chunk, its base,
 * which is never itself a delta (so a read decodes at most two objects):
 *   "CDTC" version(1)=2 codec(1)=2 (zstd) kind(1)=2 reserved(1)=0
 *   raw length (LE32), payload length (LE32), base length (LE32)
 *   base id (32)
 *   payload: one zstd frame whose window starts with the base's bytes
 * The chunk's id is the SHA-256 of its own raw bytes, checked after decoding.
 */
#define CDT_DELTA_KIND 2
#define CDT_DELTA_HDR 52
#define CDT_DELTA_MAX(raw_len) ((size_t)(raw_len) + CDT_DELTA_HDR)

/*
 * Encode data (len bytes) as a delta against base (base_len bytes, whose
 * id is base_id) into out, which holds cap bytes. Returns the delta's
 * size, or 0 when it would not fit in cap (or c is not zstd): then the
 * chunk is better stored on its own.
 */
size_t cdt_delta_encode(struct cdt_compressor *c, const struct cdt_id *base_id,
			const unsigned char *base, uint32_t base_len, const unsigned char *data,
			uint32_t len, unsigned char *out, size_t cap);

/* A delta's header, parsed and checked (cdt_delta_parse()). */
struct cdt_delta_info {
	uint32_t raw_len;
	uint32_t base_len;
	struct cdt_id base;
	const unsigned char *payload;
	size_t payload_len;
	size_t obj_len;			/* header and payload */
};
/*
 * Parse the delta that starts obj (avail bytes, which may go on past its
 * end): magic, version, codec, kind, reserved byte, both lengths (1..raw_max)
 * and that the payload fits. 0 or -CDT_ECORRUPT (reason in why).
 */
int cdt_delta_parse(const unsigned char *obj, size_t avail, uint32_t raw_max,
		    struct cdt_delta_info *di, struct strbuf *why);
/*
 * Decode a parsed delta against its base's bytes (di->base_len of them,
 * already checked against di->base) into out (di->raw_len bytes) and check
 * the result against id. 0 or -CDT_ECORRUPT (reason in why).
 */
int cdt_delta_decode(struct cdt_decompressor *d, const struct cdt_delta_info *di,
		     const unsigned char *base, const struct cdt_id *id, unsigned char *out,
		     struct strbuf *why);
/* Is obj (len bytes) a delta? */
int cdt_object_is_delta(const unsigned char *obj, size_t len);

/*
 * Encode a chunk: header plus a zlib stream or zstd frame from `c`, or plus the raw bytes
 * when compression does not shrink them (or c is NULL). `out` must hold
 * CDT_OBJ_MAX(len) bytes. Returns the object's size.
 */
size_t cdt_object_encode(struct cdt_compressor *c, const void *data, uint32_t len,
			 unsigned char *out);

/*
 * Decode and check an object read from the store: magic, version, codec,
 * raw length (must equal `want_len` unless it is 0, and be at most
 * `raw_max`), the stream, and the SHA-256 of the result against `id`.
 * `out` holds raw_max bytes; the raw length goes to *len. Returns 0 or
 * -CDT_ECORRUPT with a reason in `why` (when not NULL).
 */
int cdt_object_decode(struct cdt_decompressor *d, const struct cdt_id *id,
		      const unsigned char *obj, size_t obj_len, uint32_t want_len,
		      uint32_t raw_max, unsigned char *out, uint32_t *len,
		      struct strbuf *why);

/*
 * Parse the object that starts buf (avail bytes, which may go on past its
 * end), decode it into out (raw_max bytes) and compute its id from its
 * bytes: for reading a pack without trusting, or having, its index.
 * *len gets the raw length and *obj_len the object's. Returns 0 or
 * -CDT_ECORRUPT (reason in `why`).
 */
int cdt_object_parse(struct cdt_decompressor *d, const unsigned char *buf, size_t avail,
		     uint32_t raw_max, unsigned char *out, uint32_t *len, size_t *obj_len,
		     struct cdt_id *id, struct strbuf *why);

#endif
