/* test-pread.c: random reads of a file from several threads, timed and compared. */
#include "test-tool.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct pread_job {
	const char *file, *ref;
	uint64_t seed, count, size, flen;
	uint64_t bad, failed;
};

static void *pread_worker(void *arg)
{
	struct pread_job *j = arg;
	/* TEST_PREAD_DIRECT=1: O_DIRECT, so that the page cache answers nothing. */
	int direct = getenv("TEST_PREAD_DIRECT") && !strcmp(getenv("TEST_PREAD_DIRECT"), "1");
	unsigned char *a, *b = xmalloc(j->size);
	int fd = open(j->file, O_RDONLY | (direct ? O_DIRECT : 0)), rfd = -1;
	uint64_t i, seed = j->seed;

	if (fd < 0)
		die("cannot open '%s': %s", j->file, cdt_strerror(errno));
	if (posix_memalign((void **)&a, 4096, (size_t)j->size))
		die("out of memory");
	if (j->ref) {
		rfd = open(j->ref, O_RDONLY);
		if (rfd < 0)
			die("cannot open '%s': %s", j->ref, cdt_strerror(errno));
	}
	for (i = 0; i < j->count; i++) {
		uint64_t off = rng_next(&seed) % j->flen;

		if (direct)
			off &= ~(uint64_t)4095;
		ssize_t n = pread_full(fd, a, (size_t)j->size, (off_t)off), m;

		if (n < 0) {
			if (!j->failed++)
				fprintf(stderr, "pread at %llu: %s\n", (unsigned long long)off,
					cdt_strerror((int)n));
			continue;
		}
		if (rfd < 0)
			continue;
		m = pread_full(rfd, b, (size_t)j->size, (off_t)off);
		if (m != n || memcmp(a, b, (size_t)n)) {
			if (!j->bad++)
				fprintf(stderr, "bytes differ at %llu\n", (unsigned long long)off);
		}
	}
	close(fd);
	if (rfd >= 0)
		close(rfd);
	free(a);
	free(b);
	return NULL;
}

/*
 * pread FILE REF|- SEED COUNT SIZE [THREADS]: COUNT preads of SIZE bytes at
 * reproducible random offsets in each of THREADS threads, each compared with
 * the same range of REF (unless "-"). Prints "READS reads/s"; exits 1 on
 * any difference or error.
 */

int cmd__pread(int argc, char **argv)
{
	struct pread_job *jobs;
	pthread_t *tids;
	struct stat st;
	uint64_t threads = 1, i, bad = 0, failed = 0;
	double t0, t;

	if (argc != 6 && argc != 7)
		die("usage: test-tool pread FILE REF|- SEED COUNT SIZE [THREADS]");
	if (argc == 7)
		threads = parse_u64(argv[6]);
	if (stat(argv[1], &st) < 0 || !st.st_size)
		die("cannot use '%s': %s", argv[1], st.st_size ? cdt_strerror(errno) : "empty");
	jobs = xcalloc((size_t)threads, sizeof(*jobs));
	tids = xcalloc((size_t)threads, sizeof(*tids));
	t0 = now_seconds();
	for (i = 0; i < threads; i++) {
		jobs[i].file = argv[1];
		jobs[i].ref = strcmp(argv[2], "-") ? argv[2] : NULL;
		jobs[i].seed = parse_u64(argv[3]) + i * 7919;
		jobs[i].count = parse_u64(argv[4]);
		jobs[i].size = parse_u64(argv[5]);
		jobs[i].flen = (uint64_t)st.st_size;
		if (pthread_create(&tids[i], NULL, pread_worker, &jobs[i]))
			die("cannot start a thread");
	}
	for (i = 0; i < threads; i++) {
		pthread_join(tids[i], NULL);
		bad += jobs[i].bad;
		failed += jobs[i].failed;
	}
	t = now_seconds() - t0;
	printf("%.0f reads/s\n", (double)(threads * jobs[0].count) / (t > 0 ? t : 1e-9));
	if (bad || failed)
		fprintf(stderr, "%llu reads differ, %llu failed\n", (unsigned long long)bad,
			(unsigned long long)failed);
	free(jobs);
	free(tids);
	return bad || failed;
}
