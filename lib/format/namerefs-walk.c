/* namerefs-walk.c: name records of the old layout, the walk over refs/names/, and dropping records. */
#include "format/namerefs.h"
#include "format/namerefs-internal.h"
#include "base/fsutil.h"
#include "format/names.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the old layout: refs/names/XX/<62 hex>/<64 hex> ---- */

void nr_old_dir(const struct cdt_id *m, char *buf)
{
	cdt_id_path(m, buf);
}

static void old_file(const char *name, char *buf)
{
	struct cdt_id h;

	cdt_hash(name, strlen(name), &h);
	cdt_id_to_hex(&h, buf);
}

/* Read an old-layout record: 0 with its name in sb, or -CDT_ECORRUPT / -errno. */
int nr_old_read(int dfd, const char *file, struct strbuf *sb)
{
	struct strbuf why = STRBUF_INIT;
	char hex[CDT_ID_HEXLEN + 1];
	int r = read_small_fileat(dfd, file, CDT_NAME_MAX, sb);

	/* A record must hold a valid name and sit where that name's hash says. */
	if (!r && (strlen(sb->buf) != sb->len || cdt_name_check(sb->buf, &why) < 0))
		r = -CDT_ECORRUPT;
	if (!r) {
		old_file(sb->buf, hex);
		if (strcmp(hex, file))
			r = -CDT_ECORRUPT;
	}
	strbuf_release(&why);
	return r;
}

int cdt_nameref_remove(struct cdt_store *s, const struct cdt_id *m, const char *name)
{
	char dir[CDT_ID_HEXLEN + 2], file[CDT_ID_HEXLEN + 1];
	int namesfd, dfd, ret = 0;

	namesfd = nr_open_dir(s, 0);
	if (namesfd == -ENOENT || namesfd == -ENOTDIR)
		return 0;
	if (namesfd < 0)
		return namesfd;
	nr_old_dir(m, dir);
	old_file(name, file);
	dfd = openat_beneath(namesfd, dir, O_RDONLY | O_DIRECTORY, 0);
	if (dfd == -ENOENT || dfd == -ENOTDIR) {
		close(namesfd);
		return 0;
	}
	if (dfd < 0) {
		close(namesfd);
		return dfd;
	}
	if (unlinkat(dfd, file, 0) < 0) {
		if (errno != ENOENT)
			ret = -errno;
	} else if (fsync(dfd) < 0) {
		ret = -errno;
	}
	close(dfd);
	/* Drop the directory when it was the last record (fails harmlessly if not). */
	if (!ret)
		unlinkat(namesfd, dir, AT_REMOVEDIR);
	close(namesfd);
	return ret;
}

/* ---- the walk, and dropping records ---- */

/*
 * The old layout, in order: rec() gets each record (its directory fd and
 * file name too), stray() anything else. Returns rec()'s or stray()'s
 * non-zero value, or 0.
 */
typedef int (*old_rec_fn)(const struct cdt_nameref_visit *v, int dfd, const char *file,
			  void *data);
static int old_walk(int namesfd, old_rec_fn rec,
		    int (*stray)(int dirfd, const char *file, const char *path, const char *why,
				 void *data),
		    void (*unlisted)(const char *path, int err, void *data), void *cb_data, int prune,
		    void *data)
{
	struct cdt_dent *xx = NULL, *ms, *files;
	struct strbuf sb = STRBUF_INIT;
	size_t nxx = 0, nms, nfiles, i, j, k;
	int ret;

	ret = cdt_list_dir(namesfd, ".", &xx, &nxx);
	if (ret < 0)
		return ret;
	for (i = 0; i < nxx && !ret; i++) {
		const char *xdir = xx[i].name;

		if (xx[i].type != DT_DIR || strlen(xdir) != 2 || !cdt_is_hex(xdir, 2))
			continue;	/* tables and strays: nr_load_tables() */
		if ((ret = cdt_list_dir(namesfd, xdir, &ms, &nms)) < 0) {
			char *p = xstrfmt("names/%s", xdir);

			if (unlisted)
				unlisted(p, ret, cb_data);
			free(p);
			ret = 0;
			continue;
		}
		for (j = 0; j < nms && !ret; j++) {
			char *mdir = xstrfmt("%s/%s", xdir, ms[j].name);
			char *mpath = xstrfmt("names/%s", mdir);
			char hex[CDT_ID_HEXLEN + 1];
			struct cdt_nameref_visit v;
			int dfd;

			if (!cdt_is_hex(ms[j].name, CDT_ID_HEXLEN - 2) ||
			    strlen(ms[j].name) != CDT_ID_HEXLEN - 2 || ms[j].type != DT_DIR) {
				if (stray)
					ret = stray(namesfd, mdir, mpath,
						    "not a manifest's directory of records", cb_data);
				free(mdir);
				free(mpath);
				continue;
			}
			memcpy(hex, xdir, 2);
			memcpy(hex + 2, ms[j].name, CDT_ID_HEXLEN - 2);
			hex[CDT_ID_HEXLEN] = '\0';
			cdt_id_from_hex(hex, &v.manifest);
			dfd = openat(namesfd, mdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (dfd < 0 || cdt_list_dir(dfd, ".", &files, &nfiles) < 0) {
				if (unlisted)
					unlisted(mpath, dfd < 0 ? -errno : -EIO, cb_data);
				nfiles = 0;
				files = NULL;
			}
			for (k = 0; k < nfiles && !ret; k++) {
				char *path = xstrfmt("%s/%s", mpath, files[k].name);

				if (!cdt_is_hex(files[k].name, CDT_ID_HEXLEN) ||
				    strlen(files[k].name) != CDT_ID_HEXLEN) {
					if (stray)
						ret = stray(dfd, files[k].name, path,
							    "not a name record", cb_data);
				} else {
					cdt_id_from_hex(files[k].name, &v.name_hash);
					v.err = nr_old_read(dfd, files[k].name, &sb);
					v.name = v.err ? NULL : sb.buf;
					v.path = path;
					v.in_table = 0;
					ret = rec(&v, dfd, files[k].name, data);
				}
				free(path);
			}
			cdt_dents_free(files, nfiles);
			if (dfd >= 0)
				close(dfd);
			if (prune)	/* fails, harmlessly, unless now empty */
				unlinkat(namesfd, mdir, AT_REMOVEDIR);
			free(mdir);
			free(mpath);
		}
		cdt_dents_free(ms, nms);
		if (prune)
			unlinkat(namesfd, xdir, AT_REMOVEDIR);
	}
	cdt_dents_free(xx, nxx);
	strbuf_release(&sb);
	return ret;
}

static int walk_old_rec(const struct cdt_nameref_visit *v, int dfd, const char *file, void *data)
{
	const struct cdt_nameref_walker *w = data;

	(void)dfd;
	(void)file;
	return w->record(v, w->data);
}

int cdt_nameref_walk(struct cdt_store *s, const struct cdt_nameref_walker *w)
{
	struct cdt_namerefs r = { .store = s };
	struct strbuf name = STRBUF_INIT, path = STRBUF_INIT;
	size_t i;
	uint64_t k;
	int ret;

	ret = nr_load_tables(&r, 0, w->bad_table, w->stray, w->data);
	for (i = 0; !ret && i < r.ntables; i++) {
		for (k = 0; !ret && k < r.tables[i].n; k++) {
			struct cdt_nameref_visit v;

			nr_visit(&r.tables[i], k, &name, &path, &v);
			ret = w->record(&v, w->data);
		}
	}
	if (!ret && r.namesfd >= 0)
		ret = old_walk(r.namesfd, walk_old_rec, w->stray, w->unlisted, w->data, 0, (void *)w);
	nr_release(&r);
	strbuf_release(&name);
	strbuf_release(&path);
	return ret;
}

struct filter {
	const struct cdt_idset *only;
	cdt_nameref_keep_fn keep;
	void *data;
	unsigned flags;
	uint64_t dropped, bad;
	struct cdt_nameref_writer *convert;
	/* old-layout files moved into `convert`, removed once it is written */
	struct strbuf moved;	/* "XX/<62 hex>/<64 hex>\0" ... */
	struct cdt_namerefs *r;	/* the tables (for their directory) */
};

static int filter_keeps(struct filter *fl, const struct cdt_nameref_visit *v)
{
	if (fl->only && !cdt_idset_has(fl->only, &v->manifest))
		return 1;
	return fl->keep(v, fl->data);
}

static int filter_old_rec(const struct cdt_nameref_visit *v, int dfd, const char *file, void *data)
{
	struct filter *fl = data;
	int keep = filter_keeps(fl, v);

	if (keep && !(fl->flags & CDT_NAMEREF_CONVERT))
		return 0;
	if (keep && v->name) {
		cdt_nameref_writer_add(fl->convert, &v->manifest, v->name);
		/* v->path is names/XX/<62>/<64>: keep what follows "names/" */
		strbuf_add(&fl->moved, v->path + 6, strlen(v->path + 6) + 1);
		return 0;
	}
	if (keep)
		return 0;	/* unreadable, but kept: left where it is */
	fl->dropped++;
	if (!(fl->flags & CDT_NAMEREF_DRY_RUN))
		unlinkat(dfd, file, 0);
	return 0;
}

/* Write table t again without the records fl drops (each asked about once). 0 or -errno. */
static int filter_table(struct cdt_store *s, int namesfd, const struct table *t, struct filter *fl)
{
	struct strbuf name = STRBUF_INIT, path = STRBUF_INIT;
	struct cdt_nameref_writer *w = cdt_nameref_writer_new(s);
	uint64_t k, drop = 0;
	int ret = 0;

	for (k = 0; k < t->n; k++) {
		struct cdt_nameref_visit v;

		nr_visit(t, k, &name, &path, &v);
		if (filter_keeps(fl, &v))
			nr_writer_add_len(w, &v.manifest, v.name, name.len);
		else
			drop++;
	}
	fl->dropped += drop;
	if (drop && !(fl->flags & CDT_NAMEREF_DRY_RUN)) {
		/* The table written again is durable before the old one goes. */
		ret = cdt_nameref_writer_commit(w, 1);
		if (!ret && unlinkat(namesfd, t->file, 0) < 0 && errno != ENOENT)
			ret = -errno;
	}
	cdt_nameref_writer_free(w);
	strbuf_release(&name);
	strbuf_release(&path);
	return ret;
}

/* A table that cannot be used goes (its records are lost: fsck --rebuild-refs writes them again). */
static void filter_bad_table(const char *path, int err, const char *why, void *data)
{
	struct filter *fl = data;

	(void)why;
	if (err != -CDT_ECORRUPT)
		return;
	fl->bad++;
	if (!(fl->flags & CDT_NAMEREF_DRY_RUN))
		unlinkat(fl->r->namesfd, path + strlen("names/"), 0);
}

int cdt_nameref_filter(struct cdt_store *s, const struct cdt_idset *only, cdt_nameref_keep_fn keep,
		       void *data, unsigned flags, uint64_t *dropped, uint64_t *bad)
{
	struct cdt_namerefs r = { .store = s };
	struct filter fl = { only, keep, data, flags, 0, 0, NULL, STRBUF_INIT, NULL };
	size_t i;
	int ret, err = 0;

	fl.r = &r;
	ret = nr_load_tables(&r, 0, flags & CDT_NAMEREF_DROP_BAD ? filter_bad_table : NULL, NULL, &fl);
	for (i = 0; !ret && i < r.ntables; i++) {
		int e = filter_table(s, r.namesfd, &r.tables[i], &fl);

		if (e < 0 && !err)
			err = e;
	}
	if (!ret && r.namesfd >= 0) {
		fl.convert = cdt_nameref_writer_new(s);
		ret = old_walk(r.namesfd, filter_old_rec, NULL, NULL, NULL,
			       !(flags & CDT_NAMEREF_DRY_RUN), &fl);
		if (!ret && !(flags & CDT_NAMEREF_DRY_RUN) && cdt_nameref_writer_count(fl.convert)) {
			/* The records moved are in a durable table before their files go. */
			ret = cdt_nameref_writer_commit(fl.convert, 1);
			for (i = 0; !ret && i < fl.moved.len; i += strlen(fl.moved.buf + i) + 1) {
				char *slash;

				unlinkat(r.namesfd, fl.moved.buf + i, 0);
				slash = strrchr(fl.moved.buf + i, '/');
				*slash = '\0';
				unlinkat(r.namesfd, fl.moved.buf + i, AT_REMOVEDIR);
				*slash = '/';
				slash = strchr(fl.moved.buf + i, '/');
				*slash = '\0';
				unlinkat(r.namesfd, fl.moved.buf + i, AT_REMOVEDIR);
				*slash = '/';
			}
		}
		cdt_nameref_writer_free(fl.convert);
	}
	nr_release(&r);
	strbuf_release(&fl.moved);
	if (dropped)
		*dropped = fl.dropped;
	if (bad)
		*bad = fl.bad;
	return ret < 0 ? ret : err;
}

