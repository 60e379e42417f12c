/* remote-names.c: the names of a remote store in its cache: names/<prefix> rebuilt from the tables of info/names/ that changed. */
#include "ops/remote-internal.h"
#include "format/info.h"
#include "format/names.h"
#include "format/store.h"
#include "base/fsutil.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct names_stage {
	int dirfd;		/* the staging directory, standing for names/ */
	size_t count;
};

/* Write one entry of a table into the staging tree, where names/ would hold it. */
static int stage_entry(const struct cdt_name_entry *e, const unsigned char *raw, size_t len,
		       void *data)
{
	struct names_stage *ns = data;
	struct strbuf path = STRBUF_INIT;
	char *slash;
	int fd, ret;

	strbuf_addstr(&path, e->name);
	if (e->type == CDT_NAME_DIR)
		strbuf_addstr(&path, "/" CDT_NAME_DIRENT);
	slash = strrchr(path.buf, '/');
	ret = 0;
	if (slash) {
		*slash = '\0';
		ret = mkdirat_p_flags(ns->dirfd, path.buf, 0);
		*slash = '/';
	}
	if (!ret) {
		fd = openat(ns->dirfd, path.buf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0666);
		if (fd < 0) {
			ret = -errno;
		} else {
			ret = write_all(fd, raw, len);
			close(fd);
		}
	}
	strbuf_release(&path);
	ns->count++;
	return ret;
}

/* Build names/<prefix> afresh from the table in buf, then put it in place of the old one. */
static int install_prefix(struct remote *r, struct cdt_store *s, const char *prefix,
			  const struct strbuf *table)
{
	struct strbuf stage = STRBUF_INIT, old = STRBUF_INIT, why = STRBUF_INIT;
	int tmpfd = cdt_store_dirfd(s, CDT_DIR_TMP), namesfd = cdt_store_dirfd(s, CDT_DIR_NAMES);
	struct names_stage ns = { -1, 0 };
	int ret, fd;

	/* A fresh staging directory in tmp/ with a unique name. */
	fd = tmpfile_openat(tmpfd, "names", &stage);
	if (fd < 0)
		return error_code(fd, "cannot write to '%s/tmp': %s", r->dir, cdt_strerror(fd));
	close(fd);
	unlinkat(tmpfd, stage.buf, 0);
	tmpfile_forget(tmpfd, stage.buf);
	if (mkdirat(tmpfd, stage.buf, 0777) < 0 ||
	    (ns.dirfd = openat(tmpfd, stage.buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		ret = error_code(-errno, "cannot write to '%s/tmp': %s", r->dir,
				 cdt_strerror(errno));
		goto out;
	}
	ret = cdt_info_names_parse((const unsigned char *)table->buf, table->len, prefix,
				   stage_entry, &ns, &why);
	if (ret == -CDT_ECORRUPT) {
		ret = error_code(ret, "%s/info/names/%s is damaged: %s", r->base, quote(prefix),
				 why.buf);
		goto out;
	} else if (ret) {
		ret = error_code(ret, "cannot write the names of '%s' to '%s/tmp': %s",
				 quote(prefix), r->dir, cdt_strerror(ret));
		goto out;
	}
	/* The old tree out of the way, the new one in, the old one removed. */
	strbuf_addf(&old, "%s.old", stage.buf);
	if (renameat(namesfd, prefix, tmpfd, old.buf) < 0 && errno != ENOENT) {
		ret = error_code(-errno, "cannot replace '%s/names/%s': %s", r->dir, quote(prefix),
				 cdt_strerror(errno));
		goto out;
	}
	strbuf_addf(&stage, "/%s", prefix);
	ret = renameat(tmpfd, stage.buf, namesfd, prefix) < 0 ? -errno : 0;
	strbuf_setlen(&stage, stage.len - strlen(prefix) - 1);
	if (ret) {
		ret = error_code(ret, "cannot replace '%s/names/%s': %s", r->dir, quote(prefix),
				 cdt_strerror(ret));
		goto out;
	}
out:
	if (ns.dirfd >= 0)
		close(ns.dirfd);
	if (stage.len)
		remove_tree_at(tmpfd, stage.buf, 0);
	if (old.len)
		remove_tree_at(tmpfd, old.buf, 0);
	strbuf_release(&stage);
	strbuf_release(&old);
	strbuf_release(&why);
	return ret;
}

/* Is prefix one of pre[0..n) (strictly sorted by byte order)? */
static int listed_prefix(const struct cdt_info_prefix *pre, size_t n, const char *prefix)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(pre[mid].prefix, prefix);

		if (!c)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/*
 * names/ of the cache as info/prefixes says: tables that changed are
 * fetched (checked against the sums listed) and their trees rebuilt;
 * prefixes no longer listed go. The tables fetched are kept in
 * info/names/ of the cache, so that an unchanged one is not fetched again.
 */
int remote_refresh_names(struct remote *r, struct cdt_store *s)
{
	struct strbuf buf = STRBUF_INIT, why = STRBUF_INIT, path = STRBUF_INIT,
		      have = STRBUF_INIT, listing = STRBUF_INIT;
	int rootfd = cdt_store_rootfd(s), infofd = -1, ret;
	struct cdt_info_prefix *pre = NULL;
	struct cdt_dent *dents = NULL, *marks = NULL;
	size_t n = 0, nd = 0, i, k, nmarks;

	/*
	 * A push stopped in the cache between its names and its tables left
	 * names/ ahead of the tables kept, which are the remote's: every
	 * prefix is then built again from them, or names the remote store
	 * lacks would be listed, and taken by the next push as sent.
	 */
	nmarks = cdt_info_dead_marks(s, &marks);
	ret = remote_get_whole(r, "info/prefixes", WHOLE_MAX, &buf, &why);
	if (ret) {
		ret = error_code(ret, "%s", why.buf);
		goto out;
	}
	ret = cdt_info_prefixes_parse(buf.buf, buf.len, &pre, &n, &why);
	if (ret) {
		ret = error_code(ret, "%s/info/prefixes is damaged: %s", r->base, why.buf);
		goto out;
	}
	strbuf_addbuf(&listing, &buf);
	if ((ret = mkdirat_p_flags(rootfd, "info/names", 0)) < 0 ||
	    (infofd = openat(rootfd, "info/names", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		ret = error_code(ret < 0 ? ret : -errno, "cannot create '%s/info/names': %s",
				 r->dir, cdt_strerror(ret < 0 ? ret : errno));
		goto out;
	}
	for (i = 0; i < n; i++) {
		const char *p = pre[i].prefix;
		struct stat st;
		int kept;

		/* The table kept from last time, if it is the one listed now. */
		strbuf_reset(&have);
		kept = read_small_fileat(infofd, p, WHOLE_MAX, &have) == 0 &&
		       have.len == pre[i].bytes && have.len >= CDT_ID_LEN &&
		       !memcmp(have.buf + have.len - CDT_ID_LEN, pre[i].sum.b, CDT_ID_LEN);
		if (kept && nmarks) {
			ret = install_prefix(r, s, p, &have);
			if (ret)
				goto out;
			continue;
		}
		if (kept &&
		    fstatat(cdt_store_dirfd(s, CDT_DIR_NAMES), p, &st, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		strbuf_reset(&path);
		strbuf_addf(&path, "info/names/%s", p);
		strbuf_reset(&buf);
		strbuf_reset(&why);
		/* info/prefixes says how big it is: no more is read. */
		ret = remote_get_whole(r, path.buf, (size_t)MIN((uint64_t)WHOLE_MAX, pre[i].bytes),
				       &buf, &why);
		if (ret) {
			ret = error_code(ret, "%s", why.buf);
			goto out;
		}
		if (buf.len != pre[i].bytes || buf.len < CDT_ID_LEN ||
		    memcmp(buf.buf + buf.len - CDT_ID_LEN, pre[i].sum.b, CDT_ID_LEN)) {
			ret = error_code(-CDT_ECORRUPT,
					 "%s/%s is not the table info/prefixes lists (changed "
					 "meanwhile? try again)", r->base, quote(path.buf));
			goto out;
		}
		ret = install_prefix(r, s, p, &buf);
		if (ret)
			goto out;
		ret = remote_put_file(rootfd, infofd, p, buf.buf, buf.len);
		if (ret) {
			ret = error_code(ret, "cannot write '%s/info/names/%s': %s", r->dir, quote(p),
					 cdt_strerror(ret));
			goto out;
		}
	}
	/* Written once every table it lists is in place. */
	ret = remote_put_file(rootfd, rootfd, "info/prefixes", listing.buf, listing.len);
	if (ret) {
		ret = error_code(ret, "cannot write '%s/info/prefixes': %s", r->dir,
				 cdt_strerror(ret));
		goto out;
	}
	/* Prefixes no longer there (pre is sorted, as parsed). */
	if (cdt_list_dir(cdt_store_dirfd(s, CDT_DIR_NAMES), ".", &dents, &nd) == 0) {
		for (k = 0; k < nd; k++) {
			if (!listed_prefix(pre, n, dents[k].name)) {
				remove_tree_at(cdt_store_dirfd(s, CDT_DIR_NAMES), dents[k].name, 0);
				unlinkat(infofd, dents[k].name, 0);
			}
		}
		cdt_dents_free(dents, nd);
	}
	/* names/ follows the tables kept again: the marks are dealt with. */
	cdt_info_marks_remove(s, marks, nmarks);
out:
	cdt_dents_free(marks, nmarks);
	if (infofd >= 0)
		close(infofd);
	cdt_info_prefixes_free(pre, n);
	strbuf_release(&buf);
	strbuf_release(&why);
	strbuf_release(&path);
	strbuf_release(&have);
	strbuf_release(&listing);
	return ret;
}
