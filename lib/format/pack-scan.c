/* pack-scan.c: a pack read whole without its index (to index it again), every object checked. */
#include "format/pack.h"
#include "base/compress.h"
#include "base/csum-file.h"
#include "base/fsutil.h"
#include "format/object.h"
#include "format/sketch.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bytes of the pack read per refill while scanning, besides one object. */
#define SCAN_BUF (8u << 20)

int cdt_pack_file_version(int fd)
{
	unsigned char hdr[CDT_PACK_HDR];
	int ret = pread_exact(fd, hdr, sizeof(hdr), 0);

	if (ret < 0)
		return ret;
	if (ret || memcmp(hdr, CDT_PACK_MAGIC, 4) || hdr[5] || hdr[6] || hdr[7] ||
	    (hdr[4] != CDT_PACK_VERSION && hdr[4] != CDT_PACK_VERSION_FRAMES))
		return -CDT_ECORRUPT;
	return hdr[4];
}

/*
 * What a scan has met: every chunk that is not a delta, so that a delta
 * whose base is in the same pack can be decoded once the pass is over, and
 * the deltas waiting for that.
 */
struct scan_state {
	struct cdt_pack_object *seen;
	size_t nseen, aseen;
	struct pending_delta {
		uint64_t off;
		uint32_t len, crc;
	} *deltas;
	size_t ndeltas, adeltas;
};

static void scan_seen(struct scan_state *ss, const struct cdt_pack_object *o)
{
	ALLOC_GROW(ss->seen, ss->nseen + 1, ss->aseen);
	ss->seen[ss->nseen++] = *o;
}

/* What a scan carries from object to object. */
struct scan_ctx {
	struct scan_state ss;
	struct cdt_decompressor *d;
	unsigned char *raw, *fbuf;
	size_t fcap;
	uint32_t raw_max;
	int version;
	cdt_pack_scan_fn fn;
	void *data;
	uint64_t n;		/* chunks met */
	int stopped;		/* fn stopped the scan */
};

/* Pass a chunk met on to fn: 0, or what fn returned to stop the scan. */
static int scan_pass(struct scan_ctx *sc, const struct cdt_pack_object *o, const unsigned char *raw)
{
	int ret;

	scan_seen(&sc->ss, o);
	sc->n++;
	if (!sc->fn)
		return 0;
	ret = sc->fn(o, raw, sc->data);
	if (ret)
		sc->stopped = 1;
	return ret;
}

/*
 * Hash and pass on each chunk of the frame at buf (avail bytes); *obj_len
 * gets its length. *cost gets what a failed attempt read and decoded.
 */
static int scan_frame(struct scan_ctx *sc, const unsigned char *buf, size_t avail, uint64_t pos,
		      size_t *obj_len, uint64_t *cost, struct strbuf *why)
{
	struct cdt_frame_info fi;
	struct cdt_pack_object o;
	uint32_t i, off = 0;
	int ret;

	*cost = CDT_FRAME_HDR;
	if (avail >= CDT_FRAME_HDR)
		*cost += 4 * (uint64_t)MIN(get_le32(buf + 8), CDT_FRAME_MAX_CHUNKS);
	ret = cdt_frame_parse(buf, avail, sc->raw_max, CDT_FRAME_RAW_HARD_MAX, &fi, why);
	if (ret < 0)
		return ret;
	*cost = fi.obj_len + fi.raw_total;
	if (sc->fcap < fi.raw_total) {
		free(sc->fbuf);
		sc->fcap = (size_t)fi.raw_total;
		sc->fbuf = xmalloc(sc->fcap);
	}
	ret = cdt_frame_decode(sc->d, &fi, sc->fbuf, why);
	if (ret < 0)
		return ret;
	o.off = pos;
	o.len = (uint32_t)fi.obj_len;
	o.crc = cdt_crc32(buf, fi.obj_len);
	o.in_frame = 1;
	o.is_delta = 0;
	for (i = 0; i < fi.n; i++) {
		if (sc->n >= CDT_PACK_MAX_OBJECTS)
			return cdt_corrupt(why, "pack holds more chunks than a pack can");
		o.raw_off = off;
		o.raw_len = get_le32(fi.lens + 4 * (size_t)i);
		cdt_hash(sc->fbuf + off, o.raw_len, &o.id);
		ret = scan_pass(sc, &o, sc->fbuf + off);
		if (ret)
			return ret;
		off += o.raw_len;
	}
	*obj_len = fi.obj_len;
	return 0;
}

static int cmp_seen(const void *a, const void *b)
{
	return memcmp(a, b, CDT_ID_LEN);
}

/*
 * The base of a delta met in the scan, checked against its id: from the
 * pack itself when it holds it (ss->seen sorted), else from `bases`.
 */
static int scan_base(int fd, struct scan_state *ss, const struct cdt_delta_info *di,
		     uint32_t raw_max, struct cdt_decompressor *d, unsigned char *obj,
		     size_t obj_cap, unsigned char **fbuf, size_t *fcap, unsigned char *out,
		     const struct cdt_base_source *bases, struct strbuf *why)
{
	const struct cdt_pack_object *b = ss->nseen ? bsearch(&di->base, ss->seen, ss->nseen,
							      sizeof(*b), cmp_seen) : NULL;
	struct cdt_frame_info fi;
	struct cdt_id got;
	uint32_t len;
	int ret;

	if (!b) {
		if (!bases)
			return cdt_corrupt(why, "the base of a delta is not in the pack");
		return bases->read(&di->base, di->base_len, out, bases->data, why);
	}
	if (b->len > obj_cap)
		return cdt_corrupt(why, "cannot read the base of a delta again");
	/* An I/O error is no damage; a short read is: the pack shrank under us. */
	ret = pread_exact(fd, obj, b->len, (off_t)b->off);
	if (ret)
		return cdt_pack_read_failed(ret, why, "cannot read the base of a delta again");
	if (!b->in_frame)
		return cdt_object_decode(d, &b->id, obj, b->len, di->base_len, raw_max, out, &len,
					 why);
	if (b->raw_len != di->base_len)
		return cdt_corrupt(why, "the base of a delta has another length");
	if (cdt_frame_parse(obj, b->len, raw_max, CDT_FRAME_RAW_HARD_MAX, &fi, why) < 0)
		return -CDT_ECORRUPT;
	if (*fcap < fi.raw_total) {
		free(*fbuf);
		*fcap = (size_t)fi.raw_total;
		*fbuf = xmalloc(*fcap);
	}
	if (cdt_frame_decode(d, &fi, *fbuf, why) < 0 ||
	    (uint64_t)b->raw_off + b->raw_len > fi.raw_total)
		return -CDT_ECORRUPT;
	memcpy(out, *fbuf + b->raw_off, b->raw_len);
	cdt_hash(out, b->raw_len, &got);
	if (!cdt_id_eq(&got, &b->id))
		return cdt_corrupt(why, "the base of a delta changed between two reads");
	return 0;
}

/*
 * Decode and pass on the deltas met, now that every base in the pack is
 * known. With `salvage`, a delta that is damaged or whose base is found
 * nowhere is passed over (the pack is known to be damaged already).
 */
static int scan_deltas(int fd, struct scan_state *ss, uint32_t raw_max,
		       struct cdt_decompressor *d, size_t obj_max, unsigned char **fbuf,
		       size_t *fcap, const struct cdt_base_source *bases, cdt_pack_scan_fn fn,
		       void *data, int salvage, struct strbuf *why)
{
	unsigned char *obj = xmalloc(obj_max), *bobj = xmalloc(obj_max);
	unsigned char *base = xmalloc(raw_max), *raw = xmalloc(raw_max);
	struct strbuf *w = salvage ? NULL : why;
	size_t i;
	int ret = 0;

	if (ss->nseen > 1)
		qsort(ss->seen, ss->nseen, sizeof(*ss->seen), cmp_seen);
	for (i = 0; i < ss->ndeltas && !ret; i++) {
		struct pending_delta *pd = &ss->deltas[i];
		struct cdt_delta_info di;
		struct cdt_pack_object o;

		ret = pread_exact(fd, obj, pd->len, (off_t)pd->off);
		if (ret < 0) {
			cdt_pack_read_failed(ret, why, "");
			if (why)
				strbuf_addf(why, " (delta at offset %llu)", (unsigned long long)pd->off);
			break;
		}
		if (ret || cdt_crc32(obj, pd->len) != pd->crc) {
			ret = cdt_corrupt(w, "delta at offset %llu changed between two reads",
					  (unsigned long long)pd->off);
		} else {
			ret = cdt_delta_parse(obj, pd->len, raw_max, &di, w);
			if (!ret)
				ret = scan_base(fd, ss, &di, raw_max, d, bobj, obj_max, fbuf, fcap, base,
						bases, w);
			if (ret < 0 && w)
				strbuf_addf(w, " (delta at offset %llu)", (unsigned long long)pd->off);
			if (!ret && cdt_decompress_ref(d, base, di.base_len, di.payload, di.payload_len,
						       raw, di.raw_len) < 0)
				ret = cdt_corrupt(w, "delta at offset %llu does not decode",
						  (unsigned long long)pd->off);
		}
		if (ret < 0) {
			if (salvage && cdt_err_is_damage(ret))
				ret = 0;
			continue;
		}
		o.off = pd->off;
		o.len = pd->len;
		o.crc = pd->crc;
		o.raw_off = 0;
		o.raw_len = di.raw_len;
		o.in_frame = 0;
		o.is_delta = 1;
		cdt_hash(raw, di.raw_len, &o.id);
		if (fn)
			ret = fn(&o, raw, data);
	}
	free(obj);
	free(bobj);
	free(base);
	free(raw);
	return ret;
}

/*
 * Read the object at buf (avail bytes, at pos in the pack) and pass on its
 * chunks (a delta's after the pass); *obj_len gets its length and *cost
 * what a failed attempt read and decoded. 0, -CDT_ECORRUPT (reason in
 * why) or what fn returned to stop the scan.
 */
static int scan_object(struct scan_ctx *sc, const unsigned char *buf, size_t avail, uint64_t pos,
		       size_t *obj_len, uint64_t *cost, struct strbuf *why)
{
	struct cdt_pack_object o;
	uint32_t len;
	int ret;

	if (sc->version >= CDT_PACK_VERSION_FRAMES && cdt_object_is_frame(buf, avail)) {
		ret = scan_frame(sc, buf, avail, pos, obj_len, cost, why);
		if (ret < 0 && why)
			strbuf_addf(why, " (frame at offset %llu)", (unsigned long long)pos);
		return ret;
	}
	if (sc->n >= CDT_PACK_MAX_OBJECTS) {
		*cost = 0;
		return cdt_corrupt(why, "pack holds more objects than a pack can");
	}
	if (sc->version >= CDT_PACK_VERSION_FRAMES && cdt_object_is_delta(buf, avail)) {
		/* Decoded once every base in the pack is known, after the pass. */
		struct cdt_delta_info di;
		struct scan_state *ss = &sc->ss;

		*cost = CDT_DELTA_HDR;
		ret = cdt_delta_parse(buf, avail, sc->raw_max, &di, why);
		if (ret < 0) {
			if (why)
				strbuf_addf(why, " (delta at offset %llu)", (unsigned long long)pos);
			return ret;
		}
		*obj_len = di.obj_len;
		ALLOC_GROW(ss->deltas, ss->ndeltas + 1, ss->adeltas);
		ss->deltas[ss->ndeltas].off = pos;
		ss->deltas[ss->ndeltas].len = (uint32_t)di.obj_len;
		ss->deltas[ss->ndeltas].crc = cdt_crc32(buf, di.obj_len);
		ss->ndeltas++;
		sc->n++;
		return 0;
	}
	*cost = CDT_OBJ_HDR;
	if (avail >= CDT_OBJ_HDR)
		*cost += MIN(get_le32(buf + 8), sc->raw_max);
	ret = cdt_object_parse(sc->d, buf, avail, sc->raw_max, sc->raw, &len, obj_len, &o.id, NULL);
	if (ret < 0) {
		if (why)
			strbuf_addf(why, "object at offset %llu cannot be read", (unsigned long long)pos);
		return ret;
	}
	o.off = pos;
	o.len = (uint32_t)*obj_len;
	o.crc = cdt_crc32(buf, *obj_len);
	o.raw_off = 0;
	o.raw_len = len;
	o.in_frame = 0;
	o.is_delta = 0;
	return scan_pass(sc, &o, sc->raw);
}

/*
 * Past damage, a salvage looks for the next object wherever the magic
 * number starts one, not only where the object before ended: damage to a
 * raw chunk's length can make it run over the next object, and a false
 * header can claim any length. Each byte is read once; what the attempts
 * cost beyond that is bounded by SALVAGE_WORK times the bytes searched.
 */
#define SALVAGE_WORK 4

/* What the pack's damage leaves out of a salvage (no why: said already). */
static void scan_damage(int *damaged, struct strbuf *why, const char *what)
{
	if (!*damaged && why)
		strbuf_addstr(why, what);
	*damaged = 1;
}

static int scan_pack(int packsfd, const char *name, uint32_t raw_max,
		     const struct cdt_base_source *bases, cdt_pack_scan_fn fn, void *data,
		     int salvage, struct strbuf *why)
{
	struct scan_ctx sc;
	char path[CDT_ID_HEXLEN + 16];
	unsigned char tr[CDT_PACK_TRAILER], *buf = NULL;
	struct cdt_hasher *h = NULL;
	struct cdt_id named, sum;
	uint64_t size, end, pos, wstart, wend, count = 0, prev = 0, work = 0, budget = 0;
	size_t cap, obj_max;
	struct stat st;
	int fd, ret, damaged = 0, resync = 0, at_magic = 0;

	memset(&sc, 0, sizeof(sc));
	sc.raw_max = raw_max;
	sc.fn = fn;
	sc.data = data;
	if (strlen(name) != 5 + CDT_ID_HEXLEN || strncmp(name, "pack-", 5) ||
	    cdt_id_from_hex(name + 5, &named) < 0)
		return cdt_corrupt(why, "not a pack name");
	snprintf(path, sizeof(path), "%s.pack", name);
	fd = openat(packsfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP)
			return cdt_corrupt(why, "pack file is a symbolic link");
		if (why)
			strbuf_addf(why, "cannot open pack file: %s", cdt_strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		if (why)
			strbuf_addf(why, "cannot stat pack file: %s", cdt_strerror(-ret));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = cdt_corrupt(why, "pack file is not a regular file");
		goto out;
	}
	size = (uint64_t)st.st_size;
	ret = 0;
	if (size < CDT_PACK_HDR + CDT_PACK_TRAILER ||
	    (ret = pread_exact(fd, tr, sizeof(tr), (off_t)(size - CDT_PACK_TRAILER))) != 0) {
		ret = cdt_pack_read_failed(ret, why, "pack is truncated");
		goto out;
	}
	end = size - CDT_PACK_TRAILER;
	if (memcmp(tr + 8, named.b, CDT_ID_LEN)) {
		ret = cdt_corrupt(why, "pack trailer does not match its name");
		if (!salvage)
			goto out;
		/* The trailer may be objects: a pack cut short, or its end damaged. */
		damaged = 1;
		end = size;
	}
	sc.version = cdt_pack_file_version(fd);
	if (sc.version < 0) {
		ret = cdt_pack_read_failed(sc.version, damaged ? NULL : why, "pack header is damaged");
		if (!salvage || ret != -CDT_ECORRUPT)
			goto out;
		/* Every kind of object is then looked for: each is checked by its bytes. */
		damaged = 1;
		sc.version = CDT_PACK_VERSION_FRAMES;
	}
	count = get_le64(tr);
	obj_max = sc.version >= CDT_PACK_VERSION_FRAMES ?
		  cdt_pack_object_max(raw_max, CDT_FRAME_RAW_HARD_MAX) : CDT_OBJ_MAX(raw_max);
	budget = SALVAGE_WORK * (end - CDT_PACK_HDR + obj_max);
	cap = SCAN_BUF + obj_max;
	buf = xmalloc(cap);
	sc.raw = xmalloc(raw_max ? raw_max : 1);
	sc.d = cdt_decompressor_new();
	h = cdt_hasher_new();
	/* The header is hashed as read; objects start after it. */
	ret = pread_exact(fd, buf, CDT_PACK_HDR, 0);
	if (ret) {
		ret = cdt_pack_read_failed(ret, why, "pack is truncated");
		goto out;
	}
	cdt_hasher_update(h, buf, CDT_PACK_HDR);
	wstart = wend = pos = CDT_PACK_HDR;
	while (pos < end) {
		size_t off, obj_len;
		uint64_t cost;

		/* A salvage may search again bytes the window has left. */
		if (pos < wstart)
			wstart = wend = pos;
		/* Keep at least one whole object (or the rest) in the window. */
		if (wend - pos < MIN(end - pos, (uint64_t)obj_max)) {
			size_t keep = (size_t)(wend - pos), want;
			ssize_t got;

			memmove(buf, buf + (pos - wstart), keep);
			wstart = pos;
			want = (size_t)MIN((uint64_t)(cap - keep), end - wend);
			got = pread_full(fd, buf + keep, want, (off_t)(wstart + keep));
			if (got != (ssize_t)want) {
				if (got >= 0 && salvage) {
					/* Shorter than when it was opened: the rest is not there. */
					scan_damage(&damaged, why, "pack is truncated");
					break;
				}
				ret = cdt_pack_read_failed(got < 0 ? (int)got : 1, damaged ? NULL : why,
							   "pack is truncated");
				goto out;
			}
			if (!damaged)
				cdt_hasher_update(h, buf + keep, want);
			wend = wstart + keep + want;
		}
		off = (size_t)(pos - wstart);
		if (resync && !at_magic) {
			const unsigned char *m = memmem(buf + off, (size_t)(wend - pos), CDT_OBJ_MAGIC, 4);

			if (m) {
				pos += (uint64_t)(m - (buf + off));
				at_magic = 1;
			} else if (wend < end) {
				pos = wend - 3;	/* the magic may straddle the window's end */
			} else {
				break;
			}
			continue;
		}
		if (salvage && damaged && sc.n >= CDT_PACK_MAX_OBJECTS)
			break;
		ret = scan_object(&sc, buf + off, (size_t)(wend - pos), pos, &obj_len, &cost,
				  damaged ? NULL : why);
		if (ret > 0 || sc.stopped || (ret < 0 && (!salvage || ret != -CDT_ECORRUPT)))
			goto out;
		if (ret < 0) {
			/* In order, the object before may have run over this one's start. */
			pos = resync || pos == CDT_PACK_HDR ? pos + 1 : prev + 1;
			damaged = resync = 1;
			at_magic = 0;
			work += cost;
		} else if (resync) {
			pos++;
			at_magic = 0;
			work += obj_len;
		} else {
			prev = pos;
			pos += obj_len;
		}
		if (work > budget)
			break;
	}
	if (!damaged && sc.n != count) {
		ret = cdt_corrupt(why, "pack trailer counts %llu chunks, the pack holds %llu",
				  (unsigned long long)count, (unsigned long long)sc.n);
		if (!salvage)
			goto out;
		damaged = 1;
	}
	if (!damaged) {
		cdt_hasher_update(h, tr, 8);
		cdt_hasher_final(h, &sum);
		if (!cdt_id_eq(&sum, &named)) {
			ret = cdt_corrupt(why, "pack checksum does not match its contents");
			if (!salvage)
				goto out;
			damaged = 1;
		}
	}
	ret = scan_deltas(fd, &sc.ss, raw_max, sc.d, obj_max, &sc.fbuf, &sc.fcap, bases, fn, data,
			  damaged, damaged ? NULL : why);
	if (!ret && damaged)
		ret = -CDT_ECORRUPT;
out:
	free(sc.ss.seen);
	free(sc.ss.deltas);
	close(fd);
	free(buf);
	free(sc.raw);
	free(sc.fbuf);
	cdt_decompressor_free(sc.d);
	cdt_hasher_free(h);
	return ret;
}

int cdt_pack_scan(int packsfd, const char *name, uint32_t raw_max,
		  const struct cdt_base_source *bases, cdt_pack_scan_fn fn, void *data,
		  struct strbuf *why)
{
	return scan_pack(packsfd, name, raw_max, bases, fn, data, 0, why);
}

int cdt_pack_salvage(int packsfd, const char *name, uint32_t raw_max,
		     const struct cdt_base_source *bases, cdt_pack_scan_fn fn, void *data,
		     struct strbuf *why)
{
	return scan_pack(packsfd, name, raw_max, bases, fn, data, 1, why);
}
