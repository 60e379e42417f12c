/* stats.c: what the store holds, and what gc would free, counted from gc's own plan. */
#include "ops/stats.h"
#include "format/mpack.h"
#include "format/fanout.h"
#include "base/fsutil.h"
#include "ops/mark.h"
#include "ops/chunks.h"
#include "format/pack.h"
#include "format/refs.h"
#include "ops/repack.h"
#include "base/util.h"

#include <errno.h>
#include <stdlib.h>
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

/* A manifest pack: its bytes, and the manifests in it no name uses (gc writes it again without them). */
static int count_mpack(const char *name, const struct cdt_mpack *mp, int err, const char *why,
		       void *data)
{
	struct count *c = data;
	uint64_t i, len;

	if (err) {
		warning("manifest pack '%s/%s' cannot be read (%s): not counted; run 'cdt fsck'",
			CDT_MPACK_DIR, quote(name), why && *why ? why : cdt_strerror(err));
		return 0;
	}
	c->st->metadata_bytes += mp->len;
	for (i = 0; i < mp->count; i++) {
		struct cdt_id id;

		cdt_mpack_entry(mp, i, &id, NULL, &len);
		if (!cdt_idset_has(&c->live->manifests, &id)) {
			c->st->dead_manifests++;
			c->st->reclaimable_bytes += len;
		}
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
	/* A name an I/O error hid (reported) may be a good one: no figure leaves it out. */
	if (l.unreadable) {
		ret = -EIO;
		goto out;
	}
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
	/* Every figure is reported, or none: a walk cut short would undercount. */
	ret = cdt_objects_walk(s, count_object, NULL, &c);
	if (ret < 0) {
		error("cannot list stored chunks: %s", cdt_strerror(ret));
		goto out;
	}
	/* Dead objects in the packs gc would rewrite now are what it would free of them. */
	cdt_repack_plan(s, &l, c.nloose, &plan);
	st->packs = plan.n;
	st->reclaimable_bytes += plan.dead_bytes;
	st->dead_packed_bytes -= MIN(st->dead_packed_bytes, plan.dead_bytes);
	cdt_repack_plan_release(&plan);
	ret = cdt_fanout_walk(cdt_store_dirfd(s, CDT_DIR_MANIFESTS), count_manifest, NULL, &c);
	if (!ret)
		ret = cdt_mpacks_walk(s, count_mpack, &c);
	if (ret < 0) {
		error("cannot list manifests: %s", cdt_strerror(ret));
		goto out;
	}
	ret = dir_usage_checked_at(cdt_store_dirfd(s, CDT_DIR_NAMES), ".", &st->metadata_bytes,
				   NULL, 0);
	if (ret < 0) {
		error("cannot count the bytes of names/: %s", cdt_strerror(ret));
		goto out;
	}
	ret = dir_usage_checked_at(cdt_store_dirfd(s, CDT_DIR_REFS), ".", &st->metadata_bytes,
				   NULL, 0);
	if (ret < 0) {
		error("cannot count the bytes of refs/: %s", cdt_strerror(ret));
		goto out;
	}
	ret = cdt_tmp_walk(s, count_tmp, &c);
	if (ret < 0) {
		error("cannot list tmp/: %s", cdt_strerror(ret));
		goto out;
	}
	ret = cdt_refs_open(s, &refs);
	if (ret < 0) {
		error("cannot read the reference tables: %s", cdt_strerror(ret));
		goto out;
	}
	st->ref_tables = cdt_refs_table_count(refs);
	cdt_refs_close(refs);
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

/* The names not taken by the part's filter: every other name. */
struct part_filter {
	const char *under;
	size_t len;
	int (*take)(const char *name, void *data);
	void *data;
};

static int in_part(const struct part_filter *f, const char *name)
{
	if (f->under && (strncmp(name, f->under, f->len) || (name[f->len] && name[f->len] != '/')))
		return 0;
	return !f->take || f->take(name, f->data);
}

static int not_in_part(const char *name, void *data)
{
	return !in_part(data, name);
}

/* The part's mark bitmaps, taken out of their packs while the rest is marked. */
struct part_count {
	struct cdt_live *part, *rest;
	struct cdt_pack **packs;
	unsigned char **bits;
	size_t n;
	struct cdt_pack *last;		/* the walk goes pack by pack */
	const unsigned char *last_bits;
	const struct cdt_repack_plan *plan;
	struct cdt_stats_part *out;
};

static const unsigned char *part_bits(struct part_count *c, struct cdt_pack *p)
{
	size_t i;

	if (p != c->last) {
		c->last = p;
		c->last_bits = NULL;
		for (i = 0; i < c->n; i++)
			if (c->packs[i] == p)
				c->last_bits = c->bits[i];
	}
	return c->last_bits;
}

static int rewritten(const struct cdt_repack_plan *plan, const struct cdt_pack *p)
{
	size_t i;

	for (i = 0; i < plan->n; i++)
		if (plan->packs[i] == p)
			return plan->rewrite[i];
	return 0;
}

static int count_part_object(const struct cdt_object_info *o, void *data)
{
	struct part_count *c = data;
	int in_part, in_rest;

	if (o->pack) {
		const unsigned char *bits = part_bits(c, o->pack);

		in_part = bits && (bits[o->index / 8] >> (o->index % 8)) & 1;
		in_rest = cdt_live_packed(o->pack, o->index);
	} else {
		in_part = cdt_idset_has(&c->part->loose_live, &o->id);
		in_rest = cdt_idset_has(&c->rest->loose_live, &o->id);
	}
	if (!in_part)
		return 0;
	c->out->stored_bytes += o->size;
	if (in_rest)
		return 0;
	c->out->freed_chunks++;
	c->out->freed_bytes += o->size;
	if (!o->pack || rewritten(c->plan, o->pack))
		c->out->freed_next_gc += o->size;
	return 0;
}

int cdt_stats_part(struct cdt_store *s, const char *under,
		   int (*take)(const char *name, void *data), void *data,
		   struct cdt_stats_part *out)
{
	struct part_filter f = { under, under ? strlen(under) : 0, take, data };
	struct cdt_live part, rest;
	struct part_count c;
	struct cdt_repack_plan plan = { 0 };
	size_t i;
	int ret;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	memset(&rest, 0, sizeof(rest));
	ret = cdt_live_mark_names(s, under, take, data, &part);
	if (ret < 0)
		goto out_part;
	out->names = part.names;
	out->logical_bytes = part.logical;
	out->manifests = part.manifests.nr;
	out->chunks = part.chunks;
	out->unique_bytes = part.unique;
	out->base_chunks = part.bases;
	out->missing_chunks = part.missing.nr;
	/* The packs hold one mark at a time: the part's bitmaps are kept aside. */
	c.n = part.nmarked;
	c.packs = xcalloc(c.n + 1, sizeof(*c.packs));
	c.bits = xcalloc(c.n + 1, sizeof(*c.bits));
	for (i = 0; i < part.nmarked; i++) {
		c.packs[i] = part.marked[i];
		c.bits[i] = part.marked[i]->mark;
		part.marked[i]->mark = NULL;
	}
	part.nmarked = 0;
	ret = cdt_live_mark_names(s, NULL, not_in_part, &f, &rest);
	if (ret < 0)
		goto out;
	if (part.unreadable || rest.unreadable) {
		ret = -EIO;	/* (reported: a name an I/O error hid may need anything) */
		goto out;
	}
	for (i = 0; i < part.manifests.cap; i++)
		if (part.manifests.used[i] && !cdt_idset_has(&rest.manifests, &part.manifests.ids[i]))
			out->only_manifests++;
	/* What gc would rewrite once these names are gone, with the rest's mark. */
	cdt_repack_plan(s, &rest, rest.loose_live.nr, &plan);
	c.part = &part;
	c.rest = &rest;
	c.plan = &plan;
	c.out = out;
	ret = cdt_objects_walk(s, count_part_object, NULL, &c);
	if (ret < 0) {
		error("cannot list stored chunks: %s", cdt_strerror(ret));
		goto out;
	}
	ret = part.damaged || rest.damaged ? -CDT_ECORRUPT : 0;
out:
	cdt_repack_plan_release(&plan);
	for (i = 0; i < c.n; i++)
		free(c.bits[i]);
	free(c.bits);
	free(c.packs);
	cdt_live_release(&rest);
out_part:
	cdt_live_release(&part);
	return ret;
}
