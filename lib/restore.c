/* restore.c: read a stored file chunk by chunk, in parallel, writing in order. */
#include "restore.h"
#include "manifest.h"
#include "objects.h"
#include "util.h"
#include "workers.h"

#include <errno.h>
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
	struct slot *slots;
	size_t nslots;
	struct cdt_hasher *file_hash;
	/* Current round. */
	size_t round_nr;
	const unsigned char *hash_data;	/* previous round's bytes for the file hash */
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
	r->nslots = MAX((size_t)4, ROUND_BYTES / cdt_store_chunker(s)->avg_size);
	r->slots = xcalloc(r->nslots, sizeof(*r->slots));
	for (i = 0; i < r->nslots; i++) {
		r->slots[i].data = xmalloc(max);
		strbuf_init(&r->slots[i].why, 0);
	}
	r->file_hash = cdt_hasher_new();
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
	for (i = 0; i < r->nslots; i++) {
		free(r->slots[i].data);
		strbuf_release(&r->slots[i].why);
	}
	free(r->slots);
	cdt_hasher_free(r->file_hash);
	free(r);
}

static void read_item(size_t i, int worker, void *data)
{
	struct cdt_restore *r = data;
	struct slot *sl = &r->slots[i];

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

int cdt_restore_fd(struct cdt_restore *r, const struct cdt_name_entry *e, int fd,
		   const char *outname, int sparse)
{
	struct cdt_manifest *m = NULL;
	struct strbuf why = STRBUF_INIT;
	char hex[CDT_ID_HEXLEN + 1];
	uint64_t count, next = 0;
	struct cdt_id got;
	int ret;

	ret = cdt_manifest_open(r->store, &e->content, &m, &why);
	if (ret < 0) {
		error("cannot read '%s': manifest %s: %s", quote(e->name),
		      cdt_id_to_hex(&e->content, hex), why.len ? why.buf : strerror(-ret));
		goto out;
	}
	if (cdt_manifest_size(m) != e->size) {
		ret = error_errno(-CDT_ECORRUPT, "cannot read '%s': its entry says %llu bytes, its manifest %llu",
				  quote(e->name), (unsigned long long)e->size,
				  (unsigned long long)cdt_manifest_size(m));
		goto out;
	}
	count = cdt_manifest_count(m);
	cdt_hasher_reset(r->file_hash);
	while (next < count) {
		size_t nr = (size_t)MIN(count - next, (uint64_t)r->nslots), i;

		for (i = 0; i < nr; i++) {
			ret = cdt_manifest_get(m, next + i, &r->slots[i].e);
			if (ret < 0) {
				error("cannot read '%s': manifest %s changed while reading it",
				      quote(e->name), cdt_id_to_hex(&e->content, hex));
				goto out;
			}
		}
		cdt_workers_run(r->workers, nr, read_item, r);
		for (i = 0; i < nr; i++) {
			struct slot *sl = &r->slots[i];

			if (sl->err) {
				ret = sl->err;
				error("cannot read '%s' at offset %llu: chunk %s (%u bytes): %s",
				      quote(e->name), (unsigned long long)sl->e.offset,
				      cdt_id_to_hex(&sl->e.id, hex), sl->e.len,
				      sl->why.len ? sl->why.buf : strerror(-ret));
				goto out;
			}
			cdt_hasher_update(r->file_hash, sl->data, sl->len);
			ret = write_chunk(fd, sl->data, sl->len, sparse);
			if (ret < 0) {
				error("cannot write '%s' to %s: %s", quote(e->name), quote(outname), strerror(-ret));
				goto out;
			}
		}
		next += nr;
	}
	if (sparse && ftruncate(fd, (off_t)cdt_manifest_size(m)) < 0) {
		ret = -errno;
		error("cannot write '%s' to %s: %s", quote(e->name), quote(outname), strerror(errno));
		goto out;
	}
	cdt_hasher_final(r->file_hash, &got);
	if (!cdt_id_eq(&got, &e->content)) {
		ret = error_errno(-CDT_ECORRUPT, "cannot read '%s': its chunks do not add up to content %s",
				  quote(e->name), cdt_id_to_hex(&e->content, hex));
		goto out;
	}
	ret = 0;
out:
	cdt_manifest_close(m);
	strbuf_release(&why);
	return ret;
}
