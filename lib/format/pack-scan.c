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

/* Hash and pass on each chunk of the frame at buf (avail bytes); *obj_len gets its length. */
static int scan_frame(struct cdt_decompressor *d, const unsigned char *buf, size_t avail,
		      uint64_t pos, uint32_t raw_max, unsigned char **fbuf, size_t *fcap,
		      cdt_pack_scan_fn fn, void *data, uint64_t *n, size_t *obj_len,
		      struct scan_state *ss, struct strbuf *why)
{
	struct cdt_frame_info fi;
	struct cdt_pack_object o;
	uint32_t i, off = 0;
	int ret;

	ret = cdt_frame_parse(buf, avail, raw_max, CDT_FRAME_RAW_HARD_MAX, &fi, why);
	if (ret < 0)
		return ret;
	if (*fcap < fi.raw_total) {
		free(*fbuf);
		*fcap = (size_t)fi.raw_total;
		*fbuf = xmalloc(*fcap);
	}
	ret = cdt_frame_decode(d, &fi, *fbuf, why);
	if (ret < 0)
		return ret;
	o.off = pos;
	o.len = (uint32_t)fi.obj_len;
	o.crc = cdt_crc32(buf, fi.obj_len);
	o.in_frame = 1;
	o.is_delta = 0;
	for (i = 0; i < fi.n; i++) {
		if (*n >= CDT_PACK_MAX_OBJECTS)
			return cdt_corrupt(why, "pack holds more chunks than a pack can");
		o.raw_off = off;
		o.raw_len = get_le32(fi.lens + 4 * (size_t)i);
		cdt_hash(*fbuf + off, o.raw_len, &o.id);
		scan_seen(ss, &o);
		if (fn) {
			ret = fn(&o, *fbuf + off, data);
			if (ret)
				return ret;
		}
		off += o.raw_len;
		(*n)++;
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

/* Decode and pass on the deltas met, now that every base in the pack is known. */
static int scan_deltas(int fd, struct scan_state *ss, uint32_t raw_max,
		       struct cdt_decompressor *d, size_t obj_max, unsigned char **fbuf,
		       size_t *fcap, const struct cdt_base_source *bases, cdt_pack_scan_fn fn,
		       void *data, struct strbuf *why)
{
	unsigned char *obj = xmalloc(obj_max), *bobj = xmalloc(obj_max);
	unsigned char *base = xmalloc(raw_max), *raw = xmalloc(raw_max);
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
			ret = cdt_corrupt(why, "delta at offset %llu changed between two reads",
					  (unsigned long long)pd->off);
			break;
		}
		ret = cdt_delta_parse(obj, pd->len, raw_max, &di, why);
		if (!ret)
			ret = scan_base(fd, ss, &di, raw_max, d, bobj, obj_max, fbuf, fcap, base, bases,
					why);
		if (ret < 0) {
			if (why)
				strbuf_addf(why, " (delta at offset %llu)", (unsigned long long)pd->off);
			break;
		}
		if (cdt_decompress_ref(d, base, di.base_len, di.payload, di.payload_len, raw,
				       di.raw_len) < 0) {
			ret = cdt_corrupt(why, "delta at offset %llu does not decode",
					  (unsigned long long)pd->off);
			break;
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

int cdt_pack_scan(int packsfd, const char *name, uint32_t raw_max,
		  const struct cdt_base_source *bases, cdt_pack_scan_fn fn, void *data,
		  struct strbuf *why)
{
	struct scan_state ss = { NULL, 0, 0, NULL, 0, 0 };
	char path[CDT_ID_HEXLEN + 16];
	unsigned char tr[CDT_PACK_TRAILER], *buf = NULL, *raw = NULL, *fbuf = NULL;
	struct cdt_decompressor *d = NULL;
	struct cdt_hasher *h = NULL;
	struct cdt_id named, sum;
	uint64_t size, end, pos, wstart, wend, count, n = 0;
	size_t cap, obj_max, fcap = 0;
	struct stat st;
	int fd, ret, version;

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
	if (memcmp(tr + 8, named.b, CDT_ID_LEN)) {
		ret = cdt_corrupt(why, "pack trailer does not match its name");
		goto out;
	}
	version = cdt_pack_file_version(fd);
	if (version < 0) {
		ret = cdt_pack_read_failed(version, why, "pack header is damaged");
		goto out;
	}
	count = get_le64(tr);
	end = size - CDT_PACK_TRAILER;
	obj_max = version >= CDT_PACK_VERSION_FRAMES ?
		  cdt_pack_object_max(raw_max, CDT_FRAME_RAW_HARD_MAX) : CDT_OBJ_MAX(raw_max);
	cap = SCAN_BUF + obj_max;
	buf = xmalloc(cap);
	raw = xmalloc(raw_max ? raw_max : 1);
	d = cdt_decompressor_new();
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

		/* Keep at least one whole object (or the rest) in the window. */
		if (wend - pos < MIN(end - pos, (uint64_t)obj_max)) {
			size_t keep = (size_t)(wend - pos), want;
			ssize_t got;

			memmove(buf, buf + (pos - wstart), keep);
			wstart = pos;
			want = (size_t)MIN((uint64_t)(cap - keep), end - wend);
			got = pread_full(fd, buf + keep, want, (off_t)(wstart + keep));
			if (got != (ssize_t)want) {
				ret = cdt_pack_read_failed(got < 0 ? (int)got : 1, why,
							   "pack is truncated");
				goto out;
			}
			cdt_hasher_update(h, buf + keep, want);
			wend = wstart + keep + want;
		}
		off = (size_t)(pos - wstart);
		if (version >= CDT_PACK_VERSION_FRAMES && cdt_object_is_frame(buf + off, wend - pos)) {
			ret = scan_frame(d, buf + off, (size_t)(wend - pos), pos, raw_max, &fbuf, &fcap,
					 fn, data, &n, &obj_len, &ss, why);
			if (ret) {
				if (ret < 0 && why)
					strbuf_addf(why, " (frame at offset %llu)", (unsigned long long)pos);
				goto out;
			}
		} else if (version >= CDT_PACK_VERSION_FRAMES &&
			   cdt_object_is_delta(buf + off, wend - pos)) {
			/* Decoded once every base in the pack is known, after the pass. */
			struct cdt_delta_info di;

			if (n >= CDT_PACK_MAX_OBJECTS) {
				ret = cdt_corrupt(why, "pack holds more objects than a pack can");
				goto out;
			}
			ret = cdt_delta_parse(buf + off, (size_t)(wend - pos), raw_max, &di, why);
			if (ret < 0) {
				if (why)
					strbuf_addf(why, " (delta at offset %llu)",
						    (unsigned long long)pos);
				goto out;
			}
			obj_len = di.obj_len;
			ALLOC_GROW(ss.deltas, ss.ndeltas + 1, ss.adeltas);
			ss.deltas[ss.ndeltas].off = pos;
			ss.deltas[ss.ndeltas].len = (uint32_t)obj_len;
			ss.deltas[ss.ndeltas].crc = cdt_crc32(buf + off, obj_len);
			ss.ndeltas++;
			n++;
		} else {
			struct cdt_pack_object o;
			uint32_t len;

			if (n >= CDT_PACK_MAX_OBJECTS) {
				ret = cdt_corrupt(why, "pack holds more objects than a pack can");
				goto out;
			}
			ret = cdt_object_parse(d, buf + off, (size_t)(wend - pos), raw_max, raw, &len,
					       &obj_len, &o.id, NULL);
			if (ret < 0) {
				if (why)
					strbuf_addf(why, "object at offset %llu cannot be read",
						    (unsigned long long)pos);
				goto out;
			}
			o.off = pos;
			o.len = (uint32_t)obj_len;
			o.crc = cdt_crc32(buf + off, obj_len);
			o.raw_off = 0;
			o.raw_len = len;
			o.in_frame = 0;
			o.is_delta = 0;
			scan_seen(&ss, &o);
			if (fn) {
				ret = fn(&o, raw, data);
				if (ret)
					goto out;
			}
			n++;
		}
		pos += obj_len;
	}
	if (n != count) {
		ret = cdt_corrupt(why, "pack trailer counts %llu chunks, the pack holds %llu",
				  (unsigned long long)count, (unsigned long long)n);
		goto out;
	}
	cdt_hasher_update(h, tr, 8);
	cdt_hasher_final(h, &sum);
	if (!cdt_id_eq(&sum, &named)) {
		ret = cdt_corrupt(why, "pack checksum does not match its contents");
		goto out;
	}
	ret = scan_deltas(fd, &ss, raw_max, d, obj_max, &fbuf, &fcap, bases, fn, data, why);
out:
	free(ss.seen);
	free(ss.deltas);
	close(fd);
	free(buf);
	free(raw);
	free(fbuf);
	cdt_decompressor_free(d);
	cdt_hasher_free(h);
	return ret;
}
