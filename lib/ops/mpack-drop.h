/* mpack-drop.h: manifest packs written again without the manifests no name uses, or without damaged ones (by rm, gc and repair). */
#ifndef CDT_MPACK_DROP_H
#define CDT_MPACK_DROP_H

#include <stdint.h>
#include "base/hash.h"

struct cdt_store;

struct cdt_mpack_drop_ops {
	/* Is the manifest of this content id to go? */
	int (*is_dead)(const struct cdt_id *id, void *data);
	/* A manifest that went (ok), or that was to go and is still there (!ok). */
	void (*dropped)(const struct cdt_id *id, uint64_t len, int ok, void *data);
	/* A pack that cannot be read, or is left for repair: nothing in it is dropped. */
	void (*unreadable)(const char *name, const char *why, void *data);
	/* A damaged pack that goes (CDT_MPACK_DROP_UNUSABLE). */
	void (*damaged_gone)(const char *name, const char *why, uint64_t bytes, void *data);
	/*
	 * A pack written again as `fresh` (the same name when only its
	 * checksum was damaged), or removed (fresh NULL). NULL: not told.
	 */
	void (*replaced)(const char *name, const char *fresh, void *data);
};

/* Only say what would go. */
#define CDT_MPACK_DROP_DRY 1
/*
 * Also a pack that does not match its checksum: written again with its
 * used manifests that are whole, when each damaged one it holds that a
 * name uses reads whole from elsewhere (else it stays, for repair).
 */
#define CDT_MPACK_DROP_DAMAGED 2
/*
 * Also a pack that does not even open as one (damaged) is removed: the
 * caller found every manifest its names use elsewhere (gc's mark).
 */
#define CDT_MPACK_DROP_UNUSABLE 4

/*
 * Each manifest pack holding a manifest to go is written again without it
 * (or removed, when none stays), the new pack durable before the old one
 * goes. The caller holds the store's exclusive lock; readers that mapped
 * the old pack look again when they miss. flags: CDT_MPACK_DROP_*.
 * 0, or the first failure (said: a pack not written or removed, the
 * rest carried on; or manifests/pack/ not listed).
 */
int cdt_mpacks_drop(struct cdt_store *s, const struct cdt_mpack_drop_ops *ops, void *data,
		    unsigned flags);

#endif
