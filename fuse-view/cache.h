/* cache.h: the view's bounded cache of checked chunks, its loader threads and read-ahead. */
#ifndef CDT_VIEW_CACHE_H
#define CDT_VIEW_CACHE_H

#include <stdint.h>
#include "format/manifest.h"
#include "format/store.h"

/*
 * Chunks are keyed by id, so files that share content share cache entries,
 * and an entry can never go stale: a chunk's bytes are fixed by its id.
 *
 * Every chunk is read, inflated and checked against its id with a
 * cdt_chunk_reader of the cache's: read-ahead by one of a few loader
 * threads, a chunk a reader waits for by that reader's FUSE thread itself
 * while one of as many readers as there are loaders is free (else by a
 * loader). Demand loads go before read-ahead, two readers of one chunk
 * wait for one load, and the number of chunks inflated at once stays
 * bounded (twice the loaders).
 * A chunk that fails is handed to the readers waiting for it, each of
 * which reports it (naming its file, the offset and the chunk), and not
 * kept, so that the next read tries again.
 */
struct chunk_cache;
struct cache_entry;

struct cache_stats {
	uint64_t hits, misses, loads, failures, evictions, prefetches;
	uint64_t bytes, entries;
};

/*
 * A cache holding at most `limit` bytes of chunk data (readers can push it
 * past the limit by what they pin at once), with `loaders` threads, that
 * reads up to `readahead` bytes ahead of a sequential reader (at most a
 * quarter of the limit). Returns the cache; dies if no thread can start.
 */
struct chunk_cache *chunk_cache_new(struct cdt_store *s, uint64_t limit, int loaders,
				    uint64_t readahead);
/* Stop the loaders and free everything; no entry may be pinned. */
void chunk_cache_free(struct chunk_cache *c);

/*
 * Pin the chunk `e`, starting its load if it is not cached. Never waits
 * for I/O: call chunk_cache_wait() for the bytes.
 */
struct cache_entry *chunk_cache_get(struct chunk_cache *c, const struct cdt_manifest_entry *e);
/*
 * Wait for a pinned entry's bytes: 0 with *data pointing at *len bytes (valid
 * until chunk_cache_put), or the load's -errno (-CDT_ECORRUPT,
 * -ENOENT for a missing chunk, ...), reported as a failure to read file
 * `name` at offset `where` (the chunk's), unless it was a moment ago.
 */
int chunk_cache_wait(struct chunk_cache *c, struct cache_entry *ce, const char *name,
		     uint64_t where, const unsigned char **data, uint32_t *len);
/* Unpin. */
void chunk_cache_put(struct chunk_cache *c, struct cache_entry *ce);

/*
 * Load `e` in the background unless it is cached or loading already, or
 * the cache has no room for it without evicting pinned or loading chunks.
 * Returns 1 if a load was queued or is under way, 0 if it is cached, -1
 * when there is no room (the caller stops reading ahead).
 */
int chunk_cache_prefetch(struct chunk_cache *c, const struct cdt_manifest_entry *e);

/*
 * Read-ahead for one open file. A read that starts where the reads before
 * it ended (give or take a little) continues them; from the second such
 * read in a row the reader is sequential, and the cache keeps the chunks
 * of up to `readahead` bytes past its end loading in the background,
 * topped up when half of them are used. A random reader almost never
 * reads two in a row so close, and pays for no read-ahead. The caller
 * serialises the calls for one struct read_ahead; it starts zeroed.
 */
struct read_ahead {
	uint64_t seen_end;	/* where the reads so far end */
	uint64_t idx;		/* next chunk to read ahead */
	uint64_t off;		/* and its offset */
	int seq;		/* the read under way continues the last */
	unsigned run;		/* reads in a row that did */
};

/*
 * A read of [off, end) of a file whose chunks are in `m` up to index
 * `last_idx` begins: note whether it is sequential and if so queue the
 * chunks that follow it. Manifest errors and chunks that fail to load stop
 * or spoil the read-ahead quietly (the reads themselves report them).
 */
void chunk_cache_read_ahead(struct chunk_cache *c, struct read_ahead *ra, struct cdt_manifest *m,
			    uint64_t off, uint64_t last_idx, uint64_t end);
/* The read that ends at `end` has succeeded. */
void read_ahead_done(struct read_ahead *ra, uint64_t end);

/* Byte limit, and counters since the cache was made. */
uint64_t chunk_cache_limit(const struct chunk_cache *c);
void chunk_cache_stats(struct chunk_cache *c, struct cache_stats *st);

#endif
