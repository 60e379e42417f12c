/* ingest-delta.c: the add pipeline's deltas: sketches of new chunks, a similar stored chunk (or an earlier one of this add) as base, and the delta kept when it is clearly smaller. */
#include "ops/ingest-internal.h"
#include "ops/ahead.h"
#include "format/object.h"
#include "base/fsutil.h"
#include "base/util.h"
#include "base/testpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ingest_sf_reset(struct sf_table *t)
{
	if (t->n)
		memset(t->keys, 0, t->cap * sizeof(*t->keys));
	t->n = 0;
	t->nbases = 0;
}

static size_t sf_slot(const struct sf_table *t, uint64_t key)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 17) & (t->cap - 1);
}

/* The desc whose super-feature is key, or SIZE_MAX. Keys are never 0. */
static size_t sf_get(const struct sf_table *t, uint64_t key)
{
	size_t i;

	if (!t->cap)
		return SIZE_MAX;
	for (i = sf_slot(t, key); t->keys[i]; i = (i + 1) & (t->cap - 1))
		if (t->keys[i] == key)
			return t->vals[i];
	return SIZE_MAX;
}

static void sf_put(struct sf_table *t, uint64_t key, size_t val)
{
	size_t i;

	if (2 * (t->n + 1) > t->cap) {
		struct sf_table old = *t;

		t->cap = old.cap ? 2 * old.cap : 4096;
		t->keys = xcalloc(t->cap, sizeof(*t->keys));
		t->vals = xmalloc(t->cap * sizeof(*t->vals));
		t->n = 0;
		for (i = 0; i < old.cap; i++)
			if (old.keys[i])
				sf_put(t, old.keys[i], old.vals[i]);
		free(old.keys);
		free(old.vals);
	}
	for (i = sf_slot(t, key); t->keys[i]; i = (i + 1) & (t->cap - 1))
		if (t->keys[i] == key)
			return;
	t->keys[i] = key;
	t->vals[i] = val;
	t->n++;
}

/* Parallel: the sketch of each new chunk. */
void ingest_sketch_item(size_t i, int worker, void *data)
{
	struct cdt_ingest *ing = data;
	struct round *r = ing->cur;
	struct desc *d = &r->descs[i];

	(void)worker;
	/* A file read ahead comes with its sketches, unless its content was read before. */
	if (d->is_new && !(ing->ahead && ing->ahead->sketched))
		cdt_sketch_compute(r->buf + d->off, d->len, &d->sf);
}

/*
 * In order: a base for each new chunk whose sketch matches a stored chunk
 * or an earlier new chunk of this round that is stored whole, with room
 * for its delta. A chunk without one is a base for those after it.
 */
void ingest_plan_bases(struct cdt_ingest *ing, struct round *r)
{
	struct sf_table *t = &ing->add_sf;
	unsigned char *darena = r->darena;
	size_t i, room = DELTA_ARENA;
	int k;

	/* Input that cannot be read again offers only this round's chunks. */
	if (!ing->reread)
		ingest_sf_reset(t);
	for (i = 0; i < r->ndesc; i++) {
		struct desc *d = &r->descs[i];
		size_t b = SIZE_MAX;

		d->delta = 0;
		d->base = BASE_NONE;
		if (!d->is_new)
			continue;
		for (k = 0; k < CDT_SKETCH_SF && b == SIZE_MAX; k++)
			b = sf_get(t, d->sf.sf[k]);
		if (b != SIZE_MAX) {
			d->base = BASE_ADD;
			d->base_ref = b;
		} else if (cdt_sketchset_find(ing->sketches, &d->sf, ing->opt.base_ok,
					      ing->opt.again_data, &d->base_pack, &d->base_entry)) {
			d->base = BASE_PACKED;
		} else {
			struct base_ref *br;

			ALLOC_GROW(t->bases, t->nbases + 1, t->abases);
			br = &t->bases[t->nbases];
			br->file_off = r->file_off + d->off;
			br->len = d->len;
			br->id = d->id;
			for (k = 0; k < CDT_SKETCH_SF; k++)
				sf_put(t, d->sf.sf[k], t->nbases);
			t->nbases++;
			continue;
		}
		/* A delta is smaller than its chunk by DELTA_MIN_GAIN at least, or not kept. */
		if (room < CDT_DELTA_MAX(d->len)) {
			d->base = BASE_NONE;
			continue;
		}
		d->dobj = darena;
		darena += CDT_DELTA_MAX(d->len);
		room -= CDT_DELTA_MAX(d->len);
	}
}

/*
 * Try a new chunk that has a base as a delta against it, and keep the
 * delta when it is clearly smaller than the chunk on its own. A base that
 * cannot be read (damaged since its sketch was written, or a file that
 * changed since it was read) only costs the delta.
 */
static void try_delta(struct cdt_ingest *ing, struct round *r, struct desc *d, int worker)
{
	const unsigned char *raw = r->buf + d->off, *base;
	struct cdt_id base_id;
	uint32_t base_len;
	size_t alone, cap;

	if (d->base == BASE_NONE)
		return;
	if (d->base == BASE_ADD) {
		const struct base_ref *b = &ing->add_sf.bases[d->base_ref];
		struct cdt_id got;

		base_len = b->len;
		base_id = b->id;
		if (b->file_off >= r->file_off) {
			base = r->buf + (b->file_off - r->file_off);
		} else if (ing->src) {
			/* Stored content: the base's copy in the store, checked against its id. */
			if (cdt_chunk_read(ing->readers[worker], &b->id, b->len, ing->rbufs[worker],
					   &base_len, NULL) < 0)
				return;
			base = ing->rbufs[worker];
		} else {
			/* Read again, and used only if it still is the chunk stored. */
			if (pread_full(ing->fd, ing->rbufs[worker], b->len,
				       (off_t)(ing->start + (off_t)b->file_off)) != (ssize_t)b->len)
				return;
			cdt_hash(ing->rbufs[worker], b->len, &got);
			if (!cdt_id_eq(&got, &b->id))
				return;
			base = ing->rbufs[worker];
		}
	} else {
		if (cdt_chunk_read_base_entry(ing->readers[worker], d->base_pack, d->base_entry,
					      ing->rbufs[worker], &base_len, NULL) < 0)
			return;
		base = ing->rbufs[worker];
		cdt_pack_entry(d->base_pack, d->base_entry, &base_id, NULL, NULL, NULL);
	}
	/* No larger than a chunk's own object can be, which is what readers allow for. */
	d->dobj_len = cdt_delta_encode(ing->comp[worker], &base_id, base, base_len, raw, d->len,
				       d->dobj, CDT_OBJ_MAX(d->len));
	if (!d->dobj_len)
		return;
	/*
	 * A delta of an eighth of the chunk or less is kept as it is (the
	 * chunk alone seldom compresses that far, and then both are small);
	 * a larger one only when it beats the chunk compressed alone.
	 */
	if (d->dobj_len - CDT_DELTA_HDR > d->len / 8) {
		alone = cdt_compress(ing->comp[worker], raw, d->len, ing->zbufs[worker], d->len - 1);
		if (!alone)
			alone = d->len;
		cap = alone > DELTA_MIN_GAIN ? alone - DELTA_MIN_GAIN : 0;
		if (d->dobj_len - CDT_DELTA_HDR > cap)
			return;
	}
	d->delta = 1;
}

/* Testing hook: stop once before the first base is read back from the input. */
void ingest_pause_before_reread(struct cdt_ingest *ing, struct round *r)
{
	size_t i;

	if (ing->paused)
		return;
	for (i = 0; i < r->ndesc; i++) {
		const struct desc *d = &r->descs[i];

		if (d->base == BASE_ADD && ing->add_sf.bases[d->base_ref].file_off < r->file_off) {
			ing->paused = 1;
			cdt_pause_point("delta-base");
			return;
		}
	}
}

/*
 * Parallel: the new chunks of a round in DELTA_SPANS runs, each tried in
 * order by one worker, so that bases met one after the other (an edited
 * file's chunks resemble the consecutive chunks of its older version)
 * come from the frames that worker has just decoded.
 */

void ingest_delta_item(size_t i, int worker, void *data)
{
	struct cdt_ingest *ing = data;
	struct round *r = ing->cur;
	size_t k, first = r->ndesc * i / DELTA_SPANS, end = r->ndesc * (i + 1) / DELTA_SPANS;

	for (k = first; k < end; k++)
		try_delta(ing, r, &r->descs[k], worker);
}
