/*
 * fuzz-pack.c: pack indexes and packs (lib/pack.h): cdt_pack_open,
 * cdt_pack_find, cdt_pack_read, cdt_pack_verify, the objects read
 * through cdt_object_decode, and the pack read without its index
 * (cdt_pack_scan, cdt_pack_salvage): every chunk either yields is the
 * SHA-256 of its bytes and lies inside the pack, and a pack that scans
 * whole gives the same chunks to the salvage.
 *
 * Input: flags (1 byte), index length (LE32, taken modulo what follows),
 * the index, then the pack; written to the scratch store as
 * packs/pack-<hex>.idx and .pack. The flags repair what the fuzzer could
 * not find by chance, so that the checks behind it are reached:
 *   bit 0  the index's magic, version, count (from its length) and fan-out
 *          (from its ids; the reserved bytes are left as they are);
 *   bit 1  sort the index entries by id;
 *   bit 2  lay the entries back to back from the start of the pack;
 *   bit 3  each entry's CRC-32, where it lies inside the pack;
 *   bit 4  the pack's magic, version and trailer (count and checksum), and
 *          the pack checksum the index repeats;
 *   bit 5  the index's own checksum;
 *   bit 6  write no .pack at all.
 * An index that opens must be usable: find() returns an entry with the id
 * asked for, reads stay in bounds, and a pack that verifies can be read
 * entry by entry.
 */
#include "fuzz.h"
#include "format/object.h"
#include "base/compress.h"
#include "format/pack.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define ENTRY_MAX 8	/* entries read one by one per input */

static struct cdt_decompressor *dec;
static uint32_t raw_max;

static int entry_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CDT_ID_LEN);
}

/* The version of the index being fuzzed (its fifth byte: 2, else 1), and its entries' size. */
static unsigned version = CDT_PACK_VERSION;
static size_t loc = CDT_IDX_LOC;

static size_t idx_len_for(uint64_t count)
{
	return CDT_IDX_HDR + CDT_IDX_FANOUT + count * (CDT_ID_LEN + loc) + 2 * CDT_ID_LEN;
}

/* Apply the repairs the flags ask for to idx (ilen bytes) and pack (plen). */
static size_t repair(unsigned flags, unsigned char *idx, size_t ilen, unsigned char *pack,
		     size_t plen)
{
	uint64_t count, i;
	unsigned char *ids, *locs;

	if (ilen < idx_len_for(0))
		return ilen;
	count = (ilen - idx_len_for(0)) / (CDT_ID_LEN + loc);
	ids = idx + CDT_IDX_HDR + CDT_IDX_FANOUT;
	locs = ids + count * CDT_ID_LEN;
	if (flags & 1) {
		uint32_t fan[256] = { 0 }, sum = 0;

		/* Keep the trailer: the two checksums after the entries. */
		memmove(idx + idx_len_for(count) - 2 * CDT_ID_LEN, idx + ilen - 2 * CDT_ID_LEN,
			2 * CDT_ID_LEN);
		ilen = idx_len_for(count);
		memcpy(idx, CDT_IDX_MAGIC, 4);
		idx[4] = (unsigned char)version;
		put_le64(idx + 8, count);
		if (flags & 2) {
			/* Sort (id, location) pairs together. */
			size_t w = CDT_ID_LEN + loc;
			unsigned char *tmp = xmalloc(count ? count * w : 1);

			for (i = 0; i < count; i++) {
				memcpy(tmp + i * w, ids + i * CDT_ID_LEN, CDT_ID_LEN);
				memcpy(tmp + i * w + 32, locs + i * loc, loc);
			}
			qsort(tmp, count, w, entry_cmp);
			for (i = 0; i < count; i++) {
				memcpy(ids + i * CDT_ID_LEN, tmp + i * w, CDT_ID_LEN);
				memcpy(locs + i * loc, tmp + i * w + 32, loc);
			}
			free(tmp);
		}
		for (i = 0; i < count; i++)
			fan[ids[i * CDT_ID_LEN]]++;
		for (i = 0; i < 256; i++) {
			sum += fan[i];
			put_le32(idx + CDT_IDX_HDR + 4 * i, sum);
		}
	}
	if ((flags & 4) && plen >= CDT_PACK_HDR + CDT_PACK_TRAILER) {
		uint64_t pos = CDT_PACK_HDR, end = plen - CDT_PACK_TRAILER;

		for (i = 0; i < count; i++) {
			unsigned char *l = locs + i * loc;
			uint32_t n = get_le32(l + 8);

			if (n > end - pos || i == count - 1)
				n = (uint32_t)(end - pos);
			put_le64(l, pos);
			put_le32(l + 8, n);
			pos += n;
		}
	}
	if (flags & 8) {
		for (i = 0; i < count; i++) {
			unsigned char *l = locs + i * loc;
			uint64_t off = get_le64(l);
			uint32_t n = get_le32(l + 8);

			if (off <= plen && n <= plen - off)
				put_le32(l + 12, (uint32_t)crc32(0, pack + off, n));
		}
	}
	if ((flags & 16) && plen >= CDT_PACK_HDR + CDT_PACK_TRAILER) {
		memcpy(pack, CDT_PACK_MAGIC, 4);
		pack[4] = (unsigned char)version;
		put_le64(pack + plen - CDT_PACK_TRAILER, get_le64(idx + 8));
		fuzz_fix_checksum(pack, plen - CDT_ID_LEN);
		memcpy(idx + ilen - 2 * CDT_ID_LEN, pack + plen - CDT_ID_LEN, CDT_ID_LEN);
	}
	if (flags & 32)
		fuzz_fix_checksum(idx, ilen - CDT_ID_LEN);
	return ilen;
}

static int verified;

/* Decode entry i's chunk from its object (a chunk's own, or a frame) and check it. */
static int verify_object(const struct cdt_pack *p, uint64_t i, const unsigned char *obj, size_t len,
			 void *data)
{
	static unsigned char *out, *frame;
	struct strbuf why = STRBUF_INIT;
	struct cdt_id id;
	uint32_t got, roff, rlen;
	int ret;

	(void)data;
	/* Exactly raw_max bytes, kept: allocations are what costs most here. */
	if (!out) {
		out = xmalloc(raw_max);
		frame = xmalloc(4 * (size_t)raw_max);
	}
	cdt_pack_entry(p, i, &id, NULL, NULL, NULL);
	cdt_pack_entry_part(p, i, &roff, &rlen);
	if (cdt_object_is_frame(obj, len)) {
		struct cdt_frame_info fi;

		ret = cdt_frame_parse(obj, len, raw_max, 4 * (uint64_t)raw_max, &fi, &why);
		if (!ret && fi.obj_len != len)
			ret = cdt_corrupt(&why, "frame does not fill its object");
		if (!ret)
			ret = cdt_frame_decode(dec, &fi, frame, &why);
		if (!ret && (!rlen || (uint64_t)roff + rlen > fi.raw_total))
			ret = cdt_corrupt(&why, "entry points outside its frame");
		if (!ret) {
			struct cdt_id h;

			cdt_hash(frame + roff, rlen, &h);
			if (!cdt_id_eq(&h, &id))
				ret = cdt_corrupt(&why, "content does not match its id");
		}
	} else if (cdt_object_is_delta(obj, len)) {
		/* Its base is elsewhere: the header is checked, the entry must be the whole object. */
		struct cdt_delta_info di;

		ret = cdt_delta_parse(obj, len, raw_max, &di, &why);
		if (!ret && di.obj_len != len)
			ret = cdt_corrupt(&why, "delta does not fill its object");
		if (!ret && rlen)
			ret = cdt_corrupt(&why, "a delta is no frame");
	} else {
		ret = cdt_object_decode(dec, &id, obj, len, 0, raw_max, out, &got, &why);
	}

	fuzz_note("object decode", ret, &why);

	FUZZ_CHECK(ret == 0 || ret == -CDT_ECORRUPT);
	verified++;
	strbuf_release(&why);
	return 0;
}

static void check_pack(struct cdt_pack *p, int packsfd, size_t ilen, const unsigned char *file,
		       size_t flen)
{
	size_t cap = cdt_pack_object_max(raw_max, 4 * (uint64_t)raw_max), n;
	unsigned char hdr[CDT_PACK_HDR];
	static unsigned char *buf;
	struct strbuf why = STRBUF_INIT;
	struct cdt_id id;
	uint64_t i;
	int sorted = 1, fan_ok = 1, ret, read_ok = 1;
	uint32_t fan[256] = { 0 }, sum = 0;

	if (!buf)
		buf = xmalloc(cap);
	FUZZ_CHECK(p->count == (ilen - idx_len_for(0)) / (CDT_ID_LEN + loc));
	for (i = 1; i < p->count; i++)
		if (memcmp(p->ids + (i - 1) * CDT_ID_LEN, p->ids + i * CDT_ID_LEN, CDT_ID_LEN) >= 0)
			sorted = 0;
	for (i = 0; i < p->count; i++)
		fan[p->ids[i * CDT_ID_LEN]]++;
	for (i = 0; i < 256; i++) {
		sum += fan[i];
		if (get_le32(p->map + CDT_IDX_HDR + 4 * i) != sum)
			fan_ok = 0;
	}
	/* A well-formed index finds each of its ids where it is. */
	for (i = 0; i < p->count; i++) {
		int64_t k;

		cdt_pack_entry(p, i, &id, NULL, NULL, NULL);
		k = cdt_pack_find(p, &id);
		FUZZ_CHECK(k >= -1 && k < (int64_t)p->count);
		if (sorted && fan_ok)
			FUZZ_CHECK(k == (int64_t)i);
		if (k >= 0)
			FUZZ_CHECK(!memcmp(p->ids + k * CDT_ID_LEN, id.b, CDT_ID_LEN));
	}
	/* An id from the input, probably absent. */
	memset(id.b, 0, CDT_ID_LEN);
	memcpy(id.b, file, MIN(flen, (size_t)CDT_ID_LEN));
	FUZZ_CHECK(cdt_pack_find(p, &id) < (int64_t)p->count);

	for (i = 0; i < p->count && i < ENTRY_MAX; i++) {
		strbuf_reset(&why);
		ret = cdt_pack_read(p, packsfd, i, buf, cap, &n, &why);
		fuzz_note("pack read", ret, &why);
		FUZZ_CHECK(ret == 0 || (ret == -CDT_ECORRUPT && why.len));
		if (ret) {
			uint32_t len;

			/* Larger than any chunk of this store: verify cannot know. */
			cdt_pack_entry(p, i, NULL, NULL, &len, NULL);
			if (len <= cap)
				read_ok = 0;
			continue;
		}
		FUZZ_CHECK(n <= cap);
		verify_object(p, i, buf, n, NULL);
	}
	strbuf_reset(&why);
	verified = 0;
	ret = cdt_pack_verify(p, packsfd, verify_object, NULL, &why);
	fuzz_note("pack verify", ret, &why);
	FUZZ_CHECK(ret == 0 || (ret == -CDT_ECORRUPT && why.len));
	if (!ret) {
		/* A pack that verifies is readable and findable, every entry of it. */
		FUZZ_CHECK(verified == (int)p->count);
		FUZZ_CHECK(read_ok);
		FUZZ_CHECK(sorted && fan_ok);
		/* ... and exactly in the format: reserved bytes are zero. */
		FUZZ_CHECK(!p->map[5] && !p->map[6] && !p->map[7]);
		FUZZ_CHECK(pread(p->fd, hdr, sizeof(hdr), 0) == sizeof(hdr));
		FUZZ_CHECK(!hdr[5] && !hdr[6] && !hdr[7]);
	}
	strbuf_release(&why);
}

struct scanned {
	size_t plen;
	unsigned n;
	struct cdt_id sum;	/* of the ids in order, to compare two reads */
};

static int scanned_chunk(const struct cdt_pack_object *o, const unsigned char *raw, void *data)
{
	struct scanned *sc = data;
	struct cdt_id h;
	unsigned char both[2 * CDT_ID_LEN];

	FUZZ_CHECK(o->raw_len <= raw_max);
	FUZZ_CHECK(o->off <= sc->plen && o->len <= sc->plen - o->off);
	cdt_hash(raw, o->raw_len, &h);
	FUZZ_CHECK(cdt_id_eq(&h, &o->id));
	memcpy(both, sc->sum.b, CDT_ID_LEN);
	memcpy(both + CDT_ID_LEN, o->id.b, CDT_ID_LEN);
	cdt_hash(both, sizeof(both), &sc->sum);
	sc->n++;
	return 0;
}

/* The pack read from start to end, as a reindex and gc's salvage read it. */
static void check_scans(int packsfd, const char *name, size_t plen)
{
	struct scanned whole = { plen, 0, { { 0 } } }, saved = { plen, 0, { { 0 } } };
	struct strbuf why = STRBUF_INIT;
	int scan, salvage;

	scan = cdt_pack_scan(packsfd, name, raw_max, NULL, scanned_chunk, &whole, &why);
	fuzz_note("pack scan", scan, &why);
	FUZZ_CHECK(scan == 0 || (scan == -CDT_ECORRUPT && why.len));
	strbuf_reset(&why);
	salvage = cdt_pack_salvage(packsfd, name, raw_max, NULL, scanned_chunk, &saved, &why);
	fuzz_note("pack salvage", salvage, &why);
	FUZZ_CHECK(salvage == 0 || (salvage == -CDT_ECORRUPT && why.len));
	if (!scan) {
		FUZZ_CHECK(!salvage);
		FUZZ_CHECK(saved.n == whole.n && cdt_id_eq(&saved.sum, &whole.sum));
	}
	strbuf_release(&why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cdt_store *s;
	struct cdt_pack p;
	unsigned char *idx, *pack;
	char name[CDT_ID_HEXLEN + 6];
	size_t ilen, plen;
	unsigned flags;
	struct cdt_id id;
	int packsfd, ret;

	s = fuzz_store(CDT_CHUNKER_FASTCDC, 1024);
	fuzz_quiet();
	if (!dec) {
		dec = cdt_decompressor_new();
		raw_max = cdt_store_chunker(s)->max_size;
	}
	if (size < 5)
		return 0;
	packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	flags = data[0];
	ilen = get_le32(data + 1) % (size - 5 + 1);
	plen = size - 5 - ilen;
	/* Exactly sized copies, so that ASan sees any read past the end. */
	idx = xmalloc(ilen);
	memcpy(idx, data + 5, ilen);
	version = ilen > 4 && idx[4] == CDT_PACK_VERSION_FRAMES ? CDT_PACK_VERSION_FRAMES :
								 CDT_PACK_VERSION;
	loc = version == CDT_PACK_VERSION_FRAMES ? CDT_IDX_LOC_V2 : CDT_IDX_LOC;
	pack = xmalloc(plen);
	memcpy(pack, data + 5 + ilen, plen);
	ilen = repair(flags, idx, ilen, pack, plen);

	cdt_hash(data, size, &id);
	memcpy(name, "pack-", 5);
	cdt_id_to_hex(&id, name + 5);
	fuzz_write_at(packsfd, fuzz_fmt("%s.idx", name), idx, ilen);
	if (!(flags & 64))
		fuzz_write_at(packsfd, fuzz_fmt("%s.pack", name), pack, plen);

	ret = cdt_pack_open(packsfd, name, &p);
	fuzz_note("pack open", ret, NULL);
	if (!ret) {
		check_pack(&p, packsfd, ilen, data + 5, size - 5);
		cdt_pack_close(&p);
	} else {
		FUZZ_CHECK(ret == -CDT_ECORRUPT);
	}
	if (!(flags & 64))
		check_scans(packsfd, name, plen);
	unlinkat(packsfd, fuzz_fmt("%s.idx", name), 0);
	unlinkat(packsfd, fuzz_fmt("%s.pack", name), 0);
	free(idx);
	free(pack);
	return 0;
}
