/* pack.c: reading and verifying pack files and their indexes (pack-scan.c reads one without its index). */
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>


int cdt_pack_read_failed(int ret, struct strbuf *why, const char *damage)
{
	if (ret < 0 && ret != -CDT_ECORRUPT) {
		if (why)
			strbuf_addf(why, "cannot read pack file: %s", cdt_strerror(ret));
		return ret;
	}
	return cdt_corrupt(why, "%s", damage);
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

/*
 * The pack files open for reading, most recently used first, and how many
 * are: a store of thousands of packs must not hold a descriptor for each.
 * All under open_mu, which readers in several threads take to reach a
 * pack's file (once a read); a pack's readers count goes up under it and
 * down without it (pack_file_put()), so a file is closed only under the
 * lock and when no read uses it.
 */
static pthread_mutex_t open_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cdt_pack *lru_head, *lru_tail;
static unsigned lru_open, files_max;

static void lru_unlink(struct cdt_pack *p)
{
	if (p->lru_prev)
		p->lru_prev->lru_next = p->lru_next;
	else
		lru_head = p->lru_next;
	if (p->lru_next)
		p->lru_next->lru_prev = p->lru_prev;
	else
		lru_tail = p->lru_prev;
	p->lru_prev = p->lru_next = NULL;
	lru_open--;
}

static void lru_push(struct cdt_pack *p)
{
	p->lru_prev = NULL;
	p->lru_next = lru_head;
	if (lru_head)
		lru_head->lru_prev = p;
	else
		lru_tail = p;
	lru_head = p;
	lru_open++;
}

static void close_file_locked(struct cdt_pack *p)
{
	lru_unlink(p);
	close(p->fd);
	p->fd = -1;
}

/* Close the least recently used pack file no read uses: 1, or 0 if each is in use. */
static int close_lru_locked(void)
{
	struct cdt_pack *p;

	for (p = lru_tail; p; p = p->lru_prev)
		if (!__atomic_load_n(&p->readers, __ATOMIC_ACQUIRE)) {
			close_file_locked(p);
			return 1;
		}
	return 0;
}

static unsigned files_max_locked(void)
{
	struct rlimit rl;

	if (!files_max) {
		if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
		    rl.rlim_cur / 4 >= CDT_PACK_FILES_MAX)
			files_max = CDT_PACK_FILES_MAX;
		else
			files_max = MAX((unsigned)(rl.rlim_cur / 4), CDT_PACK_FILES_MIN);
	}
	return files_max;
}

unsigned cdt_pack_files_max(void)
{
	unsigned n;

	pthread_mutex_lock(&open_mu);
	n = files_max_locked();
	pthread_mutex_unlock(&open_mu);
	return n;
}

void cdt_pack_set_files_max(unsigned n)
{
	pthread_mutex_lock(&open_mu);
	files_max = MAX(n, CDT_PACK_FILES_MIN);
	while (lru_open > files_max && close_lru_locked())
		;
	pthread_mutex_unlock(&open_mu);
}

/* Close one pack file no read uses, to free its descriptor: 1, or 0 if none. */
static int close_one_file(void)
{
	int ret;

	pthread_mutex_lock(&open_mu);
	ret = close_lru_locked();
	pthread_mutex_unlock(&open_mu);
	return ret;
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
	/* Out of descriptors: one held by a pack file nobody reads will do. */
	if ((ret == -EMFILE || ret == -ENFILE) && close_one_file())
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
	pthread_mutex_lock(&open_mu);
	if (p->fd >= 0)
		close_file_locked(p);
	pthread_mutex_unlock(&open_mu);
	p->map = NULL;
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

/*
 * Have p's pack file open for a read, which pack_file_put() ends: until
 * then it stays open. 0 or -errno (-CDT_ECORRUPT: not a regular file).
 */
static int pack_file_get(struct cdt_pack *p, int packsfd)
{
	char path[CDT_ID_HEXLEN + 16];
	struct stat st;
	int fd, ret = 0;

	pthread_mutex_lock(&open_mu);
	if (p->fd >= 0) {
		if (lru_head != p) {
			lru_unlink(p);
			lru_push(p);
		}
		goto got;
	}
	while (lru_open >= files_max_locked() && close_lru_locked())
		;
	snprintf(path, sizeof(path), "%s.pack", p->name);
	fd = openat(packsfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && (errno == EMFILE || errno == ENFILE) && close_lru_locked())
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
	lru_push(p);
got:
	__atomic_add_fetch(&p->readers, 1, __ATOMIC_RELAXED);
out:
	pthread_mutex_unlock(&open_mu);
	return ret;
}

/* The read pack_file_get() began is over: p's file may be closed. */
static void pack_file_put(struct cdt_pack *p)
{
	__atomic_sub_fetch(&p->readers, 1, __ATOMIC_RELEASE);
}

void cdt_pack_close_file(struct cdt_pack *p)
{
	pthread_mutex_lock(&open_mu);
	if (p->fd >= 0 && !__atomic_load_n(&p->readers, __ATOMIC_ACQUIRE))
		close_file_locked(p);
	pthread_mutex_unlock(&open_mu);
}

/* An object that could not be read (an I/O error): which one, and why. */
static int read_object_failed(const struct cdt_pack *p, uint64_t off, int ret,
			      struct strbuf *why)
{
	if (why)
		strbuf_addf(why, "pack %s: cannot read the object at offset %llu: %s", p->name,
			    (unsigned long long)off, cdt_strerror(ret));
	return ret;
}

/*
 * Read the n bytes at off of p's pack file (open) into buf, made present
 * first (cdt_pack_fill()). Bytes fetched from elsewhere that are short or
 * fail `crc` are fetched once more, and dropped from the cache if they
 * fail again. *got: the bytes read, or -errno when the read failed.
 * Returns 0, or -errno when they could not be made present.
 */
static int read_checked(struct cdt_pack *p, int packsfd, uint64_t off, uint32_t n, uint32_t crc,
			unsigned char *buf, ssize_t *got, struct strbuf *why)
{
	int ret = cdt_pack_fill(p, packsfd, off, n, 0, why);

	if (ret < 0)
		return ret;
	*got = pread_full(p->fd, buf, n, (off_t)off);
	if (*got < 0 || ((size_t)*got == n && crc_of(buf, n) == crc))
		return 0;
	ret = cdt_pack_fill(p, packsfd, off, n, 1, why);
	if (ret < 0)
		return ret;
	if (!ret)
		*got = pread_full(p->fd, buf, n, (off_t)off);
	/* Not what the cache should keep, either. */
	if (*got >= 0 && ((size_t)*got != n || crc_of(buf, n) != crc))
		cdt_pack_fill(p, packsfd, off, n, 2, NULL);
	return 0;
}

/* cdt_pack_read() with the pack file open. */
static int read_object(struct cdt_pack *p, int packsfd, uint64_t i, unsigned char *buf,
		       size_t cap, size_t *len, struct strbuf *why)
{
	uint64_t off;
	uint32_t n, crc;
	ssize_t got;
	int ret;

	cdt_pack_entry(p, i, NULL, &off, &n, &crc);
	if (n > cap || off < CDT_PACK_HDR || off + n > p->pack_size - MIN(p->pack_size, CDT_PACK_TRAILER) ||
	    off + n < off) {
		if (why)
			strbuf_addf(why, "pack %s: index entry points outside the pack", p->name);
		return -CDT_ECORRUPT;
	}
	ret = read_checked(p, packsfd, off, n, crc, buf, &got, why);
	if (ret < 0)
		return ret;
	if (got < 0)
		return read_object_failed(p, off, (int)got, why);
	if ((size_t)got != n || crc_of(buf, n) != crc) {
		if (why)
			strbuf_addf(why, "pack %s: object at offset %llu fails its CRC", p->name,
				    (unsigned long long)off);
		return -CDT_ECORRUPT;
	}
	*len = n;
	return 0;
}

int cdt_pack_read(struct cdt_pack *p, int packsfd, uint64_t i, unsigned char *buf,
		  size_t cap, size_t *len, struct strbuf *why)
{
	int ret = pack_file_get(p, packsfd);

	if (ret < 0) {
		if (why)
			strbuf_addf(why, "pack %s: %s", p->name,
				    ret == -ENOENT ? "pack file is missing" : cdt_strerror(ret));
		return ret == -ENOENT ? -CDT_ECORRUPT : ret;
	}
	ret = read_object(p, packsfd, i, buf, cap, len, why);
	pack_file_put(p);
	return ret;
}

/* cdt_pack_object_codec() with the pack file open. */
static int read_codec(struct cdt_pack *p, int packsfd, uint64_t i)
{
	unsigned char hdr[8];
	uint64_t off;
	uint32_t n;
	int ret;

	cdt_pack_entry(p, i, NULL, &off, &n, NULL);
	if (n < sizeof(hdr) || off < CDT_PACK_HDR || off + n < off ||
	    off + n > p->pack_size - MIN(p->pack_size, CDT_PACK_TRAILER))
		return -CDT_ECORRUPT;
	ret = cdt_pack_fill(p, packsfd, off, sizeof(hdr), 0, NULL);
	if (ret < 0)
		return ret;
	ret = pread_exact(p->fd, hdr, sizeof(hdr), (off_t)off);
	if (ret)
		return ret < 0 ? ret : -CDT_ECORRUPT;
	if (memcmp(hdr, "CDTC", 4))
		return -CDT_ECORRUPT;
	return hdr[5];
}

int cdt_pack_object_codec(struct cdt_pack *p, int packsfd, uint64_t i)
{
	int ret = pack_file_get(p, packsfd);

	if (ret < 0)
		return ret;
	ret = read_codec(p, packsfd, i);
	pack_file_put(p);
	return ret;
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

/*
 * The header and trailer of p's pack file (open) into hdr and tr, made
 * present first; when they do not hold what the index says, fetched once
 * more from where they came (a remote store's cache), and dropped from the
 * cache if they still do not. 0; 1: damaged; 2: another object count than
 * the index's; or -errno.
 */
static int read_ends(struct cdt_pack *p, int packsfd, unsigned char *hdr, unsigned char *tr,
		     struct strbuf *why)
{
	uint64_t toff = p->pack_size - CDT_PACK_TRAILER;
	int again, ret = 1, filled;

	if (p->pack_size < CDT_PACK_HDR + CDT_PACK_TRAILER)
		return 1;
	for (again = 0; again < 2; again++) {
		filled = cdt_pack_fill(p, packsfd, 0, CDT_PACK_HDR, again, why);
		if (filled >= 0) {
			int t = cdt_pack_fill(p, packsfd, toff, CDT_PACK_TRAILER, again, why);

			filled = t < 0 ? t : filled && t;
		}
		if (filled < 0)
			return filled;
		/* Nothing was fetched again: what was read stands. */
		if (again && filled == 1)
			break;
		ret = pread_exact(p->fd, hdr, CDT_PACK_HDR, 0);
		if (!ret)
			ret = pread_exact(p->fd, tr, CDT_PACK_TRAILER, (off_t)toff);
		if (ret < 0)
			return ret;
		if (!ret && (memcmp(hdr, CDT_PACK_MAGIC, 4) || hdr[4] != p->version || hdr[5] ||
			     hdr[6] || hdr[7]))
			ret = 1;
		if (!ret && get_le64(tr) != p->count)
			ret = 2;
		if (!ret)
			return 0;
	}
	cdt_pack_fill(p, packsfd, 0, CDT_PACK_HDR, 2, NULL);
	cdt_pack_fill(p, packsfd, toff, CDT_PACK_TRAILER, 2, NULL);
	return ret;
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
	int ret, k, open = 0, other;

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
	ret = pack_file_get(p, packsfd);
	if (ret < 0) {
		ret = ret == -ENOENT ? cdt_corrupt(why, "pack file is missing") : ret;
		goto out;
	}
	open = 1;
	ret = read_ends(p, packsfd, hdr, tr, why);
	if (ret == 1) {
		ret = cdt_corrupt(why, "pack header or trailer is damaged");
		goto out;
	}
	if (ret == 2) {
		ret = cdt_corrupt(why, "pack and index disagree on the object count");
		goto out;
	}
	if (ret < 0) {
		ret = cdt_pack_read_failed(ret, why, "pack header or trailer is damaged");
		goto out;
	}
	/*
	 * A trailer that does not name the pack the index names: the index is
	 * another pack's, or the trailer is damaged. The objects tell which
	 * (their checksum, below), and are checked either way.
	 */
	other = memcmp(tr + 8, p->map + p->map_len - 2 * CDT_ID_LEN, CDT_ID_LEN) != 0;
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
			ssize_t got;

			/* A remote store's cache: a block that rotted there is fetched again. */
			ret = read_checked(p, packsfd, spans[i].off, spans[i].len, spans[i].crc, buf,
					   &got, why);
			if (ret < 0)
				goto out;
			if (got < 0 || (size_t)got != spans[i].len) {
				ret = cdt_pack_read_failed(got < 0 ? (int)got : 1, why,
							   "pack is truncated");
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
	if (other && !memcmp(sum.b, p->map + p->map_len - 2 * CDT_ID_LEN, CDT_ID_LEN)) {
		ret = cdt_corrupt(why, "the checksum in the pack's trailer is damaged; its objects are intact");
		goto out;
	}
	if (other && !memcmp(sum.b, tr + 8, CDT_ID_LEN)) {
		ret = cdt_corrupt(why, "index belongs to another pack");
		goto out;
	}
	if (memcmp(sum.b, tr + 8, CDT_ID_LEN) || other) {
		ret = cdt_corrupt(why, "pack checksum does not match its contents");
		goto out;
	}
	ret = 0;
out:
	if (open)
		pack_file_put(p);
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
