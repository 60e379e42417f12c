/* remove.h: removing stored names, and the manifests that lose their last name. */
#ifndef CDT_REMOVE_H
#define CDT_REMOVE_H

#include <stdint.h>
#include "store.h"

struct cdt_remove_result {
	uint64_t names;			/* names removed */
	uint64_t manifests;		/* manifests that lost their last name, removed */
	uint64_t chunks;		/* chunks no live manifest lists any more */
	uint64_t reclaimable_bytes;	/* their stored size: what gc will free */
};

struct cdt_remover;
/* The caller holds the exclusive lock for the remover's whole life. */
int cdt_remover_new(struct cdt_store *s, struct cdt_remover **out);
void cdt_remover_free(struct cdt_remover *r);

/*
 * Remove `name` durably. When its manifest has no other live name, remove
 * the manifest too (its chunk references die with it) and count the chunks
 * that no other live manifest lists as reclaimable. Costs time in
 * proportion to the manifest's chunks and names, not to the store.
 * Returns 0, -ENOENT (no such name) or -errno (reported).
 */
int cdt_remove_name(struct cdt_remover *r, const char *name, struct cdt_remove_result *res);

#endif
