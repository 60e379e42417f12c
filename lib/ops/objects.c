/* objects.c: loose chunk objects under STORE/objects/XX/. */
#include "ops/objects.h"
#include "base/compress.h"
#include "base/fsutil.h"
#include "format/fanout.h"
#include "base/idset.h"
#include "format/midx.h"
#include "format/pack.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

size_t cdt_object_encode(struct cdt_compressor *c, const void *data, uint32_t len,
			 unsigned char *out)
{
	size_t clen = 0;

	memcpy(out, CDT_OBJ_MAGIC, 4);
	out[4] = CDT_OBJ_VERSION;
	out[6] = out[7] = 0;
	put_le32(out + 8, len);
	if (c && len > 16 && !cdt_probably_incompressible(data, len))
		clen = cdt_compress(c, data, len, out + CDT_OBJ_HDR, len - 1);
	if (clen) {
		out[5] = CDT_CODEC_ZLIB;
		return CDT_OBJ_HDR + clen;
	}
	out[5] = CDT_CODEC_RAW;
	memcpy(out + CDT_OBJ_HDR, data, len);
	return CDT_OBJ_HDR + (size_t)len;
}

/* The 12-byte header: 0 with the raw length in *raw, or -CDT_ECORRUPT. */
static int check_header(const unsigned char *obj, size_t obj_len, uint32_t want_len,
			uint32_t raw_max, uint32_t *raw, struct strbuf *why)
{
	if (obj_len < CDT_OBJ_HDR)
		return cdt_corrupt(why, "object is shorter than its header");
	if (memcmp(obj, CDT_OBJ_MAGIC, 4))
		return cdt_corrupt(why, "object has a bad magic number");
	if (obj[4] != CDT_OBJ_VERSION)
		return cdt_corrupt(why, "object has an unknown version");
	if (obj[6] || obj[7])
		return cdt_corrupt(why, "object header has reserved bits set");
	if (obj[5] != CDT_CODEC_RAW && obj[5] != CDT_CODEC_ZLIB)
		return cdt_corrupt(why, "object has an unknown codec");
	*raw = get_le32(obj + 8);
	if (*raw > raw_max) {
		if (why)
			strbuf_addf(why, "object claims %u bytes, more than the largest chunk (%u)",
				    *raw, raw_max);
		return -CDT_ECORRUPT;
	}
	if (want_len && *raw != want_len) {
		if (why)
			strbuf_addf(why, "object holds %u bytes, the manifest says %u", *raw, want_len);
		return -CDT_ECORRUPT;
	}
	return 0;
}

int cdt_object_decode(struct cdt_decompressor *d, const struct cdt_id *id,
		      const unsigned char *obj, size_t obj_len, uint32_t want_len,
		      uint32_t raw_max, unsigned char *out, uint32_t *len,
		      struct strbuf *why)
{
	uint32_t raw;
	size_t payload;
	struct cdt_id got;
	int ret = check_header(obj, obj_len, want_len, raw_max, &raw, why);

	if (ret < 0)
		return ret;
	payload = obj_len - CDT_OBJ_HDR;
	if (obj[5] == CDT_CODEC_RAW) {
		if (payload != raw)
			return cdt_corrupt(why, "raw object has the wrong length");
		memcpy(out, obj + CDT_OBJ_HDR, raw);
	} else if (cdt_decompress(d, obj + CDT_OBJ_HDR, payload, out, raw) < 0) {
		return cdt_corrupt(why, "compressed data does not inflate to the stated length");
	}
	cdt_hash(out, raw, &got);
	if (!cdt_id_eq(&got, id))
		return cdt_corrupt(why, "content does not match its id");
	*len = raw;
	return 0;
}

int cdt_object_parse(struct cdt_decompressor *d, const unsigned char *buf, size_t avail,
		     uint32_t raw_max, unsigned char *out, uint32_t *len, size_t *obj_len,
		     struct cdt_id *id, struct strbuf *why)
{
	uint32_t raw;
	size_t used;
	int ret = check_header(buf, avail, 0, raw_max, &raw, why);

	if (ret < 0)
		return ret;
	if (buf[5] == CDT_CODEC_RAW) {
		if (avail - CDT_OBJ_HDR < raw)
			return cdt_corrupt(why, "raw object runs past the end");
		memcpy(out, buf + CDT_OBJ_HDR, raw);
		used = raw;
	} else if (cdt_decompress_prefix(d, buf + CDT_OBJ_HDR, avail - CDT_OBJ_HDR, out, raw,
					 &used) < 0) {
		return cdt_corrupt(why, "compressed data does not inflate to the stated length");
	}
	cdt_hash(out, raw, id);
	*len = raw;
	*obj_len = CDT_OBJ_HDR + used;
	return 0;
}

/*
 * The pack set: every pack whose index is in packs/, mapped. Pack structs
 * are never freed or moved while the store is open (a reload only adds), so
 * readers in other threads can hold pointers to them; a pack removed by gc
 * stays readable through its open mapping and file descriptor.
 */
struct cdt_packset {
	pthread_mutex_t mu;
	struct cdt_pack **packs;
	size_t nr, alloc;
	struct timespec mtime, ctime;	/* of packs/ when last listed */
	int loaded;
	/* The multi-pack index, when it is usable: every pack it names is here. */
	struct cdt_midx midx;
	int have_midx;
	struct cdt_pack **midx_packs;	/* its pack numbers resolved */
	unsigned char *covered;		/* per pack: found through the midx */
	size_t covered_alloc;
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

void cdt_packset_free(struct cdt_packset *ps)
{
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
	cdt_midx_close(&ps->midx);
	free(ps->midx_packs);
	free(ps->covered);
	filter_drop(ps);
	pthread_mutex_destroy(&ps->mu);
	free(ps);
}

static struct cdt_packset *packset(struct cdt_store *s)
{
	static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;
	struct cdt_packset **pp = cdt_store_packset(s);

	pthread_mutex_lock(&init_mu);
	if (!*pp) {
		struct cdt_packset *ps = xcalloc(1, sizeof(*ps));

		pthread_mutex_init(&ps->mu, NULL);
		*pp = ps;
	}
	pthread_mutex_unlock(&init_mu);
	return *pp;
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

/*
 * (Re)list packs/ if it changed since the last listing. Called with ps->mu
 * held. Returns 1 if it listed packs/ again, 0 if nothing changed.
 */
static int refresh_locked(struct cdt_store *s, struct cdt_packset *ps)
{
	int packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	unsigned char *seen;
	size_t nold, i, j;
	struct stat st;
	struct dirent *de;
	DIR *d;
	int fd;

	if (fstat(packsfd, &st) < 0)
		return 0;
	if (ps->loaded && st.st_mtim.tv_sec == ps->mtime.tv_sec &&
	    st.st_mtim.tv_nsec == ps->mtime.tv_nsec && st.st_ctim.tv_sec == ps->ctime.tv_sec &&
	    st.st_ctim.tv_nsec == ps->ctime.tv_nsec)
		return 0;
	fd = openat(packsfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	ps->mtime = st.st_mtim;
	ps->ctime = st.st_ctim;
	ps->loaded = 1;
	seen = xcalloc(ps->nr + 1, 1);
	nold = ps->nr;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name), where;
		char name[CDT_ID_HEXLEN + 8];
		struct cdt_pack *p;
		int ret;

		if (len != 5 + CDT_ID_HEXLEN + 4 || strncmp(de->d_name, "pack-", 5) ||
		    strcmp(de->d_name + len - 4, ".idx"))
			continue;
		memcpy(name, de->d_name, len - 4);
		name[len - 4] = '\0';
		if (pack_by_name(ps, name, &where)) {
			if (where < nold)
				seen[where] = 1;
			continue;
		}
		p = xmalloc(sizeof(*p));
		ret = cdt_pack_open(packsfd, name, p);
		if (ret < 0) {
			if (ret != -ENOENT)
				error("pack index '%s/packs/%s.idx' is damaged (run 'cdt fsck')",
				      cdt_store_path(s), name);
			free(p);
			continue;
		}
		ALLOC_GROW(ps->packs, ps->nr + 1, ps->alloc);
		ps->packs[ps->nr++] = p;
	}
	closedir(d);
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
					       !is_pack_name(e, len, ".idx"))) {
			ret = fn(e, NULL, CDT_PACKFILE_STRAY, data);
			continue;
		}
		snprintf(pack, sizeof(pack), "%.*s", 5 + CDT_ID_HEXLEN, e);
		if (is_pack_name(e, len, ".pack")) {
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

/* The multi-pack index's own checksum: 0 or -CDT_ECORRUPT (-ENOENT: none). */
static int check_midx_file(int packsfd)
{
	struct cdt_midx m;
	struct cdt_id sum;
	int ret = cdt_midx_open(packsfd, &m);

	if (ret < 0)
		return ret;
	cdt_hash(m.map, m.map_len - CDT_ID_LEN, &sum);
	ret = memcmp(sum.b, m.map + m.map_len - CDT_ID_LEN, CDT_ID_LEN) ? -CDT_ECORRUPT : 0;
	cdt_midx_close(&m);
	return ret;
}

struct pack_check {
	struct cdt_store *store;
	int fix;
	cdt_pack_check_fn fn;
	void *data;
	struct strbuf why;
	int unusable, changed;
};

static int check_pack_file(const char *file, const char *name, enum cdt_pack_file kind, void *data)
{
	struct pack_check *pc = data;
	int packsfd = cdt_store_dirfd(pc->store, CDT_DIR_PACKS);
	struct cdt_pack p;
	uint64_t count = 0;
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
	} else {
		strbuf_addf(&pc->why, "index cannot be used (%s)", cdt_strerror(ret));
	}
	if (!pc->fix) {
		pc->fn(name, CDT_PACK_NEEDS_INDEX, pc->why.buf, pc->data);
		pc->unusable++;
		return 0;
	}
	strbuf_addstr(&pc->why, "; ");
	ret = cdt_pack_reindex(pc->store, name, &count, &pc->why);
	if (ret < 0) {
		pc->fn(name, CDT_PACK_UNUSABLE, pc->why.buf, pc->data);
		pc->unusable++;
		return 0;
	}
	strbuf_addf(&pc->why, "indexed again from the pack (%llu chunk%s)",
		    (unsigned long long)count, count == 1 ? "" : "s");
	pc->fn(name, CDT_PACK_REINDEXED, pc->why.buf, pc->data);
	pc->changed = 1;
	return 0;
}

int cdt_packs_check(struct cdt_store *s, int fix, cdt_pack_check_fn fn, void *data)
{
	struct cdt_packset *ps = packset(s);
	int packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	struct pack_check pc = { s, fix, fn, data, STRBUF_INIT, 0, 0 };
	int ret;

	ret = cdt_packs_walk_files(s, check_pack_file, &pc);
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
	refresh_locked(s, ps);
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
static struct cdt_pack *find_packed(struct cdt_store *s, const struct cdt_id *id, int64_t *index)
{
	struct cdt_packset *ps = packset(s);
	struct cdt_pack *found = NULL;
	int pass;
	size_t i;

	pthread_mutex_lock(&ps->mu);
	for (pass = 0; pass < 2 && !found; pass++) {
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

	*pack = find_packed(s, id, &k);
	if (!*pack)
		return 0;
	*index = (uint64_t)k;
	return 1;
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

static int loose_has(struct cdt_store *s, const struct cdt_id *id, struct stat *st)
{
	char path[CDT_ID_HEXLEN + 2];

	if (fstatat(cdt_store_dirfd(s, CDT_DIR_OBJECTS), cdt_id_path(id, path),
		    st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	if (errno == ENOENT || errno == ENOTDIR)
		return 0;
	return -errno;
}

int cdt_chunk_has(struct cdt_store *s, const struct cdt_id *id)
{
	struct stat st;
	int64_t index;
	int ret = loose_has(s, id, &st);

	if (ret)
		return ret;
	return find_packed(s, id, &index) ? 1 : 0;
}

int64_t cdt_chunk_stored_size(struct cdt_store *s, const struct cdt_id *id)
{
	struct stat st;
	struct cdt_pack *p;
	int64_t index;
	uint32_t len;
	int ret = loose_has(s, id, &st);

	if (ret < 0)
		return ret;
	if (ret)
		return st.st_size;
	p = find_packed(s, id, &index);
	if (!p)
		return -ENOENT;
	cdt_pack_entry(p, (uint64_t)index, NULL, NULL, &len, NULL);
	return len;
}

struct cdt_chunk_reader {
	struct cdt_store *store;
	struct cdt_decompressor *d;
	unsigned char *buf;
	size_t cap;
	uint32_t raw_max;
};

struct cdt_chunk_reader *cdt_chunk_reader_new(struct cdt_store *s)
{
	struct cdt_chunk_reader *r = xcalloc(1, sizeof(*r));

	r->store = s;
	r->d = cdt_decompressor_new();
	r->raw_max = cdt_store_chunker(s)->max_size;
	r->cap = CDT_OBJ_MAX(r->raw_max);
	r->buf = xmalloc(r->cap + 1);
	return r;
}

void cdt_chunk_reader_free(struct cdt_chunk_reader *r)
{
	if (!r)
		return;
	cdt_decompressor_free(r->d);
	free(r->buf);
	free(r);
}

/* Read the loose copy: 0, -ENOENT (none), -CDT_ECORRUPT or -errno. */
static int read_loose(struct cdt_chunk_reader *r, const struct cdt_id *id, uint32_t want_len,
		      unsigned char *out, uint32_t *len, struct strbuf *why)
{
	char path[CDT_ID_HEXLEN + 2];
	int fd;
	ssize_t n;

	fd = openat(cdt_store_dirfd(r->store, CDT_DIR_OBJECTS), cdt_id_path(id, path),
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		int e = errno;

		if (e == ELOOP)
			return cdt_corrupt(why, "object is a symbolic link");
		if (e == ENOTDIR)
			e = ENOENT;
		if (why && e != ENOENT)
			strbuf_addf(why, "cannot open chunk: %s", cdt_strerror(e));
		return -e;
	}
	/* Read one byte past the largest valid object to detect oversize files. */
	n = read_full(fd, r->buf, r->cap + 1);
	close(fd);
	if (n < 0) {
		if (why)
			strbuf_addf(why, "cannot read chunk: %s", cdt_strerror((int)n));
		return (int)n;
	}
	if ((size_t)n > r->cap)
		return cdt_corrupt(why, "object file is larger than any chunk can be");
	return cdt_object_decode(r->d, id, r->buf, (size_t)n, want_len, r->raw_max,
				 out, len, why);
}

int cdt_chunk_read_loose(struct cdt_chunk_reader *r, const struct cdt_id *id,
			 uint32_t want_len, unsigned char *out, uint32_t *len,
			 struct strbuf *why)
{
	return read_loose(r, id, want_len, out, len, why);
}

static int read_packed(struct cdt_chunk_reader *r, struct cdt_pack *p, uint64_t index,
		       const struct cdt_id *id, uint32_t want_len, unsigned char *out,
		       uint32_t *len, struct strbuf *why)
{
	size_t n;
	int ret;

	ret = cdt_pack_read(p, cdt_store_dirfd(r->store, CDT_DIR_PACKS), index, r->buf,
			    r->cap, &n, why);
	if (!ret)
		ret = cdt_object_decode(r->d, id, r->buf, n, want_len, r->raw_max, out, len, why);
	return ret;
}

int cdt_chunk_read(struct cdt_chunk_reader *r, const struct cdt_id *id,
		   uint32_t want_len, unsigned char *out, uint32_t *len,
		   struct strbuf *why)
{
	struct strbuf first = STRBUF_INIT;
	struct cdt_pack *tried, **packs;
	int64_t index;
	size_t n, i;
	int ret, best;

	/*
	 * A loose copy comes first: that is where repair puts a good one.
	 * A damaged one does not hide a good packed copy, though.
	 */
	ret = read_loose(r, id, want_len, out, len, &first);
	if (ret != -ENOENT && ret != -CDT_ECORRUPT) {
		if (why)
			strbuf_addbuf(why, &first);
		strbuf_release(&first);
		return ret;
	}
	best = ret;
	tried = find_packed(r->store, id, &index);
	if (!tried) {
		/*
		 * The multi-pack index and the filter are derived data: a
		 * damaged one must not lose a chunk that is there. A chunk
		 * that is needed and not found is rare, so it is looked for
		 * in every pack's own index before it is called missing.
		 */
		n = cdt_packs_list(r->store, &packs);
		for (i = 0; i < n && !tried; i++) {
			int64_t k = cdt_pack_find(packs[i], id);

			if (k >= 0) {
				tried = packs[i];
				index = k;
			}
		}
		free(packs);
	}
	if (tried) {
		struct strbuf packed = STRBUF_INIT;
		int pret = read_packed(r, tried, (uint64_t)index, id, want_len, out, len, &packed);

		/* Report the loose copy's damage when there is one, else the pack's. */
		if (!pret || best == -ENOENT) {
			strbuf_reset(&first);
			strbuf_addbuf(&first, &packed);
			best = pret;
		}
		strbuf_release(&packed);
		if (!best)
			goto done;
		/* A damaged copy: any other pack holding the chunk may have a good one. */
		n = cdt_packs_list(r->store, &packs);
		for (i = 0; i < n; i++) {
			struct strbuf other = STRBUF_INIT;
			int64_t k;

			if (packs[i] == tried || (k = cdt_pack_find(packs[i], id)) < 0)
				continue;
			ret = read_packed(r, packs[i], (uint64_t)k, id, want_len, out, len, &other);
			strbuf_release(&other);
			if (!ret) {
				best = 0;
				break;
			}
		}
		free(packs);
	}
	if (!best)
		goto done;
	if (why) {
		if (best == -ENOENT)
			strbuf_addstr(why, "chunk is missing");
		else
			strbuf_addbuf(why, &first);
	}
done:
	strbuf_release(&first);
	return best;
}

struct loose_walk {
	cdt_object_fn fn;
	cdt_stray_fn stray;
	void *data;
};

/* The caller's stray callback, with the caller's data. */
static int loose_stray(const char *path, const char *why, void *data)
{
	struct loose_walk *lw = data;

	return lw->stray(path, why, lw->data);
}

static int loose_object(const struct cdt_id *id, uint64_t size, void *data)
{
	struct loose_walk *lw = data;
	struct cdt_object_info o;

	o.id = *id;
	o.size = size;
	o.pack = NULL;
	o.index = 0;
	return lw->fn(&o, lw->data);
}

int cdt_objects_walk(struct cdt_store *s, cdt_object_fn fn, cdt_stray_fn stray, void *data)
{
	struct loose_walk lw = { fn, stray, data };
	struct cdt_pack **packs;
	size_t n, i;
	uint64_t k;
	int ret;

	ret = cdt_fanout_walk(cdt_store_dirfd(s, CDT_DIR_OBJECTS), loose_object,
			      stray ? loose_stray : NULL, &lw);
	if (ret)
		return ret;
	n = cdt_packs_list(s, &packs);
	for (i = 0; i < n && !ret; i++) {
		for (k = 0; k < packs[i]->count && !ret; k++) {
			struct cdt_object_info o;
			uint32_t len;

			cdt_pack_entry(packs[i], k, &o.id, NULL, &len, NULL);
			o.size = len;
			o.pack = packs[i];
			o.index = k;
			ret = fn(&o, data);
		}
	}
	free(packs);
	return ret;
}

/*
 * A batch holds its first objects in memory; a batch that grows past
 * PACK_MIN objects becomes a pack, and a smaller one is written as loose
 * objects (a pack per tiny add would leave gc with many small packs).
 */
#define PACK_MIN 16

struct mem_obj {
	struct cdt_id id;
	unsigned char *obj;
	size_t len;
};

struct cdt_chunk_batch {
	struct cdt_store *store;
	struct mem_obj mem[PACK_MIN];
	size_t nmem;
	struct cdt_pack_writer *pack;
	struct cdt_idset ids;
	uint64_t bytes;
};

struct cdt_chunk_batch *cdt_chunk_batch_new(struct cdt_store *s)
{
	struct cdt_chunk_batch *b = xcalloc(1, sizeof(*b));

	b->store = s;
	return b;
}

int cdt_chunk_batch_has(struct cdt_chunk_batch *b, const struct cdt_id *id)
{
	return cdt_idset_has(&b->ids, id);
}

size_t cdt_chunk_batch_count(struct cdt_chunk_batch *b)
{
	return b->ids.nr;
}

uint64_t cdt_chunk_batch_bytes(struct cdt_chunk_batch *b)
{
	return b->bytes;
}

static void drop_mem(struct cdt_chunk_batch *b)
{
	size_t i;

	for (i = 0; i < b->nmem; i++)
		free(b->mem[i].obj);
	b->nmem = 0;
}

static int batch_error(struct cdt_chunk_batch *b, int ret)
{
	return error_code(ret, "cannot write chunks to '%s': %s", cdt_store_path(b->store),
			   cdt_strerror(ret));
}

int cdt_chunk_batch_stage(struct cdt_chunk_batch *b, const struct cdt_id *id,
			  const void *obj, size_t obj_len)
{
	int ret;
	size_t i;

	if (cdt_idset_has(&b->ids, id))
		return 0;
	if (!b->pack && b->nmem < PACK_MIN) {
		b->mem[b->nmem].id = *id;
		b->mem[b->nmem].obj = xmalloc(obj_len);
		memcpy(b->mem[b->nmem].obj, obj, obj_len);
		b->mem[b->nmem].len = obj_len;
		b->nmem++;
	} else {
		if (!b->pack) {
			ret = cdt_pack_writer_new(b->store, &b->pack);
			if (ret < 0)
				return batch_error(b, ret);
			for (i = 0; i < b->nmem; i++) {
				ret = cdt_pack_writer_add(b->pack, &b->mem[i].id, b->mem[i].obj,
							  b->mem[i].len);
				if (ret < 0)
					return batch_error(b, ret);
			}
			drop_mem(b);
		}
		ret = cdt_pack_writer_add(b->pack, id, obj, obj_len);
		if (ret < 0)
			return batch_error(b, ret);
	}
	cdt_idset_add(&b->ids, id);
	b->bytes += obj_len;
	return 0;
}

/* Write obj to a new temporary file; its name goes to `name`. */
static int write_tmp(struct cdt_store *s, const char *prefix, const void *obj,
		     size_t len, struct strbuf *name, int do_fsync)
{
	int tmpfd = cdt_store_dirfd(s, CDT_DIR_TMP);
	int fd = tmpfile_openat(tmpfd, prefix, name);
	int ret;

	if (fd < 0)
		return fd;
	ret = write_all(fd, obj, len);
	if (!ret && do_fsync && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (ret)
		unlinkat(tmpfd, name->buf, 0);
	return ret;
}

static int place_object(struct cdt_store *s, const char *tmpname, const struct cdt_id *id)
{
	int objfd = cdt_store_dirfd(s, CDT_DIR_OBJECTS);
	int tmpfd = cdt_store_dirfd(s, CDT_DIR_TMP);
	char path[CDT_ID_HEXLEN + 2];
	int ret;

	cdt_id_path(id, path);
	ret = rename_noreplace(tmpfd, tmpname, objfd, path);
	if (ret == -ENOENT) {
		/* First object in this fan-out directory. */
		path[2] = '\0';
		if (mkdirat(objfd, path, 0777) < 0 && errno != EEXIST)
			return -errno;
		path[2] = '/';
		ret = rename_noreplace(tmpfd, tmpname, objfd, path);
	}
	return ret < 0 ? ret : 0;
}

/* Small batch: loose objects, durable before they get their final names. */
static int commit_loose(struct cdt_chunk_batch *b)
{
	struct strbuf *names = xcalloc(b->nmem ? b->nmem : 1, sizeof(*names));
	char hex[CDT_ID_HEXLEN + 1];
	size_t i, written = 0;
	int ret = 0;

	for (i = 0; i < b->nmem && !ret; i++, written++) {
		strbuf_init(&names[i], 0);
		ret = write_tmp(b->store, "obj", b->mem[i].obj, b->mem[i].len, &names[i], 0);
	}
	if (ret) {
		written--;
		batch_error(b, ret);
		goto out;
	}
	ret = cdt_store_sync(b->store);
	if (ret < 0) {
		batch_error(b, ret);
		goto out;
	}
	cdt_crash_point("objects");
	for (i = 0; i < b->nmem; i++) {
		ret = place_object(b->store, names[i].buf, &b->mem[i].id);
		if (ret < 0) {
			error("cannot store chunk %s: %s", cdt_id_to_hex(&b->mem[i].id, hex),
			      cdt_strerror(ret));
			goto out;
		}
		strbuf_reset(&names[i]);
	}
out:
	for (i = 0; i < written; i++) {
		if (names[i].len)
			unlinkat(cdt_store_dirfd(b->store, CDT_DIR_TMP), names[i].buf, 0);
		strbuf_release(&names[i]);
	}
	free(names);
	return ret;
}

int cdt_chunk_batch_commit(struct cdt_chunk_batch *b)
{
	int ret = 0;

	if (b->pack) {
		ret = cdt_pack_writer_commit(b->pack, NULL);
		cdt_pack_writer_free(b->pack);
		b->pack = NULL;
		if (ret < 0)
			batch_error(b, ret);
	} else if (b->nmem) {
		ret = commit_loose(b);
		drop_mem(b);
	}
	if (!ret) {
		cdt_idset_reset(&b->ids);
		b->bytes = 0;
	}
	return ret;
}

void cdt_chunk_batch_free(struct cdt_chunk_batch *b)
{
	if (!b)
		return;
	cdt_pack_writer_free(b->pack);
	drop_mem(b);
	cdt_idset_clear(&b->ids);
	free(b);
}

int cdt_chunk_replace(struct cdt_store *s, const struct cdt_id *id,
		      const void *obj, size_t obj_len)
{
	struct strbuf name = STRBUF_INIT;
	char path[CDT_ID_HEXLEN + 2];
	int objfd = cdt_store_dirfd(s, CDT_DIR_OBJECTS);
	int ret;

	ret = write_tmp(s, "repair", obj, obj_len, &name, 1);
	if (ret < 0)
		goto out;
	cdt_id_path(id, path);
	path[2] = '\0';
	if (mkdirat(objfd, path, 0777) < 0 && errno != EEXIST) {
		ret = -errno;
		unlinkat(cdt_store_dirfd(s, CDT_DIR_TMP), name.buf, 0);
		goto out;
	}
	path[2] = '/';
	if (renameat(cdt_store_dirfd(s, CDT_DIR_TMP), name.buf, objfd, path) < 0) {
		ret = -errno;
		unlinkat(cdt_store_dirfd(s, CDT_DIR_TMP), name.buf, 0);
		goto out;
	}
	path[2] = '\0';
	ret = fsync_dirat(objfd, path);
out:
	strbuf_release(&name);
	return ret;
}
