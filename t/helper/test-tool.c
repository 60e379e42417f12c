/* test-tool.c: library internals for tests and benchmarks (built, never installed). */
#include "format/chunker.h"
#include "ops/chunks.h"
#include "base/compress.h"
#include "base/hash.h"
#include "base/idset.h"
#include "ops/ingest.h"
#include "format/names.h"
#include "format/object.h"
#include "format/pack.h"
#include "ops/packset.h"
#include "format/refs.h"
#include "format/store.h"
#include "base/strbuf.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

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
			die("write failed: %s", cdt_strerror(errno));
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
			die("write failed: %s", cdt_strerror(errno));
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
		die("cannot open '%s': %s", argv[3], cdt_strerror(errno));
	cap = 4 * (size_t)c.max_size;
	buf = xmalloc(cap);
	for (;;) {
		size_t pos = 0, n;
		ssize_t r;

		while (have < cap && !eof) {
			r = read(fd, buf + have, cap - have);
			if (r < 0)
				die("read failed: %s", cdt_strerror(errno));
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
/*
 * ingest STORE NAME FILE: add FILE as cdt add would (one worker) and print
 * its size, the bytes that went through the whole-file hash and the
 * content id: shows when re-reading stored content skips that hash.
 */
static int cmd_ingest(int argc, char **argv)
{
	struct cdt_ingest_options io = { 0 };
	struct cdt_ingest_result res;
	struct cdt_name_entry meta = { 0 };
	struct cdt_ingest *ing;
	struct cdt_store *s;
	char hex[CDT_ID_HEXLEN + 1];
	int fd, ret;

	if (argc != 4 || strlen(argv[2]) > CDT_NAME_MAX)
		die("usage: test-tool ingest STORE NAME FILE");
	if (cdt_store_open(argv[1], &s) < 0 || cdt_store_lock(s, CDT_LOCK_SHARED) < 0)
		return 1;
	fd = open(argv[3], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("cannot open '%s': %s", argv[3], cdt_strerror(errno));
	strcpy(meta.name, argv[2]);
	meta.mode = 0644;
	io.jobs = 1;
	ing = cdt_ingest_new(s, &io);
	ret = cdt_ingest_fd(ing, fd, argv[3], &meta, &res);
	cdt_ingest_free(ing);
	close(fd);
	cdt_store_close(s);
	if (ret < 0)
		return 1;
	printf("size %llu\nhashed %llu\ncontent %s\n", (unsigned long long)res.size,
	       (unsigned long long)res.hashed, cdt_id_to_hex(&res.content, hex));
	return 0;
}

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
			die("cannot stat '%s': %s", files[i], cdt_strerror(errno));
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
			die("cannot open '%s': %s", files[i], cdt_strerror(errno));
		for (k = 0; k < nslices && want; k++) {
			size_t n = (size_t)MIN(want, nslices == 1 ? want : (uint64_t)LIMITS_SLICE);
			ssize_t r = pread_full(fd, l->data + l->len, n, (off_t)(k * stride));

			if (r < 0)
				die("cannot read '%s': %s", files[i], cdt_strerror((int)r));
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

/* A "Key:  N kB" figure of /proc/PID/status (pid 0: this process), in KiB; -1 if unknown. */
static long status_kb(pid_t pid, const char *key)
{
	char line[256], path[64];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/status");
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* Nanoseconds per call of fn over ids[0..n); *hits counts the ids found. */
static double time_lookups(struct cdt_store *s, const struct cdt_id *ids, uint64_t n,
			   int (*fn)(struct cdt_store *, const struct cdt_id *), uint64_t *hits)
{
	double t0 = now_seconds(), t;
	uint64_t i;

	*hits = 0;
	for (i = 0; i < n; i++) {
		int r = fn(s, &ids[i]);

		if (r < 0)
			die("lookup failed: %s", cdt_strerror(r));
		*hits += (uint64_t)r;
	}
	t = now_seconds() - t0;
	return t * 1e9 / (double)n;
}

static int locate_only(struct cdt_store *s, const struct cdt_id *id)
{
	struct cdt_pack *p;
	uint64_t k;

	return cdt_chunk_locate(s, id, &p, &k);
}

/*
 * lookup STORE N [SEED]: the cost of asking whether the store holds a chunk,
 * as add does for every chunk it cuts. Times cdt_chunk_has() (loose object,
 * then packs through the multi-pack index) and cdt_chunk_locate() (the pack
 * search alone) for N random ids, which no store holds, and for N ids drawn
 * from the packs. The first pass over each set runs in a fresh process
 * with nothing of the indexes touched yet, as in a short-lived command; the
 * other figures are the best of three further passes. "key value" lines.
 */
static int cmd_lookup(int argc, char **argv)
{
	struct cdt_store *s;
	struct cdt_pack **packs;
	struct cdt_id *absent, *present = NULL;
	uint64_t n, seed = 42, total = 0, *cum, i, hits, found;
	size_t npacks, uncovered, p;
	double first_absent, first_present = 0, best[4] = { 0 };
	int pass, k, ret;

	if (argc != 3 && argc != 4)
		die("usage: test-tool lookup STORE N [SEED]");
	n = parse_u64(argv[2]);
	if (argc == 4)
		seed = parse_u64(argv[3]);
	if (!n || n > (1u << 26))
		die("N must be between 1 and %u", 1u << 26);
	ret = cdt_store_open(argv[1], &s);
	if (ret < 0)
		return 1;
	npacks = cdt_packs_list(s, &packs);
	uncovered = cdt_packs_uncovered(s);
	cum = xcalloc(npacks + 1, sizeof(*cum));
	for (p = 0; p < npacks; p++) {
		total += packs[p]->count;
		cum[p + 1] = total;
	}

	absent = xmalloc((size_t)n * sizeof(*absent));
	for (i = 0; i < n; i++) {
		uint64_t w[4];

		for (k = 0; k < 4; k++)
			w[k] = rng_next(&seed);
		memcpy(absent[i].b, w, sizeof(w));
	}
	if (total) {
		present = xmalloc((size_t)n * sizeof(*present));
		for (i = 0; i < n; i++) {
			uint64_t r = rng_next(&seed) % total;
			size_t lo = 0, hi = npacks;

			/* The pack holding entry r of all of them: cum[lo] <= r < cum[lo + 1]. */
			while (hi - lo > 1) {
				size_t mid = lo + (hi - lo) / 2;

				if (cum[mid] <= r)
					lo = mid;
				else
					hi = mid;
			}
			cdt_pack_entry(packs[lo], r - cum[lo], &present[i], NULL, NULL, NULL);
		}
	}

	first_absent = time_lookups(s, absent, n, cdt_chunk_has, &found);
	if (found)
		die("%llu random ids were found in the store", (unsigned long long)found);
	if (present) {
		first_present = time_lookups(s, present, n, cdt_chunk_has, &hits);
		if (hits != n)
			die("%llu ids taken from the packs were not found",
			    (unsigned long long)(n - hits));
	}
	for (pass = 0; pass < 3; pass++) {
		double t[4];

		t[0] = time_lookups(s, absent, n, cdt_chunk_has, &hits);
		t[1] = time_lookups(s, absent, n, locate_only, &hits);
		if (present) {
			t[2] = time_lookups(s, present, n, cdt_chunk_has, &hits);
			t[3] = time_lookups(s, present, n, locate_only, &hits);
		} else {
			t[2] = t[3] = 0;
		}
		for (k = 0; k < 4; k++)
			if (!pass || t[k] < best[k])
				best[k] = t[k];
	}

	printf("packs %zu\n", npacks);
	printf("packs_in_midx %zu\n", npacks - uncovered);
	printf("packed_chunks %llu\n", (unsigned long long)total);
	printf("lookups %llu\n", (unsigned long long)n);
	printf("absent_has_first_ns %.0f\n", first_absent);
	printf("absent_has_ns %.0f\n", best[0]);
	printf("absent_packs_ns %.0f\n", best[1]);
	if (present) {
		printf("present_has_first_ns %.0f\n", first_present);
		printf("present_has_ns %.0f\n", best[2]);
		printf("present_packs_ns %.0f\n", best[3]);
	}
	/* Mapped indexes count as file-backed resident memory. */
	printf("rss_anon_kb %ld\n", status_kb(0, "RssAnon"));
	printf("rss_file_kb %ld\n", status_kb(0, "RssFile"));
	free(absent);
	free(present);
	free(cum);
	free(packs);
	cdt_store_close(s);
	cdt_hash_thread_cleanup();
	return 0;
}

/*
 * rusage OUT CMD [ARG...]: run CMD and write "wall user system maxrss
 * anon file" to OUT: seconds, then KiB. maxrss is wait4()'s ru_maxrss, the
 * figure GNU time's %M reports; anon and file split the resident set into
 * anonymous memory and mapped files (indexes, the binary), each the largest
 * seen in /proc/PID/status sampled every 10 ms, so a peak shorter than that
 * can be missed. Exits with CMD's status.
 */
static int cmd_rusage(int argc, char **argv)
{
	const struct timespec tick = { 0, 10 * 1000 * 1000 };
	long anon = 0, file = 0;
	struct rusage ru;
	double t0, t;
	pid_t pid;
	int status;
	FILE *f;

	if (argc < 3)
		die("usage: test-tool rusage OUT CMD [ARG...]");
	t0 = now_seconds();
	pid = fork();
	if (pid < 0)
		die("cannot fork: %s", cdt_strerror(errno));
	if (!pid) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "cannot run '%s': %s\n", argv[2], cdt_strerror(errno));
		_exit(127);
	}
	for (;;) {
		pid_t r = wait4(pid, &status, WNOHANG, &ru);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			die("wait failed: %s", cdt_strerror(errno));
		anon = MAX(anon, status_kb(pid, "RssAnon"));
		file = MAX(file, status_kb(pid, "RssFile"));
		nanosleep(&tick, NULL);
	}
	t = now_seconds() - t0;
	f = fopen(argv[1], "w");
	if (!f)
		die("cannot open '%s': %s", argv[1], cdt_strerror(errno));
	fprintf(f, "%.3f %.2f %.2f %ld %ld %ld\n", t,
		(double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
		(double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss,
		anon, file);
	if (fclose(f))
		die("cannot write '%s': %s", argv[1], cdt_strerror(errno));
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/*
 * superchunk: would compressing adjacent chunks together pay? The files are
 * chunked with the store's FastCDC and deduplicated as an add would (each
 * distinct chunk kept once, in the order it first appears); the distinct
 * chunks are then compressed per chunk, in groups of k adjacent new chunks
 * of one file as one zlib stream, and each with the previous chunk as a
 * preset dictionary, timing deflate, sequential inflate and random reads.
 */
#define SC_NGROUPS 4
static const unsigned sc_group_sizes[SC_NGROUPS] = { 2, 4, 8, 16 };
static volatile unsigned sc_sink;
#define SC_REPEAT 3

struct sc_chunk {
	uint64_t off;		/* in the buffer of distinct chunks */
	uint32_t len;
};

struct sc_file {
	const char *path;
	uint64_t size;
	size_t first_new, nnew;	/* its distinct chunks: first_new.. */
	uint32_t *seq;		/* every chunk of the file, as a distinct-chunk index */
	size_t nseq;
};

struct sc {
	struct cdt_chunker ch;
	int level;
	uint64_t reads, seed;
	unsigned char *u;	/* distinct chunks, back to back */
	size_t ulen, ucap;
	struct sc_chunk *chunks;
	struct cdt_id *cid;	/* per distinct chunk: its id */
	size_t nchunks, chunks_alloc, cid_alloc;
	uint64_t *files_of;	/* per distinct chunk: bit f set if file f holds it */
	size_t files_of_alloc;
	struct cdt_idset ids;	/* id -> distinct chunk index */
	struct sc_file *files;
	int nfiles;
	uint64_t bytes_in, chunks_in;
};

/* One compressed object of a scheme: chunks first..first+n, maybe with a dictionary. */
struct sc_unit {
	size_t first, n;
	uint64_t raw_off, comp_off;
	uint32_t raw_len, comp_len;	/* comp_len == 0: stored raw */
	int dict;			/* the previous distinct chunk is its dictionary */
};

enum sc_kind { SC_CHUNK_STORE, SC_CHUNK, SC_GROUP, SC_DICT_CHAIN, SC_DICT_PAIRS };

struct sc_scheme {
	enum sc_kind kind;
	unsigned k;
	char name[40];
	struct sc_unit *units;
	size_t nunits;
	size_t *unit_of;	/* distinct chunk -> unit */
	unsigned char *comp;
	uint64_t stored;
	double deflate_s, inflate_s, read_us, read_to_us;
};

static void sc_load(struct sc *sc, const char *path, int f)
{
	struct sc_file *file = &sc->files[f];
	unsigned char *data;
	size_t pos = 0, seq_alloc = 0;
	struct stat st;
	ssize_t r;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0)
		die("cannot open '%s': %s", path, cdt_strerror(errno));
	if (!S_ISREG(st.st_mode))
		die("'%s' is not a regular file", path);
	file->path = path;
	file->size = (uint64_t)st.st_size;
	data = xmalloc(file->size ? (size_t)file->size : 1);
	r = read_full(fd, data, (size_t)file->size);
	if (r < 0 || (uint64_t)r != file->size)
		die("cannot read '%s'", path);
	close(fd);
	file->first_new = sc->nchunks;
	while (pos < file->size) {
		size_t n = cdt_chunker_next(&sc->ch, data + pos, (size_t)file->size - pos, 1);
		struct cdt_id id;
		uint64_t *idx;

		cdt_hash(data + pos, n, &id);
		idx = cdt_idset_get(&sc->ids, &id);
		if (!idx) {
			ALLOC_GROW(sc->chunks, sc->nchunks + 1, sc->chunks_alloc);
			ALLOC_GROW(sc->files_of, sc->nchunks + 1, sc->files_of_alloc);
			ALLOC_GROW(sc->cid, sc->nchunks + 1, sc->cid_alloc);
			sc->cid[sc->nchunks] = id;
			if (sc->ulen + n > sc->ucap) {
				sc->ucap = MAX(sc->ucap * 2, sc->ulen + n + (64u << 20));
				sc->u = xrealloc(sc->u, sc->ucap);
			}
			memcpy(sc->u + sc->ulen, data + pos, n);
			sc->chunks[sc->nchunks].off = sc->ulen;
			sc->chunks[sc->nchunks].len = (uint32_t)n;
			sc->files_of[sc->nchunks] = 0;
			cdt_idset_put(&sc->ids, &id, sc->nchunks);
			sc->ulen += n;
			idx = cdt_idset_get(&sc->ids, &id);
			sc->nchunks++;
		}
		if (f < 64)
			sc->files_of[*idx] |= 1ull << f;
		ALLOC_GROW(file->seq, file->nseq + 1, seq_alloc);
		file->seq[file->nseq++] = (uint32_t)*idx;
		pos += n;
	}
	file->nnew = sc->nchunks - file->first_new;
	sc->bytes_in += file->size;
	sc->chunks_in += file->nseq;
	free(data);
}

/* Cut the distinct chunks into the units of a scheme; groups never span two files' chunks. */
static void sc_units(struct sc *sc, struct sc_scheme *sch)
{
	size_t alloc = 0;
	int f;

	sch->unit_of = xmalloc((sc->nchunks ? sc->nchunks : 1) * sizeof(*sch->unit_of));
	for (f = 0; f < sc->nfiles; f++) {
		const struct sc_file *file = &sc->files[f];
		size_t i, step = sch->kind == SC_GROUP ? sch->k : 1;

		for (i = 0; i < file->nnew; i += step) {
			struct sc_unit *un;
			size_t j;

			ALLOC_GROW(sch->units, sch->nunits + 1, alloc);
			un = &sch->units[sch->nunits];
			memset(un, 0, sizeof(*un));
			un->first = file->first_new + i;
			un->n = MIN(step, file->nnew - i);
			un->raw_off = sc->chunks[un->first].off;
			for (j = 0; j < un->n; j++) {
				un->raw_len += sc->chunks[un->first + j].len;
				sch->unit_of[un->first + j] = sch->nunits;
			}
			un->dict = (sch->kind == SC_DICT_CHAIN && i > 0) ||
				   (sch->kind == SC_DICT_PAIRS && i % 2 == 1);
			sch->nunits++;
		}
	}
}

/* Deflate in[0..len) (after dict, if any) into out; 0 when it does not fit in cap. */
static size_t sc_deflate(z_stream *zs, const unsigned char *dict, uInt dlen,
			 const unsigned char *in, size_t len, unsigned char *out, size_t cap)
{
	if (deflateReset(zs) != Z_OK)
		die("deflateReset failed");
	if (dict && deflateSetDictionary(zs, dict, dlen) != Z_OK)
		die("deflateSetDictionary failed");
	zs->next_in = (unsigned char *)in;
	zs->avail_in = (uInt)len;
	zs->next_out = out;
	zs->avail_out = (uInt)cap;
	if (deflate(zs, Z_FINISH) != Z_STREAM_END)
		return 0;
	return zs->total_out;
}

/* Inflate a unit's stream until `want` bytes are out (want <= the unit's raw length). */
static void sc_inflate(z_stream *zs, const unsigned char *dict, uInt dlen,
		       const unsigned char *in, size_t inlen, unsigned char *out, size_t want)
{
	int r;

	if (inflateReset(zs) != Z_OK)
		die("inflateReset failed");
	zs->next_in = (unsigned char *)in;
	zs->avail_in = (uInt)inlen;
	zs->next_out = out;
	zs->avail_out = (uInt)want;
	r = inflate(zs, Z_NO_FLUSH);
	if (r == Z_NEED_DICT) {
		if (!dict || inflateSetDictionary(zs, dict, dlen) != Z_OK)
			die("inflate wants a dictionary it was not given");
		r = inflate(zs, Z_NO_FLUSH);
	}
	if ((r != Z_STREAM_END && r != Z_OK && r != Z_BUF_ERROR) || zs->avail_out)
		die("inflate failed (%d)", r);
}

static void sc_compress(struct sc *sc, struct sc_scheme *sch)
{
	struct cdt_compressor *c = NULL;
	z_stream zs;
	uint64_t pos = 0;
	double t0;
	size_t i;

	memset(&zs, 0, sizeof(zs));
	if (sch->kind == SC_CHUNK_STORE)
		c = cdt_compressor_new(sc->level);
	else if (deflateInit(&zs, MIN(sc->level, 9)) != Z_OK)
		die("deflateInit failed");
	sch->comp = xmalloc(sc->ulen ? sc->ulen : 1);
	t0 = now_seconds();
	for (i = 0; i < sch->nunits; i++) {
		struct sc_unit *un = &sch->units[i];
		const unsigned char *in = sc->u + un->raw_off;
		size_t n = 0;

		if (un->raw_len > 16) {
			if (c) {
				n = cdt_compress(c, in, un->raw_len, sch->comp + pos, un->raw_len - 1);
			} else {
				const struct sc_chunk *prev = &sc->chunks[un->first - 1];

				n = sc_deflate(&zs, un->dict ? sc->u + prev->off : NULL,
					       un->dict ? prev->len : 0, in, un->raw_len,
					       sch->comp + pos, un->raw_len - 1);
			}
		}
		if (!n)
			memcpy(sch->comp + pos, in, un->raw_len);
		un->comp_off = pos;
		un->comp_len = (uint32_t)n;
		pos += n ? n : un->raw_len;
	}
	sch->deflate_s = now_seconds() - t0;
	sch->stored = pos;
	if (c)
		cdt_compressor_free(c);
	else
		deflateEnd(&zs);
}

/* Produce the first `want` bytes of unit i into out, given its dictionary if it has one. */
static void sc_unit_out(const struct sc_scheme *sch, z_stream *zs, struct cdt_decompressor *d,
			size_t i, const unsigned char *dict, uInt dlen, unsigned char *out,
			size_t want)
{
	const struct sc_unit *un = &sch->units[i];
	const unsigned char *in = sch->comp + un->comp_off;

	if (!un->comp_len) {
		memcpy(out, in, want);
		return;
	}
	if (d) {
		if (cdt_decompress(d, in, un->comp_len, out, un->raw_len) < 0)
			die("inflate failed on unit %zu", i);
		return;
	}
	sc_inflate(zs, un->dict ? dict : NULL, dlen, in, un->comp_len, out, want);
}

static void sc_measure_reads(struct sc *sc, struct sc_scheme *sch)
{
	struct cdt_decompressor *d = sch->kind == SC_CHUNK_STORE ? cdt_decompressor_new() : NULL;
	unsigned char *out = xmalloc(sc->ulen ? sc->ulen : 1), *scratch;
	size_t i, maxunit = 1;
	uint64_t seed = sc->seed, r;
	z_stream zs;
	double t0;
	int pass, rep;

	memset(&zs, 0, sizeof(zs));
	if (inflateInit(&zs) != Z_OK)
		die("inflateInit failed");
	/*
	 * Sequential: everything, in order (a dictionary is the output just
	 * made). Every timing is the best of SC_REPEAT: other work on the
	 * machine only ever adds time.
	 */
	for (rep = 0; rep < SC_REPEAT; rep++) {
		double t;

		t0 = now_seconds();
		for (i = 0; i < sch->nunits; i++) {
			const struct sc_unit *un = &sch->units[i];
			const struct sc_chunk *prev = un->dict ? &sc->chunks[un->first - 1] : NULL;

			sc_unit_out(sch, &zs, d, i, prev ? out + prev->off : NULL,
				    prev ? prev->len : 0, out + un->raw_off, un->raw_len);
		}
		t = now_seconds() - t0;
		if (!rep || t < sch->inflate_s)
			sch->inflate_s = t;
	}
	if (memcmp(out, sc->u, sc->ulen))
		die("%s: inflated bytes differ from the input", sch->name);

	/*
	 * Random reads: a byte offset in the distinct data, the chunk holding
	 * it, and what must be inflated to get that chunk's bytes: its unit
	 * whole (even passes), or only up to the chunk's end (odd); with a
	 * dictionary, the previous chunk's unit first.
	 */
	for (i = 0; i < sch->nunits; i++)
		maxunit = MAX(maxunit, (size_t)sch->units[i].raw_len);
	scratch = xmalloc(2 * maxunit + 2 * (size_t)sc->ch.max_size);
	for (pass = 0; pass < 2 * SC_REPEAT; pass++) {
		double us;

		seed = sc->seed;
		t0 = now_seconds();
		for (r = 0; r < sc->reads && sc->nchunks; r++) {
			uint64_t off = rng_next(&seed) % sc->ulen;
			size_t lo = 0, hi = sc->nchunks, u;
			const struct sc_unit *un;

			while (hi - lo > 1) {
				size_t mid = lo + (hi - lo) / 2;

				if (sc->chunks[mid].off <= off)
					lo = mid;
				else
					hi = mid;
			}
			u = sch->unit_of[lo];
			un = &sch->units[u];
			if (un->dict) {
				/*
				 * The previous chunk's raw bytes, then this one. With a
				 * chain of dictionaries the previous chunk needs its own
				 * predecessor: its dictionary is taken from the input here,
				 * so the figure is a lower bound for the chain.
				 */
				const struct sc_unit *pu = &sch->units[sch->unit_of[lo - 1]];
				const struct sc_chunk *pp = pu->dict ? &sc->chunks[pu->first - 1] : NULL;
				unsigned char *pbuf = scratch + maxunit;

				sc_unit_out(sch, &zs, d, sch->unit_of[lo - 1],
					    pp ? sc->u + pp->off : NULL, pp ? pp->len : 0,
					    pbuf, pu->raw_len);
				sc_unit_out(sch, &zs, d, u, pbuf, pu->raw_len, scratch, un->raw_len);
			} else {
				size_t want = pass % 2 ? (size_t)(sc->chunks[lo].off + sc->chunks[lo].len -
							      un->raw_off) : un->raw_len;

				sc_unit_out(sch, &zs, d, u, NULL, 0, scratch, want);
			}
			sc_sink += scratch[0];	/* keeps the reads observable */
		}
		us = (now_seconds() - t0) * 1e6 / (double)MAX(sc->reads, 1);
		if (pass % 2 && (pass < 2 || us < sch->read_to_us))
			sch->read_to_us = us;
		else if (!(pass % 2) && (pass < 2 || us < sch->read_us))
			sch->read_us = us;
	}
	inflateEnd(&zs);
	if (d)
		cdt_decompressor_free(d);
	free(out);
	free(scratch);
}

/*
 * How grouping meets dedup across a series (file f+1 a later version of
 * file f): of the bytes of file f whose chunks recur in file f+1, how much
 * lies in aligned groups of k adjacent chunks that all recur (a group
 * reused only whole); and, with groups made of each file's new chunks as an
 * add would store them, how much of what only the first file holds stays
 * allocated after it is removed because a live chunk shares its group.
 */
static void sc_recurrence(struct sc *sc)
{
	static const unsigned ks[] = { 1, 2, 4, 8, 16 };
	struct cdt_idset next = CDT_IDSET_INIT;
	uint64_t groups[ARRAY_SIZE(ks)] = { 0 }, whole[ARRAY_SIZE(ks)] = { 0 };
	uint64_t bytes[ARRAY_SIZE(ks)] = { 0 }, new_bytes = 0, gen_bytes = 0;
	size_t q;
	int f;

	for (f = 0; f + 1 < sc->nfiles; f++) {
		const struct sc_file *a = &sc->files[f], *b = &sc->files[f + 1];
		size_t i;

		cdt_idset_reset(&next);
		for (i = 0; i < b->nseq; i++)
			cdt_idset_add(&next, &sc->cid[b->seq[i]]);
		for (i = b->first_new; i < b->first_new + b->nnew; i++)
			new_bytes += sc->chunks[i].len;
		gen_bytes += a->size;
		for (q = 0; q < ARRAY_SIZE(ks); q++) {
			for (i = 0; i < a->nseq; i += ks[q]) {
				size_t n = MIN((size_t)ks[q], a->nseq - i), j;
				uint64_t gb = 0;
				int all = 1;

				for (j = 0; j < n; j++) {
					all &= cdt_idset_has(&next, &sc->cid[a->seq[i + j]]);
					gb += sc->chunks[a->seq[i + j]].len;
				}
				groups[q]++;
				if (all) {
					whole[q]++;
					bytes[q] += gb;
				}
			}
		}
	}
	cdt_idset_clear(&next);
	if (sc->nfiles < 2)
		return;
	printf("\nrecurrence: chunks of each file found again in the next (%d pairs;"
	       " %.1f MB in the earlier files, %.1f MB new in the later ones)\n",
	       sc->nfiles - 1, (double)gen_bytes / 1e6, (double)new_bytes / 1e6);
	printf("%-4s %10s %10s %8s %14s %9s %14s %9s\n", "k", "groups", "recurring", "share",
	       "reusable_MB", "of_k=1", "extra_new_MB", "growth");
	for (q = 0; q < ARRAY_SIZE(ks); q++) {
		double extra = (double)(bytes[0] - bytes[q]);

		printf("%-4u %10llu %10llu %7.1f%% %14.1f %8.1f%% %14.1f %8.2fx\n", ks[q],
		       (unsigned long long)groups[q], (unsigned long long)whole[q],
		       100.0 * (double)whole[q] / (double)MAX(groups[q], 1), (double)bytes[q] / 1e6,
		       100.0 * (double)bytes[q] / (double)MAX(bytes[0], 1), extra / 1e6,
		       ((double)new_bytes + extra) / (double)MAX(new_bytes, 1));
	}

	if (sc->nfiles > 64)
		return;
	printf("\nremoving the first file: bytes only it holds, kept by a live chunk in their group\n");
	printf("%-4s %14s %14s %9s\n", "k", "dead_MB", "kept_MB", "kept");
	for (q = 0; q < ARRAY_SIZE(ks); q++) {
		uint64_t dead = 0, kept = 0;

		for (f = 0; f < sc->nfiles; f++) {
			const struct sc_file *file = &sc->files[f];
			size_t i, j;

			for (i = 0; i < file->nnew; i += ks[q]) {
				size_t n = MIN((size_t)ks[q], file->nnew - i);
				uint64_t d = 0;
				int live = 0;

				for (j = 0; j < n; j++) {
					size_t c = file->first_new + i + j;

					if (sc->files_of[c] == 1)
						d += sc->chunks[c].len;
					else
						live = 1;
				}
				dead += d;
				if (live)
					kept += d;
			}
		}
		printf("%-4u %14.1f %14.1f %8.1f%%\n", ks[q], (double)dead / 1e6, (double)kept / 1e6,
		       100.0 * (double)kept / (double)MAX(dead, 1));
	}
}

/* superchunk [--size AVG] [--level N] [--reads R] [--no-compress] FILE... */
static int cmd_superchunk(int argc, char **argv)
{
	static const char usage[] =
		"usage: test-tool superchunk [--size AVG] [--level N] [--reads R] [--no-compress] FILE...";
	struct sc sc = { 0 };
	struct sc_scheme sch[2 + SC_NGROUPS + 2];
	uint64_t size = 32 << 10, ref = 0;
	size_t nsch = 0, s, g;
	int i, f, compress = 1;

	sc.level = 6;
	sc.reads = 2000;
	sc.seed = 4242;
	for (i = 1; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "--no-compress")) {
			compress = 0;
			continue;
		}
		if (i + 1 >= argc)
			die("%s", usage);
		if (!strcmp(argv[i], "--size"))
			size = parse_u64(argv[++i]);
		else if (!strcmp(argv[i], "--level"))
			sc.level = (int)parse_u64(argv[++i]);
		else if (!strcmp(argv[i], "--reads"))
			sc.reads = parse_u64(argv[++i]);
		else
			die("%s", usage);
	}
	if (i >= argc || sc.level < 1 || sc.level > 9 || size > UINT32_MAX)
		die("%s", usage);
	if (cdt_chunker_init(&sc.ch, CDT_CHUNKER_FASTCDC, (uint32_t)size) < 0)
		die("bad chunk size %llu", (unsigned long long)size);
	sc.nfiles = argc - i;
	sc.files = xcalloc((size_t)sc.nfiles, sizeof(*sc.files));
	for (f = 0; f < sc.nfiles; f++)
		sc_load(&sc, argv[i + f], f);

	printf("files %d, %.1f MB, %llu chunks; %zu distinct chunks, %.1f MB (dedup %.2fx)\n",
	       sc.nfiles, (double)sc.bytes_in / 1e6, (unsigned long long)sc.chunks_in,
	       sc.nchunks, (double)sc.ulen / 1e6,
	       (double)sc.bytes_in / (double)MAX(sc.ulen, 1));
	printf("fastcdc %llu (mean distinct chunk %.0f bytes), level %d, store deflate %s,"
	       " %llu random reads\n", (unsigned long long)size,
	       (double)sc.ulen / (double)MAX(sc.nchunks, 1), sc.level, cdt_deflate_backend(),
	       (unsigned long long)sc.reads);

	if (compress && sc.ulen) {
		memset(sch, 0, sizeof(sch));
		sch[nsch].kind = SC_CHUNK_STORE;
		snprintf(sch[nsch++].name, sizeof(sch[0].name), "chunk (%s)", cdt_deflate_backend());
		sch[nsch].kind = SC_CHUNK;
		snprintf(sch[nsch++].name, sizeof(sch[0].name), "chunk (zlib)");
		for (g = 0; g < SC_NGROUPS; g++) {
			sch[nsch].kind = SC_GROUP;
			sch[nsch].k = sc_group_sizes[g];
			snprintf(sch[nsch++].name, sizeof(sch[0].name), "group of %u", sc_group_sizes[g]);
		}
		sch[nsch].kind = SC_DICT_CHAIN;
		snprintf(sch[nsch++].name, sizeof(sch[0].name), "dict: previous, chained");
		sch[nsch].kind = SC_DICT_PAIRS;
		snprintf(sch[nsch++].name, sizeof(sch[0].name), "dict: previous, pairs");

		printf("\n%-26s %9s %12s %6s %8s %9s %9s %9s %9s\n", "scheme", "objects",
		       "stored_MB", "ratio", "vs_chunk", "defl_MBps", "infl_MBps", "read_us",
		       "to_chunk");
		for (s = 0; s < nsch; s++) {
			struct sc_scheme *x = &sch[s];

			if (x->kind == SC_CHUNK_STORE || x->kind == SC_CHUNK)
				x->k = 1;
			sc_units(&sc, x);
			sc_compress(&sc, x);
			sc_measure_reads(&sc, x);
			if (x->kind == SC_CHUNK)
				ref = x->stored;
			printf("%-26s %9zu %12.2f %6.3f %7.1f%% %9.1f %9.1f %9.1f %9.1f\n", x->name,
			       x->nunits, (double)x->stored / 1e6,
			       (double)sc.ulen / (double)MAX(x->stored, 1),
			       ref ? 100.0 * ((double)x->stored / (double)ref - 1) : 0.0,
			       (double)sc.ulen / 1e6 / MAX(x->deflate_s, 1e-9),
			       (double)sc.ulen / 1e6 / MAX(x->inflate_s, 1e-9), x->read_us,
			       x->read_to_us);
			fflush(stdout);
			free(x->units);
			free(x->unit_of);
			free(x->comp);
		}
		printf("(vs_chunk: stored size against per-chunk zlib; read_us: inflating what a random"
		       " read of one chunk needs, its whole group; to_chunk: stopping at the chunk's end)\n");
	}
	sc_recurrence(&sc);

	for (f = 0; f < sc.nfiles; f++)
		free(sc.files[f].seq);
	free(sc.files);
	free(sc.u);
	free(sc.chunks);
	free(sc.files_of);
	free(sc.cid);
	cdt_idset_clear(&sc.ids);
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
	{ "ingest", cmd_ingest },
	{ "limits", cmd_limits },
	{ "lookup", cmd_lookup },
	{ "pread", cmd_pread },
	{ "ref-add", cmd_ref_add },
	{ "rusage", cmd_rusage },
	{ "superchunk", cmd_superchunk },
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
