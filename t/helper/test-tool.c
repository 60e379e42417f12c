/* test-tool.c: library internals for tests and benchmarks (built, never installed). */
#include "test-tool.h"
#include "base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t parse_u64(const char *s)
{
	uint64_t v;

	if (parse_size(s, &v) < 0)
		die("bad number '%s'", s);
	return v;
}

long status_kb(pid_t pid, const char *key)
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

/* Sorted by name. */
static const struct {
	const char *name;
	int (*fn)(int, char **);
} cmds[] = {
	{ "chunk", cmd__chunk },
	{ "gen-random", cmd__gen_random },
	{ "gen-text", cmd__gen_text },
	{ "ingest", cmd__ingest },
	{ "info", cmd__info },
	{ "limits", cmd__limits },
	{ "lookup", cmd__lookup },
	{ "mpack", cmd__mpack },
	{ "namerefs", cmd__namerefs },
	{ "pread", cmd__pread },
	{ "ref-add", cmd__ref_add },
	{ "rusage", cmd__rusage },
	{ "superchunk", cmd__superchunk },
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
