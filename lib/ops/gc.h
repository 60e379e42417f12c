/* gc.h: garbage collection: delete what no live name needs. */
#ifndef CDT_GC_H
#define CDT_GC_H

#include <stdint.h>
#include "format/store.h"
#include "ops/recompress.h"

enum {
	CDT_GC_DRY_RUN = 1 << 0,
	CDT_GC_VERBOSE = 1 << 1,
	CDT_GC_RECOMPRESS = 1 << 2,	/* convert the store first (recompress.h) */
};

struct cdt_gc_result {
	uint64_t chunks, chunk_bytes;
	uint64_t manifests, manifest_bytes;
	uint64_t tmp_files, tmp_bytes;
	uint64_t name_records;
	uint64_t dirs;
	uint64_t ref_pairs_dropped;
	uint64_t packs_written, packs_removed;
	uint64_t loose_packed;		/* live loose chunks moved into packs */
	uint64_t packs_reindexed;	/* packs whose missing or damaged index was written again */
	uint64_t packs_unusable;	/* packs with no usable index that could not be indexed */
	struct cdt_recompress_result recompress;	/* CDT_GC_RECOMPRESS */
};

/*
 * Delete every chunk no live manifest lists, manifests no name uses,
 * temporary files, dead reference pairs and name records, and empty
 * fan-out directories. The caller holds the exclusive lock. Refuses (and
 * deletes nothing) if a name or a live manifest cannot be read, since then
 * what is live is unknown. Pack indexes are checked first and a missing or
 * damaged one written again from its pack; no chunk is deleted on an
 * index's word (see repack.h), and a pack that cannot be indexed is kept. With CDT_GC_VERBOSE, `report` gets a line per
 * item ("would remove" under CDT_GC_DRY_RUN, else "removing"). Safe to
 * interrupt and rerun. With CDT_GC_RECOMPRESS the store is first converted
 * in place (cdt_recompress(), at `level` when not 0; with CDT_GC_VERBOSE
 * report() also gets its lines), and then collected. progress(), when
 * set, is told how far the long stage, rewriting packs, has gone: done
 * of total, both known before it starts (see cdt_repack()), called as
 * often as every object. 0, -CDT_ECORRUPT or -errno (reported).
 */
int cdt_gc(struct cdt_store *s, unsigned flags, int level,
	   void (*report)(const char *line, void *data),
	   void (*progress)(const char *stage, uint64_t done, uint64_t total, void *data),
	   void *data, struct cdt_gc_result *res);

#endif
