/* gc.c: mark what live names need, then count (stats) or sweep (gc) the rest. */
#include "gc.h"
#include "fanout.h"
#include "fsutil.h"
#include "idset.h"
#include "manifest.h"
#include "names.h"
#include "compress.h"
#include "objects.h"
#include "pack.h"
#include "refs.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * What the live names need. Chunks are marked where they are stored: a bit
 * per pack entry (in the pack's `mark`) and a set of the few loose ones, so
 * the mark costs about a bit per packed chunk, not an id per chunk.
 */
struct live {
	struct cdt_store *store;
	struct cdt_idset manifests;	/* content ids used by names */
	struct cdt_idset records;	/* SHA-256(manifest id, SHA-256(name)) of live name records */
	struct cdt_idset loose_all;	/* every loose object (value: stored size) */
	struct cdt_idset loose_live;	/* live loose chunks (value: raw length) */
	struct cdt_idset missing;	/* live chunks stored nowhere */
	struct cdt_pack **marked;	/* packs whose mark bitmaps we allocated */
	size_t nmarked, marked_alloc;
	uint64_t chunks, unique;	/* distinct live chunks and their raw bytes */
	uint64_t names, logical;
	uint64_t good_manifests;	/* live manifests that read back intact */
	uint64_t damaged;		/* names or live manifests that could not be read */
};

static int bit_test(const unsigned char *bits, uint64_t i)
{
	return bits && (bits[i / 8] >> (i % 8)) & 1;
}

/* Is entry i of pack p live? (A pack the mark never touched has nothing live.) */
static int packed_live(const struct cdt_pack *p, uint64_t i)
{
	return bit_test(p->mark, i);
}

/* Is chunk id live, whichever copy of it was marked? */
static int id_live(struct live *l, const struct cdt_id *id)
{
	struct cdt_pack *p;
	uint64_t k;

	if (cdt_idset_has(&l->loose_live, id))
		return 1;
	return cdt_chunk_locate(l->store, id, &p, &k) && packed_live(p, k);
}

static void mark_chunk(struct live *l, const struct cdt_id *id, uint32_t len)
{
	struct cdt_pack *p;
	uint64_t k;
	int found = 0, seen = 0;

	/* A loose copy is live too: repair puts good copies of damaged packed chunks there. */
	if (cdt_idset_has(&l->loose_all, id)) {
		found = 1;
		seen = !cdt_idset_put(&l->loose_live, id, len);
	}
	if (cdt_chunk_locate(l->store, id, &p, &k)) {
		if (!p->mark) {
			p->mark = xcalloc(p->count / 8 + 1, 1);
			ALLOC_GROW(l->marked, l->nmarked + 1, l->marked_alloc);
			l->marked[l->nmarked++] = p;
		}
		seen |= bit_test(p->mark, k);
		p->mark[k / 8] |= (unsigned char)(1u << (k % 8));
		found = 1;
	}
	if (!found) {
		cdt_idset_add(&l->missing, id);
		return;
	}
	if (!seen) {
		l->chunks++;
		l->unique += len;
	}
}

static int note_loose(const struct cdt_id *id, uint64_t size, void *data)
{
	struct live *l = data;

	cdt_idset_put(&l->loose_all, id, size);
	return 0;
}

static void record_key(const struct cdt_id *m, const struct cdt_id *namehash, struct cdt_id *out)
{
	unsigned char buf[2 * CDT_ID_LEN];

	memcpy(buf, m->b, CDT_ID_LEN);
	memcpy(buf + CDT_ID_LEN, namehash->b, CDT_ID_LEN);
	cdt_hash(buf, sizeof(buf), out);
}

static int mark_name(const char *name, const struct cdt_name_entry *e, int err,
		     const char *why, void *data)
{
	struct live *l = data;
	struct cdt_id nh, key;

	if (!e) {
		error("name '%s' is damaged: %s", quote(name), why ? why : cdt_strerror(err));
		l->damaged++;
		return 0;
	}
	cdt_idset_add(&l->manifests, &e->content);
	cdt_hash(name, strlen(name), &nh);
	record_key(&e->content, &nh, &key);
	cdt_idset_add(&l->records, &key);
	l->names++;
	l->logical += e->size;
	return 0;
}

static int mark_manifest(struct live *l, const struct cdt_id *m)
{
	struct cdt_manifest *man;
	struct strbuf why = STRBUF_INIT;
	char hex[CDT_ID_HEXLEN + 1];
	uint64_t i, n;
	int ret;

	ret = cdt_manifest_open(l->store, m, &man, &why);
	if (ret < 0) {
		error("manifest %s, used by stored names, cannot be read: %s",
			      cdt_id_to_hex(m, hex), why.len ? why.buf : cdt_strerror(ret));
		l->damaged++;
		strbuf_release(&why);
		return ret == -ENOENT || ret == -CDT_ECORRUPT ? 0 : ret;
	}
	n = cdt_manifest_count(man);
	for (i = 0; i < n; i++) {
		struct cdt_manifest_entry e;

		ret = cdt_manifest_get(man, i, &e);
		if (ret < 0) {
			l->damaged++;
			break;
		}
		mark_chunk(l, &e.id, e.len);
	}
	cdt_manifest_close(man);
	strbuf_release(&why);
	if (i == n)
		l->good_manifests++;
	return 0;
}

static int mark(struct cdt_store *s, struct live *l)
{
	size_t i;
	int ret;

	memset(l, 0, sizeof(*l));
	l->store = s;
	ret = cdt_fanout_walk(cdt_store_dirfd(s, CDT_DIR_OBJECTS), note_loose, NULL, l);
	if (ret < 0)
		return error_errno(ret, "cannot list loose chunks: %s", cdt_strerror(ret));
	ret = cdt_names_walk(s, NULL, mark_name, l);
	if (ret < 0)
		return error_errno(ret, "cannot list names: %s", cdt_strerror(ret));
	for (i = 0; i < l->manifests.cap; i++) {
		if (!l->manifests.used[i])
			continue;
		ret = mark_manifest(l, &l->manifests.ids[i]);
		if (ret < 0)
			return error_errno(ret, "cannot read manifests: %s", cdt_strerror(ret));
	}
	return 0;
}

static void live_release(struct live *l)
{
	size_t i;

	cdt_idset_clear(&l->manifests);
	cdt_idset_clear(&l->records);
	cdt_idset_clear(&l->loose_all);
	cdt_idset_clear(&l->loose_live);
	cdt_idset_clear(&l->missing);
	for (i = 0; i < l->nmarked; i++) {
		free(l->marked[i]->mark);
		l->marked[i]->mark = NULL;
	}
	free(l->marked);
}

/* Sum of the sizes of the regular files under dirfd/path. */
static uint64_t du(int dirfd, const char *path, uint64_t *files)
{
	int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *de;
	uint64_t sum = 0;
	DIR *d;

	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			sum += du(fd, de->d_name, files);
		} else if (S_ISREG(st.st_mode)) {
			sum += (uint64_t)st.st_size;
			if (files)
				(*files)++;
		}
	}
	closedir(d);
	return sum;
}

struct count_objects {
	struct live *live;
	struct cdt_stats *st;
};

static int count_object(const struct cdt_object_info *o, void *data)
{
	struct count_objects *c = data;
	int live = o->pack ? packed_live(o->pack, o->index) :
			     cdt_idset_has(&c->live->loose_live, &o->id);

	/*
	 * A second copy of a chunk (in another pack, or loose beside a packed
	 * copy) counts as stored once; gc packs the copies together.
	 */
	if (live) {
		c->st->stored_bytes += o->size;
	} else {
		c->st->garbage_chunks++;
		c->st->reclaimable_bytes += o->size;
	}
	return 0;
}

static int count_manifest(const struct cdt_id *id, uint64_t size, void *data)
{
	struct count_objects *c = data;

	c->st->metadata_bytes += size;
	if (!cdt_idset_has(&c->live->manifests, id)) {
		c->st->dead_manifests++;
		c->st->reclaimable_bytes += size;
	}
	return 0;
}

int cdt_stats(struct cdt_store *s, struct cdt_stats *st)
{
	struct live l;
	struct count_objects c;
	struct cdt_refs *refs;
	uint64_t tmp_bytes;
	int ret;

	memset(st, 0, sizeof(*st));
	ret = mark(s, &l);
	if (ret < 0)
		goto out;
	st->names = l.names;
	st->logical_bytes = l.logical;
	st->chunks = l.chunks;
	st->unique_bytes = l.unique;
	st->missing_chunks = l.missing.nr;
	st->manifests = l.good_manifests;
	memset(&c, 0, sizeof(c));
	c.live = &l;
	c.st = st;
	ret = cdt_objects_walk(s, count_object, NULL, &c);
	if (ret < 0)
		goto out;
	{
		struct cdt_pack **packs;

		st->packs = cdt_packs_list(s, &packs);
		free(packs);
	}
	ret = cdt_fanout_walk(cdt_store_dirfd(s, CDT_DIR_MANIFESTS), count_manifest, NULL, &c);
	if (ret < 0)
		goto out;
	st->metadata_bytes += du(cdt_store_dirfd(s, CDT_DIR_NAMES), ".", NULL);
	st->metadata_bytes += du(cdt_store_dirfd(s, CDT_DIR_REFS), ".", NULL);
	tmp_bytes = du(cdt_store_dirfd(s, CDT_DIR_TMP), ".", &st->tmp_files);
	st->reclaimable_bytes += tmp_bytes;
	if (cdt_refs_open(s, &refs) == 0) {
		st->ref_tables = cdt_refs_table_count(refs);
		cdt_refs_close(refs);
	}
	ret = l.damaged ? -CDT_ECORRUPT : 0;
out:
	live_release(&l);
	return ret;
}

struct sweep {
	struct cdt_store *store;
	struct live *live;
	unsigned flags;
	void (*report)(const char *line, void *data);
	void *data;
	struct cdt_gc_result *res;
	int dirfd;
	int err;
	struct strbuf line;
	struct cdt_id *loose;		/* live loose chunks */
	size_t nloose, loose_alloc;
};

static void say(struct sweep *sw, const char *what, const char *item, uint64_t bytes)
{
	if (!(sw->flags & CDT_GC_VERBOSE) || !sw->report)
		return;
	strbuf_reset(&sw->line);
	strbuf_addf(&sw->line, "%s %s %s (%llu bytes)",
		    sw->flags & CDT_GC_DRY_RUN ? "would remove" : "removing", what, item,
		    (unsigned long long)bytes);
	sw->report(sw->line.buf, sw->data);
}

static int sweep_one(struct sweep *sw, const struct cdt_id *id, uint64_t size, const char *what)
{
	char hex[CDT_ID_HEXLEN + 1];
	int ret;

	say(sw, what, cdt_id_to_hex(id, hex), size);
	if (sw->flags & CDT_GC_DRY_RUN)
		return 1;
	ret = cdt_fanout_remove(sw->dirfd, id);
	if (ret < 0 && ret != -ENOENT) {
		error("cannot remove %s %s: %s", what, hex, strerror(-ret));
		sw->err = ret;
		return 0;
	}
	return 1;
}

static int sweep_manifest(const struct cdt_id *id, uint64_t size, void *data)
{
	struct sweep *sw = data;

	if (cdt_idset_has(&sw->live->manifests, id))
		return 0;
	if (sweep_one(sw, id, size, "manifest")) {
		sw->res->manifests++;
		sw->res->manifest_bytes += size;
	}
	return 0;
}

/* Loose chunks: garbage goes now; live ones are remembered, to be packed. */
static int sweep_chunk(const struct cdt_id *id, uint64_t size, void *data)
{
	struct sweep *sw = data;

	if (cdt_idset_has(&sw->live->loose_live, id)) {
		ALLOC_GROW(sw->loose, sw->nloose + 1, sw->loose_alloc);
		sw->loose[sw->nloose++] = *id;
		return 0;
	}
	if (sweep_one(sw, id, size, "chunk")) {
		sw->res->chunks++;
		sw->res->chunk_bytes += size;
	}
	return 0;
}

static int report_stray(const char *path, const char *why, void *data)
{
	(void)data;
	warning("leaving '%s' alone: %s (see 'cdt fsck')", quote(path), why);
	return 0;
}

static int keep_pair(const struct cdt_ref_pair *p, void *data)
{
	struct sweep *sw = data;

	if (cdt_idset_has(&sw->live->manifests, &p->manifest))
		return 1;
	sw->res->ref_pairs_dropped++;
	return 0;
}

/* Remove every file in tmp/: with the exclusive lock held, all are leftovers. */
static void sweep_tmp(struct sweep *sw)
{
	int tmpfd = cdt_store_dirfd(sw->store, CDT_DIR_TMP);
	int fd = openat(tmpfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode))
			continue;
		say(sw, "temporary file", quote(de->d_name), (uint64_t)st.st_size);
		if (!(sw->flags & CDT_GC_DRY_RUN) && unlinkat(fd, de->d_name, 0) < 0) {
			error("cannot remove 'tmp/%s': %s", quote(de->d_name), strerror(errno));
			sw->err = -errno;
			continue;
		}
		sw->res->tmp_files++;
		sw->res->tmp_bytes += (uint64_t)st.st_size;
	}
	closedir(d);
}

/* Name records of dead manifests, and of names that moved on. */
static void sweep_records(struct sweep *sw)
{
	int refsfd = cdt_store_dirfd(sw->store, CDT_DIR_REFS);
	char sub[3];
	int i;

	for (i = 0; i < 256; i++) {
		int fd1;
		DIR *d1;
		struct dirent *de1;

		snprintf(sub, sizeof(sub), "%02x", i);
		{
			char path[32];

			snprintf(path, sizeof(path), "names/%s", sub);
			fd1 = openat(refsfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd1 < 0)
			continue;
		d1 = fdopendir(fd1);
		if (!d1) {
			close(fd1);
			continue;
		}
		while ((de1 = readdir(d1))) {
			struct cdt_id m;
			int fd2;
			DIR *d2;
			struct dirent *de2;
			char hex[CDT_ID_HEXLEN + 1];

			if (strlen(de1->d_name) != CDT_ID_HEXLEN - 2)
				continue;
			memcpy(hex, sub, 2);
			memcpy(hex + 2, de1->d_name, CDT_ID_HEXLEN - 2 + 1);
			if (cdt_id_from_hex(hex, &m) < 0)
				continue;
			fd2 = openat(fd1, de1->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd2 < 0)
				continue;
			d2 = fdopendir(fd2);
			if (!d2) {
				close(fd2);
				continue;
			}
			while ((de2 = readdir(d2))) {
				struct cdt_id nh, key;

				if (cdt_id_from_hex(de2->d_name, &nh) < 0)
					continue;
				record_key(&m, &nh, &key);
				if (cdt_idset_has(&sw->live->records, &key))
					continue;
				say(sw, "name record", de2->d_name, 0);
				if (!(sw->flags & CDT_GC_DRY_RUN) && unlinkat(fd2, de2->d_name, 0) < 0)
					continue;
				sw->res->name_records++;
			}
			closedir(d2);
			if (!(sw->flags & CDT_GC_DRY_RUN) && unlinkat(fd1, de1->d_name, AT_REMOVEDIR) == 0)
				sw->res->dirs++;
		}
		closedir(d1);
		if (!(sw->flags & CDT_GC_DRY_RUN)) {
			char path[32];

			snprintf(path, sizeof(path), "names/%s", sub);
			if (unlinkat(refsfd, path, AT_REMOVEDIR) == 0)
				sw->res->dirs++;
		}
	}
}

/* Remove directories under names/ left empty (post-order, so parents follow). */
static uint64_t prune_names(int dirfd, int depth)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	uint64_t n = 0;
	DIR *d;

	if (fd < 0 || depth > CDT_NAME_MAX / 2 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((de = readdir(d))) {
		struct stat st;
		int sub;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			continue;
		sub = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		n += prune_names(sub, depth + 1);
		close(sub);
		if (unlinkat(fd, de->d_name, AT_REMOVEDIR) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/*
 * Packing. Live loose chunks are moved into packs, and a pack is rewritten
 * without its dead entries when they are more than REPACK_DEAD of it, or
 * merged with the others when it is small. New packs are durable before
 * anything they replace is deleted, so an interruption loses nothing.
 */
#define REPACK_DEAD 0.2
#define SMALL_PACK (16ull << 20)
#define PACK_TARGET (512ull << 20)

struct repacker {
	struct sweep *sw;
	struct cdt_pack_writer *w;
	struct cdt_idset written;
	struct cdt_chunk_reader *reader;
	struct cdt_compressor *comp;
	unsigned char *raw, *obj;
	size_t cap;
	char (*made)[CDT_ID_HEXLEN + 6];
	size_t nmade, made_alloc;
};

static int flush_pack(struct repacker *rp)
{
	char name[CDT_ID_HEXLEN + 6];
	int ret;

	if (!rp->w)
		return 0;
	ret = cdt_pack_writer_commit(rp->w, name);
	cdt_pack_writer_free(rp->w);
	rp->w = NULL;
	if (ret < 0)
		return error_errno(ret, "cannot write a pack: %s", strerror(-ret));
	ALLOC_GROW(rp->made, rp->nmade + 1, rp->made_alloc);
	strcpy(rp->made[rp->nmade++], name);
	return 0;
}

static int put_object(struct repacker *rp, const struct cdt_id *id, const unsigned char *obj,
		      size_t len)
{
	int ret;

	if (!rp->w) {
		ret = cdt_pack_writer_new(rp->sw->store, &rp->w);
		if (ret < 0)
			return error_errno(ret, "cannot start a pack: %s", strerror(-ret));
	}
	ret = cdt_pack_writer_add(rp->w, id, obj, len);
	if (ret < 0)
		return error_errno(ret, "cannot write a pack: %s", strerror(-ret));
	cdt_idset_add(&rp->written, id);
	if (cdt_pack_writer_bytes(rp->w) >= PACK_TARGET)
		return flush_pack(rp);
	return 0;
}

/*
 * Copy a chunk by reading a good copy wherever it is (loose copies first),
 * checking it fully, and encoding it again. 1 if copied, 0 if no good copy
 * exists, -errno on a write error.
 */
static int copy_checked(struct repacker *rp, const struct cdt_id *id, uint32_t want)
{
	uint32_t len;
	size_t olen;

	if (cdt_chunk_read(rp->reader, id, want, rp->raw, &len, NULL) < 0)
		return 0;
	olen = cdt_object_encode(rp->comp, rp->raw, len, rp->obj);
	return put_object(rp, id, rp->obj, olen) < 0 ? -EIO : 1;
}

static int repack(struct sweep *sw)
{
	struct cdt_store *s = sw->store;
	int packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	int objfd = cdt_store_dirfd(s, CDT_DIR_OBJECTS);
	int dry = sw->flags & CDT_GC_DRY_RUN;
	struct repacker rp = { 0 };
	struct cdt_pack **packs;
	unsigned char *rewrite, *keep;
	uint64_t *live_bytes, *total_bytes, *live_count;
	size_t n, i, nsmall = 0, nrewrite = 0;
	uint64_t k;
	int ret = 0;

	n = cdt_packs_list(s, &packs);
	rewrite = xcalloc(n + 1, 1);
	keep = xcalloc(n + 1, 1);
	live_bytes = xcalloc(n + 1, sizeof(*live_bytes));
	live_count = xcalloc(n + 1, sizeof(*live_count));
	total_bytes = xcalloc(n + 1, sizeof(*total_bytes));
	/* Live bytes per pack; a second copy of a chunk counts as dead. */
	for (i = 0; i < n; i++) {
		for (k = 0; k < packs[i]->count; k++) {
			struct cdt_id id;
			uint32_t len;

			cdt_pack_entry(packs[i], k, &id, NULL, &len, NULL);
			total_bytes[i] += len;
			if (packed_live(packs[i], k)) {
				live_bytes[i] += len;
				live_count[i]++;
			}
		}
		if (total_bytes[i] < SMALL_PACK)
			nsmall++;
	}
	for (i = 0; i < n; i++) {
		uint64_t dead = total_bytes[i] - live_bytes[i];

		if (!live_bytes[i] || (double)dead > REPACK_DEAD * (double)total_bytes[i] ||
		    (total_bytes[i] < SMALL_PACK && (nsmall > 1 || sw->nloose))) {
			rewrite[i] = 1;
			nrewrite++;
		}
	}
	if (!nrewrite && !sw->nloose)
		goto out;
	if (dry) {
		for (i = 0; i < n; i++) {
			if (!rewrite[i])
				continue;
			say(sw, "pack (rewriting its live objects)", packs[i]->name,
			    total_bytes[i] - live_bytes[i]);
			sw->res->chunks += packs[i]->count - live_count[i];
			sw->res->chunk_bytes += total_bytes[i] - live_bytes[i];
		}
		goto out;
	}

	rp.sw = sw;
	rp.reader = cdt_chunk_reader_new(s);
	rp.comp = cdt_compressor_new(cdt_store_config(s)->level);
	rp.cap = CDT_OBJ_MAX(cdt_store_chunker(s)->max_size);
	rp.raw = xmalloc(rp.cap);
	rp.obj = xmalloc(rp.cap);
	/* Live loose chunks, checked fully as they are read. */
	for (i = 0; i < sw->nloose && !ret; i++) {
		uint64_t *want = cdt_idset_get(&sw->live->loose_live, &sw->loose[i]);

		if (cdt_idset_has(&rp.written, &sw->loose[i]))
			continue;
		ret = copy_checked(&rp, &sw->loose[i], want ? (uint32_t)*want : 0);
		if (ret == 0) {
			char hex[CDT_ID_HEXLEN + 1];

			warning("chunk %s has no good copy; leaving it as it is (run 'cdt fsck')",
				cdt_id_to_hex(&sw->loose[i], hex));
			sw->loose[i] = sw->loose[--sw->nloose];
			i--;
		}
		ret = ret < 0 ? ret : 0;
	}
	/* Live entries of the packs being rewritten: copied as they are when their CRC holds. */
	for (i = 0; i < n && !ret; i++) {
		if (!rewrite[i])
			continue;
		for (k = 0; k < packs[i]->count && !ret; k++) {
			struct cdt_id id;
			size_t len;

			cdt_pack_entry(packs[i], k, &id, NULL, NULL, NULL);
			if (cdt_idset_has(&rp.written, &id))
				continue;
			/*
			 * A second copy of a live chunk is copied too: the copy
			 * that was marked may be the damaged one.
			 */
			if (!packed_live(packs[i], k) && !id_live(sw->live, &id))
				continue;
			if (cdt_pack_read(packs[i], packsfd, k, rp.obj, rp.cap, &len, NULL) == 0) {
				ret = put_object(&rp, &id, rp.obj, len);
				continue;
			}
			ret = copy_checked(&rp, &id, 0);
			if (ret == 0) {
				char hex[CDT_ID_HEXLEN + 1];

				/* The only copy is damaged: keep the pack, so repair can still find it. */
				warning("pack %s holds a damaged copy of chunk %s and no good copy exists; "
					"keeping the pack (run 'cdt fsck')", packs[i]->name,
					cdt_id_to_hex(&id, hex));
				keep[i] = 1;
			}
			ret = ret < 0 ? ret : 0;
		}
	}
	if (!ret)
		ret = flush_pack(&rp);
	if (!ret)
		ret = cdt_store_sync(s);
	if (ret < 0) {
		sw->err = ret;
		goto out;
	}
	/* The new packs are durable: what they replace can go. */
	for (i = 0; i < n; i++) {
		char path[CDT_ID_HEXLEN + 16];
		size_t j;
		int mine = 0;

		if (!rewrite[i] || keep[i])
			continue;
		for (j = 0; j < rp.nmade; j++)
			mine |= !strcmp(rp.made[j], packs[i]->name);
		if (mine)
			continue;	/* rewritten into an identical pack */
		say(sw, "pack", packs[i]->name, total_bytes[i] - live_bytes[i]);
		/* The index first: without it the pack is invisible, and then garbage. */
		snprintf(path, sizeof(path), "%s.idx", packs[i]->name);
		if (unlinkat(packsfd, path, 0) < 0 && errno != ENOENT) {
			sw->err = error_errno(-errno, "cannot remove '%s': %s", path, strerror(errno));
			continue;
		}
		snprintf(path, sizeof(path), "%s.pack", packs[i]->name);
		unlinkat(packsfd, path, 0);
		sw->res->packs_removed++;
		sw->res->chunks += packs[i]->count - live_count[i];
		sw->res->chunk_bytes += total_bytes[i] - live_bytes[i];
	}
	for (i = 0; i < sw->nloose; i++) {
		char path[CDT_ID_HEXLEN + 2];

		if (cdt_idset_has(&rp.written, &sw->loose[i]) &&
		    unlinkat(objfd, cdt_id_path(&sw->loose[i], path), 0) == 0)
			sw->res->loose_packed++;
	}
	sw->res->packs_written += rp.nmade;
out:
	if (rp.w)
		cdt_pack_writer_free(rp.w);
	cdt_chunk_reader_free(rp.reader);
	cdt_compressor_free(rp.comp);
	free(rp.raw);
	free(rp.obj);
	free(rp.made);
	cdt_idset_clear(&rp.written);
	free(rewrite);
	free(keep);
	free(live_bytes);
	free(live_count);
	free(total_bytes);
	free(packs);
	return ret;
}

/* A .pack without its .idx: left by an interrupted pack write. */
static void sweep_orphan_packs(struct sweep *sw)
{
	int packsfd = cdt_store_dirfd(sw->store, CDT_DIR_PACKS);
	int fd = openat(packsfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char idx[CDT_ID_HEXLEN + 16];
		struct stat st;

		if (len < 6 || strcmp(de->d_name + len - 5, ".pack") || len - 5 + 5 >= sizeof(idx))
			continue;
		snprintf(idx, sizeof(idx), "%.*s.idx", (int)(len - 5), de->d_name);
		if (faccessat(fd, idx, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		say(sw, "pack without index", quote(de->d_name), (uint64_t)st.st_size);
		if (!(sw->flags & CDT_GC_DRY_RUN) && unlinkat(fd, de->d_name, 0) < 0)
			continue;
		sw->res->tmp_files++;
		sw->res->tmp_bytes += (uint64_t)st.st_size;
	}
	closedir(d);
}

int cdt_gc(struct cdt_store *s, unsigned flags, void (*report)(const char *line, void *data),
	   void *data, struct cdt_gc_result *res)
{
	struct live l;
	struct sweep sw = { 0 };
	int ret, dry = flags & CDT_GC_DRY_RUN;

	memset(res, 0, sizeof(*res));
	ret = mark(s, &l);
	if (ret < 0)
		goto out;
	if (l.damaged) {
		ret = error_errno(-CDT_ECORRUPT, "not collecting garbage: %llu damaged name%s or manifest%s "
				  "make it unknown what is live (run 'cdt fsck')",
				  (unsigned long long)l.damaged, l.damaged == 1 ? "" : "s",
				  l.damaged == 1 ? "" : "s");
		goto out;
	}
	sw.store = s;
	sw.live = &l;
	sw.flags = flags;
	sw.report = report;
	sw.data = data;
	sw.res = res;
	strbuf_init(&sw.line, 0);

	/* Manifests first: nothing live needs them, and then their references are dead. */
	sw.dirfd = cdt_store_dirfd(s, CDT_DIR_MANIFESTS);
	ret = cdt_fanout_walk(sw.dirfd, sweep_manifest, report_stray, &sw);
	if (ret < 0)
		goto fail_walk;
	sw.dirfd = cdt_store_dirfd(s, CDT_DIR_OBJECTS);
	ret = cdt_fanout_walk(sw.dirfd, sweep_chunk, report_stray, &sw);
	if (ret < 0)
		goto fail_walk;
	ret = repack(&sw);
	if (ret < 0 && !sw.err)
		sw.err = ret;
	if (!dry && !sw.err) {
		ret = cdt_packs_write_midx(s);
		if (ret < 0)
			sw.err = error_errno(ret, "cannot write the multi-pack index: %s", strerror(-ret));
	}
	if (!dry) {
		ret = cdt_refs_compact(s, 0, keep_pair, &sw);
		if (ret < 0) {
			error("cannot rewrite reference tables: %s", cdt_strerror(ret));
			sw.err = ret;
		}
	}
	sweep_records(&sw);
	sweep_tmp(&sw);
	sweep_orphan_packs(&sw);
	res->dirs += (uint64_t)cdt_fanout_prune(cdt_store_dirfd(s, CDT_DIR_OBJECTS), dry);
	res->dirs += (uint64_t)cdt_fanout_prune(cdt_store_dirfd(s, CDT_DIR_MANIFESTS), dry);
	if (!dry)
		res->dirs += prune_names(cdt_store_dirfd(s, CDT_DIR_NAMES), 0);
	if (!dry) {
		ret = cdt_store_sync(s);
		if (ret < 0 && !sw.err)
			sw.err = error_errno(ret, "cannot sync store: %s", strerror(-ret));
	}
	ret = sw.err;
	goto out;
fail_walk:
	error("cannot walk the store: %s", cdt_strerror(ret));
out:
	strbuf_release(&sw.line);
	free(sw.loose);
	live_release(&l);
	return ret;
}
