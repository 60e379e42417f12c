/* ahead.c: small files read, cut and hashed ahead on a thread of their own (see ahead.h). */
#include "ops/ahead.h"
#include "base/alloc.h"
#include "base/cid.h"
#include "base/compress.h"
#include "base/fsutil.h"
#include "base/util.h"
#include "format/chunker.h"
#include "format/config.h"
#include "format/object.h"
#include "base/testpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/*
 * Content ids of the files read so far, by their first bytes (a slot holds
 * the last one): a file whose content was read before in this add stores
 * no new chunk, and gets no sketches or frames, which only new chunks use.
 */
#define SEEN_SLOTS 16384

/* A pushed file and, once the thread is done with it, what it made of it. */
struct item {
	const void *src;
	int done;
	struct cdt_ahead_file *file;	/* NULL: not prepared */
};

struct cdt_ahead {
	const struct cdt_chunker *chunker;
	enum cdt_cid_kind cid;
	int sketches;
	/* Frames: the store's frame size (0: none), the thread's compressor. */
	uint32_t frame_size;
	struct cdt_compressor *comp;
	uint32_t *lens;
	int encode_all;		/* as each file is read (a test's) */
	struct seen {
		struct cdt_id id;
		int used;
	} *seen;		/* SEEN_SLOTS, the thread's own */
	unsigned paused;	/* the "ahead" test pause is met once */
	int (*open_fn)(const void *file, int flags);
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cond;	/* an item is done, pushed, encoded or taken; or stop */
	/* A ring of items: taken from `head`, prepared at `next`, pushed at head + n. */
	struct item *ring;
	size_t cap, head, n, next;
	size_t held;		/* bytes of prepared files not taken */
	size_t max_open;	/* prepared files not taken, each an open descriptor */
	int stop;
};

void cdt_ahead_file_free(struct cdt_ahead_file *f)
{
	if (!f)
		return;
	if (f->fd >= 0)
		close(f->fd);
	free(f->buf);
	free(f->chunks);
	free(f->frames);
	free(f->enc);
	free(f);
}

const unsigned char *cdt_ahead_frame(const struct cdt_ahead_file *f, size_t first, uint32_t n,
				     size_t *len)
{
	size_t i;

	for (i = 0; i < f->nframes; i++) {
		const struct cdt_ahead_frame *fr = &f->frames[i];

		if (fr->first == first && fr->n == n) {
			*len = fr->len;
			return f->enc + fr->off;
		}
		if (fr->first >= first)
			break;
	}
	return NULL;
}

/*
 * Encode f's chunks into frames as add plans them when all are new
 * (plan_frames() in ingest.c): in order, each closed once cdt_frame_full().
 */
static void encode_frames(struct cdt_ahead *a, struct cdt_ahead_file *f)
{
	size_t i, first = 0, room = 0, alloc = 0, raw = 0, pos = 0;

	for (i = 0; i < f->nchunks; i++) {
		raw += f->chunks[i].len;
		if (!cdt_frame_full(raw, i + 1 - first, a->frame_size) && i + 1 < f->nchunks)
			continue;
		ALLOC_GROW(f->frames, f->nframes + 1, alloc);
		f->frames[f->nframes++] = (struct cdt_ahead_frame){ first, (uint32_t)(i + 1 - first),
								     0, 0 };
		room += CDT_FRAME_MAX(raw, i + 1 - first);
		first = i + 1;
		raw = 0;
	}
	if (!f->nframes)
		return;
	f->enc = xmalloc(room);
	for (i = 0; i < f->nframes; i++) {
		struct cdt_ahead_frame *fr = &f->frames[i];
		uint32_t k;

		for (k = 0; k < fr->n; k++)
			a->lens[k] = f->chunks[fr->first + k].len;
		fr->off = pos;
		fr->len = cdt_frame_encode(a->comp, f->buf + f->chunks[fr->first].off, a->lens, fr->n,
					   f->enc + pos);
		pos += fr->len;
	}
}

/* What a prepared file holds in memory: its bytes and its frames. */
static size_t file_bytes(const struct cdt_ahead_file *f)
{
	const struct cdt_ahead_frame *last = f->nframes ? &f->frames[f->nframes - 1] : NULL;

	return f->len + (last ? last->off + last->len : 0);
}

/*
 * Read the whole of fd (a regular file of st_size bytes) into f->buf.
 * 0, or -1 when it is not for reading ahead (an error, or it grew while
 * it was read: the caller reads it itself).
 */
static int read_whole(struct cdt_ahead_file *f)
{
	size_t want = (size_t)f->st.st_size;
	ssize_t n;

	/* One byte more than fstat() said, to see the end. */
	f->buf = xmalloc(want + 1);
	n = read_full(f->fd, f->buf, want + 1);
	if (n < 0 || (size_t)n > want)
		return -1;
	f->len = (size_t)n;
	return 0;
}

/* Was this content read before? Then 1; else 0, and it is noted. */
static int read_before(struct cdt_ahead *a, const struct cdt_id *id)
{
	uint64_t key;
	struct seen *e;

	memcpy(&key, id->b, sizeof(key));
	e = &a->seen[key % SEEN_SLOTS];
	if (e->used && cdt_id_eq(&e->id, id))
		return 1;
	e->id = *id;
	e->used = 1;
	return 0;
}

/* Open, read, cut and hash one file; NULL when it is left to the caller. */
static struct cdt_ahead_file *prepare(struct cdt_ahead *a, const void *src)
{
	struct cdt_ahead_file *f = xcalloc(1, sizeof(*f));
	size_t pos = 0, alloc = 0;
	int dup;

	f->read_at = (int64_t)time(NULL);
	f->fd = a->open_fn(src, O_RDONLY | O_NOCTTY | O_CLOEXEC);
	if (f->fd < 0 || fstat(f->fd, &f->st) < 0 || !S_ISREG(f->st.st_mode) ||
	    (uint64_t)f->st.st_size > CDT_AHEAD_MAX ||
	    /* Holes are looked for as add does it (ingest.c): not here. */
	    (uint64_t)f->st.st_blocks * 512 < (uint64_t)f->st.st_size || read_whole(f) < 0) {
		cdt_ahead_file_free(f);
		return NULL;
	}
	if (!a->paused++)
		cdt_pause_point("ahead");
	cdt_cid_buf(a->cid, f->buf, f->len, &f->content);
	dup = read_before(a, &f->content);
	f->sketched = a->sketches && !dup;
	/* A duplicate's frames are none: nothing to encode. */
	f->encoded = dup;
	for (;;) {
		size_t len = cdt_chunker_next(a->chunker, f->buf + pos, f->len - pos, 1);
		struct cdt_ahead_chunk *c;

		if (!len)
			break;
		ALLOC_GROW(f->chunks, f->nchunks + 1, alloc);
		c = &f->chunks[f->nchunks++];
		c->off = pos;
		c->len = (uint32_t)len;
		cdt_hash(f->buf + pos, len, &c->id);
		if (f->sketched)
			cdt_sketch_compute(f->buf + pos, len, &c->sf);
		pos += len;
	}
	if (a->encode_all && a->comp && !f->encoded) {
		encode_frames(a, f);
		f->encoded = 1;
	}
	return f;
}

/* Can the thread prepare the next file pushed? Called with a->mu held. */
static int can_prepare(const struct cdt_ahead *a)
{
	return a->next < a->n && a->held < CDT_AHEAD_BYTES && a->next < a->max_open;
}

/*
 * The next prepared file the caller will take whose frames are still to
 * encode; NULL if none. Called with a->mu held.
 */
static struct cdt_ahead_file *to_encode(const struct cdt_ahead *a)
{
	size_t i;

	if (!a->comp)
		return NULL;
	for (i = 0; i < a->next; i++) {
		struct cdt_ahead_file *f = a->ring[(a->head + i) % a->cap].file;

		if (f && !f->encoded)
			return f;
	}
	return NULL;
}

static void *ahead_thread(void *arg)
{
	struct cdt_ahead *a = arg;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		struct cdt_ahead_file *f = NULL;
		struct item *it;
		const void *src;

		while (!a->stop && !can_prepare(a) && !(f = to_encode(a)))
			pthread_cond_wait(&a->cond, &a->mu);
		if (a->stop)
			break;
		if (f) {
			/*
			 * Nothing to prepare: encode a file the caller has not
			 * taken (which waits for it meanwhile: f->encoded < 0).
			 * Only then: when the caller is the faster, it encodes
			 * as it takes files, and a duplicate's frames go unused.
			 */
			f->encoded = -1;
			pthread_mutex_unlock(&a->mu);
			encode_frames(a, f);
			pthread_mutex_lock(&a->mu);
			f->encoded = 1;
			a->held += file_bytes(f) - f->len;
			pthread_cond_broadcast(&a->cond);
			continue;
		}
		it = &a->ring[(a->head + a->next) % a->cap];
		src = it->src;
		pthread_mutex_unlock(&a->mu);
		f = prepare(a, src);
		pthread_mutex_lock(&a->mu);
		/* The ring may have moved while this thread read: find the item again. */
		it = &a->ring[(a->head + a->next) % a->cap];
		it->file = f;
		it->done = 1;
		a->next++;
		if (f)
			a->held += file_bytes(f);
		pthread_cond_broadcast(&a->cond);
	}
	pthread_mutex_unlock(&a->mu);
	cdt_hash_thread_cleanup();
	return NULL;
}

struct cdt_ahead *cdt_ahead_new(struct cdt_store *s, int (*open_fn)(const void *file, int flags),
				int level)
{
	struct cdt_ahead *a = xcalloc(1, sizeof(*a));
	const struct cdt_config *cfg = cdt_store_config(s);
	struct rlimit rl;

	a->chunker = cdt_store_chunker(s);
	a->cid = cdt_config_cid(cfg);
	a->sketches = cfg->deltas;
	a->frame_size = cfg->frame_size;
	a->seen = xcalloc(SEEN_SLOTS, sizeof(*a->seen));
	if (a->frame_size) {
		a->comp = cdt_store_compressor_at(s, level);
		/* A file read ahead is one round: its chunks are min_size bytes or more but the last. */
		a->lens = xmalloc((CDT_AHEAD_MAX / a->chunker->min_size + 2) * sizeof(*a->lens));
		a->encode_all = cdt_test_ahead_encode();
	}
	a->open_fn = open_fn;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cond, NULL);
	a->cap = CDT_AHEAD_FILES;
	a->ring = xcalloc(a->cap, sizeof(*a->ring));
	/*
	 * Each file prepared holds a descriptor until it is taken: under a
	 * low limit (ulimit -n 64) the reader must leave most of them to the
	 * caller and the store, whose own opens would fail (and skip files).
	 */
	a->max_open = CDT_AHEAD_FILES;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 8 < a->max_open)
		a->max_open = rl.rlim_cur / 8 ? (size_t)(rl.rlim_cur / 8) : 1;
	a->started = !pthread_create(&a->thread, NULL, ahead_thread, a);
	return a;
}

void cdt_ahead_push(struct cdt_ahead *a, const void *file)
{
	pthread_mutex_lock(&a->mu);
	if (a->n == a->cap) {
		/* Grow the ring, keeping the items in order from index 0. */
		struct item *ring = xcalloc(2 * a->cap, sizeof(*ring));
		size_t i;

		for (i = 0; i < a->n; i++)
			ring[i] = a->ring[(a->head + i) % a->cap];
		free(a->ring);
		a->ring = ring;
		a->cap *= 2;
		a->head = 0;
	}
	a->ring[(a->head + a->n) % a->cap] = (struct item){ file, 0, NULL };
	a->n++;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->mu);
}

struct cdt_ahead_file *cdt_ahead_next(struct cdt_ahead *a)
{
	struct cdt_ahead_file *f;
	struct item *it;

	pthread_mutex_lock(&a->mu);
	if (!a->n) {
		pthread_mutex_unlock(&a->mu);
		return NULL;
	}
	it = &a->ring[a->head];
	while (a->started && (!it->done || (it->file && it->file->encoded < 0))) {
		pthread_cond_wait(&a->cond, &a->mu);
		it = &a->ring[a->head];
	}
	f = it->file;
	memset(it, 0, sizeof(*it));
	a->head = (a->head + 1) % a->cap;
	a->n--;
	if (a->next)
		a->next--;
	if (f)
		a->held -= file_bytes(f);
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->mu);
	return f;
}

void cdt_ahead_free(struct cdt_ahead *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	a->stop = 1;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->mu);
	if (a->started)
		pthread_join(a->thread, NULL);
	while (a->n) {
		struct item *it = &a->ring[a->head];

		cdt_ahead_file_free(it->file);
		a->head = (a->head + 1) % a->cap;
		a->n--;
	}
	free(a->ring);
	cdt_compressor_free(a->comp);
	free(a->lens);
	free(a->seen);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->mu);
	free(a);
}
