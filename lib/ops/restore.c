/* restore.c: read a stored file back chunk by chunk, in parallel, in order: to write it (cat) or check it (verify, fsck). */
#include "ops/restore.h"
#include "ops/chunks.h"
#include "base/cid.h"
#include "format/config.h"
#include "format/manifest.h"
#include "base/util.h"
#include "base/workers.h"
#include "base/testpoint.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


struct slot {
	struct cdt_manifest_entry e;
	unsigned char *data;
	uint32_t len;
	int err;
	struct strbuf why;
	int zero;		/* all zeros, known by its id: data was not read */
};

/*
 * The ids of chunks of this file already read, checked and found to be
 * all zeros, by length: the same id again is not read again (a sparse
 * file's holes are the same few chunks over and over). Only a file's own
 * chunks count, so every chunk of it is read at least once.
 */
#define ZERO_IDS 4

struct cdt_restore {
	struct cdt_store *store;
	struct cdt_workers *workers;
	struct cdt_chunk_reader **readers;	/* one per worker + caller */
	int nreaders;
	/*
	 * Two sets of slots: one goes to the caller while the other is read.
	 * A set's chunks lie end to end in its buffer (bufsize bytes): the
	 * memory a round touches is what it holds, and the same pages serve
	 * every round.
	 */
	struct slot *slots[2];
	unsigned char *buf[2];
	size_t nslots, bufsize;
	struct slot *cur;			/* the set being read */
	size_t cur_nr, per_item;		/* its slots, and how many each work item reads */
	void (*progress)(uint64_t done, void *data);	/* cdt_restore_fd()'s */
	void *progress_data;
	struct cdt_manifest_entry zero_ids[ZERO_IDS];
	unsigned nzero_ids;
	unsigned char *zeros;			/* max chunk size of zero bytes, when needed */
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
	r->nslots = MAX((size_t)4, CDT_ROUND_BYTES / 2 / cdt_store_chunker(s)->avg_size);
	r->bufsize = MAX((size_t)max, CDT_ROUND_BYTES / 2);
	for (j = 0; j < 2; j++) {
		r->slots[j] = xcalloc(r->nslots, sizeof(*r->slots[j]));
		r->buf[j] = xmalloc(r->bufsize);
		for (i = 0; i < r->nslots; i++)
			strbuf_init(&r->slots[j][i].why, 0);
	}
	return r;
}

struct cdt_store *cdt_restore_store(const struct cdt_restore *r)
{
	return r->store;
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
		for (i = 0; i < r->nslots; i++)
			strbuf_release(&r->slots[j][i].why);
		free(r->slots[j]);
		free(r->buf[j]);
	}
	free(r->zeros);
	free(r);
}

/*
 * Work item i reads a run of consecutive slots with one reader: chunks
 * that share a frame are then decoded from it once (the reader keeps the
 * last frame), instead of once by each worker that takes one of them.
 */
static void read_item(size_t i, int worker, void *data)
{
	struct cdt_restore *r = data;
	size_t k, end = MIN((i + 1) * r->per_item, r->cur_nr);

	for (k = i * r->per_item; k < end; k++) {
		struct slot *sl = &r->cur[k];

		strbuf_reset(&sl->why);
		if (sl->zero)
			continue;
		sl->err = cdt_chunk_read(r->readers[worker], &sl->e.id, sl->e.len, sl->data,
					 &sl->len, &sl->why);
	}
}

/* Point the workers at a set of nr slots: one run of them per reader. */
static size_t set_items(struct cdt_restore *r, struct slot *set, size_t nr)
{
	r->cur = set;
	r->cur_nr = nr;
	r->per_item = (nr + (size_t)r->nreaders - 1) / (size_t)r->nreaders;
	if (!r->per_item)
		r->per_item = 1;
	return (nr + r->per_item - 1) / r->per_item;
}

static int all_zero(const unsigned char *p, size_t n)
{
	static const unsigned char zero[4096];

	/* Most chunks that are not zeros say so at once. */
	if (n && (p[0] || p[n - 1]))
		return 0;
	while (n >= sizeof(zero)) {
		if (memcmp(p, zero, sizeof(zero)))
			return 0;
		p += sizeof(zero);
		n -= sizeof(zero);
	}
	return !memcmp(p, zero, n);
}

/* Whether an entry's id is that of a chunk of zeros read earlier in this file. */
static int known_zero(const struct cdt_restore *r, const struct cdt_manifest_entry *e)
{
	unsigned i;

	for (i = 0; i < r->nzero_ids; i++)
		if (r->zero_ids[i].len == e->len && cdt_id_eq(&r->zero_ids[i].id, &e->id))
			return 1;
	return 0;
}

/* Remember a chunk read, checked and found to be all zeros. */
static void learn_zero(struct cdt_restore *r, const struct slot *sl)
{
	if (sl->zero || sl->err || known_zero(r, &sl->e) || !all_zero(sl->data, sl->len))
		return;
	if (r->nzero_ids < ZERO_IDS)
		r->zero_ids[r->nzero_ids++] = sl->e;
	else
		r->zero_ids[sl->e.len % ZERO_IDS] = sl->e;
}

static const unsigned char *zero_bytes(struct cdt_restore *r)
{
	if (!r->zeros)
		r->zeros = xcalloc(1, cdt_store_chunker(r->store)->max_size);
	return r->zeros;
}

/*
 * Write n bytes at file offset off of a fresh regular file, leaving holes:
 * the pieces between multiples of blksize that are all zeros are passed
 * over with lseek, so a block no byte is written to stays a hole (the
 * file gets its size from ftruncate at the end).
 */
static int write_sparse(int fd, const unsigned char *p, size_t n, uint64_t off, size_t blksize,
			int *hole_at_end)
{
	size_t i = 0;

	while (i < n) {
		size_t start = i;
		int zero = -1;

		/* A run of pieces alike: all zeros, or not. */
		while (i < n) {
			size_t end = MIN(n, i + blksize - (size_t)((off + i) % blksize));
			int z = all_zero(p + i, end - i);

			if (zero >= 0 && z != zero)
				break;
			zero = z;
			i = end;
		}
		*hole_at_end = zero;
		if (zero) {
			if (lseek(fd, (off_t)(i - start), SEEK_CUR) < 0)
				return -errno;
		} else {
			int ret = write_all(fd, p + start, i - start);

			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

/*
 * Load the next entries of the manifest into slot set k, *nr of them: as
 * many as there are slots and as fit in its buffer end to end (a chunk
 * known to be zeros takes no room: it is not read). 0 or -errno.
 */
static int fill_slots(struct cdt_restore *r, struct cdt_manifest *m, int k, uint64_t next,
		      size_t *nr)
{
	struct slot *set = r->slots[k];
	uint64_t count = cdt_manifest_count(m);
	size_t i, used = 0, n = (size_t)MIN(count - next, (uint64_t)r->nslots);
	int ret;

	for (i = 0; i < n; i++) {
		ret = cdt_manifest_get(m, next + i, &set[i].e);
		if (ret < 0)
			return ret;
		set[i].zero = known_zero(r, &set[i].e);
		if (set[i].zero) {
			set[i].err = 0;
			set[i].len = set[i].e.len;
			set[i].data = NULL;
			continue;
		}
		if (set[i].e.len > r->bufsize - used) {
			/* The manifest's check keeps entries to max bytes, bufsize >= max. */
			if (!used)
				return -CDT_ECORRUPT;
			break;
		}
		set[i].data = r->buf[k] + used;
		used += set[i].e.len;
	}
	*nr = i;
	return 0;
}

/*
 * What the read loop hands its caller: each chunk in file order, as a
 * slot holding its manifest entry and either its checked data (err 0) or
 * the error that kept it from being read (err, why). A negative return
 * stops the loop. round(), when set, follows each set of slots with the
 * bytes of the file gone through so far.
 */
struct read_loop {
	int (*chunk)(const struct slot *sl, void *data);
	void (*round)(uint64_t done, void *data);
	void *data;
};

/*
 * Read every chunk of `m` in order, double-buffered: while the callback
 * goes through one set of slots, the workers read and check the next.
 * Returns 0; the callback's negative return; or, with *changed set, the
 * error of a manifest that could not be read again past its check.
 */
static int read_chunks(struct cdt_restore *r, struct cdt_manifest *m,
		       const struct read_loop *loop, int *changed)
{
	uint64_t count = cdt_manifest_count(m), next = 0, done = 0;
	size_t nr = 0, nnext, i;
	int ret, cur = 0;

	*changed = 0;
	r->nzero_ids = 0;
	if (count) {
		ret = fill_slots(r, m, cur, next, &nr);
		if (ret < 0)
			goto changed;
		cdt_workers_run(r->workers, set_items(r, r->slots[cur], nr), read_item, r);
		next += nr;
	}
	while (nr) {
		/* Read the next set while this one goes to the callback. */
		nnext = 0;
		if (next < count) {
			ret = fill_slots(r, m, !cur, next, &nnext);
			if (ret < 0)
				goto changed;
			cdt_workers_start(r->workers, set_items(r, r->slots[!cur], nnext), read_item,
					  r);
		}
		ret = 0;
		for (i = 0; i < nr && ret >= 0; i++) {
			done += r->slots[cur][i].e.len;
			ret = loop->chunk(&r->slots[cur][i], loop->data);
			learn_zero(r, &r->slots[cur][i]);
		}
		if (ret >= 0 && loop->round)
			loop->round(done, loop->data);
		if (nnext)
			cdt_workers_finish(r->workers);
		if (ret < 0)
			return ret;
		next += nnext;
		nr = nnext;
		cur = !cur;
	}
	return 0;
changed:
	*changed = 1;
	return ret;
}

/*
 * Tests pause the first read of a process, on whichever thread makes it:
 * before its manifest is opened, and once it is open.
 */
static int paused_manifest, paused_open;

static void pause_once(const char *point, int *paused)
{
	if (!__atomic_exchange_n(paused, 1, __ATOMIC_RELAXED))
		cdt_pause_point(point);
}

void cdt_restore_set_progress(struct cdt_restore *r, void (*progress)(uint64_t done, void *data),
			      void *data)
{
	r->progress = progress;
	r->progress_data = data;
}

int cdt_restore_name_now(struct cdt_store *s, const struct cdt_name_entry *e)
{
	struct cdt_name_entry *now = xmalloc(sizeof(*now));
	struct strbuf why = STRBUF_INIT;
	int ret = cdt_name_read(s, e->name, now, &why);

	if (ret == -ENOENT) {
		ret = CDT_NAME_REMOVED;
	} else if (ret < 0) {
		ret = CDT_NAME_SAME;
	} else {
		ret = cdt_name_has_content(now) && now->size == e->size &&
		      cdt_id_eq(&now->content, &e->content) ? CDT_NAME_SAME : CDT_NAME_REPLACED;
		cdt_name_entry_release(now);
	}
	strbuf_release(&why);
	free(now);
	return ret;
}

const char *cdt_restore_moved_why(int now)
{
	return now == CDT_NAME_REMOVED ? "was removed while it was read; read it again" :
					 "was replaced while it was read; read it again";
}

/*
 * Damage counts, not only -ENOENT: a pack listed before gc removed it is
 * a pack file missing, which is damage when the name still needs it.
 */
int cdt_restore_report_moved(struct cdt_store *s, const struct cdt_name_entry *e, int err)
{
	int now = cdt_err_is_damage(err) ? cdt_restore_name_now(s, e) : CDT_NAME_SAME;

	if (now == CDT_NAME_SAME)
		return 0;
	return error_code(-ESTALE, "'%s' %s", quote(e->name), cdt_restore_moved_why(now));
}

/* cdt_restore_fd's end of the loop: write each chunk; the first damaged one stops it. */
struct writing {
	struct cdt_restore *r;
	const struct cdt_name_entry *e;
	int fd;
	const char *outname;
	int sparse;
	size_t blksize;		/* sparse: the file system's block */
	int hole_at_end;	/* sparse: the last bytes were passed over, not written */
};

static void write_round(uint64_t done, void *data)
{
	struct writing *w = data;

	w->r->progress(done, w->r->progress_data);
}

static int write_slot(const struct slot *sl, void *data)
{
	struct writing *w = data;
	char hex[CDT_ID_HEXLEN + 1];
	int ret;

	if (sl->err && (ret = cdt_restore_report_moved(w->r->store, w->e, sl->err)) < 0)
		return ret;
	if (sl->err)
		return error_code(sl->err, "cannot read '%s' at offset %llu: chunk %s (%u bytes): %s",
				  quote(w->e->name), (unsigned long long)sl->e.offset,
				  cdt_id_to_hex(&sl->e.id, hex), sl->e.len,
				  sl->why.len ? sl->why.buf : cdt_strerror(sl->err));
	if (sl->zero && w->sparse) {
		ret = lseek(w->fd, (off_t)sl->len, SEEK_CUR) < 0 ? -errno : 0;
		w->hole_at_end = 1;
	} else if (sl->zero) {
		ret = write_all(w->fd, zero_bytes(w->r), sl->len);
	} else if (w->sparse) {
		ret = write_sparse(w->fd, sl->data, sl->len, sl->e.offset, w->blksize,
				   &w->hole_at_end);
	} else {
		ret = write_all(w->fd, sl->data, sl->len);
	}
	if (ret < 0)
		return error_code(ret, "cannot write '%s' to %s: %s", quote(w->e->name),
				  quote(w->outname), cdt_strerror(ret));
	return 0;
}

int cdt_restore_fd(struct cdt_restore *r, const struct cdt_name_entry *e, int fd,
		   const char *outname, int sparse)
{
	struct writing w = { r, e, fd, outname, sparse, 4096, 0 };
	struct read_loop loop = { write_slot, r->progress ? write_round : NULL, &w };
	struct cdt_manifest *m = NULL;
	struct strbuf why = STRBUF_INIT;
	char hex[CDT_ID_HEXLEN + 1];
	int ret, changed;

	pause_once("restore-manifest", &paused_manifest);
	ret = cdt_manifest_open(r->store, &e->content, &m, &why);
	if (ret < 0 && cdt_restore_report_moved(r->store, e, ret) < 0) {
		ret = -ESTALE;
		goto out;
	}
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
	pause_once("restore-open", &paused_open);
	if (sparse) {
		struct stat st;

		if (fstat(fd, &st) == 0 && st.st_blksize > 0 && st.st_blksize <= (1 << 20))
			w.blksize = (size_t)st.st_blksize;
	}
	/*
	 * Every chunk is checked against its id as it is read, and the list of
	 * chunks against the manifest's checksum; 'cdt verify' also checks the
	 * whole-file hash, which costs one more serial pass over the data.
	 */
	ret = read_chunks(r, m, &loop, &changed);
	if (changed) {
		error("cannot read '%s': manifest %s changed while reading it", quote(e->name),
		      cdt_id_to_hex(&e->content, hex));
		goto out;
	}
	if (ret < 0)
		goto out;
	cdt_pause_point("restore-written");
	/* A fresh file written up to its end has its size already. */
	if (w.hole_at_end && ftruncate(fd, (off_t)cdt_manifest_size(m)) < 0) {
		ret = -errno;
		error("cannot write '%s' to %s: %s", quote(e->name), quote(outname), cdt_strerror(errno));
		goto out;
	}
	ret = 0;
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

/* cdt_restore_check's end of the loop: hash each chunk, report damage and go on. */
struct checking {
	struct cdt_restore *r;
	const struct cdt_restore_check *c;
	struct cdt_cid *h;	/* the content id, of the store's kind */
	int damaged;		/* the first chunk's error, or 0 */
};

static int check_slot(const struct slot *sl, void *data)
{
	struct checking *ck = data;

	if (sl->err) {
		ck->damaged = ck->damaged ? ck->damaged : sl->err;
		ck->c->bad(sl->e.offset, sl->e.len, &sl->e.id, sl->err,
			   sl->why.len ? sl->why.buf : cdt_strerror(sl->err), ck->c->data);
		return 0;
	}
	/* Past damage the whole-file hash cannot be computed: skip it. */
	if (!ck->damaged && sl->zero)
		cdt_cid_zeros(ck->h, sl->len);
	else if (!ck->damaged)
		cdt_cid_update(ck->h, sl->data, sl->len);
	return 0;
}

static void check_round(uint64_t done, void *data)
{
	struct checking *ck = data;

	ck->c->progress(done, ck->c->data);
}

int cdt_restore_check(struct cdt_restore *r, const struct cdt_name_entry *e,
		      const struct cdt_restore_check *c)
{
	struct checking ck = { r, c, cdt_cid_new(cdt_config_cid(cdt_store_config(r->store))), 0 };
	struct read_loop loop = { check_slot, c->progress ? check_round : NULL, &ck };
	struct cdt_manifest *m = NULL;
	struct strbuf why = STRBUF_INIT;
	char hex[CDT_ID_HEXLEN + 1];
	struct cdt_id got;
	int ret, changed;

	if (c->hashed)
		*c->hashed = 0;
	cdt_id_to_hex(&e->content, hex);
	pause_once("restore-manifest", &paused_manifest);
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
	pause_once("restore-open", &paused_open);
	ret = read_chunks(r, m, &loop, &changed);
	if (changed) {
		report_whole(c, e, ret, "manifest %s changed while reading it", hex);
		goto out;
	}
	if (ck.damaged) {
		ret = ck.damaged;
		goto out;
	}
	cdt_cid_final(ck.h, &got);
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
out:
	cdt_manifest_close(m);
	cdt_cid_free(ck.h);
	strbuf_release(&why);
	return ret;
}
