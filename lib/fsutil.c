/* fsutil.c: durable file-system operations. */
#include "fsutil.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int mkdirat_p(int dirfd, const char *rel)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;
	int ret = 0;

	strbuf_addstr(&sb, rel);
	for (i = 1; i <= sb.len; i++) {
		if (i < sb.len && sb.buf[i] != '/')
			continue;
		sb.buf[i] = '\0';
		if (mkdirat(dirfd, sb.buf, 0777) < 0 && errno != EEXIST) {
			ret = -errno;
			break;
		}
		if (i < sb.len)
			sb.buf[i] = '/';
	}
	if (!ret) {
		struct stat st;

		if (fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
			ret = -errno;
		else if (!S_ISDIR(st.st_mode))
			ret = -ENOTDIR;
	}
	strbuf_release(&sb);
	return ret;
}

int mkdir_p(const char *path)
{
	return mkdirat_p(AT_FDCWD, path);
}

int fsync_dirat(int dirfd, const char *path)
{
	int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0 && errno != EINVAL)
		ret = -errno;
	close(fd);
	return ret;
}

int tmpfile_openat(int tmpfd, const char *prefix, struct strbuf *name)
{
	int tries;

	for (tries = 0; tries < 100; tries++) {
		uint64_t r;
		int fd;

		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint64_t)now_seconds() * 1000003u + (uint64_t)tries;
		strbuf_reset(name);
		strbuf_addf(name, "%s-%ld-%016llx", prefix, (long)getpid(),
			    (unsigned long long)r);
		fd = openat(tmpfd, name->buf,
			    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

int rename_noreplace(int fromfd, const char *from, int tofd, const char *to)
{
	if (syscall(SYS_renameat2, fromfd, from, tofd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST) {
		unlinkat(fromfd, from, 0);
		return 1;
	}
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* File systems without RENAME_NOREPLACE: link() never replaces either. */
	if (linkat(fromfd, from, tofd, to, 0) < 0) {
		if (errno == EEXIST) {
			unlinkat(fromfd, from, 0);
			return 1;
		}
		return -errno;
	}
	unlinkat(fromfd, from, 0);
	return 0;
}

int read_small_fileat(int dirfd, const char *path, size_t max, struct strbuf *out)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	ssize_t n;
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		ret = -EFBIG;
		goto out;
	}
	strbuf_reset(out);
	strbuf_grow(out, (size_t)st.st_size + 1);
	/* Read one byte more than fstat said, to notice a file that grew. */
	n = read_full(fd, out->buf, (size_t)st.st_size + 1);
	if (n < 0) {
		ret = (int)n;
		goto out;
	}
	if ((size_t)n > max) {
		ret = -EFBIG;
		goto out;
	}
	strbuf_setlen(out, (size_t)n);
out:
	close(fd);
	return ret;
}
