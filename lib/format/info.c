/* info.c: server info (info/packs, info/mpacks, info/names/<P>, info/prefixes): parsing and formatting its files. */
#include "format/info.h"
#include "format/info-internal.h"
#include "base/csum-file.h"
#include "base/fsutil.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define PACKS_HEADER "# cdt info/packs: the packs of this store, for readers that cannot list packs/\n"
#define MPACKS_HEADER \
	"# cdt info/mpacks: the manifest packs of this store, for readers that cannot list them\n"
#define PREFIXES_HEADER "# cdt info/prefixes: the tables of names in info/names/\n"

/* Text files */

/* Are p[0..n) lower-case hex digits (p need not end in NUL)? */
static int is_hex_n(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	return 1;
}

/* A 64-digit hex id at p (lower case), into *id. 0 or -1. */
static int parse_id(const char *p, struct cdt_id *id)
{
	return is_hex_n(p, CDT_ID_HEXLEN) && hex_to_bytes(p, CDT_ID_HEXLEN, id->b) == 0 ? 0 : -1;
}

/*
 * Check the header and the checksum line of a text file and find its
 * body: [*body, *end). 0 or -CDT_ECORRUPT.
 */
static int text_frame(const char *buf, size_t len, const char *header, const char *what,
		      const char **body, const char **end, struct strbuf *why)
{
	size_t hlen = strlen(header), clen = strlen("checksum ") + CDT_ID_HEXLEN + 1;
	const char *sumline;
	struct cdt_id want, got;

	if (len > CDT_INFO_TEXT_MAX)
		return cdt_corrupt(why, "%s is too large", what);
	if (len < hlen || memcmp(buf, header, hlen))
		return cdt_corrupt(why, "%s has no header line", what);
	if (len < hlen + clen || buf[len - 1] != '\n')
		return cdt_corrupt(why, "%s has no checksum line", what);
	sumline = buf + len - clen;
	if (sumline[-1] != '\n' || memcmp(sumline, "checksum ", 9) || parse_id(sumline + 9, &want))
		return cdt_corrupt(why, "%s has no checksum line", what);
	cdt_hash(buf, (size_t)(sumline - buf), &got);
	if (!cdt_id_eq(&want, &got))
		return cdt_corrupt(why, "%s checksum does not match its contents", what);
	*body = buf + hlen;
	*end = sumline;
	return 0;
}

/* A decimal number without sign or leading zeros, up to UINT64_MAX; the text after it in *after. */
static int parse_u64(const char *p, const char *end, uint64_t *out, const char **after)
{
	uint64_t v = 0;
	const char *q = p;

	while (q < end && *q >= '0' && *q <= '9') {
		unsigned d = (unsigned)(*q - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		q++;
	}
	if (q == p || (*p == '0' && q - p > 1))
		return -1;
	*out = v;
	*after = q;
	return 0;
}

static void add_checksum_line(struct strbuf *out, size_t start)
{
	char hex[CDT_ID_HEXLEN + 1];
	struct cdt_id sum;

	cdt_hash(out->buf + start, out->len - start, &sum);
	strbuf_addf(out, "checksum %s\n", cdt_id_to_hex(&sum, hex));
}

/*
 * One line of info/packs, p[0..nl) (nl: its newline), line `nr` (from 1),
 * after the pack named prev (NULL: the first). 0 or -CDT_ECORRUPT.
 */
static int pack_line(const char *p, const char *nl, size_t nr, const char *prev,
		     struct cdt_info_pack *pk, struct strbuf *why)
{
	const char *q;

	/* "pack-" 64 hex, a space, two numbers */
	if (!nl || (size_t)(nl - p) < 5 + CDT_ID_HEXLEN + 4 || memcmp(p, "pack-", 5) ||
	    !is_hex_n(p + 5, CDT_ID_HEXLEN) || p[5 + CDT_ID_HEXLEN] != ' ')
		return cdt_corrupt(why, "info/packs line %zu is not a pack's", nr);
	memcpy(pk->name, p, 5 + CDT_ID_HEXLEN);
	pk->name[5 + CDT_ID_HEXLEN] = '\0';
	q = p + 5 + CDT_ID_HEXLEN + 1;
	if (parse_u64(q, nl, &pk->pack_bytes, &q) || q >= nl || *q != ' ' ||
	    parse_u64(q + 1, nl, &pk->idx_bytes, &q) || q != nl)
		return cdt_corrupt(why, "info/packs line %zu has bad sizes", nr);
	if (prev && strcmp(prev, pk->name) >= 0)
		return cdt_corrupt(why, "info/packs is not sorted (line %zu)", nr);
	return 0;
}

int cdt_info_packs_parse(const char *buf, size_t len, struct cdt_info_pack **out, size_t *n,
			 struct strbuf *why)
{
	struct cdt_info_pack *v = NULL;
	size_t nr = 0, alloc = 0;
	const char *p, *end;
	int ret;

	*out = NULL;
	*n = 0;
	ret = text_frame(buf, len, PACKS_HEADER, "info/packs", &p, &end, why);
	if (ret)
		return ret;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct cdt_info_pack pk;

		ret = pack_line(p, nl, nr + 1, nr ? v[nr - 1].name : NULL, &pk, why);
		if (ret)
			goto fail;
		ALLOC_GROW(v, nr + 1, alloc);
		v[nr++] = pk;
		p = nl + 1;
	}
	*out = v;
	*n = nr;
	return 0;
fail:
	free(v);
	return ret;
}

static int cmp_pack(const void *a, const void *b)
{
	return strcmp(((const struct cdt_info_pack *)a)->name, ((const struct cdt_info_pack *)b)->name);
}

void cdt_info_packs_format(struct cdt_info_pack *p, size_t n, struct strbuf *out)
{
	size_t start = out->len, i;

	if (n > 1)
		qsort(p, n, sizeof(*p), cmp_pack);
	strbuf_addstr(out, PACKS_HEADER);
	for (i = 0; i < n; i++)
		strbuf_addf(out, "%s %llu %llu\n", p[i].name, (unsigned long long)p[i].pack_bytes,
			    (unsigned long long)p[i].idx_bytes);
	add_checksum_line(out, start);
}

/* One line of info/mpacks, as pack_line(): "pack-<64 hex>.mpack <bytes>". */
static int mpack_line(const char *p, const char *nl, size_t nr, const char *prev,
		      struct cdt_info_mpack *mp, struct strbuf *why)
{
	const size_t nlen = 5 + CDT_ID_HEXLEN + 6;
	const char *q;

	if (!nl || (size_t)(nl - p) < nlen + 2 || memcmp(p, "pack-", 5) ||
	    !is_hex_n(p + 5, CDT_ID_HEXLEN) || memcmp(p + 5 + CDT_ID_HEXLEN, ".mpack ", 7))
		return cdt_corrupt(why, "info/mpacks line %zu is not a manifest pack's", nr);
	memcpy(mp->name, p, nlen);
	mp->name[nlen] = '\0';
	if (parse_u64(p + nlen + 1, nl, &mp->bytes, &q) || q != nl)
		return cdt_corrupt(why, "info/mpacks line %zu has a bad size", nr);
	if (prev && strcmp(prev, mp->name) >= 0)
		return cdt_corrupt(why, "info/mpacks is not sorted (line %zu)", nr);
	return 0;
}

int cdt_info_mpacks_parse(const char *buf, size_t len, struct cdt_info_mpack **out, size_t *n,
			  struct strbuf *why)
{
	struct cdt_info_mpack *v = NULL;
	size_t nr = 0, alloc = 0;
	const char *p, *end;
	int ret;

	*out = NULL;
	*n = 0;
	ret = text_frame(buf, len, MPACKS_HEADER, "info/mpacks", &p, &end, why);
	if (ret)
		return ret;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct cdt_info_mpack mp;

		ret = mpack_line(p, nl, nr + 1, nr ? v[nr - 1].name : NULL, &mp, why);
		if (ret) {
			free(v);
			return ret;
		}
		ALLOC_GROW(v, nr + 1, alloc);
		v[nr++] = mp;
		p = nl + 1;
	}
	*out = v;
	*n = nr;
	return 0;
}

static int cmp_mpack(const void *a, const void *b)
{
	return strcmp(((const struct cdt_info_mpack *)a)->name,
		      ((const struct cdt_info_mpack *)b)->name);
}

void cdt_info_mpacks_format(struct cdt_info_mpack *v, size_t n, struct strbuf *out)
{
	size_t start = out->len, i;

	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_mpack);
	strbuf_addstr(out, MPACKS_HEADER);
	for (i = 0; i < n; i++)
		strbuf_addf(out, "%s %llu\n", v[i].name, (unsigned long long)v[i].bytes);
	add_checksum_line(out, start);
}

/*
 * Could p[0..len) be a top-level component of stored names, as a file
 * name in names/ and in info/names/? (Each name in a table is checked in
 * full by the names module.)
 */
static int prefix_ok(const char *p, size_t len)
{
	size_t i;

	if (!len || len > CDT_NAME_COMPONENT_MAX || (len == 1 && p[0] == '.') ||
	    (len == 2 && p[0] == '.' && p[1] == '.'))
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f || p[i] == '/')
			return 0;
	return 1;
}

/* Byte order of two strings given with their lengths. */
int info_cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, MIN(alen, blen));

	return c ? c : alen < blen ? -1 : alen > blen;
}

/*
 * One line of info/prefixes, p[0..nl), line `nr` (from 1), after the
 * prefix prev[0..prev_len) (prev NULL: the first). px->prefix is left
 * NULL: the prefix is [*prefix, nl). 0 or -CDT_ECORRUPT.
 */
static int prefix_line(const char *p, const char *nl, size_t nr, const char *prev,
		       size_t prev_len, struct cdt_info_prefix *px, const char **prefix,
		       struct strbuf *why)
{
	const char *q;

	px->prefix = NULL;
	if (!nl || (size_t)(nl - p) < CDT_ID_HEXLEN + 4 || parse_id(p, &px->sum) ||
	    p[CDT_ID_HEXLEN] != ' ')
		return cdt_corrupt(why, "info/prefixes line %zu is not a table's", nr);
	q = p + CDT_ID_HEXLEN + 1;
	if (parse_u64(q, nl, &px->bytes, &q) || q >= nl || *q != ' ' ||
	    px->bytes < CDT_INFO_TABLE_MIN || px->bytes > INFO_TABLE_MAX)
		return cdt_corrupt(why, "info/prefixes line %zu has a bad size", nr);
	q++;
	if (!prefix_ok(q, (size_t)(nl - q)))
		return cdt_corrupt(why, "info/prefixes line %zu has a bad prefix", nr);
	if (prev && info_cmp_bytes(prev, prev_len, q, (size_t)(nl - q)) >= 0)
		return cdt_corrupt(why, "info/prefixes is not sorted (line %zu)", nr);
	*prefix = q;
	return 0;
}

int cdt_info_prefixes_parse(const char *buf, size_t len, struct cdt_info_prefix **out,
			    size_t *n, struct strbuf *why)
{
	struct cdt_info_prefix *v = NULL;
	size_t nr = 0, alloc = 0;
	const char *p, *end, *q;
	int ret;

	*out = NULL;
	*n = 0;
	ret = text_frame(buf, len, PREFIXES_HEADER, "info/prefixes", &p, &end, why);
	if (ret)
		return ret;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct cdt_info_prefix px;

		ret = prefix_line(p, nl, nr + 1, nr ? v[nr - 1].prefix : NULL,
				  nr ? strlen(v[nr - 1].prefix) : 0, &px, &q, why);
		if (ret)
			goto fail;
		px.prefix = xmalloc((size_t)(nl - q) + 1);
		memcpy(px.prefix, q, (size_t)(nl - q));
		px.prefix[nl - q] = '\0';
		ALLOC_GROW(v, nr + 1, alloc);
		v[nr++] = px;
		p = nl + 1;
	}
	*out = v;
	*n = nr;
	return 0;
fail:
	cdt_info_prefixes_free(v, nr);
	return ret;
}

/*
 * Walking a text file of info/ in a file, in bounded memory: a first
 * read checks its header, size, every line (line() with pass 0) and its
 * checksum; a second, when all of it is good, hands each line on (pass
 * 1), so that nothing reaches the caller from a file that fails.
 */
#define WALK_BUF (64u << 10)

struct text_walk {
	const char *header, *what;
	int (*line)(struct text_walk *w, const char *p, const char *nl, size_t nr,
		    struct strbuf *why);
	int pass;
};

/* One pass over the lines of [start, end) of fd; with h, every byte read is hashed. */
static int walk_lines(int fd, struct text_walk *w, uint64_t start, uint64_t end,
		      struct cdt_hasher *h, char *buf, struct strbuf *why)
{
	uint64_t pos = start;
	size_t have = 0, nr = 0;
	int ret = 0, bad = 0;

	while (pos < end) {
		size_t want = (size_t)MIN((uint64_t)(WALK_BUF - have), end - pos);
		ssize_t n = pread_full(fd, buf + have, want, (off_t)pos);
		char *p = buf, *e, *nl;

		if (n != (ssize_t)want)
			return n < 0 ? (int)n : -EIO;
		if (h)
			cdt_hasher_update(h, buf + have, want);
		pos += want;
		e = buf + have + want;
		/* After a bad line, only the checksum is worked out (it is the first reason). */
		while (!bad && (nl = memchr(p, '\n', (size_t)(e - p)))) {
			ret = w->line(w, p, nl, ++nr, why);
			p = nl + 1;
			if (ret && (!h || ret != -CDT_ECORRUPT))
				return ret;
			bad = ret != 0;
		}
		if (!bad && p == buf && e == buf + WALK_BUF) {
			/* No line of these files is that long. */
			ret = w->line(w, p, NULL, ++nr, why);
			if (!h)
				return ret;
			bad = 1;
		}
		have = bad ? 0 : (size_t)(e - p);
		memmove(buf, p, have);
	}
	return ret;
}

static int walk_text_fd(int fd, struct text_walk *w, struct strbuf *why)
{
	size_t hlen = strlen(w->header), clen = strlen("checksum ") + CDT_ID_HEXLEN + 1;
	char tail[sizeof("checksum ") + CDT_ID_HEXLEN + 1];
	struct cdt_hasher *h;
	struct cdt_id want, got;
	struct strbuf line_why = STRBUF_INIT;
	uint64_t size;
	struct stat st;
	ssize_t n;
	char *buf;
	int ret;

	if (fstat(fd, &st) < 0)
		return -errno;
	size = (uint64_t)st.st_size;
	if (size > CDT_INFO_TEXT_MAX)
		return cdt_corrupt(why, "%s is too large", w->what);
	buf = xmalloc(WALK_BUF);
	n = size < hlen ? 0 : pread_full(fd, buf, hlen, 0);
	if (n < 0) {
		ret = (int)n;
		goto out;
	}
	if ((size_t)n != hlen || memcmp(buf, w->header, hlen)) {
		ret = cdt_corrupt(why, "%s has no header line", w->what);
		goto out;
	}
	/* The checksum line, and the newline before it (the header's, with no lines). */
	n = size < hlen + clen ? 0 : pread_full(fd, tail, clen + 1, (off_t)(size - clen - 1));
	if (n < 0) {
		ret = (int)n;
		goto out;
	}
	if ((size_t)n != clen + 1 || tail[clen] != '\n' || tail[0] != '\n' ||
	    memcmp(tail + 1, "checksum ", 9) || parse_id(tail + 10, &want)) {
		ret = cdt_corrupt(why, "%s has no checksum line", w->what);
		goto out;
	}
	w->pass = 0;
	h = cdt_hasher_new();
	cdt_hasher_update(h, buf, hlen);
	ret = walk_lines(fd, w, hlen, size - clen, h, buf, &line_why);
	cdt_hasher_final(h, &got);
	cdt_hasher_free(h);
	if (ret == -CDT_ECORRUPT && !cdt_id_eq(&want, &got))
		ret = cdt_corrupt(why, "%s checksum does not match its contents", w->what);
	else if (ret)
		strbuf_addbuf(why, &line_why);
	else if (!cdt_id_eq(&want, &got))
		ret = cdt_corrupt(why, "%s checksum does not match its contents", w->what);
	if (ret)
		goto out;
	w->pass = 1;
	ret = walk_lines(fd, w, hlen, size - clen, NULL, buf, why);
out:
	free(buf);
	strbuf_release(&line_why);
	return ret;
}

struct packs_walk {
	struct text_walk w;
	char prev[CDT_ID_HEXLEN + 6];
	cdt_info_pack_fn fn;
	void *data;
};

static int walk_pack_line(struct text_walk *w, const char *p, const char *nl, size_t nr,
			  struct strbuf *why)
{
	struct packs_walk *pw = (struct packs_walk *)w;
	struct cdt_info_pack pk;
	int ret = pack_line(p, nl, nr, nr > 1 ? pw->prev : NULL, &pk, why);

	if (ret)
		return ret;
	memcpy(pw->prev, pk.name, sizeof(pw->prev));
	return w->pass ? pw->fn(&pk, pw->data) : 0;
}

int cdt_info_packs_walk_fd(int fd, cdt_info_pack_fn fn, void *data, struct strbuf *why)
{
	struct packs_walk pw = { { PACKS_HEADER, "info/packs", walk_pack_line, 0 }, "", fn, data };

	return walk_text_fd(fd, &pw.w, why);
}

struct prefixes_walk {
	struct text_walk w;
	struct strbuf prev;
	cdt_info_prefix_fn fn;
	void *data;
};

static int walk_prefix_line(struct text_walk *w, const char *p, const char *nl, size_t nr,
			    struct strbuf *why)
{
	struct prefixes_walk *pw = (struct prefixes_walk *)w;
	struct cdt_info_prefix px;
	const char *q;
	int ret = prefix_line(p, nl, nr, nr > 1 ? pw->prev.buf : NULL, pw->prev.len, &px, &q,
			      why);

	if (ret)
		return ret;
	strbuf_reset(&pw->prev);
	strbuf_add(&pw->prev, q, (size_t)(nl - q));
	px.prefix = pw->prev.buf;
	return w->pass ? pw->fn(&px, pw->data) : 0;
}

int cdt_info_prefixes_walk_fd(int fd, cdt_info_prefix_fn fn, void *data, struct strbuf *why)
{
	struct prefixes_walk pw = { { PREFIXES_HEADER, "info/prefixes", walk_prefix_line, 0 },
				    STRBUF_INIT, fn, data };
	int ret = walk_text_fd(fd, &pw.w, why);

	strbuf_release(&pw.prev);
	return ret;
}

int info_cmp_prefix(const void *a, const void *b)
{
	return strcmp(((const struct cdt_info_prefix *)a)->prefix,
		      ((const struct cdt_info_prefix *)b)->prefix);
}

void cdt_info_prefixes_format(struct cdt_info_prefix *p, size_t n, struct strbuf *out)
{
	char hex[CDT_ID_HEXLEN + 1];
	size_t start = out->len, i;

	if (n > 1)
		qsort(p, n, sizeof(*p), info_cmp_prefix);
	strbuf_addstr(out, PREFIXES_HEADER);
	for (i = 0; i < n; i++)
		strbuf_addf(out, "%s %llu %s\n", cdt_id_to_hex(&p[i].sum, hex),
			    (unsigned long long)p[i].bytes, p[i].prefix);
	add_checksum_line(out, start);
}

void cdt_info_prefixes_free(struct cdt_info_prefix *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(p[i].prefix);
	free(p);
}

/* Tables of names */

size_t cdt_info_prefix_len(const char *name)
{
	const char *slash = strchr(name, '/');

	return slash ? (size_t)(slash - name) : strlen(name);
}

int cdt_info_names_parse(const unsigned char *buf, size_t len, const char *prefix,
			 cdt_info_entry_fn fn, void *data, struct strbuf *why)
{
	size_t plen = strlen(prefix), off = CDT_INFO_TABLE_HDR, i;
	struct cdt_name_entry *e, *prev;
	uint64_t count;
	struct cdt_id sum;
	int ret = 0;

	if (len < CDT_INFO_TABLE_HDR + CDT_ID_LEN || len > INFO_TABLE_MAX)
		return cdt_corrupt(why, "table has an impossible length");
	if (memcmp(buf, CDT_INFO_TABLE_MAGIC, 4))
		return cdt_corrupt(why, "table has a bad magic number");
	if (buf[4] != CDT_INFO_TABLE_VERSION)
		return cdt_corrupt(why, "table has unknown version %u", buf[4]);
	if (buf[5] || buf[6] || buf[7])
		return cdt_corrupt(why, "table has reserved bits set");
	cdt_hash(buf, len - CDT_ID_LEN, &sum);
	if (memcmp(sum.b, buf + len - CDT_ID_LEN, CDT_ID_LEN))
		return cdt_corrupt(why, "table checksum does not match its contents");
	count = get_le64(buf + 8);
	if (count > (len - CDT_INFO_TABLE_HDR - CDT_ID_LEN) / (4 + CDT_INFO_ENTRY_MIN))
		return cdt_corrupt(why, "table has an impossible entry count");
	if (!prefix_ok(prefix, plen))
		return cdt_corrupt(why, "table has a bad prefix");
	/* Two entries (this one and the one before it), for the order. */
	e = xcalloc(2, sizeof(*e));
	prev = NULL;
	for (i = 0; i < count && !ret; i++) {
		size_t elen;
		struct cdt_name_entry *cur = &e[i & 1];

		if (len - CDT_ID_LEN - off < 4) {
			ret = cdt_corrupt(why, "table ends within entry %zu", i + 1);
			break;
		}
		elen = get_le32(buf + off);
		off += 4;
		if (elen < CDT_INFO_ENTRY_MIN || elen > CDT_NAME_ENTRY_MAX ||
		    elen > len - CDT_ID_LEN - off) {
			ret = cdt_corrupt(why, "table entry %zu has an impossible length", i + 1);
			break;
		}
		if (cdt_name_decode(buf + off, elen, NULL, cur, why)) {
			strbuf_addf(why, " (table entry %zu)", i + 1);
			ret = -CDT_ECORRUPT;
			break;
		}
		if (strncmp(cur->name, prefix, plen) || (cur->name[plen] && cur->name[plen] != '/'))
			ret = cdt_corrupt(why, "table entry %zu is not under '%s'", i + 1, prefix);
		else if (prev && strcmp(prev->name, cur->name) >= 0)
			ret = cdt_corrupt(why, "table entries are not sorted (entry %zu)", i + 1);
		else
			ret = fn(cur, buf + off, elen, data);
		if (prev)
			cdt_name_entry_release(prev);
		prev = cur;
		off += elen;
	}
	if (prev)
		cdt_name_entry_release(prev);
	free(e);
	if (!ret && off != len - CDT_ID_LEN)
		ret = cdt_corrupt(why, "table has bytes after its last entry");
	return ret;
}

/* info-internal.h says what this is for. */
int info_table_names(const unsigned char *buf, size_t len, const char *prefix,
		       const struct cdt_id *sum, info_table_name_fn fn, void *data,
		       struct strbuf *why)
{
	size_t plen = strlen(prefix), off = CDT_INFO_TABLE_HDR, i, prev_off = 0, prev_len = 0;
	uint64_t count;
	struct cdt_id got;
	int ret = 0;

	if (len < CDT_INFO_TABLE_HDR + CDT_ID_LEN || len > INFO_TABLE_MAX ||
	    memcmp(buf, CDT_INFO_TABLE_MAGIC, 4) || buf[4] != CDT_INFO_TABLE_VERSION ||
	    memcmp(buf + len - CDT_ID_LEN, sum->b, CDT_ID_LEN))
		return cdt_corrupt(why, "table is not the one listed");
	cdt_hash(buf, len - CDT_ID_LEN, &got);
	if (!cdt_id_eq(&got, sum))
		return cdt_corrupt(why, "table checksum does not match its contents");
	count = get_le64(buf + 8);
	for (i = 0; i < count && !ret; i++) {
		size_t elen, nlen, at;

		if (len - CDT_ID_LEN - off < 4)
			return cdt_corrupt(why, "table ends within entry %zu", i + 1);
		elen = get_le32(buf + off);
		off += 4;
		if (elen < CDT_INFO_ENTRY_MIN || elen > len - CDT_ID_LEN - off)
			return cdt_corrupt(why, "table entry %zu has an impossible length", i + 1);
		at = buf[off + 4] == CDT_NAME_VERSION ? CDT_NAME_FIXED : CDT_NAME_FIXED2;
		nlen = get_le16(buf + off + 80);
		if (!nlen || nlen > CDT_NAME_MAX || at + nlen + CDT_ID_LEN > elen ||
		    memchr(buf + off + at, '\0', nlen))
			return cdt_corrupt(why, "table entry %zu has an impossible name", i + 1);
		if (nlen < plen || memcmp(buf + off + at, prefix, plen) ||
		    (nlen > plen && buf[off + at + plen] != '/'))
			return cdt_corrupt(why, "table entry %zu is not under '%s'", i + 1, prefix);
		if (i && info_cmp_bytes((const char *)buf + prev_off, prev_len,
				   (const char *)buf + off + at, nlen) >= 0)
			return cdt_corrupt(why, "table entries are not sorted (entry %zu)", i + 1);
		ret = fn((const char *)buf + off + at, nlen, buf + off, elen, data);
		prev_off = off + at;
		prev_len = nlen;
		off += elen;
	}
	if (!ret && off != len - CDT_ID_LEN)
		ret = cdt_corrupt(why, "table has bytes after its last entry");
	return ret;
}

/* Copies of damaged entries */

/* An entry of a table that checked in full: its name, and its bytes in the table. */
struct copy {
	size_t name_off;	/* in copies.names */
	const unsigned char *raw;
	size_t len;
	int seen;		/* names/ holds it, or an entry of its name that cannot be read */
};

struct copies {
	struct copy *v;		/* in the table's order: sorted by name */
	size_t n, alloc;
	struct strbuf names;
	struct strbuf why;	/* why the table is not trusted, once it is not */
};

static int collect_copy(const struct cdt_name_entry *e, const unsigned char *raw, size_t len,
			void *data)
{
	struct copies *c = data;

	ALLOC_GROW(c->v, c->n + 1, c->alloc);
	c->v[c->n].name_off = c->names.len;
	strbuf_add(&c->names, e->name, strlen(e->name) + 1);
	c->v[c->n].raw = raw;
	c->v[c->n].len = len;
	c->v[c->n].seen = 0;
	c->n++;
	return 0;
}

static struct copy *find_copy(struct copies *c, const char *name)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(c->names.buf + c->v[mid].name_off, name);

		if (!cmp)
			return &c->v[mid];
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* A cdt_name_raw_fn: is each entry of names/ under the prefix the table's? */
static int compare_copy(const char *name, const struct cdt_name_entry *e,
			const unsigned char *raw, size_t len, int err, const char *why,
			void *data)
{
	struct copies *c = data;
	struct copy *cp;

	if (!e && err != -CDT_ECORRUPT && err != -ELOOP) {
		strbuf_addf(&c->why, "cannot be checked (names under it cannot be read: %s)",
			    why && *why ? why : cdt_strerror(err));
		return 1;
	}
	cp = find_copy(c, name);
	if (!e) {
		/* Damaged too: its copy is asked about, not compared. */
		if (cp)
			cp->seen = 1;
		return 0;
	}
	if (!cp || cp->len != len || memcmp(cp->raw, raw, len)) {
		strbuf_addf(&c->why, "may be out of date (it disagrees with names/ on '%s')",
			    quote(name));
		return 1;
	}
	cp->seen = 1;
	return 0;
}

/*
 * Can the table of `prefix` (its bytes read into table, its entries into
 * c) be trusted to hold the current entries of its names? Else why not,
 * appended to why after "its copy in info/names/P ".
 */
static void check_copies(struct cdt_info *in, const char *prefix,
			 const struct cdt_info_prefix *lines, size_t nlines, struct strbuf *table,
			 struct copies *c, struct strbuf *why)
{
	struct cdt_info_prefix key, *line = NULL;
	struct strbuf rel = STRBUF_INIT, bad = STRBUF_INIT;
	size_t i;
	int err;

	memset(&key, 0, sizeof(key));
	key.prefix = (char *)prefix;
	if (nlines)
		line = bsearch(&key, lines, nlines, sizeof(*lines), info_cmp_prefix);
	strbuf_addf(&rel, "names/%s", prefix);
	err = cdt_info_read(in, rel.buf, table);
	if (!line && err == -ENOENT) {
		strbuf_addstr(why, "info/names/ holds no copy of it");
		goto out;
	}
	strbuf_addf(why, "its copy in info/names/%s ", quote(prefix));
	if (!line) {
		strbuf_addstr(why, "may be out of date (info/prefixes does not list it)");
	} else if (err < 0) {
		strbuf_addf(why, "cannot be read (%s)", cdt_strerror(err));
	} else if (table->len != line->bytes || table->len < CDT_ID_LEN ||
		   memcmp(table->buf + table->len - CDT_ID_LEN, line->sum.b, CDT_ID_LEN)) {
		/* A table put back from before a change, or one written since. */
		strbuf_addstr(why, "may be out of date (info/prefixes lists another table)");
	} else if (cdt_info_names_parse((const unsigned char *)table->buf, table->len, prefix,
					collect_copy, c, &bad)) {
		strbuf_addf(why, "is damaged (%s)", bad.buf);
	} else {
		/* The table is this store's latest: is names/ still as it left it? */
		err = cdt_names_walk_raw(cdt_info_store(in), prefix, compare_copy, c);
		if (!c->why.len && err < 0)
			strbuf_addf(&c->why, "cannot be checked (names under it cannot be read: %s)",
				    cdt_strerror(err));
		for (i = 0; i < c->n && !c->why.len; i++)
			if (!c->v[i].seen)
				strbuf_addf(&c->why,
					    "may be out of date (it holds '%s', which names/ does not)",
					    quote(c->names.buf + c->v[i].name_off));
		if (c->why.len)
			strbuf_addbuf(why, &c->why);
		else
			strbuf_reset(why);
	}
out:
	strbuf_release(&rel);
	strbuf_release(&bad);
}

/* Names by prefix, then by name: the names of one table together. */
static int cmp_by_prefix(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	int c = info_cmp_bytes(x, cdt_info_prefix_len(x), y, cdt_info_prefix_len(y));

	return c ? c : strcmp(x, y);
}

int cdt_info_name_copies(struct cdt_info *in, const char *const *names, size_t n,
			 cdt_info_copy_fn fn, void *data)
{
	struct strbuf text = STRBUF_INIT, all = STRBUF_INIT, table = STRBUF_INIT;
	struct strbuf prefix = STRBUF_INIT, why = STRBUF_INIT, bad = STRBUF_INIT;
	struct cdt_info_prefix *lines = NULL;
	struct cdt_name_entry *e;
	size_t nlines = 0, i, j, k;
	const char **v;
	int ret = 0, err;

	if (!n)
		return 0;
	v = xmalloc(n * sizeof(*v));
	memcpy(v, names, n * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_by_prefix);
	/*
	 * Every change of a name is followed by its table under a mark that
	 * goes only once the table is durable: while a mark is there, any
	 * table may be behind names/.
	 */
	if (cdt_info_changing(in))
		strbuf_addstr(&all, "may be out of date (a writer is changing names)");
	else if (cdt_info_intents_dead(cdt_info_store(in)))
		strbuf_addstr(&all, "may be out of date (a writer stopped before its tables "
			      "followed its names)");
	else if ((err = cdt_info_read(in, "prefixes", &text)) < 0)
		strbuf_addf(&all, "cannot be trusted (info/prefixes cannot be read: %s)",
			    cdt_strerror(err));
	else if (cdt_info_prefixes_parse(text.buf, text.len, &lines, &nlines, &bad))
		strbuf_addf(&all, "cannot be trusted (%s)", bad.buf);
	e = xmalloc(sizeof(*e));
	for (i = 0; i < n && !ret; i = j) {
		size_t plen = cdt_info_prefix_len(v[i]);
		struct copies c;

		for (j = i + 1; j < n && cdt_info_prefix_len(v[j]) == plen &&
		     !memcmp(v[j], v[i], plen); j++)
			;
		memset(&c, 0, sizeof(c));
		strbuf_init(&c.names, 0);
		strbuf_init(&c.why, 0);
		strbuf_reset(&prefix);
		strbuf_add(&prefix, v[i], plen);
		strbuf_reset(&why);
		strbuf_reset(&table);
		if (all.len)
			strbuf_addf(&why, "its copy in info/names/%s %s", quote(prefix.buf), all.buf);
		else if (!prefix_ok(prefix.buf, plen))
			strbuf_addstr(&why, "info/names/ holds no copy of it");
		else
			check_copies(in, prefix.buf, lines, nlines, &table, &c, &why);
		for (k = i; k < j && !ret; k++) {
			struct copy *cp = why.len ? NULL : find_copy(&c, v[k]);

			strbuf_reset(&bad);
			if (why.len) {
				ret = fn(v[k], NULL, NULL, 0, why.buf, data);
			} else if (!cp) {
				strbuf_addf(&bad, "info/names/%s holds no copy of it", quote(prefix.buf));
				ret = fn(v[k], NULL, NULL, 0, bad.buf, data);
			} else if (cdt_name_decode(cp->raw, cp->len, v[k], e, &bad)) {
				/* (Checked with the table already: not seen.) */
				strbuf_reset(&why);
				strbuf_addf(&why, "its copy in info/names/%s is damaged (%s)",
					    quote(prefix.buf), bad.buf);
				ret = fn(v[k], NULL, NULL, 0, why.buf, data);
				strbuf_reset(&why);
			} else {
				ret = fn(v[k], e, cp->raw, cp->len, NULL, data);
				cdt_name_entry_release(e);
			}
		}
		free(c.v);
		strbuf_release(&c.names);
		strbuf_release(&c.why);
	}
	free(e);
	free(v);
	cdt_info_prefixes_free(lines, nlines);
	strbuf_release(&text);
	strbuf_release(&all);
	strbuf_release(&table);
	strbuf_release(&prefix);
	strbuf_release(&why);
	strbuf_release(&bad);
	return ret;
}
