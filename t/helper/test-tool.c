/* test-tool.c: library internals for tests and benchmarks (built, never installed). */
#include "../../lib/chunker.h"
#include "../../lib/refs.h"
#include "../../lib/store.h"
#include "../../lib/strbuf.h"
#include "../../lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t parse_u64(const char *s)
{
	uint64_t v;

	if (parse_size(s, &v) < 0)
		die("bad number '%s'", s);
	return v;
}

/* gen-random SEED COUNT: COUNT reproducible pseudo-random bytes on stdout. */
static int cmd_gen_random(int argc, char **argv)
{
	uint64_t seed, left, buf[8192];

	if (argc != 3)
		die("usage: test-tool gen-random SEED COUNT");
	seed = parse_u64(argv[1]);
	left = parse_u64(argv[2]);
	while (left) {
		size_t n = (size_t)MIN(left, (uint64_t)sizeof(buf)), i;

		for (i = 0; i < ARRAY_SIZE(buf); i++)
			buf[i] = rng_next(&seed);
		if (write_all(STDOUT_FILENO, buf, n) < 0)
			die("write failed: %s", strerror(errno));
		left -= n;
	}
	return 0;
}

/*
 * gen-text SEED COUNT: reproducible compressible text (words from a small
 * vocabulary, lines of varying length), for data that deflates like logs.
 */
static int cmd_gen_text(int argc, char **argv)
{
	static const char *const words[] = {
		"backup", "chunk", "store", "manifest", "error", "warning", "info",
		"request", "user", "session", "the", "a", "of", "to", "and", "in",
		"database", "table", "index", "row", "commit", "rollback", "select",
		"insert", "update", "delete", "from", "where", "value", "null",
		"2026-11-26", "12:00:00", "GET", "POST", "/api/v1/items", "200", "404",
	};
	uint64_t seed, left;
	struct strbuf sb = STRBUF_INIT;

	if (argc != 3)
		die("usage: test-tool gen-text SEED COUNT");
	seed = parse_u64(argv[1]);
	left = parse_u64(argv[2]);
	while (left) {
		uint64_t r = rng_next(&seed);
		int n = 3 + (int)(r % 14), i;

		strbuf_reset(&sb);
		strbuf_addf(&sb, "%llu ", (unsigned long long)(r >> 40));
		for (i = 0; i < n; i++) {
			r = rng_next(&seed);
			strbuf_addstr(&sb, words[r % ARRAY_SIZE(words)]);
			strbuf_addch(&sb, i + 1 < n ? ' ' : '\n');
		}
		if (sb.len > left)
			strbuf_setlen(&sb, (size_t)left);
		if (write_all(STDOUT_FILENO, sb.buf, sb.len) < 0)
			die("write failed: %s", strerror(errno));
		left -= sb.len;
	}
	strbuf_release(&sb);
	return 0;
}

/* chunk [fastcdc|fixed] SIZE FILE: "offset length" of each chunk. */
static int cmd_chunk(int argc, char **argv)
{
	struct cdt_chunker c;
	enum cdt_chunker_kind kind;
	unsigned char *buf;
	size_t cap, have = 0;
	uint64_t off = 0;
	int fd, eof = 0;

	if (argc != 4 || cdt_chunker_parse(argv[1], &kind))
		die("usage: test-tool chunk fastcdc|fixed SIZE FILE");
	if (cdt_chunker_init(&c, kind, (uint32_t)parse_u64(argv[2])) < 0)
		die("bad chunk size");
	fd = open(argv[3], O_RDONLY);
	if (fd < 0)
		die("cannot open '%s': %s", argv[3], strerror(errno));
	cap = 4 * (size_t)c.max_size;
	buf = xmalloc(cap);
	for (;;) {
		size_t pos = 0, n;
		ssize_t r;

		while (have < cap && !eof) {
			r = read(fd, buf + have, cap - have);
			if (r < 0)
				die("read failed: %s", strerror(errno));
			if (r == 0)
				eof = 1;
			have += (size_t)r;
		}
		while ((n = cdt_chunker_next(&c, buf + pos, have - pos, eof))) {
			printf("%llu %zu\n", (unsigned long long)off, n);
			off += n;
			pos += n;
		}
		memmove(buf, buf + pos, have - pos);
		have -= pos;
		if (eof && !have)
			break;
	}
	free(buf);
	close(fd);
	return 0;
}

/*
 * chunk-hash fastcdc|fixed SIZE FILE...: cut the files and hash every chunk
 * on one core, as repair and add do; prints "bytes N seconds T mbps R". The
 * baseline for repair's scanning speed.
 */
static int cmd_chunk_hash(int argc, char **argv)
{
	struct cdt_chunker c;
	enum cdt_chunker_kind kind;
	unsigned char *buf;
	size_t cap;
	uint64_t total = 0;
	double t0;
	int i;

	if (argc < 4 || cdt_chunker_parse(argv[1], &kind))
		die("usage: test-tool chunk-hash fastcdc|fixed SIZE FILE...");
	if (cdt_chunker_init(&c, kind, (uint32_t)parse_u64(argv[2])) < 0)
		die("bad chunk size");
	cap = MAX((size_t)8 << 20, 2 * (size_t)c.max_size);
	buf = xmalloc(cap);
	t0 = now_seconds();
	for (i = 3; i < argc; i++) {
		size_t have = 0;
		int fd = open(argv[i], O_RDONLY), eof = 0;

		if (fd < 0)
			die("cannot open '%s': %s", argv[i], strerror(errno));
		for (;;) {
			size_t pos = 0, n;
			ssize_t r;

			while (have < cap && !eof) {
				r = read(fd, buf + have, cap - have);
				if (r < 0)
					die("read failed: %s", strerror(errno));
				if (r == 0)
					eof = 1;
				have += (size_t)r;
			}
			while ((n = cdt_chunker_next(&c, buf + pos, have - pos, eof))) {
				struct cdt_id id;

				cdt_hash(buf + pos, n, &id);
				pos += n;
			}
			total += pos;
			memmove(buf, buf + pos, have - pos);
			have -= pos;
			if (eof && !have)
				break;
		}
		close(fd);
	}
	{
		double t = now_seconds() - t0;

		printf("bytes %llu seconds %.6f mbps %.1f\n", (unsigned long long)total, t,
		       t > 0 ? (double)total / t / 1e6 : 0.0);
	}
	free(buf);
	return 0;
}

/*
 * ref-add STORE CHUNK MANIFEST: write a reference table holding the one
 * pair, as an add would (for tests of stale references).
 */
static int cmd_ref_add(int argc, char **argv)
{
	struct cdt_store *s;
	struct cdt_ref_writer *w;
	struct cdt_id c, m;

	if (argc != 4 || cdt_id_from_hex(argv[2], &c) || cdt_id_from_hex(argv[3], &m))
		die("usage: test-tool ref-add STORE CHUNK-ID MANIFEST-ID");
	if (cdt_store_open(argv[1], &s) < 0)
		return 1;
	w = cdt_ref_writer_new(s);
	if (cdt_ref_writer_add(w, &c, &m) < 0 || cdt_ref_writer_flush(w) < 0 ||
	    cdt_store_sync(s) < 0)
		die("cannot write a reference table");
	cdt_ref_writer_free(w);
	cdt_store_close(s);
	return 0;
}

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
		die("cannot open '%s': %s", j->file, strerror(errno));
	if (posix_memalign((void **)&a, 4096, (size_t)j->size))
		die("out of memory");
	if (j->ref) {
		rfd = open(j->ref, O_RDONLY);
		if (rfd < 0)
			die("cannot open '%s': %s", j->ref, strerror(errno));
	}
	for (i = 0; i < j->count; i++) {
		uint64_t off = rng_next(&seed) % j->flen;

		if (direct)
			off &= ~(uint64_t)4095;
		ssize_t n = pread_full(fd, a, (size_t)j->size, (off_t)off), m;

		if (n < 0) {
			if (!j->failed++)
				fprintf(stderr, "pread at %llu: %s\n", (unsigned long long)off,
					strerror((int)-n));
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
static int cmd_pread(int argc, char **argv)
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
		die("cannot use '%s': %s", argv[1], st.st_size ? strerror(errno) : "empty");
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

static const struct {
	const char *name;
	int (*fn)(int, char **);
} cmds[] = {
	{ "chunk", cmd_chunk },
	{ "chunk-hash", cmd_chunk_hash },
	{ "gen-random", cmd_gen_random },
	{ "gen-text", cmd_gen_text },
	{ "pread", cmd_pread },
	{ "ref-add", cmd_ref_add },
};

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2)
		die("usage: test-tool COMMAND [ARGS]");
	for (i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(cmds[i].name, argv[1]))
			return cmds[i].fn(argc - 1, argv + 1);
	die("unknown test-tool command '%s'", argv[1]);
}
