/* unit-store.h: real stores in temporary directories, for the unit tests that need one. */
#ifndef CDT_UNIT_STORE_H
#define CDT_UNIT_STORE_H

#include "format/config.h"
#include "format/store.h"
#include "base/util.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Returns a new empty directory under $TMPDIR (or /tmp), named after the test; dies if none. */
static inline char *unit_tmpdir(const char *test)
{
	const char *base = getenv("TMPDIR");
	char *dir = xstrfmt("%s/cdt-%s.XXXXXX", base && *base ? base : "/tmp", test);

	if (!mkdtemp(dir))
		die("cannot make a directory '%s': %s", dir, cdt_strerror(errno));
	return dir;
}

static inline int unit_rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -1 : 0;
}

/* Remove dir and everything in it, unless a check failed: then say where it is. */
static inline void unit_tmpdir_remove(char *dir)
{
	if (unit_failures)
		fprintf(stderr, "left '%s' to look at\n", dir);
	else if (nftw(dir, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
		fprintf(stderr, "cannot remove '%s': %s\n", dir, cdt_strerror(errno));
	free(dir);
}

/*
 * Returns a new store at dir/name, open, with the given chunker and frame
 * size (0: chunks alone and no deltas, packs of version 1), and the
 * defaults otherwise;
 * dies if it cannot be made.
 */
static inline struct cdt_store *unit_store_new_framed(const char *dir, const char *name,
						      enum cdt_chunker_kind kind, uint32_t size,
						      uint32_t frame_size)
{
	struct cdt_config cfg;
	struct cdt_store *s;
	char *path = xstrfmt("%s/%s", dir, name);

	cdt_config_defaults(&cfg);
	cfg.chunker = kind;
	cfg.chunk_size = size;
	cfg.frame_size = frame_size;
	cfg.deltas = frame_size != 0;
	if (cdt_store_init(path, &cfg, CDT_SHARE_PRIVATE) < 0 || cdt_store_open(path, &s) < 0)
		die("cannot make a store at '%s'", path);
	free(path);
	return s;
}

/* The same with the default frame size. */
static inline struct cdt_store *unit_store_new(const char *dir, const char *name,
					       enum cdt_chunker_kind kind, uint32_t size)
{
	return unit_store_new_framed(dir, name, kind, size, CDT_FRAME_SIZE_DEFAULT);
}

/* Returns the bytes of file rel (relative to dirfd) in *out, or -errno. */
static inline int unit_read_file(int dirfd, const char *rel, struct strbuf *out)
{
	int fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), ret = 0;
	char buf[65536];
	ssize_t n;

	if (fd < 0)
		return -errno;
	strbuf_reset(out);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		strbuf_add(out, buf, (size_t)n);
	if (n < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* Replace file rel (relative to dirfd) with a new one holding buf; dies on failure. */
static inline void unit_write_file(int dirfd, const char *rel, const void *buf, size_t len)
{
	int fd;

	if (unlinkat(dirfd, rel, 0) < 0 && errno != ENOENT)
		die("cannot remove '%s': %s", rel, cdt_strerror(errno));
	fd = openat(dirfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || write_all(fd, buf, len) < 0 || close(fd) < 0)
		die("cannot write '%s': %s", rel, cdt_strerror(errno));
}

#endif
