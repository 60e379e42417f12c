/* stats.c: what the store holds, and what gc would free, counted from gc's own plan. */
#include "ops/stats.h"
#include "format/fanout.h"
#include "base/fsutil.h"
#include "ops/mark.h"
#include "ops/chunks.h"
#include "format/pack.h"
#include "format/refs.h"
#include "ops/repack.h"
#include "base/util.h"

#include <string.h>

struct count {
	struct cdt_live *live;
	struct cdt_stats *st;
	size_t nloose;			/* live loose chunks: gc packs them */
};

static int count_object(const struct cdt_object_info *o, void *data)
{
	struct count *c = data;
	int live = o->pack ? cdt_live_packed(o->pack, o->index) :
			     cdt_idset_has(&c->live->loose_live, &o->id);

	/*
	 * A second copy of a chunk (in another pack, or loose beside a packed
	 * copy) counts as stored once; gc packs the copies together.
	 */
	if (live) {
		c->st->stored_bytes += o->size;
		c->nloose += !o->pack;
		return 0;
	}
	c->st->garbage_chunks++;
	/* A dead loose chunk goes at the next gc; a dead packed one when gc rewrites its pack. */
	if (!o->pack)
		c->st->reclaimable_bytes += o->size;
	else
		c->st->dead_packed_bytes += o->size;
	return 0;
}

static int count_manifest(const struct cdt_id *id, uint64_t size, void *data)
{
	struct count *c = data;

	c->st->metadata_bytes += size;
	if (!cdt_idset_has(&c->live->manifests, id)) {
		c->st->dead_manifests++;
		c->st->reclaimable_bytes += size;
	}
	return 0;
}

static int count_tmp(const char *name, int is_dir, uint64_t bytes, void *data)
{
	struct count *c = data;

	(void)name;
	(void)is_dir;
	c->st->tmp_files++;
	c->st->reclaimable_bytes += bytes;
	return 0;
}

int cdt_stats(struct cdt_store *s, struct cdt_stats *st)
{
	struct cdt_live l;
	struct count c;
	struct cdt_repack_plan plan;
	struct cdt_refs *refs;
	int ret;

	memset(st, 0, sizeof(*st));
	memset(&c, 0, sizeof(c));
	ret = cdt_live_mark(s, &l);
	if (ret < 0)
		goto out;
	st->names = l.names;
	st->logical_bytes = l.logical;
	st->chunks = l.chunks;
	st->unique_bytes = l.unique;
	st->missing_chunks = l.missing.nr;
	st->manifests = l.good_manifests;
	st->delta_chunks = l.deltas;
	st->delta_raw_bytes = l.delta_raw;
	st->delta_stored_bytes = l.delta_stored;
	st->base_chunks = l.bases;
	st->base_bytes = l.base_bytes;
	c.live = &l;
	c.st = st;
	ret = cdt_objects_walk(s, count_object, NULL, &c);
	if (ret < 0)
		goto out;
	/* Dead objects in the packs gc would rewrite now are what it would free of them. */
	cdt_repack_plan(s, &l, c.nloose, &plan);
	st->packs = plan.n;
	st->reclaimable_bytes += plan.dead_bytes;
	st->dead_packed_bytes -= MIN(st->dead_packed_bytes, plan.dead_bytes);
	cdt_repack_plan_release(&plan);
	ret = cdt_fanout_walk(cdt_store_dirfd(s, CDT_DIR_MANIFESTS), count_manifest, NULL, &c);
	if (ret < 0)
		goto out;
	st->metadata_bytes += dir_usage_at(cdt_store_dirfd(s, CDT_DIR_NAMES), ".", NULL, 0);
	st->metadata_bytes += dir_usage_at(cdt_store_dirfd(s, CDT_DIR_REFS), ".", NULL, 0);
	ret = cdt_tmp_walk(s, count_tmp, &c);
	if (ret < 0)
		goto out;
	if (cdt_refs_open(s, &refs) == 0) {
		st->ref_tables = cdt_refs_table_count(refs);
		cdt_refs_close(refs);
	}
	st->saved_dedup = st->logical_bytes - MIN(st->logical_bytes, st->unique_bytes);
	st->saved_deltas = st->delta_raw_bytes - MIN(st->delta_raw_bytes, st->delta_stored_bytes);
	{
		uint64_t whole_raw = st->unique_bytes - MIN(st->unique_bytes, st->delta_raw_bytes) +
				     st->base_bytes;
		uint64_t whole_stored = st->stored_bytes -
					MIN(st->stored_bytes, st->delta_stored_bytes);

		st->saved_compression = whole_raw - MIN(whole_raw, whole_stored);
	}
	ret = l.damaged ? -CDT_ECORRUPT : 0;
out:
	cdt_live_release(&l);
	return ret;
}
