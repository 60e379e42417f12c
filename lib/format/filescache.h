/* filescache.h: the files cache: what add learnt about local files, to skip reading unchanged ones. */
#ifndef CDT_FILESCACHE_H
#define CDT_FILESCACHE_H

#include <stdint.h>
#include <sys/stat.h>
#include "base/hash.h"
#include "format/store.h"

/*
 * STORE/cache/files, derived data that no other command reads:
 *   "CDTF" version(2) reserved(3) count(LE64)
 *   count x { path key(16) size(LE64) mtime_ns(LE64, signed) ctime_ns(LE64,
 *             signed) inode(LE64) device(LE64) content id(32) root key(16)
 *             age(LE32) reserved(4) },
 *   sorted by key, no key twice
 *   checksum(32): SHA-256 of every byte before it
 * A key is the first 16 bytes of the SHA-256 of an absolute path. An
 * entry says: the file at that path, with this size, mtime, ctime, inode
 * and device, held this content. add skips reading a file only when all
 * five match and the content's manifest is in the store, so a lost,
 * stale or damaged cache costs time, never data. Files changed less than
 * CDT_FILESCACHE_RACY seconds before they were read are not recorded
 * (a change within the same timestamp would not show).
 *
 * The root of an entry is the directory whose walk last found the file
 * (for a file named on the command line, its parent). An add that stores
 * something ages the entries it did not see whose root it walked; one
 * that stores nothing, and entries of trees it did not walk, do not age.
 * Adds that run together each merge their entries into the file as it is
 * when they write it back, one at a time (flock() of cache/).
 * Entries CDT_FILESCACHE_MAX_AGE old are dropped, and the file never
 * holds more than CDT_FILESCACHE_MAX entries (the oldest go first). A
 * cache of an older version is dropped without a warning.
 */
#define CDT_FILESCACHE_MAGIC "CDTF"
#define CDT_FILESCACHE_VERSION 2
#define CDT_FILESCACHE_REC 112
#define CDT_FILESCACHE_MAX (1u << 20)
#define CDT_FILESCACHE_MAX_AGE 16
#define CDT_FILESCACHE_RACY 2

struct cdt_filescache;

/*
 * Load the store's cache (an empty one if there is none; a damaged one is
 * reported as a warning and ignored). Never fails.
 */
struct cdt_filescache *cdt_filescache_load(struct cdt_store *s);
/* Does the entry of abspath match st? (Nothing is marked: a guess of what add will skip.) */
int cdt_filescache_knows(const struct cdt_filescache *c, const char *abspath,
			 const struct stat *st);
/*
 * The content of the file at abspath if its entry matches st: 1 with
 * *content set, or 0. Marks the entry seen, found under `root` (an
 * absolute path: see above).
 */
int cdt_filescache_lookup(struct cdt_filescache *c, const char *abspath, const struct stat *st,
			  const char *root, struct cdt_id *content);
/*
 * Record that the file at abspath, found under `root`, as st describes
 * it, holds content; `read_at` is when reading it began (a file changed
 * too close to it is not recorded).
 */
void cdt_filescache_record(struct cdt_filescache *c, const char *abspath, const struct stat *st,
			   const char *root, const struct cdt_id *content, int64_t read_at);
/*
 * This run read the directory at absdir (an absolute path) whole: entries
 * whose root it is and that it did not see may age.
 */
void cdt_filescache_walked(struct cdt_filescache *c, const char *absdir);
/*
 * Write the cache back (atomically: temporary file, rename) if anything
 * changed; with `age` (the run stored something), entries not seen whose
 * root was walked age first. Under an exclusive flock() of cache/, this
 * run's entries are merged into the cache as it is then (adds run
 * together: each keeps the others' entries), or into the one loaded when
 * that is gone or damaged. 0 or -errno (reported as a warning: the cache
 * is only a cache).
 */
int cdt_filescache_save(struct cdt_filescache *c, int age);
void cdt_filescache_free(struct cdt_filescache *c);

/* Parse a cache file image (for the loader and the fuzzer). 0 or -CDT_ECORRUPT. */
int cdt_filescache_parse(const unsigned char *buf, size_t len, uint64_t *count);

#endif
