/* cache-trim.h: the cache of a remote store kept within a size: what it holds, and evicting the least recently used. */
#ifndef CDT_CACHE_TRIM_H
#define CDT_CACHE_TRIM_H

#include <stddef.h>
#include <stdint.h>
#include "format/store.h"

/*
 * The cached copy of a remote pack (ops/remote.c fills it): packs/<name>.pack,
 * a sparse file of the remote pack's size, and packs/<name>.have, one byte
 * per CDT_CACHE_BLOCK bytes of it: CDT_CACHE_HERE when that block's data is
 * present, anything else when it is missing.
 *
 * A process that writes blocks holds a shared flock() on its own open
 * .have while it writes the data and then the marks; the trim holds an
 * exclusive one on the .have of the pack it evicts from while it clears
 * marks and then frees the data. So a mark is never set for data being
 * freed: a .have never claims bytes that are gone. Readers that loaded
 * the marks earlier may read freed blocks as zeros; the CRC of every
 * object read from a pack catches that and the block is fetched again.
 */
#define CDT_CACHE_BLOCK (64u << 10)
#define CDT_CACHE_HERE 1

/* A bound that stands for the default one. */
#define CDT_CACHE_SIZE_DEFAULT UINT64_MAX

/*
 * The default bound of a cache: a tenth of the room its file system has
 * for it (free_bytes, what unprivileged users may still use, plus
 * held_bytes, what the cache itself holds), and at least 1 GiB.
 */
uint64_t cdt_cache_default_size(uint64_t free_bytes, uint64_t held_bytes);

/* Something the trim may evict: a whole file, or the data of a cached pack. */
struct cdt_cache_item {
	int64_t used;		/* last used, in nanoseconds since the epoch */
	uint64_t bytes;		/* allocated on disk */
	int is_pack;		/* the data of a pack: it may be freed in part */
	char name[80];		/* a tie-breaker among items used at the same time */
};

/*
 * The trim's plan: sorts items least recently used first, and returns how
 * many of the first ones to evict so that `held` falls to `target` or
 * below (none if it is there already). The last of them may be a pack of
 * which only *part bytes need to go (its blocks freed in part); *part is 0
 * when it goes whole.
 */
size_t cdt_cache_trim_plan(struct cdt_cache_item *items, size_t n, uint64_t held,
			   uint64_t target, uint64_t *part);

/*
 * Keep the cache store `cache` of a remote store within max_bytes: what it
 * holds is the bytes allocated to pack data (packs/<name>.pack with a
 * .have) and to the whole files of manifests/ and objects/; indexes,
 * config, names/ and info/ are not counted and never evicted. If it holds
 * more than max_bytes, the least recently used (a pack by the mtime of its
 * .have, a whole file by the later of its atime and mtime) go until it
 * holds at most nine tenths of max_bytes (CDT_CACHE_SIZE_DEFAULT: the
 * default bound above, of the cache's file system): whole files are unlinked (read
 * again on demand), pack data is freed whole or, for the last pack, in
 * blocks, with its marks cleared first (see above). The caller holds the
 * cache's cache.lock; a writer holding the store lock (push into an s3://
 * store) makes the trim a no-op, since files it has not sent yet may be
 * only in the cache. *freed gets what went (may be NULL). 0 or -errno
 * (reported).
 */
int cdt_cache_trim(struct cdt_store *cache, uint64_t max_bytes, uint64_t *freed);

#endif
