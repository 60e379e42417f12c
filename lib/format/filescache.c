/* filescache.c: the files cache (STORE/cache/files): parsing, lookups, aging and writing it back. */
#include "format/filescache.h"
#include "base/csum-file.h"
#include "base/fsutil.h"
#include "base/idset.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HDR 16
#define KEY 16

struct fc_entry {
	unsigned char key[KEY], root[KEY];
	uint64_t size, ino, dev;
	int64_t mtime_ns, ctime_ns;
	struct cdt_id content;
	uint32_t age;
	int seen;
	int recorded;	/* by this run: kept over a loaded entry of its path */
};

struct cdt_filescache {
	struct cdt_store *store;
	struct fc_entry *old;	/* as loaded, sorted by key */
	size_t nold;
	struct fc_entry *add;	/* recorded by this run */
	size_t nadd, aadd;
	struct cdt_idset walked;	/* root keys (zero-padded) of the directories walked */
	int changed;
};

static int64_t ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static void path_key(const char *abspath, unsigned char *key)
{
	struct cdt_id h;

	cdt_hash(abspath, strlen(abspath), &h);
	memcpy(key, h.b, KEY);
}

static void decode_rec(const unsigned char *p, struct fc_entry *e)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->key, p, KEY);
	e->size = get_le64(p + 16);
	e->mtime_ns = (int64_t)get_le64(p + 24);
	e->ctime_ns = (int64_t)get_le64(p + 32);
	e->ino = get_le64(p + 40);
	e->dev = get_le64(p + 48);
	memcpy(e->content.b, p + 56, CDT_ID_LEN);
	memcpy(e->root, p + 88, KEY);
	e->age = get_le32(p + 104);
}

static void encode_rec(const struct fc_entry *e, unsigned char *p)
{
	memset(p, 0, CDT_FILESCACHE_REC);
	memcpy(p, e->key, KEY);
	put_le64(p + 16, e->size);
	put_le64(p + 24, (uint64_t)e->mtime_ns);
	put_le64(p + 32, (uint64_t)e->ctime_ns);
	put_le64(p + 40, e->ino);
	put_le64(p + 48, e->dev);
	memcpy(p + 56, e->content.b, CDT_ID_LEN);
	memcpy(p + 88, e->root, KEY);
	put_le32(p + 104, e->age);
}

/* A root key as a member of the set of directories walked. */
static void root_id(const unsigned char *key, struct cdt_id *id)
{
	memset(id, 0, sizeof(*id));
	memcpy(id->b, key, KEY);
}

int cdt_filescache_parse(const unsigned char *buf, size_t len, uint64_t *count)
{
	struct cdt_id sum;
	uint64_t n, i;

	if (len < HDR + CDT_ID_LEN || memcmp(buf, CDT_FILESCACHE_MAGIC, 4) ||
	    buf[4] != CDT_FILESCACHE_VERSION || buf[5] || buf[6] || buf[7])
		return -CDT_ECORRUPT;
	n = get_le64(buf + 8);
	if (n > CDT_FILESCACHE_MAX || len != HDR + n * CDT_FILESCACHE_REC + CDT_ID_LEN)
		return -CDT_ECORRUPT;
	cdt_hash(buf, len - CDT_ID_LEN, &sum);
	if (memcmp(sum.b, buf + len - CDT_ID_LEN, CDT_ID_LEN))
		return -CDT_ECORRUPT;
	for (i = 0; i < n; i++) {
		const unsigned char *p = buf + HDR + i * CDT_FILESCACHE_REC;

		if (get_le32(p + 108))
			return -CDT_ECORRUPT;
		if (i && memcmp(p - CDT_FILESCACHE_REC, p, KEY) >= 0)
			return -CDT_ECORRUPT;
	}
	*count = n;
	return 0;
}

static int cache_dirfd(struct cdt_store *s, int create)
{
	int root = cdt_store_rootfd(s), fd;

	if (create && mkdirat(root, "cache", 0777) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(root, "cache", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	/*
	 * Anything else there (a file, a FIFO, a symbolic link, never
	 * followed) is removed, so that it cannot stop the cache for good.
	 */
	if (fd < 0 && create && (errno == ENOTDIR || errno == ELOOP) &&
	    !unlinkat(root, "cache", 0) && !mkdirat(root, "cache", 0777))
		fd = openat(root, "cache", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

struct cdt_filescache *cdt_filescache_load(struct cdt_store *s)
{
	struct cdt_filescache *c = xcalloc(1, sizeof(*c));
	const unsigned char *map = NULL;
	size_t len = 0;
	uint64_t n, i;
	int dfd, ret;

	c->store = s;
	dfd = cache_dirfd(s, 0);
	if (dfd < 0)
		return c;
	ret = map_file_at(dfd, "files", HDR + CDT_ID_LEN,
			  HDR + (uint64_t)CDT_FILESCACHE_MAX * CDT_FILESCACHE_REC + CDT_ID_LEN, &map, &len);
	close(dfd);
	if (ret == -ENOENT)
		return c;
	/* An older cdt's cache: derived data, dropped and built again. */
	if (ret == 0 && !memcmp(map, CDT_FILESCACHE_MAGIC, 4) && map[4] < CDT_FILESCACHE_VERSION) {
		munmap((void *)map, len);
		c->changed = 1;
		return c;
	}
	if (ret < 0 || cdt_filescache_parse(map, len, &n) < 0) {
		warning("ignoring the files cache '%s/cache/files': %s; every file is read",
			cdt_store_path(s), ret < 0 ? cdt_strerror(ret) : "it is damaged");
		if (map)
			munmap((void *)map, len);
		c->changed = 1;	/* written again after this run */
		return c;
	}
	c->old = xcalloc(n ? n : 1, sizeof(*c->old));
	for (i = 0; i < n; i++)
		decode_rec(map + HDR + i * CDT_FILESCACHE_REC, &c->old[i]);
	c->nold = n;
	munmap((void *)map, len);
	return c;
}

static struct fc_entry *find(const struct cdt_filescache *c, const unsigned char *key)
{
	size_t lo = 0, hi = c->nold;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = memcmp(c->old[mid].key, key, KEY);

		if (!cmp)
			return &c->old[mid];
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The entry of abspath if it matches st, else NULL. */
static struct fc_entry *match(const struct cdt_filescache *c, const char *abspath,
			      const struct stat *st)
{
	unsigned char key[KEY];
	struct fc_entry *e;

	path_key(abspath, key);
	e = find(c, key);
	if (!e || e->size != (uint64_t)st->st_size || e->ino != (uint64_t)st->st_ino ||
	    e->dev != (uint64_t)st->st_dev || e->mtime_ns != ns(&st->st_mtim) || e->ctime_ns != ns(&st->st_ctim))
		return NULL;
	return e;
}

int cdt_filescache_knows(const struct cdt_filescache *c, const char *abspath,
			 const struct stat *st)
{
	return match(c, abspath, st) != NULL;
}

int cdt_filescache_lookup(struct cdt_filescache *c, const char *abspath, const struct stat *st,
			  const char *root, struct cdt_id *content)
{
	struct fc_entry *e = match(c, abspath, st);
	unsigned char rkey[KEY];

	if (!e)
		return 0;
	path_key(root, rkey);
	/* Young again, and found under this root: written back. */
	if (e->age || memcmp(e->root, rkey, KEY))
		c->changed = 1;
	memcpy(e->root, rkey, KEY);
	e->seen = 1;
	*content = e->content;
	return 1;
}

void cdt_filescache_walked(struct cdt_filescache *c, const char *absdir)
{
	unsigned char key[KEY];
	struct cdt_id id;

	path_key(absdir, key);
	root_id(key, &id);
	cdt_idset_add(&c->walked, &id);
}

void cdt_filescache_record(struct cdt_filescache *c, const char *abspath, const struct stat *st,
			   const char *root, const struct cdt_id *content, int64_t read_at)
{
	struct fc_entry *e;

	/* A change in the same tick as the read would not show next time. */
	if (st->st_mtim.tv_sec > read_at - CDT_FILESCACHE_RACY ||
	    st->st_ctim.tv_sec > read_at - CDT_FILESCACHE_RACY)
		return;
	ALLOC_GROW(c->add, c->nadd + 1, c->aadd);
	e = &c->add[c->nadd++];
	memset(e, 0, sizeof(*e));
	path_key(abspath, e->key);
	path_key(root, e->root);
	e->size = (uint64_t)st->st_size;
	e->ino = (uint64_t)st->st_ino;
	e->dev = (uint64_t)st->st_dev;
	e->mtime_ns = ns(&st->st_mtim);
	e->ctime_ns = ns(&st->st_ctim);
	e->content = *content;
	e->seen = 1;
	e->recorded = 1;
	c->changed = 1;
}

static int cmp_key(const void *a, const void *b)
{
	const struct fc_entry *x = a, *y = b;
	int c = memcmp(x->key, y->key, KEY);

	/* What this run recorded first among equal keys: the one kept. */
	if (!c)
		c = y->recorded - x->recorded;
	return c;
}

/* Does e age in this run: not seen, though the walk of its root was? */
static int ages(const struct cdt_filescache *c, const struct fc_entry *e, int age)
{
	struct cdt_id id;

	if (!age || e->seen)
		return 0;
	root_id(e->root, &id);
	return cdt_idset_has(&c->walked, &id);
}

/*
 * The entries this run has a word on, sorted by key, no key twice: those
 * it recorded, and those it found (young again). *n gets their count.
 */
static struct fc_entry *own_entries(const struct cdt_filescache *c, size_t *n)
{
	struct fc_entry *v;
	size_t k = c->nadd, i, keep;

	for (i = 0; i < c->nold; i++)
		k += c->old[i].seen;
	v = xcalloc(k + 1, sizeof(*v));
	for (k = 0, i = 0; i < c->nadd; i++)
		v[k++] = c->add[i];
	for (i = 0; i < c->nold; i++)
		if (c->old[i].seen)
			v[k++] = c->old[i];
	for (i = 0; i < k; i++)
		v[i].age = 0;
	qsort(v, k, sizeof(*v), cmp_key);
	for (keep = 0, i = 0; i < k; i++)
		if (!keep || memcmp(v[keep - 1].key, v[i].key, KEY))
			v[keep++] = v[i];
	*n = keep;
	return v;
}

/*
 * The cache as it is when this run writes it back: the file, or when it
 * is missing or cannot be used, the entries this run loaded.
 */
struct fc_base {
	const unsigned char *map;	/* the file (NULL: c->old) */
	size_t len;
	const struct fc_entry *v;
	size_t n;
};

static void base_load(const struct cdt_filescache *c, int dfd, struct fc_base *b)
{
	uint64_t n;

	memset(b, 0, sizeof(*b));
	if (!map_file_at(dfd, "files", HDR + CDT_ID_LEN,
			 HDR + (uint64_t)CDT_FILESCACHE_MAX * CDT_FILESCACHE_REC + CDT_ID_LEN,
			 &b->map, &b->len) &&
	    !cdt_filescache_parse(b->map, b->len, &n)) {
		b->n = n;
		return;
	}
	/* Derived data: what cannot be used is replaced by this run's view. */
	if (b->map)
		munmap((void *)b->map, b->len);
	b->map = NULL;
	b->v = c->old;
	b->n = c->nold;
}

static const unsigned char *base_key(const struct fc_base *b, size_t i)
{
	return b->map ? b->map + HDR + i * CDT_FILESCACHE_REC : b->v[i].key;
}

static void base_get(const struct fc_base *b, size_t i, struct fc_entry *e)
{
	if (b->map) {
		decode_rec(b->map + HDR + i * CDT_FILESCACHE_REC, e);
	} else {
		*e = b->v[i];
		e->seen = e->recorded = 0;
	}
}

/* A walk, in key order, of the cache this run writes: the base, with this run's entries in it. */
struct fc_merge {
	const struct cdt_filescache *c;
	const struct fc_base *base;
	const struct fc_entry *own;
	size_t nown, i, j;
	int age;
};

/* The next entry: 1 with *e set, or 0 at the end. */
static int merge_next(struct fc_merge *m, struct fc_entry *e)
{
	while (m->i < m->base->n || m->j < m->nown) {
		int cmp = m->i == m->base->n ? 1 : m->j == m->nown ? -1 :
			  memcmp(base_key(m->base, m->i), m->own[m->j].key, KEY);

		if (cmp >= 0) {
			/* This run's word on a path wins over what is there. */
			m->i += !cmp;
			*e = m->own[m->j++];
			return 1;
		}
		/* Another's (or one this run did not see): kept, aged as this run ages its own. */
		base_get(m->base, m->i++, e);
		if (ages(m->c, e, m->age))
			e->age++;
		if (e->age < CDT_FILESCACHE_MAX_AGE)
			return 1;
	}
	return 0;
}

int cdt_filescache_save(struct cdt_filescache *c, int age)
{
	struct fc_entry *own, e;
	struct fc_base base = { 0 };
	struct fc_merge m;
	struct cdt_csum_file *f = NULL;
	unsigned char rec[CDT_FILESCACHE_REC], hdr[HDR];
	size_t count[CDT_FILESCACHE_MAX_AGE] = { 0 };
	size_t nown, n = 0, i, cut = CDT_FILESCACHE_MAX_AGE, at_cut = 0, taken = 0;
	int dfd, ret;

	/*
	 * Entries seen (or recorded) by this run are young again; those it
	 * could have seen and did not age.
	 */
	for (i = 0; i < c->nold; i++)
		if (ages(c, &c->old[i], age))
			c->changed = 1;
	if (!c->changed)
		return 0;
	own = own_entries(c, &nown);
	dfd = cache_dirfd(c->store, 1);
	if (dfd < 0) {
		ret = dfd;
		goto out;
	}
	/*
	 * Adds run together (the store lock is shared), and each loaded the
	 * cache when it began: each merges its entries into the cache as it
	 * is now, one at a time, so none loses another's. (Where cache/
	 * cannot be locked, two saves at once may still: the cache costs
	 * reads then, never data.)
	 */
	while (flock(dfd, LOCK_EX) < 0 && errno == EINTR)
		;
	base_load(c, dfd, &base);
	memset(&m, 0, sizeof(m));
	m.c = c;
	m.base = &base;
	m.own = own;
	m.nown = nown;
	m.age = age;
	while (merge_next(&m, &e))
		count[e.age]++;
	/* At most CDT_FILESCACHE_MAX entries: the youngest. */
	for (i = 0; i < CDT_FILESCACHE_MAX_AGE; i++) {
		if (n + count[i] > CDT_FILESCACHE_MAX) {
			cut = i;
			at_cut = CDT_FILESCACHE_MAX - n;
			n = CDT_FILESCACHE_MAX;
			break;
		}
		n += count[i];
	}
	ret = cdt_csum_file_open(cdt_store_dirfd(c->store, CDT_DIR_TMP), "filescache", &f);
	if (ret < 0)
		goto out;
	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, CDT_FILESCACHE_MAGIC, 4);
	hdr[4] = CDT_FILESCACHE_VERSION;
	put_le64(hdr + 8, n);
	ret = cdt_csum_file_write(f, hdr, sizeof(hdr));
	m.i = m.j = 0;
	while (!ret && merge_next(&m, &e)) {
		if (e.age > cut || (e.age == cut && taken++ >= at_cut))
			continue;
		encode_rec(&e, rec);
		ret = cdt_csum_file_write(f, rec, sizeof(rec));
	}
	/* Derived data: not synced. A torn file after a crash fails its checksum. */
	if (!ret)
		ret = cdt_csum_file_finish(f, CDT_CSUM_APPEND, NULL);
	if (!ret)
		ret = cdt_csum_file_rename(f, dfd, "files", 0);
	/* A directory in its place (no writer makes one) is removed, as above. */
	if (ret == -EISDIR && !(ret = remove_tree_at(dfd, "files", 0)))
		ret = cdt_csum_file_rename(f, dfd, "files", 0);
out:
	if (ret < 0)
		warning("cannot write the files cache: %s", cdt_strerror(ret));
	cdt_csum_file_free(f);
	if (base.map)
		munmap((void *)base.map, base.len);
	if (dfd >= 0)
		close(dfd);	/* (and the lock with it) */
	free(own);
	return ret;
}

void cdt_filescache_free(struct cdt_filescache *c)
{
	if (!c)
		return;
	free(c->old);
	free(c->add);
	cdt_idset_clear(&c->walked);
	free(c);
}
