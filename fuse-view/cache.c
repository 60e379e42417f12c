/* cache.c: the chunk cache of the FUSE view: LRU list, hash table, loader threads, read-ahead. */
#include "cache.h"
#include "ops/chunks.h"
#include "base/strbuf.h"
#include "base/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum entry_state {
	QUEUED,		/* waiting for a loader */
	LOADING,	/* a loader reads it */
	READY,		/* data holds the checked bytes */
	FAILED,		/* err says why; no longer in the table */
};

struct cache_entry {
	struct cdt_id id;
	uint32_t len;
	enum entry_state state;
	int err;
	int hashed;		/* in the table (every entry but a failed one) */
	int demand;		/* a reader waits for it (QUEUED: which queue) */
	unsigned refs;		/* readers' pins, plus one while queued or loading */
	unsigned waiters;	/* readers blocked in chunk_cache_wait() on it */
	unsigned char *data;
	struct cache_entry *hnext;
	/* The LRU list when READY, a load queue when QUEUED. */
	struct cache_entry *prev, *next;
	/* FAILED: what went wrong, for the readers' messages (or NULL). */
	char *why;
};

struct list {
	struct cache_entry *head, *tail;
};

/*
 * The kernel retries a failed read page by page, and readers retry too:
 * one damaged chunk is reported again only after this long.
 */
#define REPORT_AGAIN_SECONDS 10.0
#define RECENT_FAILURES 16

/* Manifest records examined per read-ahead top-up. */
#define RA_STEP_MAX 512
/*
 * A read this close to where the last one ended continues it (the kernel's
 * read-ahead requests may arrive out of order); a reader is sequential
 * after this many such reads in a row (a first read at offset 0 is one).
 */
#define SEQ_SLACK (1u << 20)
#define SEQ_RUN 2

struct chunk_cache {
	struct cdt_store *store;
	struct {
		struct cdt_id id;
		uint64_t name;	/* hash of the file's name */
		double when;
	} recent[RECENT_FAILURES];
	unsigned recent_next;
	pthread_mutex_t lock;
	pthread_cond_t work;	/* a queue got an entry, or stop */
	pthread_cond_t done;	/* a load finished */
	struct cache_entry **buckets;
	size_t nbuckets, nentries;
	struct list lru;	/* head: most recently used */
	struct list demandq, prefetchq;
	uint64_t limit, bytes;
	uint64_t readahead;	/* bytes kept loading ahead of a sequential reader */
	pthread_t *threads;
	int nthreads, stop;
	/*
	 * Readers for the FUSE threads that load a chunk themselves (as many
	 * as there are loaders, made when first needed): no hand-over to a
	 * loader and back, two context switches per read, when the reader
	 * would only wait.
	 */
	struct cdt_chunk_reader **spare;
	int nspare, made;
	struct cache_stats st;
};

static void list_unlink(struct list *l, struct cache_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = NULL;
}

static void list_push_head(struct list *l, struct cache_entry *e)
{
	e->prev = NULL;
	e->next = l->head;
	if (l->head)
		l->head->prev = e;
	else
		l->tail = e;
	l->head = e;
}

static void list_push_tail(struct list *l, struct cache_entry *e)
{
	e->next = NULL;
	e->prev = l->tail;
	if (l->tail)
		l->tail->next = e;
	else
		l->head = e;
	l->tail = e;
}

static size_t bucket_of(const struct chunk_cache *c, const struct cdt_id *id)
{
	/* Ids are SHA-256 values: any of their bytes are well mixed. */
	return (size_t)get_le64(id->b) & (c->nbuckets - 1);
}

static struct cache_entry *lookup(struct chunk_cache *c, const struct cdt_id *id)
{
	struct cache_entry *e;

	for (e = c->buckets[bucket_of(c, id)]; e; e = e->hnext)
		if (cdt_id_eq(&e->id, id))
			return e;
	return NULL;
}

static void grow_table(struct chunk_cache *c)
{
	size_t n = c->nbuckets * 2, i;
	struct cache_entry **b = xcalloc(n, sizeof(*b)), *e, *next;

	for (i = 0; i < c->nbuckets; i++) {
		for (e = c->buckets[i]; e; e = next) {
			size_t k = (size_t)get_le64(e->id.b) & (n - 1);

			next = e->hnext;
			e->hnext = b[k];
			b[k] = e;
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = n;
}

static void unhash(struct chunk_cache *c, struct cache_entry *e)
{
	struct cache_entry **p = &c->buckets[bucket_of(c, &e->id)];

	while (*p != e)
		p = &(*p)->hnext;
	*p = e->hnext;
	e->hnext = NULL;
	e->hashed = 0;
	c->nentries--;
}

static void free_entry(struct chunk_cache *c, struct cache_entry *e)
{
	c->bytes -= e->len;
	free(e->data);
	free(e->why);
	free(e);
}

/* Drop unpinned ready chunks, least recently used first, until under the limit. */
static void evict(struct chunk_cache *c, uint64_t want)
{
	struct cache_entry *e = c->lru.tail, *prev;

	while (e && c->bytes + want > c->limit) {
		prev = e->prev;
		if (!e->refs) {
			list_unlink(&c->lru, e);
			unhash(c, e);
			free_entry(c, e);
			c->st.evictions++;
		}
		e = prev;
	}
}

static struct cache_entry *new_entry(struct chunk_cache *c, const struct cdt_manifest_entry *me,
				     int demand)
{
	struct cache_entry *e = xcalloc(1, sizeof(*e));

	e->id = me->id;
	e->len = me->len;
	e->state = QUEUED;
	e->demand = demand;
	e->refs = 1;	/* the queue's */
	e->data = xmalloc(me->len);
	e->hashed = 1;
	if (c->nentries >= c->nbuckets * 2)
		grow_table(c);
	e->hnext = c->buckets[bucket_of(c, &e->id)];
	c->buckets[bucket_of(c, &e->id)] = e;
	c->nentries++;
	c->bytes += me->len;
	list_push_tail(demand ? &c->demandq : &c->prefetchq, e);
	/* A demand load waits for its reader, who may load it (chunk_cache_wait()). */
	if (!demand)
		pthread_cond_signal(&c->work);
	return e;
}

struct cache_entry *chunk_cache_get(struct chunk_cache *c, const struct cdt_manifest_entry *me)
{
	struct cache_entry *e;

	pthread_mutex_lock(&c->lock);
	e = lookup(c, &me->id);
	if (e) {
		c->st.hits++;
		if (e->state == READY) {
			list_unlink(&c->lru, e);
			list_push_head(&c->lru, e);
		} else if (e->state == QUEUED && !e->demand) {
			/* Read-ahead that a reader now waits for goes first. */
			list_unlink(&c->prefetchq, e);
			list_push_tail(&c->demandq, e);
			e->demand = 1;
		}
	} else {
		c->st.misses++;
		evict(c, me->len);
		e = new_entry(c, me, 1);
	}
	e->refs++;
	pthread_mutex_unlock(&c->lock);
	return e;
}

static void load(struct chunk_cache *c, struct cdt_chunk_reader *r, struct cache_entry *e,
		 struct strbuf *why);
static int report_failure(struct chunk_cache *c, const struct cdt_id *id, const char *name);

/* A reader for a FUSE thread to load with, or NULL when as many are busy as there are loaders. */
static struct cdt_chunk_reader *spare_get(struct chunk_cache *c)
{
	if (c->nspare)
		return c->spare[--c->nspare];
	if (c->made < c->nthreads) {
		c->made++;
		return cdt_chunk_reader_new(c->store);
	}
	return NULL;
}

int chunk_cache_wait(struct chunk_cache *c, struct cache_entry *e, const char *name,
		     uint64_t where, const unsigned char **data, uint32_t *len)
{
	struct cdt_chunk_reader *r;
	int ret;

	pthread_mutex_lock(&c->lock);
	if (e->state == QUEUED && e->demand) {
		r = spare_get(c);
		if (r) {
			struct strbuf why = STRBUF_INIT;

			list_unlink(&c->demandq, e);
			/* The loaders take the rest of a read of several chunks. */
			if (c->demandq.head)
				pthread_cond_broadcast(&c->work);
			load(c, r, e, &why);
			c->spare[c->nspare++] = r;
			strbuf_release(&why);
			/* libfuse ends its threads when it likes: no context to outlive one. */
			cdt_hash_thread_cleanup();
		} else {
			pthread_cond_signal(&c->work);
		}
	}
	e->waiters++;
	while (e->state == QUEUED || e->state == LOADING)
		pthread_cond_wait(&c->done, &c->lock);
	e->waiters--;
	ret = e->state == READY ? 0 : e->err;
	/* Each reader's own file and offset: the chunk may be another's too. */
	if (ret < 0 && report_failure(c, &e->id, name)) {
		char hex[CDT_ID_HEXLEN + 1];

		error("cannot read '%s' at offset %llu: chunk %s (%u bytes): %s", quote(name),
		      (unsigned long long)where, cdt_id_to_hex(&e->id, hex), e->len,
		      e->why ? e->why : cdt_strerror(ret));
	}
	pthread_mutex_unlock(&c->lock);
	*data = ret ? NULL : e->data;
	*len = ret ? 0 : e->len;
	return ret;
}

void chunk_cache_put(struct chunk_cache *c, struct cache_entry *e)
{
	pthread_mutex_lock(&c->lock);
	if (!--e->refs) {
		if (!e->hashed)
			free_entry(c, e);
		else if (c->bytes > c->limit)
			evict(c, 0);
	}
	pthread_mutex_unlock(&c->lock);
}

int chunk_cache_prefetch(struct chunk_cache *c, const struct cdt_manifest_entry *me)
{
	struct cache_entry *e;
	int ret = 1;

	pthread_mutex_lock(&c->lock);
	e = lookup(c, &me->id);
	if (e) {
		ret = e->state == READY ? 0 : 1;
	} else {
		evict(c, me->len);
		if (c->bytes + me->len > c->limit) {
			ret = -1;
		} else {
			new_entry(c, me, 0);
			c->st.prefetches++;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

/*
 * Keep up to c->readahead bytes past `end`, where the read under way ends,
 * loading in the background, topped up when half of it is used.
 */
static void top_up(struct chunk_cache *c, struct read_ahead *ra, struct cdt_manifest *m,
		   uint64_t last_idx, uint64_t end)
{
	struct cdt_manifest_entry e;
	uint64_t target = end + c->readahead, count = cdt_manifest_count(m);
	int steps = 0;

	if (ra->idx <= last_idx) {
		ra->idx = last_idx + 1;
		ra->off = end;
	}
	if (ra->off >= end + c->readahead / 2)
		return;
	while (ra->idx < count && ra->off < target && steps++ < RA_STEP_MAX) {
		if (cdt_manifest_pget(m, ra->idx, &e) < 0)
			break;	/* the read itself will report it */
		if (chunk_cache_prefetch(c, &e) < 0)
			break;
		ra->idx++;
		ra->off = e.offset + e.len;
	}
}

void chunk_cache_read_ahead(struct chunk_cache *c, struct read_ahead *ra, struct cdt_manifest *m,
			    uint64_t off, uint64_t last_idx, uint64_t end)
{
	ra->seq = off + SEQ_SLACK >= ra->seen_end && off <= ra->seen_end + SEQ_SLACK;
	ra->run = ra->seq ? MIN(ra->run + 1, SEQ_RUN) : 0;
	/*
	 * One read that lands near the last proves nothing: a random reader
	 * does that now and then (1 MiB either side of the last read is 2 MiB
	 * in 330 for a file that size), and reading megabytes ahead for it
	 * would cost more than its reads.
	 */
	if (ra->run >= SEQ_RUN && c->readahead)
		top_up(c, ra, m, last_idx, end);
}

void read_ahead_done(struct read_ahead *ra, uint64_t end)
{
	ra->seen_end = ra->seq ? MAX(ra->seen_end, end) : end;
}

static struct cache_entry *next_job(struct chunk_cache *c)
{
	struct cache_entry *e = c->demandq.head;

	if (e) {
		list_unlink(&c->demandq, e);
		return e;
	}
	e = c->prefetchq.head;
	if (e)
		list_unlink(&c->prefetchq, e);
	return e;
}

/* Should a failure of chunk `id` in file `name` be reported now? Called with the lock held. */
static int report_failure(struct chunk_cache *c, const struct cdt_id *id, const char *name)
{
	double now = now_seconds();
	uint64_t h = 14695981039346656037ULL;	/* FNV-1a */
	unsigned i;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 1099511628211ULL;
	for (i = 0; i < RECENT_FAILURES; i++) {
		if (c->recent[i].when > 0 && cdt_id_eq(&c->recent[i].id, id) &&
		    c->recent[i].name == h) {
			if (now - c->recent[i].when < REPORT_AGAIN_SECONDS)
				return 0;
			c->recent[i].when = now;
			return 1;
		}
	}
	i = c->recent_next++ % RECENT_FAILURES;
	c->recent[i].id = *id;
	c->recent[i].name = h;
	c->recent[i].when = now;
	return 1;
}

/*
 * Load e, taken off its queue (LOADING), with r; called with the lock
 * held, which it drops while reading.
 */
static void load(struct chunk_cache *c, struct cdt_chunk_reader *r, struct cache_entry *e,
		 struct strbuf *why)
{
	uint32_t got = 0;
	int ret;

	e->state = LOADING;
	pthread_mutex_unlock(&c->lock);

	strbuf_reset(why);
	ret = cdt_chunk_read(r, &e->id, e->len, e->data, &got, why);

	pthread_mutex_lock(&c->lock);
	c->st.loads++;
	if (!ret) {
		e->state = READY;
		list_push_head(&c->lru, e);
	} else {
		e->state = FAILED;
		e->err = ret;
		e->why = why->len ? xstrdup(why->buf) : NULL;
		unhash(c, e);
		c->st.failures++;
	}
	/*
	 * Only a load someone waits for wakes the readers: most loads
	 * are read-ahead that nobody waits for yet, and waking every
	 * waiting reader for each of them only costs context switches.
	 */
	if (e->waiters)
		pthread_cond_broadcast(&c->done);
	if (!--e->refs && !e->hashed)
		free_entry(c, e);
	if (c->bytes > c->limit)
		evict(c, 0);
}

static void *loader(void *arg)
{
	struct chunk_cache *c = arg;
	struct cdt_chunk_reader *r = cdt_chunk_reader_new(c->store);
	struct strbuf why = STRBUF_INIT;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->stop && !c->demandq.head && !c->prefetchq.head)
			pthread_cond_wait(&c->work, &c->lock);
		if (c->stop)
			break;
		load(c, r, next_job(c), &why);
	}
	pthread_mutex_unlock(&c->lock);
	strbuf_release(&why);
	cdt_chunk_reader_free(r);
	/* The thread's SHA-256 context would otherwise outlive it. */
	cdt_hash_thread_cleanup();
	return NULL;
}

struct chunk_cache *chunk_cache_new(struct cdt_store *s, uint64_t limit, int loaders,
				    uint64_t readahead)
{
	struct chunk_cache *c = xcalloc(1, sizeof(*c));
	uint64_t want = limit / cdt_store_chunker(s)->avg_size;
	int i;

	c->store = s;
	c->limit = limit;
	/* Read-ahead beyond what the cache can hold would evict itself. */
	c->readahead = MIN(readahead, limit / 4);
	c->nbuckets = 64;
	while (c->nbuckets < want && c->nbuckets < (1u << 24))
		c->nbuckets *= 2;
	c->buckets = xcalloc(c->nbuckets, sizeof(*c->buckets));
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->work, NULL);
	pthread_cond_init(&c->done, NULL);
	c->nthreads = loaders < 1 ? 1 : loaders;
	c->threads = xcalloc((size_t)c->nthreads, sizeof(*c->threads));
	c->spare = xcalloc((size_t)c->nthreads, sizeof(*c->spare));
	for (i = 0; i < c->nthreads; i++) {
		int ret = pthread_create(&c->threads[i], NULL, loader, c);

		if (ret)
			die("cannot start a loader thread: %s", cdt_strerror(ret));
	}
	return c;
}

void chunk_cache_free(struct chunk_cache *c)
{
	struct cache_entry *e, *next;
	size_t i;
	int j;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = 1;
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->lock);
	for (j = 0; j < c->nthreads; j++)
		pthread_join(c->threads[j], NULL);
	/* Everything left, queued or ready, is in the table. */
	for (i = 0; i < c->nbuckets; i++) {
		for (e = c->buckets[i]; e; e = next) {
			next = e->hnext;
			free_entry(c, e);
		}
	}
	free(c->buckets);
	free(c->threads);
	for (j = 0; j < c->nspare; j++)
		cdt_chunk_reader_free(c->spare[j]);
	free(c->spare);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->work);
	pthread_cond_destroy(&c->done);
	free(c);
}

uint64_t chunk_cache_limit(const struct chunk_cache *c)
{
	return c->limit;
}

void chunk_cache_stats(struct chunk_cache *c, struct cache_stats *st)
{
	pthread_mutex_lock(&c->lock);
	*st = c->st;
	st->bytes = c->bytes;
	st->entries = c->nentries;
	pthread_mutex_unlock(&c->lock);
}
