/* packset.h: the packs of a store as one set: listing, the multi-pack index, finding a chunk, checking. */
#ifndef CDT_PACKSET_H
#define CDT_PACKSET_H

#include <stddef.h>
#include <stdint.h>
#include "base/hash.h"
#include "base/strbuf.h"
#include "format/store.h"

struct cdt_pack;

/*
 * The packs of the store, listed again if packs/ changed, as an array the
 * caller frees; the packs themselves stay valid until the store is closed.
 * Returns how many there are.
 */
size_t cdt_packs_list(struct cdt_store *s, struct cdt_pack ***out);
/* Write the multi-pack index over every pack (or remove it below two packs). 0 or -errno. */
int cdt_packs_write_midx(struct cdt_store *s);
/*
 * How many pack indexes could not be read (an I/O error, not damage) since
 * the store was opened: lookups missed what their packs hold.
 */
size_t cdt_packs_unreadable(struct cdt_store *s);
/*
 * 0, or -errno when the last listing of packs/ failed: the packs listed
 * and lookups may then lack some that are there.
 */
int cdt_packs_list_error(struct cdt_store *s);
/*
 * 0, or -errno when the last listing of packs/ met a pack index it could
 * not read (an I/O error, not damage), whose pack's name is then added to
 * name (if not NULL): the chunks of that pack are unknown, not missing.
 * Such an index is opened again by a later lookup (after some lookups or
 * seconds); once it reads, this says 0 again.
 */
int cdt_packs_index_error(struct cdt_store *s, struct strbuf *name);
/* Returns how many packs the multi-pack index does not cover (all, without one). */
size_t cdt_packs_uncovered(struct cdt_store *s);

/*
 * The pack (and entry) where a read would look first for id: through the
 * multi-pack index, then the packs it does not cover (listing packs/ again
 * if it changed). Returns 1, or 0 if in no pack.
 */
int cdt_chunk_locate(struct cdt_store *s, const struct cdt_id *id, struct cdt_pack **pack,
		     uint64_t *index);
/*
 * Is id in a pack already known (listed before; packs/ is listed only the
 * first time)? 1, with the pack and entry in *pack and *index if they are
 * not NULL, or 0: a 0 says nothing about packs made since.
 */
int cdt_chunk_locate_known(struct cdt_store *s, const struct cdt_id *id, struct cdt_pack **pack,
			   uint64_t *index);

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
	CDT_PACKFILE_SKETCH,	/* a pack's sketch file (format/sketch.h), its pack there */
	CDT_PACKFILE_SKETCH_NO_PACK,	/* a sketch file whose pack is gone */
	CDT_PACKFILE_MIDX,	/* the multi-pack index */
	CDT_PACKFILE_STRAY,	/* not part of the format */
};
typedef int (*cdt_packfile_fn)(const char *file, const char *pack, enum cdt_pack_file kind,
			       void *data);
int cdt_packs_walk_files(struct cdt_store *s, cdt_packfile_fn fn, void *data);

/*
 * Remove pack `name` ("pack-<64 hex>"): its index first, so that there is
 * never an index without its pack, then its sketch and the pack file (a
 * pack file left by a failure there is found again as a pack without an
 * index). The caller syncs packs/. 0, or -errno if the index stays.
 */
int cdt_pack_remove_files(struct cdt_store *s, const char *name);

/*
 * Check the indexes that lookups trust before anything relies on them to
 * delete: every pack's index on its own terms (cdt_pack_check_index()) and
 * the multi-pack index's checksum. With `fix`, a pack whose index is
 * missing or damaged is indexed again from its own objects when the whole
 * pack checks (the bases of its deltas read from the pack, else `bases`), and a damaged multi-pack index is removed (lookups search
 * pack by pack until it is written again); packs are then listed afresh.
 * An index that cannot be read (an I/O error, not damage) is left as it
 * is: it may be good. fn gets each pack (or the multi-pack index) that
 * was not fine. Returns the number of packs left without a usable index (what they hold is unknown:
 * nothing that may be in them can be deleted), or -errno.
 */
enum cdt_pack_state {
	CDT_PACK_REINDEXED,	/* its index was missing or damaged; written again */
	CDT_PACK_NEEDS_INDEX,	/* the same, not fixed (fix not asked) */
	CDT_PACK_UNUSABLE,	/* index missing or damaged, and the pack does not check */
	CDT_PACK_MIDX_DAMAGED,	/* the multi-pack index's checksum fails */
	CDT_PACK_MIDX_REMOVED,	/* ... and it was removed */
	CDT_PACK_INDEX_UNREADABLE,	/* its index cannot be read (an I/O error): left as it is */
	CDT_PACK_UNREADABLE,	/* index missing or damaged, and the pack cannot be read (an I/O error) */
};
typedef void (*cdt_pack_check_fn)(const char *name, enum cdt_pack_state st, const char *why,
				  void *data);
struct cdt_base_source;
int cdt_packs_check(struct cdt_store *s, int fix, const struct cdt_base_source *bases,
		    cdt_pack_check_fn fn, void *data);

#endif
