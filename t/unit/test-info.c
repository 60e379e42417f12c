/* test-info.c: server info: info/packs, info/prefixes and tables of names (parsing every kind of damage, writing, updating). */
#include "base/fsutil.h"
#include "base/hash.h"
#include "format/info.h"
#include "format/names.h"
#include "base/util.h"
#include "unit.h"
#include "unit-store.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Parse info/packs text; -CDT_ECORRUPT's reason must name the file. */
static int packs(const struct strbuf *t, size_t *n)
{
	struct strbuf why = STRBUF_INIT;
	struct cdt_info_pack *p;
	int ret = cdt_info_packs_parse(t->buf, t->len, &p, n, &why);

	if (ret)
		CHECK(ret == -CDT_ECORRUPT && strstr(why.buf, "info/packs"));
	free(p);
	strbuf_release(&why);
	return ret;
}

/* The text with its checksum line made right again. */
static void fix_text(struct strbuf *t)
{
	char *sum = strstr(t->buf, "checksum ");
	char hex[CDT_ID_HEXLEN + 1];
	struct cdt_id id;

	while (sum && sum != t->buf && sum[-1] != '\n')
		sum = strstr(sum + 1, "checksum ");
	if (!sum)
		return;
	strbuf_setlen(t, (size_t)(sum - t->buf));
	cdt_hash(t->buf, t->len, &id);
	strbuf_addf(t, "checksum %s\n", cdt_id_to_hex(&id, hex));
}

/* Replace the first `from` by `to` in t, then make the checksum right. */
static void edit(struct strbuf *t, const char *from, const char *to, int fix)
{
	struct strbuf o = STRBUF_INIT;
	char *at = strstr(t->buf, from);

	CHECK(at != NULL);
	if (!at)
		return;
	strbuf_add(&o, t->buf, (size_t)(at - t->buf));
	strbuf_addstr(&o, to);
	strbuf_addstr(&o, at + strlen(from));
	strbuf_reset(t);
	strbuf_addbuf(t, &o);
	strbuf_release(&o);
	if (fix)
		fix_text(t);
}

static void pack_name(struct cdt_info_pack *p, unsigned n, uint64_t pb, uint64_t ib)
{
	char hex[CDT_ID_HEXLEN + 1];
	struct cdt_id id;

	cdt_hash(&n, sizeof(n), &id);
	snprintf(p->name, sizeof(p->name), "pack-%s", cdt_id_to_hex(&id, hex));
	p->pack_bytes = pb;
	p->idx_bytes = ib;
}

static void test_packs(void)
{
	struct cdt_info_pack p[3], *got;
	struct strbuf t = STRBUF_INIT, why = STRBUF_INIT, d = STRBUF_INIT;
	size_t n;

	pack_name(&p[0], 1, 1000, 1200);
	pack_name(&p[1], 2, UINT64_MAX, 0);
	pack_name(&p[2], 3, 7, 9);
	cdt_info_packs_format(p, 3, &t);
	CHECK(cdt_info_packs_parse(t.buf, t.len, &got, &n, &why) == 0);
	CHECK(n == 3);
	if (n == 3) {
		CHECK(strcmp(got[0].name, got[1].name) < 0 && strcmp(got[1].name, got[2].name) < 0);
		CHECK(!strcmp(got[0].name, p[0].name) && got[0].pack_bytes == p[0].pack_bytes &&
		      got[0].idx_bytes == p[0].idx_bytes);
	}
	free(got);
	/* An empty list: a header and a checksum. */
	strbuf_reset(&d);
	cdt_info_packs_format(NULL, 0, &d);
	CHECK(packs(&d, &n) == 0 && n == 0);

#define DAMAGE(from, to, fix) \
	do { \
		strbuf_reset(&d); \
		strbuf_addbuf(&d, &t); \
		edit(&d, from, to, fix); \
		CHECK(packs(&d, &n) == -CDT_ECORRUPT); \
	} while (0)
	DAMAGE("# cdt", "# cdx", 1);		/* header */
	DAMAGE(" 1200\n", " 1201\n", 0);	/* checksum does not match */
	DAMAGE(" 1200\n", " 01200\n", 1);	/* leading zero */
	DAMAGE(" 1200\n", " -1200\n", 1);	/* sign */
	DAMAGE(" 1200\n", " 1200 \n", 1);	/* trailing space */
	DAMAGE(" 1200\n", "  1200\n", 1);	/* two spaces */
	DAMAGE(" 1200\n", "\n", 1);		/* one size */
	DAMAGE(" 18446744073709551615 ", " 18446744073709551616 ", 1);	/* overflow */
	DAMAGE("pack-", "pak-", 1);
	DAMAGE("pack-", "pack-x", 1);		/* not 64 hex */
	DAMAGE("checksum ", "checksun ", 0);
	/* Unsorted, and a pack twice. */
	strbuf_reset(&d);
	cdt_info_packs_format(p, 2, &d);
	{
		char *l1 = strchr(d.buf, '\n') + 1, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
		struct strbuf s = STRBUF_INIT;

		strbuf_add(&s, d.buf, (size_t)(l1 - d.buf));
		strbuf_add(&s, l2, (size_t)(l3 - l2));
		strbuf_add(&s, l1, (size_t)(l2 - l1));
		strbuf_addstr(&s, l3);
		fix_text(&s);
		CHECK(packs(&s, &n) == -CDT_ECORRUPT);
		strbuf_reset(&s);
		strbuf_add(&s, d.buf, (size_t)(l2 - d.buf));
		strbuf_add(&s, l1, (size_t)(l2 - l1));
		strbuf_addstr(&s, l2);
		fix_text(&s);
		CHECK(packs(&s, &n) == -CDT_ECORRUPT);
		strbuf_release(&s);
	}
	/* Text after the checksum, no newline at the end, truncated. */
	strbuf_reset(&d);
	strbuf_addbuf(&d, &t);
	strbuf_addstr(&d, "x\n");
	CHECK(packs(&d, &n) == -CDT_ECORRUPT);
	strbuf_reset(&d);
	strbuf_add(&d, t.buf, t.len - 1);
	CHECK(packs(&d, &n) == -CDT_ECORRUPT);
	for (n = 0; n < t.len; n += 7) {
		size_t m;

		strbuf_reset(&d);
		strbuf_add(&d, t.buf, n);
		CHECK(packs(&d, &m) == -CDT_ECORRUPT);
	}
#undef DAMAGE
	strbuf_release(&t);
	strbuf_release(&d);
	strbuf_release(&why);
}

static int prefixes(const struct strbuf *t, size_t *n)
{
	struct strbuf why = STRBUF_INIT;
	struct cdt_info_prefix *p;
	int ret = cdt_info_prefixes_parse(t->buf, t->len, &p, n, &why);

	if (ret)
		CHECK(ret == -CDT_ECORRUPT && strstr(why.buf, "info/prefixes"));
	cdt_info_prefixes_free(p, *n);
	strbuf_release(&why);
	return ret;
}

static void test_prefixes(void)
{
	struct cdt_info_prefix p[3], *got;
	struct strbuf t = STRBUF_INIT, why = STRBUF_INIT, d = STRBUF_INIT;
	size_t n;

	p[0].prefix = xstrdup("b with spaces ");
	p[1].prefix = xstrdup("a");
	p[2].prefix = xstrdup("a-b");
	for (n = 0; n < 3; n++) {
		cdt_hash(p[n].prefix, strlen(p[n].prefix), &p[n].sum);
		p[n].bytes = 1000 + n;
	}
	cdt_info_prefixes_format(p, 3, &t);
	CHECK(cdt_info_prefixes_parse(t.buf, t.len, &got, &n, &why) == 0);
	CHECK(n == 3);
	if (n == 3) {
		CHECK(!strcmp(got[0].prefix, "a") && !strcmp(got[1].prefix, "a-b") &&
		      !strcmp(got[2].prefix, "b with spaces "));
		struct cdt_id want;

		cdt_hash("b with spaces ", 14, &want);
		CHECK(got[2].bytes == 1000 && cdt_id_eq(&got[2].sum, &want));
	}
	cdt_info_prefixes_free(got, n);
	cdt_info_prefixes_free(NULL, 0);

#define DAMAGE(from, to, fix) \
	do { \
		strbuf_reset(&d); \
		strbuf_addbuf(&d, &t); \
		edit(&d, from, to, fix); \
		CHECK(prefixes(&d, &n) == -CDT_ECORRUPT); \
	} while (0)
	DAMAGE("# cdt info/prefixes", "# cdt info/prefixez", 1);
	DAMAGE(" 1001 a\n", " 1001 b\n", 0);	/* checksum */
	DAMAGE(" 1001 a\n", " 1001 ..\n", 1);	/* not a name's component */
	DAMAGE(" 1001 a\n", " 1001 .\n", 1);
	DAMAGE(" 1001 a\n", " 1001 x/y\n", 1);
	DAMAGE(" 1001 a\n", " 1001 x\001\n", 1);
	DAMAGE(" 1001 a\n", " 1001 \n", 1);	/* empty */
	DAMAGE(" 1001 a\n", " 1001\n", 1);
	DAMAGE(" 1001 a\n", " 10 a\n", 1);	/* smaller than any table */
	DAMAGE(" 1001 a\n", " 1001 zz\n", 1);	/* unsorted */
	DAMAGE(" 1002 a-b\n", " 1002 a\n", 1);	/* a prefix twice */
	DAMAGE(" 1001 a\n", " 99999999999 a\n", 1);	/* larger than a table may be */
	/* Not hex. */
	{
		char hex[CDT_ID_HEXLEN + 1], bad[CDT_ID_HEXLEN + 1];

		cdt_id_to_hex(&p[1].sum, hex);
		memcpy(bad, hex, sizeof(bad));
		bad[3] = 'g';
		DAMAGE(hex, bad, 1);
		bad[3] = 'A';	/* upper case is not what a writer writes, nor accepted */
		DAMAGE(hex, bad, 1);
	}
	/* A long prefix (255 bytes) is fine, one more is not. */
	{
		char longp[300];
		struct cdt_info_prefix q;

		memset(longp, 'x', 255);
		longp[255] = '\0';
		q.prefix = longp;
		q.sum = p[0].sum;
		q.bytes = 5000;
		strbuf_reset(&d);
		cdt_info_prefixes_format(&q, 1, &d);
		CHECK(prefixes(&d, &n) == 0 && n == 1);
		edit(&d, "xx\n", "xxx\n", 1);
		CHECK(prefixes(&d, &n) == -CDT_ECORRUPT);
	}
	for (n = 0; n < t.len; n += 5) {
		size_t m;

		strbuf_reset(&d);
		strbuf_add(&d, t.buf, n);
		CHECK(prefixes(&d, &m) == -CDT_ECORRUPT);
	}
#undef DAMAGE
	for (n = 0; n < 3; n++)
		free(p[n].prefix);
	strbuf_release(&t);
	strbuf_release(&d);
	strbuf_release(&why);
}

static void entry(struct cdt_name_entry *e, const char *name, int type, unsigned seed)
{
	char buf[16];

	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->type = (uint8_t)type;
	e->mode = type == CDT_NAME_DIR ? 0755 : 0600;
	e->uid = 1000 + seed;
	e->gid = 100;
	e->mtime_sec = 1700000000 + seed;
	e->added_sec = 1800000000;
	if (type == CDT_NAME_REG) {
		e->size = 12345 + seed;
		snprintf(buf, sizeof(buf), "%u", seed);
		cdt_hash(buf, strlen(buf), &e->content);
	} else if (type == CDT_NAME_SYMLINK) {
		snprintf(e->target, sizeof(e->target), "../target %u", seed);
	}
}

/* What a walk of a table gave: "name,name,...", and the bytes seen. */
struct seen {
	struct strbuf names;
	int n, stop_at;
	int bytes_ok;
};

static int on_entry(const struct cdt_name_entry *e, const unsigned char *raw, size_t len,
		    void *data)
{
	struct seen *sn = data;
	struct cdt_name_entry copy = *e;
	struct strbuf enc = STRBUF_INIT;

	/* The raw bytes are the entry's own encoding. */
	copy.xattrs = NULL;
	copy.xattrs_len = 0;
	cdt_name_encode(&copy, &enc);
	if (enc.len != len || memcmp(enc.buf, raw, len))
		sn->bytes_ok = 0;
	strbuf_release(&enc);
	if (sn->n++)
		strbuf_addch(&sn->names, ',');
	strbuf_addstr(&sn->names, e->name);
	return sn->stop_at && sn->n == sn->stop_at ? 42 : 0;
}

static int parse_table(const struct strbuf *t, const char *prefix, struct seen *sn,
		       struct strbuf *why)
{
	strbuf_reset(&sn->names);
	sn->n = 0;
	sn->bytes_ok = 1;
	strbuf_reset(why);
	return cdt_info_names_parse((const unsigned char *)t->buf, t->len, prefix, on_entry, sn,
				    why);
}

/* The table's own checksum made right after an edit. */
static void fix_table(struct strbuf *t)
{
	struct cdt_id sum;

	cdt_hash(t->buf, t->len - CDT_ID_LEN, &sum);
	memcpy(t->buf + t->len - CDT_ID_LEN, sum.b, CDT_ID_LEN);
}

static void write_name(struct cdt_store *s, const char *name, int type, unsigned seed)
{
	struct cdt_name_entry e;

	entry(&e, name, type, seed);
	CHECK(cdt_name_write(s, &e, 1) == 0);
}

static void read_info(struct cdt_store *s, const char *rel, struct strbuf *out)
{
	struct cdt_info *in;

	strbuf_reset(out);
	CHECK(cdt_info_open_check(s, &in) == 0);
	if (!in)
		return;
	CHECK(cdt_info_read(in, rel, out) == 0);
	cdt_info_close(in);
}

static int info_exists(struct cdt_store *s, const char *rel)
{
	struct stat st;
	char *p = xstrfmt("info/%s", rel);
	int ok = fstatat(cdt_store_rootfd(s), p, &st, AT_SYMLINK_NOFOLLOW) == 0;

	free(p);
	return ok;
}

/* The tables names/ calls for, compared with those written. */
static int check_expected(const char *prefix, const unsigned char *table, size_t len, void *data)
{
	struct cdt_store *s = data;
	struct strbuf t = STRBUF_INIT;
	char *rel = xstrfmt("names/%s", prefix);

	read_info(s, rel, &t);
	CHECK(t.len == len && !memcmp(t.buf, table, len));
	free(rel);
	strbuf_release(&t);
	return 0;
}

static void test_tables(struct cdt_store *s)
{
	struct strbuf t = STRBUF_INIT, d = STRBUF_INIT, why = STRBUF_INIT, text = STRBUF_INIT;
	struct seen sn = { STRBUF_INIT, 0, 0, 1 };
	struct cdt_info *in;
	struct cdt_info_prefix *px;
	size_t npx;

	write_name(s, "a", CDT_NAME_DIR, 1);
	write_name(s, "a/x", CDT_NAME_REG, 2);
	write_name(s, "a-b", CDT_NAME_REG, 3);
	write_name(s, "a/sub", CDT_NAME_SYMLINK, 4);
	write_name(s, "a/b-c", CDT_NAME_REG, 5);
	write_name(s, "a/b/c", CDT_NAME_REG, 6);
	write_name(s, "z z", CDT_NAME_REG, 7);
	CHECK(!info_exists(s, "."));	/* a store made before info/ */
	CHECK(cdt_info_open_check(s, &in) == -ENOENT);
	CHECK(cdt_info_open(s, &in) == 0);
	CHECK(cdt_info_is_new(in));
	CHECK(cdt_info_names_rebuild(in) == 0);
	CHECK(cdt_info_write_packs(in, NULL, 0) == 0);
	cdt_info_close(in);
	CHECK(info_exists(s, "names/a") && info_exists(s, "names/a-b") && info_exists(s, "names/z z"));

	read_info(s, "names/a", &t);
	CHECK(parse_table(&t, "a", &sn, &why) == 0);
	/* Byte order of the full names: a prefix first, '-' before '/'. */
	CHECK(!strcmp(sn.names.buf, "a,a/b-c,a/b/c,a/sub,a/x"));
	CHECK(sn.bytes_ok);
	CHECK(parse_table(&t, "a-b", &sn, &why) == -CDT_ECORRUPT);	/* not its prefix */
	CHECK(parse_table(&t, "..", &sn, &why) == -CDT_ECORRUPT);
	sn.stop_at = 2;
	CHECK(parse_table(&t, "a", &sn, &why) == 42 && sn.n == 2);
	sn.stop_at = 0;
	CHECK(cdt_info_names_expected(s, check_expected, s) == 0);

	read_info(s, "prefixes", &text);
	CHECK(cdt_info_prefixes_parse(text.buf, text.len, &px, &npx, &why) == 0);
	CHECK(npx == 3);
	if (npx == 3) {
		CHECK(!strcmp(px[0].prefix, "a") && px[0].bytes == t.len &&
		      !memcmp(px[0].sum.b, t.buf + t.len - CDT_ID_LEN, CDT_ID_LEN));
		CHECK(!strcmp(px[2].prefix, "z z"));
	}
	cdt_info_prefixes_free(px, npx);

	/* Every kind of damage. */
#define DAMAGE(stmt, fix) \
	do { \
		strbuf_reset(&d); \
		strbuf_addbuf(&d, &t); \
		stmt; \
		if (fix) \
			fix_table(&d); \
		CHECK(parse_table(&d, "a", &sn, &why) == -CDT_ECORRUPT); \
	} while (0)
	DAMAGE(d.buf[20] ^= 1, 0);			/* checksum */
	CHECK(sn.n == 0);	/* nothing is given before the checksum matched */
	DAMAGE(d.buf[0] = 'X', 1);			/* magic */
	DAMAGE(d.buf[4] = 2, 1);			/* version */
	DAMAGE(d.buf[6] = 1, 1);			/* reserved */
	DAMAGE(put_le64((unsigned char *)d.buf + 8, 4), 1);	/* fewer than there are */
	DAMAGE(put_le64((unsigned char *)d.buf + 8, 6), 1);	/* more than there are */
	DAMAGE(put_le64((unsigned char *)d.buf + 8, UINT64_MAX), 1);
	DAMAGE(put_le32((unsigned char *)d.buf + 16, 10), 1);	/* entry too short */
	DAMAGE(put_le32((unsigned char *)d.buf + 16, UINT32_MAX), 1);	/* too long */
	DAMAGE(put_le32((unsigned char *)d.buf + 16, (uint32_t)d.len), 1);	/* past the end */
	DAMAGE(d.buf[16 + 4 + 30] ^= 1, 1);		/* an entry's own checksum */
	DAMAGE(strbuf_setlen(&d, d.len - 1), 0);	/* truncated */
	DAMAGE(strbuf_setlen(&d, 10), 0);
	DAMAGE(strbuf_setlen(&d, 0), 0);
	/* Entries out of order, and one twice: swap the first two, repeat the first. */
	{
		size_t l1 = get_le32((unsigned char *)t.buf + 16), l2;
		struct strbuf o = STRBUF_INIT;

		l2 = get_le32((unsigned char *)t.buf + 16 + 4 + l1);
		strbuf_add(&o, t.buf, 16);
		strbuf_add(&o, t.buf + 16 + 4 + l1, 4 + l2);
		strbuf_add(&o, t.buf + 16, 4 + l1);
		strbuf_add(&o, t.buf + 16 + 8 + l1 + l2, t.len - 16 - 8 - l1 - l2);
		DAMAGE(strbuf_reset(&d); strbuf_addbuf(&d, &o), 1);
		strbuf_reset(&o);
		strbuf_add(&o, t.buf, 16);
		strbuf_add(&o, t.buf + 16, 4 + l1);
		strbuf_add(&o, t.buf + 16, t.len - 16);
		put_le64((unsigned char *)o.buf + 8, 6);
		DAMAGE(strbuf_reset(&d); strbuf_addbuf(&d, &o), 1);
		/* An entry of another prefix. */
		{
			struct strbuf other = STRBUF_INIT;

			read_info(s, "names/a-b", &other);
			strbuf_reset(&o);
			strbuf_add(&o, t.buf, t.len - CDT_ID_LEN);
			strbuf_add(&o, other.buf + 16, other.len - 16);
			put_le64((unsigned char *)o.buf + 8, 6);
			DAMAGE(strbuf_reset(&d); strbuf_addbuf(&d, &o), 1);
			strbuf_release(&other);
		}
		strbuf_release(&o);
	}
	/* Bytes after the last entry. */
	DAMAGE(strbuf_setlen(&d, d.len - CDT_ID_LEN); strbuf_addch(&d, 0);
	       strbuf_add(&d, t.buf + t.len - CDT_ID_LEN, CDT_ID_LEN), 1);
#undef DAMAGE

	/* Updates: a replaced entry, a new one, a removed one, a new prefix. */
	{
		struct cdt_name_entry e1, e2, e3;
		struct strbuf b1 = STRBUF_INIT, b2 = STRBUF_INIT, b3 = STRBUF_INIT;
		struct cdt_info_change ch[5];

		entry(&e1, "a/x", CDT_NAME_REG, 20);
		entry(&e2, "a/new", CDT_NAME_REG, 21);
		entry(&e3, "n", CDT_NAME_REG, 22);
		CHECK(cdt_name_write(s, &e1, 1) == 0 && cdt_name_write(s, &e2, 1) == 0 &&
		      cdt_name_write(s, &e3, 1) == 0 && cdt_name_remove(s, "a/b-c", 0) == 0 &&
		      cdt_name_remove(s, "a-b", 0) == 0);
		cdt_name_encode(&e1, &b1);
		cdt_name_encode(&e2, &b2);
		cdt_name_encode(&e3, &b3);
		ch[0] = (struct cdt_info_change){ "a/x", (unsigned char *)b2.buf, b2.len };	/* wrong, then right */
		ch[1] = (struct cdt_info_change){ "a/new", (unsigned char *)b2.buf, b2.len };
		ch[2] = (struct cdt_info_change){ "a/b-c", NULL, 0 };
		ch[3] = (struct cdt_info_change){ "a/x", (unsigned char *)b1.buf, b1.len };
		ch[4] = (struct cdt_info_change){ "n", (unsigned char *)b3.buf, b3.len };
		CHECK(cdt_info_open(s, &in) == 0);
		CHECK(!cdt_info_is_new(in));
		CHECK(cdt_info_names_update(in, ch, 5) == 0);
		ch[0] = (struct cdt_info_change){ "a-b", NULL, 0 };
		CHECK(cdt_info_names_update(in, ch, 1) == 0);
		cdt_info_close(in);
		CHECK(cdt_info_names_expected(s, check_expected, s) == 0);
		CHECK(!info_exists(s, "names/a-b"));	/* left empty: removed */
		read_info(s, "prefixes", &text);
		CHECK(cdt_info_prefixes_parse(text.buf, text.len, &px, &npx, &why) == 0 && npx == 3);
		if (npx == 3)
			CHECK(!strcmp(px[0].prefix, "a") && !strcmp(px[1].prefix, "n") &&
			      !strcmp(px[2].prefix, "z z"));
		cdt_info_prefixes_free(px, npx);

		/* A damaged table is read again from names/, not merged. */
		read_info(s, "names/a", &t);
		t.buf[t.len - 1] ^= 1;
		unit_write_file(cdt_store_rootfd(s), "info/names/a", t.buf, t.len);
		CHECK(cdt_name_remove(s, "a/new", 0) == 0);
		ch[0] = (struct cdt_info_change){ "a/x", (unsigned char *)b1.buf, b1.len };
		CHECK(cdt_info_open(s, &in) == 0);
		CHECK(cdt_info_names_update(in, ch, 1) == 0);
		cdt_info_close(in);
		CHECK(cdt_info_names_expected(s, check_expected, s) == 0);
		read_info(s, "names/a", &t);
		CHECK(parse_table(&t, "a", &sn, &why) == 0);
		CHECK(!strcmp(sn.names.buf, "a,a/b/c,a/sub,a/x"));

		/* Without info/prefixes, every table is written again (a stray table goes). */
		unit_write_file(cdt_store_rootfd(s), "info/names/gone", "x", 1);
		CHECK(unlinkat(cdt_store_rootfd(s), "info/prefixes", 0) == 0);
		CHECK(unlinkat(cdt_store_rootfd(s), "info/names/z z", 0) == 0);
		CHECK(cdt_info_open(s, &in) == 0);
		CHECK(cdt_info_is_new(in));
		CHECK(cdt_info_names_update(in, ch, 1) == 0);
		cdt_info_close(in);
		CHECK(cdt_info_names_expected(s, check_expected, s) == 0);
		CHECK(info_exists(s, "names/z z") && !info_exists(s, "names/gone"));
		strbuf_release(&b1);
		strbuf_release(&b2);
		strbuf_release(&b3);
	}
	/* Packs are written whole. */
	{
		struct cdt_info_pack p[2], *got;
		size_t n;

		pack_name(&p[0], 9, 1, 2);
		pack_name(&p[1], 8, 3, 4);
		CHECK(cdt_info_open(s, &in) == 0);
		CHECK(cdt_info_write_packs(in, p, 2) == 0);
		cdt_info_close(in);
		read_info(s, "packs", &text);
		CHECK(cdt_info_packs_parse(text.buf, text.len, &got, &n, &why) == 0 && n == 2);
		free(got);
	}
	strbuf_release(&sn.names);
	strbuf_release(&t);
	strbuf_release(&d);
	strbuf_release(&why);
	strbuf_release(&text);
}

int main(void)
{
	char *dir = unit_tmpdir("test-info");
	struct cdt_store *s;

	test_packs();
	test_prefixes();
	s = unit_store_new(dir, "tables", CDT_CHUNKER_FASTCDC, 4096);
	test_tables(s);
	cdt_store_close(s);
	unit_tmpdir_remove(dir);
	UNIT_DONE();
}
