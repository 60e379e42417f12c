/*
 * fuzz-sketch.c: a pack's sketch file (lib/format/sketch.h): cdt_sketch_open,
 * cdt_sketch_check, cdt_sketch_find and cdt_sketch_get.
 *
 * The first byte holds flags, the next two the number of entries the pack
 * has (what every record's entry must stay below), and the rest is written
 * as packs/pack-<0...0>.sketch in the scratch store:
 *   bit 0  magic, version, parameters, the pack's checksum and the count
 *          from the length;
 *   bit 1  sort the records;
 *   bit 2  recompute the checksum.
 * A sketch that opens has the length its count implies and entries below
 * the pack's; find() returns only entries of records with that feature, and
 * in a sketch that checks, finds every record's feature.
 */
#include "fuzz.h"
#include "format/sketch.h"

#include <stdlib.h>
#include <string.h>

#define PACK "pack-0000000000000000000000000000000000000000000000000000000000000000"

static int rec_cmp(const void *a, const void *b)
{
	uint64_t x = get_le64(a), y = get_le64(b);
	uint32_t ex = get_le32((const unsigned char *)a + 8), ey = get_le32((const unsigned char *)b + 8);

	if (x != y)
		return x < y ? -1 : 1;
	return ex < ey ? -1 : ex > ey;
}

static void repair(unsigned flags, unsigned char *f, size_t len)
{
	uint64_t n;

	if (len < CDT_SKETCH_HDR + CDT_ID_LEN)
		return;
	n = (len - CDT_SKETCH_HDR - CDT_ID_LEN) / CDT_SKETCH_REC;
	if (flags & 1) {
		memcpy(f, CDT_SKETCH_MAGIC, 4);
		f[4] = CDT_SKETCH_VERSION;
		f[5] = CDT_SKETCH_PARAMS;
		f[6] = f[7] = 0;
		put_le64(f + 8, n);
		memset(f + 16, 0, CDT_ID_LEN);
	}
	if (flags & 2 && n == get_le64(f + 8))
		qsort(f + CDT_SKETCH_HDR, (size_t)n, CDT_SKETCH_REC, rec_cmp);
	if (flags & 4)
		fuzz_fix_checksum(f, len - CDT_ID_LEN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cdt_store *s;
	struct strbuf why = STRBUF_INIT;
	struct cdt_sketch sk;
	unsigned char *f;
	uint64_t entries, i;
	size_t len;
	int packsfd, ret;

	if (!s) {
		fuzz_quiet();
		s = fuzz_store(CDT_CHUNKER_FASTCDC, 1024);
	}
	if (size < 3)
		return 0;
	entries = (uint64_t)data[1] | (uint64_t)data[2] << 8;
	len = size - 3;
	f = xmalloc(len ? len : 1);
	memcpy(f, data + 3, len);
	repair(data[0], f, len);
	packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	fuzz_write_at(packsfd, PACK ".sketch", f, len);
	ret = cdt_sketch_open(packsfd, PACK, entries, &sk, &why);
	fuzz_note("open", ret, &why);
	FUZZ_CHECK(ret == 0 || ret == -CDT_ECORRUPT);
	if (!ret) {
		int checks;

		FUZZ_CHECK(sk.map_len == CDT_SKETCH_HDR + sk.count * CDT_SKETCH_REC + CDT_ID_LEN);
		strbuf_reset(&why);
		checks = cdt_sketch_check(&sk, &why) == 0;
		for (i = 0; i < sk.count && i < 64; i++) {
			struct cdt_sketch_rec rec;
			int64_t e;

			cdt_sketch_get(&sk, i, &rec);
			FUZZ_CHECK(rec.entry < entries);
			e = cdt_sketch_find(&sk, rec.sf);
			FUZZ_CHECK(e < (int64_t)entries);
			if (checks)
				FUZZ_CHECK(e >= 0);
		}
		cdt_sketch_close(&sk);
	}
	fuzz_empty_dir(packsfd, ".");
	strbuf_release(&why);
	free(f);
	return 0;
}
