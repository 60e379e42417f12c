/* remote-mpacks.c: the manifest packs of a remote store in its cache: listed from info/mpacks, each fetched whole and checked. */
#include "ops/remote-internal.h"
#include "format/config.h"
#include "format/info.h"
#include "format/mpack.h"
#include "format/store.h"
#include "base/fsutil.h"
#include "base/http.h"
#include "base/strbuf.h"
#include "base/testpoint.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* info/mpacks, fetched into a file: read whole (at most CDT_INFO_TEXT_MAX) and parsed. */
struct mpacks_list {
	struct cdt_info_mpack *v;
	size_t n;
	struct strbuf why;
};

static int take_list(int fd, void *data)
{
	struct mpacks_list *l = data;
	struct strbuf text = STRBUF_INIT;
	struct stat st;
	ssize_t got;
	int ret;

	if (fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size > CDT_INFO_TEXT_MAX)
		return cdt_corrupt(&l->why, "info/mpacks is too large");
	strbuf_grow(&text, (size_t)st.st_size);
	got = pread_full(fd, text.buf, (size_t)st.st_size, 0);
	if (got < 0) {
		strbuf_release(&text);
		return (int)got;
	}
	strbuf_setlen(&text, (size_t)got);
	ret = cdt_info_mpacks_parse(text.buf, text.len, &l->v, &l->n, &l->why);
	strbuf_release(&text);
	return ret;
}

struct mpack_fetch {
	const char *url, *name;
	uint64_t bytes;
	struct strbuf *why;
};

/* A manifest pack from its URL into fd, whole and named by its checksum, else refused. */
static int fill_mpack(int fd, void *data)
{
	struct mpack_fetch *f = data;
	struct strbuf why = STRBUF_INIT;
	struct cdt_mpack mp;
	int ret = cdt_http_get_file(f->url, f->bytes, fd, f->why);

	if (ret)
		return ret;
	ret = cdt_mpack_open_fd(fd, &mp, &why);
	if (!ret) {
		ret = cdt_mpack_verify(&mp, f->name, &why);
		cdt_mpack_close(&mp);
	}
	if (ret)
		strbuf_addf(f->why, "%s: damaged manifest pack: %s", f->url,
			    why.len ? why.buf : cdt_strerror(ret));
	strbuf_release(&why);
	return ret;
}

/* Is name one of the n listed (sorted)? */
static int is_listed(const struct cdt_info_mpack *v, size_t n, const char *name)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(v[mid].name, name);

		if (!cmp)
			return 1;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* One listing taken: -EAGAIN (unsaid) when a pack it lists is gone from the server. */
static int refresh_once(struct remote *r, struct cdt_store *s, int last)
{
	struct mpacks_list l = { NULL, 0, STRBUF_INIT };
	struct strbuf why = STRBUF_INIT, url = STRBUF_INIT, path = STRBUF_INIT, rel = STRBUF_INIT;
	int rootfd = cdt_store_rootfd(s), mfd = cdt_store_dirfd(s, CDT_DIR_MANIFESTS), pfd = -1;
	struct cdt_dent *d = NULL;
	size_t nd = 0, i;
	struct stat st;
	int ret;

	if (cdt_store_config(s)->format < CDT_FORMAT_MPACKS)
		return 0;
	ret = remote_get_info(r, rootfd, "info/mpacks", take_list, &l, &why);
	if (ret == -ENOENT && !l.why.len) {
		ret = 0;	/* none listed: none to read */
	} else if (ret == -CDT_ECORRUPT && l.why.len) {
		ret = error_code(ret, "%s/info/mpacks is damaged: %s", r->base, l.why.buf);
		goto out;
	} else if (ret) {
		ret = error_code(ret, "%s", why.len ? why.buf : l.why.len ? l.why.buf :
				 cdt_strerror(ret));
		goto out;
	}
	/* Tests run a gc on the server here, after the listing and before the packs. */
	if (!last)
		cdt_pause_point("mpacks-listed");
	for (i = 0; i < l.n; i++) {
		struct mpack_fetch f = { NULL, l.v[i].name, l.v[i].bytes, &why };

		strbuf_reset(&path);
		strbuf_addf(&path, "%s/%s", CDT_MPACK_DIR, l.v[i].name);
		/* Named by its checksum: one of the size listed is that pack (checked when fetched). */
		if (fstatat(mfd, path.buf, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		    (uint64_t)st.st_size == l.v[i].bytes)
			continue;
		strbuf_reset(&url);
		strbuf_reset(&why);
		strbuf_reset(&rel);
		strbuf_addf(&rel, "manifests/%s", path.buf);
		remote_object_url(r, rel.buf, &url);
		f.url = url.buf;
		ret = remote_place_new_file(rootfd, mfd, path.buf, fill_mpack, &f);
		/* Listed, then gone: a gc on the server in between, which listed others. */
		if (ret == -ENOENT && !last) {
			ret = -EAGAIN;
			goto out;
		}
		if (ret) {
			ret = error_code(ret, "%s", why.len ? why.buf : cdt_strerror(ret));
			goto out;
		}
	}
	/* Packs the remote store no longer lists (gc there) go from the cache too. */
	pfd = openat(mfd, CDT_MPACK_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (pfd >= 0 && cdt_list_dir(pfd, ".", &d, &nd) == 0) {
		for (i = 0; i < nd; i++)
			if (cdt_mpack_name_ok(d[i].name) && !is_listed(l.v, l.n, d[i].name))
				unlinkat(pfd, d[i].name, 0);
		cdt_dents_free(d, nd);
	}
	if (pfd >= 0)
		close(pfd);
out:
	free(l.v);
	strbuf_release(&l.why);
	strbuf_release(&why);
	strbuf_release(&url);
	strbuf_release(&path);
	strbuf_release(&rel);
	return ret;
}

int remote_refresh_mpacks(struct remote *r, struct cdt_store *s)
{
	int ret = refresh_once(r, s, 0);

	return ret == -EAGAIN ? refresh_once(r, s, 1) : ret;
}
