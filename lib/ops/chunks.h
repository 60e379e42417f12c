/* chunks.h: reading a chunk wherever it is stored (loose first, any good packed copy), checked against its id. */
#ifndef CDT_CHUNKS_H
#define CDT_CHUNKS_H

#include <stdint.h>
#include "base/hash.h"
#include "base/strbuf.h"
#include "format/store.h"
#include "format/pack.h"

struct cdt_pack;

/* Does the store hold chunk `id`, loose or in a pack? 1, 0, or -errno. */
int cdt_chunk_has(struct cdt_store *s, const struct cdt_id *id);

struct cdt_chunk_reader;
/*
 * Does the store hold a copy of chunk `id` (of `len` bytes) that a reader
 * can use? A loose copy is read and checked (buf holds len bytes): one
 * that is damaged does not count, so that an add stores the chunk again
 * instead of naming data that cannot be read back. A packed copy is taken
 * on its index's word (its CRC is checked when it is read). 1, 0 or -errno.
 */
int cdt_chunk_has_good(struct cdt_chunk_reader *r, const struct cdt_id *id, uint32_t len,
		       unsigned char *buf);
/*
 * Is the content `id` (of `size` bytes) in r's store as an add may name it
 * without reading it: its manifest, of that size, and every chunk it lists
 * (cdt_chunk_has_good(), with buf of the store's largest chunk)? A manifest
 * alone proves nothing: one that no name uses may outlive its chunks (a gc
 * stopped half way). 1, 0 or -errno.
 */
int cdt_content_stored(struct cdt_store *s, struct cdt_chunk_reader *r, unsigned char *buf,
		       const struct cdt_id *id, uint64_t size);

/* Returns the size in bytes of the stored form of a chunk, or -errno. */
int64_t cdt_chunk_stored_size(struct cdt_store *s, const struct cdt_id *id);

/*
 * Scratch space for reading chunks: one decompressor and a buffer for the
 * stored form. One per thread.
 */
struct cdt_chunk_reader;
/* Returns a new reader for the chunks of s (free it with cdt_chunk_reader_free()). */
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

/*
 * Read entry `index` of pack p, and only that copy, checked against the
 * id the index gives it (out holds the store's largest chunk): for
 * rewriting a damaged pack. 0 or -CDT_ECORRUPT (why) or -errno.
 */
struct cdt_pack;
int cdt_chunk_read_entry(struct cdt_chunk_reader *r, struct cdt_pack *p, uint64_t index,
			 unsigned char *out, uint32_t *len, struct strbuf *why);

/*
 * The same, for the base of a delta: a copy that is itself a delta is
 * refused (-CDT_ECORRUPT), so that no read decodes more than two objects.
 */
int cdt_chunk_read_base_entry(struct cdt_chunk_reader *r, struct cdt_pack *p, uint64_t index,
			      unsigned char *out, uint32_t *len, struct strbuf *why);
/*
 * Read chunk id as the base of a delta: len bytes, checked, from a copy
 * stored whole (loose, or packed and not itself a delta). 0, -ENOENT,
 * -CDT_ECORRUPT (why) or -errno.
 */
int cdt_chunk_read_base(struct cdt_chunk_reader *r, const struct cdt_id *id, uint32_t len,
			unsigned char *out, struct strbuf *why);
/*
 * Reading bases of deltas through r (never a delta), for scanning a pack
 * without its index (cdt_pack_scan()).
 */
struct cdt_base_source;
struct cdt_base_source cdt_chunk_base_source(struct cdt_chunk_reader *r);

/*
 * Read and check only the loose copy of a chunk (cdt_chunk_read falls back
 * to packed copies when it is damaged): for fsck, which reports a damaged
 * loose copy that a good packed one hides. 0, -ENOENT, -CDT_ECORRUPT.
 */
int cdt_chunk_read_loose(struct cdt_chunk_reader *r, const struct cdt_id *id,
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
 * objects/ go to stray (see fanout.h). A non-zero return stops the walk
 * and is returned; 0 when every object was visited, or -errno.
 */
#ifndef CDT_STRAY_FN
#define CDT_STRAY_FN
typedef int (*cdt_stray_fn)(const char *path, const char *why, void *data);
#endif
int cdt_objects_walk(struct cdt_store *s, cdt_object_fn fn, cdt_stray_fn stray, void *data);

#endif
