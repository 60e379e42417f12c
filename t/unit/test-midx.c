/* test-midx.c: a multi-pack index written over packs finds every id in its first pack, and shows damage. */
#include "base/fsutil.h"
#include "base/hash.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "format/config.h"
#include "format/midx.h"
#include "format/object.h"
#include "format/pack.h"
#include "format/store.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NPACKS 3
#define PER_PACK 300
/* The last SHARED chunks of each pack are also the first of the next. */
#define SHARED 20

static struct cdt_store *temp_store(struct strbuf *dir)
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
	if (cdt_store_init(dir->buf, &cfg, CDT_SHARE_PRIVATE) < 0 || cdt_store_open(dir->buf, &s) < 0)
		exit(1);
	return s;
}

static void slurp(int dirfd, const char *name, struct strbuf *out)
{
	strbuf_reset(out);
	if (read_small_fileat(dirfd, name, 64u << 20, out) < 0)
		strbuf_reset(out);
}

static void poke(int dirfd, const char *name, size_t off, unsigned char b)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC);

	CHECK(fd >= 0 && pwrite_all(fd, &b, 1, (off_t)off) == 0);
	if (fd >= 0)
		close(fd);
}

/* Chunk number k (small raw objects: the midx only cares about ids). */
static void chunk(size_t k, struct cdt_id *id, unsigned char *obj, size_t *obj_len)
{
	char raw[32];
	int n = snprintf(raw, sizeof(raw), "chunk %zu", k);

	cdt_hash(raw, (size_t)n, id);
	*obj_len = cdt_object_encode(NULL, raw, (uint32_t)n, obj);
}

/* Pack i holds chunks i*(PER_PACK-SHARED) .. that + PER_PACK - 1. */
static void write_packs(struct cdt_store *s, struct cdt_pack *packs)
{
	int packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	size_t i, k;

	for (i = 0; i < NPACKS; i++) {
		struct cdt_pack_writer *w;
		char name[CDT_ID_HEXLEN + 6];

		CHECK(cdt_pack_writer_new(s, &w) == 0);
		for (k = 0; k < PER_PACK; k++) {
			unsigned char obj[CDT_OBJ_MAX(32)];
			struct cdt_id id;
			size_t len;

			chunk(i * (PER_PACK - SHARED) + k, &id, obj, &len);
			CHECK(cdt_pack_writer_add(w, &id, obj, len) == 0);
		}
		CHECK(cdt_pack_writer_commit(w, name) == 0);
		cdt_pack_writer_free(w);
		CHECK(cdt_pack_open(packsfd, name, &packs[i]) == 0);
	}
}

/* The first pack that holds chunk k. */
static uint32_t first_pack(size_t k)
{
	uint32_t i;

	for (i = 0; i < NPACKS; i++)
		if (k >= i * (PER_PACK - SHARED) && k < i * (PER_PACK - SHARED) + PER_PACK)
			break;
	return i;
}

static void test_find(int packsfd, struct cdt_pack *packs)
{
	struct cdt_midx m;
	struct cdt_id id, absent;
	size_t total = NPACKS * (PER_PACK - SHARED) + SHARED, k;
	uint32_t i, pk, entry;

	CHECK(cdt_midx_open(packsfd, &m) == 0);
	CHECK(cdt_midx_check(&m) == 0);
	CHECK(m.npacks == NPACKS && m.count == total);
	for (i = 0; i < NPACKS; i++) {
		char name[CDT_ID_HEXLEN + 6];

		CHECK(!strcmp(cdt_midx_pack_name(&m, i, name), packs[i].name));
	}
	for (k = 0; k < total; k++) {
		unsigned char obj[CDT_OBJ_MAX(32)];
		size_t len;
		struct cdt_id got;

		chunk(k, &id, obj, &len);
		CHECK(cdt_midx_find(&m, &id, &pk, &entry) == 1);
		if (pk >= NPACKS)
			continue;
		/* Each id in the first pack that has it, at its entry there. */
		CHECK(pk == first_pack(k));
		CHECK(entry < packs[pk].count);
		cdt_pack_entry(&packs[pk], entry, &got, NULL, NULL, NULL);
		CHECK(cdt_id_eq(&got, &id));
	}
	memset(&absent, 0xee, sizeof(absent));
	CHECK(cdt_midx_find(&m, &absent, &pk, &entry) == 0);
	cdt_midx_close(&m);
}

/* A flipped byte in the body leaves the shape alone and fails the checksum. */
static void test_damage(int packsfd)
{
	struct strbuf orig = STRBUF_INIT;
	size_t body[3], i;
	struct cdt_midx m;

	slurp(packsfd, CDT_MIDX_NAME, &orig);
	CHECK(orig.len > 24 + NPACKS * CDT_ID_LEN + 1024 + CDT_ID_LEN);
	body[0] = 24 + 5;				/* a pack checksum */
	body[1] = orig.len - CDT_ID_LEN - 8 * 10 - 2;	/* a location */
	body[2] = orig.len - 1;				/* the checksum */
	for (i = 0; i < 3; i++) {
		poke(packsfd, CDT_MIDX_NAME, body[i], (unsigned char)(orig.buf[body[i]] ^ 0x40));
		CHECK(cdt_midx_open(packsfd, &m) == 0);
		CHECK(cdt_midx_check(&m) == -CDT_ECORRUPT);
		cdt_midx_close(&m);
		poke(packsfd, CDT_MIDX_NAME, body[i], (unsigned char)orig.buf[body[i]]);
	}
	/* Its magic, or its count: not a multi-pack index at all. */
	poke(packsfd, CDT_MIDX_NAME, 1, 'x');
	CHECK(cdt_midx_open(packsfd, &m) == -CDT_ECORRUPT);
	poke(packsfd, CDT_MIDX_NAME, 1, (unsigned char)orig.buf[1]);
	poke(packsfd, CDT_MIDX_NAME, 16, (unsigned char)(orig.buf[16] + 1));
	CHECK(cdt_midx_open(packsfd, &m) == -CDT_ECORRUPT);
	poke(packsfd, CDT_MIDX_NAME, 16, (unsigned char)orig.buf[16]);
	CHECK(cdt_midx_open(packsfd, &m) == 0);
	CHECK(cdt_midx_check(&m) == 0);
	cdt_midx_close(&m);
	strbuf_release(&orig);
}

int main(void)
{
	struct strbuf dir = STRBUF_INIT, first = STRBUF_INIT, again = STRBUF_INIT;
	struct cdt_pack packs[NPACKS];
	struct cdt_pack *list[NPACKS];
	struct cdt_store *s;
	int packsfd;
	size_t i;

	s = temp_store(&dir);
	packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	write_packs(s, packs);
	for (i = 0; i < NPACKS; i++)
		list[i] = &packs[i];
	CHECK(cdt_midx_write(s, list, NPACKS) == 0);
	test_find(packsfd, packs);
	/* Written again over the same packs: the same bytes, in place of the old. */
	slurp(packsfd, CDT_MIDX_NAME, &first);
	CHECK(cdt_midx_write(s, list, NPACKS) == 0);
	slurp(packsfd, CDT_MIDX_NAME, &again);
	CHECK(first.len && first.len == again.len && !memcmp(first.buf, again.buf, first.len));
	CHECK(!memcmp(first.buf, CDT_MIDX_MAGIC, 4));
	test_damage(packsfd);
	{
		struct cdt_dent *ents;
		size_t n;

		CHECK(cdt_list_dir(cdt_store_dirfd(s, CDT_DIR_TMP), ".", &ents, &n) == 0 && n == 0);
		cdt_dents_free(ents, n);
	}
	/* No midx of no packs: its file is still well formed. */
	CHECK(cdt_midx_write(s, list, 0) == 0);
	{
		struct cdt_midx m;

		CHECK(cdt_midx_open(packsfd, &m) == 0 && m.count == 0 && cdt_midx_check(&m) == 0);
		cdt_midx_close(&m);
	}

	for (i = 0; i < NPACKS; i++)
		cdt_pack_close(&packs[i]);
	cdt_store_close(s);
	CHECK(remove_tree_at(AT_FDCWD, dir.buf, 0) == 0);
	strbuf_release(&dir);
	strbuf_release(&first);
	strbuf_release(&again);
	UNIT_DONE();
}
