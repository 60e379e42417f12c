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

	/* What this run recorded, then the newest, first among equal keys: the one kept. */
	if (!c)
		c = y->recorded - x->recorded;
	if (!c)
		c = x->age < y->age ? -1 : x->age > y->age;
	return c;
}

static int cmp_age(const void *a, const void *b)
{
	const struct fc_entry *x = a, *y = b;

	return x->age < y->age ? -1 : x->age > y->age;
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

int cdt_filescache_save(struct cdt_filescache *c, int age)
{
	struct fc_entry *all;
	struct cdt_csum_file *f = NULL;
	unsigned char rec[CDT_FILESCACHE_REC], hdr[HDR];
	size_t n = 0, i, keep;
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
	all = xcalloc(c->nold + c->nadd + 1, sizeof(*all));
	for (i = 0; i < c->nadd; i++)
		all[n++] = c->add[i];
	for (i = 0; i < c->nold; i++) {
		struct fc_entry e = c->old[i];

		if (e.seen)
			e.age = 0;
		else if (ages(c, &e, age))
			e.age++;
		if (e.age < CDT_FILESCACHE_MAX_AGE)
			all[n++] = e;
	}
	for (i = 0; i < c->nadd; i++)
		all[i].age = 0;
	qsort(all, n, sizeof(*all), cmp_key);
	for (keep = 0, i = 0; i < n; i++)
		if (!keep || memcmp(all[keep - 1].key, all[i].key, KEY))
			all[keep++] = all[i];
	n = keep;
	if (n > CDT_FILESCACHE_MAX) {
		/* Keep the youngest. */
		qsort(all, n, sizeof(*all), cmp_age);
		n = CDT_FILESCACHE_MAX;
		qsort(all, n, sizeof(*all), cmp_key);
	}
	dfd = cache_dirfd(c->store, 1);
	if (dfd < 0) {
		ret = dfd;
		goto out;
	}
	ret = cdt_csum_file_open(cdt_store_dirfd(c->store, CDT_DIR_TMP), "filescache", &f);
	if (ret < 0)
		goto out;
	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, CDT_FILESCACHE_MAGIC, 4);
	hdr[4] = CDT_FILESCACHE_VERSION;
	put_le64(hdr + 8, n);
	ret = cdt_csum_file_write(f, hdr, sizeof(hdr));
	for (i = 0; i < n && !ret; i++) {
		encode_rec(&all[i], rec);
		ret = cdt_csum_file_write(f, rec, sizeof(rec));
	}
	/* Derived data: not synced. A torn file after a crash fails its checksum. */
	if (!ret)
		ret = cdt_csum_file_finish(f, CDT_CSUM_APPEND, NULL);
	if (!ret)
		ret = cdt_csum_file_rename(f, dfd, "files", 0);
out:
	if (ret < 0)
		warning("cannot write the files cache: %s", cdt_strerror(ret));
	cdt_csum_file_free(f);
	if (dfd >= 0)
		close(dfd);
	free(all);
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
