/* restore-tree-fds.c: the descriptors a restore may use, shared out between its workers, its queue of files and the directories of its walk. */
#include "ops/restore-tree.h"
#include "ops/restore-tree-internal.h"
#include "ops/packset.h"
#include "format/pack.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>

/*
 * The most descriptors each part holds at once:
 * - DIR;
 * - the main thread, besides the directories of the walk: a directory it
 *   enters being listed, a hard link's first directory and a temporary
 *   name, a directory opened one component at a time;
 * - a worker: its file's temporary file, manifest and the loose chunk
 *   being read (a file kept as it was is read before any of them), and
 *   from a remote store a connection and a file fetched into its cache;
 *   and the directory of the file it writes;
 * - a big file written by the main thread: one more for each reader;
 * - each queued file its directory, and the pack files kept open
 *   (cdt_pack_files_max(), or fewer when the store has fewer packs; as
 *   few as CDT_PACK_FILES_MIN when the limit is low: a reader's pack
 *   file beyond those is the descriptor counted for its loose chunk).
 * The listing of the names, before all that, needs fewer than the least
 * a restore needs (cdt_names_walk() keeps 8 directories open).
 */
#define FDS_ROOT 1
#define FDS_MAIN 2
#define FDS_WORKER 4
#define FDS_REMOTE 3
#define MIN_LEVELS 2		/* a directory and the one being made in it */
#define MAX_LEVELS 32		/* enough for speed: more only hold descriptors */
#define QUEUE_PER_JOB 4
/* Counting descriptors in use stops here: past it there are plenty. */
#define COUNT_MAX 65536

/* Descriptors the soft limit leaves free (at most COUNT_MAX), and the limit. */
static long free_descriptors(long *limit)
{
	struct rlimit rl;
	long n, fd, used = 0;
	DIR *d;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > COUNT_MAX)
		n = COUNT_MAX;
	else
		n = (long)rl.rlim_cur;
	*limit = n;
	/* Only numbers below the limit count: one above it was open before it was lowered. */
	d = opendir("/proc/self/fd");
	if (d) {
		/* A listing, not a call per number up to a limit of a million. */
		struct dirent *de;

		while ((de = readdir(d))) {
			char *end;

			fd = strtol(de->d_name, &end, 10);
			if (end != de->d_name && !*end && fd != dirfd(d) && fd < n)
				used++;
		}
		closedir(d);
		return n - used;
	}
	for (fd = 0; fd < n; fd++)
		used += fcntl((int)fd, F_GETFD) >= 0;
	return n - used;
}

int rt_plan_descriptors(struct tree *t, int *jobs)
{
	struct cdt_pack **packs = NULL;
	long limit, avail = free_descriptors(&limit), fixed, worker, rest, extra, npacks;
	long j = *jobs;

	npacks = (long)cdt_packs_list(t->s, &packs);
	free(packs);
	worker = FDS_WORKER + 1 + (cdt_store_remote_url(t->s) ? FDS_REMOTE : 0);
	npacks = MIN(npacks, (long)cdt_pack_files_max());
	/* With few descriptors, fewer pack files kept open leave room for a worker. */
	if (avail < FDS_ROOT + FDS_MAIN + npacks + worker + 1 + MIN_LEVELS &&
	    npacks > CDT_PACK_FILES_MIN) {
		npacks = MAX(avail - (FDS_ROOT + FDS_MAIN + worker + 1 + MIN_LEVELS),
			     CDT_PACK_FILES_MIN);
		cdt_pack_set_files_max((unsigned)npacks);
	}
	fixed = FDS_ROOT + FDS_MAIN + npacks;
	/* Each worker is one more file queued; at least one. */
	if (avail < fixed + worker + 1 + MIN_LEVELS)
		return error_code(-EMFILE,
				  "cannot restore into '%s': the limit of open files (ulimit -n %ld) leaves %ld free, %ld are needed",
				  quote(t->dir), limit, avail, fixed + worker + 1 + MIN_LEVELS);
	if (j > (avail - fixed - MIN_LEVELS) / (worker + 1))
		j = (avail - fixed - MIN_LEVELS) / (worker + 1);
	rest = avail - fixed - j * (worker + 1);
	/* Then readers for big files, more files queued, more open levels. */
	t->big_jobs = 0;
	if (j > 1 && rest - MIN_LEVELS >= j) {
		t->big_jobs = (int)j;
		rest -= j;
	}
	extra = MIN((QUEUE_PER_JOB - 1) * j, (rest - MIN_LEVELS) / 2);
	rest -= extra;
	t->qcap = (size_t)(j + extra);
	t->open_levels = (size_t)MIN(rest, MAX_LEVELS);
	*jobs = (int)j;
	return 0;
}
