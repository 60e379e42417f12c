/* workers.h: a small fixed pool of threads for data-parallel loops. */
#ifndef CDT_WORKERS_H
#define CDT_WORKERS_H

#include <stddef.h>

/*
 * Bytes of chunk data a reader works on per parallel round (restore,
 * verify, fsck): enough to keep every worker busy, and what bounds their
 * buffers whatever the file or store size.
 */
#define CDT_ROUND_BYTES (16u << 20)

struct cdt_workers;

/* Start a pool of n threads (n <= 0: none; all work runs in the caller). */
struct cdt_workers *cdt_workers_new(int n);
void cdt_workers_free(struct cdt_workers *w);
int cdt_workers_count(const struct cdt_workers *w);

/*
 * Call fn(i, worker, data) for every i in [0, n), spread over the pool and
 * the calling thread; returns when all calls have returned. `worker` is a
 * stable index in [0, count] so callers can keep per-thread scratch space
 * (index count is the calling thread).
 */
typedef void (*cdt_work_fn)(size_t i, int worker, void *data);
void cdt_workers_run(struct cdt_workers *w, size_t n, cdt_work_fn fn, void *data);

/*
 * The same in two steps, so the caller can do other work while the pool
 * runs: start() hands the items to the pool's threads; finish() has the
 * calling thread take its share of what is left, then waits for all. With
 * no threads, finish() does all the work. One job at a time.
 */
void cdt_workers_start(struct cdt_workers *w, size_t n, cdt_work_fn fn, void *data);
void cdt_workers_finish(struct cdt_workers *w);

/* Number of online CPUs (at least 1). */
int cdt_online_cpus(void);

#endif
