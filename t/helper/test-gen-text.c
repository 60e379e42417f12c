/* test-gen-text.c: reproducible text that deflates like logs. */
#include "test-tool.h"
#include "base/strbuf.h"
#include "base/util.h"

#include <errno.h>
#include <unistd.h>

/*
 * gen-text SEED COUNT: reproducible compressible text (words from a small
 * vocabulary, lines of varying length), for data that deflates like logs.
 */
int cmd__gen_text(int argc, char **argv)
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
