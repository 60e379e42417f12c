/* cmd/hash.c: cdt hash, the content id a store gives local files. */
#include "cmd.h"
#include "base/util.h"
#include "ops/verify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char usage_hash[] =
	"usage: cdt hash FILE...\n"
	"\n"
	"Print the content id the store gives each FILE (- for standard input),\n"
	"as 'cdt add --porcelain' and 'cdt ls -l' show ids, one line per FILE in\n"
	"the form sha256sum prints: the id, two spaces, the file. Nothing is\n"
	"stored. The id is the SHA-256 of the bytes in a store made with\n"
	"--content-id sha256, and the tree id otherwise (store format 3).\n"
	"\n"
	"    -h, --help         show this help\n"
	"\n"
	"Exit status: 0 if every FILE was read, 1 if one could not be, 2 usage\n"
	"error.\n";

/*
 * "ID  FILE" as sha256sum prints it: a FILE holding a backslash, a newline
 * or a carriage return is escaped and the line starts with a backslash, so
 * that each FILE is one line (and sha256sum -c reads back the ids of a
 * store made with --content-id sha256).
 */
static void print_line(const char *hex, const char *path)
{
	const char *p;

	if (!strpbrk(path, "\\\n\r")) {
		printf("%s  %s\n", hex, path);
		return;
	}
	printf("\\%s  ", hex);
	for (p = path; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", stdout);
		else if (*p == '\n')
			fputs("\\n", stdout);
		else if (*p == '\r')
			fputs("\\r", stdout);
		else
			putchar(*p);
	}
	putchar('\n');
}

int cmd_hash(int argc, char **argv, struct cmd_ctx *ctx)
{
	static const struct option opts[] = {
		{ NULL, 0, NULL, 0 }
	};
	int c, i, status = EXIT_OK;

	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1)
		return option_error(ctx, c, argv);
	if (optind >= argc)
		return usage_error(ctx, "give at least one FILE");
	for (i = optind; i < argc; i++) {
		const char *path = argv[i];
		char hex[CDT_ID_HEXLEN + 1];
		struct cdt_id id;
		uint64_t size;
		int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
		int ret;

		if (fd < 0) {
			error("cannot open '%s': %s", quote(path), cdt_strerror(errno));
			status = EXIT_FAIL;
			continue;
		}
		ret = cdt_content_id_fd(ctx->store, fd, &id, &size);
		if (fd > 0)
			close(fd);
		if (ret < 0) {
			error("cannot read '%s': %s", quote(path), cdt_strerror(ret));
			status = EXIT_FAIL;
			continue;
		}
		print_line(cdt_id_to_hex(&id, hex), path);
	}
	return status;
}
