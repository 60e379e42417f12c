/* chunks.c: reading a chunk wherever it is stored, and the walk over every stored object. */
#include "ops/chunks.h"
#include "base/compress.h"
#include "format/fanout.h"
#include "format/manifest.h"
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
	char path[CDT_ID_HEXLEN + 2];
	int ret = loose_has(s, id, &st);

	if (ret)
		return ret;
	ret = cdt_chunk_locate(s, id, &p, &index);
	/* A remote store's loose objects are not listed anywhere: ask for one. */
	if (!ret && cdt_store_remote_url(s) &&
	    (ret = cdt_store_fetch(s, CDT_DIR_OBJECTS, cdt_id_path(id, path), NULL)) == 0)
		ret = 1;
	return ret == -ENOENT ? 0 : ret;
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
	len = cdt_pack_entry_size(p, index);
	return len;
}

#define READER_FRAMES 4

struct cdt_chunk_reader {
	struct cdt_store *store;
	struct cdt_decompressor *d;
	unsigned char *buf;		/* one object: a chunk's, or a frame */
	size_t cap;			/* what a one-chunk object can need */
	size_t obj_max;			/* what a frame can need (buf grows to it) */
	size_t buf_len;			/* allocated (zbuf too) */
	/*
	 * The frame decoded in steps: its stored object (zbuf, which trades
	 * places with buf when a frame is read) and the decompressor that
	 * goes on with it, apart from d, which deltas and loose objects use.
	 */
	struct cdt_decompressor *fd;
	unsigned char *zbuf;
	struct frame_slot *stream;	/* its slot, while part of it is still to decode */
	uint32_t raw_max;
	uint64_t frame_max;
	/*
	 * The last frames decoded, whole: the chunks of a file were written
	 * in order, so a sequential reader finds the next one in the frame
	 * of the last, or (past an edit, which was stored later) comes back
	 * to it a few chunks on; each frame is then decoded once. A frame is
	 * decoded only as far as the chunks asked of it so far: a random
	 * reader wants one chunk, often in the first of its blocks.
	 */
	struct frame_slot {
		unsigned char *raw;
		size_t cap, len;
		size_t done;		/* raw[0..done) decoded */
		const struct cdt_pack *pack;
		uint64_t off;
		uint64_t used;		/* when it was last used: the least recent goes */
		int valid;
	} frames[READER_FRAMES];
	uint64_t clock;
	struct frame_slot *frame;	/* the one the last read used */
	/* A delta being decoded, and the last base read for one. */
	unsigned char *dbuf;
	unsigned char *base;
	struct cdt_id base_id;
	uint32_t base_len;
	int base_valid;
};

struct cdt_chunk_reader *cdt_chunk_reader_new(struct cdt_store *s)
{
	struct cdt_chunk_reader *r = xcalloc(1, sizeof(*r));

	r->store = s;
	r->d = cdt_decompressor_new();
	r->fd = cdt_decompressor_new();
	r->raw_max = cdt_store_chunker(s)->max_size;
	r->frame_max = cdt_store_frame_max(s);
	r->cap = CDT_OBJ_MAX(r->raw_max);
	r->obj_max = cdt_pack_object_max(r->raw_max, r->frame_max);
	r->buf_len = r->cap + 1;
	r->buf = xmalloc(r->buf_len);
	return r;
}

void cdt_chunk_reader_free(struct cdt_chunk_reader *r)
{
	int i;

	if (!r)
		return;

	cdt_decompressor_free(r->d);
	cdt_decompressor_free(r->fd);
	free(r->buf);
	free(r->zbuf);
	free(r->dbuf);
	free(r->base);
	for (i = 0; i < READER_FRAMES; i++)
		free(r->frames[i].raw);
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
	int ret;

	/*
	 * The packs known already first: a packed copy will do, and asking
	 * them costs no system call. A miss there still looks loose, and
	 * then in packs made since (cdt_chunk_locate()).
	 */
	if (cdt_chunk_locate_known(r->store, id, NULL, NULL))
		return 1;
	ret = loose_has(r->store, id, &st);
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

/*
 * Make r->frame the frame that holds entry `index` of p, decoded at least
 * up to raw byte `need`. The frame decoded in steps goes on from where it
 * stopped; one that another frame has interrupted since is decoded again,
 * whole this time: coming back to a frame means a reader goes through it.
 */
static int load_frame(struct cdt_chunk_reader *r, struct cdt_pack *p, uint64_t index,
		      uint64_t need, struct strbuf *why)
{
	struct cdt_frame_info fi;
	struct frame_slot *f = &r->frames[0];
	unsigned char *t;
	uint64_t off;
	size_t n, got;
	int ret, i, whole = 0;

	cdt_pack_entry(p, index, NULL, &off, NULL, NULL);
	for (i = 0; i < READER_FRAMES; i++) {
		struct frame_slot *c = &r->frames[i];

		if (c->valid && c->pack == p && c->off == off) {
			if (c->done < need && c != r->stream) {
				f = c;
				whole = 1;
				break;
			}
			if (c->done < need) {
				ret = cdt_decompress_more(r->fd, need, &got);
				if (ret < 0) {
					c->valid = 0;
					r->stream = NULL;
					return cdt_corrupt(why, "compressed frame does not decode to the stated length");
				}
				c->done = got;
				if (got == c->len)
					r->stream = NULL;
			}
			c->used = ++r->clock;
			r->frame = c;
			return 0;
		}
		if (!c->valid || c->used < f->used)
			f = c;
	}
	f->valid = 0;
	if (r->stream == f)
		r->stream = NULL;
	if (r->buf_len < r->obj_max) {
		free(r->buf);
		r->buf_len = r->obj_max;
		r->buf = xmalloc(r->buf_len);
		free(r->zbuf);
		r->zbuf = NULL;
	}
	ret = cdt_pack_read(p, cdt_store_dirfd(r->store, CDT_DIR_PACKS), index, r->buf,
			    r->obj_max, &n, why);
	if (ret < 0)
		return ret;
	ret = cdt_frame_parse(r->buf, n, r->raw_max, r->frame_max, &fi, why);
	if (!ret && fi.obj_len != n)
		ret = cdt_corrupt(why, "frame does not fill its object");
	if (ret < 0)
		return ret;
	if (f->cap < fi.raw_total) {
		free(f->raw);
		f->cap = (size_t)fi.raw_total;
		f->raw = xmalloc(f->cap);
	}
	/* The frame's object stays in zbuf for the steps still to come. */
	if (!r->zbuf)
		r->zbuf = xmalloc(r->buf_len);
	t = r->zbuf;
	r->zbuf = r->buf;
	r->buf = t;
	r->stream = NULL;
	ret = cdt_decompress_start(r->fd, fi.codec, fi.payload, fi.payload_len, f->raw,
				   (size_t)fi.raw_total);
	if (!ret)
		ret = cdt_decompress_more(r->fd, whole ? (size_t)fi.raw_total : (size_t)need, &got);
	if (ret < 0)
		return cdt_corrupt(why, "compressed frame does not decode to the stated length");
	f->len = (size_t)fi.raw_total;
	f->done = got;
	f->pack = p;
	f->off = off;
	f->used = ++r->clock;
	f->valid = 1;
	if (got < f->len)
		r->stream = f;
	r->frame = f;
	return 0;
}

static int read_chunk(struct cdt_chunk_reader *r, const struct cdt_id *id, uint32_t want_len,
		      unsigned char *out, uint32_t *len, struct strbuf *why, int allow_delta);

/*
 * Decode the delta in r->buf (n bytes): its base is read first, whole and
 * checked (never a delta itself), then the delta against it, checked
 * against id.
 */
static int read_delta(struct cdt_chunk_reader *r, const struct cdt_id *id, size_t n,
		      uint32_t want_len, unsigned char *out, uint32_t *len, struct strbuf *why)
{
	struct cdt_delta_info di;
	char hex[CDT_ID_HEXLEN + 1];
	int ret;

	if (!r->dbuf)
		r->dbuf = xmalloc(r->cap);
	if (n > r->cap)
		return cdt_corrupt(why, "delta is larger than any chunk can be");
	memcpy(r->dbuf, r->buf, n);
	ret = cdt_delta_parse(r->dbuf, n, r->raw_max, &di, why);
	if (!ret && di.obj_len != n)
		ret = cdt_corrupt(why, "delta does not fill its object");
	if (ret < 0)
		return ret;
	if (want_len && di.raw_len != want_len) {
		if (why)
			strbuf_addf(why, "delta holds %u bytes, the manifest says %u", di.raw_len,
				    want_len);
		return -CDT_ECORRUPT;
	}
	if (!r->base)
		r->base = xmalloc(r->raw_max);
	if (!r->base_valid || !cdt_id_eq(&r->base_id, &di.base) || r->base_len != di.base_len) {
		struct strbuf bwhy = STRBUF_INIT;
		uint32_t blen;

		r->base_valid = 0;
		ret = read_chunk(r, &di.base, di.base_len, r->base, &blen, &bwhy, 0);
		if (ret < 0) {
			if (why)
				strbuf_addf(why, "its base chunk %s cannot be read: %s",
					    cdt_id_to_hex(&di.base, hex),
					    bwhy.len ? bwhy.buf : cdt_strerror(ret));
			strbuf_release(&bwhy);
			return ret == -ENOENT ? -CDT_ECORRUPT : ret;
		}
		strbuf_release(&bwhy);
		r->base_id = di.base;
		r->base_len = di.base_len;
		r->base_valid = 1;
	}
	ret = cdt_delta_decode(r->d, &di, r->base, id, out, why);
	if (!ret)
		*len = di.raw_len;
	return ret;
}

static int read_packed(struct cdt_chunk_reader *r, struct cdt_pack *p, uint64_t index,
		       const struct cdt_id *id, uint32_t want_len, unsigned char *out,
		       uint32_t *len, struct strbuf *why, int allow_delta)
{
	uint32_t raw_off, raw_len;
	struct cdt_id got;
	size_t n;
	int ret;

	cdt_pack_entry_part(p, index, &raw_off, &raw_len);
	if (!raw_len) {
		ret = cdt_pack_read(p, cdt_store_dirfd(r->store, CDT_DIR_PACKS), index, r->buf,
				    r->cap, &n, why);
		if (ret < 0)
			return ret;
		if (p->version >= CDT_PACK_VERSION_FRAMES && cdt_object_is_delta(r->buf, n)) {
			if (!allow_delta)
				return cdt_corrupt(why, "pack %s holds it as a delta, and a base "
						   "never is one", p->name);
			return read_delta(r, id, n, want_len, out, len, why);
		}
		return cdt_object_decode(r->d, id, r->buf, n, want_len, r->raw_max, out, len, why);
	}
	if (raw_len > r->raw_max || (want_len && raw_len != want_len)) {
		if (why)
			strbuf_addf(why, "pack %s: its index gives the chunk %u bytes, the manifest %u",
				    p->name, raw_len, want_len);
		return -CDT_ECORRUPT;
	}
	ret = load_frame(r, p, index, (uint64_t)raw_off + raw_len, why);
	if (ret < 0)
		return ret;
	if ((uint64_t)raw_off + raw_len > r->frame->done)
		return cdt_corrupt(why, "pack %s: index entry points outside its frame", p->name);
	cdt_hash(r->frame->raw + raw_off, raw_len, &got);
	if (!cdt_id_eq(&got, id))
		return cdt_corrupt(why, "content does not match its id");
	memcpy(out, r->frame->raw + raw_off, raw_len);
	*len = raw_len;
	return 0;
}

int cdt_chunk_read_entry(struct cdt_chunk_reader *r, struct cdt_pack *p, uint64_t index,
			 unsigned char *out, uint32_t *len, struct strbuf *why)
{
	struct cdt_id id;

	cdt_pack_entry(p, index, &id, NULL, NULL, NULL);
	return read_packed(r, p, index, &id, 0, out, len, why, 1);
}

int cdt_chunk_read_base_entry(struct cdt_chunk_reader *r, struct cdt_pack *p, uint64_t index,
			      unsigned char *out, uint32_t *len, struct strbuf *why)
{
	struct cdt_id id;

	cdt_pack_entry(p, index, &id, NULL, NULL, NULL);
	return read_packed(r, p, index, &id, 0, out, len, why, 0);
}

int cdt_chunk_read(struct cdt_chunk_reader *r, const struct cdt_id *id,
		   uint32_t want_len, unsigned char *out, uint32_t *len,
		   struct strbuf *why)
{
	return read_chunk(r, id, want_len, out, len, why, 1);
}

int cdt_chunk_read_base(struct cdt_chunk_reader *r, const struct cdt_id *id, uint32_t len,
			unsigned char *out, struct strbuf *why)
{
	uint32_t got;

	return read_chunk(r, id, len, out, &got, why, 0);
}

static int base_source_read(const struct cdt_id *id, uint32_t len, unsigned char *out,
			    void *data, struct strbuf *why)
{
	return cdt_chunk_read_base(data, id, len, out, why);
}

struct cdt_base_source cdt_chunk_base_source(struct cdt_chunk_reader *r)
{
	struct cdt_base_source b = { base_source_read, r };

	return b;
}

/*
 * What one copy's read says of the chunk, to keep the strongest of several:
 * a good read; then an I/O error (that copy may be good, so the chunk is
 * not known to be damaged); then damage; then no copy at all.
 */
static int copy_rank(int ret)
{
	return !ret ? 3 : ret == -ENOENT ? 0 : ret == -CDT_ECORRUPT ? 1 : 2;
}

/* Keep what a copy's read (ret, why) says if it says more than *best (with best_why). */
static void keep_best(int *best, struct strbuf *best_why, int ret, const struct strbuf *why)
{
	if (copy_rank(ret) <= copy_rank(*best))
		return;
	strbuf_reset(best_why);
	strbuf_addbuf(best_why, why);
	*best = ret;
}

static int read_chunk_once(struct cdt_chunk_reader *r, const struct cdt_id *id,
			   uint32_t want_len, unsigned char *out, uint32_t *len, struct strbuf *why,
			   int allow_delta)
{
	struct strbuf first = STRBUF_INIT, packed = STRBUF_INIT;
	struct cdt_pack *tried, **packs;
	uint64_t index;
	size_t n, i;
	int ret, best, damaged, pret = -ENOENT, packed_read;

	/* A store read from elsewhere asks its local seeds first. */
	if (cdt_store_remote_url(r->store) &&
	    !cdt_store_seed_read(r->store, id, want_len, out, len))
		return 0;
	/*
	 * Nearly every chunk is in a pack already known: a good read of it
	 * (checked against the id, as every read is) is the answer, with no
	 * look for a loose copy that is hardly ever there (a system call
	 * each chunk). A packed copy that fails is kept, to be weighed
	 * below as if read after the loose one.
	 */
	packed_read = cdt_chunk_locate_known(r->store, id, &tried, &index);
	if (packed_read) {
		best = pret = read_packed(r, tried, index, id, want_len, out, len, &packed,
					  allow_delta);
		if (!best)
			goto done;
	}
	/*
	 * A loose copy comes first: that is where repair puts a good one.
	 * A damaged one, or one that cannot be read, does not hide a good
	 * packed copy, though.
	 */
	best = read_loose(r, id, want_len, out, len, &first);
	if (!best)
		goto done;
	damaged = best == -CDT_ECORRUPT;
	if (!tried)
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
		/* Unless read above, before the loose copy. */
		if (!packed_read)
			pret = read_packed(r, tried, index, id, want_len, out, len, &packed,
					   allow_delta);
		damaged |= pret == -CDT_ECORRUPT;
		/*
		 * Keep what says most (copy_rank()): of two damaged copies,
		 * the loose one's damage is reported.
		 */
		keep_best(&best, &first, pret, &packed);
		if (!best)
			goto done;
		/*
		 * A damaged copy, or one that could not be read: any other
		 * pack holding the chunk may have a good one.
		 */
		n = cdt_packs_list(r->store, &packs);
		for (i = 0; i < n; i++) {
			struct strbuf other = STRBUF_INIT;
			int64_t k;

			if (packs[i] == tried || (k = cdt_pack_find(packs[i], id)) < 0)
				continue;
			ret = read_packed(r, packs[i], (uint64_t)k, id, want_len, out, len, &other,
					  allow_delta);
			damaged |= ret == -CDT_ECORRUPT;
			keep_best(&best, &first, ret, &other);
			strbuf_release(&other);
			if (!ret)
				break;
		}
		free(packs);
	}
	if (best && cdt_store_remote_url(r->store)) {
		/* A remote store's loose copy is fetched when no pack has a good one. */
		char path[CDT_ID_HEXLEN + 2];
		struct strbuf fetched = STRBUF_INIT, reason = STRBUF_INIT;
		int fetch_failed;

		ret = cdt_store_fetch(r->store, CDT_DIR_OBJECTS, cdt_id_path(id, path), &reason);
		fetch_failed = ret && ret != -ENOENT;
		if (!ret)
			ret = read_loose(r, id, want_len, out, len, &fetched);
		else if (fetch_failed)
			strbuf_addf(&fetched, "cannot fetch it: %s",
				    reason.len ? reason.buf : cdt_strerror(ret));
		strbuf_release(&reason);
		damaged |= ret == -CDT_ECORRUPT;
		/* A fetch that failed says the chunk may be good there: not damaged. */
		if (copy_rank(ret) > copy_rank(best)) {
			strbuf_reset(&first);
			strbuf_addbuf(&first, &fetched);
			best = ret;
		} else if (fetch_failed && copy_rank(ret) == copy_rank(best)) {
			/* Another copy failed as it did: the line says why both did. */
			if (first.len)
				strbuf_addstr(&first, "; ");
			strbuf_addbuf(&first, &fetched);
		}
		strbuf_release(&fetched);
	}
	if (!best)
		goto done;
	/* Not found where packs/ could not be listed: unknown, not missing. */
	if (best == -ENOENT && (ret = cdt_packs_list_error(r->store)) < 0) {
		if (why)
			strbuf_addf(why, "not found, and packs/ cannot be listed: %s",
				    cdt_strerror(ret));
		best = ret;
		goto done;
	}
	/* Nor where a pack's index could not be read: it may be in that pack. */
	if (best == -ENOENT) {
		struct strbuf pack = STRBUF_INIT;

		ret = cdt_packs_index_error(r->store, &pack);
		if (ret < 0 && why)
			strbuf_addf(why, "not found, and pack index 'packs/%s.idx' cannot be read: %s",
				    pack.buf, cdt_strerror(ret));
		strbuf_release(&pack);
		if (ret < 0) {
			best = ret;
			goto done;
		}
	}
	if (why) {
		if (best == -ENOENT)
			strbuf_addstr(why, "chunk is missing");
		else
			strbuf_addbuf(why, &first);
		if (copy_rank(best) == 2 && damaged)
			strbuf_addstr(why, "; another copy is damaged");
	}
done:
	strbuf_release(&first);
	strbuf_release(&packed);
	return best;
}

/*
 * A chunk of a remote store that could not be read from the packs listed
 * is read again once they are listed again, when that may help (a gc on
 * the server replaced the pack it was in: see cdt_store_refresh_remote()).
 */
static int read_chunk(struct cdt_chunk_reader *r, const struct cdt_id *id, uint32_t want_len,
		      unsigned char *out, uint32_t *len, struct strbuf *why, int allow_delta)
{
	size_t mark = why ? why->len : 0;
	int ret = read_chunk_once(r, id, want_len, out, len, why, allow_delta);

	/* A local store has no refresh (-ENOENT). */
	if (ret && ret != -CDT_ECORRUPT && !cdt_store_refresh_remote(r->store)) {
		if (why)
			strbuf_setlen(why, mark);
		ret = read_chunk_once(r, id, want_len, out, len, why, allow_delta);
	}
	return ret;
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

			cdt_pack_entry(packs[i], k, &o.id, NULL, NULL, NULL);
			o.size = cdt_pack_entry_size(packs[i], k);
			o.pack = packs[i];
			o.index = k;
			ret = fn(&o, data);
		}
	}
	free(packs);
	/* Every pack listed was visited, but packs/ may hold more. */
	return ret ? ret : cdt_packs_list_error(s);
}

int cdt_content_stored(struct cdt_store *s, struct cdt_chunk_reader *r, unsigned char *buf,
		       const struct cdt_id *id, uint64_t size)
{
	struct cdt_manifest *m;
	struct cdt_manifest_entry e;
	uint64_t i, n;
	int ret = cdt_manifest_open(s, id, &m, NULL);

	if (ret == -ENOENT || ret == -CDT_ECORRUPT)
		return 0;
	if (ret < 0)
		return ret;
	n = cdt_manifest_count(m);
	ret = cdt_manifest_size(m) == size;
	for (i = 0; i < n && ret == 1; i++) {
		ret = cdt_manifest_get(m, i, &e);
		if (!ret)
			ret = cdt_chunk_has_good(r, &e.id, e.len, buf);
	}
	cdt_manifest_close(m);
	return ret;
}
