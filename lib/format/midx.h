/* midx.h: the multi-pack index: one sorted id table over many packs. */
#ifndef CDT_MIDX_H
#define CDT_MIDX_H

#include <stddef.h>
#include <stdint.h>
#include "base/hash.h"
#include "format/store.h"

struct cdt_pack;

/*
 * packs/multi-pack-index: with many packs, looking for an id that no pack
 * holds (the common case while new data is added) would otherwise search
 * every pack's index. It is derived data, replaced atomically, and ignored
 * when any pack it names is gone.
 *   "CDTX" version(1)=1 reserved(3)=0 npacks(LE32) reserved(LE32)=0
 *   count (LE64)
 *   npacks x pack checksum (32): the packs, as in their names
 *   fan-out: 256 x LE32 (as in a pack index)
 *   count x id (32), sorted, no duplicates
 *   count x { pack number (LE32), entry in that pack's index (LE32) }
 *   checksum (32): SHA-256 of every byte before it
 */
#define CDT_MIDX_MAGIC "CDTX"
#define CDT_MIDX_VERSION 1
#define CDT_MIDX_NAME "multi-pack-index"

struct cdt_midx {
	const unsigned char *map;
	size_t map_len;
	uint32_t npacks;
	uint64_t count;
	const unsigned char *packs;	/* npacks x 32 */
	const unsigned char *fanout;
	const unsigned char *ids;
	const unsigned char *locs;
};

/* Map and check the shape of packs/multi-pack-index. 0, -ENOENT or -CDT_ECORRUPT. */
int cdt_midx_open(int packsfd, struct cdt_midx *m);
/* Unmap it (a closed one may be closed again). */
void cdt_midx_close(struct cdt_midx *m);
/* Find id: 1 with its pack number and entry, or 0. */
int cdt_midx_find(const struct cdt_midx *m, const struct cdt_id *id, uint32_t *pack,
		  uint32_t *entry);
/* The name ("pack-<hex>") of pack number i; buf holds 70 bytes. Returns buf. */
char *cdt_midx_pack_name(const struct cdt_midx *m, uint32_t i, char *buf);
/* Check the checksum of an opened index: 0 or -CDT_ECORRUPT. */
int cdt_midx_check(const struct cdt_midx *m);

/*
 * Write a multi-pack index over the given packs (each id once, from the
 * first pack that has it), durably, and move it into place over the old
 * one. 0, -E2BIG (too many packs) or -errno.
 */
int cdt_midx_write(struct cdt_store *s, struct cdt_pack **packs, size_t n);

#endif
