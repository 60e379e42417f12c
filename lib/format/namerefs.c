/* namerefs.c: tables of name records (manifest -> names): their format, writing them, lookups and merging. */
#include "format/namerefs.h"
#include "format/namerefs-internal.h"
#include "base/csum-file.h"
#include "base/fsutil.h"
#include "format/names.h"
#include "base/util.h"
#include "base/testpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * A table (store-format.md, "Manifest -> names"):
 *
 *   "CDTN" version(1)=1 reserved(3)=0 count(LE64) name bytes(LE64) reserved(8)=0
 *   count x { manifest id (32), offset of its name (LE64) }
 *   the names, one after another, without terminators
 *   checksum (32): SHA-256 of every byte before it
 *
 * sorted by manifest id, then name (bytes), with no duplicates; a name
 * runs from its offset to the next record's (the last to the end of the
 * names). Named <64 hex of the checksum>.rec.
 */
#define TABLE_MAGIC "CDTN"
#define TABLE_VERSION 1
#define TABLE_HDR 32
#define TABLE_REC (CDT_ID_LEN + 8)
#define TABLE_SUFFIX ".rec"
/* Records of at most this many bytes (names included) are merged at once. */
#define MERGE_MAX_BYTES (256u << 20)


static const unsigned char *rec_at(const struct table *t, uint64_t i)
{
	return t->recs + i * TABLE_REC;
}

static uint64_t rec_off(const struct table *t, uint64_t i)
{
	return get_le64(rec_at(t, i) + CDT_ID_LEN);
}

/* Record i's name: its bytes and length (checked by table_check()). */
static const char *rec_name(const struct table *t, uint64_t i, size_t *len)
{
	uint64_t off = rec_off(t, i), end = i + 1 < t->n ? rec_off(t, i + 1) : t->nbytes;

	*len = (size_t)(end - off);
	return t->names + off;
}

static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : (alen > blen) - (alen < blen);
}

int nr_is_table_file(const char *n)
{
	return strlen(n) == TABLE_FILE_LEN && strspn(n, "0123456789abcdef") == CDT_ID_HEXLEN &&
	       !strcmp(n + CDT_ID_HEXLEN, TABLE_SUFFIX);
}

/* Everything a reader relies on, checked once: shape, checksum, order, names. */
static int table_check(struct table *t, struct strbuf *why)
{
	const unsigned char *h = t->map;
	uint64_t i, room;
	struct cdt_id sum;
	char hex[CDT_ID_HEXLEN + 1];

	if (t->size < TABLE_HDR + CDT_ID_LEN || memcmp(h, TABLE_MAGIC, 4)) {
		strbuf_addstr(why, "not a table of name records");
		return -CDT_ECORRUPT;
	}
	if (h[4] != TABLE_VERSION) {
		strbuf_addf(why, "unknown table version %u", h[4]);
		return -CDT_ECORRUPT;
	}
	if (h[5] || h[6] || h[7] || get_le64(h + 24)) {
		strbuf_addstr(why, "reserved bytes are not zero");
		return -CDT_ECORRUPT;
	}
	t->n = get_le64(h + 8);
	t->nbytes = get_le64(h + 16);
	room = t->size - TABLE_HDR - CDT_ID_LEN;
	if (!t->n || t->n > room / TABLE_REC || t->nbytes != room - t->n * TABLE_REC) {
		strbuf_addstr(why, "its counts do not match its size");
		return -CDT_ECORRUPT;
	}
	cdt_hash(t->map, t->size - CDT_ID_LEN, &sum);
	if (memcmp(sum.b, t->map + t->size - CDT_ID_LEN, CDT_ID_LEN)) {
		strbuf_addstr(why, "checksum mismatch");
		return -CDT_ECORRUPT;
	}
	cdt_id_to_hex(&sum, hex);
	if (strncmp(t->file, hex, CDT_ID_HEXLEN)) {
		strbuf_addstr(why, "its file name is not its checksum");
		return -CDT_ECORRUPT;
	}
	t->recs = t->map + TABLE_HDR;
	t->names = (const char *)t->recs + t->n * TABLE_REC;
	if (rec_off(t, 0)) {
		strbuf_addstr(why, "its first name does not start its names");
		return -CDT_ECORRUPT;
	}
	for (i = 0; i < t->n; i++) {
		uint64_t off = rec_off(t, i), end = i + 1 < t->n ? rec_off(t, i + 1) : t->nbytes;
		struct strbuf nm = STRBUF_INIT, w = STRBUF_INIT;
		int bad;

		if (end <= off || end > t->nbytes || end - off > CDT_NAME_MAX) {
			strbuf_addf(why, "record %llu: its name is out of bounds",
				    (unsigned long long)i);
			return -CDT_ECORRUPT;
		}
		strbuf_add(&nm, t->names + off, (size_t)(end - off));
		bad = strlen(nm.buf) != nm.len || cdt_name_check(nm.buf, &w) < 0;
		if (bad)
			strbuf_addf(why, "record %llu: not a valid name", (unsigned long long)i);
		strbuf_release(&nm);
		strbuf_release(&w);
		if (bad)
			return -CDT_ECORRUPT;
		if (i) {
			size_t al, bl;
			const char *a = rec_name(t, i - 1, &al), *b = rec_name(t, i, &bl);
			int c = memcmp(rec_at(t, i - 1), rec_at(t, i), CDT_ID_LEN);

			if (c > 0 || (!c && name_cmp(a, al, b, bl) >= 0)) {
				strbuf_addf(why, "record %llu is out of order", (unsigned long long)i);
				return -CDT_ECORRUPT;
			}
		}
	}
	return 0;
}

/* Map and check refs/names/<file>. 0, -CDT_ECORRUPT (why says), or -errno. */
int nr_table_map(int dfd, const char *file, struct table *t, struct strbuf *why)
{
	int ret;

	memset(t, 0, sizeof(*t));
	strcpy(t->file, file);
	ret = map_file_at(dfd, file, TABLE_HDR + TABLE_REC + 1 + CDT_ID_LEN, UINT64_MAX, &t->map,
			  &t->size);
	if (ret == -CDT_ECORRUPT)
		strbuf_addstr(why, "too short to be a table of name records");
	if (ret < 0)
		return ret;
	ret = table_check(t, why);
	if (ret < 0) {
		munmap((void *)t->map, t->size);
		t->map = NULL;
	}
	return ret;
}

void nr_table_unmap(struct table *t)
{
	if (t->map)
		munmap((void *)t->map, t->size);
	t->map = NULL;
}

/* refs/names, made first with `create`: an fd or -errno. */
int nr_open_dir(struct cdt_store *s, int create)
{
	int refsfd = cdt_store_dirfd(s, CDT_DIR_REFS);
	int fd = openat(refsfd, "names", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT && create) {
		if (mkdirat(refsfd, "names", 0777) < 0 && errno != EEXIST)
			return -errno;
		fd = openat(refsfd, "names", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	return fd < 0 ? -errno : fd;
}

/* ---- writing tables ---- */

struct record {
	struct cdt_id m;
	char *name;
	size_t len;
};

static int record_cmp(const void *a, const void *b)
{
	const struct record *x = a, *y = b;
	int c = cdt_id_cmp(&x->m, &y->m);

	return c ? c : name_cmp(x->name, x->len, y->name, y->len);
}

struct cdt_nameref_writer {
	struct cdt_store *store;
	struct record *recs;
	size_t nr, alloc;
	uint64_t bytes;
	struct cdt_csum_file *staged;	/* written, not yet moved into place */
	struct cdt_id staged_sum;
};

struct cdt_nameref_writer *cdt_nameref_writer_new(struct cdt_store *s)
{
	struct cdt_nameref_writer *w = xcalloc(1, sizeof(*w));

	w->store = s;
	return w;
}

void nr_writer_add_len(struct cdt_nameref_writer *w, const struct cdt_id *m, const char *name,
			   size_t len)
{
	struct record *r;

	ALLOC_GROW(w->recs, w->nr + 1, w->alloc);
	r = &w->recs[w->nr++];
	r->m = *m;
	r->name = xstrndup(name, len);
	r->len = len;
	w->bytes += TABLE_REC + len;
}

void cdt_nameref_writer_add(struct cdt_nameref_writer *w, const struct cdt_id *m, const char *name)
{
	nr_writer_add_len(w, m, name, strlen(name));
}

size_t cdt_nameref_writer_count(const struct cdt_nameref_writer *w)
{
	return w->nr;
}

static void writer_reset(struct cdt_nameref_writer *w)
{
	size_t i;

	for (i = 0; i < w->nr; i++)
		free(w->recs[i].name);
	w->nr = 0;
	w->bytes = 0;
}

/*
 * Write the records (sorted, duplicates dropped) as a table in tmp/, synced
 * with `sync`; the writer keeps it for writer_install(). 0 or -errno.
 */
static int writer_stage(struct cdt_nameref_writer *w, int sync)
{
	struct cdt_csum_file *f = NULL;
	unsigned char hdr[TABLE_HDR];
	uint64_t nbytes = 0, off = 0;
	size_t i, n = 0;
	int ret;

	if (w->staged) {
		cdt_csum_file_free(w->staged);
		w->staged = NULL;
	}
	if (!w->nr)
		return 0;
	qsort(w->recs, w->nr, sizeof(*w->recs), record_cmp);
	for (i = 0; i < w->nr; i++) {
		if (n && !record_cmp(&w->recs[n - 1], &w->recs[i])) {
			free(w->recs[i].name);
			continue;
		}
		w->recs[n++] = w->recs[i];
		nbytes += w->recs[i].len;
	}
	w->nr = n;
	ret = cdt_csum_file_open(cdt_store_dirfd(w->store, CDT_DIR_TMP), "nameref", &f);
	if (ret < 0)
		goto out;
	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, TABLE_MAGIC, 4);
	hdr[4] = TABLE_VERSION;
	put_le64(hdr + 8, n);
	put_le64(hdr + 16, nbytes);
	ret = cdt_csum_file_write(f, hdr, sizeof(hdr));
	for (i = 0; !ret && i < n; i++) {
		unsigned char rec[TABLE_REC];

		memcpy(rec, w->recs[i].m.b, CDT_ID_LEN);
		put_le64(rec + CDT_ID_LEN, off);
		off += w->recs[i].len;
		ret = cdt_csum_file_write(f, rec, sizeof(rec));
	}
	for (i = 0; !ret && i < n; i++)
		ret = cdt_csum_file_write(f, w->recs[i].name, w->recs[i].len);
	if (!ret)
		ret = cdt_csum_file_finish(f, CDT_CSUM_APPEND | (sync ? CDT_CSUM_FSYNC : 0),
					   &w->staged_sum);
out:
	if (ret)
		cdt_csum_file_free(f);
	else
		w->staged = f;
	writer_reset(w);
	return ret;
}

/*
 * Move the staged table into refs/names/ (its name in final, "" if none),
 * the directory synced with `sync`. A table of the same name already
 * there holds the same records, unless it is damaged: then it is replaced.
 * 0 or -errno.
 */
static int writer_install(struct cdt_nameref_writer *w, int sync, char *final)
{
	struct strbuf why = STRBUF_INIT;
	struct table t;
	int dfd, ret;

	final[0] = '\0';
	if (!w->staged)
		return 0;
	dfd = nr_open_dir(w->store, 1);
	if (dfd < 0) {
		ret = dfd;
		goto out;
	}
	cdt_id_to_hex(&w->staged_sum, final);
	strcat(final, TABLE_SUFFIX);
	ret = nr_table_map(dfd, final, &t, &why);
	if (ret == 0)
		nr_table_unmap(&t);
	else if (ret == -CDT_ECORRUPT)
		unlinkat(dfd, final, 0);
	ret = cdt_csum_file_rename(w->staged, dfd, final, CDT_CSUM_NOREPLACE |
				   (sync ? CDT_CSUM_SYNC_DIR : 0));
	if (ret > 0)
		ret = 0;	/* the same set is there already */
	close(dfd);
out:
	cdt_csum_file_free(w->staged);
	w->staged = NULL;
	strbuf_release(&why);
	return ret;
}

/* cdt_nameref_writer_commit(), telling the table's file name ("" if none) in final. */
static int writer_commit(struct cdt_nameref_writer *w, int sync, char *final)
{
	int ret = writer_stage(w, sync);

	final[0] = '\0';
	return ret ? ret : writer_install(w, sync, final);
}

int cdt_nameref_writer_commit(struct cdt_nameref_writer *w, int sync)
{
	char final[TABLE_FILE_LEN + 1];

	return writer_commit(w, sync, final);
}

int cdt_nameref_writer_stage(struct cdt_nameref_writer *w)
{
	return writer_stage(w, 0);
}

int cdt_nameref_writer_install(struct cdt_nameref_writer *w)
{
	char final[TABLE_FILE_LEN + 1];

	return writer_install(w, 0, final);
}

void cdt_nameref_writer_free(struct cdt_nameref_writer *w)
{
	if (!w)
		return;
	writer_reset(w);
	cdt_csum_file_free(w->staged);
	free(w->recs);
	free(w);
}

int cdt_nameref_add(struct cdt_store *s, const struct cdt_id *m, const char *name)
{
	struct cdt_nameref_writer *w = cdt_nameref_writer_new(s);
	int ret;

	cdt_nameref_writer_add(w, m, name);
	ret = cdt_nameref_writer_commit(w, 1);
	cdt_nameref_writer_free(w);
	return ret;
}

/* ---- lookups ---- */

/*
 * Map every good table in refs/names (bad() gets the others, if given).
 * Returns 0 or -errno; with no refs/names, 0 and namesfd -1.
 */
int nr_load_tables(struct cdt_namerefs *r, int create,
		   void (*bad)(const char *path, int err, const char *why, void *data),
		   int (*stray)(int dirfd, const char *file, const char *path, const char *why,
				void *data),
		   void *data)
{
	struct cdt_dent *ents = NULL;
	struct strbuf *whys = NULL;
	int *errs = NULL;
	size_t n = 0, i;
	int ret, attempt;

	r->namesfd = nr_open_dir(r->store, create);
	if (r->namesfd == -ENOENT) {
		r->namesfd = -1;
		return 0;
	}
	if (r->namesfd < 0)
		return r->namesfd;
	/*
	 * A table listed but gone when mapped was merged by a concurrent add
	 * (the merged table is in place before its inputs go): list again,
	 * so that its records are not missed.
	 */
	for (attempt = 0;; attempt++) {
		int vanished = 0;

		ret = cdt_list_dir(r->namesfd, ".", &ents, &n);
		if (ret < 0)
			return ret;
		if (!attempt)
			cdt_pause_point("nameref-list");
		errs = xcalloc(n ? n : 1, sizeof(*errs));
		whys = xcalloc(n ? n : 1, sizeof(*whys));
		for (i = 0; i < n; i++) {
			struct table t;

			strbuf_init(&whys[i], 0);
			if (!nr_is_table_file(ents[i].name) || ents[i].type != DT_REG)
				continue;
			errs[i] = nr_table_map(r->namesfd, ents[i].name, &t, &whys[i]);
			if (errs[i] == -ENOENT) {
				vanished = 1;
			} else if (!errs[i]) {
				ALLOC_GROW(r->tables, r->ntables + 1, r->alloc);
				r->tables[r->ntables++] = t;
			}
		}
		if (!vanished || attempt == 2)
			break;
		for (i = 0; i < r->ntables; i++)
			nr_table_unmap(&r->tables[i]);
		r->ntables = 0;
		for (i = 0; i < n; i++)
			strbuf_release(&whys[i]);
		free(whys);
		free(errs);
		cdt_dents_free(ents, n);
	}
	for (i = 0; i < n && !ret; i++) {
		char *path;

		if (ents[i].type == DT_DIR && cdt_is_hex(ents[i].name, 2) && strlen(ents[i].name) == 2)
			continue;	/* the old layout */
		path = xstrfmt("names/%s", ents[i].name);
		if (!nr_is_table_file(ents[i].name) || ents[i].type != DT_REG) {
			if (stray)
				ret = stray(r->namesfd, ents[i].name, path,
					    "not a table of name records", data);
		} else if (errs[i] < 0 && errs[i] != -ENOENT && bad) {
			bad(path, errs[i], whys[i].buf, data);
		}
		free(path);
	}
	for (i = 0; i < n; i++)
		strbuf_release(&whys[i]);
	free(whys);
	free(errs);
	cdt_dents_free(ents, n);
	return ret;
}

void nr_release(struct cdt_namerefs *r)
{
	size_t i;

	for (i = 0; i < r->ntables; i++)
		nr_table_unmap(&r->tables[i]);
	free(r->tables);
	if (r->namesfd >= 0)
		close(r->namesfd);
}

int cdt_namerefs_open(struct cdt_store *s, struct cdt_namerefs **out)
{
	struct cdt_namerefs *r = xcalloc(1, sizeof(*r));
	int ret;

	r->store = s;
	ret = nr_load_tables(r, 0, NULL, NULL, NULL);
	if (ret < 0) {
		nr_release(r);
		free(r);
		*out = NULL;
		return ret;
	}
	*out = r;
	return 0;
}

void cdt_namerefs_close(struct cdt_namerefs *r)
{
	if (!r)
		return;
	nr_release(r);
	free(r);
}

/* The first record of m in t (t->n if none). */
static uint64_t table_find(const struct table *t, const struct cdt_id *m)
{
	uint64_t lo = 0, hi = t->n;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (memcmp(rec_at(t, mid), m->b, CDT_ID_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int cdt_namerefs_list(struct cdt_namerefs *r, const struct cdt_id *m, cdt_nameref_fn fn,
		      void *data)
{
	struct strbuf sb = STRBUF_INIT;
	char dir[CDT_ID_HEXLEN + 2];
	struct cdt_dent *ents;
	size_t n, i;
	int dfd, ret = 0;

	if (r->namesfd < 0)
		return 0;
	for (i = 0; i < r->ntables && !ret; i++) {
		const struct table *t = &r->tables[i];
		uint64_t k;

		for (k = table_find(t, m); !ret && k < t->n; k++) {
			const char *nm;
			size_t len;

			if (memcmp(rec_at(t, k), m->b, CDT_ID_LEN))
				break;
			nm = rec_name(t, k, &len);
			strbuf_reset(&sb);
			strbuf_add(&sb, nm, len);
			ret = fn(sb.buf, 0, data);
		}
	}
	nr_old_dir(m, dir);
	dfd = ret ? -1 : openat_beneath(r->namesfd, dir, O_RDONLY | O_DIRECTORY, 0);
	if (dfd == -ENOENT || dfd == -ENOTDIR)
		goto out;
	if (dfd < 0) {
		if (!ret)
			ret = dfd;
		goto out;
	}
	ret = cdt_list_dir(dfd, ".", &ents, &n);
	if (!ret) {
		for (i = 0; !ret && i < n; i++) {
			int e;

			if (ents[i].name[0] == '.')
				continue;
			e = nr_old_read(dfd, ents[i].name, &sb);
			ret = e < 0 ? fn(NULL, e, data) : fn(sb.buf, 0, data);
		}
		cdt_dents_free(ents, n);
	}
	close(dfd);
out:
	strbuf_release(&sb);
	return ret;
}

void nr_visit(const struct table *t, uint64_t k, struct strbuf *name,
			     struct strbuf *path, struct cdt_nameref_visit *v)
{
	const char *nm;
	size_t len;

	memcpy(v->manifest.b, rec_at(t, k), CDT_ID_LEN);
	nm = rec_name(t, k, &len);
	strbuf_reset(name);
	strbuf_add(name, nm, len);
	cdt_hash(name->buf, name->len, &v->name_hash);
	v->name = name->buf;
	v->err = 0;
	strbuf_reset(path);
	strbuf_addf(path, "names/%s", t->file);
	v->path = path->buf;
	v->in_table = 1;
}

/* ---- merging on add ---- */

struct sized {
	char *file;
	uint64_t size;
};

static int cmp_sized(const void *a, const void *b)
{
	const struct sized *x = a, *y = b;

	return (x->size > y->size) - (x->size < y->size);
}

int cdt_nameref_merge(struct cdt_store *s)
{
	struct cdt_nameref_writer *w = NULL;
	struct sized *all = NULL;
	struct table *in = NULL;
	struct cdt_dent *ents = NULL;
	char final[TABLE_FILE_LEN + 1];
	size_t nents = 0, nall = 0, nin = 0, i, n = 0;
	uint64_t taken = 0;
	int dfd, ret;

	dfd = nr_open_dir(s, 0);
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	/* Count first, from the listing alone: most commits merge nothing. */
	ret = cdt_list_dir(dfd, ".", &ents, &nents);
	if (ret < 0)
		goto out;
	all = xcalloc(nents ? nents : 1, sizeof(*all));
	for (i = 0; i < nents; i++) {
		struct stat st;

		if (!nr_is_table_file(ents[i].name) || ents[i].type != DT_REG ||
		    fstatat(dfd, ents[i].name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		all[nall].file = ents[i].name;
		all[nall++].size = (uint64_t)st.st_size;
	}
	if (nall <= CDT_NAMEREF_MAX_TABLES)
		goto out;
	/*
	 * The smallest tables, while the next is no bigger than twice what is
	 * taken (so each record is written again O(log n) times), at least
	 * two, and not more bytes than MERGE_MAX_BYTES.
	 */
	qsort(all, nall, sizeof(*all), cmp_sized);
	while (n < nall && (n < 2 || all[n].size <= 2 * taken) &&
	       taken + all[n].size <= MERGE_MAX_BYTES)
		taken += all[n++].size;
	if (n < 2)
		goto out;
	in = xcalloc(n, sizeof(*in));
	w = cdt_nameref_writer_new(s);
	for (i = 0; i < n; i++) {
		struct strbuf why = STRBUF_INIT;
		uint64_t k;

		/* A table that cannot be used is left for gc or fsck. */
		if (nr_table_map(dfd, all[i].file, &in[nin], &why) == 0) {
			for (k = 0; k < in[nin].n; k++) {
				struct cdt_id m;
				size_t len;
				const char *nm = rec_name(&in[nin], k, &len);

				memcpy(m.b, rec_at(&in[nin], k), CDT_ID_LEN);
				nr_writer_add_len(w, &m, nm, len);
			}
			nin++;
		}
		strbuf_release(&why);
	}
	if (nin < 2)
		goto out;
	ret = writer_commit(w, 1, final);
	/* One input may hold every record of the others: the merged table is that one. */
	for (i = 0; !ret && i < nin; i++)
		if (strcmp(in[i].file, final))
			unlinkat(dfd, in[i].file, 0);
	if (!ret)
		ret = (int)nin;
out:
	for (i = 0; i < nin; i++)
		nr_table_unmap(&in[i]);
	free(in);
	cdt_nameref_writer_free(w);
	free(all);
	cdt_dents_free(ents, nents);
	close(dfd);
	return ret;
}

