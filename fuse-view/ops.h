/* ops.h: the FUSE operations of the view, and the state they share. */
#ifndef CDT_VIEW_OPS_H
#define CDT_VIEW_OPS_H

#include <pthread.h>
#include <sys/types.h>
#include "base/idset.h"
#include "format/store.h"
#include "cache.h"
#include "tree.h"

struct fuse_operations;
struct cfile;

/*
 * What every handler reaches through fuse_get_context()->private_data.
 * mount.c fills in the public part and keeps `tree` up to date; the rest
 * belongs to ops.c.
 */
struct ofile;

struct view {
	struct cdt_store *store;
	struct chunk_cache *cache;	/* made before the first request */
	struct view_current tree;	/* the names shown now */
	double refresh;			/* seconds the kernel may trust what it learnt */
	uid_t uid;			/* owner of every directory */
	gid_t gid;

	/* The contents open now, each shared by its handles; and the handles. */
	pthread_mutex_t files_lock;
	struct cfile *files;
	struct ofile *handles;
	/* Stored bytes of each content seen by getattr, for st_blocks. */
	pthread_mutex_t blocks_lock;
	struct cdt_idset blocks;
};

/* Set up ops.c's part of v (the rest is the caller's). */
void view_ops_init(struct view *v);
/* Free ops.c's part of v once the file system is gone. */
void view_ops_release(struct view *v);

/*
 * The operations: read-only, each handler returns 0 (or a byte count)
 * or -errno. fuse_new() takes it with sizeof from <fuse.h>.
 */
extern const struct fuse_operations view_ops;

#endif
