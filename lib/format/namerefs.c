/* namerefs.c: name records (manifest -> names) and the one walk over refs/names/. */
#include "format/namerefs.h"
#include "base/fsutil.h"
#include "format/names.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* refs/names/XX/<62 hex>/<sha256(name)> */
static void nameref_dir(const struct cdt_id *m, char *buf)
{
	memcpy(buf, "names/", 6);
	cdt_id_path(m, buf + 6);
}

static void nameref_file(const char *name, char *buf)
{
	struct cdt_id h;

	cdt_hash(name, strlen(name), &h);
	cdt_id_to_hex(&h, buf);
}

int cdt_nameref_stage(struct cdt_store *s, const char *name, struct strbuf *tmpname)
{
	int tmpfd = cdt_store_dirfd(s, CDT_DIR_TMP);
	int fd, ret;

	fd = tmpfile_openat(tmpfd, "nameref", tmpname);
	if (fd < 0)
		return fd;
	ret = write_all(fd, name, strlen(name));
	close(fd);
	if (ret)
		unlinkat(tmpfd, tmpname->buf, 0);
	return ret;
}

static int nameref_install(struct cdt_store *s, const struct cdt_id *m, const char *name,
			   const char *tmpname, int sync)
{
	int refsfd = cdt_store_dirfd(s, CDT_DIR_REFS), tmpfd = cdt_store_dirfd(s, CDT_DIR_TMP);
	char dir[6 + CDT_ID_HEXLEN + 2], file[CDT_ID_HEXLEN + 1];
	int dfd, ret = 0;

	nameref_dir(m, dir);
	nameref_file(name, file);
	dfd = openat_beneath(refsfd, dir, O_RDONLY | O_DIRECTORY, 0);
	if (dfd == -ENOENT) {
		ret = mkdirat_p_flags(refsfd, dir, sync);
		if (ret < 0)
			goto out;
		dfd = openat_beneath(refsfd, dir, O_RDONLY | O_DIRECTORY, 0);
	}
	if (dfd < 0) {
		ret = dfd;
		goto out;
	}
	if (faccessat(dfd, file, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		close(dfd);
		goto out;	/* recorded already */
	}
	if (renameat(tmpfd, tmpname, dfd, file) < 0)
		ret = -errno;
	else if (sync && fsync(dfd) < 0)
		ret = -errno;
	close(dfd);
	return ret;
out:
	unlinkat(tmpfd, tmpname, 0);
	return ret;
}

int cdt_nameref_put(struct cdt_store *s, const struct cdt_id *m, const char *name)
{
	int refsfd = cdt_store_dirfd(s, CDT_DIR_REFS);
	char dir[6 + CDT_ID_HEXLEN + 2], file[CDT_ID_HEXLEN + 1];
	int dfd, fd, ret;

	nameref_dir(m, dir);
	nameref_file(name, file);
	dfd = openat_beneath(refsfd, dir, O_RDONLY | O_DIRECTORY, 0);
	if (dfd == -ENOENT) {
		ret = mkdirat_p_flags(refsfd, dir, 0);
		if (ret < 0)
			return ret;
		dfd = openat_beneath(refsfd, dir, O_RDONLY | O_DIRECTORY, 0);
	}
	if (dfd < 0)
		return dfd;
	fd = openat(dfd, file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (fd < 0) {
		ret = errno == EEXIST ? 0 : -errno;	/* recorded already */
		close(dfd);
		return ret;
	}
	ret = write_all(fd, name, strlen(name));
	close(fd);
	if (ret)
		unlinkat(dfd, file, 0);
	close(dfd);
	return ret;
}

int cdt_nameref_install(struct cdt_store *s, const struct cdt_id *m, const char *name,
			const char *tmpname)
{
	return nameref_install(s, m, name, tmpname, 0);
}

int cdt_nameref_add(struct cdt_store *s, const struct cdt_id *m, const char *name)
{
	struct strbuf tmpname = STRBUF_INIT;
	int ret;

	ret = cdt_nameref_stage(s, name, &tmpname);
	if (!ret)
		ret = tmpfile_sync(cdt_store_dirfd(s, CDT_DIR_TMP), tmpname.buf);
	if (!ret)
		ret = nameref_install(s, m, name, tmpname.buf, 1);
	strbuf_release(&tmpname);
	return ret;
}

int cdt_nameref_remove(struct cdt_store *s, const struct cdt_id *m, const char *name)
{
	int refsfd = cdt_store_dirfd(s, CDT_DIR_REFS);
	char dir[6 + CDT_ID_HEXLEN + 2], file[CDT_ID_HEXLEN + 1];
	int dfd, ret = 0;

	nameref_dir(m, dir);
	nameref_file(name, file);
	dfd = openat_beneath(refsfd, dir, O_RDONLY | O_DIRECTORY, 0);
	if (dfd == -ENOENT || dfd == -ENOTDIR)
		return 0;
	if (dfd < 0)
		return dfd;
	if (unlinkat(dfd, file, 0) < 0 && errno != ENOENT)
		ret = -errno;
	else if (fsync(dfd) < 0)
		ret = -errno;
	close(dfd);
	/* Drop the directory when it was the last record (fails harmlessly if not). */
	if (!ret)
		unlinkat(refsfd, dir, AT_REMOVEDIR);
	return ret;
}

int cdt_nameref_list(struct cdt_store *s, const struct cdt_id *m, cdt_nameref_fn fn, void *data)
{
	int refsfd = cdt_store_dirfd(s, CDT_DIR_REFS);
	char dir[6 + CDT_ID_HEXLEN + 2];
	struct strbuf sb = STRBUF_INIT;
	struct cdt_dent *ents;
	size_t n, i;
	int dfd, ret;

	nameref_dir(m, dir);
	dfd = openat_beneath(refsfd, dir, O_RDONLY | O_DIRECTORY, 0);
	if (dfd == -ENOENT || dfd == -ENOTDIR)
		return 0;
	if (dfd < 0)
		return dfd;
	ret = cdt_list_dir(dfd, ".", &ents, &n);
	for (i = 0; !ret && i < n; i++) {
		char file[CDT_ID_HEXLEN + 1];
		struct strbuf why = STRBUF_INIT;
		int r;

		if (ents[i].name[0] == '.')
			continue;
		r = read_small_fileat(dfd, ents[i].name, CDT_NAME_MAX, &sb);
		/* A record must hold a valid name and sit where that name's hash says. */
		if (!r && (strlen(sb.buf) != sb.len || cdt_name_check(sb.buf, &why) < 0))
			r = -CDT_ECORRUPT;
		if (!r) {
			nameref_file(sb.buf, file);
			if (strcmp(file, ents[i].name))
				r = -CDT_ECORRUPT;
		}
		strbuf_release(&why);
		if (r < 0)
			ret = fn(NULL, r, data);
		else
			ret = fn(sb.buf, 0, data);
	}
	cdt_dents_free(ents, n);
	close(dfd);
	strbuf_release(&sb);
	return ret;
}

int cdt_nameref_walk(struct cdt_store *s, const struct cdt_nameref_walker *w)
{
	int refsfd = cdt_store_dirfd(s, CDT_DIR_REFS);
	struct cdt_dent *xx = NULL, *ms, *files;
	size_t nxx = 0, nms, nfiles, i, j, k;
	int ret;

	ret = cdt_list_dir(refsfd, "names", &xx, &nxx);
	if (ret == -ENOENT)
		return 0;
	if (ret < 0)
		return ret;
	for (i = 0; i < nxx && !ret; i++) {
		char *xdir = xstrfmt("names/%s", xx[i].name);

		if (!cdt_is_hex(xx[i].name, 2) || xx[i].type != DT_DIR) {
			if (w->stray)
				ret = w->stray(refsfd, xdir, xdir, "not a fan-out directory", w->data);
			free(xdir);
			continue;
		}
		if ((ret = cdt_list_dir(refsfd, xdir, &ms, &nms)) < 0) {
			if (w->unlisted)
				w->unlisted(xdir, ret, w->data);
			ret = 0;
			free(xdir);
			continue;
		}
		for (j = 0; j < nms && !ret; j++) {
			char *mdir = xstrfmt("%s/%s", xdir, ms[j].name);
			char hex[CDT_ID_HEXLEN + 1];
			struct cdt_nameref_visit v;
			int dfd;

			if (!cdt_is_hex(ms[j].name, CDT_ID_HEXLEN - 2) || ms[j].type != DT_DIR) {
				if (w->stray)
					ret = w->stray(refsfd, mdir, mdir,
						       "not a manifest's directory of records", w->data);
				free(mdir);
				continue;
			}
			memcpy(hex, xx[i].name, 2);
			memcpy(hex + 2, ms[j].name, CDT_ID_HEXLEN - 2);
			hex[CDT_ID_HEXLEN] = '\0';
			cdt_id_from_hex(hex, &v.manifest);
			dfd = openat(refsfd, mdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (dfd < 0 || cdt_list_dir(dfd, ".", &files, &nfiles) < 0) {
				if (w->unlisted)
					w->unlisted(mdir, dfd < 0 ? -errno : -EIO, w->data);
				nfiles = 0;
				files = NULL;
			}
			for (k = 0; k < nfiles && !ret; k++) {
				char *path = xstrfmt("%s/%s", mdir, files[k].name);

				if (!cdt_is_hex(files[k].name, CDT_ID_HEXLEN)) {
					if (w->stray)
						ret = w->stray(dfd, files[k].name, path, "not a name record",
							       w->data);
				} else {
					cdt_id_from_hex(files[k].name, &v.name_hash);
					v.dirfd = dfd;
					v.file = files[k].name;
					v.path = path;
					ret = w->record(&v, w->data);
				}
				free(path);
			}
			cdt_dents_free(files, nfiles);
			if (dfd >= 0)
				close(dfd);
			if (w->prune)	/* fails, harmlessly, unless now empty */
				unlinkat(refsfd, mdir, AT_REMOVEDIR);
			free(mdir);
		}
		cdt_dents_free(ms, nms);
		if (w->prune)
			unlinkat(refsfd, xdir, AT_REMOVEDIR);
		free(xdir);
	}
	cdt_dents_free(xx, nxx);
	return ret;
}
