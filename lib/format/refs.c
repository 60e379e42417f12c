/* refs.c: reverse reference tables (chunk -> manifest) and name records (manifest -> name). */
#include "format/refs.h"
#include "base/csum-file.h"
#include "base/fsutil.h"
#include "format/names.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Pairs buffered before a table is written: 4 MiB of memory. */
#define WRITER_MAX_PAIRS 65536

static int pair_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct cdt_ref_pair));
}

static int open_subdir(struct cdt_store *s, const char *sub, int create)
{
	int refsfd = cdt_store_dirfd(s, CDT_DIR_REFS);
	int fd;

	fd = openat(refsfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdirat(refsfd, sub, 0777) < 0 && errno != EEXIST)
			return -errno;
		fd = openat(refsfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	return fd < 0 ? -errno : fd;
}

/*
 * Write a table from a stream of sorted, unique pairs. `next` fills one pair
 * and returns 1, or 0 at the end, or -errno.
 */
typedef int (*pair_source)(struct cdt_ref_pair *p, void *data);

static int write_table(struct cdt_store *s, pair_source next, void *data, char *out_name)
{
	struct cdt_csum_file *f;
	unsigned char hdr[CDT_REFS_HDR];
	uint64_t count = 0, hdr_off;
	struct cdt_id sum;
	char final[CDT_ID_HEXLEN + 8];
	int dfd = -1, ret;

	ret = cdt_csum_file_open(cdt_store_dirfd(s, CDT_DIR_TMP), "refs", &f);
	if (ret < 0)
		return ret;
	/* The count is known at the end: the header is filled in (and hashed) then. */
	hdr_off = cdt_csum_file_reserve(f, sizeof(hdr));
	while (!ret) {
		struct cdt_ref_pair p;
		int r = next(&p, data);

		if (r < 0)
			ret = r;
		if (r <= 0)
			break;
		ret = cdt_csum_file_write(f, &p, CDT_REFS_REC);
		count++;
	}
	/* Nothing to record: no table (and no name) at all. */
	if (ret || !count)
		goto out;
	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, CDT_REFS_MAGIC, 4);
	hdr[4] = CDT_REFS_VERSION;
	put_le64(hdr + 8, count);
	/* The checksum covers the header, which is hashed last. */
	ret = cdt_csum_file_fill(f, hdr_off, hdr, sizeof(hdr));
	if (!ret)
		ret = cdt_csum_file_finish(f, CDT_CSUM_APPEND, &sum);
	if (ret)
		goto out;
	dfd = open_subdir(s, "chunks", 1);
	if (dfd < 0) {
		ret = dfd;
		goto out;
	}
	cdt_id_to_hex(&sum, final);
	strcat(final, ".ref");
	ret = cdt_csum_file_rename(f, dfd, final, CDT_CSUM_NOREPLACE);
	if (ret < 0)
		goto out;
	ret = 0;
	if (out_name)
		strcpy(out_name, final);
out:
	if (dfd >= 0)
		close(dfd);
	cdt_csum_file_free(f);
	return ret;
}

struct cdt_ref_writer {
	struct cdt_store *store;
	struct cdt_ref_pair *pairs;
	size_t nr, alloc, pos;
	char **tables;		/* names of the tables written */
	size_t ntables, tables_alloc;
};

struct cdt_ref_writer *cdt_ref_writer_new(struct cdt_store *s)
{
	struct cdt_ref_writer *w = xcalloc(1, sizeof(*w));

	w->store = s;
	return w;
}

int cdt_ref_writer_add(struct cdt_ref_writer *w, const struct cdt_id *chunk,
		       const struct cdt_id *manifest)
{
	if (w->nr == WRITER_MAX_PAIRS) {
		int ret = cdt_ref_writer_flush(w);

		if (ret < 0)
			return ret;
	}
	ALLOC_GROW(w->pairs, w->nr + 1, w->alloc);
	w->pairs[w->nr].chunk = *chunk;
	w->pairs[w->nr].manifest = *manifest;
	w->nr++;
	return 0;
}

static int array_source(struct cdt_ref_pair *p, void *data)
{
	struct cdt_ref_writer *w = data;

	/* Skip duplicates: the array is sorted. */
	while (w->pos < w->nr && w->pos &&
	       !pair_cmp(&w->pairs[w->pos], &w->pairs[w->pos - 1]))
		w->pos++;
	if (w->pos >= w->nr)
		return 0;
	*p = w->pairs[w->pos++];
	return 1;
}

int cdt_ref_writer_flush(struct cdt_ref_writer *w)
{
	char name[CDT_ID_HEXLEN + 8] = "";
	int ret;

	if (!w->nr)
		return 0;
	qsort(w->pairs, w->nr, sizeof(*w->pairs), pair_cmp);
	w->pos = 0;
	ret = write_table(w->store, array_source, w, name);
	w->nr = 0;
	if (!ret && *name) {
		ALLOC_GROW(w->tables, w->ntables + 1, w->tables_alloc);
		w->tables[w->ntables++] = xstrdup(name);
	}
	cdt_crash_point("refs");
	return ret;
}

size_t cdt_ref_writer_tables(const struct cdt_ref_writer *w, const char *const **names)
{
	*names = (const char *const *)w->tables;
	return w->ntables;
}

void cdt_ref_writer_free(struct cdt_ref_writer *w)
{
	size_t i;

	if (!w)
		return;
	for (i = 0; i < w->ntables; i++)
		free(w->tables[i]);
	free(w->tables);
	free(w->pairs);
	free(w);
}

struct table {
	char *name;
	const unsigned char *map;
	size_t map_len;
	uint64_t count;
};

struct cdt_refs {
	struct table *tables;
	size_t nr, alloc;
};

static const unsigned char *table_rec(const struct table *t, uint64_t i)
{
	return t->map + CDT_REFS_HDR + i * CDT_REFS_REC;
}

static void unmap_tables(struct cdt_refs *r)
{
	size_t i;

	for (i = 0; i < r->nr; i++) {
		if (r->tables[i].map)
			munmap((void *)r->tables[i].map, r->tables[i].map_len);
		free(r->tables[i].name);
	}
	r->nr = 0;
}

/* Map one table and check its shape (not its checksum: that is fsck's job). */
static int map_table(int dfd, const char *name, struct table *t)
{
	int ret = map_file_at(dfd, name, CDT_REFS_HDR + CDT_ID_LEN, UINT64_MAX, &t->map,
			      &t->map_len);

	if (ret < 0)
		return ret;
	t->count = get_le64(t->map + 8);
	if (memcmp(t->map, CDT_REFS_MAGIC, 4) || t->map[4] != CDT_REFS_VERSION ||
	    t->map[5] || t->map[6] || t->map[7] ||
	    t->count != (t->map_len - CDT_REFS_HDR - CDT_ID_LEN) / CDT_REFS_REC ||
	    (t->map_len - CDT_REFS_HDR - CDT_ID_LEN) % CDT_REFS_REC) {
		munmap((void *)t->map, t->map_len);
		t->map = NULL;
		return -CDT_ECORRUPT;
	}
	return 0;
}

static int is_table_name(const char *n)
{
	size_t len = strlen(n);

	return len == CDT_ID_HEXLEN + 4 && !strcmp(n + CDT_ID_HEXLEN, ".ref") &&
	       strspn(n, "0123456789abcdef") == CDT_ID_HEXLEN;
}

static int load_tables(struct cdt_store *s, struct cdt_refs *r)
{
	struct dirent *de;
	DIR *d;
	int dfd, ret = 0;

	dfd = open_subdir(s, "chunks", 0);
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	while ((de = readdir(d))) {
		struct table t = { 0 };

		if (!is_table_name(de->d_name))
			continue;
		ret = map_table(dfd, de->d_name, &t);
		if (ret == -ENOENT)
			break;	/* compacted away since we listed: start over */
		if (ret == -CDT_ECORRUPT) {
			char *name = xstrfmt("refs/chunks/%s", de->d_name);

			error("reference table '%s/%s' is damaged (run 'cdt fsck --rebuild-refs')",
			      cdt_store_path(s), name);
			free(name);
			ret = 0;
			continue;
		}
		if (ret < 0)
			break;
		t.name = xstrdup(de->d_name);
		ALLOC_GROW(r->tables, r->nr + 1, r->alloc);
		r->tables[r->nr++] = t;
	}
	closedir(d);
	return ret;
}

int cdt_refs_open(struct cdt_store *s, struct cdt_refs **out)
{
	struct cdt_refs *r = xcalloc(1, sizeof(*r));
	int tries, ret = 0;

	for (tries = 0; tries < 10; tries++) {
		ret = load_tables(s, r);
		if (ret != -ENOENT)
			break;
		unmap_tables(r);
	}
	if (ret < 0) {
		cdt_refs_close(r);
		*out = NULL;
		return ret;
	}
	*out = r;
	return 0;
}

void cdt_refs_close(struct cdt_refs *r)
{
	if (!r)
		return;
	unmap_tables(r);
	free(r->tables);
	free(r);
}

size_t cdt_refs_table_count(const struct cdt_refs *r)
{
	return r->nr;
}

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CDT_ID_LEN);
}

int cdt_refs_lookup(struct cdt_refs *r, const struct cdt_id *chunk, struct cdt_id **out)
{
	struct cdt_id *ids = NULL;
	size_t nr = 0, alloc = 0, i, j;

	for (i = 0; i < r->nr; i++) {
		const struct table *t = &r->tables[i];
		uint64_t lo = 0, hi = t->count, k;

		/* First record whose chunk id is >= the one wanted. */
		while (lo < hi) {
			uint64_t mid = lo + (hi - lo) / 2;

			if (memcmp(table_rec(t, mid), chunk->b, CDT_ID_LEN) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (k = lo; k < t->count; k++) {
			const unsigned char *rec = table_rec(t, k);

			if (memcmp(rec, chunk->b, CDT_ID_LEN))
				break;
			ALLOC_GROW(ids, nr + 1, alloc);
			memcpy(ids[nr++].b, rec + CDT_ID_LEN, CDT_ID_LEN);
		}
	}
	if (nr > 1) {
		qsort(ids, nr, sizeof(*ids), id_cmp);
		for (i = 1, j = 1; i < nr; i++)
			if (!cdt_id_eq(&ids[i], &ids[j - 1]))
				ids[j++] = ids[i];
		nr = j;
	}
	*out = ids;
	return (int)nr;
}

/* k-way merge over mapped tables, skipping duplicates and unkept pairs. */
struct merge {
	struct table **t;
	uint64_t *pos;
	size_t nr;
	struct cdt_ref_pair last;
	int have_last;
	cdt_ref_keep_fn keep;
	void *data;
};

static int merge_source(struct cdt_ref_pair *p, void *data)
{
	struct merge *m = data;

	for (;;) {
		size_t i, best = SIZE_MAX;

		for (i = 0; i < m->nr; i++) {
			if (m->pos[i] >= m->t[i]->count)
				continue;
			if (best == SIZE_MAX ||
			    memcmp(table_rec(m->t[i], m->pos[i]),
				   table_rec(m->t[best], m->pos[best]), CDT_REFS_REC) < 0)
				best = i;
		}
		if (best == SIZE_MAX)
			return 0;
		memcpy(p, table_rec(m->t[best], m->pos[best]), CDT_REFS_REC);
		m->pos[best]++;
		if (m->have_last && !pair_cmp(p, &m->last))
			continue;
		m->last = *p;
		m->have_last = 1;
		if (m->keep && !m->keep(p, m->data))
			continue;
		return 1;
	}
}

static int cmp_table_count(const void *a, const void *b)
{
	const struct table *x = a, *y = b;

	return x->count < y->count ? -1 : x->count > y->count;
}

int cdt_refs_compact(struct cdt_store *s, size_t max_tables, cdt_ref_keep_fn keep, void *data)
{
	struct cdt_refs *r;
	struct merge m = { 0 };
	char merged[CDT_ID_HEXLEN + 8] = "";
	size_t take, i;
	uint64_t sum;
	int dfd, ret;

	dfd = open_subdir(s, "chunks", 0);
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	/* One compaction at a time; another process already doing it is enough. */
	if (flock(dfd, LOCK_EX | (max_tables ? LOCK_NB : 0)) < 0) {
		ret = errno == EWOULDBLOCK ? 0 : -errno;
		close(dfd);
		return ret;
	}
	ret = cdt_refs_open(s, &r);
	if (ret < 0) {
		close(dfd);
		return ret;
	}
	if (r->nr <= max_tables || (!keep && r->nr < 2)) {
		cdt_refs_close(r);
		close(dfd);
		return 0;
	}
	/*
	 * Geometric merging: take the smallest tables while the next one is
	 * no bigger than twice what is taken, so sizes form a geometric series
	 * and each pair is rewritten O(log n) times.
	 */
	qsort(r->tables, r->nr, sizeof(*r->tables), cmp_table_count);
	take = r->nr;
	if (max_tables) {
		sum = r->tables[0].count + r->tables[1].count;
		for (take = 2; take < r->nr && r->tables[take].count <= 2 * sum; take++)
			sum += r->tables[take].count;
		if (r->nr - take + 1 > max_tables)
			take = r->nr;
	}
	m.nr = take;
	m.t = xcalloc(take, sizeof(*m.t));
	m.pos = xcalloc(take, sizeof(*m.pos));
	for (i = 0; i < take; i++)
		m.t[i] = &r->tables[i];
	m.keep = keep;
	m.data = data;
	ret = write_table(s, merge_source, &m, merged);
	if (!ret)
		ret = cdt_store_sync(s);
	if (!ret) {
		/*
		 * The merged table is durable: the inputs can go, except one
		 * whose contents the merge reproduced (same content, same name).
		 */
		for (i = 0; i < take; i++) {
			if (!strcmp(r->tables[i].name, merged))
				continue;
			if (unlinkat(dfd, r->tables[i].name, 0) < 0 && errno != ENOENT) {
				ret = -errno;
				break;
			}
		}
		if (!ret && fsync(dfd) < 0)
			ret = -errno;
	}
	free(m.t);
	free(m.pos);
	cdt_refs_close(r);
	close(dfd);
	return ret < 0 ? ret : (int)take;
}

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

int cdt_nameref_add(struct cdt_store *s, const struct cdt_id *m, const char *name)
{
	int refsfd = cdt_store_dirfd(s, CDT_DIR_REFS), tmpfd = cdt_store_dirfd(s, CDT_DIR_TMP);
	char dir[6 + CDT_ID_HEXLEN + 2], file[CDT_ID_HEXLEN + 1];
	struct strbuf tmpname = STRBUF_INIT;
	int dfd = -1, fd, ret;

	nameref_dir(m, dir);
	nameref_file(name, file);
	ret = mkdirat_p(refsfd, dir);
	if (ret < 0)
		return ret;
	dfd = openat_beneath(refsfd, dir, O_RDONLY | O_DIRECTORY, 0);
	if (dfd < 0)
		return dfd;
	if (faccessat(dfd, file, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		close(dfd);
		return 0;
	}
	fd = tmpfile_openat(tmpfd, "nameref", &tmpname);
	if (fd < 0) {
		close(dfd);
		strbuf_release(&tmpname);
		return fd;
	}
	ret = write_all(fd, name, strlen(name));
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	close(fd);
	if (!ret && renameat(tmpfd, tmpname.buf, dfd, file) < 0)
		ret = -errno;
	if (ret)
		unlinkat(tmpfd, tmpname.buf, 0);
	else if (fsync(dfd) < 0)
		ret = -errno;
	close(dfd);
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
	struct dirent *de;
	DIR *d;
	int dfd, ret = 0;

	nameref_dir(m, dir);
	dfd = openat_beneath(refsfd, dir, O_RDONLY | O_DIRECTORY, 0);
	if (dfd == -ENOENT || dfd == -ENOTDIR)
		return 0;
	if (dfd < 0)
		return dfd;
	d = fdopendir(dfd);
	if (!d) {
		ret = -errno;
		close(dfd);
		return ret;
	}
	while (!ret && (de = readdir(d))) {
		char file[CDT_ID_HEXLEN + 1];
		struct strbuf why = STRBUF_INIT;
		int r;

		if (de->d_name[0] == '.')
			continue;
		r = read_small_fileat(dfd, de->d_name, CDT_NAME_MAX, &sb);
		/* A record must hold a valid name and sit where that name's hash says. */
		if (!r && (strlen(sb.buf) != sb.len || cdt_name_check(sb.buf, &why) < 0))
			r = -CDT_ECORRUPT;
		if (!r) {
			nameref_file(sb.buf, file);
			if (strcmp(file, de->d_name))
				r = -CDT_ECORRUPT;
		}
		strbuf_release(&why);
		if (r < 0)
			ret = fn(NULL, r, data);
		else
			ret = fn(sb.buf, 0, data);
	}
	closedir(d);
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
