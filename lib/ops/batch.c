/* batch.c: staging new chunks and committing them as a pack or as loose objects; writing a repaired chunk. */
#include "ops/batch.h"
#include "base/fsutil.h"
#include "base/idset.h"
#include "format/pack.h"
#include "ops/chunks.h"
#include "ops/serverinfo.h"
#include "base/util.h"
#include "base/testpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	int always_pack;	/* never loose objects (cdt_chunk_batch_pack_always()) */
	char pack_name[CDT_ID_HEXLEN + 6];	/* the pack the last commit wrote, or "" */
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

/* Start the pack, moving the objects held in memory so far into it. */
static int start_pack(struct cdt_chunk_batch *b)
{
	size_t i;
	int ret;

	if (b->pack)
		return 0;
	ret = cdt_pack_writer_new(b->store, &b->pack);
	if (ret < 0)
		return batch_error(b, ret);
	for (i = 0; i < b->nmem; i++) {
		ret = cdt_pack_writer_add(b->pack, &b->mem[i].id, b->mem[i].obj, b->mem[i].len);
		if (ret < 0)
			return batch_error(b, ret);
	}
	drop_mem(b);
	return 0;
}

int cdt_chunk_batch_stage(struct cdt_chunk_batch *b, const struct cdt_id *id,
			  const void *obj, size_t obj_len)
{
	if (cdt_idset_has(&b->ids, id))
		return 0;
	if (b->always_pack || b->pack || b->nmem >= PACK_MIN)
		return cdt_chunk_batch_stage_packed(b, id, obj, obj_len);
	b->mem[b->nmem].id = *id;
	b->mem[b->nmem].obj = xmalloc(obj_len);
	memcpy(b->mem[b->nmem].obj, obj, obj_len);
	b->mem[b->nmem].len = obj_len;
	b->nmem++;
	cdt_idset_add(&b->ids, id);
	b->bytes += obj_len;
	return 0;
}

int cdt_chunk_batch_stage_packed(struct cdt_chunk_batch *b, const struct cdt_id *id,
				 const void *obj, size_t obj_len)
{
	int ret;

	if (cdt_idset_has(&b->ids, id))
		return 0;
	ret = start_pack(b);
	if (ret < 0)
		return ret;
	ret = cdt_pack_writer_add(b->pack, id, obj, obj_len);
	if (ret < 0)
		return batch_error(b, ret);
	cdt_idset_add(&b->ids, id);
	b->bytes += obj_len;
	return 0;
}

void cdt_chunk_batch_sketch(struct cdt_chunk_batch *b, const struct cdt_id *id,
			    const struct cdt_sketch_sf *sf)
{
	if (b->pack)
		cdt_pack_writer_sketch(b->pack, id, sf);
}

int cdt_chunk_batch_packs(struct cdt_chunk_batch *b, size_t n)
{
	return b->always_pack || b->pack || b->nmem + n > PACK_MIN;
}

void cdt_chunk_batch_pack_always(struct cdt_chunk_batch *b)
{
	b->always_pack = 1;
}

int cdt_chunk_batch_stage_frame(struct cdt_chunk_batch *b, const struct cdt_id *ids, uint32_t n,
				const unsigned char *obj, size_t len)
{
	uint32_t i;
	int ret = start_pack(b);

	if (ret < 0)
		return ret;
	if (!cdt_pack_writer_frames(b->pack))
		return batch_error(b, -EINVAL);
	ret = cdt_pack_writer_add_frame(b->pack, ids, obj, len);
	if (ret < 0)
		return batch_error(b, ret);
	for (i = 0; i < n; i++)
		cdt_idset_add(&b->ids, &ids[i]);
	b->bytes += len;
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

/* Move a written object into place: 0, or 1 if one was there already (tmpname is removed). */
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
	return ret;
}

/*
 * A loose object was already in place when this batch's copy came: keep
 * it if it reads back, else put this copy over it (durably, as repair
 * does). 0 or -errno.
 */
static int heal_existing(struct cdt_chunk_batch *b, const struct mem_obj *m)
{
	struct cdt_chunk_reader *r = cdt_chunk_reader_new(b->store);
	unsigned char *raw = xmalloc(cdt_store_chunker(b->store)->max_size);
	uint32_t len;
	int ret = cdt_chunk_read_loose(r, &m->id, 0, raw, &len, NULL);

	free(raw);
	cdt_chunk_reader_free(r);
	if (ret != -CDT_ECORRUPT)
		return 0;
	return cdt_chunk_replace(b->store, &m->id, m->obj, m->len);
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
		if (ret == 1) {
			/* There already: fine, unless that copy is damaged (then the add found it so). */
			ret = heal_existing(b, &b->mem[i]);
		}
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
	static unsigned paused;
	int ret = 0;

	b->pack_name[0] = '\0';
	if (b->pack) {
		/* info/packs lists the pack before any name needs it, and for fsck as it appears. */
		struct cdt_info *in = cdt_serverinfo_packs_begin(b->store);

		ret = cdt_pack_writer_commit(b->pack, b->pack_name);
		cdt_pack_writer_free(b->pack);
		b->pack = NULL;
		if (ret < 0)
			batch_error(b, ret);
		else if (!paused++)
			cdt_pause_point("pack-in-place");
		cdt_serverinfo_packs_end(b->store, in, ret == 0);
	} else if (b->nmem) {
		ret = commit_loose(b);
		drop_mem(b);
	}
	/* Failed, the chunks are gone with the pack or the objects: none of them is staged now. */
	cdt_idset_reset(&b->ids);
	b->bytes = 0;
	return ret;
}

const char *cdt_chunk_batch_pack_name(const struct cdt_chunk_batch *b)
{
	return b->pack_name;
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

/* Rename tmpname over objects/<id>, making its fan-out directory; path gets that path. */
static int install_replacement(struct cdt_store *s, const struct cdt_id *id, const char *tmpname,
			       char *path)
{
	int objfd = cdt_store_dirfd(s, CDT_DIR_OBJECTS);
	int tmpfd = cdt_store_dirfd(s, CDT_DIR_TMP);
	int ret = 0;

	cdt_id_path(id, path);
	path[2] = '\0';
	if (mkdirat(objfd, path, 0777) < 0 && errno != EEXIST)
		ret = -errno;
	path[2] = '/';
	if (!ret && renameat(tmpfd, tmpname, objfd, path) < 0)
		ret = -errno;
	if (ret)
		unlinkat(tmpfd, tmpname, 0);
	return ret;
}

int cdt_chunk_replace(struct cdt_store *s, const struct cdt_id *id,
		      const void *obj, size_t obj_len)
{
	struct strbuf name = STRBUF_INIT;
	char path[CDT_ID_HEXLEN + 2];
	int ret;

	ret = write_tmp(s, "repair", obj, obj_len, &name, 1);
	if (!ret)
		ret = install_replacement(s, id, name.buf, path);
	if (!ret) {
		path[2] = '\0';
		ret = fsync_dirat(cdt_store_dirfd(s, CDT_DIR_OBJECTS), path);
	}
	strbuf_release(&name);
	return ret;
}

int cdt_chunk_replace_stage(struct cdt_store *s, const void *obj, size_t obj_len,
			    struct strbuf *tmpname)
{
	return write_tmp(s, "repair", obj, obj_len, tmpname, 0);
}

int cdt_chunk_replace_install(struct cdt_store *s, const struct cdt_id *id, const char *tmpname)
{
	char path[CDT_ID_HEXLEN + 2];

	return install_replacement(s, id, tmpname, path);
}
