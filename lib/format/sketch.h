/* sketch.h: resemblance sketches of chunks, and the per-pack sketch files that find a similar stored chunk. */
#ifndef CDT_SKETCH_H
#define CDT_SKETCH_H

#include <stddef.h>
#include <stdint.h>
#include "base/hash.h"
#include "base/strbuf.h"

/*
 * A chunk's sketch is CDT_SKETCH_SF super-features. Twelve features are
 * each the largest value of a_i * fp + b_i over the chunk, fp a gear
 * rolling hash sampled where its low 6 bits are zero (about one byte in
 * 64); each super-feature mixes four of them. Two chunks that differ by a
 * small edit share most features, and so most likely one super-feature;
 * unrelated chunks almost never share one. A new chunk that shares a
 * super-feature with a stored base is tried as a delta against it
 * (object.h), and kept as one only when that is clearly smaller.
 *
 * Sketches are derived data: a wrong one costs compression, never
 * correctness (a delta is decoded and hashed on every read), and they can
 * be computed again from the chunks.
 */
#define CDT_SKETCH_SF 3
/* The feature parameters: a sketch file of other parameters is ignored. */
#define CDT_SKETCH_PARAMS 1

struct cdt_sketch_sf {
	uint64_t sf[CDT_SKETCH_SF];
};

/* The sketch of len bytes. Never 0 in any super-feature. */
void cdt_sketch_compute(const unsigned char *p, size_t len, struct cdt_sketch_sf *out);

/*
 * packs/pack-<H>.sketch: the sketches of the base chunks of pack H (those
 * that are not deltas), for finding a base by super-feature:
 *   "CDTS" version(1)=1 params(1) reserved(2)=0 count n (LE64)
 *   the pack's checksum (32), as in its name
 *   n x { super-feature (LE64), entry of the chunk in the pack's index (LE32) },
 *     sorted by super-feature, then entry
 *   checksum (32): SHA-256 of every byte before it
 */
#define CDT_SKETCH_MAGIC "CDTS"
#define CDT_SKETCH_VERSION 1
#define CDT_SKETCH_HDR 48
#define CDT_SKETCH_REC 12
/* Entries of a pack a sketch file can describe (as many as a pack holds). */
#define CDT_SKETCH_MAX_ENTRIES (1u << 26)

struct cdt_sketch_rec {
	uint64_t sf;
	uint32_t entry;
};

/* A mapped sketch file. */
struct cdt_sketch {
	const unsigned char *map;
	size_t map_len;
	uint64_t count;
	const unsigned char *recs;
};

/*
 * Map packs/<pack>.sketch and check its shape: magic, version, reserved
 * bytes, length, that it belongs to the pack named `pack`, and that every
 * entry is below `entries` (the pack's count). Its checksum and order are
 * fsck's to check (cdt_sketch_check()): a lookup never trusts what it
 * finds. 0, -ENOENT, -CDT_ECORRUPT (why; also for other parameters) or -errno.
 */
int cdt_sketch_open(int packsfd, const char *pack, uint64_t entries, struct cdt_sketch *sk,
		    struct strbuf *why);
void cdt_sketch_close(struct cdt_sketch *sk);
/* The checksum and the order of the records. 0 or -CDT_ECORRUPT (why). */
int cdt_sketch_check(const struct cdt_sketch *sk, struct strbuf *why);
/* Record i. */
void cdt_sketch_get(const struct cdt_sketch *sk, uint64_t i, struct cdt_sketch_rec *rec);
/* The entry of the first record with super-feature sf, or -1. */
int64_t cdt_sketch_find(const struct cdt_sketch *sk, uint64_t sf);

/*
 * Write a sketch file for the pack whose checksum is pack_sum from recs
 * (n of them, sorted here) into a temporary file in tmpfd, finished with
 * `flags` (csum-file.h); the caller renames it to packs/pack-<H>.sketch
 * and frees it. 0 or -errno.
 */
struct cdt_csum_file;
int cdt_sketch_write(int tmpfd, struct cdt_sketch_rec *recs, size_t n,
		     const struct cdt_id *pack_sum, unsigned flags, struct cdt_csum_file **out);

#endif
