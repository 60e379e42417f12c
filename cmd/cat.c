/* cmd/cat.c: cdt cat, restore stored files to stdout or a file. */
#include "cmd.h"
#include "../lib/fsutil.h"
#include "../lib/names.h"
#include "../lib/restore.h"
#include "../lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char usage_cat[] =
	"usage: cdt cat [-o FILE] [-j N] NAME...\n"
	"\n"
	"Write the contents of stored names to standard output, one after the\n"
	"other. Every chunk is checked against its id as it is read; damage stops\n"
	"the command with an error naming the file, the offset and the chunk.\n"
	"\n"
	"    -o, --output FILE  write the single NAME to FILE instead (atomically:\n"
	"                       FILE appears only when complete, and durably),\n"
	"                       restoring its mode and modification time; chunks\n"
	"                       that are all zeros become holes\n"
	"    -j, --jobs N       threads reading and inflating ahead (default: CPUs)\n"
	"    -h, --help         show this help\n";

static int restore_to_file(struct cdt_restore *r, const struct cdt_name_entry *e,
			   const char *path)
{
	struct strbuf tmp = STRBUF_INIT;
	char *dup = xstrdup(path), *dir = dirname(dup);
	struct timespec ts[2];
	struct stat st;
	mode_t mode;
	int dirfd = -1, fd = -1, ret = -1;
	const char *base;

	if (lstat(path, &st) == 0) {
		if (S_ISLNK(st.st_mode)) {
			error("refusing to write '%s': it is a symbolic link", quote(path));
			goto out;
		}
		if (S_ISDIR(st.st_mode)) {
			error("cannot write '%s': it is a directory", quote(path));
			goto out;
		}
	}
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		error("cannot write '%s': %s", quote(path), strerror(errno));
		goto out;
	}
	base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	{
		char *prefix = xstrfmt(".%s.cdt", base);

		fd = tmpfile_openat(dirfd, prefix, &tmp);
		free(prefix);
	}
	if (fd < 0) {
		error("cannot create a temporary file next to '%s': %s", quote(path), strerror(-fd));
		fd = -1;
		goto out;
	}
	if (cdt_restore_fd(r, e, fd, path, 1) < 0)
		goto out_unlink;
	/*
	 * Set-id bits only make sense with the original owner, which -o does
	 * not restore: a setuid file of another user restored by root must
	 * not become setuid root (cp and tar drop them the same way).
	 */
	mode = e->mode & 07777;
	if (e->uid != geteuid() || e->gid != getegid())
		mode &= ~06000u;
	if (fchmod(fd, mode) < 0) {
		error("cannot set the mode of '%s': %s", quote(path), strerror(errno));
		goto out_unlink;
	}
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = e->mtime_sec;
	ts[1].tv_nsec = e->mtime_nsec;
	if (futimens(fd, ts) < 0) {
		error("cannot set the modification time of '%s': %s", quote(path), strerror(errno));
		goto out_unlink;
	}
	/* Durable before it replaces anything: a crash leaves the old file or the new. */
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		error("cannot write '%s': %s", quote(path), strerror(errno));
		goto out_unlink;
	}
	fd = -1;
	if (renameat(dirfd, tmp.buf, dirfd, base) < 0) {
		error("cannot rename to '%s': %s", quote(path), strerror(errno));
		goto out_unlink;
	}
	if (fsync(dirfd) < 0) {
		error("cannot sync the directory of '%s': %s", quote(path), strerror(errno));
		goto out;
	}
	ret = 0;
	goto out;
out_unlink:
	unlinkat(dirfd, tmp.buf, 0);
out:
	if (fd >= 0)
		close(fd);
	if (dirfd >= 0) {
		if (tmp.len)
			tmpfile_forget(dirfd, tmp.buf);
		close(dirfd);
	}
	free(dup);
	strbuf_release(&tmp);
	return ret;
}

int cmd_cat(int argc, char **argv, struct cmd_ctx *ctx)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "jobs", required_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct cdt_name_entry *e = xmalloc(sizeof(*e));
	struct cdt_restore *r = NULL;
	const char *output = NULL;
	int c, i, jobs = 0, ret = EXIT_OK;

	while ((c = getopt_long(argc, argv, ":o:j:", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case 'j':
			if (parse_jobs(ctx, optarg, &jobs) < 0) {
				free(e);
				return EXIT_USAGE;
			}
			break;
		default:
			free(e);
			return option_error(ctx, c, argv);
		}
	}
	argc -= optind;
	argv += optind;
	if (!argc) {
		free(e);
		return usage_error(ctx, "no name given");
	}
	if (output && argc != 1) {
		free(e);
		return usage_error(ctx, "-o takes exactly one name");
	}
	r = cdt_restore_new(ctx->store, jobs);
	if (output) {
		if (read_name(ctx->store, argv[0], e) < 0 || restore_to_file(r, e, output) < 0)
			ret = EXIT_FAIL;
		goto out;
	}
	/* Check every name first, so that a typo does not leave partial output. */
	for (i = 0; i < argc; i++)
		if (read_name(ctx->store, argv[i], e) < 0)
			ret = EXIT_FAIL;
	if (ret != EXIT_OK)
		goto out;
	/* Our own buffered output (none so far) must not mix with direct writes. */
	fflush(stdout);
	for (i = 0; i < argc; i++) {
		if (read_name(ctx->store, argv[i], e) < 0 ||
		    cdt_restore_fd(r, e, STDOUT_FILENO, "standard output", 0) < 0) {
			ret = EXIT_FAIL;
			break;
		}
	}
out:
	cdt_restore_free(r);
	free(e);
	return ret;
}
