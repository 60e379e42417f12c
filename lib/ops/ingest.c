/* ingest.c: the add pipeline: read, chunk, hash, look up, compress, stage, commit. */
#include "ops/ingest.h"
#include "ops/ingest-internal.h"
#include "ops/ahead.h"
#include "ops/batch.h"
#include "ops/chunks.h"
#include "base/compress.h"
#include "base/idset.h"
#include "format/manifest.h"
#include "format/object.h"
#include "format/pack.h"
#include "format/sketch.h"
#include "ops/packset.h"
#include "ops/sketchset.h"
#include "format/refs.h"
#include "base/util.h"
#include "base/workers.h"
#include "base/testpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct cdt_ingest *cdt_ingest_new(struct cdt_store *s, const struct cdt_ingest_options *opt)
{
	struct cdt_ingest *ing = xcalloc(1, sizeof(*ing));
	const struct cdt_chunker *c = cdt_store_chunker(s);
	int jobs = opt->jobs > 0 ? opt->jobs : MIN(cdt_online_cpus(), DEFAULT_JOBS_MAX), i;

	ing->store = s;
	ing->opt = *opt;
	ing->batch_bytes = cdt_test_batch_bytes(BATCH_BYTES);
	/* The calling thread works too: jobs - 1 extra threads. */
	ing->workers = cdt_workers_new(jobs - 1);
	ing->ncomp = cdt_workers_count(ing->workers) + 1;
	ing->comp = xcalloc((size_t)ing->ncomp, sizeof(*ing->comp));
	ing->readers = xcalloc((size_t)ing->ncomp, sizeof(*ing->readers));
	ing->rbufs = xcalloc((size_t)ing->ncomp, sizeof(*ing->rbufs));
	for (i = 0; i < ing->ncomp; i++) {
		ing->comp[i] = cdt_store_compressor_at(s, opt->level);
		ing->readers[i] = cdt_chunk_reader_new(s);
		ing->rbufs[i] = xmalloc(c->max_size);
	}
	ing->buf_cap = MAX((size_t)READ_BUF, 2 * (size_t)c->max_size);
	ing->frame_size = cdt_store_config(s)->frame_size;
	if (ing->frame_size) {
		size_t fmax = (size_t)cdt_store_frame_max(s);

		ing->fbufs = xcalloc((size_t)ing->ncomp, sizeof(*ing->fbufs));
		ing->flens = xcalloc((size_t)ing->ncomp, sizeof(*ing->flens));
		for (i = 0; i < ing->ncomp; i++) {
			ing->fbufs[i] = xmalloc(fmax);
			ing->flens[i] = xmalloc((fmax / c->min_size + 2) * sizeof(uint32_t));
		}
	}
	ing->deltas = cdt_store_config(s)->deltas;
	if (ing->deltas) {
		ing->sketches = cdt_sketchset_new(s);
		ing->zbufs = xcalloc((size_t)ing->ncomp, sizeof(*ing->zbufs));
		for (i = 0; i < ing->ncomp; i++)
			ing->zbufs[i] = xmalloc(c->max_size);
	}
	for (i = 0; i < 2; i++) {
		if (ing->deltas)
			ing->rounds[i].darena = xmalloc(DELTA_ARENA);
		ing->rounds[i].buf = xmalloc(ing->buf_cap);
		/*
		 * Every object is at most its chunk plus a header (12 bytes),
		 * every frame its chunks plus 16 bytes and 4 a chunk.
		 */
		ing->rounds[i].arena = xmalloc(ing->buf_cap +
					       (ing->buf_cap / c->min_size + 1) *
					       (CDT_FRAME_HDR + 4 + CDT_OBJ_HDR));
	}
	ing->file_hash = cdt_cid_new(cdt_config_cid(cdt_store_config(s)));
	strbuf_init(&ing->src_why, 0);
	return ing;
}

void cdt_ingest_free(struct cdt_ingest *ing)
{
	int i;

	if (!ing)
		return;
	ingest_commit_wait(ing);
	ingest_info_release(&ing->info);
	cdt_workers_free(ing->workers);
	for (i = 0; i < ing->ncomp; i++) {
		cdt_compressor_free(ing->comp[i]);
		cdt_chunk_reader_free(ing->readers[i]);
		free(ing->rbufs[i]);
	}
	for (i = 0; ing->fbufs && i < ing->ncomp; i++) {
		free(ing->fbufs[i]);
		free(ing->flens[i]);
	}
	for (i = 0; ing->zbufs && i < ing->ncomp; i++)
		free(ing->zbufs[i]);
	free(ing->zbufs);
	cdt_sketchset_free(ing->sketches);
	free(ing->add_sf.keys);
	free(ing->add_sf.vals);
	free(ing->add_sf.bases);
	free(ing->fbufs);
	free(ing->flens);
	free(ing->comp);
	free(ing->readers);
	free(ing->rbufs);
	for (i = 0; i < 2; i++) {
		free(ing->rounds[i].buf);
		free(ing->rounds[i].arena);
		free(ing->rounds[i].darena);
		free(ing->rounds[i].descs);
		free(ing->rounds[i].frame_first);
		free(ing->rounds[i].zr);
		free(ing->rounds[i].old_zr);
	}
	cdt_cid_free(ing->file_hash);
	cdt_idset_clear(&ing->round_new);
	cdt_chunk_batch_free(ing->again_batch);
	ingest_pend_free(ing);
	free(ing->pend);
	cdt_idset_clear(&ing->pend_ids);
	cdt_chunk_batch_free(ing->batch);
	cdt_ref_writer_free(ing->refw);
	cdt_chunk_reader_free(ing->src_reader);
	free(ing->src_buf);
	strbuf_release(&ing->src_why);
	free(ing->cbuf);
	free(ing->cents);
	free(ing->csame);
	free(ing);
}

void ingest_hash_round(struct cdt_ingest *ing, const struct round *r)
{
	size_t pos = 0, i;

	for (i = 0; i < r->nzr && pos < r->len; i++) {
		size_t start = r->zr[i].start, end = r->zr[i].end < r->len ? r->zr[i].end : r->len;

		if (start >= r->len)
			break;
		if (start > pos)
			cdt_cid_update(ing->file_hash, r->buf + pos, start - pos);
		if (end > start)
			cdt_cid_zeros(ing->file_hash, end - start);
		pos = end > pos ? end : pos;
	}
	if (pos < r->len)
		cdt_cid_update(ing->file_hash, r->buf + pos, r->len - pos);
}

/*
 * Parallel step 1: item 0 feeds the whole-file hash, item k+1 hashes chunk
 * k and asks the store whether it holds it (the round's lookups then only
 * check this add's own new chunks, in order).
 */
static void hash_item(size_t i, int worker, void *data)
{
	struct cdt_ingest *ing = data;
	struct round *r = ing->cur;
	struct desc *d;

	if (i == 0) {
		/* The whole-file hash sees the rounds in order: one item per round. */
		if (!ing->lazy && !ing->defer && !ing->ahead)
			ingest_hash_round(ing, r);
		return;
	}
	d = &r->descs[i - 1];
	/* All zeros: the id was known when it was cut, and the round's first one asks the store. */
	if (d->zero && d->zero_first != i - 1)
		return;
	/* Read ahead: hashed by the reader. */
	if (!d->zero && !ing->ahead)
		cdt_hash(r->buf + d->off, d->len, &d->id);
	/*
	 * A damaged loose copy (bit rot in a chunk gc has not yet collected,
	 * say) must not be named by a new file: it would not read back.
	 */
	if (ing->opt.stored)
		d->stored = ing->opt.stored(&d->id, ing->opt.again_data);
	else
		d->stored = cdt_chunk_has_good(ing->readers[worker], &d->id, d->len,
					       ing->rbufs[worker]);
}

/* Parallel step 2: encode each new chunk into its slot of the arena. */
static void encode_item(size_t i, int worker, void *data)
{
	struct cdt_ingest *ing = data;
	struct round *r = ing->cur;
	struct desc *d = &r->descs[i];

	if (!whole_new(d))
		return;
	d->obj_len = cdt_object_encode(ing->comp[worker], r->buf + d->off, d->len, d->obj);
}

/*
 * Parallel step 2, framed: encode frame i of the round. Its chunks are
 * the new ones from its first on, in order; they are gathered into the
 * worker's buffer unless they already lie one after the other.
 */
static void encode_frame(size_t i, int worker, void *data)
{
	struct cdt_ingest *ing = data;
	struct round *r = ing->cur;
	struct desc *first = &r->descs[r->frame_first[i]];
	uint32_t *lens = ing->flens[worker], n = 0;
	const unsigned char *raw, *ahead;
	size_t k, end = first->off, pos = 0, len;
	int contiguous = 1;

	for (k = r->frame_first[i]; n < first->frame_n; k++) {
		struct desc *d = &r->descs[k];

		if (!whole_new(d))
			continue;
		contiguous &= d->off == end;
		end = d->off + d->len;
		lens[n++] = d->len;
	}
	/* Its chunks one after the other, as a file read ahead may have encoded them already. */
	if (ing->ahead && k - r->frame_first[i] == first->frame_n &&
	    (ahead = cdt_ahead_frame(ing->ahead, r->frame_first[i], first->frame_n, &len))) {
		memcpy(first->obj, ahead, len);
		first->obj_len = len;
		return;
	}
	if (contiguous) {
		raw = r->buf + first->off;
	} else {
		for (k = r->frame_first[i], n = 0; n < first->frame_n; k++) {
			struct desc *d = &r->descs[k];

			if (!whole_new(d))
				continue;
			memcpy(ing->fbufs[worker] + pos, r->buf + d->off, d->len);
			pos += d->len;
			n++;
		}
		raw = ing->fbufs[worker];
	}
	first->obj_len = cdt_frame_encode(ing->comp[worker], raw, lens, first->frame_n, first->obj);
}

/*
 * Group the round's new chunks, in order, into frames of frame_size raw
 * bytes (the last one may be smaller; a frame never spans rounds), each
 * with its slot of the arena.
 */
static void plan_frames(struct cdt_ingest *ing, struct round *r)
{
	unsigned char *arena = r->arena;
	struct desc *open = NULL;
	size_t i;

	r->nframes = 0;
	for (i = 0; i < r->ndesc; i++) {
		struct desc *d = &r->descs[i];

		if (!whole_new(d))
			continue;
		d->frame_n = 0;
		if (!open || cdt_frame_full(open->frame_raw, open->frame_n, ing->frame_size)) {
			if (open)
				arena += CDT_FRAME_MAX(open->frame_raw, open->frame_n);
			open = d;
			d->obj = arena;
			d->frame_raw = 0;
			ALLOC_GROW(r->frame_first, r->nframes + 1, r->frames_alloc);
			r->frame_first[r->nframes++] = i;
		}
		open->frame_n++;
		open->frame_raw += d->len;
	}
}


/* Look each chunk up, in order, so duplicates within the file are stored once. */
static int lookup_round(struct cdt_ingest *ing, struct round *r, struct cdt_chunk_batch *batch)
{
	unsigned char *arena = r->arena;
	char hex[CDT_ID_HEXLEN + 1];
	size_t i;

	cdt_idset_reset(&ing->round_new);
	for (i = 0; i < r->ndesc; i++) {
		struct desc *d = &r->descs[i];
		int has = cdt_chunk_batch_has(batch, &d->id) ||
			  cdt_idset_has(&ing->round_new, &d->id);

		/* Zeros like an earlier chunk of the round: what the store said of that one. */
		if (d->zero && d->zero_first != i)
			d->stored = r->descs[d->zero_first].stored;
		/*
		 * Asked while hashing: what this add committed since is in
		 * the batch until it is in the store, so nothing is missed.
		 */
		if (!has)
			has = d->stored;
		if (has < 0)
			return error_code(has, "cannot look up chunk %s: %s",
					   cdt_id_to_hex(&d->id, hex), cdt_strerror(has));
		d->delta = 0;
		d->base = BASE_NONE;
		if (!has) {
			cdt_idset_add(&ing->round_new, &d->id);
			d->is_new = 1;
			d->obj = arena;
			arena += CDT_OBJ_MAX(d->len);
		}
	}
	return 0;
}

/* Stage the round's new chunks and record all of them in the manifest, in order. */
static int stage_round(struct cdt_ingest *ing, struct round *r, struct cdt_chunk_batch *batch,
		       struct cdt_manifest_writer *mw, const char *what,
		       struct cdt_ingest_result *res)
{
	size_t i;
	int ret;

	for (i = 0; i < r->ndesc; i++) {
		struct desc *d = &r->descs[i];

		if (d->delta) {
			ret = cdt_chunk_batch_stage_packed(batch, &d->id, d->dobj, d->dobj_len);
			if (ret < 0)
				return ret;
			res->new_stored += d->dobj_len;
			res->delta_chunks++;
			res->delta_raw += d->len;
			res->delta_stored += d->dobj_len;
		} else if (d->is_new && r->framed && d->frame_n) {
			/* A frame opens here: stage it with the ids of its chunks. */
			struct cdt_id *ids = xmalloc(d->frame_n * sizeof(*ids));
			uint32_t n = 0;
			size_t k;

			for (k = i; n < d->frame_n; k++)
				if (whole_new(&r->descs[k]))
					ids[n++] = r->descs[k].id;
			ret = cdt_chunk_batch_stage_frame(batch, ids, n, d->obj, d->obj_len);
			free(ids);
			if (ret < 0)
				return ret;
			res->new_stored += d->obj_len;
		} else if (d->is_new && !r->framed) {
			ret = cdt_chunk_batch_stage(batch, &d->id, d->obj, d->obj_len);
			if (ret < 0)
				return ret;
			res->new_stored += d->obj_len;
		}
		/* A chunk stored whole in a pack is a base for later deltas. */
		if (whole_new(d) && ing->deltas && r->packed)
			cdt_chunk_batch_sketch(batch, &d->id, &d->sf);
		if (d->is_new) {
			res->new_chunks++;
			res->new_raw += d->len;
		}
		ret = cdt_manifest_writer_add(mw, &d->id, d->len);
		if (ret < 0)
			return error_code(ret, "cannot write manifest for '%s': %s", quote(what),
					   cdt_strerror(ret));
		res->chunks++;
	}
	res->size += r->len;
	if (cdt_chunk_batch_count(batch) >= BATCH_CHUNKS ||
	    cdt_chunk_batch_bytes(batch) >= ing->batch_bytes) {
		ret = cdt_chunk_batch_commit(batch);
		/* The names pending had their chunks in it too. */
		if (ret < 0 && batch == ing->batch)
			ingest_fail_pending(ing, ret);
		/* The pack just written offers its chunks as bases through its sketch now. */
		if (!ret && ing->sketches) {
			cdt_sketchset_refresh(ing->sketches);
			ingest_sf_reset(&ing->add_sf);
		}
		if (!ret && ing->opt.committed)
			ing->opt.committed(cdt_chunk_batch_pack_name(batch), ing->opt.again_data);
		return ret;
	}
	return 0;
}

/* The parallel steps of a round, on the calling thread alone (its worker slot). */
static void run_inline(struct cdt_ingest *ing, size_t n, cdt_work_fn fn)
{
	int self = cdt_workers_count(ing->workers);
	size_t i;

	for (i = 0; i < n; i++)
		fn(i, self, ing);
}

/* A step over a round: in parallel, unless the round is a small file's. */
static void run_items(struct cdt_ingest *ing, const struct round *r, size_t n, cdt_work_fn fn)
{
	if (r->last && r->len < SMALL_ROUND)
		run_inline(ing, n, fn);
	else
		cdt_workers_run(ing->workers, n, fn, ing);
}

/* The rounds of one input (ingest-internal.h). */
int ingest_run_rounds(struct cdt_ingest *ing, int fd, const char *what,
		      struct cdt_chunk_batch *batch, struct cdt_manifest_writer *mw,
		      struct cdt_ingest_result *res)
{
	struct round *r = &ing->rounds[0], *next = &ing->rounds[1];
	int eof = 0, ret, first = 1;
	double last_progress = 0;

	/*
	 * A pipeline over two buffers: while the pool hashes round r, this
	 * thread reads and cuts the next round, then joins the hashing; then
	 * it looks r's chunks up, the pool (and this thread) encodes the new
	 * ones, and this thread stages them.
	 */
	if (ing->ahead)
		ingest_fill_ahead(ing, r, &eof);
	else if ((ret = ingest_fill_round(ing, fd, r, NULL, &eof)) < 0)
		goto read_error;
	if (ing->src) {
		/* Stored content: bases are read back from the store; every byte is hashed. */
		ing->reread = 1;
		ing->defer = 0;
	} else {
		/* Only input that can be read again may leave bytes unhashed. */
		ing->reread = ing->start >= 0 && ing->input_reg;
		ing->defer = !r->last && ing->reread;
	}
	for (;;) {
		struct round *t;
		int was_lazy = ing->lazy;

		ing->cur = r;
		r->file_off = ing->stream_off + res->size;
		if (r->last && r->len < SMALL_ROUND) {
			/* A small file: waking the pool would cost more than the work. */
			run_inline(ing, r->ndesc + 1, hash_item);
		} else {
			cdt_workers_start(ing->workers, r->ndesc + 1, hash_item, ing);
		}
		if (!r->last) {
			ret = ingest_fill_round(ing, fd, next, r, &eof);
			if (ret < 0) {
				cdt_workers_finish(ing->workers);
				goto read_error;
			}
		}
		if (!(r->last && r->len < SMALL_ROUND))
			cdt_workers_finish(ing->workers);
		if (!was_lazy && !ing->defer)
			ing->hashed += r->len;
		if (first) {
			/* Its content id is known already: no stored file to follow instead. */
			if (!ing->ahead)
				ingest_find_candidates(ing, fd, r);
			first = 0;
			if (ing->defer && !ing->lazy) {
				/* New content: the first round joins the file hash now. */
				ingest_hash_round(ing, r);
				ing->hashed += r->len;
			}
			ing->defer = 0;
		} else if (was_lazy) {
			ret = ingest_follow_candidates(ing, fd, r, res->size, res->chunks);
			if (ret < 0)
				return ingest_catch_up_error(what, ret);
		}
		ret = lookup_round(ing, r, batch);
		if (ret < 0)
			return ret;
		/*
		 * Into a pack, and then into frames when the store keeps them, and
		 * as deltas against similar stored chunks when it keeps those.
		 */
		r->packed = cdt_chunk_batch_packs(batch, ing->round_new.nr);
		r->framed = ing->frame_size && r->packed;
		if (ing->deltas && r->packed && ing->round_new.nr) {
			run_items(ing, r, r->ndesc, ingest_sketch_item);
			ingest_plan_bases(ing, r);
			ingest_pause_before_reread(ing, r);
			run_items(ing, r, DELTA_SPANS, ingest_delta_item);
		}
		if (r->framed) {
			plan_frames(ing, r);
			run_items(ing, r, r->nframes, encode_frame);
		} else {
			run_items(ing, r, r->ndesc, encode_item);
		}
		ret = stage_round(ing, r, batch, mw, what, res);
		if (ret < 0)
			return ret;
		if (ing->opt.progress && now_seconds() - last_progress > 0.2) {
			last_progress = now_seconds();
			ing->opt.progress(res->size, ing->opt.progress_data);
		}
		if (r->last)
			break;
		t = r;
		r = next;
		next = t;
	}

	return 0;
read_error:
	/* Stored content names the chunk it could not read where it fails. */
	if (ing->src)
		return ret;
	return error_code(ret, "cannot read '%s': %s", quote(what), cdt_strerror(ret));
}

int cdt_ingest_again(struct cdt_ingest *ing, const struct cdt_id *content, const char *what,
		     struct cdt_ingest_result *res)
{
	struct cdt_store *s = ing->store;
	struct cdt_manifest_writer *mw = NULL;
	struct strbuf why = STRBUF_INIT;
	char hex[CDT_ID_HEXLEN + 1], hex2[CDT_ID_HEXLEN + 1];
	int ret;

	memset(res, 0, sizeof(*res));
	ret = cdt_manifest_open(s, content, &ing->src, &why);
	if (ret < 0) {
		error("cannot read manifest %s of '%s': %s", cdt_id_to_hex(content, hex), quote(what),
		      why.len ? why.buf : cdt_strerror(ret));
		goto out;
	}
	if (!ing->again_batch) {
		ing->again_batch = cdt_chunk_batch_new(s);
		cdt_chunk_batch_pack_always(ing->again_batch);
		ing->src_reader = cdt_chunk_reader_new(s);
		ing->src_buf = xmalloc(cdt_store_chunker(s)->max_size);
	}
	ing->src_next = 0;
	ing->src_len = ing->src_pos = 0;
	cdt_cid_reset(ing->file_hash);
	ing->hashed = 0;
	ing->lazy = 0;
	ing->defer = 0;
	ing->ncands = 0;
	ing->start = -1;
	ing->fd = -1;
	ret = cdt_manifest_writer_new(s, &mw);
	if (ret < 0) {
		error("cannot create a manifest in '%s/tmp': %s", cdt_store_path(s), cdt_strerror(ret));
		goto out;
	}
	ret = ingest_run_rounds(ing, -1, what, ing->again_batch, mw, res);
	if (ret < 0)
		goto out;
	cdt_cid_final(ing->file_hash, &res->content);
	res->hashed = ing->hashed;
	/* The bytes read are the content only if they hash to its id again. */
	if (!cdt_id_eq(&res->content, content)) {
		ret = error_code(-CDT_ECORRUPT, "content %s of '%s' reads back as %s; not converted",
				 cdt_id_to_hex(content, hex), quote(what),
				 cdt_id_to_hex(&res->content, hex2));
		goto out;
	}
	/* And the same bytes cut by the same chunker make the same manifest. */
	ret = cdt_manifest_writer_finish(mw, content);
	if (ret < 0) {
		error("cannot write manifest for '%s': %s", quote(what), cdt_strerror(ret));
		goto out;
	}
	if (!cdt_id_eq(cdt_manifest_checksum(ing->src), cdt_manifest_writer_checksum(mw))) {
		ret = error_code(-CDT_ECORRUPT, "manifest %s of '%s' does not list the chunks its "
				 "content is cut into; not converted (run 'cdt fsck')",
				 cdt_id_to_hex(content, hex), quote(what));
		goto out;
	}
	ing->stream_off += res->size;
	ret = 0;
out:
	cdt_manifest_close(ing->src);
	ing->src = NULL;
	cdt_manifest_writer_free(mw);
	strbuf_release(&why);
	return ret;
}

int cdt_ingest_again_commit(struct cdt_ingest *ing)
{
	int ret;

	if (!ing->again_batch)
		return 0;
	ret = cdt_chunk_batch_commit(ing->again_batch);
	if (ret < 0)
		return ret;
	if (ing->sketches) {
		cdt_sketchset_refresh(ing->sketches);
		ingest_sf_reset(&ing->add_sf);
	}
	if (ing->opt.committed)
		ing->opt.committed(cdt_chunk_batch_pack_name(ing->again_batch),
				   ing->opt.again_data);
	return 0;
}
