/* batch.h: staging new chunks and committing them as a pack or as loose objects. */
#ifndef CDT_BATCH_H
#define CDT_BATCH_H

#include <stddef.h>
#include <stdint.h>
#include "base/hash.h"
#include "format/store.h"

struct strbuf;

/*
 * Chunks are staged, then committed together: a batch of more than a few
 * becomes a pack file, a small one loose objects. Either way one syncfs
 * makes their data durable, and only then do they get their final names
 * (a loose object never replacing one that exists). So a chunk that can
 * be found is always complete and durable, and an add that finds it can
 * trust it.
 */
struct cdt_chunk_batch;
/* Returns a new, empty batch for s. */
struct cdt_chunk_batch *cdt_chunk_batch_new(struct cdt_store *s);
/* Staged and not yet committed? Lets an add skip duplicates within a batch. 1 or 0. */
int cdt_chunk_batch_has(struct cdt_chunk_batch *b, const struct cdt_id *id);
/* Returns the number of staged chunks. */
size_t cdt_chunk_batch_count(struct cdt_chunk_batch *b);
/* Returns the stored bytes of the staged chunks. */
uint64_t cdt_chunk_batch_bytes(struct cdt_chunk_batch *b);
/* Stage an encoded object under id. 0 or -errno (reported). */
int cdt_chunk_batch_stage(struct cdt_chunk_batch *b, const struct cdt_id *id,
			  const void *obj, size_t obj_len);
/* Will n more chunks go into a pack (rather than loose objects)? */
int cdt_chunk_batch_packs(struct cdt_chunk_batch *b, size_t n);
/*
 * From now on every commit of b is a pack, however few chunks it holds
 * (gc --recompress: a loose object is not the form it converts to).
 */
void cdt_chunk_batch_pack_always(struct cdt_chunk_batch *b);
/*
 * Stage a frame (cdt_frame_encode()) holding the chunks ids[0..n), none of
 * them staged before; the batch becomes a pack if it was not one. 0 or
 * -errno (reported).
 */
int cdt_chunk_batch_stage_frame(struct cdt_chunk_batch *b, const struct cdt_id *ids, uint32_t n,
				const unsigned char *obj, size_t len);
/*
 * Stage an encoded object under id into the batch's pack, which it starts
 * if need be: for what only a pack may hold (a delta). 0 or -errno (reported).
 */
int cdt_chunk_batch_stage_packed(struct cdt_chunk_batch *b, const struct cdt_id *id,
				 const void *obj, size_t obj_len);
/*
 * The sketch of staged chunk id, for its pack's sketch file (a store with
 * deltas; nothing for a batch that is not a pack).
 */
struct cdt_sketch_sf;
void cdt_chunk_batch_sketch(struct cdt_chunk_batch *b, const struct cdt_id *id,
			    const struct cdt_sketch_sf *sf);
/*
 * Make all staged chunks durable and visible. 0 or -errno (reported).
 * Either way the batch is empty afterwards: after a failure its chunks
 * may not be stored, and must be staged again by whoever needs them.
 */
int cdt_chunk_batch_commit(struct cdt_chunk_batch *b);
/*
 * The name ("pack-<hex>") of the pack the last commit wrote; "" if it
 * wrote none (loose objects, nothing staged, or an error). A pack is named
 * by its checksum: one written again byte for byte has its old name.
 */
const char *cdt_chunk_batch_pack_name(const struct cdt_chunk_batch *b);
/* Drop staged chunks (removing their temporary files) and free. */
void cdt_chunk_batch_free(struct cdt_chunk_batch *b);

/*
 * Write one chunk durably in place of a missing or damaged one: staged,
 * synced, then renamed over the old file, its directory synced. 0 or
 * -errno.
 */
int cdt_chunk_replace(struct cdt_store *s, const struct cdt_id *id,
		      const void *obj, size_t obj_len);
/*
 * The same in two steps, for many chunks at once (repair): write the
 * object to a temporary file, not synced (its name in tmpname); then,
 * after the caller's syncfs, rename it over the loose copy of id (its
 * fan-out directory made if missing). Nothing of the install is synced:
 * the caller syncs the store before it counts on the chunk. Each removes
 * the temporary file when it fails. 0 or -errno.
 */
int cdt_chunk_replace_stage(struct cdt_store *s, const void *obj, size_t obj_len,
			    struct strbuf *tmpname);
int cdt_chunk_replace_install(struct cdt_store *s, const struct cdt_id *id, const char *tmpname);

#endif
