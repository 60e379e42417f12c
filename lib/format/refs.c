/* refs.c: reverse reference tables (chunk -> manifests): reading them, lookups, compaction, rebuilding. */
#include "format/refs.h"
#include "format/refs-internal.h"
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

struct table {
	char *name;
	const unsigned char *map;
	size_t map_len;
	uint64_t count;
	int good;		/* its pairs may be read: every check made holds */
	size_t hdr, rec;	/* header and record sizes of its version */
	const unsigned char *mans;	/* version 2: the manifest ids */
	uint32_t nman;
};

struct cdt_refs {
	struct table *tables;
	size_t nr, alloc;
};

static const unsigned char *table_rec(const struct table *t, uint64_t i)
{
	return t->map + t->hdr + i * t->rec;
}

/* Pair i of t: 0, or -1 when its manifest number names no manifest (damage). */
static int table_pair(const struct table *t, uint64_t i, struct cdt_ref_pair *p)
{
	const unsigned char *rec = table_rec(t, i);
	uint32_t k;

	memcpy(p->chunk.b, rec, CDT_ID_LEN);
	if (t->rec == CDT_REFS_REC) {
		memcpy(p->manifest.b, rec + CDT_ID_LEN, CDT_ID_LEN);
		return 0;
	}
	k = get_le32(rec + CDT_ID_LEN);
	if (k >= t->nman)
		return -1;
	memcpy(p->manifest.b, t->mans + (size_t)k * CDT_ID_LEN, CDT_ID_LEN);
	return 0;
}

/*
 * The shape of a mapped table of `len` bytes: its version's header and a
 * length that its counts give exactly. Sets t's sizes and count (0 when
 * the shape fails: nothing in it can be read).
 */
static int table_shape(struct table *t, struct strbuf *why)
{
	const unsigned char *m = t->map;
	uint64_t len = t->map_len, count, nman;

	t->hdr = CDT_REFS_HDR;
	t->rec = CDT_REFS_REC;
	/* A version-1 length: its pairs can be read whatever its header says (the rebuild does). */
	t->count = (len - CDT_REFS_HDR - CDT_ID_LEN) % CDT_REFS_REC ? 0 :
		   (len - CDT_REFS_HDR - CDT_ID_LEN) / CDT_REFS_REC;
	if (memcmp(m, CDT_REFS_MAGIC, 4) || m[5] || m[6] || m[7])
		return cdt_corrupt(why, "bad header");
	if (m[4] == CDT_REFS_VERSION) {
		if ((len - CDT_REFS_HDR - CDT_ID_LEN) % CDT_REFS_REC)
			return cdt_corrupt(why, "impossible length (%llu bytes)",
					   (unsigned long long)len);
		if (get_le64(m + 8) != t->count)
			return cdt_corrupt(why, "pair count does not match its length");
		return 0;
	}
	t->count = 0;
	if (m[4] != CDT_REFS_VERSION_NUMBERED || len < CDT_REFS_HDR2 + CDT_ID_LEN ||
	    get_le32(m + 20))
		return cdt_corrupt(why, "bad header");
	t->hdr = CDT_REFS_HDR2;
	t->rec = CDT_REFS_REC2;
	count = get_le64(m + 8);
	nman = get_le32(m + 16);
	/* Bounded first, so the sum cannot overflow. */
	if (count > len / CDT_REFS_REC2 || nman > count || (!nman) != (!count) ||
	    CDT_REFS_HDR2 + count * CDT_REFS_REC2 + nman * CDT_ID_LEN + CDT_ID_LEN != len)
		return cdt_corrupt(why, "pair and manifest counts do not match its length");
	t->count = count;
	t->nman = (uint32_t)nman;
	t->mans = m + CDT_REFS_HDR2 + count * CDT_REFS_REC2;
	return 0;
}

static int man_id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CDT_ID_LEN);
}

/*
 * What a writer guarantees and fsck checks: pairs strictly increasing and,
 * in version 2, manifests numbered in order of first use, each listed
 * once and used.
 */
static int table_order(const struct table *t, struct strbuf *why)
{
	struct cdt_ref_pair prev, p;
	uint64_t i, next_new = 0;
	int ret = 0;

	for (i = 0; i < t->count; i++) {
		if (table_pair(t, i, &p) < 0)
			return cdt_corrupt(why, "pair %llu names no manifest", (unsigned long long)i);
		if (i && cdt_refs_pair_cmp(&prev, &p) >= 0)
			return cdt_corrupt(why, "pair %llu is out of order", (unsigned long long)i);
		if (t->rec == CDT_REFS_REC2) {
			uint32_t k = get_le32(table_rec(t, i) + CDT_ID_LEN);

			if (k > next_new)
				return cdt_corrupt(why, "pair %llu uses a manifest before those before it",
						   (unsigned long long)i);
			if (k == next_new)
				next_new++;
		}
		prev = p;
	}
	if (t->rec == CDT_REFS_REC2 && t->nman) {
		unsigned char *ids = xmalloc((size_t)t->nman * CDT_ID_LEN);

		if (next_new != t->nman)
			ret = cdt_corrupt(why, "lists a manifest no pair uses");
		memcpy(ids, t->mans, (size_t)t->nman * CDT_ID_LEN);
		qsort(ids, t->nman, CDT_ID_LEN, man_id_cmp);
		for (i = 1; !ret && i < t->nman; i++)
			if (!memcmp(ids + (i - 1) * CDT_ID_LEN, ids + i * CDT_ID_LEN, CDT_ID_LEN))
				ret = cdt_corrupt(why, "lists a manifest twice");
		free(ids);
	}
	return ret;
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
 * What fsck and the rebuild check of a table whose shape holds: its
 * checksum, that its name is that checksum, and the order of its pairs.
 */
static int table_check(const struct table *t, const char *name, struct strbuf *why)
{
	/* As written: the pairs (and manifests), then the header (its counts are known last). */
	struct cdt_hasher *h = cdt_hasher_new();
	char hex[CDT_ID_HEXLEN + 1];
	struct cdt_id sum;

	cdt_hasher_update(h, t->map + t->hdr, t->map_len - t->hdr - CDT_ID_LEN);
	cdt_hasher_update(h, t->map, t->hdr);
	cdt_hasher_final(h, &sum);
	cdt_hasher_free(h);
	if (memcmp(sum.b, t->map + t->map_len - CDT_ID_LEN, CDT_ID_LEN))
		return cdt_corrupt(why, "checksum does not match its contents");
	cdt_id_to_hex(&sum, hex);
	if (strncmp(name, hex, CDT_ID_HEXLEN))
		return cdt_corrupt(why, "name is not its checksum");
	return table_order(t, why);
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
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), err;

	if (fd < 0) {
		err = errno;
		if (why)
			strbuf_addf(why, "cannot open: %s", cdt_strerror(err));
		return err == ELOOP ? -CDT_ECORRUPT : -err;
	}
	if (fstat(fd, &st) < 0) {
		err = errno;
		close(fd);
		if (why)
			strbuf_addf(why, "cannot stat: %s", cdt_strerror(err));
		return -err;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return cdt_corrupt(why, "not a regular file");
	}
	if ((uint64_t)st.st_size < CDT_REFS_HDR + CDT_ID_LEN) {
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
	t->good = 0;
	err = table_shape(t, why);
	if (err < 0)
		return err;
	if (verify) {
		err = table_check(t, name, why);
		if (err < 0)
			return err;
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

	dfd = cdt_refs_open_subdir(s, "chunks", 0);
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

	dfd = cdt_refs_open_subdir(s, "chunks", 0);
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
			struct cdt_ref_pair p;

			if (memcmp(table_rec(t, k), chunk->b, CDT_ID_LEN))
				break;
			if (table_pair(t, k, &p) < 0)
				continue;
			ALLOC_GROW(ids, nr + 1, alloc);
			ids[nr++] = p.manifest;
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

/*
 * k-way merge over mapped tables, skipping duplicates, unkept pairs and
 * pairs that name no manifest. head[i] is table i's pair at pos[i].
 */
struct merge {
	struct table **t;
	uint64_t *pos;
	struct cdt_ref_pair *head;
	size_t nr;
	struct cdt_ref_pair last;
	int have_last;
	cdt_ref_keep_fn keep;
	void *data;
};

/* Move table i's head to its next readable pair at pos[i] or after. */
static void merge_load(struct merge *m, size_t i)
{
	while (m->pos[i] < m->t[i]->count && table_pair(m->t[i], m->pos[i], &m->head[i]) < 0)
		m->pos[i]++;
}

/* Set up m for tables m->t[0..n), whose count m->nr already is. */
static void merge_start(struct merge *m)
{
	size_t i, n = m->nr ? m->nr : 1;

	m->pos = xcalloc(n, sizeof(*m->pos));
	m->head = xcalloc(n, sizeof(*m->head));
	for (i = 0; i < m->nr; i++)
		merge_load(m, i);
}

static void merge_end(struct merge *m)
{
	free(m->t);
	free(m->pos);
	free(m->head);
}

static int merge_source(struct cdt_ref_pair *p, void *data)
{
	struct merge *m = data;

	for (;;) {
		size_t i, best = SIZE_MAX;

		for (i = 0; i < m->nr; i++) {
			if (m->pos[i] >= m->t[i]->count)
				continue;
			if (best == SIZE_MAX || cdt_refs_pair_cmp(&m->head[i], &m->head[best]) < 0)
				best = i;
		}
		if (best == SIZE_MAX)
			return 0;
		*p = m->head[best];
		m->pos[best]++;
		merge_load(m, best);
		if (m->have_last && !cdt_refs_pair_cmp(p, &m->last))
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
	for (i = 0; i < r->nr; i++)
		if (r->tables[i].good)
			m.t[m.nr++] = &r->tables[i];
	merge_start(&m);
	while (!ret && merge_source(&p, &m) == 1)
		ret = fn(&p, data);
	merge_end(&m);
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

	dfd = cdt_refs_open_subdir(s, "chunks", 0);
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
	/*
	 * The merged table gets a good checksum, whatever its inputs held:
	 * merge only tables that check, and leave a damaged one where it is,
	 * for fsck to report and --rebuild-refs to replace.
	 */
	m.t = xcalloc(take, sizeof(*m.t));
	for (i = 0; i < take; i++) {
		struct strbuf why = STRBUF_INIT;

		if (table_check(&r->tables[i], r->tables[i].name, &why) < 0)
			warning("reference table '%s/refs/chunks/%s' is damaged (%s); not merged (run 'cdt fsck --rebuild-refs')",
				cdt_store_path(s), r->tables[i].name, why.buf);
		else
			m.t[m.nr++] = &r->tables[i];
		strbuf_release(&why);
	}
	/* None left to merge, or one to copy as it is. */
	if (!m.nr || (!keep && m.nr < 2)) {
		free(m.t);
		cdt_refs_close(r);
		close(dfd);
		return 0;
	}
	merge_start(&m);
	m.keep = keep;
	m.data = data;
	ret = cdt_refs_write_table(s, merge_source, &m, merged);
	if (!ret)
		ret = cdt_store_sync(s);
	if (!ret) {
		/*
		 * The merged table is durable: the inputs can go, except one
		 * whose contents the merge reproduced (same content, same name).
		 */
		for (i = 0; i < m.nr; i++) {
			if (!strcmp(m.t[i]->name, merged))
				continue;
			if (unlinkat(dfd, m.t[i]->name, 0) < 0 && errno != ENOENT) {
				ret = -errno;
				break;
			}
		}
		if (!ret && fsync(dfd) < 0)
			ret = -errno;
	}
	merge_end(&m);
	cdt_refs_close(r);
	close(dfd);
	return ret < 0 ? ret : (int)m.nr;
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

			if (table_pair(&old->tables[i], j, &p) < 0)
				continue;
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
		dfd = cdt_refs_open_subdir(s, "chunks", 0);
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
