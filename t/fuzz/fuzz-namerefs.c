/*
 * fuzz-namerefs.c: tables of name records (lib/format/namerefs.h): the
 * walk, lookups, and rewriting them without some records.
 *
 * The first byte holds flags, the rest is a table, written to the scratch
 * store as refs/names/<64 hex>.rec:
 *   bit 0  recompute the checksum (the last 32 bytes) and name the table
 *          by it, as a writer does (else it is named by the SHA-256 of
 *          the input, so that its checksum rarely matches its name);
 *   bit 1  then rewrite it keeping only records whose manifest id starts
 *          with an even byte, dropping it if it cannot be used.
 * A table is used whole or not at all: every record a walk gives holds a
 * valid name that hashes to its name hash, in strict order; a lookup of a
 * record's manifest gives its name; after a rewrite, exactly the even
 * records are left, and nothing unusable.
 */
#include "fuzz.h"
#include "format/namerefs.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct walked {
	struct strbuf names;	/* "name\0" of each record, in walk order */
	struct cdt_id *ms;
	size_t n, alloc;
	int bad, even;
	struct strbuf prev;
	struct cdt_id prev_m;
};

static int on_record(const struct cdt_nameref_visit *v, void *data)
{
	struct walked *w = data;
	struct cdt_id h;

	FUZZ_CHECK(v->in_table && v->name && v->name[0]);
	cdt_hash(v->name, strlen(v->name), &h);
	FUZZ_CHECK(cdt_id_eq(&h, &v->name_hash));
	if (w->n) {
		int c = cdt_id_cmp(&w->prev_m, &v->manifest);

		FUZZ_CHECK(c < 0 || (c == 0 && strcmp(w->prev.buf, v->name) < 0));
	}
	strbuf_reset(&w->prev);
	strbuf_addstr(&w->prev, v->name);
	w->prev_m = v->manifest;
	ALLOC_GROW(w->ms, w->n + 1, w->alloc);
	w->ms[w->n++] = v->manifest;
	strbuf_add(&w->names, v->name, strlen(v->name) + 1);
	w->even += !(v->manifest.b[0] & 1);
	return 0;
}

static void on_bad(const char *path, int err, const char *why, void *data)
{
	struct walked *w = data;

	(void)path;
	(void)err;
	(void)why;
	w->bad++;
}

static void walk(struct cdt_store *s, struct walked *w)
{
	struct cdt_nameref_walker wk = { on_record, on_bad, NULL, NULL, NULL };

	memset(w, 0, sizeof(*w));
	strbuf_init(&w->names, 0);
	strbuf_init(&w->prev, 0);
	wk.data = w;
	FUZZ_CHECK(cdt_nameref_walk(s, &wk) == 0);
}

static void walked_release(struct walked *w)
{
	strbuf_release(&w->names);
	strbuf_release(&w->prev);
	free(w->ms);
}

struct find {
	const char *want;
	int found;
};

static int find_name(const char *name, int err, void *data)
{
	struct find *f = data;

	(void)err;
	if (name && !strcmp(name, f->want))
		f->found = 1;
	return 0;
}

static int keep_even(const struct cdt_nameref_visit *v, void *data)
{
	(void)data;
	return !(v->manifest.b[0] & 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cdt_store *s = fuzz_store(CDT_CHUNKER_FASTCDC, 1024);
	int refsfd = cdt_store_dirfd(s, CDT_DIR_REFS);
	unsigned char *file;
	size_t len, i, off;
	struct cdt_id name;
	struct walked w, after;
	char hex[CDT_ID_HEXLEN + 1];
	unsigned flags;

	if (size < 1)
		return 0;
	fuzz_quiet();
	flags = data[0];
	len = size - 1;
	file = xmalloc(len ? len : 1);
	memcpy(file, data + 1, len);
	if ((flags & 1) && len >= CDT_ID_LEN) {
		fuzz_fix_checksum(file, len - CDT_ID_LEN);
		memcpy(name.b, file + len - CDT_ID_LEN, CDT_ID_LEN);
	} else {
		cdt_hash(file, len, &name);
	}
	mkdirat(refsfd, "names", 0777);	/* (it may be there) */
	fuzz_empty_dir(refsfd, "names");
	fuzz_write_at(refsfd, fuzz_fmt("names/%s.rec", cdt_id_to_hex(&name, hex)), file, len);

	walk(s, &w);
	FUZZ_CHECK(w.bad + (w.n > 0) <= 1);	/* used whole, or not at all */
	if (w.n) {
		struct cdt_namerefs *r;

		FUZZ_CHECK(cdt_namerefs_open(s, &r) == 0);
		for (i = 0, off = 0; i < w.n; i++) {
			struct find f = { w.names.buf + off, 0 };

			FUZZ_CHECK(cdt_namerefs_list(r, &w.ms[i], find_name, &f) == 0 && f.found);
			off += strlen(w.names.buf + off) + 1;
		}
		cdt_namerefs_close(r);
	}
	if (flags & 2) {
		uint64_t dropped = 0, bad = 0;

		FUZZ_CHECK(cdt_nameref_filter(s, NULL, keep_even, NULL, CDT_NAMEREF_DROP_BAD,
					      &dropped, &bad) == 0);
		FUZZ_CHECK(dropped == w.n - (size_t)w.even && bad == (uint64_t)w.bad);
		walk(s, &after);
		FUZZ_CHECK(after.n == (size_t)w.even && after.bad == 0);
		walked_release(&after);
	}
	walked_release(&w);
	fuzz_empty_dir(refsfd, "names");
	free(file);
	return 0;
}
