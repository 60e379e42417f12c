/* test-gen-random.c: reproducible pseudo-random bytes. */
#include "test-tool.h"
#include "base/util.h"

#include <errno.h>
#include <unistd.h>

/* gen-random SEED COUNT: COUNT reproducible pseudo-random bytes on stdout. */
int cmd__gen_random(int argc, char **argv)
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
