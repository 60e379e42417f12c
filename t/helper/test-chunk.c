/* test-chunk.c: the cut points a chunker makes in a file. */
#include "test-tool.h"
#include "format/chunker.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* chunk [fastcdc|fixed] SIZE FILE: "offset length" of each chunk. */
int cmd__chunk(int argc, char **argv)
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
