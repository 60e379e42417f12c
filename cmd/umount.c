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
	"Unmount a view made by 'cdt mount' (as root with umount(2), else with\n"
	"fusermount3 -u). The server then exits.\n"
	"\n"
	"    -h, --help   show this help\n";

/*
 * fusermount3 -u path, its stderr taken: 0, -ENOENT (it is not installed),
 * or -1 with its reason (its last line, without its "fusermount3: ") in why.
 */
static int run_fusermount(const char *path, struct strbuf *why)
{
	char buf[512];
	int status, fds[2];
	ssize_t n;
	pid_t pid;

	if (pipe(fds) < 0) {
		strbuf_addf(why, "cannot start fusermount3: %s", cdt_strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		strbuf_addf(why, "cannot start fusermount3: %s", cdt_strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (!pid) {
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		execlp("fusermount3", "fusermount3", "-u", "--", path, (char *)NULL);
		_exit(errno == ENOENT ? 127 : 126);
	}
	close(fds[1]);
	/* What it says, the first 4 KiB of it. */
	while ((n = read(fds[0], buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if (why->len < 4096)
			strbuf_add(why, buf, (size_t)n);
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			strbuf_reset(why);
			strbuf_addf(why, "cannot wait for fusermount3: %s", cdt_strerror(errno));
			return -1;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return -ENOENT;
	/* Its last line, as the reason. */
	while (why->len && (why->buf[why->len - 1] == '\n' || why->buf[why->len - 1] == ' '))
		strbuf_setlen(why, why->len - 1);
	{
		const char *nl = memrchr(why->buf, '\n', why->len);
		const char *line = nl ? nl + 1 : why->buf;
		char *copy;

		if (!strncmp(line, "fusermount3: ", 13))
			line += 13;
		copy = xstrdup(*line ? line : "fusermount3 failed");
		strbuf_reset(why);
		strbuf_addstr(why, copy);
		free(copy);
	}
	return -1;
}

int cmd_umount(int argc, char **argv, struct cmd_ctx *ctx)
{
	static const struct option opts[] = {
		{ NULL, 0, NULL, 0 }
	};
	struct strbuf path = STRBUF_INIT, why = STRBUF_INIT;
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
	/* As root umount(2) itself, whose errno says why in one line; else fusermount3. */
	if (geteuid() == 0) {
		ret = umount2(path.buf, UMOUNT_NOFOLLOW) < 0 ? -errno : 0;
		if (ret && ret != -EPERM)
			error("cannot unmount '%s': %s", quote(argv[0]), cdt_strerror(-ret));
		if (ret != -EPERM)
			goto out;
	}
	ret = run_fusermount(path.buf, &why);
	if (ret == -ENOENT)
		error("cannot unmount '%s': fusermount3 is not installed", quote(argv[0]));
	else if (ret < 0)
		error("cannot unmount '%s': %s", quote(argv[0]), why.buf);
out:
	strbuf_release(&path);
	strbuf_release(&why);
	return ret < 0 ? EXIT_FAIL : EXIT_OK;
}
