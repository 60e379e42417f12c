/* chunks.c: reading a chunk wherever it is stored, and the walk over every stored object. */
#include "ops/chunks.h"
#include "base/compress.h"
#include "format/fanout.h"
#include "format/object.h"
#include "format/pack.h"
#include "ops/packset.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	struct cdt_pack *p;
	uint64_t index;
	int ret = loose_has(s, id, &st);

	if (ret)
		return ret;
	return cdt_chunk_locate(s, id, &p, &index);
}

int64_t cdt_chunk_stored_size(struct cdt_store *s, const struct cdt_id *id)
{
	struct stat st;
	struct cdt_pack *p;
	uint64_t index;
	uint32_t len;
	int ret = loose_has(s, id, &st);

	if (ret < 0)
		return ret;
	if (ret)
		return st.st_size;
	if (!cdt_chunk_locate(s, id, &p, &index))
		return -ENOENT;
	cdt_pack_entry(p, index, NULL, NULL, &len, NULL);
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

int cdt_chunk_has_good(struct cdt_chunk_reader *r, const struct cdt_id *id, uint32_t len,
		       unsigned char *buf)
{
	struct stat st;
	struct cdt_pack *p;
	uint64_t index;
	uint32_t got;
	int ret = loose_has(r->store, id, &st);

	if (ret < 0)
		return ret;
	if (ret && read_loose(r, id, len, buf, &got, NULL) == 0)
		return 1;
	/* No loose copy, or a damaged one (which readers pass over): a packed copy will do. */
	return cdt_chunk_locate(r->store, id, &p, &index);
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
	uint64_t index;
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
	cdt_chunk_locate(r->store, id, &tried, &index);
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
				index = (uint64_t)k;
			}
		}
		free(packs);
	}
	if (tried) {
		struct strbuf packed = STRBUF_INIT;
		int pret = read_packed(r, tried, index, id, want_len, out, len, &packed);

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
