/* objects.c: loose chunk objects under STORE/objects/XX/. */
#include "objects.h"
#include "compress.h"
#include "fsutil.h"
#include "idset.h"
#include "util.h"

#include <errno.h>
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
	if (c && len > 16)
		clen = cdt_compress(c, data, len, out + CDT_OBJ_HDR, len - 1);
	if (clen) {
		out[5] = CDT_CODEC_ZLIB;
		return CDT_OBJ_HDR + clen;
	}
	out[5] = CDT_CODEC_RAW;
	memcpy(out + CDT_OBJ_HDR, data, len);
	return CDT_OBJ_HDR + (size_t)len;
}

static int corrupt(struct strbuf *why, const char *msg)
{
	if (why)
		strbuf_addstr(why, msg);
	return -CDT_ECORRUPT;
}

int cdt_object_decode(struct cdt_decompressor *d, const struct cdt_id *id,
		      const unsigned char *obj, size_t obj_len, uint32_t want_len,
		      uint32_t raw_max, unsigned char *out, uint32_t *len,
		      struct strbuf *why)
{
	uint32_t raw;
	size_t payload;
	struct cdt_id got;

	if (obj_len < CDT_OBJ_HDR)
		return corrupt(why, "object is shorter than its header");
	if (memcmp(obj, CDT_OBJ_MAGIC, 4))
		return corrupt(why, "object has a bad magic number");
	if (obj[4] != CDT_OBJ_VERSION)
		return corrupt(why, "object has an unknown version");
	if (obj[6] || obj[7])
		return corrupt(why, "object header has reserved bits set");
	raw = get_le32(obj + 8);
	payload = obj_len - CDT_OBJ_HDR;
	if (raw > raw_max) {
		if (why)
			strbuf_addf(why, "object claims %u bytes, more than the largest chunk (%u)",
				    raw, raw_max);
		return -CDT_ECORRUPT;
	}
	if (want_len && raw != want_len) {
		if (why)
			strbuf_addf(why, "object holds %u bytes, the manifest says %u", raw, want_len);
		return -CDT_ECORRUPT;
	}
	switch (obj[5]) {
	case CDT_CODEC_RAW:
		if (payload != raw)
			return corrupt(why, "raw object has the wrong length");
		memcpy(out, obj + CDT_OBJ_HDR, raw);
		break;
	case CDT_CODEC_ZLIB:
		if (cdt_decompress(d, obj + CDT_OBJ_HDR, payload, out, raw) < 0)
			return corrupt(why, "compressed data does not inflate to the stated length");
		break;
	default:
		return corrupt(why, "object has an unknown codec");
	}
	cdt_hash(out, raw, &got);
	if (!cdt_id_eq(&got, id))
		return corrupt(why, "content does not match its id");
	*len = raw;
	return 0;
}

int cdt_chunk_has(struct cdt_store *s, const struct cdt_id *id)
{
	char path[CDT_ID_HEXLEN + 2];
	struct stat st;

	if (fstatat(cdt_store_dirfd(s, CDT_DIR_OBJECTS), cdt_id_path(id, path),
		    &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	if (errno == ENOENT || errno == ENOTDIR)
		return 0;
	return -errno;
}

int64_t cdt_chunk_stored_size(struct cdt_store *s, const struct cdt_id *id)
{
	char path[CDT_ID_HEXLEN + 2];
	struct stat st;

	if (fstatat(cdt_store_dirfd(s, CDT_DIR_OBJECTS), cdt_id_path(id, path),
		    &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return st.st_size;
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

int cdt_chunk_read(struct cdt_chunk_reader *r, const struct cdt_id *id,
		   uint32_t want_len, unsigned char *out, uint32_t *len,
		   struct strbuf *why)
{
	char path[CDT_ID_HEXLEN + 2];
	int fd;
	ssize_t n;

	fd = openat(cdt_store_dirfd(r->store, CDT_DIR_OBJECTS), cdt_id_path(id, path),
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		int e = errno;

		if (e == ELOOP)
			return corrupt(why, "object is a symbolic link");
		if (e == ENOTDIR)
			e = ENOENT;
		if (why && e == ENOENT)
			strbuf_addstr(why, "chunk is missing");
		return -e;
	}
	/* Read one byte past the largest valid object to detect oversize files. */
	n = read_full(fd, r->buf, r->cap + 1);
	close(fd);
	if (n < 0) {
		if (why)
			strbuf_addf(why, "cannot read chunk: %s", strerror((int)-n));
		return (int)n;
	}
	if ((size_t)n > r->cap)
		return corrupt(why, "object file is larger than any chunk can be");
	return cdt_object_decode(r->d, id, r->buf, (size_t)n, want_len, r->raw_max,
				 out, len, why);
}

struct staged {
	struct cdt_id id;
	char *tmpname;
};

struct cdt_chunk_batch {
	struct cdt_store *store;
	struct staged *items;
	size_t nr, alloc;
	struct cdt_idset ids;
	struct strbuf name;
};

struct cdt_chunk_batch *cdt_chunk_batch_new(struct cdt_store *s)
{
	struct cdt_chunk_batch *b = xcalloc(1, sizeof(*b));

	b->store = s;
	strbuf_init(&b->name, 64);
	return b;
}

int cdt_chunk_batch_has(struct cdt_chunk_batch *b, const struct cdt_id *id)
{
	return cdt_idset_has(&b->ids, id);
}

size_t cdt_chunk_batch_count(struct cdt_chunk_batch *b)
{
	return b->nr;
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

int cdt_chunk_batch_stage(struct cdt_chunk_batch *b, const struct cdt_id *id,
			  const void *obj, size_t obj_len)
{
	int ret;

	if (!cdt_idset_add(&b->ids, id))
		return 0;
	ret = write_tmp(b->store, "obj", obj, obj_len, &b->name, 0);
	if (ret < 0) {
		char hex[CDT_ID_HEXLEN + 1];

		/* Forget it, so that the batch stays consistent with the temp files. */
		cdt_idset_clear(&b->ids);
		for (size_t i = 0; i < b->nr; i++)
			cdt_idset_add(&b->ids, &b->items[i].id);
		return error_errno(ret, "cannot write chunk %s to '%s/tmp': %s",
				   cdt_id_to_hex(id, hex), cdt_store_path(b->store),
				   strerror(-ret));
	}
	ALLOC_GROW(b->items, b->nr + 1, b->alloc);
	b->items[b->nr].id = *id;
	b->items[b->nr].tmpname = strbuf_detach(&b->name, NULL);
	b->nr++;
	return 0;
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

int cdt_chunk_batch_commit(struct cdt_chunk_batch *b)
{
	size_t i;
	int ret;

	if (!b->nr)
		return 0;
	ret = cdt_store_sync(b->store);
	if (ret < 0)
		return error_errno(ret, "cannot sync store '%s': %s",
				   cdt_store_path(b->store), strerror(-ret));
	cdt_crash_point("objects");
	for (i = 0; i < b->nr; i++) {
		ret = place_object(b->store, b->items[i].tmpname, &b->items[i].id);
		if (ret < 0) {
			char hex[CDT_ID_HEXLEN + 1];

			return error_errno(ret, "cannot store chunk %s: %s",
					   cdt_id_to_hex(&b->items[i].id, hex), strerror(-ret));
		}
		free(b->items[i].tmpname);
		b->items[i].tmpname = NULL;
	}
	b->nr = 0;
	cdt_idset_clear(&b->ids);
	return 0;
}

void cdt_chunk_batch_free(struct cdt_chunk_batch *b)
{
	size_t i;

	if (!b)
		return;
	for (i = 0; i < b->nr; i++) {
		if (b->items[i].tmpname) {
			unlinkat(cdt_store_dirfd(b->store, CDT_DIR_TMP), b->items[i].tmpname, 0);
			free(b->items[i].tmpname);
		}
	}
	free(b->items);
	cdt_idset_clear(&b->ids);
	strbuf_release(&b->name);
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
