/* mpack.c: manifest packs (see mpack.h). */
#include "format/mpack.h"
#include "format/manifest-layout.h"
#include "format/store.h"
#include "base/csum-file.h"
#include "base/error.h"
#include "base/fsutil.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <pthread.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

/* The largest pack worth mapping: every entry a manifest of 4 KiB. */
#define MPACK_MAX_BYTES \
	((uint64_t)CDT_MPACK_HDR + (uint64_t)CDT_MPACK_MAX_ENTRIES * (4096 + CDT_MPACK_REC) + \
	 CDT_MPACK_TRAILER)

static int manifest_length_ok(uint64_t len)
{
	return len >= CDT_MANIFEST_HDR + CDT_MANIFEST_TRAILER && len <= CDT_MPACK_MANIFEST_MAX &&
	       (len - CDT_MANIFEST_HDR - CDT_MANIFEST_TRAILER) % CDT_MANIFEST_REC == 0;
}

/* The shape of a mapped pack: 0, or -CDT_ECORRUPT with why. */
static int check_shape(const unsigned char *map, size_t len, uint64_t *count,
		       const unsigned char **table, struct strbuf *why)
{
	uint64_t n, toff, i;

	if (memcmp(map, CDT_MPACK_MAGIC, 4) || map[5] || map[6] || map[7])
		return cdt_corrupt(why, "manifest pack has a bad header");
	if (map[4] != CDT_MPACK_VERSION)
		return cdt_corrupt(why, "manifest pack has unknown version %u", map[4]);
	n = get_le64(map + 8);
	toff = get_le64(map + len - CDT_MPACK_TRAILER);
	if (n > CDT_MPACK_MAX_ENTRIES || toff < CDT_MPACK_HDR || toff > len - CDT_MPACK_TRAILER ||
	    (len - CDT_MPACK_TRAILER - toff) != n * CDT_MPACK_REC)
		return cdt_corrupt(why, "manifest pack's table does not fit its length");
	for (i = 0; i < n; i++) {
		const unsigned char *e = map + toff + i * CDT_MPACK_REC;
		uint64_t off = get_le64(e + CDT_ID_LEN), mlen = get_le64(e + CDT_ID_LEN + 8);

		if (i && memcmp(e - CDT_MPACK_REC, e, CDT_ID_LEN) >= 0)
			return cdt_corrupt(why, "manifest pack's table is not in order at entry %llu",
					   (unsigned long long)i);
		if (off < CDT_MPACK_HDR || off > toff || mlen > toff - off || !manifest_length_ok(mlen))
			return cdt_corrupt(why, "manifest pack's entry %llu is out of place",
					   (unsigned long long)i);
	}
	*count = n;
	*table = map + toff;
	return 0;
}

int cdt_mpack_open(int dirfd, const char *name, struct cdt_mpack *mp, struct strbuf *why)
{
	const unsigned char *map;
	size_t len;
	int ret;

	memset(mp, 0, sizeof(*mp));
	ret = map_file_at(dirfd, name, CDT_MPACK_HDR + CDT_MPACK_TRAILER, MPACK_MAX_BYTES, &map,
			  &len);
	if (ret == -CDT_ECORRUPT)
		return cdt_corrupt(why, "manifest pack has an impossible length");
	if (ret < 0)
		return ret;
	ret = check_shape(map, len, &mp->count, &mp->table, why);
	if (ret < 0) {
		munmap((void *)map, len);
		return ret;
	}
	mp->map = map;
	mp->len = len;
	return 0;
}

int cdt_mpack_open_fd(int fd, struct cdt_mpack *mp, struct strbuf *why)
{
	struct stat st;
	void *map;
	int ret;

	memset(mp, 0, sizeof(*mp));
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < CDT_MPACK_HDR + CDT_MPACK_TRAILER ||
	    (uint64_t)st.st_size > MPACK_MAX_BYTES)
		return cdt_corrupt(why, "manifest pack has an impossible length");
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	ret = check_shape(map, (size_t)st.st_size, &mp->count, &mp->table, why);
	if (ret < 0) {
		munmap(map, (size_t)st.st_size);
		return ret;
	}
	mp->map = map;
	mp->len = (size_t)st.st_size;
	return 0;
}

void cdt_mpack_close(struct cdt_mpack *mp)
{
	if (mp->map)
		munmap((void *)mp->map, mp->len);
	memset(mp, 0, sizeof(*mp));
}

void cdt_mpack_entry(const struct cdt_mpack *mp, uint64_t i, struct cdt_id *id, uint64_t *off,
		     uint64_t *len)
{
	const unsigned char *e = mp->table + i * CDT_MPACK_REC;

	if (id)
		memcpy(id->b, e, CDT_ID_LEN);
	if (off)
		*off = get_le64(e + CDT_ID_LEN);
	if (len)
		*len = get_le64(e + CDT_ID_LEN + 8);
}

int cdt_mpack_find(const struct cdt_mpack *mp, const struct cdt_id *id, uint64_t *off,
		   uint64_t *len)
{
	uint64_t lo = 0, hi = mp->count;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		int cmp = memcmp(mp->table + mid * CDT_MPACK_REC, id->b, CDT_ID_LEN);

		if (!cmp) {
			cdt_mpack_entry(mp, mid, NULL, off, len);
			return 1;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

int cdt_mpack_verify(const struct cdt_mpack *mp, const char *name, struct strbuf *why)
{
	char want[CDT_MPACK_NAME_MAX], hex[CDT_ID_HEXLEN + 1];
	struct cdt_id sum;

	cdt_hash(mp->map, mp->len - CDT_ID_LEN, &sum);
	if (memcmp(sum.b, mp->map + mp->len - CDT_ID_LEN, CDT_ID_LEN))
		return cdt_corrupt(why, "manifest pack does not match its checksum");
	snprintf(want, sizeof(want), "pack-%s.mpack", cdt_id_to_hex(&sum, hex));
	if (strcmp(want, name))
		return cdt_corrupt(why, "manifest pack is not named by its checksum");
	return 0;
}

int cdt_mpack_manifest_ok(const struct cdt_mpack *mp, uint64_t i)
{
	struct cdt_id id, sum;
	uint64_t off, len;
	const unsigned char *b;

	cdt_mpack_entry(mp, i, &id, &off, &len);
	b = mp->map + off;
	/* (check_shape() made len at least a trailer's) */
	if (memcmp(b + len - CDT_MANIFEST_TRAILER + 16, id.b, CDT_ID_LEN))
		return 0;
	cdt_hash(b, (size_t)len - CDT_ID_LEN, &sum);
	return !memcmp(sum.b, b + len - CDT_ID_LEN, CDT_ID_LEN);
}

static int cmp_item(const void *a, const void *b)
{
	return memcmp(((const struct cdt_mpack_item *)a)->id.b,
		      ((const struct cdt_mpack_item *)b)->id.b, CDT_ID_LEN);
}

int cdt_mpack_stage(int tmpfd, struct cdt_mpack_item *items, size_t n, int sync,
		    struct cdt_csum_file **out, char *name)
{
	struct cdt_csum_file *f;
	unsigned char hdr[CDT_MPACK_HDR] = CDT_MPACK_MAGIC, rec[CDT_MPACK_REC], t[8];
	char hex[CDT_ID_HEXLEN + 1];
	struct cdt_id sum;
	uint64_t off = CDT_MPACK_HDR;
	size_t i;
	int ret;

	*out = NULL;
	if (n > CDT_MPACK_MAX_ENTRIES)
		return -EINVAL;
	qsort(items, n, sizeof(*items), cmp_item);
	for (i = 0; i < n; i++)
		if ((i && !cmp_item(&items[i - 1], &items[i])) || !manifest_length_ok(items[i].len))
			return -EINVAL;
	ret = cdt_csum_file_open(tmpfd, "mpack", &f);
	if (ret < 0)
		return ret;
	hdr[4] = CDT_MPACK_VERSION;
	put_le64(hdr + 8, n);
	ret = cdt_csum_file_write(f, hdr, sizeof(hdr));
	for (i = 0; !ret && i < n; i++)
		ret = cdt_csum_file_write(f, items[i].bytes, items[i].len);
	for (i = 0; !ret && i < n; i++) {
		memcpy(rec, items[i].id.b, CDT_ID_LEN);
		put_le64(rec + CDT_ID_LEN, off);
		put_le64(rec + CDT_ID_LEN + 8, items[i].len);
		off += items[i].len;
		ret = cdt_csum_file_write(f, rec, sizeof(rec));
	}
	if (!ret) {
		put_le64(t, off);
		ret = cdt_csum_file_write(f, t, sizeof(t));
	}
	if (!ret)
		ret = cdt_csum_file_finish(f, CDT_CSUM_APPEND | (sync ? CDT_CSUM_FSYNC : 0), &sum);
	if (ret) {
		cdt_csum_file_free(f);
		return ret;
	}
	snprintf(name, CDT_MPACK_NAME_MAX, "pack-%s.mpack", cdt_id_to_hex(&sum, hex));
	*out = f;
	return 0;
}

/* Is dirfd/name a whole manifest pack (so that the same one need not replace it)? */
static int whole_there(int dirfd, const char *name)
{
	struct cdt_mpack mp;
	int ok;

	if (cdt_mpack_open(dirfd, name, &mp, NULL) < 0)
		return 0;
	ok = !cdt_mpack_verify(&mp, name, NULL);
	cdt_mpack_close(&mp);
	return ok;
}

int cdt_mpack_install(struct cdt_csum_file *f, int dirfd, const char *name, int sync)
{
	unsigned flags = sync ? CDT_CSUM_SYNC_DIR : 0;
	struct stat st;
	int ret;

	/*
	 * The same manifests packed again are the same file: one already
	 * there is done, unless it is damaged (a repair writing them again).
	 */
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || whole_there(dirfd, name))
		flags |= CDT_CSUM_NOREPLACE;
	ret = cdt_csum_file_rename(f, dirfd, name, flags);

	cdt_csum_file_free(f);
	return ret > 0 ? 0 : ret;
}

int cdt_mpack_write(int tmpfd, int dirfd, struct cdt_mpack_item *items, size_t n, int sync,
		    char *name)
{
	struct cdt_csum_file *f;
	int ret = cdt_mpack_stage(tmpfd, items, n, sync, &f, name);

	return ret ? ret : cdt_mpack_install(f, dirfd, name, sync);
}

/*
 * The manifest packs of a store, mapped: listed when first asked, and
 * again when manifests/pack/ changed (or may have, within the clock tick
 * of the last listing). A pack that goes stays mapped until the next
 * listing; lookups copy what they find under the mutex.
 */
struct mpack_entry {
	char name[CDT_MPACK_NAME_MAX];
	struct cdt_mpack mp;
};

struct mpackset {
	pthread_mutex_t mu;
	struct mpack_entry *packs;
	size_t nr, alloc;
	int loaded;
	struct timespec mtime, ctime, listed_at;
	/* A pack that could not be opened in the last listing: a miss may be in it. */
	int open_err;
	char open_err_name[CDT_MPACK_NAME_MAX];
	struct strbuf open_err_why;
};

static const char mpackset_key;

static void *mpackset_new(struct cdt_store *s)
{
	struct mpackset *ms = xcalloc(1, sizeof(*ms));

	(void)s;
	pthread_mutex_init(&ms->mu, NULL);
	strbuf_init(&ms->open_err_why, 0);
	return ms;
}

static void mpackset_free(void *state)
{
	struct mpackset *ms = state;
	size_t i;

	for (i = 0; i < ms->nr; i++)
		cdt_mpack_close(&ms->packs[i].mp);
	free(ms->packs);
	strbuf_release(&ms->open_err_why);
	pthread_mutex_destroy(&ms->mu);
	free(ms);
}

int cdt_mpack_name_ok(const char *name)
{
	size_t n = strlen(name), i;

	if (n != 5 + CDT_ID_HEXLEN + 6 || strncmp(name, "pack-", 5) || strcmp(name + n - 6, ".mpack"))
		return 0;
	for (i = 5; i < 5 + CDT_ID_HEXLEN; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	return 1;
}

static int same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/*
 * List manifests/pack/ again if it changed, or, with `racy`, may have (a
 * pack put there within the clock tick of the last listing leaves its
 * times as they were). Called with ms->mu held.
 */
static void refresh_locked(struct cdt_store *s, struct mpackset *ms, int racy)
{
	int mfd = cdt_store_dirfd(s, CDT_DIR_MANIFESTS), dfd;
	struct mpack_entry *fresh = NULL;
	size_t nfresh = 0, afresh = 0, i, j;
	struct cdt_dent *dents = NULL;
	struct stat st;
	size_t nd = 0;
	int ret;

	if (fstatat(mfd, CDT_MPACK_DIR, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		/* None (a store that never packed its manifests): nothing to list. */
		memset(&st, 0, sizeof(st));
	}
	if (ms->loaded && same_time(&st.st_mtim, &ms->mtime) && same_time(&st.st_ctim, &ms->ctime) &&
	    (!racy || st.st_mtim.tv_sec < ms->listed_at.tv_sec - 1))
		return;
	clock_gettime(CLOCK_REALTIME, &ms->listed_at);
	ms->mtime = st.st_mtim;
	ms->ctime = st.st_ctim;
	ms->loaded = 1;
	ms->open_err = 0;
	strbuf_reset(&ms->open_err_why);
	if (!S_ISDIR(st.st_mode) ||
	    (dfd = openat(mfd, CDT_MPACK_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		nd = 0;
		dfd = -1;
	} else if ((ret = cdt_list_dir(dfd, ".", &dents, &nd)) < 0) {
		ms->open_err = ret;
		strbuf_addf(&ms->open_err_why, "manifests/%s cannot be listed", CDT_MPACK_DIR);
		nd = 0;
	}
	for (i = 0; i < nd; i++) {
		struct mpack_entry *e = NULL;

		if (!cdt_mpack_name_ok(dents[i].name))
			continue;
		for (j = 0; j < ms->nr; j++)
			if (ms->packs[j].mp.map && !strcmp(ms->packs[j].name, dents[i].name)) {
				e = &ms->packs[j];
				break;
			}
		ALLOC_GROW(fresh, nfresh + 1, afresh);
		if (e) {
			fresh[nfresh++] = *e;
			e->mp.map = NULL;	/* moved */
		} else {
			struct strbuf why = STRBUF_INIT;
			struct mpack_entry *f = &fresh[nfresh];

			snprintf(f->name, sizeof(f->name), "%s", dents[i].name);
			ret = cdt_mpack_open(dfd, f->name, &f->mp, &why);
			if (!ret) {
				nfresh++;
			} else if (!ms->open_err) {
				ms->open_err = ret;
				snprintf(ms->open_err_name, sizeof(ms->open_err_name), "%s", f->name);
				strbuf_addf(&ms->open_err_why, "manifest pack '%s/%s' cannot be read: %s",
					    CDT_MPACK_DIR, f->name, why.len ? why.buf : cdt_strerror(ret));
			}
			strbuf_release(&why);
		}
	}
	for (j = 0; j < ms->nr; j++)
		cdt_mpack_close(&ms->packs[j].mp);
	free(ms->packs);
	ms->packs = fresh;
	ms->nr = nfresh;
	ms->alloc = afresh;
	cdt_dents_free(dents, nd);
	if (dfd >= 0)
		close(dfd);
}

/* Find id: its pack entry and place, or NULL. Called with ms->mu held. */
static struct mpack_entry *find_locked(struct mpackset *ms, const struct cdt_id *id, uint64_t *off,
				       uint64_t *len)
{
	size_t i;

	for (i = 0; i < ms->nr; i++)
		if (cdt_mpack_find(&ms->packs[i].mp, id, off, len))
			return &ms->packs[i];
	return NULL;
}

static int lookup(struct cdt_store *s, const struct cdt_id *id, unsigned char **bytes, size_t *len,
		  int racy, struct strbuf *why)
{
	struct mpackset *ms = cdt_store_state(s, &mpackset_key, mpackset_new, mpackset_free);
	struct mpack_entry *e;
	uint64_t off = 0, n = 0;
	int ret = 0;

	pthread_mutex_lock(&ms->mu);
	refresh_locked(s, ms, 0);
	e = find_locked(ms, id, &off, &n);
	/* A reader's miss is an error: a listing from within the tick is made again first. */
	if (!e && racy) {
		refresh_locked(s, ms, 1);
		e = find_locked(ms, id, &off, &n);
	}
	if (e && bytes) {
		*bytes = xmalloc((size_t)n);
		memcpy(*bytes, e->mp.map + off, (size_t)n);
		*len = (size_t)n;
	}
	if (!e) {
		ret = ms->open_err ? ms->open_err : -ENOENT;
		if (ms->open_err && why)
			strbuf_addbuf(why, &ms->open_err_why);
	}
	pthread_mutex_unlock(&ms->mu);
	return ret;
}

int cdt_mpacks_read(struct cdt_store *s, const struct cdt_id *id, unsigned char **bytes,
		    size_t *len, struct strbuf *why)
{
	return lookup(s, id, bytes, len, 1, why);
}

int cdt_mpacks_has(struct cdt_store *s, const struct cdt_id *id)
{
	/* A pack that cannot be read has nothing this add may rely on: written again. */
	return lookup(s, id, NULL, NULL, 0, NULL) == 0;
}

int cdt_mpacks_walk(struct cdt_store *s, cdt_mpack_fn fn, void *data)
{
	int mfd = cdt_store_dirfd(s, CDT_DIR_MANIFESTS), dfd, ret;
	struct cdt_dent *dents = NULL;
	size_t nd = 0, i;

	dfd = openat(mfd, CDT_MPACK_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -errno;
	ret = cdt_list_dir(dfd, ".", &dents, &nd);
	for (i = 0; !ret && i < nd; i++) {
		struct strbuf why = STRBUF_INIT;
		struct cdt_mpack mp;
		int err;

		if (!cdt_mpack_name_ok(dents[i].name))
			continue;
		err = cdt_mpack_open(dfd, dents[i].name, &mp, &why);
		if (err == -ENOENT)
			continue;	/* gone since listed */
		ret = fn(dents[i].name, err ? NULL : &mp, err, why.buf, data);
		if (!err)
			cdt_mpack_close(&mp);
		strbuf_release(&why);
	}
	cdt_dents_free(dents, nd);
	close(dfd);
	return ret;
}
