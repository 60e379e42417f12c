/*
 * fuzz-info.c: server info (lib/format/info.h): info/packs, info/mpacks,
 * info/prefixes and tables of names.
 *
 * The first byte holds the mode and flags, the rest is the file:
 *   bits 0-1  0: info/packs; 1: info/prefixes; 2 or 3: a table of names,
 *             whose prefix is the text up to the first NUL of the rest
 *             (the table follows the NUL);
 *   bit 2     recompute the checksum first (the checksum line of a text
 *             file, the last 32 bytes of a table) so that the checks
 *             behind it are reached;
 *   bit 3     info/mpacks instead of what bits 0-1 say.
 * A file that parses must be the one its writer makes of what was parsed
 * (one encoding per content): the text files are formatted again, a table
 * is made again from the entries it gave, and must equal the input byte
 * for byte; every entry of a table holds a name under its prefix.
 */
#include "fuzz.h"
#include "format/info.h"

#include <stdlib.h>
#include <string.h>

/* Rewrite the "checksum <hex>\n" line that ends a text file, if it has one. */
static void fix_text(struct strbuf *t)
{
	size_t clen = strlen("checksum ") + CDT_ID_HEXLEN + 1;
	char hex[CDT_ID_HEXLEN + 1];
	struct cdt_id sum;

	if (t->len < clen)
		return;
	strbuf_setlen(t, t->len - clen);
	cdt_hash(t->buf, t->len, &sum);
	strbuf_addf(t, "checksum %s\n", cdt_id_to_hex(&sum, hex));
}

struct again {
	struct strbuf table;	/* the entries as a table's body */
	size_t n;
	const char *prefix;
};

static int on_entry(const struct cdt_name_entry *e, const unsigned char *raw, size_t len,
		    void *data)
{
	struct again *a = data;
	size_t plen = strlen(a->prefix);
	unsigned char l[4];

	FUZZ_CHECK(!strncmp(e->name, a->prefix, plen) &&
		   (e->name[plen] == '\0' || e->name[plen] == '/'));
	put_le32(l, (uint32_t)len);
	strbuf_add(&a->table, l, 4);
	strbuf_add(&a->table, raw, len);
	a->n++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf in = STRBUF_INIT, why = STRBUF_INIT, out = STRBUF_INIT;
	unsigned mode;
	int ret;

	fuzz_quiet();
	if (!size)
		return 0;
	mode = data[0];
	strbuf_add(&in, data + 1, size - 1);
	if (mode & 8) {
		struct cdt_info_mpack *p;
		size_t n;

		if (mode & 4)
			fix_text(&in);
		ret = cdt_info_mpacks_parse(in.buf, in.len, &p, &n, &why);
		fuzz_note("mpacks", ret, &why);
		FUZZ_CHECK(ret == 0 || ret == -CDT_ECORRUPT);
		if (!ret) {
			cdt_info_mpacks_format(p, n, &out);
			FUZZ_CHECK(out.len == in.len && !memcmp(out.buf, in.buf, in.len));
		}
		free(p);
	} else if ((mode & 3) == 0) {
		struct cdt_info_pack *p;
		size_t n;

		if (mode & 4)
			fix_text(&in);
		ret = cdt_info_packs_parse(in.buf, in.len, &p, &n, &why);
		fuzz_note("packs", ret, &why);
		FUZZ_CHECK(ret == 0 || ret == -CDT_ECORRUPT);
		if (!ret) {
			cdt_info_packs_format(p, n, &out);
			FUZZ_CHECK(out.len == in.len && !memcmp(out.buf, in.buf, in.len));
		}
		free(p);
	} else if ((mode & 3) == 1) {
		struct cdt_info_prefix *p;
		size_t n;

		if (mode & 4)
			fix_text(&in);
		ret = cdt_info_prefixes_parse(in.buf, in.len, &p, &n, &why);
		fuzz_note("prefixes", ret, &why);
		FUZZ_CHECK(ret == 0 || ret == -CDT_ECORRUPT);
		if (!ret) {
			cdt_info_prefixes_format(p, n, &out);
			FUZZ_CHECK(out.len == in.len && !memcmp(out.buf, in.buf, in.len));
		}
		cdt_info_prefixes_free(p, n);
	} else {
		const char *nul = memchr(in.buf, 0, in.len);
		struct again a = { STRBUF_INIT, 0, in.buf };
		unsigned char *table;
		size_t tlen;

		if (!nul)
			goto out;
		table = (unsigned char *)nul + 1;
		tlen = in.len - (size_t)(table - (unsigned char *)in.buf);
		if ((mode & 4) && tlen >= CDT_ID_LEN)
			fuzz_fix_checksum(table, tlen - CDT_ID_LEN);
		ret = cdt_info_names_parse(table, tlen, in.buf, on_entry, &a, &why);
		fuzz_note("table", ret, &why);
		FUZZ_CHECK(ret == 0 || ret == -CDT_ECORRUPT);
		if (!ret) {
			unsigned char h[CDT_INFO_TABLE_HDR];
			struct cdt_id sum;

			memset(h, 0, sizeof(h));
			memcpy(h, CDT_INFO_TABLE_MAGIC, 4);
			h[4] = CDT_INFO_TABLE_VERSION;
			put_le64(h + 8, a.n);
			strbuf_add(&out, h, sizeof(h));
			strbuf_addbuf(&out, &a.table);
			cdt_hash(out.buf, out.len, &sum);
			strbuf_add(&out, sum.b, CDT_ID_LEN);
			FUZZ_CHECK(out.len == tlen && !memcmp(out.buf, table, tlen));
		}
		strbuf_release(&a.table);
	}
out:
	strbuf_release(&in);
	strbuf_release(&why);
	strbuf_release(&out);
	return 0;
}
