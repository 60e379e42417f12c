/* names-walk.c: every stored name under a prefix, in order, each entry read and checked. */
#include "format/names.h"
#include "format/names-internal.h"
#include "base/fsutil.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp_child(const void *a, const void *b)
{
	const struct cdt_dent *x = a, *y = b;
	const unsigned char *p = (const unsigned char *)x->name;
	const unsigned char *q = (const unsigned char *)y->name;

	/* Order as if directories had a trailing '/', so output is sorted by full name. */
	while (*p && *p == *q) {
		p++;
		q++;
	}
	{
		int c1 = *p ? *p : (x->type != DT_REG ? '/' : 0);
		int c2 = *q ? *q : (y->type != DT_REG ? '/' : 0);

		return c1 - c2;
	}
}

struct walk {
	struct cdt_store *store;
	cdt_name_fn fn;
	cdt_name_raw_fn raw_fn;	/* instead of fn: the entry's bytes too */
	void *data;
	struct strbuf path;
	struct strbuf why;
	struct strbuf buf;	/* the entry being read */
	int depth;
};

/* Tell the walk's caller that `name` cannot be read. */
static int walk_report(struct walk *w, const char *name, int err, const char *why)
{
	return w->raw_fn ? w->raw_fn(name, NULL, NULL, 0, err, why, w->data) :
		w->fn(name, NULL, err, why, w->data);
}

static int visit_entry(struct walk *w, int dirfd, const char *base, int is_dirent)
{
	struct cdt_name_entry *e = xmalloc(sizeof(*e));
	int fd, ret;
	ssize_t n;

	strbuf_reset(&w->why);
	fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	/* Listed, then removed (rm, or a name put in place of its directory): gone, not damaged. */
	if (fd < 0 && errno == ENOENT) {
		free(e);
		return 0;
	}
	if (fd < 0) {
		ret = -errno;
		strbuf_addf(&w->why, "cannot open name entry: %s", cdt_strerror(errno));
		goto report;
	}
	n = name_read_entry(fd, &w->buf);
	close(fd);
	if (n < 0) {
		ret = (int)n;
		strbuf_addf(&w->why, "cannot read name entry: %s", cdt_strerror((int)n));
		goto report;
	}
	ret = cdt_name_decode((unsigned char *)w->buf.buf, w->buf.len, w->path.buf, e, &w->why);
	if (!ret && is_dirent != (e->type == CDT_NAME_DIR)) {
		cdt_name_entry_release(e);
		strbuf_addstr(&w->why, is_dirent ? "a directory's entry is not a directory's" :
			      "a directory's entry is not in its directory");
		ret = -CDT_ECORRUPT;
	}
	if (!ret) {
		ret = w->raw_fn ? w->raw_fn(w->path.buf, e, (const unsigned char *)w->buf.buf,
					    w->buf.len, 0, NULL, w->data) :
			w->fn(w->path.buf, e, 0, NULL, w->data);
		cdt_name_entry_release(e);
		free(e);
		return ret;
	}
report:
	free(e);
	return walk_report(w, w->path.buf, ret, w->why.buf);
}

/*
 * Below this depth a walk keeps each directory open while it walks the
 * ones in it; deeper, it closes it and opens it again from the one below
 * as "..", checked to be the same directory, so that a tree as deep as
 * names allow (2048 levels) is walked with a few descriptors, as the walk
 * of add does.
 */
#define WALK_OPEN_DEPTH 8

/*
 * Walk the directory of names open at *dirfdp. The caller closes *dirfdp
 * afterwards: the same directory, perhaps opened again (-1 if that failed,
 * which is then the error returned).
 */
static int walk_dir(struct walk *w, int *dirfdp)
{
	int dirfd = *dirfdp;
	struct cdt_dent *kids;
	size_t nr, i;
	struct stat self;
	int ret;

	if (++w->depth > CDT_NAME_MAX / 2) {
		w->depth--;
		return -ELOOP;
	}
	/*
	 * Listed on a description of its own, closed before going deeper. A
	 * read that fails is an error, not the end of the listing: the names
	 * not listed must not look removed (gc and rm delete what no name uses).
	 */
	ret = cdt_list_dir(dirfd, ".", &kids, &nr);
	if (ret < 0) {
		w->depth--;
		return ret;
	}
	if (nr > 1)
		qsort(kids, nr, sizeof(*kids), cmp_child);
	for (i = 0; i < nr && !ret; i++) {
		size_t keep = w->path.len;

		/* The directory's own entry: it sorts first (its name starts with \001). */
		if (!strcmp(kids[i].name, CDT_NAME_DIRENT) && kids[i].type == DT_REG) {
			if (w->path.len)
				ret = visit_entry(w, dirfd, kids[i].name, 1);
			else
				ret = walk_report(w, CDT_NAME_DIRENT, -CDT_ECORRUPT,
						  "a directory entry at the top of names/");
			continue;
		}
		if (w->path.len)
			strbuf_addch(&w->path, '/');
		strbuf_addstr(&w->path, kids[i].name);
		if (kids[i].type == DT_DIR) {
			int cfd = openat(dirfd, kids[i].name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (cfd < 0 && errno == ENOENT) {
				;	/* removed since it was listed, with every name in it */
			} else if (cfd < 0) {
				ret = walk_report(w, w->path.buf, -errno,
						  "cannot open directory of names");
			} else if (w->depth < WALK_OPEN_DEPTH) {
				ret = walk_dir(w, &cfd);
				if (cfd >= 0)
					close(cfd);
			} else {
				struct stat up;
				int again = 0;

				/* What ".." must be when it is open again. */
				if (fstat(dirfd, &self) < 0) {
					ret = walk_report(w, w->path.buf, -errno,
							  "cannot open directory of names");
					close(cfd);
					break;
				}
				close(dirfd);
				*dirfdp = dirfd = -1;
				ret = walk_dir(w, &cfd);
				if (cfd >= 0) {
					dirfd = openat(cfd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
					if (dirfd < 0 || fstat(dirfd, &up) < 0)
						again = -errno;
					/* names/ moved about while it was walked */
					else if (up.st_dev != self.st_dev || up.st_ino != self.st_ino)
						again = -ESTALE;
					close(cfd);
				} else {
					again = -EBADF;
				}
				if (again && dirfd >= 0) {
					close(dirfd);
					dirfd = -1;
				}
				*dirfdp = dirfd;
				if (again) {
					strbuf_setlen(&w->path, keep);
					if (!ret)
						ret = walk_report(w, w->path.len ? w->path.buf : ".", again,
								  "cannot open directory of names again");
					break;
				}
			}
		} else if (kids[i].type == DT_REG) {
			ret = visit_entry(w, dirfd, kids[i].name, 0);
		} else {
			ret = walk_report(w, w->path.buf, -CDT_ECORRUPT,
					  "not a regular file (symbolic link or special file in names/)");
		}
		strbuf_setlen(&w->path, keep);
	}
	cdt_dents_free(kids, nr);
	w->depth--;
	return ret;
}

static int names_walk(struct cdt_store *s, const char *prefix, cdt_name_fn fn,
		      cdt_name_raw_fn raw_fn, void *data)
{
	struct walk w = { s, fn, raw_fn, data, STRBUF_INIT, STRBUF_INIT, STRBUF_INIT, 0 };
	int namesfd = cdt_store_dirfd(s, CDT_DIR_NAMES);
	int fd, ret;

	if (prefix && *prefix) {
		struct stat st;
		const char *base;
		int pfd = name_open_parent(s, prefix, 0, &base);

		if (pfd < 0)
			return pfd == -ENOTDIR || pfd == -ENOENT ? 0 : pfd;
		if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = errno == ENOENT ? 0 : -errno;
			close(pfd);
			return ret;
		}
		strbuf_addstr(&w.path, prefix);
		if (S_ISREG(st.st_mode)) {
			ret = visit_entry(&w, pfd, base, 0);
			close(pfd);
		} else if (S_ISDIR(st.st_mode)) {
			fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			close(pfd);
			ret = fd < 0 ? -errno : walk_dir(&w, &fd);
			if (fd >= 0)
				close(fd);
		} else {
			close(pfd);
			ret = walk_report(&w, prefix, -CDT_ECORRUPT,
					  "not a regular file (symbolic link or special file in names/)");
		}
	} else {
		/* A new open file description: a dup() would share the read offset. */
		fd = openat(namesfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ret = fd < 0 ? -errno : walk_dir(&w, &fd);
		if (fd >= 0)
			close(fd);
	}
	strbuf_release(&w.path);
	strbuf_release(&w.why);
	strbuf_release(&w.buf);
	return ret;
}

int cdt_names_walk(struct cdt_store *s, const char *prefix, cdt_name_fn fn, void *data)
{
	return names_walk(s, prefix, fn, NULL, data);
}

int cdt_names_walk_raw(struct cdt_store *s, const char *prefix, cdt_name_raw_fn fn, void *data)
{
	return names_walk(s, prefix, NULL, fn, data);
}
