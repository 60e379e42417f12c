/* sketchset.h: the sketch files of every pack, searched as one for a base a new chunk resembles. */
#ifndef CDT_SKETCHSET_H
#define CDT_SKETCHSET_H

#include <stdint.h>
#include "format/sketch.h"
#include "format/store.h"

struct cdt_pack;
struct cdt_sketchset;

/*
 * The sketches of the store's packs, mapped. A pack without a usable
 * sketch file (lost, damaged, of other parameters) offers no bases: that
 * costs compression only, and fsck reports it.
 */
struct cdt_sketchset *cdt_sketchset_new(struct cdt_store *s);
/* Take in the sketches of packs committed since (an add's own packs). */
void cdt_sketchset_refresh(struct cdt_sketchset *ss);
void cdt_sketchset_free(struct cdt_sketchset *ss);
/*
 * A stored chunk that shares a super-feature with sf: its pack and entry,
 * from a pack that ok() accepts (NULL: any). What a sketch says is never
 * trusted: the caller reads the base and checks it. Returns 1, or 0 when
 * none does.
 */
int cdt_sketchset_find(struct cdt_sketchset *ss, const struct cdt_sketch_sf *sf,
		       int (*ok)(const struct cdt_pack *p, void *data), void *data,
		       struct cdt_pack **pack, uint64_t *entry);

/*
 * Make the sketch files right again (gc, repair): a sketch whose pack is
 * gone is removed, and in a store that keeps deltas, a pack of version 2
 * whose sketch is missing, damaged or of other parameters gets a new one,
 * computed from its chunks that are stored whole and read back good. fn
 * (optional) hears of each file fixed. With dry_run, only fn is called.
 * Returns how many files were (or would be) fixed, or -errno.
 */
enum cdt_sketch_fix {
	CDT_SKETCH_REMOVED,	/* a sketch whose pack is gone */
	CDT_SKETCH_REBUILT,	/* a pack's missing or damaged sketch, written again */
};
typedef void (*cdt_sketch_fix_fn)(const char *pack, enum cdt_sketch_fix what, void *data);
int cdt_sketches_fix(struct cdt_store *s, int dry_run, cdt_sketch_fix_fn fn, void *data);

#endif
