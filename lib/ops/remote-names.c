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
#include <stdlib.h>
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

struct prefixes_walk {
	struct remote *r;
	struct cdt_store *s;
	int infofd;
	size_t nmarks;
	/* names/ as it was before: a prefix not listed goes (kept[k] 0) */
	struct cdt_dent *dents;
	size_t nd, next;
	unsigned char *kept;
	int reported;		/* a table failed, and said why */
};

/* One line of info/prefixes: its table in the cache, fetched when it changed. */
static int take_prefix(const struct cdt_info_prefix *px, void *data)
{
	struct prefixes_walk *pw = data;
	struct remote *r = pw->r;
	struct strbuf have = STRBUF_INIT, path = STRBUF_INIT, buf = STRBUF_INIT,
		      why = STRBUF_INIT;
	const char *p = px->prefix;
	struct stat st;
	int kept, ret = 0;

	/* Both sorted by byte order: the entries of names/ before p are not listed. */
	while (pw->next < pw->nd && strcmp(pw->dents[pw->next].name, p) < 0)
		pw->next++;
	if (pw->next < pw->nd && !strcmp(pw->dents[pw->next].name, p))
		pw->kept[pw->next++] = 1;
	/* The table kept from last time, if it is the one listed now. */
	kept = read_small_fileat(pw->infofd, p, (size_t)MIN((uint64_t)WHOLE_MAX, px->bytes),
				 &have) == 0 &&
	       have.len == px->bytes && have.len >= CDT_ID_LEN &&
	       !memcmp(have.buf + have.len - CDT_ID_LEN, px->sum.b, CDT_ID_LEN);
	if (kept && pw->nmarks) {
		ret = install_prefix(r, pw->s, p, &have);
		goto out;
	}
	if (kept &&
	    fstatat(cdt_store_dirfd(pw->s, CDT_DIR_NAMES), p, &st, AT_SYMLINK_NOFOLLOW) == 0)
		goto out;
	strbuf_addf(&path, "info/names/%s", p);
	/* info/prefixes says how big it is: no more is read. */
	ret = remote_get_whole(r, path.buf, (size_t)MIN((uint64_t)WHOLE_MAX, px->bytes), &buf,
			       &why);
	if (ret) {
		ret = error_code(ret, "%s", why.buf);
		goto out;
	}
	if (buf.len != px->bytes || buf.len < CDT_ID_LEN ||
	    memcmp(buf.buf + buf.len - CDT_ID_LEN, px->sum.b, CDT_ID_LEN)) {
		ret = error_code(-CDT_ECORRUPT,
				 "%s/%s is not the table info/prefixes lists (changed "
				 "meanwhile? try again)", r->base, quote(path.buf));
		goto out;
	}
	ret = install_prefix(r, pw->s, p, &buf);
	if (ret)
		goto out;
	ret = remote_put_file(cdt_store_rootfd(pw->s), pw->infofd, p, buf.buf, buf.len);
	if (ret)
		ret = error_code(ret, "cannot write '%s/info/names/%s': %s", r->dir, quote(p),
				 cdt_strerror(ret));
out:
	pw->reported = ret != 0;
	strbuf_release(&have);
	strbuf_release(&path);
	strbuf_release(&buf);
	strbuf_release(&why);
	return ret;
}

/* info/prefixes, fetched into the file fd: every table it lists in the cache. */
static int walk_prefixes(int fd, void *data)
{
	struct prefixes_walk *pw = data;
	struct strbuf why = STRBUF_INIT;
	int ret = cdt_info_prefixes_walk_fd(fd, take_prefix, pw, &why);

	if (ret && !pw->reported) {
		if (ret == -CDT_ECORRUPT)
			ret = error_code(ret, "%s/info/prefixes is damaged: %s", pw->r->base,
					 why.buf);
		else
			ret = error_code(ret, "cannot read '%s/info/prefixes' fetched to '%s/tmp': "
					 "%s", pw->r->base, pw->r->dir, cdt_strerror(ret));
		pw->reported = 1;
	}
	strbuf_release(&why);
	return ret;
}

/*
 * names/ of the cache as info/prefixes says: tables that changed are
 * fetched (checked against the sums listed) and their trees rebuilt;
 * prefixes no longer listed go. The tables fetched are kept in
 * info/names/ of the cache, so that an unchanged one is not fetched again.
 * info/prefixes is read from a file, in steps: a server can send any size.
 */
int remote_refresh_names(struct remote *r, struct cdt_store *s)
{
	struct prefixes_walk pw = { r, s, -1, 0, NULL, 0, 0, NULL, 0 };
	struct strbuf why = STRBUF_INIT;
	int rootfd = cdt_store_rootfd(s), namesfd = cdt_store_dirfd(s, CDT_DIR_NAMES), ret;
	struct cdt_dent *marks = NULL;
	size_t k;

	/*
	 * A push stopped in the cache between its names and its tables left
	 * names/ ahead of the tables kept, which are the remote's: every
	 * prefix is then built again from them, or names the remote store
	 * lacks would be listed, and taken by the next push as sent.
	 */
	pw.nmarks = cdt_info_dead_marks(s, &marks);
	if ((ret = mkdirat_p_flags(rootfd, "info/names", 0)) < 0 ||
	    (pw.infofd = openat(rootfd, "info/names", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		ret = error_code(ret < 0 ? ret : -errno, "cannot create '%s/info/names': %s",
				 r->dir, cdt_strerror(ret < 0 ? ret : errno));
		goto out;
	}
	if (cdt_list_dir(namesfd, ".", &pw.dents, &pw.nd) < 0)
		pw.nd = 0;	/* then none is removed */
	pw.kept = xcalloc(pw.nd ? pw.nd : 1, 1);
	/* Written to the cache once every table it lists is in place. */
	ret = remote_get_info(r, rootfd, "info/prefixes", walk_prefixes, &pw, &why);
	if (ret) {
		if (!pw.reported)
			ret = error_code(ret, "%s", why.buf);
		goto out;
	}
	/* Prefixes no longer there. */
	for (k = 0; k < pw.nd; k++) {
		if (!pw.kept[k]) {
			remove_tree_at(namesfd, pw.dents[k].name, 0);
			unlinkat(pw.infofd, pw.dents[k].name, 0);
		}
	}
	/* names/ follows the tables kept again: the marks are dealt with. */
	cdt_info_marks_remove(s, marks, pw.nmarks);
out:
	cdt_dents_free(marks, pw.nmarks);
	cdt_dents_free(pw.dents, pw.nd);
	free(pw.kept);
	if (pw.infofd >= 0)
		close(pw.infofd);
	strbuf_release(&why);
	return ret;
}
