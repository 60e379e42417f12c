/*
 * fuzz-mpack.c: manifest packs (lib/format/mpack.h): cdt_mpack_open,
 * cdt_mpack_find, cdt_mpack_entry and cdt_mpack_verify.
 *
 * The first byte holds flags, the rest is written as a pack in the
 * scratch store's tmp/:
 *   bit 0  magic, version, and the count and table offset that the
 *          length allows for the table as the count byte says;
 *   bit 1  sort the table's entries by id;
 *   bit 2  recompute the checksum.
 * A pack that opens has its table where its trailer says, every entry
 * inside the body with a manifest's length, and its ids strictly
 * increasing; find() finds every id at the place its entry records.
 */
#include "fuzz.h"
#include "format/manifest.h"
#include "format/mpack.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int entry_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CDT_ID_LEN);
}

static void repair(unsigned flags, unsigned char *f, size_t len)
{
	uint64_t n, toff;

	if (len < CDT_MPACK_HDR + CDT_MPACK_TRAILER)
		return;
	/* As many entries as the byte at offset 8 says, if they fit. */
	n = f[8];
	if (n * CDT_MPACK_REC > len - CDT_MPACK_HDR - CDT_MPACK_TRAILER)
		n = (len - CDT_MPACK_HDR - CDT_MPACK_TRAILER) / CDT_MPACK_REC;
	toff = len - CDT_MPACK_TRAILER - n * CDT_MPACK_REC;
	if (flags & 1) {
		memcpy(f, CDT_MPACK_MAGIC, 4);
		f[4] = CDT_MPACK_VERSION;
		f[5] = f[6] = f[7] = 0;
		put_le64(f + 8, n);
		put_le64(f + len - CDT_MPACK_TRAILER, toff);
	}
	if (flags & 2)
		qsort(f + toff, n, CDT_MPACK_REC, entry_cmp);
	if (flags & 4)
		fuzz_fix_checksum(f, len - CDT_ID_LEN);
}

static void check_open(const struct cdt_mpack *mp, size_t len)
{
	uint64_t i, toff = get_le64(mp->map + len - CDT_MPACK_TRAILER);
	struct strbuf why = STRBUF_INIT;
	int ret;

	FUZZ_CHECK(mp->len == len && mp->table == mp->map + toff);
	FUZZ_CHECK(toff + mp->count * CDT_MPACK_REC + CDT_MPACK_TRAILER == len);
	for (i = 0; i < mp->count; i++) {
		struct cdt_id id, prev;
		uint64_t off, mlen, foff, flen;

		cdt_mpack_entry(mp, i, &id, &off, &mlen);
		FUZZ_CHECK(off >= CDT_MPACK_HDR && mlen <= toff && off <= toff - mlen);
		FUZZ_CHECK(mlen >= CDT_MANIFEST_HDR + CDT_MANIFEST_TRAILER &&
			   (mlen - CDT_MANIFEST_HDR - CDT_MANIFEST_TRAILER) % CDT_MANIFEST_REC == 0);
		if (i) {
			cdt_mpack_entry(mp, i - 1, &prev, NULL, NULL);
			FUZZ_CHECK(memcmp(prev.b, id.b, CDT_ID_LEN) < 0);
		}
		FUZZ_CHECK(cdt_mpack_find(mp, &id, &foff, &flen) == 1);
		FUZZ_CHECK(foff == off && flen == mlen);
	}
	ret = cdt_mpack_verify(mp, "pack-x.mpack", &why);
	FUZZ_CHECK(ret == -CDT_ECORRUPT && why.len);
	strbuf_release(&why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf why = STRBUF_INIT;
	struct cdt_store *s;
	struct cdt_mpack mp;
	unsigned char *file;
	size_t len;
	int tmpfd, ret;

	s = fuzz_store(CDT_CHUNKER_FASTCDC, 1024);
	fuzz_quiet();
	if (!size)
		return 0;
	tmpfd = cdt_store_dirfd(s, CDT_DIR_TMP);
	len = size - 1;
	file = xmalloc(len ? len : 1);
	memcpy(file, data + 1, len);
	repair(data[0], file, len);
	fuzz_write_at(tmpfd, "fuzz.mpack", file, len);

	ret = cdt_mpack_open(tmpfd, "fuzz.mpack", &mp, &why);
	fuzz_note("mpack open", ret, &why);
	if (!ret) {
		check_open(&mp, len);
		cdt_mpack_close(&mp);
	} else {
		FUZZ_CHECK(ret == -CDT_ECORRUPT && why.len);
	}
	unlinkat(tmpfd, "fuzz.mpack", 0);
	strbuf_release(&why);
	free(file);
	return 0;
}
