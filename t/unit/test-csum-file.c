/* test-csum-file.c: the checksummed-file writer: bytes, checksum, reserved room, renames, clean-up. */
#include "base/csum-file.h"
#include "base/fsutil.h"
#include "base/hash.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t rs = 99;

static void fill_random(unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		rs ^= rs << 13;
		rs ^= rs >> 7;
		rs ^= rs << 17;
		p[i] = (unsigned char)rs;
	}
}

/* The whole of dirfd/name, or an empty buffer when it cannot be read. */
static void slurp(int dirfd, const char *name, struct strbuf *out)
{
	strbuf_reset(out);
	if (read_small_fileat(dirfd, name, 64u << 20, out) < 0)
		strbuf_reset(out);
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

/* Pieces of every size around the buffer's: small, across its end, larger than it. */
static void test_write_append(int tmpfd, int outfd)
{
	static const size_t sizes[] = { 0, 1, 7, 4096, 1000000, 48577, 1, (1u << 20) + 3, 5, 3u << 20 };
	struct strbuf want = STRBUF_INIT, got = STRBUF_INIT;
	struct cdt_csum_file *f;
	struct cdt_id sum, expect;
	size_t i;

	CHECK(cdt_csum_file_open(tmpfd, "test", &f) == 0);
	CHECK(count_entries(tmpfd) == 1);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned char *p = xmalloc(sizes[i] + 1);

		fill_random(p, sizes[i]);
		CHECK(cdt_csum_file_write(f, p, sizes[i]) == 0);
		strbuf_add(&want, p, sizes[i]);
		CHECK(cdt_csum_file_offset(f) == want.len);
		free(p);
	}
	CHECK(cdt_csum_file_finish(f, CDT_CSUM_APPEND | CDT_CSUM_FSYNC, &sum) == 0);
	cdt_hash(want.buf, want.len, &expect);
	CHECK(cdt_id_eq(&sum, &expect));
	/* Finished, not yet renamed: still under its temporary name. */
	slurp(tmpfd, cdt_csum_file_tmpname(f), &got);
	CHECK(got.len == want.len + CDT_ID_LEN);
	CHECK(cdt_csum_file_rename(f, outfd, "appended", 0) == 0);
	CHECK(!*cdt_csum_file_tmpname(f));
	cdt_csum_file_free(f);
	CHECK(count_entries(tmpfd) == 0);
	strbuf_add(&want, expect.b, CDT_ID_LEN);
	slurp(outfd, "appended", &got);
	CHECK(got.len == want.len && !memcmp(got.buf, want.buf, want.len));
	strbuf_release(&want);
	strbuf_release(&got);
}

/* The checksum only returned: the file is exactly what was written. */
static void test_no_append(int tmpfd, int outfd)
{
	struct strbuf got = STRBUF_INIT;
	struct cdt_csum_file *f;
	struct cdt_id sum, expect;

	CHECK(cdt_csum_file_open(tmpfd, "test", &f) == 0);
	CHECK(cdt_csum_file_write(f, "hello", 5) == 0);
	CHECK(cdt_csum_file_finish(f, 0, &sum) == 0);
	cdt_hash("hello", 5, &expect);
	CHECK(cdt_id_eq(&sum, &expect));
	/* Finishing twice is refused. */
	CHECK(cdt_csum_file_finish(f, 0, &sum) == -EINVAL);
	CHECK(cdt_csum_file_rename(f, outfd, "plain", 0) == 0);
	cdt_csum_file_free(f);
	slurp(outfd, "plain", &got);
	CHECK(got.len == 5 && !memcmp(got.buf, "hello", 5));
	strbuf_release(&got);
}

/*
 * A header reserved first and filled in last is hashed last: the
 * checksum is over the records, then the header (as a reference table's).
 */
static void test_reserve_fill(int tmpfd, int outfd, size_t nrec)
{
	unsigned char hdr[16], rec[64];
	struct strbuf records = STRBUF_INIT, got = STRBUF_INIT;
	struct cdt_hasher *h = cdt_hasher_new();
	struct cdt_csum_file *f;
	struct cdt_id sum, expect;
	uint64_t off;
	size_t i;

	CHECK(cdt_csum_file_open(tmpfd, "test", &f) == 0);
	off = cdt_csum_file_reserve(f, sizeof(hdr));
	CHECK(off == 0 && cdt_csum_file_offset(f) == sizeof(hdr));
	for (i = 0; i < nrec; i++) {
		fill_random(rec, sizeof(rec));
		CHECK(cdt_csum_file_write(f, rec, sizeof(rec)) == 0);
		strbuf_add(&records, rec, sizeof(rec));
	}
	fill_random(hdr, sizeof(hdr));
	/* Room that was never reserved is refused. */
	CHECK(cdt_csum_file_fill(f, cdt_csum_file_offset(f), hdr, sizeof(hdr)) == -EINVAL);
	CHECK(cdt_csum_file_fill(f, off, hdr, sizeof(hdr)) == 0);
	CHECK(cdt_csum_file_finish(f, CDT_CSUM_APPEND, &sum) == 0);
	cdt_hasher_update(h, records.buf, records.len);
	cdt_hasher_update(h, hdr, sizeof(hdr));
	cdt_hasher_final(h, &expect);
	CHECK(cdt_id_eq(&sum, &expect));
	CHECK(cdt_csum_file_rename(f, outfd, "table", 0) == 0);
	cdt_csum_file_free(f);
	slurp(outfd, "table", &got);
	CHECK(got.len == sizeof(hdr) + records.len + CDT_ID_LEN);
	CHECK(!memcmp(got.buf, hdr, sizeof(hdr)));
	CHECK(!memcmp(got.buf + sizeof(hdr), records.buf, records.len));
	CHECK(!memcmp(got.buf + sizeof(hdr) + records.len, expect.b, CDT_ID_LEN));
	cdt_hasher_free(h);
	strbuf_release(&records);
	strbuf_release(&got);
}

/* Room reserved in the middle, after hashed bytes still in the buffer. */
static void test_reserve_middle(int tmpfd, int outfd)
{
	struct strbuf got = STRBUF_INIT;
	struct cdt_hasher *h = cdt_hasher_new();
	struct cdt_csum_file *f;
	struct cdt_id sum, expect;
	uint64_t off;

	CHECK(cdt_csum_file_open(tmpfd, "test", &f) == 0);
	CHECK(cdt_csum_file_write(f, "head", 4) == 0);
	off = cdt_csum_file_reserve(f, 3);
	CHECK(off == 4);
	CHECK(cdt_csum_file_write(f, "tail", 4) == 0);
	CHECK(cdt_csum_file_fill(f, off, "mid", 3) == 0);
	CHECK(cdt_csum_file_finish(f, CDT_CSUM_APPEND, &sum) == 0);
	cdt_hasher_update(h, "headtailmid", 11);
	cdt_hasher_final(h, &expect);
	CHECK(cdt_id_eq(&sum, &expect));
	CHECK(cdt_csum_file_rename(f, outfd, "middle", 0) == 0);
	cdt_csum_file_free(f);
	slurp(outfd, "middle", &got);
	CHECK(got.len == 11 + CDT_ID_LEN && !memcmp(got.buf, "headmidtail", 11));
	CHECK(!memcmp(got.buf + 11, expect.b, CDT_ID_LEN));
	cdt_hasher_free(h);
	strbuf_release(&got);
}

static int write_named(int tmpfd, int outfd, const char *name, const char *text, unsigned flags)
{
	struct cdt_csum_file *f;
	int ret;

	CHECK(cdt_csum_file_open(tmpfd, "test", &f) == 0);
	CHECK(cdt_csum_file_write(f, text, strlen(text)) == 0);
	CHECK(cdt_csum_file_finish(f, 0, NULL) == 0);
	ret = cdt_csum_file_rename(f, outfd, name, flags);
	cdt_csum_file_free(f);
	return ret;
}

/* Without replacing, with replacing, into a subdirectory with its sync. */
static void test_rename(int tmpfd, int outfd)
{
	struct strbuf got = STRBUF_INIT;

	CHECK(write_named(tmpfd, outfd, "once", "first", CDT_CSUM_NOREPLACE) == 0);
	CHECK(write_named(tmpfd, outfd, "once", "second", CDT_CSUM_NOREPLACE) == 1);
	CHECK(count_entries(tmpfd) == 0);
	slurp(outfd, "once", &got);
	CHECK(got.len == 5 && !memcmp(got.buf, "first", 5));
	CHECK(write_named(tmpfd, outfd, "once", "third", CDT_CSUM_SYNC_DIR) == 0);
	slurp(outfd, "once", &got);
	CHECK(got.len == 5 && !memcmp(got.buf, "third", 5));

	CHECK(mkdirat(outfd, "sub", 0777) == 0);
	CHECK(write_named(tmpfd, outfd, "sub/file", "inside",
			  CDT_CSUM_NOREPLACE | CDT_CSUM_SYNC_DIR) == 0);
	slurp(outfd, "sub/file", &got);
	CHECK(got.len == 6 && !memcmp(got.buf, "inside", 6));
	/* A rename that fails leaves the temporary file until free removes it. */
	{
		struct cdt_csum_file *f;

		CHECK(cdt_csum_file_open(tmpfd, "test", &f) == 0);
		CHECK(cdt_csum_file_finish(f, 0, NULL) == 0);
		CHECK(cdt_csum_file_rename(f, outfd, "missing/file", 0) == -ENOENT);
		CHECK(count_entries(tmpfd) == 1);
		cdt_csum_file_free(f);
		CHECK(count_entries(tmpfd) == 0);
	}
	/* Renaming before finishing is refused. */
	{
		struct cdt_csum_file *f;

		CHECK(cdt_csum_file_open(tmpfd, "test", &f) == 0);
		CHECK(cdt_csum_file_rename(f, outfd, "early", 0) == -EINVAL);
		cdt_csum_file_free(f);
		CHECK(faccessat(outfd, "early", F_OK, 0) < 0);
	}
	strbuf_release(&got);
}

/* A writer dropped before it is finished leaves nothing behind. */
static void test_discard(int tmpfd)
{
	struct cdt_csum_file *f;

	CHECK(cdt_csum_file_open(tmpfd, "test", &f) == 0);
	CHECK(cdt_csum_file_write(f, "gone", 4) == 0);
	cdt_csum_file_free(f);
	CHECK(count_entries(tmpfd) == 0);
	CHECK(cdt_csum_file_open(-1, "test", &f) < 0 && !f);
}

int main(void)
{
	const char *base = getenv("TMPDIR");
	struct strbuf dir = STRBUF_INIT;
	int rootfd, tmpfd, outfd;

	strbuf_addf(&dir, "%s/cdt-unit-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(dir.buf)) {
		perror("mkdtemp");
		return 1;
	}
	rootfd = open(dir.buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(rootfd >= 0);
	CHECK(mkdirat(rootfd, "tmp", 0700) == 0 && mkdirat(rootfd, "out", 0700) == 0);
	tmpfd = openat(rootfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	outfd = openat(rootfd, "out", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(tmpfd >= 0 && outfd >= 0);

	test_write_append(tmpfd, outfd);
	test_no_append(tmpfd, outfd);
	test_reserve_fill(tmpfd, outfd, 0);
	test_reserve_fill(tmpfd, outfd, 3);
	test_reserve_fill(tmpfd, outfd, 40000);	/* records past the buffer */
	test_reserve_middle(tmpfd, outfd);
	test_rename(tmpfd, outfd);
	test_discard(tmpfd);

	close(tmpfd);
	close(outfd);
	CHECK(remove_tree_at(AT_FDCWD, dir.buf, 0) == 0);
	close(rootfd);
	strbuf_release(&dir);
	UNIT_DONE();
}
