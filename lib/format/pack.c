/* pack.c: reading and verifying pack files and their indexes, and scanning a pack without its index. */
#include "format/pack.h"
#include "base/compress.h"
#include "base/csum-file.h"
#include "base/fsutil.h"
#include "format/object.h"
#include "format/sketch.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>


/*
 * Read exactly n bytes at off: 0, 1 if the file ends first (damage), or
 * -errno (an error reading, which says nothing about the bytes).
 */
static int read_exact(int fd, void *buf, size_t n, off_t off)
{
	ssize_t got = pread_full(fd, buf, n, off);

	if (got < 0)
		return (int)got;
	return (size_t)got != n;
}

static uint32_t crc_of(const void *p, size_t n)
{
	return cdt_crc32(p, n);
}

static size_t idx_size(uint64_t count, unsigned version)
{
	return CDT_IDX_HDR + CDT_IDX_FANOUT + (size_t)count * (CDT_ID_LEN + cdt_idx_loc_size(version)) +
	       2 * CDT_ID_LEN;
}

size_t cdt_pack_object_max(uint32_t raw_max, uint64_t frame_max)
{
	size_t one = CDT_OBJ_MAX(raw_max);

	if (!frame_max)
		return one;
	frame_max = MIN(frame_max, (uint64_t)CDT_FRAME_RAW_HARD_MAX);
	return MAX(one, CDT_FRAME_MAX(frame_max, CDT_FRAME_MAX_CHUNKS));
}

int cdt_pack_open(int packsfd, const char *name, struct cdt_pack *p)
{
	char path[CDT_ID_HEXLEN + 16];
	uint32_t prev = 0;
	int ret, i;

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	if (strlen(name) >= sizeof(p->name))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s.idx", name);
	ret = map_file_at(packsfd, path, idx_size(0, 1), idx_size(CDT_PACK_MAX_OBJECTS, 2),
			  &p->map, &p->map_len);
	if (ret < 0)
		return ret;
	p->count = get_le64(p->map + 8);
	p->version = p->map[4];
	if (memcmp(p->map, CDT_IDX_MAGIC, 4) ||
	    (p->version != CDT_PACK_VERSION && p->version != CDT_PACK_VERSION_FRAMES) ||
	    p->map[5] || p->map[6] || p->map[7] ||
	    p->count > CDT_PACK_MAX_OBJECTS || idx_size(p->count, p->version) != p->map_len)
		goto corrupt;
	p->loc_size = cdt_idx_loc_size(p->version);
	for (i = 0; i < 256; i++) {
		uint32_t f = get_le32(p->map + CDT_IDX_HDR + 4 * i);

		if (f < prev)
			goto corrupt;
		prev = f;
	}
	if (prev != p->count)
		goto corrupt;
	p->ids = p->map + CDT_IDX_HDR + CDT_IDX_FANOUT;
	p->locs = p->ids + p->count * CDT_ID_LEN;
	strcpy(p->name, name);
	return 0;
corrupt:
	munmap((void *)p->map, p->map_len);
	p->map = NULL;
	return -CDT_ECORRUPT;
}

void cdt_pack_close(struct cdt_pack *p)
{
	free(p->mark);
	p->mark = NULL;
	free(p->sizes);
	p->sizes = NULL;
	if (p->map)
		munmap((void *)p->map, p->map_len);
	if (p->fd >= 0)
		close(p->fd);
	p->map = NULL;
	p->fd = -1;
}

int64_t cdt_pack_find(const struct cdt_pack *p, const struct cdt_id *id)
{
	const unsigned char *fan = p->map + CDT_IDX_HDR;
	uint64_t lo = id->b[0] ? get_le32(fan + 4 * (id->b[0] - 1)) : 0;
	uint64_t hi = get_le32(fan + 4 * id->b[0]);

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		int c = memcmp(p->ids + mid * CDT_ID_LEN, id->b, CDT_ID_LEN);

		if (!c)
			return (int64_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

void cdt_pack_entry(const struct cdt_pack *p, uint64_t i, struct cdt_id *id,
		    uint64_t *off, uint32_t *len, uint32_t *crc)
{
	const unsigned char *loc = p->locs + i * p->loc_size;

	if (id)
		memcpy(id->b, p->ids + i * CDT_ID_LEN, CDT_ID_LEN);
	if (off)
		*off = get_le64(loc);
	if (len)
		*len = get_le32(loc + 8);
	if (crc)
		*crc = get_le32(loc + 12);
}

void cdt_pack_entry_part(const struct cdt_pack *p, uint64_t i, uint32_t *raw_off,
			 uint32_t *raw_len)
{
	const unsigned char *loc = p->locs + i * p->loc_size;

	if (p->version < CDT_PACK_VERSION_FRAMES) {
		*raw_off = 0;
		*raw_len = 0;
		return;
	}
	*raw_off = get_le32(loc + 16);
	*raw_len = get_le32(loc + 20);
}

static const struct cdt_pack *order_pack;

static int cmp_order(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	uint64_t ox, oy;
	uint32_t rx, ry, lx, ly;

	cdt_pack_entry(order_pack, x, NULL, &ox, NULL, NULL);
	cdt_pack_entry(order_pack, y, NULL, &oy, NULL, NULL);
	if (ox != oy)
		return ox < oy ? -1 : 1;
	cdt_pack_entry_part(order_pack, x, &rx, &lx);
	cdt_pack_entry_part(order_pack, y, &ry, &ly);
	return rx < ry ? -1 : rx > ry;
}

uint64_t *cdt_pack_entry_order(const struct cdt_pack *p)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	uint64_t *v = xcalloc(p->count ? p->count : 1, sizeof(*v)), i;

	for (i = 0; i < p->count; i++)
		v[i] = i;
	pthread_mutex_lock(&mu);
	order_pack = p;
	if (p->count > 1)
		qsort(v, p->count, sizeof(*v), cmp_order);
	pthread_mutex_unlock(&mu);
	return v;
}

uint32_t cdt_pack_entry_size(struct cdt_pack *p, uint64_t i)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	uint32_t len;

	if (p->version < CDT_PACK_VERSION_FRAMES) {
		cdt_pack_entry(p, i, NULL, NULL, &len, NULL);
		return len;
	}
	pthread_mutex_lock(&mu);
	if (!p->sizes) {
		uint64_t *order = cdt_pack_entry_order(p), a, b, k;

		p->sizes = xcalloc(p->count ? p->count : 1, sizeof(*p->sizes));
		for (a = 0; a < p->count; a = b) {
			uint64_t off, off2, raw = 0, given = 0;
			uint32_t olen, roff, rlen;

			cdt_pack_entry(p, order[a], NULL, &off, &olen, NULL);
			for (b = a; b < p->count; b++) {
				cdt_pack_entry(p, order[b], NULL, &off2, NULL, NULL);
				if (off2 != off)
					break;
				cdt_pack_entry_part(p, order[b], &roff, &rlen);
				raw += rlen;
			}
			for (k = a; k < b; k++) {
				uint64_t share;

				cdt_pack_entry_part(p, order[k], &roff, &rlen);
				/* The last takes what rounding left, so the object adds up. */
				share = k + 1 == b ? olen - given :
					raw ? (uint64_t)olen * rlen / raw : olen / (b - a);
				p->sizes[order[k]] = (uint32_t)share;
				given += share;
			}
		}
		free(order);
	}
	len = p->sizes[i];
	pthread_mutex_unlock(&mu);
	return len;
}

/* Readers in several threads may reach an unopened pack at once. */
static pthread_mutex_t open_mu = PTHREAD_MUTEX_INITIALIZER;

static cdt_pack_fill_fn filler;
static void *filler_data;

void cdt_pack_set_filler(cdt_pack_fill_fn fill, void *data)
{
	filler = fill;
	filler_data = data;
}

int cdt_pack_fill(const struct cdt_pack *p, int packsfd, uint64_t off, uint64_t len,
		  int again, struct strbuf *why)
{
	if (!filler || !len)
		return 1;
	return filler(packsfd, p->name, off, len, again, why, filler_data);
}

static int open_pack_file(struct cdt_pack *p, int packsfd)
{
	char path[CDT_ID_HEXLEN + 16];
	struct stat st;
	int fd, ret = 0;

	pthread_mutex_lock(&open_mu);
	if (p->fd >= 0)
		goto out;
	snprintf(path, sizeof(path), "%s.pack", p->name);
	fd = openat(packsfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		ret = errno == ELOOP ? -CDT_ECORRUPT : -errno;
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;	/* an I/O error, not damage */
		close(fd);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		ret = -CDT_ECORRUPT;
		goto out;
	}
	p->pack_size = (uint64_t)st.st_size;
	p->fd = fd;
out:
	pthread_mutex_unlock(&open_mu);
	return ret;
}

void cdt_pack_close_file(struct cdt_pack *p)
{
	pthread_mutex_lock(&open_mu);
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	pthread_mutex_unlock(&open_mu);
}

int cdt_pack_read(struct cdt_pack *p, int packsfd, uint64_t i, unsigned char *buf,
		  size_t cap, size_t *len, struct strbuf *why)
{
	uint64_t off;
	uint32_t n, crc;
	ssize_t got;
	int ret;

	ret = open_pack_file(p, packsfd);
	if (ret < 0) {
		if (why)
			strbuf_addf(why, "pack %s: %s", p->name,
				    ret == -ENOENT ? "pack file is missing" : cdt_strerror(ret));
		return ret == -ENOENT ? -CDT_ECORRUPT : ret;
	}
	cdt_pack_entry(p, i, NULL, &off, &n, &crc);
	if (n > cap || off < CDT_PACK_HDR || off + n > p->pack_size - MIN(p->pack_size, CDT_PACK_TRAILER) ||
	    off + n < off) {
		if (why)
			strbuf_addf(why, "pack %s: index entry points outside the pack", p->name);
		return -CDT_ECORRUPT;
	}
	ret = cdt_pack_fill(p, packsfd, off, n, 0, why);
	if (ret < 0)
		return ret;
	got = pread_full(p->fd, buf, n, (off_t)off);
	if (got < 0)
		return (int)got;
	/* Bytes fetched from elsewhere that fail the check are fetched once more. */
	if (((size_t)got != n || crc_of(buf, n) != crc) &&
	    (ret = cdt_pack_fill(p, packsfd, off, n, 1, why)) <= 0) {
		if (ret < 0)
			return ret;
		got = pread_full(p->fd, buf, n, (off_t)off);
		if (got < 0)
			return (int)got;
	}
	if ((size_t)got != n || crc_of(buf, n) != crc) {
		/* Not what the cache should keep, either. */
		cdt_pack_fill(p, packsfd, off, n, 2, NULL);
		if (why)
			strbuf_addf(why, "pack %s: object at offset %llu fails its CRC", p->name,
				    (unsigned long long)off);
		return -CDT_ECORRUPT;
	}
	*len = n;
	return 0;
}

int cdt_pack_object_codec(struct cdt_pack *p, int packsfd, uint64_t i)
{
	unsigned char hdr[8];
	uint64_t off;
	uint32_t n;
	int ret = open_pack_file(p, packsfd);

	if (ret < 0)
		return ret;
	cdt_pack_entry(p, i, NULL, &off, &n, NULL);
	if (n < sizeof(hdr) || off < CDT_PACK_HDR || off + n < off ||
	    off + n > p->pack_size - MIN(p->pack_size, CDT_PACK_TRAILER))
		return -CDT_ECORRUPT;
	ret = cdt_pack_fill(p, packsfd, off, sizeof(hdr), 0, NULL);
	if (ret < 0)
		return ret;
	ret = read_exact(p->fd, hdr, sizeof(hdr), (off_t)off);
	if (ret)
		return ret < 0 ? ret : -CDT_ECORRUPT;
	if (memcmp(hdr, "CDTC", 4))
		return -CDT_ECORRUPT;
	return hdr[5];
}

struct span {
	uint64_t off;
	uint32_t len, crc;
	uint64_t index;
};

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

int cdt_pack_verify(struct cdt_pack *p, int packsfd,
		    int (*fn)(const struct cdt_pack *p, uint64_t i, const unsigned char *obj,
			      size_t len, void *data),
		    void *data, struct strbuf *why)
{
	struct cdt_hasher *h = cdt_hasher_new();
	struct span *spans = NULL;
	unsigned char *buf = NULL, hdr[CDT_PACK_HDR], tr[CDT_PACK_TRAILER];
	struct cdt_id sum;
	uint64_t i, pos;
	size_t buf_len = 0;
	int ret, k;

	/* The index's own checksum. */
	cdt_hasher_update(h, p->map, p->map_len - CDT_ID_LEN);
	cdt_hasher_final(h, &sum);
	if (memcmp(sum.b, p->map + p->map_len - CDT_ID_LEN, CDT_ID_LEN)) {
		ret = cdt_corrupt(why, "index checksum does not match its contents");
		goto out;
	}
	for (i = 1; i < p->count; i++)
		if (memcmp(p->ids + (i - 1) * CDT_ID_LEN, p->ids + i * CDT_ID_LEN, CDT_ID_LEN) >= 0) {
			ret = cdt_corrupt(why, "index ids are not sorted");
			goto out;
		}
	/* A fan-out that disagrees with the ids makes lookups miss what is here. */
	for (k = 0, i = 0; k < 256; k++) {
		while (i < p->count && p->ids[i * CDT_ID_LEN] == k)
			i++;
		if (get_le32(p->map + CDT_IDX_HDR + 4 * k) != i) {
			ret = cdt_corrupt(why, "index fan-out does not match its ids");
			goto out;
		}
	}
	ret = open_pack_file(p, packsfd);
	if (ret < 0) {
		ret = ret == -ENOENT ? cdt_corrupt(why, "pack file is missing") : ret;
		goto out;
	}
	if (p->pack_size >= CDT_PACK_HDR + CDT_PACK_TRAILER &&
	    ((ret = cdt_pack_fill(p, packsfd, 0, CDT_PACK_HDR, 0, why)) < 0 ||
	     (ret = cdt_pack_fill(p, packsfd, p->pack_size - CDT_PACK_TRAILER, CDT_PACK_TRAILER,
				  0, why)) < 0))
		goto out;
	ret = 0;
	if (p->pack_size < CDT_PACK_HDR + CDT_PACK_TRAILER ||
	    (ret = read_exact(p->fd, hdr, sizeof(hdr), 0)) != 0 ||
	    (ret = read_exact(p->fd, tr, sizeof(tr), (off_t)(p->pack_size - CDT_PACK_TRAILER))) != 0 ||
	    memcmp(hdr, CDT_PACK_MAGIC, 4) || hdr[4] != p->version || hdr[5] || hdr[6] ||
	    hdr[7]) {
		if (ret < 0) {
			if (why)
				strbuf_addf(why, "cannot read pack file: %s", cdt_strerror(ret));
		} else {
			ret = cdt_corrupt(why, "pack header or trailer is damaged");
		}
		goto out;
	}
	if (get_le64(tr) != p->count) {
		ret = cdt_corrupt(why, "pack and index disagree on the object count");
		goto out;
	}
	if (memcmp(tr + 8, p->map + p->map_len - 2 * CDT_ID_LEN, CDT_ID_LEN)) {
		ret = cdt_corrupt(why, "index belongs to another pack");
		goto out;
	}
	/* Objects in pack order must tile the pack exactly. */
	spans = xcalloc(p->count ? p->count : 1, sizeof(*spans));
	for (i = 0; i < p->count; i++) {
		cdt_pack_entry(p, i, NULL, &spans[i].off, &spans[i].len, &spans[i].crc);
		spans[i].index = i;
		buf_len = MAX(buf_len, (size_t)spans[i].len);
	}
	if (p->count > 1)
		qsort(spans, p->count, sizeof(*spans), cmp_span);
	cdt_hasher_reset(h);
	cdt_hasher_update(h, hdr, sizeof(hdr));
	pos = CDT_PACK_HDR;
	/* Room for the largest entry; one larger than any object is refused below. */
	buf = xmalloc(MIN(buf_len, cdt_pack_object_max(CDT_CHUNK_HARD_MAX, CDT_FRAME_RAW_HARD_MAX)));
	for (i = 0; i < p->count; i++) {
		struct cdt_id id;
		int again = i && spans[i].off == spans[i - 1].off;

		memcpy(id.b, p->ids + spans[i].index * CDT_ID_LEN, CDT_ID_LEN);
		/* The chunks of one frame share its object: read and check it once. */
		if (again && p->version >= CDT_PACK_VERSION_FRAMES) {
			if (spans[i].len != spans[i - 1].len || spans[i].crc != spans[i - 1].crc) {
				ret = cdt_corrupt(why, "index entries of one object disagree on it");
				goto out;
			}
		} else {
			if (spans[i].off != pos ||
			    spans[i].len > cdt_pack_object_max(CDT_CHUNK_HARD_MAX, CDT_FRAME_RAW_HARD_MAX) ||
			    spans[i].off + spans[i].len > p->pack_size - CDT_PACK_TRAILER) {
				ret = cdt_corrupt(why, "index entries do not tile the pack");
				goto out;
			}
			ret = cdt_pack_fill(p, packsfd, spans[i].off, spans[i].len, 0, why);
			if (ret < 0)
				goto out;
			if (pread_full(p->fd, buf, spans[i].len, (off_t)spans[i].off) !=
			    (ssize_t)spans[i].len) {
				ret = cdt_corrupt(why, "pack is truncated");
				goto out;
			}
			cdt_hasher_update(h, buf, spans[i].len);
			pos += spans[i].len;
			if (crc_of(buf, spans[i].len) != spans[i].crc) {
				char hex[CDT_ID_HEXLEN + 1];

				ret = cdt_corrupt(why, "object %s at offset %llu fails its CRC",
						  cdt_id_to_hex(&id, hex),
						  (unsigned long long)spans[i].off);
				goto out;
			}
		}
		if (fn) {
			ret = fn(p, spans[i].index, buf, spans[i].len, data);
			if (ret)
				goto out;
		}
	}
	if (pos != p->pack_size - CDT_PACK_TRAILER) {
		ret = cdt_corrupt(why, "pack holds bytes no index entry covers");
		goto out;
	}
	cdt_hasher_update(h, tr, 8);
	cdt_hasher_final(h, &sum);
	if (memcmp(sum.b, tr + 8, CDT_ID_LEN)) {
		ret = cdt_corrupt(why, "pack checksum does not match its contents");
		goto out;
	}
	ret = 0;
out:
	free(spans);
	free(buf);
	cdt_hasher_free(h);
	return ret;
}

int cdt_pack_check_index(const struct cdt_pack *p, struct strbuf *why)
{
	struct cdt_id sum, named;
	uint64_t i;
	int k;

	cdt_hash(p->map, p->map_len - CDT_ID_LEN, &sum);
	if (memcmp(sum.b, p->map + p->map_len - CDT_ID_LEN, CDT_ID_LEN))
		return cdt_corrupt(why, "index checksum does not match its contents");
	if (cdt_id_from_hex(p->name + 5, &named) < 0 ||
	    memcmp(named.b, p->map + p->map_len - 2 * CDT_ID_LEN, CDT_ID_LEN))
		return cdt_corrupt(why, "index belongs to another pack");
	for (i = 1; i < p->count; i++)
		if (memcmp(p->ids + (i - 1) * CDT_ID_LEN, p->ids + i * CDT_ID_LEN, CDT_ID_LEN) >= 0)
			return cdt_corrupt(why, "index ids are not sorted");
	/* A fan-out that disagrees with the ids makes lookups miss what is here. */
	for (k = 0, i = 0; k < 256; k++) {
		while (i < p->count && p->ids[i * CDT_ID_LEN] == k)
			i++;
		if (get_le32(p->map + CDT_IDX_HDR + 4 * k) != i)
			return cdt_corrupt(why, "index fan-out does not match its ids");
	}
	return 0;
}

/* Bytes of the pack read per refill while scanning, besides one object. */
#define SCAN_BUF (8u << 20)

int cdt_pack_file_version(int fd)
{
	unsigned char hdr[CDT_PACK_HDR];
	int ret = read_exact(fd, hdr, sizeof(hdr), 0);

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
	o.crc = crc_of(buf, fi.obj_len);
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

	if (!b) {
		if (!bases)
			return cdt_corrupt(why, "the base of a delta is not in the pack");
		return bases->read(&di->base, di->base_len, out, bases->data, why);
	}
	if (b->len > obj_cap || pread_full(fd, obj, b->len, (off_t)b->off) != (ssize_t)b->len)
		return cdt_corrupt(why, "cannot read the base of a delta again");
	if (!b->in_frame) {
		int ret = cdt_object_decode(d, &b->id, obj, b->len, di->base_len, raw_max, out, &len,
					    why);

		return ret;
	}
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

		if (pread_full(fd, obj, pd->len, (off_t)pd->off) != (ssize_t)pd->len ||
		    crc_of(obj, pd->len) != pd->crc) {
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
	    (ret = read_exact(fd, tr, sizeof(tr), (off_t)(size - CDT_PACK_TRAILER))) != 0) {
		if (ret < 0) {
			if (why)
				strbuf_addf(why, "cannot read pack file: %s", cdt_strerror(ret));
		} else {
			ret = cdt_corrupt(why, "pack is truncated");
		}
		goto out;
	}
	if (memcmp(tr + 8, named.b, CDT_ID_LEN)) {
		ret = cdt_corrupt(why, "pack trailer does not match its name");
		goto out;
	}
	version = cdt_pack_file_version(fd);
	if (version < 0) {
		ret = version;
		if (ret != -CDT_ECORRUPT) {
			if (why)
				strbuf_addf(why, "cannot read pack file: %s", cdt_strerror(ret));
		} else {
			ret = cdt_corrupt(why, "pack header is damaged");
		}
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
	ret = read_exact(fd, buf, CDT_PACK_HDR, 0);
	if (ret) {
		if (ret < 0) {
			if (why)
				strbuf_addf(why, "cannot read pack file: %s", cdt_strerror(ret));
		} else {
			ret = cdt_corrupt(why, "pack is truncated");
		}
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
				ret = got < 0 ? (int)got : cdt_corrupt(why, "pack is truncated");
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
			ss.deltas[ss.ndeltas].crc = crc_of(buf + off, obj_len);
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
			o.crc = crc_of(buf + off, obj_len);
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
