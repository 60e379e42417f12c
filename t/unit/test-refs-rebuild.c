/* test-refs-rebuild.c: reference tables: the fully checked snapshot fsck reads, and the rebuild. */
#include "base/fsutil.h"
#include "base/hash.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "format/config.h"
#include "format/refs.h"
#include "format/store.h"
#include "unit.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What error() said last, instead of printing it. */
static struct strbuf last_report = STRBUF_INIT;

static void keep_report(const char *prefix, const char *fmt, va_list ap)
{
	strbuf_reset(&last_report);
	strbuf_addstr(&last_report, prefix);
	strbuf_vaddf(&last_report, fmt, ap);
}

static struct cdt_id id_of(const char *s)
{
	struct cdt_id id;

	cdt_hash(s, strlen(s), &id);
	return id;
}

static struct cdt_id c1, c2, c3, c4, m1, m2, m3;

static int chunksfd(struct cdt_store *s)
{
	return openat(cdt_store_dirfd(s, CDT_DIR_REFS), "chunks", O_RDONLY | O_DIRECTORY);
}

static int exists(struct cdt_store *s, const char *name)
{
	int fd = chunksfd(s), ret;

	ret = faccessat(fd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	close(fd);
	return ret;
}

/* Write one table of the given pairs; its name goes to name. */
static void write_table(struct cdt_store *s, const struct cdt_ref_pair *p, size_t n, char *name)
{
	struct cdt_ref_writer *w = cdt_ref_writer_new(s);
	const char *const *names;
	size_t i;

	for (i = 0; i < n; i++)
		CHECK(cdt_ref_writer_add(w, &p[i].chunk, &p[i].manifest) == 0);
	CHECK(cdt_ref_writer_flush(w) == 0);
	CHECK(cdt_ref_writer_tables(w, &names) == 1);
	strcpy(name, names[0]);
	cdt_ref_writer_free(w);
}

/* Copy table `from` to `to`, flipping one bit of byte `at` (from the end if negative). */
static void copy_table(struct cdt_store *s, const char *from, const char *to, long at)
{
	struct strbuf sb = STRBUF_INIT;
	int fd = chunksfd(s), out;

	CHECK(read_small_fileat(fd, from, 1 << 20, &sb) == 0);
	if (at)
		sb.buf[at < 0 ? (long)sb.len + at : at] ^= 1;
	out = openat(fd, to, O_WRONLY | O_CREAT | O_EXCL, 0644);
	CHECK(out >= 0 && write_all(out, sb.buf, sb.len) == 0);
	close(out);
	close(fd);
	strbuf_release(&sb);
}

struct seen {
	char what[8][128];
	int n;
};

static void note_bad(int dirfd, const char *file, int err, const char *why, void *data)
{
	struct seen *sn = data;

	(void)dirfd;
	if (sn->n < 8)
		snprintf(sn->what[sn->n++], sizeof(sn->what[0]), "%.8s %d %s", file,
			 err == -CDT_ECORRUPT ? 1 : err, why);
}

struct pairs {
	struct cdt_ref_pair p[8];
	int n;
};

static int note_pair(const struct cdt_ref_pair *p, void *data)
{
	struct pairs *ps = data;

	if (ps->n < 8)
		ps->p[ps->n] = *p;
	ps->n++;
	return 0;
}

static void test_checked_snapshot(struct cdt_store *s, char (*tables)[CDT_ID_HEXLEN + 8])
{
	struct cdt_ref_pair a[] = { { c1, m1 }, { c2, m1 } }, b[] = { { c1, m1 }, { c3, m2 } };
	struct seen sn = { .n = 0 };
	struct pairs ps = { .n = 0 };
	struct cdt_refs *r;
	int fd, i;

	write_table(s, a, 2, tables[0]);
	write_table(s, b, 2, tables[1]);
	fd = chunksfd(s);
	CHECK(close(openat(fd, "README", O_WRONLY | O_CREAT, 0644)) == 0);
	close(fd);
	/* A rotted checksum; a good table under a name that is not its checksum. */
	memset(tables[2], '0', CDT_ID_HEXLEN);
	strcpy(tables[2] + CDT_ID_HEXLEN, ".ref");
	copy_table(s, tables[1], tables[2], -1);
	memset(tables[3], 'f', CDT_ID_HEXLEN);
	strcpy(tables[3] + CDT_ID_HEXLEN, ".ref");
	copy_table(s, tables[0], tables[3], 0);

	CHECK(cdt_refs_open_checked(s, note_bad, &sn, &r) == 0);
	CHECK(sn.n == 3);
	CHECK(!strcmp(sn.what[0], "00000000 1 checksum does not match its contents"));
	CHECK(!strcmp(sn.what[1], "README 0 not a reference table"));
	CHECK(!strcmp(sn.what[2], "ffffffff 1 name is not its checksum"));
	/* Damaged tables are counted, not read; a pair in two tables comes once. */
	CHECK(cdt_refs_table_count(r) == 4);
	CHECK(cdt_refs_for_each_pair(r, note_pair, &ps) == 0);
	CHECK(ps.n == 3);
	for (i = 1; i < ps.n && i < 8; i++)
		CHECK(memcmp(&ps.p[i - 1], &ps.p[i], sizeof(ps.p[i])) < 0);
	cdt_refs_close(r);
}

struct rebuild_data {
	int fail;
};

static int fill(struct cdt_ref_writer *w, void *data)
{
	struct rebuild_data *rd = data;

	if (rd->fail)
		return -EIO;
	if (cdt_ref_writer_add(w, &c1, &m1) < 0)
		return -EIO;
	return cdt_ref_writer_add(w, &c4, &m3);
}

/* Carry over what the old tables say of m2 (as of a manifest that cannot be read). */
static int carry(const struct cdt_ref_pair *p, void *data)
{
	(void)data;
	return cdt_id_eq(&p->manifest, &m2);
}

static void check_lookup(struct cdt_refs *r, const struct cdt_id *c, const struct cdt_id *m)
{
	struct cdt_id *ids;
	int n = cdt_refs_lookup(r, c, &ids);

	CHECK(n == (m ? 1 : 0));
	if (m && n == 1)
		CHECK(cdt_id_eq(&ids[0], m));
	free(ids);
}

static void test_rebuild(struct cdt_store *s, char (*tables)[CDT_ID_HEXLEN + 8])
{
	struct rebuild_data rd = { 1 };
	struct cdt_refs_rebuild rb = { fill, carry, &rd, 0, 0 };
	struct seen sn = { .n = 0 };
	struct cdt_refs *r;
	int i;

	/* A rebuild that cannot write leaves the old tables alone. */
	CHECK(cdt_refs_rebuild(s, &rb) == -EIO);
	CHECK(strstr(last_report.buf, "cannot write reference tables") != NULL);
	CHECK(rb.written == 0 && rb.removed == 0);
	for (i = 0; i < 4; i++)
		CHECK(exists(s, tables[i]));

	rd.fail = 0;
	CHECK(cdt_refs_rebuild(s, &rb) == 0);
	CHECK(rb.written == 1);
	CHECK(rb.removed == 4);
	for (i = 0; i < 4; i++)
		CHECK(!exists(s, tables[i]));
	CHECK(exists(s, "README"));	/* not a table: left for fsck to report */

	CHECK(cdt_refs_open_checked(s, note_bad, &sn, &r) == 0);
	CHECK(sn.n == 1);
	CHECK(cdt_refs_table_count(r) == 1);
	check_lookup(r, &c1, &m1);
	check_lookup(r, &c2, NULL);	/* only the old tables had it */
	check_lookup(r, &c3, &m2);	/* carried over */
	check_lookup(r, &c4, &m3);
	cdt_refs_close(r);
}

int main(void)
{
	char dir[] = "/tmp/cdt-test-refs-XXXXXX", tables[4][CDT_ID_HEXLEN + 8];
	struct cdt_config cfg;
	struct cdt_store *s;
	char *path;

	c1 = id_of("c1"), c2 = id_of("c2"), c3 = id_of("c3"), c4 = id_of("c4");
	m1 = id_of("m1"), m2 = id_of("m2"), m3 = id_of("m3");
	set_report_routine(keep_report);
	if (!mkdtemp(dir))
		die("cannot create a temporary directory: %s", cdt_strerror(errno));
	path = xstrfmt("%s/store", dir);
	cdt_config_defaults(&cfg);
	memcpy(cfg.store_id, "0123456789abcdef0123456789abcdef", 33);
	CHECK(cdt_store_init(path, &cfg, CDT_SHARE_PRIVATE) == 0);
	CHECK(cdt_store_open(path, &s) == 0);
	test_checked_snapshot(s, tables);
	test_rebuild(s, tables);
	cdt_store_close(s);
	remove_tree_at(AT_FDCWD, dir, 0);
	free(path);
	strbuf_release(&last_report);
	UNIT_DONE();
}
