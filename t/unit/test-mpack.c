/* test-mpack.c: manifest packs written, found, and every damage to their shape refused. */
#include "base/hash.h"
#include "base/util.h"
#include "format/manifest.h"
#include "format/mpack.h"
#include "unit.h"
#include "unit-store.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N 300

static uint64_t rs = 0x6d7061636bull;

static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

/* A manifest-shaped byte string of k records (its contents random: packs do not read them). */
static unsigned char *fake_manifest(uint64_t k, size_t *len)
{
	unsigned char *b;
	size_t i;

	*len = CDT_MANIFEST_HDR + k * CDT_MANIFEST_REC + CDT_MANIFEST_TRAILER;
	b = xmalloc(*len);
	for (i = 0; i < *len; i++)
		b[i] = (unsigned char)rnd();
	return b;
}

static unsigned char *slurp(int dirfd, const char *name, size_t *len)
{
	struct stat st;
	unsigned char *b;
	int fd = openat(dirfd, name, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0)
		die("cannot read '%s'", name);
	*len = (size_t)st.st_size;
	b = xmalloc(*len);
	if (pread(fd, b, *len, 0) != (ssize_t)*len)
		die("cannot read '%s'", name);
	close(fd);
	return b;
}

static void spill(int dirfd, const char *name, const unsigned char *b, size_t len)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, b, len) != (ssize_t)len)
		die("cannot write '%s'", name);
	close(fd);
}

/* The pack `good`, damaged by f, must not open (with a reason). */
static void refused(int dirfd, const unsigned char *good, size_t len,
		    void (*f)(unsigned char *b, size_t *len))
{
	unsigned char *b = xmalloc(len + 64);
	struct cdt_mpack mp;
	struct strbuf why = STRBUF_INIT;
	size_t n = len;

	memcpy(b, good, len);
	f(b, &n);
	spill(dirfd, "bad.mpack", b, n);
	CHECK(cdt_mpack_open(dirfd, "bad.mpack", &mp, &why) == -CDT_ECORRUPT);
	CHECK(why.len > 0);
	strbuf_release(&why);
	free(b);
}

static void bad_magic(unsigned char *b, size_t *len) { (void)len; b[0] = 'X'; }
static void bad_version(unsigned char *b, size_t *len) { (void)len; b[4] = 2; }
static void bad_count(unsigned char *b, size_t *len) { (void)len; b[8] ^= 1; }
static void bad_table_off(unsigned char *b, size_t *len) { b[*len - CDT_MPACK_TRAILER] ^= 0x30; }
static void truncated(unsigned char *b, size_t *len) { (void)b; *len -= 1; }
static void swapped(unsigned char *b, size_t *len)
{
	uint64_t toff = get_le64(b + *len - CDT_MPACK_TRAILER);
	unsigned char tmp[CDT_MPACK_REC];

	memcpy(tmp, b + toff, CDT_MPACK_REC);
	memcpy(b + toff, b + toff + CDT_MPACK_REC, CDT_MPACK_REC);
	memcpy(b + toff + CDT_MPACK_REC, tmp, CDT_MPACK_REC);
}
static void entry_past_table(unsigned char *b, size_t *len)
{
	uint64_t toff = get_le64(b + *len - CDT_MPACK_TRAILER);

	put_le64(b + toff + CDT_ID_LEN, toff - 10);
}
static void entry_odd_length(unsigned char *b, size_t *len)
{
	uint64_t toff = get_le64(b + *len - CDT_MPACK_TRAILER);

	put_le64(b + toff + CDT_ID_LEN + 8, get_le64(b + toff + CDT_ID_LEN + 8) + 1);
}

int main(void)
{
	char *dir = unit_tmpdir("mpack");
	struct cdt_mpack_item items[N];
	unsigned char *bytes[N];
	struct cdt_mpack mp;
	struct strbuf why = STRBUF_INIT;
	char name[CDT_MPACK_NAME_MAX], name2[CDT_MPACK_NAME_MAX];
	unsigned char *good;
	size_t i, len;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);

	for (i = 0; i < N; i++) {
		bytes[i] = fake_manifest(rnd() % 5, &items[i].len);
		items[i].bytes = bytes[i];
		cdt_hash(&i, sizeof(i), &items[i].id);
	}
	CHECK(cdt_mpack_write(dfd, dfd, items, N, 1, name) == 0);
	CHECK(!strncmp(name, "pack-", 5) && strlen(name) == 5 + CDT_ID_HEXLEN + 6);
	/* Written again: the same name, and it is there once. */
	CHECK(cdt_mpack_write(dfd, dfd, items, N, 0, name2) == 0);
	CHECK(!strcmp(name, name2));

	CHECK(cdt_mpack_open(dfd, name, &mp, &why) == 0);
	CHECK(mp.count == N);
	CHECK(cdt_mpack_verify(&mp, name, &why) == 0);
	CHECK(cdt_mpack_verify(&mp, "pack-0.mpack", &why) == -CDT_ECORRUPT);
	for (i = 0; i < N; i++) {
		struct cdt_id id;
		uint64_t off, mlen;

		cdt_hash(&i, sizeof(i), &id);
		CHECK(cdt_mpack_find(&mp, &id, &off, &mlen) == 1);
		/* Each manifest byte for byte (items[] was sorted by the write). */
		CHECK(mlen <= mp.len && off <= mp.len - mlen);
		{
			size_t k;

			for (k = 0; k < N; k++)
				if (!memcmp(items[k].id.b, id.b, CDT_ID_LEN))
					break;
			CHECK(k < N && items[k].len == mlen && !memcmp(mp.map + off, items[k].bytes, mlen));
		}
		id.b[31] ^= 1;
		CHECK(cdt_mpack_find(&mp, &id, NULL, NULL) == 0);
	}
	cdt_mpack_close(&mp);

	/* A pack that is damaged in its whole checksum opens, and fsck's check says so. */
	good = slurp(dfd, name, &len);
	good[CDT_MPACK_HDR + 3] ^= 1;
	spill(dfd, "body.mpack", good, len);
	CHECK(cdt_mpack_open(dfd, "body.mpack", &mp, &why) == 0);
	CHECK(cdt_mpack_verify(&mp, name, &why) == -CDT_ECORRUPT);
	cdt_mpack_close(&mp);
	good[CDT_MPACK_HDR + 3] ^= 1;

	refused(dfd, good, len, bad_magic);
	refused(dfd, good, len, bad_version);
	refused(dfd, good, len, bad_count);
	refused(dfd, good, len, bad_table_off);
	refused(dfd, good, len, truncated);
	refused(dfd, good, len, swapped);
	refused(dfd, good, len, entry_past_table);
	refused(dfd, good, len, entry_odd_length);
	CHECK(cdt_mpack_open(dfd, "missing.mpack", &mp, &why) == -ENOENT);

	/* Two items with one id, and a length no manifest has, are refused before writing. */
	items[1].id = items[0].id;
	CHECK(cdt_mpack_write(dfd, dfd, items, N, 0, name2) == -EINVAL);
	cdt_hash("x", 1, &items[1].id);
	items[2].len = 7;
	CHECK(cdt_mpack_write(dfd, dfd, items, N, 0, name2) == -EINVAL);
	/* An empty pack is a pack. */
	CHECK(cdt_mpack_write(dfd, dfd, items, 0, 0, name2) == 0);
	CHECK(cdt_mpack_open(dfd, name2, &mp, &why) == 0 && mp.count == 0);
	cdt_mpack_close(&mp);

	for (i = 0; i < N; i++)
		free(bytes[i]);
	free(good);
	strbuf_release(&why);
	close(dfd);
	unit_tmpdir_remove(dir);
	UNIT_DONE();
}
