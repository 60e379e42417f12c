/* stats.h: what a store holds, and what gc would free. */
#ifndef CDT_STATS_H
#define CDT_STATS_H

#include <stdint.h>
#include "format/store.h"

struct cdt_stats {
	uint64_t names;
	uint64_t manifests;		/* live: used by some name */
	uint64_t dead_manifests;	/* used by no name */
	uint64_t chunks;		/* referenced by live manifests */
	uint64_t logical_bytes;		/* sum of the sizes of all names */
	uint64_t unique_bytes;		/* sum of raw sizes of referenced chunks */
	uint64_t stored_bytes;		/* object files of referenced chunks */
	uint64_t metadata_bytes;	/* manifests, names, reference tables and records */
	/* Of the referenced chunks, those stored as deltas: their raw and stored bytes. */
	uint64_t delta_chunks, delta_raw_bytes, delta_stored_bytes;
	/* Chunks no live manifest lists, kept as the bases of live deltas (in stored_bytes). */
	uint64_t base_chunks, base_bytes;
	/*
	 * Where the logical bytes went: stored once (deduplication saved
	 * logical - unique), chunks stored whole and compressed (compression
	 * saved their raw less their stored bytes, bases included), chunks
	 * stored as deltas (deltas saved their raw less the deltas' bytes).
	 */
	uint64_t saved_dedup, saved_compression, saved_deltas;
	uint64_t garbage_chunks;	/* objects no live manifest lists */
	uint64_t reclaimable_bytes;	/* what gc would free now */
	/* Dead objects in packs gc leaves until more of them is dead (REPACK_DEAD). */
	uint64_t dead_packed_bytes;
	uint64_t missing_chunks;	/* listed by a live manifest but absent */
	uint64_t tmp_files;
	uint64_t ref_tables;
	uint64_t packs;
};

/*
 * Count everything (a read-only walk of names, manifests and objects).
 * Damaged names or manifests are reported and counted out; returns 0, or
 * -CDT_ECORRUPT when something was damaged (figures are then lower
 * bounds), or -errno (-EIO for a name an I/O error hid, reported: no
 * figure is complete then).
 */
int cdt_stats(struct cdt_store *s, struct cdt_stats *st);

/* What some of the names hold, and what removing them would free. */
struct cdt_stats_part {
	uint64_t names, logical_bytes;
	uint64_t manifests;		/* distinct contents they use */
	uint64_t chunks, unique_bytes;	/* distinct chunks those list, and their raw bytes */
	uint64_t base_chunks;		/* chunks only their deltas need (not listed) */
	uint64_t stored_bytes;		/* what all those chunks take, as cdt_stats() counts it */
	uint64_t only_manifests;	/* contents no other name uses: rm removes them */
	/*
	 * Stored chunks (objects, or chunks' shares of their frames) that no
	 * other name needs, neither as listed chunks nor as the bases of its
	 * deltas: what becomes garbage when these names go, and their bytes.
	 */
	uint64_t freed_chunks, freed_bytes;
	/*
	 * Of freed_bytes, what the next gc would free: loose chunks, and
	 * chunks in packs gc would then rewrite (by gc's own plan). The rest
	 * stays dead in its pack until more of the pack is dead.
	 */
	uint64_t freed_next_gc;
	uint64_t missing_chunks;	/* listed or needed as bases but absent */
};

/*
 * The figures of the names under `under` (NULL: all) for which take()
 * says yes (take NULL: all of them), from two marks: what these names
 * need, and what all the other names need (cdt_live_mark_names()); what
 * only the first needs is freed. Read-only. 0, -CDT_ECORRUPT when a name
 * or manifest is damaged (reported; what is freed is then not known: the
 * figures are left as counted), or -errno (-EIO for a name an I/O error
 * hid, reported).
 */
int cdt_stats_part(struct cdt_store *s, const char *under,
		   int (*take)(const char *name, void *data), void *data,
		   struct cdt_stats_part *out);

#endif
