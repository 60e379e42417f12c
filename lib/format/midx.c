/* midx.c: reading and writing the multi-pack index. */
#include "format/midx.h"
#include "base/csum-file.h"
#include "base/fsutil.h"
#include "format/pack.h"
#include "base/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MIDX_HDR 24
/* A multi-pack index never covers more than this many packs or objects. */
#define MIDX_MAX_PACKS (1u << 20)
#define MIDX_MAX_OBJECTS (1ull << 32)

static uint64_t midx_size(uint32_t npacks, uint64_t count)
{
	return MIDX_HDR + (uint64_t)npacks * CDT_ID_LEN + 256 * 4 + count * (CDT_ID_LEN + 8) +
	       CDT_ID_LEN;
}

int cdt_midx_open(int packsfd, struct cdt_midx *m)
{
	uint32_t prev = 0;
	int ret, i;

	memset(m, 0, sizeof(*m));
	ret = map_file_at(packsfd, CDT_MIDX_NAME, midx_size(0, 0), UINT64_MAX, &m->map,
			  &m->map_len);
	if (ret < 0)
		return ret;
	m->npacks = get_le32(m->map + 8);
	m->count = get_le64(m->map + 16);
	if (memcmp(m->map, CDT_MIDX_MAGIC, 4) || m->map[4] != CDT_MIDX_VERSION ||
	    m->map[5] || m->map[6] || m->map[7] || get_le32(m->map + 12) ||
	    m->npacks > MIDX_MAX_PACKS || m->count > MIDX_MAX_OBJECTS ||
	    midx_size(m->npacks, m->count) != m->map_len)
		goto corrupt;
	m->packs = m->map + MIDX_HDR;
	m->fanout = m->packs + (size_t)m->npacks * CDT_ID_LEN;
	m->ids = m->fanout + 256 * 4;
	m->locs = m->ids + m->count * CDT_ID_LEN;
	for (i = 0; i < 256; i++) {
		uint32_t f = get_le32(m->fanout + 4 * i);

		if (f < prev)
			goto corrupt;
		prev = f;
	}
	if (prev != m->count)
		goto corrupt;
	return 0;
corrupt:
	munmap((void *)m->map, m->map_len);
	memset(m, 0, sizeof(*m));
	return -CDT_ECORRUPT;
}

void cdt_midx_close(struct cdt_midx *m)
{
	if (m->map)
		munmap((void *)m->map, m->map_len);
	memset(m, 0, sizeof(*m));
}

int cdt_midx_find(const struct cdt_midx *m, const struct cdt_id *id, uint32_t *pack,
		  uint32_t *entry)
{
	uint64_t lo = id->b[0] ? get_le32(m->fanout + 4 * (id->b[0] - 1)) : 0;
	uint64_t hi = get_le32(m->fanout + 4 * id->b[0]);

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		int c = memcmp(m->ids + mid * CDT_ID_LEN, id->b, CDT_ID_LEN);

		if (!c) {
			*pack = get_le32(m->locs + mid * 8);
			*entry = get_le32(m->locs + mid * 8 + 4);
			return *pack < m->npacks;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

char *cdt_midx_pack_name(const struct cdt_midx *m, uint32_t i, char *buf)
{
	struct cdt_id id;

	memcpy(id.b, m->packs + (size_t)i * CDT_ID_LEN, CDT_ID_LEN);
	memcpy(buf, "pack-", 5);
	cdt_id_to_hex(&id, buf + 5);
	return buf;
}

int cdt_midx_check(const struct cdt_midx *m)
{
	struct cdt_id sum;

	cdt_hash(m->map, m->map_len - CDT_ID_LEN, &sum);
	return memcmp(sum.b, m->map + m->map_len - CDT_ID_LEN, CDT_ID_LEN) ? -CDT_ECORRUPT : 0;
}

/* A k-way merge over the packs' sorted ids, with a binary heap of cursors. */
struct merge {
	struct cdt_pack **packs;
	uint64_t *pos;
	uint32_t *heap;
	size_t n, nheap;
	struct cdt_id last;
	int have_last;
};

static const unsigned char *cursor_id(const struct merge *mg, uint32_t p)
{
	return mg->packs[p]->ids + mg->pos[p] * CDT_ID_LEN;
}

static int heap_less(const struct merge *mg, uint32_t a, uint32_t b)
{
	int c = memcmp(cursor_id(mg, a), cursor_id(mg, b), CDT_ID_LEN);

	/* Ties go to the earlier pack, so each id maps to its first pack. */
	return c < 0 || (c == 0 && a < b);
}

static void sift_down(struct merge *mg, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		uint32_t t;

		if (l < mg->nheap && heap_less(mg, mg->heap[l], mg->heap[m]))
			m = l;
		if (r < mg->nheap && heap_less(mg, mg->heap[r], mg->heap[m]))
			m = r;
		if (m == i)
			return;
		t = mg->heap[i];
		mg->heap[i] = mg->heap[m];
		mg->heap[m] = t;
		i = m;
	}
}

static void merge_start(struct merge *mg, struct cdt_pack **packs, size_t n)
{
	size_t i;

	mg->packs = packs;
	mg->n = n;
	mg->pos = xcalloc(n ? n : 1, sizeof(*mg->pos));
	mg->heap = xcalloc(n ? n : 1, sizeof(*mg->heap));
	mg->nheap = 0;
	mg->have_last = 0;
	for (i = 0; i < n; i++)
		if (packs[i]->count)
			mg->heap[mg->nheap++] = (uint32_t)i;
	for (i = mg->nheap; i-- > 0;)
		sift_down(mg, i);
}

/* Next distinct id: 1 with its pack and entry, or 0 at the end. */
static int merge_next(struct merge *mg, struct cdt_id *id, uint32_t *pack, uint32_t *entry)
{
	while (mg->nheap) {
		uint32_t p = mg->heap[0];
		int dup;

		memcpy(id->b, cursor_id(mg, p), CDT_ID_LEN);
		*pack = p;
		*entry = (uint32_t)mg->pos[p];
		if (++mg->pos[p] >= mg->packs[p]->count)
			mg->heap[0] = mg->heap[--mg->nheap];
		sift_down(mg, 0);
		dup = mg->have_last && cdt_id_eq(id, &mg->last);
		mg->last = *id;
		mg->have_last = 1;
		if (!dup)
			return 1;
	}
	return 0;
}

static void merge_end(struct merge *mg)
{
	free(mg->pos);
	free(mg->heap);
}

int cdt_midx_write(struct cdt_store *s, struct cdt_pack **packs, size_t n)
{
	struct cdt_csum_file *f;
	uint32_t fan[256] = { 0 }, pack, entry;
	unsigned char b[MIDX_HDR];
	struct merge mg;
	struct cdt_id id;
	uint64_t count = 0;
	size_t i, j;
	int ret;

	if (n > MIDX_MAX_PACKS)
		return -E2BIG;
	/* Pass 1: count the distinct ids per first byte. */
	merge_start(&mg, packs, n);
	while (merge_next(&mg, &id, &pack, &entry)) {
		fan[id.b[0]]++;
		count++;
	}
	merge_end(&mg);

	ret = cdt_csum_file_open(cdt_store_dirfd(s, CDT_DIR_TMP), "midx", &f);
	if (ret < 0)
		return ret;
	memset(b, 0, sizeof(b));
	memcpy(b, CDT_MIDX_MAGIC, 4);
	b[4] = CDT_MIDX_VERSION;
	put_le32(b + 8, (uint32_t)n);
	put_le64(b + 16, count);
	cdt_csum_file_write(f, b, MIDX_HDR);
	for (i = 0; i < n; i++) {
		struct cdt_id pid;

		if (hex_to_bytes(packs[i]->name + 5, CDT_ID_HEXLEN, pid.b) < 0) {
			ret = -EINVAL;
			goto out;
		}
		cdt_csum_file_write(f, pid.b, CDT_ID_LEN);
	}
	for (i = 0, j = 0; i < 256; i++) {
		j += fan[i];
		put_le32(b, (uint32_t)j);
		cdt_csum_file_write(f, b, 4);
	}
	/* Pass 2: the ids; pass 3: where each is. */
	merge_start(&mg, packs, n);
	while (merge_next(&mg, &id, &pack, &entry))
		cdt_csum_file_write(f, id.b, CDT_ID_LEN);
	merge_end(&mg);
	merge_start(&mg, packs, n);
	while (merge_next(&mg, &id, &pack, &entry)) {
		put_le32(b, pack);
		put_le32(b + 4, entry);
		cdt_csum_file_write(f, b, 8);
	}
	merge_end(&mg);
	/* Errors stick: finishing reports any. */
	ret = cdt_csum_file_finish(f, CDT_CSUM_APPEND | CDT_CSUM_FSYNC, NULL);
	if (!ret)
		ret = cdt_csum_file_rename(f, cdt_store_dirfd(s, CDT_DIR_PACKS), CDT_MIDX_NAME, 0);
out:
	cdt_csum_file_free(f);
	return ret;
}
