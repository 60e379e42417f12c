/* objects.h: the chunk object store (loose objects today; packs can join behind it). */
#ifndef CDT_OBJECTS_H
#define CDT_OBJECTS_H

#include <stdint.h>
#include "base/hash.h"
#include "format/store.h"

struct cdt_compressor;
struct cdt_decompressor;

/* Object header: "CDTC", version, codec, 2 reserved bytes, raw length (LE32). */
#define CDT_OBJ_MAGIC "CDTC"
#define CDT_OBJ_VERSION 1
#define CDT_OBJ_HDR 12
enum cdt_codec {
	CDT_CODEC_RAW = 0,
	CDT_CODEC_ZLIB = 1,
};

/* Largest object file a chunk of raw_max bytes can need. */
#define CDT_OBJ_MAX(raw_max) ((size_t)(raw_max) + CDT_OBJ_HDR)

/*
 * Encode a chunk: header plus zlib stream at `level`, or plus the raw bytes
 * when compression does not shrink them. `out` must hold CDT_OBJ_MAX(len)
 * bytes. Returns the object's size.
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
 * *len gets the raw length and *obj_len the object's. 0 or -CDT_ECORRUPT
 * (reason in `why`).
 */
int cdt_object_parse(struct cdt_decompressor *d, const unsigned char *buf, size_t avail,
		     uint32_t raw_max, unsigned char *out, uint32_t *len, size_t *obj_len,
		     struct cdt_id *id, struct strbuf *why);

struct cdt_pack;
struct cdt_packset;
void cdt_packset_free(struct cdt_packset *ps);
/*
 * The packs of the store, listed again if packs/ changed, as an array the
 * caller frees; the packs themselves stay valid until the store is closed.
 */
size_t cdt_packs_list(struct cdt_store *s, struct cdt_pack ***out);
/* Write the multi-pack index over every pack (or remove it below two packs). */
int cdt_packs_write_midx(struct cdt_store *s);
/* How many packs the multi-pack index does not cover (all, without one). */
size_t cdt_packs_uncovered(struct cdt_store *s);

/*
 * The one walk over packs/ (fsck reports, gc and repair fix from it): fn
 * gets each file, with the pack's name ("pack-<64 hex>") for pack files
 * and indexes. A pack with its index is met once (as its .pack); a .pack
 * without an index and an index without its pack each once; the
 * multi-pack index; and anything else as stray. A non-zero return stops
 * the walk and is returned; -errno if packs/ cannot be listed.
 */
enum cdt_pack_file {
	CDT_PACKFILE_PACK,	/* a pack file and its index */
	CDT_PACKFILE_NO_INDEX,	/* a pack file whose index is missing */
	CDT_PACKFILE_NO_PACK,	/* an index whose pack file is missing */
	CDT_PACKFILE_MIDX,	/* the multi-pack index */
	CDT_PACKFILE_STRAY,	/* not part of the format */
};
typedef int (*cdt_packfile_fn)(const char *file, const char *pack, enum cdt_pack_file kind,
			       void *data);
int cdt_packs_walk_files(struct cdt_store *s, cdt_packfile_fn fn, void *data);

/*
 * Check the indexes that lookups trust before anything relies on them to
 * delete: every pack's index on its own terms (cdt_pack_check_index()) and
 * the multi-pack index's checksum. With `fix`, a pack whose index is
 * missing or damaged is indexed again from its own objects when the whole
 * pack checks, and a damaged multi-pack index is removed (lookups search
 * pack by pack until it is written again); packs are then listed afresh.
 * fn gets each pack (or the multi-pack index) that was not fine. Returns the
 * number of packs left without a usable index (what they hold is unknown:
 * nothing that may be in them can be deleted), or -errno.
 */
enum cdt_pack_state {
	CDT_PACK_REINDEXED,	/* its index was missing or damaged; written again */
	CDT_PACK_NEEDS_INDEX,	/* the same, not fixed (fix not asked) */
	CDT_PACK_UNUSABLE,	/* index missing or damaged, and the pack does not check */
	CDT_PACK_MIDX_DAMAGED,	/* the multi-pack index's checksum fails */
	CDT_PACK_MIDX_REMOVED,	/* ... and it was removed */
};
typedef void (*cdt_pack_check_fn)(const char *name, enum cdt_pack_state st, const char *why,
				  void *data);
int cdt_packs_check(struct cdt_store *s, int fix, cdt_pack_check_fn fn, void *data);

/* The pack (and entry) where a read would look first for id: 1, or 0 if in no pack. */
int cdt_chunk_locate(struct cdt_store *s, const struct cdt_id *id, struct cdt_pack **pack,
		     uint64_t *index);

/* Does the store hold chunk `id`, loose or in a pack? 1, 0, or -errno. */
int cdt_chunk_has(struct cdt_store *s, const struct cdt_id *id);

/*
 * Scratch space for reading chunks: one decompressor and a buffer for the
 * stored form. One per thread.
 */
struct cdt_chunk_reader;
struct cdt_chunk_reader *cdt_chunk_reader_new(struct cdt_store *s);
void cdt_chunk_reader_free(struct cdt_chunk_reader *r);

/*
 * Read chunk `id`, check it, and put its bytes in out. want_len is the
 * length the caller expects (0: any); out has room for want_len bytes, or
 * for the store's maximum chunk size when want_len is 0 (a stored length
 * that differs from want_len is refused before anything is written).
 * Returns 0, -ENOENT (missing), -CDT_ECORRUPT (with a reason in `why`), or
 * another -errno.
 */
int cdt_chunk_read(struct cdt_chunk_reader *r, const struct cdt_id *id,
		   uint32_t want_len, unsigned char *out, uint32_t *len,
		   struct strbuf *why);

/* One stored object: loose (pack NULL) or entry `index` of a pack. */
struct cdt_object_info {
	struct cdt_id id;
	uint64_t size;
	struct cdt_pack *pack;
	uint64_t index;
};
typedef int (*cdt_object_fn)(const struct cdt_object_info *o, void *data);
/*
 * Visit every stored object: the loose ones, then each pack's. Strays in
 * objects/ go to stray (see fanout.h). A non-zero return stops the walk.
 */
#ifndef CDT_STRAY_FN
#define CDT_STRAY_FN
typedef int (*cdt_stray_fn)(const char *path, const char *why, void *data);
#endif
int cdt_objects_walk(struct cdt_store *s, cdt_object_fn fn, cdt_stray_fn stray, void *data);

/*
 * Read and check only the loose copy of a chunk (cdt_chunk_read falls back
 * to packed copies when it is damaged): for fsck, which reports a damaged
 * loose copy that a good packed one hides. 0, -ENOENT, -CDT_ECORRUPT.
 */
int cdt_chunk_read_loose(struct cdt_chunk_reader *r, const struct cdt_id *id,
			 uint32_t want_len, unsigned char *out, uint32_t *len,
			 struct strbuf *why);

/* Size in bytes of the stored form of a chunk, or -errno. */
int64_t cdt_chunk_stored_size(struct cdt_store *s, const struct cdt_id *id);

/*
 * Writing. Chunks are staged, then committed together: a batch of more
 * than a few becomes a pack file, a small one loose objects. Either way one
 * syncfs makes their data durable, and only then do they get their final
 * names (a loose object never replacing one that exists). So a chunk that
 * can be found is always complete and durable, and an add that finds it
 * can trust it.
 */
struct cdt_chunk_batch;
struct cdt_chunk_batch *cdt_chunk_batch_new(struct cdt_store *s);
/* Staged and not yet committed? Lets an add skip duplicates within a batch. */
int cdt_chunk_batch_has(struct cdt_chunk_batch *b, const struct cdt_id *id);
/* Number and stored bytes of staged chunks. */
size_t cdt_chunk_batch_count(struct cdt_chunk_batch *b);
uint64_t cdt_chunk_batch_bytes(struct cdt_chunk_batch *b);
/* Stage an encoded object under id. 0 or -errno (reported). */
int cdt_chunk_batch_stage(struct cdt_chunk_batch *b, const struct cdt_id *id,
			  const void *obj, size_t obj_len);
/* Make all staged chunks durable and visible. 0 or -errno (reported). */
int cdt_chunk_batch_commit(struct cdt_chunk_batch *b);
/* Drop staged chunks (removing their temporary files) and free. */
void cdt_chunk_batch_free(struct cdt_chunk_batch *b);

/*
 * Write one chunk durably in place of a missing or damaged one (repair):
 * staged, synced, then renamed over the old file. 0 or -errno.
 */
int cdt_chunk_replace(struct cdt_store *s, const struct cdt_id *id,
		      const void *obj, size_t obj_len);

#endif
