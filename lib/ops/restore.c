/* restore.c: read a stored file chunk by chunk, in parallel, writing in order. */
#include "ops/restore.h"
#include "ops/chunks.h"
#include "format/manifest.h"
#include "base/util.h"
#include "base/workers.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Chunks read ahead per round: bounds memory at ROUND x max chunk size. */
#define ROUND_BYTES (16u << 20)

struct slot {
	struct cdt_manifest_entry e;
	unsigned char *data;
	uint32_t len;
	int err;
	struct strbuf why;
};

struct cdt_restore {
	struct cdt_store *store;
	struct cdt_workers *workers;
	struct cdt_chunk_reader **readers;	/* one per worker + caller */
	int nreaders;
	/* Two sets of slots: one is written out while the other is read. */
	struct slot *slots[2];
	size_t nslots;
	struct slot *cur;			/* the set being read */
};

struct cdt_restore *cdt_restore_new(struct cdt_store *s, int jobs)
{
	struct cdt_restore *r = xcalloc(1, sizeof(*r));
	uint32_t max = cdt_store_chunker(s)->max_size;
	size_t i;
	int j;

	if (jobs <= 0)
		jobs = cdt_online_cpus();
	r->store = s;
	r->workers = cdt_workers_new(jobs - 1);
	r->nreaders = cdt_workers_count(r->workers) + 1;
	r->readers = xcalloc((size_t)r->nreaders, sizeof(*r->readers));
	for (j = 0; j < r->nreaders; j++)
		r->readers[j] = cdt_chunk_reader_new(s);
	r->nslots = MAX((size_t)4, ROUND_BYTES / 2 / cdt_store_chunker(s)->avg_size);
	for (j = 0; j < 2; j++) {
		r->slots[j] = xcalloc(r->nslots, sizeof(*r->slots[j]));
		for (i = 0; i < r->nslots; i++) {
			r->slots[j][i].data = xmalloc(max);
			strbuf_init(&r->slots[j][i].why, 0);
		}
	}
	return r;
}

void cdt_restore_free(struct cdt_restore *r)
{
	size_t i;
	int j;

	if (!r)
		return;
	cdt_workers_free(r->workers);
	for (j = 0; j < r->nreaders; j++)
		cdt_chunk_reader_free(r->readers[j]);
	free(r->readers);
	for (j = 0; j < 2; j++) {
		for (i = 0; i < r->nslots; i++) {
			free(r->slots[j][i].data);
			strbuf_release(&r->slots[j][i].why);
		}
		free(r->slots[j]);
	}
	free(r);
}

static void read_item(size_t i, int worker, void *data)
{
	struct cdt_restore *r = data;
	struct slot *sl = &r->cur[i];

	strbuf_reset(&sl->why);
	sl->err = cdt_chunk_read(r->readers[worker], &sl->e.id, sl->e.len, sl->data,
				 &sl->len, &sl->why);
}

static int all_zero(const unsigned char *p, size_t n)
{
	static const unsigned char zero[4096];

	while (n >= sizeof(zero)) {
		if (memcmp(p, zero, sizeof(zero)))
			return 0;
		p += sizeof(zero);
		n -= sizeof(zero);
	}
	return !memcmp(p, zero, n);
}

static int write_chunk(int fd, const unsigned char *p, size_t n, int sparse)
{
	if (sparse && all_zero(p, n))
		return lseek(fd, (off_t)n, SEEK_CUR) < 0 ? -errno : 0;
	return write_all(fd, p, n);
}

/* Load the next entries of the manifest into a slot set; returns how many. */
static int fill_slots(struct cdt_manifest *m, struct slot *set, size_t nslots, uint64_t next,
		      size_t *nr)
{
	uint64_t count = cdt_manifest_count(m);
	size_t i, n = (size_t)MIN(count - next, (uint64_t)nslots);
	int ret;

	for (i = 0; i < n; i++) {
		ret = cdt_manifest_get(m, next + i, &set[i].e);
		if (ret < 0)
			return ret;
	}
	*nr = n;
	return 0;
}

/* Write a slot set out in order; the first damaged chunk stops it. */
static int write_slots(const struct cdt_name_entry *e, struct slot *set, size_t n, int fd,
		       const char *outname, int sparse)
{
	char hex[CDT_ID_HEXLEN + 1];
	size_t i;
	int ret;

	for (i = 0; i < n; i++) {
		struct slot *sl = &set[i];

		if (sl->err)
			return error_code(sl->err, "cannot read '%s' at offset %llu: chunk %s (%u bytes): %s",
					   quote(e->name), (unsigned long long)sl->e.offset,
					   cdt_id_to_hex(&sl->e.id, hex), sl->e.len,
					   sl->why.len ? sl->why.buf : cdt_strerror(sl->err));
		ret = write_chunk(fd, sl->data, sl->len, sparse);
		if (ret < 0)
			return error_code(ret, "cannot write '%s' to %s: %s", quote(e->name),
					   quote(outname), cdt_strerror(ret));
	}
	return 0;
}

int cdt_restore_fd(struct cdt_restore *r, const struct cdt_name_entry *e, int fd,
		   const char *outname, int sparse)
{
	struct cdt_manifest *m = NULL;
	struct strbuf why = STRBUF_INIT;
	char hex[CDT_ID_HEXLEN + 1];
	uint64_t count, next = 0;
	size_t nr = 0, nnext = 0;
	int ret, cur = 0;

	ret = cdt_manifest_open(r->store, &e->content, &m, &why);
	if (ret < 0) {
		error("cannot read '%s': manifest %s: %s", quote(e->name),
		      cdt_id_to_hex(&e->content, hex), why.len ? why.buf : cdt_strerror(ret));
		goto out;
	}
	if (cdt_manifest_size(m) != e->size) {
		ret = error_code(-CDT_ECORRUPT, "cannot read '%s': its entry says %llu bytes, its manifest %llu",
				  quote(e->name), (unsigned long long)e->size,
				  (unsigned long long)cdt_manifest_size(m));
		goto out;
	}
	/*
	 * Every chunk is checked against its id as it is read, and the list of
	 * chunks against the manifest's checksum; 'cdt verify' also checks the
	 * whole-file hash, which costs one more serial pass over the data.
	 */
	count = cdt_manifest_count(m);
	if (count) {
		ret = fill_slots(m, r->slots[cur], r->nslots, next, &nr);
		if (ret < 0)
			goto changed;
		r->cur = r->slots[cur];
		cdt_workers_run(r->workers, nr, read_item, r);
		next += nr;
	}
	while (nr) {
		/* Read the next set while this one is written. */
		nnext = 0;
		if (next < count) {
			ret = fill_slots(m, r->slots[!cur], r->nslots, next, &nnext);
			if (ret < 0)
				goto changed;
			r->cur = r->slots[!cur];
			cdt_workers_start(r->workers, nnext, read_item, r);
		}
		ret = write_slots(e, r->slots[cur], nr, fd, outname, sparse);
		if (nnext)
			cdt_workers_finish(r->workers);
		if (ret < 0)
			goto out;
		next += nnext;
		nr = nnext;
		cur = !cur;
	}
	if (sparse && ftruncate(fd, (off_t)cdt_manifest_size(m)) < 0) {
		ret = -errno;
		error("cannot write '%s' to %s: %s", quote(e->name), quote(outname), cdt_strerror(errno));
		goto out;
	}
	ret = 0;
	goto out;
changed:
	error("cannot read '%s': manifest %s changed while reading it", quote(e->name),
	      cdt_id_to_hex(&e->content, hex));
out:
	cdt_manifest_close(m);
	strbuf_release(&why);
	return ret;
}

static void report_whole(const struct cdt_restore_check *c, const struct cdt_name_entry *e,
			 int err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void report_whole(const struct cdt_restore_check *c, const struct cdt_name_entry *e,
			 int err, const char *fmt, ...)
{
	struct strbuf why = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&why, fmt, ap);
	va_end(ap);
	c->bad(0, e->size, NULL, err, why.buf, c->data);
	strbuf_release(&why);
}

/* Hash a checked slot set into the whole-file hash and report its damage, in order. */
static void check_slots(const struct cdt_restore_check *c, struct cdt_hasher *h,
			struct slot *set, size_t n, int *damaged, uint64_t *done)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct slot *sl = &set[i];

		*done += sl->e.len;
		if (sl->err) {
			*damaged = *damaged ? *damaged : sl->err;
			c->bad(sl->e.offset, sl->e.len, &sl->e.id, sl->err,
			       sl->why.len ? sl->why.buf : cdt_strerror(sl->err), c->data);
			continue;
		}
		/* Past damage the whole-file hash cannot be computed: skip it. */
		if (!*damaged)
			cdt_hasher_update(h, sl->data, sl->len);
	}
	if (c->progress)
		c->progress(*done, c->data);
}

int cdt_restore_check(struct cdt_restore *r, const struct cdt_name_entry *e,
		      const struct cdt_restore_check *c)
{
	struct cdt_manifest *m = NULL;
	struct cdt_hasher *h = cdt_hasher_new();
	struct strbuf why = STRBUF_INIT;
	char hex[CDT_ID_HEXLEN + 1];
	uint64_t count, next = 0, done = 0;
	size_t nr = 0, nnext = 0;
	struct cdt_id got;
	int ret, damaged = 0, cur = 0;

	if (c->hashed)
		*c->hashed = 0;
	cdt_id_to_hex(&e->content, hex);
	ret = cdt_manifest_open(r->store, &e->content, &m, &why);
	if (ret < 0) {
		report_whole(c, e, ret, "manifest %s: %s", hex, why.len ? why.buf : cdt_strerror(ret));
		goto out;
	}
	if (cdt_manifest_size(m) != e->size) {
		ret = -CDT_ECORRUPT;
		report_whole(c, e, ret, "its entry says %llu bytes, its manifest %llu",
			     (unsigned long long)e->size, (unsigned long long)cdt_manifest_size(m));
		goto out;
	}
	/* As cdt_restore_fd reads: the next set is read while this one is hashed. */
	count = cdt_manifest_count(m);
	if (count) {
		ret = fill_slots(m, r->slots[cur], r->nslots, next, &nr);
		if (ret < 0)
			goto changed;
		r->cur = r->slots[cur];
		cdt_workers_run(r->workers, nr, read_item, r);
		next += nr;
	}
	while (nr) {
		nnext = 0;
		if (next < count) {
			ret = fill_slots(m, r->slots[!cur], r->nslots, next, &nnext);
			if (ret < 0)
				goto changed;
			r->cur = r->slots[!cur];
			cdt_workers_start(r->workers, nnext, read_item, r);
		}
		check_slots(c, h, r->slots[cur], nr, &damaged, &done);
		if (nnext)
			cdt_workers_finish(r->workers);
		next += nnext;
		nr = nnext;
		cur = !cur;
	}
	if (damaged) {
		ret = damaged;
		goto out;
	}
	cdt_hasher_final(h, &got);
	if (c->hashed) {
		*c->hashed = 1;
		*c->got = got;
	}
	if (!cdt_id_eq(&got, &e->content)) {
		ret = -CDT_ECORRUPT;
		report_whole(c, e, ret, "its chunks do not add up to content %s", hex);
		goto out;
	}
	ret = 0;
	goto out;
changed:
	report_whole(c, e, ret, "manifest %s changed while reading it", hex);
out:
	cdt_manifest_close(m);
	cdt_hasher_free(h);
	strbuf_release(&why);
	return ret;
}
