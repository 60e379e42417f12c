/*
 * fuzz-midx.c: the multi-pack index (lib/midx.h): cdt_midx_open,
 * cdt_midx_find and cdt_midx_pack_name.
 *
 * The first byte holds flags, the rest is written as
 * packs/multi-pack-index in the scratch store:
 *   bit 0  magic, version, and the count from the length (for the number
 *          of packs the header gives), the fan-out from the ids;
 *   bit 1  sort the entries by id;
 *   bit 2  recompute the checksum.
 * An index that opens has the length its header implies; find() never
 * names a pack it does not list, and for sorted ids with a fan-out that
 * agrees it finds every id with the location recorded for it.
 */
#include "fuzz.h"
#include "format/midx.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIDX_HDR 24
#define FANOUT (256 * 4)
#define LOC 8

static int entry_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CDT_ID_LEN);
}

static size_t fixed_part(uint32_t npacks)
{
	return MIDX_HDR + (size_t)npacks * CDT_ID_LEN + FANOUT + CDT_ID_LEN;
}

static void repair(unsigned flags, unsigned char *f, size_t len)
{
	uint32_t npacks;
	uint64_t count, i;
	unsigned char *fan, *ids, *locs;

	if (len < fixed_part(0))
		return;
	npacks = get_le32(f + 8);
	if (npacks > (len - fixed_part(0)) / CDT_ID_LEN)
		return;
	count = (len - fixed_part(npacks)) / (CDT_ID_LEN + LOC);
	fan = f + MIDX_HDR + (size_t)npacks * CDT_ID_LEN;
	ids = fan + FANOUT;
	locs = ids + count * CDT_ID_LEN;
	if (flags & 2) {
		unsigned char *tmp = xmalloc(count ? count * (CDT_ID_LEN + LOC) : 1);

		for (i = 0; i < count; i++) {
			memcpy(tmp + i * 40, ids + i * CDT_ID_LEN, CDT_ID_LEN);
			memcpy(tmp + i * 40 + CDT_ID_LEN, locs + i * LOC, LOC);
		}
		qsort(tmp, count, 40, entry_cmp);
		for (i = 0; i < count; i++) {
			memcpy(ids + i * CDT_ID_LEN, tmp + i * 40, CDT_ID_LEN);
			memcpy(locs + i * LOC, tmp + i * 40 + CDT_ID_LEN, LOC);
		}
		free(tmp);
	}
	if (flags & 1) {
		uint32_t counts[256] = { 0 }, sum = 0;

		memcpy(f, CDT_MIDX_MAGIC, 4);
		f[4] = CDT_MIDX_VERSION;
		put_le64(f + 16, count);
		for (i = 0; i < count; i++)
			counts[ids[i * CDT_ID_LEN]]++;
		for (i = 0; i < 256; i++) {
			sum += counts[i];
			put_le32(fan + 4 * i, sum);
		}
	}
	if (flags & 4)
		fuzz_fix_checksum(f, len - CDT_ID_LEN);
}

static void check_open(const struct cdt_midx *m, size_t len, const unsigned char *file)
{
	char name[CDT_ID_HEXLEN + 6], hex[CDT_ID_HEXLEN + 1];
	uint32_t sum = 0, counts[256] = { 0 }, pack, entry;
	int sorted = 1, fan_ok = 1;
	struct cdt_id id;
	uint64_t i;

	FUZZ_CHECK(len == fixed_part(m->npacks) + m->count * (CDT_ID_LEN + LOC));
	for (i = 0; i < m->npacks; i++) {
		memcpy(id.b, m->packs + i * CDT_ID_LEN, CDT_ID_LEN);
		cdt_midx_pack_name(m, (uint32_t)i, name);
		FUZZ_CHECK(!memcmp(name, "pack-", 5) && !strcmp(name + 5, cdt_id_to_hex(&id, hex)));
	}
	for (i = 1; i < m->count; i++)
		if (memcmp(m->ids + (i - 1) * CDT_ID_LEN, m->ids + i * CDT_ID_LEN, CDT_ID_LEN) >= 0)
			sorted = 0;
	for (i = 0; i < m->count; i++)
		counts[m->ids[i * CDT_ID_LEN]]++;
	for (i = 0; i < 256; i++) {
		sum += counts[i];
		if (get_le32(m->fanout + 4 * i) != sum)
			fan_ok = 0;
	}
	for (i = 0; i < m->count; i++) {
		uint32_t want_pack = get_le32(m->locs + i * LOC);
		int found;

		memcpy(id.b, m->ids + i * CDT_ID_LEN, CDT_ID_LEN);
		found = cdt_midx_find(m, &id, &pack, &entry);
		FUZZ_CHECK(found == 0 || found == 1);
		if (found)
			FUZZ_CHECK(pack < m->npacks);
		if (sorted && fan_ok) {
			FUZZ_CHECK(found == (want_pack < m->npacks));
			if (found)
				FUZZ_CHECK(pack == want_pack &&
					   entry == get_le32(m->locs + i * LOC + 4));
		}
	}
	/* An id from the input, probably absent. */
	memcpy(id.b, file, CDT_ID_LEN);
	if (cdt_midx_find(m, &id, &pack, &entry))
		FUZZ_CHECK(pack < m->npacks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cdt_store *s;
	struct cdt_midx m;
	unsigned char *file;
	size_t len;
	int packsfd, ret;

	s = fuzz_store(CDT_CHUNKER_FASTCDC, 1024);
	fuzz_quiet();
	if (!size)
		return 0;
	packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	len = size - 1;
	file = xmalloc(len);
	memcpy(file, data + 1, len);
	repair(data[0], file, len);
	fuzz_write_at(packsfd, CDT_MIDX_NAME, file, len);

	ret = cdt_midx_open(packsfd, &m);
	fuzz_note("midx open", ret, NULL);
	if (!ret) {
		check_open(&m, len, file);
		cdt_midx_close(&m);
	} else {
		FUZZ_CHECK(ret == -CDT_ECORRUPT);
	}
	unlinkat(packsfd, CDT_MIDX_NAME, 0);
	free(file);
	return 0;
}
