/*
 * names-room.c: names of one type removed to make room for an entry of
 * another (a tree walked again where a directory became a file, or a file
 * a directory).
 */
#include "format/names.h"
#include "format/names-internal.h"
#include "base/fsutil.h"
#include "base/util.h"
#include "base/testpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Below this depth the directory being emptied stays open while the ones
 * in it are; deeper, it is closed and opened again from the one below as
 * "..", checked to be the same directory: a tree as deep as names allow
 * (2048 levels) is removed with a few descriptors (as names-walk.c walks it).
 */
#define ROOM_OPEN_DEPTH 8

/*
 * Empty the directory of names open at *fdp, whose name is `name`, never
 * following a symbolic link; gone is told each entry removed. A directory
 * in it is removed once it is empty: one another writer fills meanwhile
 * stays (ENOTEMPTY). *fdp is then the same directory, perhaps opened
 * again (-1 if that failed, which is then the error returned).
 */
static int clear_dir(int *fdp, struct strbuf *name, int depth,
		     const struct cdt_name_gone *gone)
{
	struct cdt_dent *v;
	size_t n, i, len = name->len;
	int fd = *fdp, ret;

	if (depth > CDT_NAME_MAX / 2)
		return -ELOOP;
	ret = cdt_list_dir(fd, ".", &v, &n);
	for (i = 0; !ret && i < n; i++) {
		if (v[i].type == DT_DIR) {
			int cfd = openat(fd, v[i].name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					 O_CLOEXEC);
			struct stat self, up;

			if (cfd < 0) {
				ret = errno == ELOOP ? -ENOTDIR : -errno;
				continue;
			}
			strbuf_addf(name, "/%s", v[i].name);
			if (depth < ROOM_OPEN_DEPTH) {
				ret = clear_dir(&cfd, name, depth + 1, gone);
			} else if (fstat(fd, &self) < 0) {
				ret = -errno;
			} else {
				close(fd);
				*fdp = fd = -1;
				ret = clear_dir(&cfd, name, depth + 1, gone);
				if (cfd >= 0)
					fd = openat(cfd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
				if (fd >= 0 && (fstat(fd, &up) < 0 || up.st_dev != self.st_dev ||
						up.st_ino != self.st_ino)) {
					/* names/ moved about while it was emptied */
					close(fd);
					fd = -1;
					errno = ESTALE;
				}
				if (fd < 0 && !ret)
					ret = cfd >= 0 ? -errno : -EBADF;
				*fdp = fd;
			}
			strbuf_setlen(name, len);
			if (cfd >= 0)
				close(cfd);
			if (!ret && unlinkat(fd, v[i].name, AT_REMOVEDIR) < 0 && errno != ENOENT)
				ret = -errno;
			continue;
		}
		/* An entry, or what is damage in names/ (a link, a device): not followed. */
		if (unlinkat(fd, v[i].name, 0) < 0) {
			ret = errno == ENOENT ? 0 : -errno;
			continue;
		}
		cdt_crash_point("name-room");
		if (!gone || v[i].type != DT_REG)
			continue;
		if (!strcmp(v[i].name, CDT_NAME_DIRENT)) {
			gone->fn(name->buf, CDT_NAME_DIR, gone->data);
		} else {
			strbuf_addf(name, "/%s", v[i].name);
			gone->fn(name->buf, CDT_NAME_REG, gone->data);
			strbuf_setlen(name, len);
		}
	}
	cdt_dents_free(v, n);
	return ret;
}

/*
 * Remove the directory of names `base` in pfd, whose name is `name`, with
 * everything under it (clear_dir()).
 */
static int remove_dir(int pfd, const char *base, struct strbuf *name,
		      const struct cdt_name_gone *gone)
{
	int fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), ret;

	if (fd < 0)
		return errno == ELOOP ? -ENOTDIR : -errno;
	ret = clear_dir(&fd, name, 0, gone);
	if (fd >= 0)
		close(fd);
	if (!ret && unlinkat(pfd, base, AT_REMOVEDIR) < 0)
		ret = -errno;
	return ret;
}

/*
 * The first component of the directories of `path` (under namesfd) that
 * is not a directory is a stored name (a file or a link) where a directory
 * of names must go: removed. 0 (removed, or none in the way) or -errno.
 */
static int clear_parent(int namesfd, const char *path, const struct cdt_name_gone *gone)
{
	struct strbuf name = STRBUF_INIT;
	const char *p = path, *slash;
	int fd = dup(namesfd), ret = 0, stop = 0;

	if (fd < 0)
		return -errno;
	while (!stop && (slash = strchr(p, '/'))) {
		struct stat st;
		char *comp = xstrndup(p, (size_t)(slash - p));
		int next;

		strbuf_add(&name, p, (size_t)(slash - p));
		stop = 1;
		if (fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)	/* missing: made when the entry is installed */
				ret = -errno;
		} else if (!S_ISDIR(st.st_mode)) {
			if (unlinkat(fd, comp, 0) < 0)
				ret = -errno;
			else if (gone && S_ISREG(st.st_mode))
				gone->fn(name.buf, CDT_NAME_REG, gone->data);
		} else if ((next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					  O_CLOEXEC)) < 0) {
			ret = -errno;
		} else {
			close(fd);
			fd = next;
			stop = 0;
		}
		free(comp);
		strbuf_addch(&name, '/');
		p = slash + 1;
	}
	close(fd);
	strbuf_release(&name);
	return ret;
}

int name_make_room(struct cdt_store *s, const struct cdt_name_entry *e,
		   const struct cdt_name_gone *gone)
{
	int namesfd = cdt_store_dirfd(s, CDT_DIR_NAMES);
	struct strbuf path = STRBUF_INIT;
	int ret;

	strbuf_addstr(&path, e->name);
	if (e->type == CDT_NAME_DIR)
		strbuf_addstr(&path, "/" CDT_NAME_DIRENT);
	ret = clear_parent(namesfd, path.buf, gone);
	if (!ret && e->type != CDT_NAME_DIR) {
		/* A file or link where a directory of names is. */
		const char *base;
		int dirfd = name_open_parent(s, e->name, 0, &base);
		struct stat st;

		if (dirfd < 0) {
			ret = dirfd == -ENOENT ? 0 : dirfd;
		} else {
			if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISDIR(st.st_mode)) {
				struct strbuf name = STRBUF_INIT;

				strbuf_addstr(&name, e->name);
				ret = remove_dir(dirfd, base, &name, gone);
				strbuf_release(&name);
			}
			close(dirfd);
		}
	}
	strbuf_release(&path);
	return ret;
}
