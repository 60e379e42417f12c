/* pack-write.c: writing packs and their indexes (and sketches): new packs, and indexes written again from a pack's objects. */
#include "format/pack.h"
#include "base/compress.h"
#include "base/csum-file.h"
#include "base/fsutil.h"
#include "format/object.h"
#include "format/sketch.h"
#include "base/util.h"
#include "base/testpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct entry {
	struct cdt_id id;
	uint64_t off;
	uint32_t len, crc;
	uint32_t raw_off, raw_len;	/* version 2: the chunk's part of its object */
};

struct cdt_pack_writer {
	struct cdt_store *store;
	struct cdt_csum_file *f;
	unsigned version;
	struct entry *entries;
	size_t nr, alloc;
	/* Chunks gathered for the next frame (cdt_pack_writer_add_chunk()). */
	uint32_t frame_size, raw_max;
	struct cdt_compressor *comp;
	unsigned char *fraw, *fobj;
	size_t flen;
	struct cdt_id *fids;
	uint32_t *flens;
	uint32_t fn;
	size_t falloc;
	/* Sketches of the base chunks, for packs/<name>.sketch (stores with deltas). */
	int sketches;
	struct pending_sketch {
		struct cdt_id id;
		struct cdt_sketch_sf sf;
	} *sk;
	size_t nsk, ask;
};

int cdt_pack_writer_new(struct cdt_store *s, struct cdt_pack_writer **out)
{
	const struct cdt_config *cfg = cdt_store_config(s);
	unsigned version = cfg->frame_size || cfg->deltas ? CDT_PACK_VERSION_FRAMES :
							    CDT_PACK_VERSION;
	unsigned char hdr[CDT_PACK_HDR] = { 'C', 'D', 'T', 'P', (unsigned char)version };
	struct cdt_csum_file *f;
	int ret = cdt_csum_file_open(cdt_store_dirfd(s, CDT_DIR_TMP), "pack", &f);

	*out = NULL;
	if (ret < 0)
		return ret;
	ret = cdt_csum_file_write(f, hdr, sizeof(hdr));
	if (ret < 0) {
		cdt_csum_file_free(f);
		return ret;
	}
	*out = xcalloc(1, sizeof(**out));
	(*out)->store = s;
	(*out)->f = f;
	(*out)->version = version;
	(*out)->frame_size = cdt_store_config(s)->frame_size;
	(*out)->raw_max = cdt_store_chunker(s)->max_size;
	(*out)->sketches = version >= CDT_PACK_VERSION_FRAMES && cdt_store_config(s)->deltas;
	return 0;
}

void cdt_pack_writer_sketch(struct cdt_pack_writer *w, const struct cdt_id *id,
			    const struct cdt_sketch_sf *sf)
{
	if (!w->sketches)
		return;
	ALLOC_GROW(w->sk, w->nsk + 1, w->ask);
	w->sk[w->nsk].id = *id;
	w->sk[w->nsk].sf = *sf;
	w->nsk++;
}

int cdt_pack_writer_sketches(const struct cdt_pack_writer *w)
{
	return w->sketches;
}

/* Encode the chunks gathered so far as one frame. */
static int flush_frame(struct cdt_pack_writer *w)
{
	size_t len;
	int ret;

	if (!w->fn)
		return 0;
	len = cdt_frame_encode(w->comp, w->fraw, w->flens, w->fn, w->fobj);
	ret = cdt_pack_writer_add_frame(w, w->fids, w->fobj, len);
	w->fn = 0;
	w->flen = 0;
	return ret;
}

int cdt_pack_writer_add_chunk(struct cdt_pack_writer *w, struct cdt_compressor *c,
			      const struct cdt_id *id, const unsigned char *raw, uint32_t len)
{
	int ret;

	if (len > w->raw_max || !len)
		return -EINVAL;
	if (w->sketches) {
		struct cdt_sketch_sf sf;

		cdt_sketch_compute(raw, len, &sf);
		cdt_pack_writer_sketch(w, id, &sf);
	}
	if (w->version < CDT_PACK_VERSION_FRAMES || !w->frame_size) {
		unsigned char *obj = xmalloc(CDT_OBJ_MAX(len));

		ret = cdt_pack_writer_add(w, id, obj, cdt_object_encode(c, raw, len, obj));
		free(obj);
		return ret;
	}
	if (!w->fraw) {
		w->fraw = xmalloc((size_t)w->frame_size + (size_t)w->raw_max);
		w->fobj = xmalloc(CDT_FRAME_MAX((size_t)w->frame_size + (size_t)w->raw_max,
						CDT_FRAME_MAX_CHUNKS));
	}
	w->comp = c;
	if (w->fn >= CDT_FRAME_MAX_CHUNKS) {
		ret = flush_frame(w);
		if (ret < 0)
			return ret;
	}
	if (w->fn + 1 > w->falloc) {
		ALLOC_GROW(w->fids, w->fn + 1, w->falloc);
		w->flens = xrealloc(w->flens, w->falloc * sizeof(*w->flens));
	}
	memcpy(w->fraw + w->flen, raw, len);
	w->fids[w->fn] = *id;
	w->flens[w->fn++] = len;
	w->flen += len;
	return w->flen >= w->frame_size ? flush_frame(w) : 0;
}

int cdt_pack_writer_frames(const struct cdt_pack_writer *w)
{
	return w->version >= CDT_PACK_VERSION_FRAMES;
}

int cdt_pack_writer_add(struct cdt_pack_writer *w, const struct cdt_id *id,
			const void *obj, size_t len)
{
	uint64_t off = cdt_csum_file_offset(w->f);
	int ret;

	if (w->nr >= CDT_PACK_MAX_OBJECTS || len > UINT32_MAX)
		return -EFBIG;
	ret = cdt_csum_file_write(w->f, obj, len);
	if (ret < 0)
		return ret;
	ALLOC_GROW(w->entries, w->nr + 1, w->alloc);
	w->entries[w->nr].id = *id;
	w->entries[w->nr].off = off;
	w->entries[w->nr].len = (uint32_t)len;
	w->entries[w->nr].crc = cdt_crc32(obj, len);
	w->entries[w->nr].raw_off = 0;
	w->entries[w->nr].raw_len = 0;
	w->nr++;
	return 0;
}

int cdt_pack_writer_add_frame(struct cdt_pack_writer *w, const struct cdt_id *ids,
			      const unsigned char *obj, size_t len)
{
	uint64_t off = cdt_csum_file_offset(w->f);
	uint32_t n, i, raw_off = 0, crc;
	int ret;

	if (w->version < CDT_PACK_VERSION_FRAMES || len < CDT_FRAME_HDR)
		return -EINVAL;
	n = get_le32(obj + 8);
	if (w->nr + n > CDT_PACK_MAX_OBJECTS || len > UINT32_MAX)
		return -EFBIG;
	ret = cdt_csum_file_write(w->f, obj, len);
	if (ret < 0)
		return ret;
	crc = cdt_crc32(obj, len);
	ALLOC_GROW(w->entries, w->nr + n, w->alloc);
	for (i = 0; i < n; i++) {
		struct entry *e = &w->entries[w->nr++];

		e->id = ids[i];
		e->off = off;
		e->len = (uint32_t)len;
		e->crc = crc;
		e->raw_off = raw_off;
		e->raw_len = get_le32(obj + CDT_FRAME_HDR + 4 * (size_t)i);
		raw_off += e->raw_len;
	}
	return 0;
}

uint64_t cdt_pack_writer_count(const struct cdt_pack_writer *w)
{
	return w->nr;
}

uint64_t cdt_pack_writer_bytes(const struct cdt_pack_writer *w)
{
	return cdt_csum_file_offset(w->f) + w->flen;
}

static int cmp_entry(const void *a, const void *b)
{
	return memcmp(a, b, CDT_ID_LEN);
}

/* Sort entries by id: -EEXIST if an id occurs twice (a pack holds each chunk once), else 0. */
static int sort_entries(struct entry *e, size_t n)
{
	size_t i;

	if (n > 1)
		qsort(e, n, sizeof(*e), cmp_entry);
	for (i = 1; i < n; i++)
		if (cdt_id_eq(&e[i].id, &e[i - 1].id))
			return -EEXIST;
	return 0;
}

/*
 * Write packs/<name>.idx for the pack whose checksum is `pack_sum`, from its
 * entries (sorted), and finish it with `flags` (CDT_CSUM_FSYNC or not).
 * The finished temporary file is in *out (the caller renames and frees
 * it). 0 or -errno.
 */
static int write_index(struct cdt_store *s, unsigned version, const struct entry *e, size_t n,
		       const struct cdt_id *pack_sum, unsigned flags, struct cdt_csum_file **out)
{
	unsigned char hdr[CDT_IDX_HDR] = { 'C', 'D', 'T', 'I', (unsigned char)version, 0, 0, 0 };
	uint32_t fan[256] = { 0 };
	struct cdt_csum_file *f;
	size_t i, j;
	int ret = cdt_csum_file_open(cdt_store_dirfd(s, CDT_DIR_TMP), "idx", &f);

	*out = NULL;
	if (ret < 0)
		return ret;
	put_le64(hdr + 8, n);
	cdt_csum_file_write(f, hdr, sizeof(hdr));
	for (i = 0; i < n; i++)
		fan[e[i].id.b[0]]++;
	for (i = 0, j = 0; i < 256; i++) {
		unsigned char b[4];

		j += fan[i];
		put_le32(b, (uint32_t)j);
		cdt_csum_file_write(f, b, 4);
	}
	for (i = 0; i < n; i++)
		cdt_csum_file_write(f, e[i].id.b, CDT_ID_LEN);
	for (i = 0; i < n; i++) {
		unsigned char loc[CDT_IDX_LOC_V2];

		put_le64(loc, e[i].off);
		put_le32(loc + 8, e[i].len);
		put_le32(loc + 12, e[i].crc);
		put_le32(loc + 16, e[i].raw_off);
		put_le32(loc + 20, e[i].raw_len);
		cdt_csum_file_write(f, loc, cdt_idx_loc_size(version));
	}
	cdt_csum_file_write(f, pack_sum->b, CDT_ID_LEN);
	/* Errors stick: the last call reports any. */
	ret = cdt_csum_file_finish(f, CDT_CSUM_APPEND | flags, NULL);
	if (ret < 0) {
		cdt_csum_file_free(f);
		return ret;
	}
	*out = f;
	return 0;
}

/* The sketch records of the chunks given sketches, by their entries (entries sorted). */
static struct cdt_sketch_rec *sketch_records(const struct pending_sketch *sk, size_t nsk,
					     const struct entry *entries, size_t nr, size_t *n)
{
	struct cdt_sketch_rec *recs = xmalloc((nsk ? nsk : 1) * CDT_SKETCH_SF * sizeof(*recs));
	size_t i, k = 0;
	int j;

	for (i = 0; i < nsk; i++) {
		const struct entry *e = nr ? bsearch(&sk[i].id, entries, nr, sizeof(*e), cmp_entry)
					   : NULL;

		if (!e)
			continue;
		for (j = 0; j < CDT_SKETCH_SF; j++) {
			recs[k].sf = sk[i].sf.sf[j];
			recs[k].entry = (uint32_t)(e - entries);
			k++;
		}
	}
	*n = k;
	return recs;
}

int cdt_pack_writer_commit(struct cdt_pack_writer *w, char *name_out)
{
	int packsfd = cdt_store_dirfd(w->store, CDT_DIR_PACKS);
	unsigned char count[8];
	char name[CDT_ID_HEXLEN + 6], path[CDT_ID_HEXLEN + 16];
	struct cdt_csum_file *idx = NULL, *sketch = NULL;
	struct cdt_id sum;
	int ret;

	/* The chunks still gathered, then the trailer: the count, then the checksum of all before it. */
	ret = flush_frame(w);
	if (ret < 0)
		goto out;
	put_le64(count, w->nr);
	ret = cdt_csum_file_write(w->f, count, sizeof(count));
	if (!ret)
		ret = cdt_csum_file_finish(w->f, CDT_CSUM_APPEND, &sum);
	if (ret < 0)
		goto out;
	snprintf(name, sizeof(name), "pack-");
	cdt_id_to_hex(&sum, name + 5);

	ret = sort_entries(w->entries, w->nr);
	if (!ret)
		ret = write_index(w->store, w->version, w->entries, w->nr, &sum, 0, &idx);
	if (!ret && w->sketches) {
		size_t n;
		struct cdt_sketch_rec *recs = sketch_records(w->sk, w->nsk, w->entries, w->nr, &n);

		ret = cdt_sketch_write(cdt_store_dirfd(w->store, CDT_DIR_TMP), recs, n, &sum, 0,
				       &sketch);
		free(recs);
	}
	if (ret < 0)
		goto out;
	/* Both durable before either is visible. */
	ret = cdt_store_sync(w->store);
	if (ret < 0)
		goto out;
	cdt_crash_point("objects");
	snprintf(path, sizeof(path), "%s.pack", name);
	ret = cdt_csum_file_rename(w->f, packsfd, path, 0);
	if (ret < 0)
		goto out;
	if (sketch) {
		/* Before the index: a visible pack has its sketch, unless it was lost since. */
		snprintf(path, sizeof(path), "%s.sketch", name);
		ret = cdt_csum_file_rename(sketch, packsfd, path, 0);
		if (ret < 0)
			goto out;
	}
	snprintf(path, sizeof(path), "%s.idx", name);
	ret = cdt_csum_file_rename(idx, packsfd, path, 0);
	if (ret < 0)
		goto out;
	if (name_out)
		strcpy(name_out, name);
out:
	cdt_csum_file_free(idx);
	cdt_csum_file_free(sketch);
	return ret;
}

void cdt_pack_writer_free(struct cdt_pack_writer *w)
{
	if (!w)
		return;
	free(w->sk);
	cdt_csum_file_free(w->f);
	free(w->entries);
	free(w->fraw);
	free(w->fobj);
	free(w->fids);
	free(w->flens);
	free(w);
}

struct reindex {
	struct entry *e;
	size_t nr, alloc;
	/* Sketches of the chunks stored whole, when the pack has a sketch file. */
	int sketches;
	struct pending_sketch *sk;
	size_t nsk, skalloc;
};

static int collect_entry(const struct cdt_pack_object *o, const unsigned char *raw, void *data)
{
	struct reindex *ri = data;

	(void)raw;
	ALLOC_GROW(ri->e, ri->nr + 1, ri->alloc);
	ri->e[ri->nr].id = o->id;
	ri->e[ri->nr].off = o->off;
	ri->e[ri->nr].len = o->len;
	ri->e[ri->nr].crc = o->crc;
	ri->e[ri->nr].raw_off = o->in_frame ? o->raw_off : 0;
	ri->e[ri->nr].raw_len = o->in_frame ? o->raw_len : 0;
	ri->nr++;
	if (ri->sketches && !o->is_delta) {
		ALLOC_GROW(ri->sk, ri->nsk + 1, ri->skalloc);
		ri->sk[ri->nsk].id = o->id;
		cdt_sketch_compute(raw, o->raw_len, &ri->sk[ri->nsk].sf);
		ri->nsk++;
	}
	return 0;
}

int cdt_pack_reindex(struct cdt_store *s, const char *name, const struct cdt_base_source *bases,
		     uint64_t *count, struct strbuf *why)
{
	int packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	struct reindex ri = { NULL, 0, 0, 0, NULL, 0, 0 };
	struct cdt_csum_file *idx = NULL, *sketch = NULL;
	char path[CDT_ID_HEXLEN + 16];
	struct cdt_id sum;
	int ret, version = CDT_PACK_VERSION;

	/* A pack of a store with deltas has its sketch: written again with the index. */
	ri.sketches = cdt_store_config(s)->deltas;
	ret = cdt_pack_scan(packsfd, name, cdt_store_chunker(s)->max_size, bases, collect_entry, &ri,
			    why);
	if (ret < 0)
		goto out;
	{
		/* The index has its pack's version (the scan checked the header). */
		int fd = openat(packsfd, strcat(strcpy(path, name), ".pack"),
				O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

		if (fd >= 0) {
			version = cdt_pack_file_version(fd);
			close(fd);
		}
		if (fd < 0 || (version < 0 && version != -CDT_ECORRUPT)) {
			ret = fd < 0 ? -errno : version;
			if (why)
				strbuf_addf(why, "cannot read pack file: %s", cdt_strerror(ret));
			goto out;
		}
		if (version < 0) {
			ret = cdt_corrupt(why, "pack header is damaged");
			goto out;
		}
	}
	cdt_id_from_hex(name + 5, &sum);
	if (sort_entries(ri.e, ri.nr) < 0) {
		ret = cdt_corrupt(why, "pack holds a chunk twice");
		goto out;
	}
	if (version >= CDT_PACK_VERSION_FRAMES && ri.sketches) {
		/* Before the index, as a new pack's: an indexed pack has its sketch. */
		size_t n;
		struct cdt_sketch_rec *recs = sketch_records(ri.sk, ri.nsk, ri.e, ri.nr, &n);

		ret = cdt_sketch_write(cdt_store_dirfd(s, CDT_DIR_TMP), recs, n, &sum,
				       CDT_CSUM_FSYNC, &sketch);
		free(recs);
		snprintf(path, sizeof(path), "%s.sketch", name);
		if (!ret)
			ret = cdt_csum_file_rename(sketch, packsfd, path, CDT_CSUM_SYNC_DIR);
		if (ret < 0) {
			if (why)
				strbuf_addf(why, "cannot write its sketch: %s", cdt_strerror(ret));
			goto out;
		}
	}
	/* Replaces the index there, durably: fsck and gc trust it next. */
	snprintf(path, sizeof(path), "%s.idx", name);
	ret = write_index(s, (unsigned)version, ri.e, ri.nr, &sum, CDT_CSUM_FSYNC, &idx);
	if (!ret)
		ret = cdt_csum_file_rename(idx, packsfd, path, CDT_CSUM_SYNC_DIR);
	if (ret < 0) {
		if (why)
			strbuf_addf(why, "cannot write its index: %s", cdt_strerror(ret));
		goto out;
	}
	if (count)
		*count = ri.nr;
out:
	cdt_csum_file_free(idx);
	cdt_csum_file_free(sketch);
	free(ri.sk);
	free(ri.e);
	return ret;
}
