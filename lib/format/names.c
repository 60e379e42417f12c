/* names.c: stored names, one small entry file each under STORE/names/. */
#include "format/names.h"
#include "base/fsutil.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Length of the UTF-8 sequence at p (at most n bytes), or 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2; cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3; cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4; cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are invalid. */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	/* C1 control characters are as unwelcome as C0 ones. */
	if (cp >= 0x80 && cp < 0xa0)
		return 0;
	return len;
}

int cdt_name_check(const char *name, struct strbuf *why)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t len = strlen(name), comp = 0, i;

	if (!len) {
		strbuf_addstr(why, "name is empty");
		return -EINVAL;
	}
	if (len > CDT_NAME_MAX) {
		strbuf_addf(why, "name is longer than %d bytes", CDT_NAME_MAX);
		return -EINVAL;
	}
	if (name[0] == '/') {
		strbuf_addstr(why, "name is an absolute path");
		return -EINVAL;
	}
	for (i = 0; i <= len; i++) {
		size_t n;

		if (i == len || p[i] == '/') {
			const char *c = name + i - comp;

			if (!comp) {
				strbuf_addstr(why, "name has an empty component");
				return -EINVAL;
			}
			if ((comp == 1 && c[0] == '.') || (comp == 2 && c[0] == '.' && c[1] == '.')) {
				strbuf_addf(why, "name has a '%.*s' component", (int)comp, c);
				return -EINVAL;
			}
			comp = 0;
			continue;
		}
		if (p[i] < 0x20 || p[i] == 0x7f) {
			strbuf_addstr(why, "name contains a control character");
			return -EINVAL;
		}
		n = utf8_len(p + i, len - i);
		if (!n) {
			strbuf_addstr(why, "name is not valid UTF-8 (or has a control character)");
			return -EINVAL;
		}
		comp += n;
		if (comp > CDT_NAME_COMPONENT_MAX) {
			strbuf_addf(why, "name has a component longer than %d bytes",
				    CDT_NAME_COMPONENT_MAX);
			return -EINVAL;
		}
		i += n - 1;
	}
	return 0;
}

int cdt_name_from_path(const char *path, struct strbuf *out, struct strbuf *why)
{
	const char *p = path;
	size_t start = out->len;

	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 2 && p[0] == '.' && p[1] == '.') {
			strbuf_setlen(out, start);
			strbuf_addstr(why, "path has a '..' component");
			return -EINVAL;
		}
		if (n && !(n == 1 && p[0] == '.')) {
			if (out->len > start)
				strbuf_addch(out, '/');
			strbuf_add(out, p, n);
		}
		p += n;
		if (*p)
			p++;
	}
	if (out->len == start) {
		strbuf_addstr(why, "path gives an empty name");
		return -EINVAL;
	}
	return 0;
}

void cdt_name_encode(const struct cdt_name_entry *e, struct strbuf *out)
{
	unsigned char h[CDT_NAME_FIXED];
	size_t nlen = strlen(e->name), start = out->len;
	struct cdt_id sum;

	memset(h, 0, sizeof(h));
	memcpy(h, CDT_NAME_MAGIC, 4);
	h[4] = CDT_NAME_VERSION;
	put_le32(h + 8, e->mode & 07777);
	put_le32(h + 12, e->uid);
	put_le32(h + 16, e->gid);
	put_le32(h + 20, e->mtime_nsec);
	put_le64(h + 24, (uint64_t)e->mtime_sec);
	put_le64(h + 32, (uint64_t)e->added_sec);
	put_le64(h + 40, e->size);
	memcpy(h + 48, e->content.b, CDT_ID_LEN);
	put_le16(h + 80, (uint16_t)nlen);
	strbuf_add(out, h, sizeof(h));
	strbuf_add(out, e->name, nlen);
	cdt_hash(out->buf + start, out->len - start, &sum);
	strbuf_add(out, sum.b, CDT_ID_LEN);
}

int cdt_name_decode(const unsigned char *buf, size_t len, const char *name,
		    struct cdt_name_entry *e, struct strbuf *why)
{
	size_t nlen;
	struct cdt_id sum;

	if (len < CDT_NAME_FIXED + CDT_ID_LEN || len > CDT_NAME_ENTRY_MAX) {
		strbuf_addstr(why, "name entry has an impossible length");
		return -CDT_ECORRUPT;
	}
	if (memcmp(buf, CDT_NAME_MAGIC, 4)) {
		strbuf_addstr(why, "name entry has a bad magic number");
		return -CDT_ECORRUPT;
	}
	if (buf[4] != CDT_NAME_VERSION) {
		strbuf_addf(why, "name entry has unknown version %u", buf[4]);
		return -CDT_ECORRUPT;
	}
	nlen = get_le16(buf + 80);
	if (CDT_NAME_FIXED + nlen + CDT_ID_LEN != len) {
		strbuf_addstr(why, "name entry length does not match its name");
		return -CDT_ECORRUPT;
	}
	cdt_hash(buf, len - CDT_ID_LEN, &sum);
	if (memcmp(sum.b, buf + len - CDT_ID_LEN, CDT_ID_LEN)) {
		strbuf_addstr(why, "name entry checksum does not match its contents");
		return -CDT_ECORRUPT;
	}
	if (buf[5] || buf[6] || buf[7] || buf[82] || buf[83] || get_le32(buf + 8) & ~07777u) {
		strbuf_addstr(why, "name entry has reserved bits set");
		return -CDT_ECORRUPT;
	}
	memcpy(e->name, buf + CDT_NAME_FIXED, nlen);
	e->name[nlen] = '\0';
	if (name && strcmp(e->name, name)) {
		strbuf_addstr(why, "name entry belongs to another name");
		return -CDT_ECORRUPT;
	}
	if (strlen(e->name) != nlen || cdt_name_check(e->name, why)) {
		strbuf_addstr(why, " (in name entry)");
		return -CDT_ECORRUPT;
	}
	e->mode = get_le32(buf + 8);
	e->uid = get_le32(buf + 12);
	e->gid = get_le32(buf + 16);
	e->mtime_nsec = get_le32(buf + 20);
	if (e->mtime_nsec >= 1000000000u) {
		strbuf_addstr(why, "name entry has a bad timestamp");
		return -CDT_ECORRUPT;
	}
	e->mtime_sec = (int64_t)get_le64(buf + 24);
	e->added_sec = (int64_t)get_le64(buf + 32);
	e->size = get_le64(buf + 40);
	memcpy(e->content.b, buf + 48, CDT_ID_LEN);
	return 0;
}

int openat_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
	struct strbuf sb = STRBUF_INIT;
	char *p, *slash;
	int fd = dirfd, next;

	strbuf_addstr(&sb, rel);
	p = sb.buf;
	while ((slash = strchr(p, '/'))) {
		*slash = '\0';
		next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			next = -errno;
			if (next == -ELOOP)
				next = -ENOTDIR;
		}
		if (fd != dirfd)
			close(fd);
		if (next < 0) {
			strbuf_release(&sb);
			return next;
		}
		fd = next;
		p = slash + 1;
	}
	next = openat(fd, p, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	if (next < 0)
		next = -errno;
	if (fd != dirfd)
		close(fd);
	strbuf_release(&sb);
	return next;
}

int cdt_name_read(struct cdt_store *s, const char *name, struct cdt_name_entry *e,
		  struct strbuf *why)
{
	unsigned char buf[CDT_NAME_ENTRY_MAX + 1];
	struct stat st;
	ssize_t n;
	int fd;

	fd = openat_beneath(cdt_store_dirfd(s, CDT_DIR_NAMES), name, O_RDONLY, 0);
	if (fd < 0) {
		if (fd == -ENOTDIR)
			fd = -ENOENT;
		if (fd == -ELOOP) {
			strbuf_addstr(why, "name entry is a symbolic link");
			return -CDT_ECORRUPT;
		}
		return fd;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		/* A directory of names is not a name. */
		return -ENOENT;
	}
	n = read_full(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return (int)n;
	return cdt_name_decode(buf, (size_t)n, name, e, why);
}

/* Open the directory holding `name`'s entry, creating it if asked. */
static int open_parent(struct cdt_store *s, const char *name, int create, const char **base)
{
	int namesfd = cdt_store_dirfd(s, CDT_DIR_NAMES);
	const char *slash = strrchr(name, '/');
	char *dir;
	int fd;

	if (!slash) {
		*base = name;
		fd = openat(namesfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	*base = slash + 1;
	dir = xstrndup(name, (size_t)(slash - name));
	if (create) {
		/* Walk down creating each level, so that no symlink is followed. */
		char *p = dir, *q;
		int cur = openat(namesfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (cur < 0) {
			free(dir);
			return -errno;
		}

		for (;;) {
			int nfd;

			q = strchr(p, '/');
			if (q)
				*q = '\0';
			if (mkdirat(cur, p, 0777) == 0) {
				/* A new directory must be durable before the name in it is. */
				if (fsync(cur) < 0) {
					int e = -errno;

					close(cur);
					free(dir);
					return e;
				}
			} else if (errno != EEXIST) {
				int e = -errno;

				close(cur);
				free(dir);
				return e;
			}
			nfd = openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			close(cur);
			if (nfd < 0) {
				int e = errno == ELOOP ? -ENOTDIR : -errno;

				free(dir);
				return e;
			}
			cur = nfd;
			if (!q)
				break;
			p = q + 1;
		}
		free(dir);
		return cur;
	}
	fd = openat_beneath(namesfd, dir, O_RDONLY | O_DIRECTORY, 0);
	free(dir);
	return fd;
}

int cdt_name_write(struct cdt_store *s, const struct cdt_name_entry *e, int replace)
{
	struct strbuf buf = STRBUF_INIT, tmpname = STRBUF_INIT;
	int tmpfd = cdt_store_dirfd(s, CDT_DIR_TMP);
	const char *base;
	int fd = -1, dirfd = -1, ret;
	struct stat st;

	cdt_name_encode(e, &buf);
	dirfd = open_parent(s, e->name, 1, &base);
	if (dirfd < 0) {
		ret = dirfd;
		dirfd = -1;
		goto out;
	}
	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(st.st_mode)) {
			ret = -EISDIR;
			goto out;
		}
		if (!replace) {
			ret = -EEXIST;
			goto out;
		}
	}
	fd = tmpfile_openat(tmpfd, "name", &tmpname);
	if (fd < 0) {
		ret = fd;
		fd = -1;
		goto out;
	}
	ret = write_all(fd, buf.buf, buf.len);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (ret)
		goto out_unlink;
	cdt_crash_point("name");
	if (replace) {
		if (renameat(tmpfd, tmpname.buf, dirfd, base) < 0) {
			ret = -errno;
			goto out_unlink;
		}
	} else {
		ret = rename_noreplace(tmpfd, tmpname.buf, dirfd, base);
		if (ret == 1)
			ret = -EEXIST;
		if (ret < 0)
			goto out_unlink;
	}
	if (fsync(dirfd) < 0)
		ret = -errno;
	goto out;
out_unlink:
	unlinkat(tmpfd, tmpname.buf, 0);
out:
	if (fd >= 0)
		close(fd);
	if (dirfd >= 0)
		close(dirfd);
	strbuf_release(&buf);
	strbuf_release(&tmpname);
	return ret;
}

int cdt_name_remove(struct cdt_store *s, const char *name)
{
	int namesfd = cdt_store_dirfd(s, CDT_DIR_NAMES);
	const char *base;
	struct strbuf dir = STRBUF_INIT;
	int dirfd, ret = 0;
	struct stat st;

	dirfd = open_parent(s, name, 0, &base);
	if (dirfd < 0)
		return dirfd == -ENOTDIR ? -ENOENT : dirfd;
	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode)) {
		close(dirfd);
		return -ENOENT;
	}
	if (unlinkat(dirfd, base, 0) < 0)
		ret = -errno;
	else if (fsync(dirfd) < 0)
		ret = -errno;
	close(dirfd);
	if (ret)
		return ret;
	/* Prune parents left empty; a failure here leaves only an empty directory. */
	strbuf_addstr(&dir, name);
	for (;;) {
		char *slash = strrchr(dir.buf, '/');

		if (!slash)
			break;
		strbuf_setlen(&dir, (size_t)(slash - dir.buf));
		if (unlinkat(namesfd, dir.buf, AT_REMOVEDIR) < 0)
			break;
	}
	strbuf_release(&dir);
	return 0;
}

struct child {
	char *name;
	int is_dir;
};

static int cmp_child(const void *a, const void *b)
{
	const struct child *x = a, *y = b;
	const unsigned char *p = (const unsigned char *)x->name;
	const unsigned char *q = (const unsigned char *)y->name;

	/* Order as if directories had a trailing '/', so output is sorted by full name. */
	while (*p && *p == *q) {
		p++;
		q++;
	}
	{
		int c1 = *p ? *p : (x->is_dir ? '/' : 0);
		int c2 = *q ? *q : (y->is_dir ? '/' : 0);

		return c1 - c2;
	}
}

struct walk {
	struct cdt_store *store;
	cdt_name_fn fn;
	void *data;
	struct strbuf path;
	struct strbuf why;
	int depth;
};

static int visit_entry(struct walk *w, int dirfd, const char *base)
{
	unsigned char buf[CDT_NAME_ENTRY_MAX + 1];
	struct cdt_name_entry *e = xmalloc(sizeof(*e));
	int fd, ret;
	ssize_t n;

	strbuf_reset(&w->why);
	fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		strbuf_addf(&w->why, "cannot open name entry: %s", cdt_strerror(errno));
		goto report;
	}
	n = read_full(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0) {
		ret = (int)n;
		strbuf_addf(&w->why, "cannot read name entry: %s", cdt_strerror((int)n));
		goto report;
	}
	ret = cdt_name_decode(buf, (size_t)n, w->path.buf, e, &w->why);
	if (!ret) {
		ret = w->fn(w->path.buf, e, 0, NULL, w->data);
		free(e);
		return ret;
	}
report:
	free(e);
	return w->fn(w->path.buf, NULL, ret, w->why.buf, w->data);
}

static int walk_dir(struct walk *w, int dirfd)
{
	struct child *kids = NULL;
	size_t nr = 0, alloc = 0, i;
	struct dirent *de;
	DIR *d;
	int ret = 0;

	if (++w->depth > CDT_NAME_MAX / 2) {
		close(dirfd);
		return -ELOOP;
	}
	d = fdopendir(dirfd);
	if (!d) {
		ret = -errno;
		close(dirfd);
		return ret;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		ALLOC_GROW(kids, nr + 1, alloc);
		kids[nr].name = xstrdup(de->d_name);
		if (de->d_type == DT_DIR)
			kids[nr].is_dir = 1;
		else if (de->d_type == DT_REG)
			kids[nr].is_dir = 0;
		else if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			kids[nr].is_dir = S_ISDIR(st.st_mode) ? 1 : S_ISREG(st.st_mode) ? 0 : -1;
		else
			kids[nr].is_dir = -1;
		nr++;
	}
	if (nr > 1)
		qsort(kids, nr, sizeof(*kids), cmp_child);
	for (i = 0; i < nr && !ret; i++) {
		size_t keep = w->path.len;

		if (w->path.len)
			strbuf_addch(&w->path, '/');
		strbuf_addstr(&w->path, kids[i].name);
		if (kids[i].is_dir == 1) {
			int fd = openat(dirfd, kids[i].name,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (fd < 0)
				ret = w->fn(w->path.buf, NULL, -errno,
					    "cannot open directory of names", w->data);
			else
				ret = walk_dir(w, fd);
		} else if (kids[i].is_dir == 0) {
			ret = visit_entry(w, dirfd, kids[i].name);
		} else {
			ret = w->fn(w->path.buf, NULL, -CDT_ECORRUPT,
				    "not a regular file (symbolic link or special file in names/)",
				    w->data);
		}
		strbuf_setlen(&w->path, keep);
	}
	for (i = 0; i < nr; i++)
		free(kids[i].name);
	free(kids);
	closedir(d);
	w->depth--;
	return ret;
}

int cdt_names_walk(struct cdt_store *s, const char *prefix, cdt_name_fn fn, void *data)
{
	struct walk w = { s, fn, data, STRBUF_INIT, STRBUF_INIT, 0 };
	int namesfd = cdt_store_dirfd(s, CDT_DIR_NAMES);
	int fd, ret;

	if (prefix && *prefix) {
		struct stat st;
		const char *base;
		int pfd = open_parent(s, prefix, 0, &base);

		if (pfd < 0)
			return pfd == -ENOTDIR || pfd == -ENOENT ? 0 : pfd;
		if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = errno == ENOENT ? 0 : -errno;
			close(pfd);
			return ret;
		}
		strbuf_addstr(&w.path, prefix);
		if (S_ISREG(st.st_mode)) {
			ret = visit_entry(&w, pfd, base);
			close(pfd);
		} else if (S_ISDIR(st.st_mode)) {
			fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			close(pfd);
			ret = fd < 0 ? -errno : walk_dir(&w, fd);
		} else {
			close(pfd);
			ret = fn(prefix, NULL, -CDT_ECORRUPT,
				 "not a regular file (symbolic link or special file in names/)", data);
		}
	} else {
		/* A new open file description: a dup() would share the read offset. */
		fd = openat(namesfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ret = fd < 0 ? -errno : walk_dir(&w, fd);
	}
	strbuf_release(&w.path);
	strbuf_release(&w.why);
	return ret;
}

int cdt_name_writable(struct cdt_store *s, const char *name, int no_replace)
{
	const char *base;
	struct stat st;
	int dirfd, ret = 0;

	dirfd = open_parent(s, name, 0, &base);
	if (dirfd == -ENOENT)
		return 0;	/* parents will be created */
	if (dirfd < 0)
		return dirfd;
	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(st.st_mode))
			ret = -EISDIR;
		else if (no_replace)
			ret = -EEXIST;
	} else if (errno != ENOENT) {
		ret = -errno;
	}
	close(dirfd);
	return ret;
}
