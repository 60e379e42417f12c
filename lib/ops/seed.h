/* seed.h: local data holding chunks a remote store would otherwise send: files cut as the store cuts, and local stores. */
#ifndef CDT_SEED_H
#define CDT_SEED_H

#include <stdint.h>
#include "base/hash.h"
#include "format/store.h"

struct strbuf;
struct cdt_seeds;

/*
 * Seeds for reading store s (a cache of a remote store): each path a
 * local store (a directory with a config) or a file. A file is read once
 * now, cut with s's chunker and hashed; only the ids and places of its
 * chunks are kept (at most CDT_SEED_CHUNKS_MAX of them in all, a bound on
 * memory; the rest of a larger seed is left unused, with a warning).
 * Errors are reported (one line, naming the seed) and returned.
 */
#define CDT_SEED_CHUNKS_MAX (1u << 24)
int cdt_seeds_open(struct cdt_store *s, const char *const *paths, size_t n,
		   struct cdt_seeds **out);
void cdt_seeds_free(struct cdt_seeds *sd);

/*
 * Read chunk id (of want_len bytes, when not 0) from the seeds: 0 with the
 * bytes in out[0..*len), checked against the id, or -ENOENT when no seed
 * holds it (a seed that changed, or holds damaged data, holds nothing).
 * Safe from several threads.
 */
int cdt_seeds_read(struct cdt_seeds *sd, const struct cdt_id *id, uint32_t want_len,
		   unsigned char *out, uint32_t *len);

/* Chunks read from seeds so far, and their bytes. */
void cdt_seeds_counters(const struct cdt_seeds *sd, uint64_t *chunks, uint64_t *bytes);

#endif
