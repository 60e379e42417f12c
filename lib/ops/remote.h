/* remote.h: a store read over HTTP(S), opened as a local cache store filled on demand. */
#ifndef CDT_REMOTE_H
#define CDT_REMOTE_H

#include "format/store.h"

/*
 * Open the store at `url` (http:// or https://) for reading. Its config,
 * its list of packs (info/packs), every pack index and the names
 * (info/prefixes, info/names/) are fetched, the ones the cache holds
 * already only when they changed, into the cache store
 * `cache_dir`/<store-id> (cache_dir NULL: $XDG_CACHE_HOME/cdt, else
 * ~/.cache/cdt). The store returned is that cache; manifests and loose
 * objects are fetched when first opened, pack data in blocks when first
 * read (Documentation/technical/remote.md). Every byte is checked as a
 * local store's are, so a server that sends wrong bytes gives an error,
 * never wrong output. Errors are reported (one line) and returned.
 */
int cdt_remote_open(const char *url, const char *cache_dir, struct cdt_store **out);
/*
 * The same with seeds (ops/seed.h): local files and stores asked for a
 * chunk before the cache and the server, as casync's seeds are.
 */
int cdt_remote_open_seeded(const char *url, const char *cache_dir, const char *const *seeds,
			   size_t nseeds, struct cdt_store **out);

/* Requests and bytes fetched so far by this process. */
void cdt_remote_counters(uint64_t *requests, uint64_t *bytes);
/* Chunks and bytes read from seeds so far (0 without seeds). */
void cdt_remote_seed_counters(uint64_t *chunks, uint64_t *bytes);

#endif
