/* fanout.c: walking and pruning fan-out directories. */
#include "format/fanout.h"
#include "format/mpack.h"
#include "base/fsutil.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One walk serves both callbacks: fn gets the size, sfn (if set) the whole stat. */
struct walk_fns {
	cdt_fanout_fn fn;
	cdt_fanout_stat_fn sfn;
	cdt_stray_fn stray;
	void *data;
};

static int walk_sub(int dirfd, const char *sub, const struct walk_fns *w)
{
	char path[CDT_ID_HEXLEN + 8];
	struct dirent *de;
	DIR *d;
	int fd, ret = 0;

	fd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	/* A read that fails is an error, not the end: what it hid is not garbage. */
	while (!ret) {
		struct stat st;
		struct cdt_id id;

		errno = 0;
		de = readdir(d);
		if (!de) {
			ret = -errno;
			break;
		}

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%.2s/%.*s", sub, CDT_ID_HEXLEN, de->d_name);
		if (!cdt_is_hex(de->d_name, CDT_ID_HEXLEN - 2)) {
			if (w->stray)
				ret = w->stray(path, "not an object name", w->data);
			continue;
		}
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;	/* removed while we walked */
			ret = -errno;
			break;
		}
		if (!S_ISREG(st.st_mode)) {
			if (w->stray)
				ret = w->stray(path, "not a regular file", w->data);
			continue;
		}
		hex_to_bytes(sub, 2, id.b);
		hex_to_bytes(de->d_name, CDT_ID_HEXLEN - 2, id.b + 1);
		ret = w->sfn ? w->sfn(&id, &st, w->data) : w->fn(&id, (uint64_t)st.st_size, w->data);
	}
	closedir(d);
	return ret;
}

static int walk(int dirfd, const struct walk_fns *w)
{
	struct dirent *de;
	DIR *d;
	int fd, ret = 0;

	/* A new open file description: a dup() would share the read offset. */
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while (!ret) {
		struct stat st;

		errno = 0;
		de = readdir(d);
		if (!de) {
			ret = -errno;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		/*
		 * A stat that fails is an error, not a stray: a directory it
		 * hid would look empty, and its chunks dead to gc.
		 */
		if (cdt_is_hex(de->d_name, 2) &&
		    fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;	/* pruned while we walked */
			ret = -errno;
			break;
		}
		/* manifests/pack/: the manifest packs (mpack.h), walked on their own. */
		if (!strcmp(de->d_name, CDT_MPACK_DIR) &&
		    !fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) && S_ISDIR(st.st_mode))
			continue;
		if (!cdt_is_hex(de->d_name, 2) || !S_ISDIR(st.st_mode)) {
			if (w->stray)
				ret = w->stray(de->d_name, "not a fan-out directory", w->data);
			continue;
		}
		ret = walk_sub(fd, de->d_name, w);
		if (ret == -ENOENT)
			ret = 0;	/* pruned while we walked */
	}
	closedir(d);
	return ret;
}

int cdt_fanout_walk(int dirfd, cdt_fanout_fn fn, cdt_stray_fn stray, void *data)
{
	struct walk_fns w = { fn, NULL, stray, data };

	return walk(dirfd, &w);
}

int cdt_fanout_walk_stat(int dirfd, cdt_fanout_stat_fn fn, cdt_stray_fn stray, void *data)
{
	struct walk_fns w = { NULL, fn, stray, data };

	return walk(dirfd, &w);
}

int cdt_fanout_prune(int dirfd, int dry_run)
{
	char sub[3];
	int i, n = 0;

	for (i = 0; i < 256; i++) {
		snprintf(sub, sizeof(sub), "%02x", i);
		if (dry_run) {
			int fd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			DIR *d;
			struct dirent *de;
			int empty = 1;

			if (fd < 0)
				continue;
			d = fdopendir(fd);
			if (!d) {
				close(fd);
				continue;
			}
			while ((de = readdir(d)))
				if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
					empty = 0;
			closedir(d);
			n += empty;
		} else if (unlinkat(dirfd, sub, AT_REMOVEDIR) == 0) {
			n++;
		}
	}
	if (n && !dry_run)
		fsync(dirfd);
	return n;
}

int cdt_fanout_remove(int dirfd, const struct cdt_id *id)
{
	char path[CDT_ID_HEXLEN + 2];

	cdt_id_path(id, path);
	return unlinkat(dirfd, path, 0) < 0 ? -errno : 0;
}
