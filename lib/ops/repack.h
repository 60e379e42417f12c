/* repack.h: rewriting packs without their dead objects and packing loose chunks (gc). */
#ifndef CDT_REPACK_H
#define CDT_REPACK_H

#include <stddef.h>
#include <stdint.h>
#include "base/hash.h"
#include "ops/mark.h"
#include "format/store.h"

/*
 * Which packs gc rewrites: a pack none of whose objects is live, one whose
 * dead objects pass REPACK_DEAD of its bytes, and small packs (merged when
 * there is more than one, or loose chunks to pack with them).
 */
struct cdt_repack_plan {
	size_t n;
	struct cdt_pack **packs;
	unsigned char *rewrite;
	uint64_t *live_bytes, *total_bytes, *live_count;
	uint64_t dead_objects, dead_bytes;	/* in the packs to rewrite, by their indexes */
};
void cdt_repack_plan(struct cdt_store *s, struct cdt_live *l, size_t nloose,
		     struct cdt_repack_plan *plan);
void cdt_repack_plan_release(struct cdt_repack_plan *plan);

struct cdt_repack_result {
	uint64_t chunks, chunk_bytes;	/* dead objects dropped, and their stored bytes */
	uint64_t packs_written, packs_removed;
	uint64_t loose_packed;		/* live loose chunks now in a pack */
};

/*
 * Carry out the plan (under the exclusive lock). No object is dropped on
 * the word of an index: each one an index calls dead is decoded and hashed
 * first, and one whose bytes are a live chunk no lookup finds is kept (an
 * object that cannot be decoded is kept while any live chunk is missing).
 * Packs with nothing live go first, so that space is freed before any is
 * needed; then the rest are rewritten into packs of at most half the free
 * space (and at most 512 MiB), each made durable before the packs (and
 * loose chunks) it holds the live objects of are removed. So gc never
 * needs more free space than one output pack, and a full disk stops it
 * having kept what it freed. `loose` lists the live loose chunks to pack.
 * say() gets each pack removed ("removing"/"would remove" is the caller's).
 * progress(), when set, is called often while packs are written (as
 * often as every object: the caller limits what it shows) with the bytes
 * gone through of the total known before the first is read: the stored
 * bytes of the packs to rewrite and the bytes of the live loose chunks.
 * 0 or -errno (reported).
 */
int cdt_repack(struct cdt_store *s, struct cdt_live *l, const struct cdt_repack_plan *plan,
	       const struct cdt_id *loose, size_t nloose, int dry_run,
	       void (*say)(const char *what, const char *item, uint64_t bytes, void *data),
	       void (*progress)(uint64_t done, uint64_t total, void *data),
	       void *data, struct cdt_repack_result *res);

#endif
