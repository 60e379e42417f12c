/* serverinfo.c: info/ kept up to date with packs/ and names/ (after pack changes, whole by gc and fsck --rebuild-refs), and compared with them by fsck. */
#include "ops/serverinfo.h"
#include "ops/packset.h"
#include "format/config.h"
#include "format/mpack.h"
#include "base/fsutil.h"
#include "base/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct pack_list {
	struct cdt_info_pack *v;
	size_t n, alloc;
	int packsfd;
	/* Packs whose pack file or index is missing (fsck reports them). */
	struct strbuf damaged;
};

static int list_pack(const char *file, const char *pack, enum cdt_pack_file kind, void *data)
{
	struct pack_list *l = data;
	struct cdt_info_pack p;
	struct stat st;
	char path[CDT_ID_HEXLEN + 16];

	(void)file;
	if ((kind == CDT_PACKFILE_NO_INDEX || kind == CDT_PACKFILE_NO_PACK) && pack)
		strbuf_add(&l->damaged, pack, strlen(pack) + 1);
	if (kind != CDT_PACKFILE_PACK || strlen(pack) >= sizeof(p.name))
		return 0;
	memset(&p, 0, sizeof(p));
	memcpy(p.name, pack, strlen(pack) + 1);
	snprintf(path, sizeof(path), "%s.pack", pack);
	if (fstatat(l->packsfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;	/* (removed meanwhile) */
	p.pack_bytes = (uint64_t)st.st_size;
	snprintf(path, sizeof(path), "%s.idx", pack);
	if (fstatat(l->packsfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	p.idx_bytes = (uint64_t)st.st_size;
	ALLOC_GROW(l->v, l->n + 1, l->alloc);
	l->v[l->n++] = p;
	return 0;
}

/* The packs in packs/ (with their indexes), sorted by name. */
static int list_packs(struct cdt_store *s, struct pack_list *l)
{
	memset(l, 0, sizeof(*l));
	strbuf_init(&l->damaged, 0);
	l->packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	return cdt_packs_walk_files(s, list_pack, l);
}

/* Does info/packs hold exactly what these packs make it? */
static int packs_agree(struct cdt_info *in, struct cdt_info_pack *v, size_t n)
{
	struct strbuf want = STRBUF_INIT, have = STRBUF_INIT;
	int same;

	cdt_info_packs_format(v, n, &want);
	same = !cdt_info_read(in, "packs", &have) && have.len == want.len &&
	       !memcmp(have.buf, want.buf, want.len);
	strbuf_release(&want);
	strbuf_release(&have);
	return same;
}

/*
 * info/packs from the listing of packs/, without the pack `except` (NULL:
 * none); only when it differs from what is there, if `if_stale`.
 */
static int write_packs_except(struct cdt_info *in, const char *except, int if_stale)
{
	struct cdt_store *s = cdt_info_store(in);
	struct pack_list l;
	int ret = list_packs(s, &l);
	size_t i, k;

	if (ret < 0) {
		error("cannot list '%s/packs' for info/packs: %s", cdt_store_path(s),
		      cdt_strerror(ret));
	} else {
		for (i = 0, k = 0; i < l.n; i++)
			if (!except || strcmp(l.v[i].name, except))
				l.v[k++] = l.v[i];
		if (!if_stale || !packs_agree(in, l.v, k))
			ret = cdt_info_write_packs(in, l.v, k);
	}
	free(l.v);
	strbuf_release(&l.damaged);
	return ret;
}

/* The manifest packs in manifests/pack/ (none if it is missing), for info/mpacks. */
static int list_mpacks(struct cdt_store *s, struct cdt_info_mpack **out, size_t *n)
{
	int mfd = cdt_store_dirfd(s, CDT_DIR_MANIFESTS), dfd, ret;
	struct cdt_info_mpack *v = NULL;
	struct cdt_dent *d = NULL;
	size_t nd = 0, alloc = 0, i;
	struct stat st;

	*out = NULL;
	*n = 0;
	dfd = openat(mfd, CDT_MPACK_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -errno;
	ret = cdt_list_dir(dfd, ".", &d, &nd);
	for (i = 0; !ret && i < nd; i++) {
		if (!cdt_mpack_name_ok(d[i].name))
			continue;
		if (fstatat(dfd, d[i].name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				ret = -errno;
			continue;	/* (removed meanwhile) */
		}
		ALLOC_GROW(v, *n + 1, alloc);
		snprintf(v[*n].name, sizeof(v[*n].name), "%s", d[i].name);
		v[*n].bytes = (uint64_t)st.st_size;
		(*n)++;
	}
	cdt_dents_free(d, nd);
	close(dfd);
	if (ret) {
		free(v);
		*n = 0;
		return ret;
	}
	*out = v;
	return 0;
}

/* info/mpacks as manifests/pack/ makes it, without `except` (NULL: none). */
static int mpacks_text(struct cdt_store *s, const char *except, struct strbuf *text)
{
	struct cdt_info_mpack *v;
	size_t n, i, k;
	int ret = list_mpacks(s, &v, &n);

	if (ret < 0)
		return ret;
	for (i = 0, k = 0; i < n; i++)
		if (!except || strcmp(v[i].name, except))
			v[k++] = v[i];
	cdt_info_mpacks_format(v, k, text);
	free(v);
	return 0;
}

/* info/mpacks from the listing, without manifest pack `except` (NULL: none), if it differs. */
static int write_mpacks_except(struct cdt_info *in, const char *except)
{
	struct cdt_store *s = cdt_info_store(in);
	struct strbuf want = STRBUF_INIT, have = STRBUF_INIT;
	int ret;

	if (cdt_store_config(s)->format < CDT_FORMAT_MPACKS)
		return 0;
	ret = mpacks_text(s, except, &want);
	if (ret < 0)
		error("cannot list '%s/manifests/%s' for info/mpacks: %s", cdt_store_path(s),
		      CDT_MPACK_DIR, cdt_strerror(ret));
	else if (cdt_info_read(in, "mpacks", &have) || have.len != want.len ||
		 memcmp(have.buf, want.buf, want.len))
		ret = cdt_info_write_mpacks(in, &want);
	strbuf_release(&want);
	strbuf_release(&have);
	return ret;
}

int cdt_serverinfo_write_packs(struct cdt_info *in)
{
	return write_packs_except(in, NULL, 0);
}

int cdt_serverinfo_write_packs_if_stale(struct cdt_info *in)
{
	int ret = write_packs_except(in, NULL, 1);

	return ret ? ret : write_mpacks_except(in, NULL);
}

/* A failed update of info/ (ret), said as a warning: derived data, written whole by gc and --rebuild-refs. */
static void said_stale(struct cdt_store *s, int ret)
{
	if (ret)
		warning("info/ of '%s' is stale ('cdt fsck --rebuild-refs' writes it again)",
			cdt_store_path(s));
}

/*
 * info/packs written again as packs come and go: derived data, which gc
 * and fsck --rebuild-refs write whole, so what goes wrong here is said in
 * warnings, never an "error:" from a command that succeeds.
 */
int cdt_serverinfo_unlist_pack(struct cdt_store *s, const char *name)
{
	struct cdt_info *in;
	int was = cdt_errors_as_warnings(1);
	int ret = cdt_info_open(s, &in);

	if (!ret) {
		ret = write_packs_except(in, name, 0);
		cdt_info_close(in);
	}
	said_stale(s, ret);
	cdt_errors_as_warnings(was);
	return ret;
}

int cdt_serverinfo_unlist_mpack(struct cdt_store *s, const char *name)
{
	struct cdt_info *in;
	int was = cdt_errors_as_warnings(1);
	int ret = cdt_info_open(s, &in);

	if (!ret) {
		ret = write_mpacks_except(in, name);
		cdt_info_close(in);
	}
	said_stale(s, ret);
	cdt_errors_as_warnings(was);
	return ret;
}

/* info/packs, and the rest of info/ if `whole` or it is incomplete, with info/ open. */
static int update_open(struct cdt_info *in, int whole)
{
	int ret;

	if (!whole && cdt_info_is_new(in))
		whole = 1;
	ret = cdt_serverinfo_write_packs(in);
	if (!ret)
		ret = write_mpacks_except(in, NULL);
	if (!ret && whole)
		ret = cdt_info_names_rebuild(in);
	return ret;
}

static int update(struct cdt_store *s, int whole)
{
	struct cdt_info *in;
	int ret = cdt_info_open(s, &in);

	if (ret)
		return ret;
	ret = update_open(in, whole);
	cdt_info_close(in);
	return ret;
}

int cdt_serverinfo_packs(struct cdt_store *s)
{
	int was = cdt_errors_as_warnings(1);
	int ret = update(s, 0);

	said_stale(s, ret);
	cdt_errors_as_warnings(was);
	return ret;
}

int cdt_serverinfo_packs_settle(struct cdt_store *s)
{
	int was = cdt_errors_as_warnings(1);
	struct cdt_info *in;
	int ret = cdt_info_open(s, &in);

	if (!ret) {
		ret = cdt_serverinfo_write_packs_if_stale(in);
		if (!ret && cdt_info_is_new(in))
			ret = cdt_info_names_rebuild(in);
		cdt_info_close(in);
	}
	said_stale(s, ret);
	cdt_errors_as_warnings(was);
	return ret;
}

struct cdt_info *cdt_serverinfo_packs_begin(struct cdt_store *s)
{
	int was = cdt_errors_as_warnings(1);
	struct cdt_info *in;

	if (cdt_info_open(s, &in) < 0)
		in = NULL;
	cdt_errors_as_warnings(was);
	return in;
}

int cdt_serverinfo_packs_end(struct cdt_store *s, struct cdt_info *in, int changed)
{
	int was = cdt_errors_as_warnings(1);
	int ret = !changed ? 0 : in ? update_open(in, 0) : -EIO;

	said_stale(s, ret);
	cdt_errors_as_warnings(was);
	cdt_info_close(in);
	return ret;
}

int cdt_serverinfo_rebuild(struct cdt_store *s)
{
	return update(s, 1);
}

/* Checking */

struct check {
	struct cdt_info *in;
	cdt_serverinfo_fn fn;
	void *data;
	char **seen;		/* prefixes that have names (in the walk's order) */
	int changing;		/* a writer's tables wait (cdt_info_changing()) */
	size_t nseen, aseen;
	struct strbuf path, file, msg;
};

static void differ(struct check *c, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void differ(struct check *c, const char *file, const char *fmt, ...)
{
	va_list ap;

	strbuf_reset(&c->msg);
	va_start(ap, fmt);
	strbuf_vaddf(&c->msg, fmt, ap);
	va_end(ap);
	c->fn(file, c->msg.buf, c->data);
}

static int listed_damaged(const struct pack_list *l, const char *name)
{
	size_t off;

	for (off = 0; off < l->damaged.len; off += strlen(l->damaged.buf + off) + 1)
		if (!strcmp(l->damaged.buf + off, name))
			return 1;
	return 0;
}

static int cmp_pack(const void *a, const void *b)
{
	return strcmp(((const struct cdt_info_pack *)a)->name, ((const struct cdt_info_pack *)b)->name);
}

static void check_packs(struct check *c, struct cdt_store *s)
{
	struct strbuf text = STRBUF_INIT, why = STRBUF_INIT;
	struct cdt_info_pack *v = NULL;
	struct pack_list l;
	size_t n = 0, i, j;
	int ret = cdt_info_read(c->in, "packs", &text);

	if (ret == -ENOENT) {
		differ(c, "info/packs", "missing");
		goto out;
	} else if (ret) {
		differ(c, "info/packs", "cannot be read: %s", cdt_strerror(ret));
		goto out;
	}
	if (cdt_info_packs_parse(text.buf, text.len, &v, &n, &why)) {
		differ(c, "info/packs", "%s", why.buf);
		goto out;
	}
	if (list_packs(s, &l) < 0) {
		free(l.v);
		strbuf_release(&l.damaged);
		goto out;	/* (fsck reports packs/ it cannot list) */
	}
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), cmp_pack);
	for (i = 0, j = 0; i < n || j < l.n;) {
		int cmp = i == n ? 1 : j == l.n ? -1 : strcmp(v[i].name, l.v[j].name);

		if (cmp < 0 && listed_damaged(&l, v[i].name))
			i++;	/* its pack file or index is missing: reported as damage */
		else if (cmp < 0)
			differ(c, "info/packs", "lists %s, which is not in packs/", v[i++].name);
		else if (cmp > 0)
			differ(c, "info/packs", "does not list %s", l.v[j++].name);
		else {
			if (v[i].pack_bytes != l.v[j].pack_bytes || v[i].idx_bytes != l.v[j].idx_bytes)
				differ(c, "info/packs",
				       "gives %s as %llu and %llu bytes; its pack and index have %llu and %llu",
				       v[i].name, (unsigned long long)v[i].pack_bytes,
				       (unsigned long long)v[i].idx_bytes,
				       (unsigned long long)l.v[j].pack_bytes,
				       (unsigned long long)l.v[j].idx_bytes);
			i++;
			j++;
		}
	}
	free(l.v);
	strbuf_release(&l.damaged);
out:
	free(v);
	strbuf_release(&text);
	strbuf_release(&why);
}

static void check_mpacks(struct check *c, struct cdt_store *s)
{
	struct strbuf want = STRBUF_INIT, have = STRBUF_INIT, why = STRBUF_INIT;
	struct cdt_info_mpack *v = NULL;
	size_t n = 0;
	int ret;

	if (cdt_store_config(s)->format < CDT_FORMAT_MPACKS || mpacks_text(s, NULL, &want) < 0)
		goto out;	/* (fsck reports manifests/pack/ it cannot list) */
	ret = cdt_info_read(c->in, "mpacks", &have);
	if (ret == -ENOENT)
		differ(c, "info/mpacks", "missing");
	else if (ret)
		differ(c, "info/mpacks", "cannot be read: %s", cdt_strerror(ret));
	else if (cdt_info_mpacks_parse(have.buf, have.len, &v, &n, &why))
		differ(c, "info/mpacks", "%s", why.buf);
	else if (have.len != want.len || memcmp(have.buf, want.buf, want.len))
		differ(c, "info/mpacks", "does not list the manifest packs of manifests/%s",
		       CDT_MPACK_DIR);
out:
	free(v);
	strbuf_release(&want);
	strbuf_release(&have);
	strbuf_release(&why);
}

static int ignore_entry(const struct cdt_name_entry *e, const unsigned char *raw, size_t len,
			void *data)
{
	(void)e;
	(void)raw;
	(void)len;
	(void)data;
	return 0;
}

static int check_table(const char *prefix, const unsigned char *table, size_t len, void *data)
{
	struct check *c = data;
	struct strbuf have = STRBUF_INIT, why = STRBUF_INIT;
	int ret;

	ALLOC_GROW(c->seen, c->nseen + 1, c->aseen);
	c->seen[c->nseen++] = xstrdup(prefix);
	strbuf_reset(&c->path);
	strbuf_addf(&c->path, "names/%s", prefix);
	strbuf_reset(&c->file);
	strbuf_addf(&c->file, "info/names/%s", prefix);
	if (!table)
		return 0;	/* a damaged name under it: reported as such */
	ret = cdt_info_read(c->in, c->path.buf, &have);
	/*
	 * A writer at work adds names before their tables (an add writes
	 * them when it ends): a table it has not made yet, or one that
	 * checks but lacks its names, is not stale. A damaged one is.
	 */
	if (ret == -ENOENT && !c->changing)
		differ(c, c->file.buf, "missing (names under '%s' exist)", prefix);
	else if (ret && ret != -ENOENT)
		differ(c, c->file.buf, "cannot be read: %s", cdt_strerror(ret));
	else if (!ret && (have.len != len || memcmp(have.buf, table, len)) &&
		 (cdt_info_names_parse((const unsigned char *)have.buf, have.len, prefix,
				       ignore_entry, NULL, &why) || !c->changing))
		differ(c, c->file.buf, "does not hold the entries under '%s' (%s)", prefix,
		       why.len ? why.buf : "stale");
	strbuf_release(&have);
	strbuf_release(&why);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Tables no name needs, and info/prefixes against the tables there are. */
static void check_listing(struct check *c)
{
	struct strbuf text = STRBUF_INIT, why = STRBUF_INIT, t = STRBUF_INIT;
	struct cdt_info_prefix *px = NULL;
	struct cdt_dent *d = NULL;
	size_t npx = 0, nd = 0, i, j, k;
	int ret, prefixes_ok;

	if (c->nseen > 1)
		qsort(c->seen, c->nseen, sizeof(*c->seen), cmp_str);
	ret = cdt_info_read(c->in, "prefixes", &text);
	if (ret == -ENOENT)
		differ(c, "info/prefixes", "missing");
	else if (ret)
		differ(c, "info/prefixes", "cannot be read: %s", cdt_strerror(ret));
	else if (cdt_info_prefixes_parse(text.buf, text.len, &px, &npx, &why))
		differ(c, "info/prefixes", "%s", why.buf);
	prefixes_ok = !ret && !why.len;
	ret = cdt_info_list_tables(c->in, &d, &nd);
	if (ret == -ENOENT)
		differ(c, "info/names", "missing");
	for (i = 0, k = 0, j = 0; i < nd; i++) {
		strbuf_reset(&c->file);
		strbuf_addf(&c->file, "info/names/%s", d[i].name);
		while (k < c->nseen && strcmp(c->seen[k], d[i].name) < 0)
			k++;
		if (k == c->nseen || strcmp(c->seen[k], d[i].name))
			differ(c, c->file.buf, "no names under '%s'", d[i].name);
		if (!prefixes_ok)
			continue;
		while (j < npx && strcmp(px[j].prefix, d[i].name) < 0)
			differ(c, "info/prefixes", "lists '%s', which has no table", px[j++].prefix);
		if (j == npx || strcmp(px[j].prefix, d[i].name)) {
			differ(c, "info/prefixes", "does not list table '%s'", d[i].name);
			continue;
		}
		strbuf_reset(&c->path);
		strbuf_addf(&c->path, "names/%s", d[i].name);
		if (cdt_info_read(c->in, c->path.buf, &t) == 0 &&
		    (t.len != px[j].bytes || t.len < CDT_ID_LEN ||
		     memcmp(t.buf + t.len - CDT_ID_LEN, px[j].sum.b, CDT_ID_LEN)))
			differ(c, "info/prefixes", "line of '%s' does not match its table",
			       d[i].name);
		j++;
	}
	while (prefixes_ok && j < npx)
		differ(c, "info/prefixes", "lists '%s', which has no table", px[j++].prefix);
	cdt_dents_free(d, nd);
	cdt_info_prefixes_free(px, npx);
	strbuf_release(&text);
	strbuf_release(&why);
	strbuf_release(&t);
}

int cdt_serverinfo_check(struct cdt_store *s, cdt_serverinfo_fn fn, void *data)
{
	struct check c;
	size_t i;
	int ret;

	memset(&c, 0, sizeof(c));
	c.fn = fn;
	c.data = data;
	ret = cdt_info_open_check(s, &c.in);
	if (ret == -ENOENT) {
		fn("info", "missing (a store made before server info)", data);
		return 0;
	}
	if (ret)
		return ret;
	strbuf_init(&c.path, 0);
	strbuf_init(&c.file, 0);
	strbuf_init(&c.msg, 0);
	c.changing = cdt_info_changing(c.in);
	check_packs(&c, s);
	check_mpacks(&c, s);
	ret = cdt_info_names_expected(s, check_table, &c);
	if (!ret)
		check_listing(&c);
	for (i = 0; i < c.nseen; i++)
		free(c.seen[i]);
	free(c.seen);
	strbuf_release(&c.path);
	strbuf_release(&c.file);
	strbuf_release(&c.msg);
	cdt_info_close(c.in);
	return ret;
}
