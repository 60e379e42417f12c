/* ingest.c: the add pipeline: read, chunk, hash, look up, compress, stage, commit. */
#include "ops/ingest.h"
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
#include "format/namerefs.h"
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

/*
 * Work proceeds in rounds over a buffer of READ_BUF bytes: cut the buffer
 * into chunks, hash them (and feed the whole-file hash) in parallel, look
 * each up in order, compress the new ones in parallel, then stage them and
 * append to the manifest in order. Memory is the buffer, an arena for
 * compressed output of the same size, and bounded batches: nothing grows
 * with the file.
 */
#define READ_BUF (8u << 20)
/*
 * Commit staged chunks at least this often (count or stored bytes): each
 * commit is a pack (or a few loose objects) and one syncfs.
 */
#define BATCH_CHUNKS 65536
#define BATCH_BYTES (64u << 20)
/* Stored manifests a file is compared with while its whole-file hash waits. */
#define MAX_CANDIDATES 8
/* Index packs together when an add leaves more than this many outside the multi-pack index. */
#define MIDX_AFTER_PACKS 32
/* Merge reference tables when an add leaves more than this many. */
#define REFS_MAX_TABLES 32

struct desc {
	size_t off;		/* in the read buffer */
	uint32_t len;
	struct cdt_id id;
	int stored;		/* cdt_chunk_has() when it was hashed: 1, 0 or -errno */
	int is_new;
	unsigned char *obj;	/* encoded object (or frame, for its first chunk), in the arena */
	size_t obj_len;
	/* Framed: the first chunk of a frame holds its size; 0 for the others in it. */
	uint32_t frame_n;	/* chunks in the frame this one opens */
	size_t frame_raw;	/* their raw bytes */
	/* Deltas: the chunk's sketch, the base it may be stored against, the delta. */
	struct cdt_sketch_sf sf;
	int base;		/* BASE_NONE, BASE_ADD (stored by this add) or BASE_PACKED */
	size_t base_ref;	/* BASE_ADD: in ing->add_sf.bases */
	struct cdt_pack *base_pack;
	uint64_t base_entry;
	int delta;		/* stored as the delta in dobj */
	unsigned char *dobj;
	size_t dobj_len;
};

enum { BASE_NONE, BASE_ADD, BASE_PACKED };

/* A new chunk goes into a frame (or its own object) unless it is a delta. */
static int whole_new(const struct desc *d)
{
	return d->is_new && !d->delta;
}

/*
 * The chunks this add stored whole since its last commit, which deltas may
 * use as bases before their pack's sketch is written: by super-feature
 * (an open-addressing table into `bases`). A base is read back from the
 * input (its round's buffer, or the file again, checked against its id).
 */
struct sf_table {
	uint64_t *keys;
	size_t *vals;
	size_t cap, n;
	struct base_ref {
		uint64_t file_off;	/* from where reading began */
		uint32_t len;
		struct cdt_id id;
	} *bases;
	size_t nbases, abases;
};

/* One buffer's worth of the file and what becomes of it. */
struct round {
	unsigned char *buf;
	size_t have;		/* bytes in buf */
	size_t len;		/* bytes cut into chunks (the rest carries over) */
	struct desc *descs;
	size_t ndesc, alloc;
	unsigned char *arena;	/* encoded objects (or frames) of the new chunks */
	int framed;		/* new chunks go into frames (the batch packs them) */
	size_t nframes;		/* frames in this round */
	size_t *frame_first;	/* the desc that opens each */
	size_t frames_alloc;
	int packed;		/* new chunks go into a pack */
	uint64_t file_off;	/* of buf[0], from where reading began */
	unsigned char *darena;	/* deltas of the new chunks */
	int last;		/* the file ends with this round */
};
/* Room for deltas in a round: a chunk past it is stored whole. */
#define DELTA_ARENA (16u << 20)
/*
 * Threads an add uses unless told: each one beyond the first costs about
 * 3.5 MiB (its compressor, reader and buffers), and 8 keep an add within
 * 64 MiB of memory on any machine; past that, reading the input bounds it.
 */
#define DEFAULT_JOBS_MAX 8
/* A delta is kept only when it is at least this much smaller than the chunk alone. */
#define DELTA_MIN_GAIN 32

struct cdt_ingest {
	struct cdt_store *store;
	struct cdt_ingest_options opt;
	struct cdt_workers *workers;
	struct cdt_compressor **comp;	/* one per worker + caller */
	struct cdt_chunk_reader **readers;	/* the same, to check loose copies found */
	unsigned char **rbufs;
	uint32_t frame_size;		/* the store's; 0: every chunk alone */
	unsigned char **fbufs;		/* per worker: a frame's raw bytes, gathered */
	uint32_t **flens;
	int ncomp;
	size_t buf_cap;
	/* Deltas (a store that keeps them): bases by sketch, and scratch per worker. */
	int deltas;
	struct cdt_sketchset *sketches;
	struct sf_table add_sf;
	unsigned char **zbufs;
	int fd;				/* the input; bases are read back from it */
	/*
	 * cdt_ingest_again(): the input is a stored content's chunks (src,
	 * the next entry, the chunk read last and how much of it is used),
	 * bases are read back from the store by id, and new chunks go into
	 * one batch across contents. stream_off is where the current input
	 * starts in everything read since the ingest was made (add: 0).
	 */
	struct cdt_manifest *src;
	uint64_t src_next;
	unsigned char *src_buf;
	uint32_t src_len, src_pos;
	struct cdt_chunk_reader *src_reader;
	struct strbuf src_why;
	struct cdt_chunk_batch *again_batch;
	uint64_t stream_off;
	int reread;			/* it can be read again (bases of earlier rounds) */
	int paused;			/* the "delta-base" test hook was met */
	uint64_t batch_bytes;		/* staged bytes that make a commit: BATCH_BYTES */
	/* Two rounds: one is encoded while the next is read and cut. */
	struct round rounds[2];
	struct round *cur;		/* the round the parallel steps work on */
	struct cdt_hasher *file_hash;
	struct cdt_idset round_new;	/* ids found new in this round */
	/*
	 * Content already stored: a file whose chunks are exactly those of a
	 * stored manifest has that manifest's content id (a manifest's id is
	 * only ever recorded from the bytes it was hashed from, and fsck
	 * checks it), so the whole-file hash (a second SHA-256 pass over
	 * every byte) can wait until the file turns out to differ. Then it is
	 * caught up by reading the part that was skipped again, each chunk of
	 * it checked against its id (only for input that can be read again).
	 */
	struct cand {
		struct cdt_manifest *m;
		struct cdt_id id;
		uint64_t next;		/* the manifest entry the next chunk must match */
	} cands[MAX_CANDIDATES];
	int ncands;
	int lazy;			/* the file hash is behind: see above */
	int defer;			/* the first round's file hash waits for the candidates */
	uint64_t hashed;		/* bytes of the file fed to file_hash */
	off_t start;			/* offset of the file's first byte in fd, -1 if unknown */
	/* Reading skipped bytes again: a buffer, its chunks and their check. */
	unsigned char *cbuf;
	struct cdt_manifest_entry *cents;
	unsigned char *csame;
	size_t cents_cap;
};

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
	ing->file_hash = cdt_hasher_new();
	strbuf_init(&ing->src_why, 0);
	return ing;
}

void cdt_ingest_free(struct cdt_ingest *ing)
{
	int i;

	if (!ing)
		return;
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
	}
	cdt_hasher_free(ing->file_hash);
	cdt_idset_clear(&ing->round_new);
	cdt_chunk_batch_free(ing->again_batch);
	cdt_chunk_reader_free(ing->src_reader);
	free(ing->src_buf);
	strbuf_release(&ing->src_why);
	free(ing->cbuf);
	free(ing->cents);
	free(ing->csame);
	free(ing);
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
		if (!ing->lazy && !ing->defer)
			cdt_hasher_update(ing->file_hash, r->buf, r->len);
		return;
	}
	d = &r->descs[i - 1];
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

static void sf_reset(struct sf_table *t)
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
static void sketch_item(size_t i, int worker, void *data)
{
	struct cdt_ingest *ing = data;
	struct round *r = ing->cur;
	struct desc *d = &r->descs[i];

	(void)worker;
	if (d->is_new)
		cdt_sketch_compute(r->buf + d->off, d->len, &d->sf);
}

/*
 * In order: a base for each new chunk whose sketch matches a stored chunk
 * or an earlier new chunk of this round that is stored whole, with room
 * for its delta. A chunk without one is a base for those after it.
 */
static void plan_bases(struct cdt_ingest *ing, struct round *r)
{
	struct sf_table *t = &ing->add_sf;
	unsigned char *darena = r->darena;
	size_t i, room = DELTA_ARENA;
	int k;

	/* Input that cannot be read again offers only this round's chunks. */
	if (!ing->reread)
		sf_reset(t);
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
static void pause_before_reread(struct cdt_ingest *ing, struct round *r)
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
#define DELTA_SPANS 16

static void delta_item(size_t i, int worker, void *data)
{
	struct cdt_ingest *ing = data;
	struct round *r = ing->cur;
	size_t k, first = r->ndesc * i / DELTA_SPANS, end = r->ndesc * (i + 1) / DELTA_SPANS;

	for (k = first; k < end; k++)
		try_delta(ing, r, &r->descs[k], worker);
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

/* Write the chunk references of the finished manifest, reading it back in bounded pieces. */
static int write_refs(struct cdt_ingest *ing, const char *manifest_tmp, const struct cdt_id *m)
{
	struct cdt_ref_writer *w = cdt_ref_writer_new(ing->store);
	int tmpfd = cdt_store_dirfd(ing->store, CDT_DIR_TMP);
	unsigned char *rec = xmalloc(1024 * CDT_MANIFEST_REC);
	off_t off = CDT_MANIFEST_HDR;
	struct stat st;
	int fd, ret = 0;
	uint64_t left;

	fd = openat(tmpfd, manifest_tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	left = ((uint64_t)st.st_size - CDT_MANIFEST_HDR - CDT_MANIFEST_TRAILER) / CDT_MANIFEST_REC;
	while (left && !ret) {
		size_t nr = (size_t)MIN(left, 1024u), i;
		ssize_t n = pread_full(fd, rec, nr * CDT_MANIFEST_REC, off);

		if (n != (ssize_t)(nr * CDT_MANIFEST_REC)) {
			ret = n < 0 ? (int)n : -EIO;
			break;
		}
		for (i = 0; i < nr && !ret; i++) {
			struct cdt_id c;

			memcpy(c.b, rec + i * CDT_MANIFEST_REC, CDT_ID_LEN);
			ret = cdt_ref_writer_add(w, &c, m);
		}
		off += n;
		left -= nr;
	}
	if (!ret)
		ret = cdt_ref_writer_flush(w);
out:
	if (fd >= 0)
		close(fd);
	free(rec);
	cdt_ref_writer_free(w);
	return ret;
}

/*
 * Fill round r: the bytes `prev` left uncut first, then as much of the file
 * as fits; cut it into chunks. Returns 0 or -errno (read error).
 */
static int fill_round(struct cdt_ingest *ing, int fd, struct round *r, const struct round *prev,
		      int *eof)
{
	const struct cdt_chunker *ch = cdt_store_chunker(ing->store);
	size_t pos = 0;
	int ret;

	r->have = 0;
	if (prev) {
		r->have = prev->have - prev->len;
		memcpy(r->buf, prev->buf + prev->len, r->have);
	}
	if (ing->src)
		ret = read_stored(ing, r->buf, ing->buf_cap, &r->have, eof);
	else
		ret = read_more(fd, r->buf, ing->buf_cap, &r->have, eof);
	if (ret < 0)
		return ret;
	r->ndesc = 0;
	for (;;) {
		size_t n = cdt_chunker_next(ch, r->buf + pos, r->have - pos, *eof);
		struct desc *d;

		if (!n)
			break;
		ALLOC_GROW(r->descs, r->ndesc + 1, r->alloc);
		d = &r->descs[r->ndesc++];
		d->off = pos;
		d->len = (uint32_t)n;
		d->is_new = 0;
		pos += n;
	}
	r->len = pos;
	r->last = *eof && pos == r->have;
	return 0;
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
			sf_reset(&ing->add_sf);
		}
		if (!ret && ing->opt.committed)
			ing->opt.committed(cdt_chunk_batch_pack_name(batch), ing->opt.again_data);
		return ret;
	}
	return 0;
}

static void drop_candidates(struct cdt_ingest *ing)
{
	int i;

	for (i = 0; i < ing->ncands; i++)
		cdt_manifest_close(ing->cands[i].m);
	ing->ncands = 0;
}

/* One buffer of bytes read again, and the chunks it holds. */
struct catchup {
	struct cdt_hasher *file_hash;
	const unsigned char *buf;
	size_t len;
	uint64_t base;			/* file offset of buf[0] */
	const struct cdt_manifest_entry *ents;
	unsigned char *same;		/* per chunk: hashes to its id again */
};

/* Item 0 feeds the file hash the whole buffer; item k+1 checks chunk k. */
static void catchup_item(size_t i, int worker, void *data)
{
	struct catchup *c = data;
	const struct cdt_manifest_entry *e;
	struct cdt_id got;

	(void)worker;
	if (i == 0) {
		cdt_hasher_update(c->file_hash, c->buf, c->len);
		return;
	}
	e = &c->ents[i - 1];
	cdt_hash(c->buf + (e->offset - c->base), e->len, &got);
	c->same[i - 1] = cdt_id_eq(&got, &e->id);
}

/*
 * Feed the file hash the bytes [0, upto) that were skipped, by reading
 * them again. They are the first `nchunks` chunks cut, which are also the
 * first entries of candidate manifest `ref`. Bytes read a second time are
 * the bytes that were chunked only if every chunk hashes to its id again,
 * so each is checked (in parallel, as they were hashed the first time):
 * a content id is never computed from bytes other than those stored. 0,
 * -EAGAIN when the file no longer holds those bytes (it changed, or
 * shrank), or another -errno.
 */
static int catch_up(struct cdt_ingest *ing, int fd, const struct cdt_id *ref,
		    uint64_t nchunks, uint64_t upto)
{
	const struct cdt_chunker *ch = cdt_store_chunker(ing->store);
	struct cdt_manifest *m = NULL;
	struct catchup c;
	uint64_t next = 0;
	int ret;

	if (ing->hashed || ing->start < 0)
		return -EINVAL;	/* lazy hashing starts at the first byte of seekable input */
	ret = cdt_manifest_open(ing->store, ref, &m, NULL);
	if (ret < 0)
		return ret;
	if (cdt_manifest_count(m) < nchunks) {
		ret = -EAGAIN;
		goto out;
	}
	if (!ing->cbuf) {
		ing->cents_cap = ing->buf_cap / ch->min_size + 2;
		ing->cbuf = xmalloc(ing->buf_cap);
		ing->cents = xcalloc(ing->cents_cap, sizeof(*ing->cents));
		ing->csame = xmalloc(ing->cents_cap);
	}
	cdt_pause_point("catch-up");
	c.file_hash = ing->file_hash;
	c.buf = ing->cbuf;
	c.ents = ing->cents;
	c.same = ing->csame;
	while (next < nchunks) {
		size_t nr = 0, want = 0, i;
		ssize_t n;

		/* As many whole chunks as fit. */
		while (next + nr < nchunks && nr < ing->cents_cap) {
			ret = cdt_manifest_get(m, next + nr, &ing->cents[nr]);
			if (ret < 0)
				goto out;
			if (want + ing->cents[nr].len > ing->buf_cap)
				break;
			want += ing->cents[nr].len;
			nr++;
		}
		c.base = ing->cents[0].offset;
		c.len = want;
		if (c.base != ing->hashed) {
			ret = -EAGAIN;
			goto out;
		}
		n = pread_full(fd, ing->cbuf, want, ing->start + (off_t)c.base);
		if (n < 0) {
			ret = (int)n;
			goto out;
		}
		if ((size_t)n != want) {
			ret = -EAGAIN;	/* the file shrank */
			goto out;
		}
		cdt_workers_run(ing->workers, nr + 1, catchup_item, &c);
		for (i = 0; i < nr; i++)
			if (!c.same[i]) {
				ret = -EAGAIN;
				goto out;
			}
		ing->hashed += want;
		next += nr;
	}
	ret = ing->hashed == upto ? 0 : -EAGAIN;
out:
	cdt_manifest_close(m);
	return ret;
}

/* Keep the candidates whose next entries are exactly the round's chunks. */
static void match_candidates(struct cdt_ingest *ing, const struct round *r)
{
	int i, j;
	size_t k;

	for (i = 0; i < ing->ncands; i++) {
		struct cand *c = &ing->cands[i];
		int ok = 1;

		for (k = 0; k < r->ndesc && ok; k++, c->next++) {
			struct cdt_manifest_entry e;

			ok = c->next < cdt_manifest_count(c->m) &&
			     cdt_manifest_get(c->m, c->next, &e) == 0 &&
			     cdt_id_eq(&e.id, &r->descs[k].id) && e.len == r->descs[k].len;
		}
		if (!ok) {
			cdt_manifest_close(c->m);
			c->m = NULL;
		}
	}
	for (i = 0, j = 0; i < ing->ncands; i++)
		if (ing->cands[i].m)
			ing->cands[j++] = ing->cands[i];
	ing->ncands = j;
}

/* After the first round: stored manifests that start with its chunks. */
static void find_candidates(struct cdt_ingest *ing, int fd, const struct round *r)
{
	struct cdt_refs *refs;
	struct cdt_id *users = NULL;
	struct stat st;
	int n, i;

	ing->ncands = 0;
	ing->lazy = 0;
	if (!r->ndesc || r->last || ing->start < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return;	/* nothing to gain, or input that cannot be read again */
	if (cdt_refs_open(ing->store, &refs) < 0)
		return;
	n = cdt_refs_lookup(refs, &r->descs[0].id, &users);
	for (i = 0; i < n && ing->ncands < MAX_CANDIDATES; i++) {
		struct cand *c = &ing->cands[ing->ncands];
		struct cdt_manifest_entry e;

		if (cdt_manifest_open(ing->store, &users[i], &c->m, NULL) < 0)
			continue;
		if (cdt_manifest_get(c->m, 0, &e) < 0 || !cdt_id_eq(&e.id, &r->descs[0].id) ||
		    e.len != r->descs[0].len) {
			cdt_manifest_close(c->m);
			continue;
		}
		c->id = users[i];
		c->next = 0;
		ing->ncands++;
	}
	free(users);
	cdt_refs_close(refs);
	/* A candidate must match the whole first round. */
	match_candidates(ing, r);
	ing->lazy = ing->ncands > 0;
}

/* Compare the round's chunks with each candidate; catch the hash up when none is left. */
static int follow_candidates(struct cdt_ingest *ing, int fd, const struct round *r,
			     uint64_t round_start, uint64_t chunks_before)
{
	/* Every candidate left matched all chunks before this round. */
	struct cdt_id ref = ing->cands[0].id;
	int ret;

	match_candidates(ing, r);
	if (ing->ncands)
		return 0;
	/* The file differs from every stored one: hash what was skipped, and this round. */
	ing->lazy = 0;
	ret = catch_up(ing, fd, &ref, chunks_before, round_start);
	if (ret < 0)
		return ret;
	cdt_hasher_update(ing->file_hash, r->buf, r->len);
	ing->hashed += r->len;
	return 0;
}

/* Report a failed catch_up() of `what`. */
static int catch_up_error(const char *what, int ret)
{
	if (ret == -EAGAIN)
		return error_code(ret, "'%s' changed while it was read; not stored (add it again)",
				   quote(what));
	return error_code(ret, "cannot read '%s' again: %s", quote(what), cdt_strerror(ret));
}

/*
 * The rounds of one input, read from fd (or, for cdt_ingest_again(), from
 * ing->src): every chunk cut, looked up, new ones encoded and staged into
 * batch, all of them recorded in mw. 0 or -errno (reported).
 */
static int run_rounds(struct cdt_ingest *ing, int fd, const char *what,
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
	ret = fill_round(ing, fd, r, NULL, &eof);
	if (ret < 0)
		goto read_error;
	if (ing->src) {
		/* Stored content: bases are read back from the store; every byte is hashed. */
		ing->reread = 1;
		ing->defer = 0;
	} else {
		struct stat st;

		/* Only input that can be read again may leave bytes unhashed. */
		ing->reread = ing->start >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
		ing->defer = !r->last && ing->reread;
	}
	for (;;) {
		struct round *t;
		int was_lazy = ing->lazy;

		ing->cur = r;
		r->file_off = ing->stream_off + res->size;
		cdt_workers_start(ing->workers, r->ndesc + 1, hash_item, ing);
		if (!r->last) {
			ret = fill_round(ing, fd, next, r, &eof);
			if (ret < 0) {
				cdt_workers_finish(ing->workers);
				goto read_error;
			}
		}
		cdt_workers_finish(ing->workers);
		if (!was_lazy && !ing->defer)
			ing->hashed += r->len;
		if (first) {
			find_candidates(ing, fd, r);
			first = 0;
			if (ing->defer && !ing->lazy) {
				/* New content: the first round joins the file hash now. */
				cdt_hasher_update(ing->file_hash, r->buf, r->len);
				ing->hashed += r->len;
			}
			ing->defer = 0;
		} else if (was_lazy) {
			ret = follow_candidates(ing, fd, r, res->size, res->chunks);
			if (ret < 0)
				return catch_up_error(what, ret);
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
			cdt_workers_run(ing->workers, r->ndesc, sketch_item, ing);
			plan_bases(ing, r);
			pause_before_reread(ing, r);
			cdt_workers_run(ing->workers, DELTA_SPANS, delta_item, ing);
		}
		if (r->framed) {
			plan_frames(ing, r);
			cdt_workers_run(ing->workers, r->nframes, encode_frame, ing);
		} else {
			cdt_workers_run(ing->workers, r->ndesc, encode_item, ing);
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

int cdt_ingest_fd(struct cdt_ingest *ing, int fd, const char *what,
		  struct cdt_name_entry *meta, struct cdt_ingest_result *res)
{
	struct cdt_store *s = ing->store;
	struct cdt_manifest_writer *mw = NULL;
	struct cdt_chunk_batch *batch = cdt_chunk_batch_new(s);
	int ret, heal = 0;
	char hex[CDT_ID_HEXLEN + 1];

	memset(res, 0, sizeof(*res));
	cdt_hasher_reset(ing->file_hash);
	ing->hashed = 0;
	ing->lazy = 0;
	ing->defer = 0;
	ing->ncands = 0;
	/* Skipped bytes are read again relative to where reading began. */
	ing->start = lseek(fd, 0, SEEK_CUR);
	ing->fd = fd;
	ing->stream_off = 0;
	sf_reset(&ing->add_sf);
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	ret = cdt_manifest_writer_new(s, &mw);
	if (ret < 0) {
		error("cannot create a manifest in '%s/tmp': %s", cdt_store_path(s), cdt_strerror(ret));
		goto out;
	}

	ret = run_rounds(ing, fd, what, batch, mw, res);
	if (ret < 0)
		goto out;

	/* A stored manifest with exactly these chunks names this content. */
	if (ing->lazy) {
		int i, found = -1;

		for (i = 0; i < ing->ncands; i++)
			if (ing->cands[i].next == cdt_manifest_count(ing->cands[i].m) &&
			    cdt_manifest_size(ing->cands[i].m) == res->size)
				found = i;
		if (found >= 0) {
			res->content = ing->cands[found].id;
		} else {
			/* Every candidate left matched every chunk: the file is a prefix of each. */
			ret = catch_up(ing, fd, &ing->cands[0].id, res->chunks, res->size);
			if (ret < 0) {
				catch_up_error(what, ret);
				goto out;
			}
		}
		ing->lazy = found >= 0;
		drop_candidates(ing);
	}
	drop_candidates(ing);
	if (!ing->lazy)
		cdt_hasher_final(ing->file_hash, &res->content);
	ing->lazy = 0;

	ret = cdt_manifest_writer_finish(mw, &res->content);
	if (ret < 0) {
		error("cannot write manifest for '%s': %s", quote(what), cdt_strerror(ret));
		goto out;
	}
	ret = cdt_manifest_exists(s, &res->content);
	if (ret < 0) {
		error("cannot look up manifest %s: %s", cdt_id_to_hex(&res->content, hex),
		      cdt_strerror(ret));
		goto out;
	}
	if (ret == 1) {
		struct cdt_manifest *old;
		int v = cdt_manifest_open(s, &res->content, &old, NULL);

		/*
		 * The same content always makes the same manifest, byte for
		 * byte, so a damaged one is healed by adding the file again,
		 * and so is one that lists other chunks than the content it is
		 * named for (its checksum then differs from the one just made,
		 * whose id was computed from the bytes read).
		 */
		if (!v) {
			if (!cdt_id_eq(cdt_manifest_checksum(old), cdt_manifest_writer_checksum(mw))) {
				warning("manifest %s does not list the chunks of the content it is named for; "
					"replacing it with the one just made (then 'cdt fsck --rebuild-refs' "
					"drops its old references)",
					cdt_id_to_hex(&res->content, hex));
				heal = 1;
				ret = 0;
			}
			cdt_manifest_close(old);
		} else if (v == -CDT_ECORRUPT) {
			warning("manifest %s is damaged; replacing it with the one just made",
				cdt_id_to_hex(&res->content, hex));
			heal = 1;
			ret = 0;
		}
	}
	res->manifest_existed = ret;
	if (!ret) {
		ret = write_refs(ing, cdt_manifest_writer_tmpname(mw), &res->content);
		if (ret < 0) {
			error("cannot write reference table: %s", cdt_strerror(ret));
			goto out;
		}
	}
	/* Data before metadata: chunks and references durable before the manifest. */
	ret = cdt_chunk_batch_commit(batch);
	if (ret < 0)
		goto out;
	if (ing->sketches) {
		cdt_sketchset_refresh(ing->sketches);
		sf_reset(&ing->add_sf);
	}
	if (!res->manifest_existed) {
		ret = cdt_store_sync(s);
		if (ret < 0) {
			error("cannot sync store '%s': %s", cdt_store_path(s), cdt_strerror(ret));
			goto out;
		}
		cdt_crash_point("manifest");
		ret = cdt_manifest_writer_commit(mw, heal);
		if (ret < 0) {
			error("cannot store manifest %s: %s", cdt_id_to_hex(&res->content, hex),
			      cdt_strerror(ret));
			goto out;
		}
	}
	/* Then the name record, then the name. */
	ret = cdt_nameref_add(s, &res->content, meta->name);
	if (ret < 0) {
		error("cannot record name '%s' for manifest %s: %s", quote(meta->name),
		      cdt_id_to_hex(&res->content, hex), cdt_strerror(ret));
		goto out;
	}
	meta->size = res->size;
	res->hashed = ing->hashed;
	meta->content = res->content;
	meta->added_sec = (int64_t)time(NULL);
	ret = cdt_name_write(s, meta, !ing->opt.no_replace);
	if (ret == -EEXIST)
		error("name '%s' already exists (not replaced)", quote(meta->name));
	else if (ret == -EISDIR)
		error("cannot store '%s': stored names exist under '%s/'", quote(meta->name), quote(meta->name));
	else if (ret == -ENOTDIR)
		error("cannot store '%s': a parent of it is a stored name", quote(meta->name));
	else if (ret < 0)
		error("cannot write name '%s': %s", quote(meta->name), cdt_strerror(ret));
	if (ret < 0)
		goto out;
	if (ing->opt.progress)
		ing->opt.progress(res->size, ing->opt.progress_data);
	/* Keep lookups cheap: index many new packs together now and then. */
	if (cdt_packs_uncovered(s) > MIDX_AFTER_PACKS) {
		int w = cdt_packs_write_midx(s);

		if (w < 0)
			warning("cannot write the multi-pack index: %s", cdt_strerror(w));
	}
	/* And merge small reference tables. */
	if (!res->manifest_existed) {
		int merged = cdt_refs_compact(s, REFS_MAX_TABLES, NULL, NULL);

		if (merged < 0)
			warning("cannot merge reference tables: %s", cdt_strerror(merged));
	}
	ret = 0;
out:
	drop_candidates(ing);
	ing->lazy = 0;
	cdt_chunk_batch_free(batch);
	cdt_manifest_writer_free(mw);
	return ret;
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
	cdt_hasher_reset(ing->file_hash);
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
	ret = run_rounds(ing, -1, what, ing->again_batch, mw, res);
	if (ret < 0)
		goto out;
	cdt_hasher_final(ing->file_hash, &res->content);
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
		sf_reset(&ing->add_sf);
	}
	if (ing->opt.committed)
		ing->opt.committed(cdt_chunk_batch_pack_name(ing->again_batch),
				   ing->opt.again_data);
	return 0;
}
