/* test-pack.c: a pack written through the writer reads back, verifies, scans, re-indexes, and shows damage. */
#include "base/compress.h"
#include "base/fsutil.h"
#include "base/hash.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "format/config.h"
#include "format/object.h"
#include "format/pack.h"
#include "format/store.h"
#include "ops/chunks.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NCHUNKS 40
#define CHUNK_MAX 60000

static uint64_t rs = 4242;

static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

struct chunk {
	unsigned char *raw;
	uint32_t len;
	struct cdt_id id;
	unsigned char *obj;
	size_t obj_len;
};

static struct chunk chunks[NCHUNKS];

/* Chunks of many sizes, half of them compressible, each encoded as it is stored. */
static void make_chunks(void)
{
	struct cdt_compressor *c = cdt_compressor_new(CDT_CODEC_ZLIB, 1);
	size_t i, k;

	for (i = 0; i < NCHUNKS; i++) {
		struct chunk *ch = &chunks[i];

		ch->len = (uint32_t)(1 + rnd() % CHUNK_MAX);
		ch->raw = xmalloc(ch->len);
		for (k = 0; k < ch->len; k++)
			ch->raw[k] = i % 2 ? (unsigned char)rnd() : (unsigned char)("pack"[k % 4] + i);
		cdt_hash(ch->raw, ch->len, &ch->id);
		ch->obj = xmalloc(CDT_OBJ_MAX(ch->len));
		ch->obj_len = cdt_object_encode(c, ch->raw, ch->len, ch->obj);
	}
	cdt_compressor_free(c);
}

static struct cdt_store *temp_store(struct strbuf *dir, uint32_t frame_size)
{
	const char *base = getenv("TMPDIR");
	struct cdt_config cfg;
	struct cdt_store *s = NULL;

	strbuf_addf(dir, "%s/cdt-unit-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(dir->buf)) {
		perror("mkdtemp");
		exit(1);
	}
	cdt_config_defaults(&cfg);
	cfg.frame_size = frame_size;
	cfg.deltas = frame_size != 0;
	if (cdt_store_init(dir->buf, &cfg, CDT_SHARE_PRIVATE) < 0 || cdt_store_open(dir->buf, &s) < 0)
		exit(1);
	return s;
}

static size_t count_entries(int dirfd)
{
	struct cdt_dent *ents;
	size_t n;

	if (cdt_list_dir(dirfd, ".", &ents, &n) < 0)
		return (size_t)-1;
	cdt_dents_free(ents, n);
	return n;
}

static void slurp(int dirfd, const char *name, struct strbuf *out)
{
	strbuf_reset(out);
	if (read_small_fileat(dirfd, name, 64u << 20, out) < 0)
		strbuf_reset(out);
}

/* Overwrite one byte of dirfd/name in place. */
static void poke(int dirfd, const char *name, size_t off, unsigned char b)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC);

	CHECK(fd >= 0 && pwrite_all(fd, &b, 1, (off_t)off) == 0);
	if (fd >= 0)
		close(fd);
}

static int count_verified(const struct cdt_pack *p, uint64_t i, const unsigned char *obj, size_t len,
			  void *data)
{
	(*(size_t *)data)++;
	return 0;
}

struct scan_seen {
	size_t n;
	int wrong;
	size_t stop_at;
};

static int scan_check(const struct cdt_pack_object *o, const unsigned char *raw, void *data)
{
	struct scan_seen *seen = data;
	const struct chunk *ch = &chunks[seen->n];

	/* Objects come in the order they were written, with their own bytes. */
	if (!cdt_id_eq(&o->id, &ch->id) || o->raw_len != ch->len || o->len != ch->obj_len ||
	    memcmp(raw, ch->raw, ch->len) || o->crc != cdt_crc32(ch->obj, ch->obj_len))
		seen->wrong++;
	seen->n++;
	return seen->stop_at && seen->n == seen->stop_at ? 7 : 0;
}

/* Write every chunk as one pack; its name goes to name. */
static void write_pack(struct cdt_store *s, char *name)
{
	struct cdt_pack_writer *w;
	size_t i;

	CHECK(cdt_pack_writer_new(s, &w) == 0);
	for (i = 0; i < NCHUNKS; i++)
		CHECK(cdt_pack_writer_add(w, &chunks[i].id, chunks[i].obj, chunks[i].obj_len) == 0);
	CHECK(cdt_pack_writer_count(w) == NCHUNKS);
	CHECK(cdt_pack_writer_commit(w, name) == 0);
	cdt_pack_writer_free(w);
	CHECK(count_entries(cdt_store_dirfd(s, CDT_DIR_TMP)) == 0);
}

/* The files are as the format says: trailers, checksums, the pack's name. */
static void test_layout(int packsfd, const char *name)
{
	struct strbuf pack = STRBUF_INIT, idx = STRBUF_INIT;
	char path[CDT_ID_HEXLEN + 16], hex[CDT_ID_HEXLEN + 1];
	struct cdt_id sum;
	size_t i, total = CDT_PACK_HDR;

	snprintf(path, sizeof(path), "%s.pack", name);
	slurp(packsfd, path, &pack);
	for (i = 0; i < NCHUNKS; i++)
		total += chunks[i].obj_len;
	CHECK(pack.len == total + CDT_PACK_TRAILER);
	if (pack.len != total + CDT_PACK_TRAILER)
		return;
	CHECK(!memcmp(pack.buf, CDT_PACK_MAGIC, 4) && pack.buf[4] == CDT_PACK_VERSION);
	CHECK(get_le64((unsigned char *)pack.buf + total) == NCHUNKS);
	cdt_hash(pack.buf, pack.len - CDT_ID_LEN, &sum);
	CHECK(!memcmp(sum.b, pack.buf + pack.len - CDT_ID_LEN, CDT_ID_LEN));
	CHECK(!strncmp(name, "pack-", 5) && !strcmp(name + 5, cdt_id_to_hex(&sum, hex)));
	CHECK(!memcmp(pack.buf + CDT_PACK_HDR, chunks[0].obj, chunks[0].obj_len));

	snprintf(path, sizeof(path), "%s.idx", name);
	slurp(packsfd, path, &idx);
	CHECK(idx.len == CDT_IDX_HDR + CDT_IDX_FANOUT + NCHUNKS * (CDT_ID_LEN + CDT_IDX_LOC) +
			 2 * CDT_ID_LEN);
	CHECK(!memcmp(idx.buf + idx.len - 2 * CDT_ID_LEN, sum.b, CDT_ID_LEN));
	cdt_hash(idx.buf, idx.len - CDT_ID_LEN, &sum);
	CHECK(!memcmp(sum.b, idx.buf + idx.len - CDT_ID_LEN, CDT_ID_LEN));
	strbuf_release(&pack);
	strbuf_release(&idx);
}

static void test_read(int packsfd, const char *name, uint32_t raw_max)
{
	struct cdt_decompressor *d = cdt_decompressor_new();
	unsigned char *buf = xmalloc(CDT_OBJ_MAX(raw_max)), *out = xmalloc(raw_max);
	struct strbuf why = STRBUF_INIT;
	struct cdt_pack p;
	struct cdt_id absent;
	size_t i, n, verified = 0;

	CHECK(cdt_pack_open(packsfd, name, &p) == 0);
	CHECK(p.count == NCHUNKS && !strcmp(p.name, name));
	for (i = 0; i < NCHUNKS; i++) {
		int64_t k = cdt_pack_find(&p, &chunks[i].id);
		struct cdt_id id;
		uint32_t len, elen;

		CHECK(k >= 0);
		if (k < 0)
			continue;
		cdt_pack_entry(&p, (uint64_t)k, &id, NULL, &elen, NULL);
		CHECK(cdt_id_eq(&id, &chunks[i].id) && elen == chunks[i].obj_len);
		CHECK(cdt_pack_read(&p, packsfd, (uint64_t)k, buf, CDT_OBJ_MAX(raw_max), &n, &why) == 0);
		CHECK(n == chunks[i].obj_len && !memcmp(buf, chunks[i].obj, n));
		CHECK(cdt_object_decode(d, &chunks[i].id, buf, n, chunks[i].len, raw_max, out, &len,
					&why) == 0);
		CHECK(len == chunks[i].len && !memcmp(out, chunks[i].raw, len));
	}
	memset(&absent, 0x5a, sizeof(absent));
	CHECK(cdt_pack_find(&p, &absent) == -1);
	CHECK(cdt_pack_check_index(&p, &why) == 0);
	CHECK(cdt_pack_verify(&p, packsfd, count_verified, &verified, &why) == 0);
	CHECK(verified == NCHUNKS);
	CHECK(!why.len);
	cdt_pack_close(&p);
	cdt_decompressor_free(d);
	free(buf);
	free(out);
	strbuf_release(&why);
}

static void test_scan(int packsfd, const char *name, uint32_t raw_max)
{
	struct scan_seen seen = { 0, 0, 0 };
	struct strbuf why = STRBUF_INIT;

	CHECK(cdt_pack_scan(packsfd, name, raw_max, NULL, scan_check, &seen, &why) == 0);
	CHECK(seen.n == NCHUNKS && !seen.wrong);
	/* A non-zero return stops the scan and is returned. */
	memset(&seen, 0, sizeof(seen));
	seen.stop_at = 3;
	CHECK(cdt_pack_scan(packsfd, name, raw_max, NULL, scan_check, &seen, &why) == 7);
	CHECK(seen.n == 3);
	CHECK(cdt_pack_scan(packsfd, "pack-nothex", raw_max, NULL, NULL, NULL, &why) == -CDT_ECORRUPT);
	strbuf_release(&why);
}

/* A missing or damaged index is written again, byte for byte the one the writer made. */
static void test_reindex(struct cdt_store *s, const char *name)
{
	int packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	struct strbuf orig = STRBUF_INIT, again = STRBUF_INIT, why = STRBUF_INIT;
	char path[CDT_ID_HEXLEN + 16];
	uint64_t count = 0;

	snprintf(path, sizeof(path), "%s.idx", name);
	slurp(packsfd, path, &orig);
	CHECK(orig.len > 0);
	CHECK(unlinkat(packsfd, path, 0) == 0);
	CHECK(cdt_pack_reindex(s, name, NULL, &count, &why) == 0);
	CHECK(count == NCHUNKS);
	slurp(packsfd, path, &again);
	CHECK(again.len == orig.len && !memcmp(again.buf, orig.buf, orig.len));

	/* A damaged one is replaced. */
	poke(packsfd, path, CDT_IDX_HDR + CDT_IDX_FANOUT + 5, (unsigned char)(orig.buf[CDT_IDX_HDR + CDT_IDX_FANOUT + 5] ^ 1));
	CHECK(cdt_pack_reindex(s, name, NULL, NULL, &why) == 0);
	slurp(packsfd, path, &again);
	CHECK(again.len == orig.len && !memcmp(again.buf, orig.buf, orig.len));
	CHECK(count_entries(cdt_store_dirfd(s, CDT_DIR_TMP)) == 0);
	strbuf_release(&orig);
	strbuf_release(&again);
	strbuf_release(&why);
}

/* A pack holds each chunk once: a writer given one twice commits nothing. */
static void test_duplicate(struct cdt_store *s)
{
	int packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	struct cdt_pack_writer *w;
	size_t before = count_entries(packsfd);

	CHECK(cdt_pack_writer_new(s, &w) == 0);
	CHECK(cdt_pack_writer_add(w, &chunks[0].id, chunks[0].obj, chunks[0].obj_len) == 0);
	CHECK(cdt_pack_writer_add(w, &chunks[1].id, chunks[1].obj, chunks[1].obj_len) == 0);
	CHECK(cdt_pack_writer_add(w, &chunks[0].id, chunks[0].obj, chunks[0].obj_len) == 0);
	CHECK(cdt_pack_writer_commit(w, NULL) == -EEXIST);
	cdt_pack_writer_free(w);
	CHECK(count_entries(packsfd) == before);
	CHECK(count_entries(cdt_store_dirfd(s, CDT_DIR_TMP)) == 0);
}

/* Offset in the pack of chunk i's object. */
static size_t object_offset(size_t i)
{
	size_t off = CDT_PACK_HDR, k;

	for (k = 0; k < i; k++)
		off += chunks[k].obj_len;
	return off;
}

/* One flipped byte anywhere in the pack is found by verify and scan; in an object, by a read. */
static void test_corruption(struct cdt_store *s, const char *name, uint32_t raw_max)
{
	int packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	struct strbuf pack = STRBUF_INIT, idx = STRBUF_INIT, why = STRBUF_INIT;
	char path[CDT_ID_HEXLEN + 16], ipath[CDT_ID_HEXLEN + 16];
	unsigned char *buf = xmalloc(CDT_OBJ_MAX(raw_max));
	size_t where[6], i, n;

	snprintf(path, sizeof(path), "%s.pack", name);
	snprintf(ipath, sizeof(ipath), "%s.idx", name);
	slurp(packsfd, path, &pack);
	slurp(packsfd, ipath, &idx);
	where[0] = 2;					/* header */
	where[1] = object_offset(0) + 1;		/* first object's header */
	where[2] = object_offset(7) + CDT_OBJ_HDR + 3;	/* a payload */
	where[3] = object_offset(NCHUNKS - 1) + chunks[NCHUNKS - 1].obj_len - 1;
	where[4] = pack.len - CDT_PACK_TRAILER;		/* the count */
	where[5] = pack.len - 1;			/* the checksum */
	for (i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		struct cdt_pack p;

		poke(packsfd, path, where[i], (unsigned char)(pack.buf[where[i]] ^ 0x10));
		CHECK(cdt_pack_open(packsfd, name, &p) == 0);
		strbuf_reset(&why);
		CHECK(cdt_pack_verify(&p, packsfd, NULL, NULL, &why) == -CDT_ECORRUPT);
		CHECK(why.len > 0);
		if (i == 2) {
			int64_t k = cdt_pack_find(&p, &chunks[7].id);

			strbuf_reset(&why);
			CHECK(k >= 0 && cdt_pack_read(&p, packsfd, (uint64_t)k, buf,
						      CDT_OBJ_MAX(raw_max), &n, &why) == -CDT_ECORRUPT);
			CHECK(strstr(why.buf, "CRC") != NULL);
		}
		cdt_pack_close(&p);
		strbuf_reset(&why);
		CHECK(cdt_pack_scan(packsfd, name, raw_max, NULL, NULL, NULL, &why) == -CDT_ECORRUPT);
		/* A pack that does not check is not indexed again; its index stays. */
		CHECK(cdt_pack_reindex(s, name, NULL, NULL, &why) == -CDT_ECORRUPT);
		poke(packsfd, path, where[i], (unsigned char)pack.buf[where[i]]);
	}
	{
		struct strbuf now = STRBUF_INIT;

		slurp(packsfd, ipath, &now);
		CHECK(now.len == idx.len && !memcmp(now.buf, idx.buf, idx.len));
		strbuf_release(&now);
	}

	/* In the index: a byte of an id breaks its checksum; of its magic, its shape. */
	{
		struct cdt_pack p;
		size_t at = CDT_IDX_HDR + CDT_IDX_FANOUT + CDT_ID_LEN + 9;

		poke(packsfd, ipath, at, (unsigned char)(idx.buf[at] ^ 1));
		CHECK(cdt_pack_open(packsfd, name, &p) == 0);
		strbuf_reset(&why);
		CHECK(cdt_pack_check_index(&p, &why) == -CDT_ECORRUPT);
		strbuf_reset(&why);
		CHECK(cdt_pack_verify(&p, packsfd, NULL, NULL, &why) == -CDT_ECORRUPT);
		cdt_pack_close(&p);
		poke(packsfd, ipath, at, (unsigned char)idx.buf[at]);
		poke(packsfd, ipath, 0, 'X');
		CHECK(cdt_pack_open(packsfd, name, &p) == -CDT_ECORRUPT);
		poke(packsfd, ipath, 0, (unsigned char)idx.buf[0]);
		CHECK(cdt_pack_open(packsfd, name, &p) == 0);
		strbuf_reset(&why);
		CHECK(cdt_pack_verify(&p, packsfd, NULL, NULL, &why) == 0);
		cdt_pack_close(&p);
	}
	free(buf);
	strbuf_release(&pack);
	strbuf_release(&idx);
	strbuf_release(&why);
}

struct frame_seen {
	size_t n, in_frame;
	int wrong;
};

static int frame_scan_check(const struct cdt_pack_object *o, const unsigned char *raw, void *data)
{
	struct frame_seen *seen = data;
	const struct chunk *ch = &chunks[seen->n];

	/* Chunks come in the order they were added, each with its own bytes. */
	if (!cdt_id_eq(&o->id, &ch->id) || o->raw_len != ch->len || memcmp(raw, ch->raw, ch->len))
		seen->wrong++;
	seen->in_frame += o->in_frame;
	seen->n++;
	return 0;
}

/*
 * A store with frames: chunks added through the writer are gathered into
 * frames, read back through a chunk reader, verified, scanned and indexed
 * again; a damaged frame fails every check of its chunks.
 */
static void test_frames(void)
{
	struct strbuf dir = STRBUF_INIT, orig = STRBUF_INIT, again = STRBUF_INIT, why = STRBUF_INIT;
	struct cdt_store *s = temp_store(&dir, 16384);
	int packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	struct cdt_compressor *c = cdt_store_compressor_new(s);
	struct cdt_chunk_reader *r = cdt_chunk_reader_new(s);
	unsigned char *out = xmalloc(cdt_store_chunker(s)->max_size);
	struct cdt_pack_writer *w;
	struct frame_seen seen = { 0, 0, 0 };
	char name[CDT_ID_HEXLEN + 6], path[CDT_ID_HEXLEN + 16];
	struct cdt_pack p;
	uint64_t count = 0, off;
	uint32_t len, roff, rlen;
	size_t i, frames = 0;
	int64_t k;

	CHECK(cdt_pack_writer_new(s, &w) == 0);
	CHECK(cdt_pack_writer_frames(w));
	for (i = 0; i < NCHUNKS; i++)
		CHECK(cdt_pack_writer_add_chunk(w, c, &chunks[i].id, chunks[i].raw, chunks[i].len) == 0);
	CHECK(cdt_pack_writer_commit(w, name) == 0);
	cdt_pack_writer_free(w);
	CHECK(cdt_pack_open(packsfd, name, &p) == 0);
	CHECK(p.version == CDT_PACK_VERSION_FRAMES && p.count == NCHUNKS);
	/* Several chunks a frame: the entries of one share its object. */
	for (i = 0; i < NCHUNKS; i++) {
		k = cdt_pack_find(&p, &chunks[i].id);
		CHECK(k >= 0);
		cdt_pack_entry(&p, (uint64_t)k, NULL, &off, NULL, NULL);
		cdt_pack_entry_part(&p, (uint64_t)k, &roff, &rlen);
		CHECK(rlen == chunks[i].len);
		frames += roff == 0;
		CHECK(cdt_chunk_read(r, &chunks[i].id, chunks[i].len, out, &len, &why) == 0);
		CHECK(len == chunks[i].len && !memcmp(out, chunks[i].raw, len));
	}
	CHECK(frames > 1 && frames < NCHUNKS);
	CHECK(cdt_pack_verify(&p, packsfd, NULL, NULL, &why) == 0);
	CHECK(cdt_pack_scan(packsfd, name, cdt_store_chunker(s)->max_size, NULL, frame_scan_check, &seen,
			    &why) == 0);
	CHECK(seen.n == NCHUNKS && !seen.wrong && seen.in_frame == NCHUNKS);
	/* Indexed again from the frames: the same index, byte for byte. */
	snprintf(path, sizeof(path), "%s.idx", name);
	slurp(packsfd, path, &orig);
	CHECK(unlinkat(packsfd, path, 0) == 0);
	CHECK(cdt_pack_reindex(s, name, NULL, &count, &why) == 0 && count == NCHUNKS);
	slurp(packsfd, path, &again);
	CHECK(again.len == orig.len && !memcmp(again.buf, orig.buf, orig.len));
	/* A flipped byte in the first frame's payload: its chunks fail, loudly. */
	snprintf(path, sizeof(path), "%s.pack", name);
	k = cdt_pack_find(&p, &chunks[0].id);
	cdt_pack_entry(&p, (uint64_t)k, NULL, &off, &len, NULL);
	off += len / 2 + CDT_FRAME_HDR / 2;
	slurp(packsfd, path, &again);
	poke(packsfd, path, (size_t)off, (unsigned char)(again.buf[off] ^ 0x40));
	cdt_pack_close(&p);
	cdt_store_close(s);
	CHECK(cdt_store_open(dir.buf, &s) == 0);
	cdt_chunk_reader_free(r);
	r = cdt_chunk_reader_new(s);
	strbuf_reset(&why);
	CHECK(cdt_chunk_read(r, &chunks[0].id, chunks[0].len, out, &len, &why) == -CDT_ECORRUPT);
	CHECK(why.len > 0);
	CHECK(cdt_pack_open(cdt_store_dirfd(s, CDT_DIR_PACKS), name, &p) == 0);
	CHECK(cdt_pack_verify(&p, cdt_store_dirfd(s, CDT_DIR_PACKS), NULL, NULL, &why) ==
	      -CDT_ECORRUPT);
	cdt_pack_close(&p);

	free(out);
	cdt_chunk_reader_free(r);
	cdt_compressor_free(c);
	cdt_store_close(s);
	CHECK(remove_tree_at(AT_FDCWD, dir.buf, 0) == 0);
	strbuf_release(&dir);
	strbuf_release(&orig);
	strbuf_release(&again);
	strbuf_release(&why);
}

int main(void)
{
	struct strbuf dir = STRBUF_INIT;
	struct cdt_store *s;
	char name[CDT_ID_HEXLEN + 6];
	uint32_t raw_max;
	size_t i;

	make_chunks();
	s = temp_store(&dir, 0);
	raw_max = cdt_store_chunker(s)->max_size;
	CHECK(raw_max >= CHUNK_MAX);
	write_pack(s, name);
	test_layout(cdt_store_dirfd(s, CDT_DIR_PACKS), name);
	test_read(cdt_store_dirfd(s, CDT_DIR_PACKS), name, raw_max);
	test_scan(cdt_store_dirfd(s, CDT_DIR_PACKS), name, raw_max);
	test_reindex(s, name);
	test_duplicate(s);
	test_corruption(s, name, raw_max);
	test_frames();

	cdt_store_close(s);
	CHECK(remove_tree_at(AT_FDCWD, dir.buf, 0) == 0);
	strbuf_release(&dir);
	for (i = 0; i < NCHUNKS; i++) {
		free(chunks[i].raw);
		free(chunks[i].obj);
	}
	UNIT_DONE();
}
