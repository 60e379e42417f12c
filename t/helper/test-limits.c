/* test-limits.c: single-core throughput of the building blocks of add and cat. */
#include "test-tool.h"
#include "format/chunker.h"
#include "base/compress.h"
#include "base/hash.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	struct cdt_compressor *c = cdt_compressor_new(CDT_CODEC_ZLIB, l->level);
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
			if (cdt_decompress(d, CDT_CODEC_ZLIB, l->comp + zoff, l->zlen[i], l->scratch, n) < 0)
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
int cmd__limits(int argc, char **argv)
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
	if (i >= argc || l.level > CDT_ZLIB_LEVEL_MAX || size > UINT32_MAX || !max)
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
