/* cmd/add-xattrs.c: the extended attributes and ACLs add stores with --xattrs, read as the content is. */
#include "cmd.h"
#include "add.h"
#include "format/names.h"
#include "base/strbuf.h"
#include "base/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

static int cmp_xattr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Where extended attributes are read from: an open file, or a path. */
struct xattr_src {
	int fd;			/* >= 0: this file, and path is not used */
	const char *path;
	int follow;		/* a final symbolic link of path is followed */
};

static ssize_t xattr_list(const struct xattr_src *x, char *buf, size_t size)
{
	if (x->fd >= 0)
		return flistxattr(x->fd, buf, size);
	return x->follow ? listxattr(x->path, buf, size) : llistxattr(x->path, buf, size);
}

static ssize_t xattr_get(const struct xattr_src *x, const char *name, void *buf, size_t size)
{
	if (x->fd >= 0)
		return fgetxattr(x->fd, name, buf, size);
	return x->follow ? getxattr(x->path, name, buf, size) :
			   lgetxattr(x->path, name, buf, size);
}

/*
 * The extended attributes of x (`shown` in messages) as name entry
 * records, names in byte order. ACLs are the system.posix_acl_*
 * attributes. 0, or -1 after a warning (then none are stored: the entry
 * is stored without them).
 */
static int read_xattrs_at(const char *shown, const struct xattr_src *x, struct cdt_name_entry *e)
{
	struct strbuf out = STRBUF_INIT;
	char *list = NULL, **names = NULL;
	ssize_t n;
	size_t nr = 0, alloc = 0, i;
	char *p;

	n = xattr_list(x, NULL, 0);
	if (n <= 0) {
		if (n < 0 && errno != ENOTSUP)
			warning("cannot list extended attributes of '%s': %s; stored without them",
				quote(shown), cdt_strerror(errno));
		return n < 0 && errno != ENOTSUP ? -1 : 0;
	}
	list = xmalloc((size_t)n + 1);
	n = xattr_list(x, list, (size_t)n);
	if (n < 0)
		goto fail;
	for (p = list; p < list + n; p += strlen(p) + 1) {
		ALLOC_GROW(names, nr + 1, alloc);
		names[nr++] = p;
	}
	qsort(names, nr, sizeof(*names), cmp_xattr);
	for (i = 0; i < nr; i++) {
		ssize_t vl = xattr_get(x, names[i], NULL, 0);
		size_t nl = strlen(names[i]), at;
		unsigned char h[6];

		if (vl < 0)
			goto fail;
		at = out.len;
		put_le16(h, (uint16_t)nl);
		put_le32(h + 2, (uint32_t)vl);
		strbuf_add(&out, h, sizeof(h));
		strbuf_add(&out, names[i], nl);
		strbuf_grow(&out, (size_t)vl);
		vl = xattr_get(x, names[i], out.buf + out.len, (size_t)vl);
		if (vl < 0)
			goto fail;
		/* The value may have shrunk between the two calls. */
		put_le32((unsigned char *)out.buf + at + 2, (uint32_t)vl);
		strbuf_setlen(&out, out.len + (size_t)vl);
		if (out.len > CDT_NAME_XATTR_MAX) {
			warning("'%s': extended attributes larger than %u bytes; stored without them",
				quote(shown), CDT_NAME_XATTR_MAX);
			errno = 0;
			goto fail_quiet;
		}
	}
	free(names);
	free(list);
	if (out.len) {
		e->xattrs_len = out.len;
		e->xattrs = (unsigned char *)strbuf_detach(&out, NULL);
	}
	strbuf_release(&out);
	return 0;
fail:
	warning("cannot read extended attributes of '%s': %s; stored without them", quote(shown),
		cdt_strerror(errno));
fail_quiet:
	free(names);
	free(list);
	strbuf_release(&out);
	return -1;
}

int add_read_xattrs(const struct add_state *st, const struct source *src, int fd,
		    struct cdt_name_entry *e)
{
	char fdpath[64 + PATH_MAX];
	struct xattr_src x = { fd, src->path, 1 };
	const char *base;
	int dfd, ret;

	if (!st->xattrs)
		return 0;
	if (fd >= 0 || !src->root) {
		if (fd < 0 && strlen(src->path) >= PATH_MAX) {
			warning("'%s': path too long to read its extended attributes; stored without them",
				quote(src->path));
			return -1;
		}
		return read_xattrs_at(src->path, &x, e);
	}
	dfd = open_walked_parent(src->path, src->root, &base);
	if (dfd < 0) {
		warning("cannot list extended attributes of '%s': %s; stored without them",
			quote(src->path), open_walked_why(errno, src->root));
		return -1;
	}
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d/%s", dfd, base);
	x.path = fdpath;
	x.follow = 0;
	ret = read_xattrs_at(src->path, &x, e);
	close(dfd);
	return ret;
}
