/* test-superchunk.c: would compressing adjacent chunks together pay? */
#include "test-tool.h"
#include "format/chunker.h"
#include "base/compress.h"
#include "base/hash.h"
#include "base/idset.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

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
		c = cdt_compressor_new(CDT_CODEC_ZLIB, sc->level);
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
		if (cdt_decompress(d, CDT_CODEC_ZLIB, in, un->comp_len, out, un->raw_len) < 0)
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
int cmd__superchunk(int argc, char **argv)
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
