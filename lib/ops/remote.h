/* remote.h: a store read over HTTP(S), opened as a local cache store filled on demand. */
#ifndef CDT_REMOTE_H
#define CDT_REMOTE_H

#include <stdint.h>
#include "format/store.h"
#include "ops/cache-trim.h"

/*
 * Open the store at `url` (http:// or https://) for reading. Its config,
 * its list of packs (info/packs), every pack index and the names
 * (info/prefixes, info/names/) are fetched, the ones the cache holds
 * already only when they changed, into the cache store
 * `cache_dir`/<store-id>-<16 hex digits of the SHA-256 of the URL>
 * (cache_dir NULL: $XDG_CACHE_HOME/cdt, else ~/.cache/cdt). The store
 * returned is that cache; manifests and loose objects are fetched when
 * first opened, pack data in blocks when first read
 * (Documentation/technical/remote.md). Every byte is checked as a
 * local store's are, so a server that sends wrong bytes gives an error,
 * never wrong output. Errors are reported (one line) and returned.
 */
int cdt_remote_open(const char *url, const char *cache_dir, struct cdt_store **out);
/*
 * The same with a bound on the cache and seeds. Once the cache is
 * refreshed, it is trimmed to at most cache_size bytes of fetched data
 * (CDT_CACHE_SIZE_DEFAULT: the default, ops/cache-trim.h), only here at
 * open. Seeds (ops/seed.h) are local files and stores asked for a chunk
 * before the cache and the server, as casync's seeds are.
 */
int cdt_remote_open_seeded(const char *url, const char *cache_dir, uint64_t cache_size,
			   const char *const *seeds, size_t nseeds, struct cdt_store **out);

/*
 * The cache s brought up to date with its remote store again, while
 * readers may be at work in it (a long-lived view): info/packs and
 * info/prefixes fetched anew, indexes of new packs and the tables that
 * changed fetched, names/ rebuilt where a table changed. A pack no longer
 * listed stays readable for whoever opened it before. The cache is not
 * trimmed. 0 (also for a local store) or -errno (reported; what was
 * there before stays).
 */
int cdt_remote_refresh(struct cdt_store *s);

/* Is this a store location cdt reaches over the network (http://, https://, s3://)? */
int cdt_remote_is_url(const char *s);

/*
 * Create a store at an s3://BUCKET[/PREFIX] location with the parameters
 * of cfg (a new store id is drawn): empty lists, then the config, created
 * only if there is none. Endpoint and credentials come from the
 * environment (AWS_ENDPOINT_URL, AWS_REGION or AWS_DEFAULT_REGION,
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). 0 or
 * -errno (reported).
 */
struct cdt_config;
int cdt_remote_init(const char *url, const struct cdt_config *cfg);

/* Can the remote store of cache s be written (s3://)? */
int cdt_remote_writable(const struct cdt_store *s);
/*
 * Why the remote store's config was damaged, its copy config.copy standing
 * in for it (s is its cache); NULL when its config was sound or s is a
 * local store.
 */
const char *cdt_remote_config_damage(const struct cdt_store *s);

/*
 * After names were written into the cache s of a writable remote store
 * (push, pull), send what they added, in the order that keeps the remote
 * store consistent at every step: new packs, each before its index; the
 * list of packs; the manifests of these names (created only where there
 * is none); the names' entries; the tables of their prefixes; the list
 * of tables last, which is what makes the names visible to readers.
 * Content-addressed files are created only (If-None-Match: *), never
 * replaced; nothing is deleted. counts: packs and bytes sent (may be
 * NULL). 0 or -errno (reported).
 */
int cdt_remote_publish(struct cdt_store *s, const char *const *names, size_t n,
		       uint64_t *packs_sent, uint64_t *bytes_sent);

/* Requests and bytes fetched so far by this process. */
void cdt_remote_counters(uint64_t *requests, uint64_t *bytes);
/* Chunks and bytes read from seeds so far (0 without seeds). */
void cdt_remote_seed_counters(uint64_t *chunks, uint64_t *bytes);

#endif
