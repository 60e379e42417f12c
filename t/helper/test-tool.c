/* test-tool.c: library internals for tests and benchmarks (built, never installed). */
#include "../../lib/chunker.h"
#include "../../lib/compress.h"
#include "../../lib/hash.h"
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

/*
 * limits: single-core throughput of the building blocks of add and cat, on
 * the caller's data, so that benchmarks can say how far the commands are
 * from what the machine allows.
 */
#define LIMITS_MAX_DEFAULT (512ull << 20)
#define LIMITS_SLICE (4u << 20)		/* sampling granularity */
#define LIMITS_PIECE (64u << 10)	/* SHA-256 piece, as large chunks */
#define LIMITS_COPY (64u << 20)		/* memcpy destination: beyond any cache */
#define LIMITS_MIN_TIME 0.5

struct limits {
	unsigned char *data;
	size_t len;
	struct cdt_chunker ch;
	/* Chunk lengths (from the chunker) and their compressed forms. */
	uint32_t *clen;
	size_t nchunks, calloc_;
	unsigned char *comp;		/* compressed chunks, back to back */
	uint32_t *zlen;			/* 0: stored raw, as the store does */
	size_t comp_total;
	int level;
	unsigned char *scratch;
	unsigned sink;
};

/*
 * Read FILEs into memory, at most `max` bytes in all: when they are larger,
 * take evenly spaced slices of every file in proportion to its size.
 */
static void limits_load(struct limits *l, char **files, int nfiles, uint64_t max)
{
	uint64_t total = 0, *sizes = xcalloc((size_t)nfiles, sizeof(*sizes));
	size_t cap;
	int i;

	for (i = 0; i < nfiles; i++) {
		struct stat st;

		if (stat(files[i], &st) < 0)
			die("cannot stat '%s': %s", files[i], strerror(errno));
		if (!S_ISREG(st.st_mode))
			die("'%s' is not a regular file", files[i]);
		sizes[i] = (uint64_t)st.st_size;
		total += sizes[i];
	}
	cap = (size_t)MIN(total, max);
	if (!cap)
		die("no data to measure");
	l->data = xmalloc(cap);
	l->len = 0;
	for (i = 0; i < nfiles; i++) {
		uint64_t want = total <= max ? sizes[i] :
			(uint64_t)((double)sizes[i] * (double)max / (double)total);
		uint64_t nslices, stride, k;
		int fd;

		want = MIN(want, (uint64_t)(cap - l->len));
		if (!want)
			continue;
		nslices = want == sizes[i] ? 1 : (want + LIMITS_SLICE - 1) / LIMITS_SLICE;
		stride = sizes[i] / nslices;
		fd = open(files[i], O_RDONLY);
		if (fd < 0)
			die("cannot open '%s': %s", files[i], strerror(errno));
		for (k = 0; k < nslices && want; k++) {
			size_t n = (size_t)MIN(want, nslices == 1 ? want : (uint64_t)LIMITS_SLICE);
			ssize_t r = pread_full(fd, l->data + l->len, n, (off_t)(k * stride));

			if (r < 0)
				die("cannot read '%s': %s", files[i], strerror((int)-r));
			l->len += (size_t)r;
			want -= (uint64_t)r;
			if ((size_t)r < n)
				break;
		}
		close(fd);
	}
	free(sizes);
}

static void step_memcpy(struct limits *l)
{
	size_t off;

	for (off = 0; off < l->len; off += LIMITS_COPY) {
		size_t n = MIN((size_t)LIMITS_COPY, l->len - off);

		memcpy(l->scratch, l->data + off, n);
		l->sink += l->scratch[n / 2];
	}
}

static void step_sha256(struct limits *l)
{
	struct cdt_id id;
	size_t off;

	for (off = 0; off < l->len; off += LIMITS_PIECE) {
		cdt_hash(l->data + off, MIN((size_t)LIMITS_PIECE, l->len - off), &id);
		l->sink += id.b[0];
	}
}

static void step_chunk(struct limits *l)
{
	size_t off = 0;

	l->nchunks = 0;
	while (off < l->len) {
		size_t n = cdt_chunker_next(&l->ch, l->data + off, l->len - off, 1);

		ALLOC_GROW(l->clen, l->nchunks + 1, l->calloc_);
		l->clen[l->nchunks++] = (uint32_t)n;
		off += n;
	}
}

static void step_chunk_sha256(struct limits *l)
{
	struct cdt_id id;
	size_t off = 0;

	while (off < l->len) {
		size_t n = cdt_chunker_next(&l->ch, l->data + off, l->len - off, 1);

		cdt_hash(l->data + off, n, &id);
		l->sink += id.b[0];
		off += n;
	}
}

/* As cdt_object_encode: keep the chunk raw when deflate does not shrink it. */
static void step_deflate(struct limits *l)
{
	struct cdt_compressor *c = cdt_compressor_new(l->level);
	size_t i, off = 0;

	l->comp_total = 0;
	for (i = 0; i < l->nchunks; i++) {
		uint32_t n = l->clen[i];

		l->zlen[i] = n > 16 ? (uint32_t)cdt_compress(c, l->data + off, n,
							      l->comp + l->comp_total, n - 1) : 0;
		l->comp_total += l->zlen[i] ? l->zlen[i] : n;
		off += n;
	}
	cdt_compressor_free(c);
}

static void do_inflate(struct limits *l, int verify)
{
	struct cdt_decompressor *d = cdt_decompressor_new();
	size_t i, off = 0, zoff = 0;
	struct cdt_id id;

	for (i = 0; i < l->nchunks; i++) {
		uint32_t n = l->clen[i];

		if (l->zlen[i]) {
			if (cdt_decompress(d, l->comp + zoff, l->zlen[i], l->scratch, n) < 0)
				die("inflate failed on chunk %zu", i);
			zoff += l->zlen[i];
		} else {
			memcpy(l->scratch, l->data + off, n);
			zoff += n;
		}
		if (verify) {
			cdt_hash(l->scratch, n, &id);
			l->sink += id.b[0];
		}
		l->sink += l->scratch[n / 2];
		off += n;
	}
	cdt_decompressor_free(d);
}

static void step_inflate(struct limits *l)
{
	do_inflate(l, 0);
}

static void step_inflate_sha256(struct limits *l)
{
	do_inflate(l, 1);
}

/* MB/s (10^6 bytes) of a step over the data, repeated to LIMITS_MIN_TIME. */
static double measure(struct limits *l, void (*step)(struct limits *))
{
	double start = now_seconds(), t;
	uint64_t passes = 0;

	do {
		step(l);
		passes++;
		t = now_seconds() - start;
	} while (t < LIMITS_MIN_TIME);
	return (double)l->len * (double)passes / t / 1e6;
}

/* limits [--level N] [--size AVG] [--max BYTES] FILE...: "key value" lines. */
static int cmd_limits(int argc, char **argv)
{
	static const char usage[] =
		"usage: test-tool limits [--level N] [--size AVG] [--max BYTES] FILE...";
	struct limits l = { 0 };
	uint64_t size = 64 << 10, max = LIMITS_MAX_DEFAULT;
	double mbps;
	int i;

	l.level = 6;
	for (i = 1; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (i + 1 >= argc)
			die("%s", usage);
		if (!strcmp(argv[i], "--level"))
			l.level = (int)parse_u64(argv[++i]);
		else if (!strcmp(argv[i], "--size"))
			size = parse_u64(argv[++i]);
		else if (!strcmp(argv[i], "--max"))
			max = parse_u64(argv[++i]);
		else
			die("%s", usage);
	}
	if (i >= argc || l.level > CDT_LEVEL_MAX || size > UINT32_MAX || !max)
		die("%s", usage);
	if (cdt_chunker_init(&l.ch, CDT_CHUNKER_FASTCDC, (uint32_t)size) < 0)
		die("bad chunk size %llu", (unsigned long long)size);
	limits_load(&l, argv + i, argc - i, max);
	l.scratch = xmalloc(MAX((size_t)LIMITS_COPY, (size_t)l.ch.max_size));
	/* Fault the pages in now: first-touch cost is not copying. */
	memset(l.scratch, 0, MAX((size_t)LIMITS_COPY, (size_t)l.ch.max_size));

	printf("bytes %zu\n", l.len);
	printf("chunk_size %llu\n", (unsigned long long)size);
	printf("level %d\n", l.level);
	printf("deflate_backend %s\n", cdt_deflate_backend());
	printf("memcpy_mbps %.1f\n", measure(&l, step_memcpy));
	printf("sha256_mbps %.1f\n", measure(&l, step_sha256));
	printf("chunk_mbps %.1f\n", measure(&l, step_chunk));
	printf("chunks %zu\n", l.nchunks);
	printf("chunk_sha256_mbps %.1f\n", measure(&l, step_chunk_sha256));
	fflush(stdout);
	/* No compressed form is larger than its chunk. */
	l.comp = xmalloc(l.len);
	l.zlen = xcalloc(l.nchunks, sizeof(*l.zlen));
	mbps = measure(&l, step_deflate);
	printf("deflate_mbps %.1f\n", mbps);
	printf("deflate_bytes %zu\n", l.comp_total);
	printf("deflate_ratio %.3f\n", (double)l.len / (double)l.comp_total);
	printf("inflate_mbps %.1f\n", measure(&l, step_inflate));
	printf("inflate_sha256_mbps %.1f\n", measure(&l, step_inflate_sha256));
	if (l.sink == 0xdeadbeef)
		fputc('\n', stderr);	/* keeps the work observable */
	free(l.data);
	free(l.scratch);
	free(l.clen);
	free(l.comp);
	free(l.zlen);
	cdt_hash_thread_cleanup();
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(int, char **);
} cmds[] = {
	{ "chunk", cmd_chunk },
	{ "gen-random", cmd_gen_random },
	{ "gen-text", cmd_gen_text },
	{ "limits", cmd_limits },
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
