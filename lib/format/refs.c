/* refs.c: reverse reference tables (chunk -> manifests): writing, lookups, compaction, rebuilding. */
#include "format/refs.h"
#include "base/csum-file.h"
#include "base/fsutil.h"
#include "base/util.h"

#include <errno.h>
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
	int good;		/* its pairs may be read: every check made holds */
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

/*
 * Map one table and check its shape (length, header, count): lookups need
 * no more. With `verify`, as fsck and the rebuild check it: its checksum,
 * that its name is that checksum, and the order of its pairs. A table whose
 * length holds stays mapped even when a later check fails (the rebuild
 * still reads it); t->good says whether every check made holds. Returns 0,
 * -CDT_ECORRUPT or -errno, with why (if not NULL) in words.
 */
static int map_table(int dfd, const char *name, struct table *t, int verify, struct strbuf *why)
{
	struct stat st;
	void *map;
	uint64_t i;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), err;

	if (fd < 0) {
		err = errno;
		if (why)
			strbuf_addf(why, "cannot open: %s", cdt_strerror(err));
		return err == ELOOP ? -CDT_ECORRUPT : -err;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return cdt_corrupt(why, "not a regular file");
	}
	if ((uint64_t)st.st_size < CDT_REFS_HDR + CDT_ID_LEN ||
	    ((uint64_t)st.st_size - CDT_REFS_HDR - CDT_ID_LEN) % CDT_REFS_REC) {
		close(fd);
		return cdt_corrupt(why, "impossible length (%llu bytes)",
				   (unsigned long long)st.st_size);
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	err = errno;
	close(fd);
	if (map == MAP_FAILED) {
		if (why)
			strbuf_addf(why, "cannot map: %s", cdt_strerror(err));
		return -err;
	}
	t->map = map;
	t->map_len = (size_t)st.st_size;
	t->count = (t->map_len - CDT_REFS_HDR - CDT_ID_LEN) / CDT_REFS_REC;
	t->good = 0;
	if (memcmp(t->map, CDT_REFS_MAGIC, 4) || t->map[4] != CDT_REFS_VERSION ||
	    t->map[5] || t->map[6] || t->map[7])
		return cdt_corrupt(why, "bad header");
	if (get_le64(t->map + 8) != t->count)
		return cdt_corrupt(why, "pair count does not match its length");
	if (verify) {
		/* As written: the pairs, then the header (its count is known last). */
		struct cdt_hasher *h = cdt_hasher_new();
		char hex[CDT_ID_HEXLEN + 1];
		struct cdt_id sum;

		cdt_hasher_update(h, t->map + CDT_REFS_HDR, t->count * CDT_REFS_REC);
		cdt_hasher_update(h, t->map, CDT_REFS_HDR);
		cdt_hasher_final(h, &sum);
		cdt_hasher_free(h);
		if (memcmp(sum.b, t->map + t->map_len - CDT_ID_LEN, CDT_ID_LEN))
			return cdt_corrupt(why, "checksum does not match its contents");
		cdt_id_to_hex(&sum, hex);
		if (strncmp(name, hex, CDT_ID_HEXLEN))
			return cdt_corrupt(why, "name is not its checksum");
		for (i = 1; i < t->count; i++)
			if (memcmp(table_rec(t, i - 1), table_rec(t, i), CDT_REFS_REC) >= 0)
				return cdt_corrupt(why, "pair %llu is out of order",
						   (unsigned long long)i);
	}
	t->good = 1;
	return 0;
}

static int is_table_name(const char *n)
{
	size_t len = strlen(n);

	return len == CDT_ID_HEXLEN + 4 && !strcmp(n + CDT_ID_HEXLEN, ".ref") &&
	       strspn(n, "0123456789abcdef") == CDT_ID_HEXLEN;
}

/* The tables lookups read: those whose shape holds. */
static int load_tables(struct cdt_store *s, struct cdt_refs *r)
{
	struct cdt_dent *ents;
	size_t n, i;
	int dfd, ret;

	dfd = open_subdir(s, "chunks", 0);
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	ret = cdt_list_dir(dfd, ".", &ents, &n);
	for (i = 0; !ret && i < n; i++) {
		struct table t = { 0 };

		if (!is_table_name(ents[i].name))
			continue;
		ret = map_table(dfd, ents[i].name, &t, 0, NULL);
		if (ret == -ENOENT)
			break;	/* compacted away since we listed: start over */
		if (ret == -CDT_ECORRUPT) {
			char *name = xstrfmt("refs/chunks/%s", ents[i].name);

			if (t.map)
				munmap((void *)t.map, t.map_len);
			error("reference table '%s/%s' is damaged (run 'cdt fsck --rebuild-refs')",
			      cdt_store_path(s), name);
			free(name);
			ret = 0;
			continue;
		}
		if (ret < 0)
			break;
		t.name = xstrdup(ents[i].name);
		ALLOC_GROW(r->tables, r->nr + 1, r->alloc);
		r->tables[r->nr++] = t;
	}
	cdt_dents_free(ents, n);
	close(dfd);
	return ret;
}

/*
 * Every file in refs/chunks/, listed and mapped under the compaction lock
 * (cdt_refs_compact()), so that no add merges tables between the two: the
 * maps outlive the files. Every table that can be mapped is kept, good or
 * not.
 */
static int load_checked(struct cdt_store *s, int verify, cdt_ref_table_bad_fn bad, void *data,
			struct cdt_refs *r)
{
	struct cdt_dent *ents;
	size_t n, i;
	int dfd, ret;

	dfd = open_subdir(s, "chunks", 0);
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	while (flock(dfd, LOCK_EX) < 0 && errno == EINTR)
		;
	ret = cdt_list_dir(dfd, ".", &ents, &n);
	if (ret < 0) {
		close(dfd);
		return ret;
	}
	for (i = 0; i < n; i++) {
		struct strbuf why = STRBUF_INIT;
		struct table t = { 0 };

		if (!is_table_name(ents[i].name)) {
			if (bad)
				bad(dfd, ents[i].name, 0, "not a reference table", data);
			continue;
		}
		ret = map_table(dfd, ents[i].name, &t, verify, &why);
		if (ret < 0 && bad)
			bad(dfd, ents[i].name, ret, why.buf, data);
		strbuf_release(&why);
		if (!t.map)
			continue;
		t.name = xstrdup(ents[i].name);
		ALLOC_GROW(r->tables, r->nr + 1, r->alloc);
		r->tables[r->nr++] = t;
	}
	cdt_dents_free(ents, n);
	close(dfd);	/* drops the lock */
	return 0;
}

int cdt_refs_open_checked(struct cdt_store *s, cdt_ref_table_bad_fn bad, void *data,
			  struct cdt_refs **out)
{
	struct cdt_refs *r = xcalloc(1, sizeof(*r));
	int ret = load_checked(s, 1, bad, data, r);

	if (ret < 0) {
		cdt_refs_close(r);
		r = NULL;
	}
	*out = r;
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

		if (!t->good)
			continue;
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

int cdt_refs_for_each_pair(const struct cdt_refs *r, cdt_ref_pair_fn fn, void *data)
{
	struct merge m = { 0 };
	struct cdt_ref_pair p;
	size_t i;
	int ret = 0;

	m.t = xcalloc(r->nr ? r->nr : 1, sizeof(*m.t));
	m.pos = xcalloc(r->nr ? r->nr : 1, sizeof(*m.pos));
	for (i = 0; i < r->nr; i++)
		if (r->tables[i].good)
			m.t[m.nr++] = &r->tables[i];
	while (!ret && merge_source(&p, &m) == 1)
		ret = fn(&p, data);
	free(m.t);
	free(m.pos);
	return ret;
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

/*
 * The rebuild's fresh tables, through w: the pairs the caller adds, then
 * those of the old tables that it keeps.
 */
static int write_fresh_tables(struct cdt_ref_writer *w, const struct cdt_refs *old,
			      const struct cdt_refs_rebuild *rb)
{
	int ret = rb->fill(w, rb->data);
	size_t i;

	for (i = 0; rb->carry && i < old->nr && !ret; i++) {
		uint64_t j;

		for (j = 0; j < old->tables[i].count && !ret; j++) {
			struct cdt_ref_pair p;

			memcpy(&p, table_rec(&old->tables[i], j), CDT_REFS_REC);
			if (rb->carry(&p, rb->data))
				ret = cdt_ref_writer_add(w, &p.chunk, &p.manifest);
		}
	}
	return ret ? ret : cdt_ref_writer_flush(w);
}

int cdt_refs_rebuild(struct cdt_store *s, struct cdt_refs_rebuild *rb)
{
	struct cdt_refs old = { 0 };
	struct cdt_ref_writer *w = NULL;
	const char *const *fresh = NULL;
	size_t nfresh = 0, i, j;
	int dfd = -1, ret, round;

	rb->written = 0;
	rb->removed = 0;
	ret = load_checked(s, 0, NULL, NULL, &old);
	if (ret < 0) {
		unmap_tables(&old);
		free(old.tables);
		return error_code(ret, "cannot read the reference tables: %s", cdt_strerror(ret));
	}
	/*
	 * A fresh table that has the name of a damaged old one (same pairs,
	 * rotted bytes) is not written over it: remove the damaged file once
	 * the others are durable, and write again.
	 */
	for (round = 0; round < 2; round++) {
		int redo = 0;

		cdt_ref_writer_free(w);
		w = cdt_ref_writer_new(s);
		ret = write_fresh_tables(w, &old, rb);
		nfresh = cdt_ref_writer_tables(w, &fresh);
		if (!ret)
			ret = cdt_store_sync(s);
		if (ret < 0) {
			error("cannot write reference tables: %s", cdt_strerror(ret));
			goto out;
		}
		dfd = open_subdir(s, "chunks", 0);
		for (i = 0; dfd >= 0 && i < nfresh; i++) {
			struct table t = { 0 };

			if (map_table(dfd, fresh[i], &t, 1, NULL) < 0) {
				if (unlinkat(dfd, fresh[i], 0) == 0)
					rb->removed++;
				redo = 1;
			}
			if (t.map)
				munmap((void *)t.map, t.map_len);
		}
		if (!redo)
			break;
		if (dfd >= 0)
			close(dfd);
		dfd = -1;
	}
	if (round == 2) {
		ret = error_code(-EIO, "reference tables in '%s/refs/chunks' do not read back as written",
				 cdt_store_path(s));
		goto out;
	}
	rb->written = nfresh;
	if (dfd < 0 && nfresh) {
		ret = error_code(dfd, "cannot open '%s/refs/chunks': %s", cdt_store_path(s),
				 cdt_strerror(dfd));
		goto out;
	}
	/* The fresh tables are durable: every other table (old, damaged) can go. */
	if (dfd >= 0) {
		struct cdt_dent *ents;
		size_t n;

		ret = cdt_list_dir(dfd, ".", &ents, &n);
		if (ret < 0) {
			error("cannot list '%s/refs/chunks': %s", cdt_store_path(s),
			      cdt_strerror(ret));
			goto out;
		}
		for (i = 0; i < n; i++) {
			int keep = !is_table_name(ents[i].name);

			for (j = 0; !keep && j < nfresh; j++)
				keep = !strcmp(ents[i].name, fresh[j]);
			if (keep)
				continue;
			if (unlinkat(dfd, ents[i].name, 0) < 0 && errno != ENOENT) {
				ret = error_code(-errno, "cannot remove 'refs/chunks/%s': %s",
						 ents[i].name, cdt_strerror(errno));
				cdt_dents_free(ents, n);
				goto out;
			}
			rb->removed++;
		}
		cdt_dents_free(ents, n);
		if (fsync(dfd) < 0) {
			ret = error_code(-errno, "cannot sync '%s/refs/chunks': %s",
					 cdt_store_path(s), cdt_strerror(errno));
			goto out;
		}
	}
	/* Keep lookups cheap: one table. */
	ret = cdt_refs_compact(s, 0, NULL, NULL);
	if (ret < 0) {
		error("cannot merge reference tables: %s", cdt_strerror(ret));
		goto out;
	}
	ret = 0;
out:
	if (dfd >= 0)
		close(dfd);
	cdt_ref_writer_free(w);
	unmap_tables(&old);
	free(old.tables);
	return ret;
}
