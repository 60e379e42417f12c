/* packset.c: the packs of a store as one set, with the multi-pack index and a filter in front. */
#include "ops/packset.h"
#include "base/fsutil.h"
#include "base/idset.h"
#include "format/midx.h"
#include "format/pack.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * The pack set: every pack whose index is in packs/, mapped. Pack structs
 * are never freed or moved while the store is open (a reload only adds), so
 * readers in other threads can hold pointers to them; a pack removed by gc
 * stays readable through its open mapping, and its file while that is
 * open (pack files are closed when many are: a read then finds it gone,
 * and readers look for the chunk in the packs listed again).
 */
struct cdt_packset {
	pthread_mutex_t mu;
	struct cdt_pack **packs;
	size_t nr, alloc;
	struct timespec mtime, ctime;	/* of packs/ when last listed */
	struct timespec listed_at;	/* when that was (CLOCK_REALTIME): see listing_racy() */
	struct cdt_idset listed;	/* the packs whose index that listing found */
	int loaded;
	/* The multi-pack index, when it is usable: every pack it names is here. */
	struct cdt_midx midx;
	int have_midx;
	struct cdt_pack **midx_packs;	/* its pack numbers resolved */
	unsigned char *covered;		/* per pack: found through the midx */
	size_t covered_alloc;
	/*
	 * Indexes that could not be read (an I/O error, not damage): their
	 * packs are missing from the set, which then says less than packs/
	 * holds. Counted over the life of the set.
	 */
	size_t unreadable;
	/*
	 * -errno when the last listing of packs/ met an index it could not
	 * read, and the name of that pack: a miss may be one of its chunks.
	 */
	int index_err;
	char index_err_name[CDT_ID_HEXLEN + 8];
	/*
	 * Those indexes, opened again now and then (retry_locked()): the
	 * error may have passed (descriptors ran out, a read failed once),
	 * and a long restore or a mount must not lose their packs for good.
	 */
	struct failed_index {
		char name[CDT_ID_HEXLEN + 8];
		int err;
	} *failed;
	size_t nfailed, failed_alloc;
	unsigned long retry_lookups;	/* since the last try */
	time_t retry_time;		/* of the last try (CLOCK_MONOTONIC) */
	/*
	 * -errno when the last listing of packs/ failed (an I/O error): then
	 * the set may lack packs that are there, and a miss proves nothing.
	 */
	int list_err;
	/* Packs whose index went away (gc): kept for readers that hold them. */
	struct cdt_pack **retired;
	size_t nretired, retired_alloc;
	/*
	 * A Bloom filter over the ids of the packs the multi-pack index does
	 * not cover (up to 32 before add writes a new one), built once a
	 * process has searched them often: an absent id, the common case when
	 * new data comes in, then costs one cache line instead of a binary
	 * search in every such pack. Rebuilt after packs/ changes.
	 */
	uint64_t *filter;		/* nblocks blocks of 512 bits */
	size_t filter_blocks;
	unsigned long filter_probes;	/* searches of the uncovered packs since the last listing */
	int filter_useless;		/* too few uncovered packs to pay */
	/*
	 * The uncovered pack that held the last id found there: the chunks
	 * of a file are read (and added again) in the order they were
	 * written, so the next one is most likely in the same pack.
	 */
	struct cdt_pack *last_found;
};

#define FILTER_AFTER 4096	/* searches before the filter is built */
#define RETRY_LOOKUPS 256	/* lookups, or */
#define RETRY_SECONDS 2		/* seconds, before an index that failed is opened again */
#define FILTER_MIN_PACKS 4
#define FILTER_BITS_PER_ID 12
#define FILTER_K 6

/* The id's block and its FILTER_K bits in it (ids are uniform: SHA-256). */
static uint64_t *filter_block(const struct cdt_packset *ps, const unsigned char *id)
{
	return ps->filter + (get_le64(id + 16) % ps->filter_blocks) * 8;
}

static void filter_add(struct cdt_packset *ps, const unsigned char *id)
{
	uint64_t *blk = filter_block(ps, id), h = get_le64(id + 24);
	int j;

	for (j = 0; j < FILTER_K; j++, h >>= 9)
		blk[(h & 511) >> 6] |= (uint64_t)1 << (h & 63);
}

static int filter_maybe(const struct cdt_packset *ps, const unsigned char *id)
{
	const uint64_t *blk = filter_block(ps, id);
	uint64_t h = get_le64(id + 24);
	int j;

	for (j = 0; j < FILTER_K; j++, h >>= 9)
		if (!(blk[(h & 511) >> 6] & ((uint64_t)1 << (h & 63))))
			return 0;
	return 1;
}

static void filter_drop(struct cdt_packset *ps)
{
	free(ps->filter);
	ps->filter = NULL;
	ps->filter_blocks = 0;
	ps->filter_probes = 0;
	ps->filter_useless = 0;
}

static void filter_build_locked(struct cdt_packset *ps)
{
	uint64_t n = 0, k;
	size_t i, npacks = 0;

	for (i = 0; i < ps->nr; i++)
		if (!(ps->have_midx && ps->covered[i])) {
			n += ps->packs[i]->count;
			npacks++;
		}
	if (npacks < FILTER_MIN_PACKS) {
		ps->filter_useless = 1;
		return;
	}
	ps->filter_blocks = (size_t)(n * FILTER_BITS_PER_ID / 512 + 1);
	ps->filter = xcalloc(ps->filter_blocks * 8, sizeof(uint64_t));
	for (i = 0; i < ps->nr; i++)
		if (!(ps->have_midx && ps->covered[i]))
			for (k = 0; k < ps->packs[i]->count; k++)
				filter_add(ps, ps->packs[i]->ids + k * CDT_ID_LEN);
}

static void packset_free(void *state)
{
	struct cdt_packset *ps = state;
	size_t i;

	if (!ps)
		return;
	for (i = 0; i < ps->nr; i++) {
		cdt_pack_close(ps->packs[i]);
		free(ps->packs[i]);
	}
	free(ps->packs);
	for (i = 0; i < ps->nretired; i++) {
		cdt_pack_close(ps->retired[i]);
		free(ps->retired[i]);
	}
	free(ps->retired);
	free(ps->failed);
	cdt_idset_clear(&ps->listed);
	cdt_midx_close(&ps->midx);
	free(ps->midx_packs);
	free(ps->covered);
	filter_drop(ps);
	pthread_mutex_destroy(&ps->mu);
	free(ps);
}

static void *packset_new(struct cdt_store *s)
{
	struct cdt_packset *ps = xcalloc(1, sizeof(*ps));

	(void)s;
	pthread_mutex_init(&ps->mu, NULL);
	return ps;
}

/* The store's pack set, held by the store (under this key) until it is closed. */
static const char packset_key;

static struct cdt_packset *packset(struct cdt_store *s)
{
	return cdt_store_state(s, &packset_key, packset_new, packset_free);
}

static struct cdt_pack *pack_by_name(struct cdt_packset *ps, const char *name, size_t *where)
{
	size_t i;

	for (i = 0; i < ps->nr; i++)
		if (!strcmp(ps->packs[i]->name, name)) {
			if (where)
				*where = i;
			return ps->packs[i];
		}
	return NULL;
}

/* (Re)load the multi-pack index; use it only if every pack it names is present. */
static void load_midx_locked(struct cdt_store *s, struct cdt_packset *ps)
{
	int packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	char name[CDT_ID_HEXLEN + 8];
	uint32_t i;

	cdt_midx_close(&ps->midx);
	ps->have_midx = 0;
	ALLOC_GROW(ps->covered, ps->nr + 1, ps->covered_alloc);
	memset(ps->covered, 0, ps->nr + 1);
	if (cdt_midx_open(packsfd, &ps->midx) < 0)
		return;
	free(ps->midx_packs);
	ps->midx_packs = xcalloc(ps->midx.npacks ? ps->midx.npacks : 1, sizeof(*ps->midx_packs));
	for (i = 0; i < ps->midx.npacks; i++) {
		size_t where;

		ps->midx_packs[i] = pack_by_name(ps, cdt_midx_pack_name(&ps->midx, i, name), &where);
		if (!ps->midx_packs[i]) {
			/* Stale: a pack it names was removed. Search pack by pack. */
			cdt_midx_close(&ps->midx);
			memset(ps->covered, 0, ps->nr + 1);
			return;
		}
		ps->covered[where] = 1;
	}
	ps->have_midx = 1;
}

/* The index of pack `name` could not be read (err, an I/O error): it is tried again later. */
static void index_failed_locked(struct cdt_packset *ps, const char *name, int err)
{
	struct timespec now;

	ps->unreadable++;
	ps->index_err = err;
	snprintf(ps->index_err_name, sizeof(ps->index_err_name), "%s", name);
	ALLOC_GROW(ps->failed, ps->nfailed + 1, ps->failed_alloc);
	snprintf(ps->failed[ps->nfailed].name, sizeof(ps->failed[ps->nfailed].name), "%s", name);
	ps->failed[ps->nfailed++].err = err;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ps->retry_time = now.tv_sec;
	ps->retry_lookups = 0;
}

/*
 * Open again the indexes that could not be read, once RETRY_LOOKUPS
 * lookups or RETRY_SECONDS have passed since the last try (not at every
 * lookup: a failing one costs a system call). Called with ps->mu held,
 * only when some failed.
 */
static void retry_locked(struct cdt_store *s, struct cdt_packset *ps)
{
	int packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	struct timespec now;
	size_t i, k, nr = ps->nr;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (++ps->retry_lookups < RETRY_LOOKUPS && now.tv_sec - ps->retry_time < RETRY_SECONDS)
		return;
	ps->retry_lookups = 0;
	ps->retry_time = now.tv_sec;
	for (i = 0, k = 0; i < ps->nfailed; i++) {
		struct failed_index *f = &ps->failed[i];
		struct cdt_pack *p = xmalloc(sizeof(*p));
		int ret = cdt_pack_open(packsfd, f->name, p);

		if (!ret) {
			ALLOC_GROW(ps->packs, ps->nr + 1, ps->alloc);
			ps->packs[ps->nr++] = p;
			continue;
		}
		free(p);
		/* Gone (gc), or damaged, as a listing would say: its chunks are not there. */
		if (ret == -CDT_ECORRUPT)
			error("pack index '%s/packs/%s.idx' is damaged (run 'cdt fsck')",
			      cdt_store_path(s), f->name);
		if (ret == -ENOENT || ret == -CDT_ECORRUPT)
			continue;
		f->err = ret;
		ps->failed[k++] = *f;
	}
	ps->nfailed = k;
	ps->index_err = k ? ps->failed[0].err : 0;
	if (k)
		snprintf(ps->index_err_name, sizeof(ps->index_err_name), "%s", ps->failed[0].name);
	if (ps->nr != nr) {
		/* The multi-pack index may be whole again; the filter lacks their ids. */
		load_midx_locked(s, ps);
		filter_drop(ps);
	}
}

/*
 * (Re)list packs/ if it changed since the last listing, or with `racy` if
 * that listing came so soon after a change that its unchanged times prove
 * nothing (listing_racy()). Called with ps->mu held. Returns 1 if it
 * listed packs/ again, 0 if nothing changed.
 */
static int refresh_racy_locked(struct cdt_store *s, struct cdt_packset *ps, int racy)
{
	int packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	struct cdt_idset last = CDT_IDSET_INIT;
	unsigned char *seen;
	size_t nold, i, j;
	struct stat st;
	struct dirent *de;
	struct cdt_id id;
	DIR *d;
	int fd, same, known;

	if (fstat(packsfd, &st) < 0) {
		ps->list_err = -errno;
		return 0;
	}
	same = ps->loaded && st.st_mtim.tv_sec == ps->mtime.tv_sec &&
	       st.st_mtim.tv_nsec == ps->mtime.tv_nsec && st.st_ctim.tv_sec == ps->ctime.tv_sec &&
	       st.st_ctim.tv_nsec == ps->ctime.tv_nsec;
	if (same && !(racy && listing_racy(&ps->listed_at, &ps->mtime, &ps->ctime)))
		return 0;
	clock_gettime(CLOCK_REALTIME, &ps->listed_at);
	fd = openat(packsfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		ps->list_err = -errno;
		if (fd >= 0)
			close(fd);
		return 0;
	}
	ps->mtime = st.st_mtim;
	ps->ctime = st.st_ctim;
	ps->loaded = 1;
	ps->list_err = 0;
	/*
	 * Listed again for being racy, times unchanged: only indexes new to
	 * the listing are opened; one that failed is tried again by
	 * retry_locked() as before, and a damaged one is not said again.
	 */
	if (!same) {
		ps->index_err = 0;
		ps->nfailed = 0;	/* each index not in the set is opened below */
	}
	last = ps->listed;
	ps->listed = (struct cdt_idset)CDT_IDSET_INIT;
	seen = xcalloc(ps->nr + 1, 1);
	nold = ps->nr;
	for (errno = 0; (de = readdir(d)); errno = 0) {
		size_t len = strlen(de->d_name), where;
		char name[CDT_ID_HEXLEN + 8];
		struct cdt_pack *p;
		int ret;

		if (len != 5 + CDT_ID_HEXLEN + 4 || strncmp(de->d_name, "pack-", 5) ||
		    strcmp(de->d_name + len - 4, ".idx"))
			continue;
		memcpy(name, de->d_name, len - 4);
		name[len - 4] = '\0';
		known = !cdt_id_from_hex(name + 5, &id) && cdt_idset_has(&last, &id);
		if (!cdt_id_from_hex(name + 5, &id))
			cdt_idset_add(&ps->listed, &id);
		if (pack_by_name(ps, name, &where)) {
			if (where < nold)
				seen[where] = 1;
			continue;
		}
		if (same && known)
			continue;
		p = xmalloc(sizeof(*p));
		ret = cdt_pack_open(packsfd, name, p);
		if (ret < 0) {
			if (ret == -CDT_ECORRUPT) {
				error("pack index '%s/packs/%s.idx' is damaged (run 'cdt fsck')",
				      cdt_store_path(s), name);
			} else if (ret != -ENOENT) {
				/* Said by whoever misses a chunk it may hold (cdt_packs_index_error()). */
				index_failed_locked(ps, name, ret);
			}
			free(p);
			continue;
		}
		ALLOC_GROW(ps->packs, ps->nr + 1, ps->alloc);
		ps->packs[ps->nr++] = p;
	}
	if (errno) {
		/* Part of a listing: keep what was there, and list again next time. */
		ps->list_err = -errno;
		ps->loaded = 0;
		memset(seen, 1, nold);
	}
	closedir(d);
	cdt_idset_clear(&last);
	/* Packs no longer listed leave the set, but stay mapped until close. */
	for (i = 0, j = 0; i < ps->nr; i++) {
		if (i < nold && !seen[i]) {
			ALLOC_GROW(ps->retired, ps->nretired + 1, ps->retired_alloc);
			ps->retired[ps->nretired++] = ps->packs[i];
		} else {
			ps->packs[j++] = ps->packs[i];
		}
	}
	ps->nr = j;
	free(seen);
	load_midx_locked(s, ps);
	filter_drop(ps);
	ps->last_found = NULL;
	return 1;
}

static int refresh_locked(struct cdt_store *s, struct cdt_packset *ps)
{
	return refresh_racy_locked(s, ps, 0);
}

/*
 * Forget the packs listed so far (they stay mapped for readers that hold
 * one, as retired packs do), so that the next lookup lists packs/ again
 * and maps every index afresh: after an index was rewritten in place.
 */
static void reset_locked(struct cdt_packset *ps)
{
	size_t i;

	for (i = 0; i < ps->nr; i++) {
		ALLOC_GROW(ps->retired, ps->nretired + 1, ps->retired_alloc);
		ps->retired[ps->nretired++] = ps->packs[i];
	}
	ps->nr = 0;
	ps->loaded = 0;
	cdt_midx_close(&ps->midx);
	ps->have_midx = 0;
	filter_drop(ps);
	ps->last_found = NULL;
}

static int is_pack_name(const char *name, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len == 5 + CDT_ID_HEXLEN + n && !strncmp(name, "pack-", 5) &&
	       strspn(name + 5, "0123456789abcdef") == CDT_ID_HEXLEN && !strcmp(name + len - n, suffix);
}

int cdt_packs_walk_files(struct cdt_store *s, cdt_packfile_fn fn, void *data)
{
	int packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	struct cdt_dent *ents;
	size_t n, i;
	int ret = cdt_list_dir(packsfd, ".", &ents, &n);

	if (ret < 0)
		return ret;
	for (i = 0; i < n && !ret; i++) {
		const char *e = ents[i].name;
		size_t len = strlen(e);
		char pack[CDT_ID_HEXLEN + 8], other[CDT_ID_HEXLEN + 16];
		enum cdt_pack_file kind;

		if (!strcmp(e, CDT_MIDX_NAME)) {
			ret = fn(e, NULL, CDT_PACKFILE_MIDX, data);
			continue;
		}
		if (ents[i].type != DT_REG || (!is_pack_name(e, len, ".pack") &&
					       !is_pack_name(e, len, ".idx") &&
					       !is_pack_name(e, len, ".sketch"))) {
			ret = fn(e, NULL, CDT_PACKFILE_STRAY, data);
			continue;
		}
		snprintf(pack, sizeof(pack), "%.*s", 5 + CDT_ID_HEXLEN, e);
		if (is_pack_name(e, len, ".sketch")) {
			snprintf(other, sizeof(other), "%s.pack", pack);
			kind = faccessat(packsfd, other, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ?
			       CDT_PACKFILE_SKETCH : CDT_PACKFILE_SKETCH_NO_PACK;
		} else if (is_pack_name(e, len, ".pack")) {
			snprintf(other, sizeof(other), "%s.idx", pack);
			kind = faccessat(packsfd, other, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ?
			       CDT_PACKFILE_PACK : CDT_PACKFILE_NO_INDEX;
		} else {
			snprintf(other, sizeof(other), "%s.pack", pack);
			if (faccessat(packsfd, other, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
				continue;	/* met as its pack */
			kind = CDT_PACKFILE_NO_PACK;
		}
		ret = fn(e, pack, kind, data);
	}
	cdt_dents_free(ents, n);
	return ret;
}

int cdt_pack_remove_files(struct cdt_store *s, const char *name)
{
	int packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	char path[CDT_ID_HEXLEN + 16];

	snprintf(path, sizeof(path), "%s.idx", name);
	if (unlinkat(packsfd, path, 0) < 0 && errno != ENOENT)
		return -errno;
	snprintf(path, sizeof(path), "%s.sketch", name);
	unlinkat(packsfd, path, 0);
	snprintf(path, sizeof(path), "%s.pack", name);
	if (unlinkat(packsfd, path, 0) < 0 && errno != ENOENT)
		warning("cannot remove 'packs/%s': %s", path, cdt_strerror(errno));
	return 0;
}

/* The multi-pack index's own checksum: 0 or -CDT_ECORRUPT (-ENOENT: none). */
static int check_midx_file(int packsfd)
{
	struct cdt_midx m;
	int ret = cdt_midx_open(packsfd, &m);

	if (ret < 0)
		return ret;
	ret = cdt_midx_check(&m);
	cdt_midx_close(&m);
	return ret;
}

struct pack_check {
	struct cdt_store *store;
	int fix;
	const struct cdt_base_source *bases;
	cdt_pack_check_fn fn;
	void *data;
	struct strbuf why;
	int unusable, changed;
	/* Packs whose deltas' bases were in packs not yet indexed again: tried after them. */
	struct later_pack {
		char *name, *why;
		int err;	/* of the last try */
	} *later;
	size_t nlater, alater;
};

/* What a pack that could not be indexed again is: damaged, or not readable (err an I/O error). */
static enum cdt_pack_state unindexed_state(int err)
{
	return cdt_err_is_damage(err) ? CDT_PACK_UNUSABLE : CDT_PACK_UNREADABLE;
}

/* Index pack `name` again from its objects; -ENOENT when a delta's base is not found (yet). */
static int reindex(struct pack_check *pc, const char *name)
{
	uint64_t count = 0;
	int ret;

	strbuf_addstr(&pc->why, "; ");
	ret = cdt_pack_reindex(pc->store, name, pc->bases, &count, &pc->why);
	if (ret < 0)
		return ret;
	strbuf_addf(&pc->why, "indexed again from the pack (%llu chunk%s)",
		    (unsigned long long)count, count == 1 ? "" : "s");
	pc->fn(name, CDT_PACK_REINDEXED, pc->why.buf, pc->data);
	pc->changed = 1;
	/* Readers see it from now on: the bases of the packs tried later may be in it. */
	{
		struct cdt_packset *ps = packset(pc->store);

		pthread_mutex_lock(&ps->mu);
		reset_locked(ps);
		pthread_mutex_unlock(&ps->mu);
	}
	return 0;
}

static int check_pack_file(const char *file, const char *name, enum cdt_pack_file kind, void *data)
{
	struct pack_check *pc = data;
	int packsfd = cdt_store_dirfd(pc->store, CDT_DIR_PACKS);
	struct cdt_pack p;
	int ret;

	(void)file;
	if (kind != CDT_PACKFILE_PACK && kind != CDT_PACKFILE_NO_INDEX)
		return 0;
	strbuf_reset(&pc->why);
	if (kind == CDT_PACKFILE_NO_INDEX) {
		strbuf_addstr(&pc->why, "index is missing");
	} else if ((ret = cdt_pack_open(packsfd, name, &p)) == 0) {
		ret = cdt_pack_check_index(&p, &pc->why);
		cdt_pack_close(&p);
		if (!ret)
			return 0;
	} else if (cdt_err_is_damage(ret)) {
		strbuf_addf(&pc->why, "index cannot be used (%s)", cdt_strerror(ret));
	} else {
		/* An I/O error says nothing of the index: it is reported, not written again. */
		strbuf_addf(&pc->why, "index cannot be read: %s", cdt_strerror(ret));
		pc->fn(name, CDT_PACK_INDEX_UNREADABLE, pc->why.buf, pc->data);
		pc->unusable++;
		return 0;
	}
	if (!pc->fix) {
		pc->fn(name, CDT_PACK_NEEDS_INDEX, pc->why.buf, pc->data);
		pc->unusable++;
		return 0;
	}
	ret = reindex(pc, name);
	if (ret == -ENOENT) {
		ALLOC_GROW(pc->later, pc->nlater + 1, pc->alater);
		pc->later[pc->nlater].name = xstrdup(name);
		pc->later[pc->nlater].why = xstrdup(pc->why.buf);
		pc->later[pc->nlater].err = ret;
		pc->nlater++;
	} else if (ret < 0) {
		pc->fn(name, unindexed_state(ret), pc->why.buf, pc->data);
		pc->unusable++;
	}
	return 0;
}

/*
 * The packs whose deltas' bases were not found, again, as long as each
 * round indexes one more; what is left then cannot be indexed.
 */
static void reindex_later(struct pack_check *pc)
{
	size_t i, k;
	int progress = 1;

	while (progress && pc->nlater) {
		progress = 0;
		for (i = 0, k = 0; i < pc->nlater; i++) {
			struct later_pack *l = &pc->later[i];

			strbuf_reset(&pc->why);
			strbuf_add(&pc->why, l->why, strcspn(l->why, ";"));
			l->err = reindex(pc, l->name);
			if (l->err == 0) {
				free(l->name);
				free(l->why);
				progress = 1;
				continue;
			}
			free(l->why);
			l->why = xstrdup(pc->why.buf);
			pc->later[k++] = *l;
		}
		pc->nlater = k;
	}
	for (i = 0; i < pc->nlater; i++) {
		pc->fn(pc->later[i].name, unindexed_state(pc->later[i].err), pc->later[i].why,
		       pc->data);
		pc->unusable++;
		free(pc->later[i].name);
		free(pc->later[i].why);
	}
	free(pc->later);
	pc->later = NULL;
	pc->nlater = 0;
}

int cdt_packs_check(struct cdt_store *s, int fix, const struct cdt_base_source *bases,
		    cdt_pack_check_fn fn, void *data)
{
	struct cdt_packset *ps = packset(s);
	int packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	struct pack_check pc = { s, fix, bases, fn, data, STRBUF_INIT, 0, 0, NULL, 0, 0 };
	int ret;

	ret = cdt_packs_walk_files(s, check_pack_file, &pc);
	reindex_later(&pc);
	if (ret < 0)
		goto out;
	ret = check_midx_file(packsfd);
	if (ret == -CDT_ECORRUPT) {
		if (fix && unlinkat(packsfd, CDT_MIDX_NAME, 0) < 0 && errno != ENOENT) {
			ret = -errno;
			goto out;
		}
		fn(CDT_MIDX_NAME, fix ? CDT_PACK_MIDX_REMOVED : CDT_PACK_MIDX_DAMAGED,
		   "multi-pack index is damaged", data);
		pc.changed = 1;
	}
	if (pc.changed && fix) {
		pthread_mutex_lock(&ps->mu);
		reset_locked(ps);
		pthread_mutex_unlock(&ps->mu);
	}
	ret = pc.unusable;
out:
	strbuf_release(&pc.why);
	return ret;
}

size_t cdt_packs_list(struct cdt_store *s, struct cdt_pack ***out)
{
	struct cdt_packset *ps = packset(s);
	size_t n;

	pthread_mutex_lock(&ps->mu);
	/*
	 * Readers come here for a chunk not found in the packs known (and
	 * for other copies of a damaged one): a pack renamed in within the
	 * same clock tick as the last listing must not be missed for good.
	 * The lookups of add do not (a chunk missed is stored again).
	 */
	refresh_racy_locked(s, ps, 1);
	/* A copy: another thread's refresh may grow the array. */
	n = ps->nr;
	*out = xmalloc((n ? n : 1) * sizeof(**out));
	if (n)
		memcpy(*out, ps->packs, n * sizeof(**out));
	pthread_mutex_unlock(&ps->mu);
	return n;
}

int cdt_packs_write_midx(struct cdt_store *s)
{
	struct cdt_pack **packs;
	size_t n = cdt_packs_list(s, &packs);
	int ret = 0;

	if (n >= 2)
		ret = cdt_midx_write(s, packs, n);
	else if (unlinkat(cdt_store_dirfd(s, CDT_DIR_PACKS), CDT_MIDX_NAME, 0) < 0 &&
		 errno != ENOENT)
		ret = -errno;
	free(packs);
	return ret;
}

/*
 * Is id in a pack? Through the multi-pack index when there is one, then
 * the packs it does not cover; if not found and packs/ changed since it
 * was listed, lists it again and searches once more.
 */
/* Where id is packed; `passes` 2 lists packs/ again on a miss if it changed, 1 does not. */
static struct cdt_pack *find_packed(struct cdt_store *s, const struct cdt_id *id, int64_t *index,
				    int passes)
{
	struct cdt_packset *ps = packset(s);
	struct cdt_pack *found = NULL;
	int pass;
	size_t i;

	pthread_mutex_lock(&ps->mu);
	if (ps->nfailed)
		retry_locked(s, ps);
	for (pass = 0; pass < passes && !found; pass++) {
		if ((pass || !ps->loaded) && !refresh_locked(s, ps) && pass)
			break;
		if (ps->have_midx) {
			uint32_t pk, entry;

			if (cdt_midx_find(&ps->midx, id, &pk, &entry) &&
			    entry < ps->midx_packs[pk]->count) {
				found = ps->midx_packs[pk];
				*index = entry;
				break;
			}
		}
		if (!ps->filter && !ps->filter_useless && ++ps->filter_probes > FILTER_AFTER)
			filter_build_locked(ps);
		if (ps->filter && !filter_maybe(ps, id->b))
			continue;
		if (ps->last_found) {
			int64_t k = cdt_pack_find(ps->last_found, id);

			if (k >= 0) {
				found = ps->last_found;
				*index = k;
				break;
			}
		}
		for (i = 0; i < ps->nr; i++) {
			int64_t k;

			if ((ps->have_midx && ps->covered[i]) || ps->packs[i] == ps->last_found)
				continue;
			k = cdt_pack_find(ps->packs[i], id);
			if (k >= 0) {
				found = ps->last_found = ps->packs[i];
				*index = k;
				break;
			}
		}
	}
	pthread_mutex_unlock(&ps->mu);
	return found;
}

int cdt_chunk_locate(struct cdt_store *s, const struct cdt_id *id, struct cdt_pack **pack,
		     uint64_t *index)
{
	int64_t k;

	*pack = find_packed(s, id, &k, 2);
	if (!*pack)
		return 0;
	*index = (uint64_t)k;
	return 1;
}

int cdt_chunk_locate_known(struct cdt_store *s, const struct cdt_id *id, struct cdt_pack **pack,
			   uint64_t *index)
{
	struct cdt_pack *p;
	int64_t k;

	p = find_packed(s, id, &k, 1);
	if (pack)
		*pack = p;
	if (p && index)
		*index = (uint64_t)k;
	return p != NULL;
}

size_t cdt_packs_unreadable(struct cdt_store *s)
{
	struct cdt_packset *ps = packset(s);
	size_t n;

	pthread_mutex_lock(&ps->mu);
	n = ps->unreadable;
	pthread_mutex_unlock(&ps->mu);
	return n;
}

int cdt_packs_list_error(struct cdt_store *s)
{
	struct cdt_packset *ps = packset(s);
	int ret;

	pthread_mutex_lock(&ps->mu);
	ret = ps->list_err;
	pthread_mutex_unlock(&ps->mu);
	return ret;
}

int cdt_packs_index_error(struct cdt_store *s, struct strbuf *name)
{
	struct cdt_packset *ps = packset(s);
	int ret;

	pthread_mutex_lock(&ps->mu);
	ret = ps->index_err;
	if (ret < 0 && name)
		strbuf_addstr(name, ps->index_err_name);
	pthread_mutex_unlock(&ps->mu);
	return ret;
}

size_t cdt_packs_uncovered(struct cdt_store *s)
{
	struct cdt_packset *ps = packset(s);
	size_t i, n = 0;

	pthread_mutex_lock(&ps->mu);
	refresh_locked(s, ps);
	for (i = 0; i < ps->nr; i++)
		n += !(ps->have_midx && ps->covered[i]);
	pthread_mutex_unlock(&ps->mu);
	return n;
}
