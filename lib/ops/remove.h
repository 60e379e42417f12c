/* remove.h: removing stored names, and the manifests that lose their last name. */
#ifndef CDT_REMOVE_H
#define CDT_REMOVE_H

#include <stdint.h>
#include "format/store.h"

struct cdt_remove_result {
	uint64_t names;			/* names removed */
	uint64_t manifests;		/* manifests that lost their last name, removed */
	uint64_t chunks;		/* chunks no live manifest lists any more */
	uint64_t reclaimable_bytes;	/* their stored size: what gc will free */
	/*
	 * Dropped manifests whose chunks could not all be counted (a read
	 * error, reported): chunks and reclaimable_bytes are then unknown.
	 */
	uint64_t uncounted;
};

/*
 * Removing names is two steps: cdt_remove_name() for each name, then one
 * cdt_remover_finish() for them all. Name records (derived data) only
 * show quickly that another name still uses a manifest; that no name does
 * is decided from the name entries themselves, by one walk of names/ in
 * cdt_remover_finish(), however many names were removed.
 */
struct cdt_remover;
/* The caller holds the exclusive lock for the remover's whole life. */
int cdt_remover_new(struct cdt_store *s, struct cdt_remover **out);
void cdt_remover_free(struct cdt_remover *r);

/*
 * Remove `name` durably, and its name record. When no other name is found
 * to use its manifest (through the manifest's name records, each confirmed
 * by the name's entry), the manifest becomes a candidate for
 * cdt_remover_finish(). A damaged entry is removed too (with a warning);
 * what it used is left to gc. Returns 0, -ENOENT (no such name) or -errno
 * (reported).
 */
int cdt_remove_name(struct cdt_remover *r, const char *name, struct cdt_remove_result *res);

/*
 * Settle the candidates: walk names/ once, and remove each candidate
 * manifest that no name entry uses (its chunk references die with it),
 * counting the chunks that no other manifest lists as reclaimable (a
 * manifest or chunk that cannot be read for that is warned about and
 * counted in res->uncounted; the manifest goes all the same). When a
 * name entry cannot be read, it may use any of them, so all are kept (with
 * a warning) for gc, which marks from the names, to judge. Without
 * candidates nothing is read. Returns 0, or -errno when names/ cannot be
 * walked (reported; the manifests are kept, the names stay removed).
 */
int cdt_remover_finish(struct cdt_remover *r, struct cdt_remove_result *res);

#endif
