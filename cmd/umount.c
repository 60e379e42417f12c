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

/* Undo the octal escapes (\040 and the like) of /proc/self/mountinfo. */
static void unescape(char *s)
{
	char *d = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*d++ = *s++;
		}
	}
	*d = '\0';
}

/* Is `path` (absolute, resolved) the mount point of a cdt view? 1, 0 or -errno. */
static int is_cdt_mount(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int found = 0;

	if (!f)
		return -errno;
	while (!found && getline(&line, &cap, f) > 0) {
		/* id parent major:minor root MOUNTPOINT opts [tags] - FSTYPE source superopts */
		char *save = NULL, *mnt = NULL, *fstype = NULL, *tok;
		int field = 0, after_dash = 0;

		for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
			if (after_dash) {
				fstype = tok;
				break;
			}
			if (++field == 5)
				mnt = tok;
			else if (field > 6 && !strcmp(tok, "-"))
				after_dash = 1;
		}
		if (!mnt || !fstype)
			continue;
		unescape(mnt);
		if (!strcmp(mnt, path) && !strcmp(fstype, "fuse.cdt"))
			found = 1;
	}
	free(line);
	fclose(f);
	return found;
}

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
	char *path;
	int c, ret;

	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1)
		return option_error(ctx, c, argv);
	argc -= optind;
	argv += optind;
	if (argc != 1)
		return usage_error(ctx, argc ? "too many arguments" : "no mount point given");
	path = realpath(argv[0], NULL);
	if (!path) {
		error("cannot unmount '%s': %s", quote(argv[0]), cdt_strerror(errno));
		return EXIT_FAIL;
	}
	ret = is_cdt_mount(path);
	if (ret <= 0) {
		if (ret < 0)
			error("cannot read /proc/self/mountinfo: %s", cdt_strerror(ret));
		else
			error("'%s' is not a cdt mount", quote(argv[0]));
		free(path);
		return EXIT_FAIL;
	}
	ret = run_fusermount(path);
	if (ret == -ENOENT) {
		if (geteuid() != 0) {
			error("cannot unmount '%s': fusermount3 is not installed", quote(argv[0]));
		} else if (umount(path) < 0) {
			error("cannot unmount '%s': %s", quote(argv[0]), cdt_strerror(errno));
		} else {
			ret = 0;
		}
	}
	free(path);
	return ret < 0 ? EXIT_FAIL : EXIT_OK;
}
