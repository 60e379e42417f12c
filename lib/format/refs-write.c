/* refs-write.c: writing reverse reference tables, in either version, and the writer that collects pairs for them. */
#include "format/refs.h"
#include "format/refs-internal.h"
#include "base/csum-file.h"
#include "base/fsutil.h"
#include "base/util.h"
#include "base/testpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Pairs buffered before a table is written: 4 MiB of memory. */
#define WRITER_MAX_PAIRS 65536

int cdt_refs_pair_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct cdt_ref_pair));
}

int cdt_refs_open_subdir(struct cdt_store *s, const char *sub, int create)
{
	int refsfd = cdt_store_dirfd(s, CDT_DIR_REFS);
	int fd;

	fd = openat(refsfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdirat(refsfd, sub, 0777) < 0 && errno != EEXIST)
			return -errno;
		fd = openat(refsfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	return fd < 0 ? -errno : fd;
}

/*
 * The manifests of a version-2 table being written, numbered in the order
 * its records first use them: an open-addressing map from id to number.
 */
struct man_numbers {
	struct cdt_id *ids;	/* by number */
	uint32_t *slots;	/* number + 1, or 0 */
	size_t n, alloc, cap;
};

static size_t man_slot(const struct man_numbers *mn, const struct cdt_id *id)
{
	return (size_t)get_le64(id->b) & (mn->cap - 1);
}

static uint32_t man_number(struct man_numbers *mn, const struct cdt_id *id)
{
	size_t i;

	if (2 * (mn->n + 1) > mn->cap) {
		size_t k;

		free(mn->slots);
		mn->cap = mn->cap ? 2 * mn->cap : 64;
		mn->slots = xcalloc(mn->cap, sizeof(*mn->slots));
		for (k = 0; k < mn->n; k++) {
			for (i = man_slot(mn, &mn->ids[k]); mn->slots[i]; i = (i + 1) & (mn->cap - 1))
				;
			mn->slots[i] = (uint32_t)k + 1;
		}
	}
	for (i = man_slot(mn, id); mn->slots[i]; i = (i + 1) & (mn->cap - 1))
		if (cdt_id_eq(&mn->ids[mn->slots[i] - 1], id))
			return mn->slots[i] - 1;
	ALLOC_GROW(mn->ids, mn->n + 1, mn->alloc);
	mn->ids[mn->n] = *id;
	mn->slots[i] = (uint32_t)++mn->n;
	return (uint32_t)(mn->n - 1);
}

/* The table version a store writes: numbered manifests from format 2 on. */
static int table_version(struct cdt_store *s)
{
	return cdt_store_config(s)->format >= 2 ? CDT_REFS_VERSION_NUMBERED : CDT_REFS_VERSION;
}


int cdt_refs_write_table(struct cdt_store *s, cdt_ref_pair_source next, void *data, char *out_name)
{
	struct cdt_csum_file *f;
	struct man_numbers mn = { 0 };
	int version = table_version(s);
	size_t hlen = version == CDT_REFS_VERSION ? CDT_REFS_HDR : CDT_REFS_HDR2;
	unsigned char hdr[CDT_REFS_HDR2];
	uint64_t count = 0, hdr_off;
	struct cdt_id sum;
	char final[CDT_ID_HEXLEN + 8];
	int dfd = -1, ret;

	ret = cdt_csum_file_open(cdt_store_dirfd(s, CDT_DIR_TMP), "refs", &f);
	if (ret < 0)
		return ret;
	/* The counts are known at the end: the header is filled in (and hashed) then. */
	hdr_off = cdt_csum_file_reserve(f, hlen);
	while (!ret) {
		struct cdt_ref_pair p;
		unsigned char rec[CDT_REFS_REC2];
		int r = next(&p, data);

		if (r < 0)
			ret = r;
		if (r <= 0)
			break;
		if (version == CDT_REFS_VERSION) {
			ret = cdt_csum_file_write(f, &p, CDT_REFS_REC);
		} else if (mn.n == UINT32_MAX) {
			ret = -EOVERFLOW;
		} else {
			memcpy(rec, p.chunk.b, CDT_ID_LEN);
			put_le32(rec + CDT_ID_LEN, man_number(&mn, &p.manifest));
			ret = cdt_csum_file_write(f, rec, sizeof(rec));
		}
		count++;
	}
	if (!ret && mn.n)
		ret = cdt_csum_file_write(f, mn.ids, mn.n * sizeof(*mn.ids));
	/* Nothing to record: no table (and no name) at all. */
	if (ret || !count)
		goto out;
	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, CDT_REFS_MAGIC, 4);
	hdr[4] = (unsigned char)version;
	put_le64(hdr + 8, count);
	if (version != CDT_REFS_VERSION)
		put_le32(hdr + 16, (uint32_t)mn.n);
	/* The checksum covers the header, which is hashed last. */
	ret = cdt_csum_file_fill(f, hdr_off, hdr, hlen);
	if (!ret)
		ret = cdt_csum_file_finish(f, CDT_CSUM_APPEND, &sum);
	if (ret)
		goto out;
	dfd = cdt_refs_open_subdir(s, "chunks", 1);
	if (dfd < 0) {
		ret = dfd;
		goto out;
	}
	cdt_id_to_hex(&sum, final);
	strcat(final, ".ref");
	ret = cdt_csum_file_rename(f, dfd, final, CDT_CSUM_NOREPLACE);
	if (ret < 0)
		goto out;
	ret = 0;
	if (out_name)
		strcpy(out_name, final);
out:
	if (dfd >= 0)
		close(dfd);
	cdt_csum_file_free(f);
	free(mn.ids);
	free(mn.slots);
	return ret;
}

struct cdt_ref_writer {
	struct cdt_store *store;
	struct cdt_ref_pair *pairs;
	size_t nr, alloc, pos;
	char **tables;		/* names of the tables written */
	size_t ntables, tables_alloc;
};

struct cdt_ref_writer *cdt_ref_writer_new(struct cdt_store *s)
{
	struct cdt_ref_writer *w = xcalloc(1, sizeof(*w));

	w->store = s;
	return w;
}

int cdt_ref_writer_add(struct cdt_ref_writer *w, const struct cdt_id *chunk,
		       const struct cdt_id *manifest)
{
	if (w->nr == WRITER_MAX_PAIRS) {
		int ret = cdt_ref_writer_flush(w);

		if (ret < 0)
			return ret;
	}
	ALLOC_GROW(w->pairs, w->nr + 1, w->alloc);
	w->pairs[w->nr].chunk = *chunk;
	w->pairs[w->nr].manifest = *manifest;
	w->nr++;
	return 0;
}

static int array_source(struct cdt_ref_pair *p, void *data)
{
	struct cdt_ref_writer *w = data;

	/* Skip duplicates: the array is sorted. */
	while (w->pos < w->nr && w->pos &&
	       !cdt_refs_pair_cmp(&w->pairs[w->pos], &w->pairs[w->pos - 1]))
		w->pos++;
	if (w->pos >= w->nr)
		return 0;
	*p = w->pairs[w->pos++];
	return 1;
}

int cdt_ref_writer_flush(struct cdt_ref_writer *w)
{
	char name[CDT_ID_HEXLEN + 8] = "";
	int ret;

	if (!w->nr)
		return 0;
	qsort(w->pairs, w->nr, sizeof(*w->pairs), cdt_refs_pair_cmp);
	w->pos = 0;
	ret = cdt_refs_write_table(w->store, array_source, w, name);
	w->nr = 0;
	if (!ret && *name) {
		ALLOC_GROW(w->tables, w->ntables + 1, w->tables_alloc);
		w->tables[w->ntables++] = xstrdup(name);
	}
	cdt_crash_point("refs");
	return ret;
}

size_t cdt_ref_writer_tables(const struct cdt_ref_writer *w, const char *const **names)
{
	*names = (const char *const *)w->tables;
	return w->ntables;
}

void cdt_ref_writer_free(struct cdt_ref_writer *w)
{
	size_t i;

	if (!w)
		return;
	for (i = 0; i < w->ntables; i++)
		free(w->tables[i]);
	free(w->tables);
	free(w->pairs);
	free(w);
}
