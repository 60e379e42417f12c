/* cache-trim.c: the cache of a remote store kept within a size: what it holds, and evicting the least recently used. */
#include "ops/cache-trim.h"
#include "format/fanout.h"
#include "base/fsutil.h"
#include "base/hash.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define GIB ((uint64_t)1 << 30)

uint64_t cdt_cache_default_size(uint64_t free_bytes, uint64_t held_bytes)
{
	uint64_t room = free_bytes + held_bytes;

	if (room < free_bytes)
		room = UINT64_MAX;
	return MAX(room / 10, GIB);
}

static int cmp_item(const void *a, const void *b)
{
	const struct cdt_cache_item *x = a, *y = b;

	if (x->used != y->used)
		return x->used < y->used ? -1 : 1;
	return strcmp(x->name, y->name);
}

size_t cdt_cache_trim_plan(struct cdt_cache_item *items, size_t n, uint64_t held,
			   uint64_t target, uint64_t *part)
{
	uint64_t need;
	size_t k;

	*part = 0;
	if (held <= target)
		return 0;
	need = held - target;
	if (n > 1)
		qsort(items, n, sizeof(*items), cmp_item);
	for (k = 0; k < n && need; k++) {
		if (items[k].is_pack && items[k].bytes > need) {
			*part = need;
			return k + 1;
		}
		need -= MIN(need, items[k].bytes);
	}
	return k;
}

static int64_t ns_of(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

struct trim {
	struct cdt_store *s;
	const char *dir;	/* "manifests" or "objects" while walking one */
	struct cdt_cache_item *items;
	size_t n, alloc;
	uint64_t held;
};

static struct cdt_cache_item *new_item(struct trim *t)
{
	struct cdt_cache_item *it;

	ALLOC_GROW(t->items, t->n + 1, t->alloc);
	it = &t->items[t->n++];
	memset(it, 0, sizeof(*it));
	return it;
}

static int add_whole(const struct cdt_id *id, const struct stat *st, void *data)
{
	struct trim *t = data;
	struct cdt_cache_item *it = new_item(t);
	char hex[CDT_ID_HEXLEN + 2];
	int64_t a = ns_of(&st->st_atim), m = ns_of(&st->st_mtim);

	it->used = MAX(a, m);
	it->bytes = (uint64_t)st->st_blocks * 512;
	snprintf(it->name, sizeof(it->name), "%s/%s", t->dir, cdt_id_path(id, hex));
	t->held += it->bytes;
	return 0;
}

/* Cached packs: a pack-<hex>.pack with its .have (a pack without one is not a cached one). */
static int add_packs(struct trim *t)
{
	int packsfd = cdt_store_dirfd(t->s, CDT_DIR_PACKS);
	struct cdt_dent *dents = NULL;
	size_t nd = 0, i, len;
	int ret;

	ret = cdt_list_dir(packsfd, ".", &dents, &nd);
	if (ret < 0)
		return error_code(ret, "cannot list '%s/packs': %s", cdt_store_path(t->s),
				  cdt_strerror(ret));
	for (i = 0; i < nd; i++) {
		char name[CDT_ID_HEXLEN + 16];
		struct stat pst, hst;
		struct cdt_cache_item *it;

		len = strlen(dents[i].name);
		if (len != CDT_ID_HEXLEN + 10 || strncmp(dents[i].name, "pack-", 5) ||
		    strcmp(dents[i].name + len - 5, ".have"))
			continue;
		snprintf(name, sizeof(name), "%.*s.pack", (int)(len - 5), dents[i].name);
		if (fstatat(packsfd, dents[i].name, &hst, AT_SYMLINK_NOFOLLOW) < 0 ||
		    fstatat(packsfd, name, &pst, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(hst.st_mode) || !S_ISREG(pst.st_mode))
			continue;
		it = new_item(t);
		/* Every open reads every .have: its atime says nothing of use. */
		it->used = ns_of(&hst.st_mtim);
		it->bytes = (uint64_t)pst.st_blocks * 512;
		it->is_pack = 1;
		snprintf(it->name, sizeof(it->name), "packs/%.*s", (int)(len - 5), dents[i].name);
		t->held += it->bytes;
	}
	cdt_dents_free(dents, nd);
	return 0;
}

/* Clear marks [first, end) of a .have (one write per 64 KiB of marks). */
static int clear_marks(int havefd, uint64_t first, uint64_t end)
{
	static const unsigned char zeros[64 << 10];
	int ret = 0;

	while (first < end && !ret) {
		size_t n = (size_t)MIN(end - first, (uint64_t)sizeof(zeros));

		ret = pwrite_all(havefd, zeros, n, (off_t)first);
		first += n;
	}
	return ret;
}

/*
 * Free the data of a cached pack (packs/`name`.pack): whole when need is
 * 0, else blocks from its start until need bytes went. Marks are cleared
 * (and synced) before the data they stand for is freed. *freed gets the
 * bytes that went. 0 or -errno (reported).
 */
static int evict_pack(struct cdt_store *s, const char *name, uint64_t need, uint64_t *freed)
{
	int packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	char path[CDT_ID_HEXLEN + 16];
	struct stat pst, hst;
	struct timespec times[2];
	unsigned char *have = NULL;
	uint64_t nblocks, before, b;
	int fd = -1, havefd, ret = 0, whole = !need;

	*freed = 0;
	snprintf(path, sizeof(path), "%s.have", name);
	havefd = openat(packsfd, path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (havefd < 0)
		return errno == ENOENT ? 0 : error_code(-errno, "cannot open '%s/packs/%s': %s",
							cdt_store_path(s), path,
							cdt_strerror(errno));
	/* Writers of blocks hold it shared while they write data and marks. */
	while ((ret = flock(havefd, LOCK_EX)) < 0 && errno == EINTR)
		;
	snprintf(path, sizeof(path), "%s.pack", name);
	if (ret < 0 || fstat(havefd, &hst) < 0 ||
	    (fd = openat(packsfd, path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    fstat(fd, &pst) < 0) {
		ret = errno == ENOENT ? 0 : error_code(-errno, "cannot open '%s/packs/%s': %s",
						       cdt_store_path(s), path, cdt_strerror(errno));
		goto out;
	}
	nblocks = ((uint64_t)pst.st_size + CDT_CACHE_BLOCK - 1) / CDT_CACHE_BLOCK;
	if ((uint64_t)hst.st_size != nblocks)
		goto out;	/* not a cache of this pack's size: the next open starts it afresh */
	before = (uint64_t)pst.st_blocks * 512;
	times[0] = hst.st_atim;
	times[1] = hst.st_mtim;
	if (!whole) {
		have = xmalloc(nblocks ? nblocks : 1);
		if (pread_full(havefd, have, nblocks, 0) != (ssize_t)nblocks) {
			ret = error_code(-EIO, "cannot read '%s/packs/%s.have'", cdt_store_path(s),
					 name);
			goto out;
		}
	}
	for (b = 0; !whole && b < nblocks && *freed < need;) {
		uint64_t end, most = (need - *freed) / CDT_CACHE_BLOCK + 1, off, len;

		if (have[b] != CDT_CACHE_HERE) {
			b++;
			continue;
		}
		for (end = b; end < nblocks && end - b < most && have[end] == CDT_CACHE_HERE; end++)
			;
		off = b * CDT_CACHE_BLOCK;
		len = MIN(end * CDT_CACHE_BLOCK, (uint64_t)pst.st_size) - off;
		if ((ret = clear_marks(havefd, b, end)) < 0 || fdatasync(havefd) < 0) {
			ret = error_code(ret < 0 ? ret : -errno, "cannot write '%s/packs/%s.have': %s",
					 cdt_store_path(s), name, cdt_strerror(ret < 0 ? ret : errno));
			goto out;
		}
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
			      (off_t)len) < 0) {
			if (errno != EOPNOTSUPP) {
				ret = error_code(-errno, "cannot free blocks of '%s/packs/%s': %s",
						 cdt_store_path(s), path, cdt_strerror(errno));
				goto out;
			}
			whole = 1;	/* no holes here: the whole pack goes */
			break;
		}
		if (fstat(fd, &pst) < 0) {
			ret = error_code(-errno, "cannot stat '%s/packs/%s': %s", cdt_store_path(s),
					 path, cdt_strerror(errno));
			goto out;
		}
		*freed = before - MIN(before, (uint64_t)pst.st_blocks * 512);
		b = end;
	}
	if (whole) {
		if ((ret = clear_marks(havefd, 0, nblocks)) < 0 || fdatasync(havefd) < 0) {
			ret = error_code(ret < 0 ? ret : -errno, "cannot write '%s/packs/%s.have': %s",
					 cdt_store_path(s), name, cdt_strerror(ret < 0 ? ret : errno));
			goto out;
		}
		if (ftruncate(fd, 0) < 0 || ftruncate(fd, pst.st_size) < 0 || fstat(fd, &pst) < 0) {
			ret = error_code(-errno, "cannot free '%s/packs/%s': %s", cdt_store_path(s),
					 path, cdt_strerror(errno));
			goto out;
		}
		*freed = before - MIN(before, (uint64_t)pst.st_blocks * 512);
	}
	/* Clearing marks is no use of the pack: it keeps its place in the order. */
	futimens(havefd, times);
out:
	free(have);
	if (fd >= 0)
		close(fd);
	close(havefd);	/* and the lock with it */
	return ret;
}

int cdt_cache_trim(struct cdt_store *cache, uint64_t max_bytes, uint64_t *freed_out)
{
	struct trim t = { cache, NULL, NULL, 0, 0, 0 };
	uint64_t target, part, freed = 0;
	size_t k, i;
	int ret;

	if (freed_out)
		*freed_out = 0;
	ret = cdt_store_trylock(cache, CDT_LOCK_EXCLUSIVE);
	if (ret == -EWOULDBLOCK)
		return 0;	/* a writer at work: the next open trims */
	if (ret < 0)
		return ret;
	ret = add_packs(&t);
	for (i = 0; !ret && i < 2; i++) {
		enum cdt_store_dir d = i ? CDT_DIR_OBJECTS : CDT_DIR_MANIFESTS;

		t.dir = cdt_store_dir_name(d);
		ret = cdt_fanout_walk_stat(cdt_store_dirfd(cache, d), add_whole, NULL, &t);
		if (ret < 0)
			ret = error_code(ret, "cannot list '%s/%s': %s", cdt_store_path(cache),
					 t.dir, cdt_strerror(ret));
	}
	if (ret)
		goto out;
	if (max_bytes == CDT_CACHE_SIZE_DEFAULT) {
		struct statvfs vfs;

		if (fstatvfs(cdt_store_rootfd(cache), &vfs) < 0) {
			ret = error_code(-errno, "cannot measure the file system of '%s': %s",
					 cdt_store_path(cache), cdt_strerror(errno));
			goto out;
		}
		max_bytes = cdt_cache_default_size((uint64_t)vfs.f_bavail * vfs.f_frsize, t.held);
	}
	if (t.held <= max_bytes)
		goto out;
	target = max_bytes - max_bytes / 10;
	k = cdt_cache_trim_plan(t.items, t.n, t.held, target, &part);
	for (i = 0; i < k && !ret; i++) {
		struct cdt_cache_item *it = &t.items[i];
		uint64_t went = 0;

		if (it->is_pack) {
			ret = evict_pack(cache, it->name + strlen("packs/"), i + 1 == k ? part : 0,
					 &went);
		} else if (unlinkat(cdt_store_rootfd(cache), it->name, 0) == 0) {
			went = it->bytes;
		} else if (errno != ENOENT) {
			ret = error_code(-errno, "cannot remove '%s/%s': %s", cdt_store_path(cache),
					 it->name, cdt_strerror(errno));
		}
		freed += went;
	}
out:
	cdt_store_unlock(cache);
	free(t.items);
	if (freed_out)
		*freed_out = freed;
	return ret;
}
