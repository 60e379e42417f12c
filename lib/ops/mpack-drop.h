/* mpack-drop.h: manifest packs written again without the manifests no name uses (by rm and gc). */
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
	/* A pack that cannot be read: nothing in it is dropped. */
	void (*unreadable)(const char *name, const char *why, void *data);
};

/*
 * Each manifest pack holding a manifest to go is written again without it
 * (or removed, when none stays), the new pack durable before the old one
 * goes. The caller holds the store's exclusive lock; readers that mapped
 * the old pack look again when they miss. With `dry`, only told.
 * 0, or the first failure (said: a pack not written or removed, the
 * rest carried on; or manifests/pack/ not listed).
 */
int cdt_mpacks_drop(struct cdt_store *s, const struct cdt_mpack_drop_ops *ops, void *data, int dry);

#endif
