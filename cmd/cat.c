/* cmd/cat.c: cdt cat, restore stored files to stdout or a file. */
#include "cmd.h"
#include "base/fsutil.h"
#include "format/names.h"
#include "ops/restore.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The bytes of FILE's name that its temporary file's name keeps. */
#define TMP_BASE_MAX 200

const char usage_cat[] =
	"usage: cdt cat [-o FILE] [-j N] NAME...\n"
	"\n"
	"Write the contents of stored names to standard output, one after the\n"
	"other. Every chunk is checked against its id as it is read; damage stops\n"
	"the command with an error naming the file, the offset and the chunk.\n"
	"\n"
	"    -o, --output FILE  write the single NAME to FILE instead: a new or\n"
	"                       regular file is replaced atomically (it appears\n"
	"                       only when complete) and durably, with the stored\n"
	"                       mode and modification time, blocks of zeros as\n"
	"                       holes; a device or FIFO is written into, as cp\n"
	"                       does; a symbolic link is followed\n"
	"    -j, --jobs N       threads reading and inflating ahead (default: CPUs)\n"
	PROGRESS_HELP
	"    -h, --help         show this help\n"
	"\n"
	"The progress line (how much of the stored bytes is written, the rate and\n"
	"the time left) is shown when stderr is a terminal and standard output,\n"
	"if written to, is not.\n";

/* The progress line: the bytes of all the names, known before the first is read. */
struct cat_progress {
	struct progress p;
	const char *name;	/* the name being written */
	uint64_t before;	/* the bytes of the names before it */
	uint64_t total;
};

static void show_progress(uint64_t done, void *data)
{
	struct cat_progress *cp = data;

	progress_show_total(&cp->p, cp->name, cp->before + done, cp->total);
}

/*
 * Replace the regular file (or make the new one) at `path` atomically: a
 * temporary file next to it, written, synced and renamed over it. `shown`
 * is what messages call it (the path given, when `path` is where a
 * symbolic link led).
 */
static int replace_file(struct cdt_restore *r, const struct cdt_name_entry *e,
			const char *path, const char *shown)
{
	struct strbuf tmp = STRBUF_INIT;
	char *dup = xstrdup(path), *dir = dirname(dup);
	struct timespec ts[2];
	mode_t mode;
	int dirfd = -1, fd = -1, ret = -1;
	const char *base;

	base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	if (!*base) {
		/* "new/": cp says the same of a directory that is not there. */
		error("cannot write '%s': %s", quote(shown), cdt_strerror(ENOTDIR));
		goto out;
	}
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		error("cannot write '%s': %s", quote(shown), cdt_strerror(errno));
		goto out;
	}
	if (cdt_store_holds_dir(cdt_restore_store(r), dirfd)) {
		error("cannot write '%s': it is in the store '%s'", quote(shown),
		      cdt_store_path(cdt_restore_store(r)));
		goto out;
	}
	{
		/*
		 * At most TMP_BASE_MAX bytes of the base name, so that the dot
		 * and the suffix fit in NAME_MAX even for a name of 255 bytes.
		 */
		size_t len = strlen(base);
		char *prefix = xstrfmt(".%.*s.cdt", (int)(len < TMP_BASE_MAX ? len : TMP_BASE_MAX),
				       base);

		/* Nobody else reads the bytes before the stored mode is set. */
		fd = tmpfile_openat_mode(dirfd, prefix, &tmp, 0600);
		free(prefix);
	}
	if (fd < 0) {
		error("cannot create a temporary file next to '%s': %s", quote(shown), cdt_strerror(fd));
		fd = -1;
		goto out;
	}
	if (cdt_restore_fd(r, e, fd, shown, 1) < 0)
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
		error("cannot set the mode of '%s': %s", quote(shown), cdt_strerror(errno));
		goto out_unlink;
	}
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = e->mtime_sec;
	ts[1].tv_nsec = e->mtime_nsec;
	if (futimens(fd, ts) < 0) {
		error("cannot set the modification time of '%s': %s", quote(shown), cdt_strerror(errno));
		goto out_unlink;
	}
	/* Durable before it replaces anything: a crash leaves the old file or the new. */
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		error("cannot write '%s': %s", quote(shown), cdt_strerror(errno));
		goto out_unlink;
	}
	fd = -1;
	if (renameat(dirfd, tmp.buf, dirfd, base) < 0) {
		error("cannot rename to '%s': %s", quote(shown), cdt_strerror(errno));
		goto out_unlink;
	}
	if (fsync(dirfd) < 0) {
		error("cannot sync the directory of '%s': %s", quote(shown), cdt_strerror(errno));
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

/*
 * Write into the device or FIFO at `path` (found to be `want`), as cp
 * does: there is no file to replace, and no mode or time to set.
 */
static int write_in_place(struct cdt_restore *r, const struct cdt_name_entry *e,
			  const char *path, const struct stat *want)
{
	int flags = O_WRONLY | O_NOCTTY | O_CLOEXEC;
	struct stat st;
	int fd, ret;

	/* On Linux, O_EXCL refuses a block device that is mounted or otherwise in use. */
	if (S_ISBLK(want->st_mode))
		flags |= O_EXCL;
	/* A FIFO without a reader blocks here until one comes, as with cp. */
	fd = open(path, flags);
	if (fd < 0)
		return error("cannot write '%s': %s", quote(path), cdt_strerror(errno));
	if (fstat(fd, &st) < 0) {
		ret = error("cannot write '%s': %s", quote(path), cdt_strerror(errno));
		goto out;
	}
	if (st.st_dev != want->st_dev || st.st_ino != want->st_ino) {
		ret = error("cannot write '%s': it changed while it was opened", quote(path));
		goto out;
	}
	ret = cdt_restore_fd(r, e, fd, path, 0);
	/* A block device holds data (a disk image): make it durable, as a file would be. */
	if (!ret && S_ISBLK(st.st_mode) && fsync(fd) < 0)
		ret = error("cannot sync '%s': %s", quote(path), cdt_strerror(errno));
out:
	if (close(fd) < 0 && !ret)
		ret = error("cannot write '%s': %s", quote(path), cdt_strerror(errno));
	return ret < 0 ? -1 : 0;
}

/*
 * -o FILE, decided by what FILE is, as cp(1) decides: a new or regular file
 * is replaced atomically; a character device, FIFO or block device is
 * written in place (renaming a file over /dev/null would break every
 * program that uses it); a symbolic link is followed and what it points to
 * decides, the link itself staying; a directory or socket is refused.
 */
static int restore_to_path(struct cdt_restore *r, const struct cdt_name_entry *e,
			   const char *path)
{
	struct stat st, lst;
	char *real;
	int fd, ret;

	/*
	 * Follow a symbolic link the way open(2) does, so that the kernel's
	 * checks apply (fs.protected_symlinks keeps root from following a
	 * link another user planted in /tmp).
	 */
	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
			return error("refusing to write '%s': it is a symbolic link to nothing",
				     quote(path));
		return replace_file(r, e, path, path);
	}
	if (fd < 0)
		return error("cannot write '%s': %s", quote(path), cdt_strerror(errno));
	if (fstat(fd, &st) < 0) {
		ret = error("cannot write '%s': %s", quote(path), cdt_strerror(errno));
		close(fd);
		return ret;
	}
	close(fd);

	if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISBLK(st.st_mode))
		return write_in_place(r, e, path, &st);
	if (S_ISDIR(st.st_mode))
		return error("cannot write '%s': it is a directory", quote(path));
	if (!S_ISREG(st.st_mode))
		return error("cannot write '%s': it is not a regular file, a device or a FIFO",
			     quote(path));
	if (lstat(path, &lst) < 0)
		return error("cannot write '%s': %s", quote(path), cdt_strerror(errno));
	if (!S_ISLNK(lst.st_mode))
		return replace_file(r, e, path, path);

	/*
	 * A link to a regular file: replace the file it points to, in its own
	 * directory, and keep the link. That file must be the one open(2)
	 * reached above.
	 */
	real = realpath(path, NULL);
	if (!real)
		return error("cannot write '%s': %s", quote(path), cdt_strerror(errno));
	if (lstat(real, &lst) < 0 || !S_ISREG(lst.st_mode) ||
	    lst.st_dev != st.st_dev || lst.st_ino != st.st_ino)
		ret = error("cannot write '%s': it changed while it was opened", quote(path));
	else
		ret = replace_file(r, e, real, path);
	free(real);
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
	struct cat_progress cp = { { 0 }, NULL, 0, 0 };
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
	/* Not over the data itself, on a terminal. */
	progress_start(&cp.p, output || !isatty(STDOUT_FILENO));
	if (cp.p.enabled)
		cdt_restore_set_progress(r, show_progress, &cp);
	if (output) {
		if (read_name(ctx->store, argv[0], e) < 0) {
			ret = EXIT_FAIL;
			goto out;
		}
		cp.name = argv[0];
		cp.total = e->size;
		if (restore_to_path(r, e, output) < 0)
			ret = EXIT_FAIL;
		goto out;
	}
	/* Check every name first, so that a typo does not leave partial output. */
	if (read_names(ctx->store, argc, argv) < 0) {
		ret = EXIT_FAIL;
		goto out;
	}
	for (i = 0; i < argc && cp.p.enabled; i++)
		if (read_name(ctx->store, argv[i], e) == 0)
			cp.total += e->size;
	/* Our own buffered output (none so far) must not mix with direct writes. */
	fflush(stdout);
	for (i = 0; i < argc; i++) {
		if (read_name(ctx->store, argv[i], e) < 0) {
			ret = EXIT_FAIL;
			break;
		}
		cp.name = argv[i];
		if (cdt_restore_fd(r, e, STDOUT_FILENO, "standard output", 0) < 0) {
			ret = EXIT_FAIL;
			break;
		}
		cp.before += e->size;
	}
out:
	progress_finish(&cp.p);
	cdt_restore_free(r);
	free(e);
	return ret;
}
