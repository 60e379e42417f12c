/* test-tool.c: library internals for tests and benchmarks (built, never installed). */
#include "../../lib/chunker.h"
#include "../../lib/refs.h"
#include "../../lib/store.h"
#include "../../lib/strbuf.h"
#include "../../lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static const struct {
	const char *name;
	int (*fn)(int, char **);
} cmds[] = {
	{ "chunk", cmd_chunk },
	{ "chunk-hash", cmd_chunk_hash },
	{ "gen-random", cmd_gen_random },
	{ "gen-text", cmd_gen_text },
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
