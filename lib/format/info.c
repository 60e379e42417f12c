/* info.c: server info (info/packs, info/names/<P>, info/prefixes): parsing, writing and keeping it up to date. */
#include "format/info.h"
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
#define PREFIXES_HEADER "# cdt info/prefixes: the tables of names in info/names/\n"
/* The most bytes a table may have (a reader maps or reads it whole). */
#define TABLE_MAX ((uint64_t)1 << 31)

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
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *q;
		struct cdt_info_pack pk;

		/* "pack-" 64 hex, a space, two numbers */
		if (!nl || (size_t)(nl - p) < 5 + CDT_ID_HEXLEN + 4 || memcmp(p, "pack-", 5) ||
		    !is_hex_n(p + 5, CDT_ID_HEXLEN) || p[5 + CDT_ID_HEXLEN] != ' ') {
			ret = cdt_corrupt(why, "info/packs line %zu is not a pack's", nr + 1);
			goto fail;
		}
		memcpy(pk.name, p, 5 + CDT_ID_HEXLEN);
		pk.name[5 + CDT_ID_HEXLEN] = '\0';
		q = p + 5 + CDT_ID_HEXLEN + 1;
		if (parse_u64(q, nl, &pk.pack_bytes, &q) || q >= nl || *q != ' ' ||
		    parse_u64(q + 1, nl, &pk.idx_bytes, &q) || q != nl) {
			ret = cdt_corrupt(why, "info/packs line %zu has bad sizes", nr + 1);
			goto fail;
		}
		if (nr && strcmp(v[nr - 1].name, pk.name) >= 0) {
			ret = cdt_corrupt(why, "info/packs is not sorted (line %zu)", nr + 1);
			goto fail;
		}
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
static int cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, MIN(alen, blen));

	return c ? c : alen < blen ? -1 : alen > blen;
}

int cdt_info_prefixes_parse(const char *buf, size_t len, struct cdt_info_prefix **out,
			    size_t *n, struct strbuf *why)
{
	struct cdt_info_prefix *v = NULL;
	size_t nr = 0, alloc = 0;
	const char *p, *end;
	int ret;

	*out = NULL;
	*n = 0;
	ret = text_frame(buf, len, PREFIXES_HEADER, "info/prefixes", &p, &end, why);
	if (ret)
		return ret;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *q;
		struct cdt_info_prefix px;

		if (!nl || (size_t)(nl - p) < CDT_ID_HEXLEN + 4 || parse_id(p, &px.sum) ||
		    p[CDT_ID_HEXLEN] != ' ') {
			ret = cdt_corrupt(why, "info/prefixes line %zu is not a table's", nr + 1);
			goto fail;
		}
		q = p + CDT_ID_HEXLEN + 1;
		if (parse_u64(q, nl, &px.bytes, &q) || q >= nl || *q != ' ' ||
		    px.bytes < CDT_INFO_TABLE_MIN || px.bytes > TABLE_MAX) {
			ret = cdt_corrupt(why, "info/prefixes line %zu has a bad size", nr + 1);
			goto fail;
		}
		q++;
		if (!prefix_ok(q, (size_t)(nl - q))) {
			ret = cdt_corrupt(why, "info/prefixes line %zu has a bad prefix", nr + 1);
			goto fail;
		}
		if (nr && cmp_bytes(v[nr - 1].prefix, strlen(v[nr - 1].prefix), q,
				    (size_t)(nl - q)) >= 0) {
			ret = cdt_corrupt(why, "info/prefixes is not sorted (line %zu)", nr + 1);
			goto fail;
		}
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

static int cmp_prefix(const void *a, const void *b)
{
	return strcmp(((const struct cdt_info_prefix *)a)->prefix,
		      ((const struct cdt_info_prefix *)b)->prefix);
}

void cdt_info_prefixes_format(struct cdt_info_prefix *p, size_t n, struct strbuf *out)
{
	char hex[CDT_ID_HEXLEN + 1];
	size_t start = out->len, i;

	if (n > 1)
		qsort(p, n, sizeof(*p), cmp_prefix);
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

	if (len < CDT_INFO_TABLE_HDR + CDT_ID_LEN || len > TABLE_MAX)
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

/*
 * The names of a table already known to be whole (its checksum is the one
 * info/prefixes lists: this store wrote it), without parsing each entry
 * again: a commit merges its changes into its prefixes' tables, and
 * decoding (and hashing) every entry of a large prefix at every commit
 * was most of the cost. Bounds and order are still checked; fn gets
 * only the name (e is NULL). 0, fn's value or -CDT_ECORRUPT.
 */
typedef int (*table_name_fn)(const char *name, size_t name_len, const unsigned char *raw,
			     size_t len, void *data);
static int table_names(const unsigned char *buf, size_t len, const char *prefix,
		       const struct cdt_id *sum, table_name_fn fn, void *data,
		       struct strbuf *why)
{
	size_t plen = strlen(prefix), off = CDT_INFO_TABLE_HDR, i, prev_off = 0, prev_len = 0;
	uint64_t count;
	struct cdt_id got;
	int ret = 0;

	if (len < CDT_INFO_TABLE_HDR + CDT_ID_LEN || len > TABLE_MAX ||
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
		if (i && cmp_bytes((const char *)buf + prev_off, prev_len,
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

/* One entry of a table being made: its name and bytes (not owned). */
struct ent {
	const char *name;
	const unsigned char *raw;
	size_t len;
	size_t seq;		/* order of changes: the later one wins */
};

static int cmp_ent(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Locked info/ */

struct cdt_info {
	struct cdt_store *s;
	int infofd, namesfd, lockfd;
	int is_new;
};

static int info_open(struct cdt_store *s, int update, struct cdt_info **out)
{
	struct cdt_info *in = xcalloc(1, sizeof(*in));
	const char *path = cdt_store_path(s);
	int rootfd = cdt_store_rootfd(s), ret;

	in->s = s;
	in->infofd = in->namesfd = in->lockfd = -1;
	*out = NULL;
	if (update && mkdirat(rootfd, CDT_INFO_DIR, 0777) < 0 && errno != EEXIST) {
		ret = error_code(-errno, "cannot create '%s/info': %s", path, cdt_strerror(errno));
		goto fail;
	}
	in->infofd = openat(rootfd, CDT_INFO_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (in->infofd < 0) {
		ret = -errno;
		if (update || ret != -ENOENT)
			error("cannot open '%s/info': %s", path, cdt_strerror(errno));
		goto fail;
	}
	if (update && mkdirat(in->infofd, "names", 0777) < 0 && errno != EEXIST) {
		ret = error_code(-errno, "cannot create '%s/info/names': %s", path,
				 cdt_strerror(errno));
		goto fail;
	}
	in->lockfd = openat(in->infofd, "lock", (update ? O_RDWR | O_CREAT : O_RDONLY) |
			    O_CLOEXEC | O_NOFOLLOW, 0666);
	if (in->lockfd < 0 && !update && errno == ENOENT) {
		/* A check of an info/ no update finished making: nothing to wait for. */
	} else if (in->lockfd < 0) {
		ret = error_code(-errno, "cannot open '%s/info/lock': %s", path, cdt_strerror(errno));
		goto fail;
	} else {
		while (flock(in->lockfd, update ? LOCK_EX : LOCK_SH) < 0) {
			if (errno != EINTR) {
				ret = error_code(-errno, "cannot lock '%s/info/lock': %s", path,
						 cdt_strerror(errno));
				goto fail;
			}
		}
	}
	in->namesfd = openat(in->infofd, "names", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (in->namesfd < 0 && (update || errno != ENOENT)) {
		ret = error_code(-errno, "cannot open '%s/info/names': %s", path, cdt_strerror(errno));
		goto fail;
	}
	in->is_new = faccessat(in->infofd, "packs", F_OK, AT_SYMLINK_NOFOLLOW) < 0 ||
		     faccessat(in->infofd, "prefixes", F_OK, AT_SYMLINK_NOFOLLOW) < 0;
	*out = in;
	return 0;
fail:
	cdt_info_close(in);
	return ret;
}

int cdt_info_open(struct cdt_store *s, struct cdt_info **out)
{
	return info_open(s, 1, out);
}

int cdt_info_open_check(struct cdt_store *s, struct cdt_info **out)
{
	return info_open(s, 0, out);
}

void cdt_info_close(struct cdt_info *in)
{
	if (!in)
		return;
	if (in->namesfd >= 0)
		close(in->namesfd);
	if (in->lockfd >= 0)
		close(in->lockfd);	/* (drops the lock) */
	if (in->infofd >= 0)
		close(in->infofd);
	free(in);
}

struct cdt_store *cdt_info_store(const struct cdt_info *in)
{
	return in->s;
}

int cdt_info_is_new(const struct cdt_info *in)
{
	return in->is_new;
}

int cdt_info_read(struct cdt_info *in, const char *rel, struct strbuf *out)
{
	int table = !strncmp(rel, "names/", 6);

	if (table && in->namesfd < 0)
		return -ENOENT;
	return read_small_fileat(table ? in->namesfd : in->infofd, table ? rel + 6 : rel,
				 table ? (size_t)TABLE_MAX : CDT_INFO_TEXT_MAX, out);
}

int cdt_info_list_tables(struct cdt_info *in, struct cdt_dent **out, size_t *n)
{
	if (in->namesfd < 0) {
		*out = NULL;
		*n = 0;
		return -ENOENT;
	}
	return cdt_list_dir(in->namesfd, ".", out, n);
}

/* Write info/<name> from text: a temporary file in tmp/, renamed over the old one. */
static int write_text(struct cdt_info *in, const char *name, const struct strbuf *text)
{
	int tmpfd = cdt_store_dirfd(in->s, CDT_DIR_TMP);
	struct strbuf tmp = STRBUF_INIT;
	int fd, ret;

	fd = tmpfile_openat(tmpfd, "info", &tmp);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	ret = write_all(fd, text->buf, text->len);
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && renameat(tmpfd, tmp.buf, in->infofd, name) < 0)
		ret = -errno;
	if (ret)
		unlinkat(tmpfd, tmp.buf, 0);
	tmpfile_forget(tmpfd, tmp.buf);
out:
	if (ret)
		error("cannot write '%s/info/%s': %s", cdt_store_path(in->s), name,
		      cdt_strerror(ret));
	strbuf_release(&tmp);
	return ret;
}

int cdt_info_write_packs(struct cdt_info *in, struct cdt_info_pack *p, size_t n)
{
	struct strbuf text = STRBUF_INIT;
	int ret;

	cdt_info_packs_format(p, n, &text);
	ret = write_text(in, "packs", &text);
	strbuf_release(&text);
	return ret;
}

/* The bytes of a table of these entries (sorted, names distinct). */
static void table_format(const struct ent *v, size_t n, struct strbuf *out)
{
	unsigned char h[CDT_INFO_TABLE_HDR];
	struct cdt_id sum;
	size_t i, start = out->len;

	memset(h, 0, sizeof(h));
	memcpy(h, CDT_INFO_TABLE_MAGIC, 4);
	h[4] = CDT_INFO_TABLE_VERSION;
	put_le64(h + 8, n);
	strbuf_add(out, h, sizeof(h));
	for (i = 0; i < n; i++) {
		unsigned char l[4];

		put_le32(l, (uint32_t)v[i].len);
		strbuf_add(out, l, 4);
		strbuf_add(out, v[i].raw, v[i].len);
	}
	cdt_hash(out->buf + start, out->len - start, &sum);
	strbuf_add(out, sum.b, CDT_ID_LEN);
}

/*
 * Write info/names/<prefix> with these entries (sorted, distinct), or
 * remove it when there are none; its line goes to *line (bytes 0 when
 * removed). 0 or -errno (reported).
 */
static int write_table(struct cdt_info *in, const char *prefix, const struct ent *v, size_t n,
		       struct cdt_info_prefix *line)
{
	int tmpfd = cdt_store_dirfd(in->s, CDT_DIR_TMP);
	struct cdt_csum_file *f = NULL;
	unsigned char h[CDT_INFO_TABLE_HDR];
	size_t i;
	int ret;

	line->bytes = 0;
	if (!n) {
		if (unlinkat(in->namesfd, prefix, 0) < 0 && errno != ENOENT) {
			ret = -errno;
			goto fail;
		}
		return 0;
	}
	ret = cdt_csum_file_open(tmpfd, "info", &f);
	if (ret)
		goto fail;
	memset(h, 0, sizeof(h));
	memcpy(h, CDT_INFO_TABLE_MAGIC, 4);
	h[4] = CDT_INFO_TABLE_VERSION;
	put_le64(h + 8, n);
	ret = cdt_csum_file_write(f, h, sizeof(h));
	for (i = 0; i < n && !ret; i++) {
		unsigned char l[4];

		put_le32(l, (uint32_t)v[i].len);
		ret = cdt_csum_file_write(f, l, 4);
		if (!ret)
			ret = cdt_csum_file_write(f, v[i].raw, v[i].len);
	}
	if (!ret)
		ret = cdt_csum_file_finish(f, CDT_CSUM_APPEND, &line->sum);
	line->bytes = cdt_csum_file_offset(f);
	if (!ret)
		ret = cdt_csum_file_rename(f, in->namesfd, prefix, 0);
	cdt_csum_file_free(f);
	if (ret)
		goto fail;
	return 0;
fail:
	return error_code(ret, "cannot write '%s/info/names/%s': %s", cdt_store_path(in->s),
			  prefix, cdt_strerror(ret));
}

/* Entries collected from a walk of names/ (owned copies). */
struct collected {
	struct ent *v;
	size_t n, alloc;
	struct strbuf bytes;	/* every name and entry, one after another */
	size_t *offs;		/* of each name in bytes (the buffer moves as it grows) */
	size_t offs_alloc;
	struct strbuf prefix;	/* the prefix being collected */
	int damaged;		/* an entry under it cannot be read */
	struct cdt_info *in;	/* rebuild: where tables go */
	cdt_info_table_fn fn;	/* expected: where tables go */
	void *data;
	struct cdt_info_prefix *lines;
	size_t nlines, lines_alloc;
	int ret;
};

static void collected_reset(struct collected *c)
{
	c->n = 0;
	strbuf_reset(&c->bytes);
}

static void collect(struct collected *c, const char *name, const unsigned char *raw, size_t len)
{
	size_t nlen = strlen(name) + 1;

	ALLOC_GROW(c->v, c->n + 1, c->alloc);
	ALLOC_GROW(c->offs, c->n + 1, c->offs_alloc);
	c->offs[c->n] = c->bytes.len;
	strbuf_add(&c->bytes, name, nlen);
	strbuf_add(&c->bytes, raw, len);
	c->v[c->n].len = len;
	c->v[c->n].seq = c->n;
	c->n++;
}

/* Point the entries into the collected bytes, now that they stay put; sort them. */
static void collected_fix(struct collected *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		c->v[i].name = c->bytes.buf + c->offs[i];
		c->v[i].raw = (const unsigned char *)c->v[i].name + strlen(c->v[i].name) + 1;
	}
	if (c->n > 1)
		qsort(c->v, c->n, sizeof(*c->v), cmp_ent);
}

/* The table of the prefix collected so far is complete: write it, or give it to fn. */
static int flush_prefix(struct collected *c)
{
	int ret = 0;

	if (!c->prefix.len)
		return 0;
	collected_fix(c);
	if (c->in) {
		struct cdt_info_prefix line;

		ret = write_table(c->in, c->prefix.buf, c->v, c->n, &line);
		if (!ret && line.bytes) {
			line.prefix = xstrdup(c->prefix.buf);
			ALLOC_GROW(c->lines, c->nlines + 1, c->lines_alloc);
			c->lines[c->nlines++] = line;
		}
	} else if (c->damaged) {
		ret = c->fn(c->prefix.buf, NULL, 0, c->data);
	} else if (c->n) {
		struct strbuf t = STRBUF_INIT;

		table_format(c->v, c->n, &t);
		ret = c->fn(c->prefix.buf, (const unsigned char *)t.buf, t.len, c->data);
		strbuf_release(&t);
	}
	c->damaged = 0;
	collected_reset(c);
	strbuf_reset(&c->prefix);
	return ret;
}

static int collect_walked(const char *name, const struct cdt_name_entry *e,
			  const unsigned char *raw, size_t len, int err, const char *why,
			  void *data)
{
	struct collected *c = data;
	size_t plen = cdt_info_prefix_len(name);
	int ret;

	(void)err;
	(void)why;
	if (c->prefix.len != plen || memcmp(c->prefix.buf, name, plen)) {
		ret = flush_prefix(c);
		if (ret)
			return ret;
		strbuf_add(&c->prefix, name, plen);
	}
	if (e)
		collect(c, name, raw, len);
	else
		c->damaged = 1;	/* unreadable: left out (fsck reports the name) */
	return 0;
}

static void collected_release(struct collected *c)
{
	free(c->v);
	free(c->offs);
	strbuf_release(&c->bytes);
	strbuf_release(&c->prefix);
	cdt_info_prefixes_free(c->lines, c->nlines);
}

/*
 * Walk names/ (or names/<prefix> only) into tables: written (c->in) or
 * given to c->fn. 0 or -errno.
 */
static int walk_tables(struct cdt_store *s, const char *prefix, struct collected *c)
{
	int ret = cdt_names_walk_raw(s, prefix, collect_walked, c);

	if (!ret)
		ret = flush_prefix(c);
	return ret;
}

int cdt_info_names_expected(struct cdt_store *s, cdt_info_table_fn fn, void *data)
{
	struct collected c;
	int ret;

	memset(&c, 0, sizeof(c));
	strbuf_init(&c.bytes, 0);
	strbuf_init(&c.prefix, 0);
	c.fn = fn;
	c.data = data;
	ret = walk_tables(s, NULL, &c);
	collected_release(&c);
	return ret;
}

static int write_prefixes(struct cdt_info *in, struct cdt_info_prefix *p, size_t n)
{
	struct strbuf text = STRBUF_INIT;
	int ret;

	cdt_info_prefixes_format(p, n, &text);
	ret = write_text(in, "prefixes", &text);
	strbuf_release(&text);
	return ret;
}

int cdt_info_names_rebuild(struct cdt_info *in)
{
	struct collected c;
	struct cdt_dent *d = NULL;
	size_t nd = 0, i, k;
	int ret;

	memset(&c, 0, sizeof(c));
	strbuf_init(&c.bytes, 0);
	strbuf_init(&c.prefix, 0);
	c.in = in;
	ret = walk_tables(in->s, NULL, &c);
	if (ret < 0) {
		error("cannot read the names of '%s' for info/names: %s", cdt_store_path(in->s),
		      cdt_strerror(ret));
		goto out;
	}
	/* Tables of prefixes that have no names any more (lines are sorted by prefix). */
	ret = cdt_list_dir(in->namesfd, ".", &d, &nd);
	if (ret < 0) {
		error("cannot list '%s/info/names': %s", cdt_store_path(in->s), cdt_strerror(ret));
		goto out;
	}
	if (c.nlines > 1)
		qsort(c.lines, c.nlines, sizeof(*c.lines), cmp_prefix);
	for (i = 0, k = 0; i < nd; i++) {
		int r;

		while (k < c.nlines && strcmp(c.lines[k].prefix, d[i].name) < 0)
			k++;
		if (k < c.nlines && !strcmp(c.lines[k].prefix, d[i].name))
			continue;
		r = d[i].type == DT_DIR ? remove_tree_at(in->namesfd, d[i].name, 0) :
		    unlinkat(in->namesfd, d[i].name, 0) < 0 ? -errno : 0;
		if (r < 0)
			warning("cannot remove '%s/info/names/%s': %s", cdt_store_path(in->s),
				d[i].name, cdt_strerror(r));
	}
	ret = write_prefixes(in, c.lines, c.nlines);
out:
	cdt_dents_free(d, nd);
	collected_release(&c);
	return ret;
}

/* A table's entries, collected by cdt_info_names_parse() (pointing into its bytes). */
struct parsed {
	struct ent *v;
	size_t n, alloc;
	struct strbuf names;	/* the names, one after another with their NULs */
	size_t *offs;
	size_t offs_alloc;
};

static int collect_parsed(const struct cdt_name_entry *e, const unsigned char *raw, size_t len,
			  void *data)
{
	struct parsed *p = data;

	ALLOC_GROW(p->v, p->n + 1, p->alloc);
	ALLOC_GROW(p->offs, p->n + 1, p->offs_alloc);
	p->offs[p->n] = p->names.len;
	strbuf_add(&p->names, e->name, strlen(e->name) + 1);
	p->v[p->n].raw = raw;
	p->v[p->n].len = len;
	p->v[p->n].seq = 0;
	p->n++;
	return 0;
}

static int collect_named(const char *name, size_t name_len, const unsigned char *raw, size_t len,
			 void *data)
{
	struct parsed *p = data;

	ALLOC_GROW(p->v, p->n + 1, p->alloc);
	ALLOC_GROW(p->offs, p->n + 1, p->offs_alloc);
	p->offs[p->n] = p->names.len;
	strbuf_add(&p->names, name, name_len);
	strbuf_addch(&p->names, '\0');
	p->v[p->n].raw = raw;
	p->v[p->n].len = len;
	p->v[p->n].seq = 0;
	p->n++;
	return 0;
}

/*
 * The new table of one prefix: its old table merged with the changes
 * c[0..n) (sorted by name, then by order), else names/<prefix> read again.
 * Its line goes to *line (bytes 0: no table).
 */
static int update_prefix(struct cdt_info *in, const char *prefix, const struct ent *c, size_t n,
			 const struct cdt_id *listed, struct cdt_info_prefix *line)
{
	struct strbuf old = STRBUF_INIT, why = STRBUF_INIT;
	struct parsed p;
	struct ent *out = NULL;
	size_t nout = 0, aout = 0, i, j;
	int ret;

	memset(&p, 0, sizeof(p));
	strbuf_init(&p.names, 0);
	strbuf_addf(&why, "names/%s", prefix);
	ret = cdt_info_read(in, why.buf, &old);
	strbuf_reset(&why);
	/* The table info/prefixes lists is this store's own: its names suffice. */
	if (!ret && listed &&
	    table_names((const unsigned char *)old.buf, old.len, prefix, listed, collect_named,
			&p, &why)) {
		/* Not the table listed after all: every entry is parsed. */
		free(p.v);
		free(p.offs);
		strbuf_release(&p.names);
		memset(&p, 0, sizeof(p));
		strbuf_init(&p.names, 0);
		strbuf_reset(&why);
		listed = NULL;
	}
	if (!ret && !listed)
		ret = cdt_info_names_parse((const unsigned char *)old.buf, old.len, prefix,
					   collect_parsed, &p, &why);
	if (ret) {
		/* No usable table: that prefix is read again from names/. */
		struct collected col;

		memset(&col, 0, sizeof(col));
		strbuf_init(&col.bytes, 0);
		strbuf_init(&col.prefix, 0);
		ret = cdt_names_walk_raw(in->s, prefix, collect_walked, &col);
		if (!ret) {
			collected_fix(&col);
			ret = write_table(in, prefix, col.v, col.n, line);
		} else {
			error("cannot read names under '%s' for info/names: %s", quote(prefix),
			      cdt_strerror(ret));
		}
		collected_release(&col);
		goto out;
	}
	for (i = 0; i < p.n; i++)
		p.v[i].name = p.names.buf + p.offs[i];
	/* Merge: both sorted by name; of changes to one name, the last counts. */
	for (i = 0, j = 0; i < p.n || j < n;) {
		int cmp = i == p.n ? 1 : j == n ? -1 : strcmp(p.v[i].name, c[j].name);
		const struct ent *take;

		if (cmp < 0) {
			take = &p.v[i++];
		} else {
			while (j + 1 < n && !strcmp(c[j].name, c[j + 1].name))
				j++;
			take = &c[j++];
			if (!cmp)
				i++;
			if (!take->raw)
				continue;
		}
		ALLOC_GROW(out, nout + 1, aout);
		out[nout++] = *take;
	}
	ret = write_table(in, prefix, out, nout, line);
out:
	free(out);
	free(p.v);
	free(p.offs);
	strbuf_release(&p.names);
	strbuf_release(&old);
	strbuf_release(&why);
	return ret;
}

/* Changes by prefix, then name, then order. */
static int cmp_change(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;
	int c = cmp_bytes(x->name, cdt_info_prefix_len(x->name), y->name,
			  cdt_info_prefix_len(y->name));

	return c ? c : cmp_ent(a, b);
}

int cdt_info_names_update(struct cdt_info *in, struct cdt_info_change *ch, size_t n)
{
	struct strbuf text = STRBUF_INIT, why = STRBUF_INIT, prefix = STRBUF_INIT;
	struct cdt_info_prefix *lines = NULL;
	struct ent *c = NULL;
	size_t nlines = 0, i, j, k;
	int ret;

	if (!n)
		return 0;
	ret = cdt_info_read(in, "prefixes", &text);
	if (!ret)
		ret = cdt_info_prefixes_parse(text.buf, text.len, &lines, &nlines, &why);
	if (ret) {
		/* No usable list of tables: every table is written again. */
		ret = cdt_info_names_rebuild(in);
		goto out;
	}
	c = xmalloc(n * sizeof(*c));
	for (i = 0; i < n; i++) {
		c[i].name = ch[i].name;
		c[i].raw = ch[i].raw;
		c[i].len = ch[i].len;
		c[i].seq = i;
	}
	qsort(c, n, sizeof(*c), cmp_change);
	for (i = 0; i < n; i = j) {
		struct cdt_info_prefix line, *old = NULL;
		size_t plen = cdt_info_prefix_len(c[i].name);

		for (j = i + 1; j < n && cdt_info_prefix_len(c[j].name) == plen &&
		     !memcmp(c[j].name, c[i].name, plen); j++)
			;
		strbuf_reset(&prefix);
		strbuf_add(&prefix, c[i].name, plen);
		for (k = 0; k < nlines && !old; k++)
			if (!strcmp(lines[k].prefix, prefix.buf))
				old = &lines[k];
		ret = update_prefix(in, prefix.buf, c + i, j - i, old ? &old->sum : NULL, &line);
		if (ret)
			goto out;
		if (old && line.bytes) {
			old->sum = line.sum;
			old->bytes = line.bytes;
		} else if (old) {
			free(old->prefix);
			*old = lines[--nlines];
		} else if (line.bytes) {
			line.prefix = xstrdup(prefix.buf);
			lines = xrealloc(lines, (nlines + 1) * sizeof(*lines));
			lines[nlines++] = line;
		}
	}
	ret = write_prefixes(in, lines, nlines);
out:
	free(c);
	cdt_info_prefixes_free(lines, nlines);
	strbuf_release(&text);
	strbuf_release(&why);
	strbuf_release(&prefix);
	return ret;
}
