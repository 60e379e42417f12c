/* cmd/umount.c: cdt umount, unmount a view made by cdt mount. */
#include "cmd.h"
#include "base/strbuf.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

const char usage_umount[] =
	"usage: cdt umount MOUNTPOINT\n"
	"\n"
	"Unmount a view made by 'cdt mount' (with fusermount3 -u; as root, with\n"
	"umount(2) where fusermount3 is missing). The server then exits.\n"
	"\n"
	"    -h, --help   show this help\n";

static int run_fusermount(const char *path)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return error("cannot start fusermount3: %s", cdt_strerror(errno));
	if (!pid) {
		execlp("fusermount3", "fusermount3", "-u", "--", path, (char *)NULL);
		_exit(errno == ENOENT ? 127 : 126);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return error("cannot wait for fusermount3: %s", cdt_strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return -ENOENT;
	/* fusermount3 has said why. */
	return error("cannot unmount '%s'", quote(path));
}

int cmd_umount(int argc, char **argv, struct cmd_ctx *ctx)
{
	static const struct option opts[] = {
		{ NULL, 0, NULL, 0 }
	};
	struct strbuf path = STRBUF_INIT;
	int c, ret;

	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1)
		return option_error(ctx, c, argv);
	argc -= optind;
	argv += optind;
	if (argc != 1)
		return usage_error(ctx, argc ? "too many arguments" : "no mount point given");
	ret = find_view(argv[0], "unmount", &path, NULL);
	if (ret <= 0) {
		if (!ret)
			error("'%s' is not a cdt mount", quote(argv[0]));
		strbuf_release(&path);
		return EXIT_FAIL;
	}
	ret = run_fusermount(path.buf);
	if (ret == -ENOENT) {
		if (geteuid() != 0) {
			error("cannot unmount '%s': fusermount3 is not installed", quote(argv[0]));
		} else if (umount(path.buf) < 0) {
			error("cannot unmount '%s': %s", quote(argv[0]), cdt_strerror(errno));
		} else {
			ret = 0;
		}
	}
	strbuf_release(&path);
	return ret < 0 ? EXIT_FAIL : EXIT_OK;
}
