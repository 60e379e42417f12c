/* names.c: stored names, one small entry file each under STORE/names/. */
#include "format/names.h"
#include "format/names-internal.h"
#include "base/fsutil.h"
#include "base/util.h"
#include "base/testpoint.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/openat2.h>

void cdt_name_encode(struct cdt_name_entry *e, struct strbuf *out)
{
	unsigned char h[CDT_NAME_FIXED2];
	size_t nlen = strlen(e->name), tlen = 0, start = out->len, fixed = CDT_NAME_FIXED;
	struct cdt_id sum;

	if (!e->type)
		e->type = CDT_NAME_REG;	/* a zeroed entry is a regular file's */
	/* An entry read as version 1 keeps its literal name; a new one is escaped. */
	e->version = e->type == CDT_NAME_REG && !e->flags && !e->xattrs_len &&
		     (e->version == CDT_NAME_VERSION || !strchr(e->name, '\\')) ?
		     CDT_NAME_VERSION : CDT_NAME_VERSION2;
	memset(h, 0, sizeof(h));
	memcpy(h, CDT_NAME_MAGIC, 4);
	h[4] = e->version;
	put_le32(h + 8, e->mode & 07777);
	put_le32(h + 12, e->uid);
	put_le32(h + 16, e->gid);
	put_le32(h + 20, e->mtime_nsec);
	put_le64(h + 24, (uint64_t)e->mtime_sec);
	put_le64(h + 32, (uint64_t)e->added_sec);
	put_le64(h + 40, e->size);
	memcpy(h + 48, e->content.b, CDT_ID_LEN);
	put_le16(h + 80, (uint16_t)nlen);
	if (e->version == CDT_NAME_VERSION2) {
		if (e->type == CDT_NAME_SYMLINK || (e->flags & CDT_NAME_HARDLINK))
			tlen = strlen(e->target);
		h[5] = e->type;
		h[6] = e->flags;
		put_le16(h + 82, (uint16_t)tlen);
		put_le32(h + 84, (uint32_t)e->xattrs_len);
		fixed = CDT_NAME_FIXED2;
	}
	strbuf_add(out, h, fixed);
	strbuf_add(out, e->name, nlen);
	strbuf_add(out, e->target, tlen);
	if (e->xattrs_len)
		strbuf_add(out, e->xattrs, e->xattrs_len);
	cdt_hash(out->buf + start, out->len - start, &sum);
	strbuf_add(out, sum.b, CDT_ID_LEN);
}

/* Are the extended attribute records well formed, in order, without repeats? */
static int check_xattrs(const unsigned char *p, size_t len, struct strbuf *why)
{
	const unsigned char *prev = NULL;
	size_t prev_len = 0, off = 0;

	while (off < len) {
		size_t nl, vl;
		int c;

		if (len - off < 6)
			goto bad;
		nl = get_le16(p + off);
		vl = get_le32(p + off + 2);
		off += 6;
		if (!nl || nl > len - off || vl > len - off - nl || memchr(p + off, 0, nl))
			goto bad;
		if (prev) {
			c = memcmp(prev, p + off, MIN(prev_len, nl));
			if (c > 0 || (!c && prev_len >= nl))
				goto bad;
		}
		prev = p + off;
		prev_len = nl;
		off += nl + vl;
	}
	return 0;
bad:
	strbuf_addstr(why, "name entry has malformed extended attributes");
	return -CDT_ECORRUPT;
}

int cdt_name_decode(const unsigned char *buf, size_t len, const char *name,
		    struct cdt_name_entry *e, struct strbuf *why)
{
	size_t nlen, tlen = 0, xlen = 0, fixed;
	struct cdt_id sum;
	int v2;

	e->xattrs = NULL;
	e->xattrs_len = 0;
	if (len < CDT_NAME_FIXED + CDT_ID_LEN || len > CDT_NAME_ENTRY_MAX) {
		strbuf_addstr(why, "name entry has an impossible length");
		return -CDT_ECORRUPT;
	}
	if (memcmp(buf, CDT_NAME_MAGIC, 4)) {
		strbuf_addstr(why, "name entry has a bad magic number");
		return -CDT_ECORRUPT;
	}
	if (buf[4] != CDT_NAME_VERSION && buf[4] != CDT_NAME_VERSION2) {
		strbuf_addf(why, "name entry has unknown version %u", buf[4]);
		return -CDT_ECORRUPT;
	}
	v2 = buf[4] == CDT_NAME_VERSION2;
	fixed = v2 ? CDT_NAME_FIXED2 : CDT_NAME_FIXED;
	if (len < fixed + CDT_ID_LEN) {
		strbuf_addstr(why, "name entry has an impossible length");
		return -CDT_ECORRUPT;
	}
	nlen = get_le16(buf + 80);
	if (v2) {
		tlen = get_le16(buf + 82);
		xlen = get_le32(buf + 84);
	}
	if (nlen > CDT_NAME_MAX || tlen > CDT_NAME_TARGET_MAX || xlen > CDT_NAME_XATTR_MAX ||
	    fixed + nlen + tlen + xlen + CDT_ID_LEN != len) {
		strbuf_addstr(why, "name entry length does not match its name");
		return -CDT_ECORRUPT;
	}
	cdt_hash(buf, len - CDT_ID_LEN, &sum);
	if (memcmp(sum.b, buf + len - CDT_ID_LEN, CDT_ID_LEN)) {
		strbuf_addstr(why, "name entry checksum does not match its contents");
		return -CDT_ECORRUPT;
	}
	if ((v2 ? buf[7] || buf[6] & ~CDT_NAME_FLAGS_KNOWN :
		  buf[5] || buf[6] || buf[7] || buf[82] || buf[83]) ||
	    get_le32(buf + 8) & ~07777u) {
		strbuf_addstr(why, "name entry has reserved bits set");
		return -CDT_ECORRUPT;
	}
	e->version = buf[4];
	e->type = v2 ? buf[5] : CDT_NAME_REG;
	e->flags = v2 ? buf[6] : 0;
	memcpy(e->name, buf + fixed, nlen);
	e->name[nlen] = '\0';
	if (name && strcmp(e->name, name)) {
		strbuf_addstr(why, "name entry belongs to another name");
		return -CDT_ECORRUPT;
	}
	if (strlen(e->name) != nlen || cdt_name_check_literal(e->name, !v2, why)) {
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
	memcpy(e->target, buf + fixed + nlen, tlen);
	e->target[tlen] = '\0';
	if (memchr(e->target, 0, tlen)) {
		strbuf_addstr(why, "name entry has a NUL byte in its target");
		return -CDT_ECORRUPT;
	}
	/* One encoding per entry: what a type does not use is zero. */
	switch (e->type) {
	case CDT_NAME_REG:
		if (!(e->flags & CDT_NAME_HARDLINK) != !tlen) {
			strbuf_addstr(why, "name entry has a target it cannot have");
			return -CDT_ECORRUPT;
		}
		if (tlen && cdt_name_check_literal(e->target, 0, why)) {
			strbuf_addstr(why, " (the name a hard link names)");
			return -CDT_ECORRUPT;
		}
		break;
	case CDT_NAME_SYMLINK:
	case CDT_NAME_DIR:
		if (e->size || !cdt_id_is_zero(&e->content) || e->flags ||
		    (e->type == CDT_NAME_SYMLINK) != !!tlen) {
			strbuf_addstr(why, "name entry has fields its type does not use");
			return -CDT_ECORRUPT;
		}
		break;
	default:
		strbuf_addf(why, "name entry has unknown type %u", e->type);
		return -CDT_ECORRUPT;
	}
	/* A version 2 entry that version 1 could hold would have two encodings. */
	if (v2 && e->type == CDT_NAME_REG && !e->flags && !xlen && !strchr(e->name, '\\')) {
		strbuf_addstr(why, "name entry is version 2 without need");
		return -CDT_ECORRUPT;
	}
	if (xlen) {
		if (check_xattrs(buf + fixed + nlen + tlen, xlen, why))
			return -CDT_ECORRUPT;
		e->xattrs = xmalloc(xlen);
		memcpy(e->xattrs, buf + fixed + nlen + tlen, xlen);
		e->xattrs_len = xlen;
	}
	return 0;
}

/* Read an entry file (at most CDT_NAME_ENTRY_MAX bytes) into buf (names-internal.h). */
ssize_t name_read_entry(int fd, struct strbuf *buf)
{
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size > (off_t)CDT_NAME_ENTRY_MAX)
		st.st_size = CDT_NAME_ENTRY_MAX;
	strbuf_reset(buf);
	/* One byte more than the largest entry: a longer file is refused by decode. */
	strbuf_grow(buf, (size_t)st.st_size + 1);
	n = read_full(fd, buf->buf, (size_t)st.st_size + 1);
	if (n >= 0)
		strbuf_setlen(buf, (size_t)n);
	return n;
}

/*
 * One openat2() that refuses any symbolic link and anything outside dirfd;
 * -ENOSYS where the kernel has none (then the caller walks component by
 * component). Other errors are the kernel's.
 */
static int openat2_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
#ifdef SYS_openat2
	static int missing;
	struct open_how how;
	long fd;

	if (__atomic_load_n(&missing, __ATOMIC_RELAXED))
		return -ENOSYS;
	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC);
	how.mode = (flags & O_CREAT) ? mode : 0;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
	if (fd >= 0)
		return (int)fd;
	if (errno == ENOSYS || errno == EPERM) {
		/* No openat2 (or a filter refusing it): the portable walk from now on. */
		__atomic_store_n(&missing, 1, __ATOMIC_RELAXED);
		return -ENOSYS;
	}
	return -errno;
#else
	(void)dirfd; (void)rel; (void)flags; (void)mode;
	return -ENOSYS;
#endif
}

int openat_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
	struct strbuf sb = STRBUF_INIT;
	char *p, *slash;
	int fd = dirfd, next;

	/*
	 * The common case in one system call. A symbolic link on the way
	 * (ELOOP, EXDEV) is told apart by the walk below: in the middle it is
	 * ENOTDIR, at the end ELOOP. A path of PATH_MAX bytes or more (a
	 * name may have CDT_NAME_MAX) is taken a component at a time there.
	 */
	next = openat2_beneath(dirfd, rel, flags, mode);
	if (next >= 0 || (next != -ENOSYS && next != -ELOOP && next != -EXDEV && next != -EAGAIN &&
			  next != -ENAMETOOLONG))
		return next;

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
	struct strbuf buf = STRBUF_INIT, path = STRBUF_INIT;
	struct stat st;
	ssize_t n;
	int fd;

	e->xattrs = NULL;
	e->xattrs_len = 0;
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
	if (fstat(fd, &st) < 0) {
		int err = -errno;	/* an I/O error: the name may well be there */

		close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		int dfd = fd;

		/* A directory of names is a name only with an entry of its own. */
		fd = S_ISDIR(st.st_mode) ? openat(dfd, CDT_NAME_DIRENT,
						  O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
		close(dfd);
		if (fd < 0)
			return -ENOENT;
	}
	n = name_read_entry(fd, &buf);
	close(fd);
	if (n >= 0)
		n = cdt_name_decode((unsigned char *)buf.buf, buf.len, name, e, why);
	strbuf_release(&buf);
	strbuf_release(&path);
	if (!n && S_ISDIR(st.st_mode) != (e->type == CDT_NAME_DIR)) {
		cdt_name_entry_release(e);
		strbuf_addstr(why, S_ISDIR(st.st_mode) ? "a directory's entry is not a directory's" :
			      "a directory's entry is not in its directory");
		return -CDT_ECORRUPT;
	}
	return (int)n;
}

/*
 * Open the directory of names `dir` (under namesfd, found missing), made
 * with its missing parents. Each level is made in its parent opened
 * without following any symbolic link; the nearest one there is found
 * first, so that making one directory in an existing one costs an open,
 * a mkdir and an open. A new directory is synced into its parent with
 * `sync`. fd or -errno.
 */
static int make_dir(int namesfd, char *dir, int sync, int depth)
{
	char *slash = strrchr(dir, '/');
	const char *base = slash ? slash + 1 : dir;
	int pfd, fd;

	if (depth >= FS_TREE_DEPTH_MAX)
		return -ELOOP;
	if (slash) {
		*slash = '\0';
		pfd = openat_beneath(namesfd, dir, O_RDONLY | O_DIRECTORY, 0);
		if (pfd == -ENOENT)
			pfd = make_dir(namesfd, dir, sync, depth + 1);
		*slash = '/';
	} else {
		pfd = openat(namesfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd < 0)
			pfd = -errno;
	}
	if (pfd < 0)
		return pfd == -ELOOP ? -ENOTDIR : pfd;
	if (mkdirat(pfd, base, 0777) == 0) {
		/* A new directory must be durable before the name in it is. */
		if (sync && fsync(pfd) < 0) {
			fd = -errno;
			close(pfd);
			return fd;
		}
	} else if (errno != EEXIST) {
		fd = -errno;
		close(pfd);
		return fd;
	}
	fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		fd = errno == ELOOP ? -ENOTDIR : -errno;
	close(pfd);
	return fd;
}

/* Open the directory holding `name`'s entry, creating it if asked. */
static int open_parent_sync(struct cdt_store *s, const char *name, int create, int sync,
			    const char **base)
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
		/* Usually the parent is there already: one open, nothing made. */
		fd = openat_beneath(namesfd, dir, O_RDONLY | O_DIRECTORY, 0);
		if (fd >= 0 || (fd != -ENOENT)) {
			free(dir);
			return fd;
		}
	}
	if (create) {
		fd = make_dir(namesfd, dir, sync, 0);
		free(dir);
		return fd;
	}
	fd = openat_beneath(namesfd, dir, O_RDONLY | O_DIRECTORY, 0);
	free(dir);
	return fd;
}

int name_open_parent(struct cdt_store *s, const char *name, int create, const char **base)
{
	return open_parent_sync(s, name, create, 1, base);
}

int cdt_name_stage(struct cdt_store *s, struct cdt_name_entry *e, struct strbuf *tmpname)
{
	struct strbuf buf = STRBUF_INIT;
	int tmpfd = cdt_store_dirfd(s, CDT_DIR_TMP);
	int fd, ret;

	cdt_name_encode(e, &buf);
	fd = tmpfile_openat(tmpfd, "name", tmpname);
	if (fd < 0) {
		strbuf_release(&buf);
		return fd;
	}
	ret = write_all(fd, buf.buf, buf.len);
	close(fd);
	if (ret)
		unlinkat(tmpfd, tmpname->buf, 0);
	strbuf_release(&buf);
	return ret;
}

struct cdt_name_dirs {
	struct strbuf path;	/* the directory of names open in fd ("" for names/) */
	int fd;
};

struct cdt_name_dirs *cdt_name_dirs_new(void)
{
	struct cdt_name_dirs *d = xcalloc(1, sizeof(*d));

	strbuf_init(&d->path, 0);
	d->fd = -1;
	return d;
}

void cdt_name_dirs_free(struct cdt_name_dirs *d)
{
	if (!d)
		return;
	if (d->fd >= 0)
		close(d->fd);
	strbuf_release(&d->path);
	free(d);
}

static void name_file_of(const struct stat *st, struct cdt_name_file *f)
{
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->ctime = st->st_ctim;
	f->size = st->st_size;
}

/* The path in names/ of the entry of name (a directory's own entry is in it). */
static void entry_path(const char *name, int type, struct strbuf *path)
{
	strbuf_addstr(path, name);
	if (type == CDT_NAME_DIR)
		strbuf_addstr(path, "/" CDT_NAME_DIRENT);
}

int cdt_name_is_file(struct cdt_store *s, const char *name, int type, const struct cdt_name_file *f)
{
	struct strbuf path = STRBUF_INIT;
	struct cdt_name_file now;
	struct stat st;
	int same = 0;

	entry_path(name, type, &path);
	if (f->ino && fstatat(cdt_store_dirfd(s, CDT_DIR_NAMES), path.buf, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode)) {
		name_file_of(&st, &now);
		same = now.dev == f->dev && now.ino == f->ino && now.size == f->size &&
		       now.ctime.tv_sec == f->ctime.tv_sec && now.ctime.tv_nsec == f->ctime.tv_nsec;
	}
	strbuf_release(&path);
	return same;
}

/* Move the staged entry tmpname into place (see cdt_name_install()). */
static int name_install(struct cdt_store *s, struct cdt_name_dirs *dirs,
			const struct cdt_name_entry *e, const char *tmpname, int replace, int sync,
			const struct cdt_name_gone *gone, struct cdt_name_file *installed)
{
	struct strbuf path = STRBUF_INIT;
	int tmpfd = cdt_store_dirfd(s, CDT_DIR_TMP);
	const char *base, *slash;
	int dirfd, ret = 0, room = 0;
	size_t dirlen;
	struct stat st;

	if (installed)
		memset(installed, 0, sizeof(*installed));
	entry_path(e->name, e->type, &path);
	if (e->type == CDT_NAME_DIR)
		replace = 1;	/* a directory's metadata is always the latest */
	if (!replace)
		gone = NULL;
again:
	slash = strrchr(path.buf, '/');
	dirlen = slash ? (size_t)(slash - path.buf) : 0;
	if (dirs && dirs->fd >= 0 && dirs->path.len == dirlen &&
	    !memcmp(dirs->path.buf, path.buf, dirlen)) {
		/* The directory of the name before: still open. */
		dirfd = dirs->fd;
		base = slash ? slash + 1 : path.buf;
	} else {
		dirfd = open_parent_sync(s, path.buf, 1, sync, &base);
		if (dirfd < 0) {
			ret = dirfd;
			goto out;
		}
		if (dirs) {
			if (dirs->fd >= 0)
				close(dirs->fd);
			dirs->fd = dirfd;
			strbuf_reset(&dirs->path);
			strbuf_add(&dirs->path, path.buf, dirlen);
		}
	}
	/*
	 * Replacing, rename() itself refuses a directory (EISDIR): only a
	 * name that must not replace looks first.
	 */
	if (!replace && fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		ret = S_ISDIR(st.st_mode) ? -EISDIR : -EEXIST;
		goto out;
	}
	cdt_crash_point("name");
	if (replace) {
		if (renameat(tmpfd, tmpname, dirfd, base) < 0) {
			ret = -errno;
			goto out;
		}
	} else {
		ret = rename_noreplace(tmpfd, tmpname, dirfd, base);
		if (ret == 1)
			ret = -EEXIST;
		if (ret < 0)
			goto out;
	}
	if (sync && fsync(dirfd) < 0)
		ret = -errno;
	if (installed && !ret && fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0)
		name_file_of(&st, installed);
	if (!dirs)
		close(dirfd);
	strbuf_release(&path);
	return ret;
out:
	if (gone && !room && (ret == -EISDIR || ret == -ENOTDIR)) {
		/* Names of another type in the way: removed, and once more. */
		if (dirs && dirs->fd >= 0) {
			close(dirs->fd);
			dirs->fd = -1;
			strbuf_reset(&dirs->path);
		} else if (dirfd >= 0) {
			close(dirfd);
		}
		room = 1;
		ret = name_make_room(s, e, gone);
		if (!ret)
			goto again;
		dirfd = -1;
	}
	unlinkat(tmpfd, tmpname, 0);
	if (dirfd >= 0 && !dirs)
		close(dirfd);
	strbuf_release(&path);
	return ret;
}

int cdt_name_install(struct cdt_store *s, struct cdt_name_dirs *dirs,
		     const struct cdt_name_entry *e, const char *tmpname, int replace,
		     const struct cdt_name_gone *gone, struct cdt_name_file *installed)
{
	return name_install(s, dirs, e, tmpname, replace, 0, gone, installed);
}

int cdt_name_write(struct cdt_store *s, struct cdt_name_entry *e, int replace)
{
	struct strbuf tmpname = STRBUF_INIT;
	int ret;

	ret = cdt_name_stage(s, e, &tmpname);
	if (!ret)
		ret = tmpfile_sync(cdt_store_dirfd(s, CDT_DIR_TMP), tmpname.buf);
	if (!ret)
		ret = name_install(s, NULL, e, tmpname.buf, replace, 1, NULL, NULL);
	strbuf_release(&tmpname);
	return ret;
}

int cdt_name_remove(struct cdt_store *s, const char *name, int is_dir)
{
	int namesfd = cdt_store_dirfd(s, CDT_DIR_NAMES);
	const char *base;
	struct strbuf dir = STRBUF_INIT;
	int dirfd, ret = 0;
	struct stat st;

	strbuf_addstr(&dir, name);
	if (is_dir < 0) {
		/* Whichever entry is there (one that cannot be read). */
		int fd = openat_beneath(namesfd, name, O_RDONLY | O_DIRECTORY, 0);

		is_dir = fd >= 0;
		if (fd >= 0)
			close(fd);
	}
	if (is_dir)
		strbuf_addstr(&dir, "/" CDT_NAME_DIRENT);
	dirfd = name_open_parent(s, dir.buf, 0, &base);
	if (dirfd < 0) {
		strbuf_release(&dir);
		return dirfd == -ENOTDIR ? -ENOENT : dirfd;
	}
	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode)) {
		close(dirfd);
		strbuf_release(&dir);
		return -ENOENT;
	}
	if (unlinkat(dirfd, base, 0) < 0)
		ret = -errno;
	else if (fsync(dirfd) < 0)
		ret = -errno;
	close(dirfd);
	if (ret) {
		strbuf_release(&dir);
		return ret;
	}
	/* Prune parents left empty; a failure here leaves only an empty directory. */
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

int cdt_name_writable(struct cdt_store *s, const char *name, int type, int no_replace)
{
	const char *base;
	struct stat st;
	int dirfd, ret = 0;

	dirfd = name_open_parent(s, name, 0, &base);
	if (dirfd == -ENOENT)
		return 1;	/* parents will be created */
	if (dirfd < 0)
		return dirfd;
	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (type == CDT_NAME_DIR) {
			/*
			 * A directory goes where a directory of names is, not
			 * over a name; its entry (metadata) is always replaced.
			 */
			if (!S_ISDIR(st.st_mode))
				ret = -ENOTDIR;
		} else if (S_ISDIR(st.st_mode)) {
			ret = -EISDIR;
		} else if (no_replace) {
			ret = -EEXIST;
		}
	} else if (errno != ENOENT) {
		ret = -errno;
	}
	close(dirfd);
	return ret;
}
