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
		ing->comp[i] = opt->level ? cdt_compressor_new(cdt_store_config(s)->codec, opt->level) :
			       cdt_store_compressor_new(s);
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
	const unsigned char *raw;
	size_t k, end = first->off, pos = 0;
	int contiguous = 1;

	for (k = r->frame_first[i]; n < first->frame_n; k++) {
		struct desc *d = &r->descs[k];

		if (!whole_new(d))
			continue;
		contiguous &= d->off == end;
		end = d->off + d->len;
		lens[n++] = d->len;
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
		if (!open || open->frame_raw >= ing->frame_size ||
		    open->frame_n >= CDT_FRAME_MAX_CHUNKS) {
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

static int read_more(int fd, unsigned char *buf, size_t cap, size_t *have, int *eof)
{
	while (*have < cap && !*eof) {
		ssize_t n = read(fd, buf + *have, cap - *have);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			*eof = 1;
		*have += (size_t)n;
	}
	return 0;
}

/*
 * cdt_ingest_again(): fill buf from the chunks of the stored content, in
 * order, each read (any good copy) and checked against its id. A failure
 * is reported here, naming the chunk.
 */
static int read_stored(struct cdt_ingest *ing, unsigned char *buf, size_t cap, size_t *have,
		       int *eof)
{
	char hex[CDT_ID_HEXLEN + 1];

	while (*have < cap && !*eof) {
		size_t n;

		if (ing->src_pos == ing->src_len) {
			struct cdt_manifest_entry e;
			uint32_t len;
			int ret;

			if (ing->src_next == cdt_manifest_count(ing->src)) {
				*eof = 1;
				break;
			}
			ret = cdt_manifest_get(ing->src, ing->src_next, &e);
			if (ret < 0)
				return error_code(ret, "cannot read a manifest entry: %s",
						   cdt_strerror(ret));
			strbuf_reset(&ing->src_why);
			ret = cdt_chunk_read(ing->src_reader, &e.id, e.len, ing->src_buf, &len,
					     &ing->src_why);
			if (ret < 0)
				return error_code(ret, "cannot read chunk %s: %s",
						   cdt_id_to_hex(&e.id, hex),
						   ing->src_why.len ? ing->src_why.buf : cdt_strerror(ret));
			ing->src_next++;
			ing->src_len = len;
			ing->src_pos = 0;
			continue;
		}
		n = MIN(cap - *have, (size_t)(ing->src_len - ing->src_pos));
		memcpy(buf + *have, ing->src_buf + ing->src_pos, n);
		*have += n;
		ing->src_pos += (uint32_t)n;
	}
	return 0;
}

/* Note buf[start, end) of round r as zeros of a hole; ranges come in order. */
static void add_zero_range(struct round *r, size_t start, size_t end)
{
	if (start == end)
		return;
	if (r->nzr && r->zr[r->nzr - 1].end == start) {
		r->zr[r->nzr - 1].end = end;
		return;
	}
	ALLOC_GROW(r->zr, r->nzr + 1, r->zr_alloc);
	r->zr[r->nzr].start = start;
	r->zr[r->nzr].end = end;
	r->nzr++;
}

/*
 * Zero buf[start, end) of round r for a hole. Bytes that the previous
 * round in this buffer left zero, and that this round has not written
 * yet (it writes in order), are zero already: a long hole costs no
 * clearing after its first two rounds.
 */
static void fill_zeros(struct round *r, size_t start, size_t end)
{
	size_t i, at = start;

	for (i = 0; i < r->nold_zr && at < end; i++) {
		const struct zrange *z = &r->old_zr[i];

		if (z->end <= at)
			continue;
		if (z->start >= end)
			break;
		if (z->start > at)
			memset(r->buf + at, 0, z->start - at);
		at = MIN(end, z->end);
	}
	if (at < end)
		memset(r->buf + at, 0, end - at);
	add_zero_range(r, start, end);
}

/*
 * What lies at ing->rpos in a regular file: a hole (*hole set) or data,
 * up to *end. Asked afresh for every round, so that a hole's zeros are
 * never older than the round that uses them. 0, or -errno; a file
 * system that cannot say turns looking for holes off (ing->holes 0).
 * The file offset is left at ing->rpos.
 */
static int find_extent(struct cdt_ingest *ing, int fd, int *hole, off_t *end)
{
	off_t data = lseek(fd, ing->rpos, SEEK_DATA), next;
	struct stat st;

	*hole = 0;
	*end = INT64_MAX;
	if (data < 0 && errno == ENXIO) {
		/* No data from here on: a hole up to the end of the file, or the end. */
		if (fstat(fd, &st) < 0)
			return -errno;
		if (st.st_size > ing->rpos) {
			*hole = 1;
			*end = st.st_size;
		}
	} else if (data < 0) {
		ing->holes = 0;
	} else if (data > ing->rpos) {
		*hole = 1;
		*end = data;
	} else {
		next = lseek(fd, ing->rpos, SEEK_HOLE);
		if (next > ing->rpos)
			*end = next;
	}
	if (lseek(fd, ing->rpos, SEEK_SET) < 0)
		return -errno;
	return 0;
}

/*
 * read_more() for a regular file that may have holes: data is read,
 * holes are filled with zeros without reading them (SEEK_DATA and
 * SEEK_HOLE say where they are) and noted in r->zr. A hole found stale
 * (written since it was looked up) only means this round holds the
 * zeros the file had a moment ago; the write changes the file's times,
 * and add reports that it changed while it was read.
 */
static int read_sparse(struct cdt_ingest *ing, int fd, struct round *r, int *eof)
{
	size_t cap = ing->buf_cap;
	int ret = 0;

	while (r->have < cap && !*eof && ing->holes) {
		size_t want;
		ssize_t n;
		off_t end;
		int hole;

		ret = find_extent(ing, fd, &hole, &end);
		if (ret < 0)
			return ret;
		if (!ing->holes)
			break;
		want = (size_t)MIN((uint64_t)(cap - r->have), (uint64_t)(end - ing->rpos));
		if (hole) {
			if (!ing->hole_paused) {
				ing->hole_paused = 1;
				cdt_pause_point("sparse-hole");
			}
			fill_zeros(r, r->have, r->have + want);
			r->have += want;
			ing->rpos += (off_t)want;
			/* Where read(2) would have left it. */
			if (lseek(fd, ing->rpos, SEEK_SET) < 0)
				return -errno;
			continue;
		}
		n = read(fd, r->buf + r->have, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			*eof = 1;
		r->have += (size_t)n;
		ing->rpos += n;
	}
	if (!ing->holes)
		ret = read_more(fd, r->buf, cap, &r->have, eof);
	return ret;
}

/*
 * Cut round r into chunks. A chunk that starts in a hole is cut without
 * hashing the zeros (cdt_chunker_next_zeros()), and one that lies wholly
 * in holes gets the id of that many zero bytes, computed once per length.
 */
static void cut_round(struct cdt_ingest *ing, struct round *r, int eof)
{
	const struct cdt_chunker *ch = cdt_store_chunker(ing->store);
	size_t pos = 0, zi = 0, first[ARRAY_SIZE(ing->zero_ids)];
	unsigned k;

	for (k = 0; k < ARRAY_SIZE(first); k++)
		first[k] = SIZE_MAX;
	r->ndesc = 0;
	for (;;) {
		size_t zeros = 0, n;
		struct desc *d;

		while (zi < r->nzr && r->zr[zi].end <= pos)
			zi++;
		if (zi < r->nzr && r->zr[zi].start <= pos)
			zeros = r->zr[zi].end - pos;
		n = cdt_chunker_next_zeros(ch, r->buf + pos, r->have - pos, eof, zeros);
		if (!n)
			break;
		ALLOC_GROW(r->descs, r->ndesc + 1, r->alloc);
		d = &r->descs[r->ndesc++];
		d->off = pos;
		d->len = (uint32_t)n;
		d->is_new = 0;
		d->zero = zeros >= n;
		if (d->zero) {
			for (k = 0; k < ing->nzero_ids && ing->zero_ids[k].len != d->len; k++)
				;
			if (k == ing->nzero_ids) {
				/* A few lengths are enough: all but a hole's last chunk are alike. */
				if (ing->nzero_ids < ARRAY_SIZE(ing->zero_ids))
					ing->nzero_ids++;
				else
					k = d->len % ARRAY_SIZE(ing->zero_ids);
				ing->zero_ids[k].len = d->len;
				cdt_hash(r->buf + pos, n, &ing->zero_ids[k].id);
				first[k] = SIZE_MAX;
			}
			d->id = ing->zero_ids[k].id;
			if (first[k] == SIZE_MAX)
				first[k] = r->ndesc - 1;
			d->zero_first = first[k];
		}
		pos += n;
	}
	r->len = pos;
}

/*
 * Fill round r: the bytes `prev` left uncut first, then as much of the file
 * as fits; cut it into chunks. Returns 0 or -errno (read error).
 */
static int fill_round(struct cdt_ingest *ing, int fd, struct round *r, const struct round *prev,
		      int *eof)
{
	struct zrange *t = r->old_zr;
	size_t i, ta = r->old_zr_alloc;
	int ret;

	/* The previous round's holes in this buffer become the old ones. */
	r->old_zr = r->zr;
	r->old_zr_alloc = r->zr_alloc;
	r->nold_zr = r->nzr;
	r->zr = t;
	r->zr_alloc = ta;
	r->nzr = 0;
	r->have = 0;
	if (prev) {
		r->have = prev->have - prev->len;
		memcpy(r->buf, prev->buf + prev->len, r->have);
		for (i = 0; i < prev->nzr; i++)
			if (prev->zr[i].end > prev->len)
				add_zero_range(r, MAX(prev->zr[i].start, prev->len) - prev->len,
					       prev->zr[i].end - prev->len);
	} else if (!ing->src) {
		/* A new input: holes are looked for in a sparse file read from a known offset. */
		ing->holes = ing->start >= 0 && ing->input_sparse;
		ing->rpos = ing->start;
		ing->hole_paused = 0;
	}
	if (ing->src)
		ret = read_stored(ing, r->buf, ing->buf_cap, &r->have, eof);
	else if (ing->holes)
		ret = read_sparse(ing, fd, r, eof);
	else
		ret = read_more(fd, r->buf, ing->buf_cap, &r->have, eof);
	if (ret < 0)
		return ret;
	cut_round(ing, r, *eof);
	r->last = *eof && r->len == r->have;
	return 0;
}

/*
 * A file read ahead (ops/ahead.h) as round r: its bytes, and its chunks
 * with their ids (and sketches) as the reader cut and hashed them.
 */
static void fill_ahead(struct cdt_ingest *ing, struct round *r, int *eof)
{
	const struct cdt_ahead_file *f = ing->ahead;
	size_t i;

	ing->holes = 0;
	r->nzr = r->nold_zr = 0;
	memcpy(r->buf, f->buf, f->len);
	r->have = r->len = f->len;
	r->ndesc = 0;
	for (i = 0; i < f->nchunks; i++) {
		struct desc *d;

		ALLOC_GROW(r->descs, r->ndesc + 1, r->alloc);
		d = &r->descs[r->ndesc++];
		memset(d, 0, sizeof(*d));
		d->off = f->chunks[i].off;
		d->len = f->chunks[i].len;
		d->id = f->chunks[i].id;
		d->sf = f->chunks[i].sf;
	}
	*eof = 1;
	r->last = 1;
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
		fill_ahead(ing, r, &eof);
	else if ((ret = fill_round(ing, fd, r, NULL, &eof)) < 0)
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
			ret = fill_round(ing, fd, next, r, &eof);
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
