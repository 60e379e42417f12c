/* test-manifest.c: manifests written, read back in every way, and every damage refused. */
#include "base/hash.h"
#include "format/manifest.h"
#include "base/util.h"
#include "unit.h"
#include "unit-store.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t rs = 0x5eed;

static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

static void random_id(struct cdt_id *id)
{
	size_t i;

	for (i = 0; i < CDT_ID_LEN; i++)
		id->b[i] = (unsigned char)rnd();
}

/* What a manifest should hold: n chunks, their ids and lengths. */
struct list {
	struct cdt_id file;
	struct cdt_id *ids;
	uint32_t *lens;
	uint64_t *offs;
	uint64_t n, size;
};

/* A list of n chunks of random ids and lengths between 1 and max, both ends included. */
static void make_list(struct list *l, uint64_t n, uint32_t max)
{
	uint64_t i;

	random_id(&l->file);
	l->n = n;
	l->size = 0;
	l->ids = xcalloc(n + 1, sizeof(*l->ids));
	l->lens = xcalloc(n + 1, sizeof(*l->lens));
	l->offs = xcalloc(n + 1, sizeof(*l->offs));
	for (i = 0; i < n; i++) {
		random_id(&l->ids[i]);
		l->lens[i] = i == 0 ? 1 : i == 1 ? max : 1 + (uint32_t)(rnd() % max);
		l->offs[i] = l->size;
		l->size += l->lens[i];
	}
}

static void free_list(struct list *l)
{
	free(l->ids);
	free(l->lens);
	free(l->offs);
}

/* Write and commit the manifest of l; returns what commit returned. */
static int write_list(struct cdt_store *s, const struct list *l, struct cdt_id *checksum)
{
	struct cdt_manifest_writer *w;
	uint64_t i;
	int ret;

	if (cdt_manifest_writer_new(s, &w) < 0)
		die("cannot start a manifest");
	CHECK(cdt_manifest_writer_checksum(w) == NULL);
	for (i = 0; i < l->n; i++)
		CHECK(cdt_manifest_writer_add(w, &l->ids[i], l->lens[i]) == 0);
	CHECK(cdt_manifest_writer_count(w) == l->n);
	/* The ids of a small manifest are kept, in order; a large one's are not. */
	if (l->n && l->n <= 1024) {
		const struct cdt_id *ids = cdt_manifest_writer_ids(w);

		CHECK(ids != NULL);
		for (i = 0; ids && i < l->n; i++)
			CHECK(cdt_id_eq(&ids[i], &l->ids[i]));
	} else if (l->n > 1024) {
		CHECK(cdt_manifest_writer_ids(w) == NULL);
	}
	CHECK(cdt_manifest_writer_finish(w, &l->file) == 0);
	CHECK(cdt_manifest_writer_checksum(w) != NULL);
	if (checksum && cdt_manifest_writer_checksum(w))
		*checksum = *cdt_manifest_writer_checksum(w);
	/* A small one is still in memory: committed before it is written out, it is refused. */
	if (!*cdt_manifest_writer_tmpname(w))
		CHECK(cdt_manifest_writer_commit(w, 0) == -EINVAL);
	CHECK(!*cdt_manifest_writer_tmpname(w) == (l->n <= 50));
	CHECK(cdt_manifest_writer_write_out(w) == 0);
	CHECK(cdt_manifest_writer_write_out(w) == 0);	/* written once */
	ret = cdt_manifest_writer_commit(w, 0);
	cdt_manifest_writer_free(w);
	return ret;
}

static int entry_is(const struct cdt_manifest_entry *e, const struct list *l, uint64_t i)
{
	return cdt_id_eq(&e->id, &l->ids[i]) && e->offset == l->offs[i] && e->len == l->lens[i];
}

/* Many entries, past every buffer and read window, read back sequentially, at random, by offset. */
static void test_roundtrip(struct cdt_store *s)
{
	uint32_t max = cdt_store_chunker(s)->max_size;
	struct strbuf why = STRBUF_INIT;
	struct cdt_manifest *m;
	struct cdt_manifest_entry e;
	struct cdt_id sum, other;
	struct list l;
	uint64_t i, k, count, size;
	int ok;

	make_list(&l, 5000, max);
	CHECK(cdt_manifest_exists(s, &l.file) == 0);
	CHECK(write_list(s, &l, &sum) == 0);
	CHECK(cdt_manifest_exists(s, &l.file) == 1);
	/* The same manifest again is "already there", not an error. */
	CHECK(write_list(s, &l, NULL) == 1);

	CHECK(cdt_manifest_open(s, &l.file, &m, &why) == 0);
	if (!m)
		return;
	CHECK(cdt_manifest_count(m) == l.n && cdt_manifest_size(m) == l.size);
	CHECK(cdt_id_eq(cdt_manifest_checksum(m), &sum));
	for (ok = 1, i = 0; i < l.n; i++)
		ok &= cdt_manifest_get(m, i, &e) == 0 && entry_is(&e, &l, i);
	CHECK(ok);
	/* Backwards and at random: every window reload gives the same entries. */
	for (ok = 1, i = l.n; i-- > 0;)
		ok &= cdt_manifest_get(m, i, &e) == 0 && entry_is(&e, &l, i);
	CHECK(ok);
	for (ok = 1, k = 0; k < 3000; k++) {
		i = rnd() % l.n;
		ok &= cdt_manifest_get(m, i, &e) == 0 && entry_is(&e, &l, i);
		i = rnd() % l.n;
		ok &= cdt_manifest_pget(m, i, &e) == 0 && entry_is(&e, &l, i);
	}
	CHECK(ok);
	CHECK(cdt_manifest_get(m, l.n, &e) == -EINVAL);
	CHECK(cdt_manifest_pget(m, l.n, &e) == -EINVAL);

	/* find: the first and last byte of every chunk, and bytes in between. */
	for (ok = 1, i = 0; i < l.n; i++) {
		uint64_t at = 0, mid = l.offs[i] + rnd() % l.lens[i];

		ok &= cdt_manifest_find(m, l.offs[i], &at) == 0 && at == i;
		ok &= cdt_manifest_find(m, l.offs[i] + l.lens[i] - 1, &at) == 0 && at == i;
		ok &= cdt_manifest_find(m, mid, &at) == 0 && at == i;
	}
	CHECK(ok);
	CHECK(cdt_manifest_find(m, l.size, &k) == -EINVAL);
	cdt_manifest_close(m);

	CHECK(cdt_manifest_peek(s, &l.file, &count, &size) == 0);
	CHECK(count == l.n && size == l.size);
	random_id(&other);
	CHECK(cdt_manifest_peek(s, &other, &count, &size) == -ENOENT);
	CHECK(cdt_manifest_open(s, &other, &m, &why) == -ENOENT && !m);
	free_list(&l);
	strbuf_release(&why);
}

/* The empty file has a manifest of no chunks. */
static void test_empty(struct cdt_store *s)
{
	struct strbuf why = STRBUF_INIT;
	struct cdt_manifest *m;
	struct cdt_manifest_entry e;
	struct list l;
	uint64_t k;

	make_list(&l, 0, 1);
	CHECK(write_list(s, &l, NULL) == 0);
	CHECK(cdt_manifest_open(s, &l.file, &m, &why) == 0);
	if (m) {
		CHECK(cdt_manifest_count(m) == 0 && cdt_manifest_size(m) == 0);
		CHECK(cdt_manifest_get(m, 0, &e) == -EINVAL);
		CHECK(cdt_manifest_find(m, 0, &k) == -EINVAL);
		cdt_manifest_close(m);
	}
	free_list(&l);
	strbuf_release(&why);
}

/* A writer freed before commit leaves nothing, not even its temporary file. */
static void test_abandoned(struct cdt_store *s)
{
	struct cdt_manifest_writer *w;
	struct cdt_id id, file;
	struct stat st;
	char *tmp;

	random_id(&id);
	random_id(&file);
	CHECK(cdt_manifest_writer_new(s, &w) == 0);
	if (!w)
		return;
	CHECK(cdt_manifest_writer_add(w, &id, 100) == 0);
	/* A small manifest has no temporary file until it is written out. */
	CHECK(!strcmp(cdt_manifest_writer_tmpname(w), ""));
	CHECK(cdt_manifest_writer_commit(w, 0) == -EINVAL);	/* not finished */
	CHECK(cdt_manifest_writer_write_out(w) == -EINVAL);
	CHECK(cdt_manifest_writer_finish(w, &file) == 0);
	CHECK(!strcmp(cdt_manifest_writer_tmpname(w), ""));
	CHECK(cdt_manifest_writer_write_out(w) == 0);
	tmp = xstrdup(cdt_manifest_writer_tmpname(w));
	CHECK(*tmp != 0);
	CHECK(fstatat(cdt_store_dirfd(s, CDT_DIR_TMP), tmp, &st, 0) == 0);
	cdt_manifest_writer_free(w);
	CHECK(fstatat(cdt_store_dirfd(s, CDT_DIR_TMP), tmp, &st, 0) < 0 && errno == ENOENT);
	CHECK(cdt_manifest_exists(s, &file) == 0);
	free(tmp);
}

/* Recompute the trailing checksum, so that only the change made is wrong. */
static void reseal(struct strbuf *sb)
{
	struct cdt_id sum;

	cdt_hash(sb->buf, sb->len - CDT_ID_LEN, &sum);
	memcpy(sb->buf + sb->len - CDT_ID_LEN, sum.b, CDT_ID_LEN);
}

/* Put bytes where the manifest of `id` lives (making its fan-out directory). */
static void put_manifest(struct cdt_store *s, const struct cdt_id *id, const void *buf,
			 size_t len)
{
	int mfd = cdt_store_dirfd(s, CDT_DIR_MANIFESTS);
	char path[CDT_ID_HEXLEN + 2];

	cdt_id_path(id, path);
	path[2] = '\0';
	if (mkdirat(mfd, path, 0777) < 0 && errno != EEXIST)
		die("cannot make 'manifests/%s': %s", path, cdt_strerror(errno));
	path[2] = '/';
	unit_write_file(mfd, path, buf, len);
}

/* Open the manifest of id: is it refused as damaged, for the reason `reason`? */
static int refused(struct cdt_store *s, const struct cdt_id *id, const char *reason)
{
	struct strbuf why = STRBUF_INIT;
	struct cdt_manifest *m = NULL;
	int ret = cdt_manifest_open(s, id, &m, &why), ok;

	ok = ret == -CDT_ECORRUPT && !m && (!reason || strstr(why.buf, reason));
	if (!ok)
		fprintf(stderr, "expected '%s', got %d: %s\n", reason ? reason : "damage", ret,
			why.buf);
	cdt_manifest_close(m);
	strbuf_release(&why);
	return ok;
}

/* Each damage the reader documents, alone (the checksum made right around it). */
static void test_damage(struct cdt_store *s)
{
	uint32_t max = cdt_store_chunker(s)->max_size;
	int mfd = cdt_store_dirfd(s, CDT_DIR_MANIFESTS);
	struct strbuf good = STRBUF_INIT, bad = STRBUF_INIT;
	char path[CDT_ID_HEXLEN + 2];
	unsigned char *trailer;
	uint64_t count, size, i;
	struct cdt_id other;
	struct list l;
	int ok;

	make_list(&l, 3, max);
	CHECK(write_list(s, &l, NULL) == 0);
	cdt_id_path(&l.file, path);
	if (unit_read_file(mfd, path, &good) < 0)
		die("cannot read back manifest %s", path);
	CHECK(good.len == CDT_MANIFEST_HDR + 3 * CDT_MANIFEST_REC + CDT_MANIFEST_TRAILER);
#define DAMAGE(edit, reason) \
	do { \
		strbuf_reset(&bad); \
		strbuf_add(&bad, good.buf, good.len); \
		trailer = (unsigned char *)bad.buf + bad.len - CDT_MANIFEST_TRAILER; \
		(void)trailer; \
		edit; \
		put_manifest(s, &l.file, bad.buf, bad.len); \
		CHECK(refused(s, &l.file, reason)); \
	} while (0)

	/* The body: a flipped bit in an id, the header, the version. */
	DAMAGE(bad.buf[CDT_MANIFEST_HDR + 5] ^= 1, "checksum does not match");
	DAMAGE((bad.buf[0] = 'X', reseal(&bad)), "bad header");
	DAMAGE((bad.buf[6] = 1, reseal(&bad)), "bad header");
	DAMAGE((bad.buf[4] = CDT_MANIFEST_VERSION + 1, reseal(&bad)), "unknown version");
	/* Chunk lengths: zero, going backwards, past the store's maximum. */
	DAMAGE((put_le64((unsigned char *)bad.buf + CDT_MANIFEST_HDR + CDT_MANIFEST_REC +
			 CDT_ID_LEN, l.lens[0]), reseal(&bad)), "entry 1 has a bad length");
	DAMAGE((put_le64((unsigned char *)bad.buf + CDT_MANIFEST_HDR + CDT_ID_LEN, 0),
		reseal(&bad)), "entry 0 has a bad length");
	DAMAGE((put_le64((unsigned char *)bad.buf + CDT_MANIFEST_HDR + 2 * CDT_MANIFEST_REC +
			 CDT_ID_LEN, l.offs[2] + max + 1), reseal(&bad)), "entry 2 has a bad length");
	/* The trailer: size, count, file id. */
	DAMAGE((put_le64(trailer + 8, l.size + 1), reseal(&bad)), "add up to");
	DAMAGE((put_le64(trailer, 4), reseal(&bad)), "count does not match");
	DAMAGE((trailer[16] ^= 1, reseal(&bad)), "another file id");
	/* Lengths no manifest can have. */
	DAMAGE(strbuf_setlen(&bad, good.len - 1), "impossible length");
	DAMAGE(strbuf_add(&bad, "x", 1), "impossible length");
	DAMAGE(strbuf_setlen(&bad, CDT_MANIFEST_HDR + CDT_MANIFEST_TRAILER - 1), "impossible length");
	/* Cut by whole records, the trailer moved up with them: the count says so. */
	DAMAGE((memmove(bad.buf + CDT_MANIFEST_HDR + 2 * CDT_MANIFEST_REC, trailer,
			CDT_MANIFEST_TRAILER), strbuf_setlen(&bad, good.len - CDT_MANIFEST_REC)),
	       "count does not match");
	/* No chunks for a file of some bytes. */
	DAMAGE((memmove(bad.buf + CDT_MANIFEST_HDR, trailer, CDT_MANIFEST_TRAILER),
		strbuf_setlen(&bad, CDT_MANIFEST_HDR + CDT_MANIFEST_TRAILER),
		put_le64((unsigned char *)bad.buf + CDT_MANIFEST_HDR, 0), reseal(&bad)),
	       "non-empty file has no chunks");
#undef DAMAGE

	/* Every truncation and every bit flip. */
	for (ok = 1, i = 0; i < good.len; i++) {
		put_manifest(s, &l.file, good.buf, i);
		ok &= refused(s, &l.file, NULL);
	}
	CHECK(ok);
	for (ok = 1, i = 0; i < good.len * 8; i++) {
		strbuf_reset(&bad);
		strbuf_add(&bad, good.buf, good.len);
		((unsigned char *)bad.buf)[i / 8] ^= (unsigned char)(1u << (i % 8));
		put_manifest(s, &l.file, bad.buf, bad.len);
		ok &= refused(s, &l.file, NULL);
	}
	CHECK(ok);

	/* peek reads the trailer alone: body damage passes, a wrong trailer does not. */
	strbuf_reset(&bad);
	strbuf_add(&bad, good.buf, good.len);
	bad.buf[CDT_MANIFEST_HDR] ^= 1;
	put_manifest(s, &l.file, bad.buf, bad.len);
	CHECK(cdt_manifest_peek(s, &l.file, &count, &size) == 0 && count == 3 && size == l.size);
	put_manifest(s, &l.file, good.buf, good.len - 1);
	CHECK(cdt_manifest_peek(s, &l.file, &count, &size) == -CDT_ECORRUPT);

	/* A good manifest moved to another file's name belongs to another file. */
	random_id(&other);
	put_manifest(s, &other, good.buf, good.len);
	CHECK(refused(s, &other, "another file id"));
	CHECK(cdt_manifest_peek(s, &other, &count, &size) == -CDT_ECORRUPT);

	/* Not a regular file: a symbolic link to a good one, a directory. */
	cdt_id_path(&other, path);
	CHECK(unlinkat(mfd, path, 0) == 0);
	{
		char target[CDT_ID_HEXLEN + 8];

		cdt_id_path(&l.file, target + 3);
		memcpy(target, "../", 3);
		put_manifest(s, &l.file, good.buf, good.len);
		CHECK(symlinkat(target, mfd, path) == 0);
		CHECK(refused(s, &other, "symbolic link"));
		CHECK(unlinkat(mfd, path, 0) == 0);
	}
	CHECK(mkdirat(mfd, path, 0777) == 0);
	CHECK(refused(s, &other, "not a regular file"));
	CHECK(cdt_manifest_exists(s, &other) == -CDT_ECORRUPT);
	CHECK(unlinkat(mfd, path, AT_REMOVEDIR) == 0);

	/* Put back, it reads again: the damage above was what was refused. */
	put_manifest(s, &l.file, good.buf, good.len);
	{
		struct strbuf why = STRBUF_INIT;
		struct cdt_manifest *m;

		CHECK(cdt_manifest_open(s, &l.file, &m, &why) == 0);
		cdt_manifest_close(m);
		strbuf_release(&why);
	}
	free_list(&l);
	strbuf_release(&good);
	strbuf_release(&bad);
}

/* A manifest cut short after it was opened gives errors, never entries past its end. */
static void test_changed_under_reader(struct cdt_store *s)
{
	uint32_t max = cdt_store_chunker(s)->max_size;
	int mfd = cdt_store_dirfd(s, CDT_DIR_MANIFESTS);
	struct strbuf why = STRBUF_INIT;
	char path[CDT_ID_HEXLEN + 2];
	struct cdt_manifest *m;
	struct cdt_manifest_entry e;
	struct list l;
	uint64_t k;
	int fd;

	make_list(&l, 2500, max);
	CHECK(write_list(s, &l, NULL) == 0);
	CHECK(cdt_manifest_open(s, &l.file, &m, &why) == 0);
	if (!m)
		return;
	cdt_id_path(&l.file, path);
	fd = openat(mfd, path, O_WRONLY | O_CLOEXEC);
	CHECK(fd >= 0 && ftruncate(fd, CDT_MANIFEST_HDR + 100 * CDT_MANIFEST_REC) == 0);
	if (fd >= 0)
		close(fd);
	CHECK(cdt_manifest_get(m, 2000, &e) < 0);
	CHECK(cdt_manifest_pget(m, 2400, &e) < 0);
	CHECK(cdt_manifest_find(m, l.size - 1, &k) < 0);
	/* What is still there reads as before. */
	CHECK(cdt_manifest_pget(m, 50, &e) == 0 && entry_is(&e, &l, 50));
	cdt_manifest_close(m);
	free_list(&l);
	strbuf_release(&why);
}

int main(void)
{
	char *dir = unit_tmpdir("test-manifest");
	struct cdt_store *s = unit_store_new(dir, "store", CDT_CHUNKER_FASTCDC, 4096);

	test_roundtrip(s);
	test_empty(s);
	test_abandoned(s);
	test_damage(s);
	test_changed_under_reader(s);
	cdt_store_close(s);
	unit_tmpdir_remove(dir);
	UNIT_DONE();
}
