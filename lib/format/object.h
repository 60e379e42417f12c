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
