/* mark.h: what the live names need, marked where it is stored (for gc and stats). */
#ifndef CDT_MARK_H
#define CDT_MARK_H

#include <stddef.h>
#include <stdint.h>
#include "base/idset.h"
#include "format/store.h"

struct cdt_pack;

/*
 * Marked from the primary records only: the name entries under names/,
 * the manifests they use, and the bases that the live deltas name (a
 * delta's header, read from its pack, not any index or sketch). Chunks are marked where lookups find them: a bit
 * per pack entry (the pack's `mark`) and a set of the few loose ones, so
 * the mark costs about a bit per packed chunk, not an id per chunk.
 */
struct cdt_live {
	struct cdt_store *store;
	struct cdt_idset manifests;	/* content ids used by names */
	struct cdt_idset records;	/* cdt_live_record_key() of live name records */
	struct cdt_idset loose_all;	/* every loose object (value: stored size) */
	struct cdt_idset loose_live;	/* live loose chunks (value: raw length) */
	struct cdt_idset missing;	/* live chunks no lookup finds */
	struct cdt_pack **marked;	/* packs whose mark bitmaps were allocated */
	size_t nmarked, marked_alloc;
	/*
	 * Chunks held by more than one pack (cdt_live_chunk() finds them on
	 * its first call), or every chunk when an index is out of order.
	 */
	struct cdt_idset dups;
	int dups_known, dups_all;
	uint64_t chunks, unique;	/* distinct live chunks found, and their raw bytes */
	uint64_t deltas;		/* of those, stored as deltas (the marked copy) */
	uint64_t delta_raw, delta_stored;	/* their raw bytes, and the deltas' */
	uint64_t bases, base_bytes;	/* chunks live only as the base of a live delta */
	uint64_t names, logical;
	uint64_t good_manifests;	/* live manifests that read back intact */
	uint64_t damaged;		/* names or live manifests that could not be read */
	uint64_t unreadable;		/* of those, the ones an I/O error hid (not damaged) */
	/* cdt_live_mark_names(): which names count (NULL: all). */
	int (*take)(const char *name, void *data);
	void *take_data;
};

/*
 * Mark what the names need (errors and damage are reported; damage is
 * counted in l->damaged, an entry an I/O error hid in l->unreadable too,
 * and then what is live is not fully known).
 * 0 or -errno. Release with cdt_live_release() in any case.
 */
int cdt_live_mark(struct cdt_store *s, struct cdt_live *l);
/*
 * Mark what some of the names need, as cdt_live_mark() does for all: the
 * names under `under` (a stored name or directory of them; NULL: every
 * name) for which take(name, data) is non-zero (take NULL: all of them).
 * Chunks are marked in the copies cdt_live_mark() would mark, so marking
 * two sets of names that together are all of them marks, between them,
 * exactly what cdt_live_mark() does.
 */
int cdt_live_mark_names(struct cdt_store *s, const char *under,
			int (*take)(const char *name, void *data), void *data, struct cdt_live *l);
void cdt_live_release(struct cdt_live *l);

/* Is entry i of pack p the marked copy of a live chunk? */
int cdt_live_packed(const struct cdt_pack *p, uint64_t i);
/* Is chunk id live (listed by a live manifest), wherever it is stored? */
int cdt_live_chunk(struct cdt_live *l, const struct cdt_id *id);
/*
 * A pack was written since the mark (its chunks unmarked): which chunks
 * more than one pack holds is learned again, so that cdt_live_chunk()
 * does not call a live chunk's new copy its only one, and dead.
 */
void cdt_live_packs_changed(struct cdt_live *l);
/*
 * Pack `name` was written since the mark with live chunks only (gc saves
 * there the live chunks of a damaged pack): every entry of it is marked,
 * so that it is not taken for a pack with nothing live, and rewritten.
 * As cdt_live_packs_changed() does, what is held twice is learned again.
 */
void cdt_live_mark_pack(struct cdt_live *l, const char *name);
/* The key of the name record (manifest m, SHA-256 of the name nh) in l->records. */
void cdt_live_record_key(const struct cdt_id *m, const struct cdt_id *nh, struct cdt_id *out);

#endif
