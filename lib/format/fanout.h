/* fanout.h: walking the XX/<62 hex> fan-out directories of objects/ and manifests/. */
#ifndef CDT_FANOUT_H
#define CDT_FANOUT_H

#include <stdint.h>
#include "base/hash.h"

/*
 * Visit every file of a fan-out directory. For a well-formed entry fn gets
 * its id and size; anything else (a bad name, a directory or symlink where
 * a file belongs, a file at the top level) goes to stray with its path
 * (but a directory "pack" at the top, manifests/pack/ of mpack.h, which
 * its own walkers list)
 * relative to dirfd and a reason. A non-zero return from either stops the
 * walk and is returned. -errno if the directory cannot be read.
 */
typedef int (*cdt_fanout_fn)(const struct cdt_id *id, uint64_t size, void *data);
#ifndef CDT_STRAY_FN
#define CDT_STRAY_FN
typedef int (*cdt_stray_fn)(const char *path, const char *why, void *data);
#endif
int cdt_fanout_walk(int dirfd, cdt_fanout_fn fn, cdt_stray_fn stray, void *data);
/* The same walk, giving fn each file's stat (blocks, times) rather than its size. */
struct stat;
typedef int (*cdt_fanout_stat_fn)(const struct cdt_id *id, const struct stat *st, void *data);
int cdt_fanout_walk_stat(int dirfd, cdt_fanout_stat_fn fn, cdt_stray_fn stray, void *data);

/* Remove fan-out subdirectories left empty. Returns how many were removed. */
int cdt_fanout_prune(int dirfd, int dry_run);

/*
 * Remove the file for id. 0, -ENOENT or -errno. Not synced: removals only
 * ever make garbage, and one that a crash undoes is garbage again.
 */
int cdt_fanout_remove(int dirfd, const struct cdt_id *id);

#endif
