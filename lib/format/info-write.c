/* info-write.c: server info kept up to date: info/ locked, read and written, tables merged with a commit's changes or rebuilt from names/ (writers' marks in info-marks.c). */
#include "format/info.h"
#include "format/info-internal.h"
#include "base/csum-file.h"
#include "base/fsutil.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* One entry of a table being made: its name and bytes (not owned). */
struct ent {
	const char *name;
	const unsigned char *raw;
	size_t len;
	size_t seq;		/* order of changes: the later one wins */
};

static int cmp_ent(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Locked info/ */

struct cdt_info {
	struct cdt_store *s;
	int infofd, namesfd, lockfd;
	int is_new;
};

int cdt_info_changing(struct cdt_info *in)
{
	return info_marks_live(in->infofd);
}

static int info_open(struct cdt_store *s, int update, struct cdt_info **out)
{
	struct cdt_info *in = xcalloc(1, sizeof(*in));
	const char *path = cdt_store_path(s);
	int rootfd = cdt_store_rootfd(s), ret;

	in->s = s;
	in->infofd = in->namesfd = in->lockfd = -1;
	*out = NULL;
	if (update && mkdirat(rootfd, CDT_INFO_DIR, 0777) < 0 && errno != EEXIST) {
		ret = error_code(-errno, "cannot create '%s/info': %s", path, cdt_strerror(errno));
		goto fail;
	}
	in->infofd = openat(rootfd, CDT_INFO_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (in->infofd < 0) {
		ret = -errno;
		if (update || ret != -ENOENT)
			error("cannot open '%s/info': %s", path, cdt_strerror(errno));
		goto fail;
	}
	if (update && mkdirat(in->infofd, "names", 0777) < 0 && errno != EEXIST) {
		ret = error_code(-errno, "cannot create '%s/info/names': %s", path,
				 cdt_strerror(errno));
		goto fail;
	}
	in->lockfd = openat(in->infofd, "lock", (update ? O_RDWR | O_CREAT : O_RDONLY) |
			    O_CLOEXEC | O_NOFOLLOW, 0666);
	if (in->lockfd < 0 && !update && errno == ENOENT) {
		/* A check of an info/ no update finished making: nothing to wait for. */
	} else if (in->lockfd < 0) {
		ret = error_code(-errno, "cannot open '%s/info/lock': %s", path, cdt_strerror(errno));
		goto fail;
	} else {
		while (flock(in->lockfd, update ? LOCK_EX : LOCK_SH) < 0) {
			if (errno != EINTR) {
				ret = error_code(-errno, "cannot lock '%s/info/lock': %s", path,
						 cdt_strerror(errno));
				goto fail;
			}
		}
	}
	in->namesfd = openat(in->infofd, "names", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (in->namesfd < 0 && (update || errno != ENOENT)) {
		ret = error_code(-errno, "cannot open '%s/info/names': %s", path, cdt_strerror(errno));
		goto fail;
	}
	in->is_new = faccessat(in->infofd, "packs", F_OK, AT_SYMLINK_NOFOLLOW) < 0 ||
		     faccessat(in->infofd, "prefixes", F_OK, AT_SYMLINK_NOFOLLOW) < 0;
	if (update) {
		struct cdt_dent *dead;
		size_t ndead = info_scan_intents(in->infofd, 1, &dead);

		cdt_dents_free(dead, ndead);
		/* A writer stopped between its names and its tables: they are written again. */
		if (ndead && cdt_info_names_rebuild(in) < 0)
			warning("info/ of '%s' is stale ('cdt fsck --rebuild-refs' writes it again)",
				path);
	}
	*out = in;
	return 0;
fail:
	cdt_info_close(in);
	return ret;
}

int cdt_info_open(struct cdt_store *s, struct cdt_info **out)
{
	return info_open(s, 1, out);
}

int cdt_info_open_check(struct cdt_store *s, struct cdt_info **out)
{
	return info_open(s, 0, out);
}

void cdt_info_close(struct cdt_info *in)
{
	if (!in)
		return;
	if (in->namesfd >= 0)
		close(in->namesfd);
	if (in->lockfd >= 0)
		close(in->lockfd);	/* (drops the lock) */
	if (in->infofd >= 0)
		close(in->infofd);
	free(in);
}

struct cdt_store *cdt_info_store(const struct cdt_info *in)
{
	return in->s;
}

int cdt_info_is_new(const struct cdt_info *in)
{
	return in->is_new;
}

int cdt_info_read(struct cdt_info *in, const char *rel, struct strbuf *out)
{
	int table = !strncmp(rel, "names/", 6);

	if (table && in->namesfd < 0)
		return -ENOENT;
	return read_small_fileat(table ? in->namesfd : in->infofd, table ? rel + 6 : rel,
				 table ? (size_t)INFO_TABLE_MAX : CDT_INFO_TEXT_MAX, out);
}

int cdt_info_list_tables(struct cdt_info *in, struct cdt_dent **out, size_t *n)
{
	if (in->namesfd < 0) {
		*out = NULL;
		*n = 0;
		return -ENOENT;
	}
	return cdt_list_dir(in->namesfd, ".", out, n);
}

/*
 * Write info/<name> from text: a temporary file in tmp/, renamed over the
 * old one. A directory in its place (no writer makes one) is removed, as
 * derived data, so that it cannot stop every update.
 */
static int write_text(struct cdt_info *in, const char *name, const struct strbuf *text)
{
	int tmpfd = cdt_store_dirfd(in->s, CDT_DIR_TMP);
	struct strbuf tmp = STRBUF_INIT;
	int fd, ret;

	fd = tmpfile_openat(tmpfd, "info", &tmp);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	ret = write_all(fd, text->buf, text->len);
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && renameat(tmpfd, tmp.buf, in->infofd, name) < 0)
		ret = -errno;
	if (ret == -EISDIR && !(ret = remove_tree_at(in->infofd, name, 0)) &&
	    renameat(tmpfd, tmp.buf, in->infofd, name) < 0)
		ret = -errno;
	if (ret)
		unlinkat(tmpfd, tmp.buf, 0);
	tmpfile_forget(tmpfd, tmp.buf);
out:
	if (ret)
		error("cannot write '%s/info/%s': %s", cdt_store_path(in->s), name,
		      cdt_strerror(ret));
	strbuf_release(&tmp);
	return ret;
}

int cdt_info_write_packs(struct cdt_info *in, struct cdt_info_pack *p, size_t n)
{
	struct strbuf text = STRBUF_INIT;
	int ret;

	cdt_info_packs_format(p, n, &text);
	ret = write_text(in, "packs", &text);
	strbuf_release(&text);
	return ret;
}

int cdt_info_write_mpacks(struct cdt_info *in, const struct strbuf *text)
{
	return write_text(in, "mpacks", text);
}

/* The bytes of a table of these entries (sorted, names distinct). */
static void table_format(const struct ent *v, size_t n, struct strbuf *out)
{
	unsigned char h[CDT_INFO_TABLE_HDR];
	struct cdt_id sum;
	size_t i, start = out->len;

	memset(h, 0, sizeof(h));
	memcpy(h, CDT_INFO_TABLE_MAGIC, 4);
	h[4] = CDT_INFO_TABLE_VERSION;
	put_le64(h + 8, n);
	strbuf_add(out, h, sizeof(h));
	for (i = 0; i < n; i++) {
		unsigned char l[4];

		put_le32(l, (uint32_t)v[i].len);
		strbuf_add(out, l, 4);
		strbuf_add(out, v[i].raw, v[i].len);
	}
	cdt_hash(out->buf + start, out->len - start, &sum);
	strbuf_add(out, sum.b, CDT_ID_LEN);
}

/*
 * Write info/names/<prefix> with these entries (sorted, distinct), or
 * remove it when there are none; its line goes to *line (bytes 0 when
 * removed). 0 or -errno (reported).
 */
static int write_table(struct cdt_info *in, const char *prefix, const struct ent *v, size_t n,
		       struct cdt_info_prefix *line)
{
	int tmpfd = cdt_store_dirfd(in->s, CDT_DIR_TMP);
	struct cdt_csum_file *f = NULL;
	unsigned char h[CDT_INFO_TABLE_HDR];
	size_t i;
	int ret;

	line->bytes = 0;
	if (!n) {
		ret = remove_tree_at(in->namesfd, prefix, 0);
		if (ret < 0)
			goto fail;
		return 0;
	}
	ret = cdt_csum_file_open(tmpfd, "info", &f);
	if (ret)
		goto fail;
	memset(h, 0, sizeof(h));
	memcpy(h, CDT_INFO_TABLE_MAGIC, 4);
	h[4] = CDT_INFO_TABLE_VERSION;
	put_le64(h + 8, n);
	ret = cdt_csum_file_write(f, h, sizeof(h));
	for (i = 0; i < n && !ret; i++) {
		unsigned char l[4];

		put_le32(l, (uint32_t)v[i].len);
		ret = cdt_csum_file_write(f, l, 4);
		if (!ret)
			ret = cdt_csum_file_write(f, v[i].raw, v[i].len);
	}
	if (!ret)
		ret = cdt_csum_file_finish(f, CDT_CSUM_APPEND, &line->sum);
	line->bytes = cdt_csum_file_offset(f);
	if (!ret)
		ret = cdt_csum_file_rename(f, in->namesfd, prefix, 0);
	/* A directory in its place, as for write_text(). */
	if (ret == -EISDIR && !(ret = remove_tree_at(in->namesfd, prefix, 0)))
		ret = cdt_csum_file_rename(f, in->namesfd, prefix, 0);
	cdt_csum_file_free(f);
	if (ret)
		goto fail;
	return 0;
fail:
	return error_code(ret, "cannot write '%s/info/names/%s': %s", cdt_store_path(in->s),
			  prefix, cdt_strerror(ret));
}

/* Entries collected from a walk of names/ (owned copies). */
struct collected {
	struct ent *v;
	size_t n, alloc;
	struct strbuf bytes;	/* every name and entry, one after another */
	size_t *offs;		/* of each name in bytes (the buffer moves as it grows) */
	size_t offs_alloc;
	struct strbuf prefix;	/* the prefix being collected */
	int damaged;		/* an entry under it cannot be read */
	struct cdt_info *in;	/* rebuild: where tables go */
	int write_failed;	/* rebuild: a table could not be written (reported) */
	cdt_info_table_fn fn;	/* expected: where tables go */
	void *data;
	struct cdt_info_prefix *lines;
	size_t nlines, lines_alloc;
	int ret;
};

static void collected_reset(struct collected *c)
{
	c->n = 0;
	strbuf_reset(&c->bytes);
}

static void collect(struct collected *c, const char *name, const unsigned char *raw, size_t len)
{
	size_t nlen = strlen(name) + 1;

	ALLOC_GROW(c->v, c->n + 1, c->alloc);
	ALLOC_GROW(c->offs, c->n + 1, c->offs_alloc);
	c->offs[c->n] = c->bytes.len;
	strbuf_add(&c->bytes, name, nlen);
	strbuf_add(&c->bytes, raw, len);
	c->v[c->n].len = len;
	c->v[c->n].seq = c->n;
	c->n++;
}

/* Point the entries into the collected bytes, now that they stay put; sort them. */
static void collected_fix(struct collected *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		c->v[i].name = c->bytes.buf + c->offs[i];
		c->v[i].raw = (const unsigned char *)c->v[i].name + strlen(c->v[i].name) + 1;
	}
	if (c->n > 1)
		qsort(c->v, c->n, sizeof(*c->v), cmp_ent);
}

/* The table of the prefix collected so far is complete: write it, or give it to fn. */
static int flush_prefix(struct collected *c)
{
	int ret = 0;

	if (!c->prefix.len)
		return 0;
	collected_fix(c);
	if (c->in) {
		struct cdt_info_prefix line;

		ret = write_table(c->in, c->prefix.buf, c->v, c->n, &line);
		if (ret) {
			c->write_failed = 1;
		} else if (line.bytes) {
			line.prefix = xstrdup(c->prefix.buf);
			ALLOC_GROW(c->lines, c->nlines + 1, c->lines_alloc);
			c->lines[c->nlines++] = line;
		}
	} else if (c->damaged) {
		ret = c->fn(c->prefix.buf, NULL, 0, c->data);
	} else if (c->n) {
		struct strbuf t = STRBUF_INIT;

		table_format(c->v, c->n, &t);
		ret = c->fn(c->prefix.buf, (const unsigned char *)t.buf, t.len, c->data);
		strbuf_release(&t);
	}
	c->damaged = 0;
	collected_reset(c);
	strbuf_reset(&c->prefix);
	return ret;
}

static int collect_walked(const char *name, const struct cdt_name_entry *e,
			  const unsigned char *raw, size_t len, int err, const char *why,
			  void *data)
{
	struct collected *c = data;
	size_t plen = cdt_info_prefix_len(name);
	int ret;

	(void)why;
	/*
	 * A damaged entry (fsck reports the name) or one removed meanwhile is
	 * left out; one that could not be read (an I/O error) may be a good
	 * name: without it the table would be wrong, or gone with its prefix.
	 */
	if (!e && err != -CDT_ECORRUPT && err != -ELOOP && err != -ENOENT)
		return err;
	if (c->prefix.len != plen || memcmp(c->prefix.buf, name, plen)) {
		ret = flush_prefix(c);
		if (ret)
			return ret;
		strbuf_add(&c->prefix, name, plen);
	}
	if (e)
		collect(c, name, raw, len);
	else
		c->damaged = 1;	/* unreadable: left out (fsck reports the name) */
	return 0;
}

static void collected_release(struct collected *c)
{
	free(c->v);
	free(c->offs);
	strbuf_release(&c->bytes);
	strbuf_release(&c->prefix);
	cdt_info_prefixes_free(c->lines, c->nlines);
}

/*
 * Walk names/ (or names/<prefix> only) into tables: written (c->in) or
 * given to c->fn. 0 or -errno.
 */
static int walk_tables(struct cdt_store *s, const char *prefix, struct collected *c)
{
	int ret = cdt_names_walk_raw(s, prefix, collect_walked, c);

	if (!ret)
		ret = flush_prefix(c);
	return ret;
}

int cdt_info_names_expected(struct cdt_store *s, cdt_info_table_fn fn, void *data)
{
	struct collected c;
	int ret;

	memset(&c, 0, sizeof(c));
	strbuf_init(&c.bytes, 0);
	strbuf_init(&c.prefix, 0);
	c.fn = fn;
	c.data = data;
	ret = walk_tables(s, NULL, &c);
	collected_release(&c);
	return ret;
}

static int write_prefixes(struct cdt_info *in, struct cdt_info_prefix *p, size_t n)
{
	struct strbuf text = STRBUF_INIT;
	int ret;

	cdt_info_prefixes_format(p, n, &text);
	ret = write_text(in, "prefixes", &text);
	strbuf_release(&text);
	return ret;
}

int cdt_info_names_rebuild(struct cdt_info *in)
{
	struct collected c;
	struct cdt_dent *d = NULL, *dead = NULL;
	size_t nd = 0, i, k, ndead;
	int ret;

	/* Marks of writers gone before the walk: the walk sees all they changed. */
	ndead = info_scan_intents(in->infofd, 1, &dead);
	memset(&c, 0, sizeof(c));
	strbuf_init(&c.bytes, 0);
	strbuf_init(&c.prefix, 0);
	c.in = in;
	ret = walk_tables(in->s, NULL, &c);
	if (ret < 0) {
		if (!c.write_failed)	/* (else said where the table failed) */
			error("cannot read the names of '%s' for info/names: %s",
			      cdt_store_path(in->s), cdt_strerror(ret));
		goto out;
	}
	/* Tables of prefixes that have no names any more (lines are sorted by prefix). */
	ret = cdt_list_dir(in->namesfd, ".", &d, &nd);
	if (ret < 0) {
		error("cannot list '%s/info/names': %s", cdt_store_path(in->s), cdt_strerror(ret));
		goto out;
	}
	if (c.nlines > 1)
		qsort(c.lines, c.nlines, sizeof(*c.lines), info_cmp_prefix);
	for (i = 0, k = 0; i < nd; i++) {
		int r;

		while (k < c.nlines && strcmp(c.lines[k].prefix, d[i].name) < 0)
			k++;
		if (k < c.nlines && !strcmp(c.lines[k].prefix, d[i].name))
			continue;
		r = d[i].type == DT_DIR ? remove_tree_at(in->namesfd, d[i].name, 0) :
		    unlinkat(in->namesfd, d[i].name, 0) < 0 ? -errno : 0;
		if (r < 0)
			warning("cannot remove '%s/info/names/%s': %s", cdt_store_path(in->s),
				d[i].name, cdt_strerror(r));
	}
	ret = write_prefixes(in, c.lines, c.nlines);
	for (i = 0; !ret && i < ndead; i++)
		unlinkat(in->infofd, dead[i].name, 0);
out:
	cdt_dents_free(d, nd);
	cdt_dents_free(dead, ndead);
	collected_release(&c);
	return ret;
}

/* A table's entries, collected by cdt_info_names_parse() (pointing into its bytes). */
struct parsed {
	struct ent *v;
	size_t n, alloc;
	struct strbuf names;	/* the names, one after another with their NULs */
	size_t *offs;
	size_t offs_alloc;
};

static int collect_parsed(const struct cdt_name_entry *e, const unsigned char *raw, size_t len,
			  void *data)
{
	struct parsed *p = data;

	ALLOC_GROW(p->v, p->n + 1, p->alloc);
	ALLOC_GROW(p->offs, p->n + 1, p->offs_alloc);
	p->offs[p->n] = p->names.len;
	strbuf_add(&p->names, e->name, strlen(e->name) + 1);
	p->v[p->n].raw = raw;
	p->v[p->n].len = len;
	p->v[p->n].seq = 0;
	p->n++;
	return 0;
}

static int collect_named(const char *name, size_t name_len, const unsigned char *raw, size_t len,
			 void *data)
{
	struct parsed *p = data;

	ALLOC_GROW(p->v, p->n + 1, p->alloc);
	ALLOC_GROW(p->offs, p->n + 1, p->offs_alloc);
	p->offs[p->n] = p->names.len;
	strbuf_add(&p->names, name, name_len);
	strbuf_addch(&p->names, '\0');
	p->v[p->n].raw = raw;
	p->v[p->n].len = len;
	p->v[p->n].seq = 0;
	p->n++;
	return 0;
}

/*
 * The new table of one prefix: its old table merged with the changes
 * c[0..n) (sorted by name, then by order), else names/<prefix> read again.
 * `listed` is the table's checksum in info/prefixes, which the caller
 * read and found valid; NULL if it lists no table of the prefix. Its line
 * goes to *line (bytes 0: no table).
 */
static int update_prefix(struct cdt_info *in, const char *prefix, const struct ent *c, size_t n,
			 const struct cdt_id *listed, struct cdt_info_prefix *line)
{
	struct strbuf old = STRBUF_INIT, why = STRBUF_INIT;
	struct parsed p;
	struct ent *out = NULL;
	size_t nout = 0, aout = 0, i, j;
	int ret, none = 0;

	memset(&p, 0, sizeof(p));
	strbuf_init(&p.names, 0);
	strbuf_addf(&why, "names/%s", prefix);
	ret = cdt_info_read(in, why.buf, &old);
	strbuf_reset(&why);
	/*
	 * Neither listed nor there: the prefix had no names until these
	 * changes, as sure as a listed table holds its names (info/ under
	 * info/lock follows every name, or a writer's mark makes the open
	 * rebuild it). A first store of a tree does not read it back.
	 */
	if (ret == -ENOENT && !listed)
		none = 1;
	/* The table info/prefixes lists is this store's own: its names suffice. */
	if (!ret && listed &&
	    info_table_names((const unsigned char *)old.buf, old.len, prefix, listed, collect_named,
			&p, &why)) {
		/* Not the table listed after all: every entry is parsed. */
		free(p.v);
		free(p.offs);
		strbuf_release(&p.names);
		memset(&p, 0, sizeof(p));
		strbuf_init(&p.names, 0);
		strbuf_reset(&why);
		listed = NULL;
	}
	if (none)
		ret = 0;
	else if (!ret && !listed)
		ret = cdt_info_names_parse((const unsigned char *)old.buf, old.len, prefix,
					   collect_parsed, &p, &why);
	if (ret) {
		/* No usable table: that prefix is read again from names/. */
		struct collected col;

		memset(&col, 0, sizeof(col));
		strbuf_init(&col.bytes, 0);
		strbuf_init(&col.prefix, 0);
		ret = cdt_names_walk_raw(in->s, prefix, collect_walked, &col);
		if (!ret) {
			collected_fix(&col);
			ret = write_table(in, prefix, col.v, col.n, line);
		} else {
			error("cannot read names under '%s' for info/names: %s", quote(prefix),
			      cdt_strerror(ret));
		}
		collected_release(&col);
		goto out;
	}
	for (i = 0; i < p.n; i++)
		p.v[i].name = p.names.buf + p.offs[i];
	/* Merge: both sorted by name; of changes to one name, the last counts. */
	for (i = 0, j = 0; i < p.n || j < n;) {
		int cmp = i == p.n ? 1 : j == n ? -1 : strcmp(p.v[i].name, c[j].name);
		const struct ent *take;

		if (cmp < 0) {
			take = &p.v[i++];
		} else {
			while (j + 1 < n && !strcmp(c[j].name, c[j + 1].name))
				j++;
			take = &c[j++];
			if (!cmp)
				i++;
			if (!take->raw)
				continue;
		}
		ALLOC_GROW(out, nout + 1, aout);
		out[nout++] = *take;
	}
	ret = write_table(in, prefix, out, nout, line);
out:
	free(out);
	free(p.v);
	free(p.offs);
	strbuf_release(&p.names);
	strbuf_release(&old);
	strbuf_release(&why);
	return ret;
}

/* Changes by prefix, then name, then order. */
static int cmp_change(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;
	int c = info_cmp_bytes(x->name, cdt_info_prefix_len(x->name), y->name,
			  cdt_info_prefix_len(y->name));

	return c ? c : cmp_ent(a, b);
}

int cdt_info_names_update(struct cdt_info *in, struct cdt_info_change *ch, size_t n)
{
	struct strbuf text = STRBUF_INIT, why = STRBUF_INIT, prefix = STRBUF_INIT;
	struct cdt_info_prefix *lines = NULL;
	struct ent *c = NULL;
	size_t nlines = 0, alines, nold, i, j, k;
	int ret;

	if (!n)
		return 0;
	ret = cdt_info_read(in, "prefixes", &text);
	if (!ret)
		ret = cdt_info_prefixes_parse(text.buf, text.len, &lines, &nlines, &why);
	if (ret) {
		/* No usable list of tables: every table is written again. */
		ret = cdt_info_names_rebuild(in);
		goto out;
	}
	c = xmalloc(n * sizeof(*c));
	for (i = 0; i < n; i++) {
		c[i].name = ch[i].name;
		c[i].raw = ch[i].raw;
		c[i].len = ch[i].len;
		c[i].seq = i;
	}
	qsort(c, n, sizeof(*c), cmp_change);
	/*
	 * The changes by prefix and the lines (as parsed: strictly sorted)
	 * are in the same byte order: one pass over both finds each prefix's
	 * line. New lines go after the old ones; a line whose table is gone
	 * gets 0 bytes, and is dropped at the end.
	 */
	alines = nold = nlines;
	for (i = 0, k = 0; i < n; i = j) {
		struct cdt_info_prefix line, *old = NULL;
		size_t plen = cdt_info_prefix_len(c[i].name);

		for (j = i + 1; j < n && cdt_info_prefix_len(c[j].name) == plen &&
		     !memcmp(c[j].name, c[i].name, plen); j++)
			;
		strbuf_reset(&prefix);
		strbuf_add(&prefix, c[i].name, plen);
		while (k < nold && strcmp(lines[k].prefix, prefix.buf) < 0)
			k++;
		if (k < nold && !strcmp(lines[k].prefix, prefix.buf))
			old = &lines[k];
		ret = update_prefix(in, prefix.buf, c + i, j - i, old ? &old->sum : NULL, &line);
		if (ret)
			goto out;
		if (old) {
			old->sum = line.sum;
			old->bytes = line.bytes;
		} else if (line.bytes) {
			line.prefix = xstrdup(prefix.buf);
			ALLOC_GROW(lines, nlines + 1, alines);
			lines[nlines++] = line;
		}
	}
	for (i = 0, k = 0; i < nlines; i++) {
		if (!lines[i].bytes)
			free(lines[i].prefix);
		else
			lines[k++] = lines[i];
	}
	nlines = k;
	ret = write_prefixes(in, lines, nlines);
out:
	free(c);
	cdt_info_prefixes_free(lines, nlines);
	strbuf_release(&text);
	strbuf_release(&why);
	strbuf_release(&prefix);
	return ret;
}
