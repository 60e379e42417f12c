/* repair-names.c: damaged name entries written back from their copies in info/names/, when those are known to be current. */
#include "ops/repair-internal.h"
#include "base/util.h"
#include "format/info.h"
#include "format/manifest.h"
#include "format/names.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct damaged {
	char **v;
	size_t n, alloc;
};

/* A cdt_name_fn: the names whose entries are there and fail their checks. */
static int collect_damaged(const char *name, const struct cdt_name_entry *e, int err,
			   const char *why, void *data)
{
	struct damaged *d = data;

	(void)why;
	/* A missing entry is not healed: it cannot be told from a removed name. */
	if (e || err != -CDT_ECORRUPT)
		return 0;
	ALLOC_GROW(d->v, d->n + 1, d->alloc);
	d->v[d->n++] = xstrdup(name);
	return 0;
}

static void said(struct cdt_repair *r, const char *name, const char *from, const char *why)
{
	if (r->opt.name_restored)
		r->opt.name_restored(name, from, why, r->opt.data);
}

/*
 * Is the file where the copy's entry goes there, and damaged? 1; 0 when
 * it reads good (it is left as it is); -ENOENT when nothing is there, or
 * a directory of names (the damaged entry is of another kind than the
 * copy: a file's where a directory's goes, or the other way round); or
 * -errno.
 */
static int entry_damaged(struct cdt_store *s, const struct cdt_name_entry *copy)
{
	struct strbuf path = STRBUF_INIT, why = STRBUF_INIT;
	int namesfd = cdt_store_dirfd(s, CDT_DIR_NAMES), dirfd, ret;
	const char *slash, *base;
	struct stat st;

	strbuf_addstr(&path, copy->name);
	if (copy->type == CDT_NAME_DIR)
		strbuf_addstr(&path, "/" CDT_NAME_DIRENT);
	slash = strrchr(path.buf, '/');
	if (slash) {
		char *dir = xstrndup(path.buf, (size_t)(slash - path.buf));

		dirfd = openat_beneath(namesfd, dir, O_RDONLY | O_DIRECTORY, 0);
		free(dir);
		base = slash + 1;
	} else {
		dirfd = openat(namesfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0)
			dirfd = -errno;
		base = path.buf;
	}
	if (dirfd < 0) {
		ret = dirfd == -ENOTDIR || dirfd == -ELOOP ? -ENOENT : dirfd;
		goto out;
	}
	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		ret = -errno;
	} else if (S_ISDIR(st.st_mode)) {
		ret = -ENOENT;
	} else if (!S_ISREG(st.st_mode)) {
		ret = 1;	/* a symbolic link or special file in names/ is damage */
	} else {
		struct cdt_name_entry *e = xmalloc(sizeof(*e));

		ret = cdt_name_read(s, copy->name, e, &why);
		if (!ret)
			cdt_name_entry_release(e);
		else if (ret == -CDT_ECORRUPT)
			ret = 1;
		free(e);
	}
	close(dirfd);
out:
	strbuf_release(&path);
	strbuf_release(&why);
	return ret;
}

/*
 * Does the entry of `name` now hold exactly raw[0..len)? 0, or -errno
 * (-CDT_ECORRUPT: it reads otherwise), the reason in why.
 */
static int reads_back(struct cdt_store *s, const char *name, const unsigned char *raw, size_t len,
		      struct strbuf *why)
{
	struct cdt_name_entry *e = xmalloc(sizeof(*e));
	struct strbuf back = STRBUF_INIT;
	int ret = cdt_name_read(s, name, e, why);

	if (!ret) {
		cdt_name_encode(e, &back);
		cdt_name_entry_release(e);
		if (back.len != len || memcmp(back.buf, raw, len))
			ret = cdt_corrupt(why, "it is not the entry written");
	}
	strbuf_release(&back);
	free(e);
	return ret;
}

/* A cdt_info_copy_fn: write one damaged entry back from its copy, if it can be. */
static int heal_entry(const char *name, const struct cdt_name_entry *copy,
		      const unsigned char *raw, size_t len, const char *why, void *data)
{
	struct cdt_repair *r = data;
	struct strbuf from = STRBUF_INIT, bad = STRBUF_INIT, enc = STRBUF_INIT;
	struct cdt_name_entry w;
	char hex[CDT_ID_HEXLEN + 1];
	int ret;

	if (!copy) {
		said(r, name, NULL, why);
		return 0;
	}
	strbuf_addstr(&from, "info/names/");
	strbuf_add(&from, name, cdt_info_prefix_len(name));
	if (cdt_name_has_content(copy)) {
		/* The name comes back whole, or not at all. */
		struct cdt_manifest *m = NULL;

		ret = cdt_manifest_open(r->store, &copy->content, &m, NULL);
		if (ret < 0)
			strbuf_addf(&bad, "its copy in %s names manifest %s, which %s", quote(from.buf),
				    cdt_id_to_hex(&copy->content, hex),
				    ret == -ENOENT ? "is missing" : "cannot be read");
		else if (cdt_manifest_size(m) != copy->size)
			strbuf_addf(&bad, "its copy in %s says %llu bytes, its manifest %llu",
				    quote(from.buf), (unsigned long long)copy->size,
				    (unsigned long long)cdt_manifest_size(m));
		cdt_manifest_close(m);
		if (bad.len) {
			said(r, name, NULL, bad.buf);
			goto out;
		}
	}
	ret = entry_damaged(r->store, copy);
	if (ret == 0)
		goto out;	/* good again: nothing to write over */
	if (ret < 0) {
		if (ret == -ENOENT)
			strbuf_addf(&bad, "its copy in %s is of another kind than the entry in names/",
				    quote(from.buf));
		else
			strbuf_addf(&bad, "its entry cannot be looked at (%s)", cdt_strerror(ret));
		said(r, name, NULL, bad.buf);
		goto out;
	}
	/* Written as add writes an entry: what it writes must be the copy, byte for byte. */
	w = *copy;
	cdt_name_encode(&w, &enc);
	if (enc.len != len || memcmp(enc.buf, raw, len)) {
		strbuf_addf(&bad, "its copy in %s is not written as cdt writes it", quote(from.buf));
		said(r, name, NULL, bad.buf);
		goto out;
	}
	/* A temporary file, synced, renamed over the damaged one, its directory synced. */
	ret = cdt_name_write(r->store, &w, 1);
	if (ret < 0) {
		error("cannot write name '%s' from %s: %s", quote(name), quote(from.buf),
		      cdt_strerror(ret));
		r->stats.failed++;
	} else if ((ret = reads_back(r->store, name, raw, len, &bad)) < 0) {
		error("name '%s' still fails after it was written from %s: %s", quote(name),
		      quote(from.buf), bad.len ? bad.buf : cdt_strerror(ret));
		r->stats.failed++;
	} else {
		r->stats.names_restored++;
		said(r, name, from.buf, NULL);
	}
out:
	strbuf_release(&from);
	strbuf_release(&bad);
	strbuf_release(&enc);
	return 0;
}

void repair_heal_names(struct cdt_repair *r)
{
	struct damaged d = { NULL, 0, 0 };
	struct cdt_info *in = NULL;
	size_t i;
	int ret;

	ret = cdt_names_walk(r->store, NULL, collect_damaged, &d);
	if (ret < 0) {
		/* What it found is healed all the same; the check says what it could not read. */
		error("cannot read the names of '%s' to find damaged entries: %s",
		      cdt_store_path(r->store), cdt_strerror(ret));
		r->stats.failed++;
	}
	if (!d.n)
		return;
	r->stats.names_damaged = d.n;
	/*
	 * info/lock (shared) from the decision to the last write: no update
	 * of info/ comes between. The store's lock (exclusive) keeps writers
	 * of names/ out.
	 */
	ret = cdt_info_open_check(r->store, &in);
	if (ret < 0) {
		struct strbuf why = STRBUF_INIT;

		if (ret == -ENOENT)
			strbuf_addstr(&why, "info/names/ holds no copy of it");
		else
			strbuf_addf(&why, "info/ cannot be read (%s)", cdt_strerror(ret));
		for (i = 0; i < d.n; i++)
			said(r, d.v[i], NULL, why.buf);
		strbuf_release(&why);
	} else {
		cdt_info_name_copies(in, (const char *const *)d.v, d.n, heal_entry, r);
		cdt_info_close(in);
	}
	for (i = 0; i < d.n; i++)
		free(d.v[i]);
	free(d.v);
}
