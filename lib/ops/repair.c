/* repair.c: find the damaged chunks, then cut local files as the store does and write back matches. */
#include "ops/repair.h"
#include "base/cid.h"
#include "base/fsutil.h"
#include "base/compress.h"
#include "base/idset.h"
#include "ops/batch.h"
#include "ops/chunks.h"
#include "ops/ingest.h"
#include "format/config.h"
#include "format/manifest.h"
#include "format/names.h"
#include "format/object.h"
#include "ops/packset.h"
#include "ops/serverinfo.h"
#include "ops/sketchset.h"
#include "format/midx.h"
#include "format/pack.h"
#include "base/util.h"
#include "base/workers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Local bytes cut and hashed per round (as add reads). */
#define READ_BUF (8u << 20)
/* Chunks written back per syncfs: at most this many, or this many bytes of objects. */
#define STAGE_CHUNKS 1024
#define STAGE_BYTES (64u << 20)

struct wanted {
	struct cdt_id id;
	uint32_t len;
	int done;
	int staged;	/* written to tmp/, not yet in place */
};

/* A manifest names use, missing or damaged: written again from a file of its content. */
struct wanted_manifest {
	struct cdt_id id;
	uint64_t size;
	char *name;	/* the first name that uses it */
	int done;
};

/* A chunk written back, waiting for the next commit_staged(). */
struct staged {
	size_t want;		/* index into want */
	struct strbuf tmpname;
	const char *what;	/* the file it came from (scanned until the commit) */
	uint64_t offset;
};

struct piece {
	size_t off;
	uint32_t len;
	struct cdt_id id;
};

/*
 * A file is read into two windows in turn: while the pieces cut from one are
 * hashed in parallel, one worker reads and cuts the next, so cutting (which
 * cannot be split) overlaps hashing instead of alternating with it.
 */
struct window {
	unsigned char *buf;
	size_t have;		/* bytes in buf */
	size_t used;		/* bytes cut into pieces; the rest moves to the next window */
	uint64_t base;		/* file offset of buf[0] */
	struct piece *pieces;
	size_t npieces, apieces;
};

struct cdt_repair {
	struct cdt_store *store;
	struct cdt_repair_options opt;
	struct cdt_fsck *fsck;
	const struct cdt_chunker *chunker;
	int midx_removed, reindexed;	/* by the index check before the store's */

	struct wanted *want;
	size_t nwant, awant;
	struct cdt_idset want_ids;	/* id -> index into want */
	struct wanted_manifest *wman;
	size_t nwman, awman, wman_left;
	uint64_t left;			/* wanted, not done and not staged */
	uint32_t min_len;		/* shortest chunk still wanted */
	int want_block;			/* fixed chunker: a whole block is wanted */

	struct cdt_workers *workers;
	struct cdt_chunk_reader *reader;
	struct cdt_compressor *comp;
	unsigned char *check, *obj;
	size_t buf_cap;
	struct window win[2];
	/* The round in progress. */
	struct window *hashing, *filling;
	int fd, eof, read_err;

	dev_t store_dev;
	ino_t store_ino;
	struct cdt_repair_stats stats;
	/*
	 * Chunks written back and not yet in place: one syncfs makes a batch
	 * of them durable before their renames, one more the renames, and
	 * only then is each read back and counted (not two fsyncs a chunk).
	 */
	struct staged *staged;
	size_t nstaged, astaged, staged_bytes;
	/* finish() */
	void (*problem_cb)(const struct cdt_fsck_item *it, void *data);
	void *problem_data;
};

static int collect_wanted(const struct cdt_id *id, uint32_t len, void *data)
{
	struct cdt_repair *r = data;

	ALLOC_GROW(r->want, r->nwant + 1, r->awant);
	r->want[r->nwant].id = *id;
	r->want[r->nwant].len = len;
	r->want[r->nwant].done = 0;
	r->want[r->nwant].staged = 0;
	cdt_idset_put(&r->want_ids, id, r->nwant);
	r->nwant++;
	return 0;
}

static int collect_manifest(const struct cdt_id *content, uint64_t size, const char *name,
			    void *data)
{
	struct cdt_repair *r = data;
	size_t i;

	for (i = 0; i < r->nwman; i++)
		if (cdt_id_eq(&r->wman[i].id, content))
			return 0;	/* a second problem of the same manifest */
	ALLOC_GROW(r->wman, r->nwman + 1, r->awman);
	r->wman[r->nwman].id = *content;
	r->wman[r->nwman].size = size;
	r->wman[r->nwman].name = xstrdup(name);
	r->wman[r->nwman].done = 0;
	r->nwman++;
	r->wman_left++;
	return 0;
}

/* What a file must look like to hold something still wanted. */
static void update_limits(struct cdt_repair *r)
{
	size_t i;

	r->left = 0;
	r->min_len = UINT32_MAX;
	r->want_block = 0;
	for (i = 0; i < r->nwant; i++) {
		if (r->want[i].done || r->want[i].staged)
			continue;
		r->left++;
		r->min_len = MIN(r->min_len, r->want[i].len);
		if (r->want[i].len == r->chunker->max_size)
			r->want_block = 1;
	}
}

static void forward_problem(const struct cdt_fsck_item *it, void *data)
{
	struct cdt_repair *r = data;

	if (r->problem_cb)
		r->problem_cb(it, r->problem_data);
}

static void forward_progress(enum cdt_fsck_phase phase, uint64_t done, uint64_t total,
			     uint64_t bytes, void *data)
{
	struct cdt_repair *r = data;

	r->opt.check_progress(phase, done, total, bytes, r->opt.data);
}

static void reindexed(const char *name, enum cdt_pack_state st, const char *why, void *data)
{
	struct cdt_repair *r = data;

	/* What cannot be indexed is left to the check, which reports it. */
	if (st == CDT_PACK_MIDX_REMOVED)
		r->midx_removed = 1;
	else if (st == CDT_PACK_REINDEXED)
		r->reindexed++;
	else
		return;
	if (r->opt.pack_reindexed)
		r->opt.pack_reindexed(name, why, r->opt.data);
}

int cdt_repair_new(struct cdt_store *s, const struct cdt_repair_options *opt,
		   struct cdt_repair **out)
{
	struct cdt_repair *r = xcalloc(1, sizeof(*r));
	struct cdt_fsck_options fo = { 0 };
	int jobs = opt->jobs > 0 ? opt->jobs : cdt_online_cpus();
	struct stat st;
	int ret;

	r->store = s;
	r->opt = *opt;
	r->chunker = cdt_store_chunker(s);
	fo.jobs = jobs;
	fo.progress = opt->check_progress ? forward_progress : NULL;
	fo.report = forward_problem;
	fo.data = r;
	{
		struct cdt_chunk_reader *br = cdt_chunk_reader_new(s);
		struct cdt_base_source bases = cdt_chunk_base_source(br);

		ret = cdt_packs_check(s, 1, &bases, reindexed, r);
		cdt_chunk_reader_free(br);
	}
	if (ret >= 0 && r->reindexed)
		cdt_serverinfo_packs(s);
	if (ret >= 0 && (r->midx_removed || r->reindexed)) {
		/* The packs' indexes changed: index them together again. */
		ret = cdt_packs_write_midx(s);
		if (ret < 0)
			error("cannot write the multi-pack index: %s", cdt_strerror(ret));
	}
	if (ret < 0) {
		error("cannot check the pack indexes: %s", cdt_strerror(ret));
		cdt_repair_free(r);
		*out = NULL;
		return ret;
	}
	r->fsck = cdt_fsck_new(s, &fo);
	ret = cdt_fsck_check_data(r->fsck);
	if (ret < 0) {
		cdt_repair_free(r);
		*out = NULL;
		return ret;
	}
	cdt_fsck_for_each_damaged_chunk(r->fsck, collect_wanted, r);
	cdt_fsck_for_each_damaged_manifest(r->fsck, collect_manifest, r);
	r->stats.damaged = r->nwant;
	r->stats.manifests_damaged = r->nwman;
	update_limits(r);
	r->workers = cdt_workers_new(jobs - 1);
	r->reader = cdt_chunk_reader_new(s);
	r->comp = cdt_store_compressor_new(s);
	r->buf_cap = MAX((size_t)READ_BUF, 2 * (size_t)r->chunker->max_size);
	r->win[0].buf = xmalloc(r->buf_cap);
	r->win[1].buf = xmalloc(r->buf_cap);
	r->check = xmalloc(r->chunker->max_size);
	r->obj = xmalloc(CDT_OBJ_MAX(r->chunker->max_size));
	if (fstat(cdt_store_rootfd(s), &st) == 0) {
		r->store_dev = st.st_dev;
		r->store_ino = st.st_ino;
	}
	*out = r;
	return 0;
}

void cdt_repair_free(struct cdt_repair *r)
{
	if (!r)
		return;
	cdt_fsck_free(r->fsck);
	cdt_workers_free(r->workers);
	cdt_chunk_reader_free(r->reader);
	cdt_compressor_free(r->comp);
	free(r->win[0].buf);
	free(r->win[1].buf);
	free(r->win[0].pieces);
	free(r->win[1].pieces);
	free(r->check);
	free(r->obj);
	free(r->staged);	/* each committed by the scan that staged it */
	while (r->nwman--)
		free(r->wman[r->nwman].name);
	free(r->wman);
	free(r->want);
	cdt_idset_clear(&r->want_ids);
	free(r);
}

uint64_t cdt_repair_wanted(const struct cdt_repair *r)
{
	return r->left + r->wman_left;
}

/* w is healed: read good now, whoever made it good. */
static void healed(struct cdt_repair *r, struct wanted *w)
{
	if (!w->done && !w->staged && r->left)
		r->left--;
	w->done = 1;
	w->staged = 0;
	cdt_fsck_chunk_healed(r->fsck, &w->id);
}

/*
 * Put the staged chunks in place, durably, and check each: one syncfs
 * before the renames (a chunk in place is always complete), one after (a
 * chunk counted restored stays so through a crash). A chunk that fails
 * is wanted again, from a later match. restored (or NULL) counts those
 * that read back good. 0, or the first error.
 */
static int commit_staged(struct cdt_repair *r, int *restored)
{
	struct strbuf why = STRBUF_INIT;
	char hex[CDT_ID_HEXLEN + 1];
	size_t i;
	int ret, synced, err = 0;

	if (!r->nstaged)
		return 0;
	/* Data first: nothing is put in place unless this sync succeeds. */
	synced = cdt_store_sync(r->store);
	for (i = 0; i < r->nstaged; i++) {
		struct staged *st = &r->staged[i];
		struct wanted *w = &r->want[st->want];

		if (synced < 0) {
			unlinkat(cdt_store_dirfd(r->store, CDT_DIR_TMP), st->tmpname.buf, 0);
			ret = synced;
		} else {
			ret = cdt_chunk_replace_install(r->store, &w->id, st->tmpname.buf);
		}
		strbuf_reset(&st->tmpname);
		if (ret < 0) {
			/* Not in place: the chunk is as damaged as before. */
			error("cannot write chunk %s: %s", cdt_id_to_hex(&w->id, hex),
			      cdt_strerror(ret));
			r->stats.failed++;
			w->staged = 0;
			err = err ? err : ret;
		}
	}
	ret = cdt_store_sync(r->store);
	if (ret < 0) {
		error("cannot sync '%s': %s", cdt_store_path(r->store), cdt_strerror(ret));
		err = err ? err : ret;
	}
	for (i = 0; i < r->nstaged; i++) {
		struct staged *st = &r->staged[i];
		struct wanted *w = &r->want[st->want];
		uint32_t len;

		if (!w->staged)
			continue;
		strbuf_reset(&why);
		if (ret < 0 ||
		    cdt_chunk_read(r->reader, &w->id, w->len, r->check, &len, &why) < 0) {
			if (!ret)
				error("chunk %s still fails after it was written from '%s': %s",
				      cdt_id_to_hex(&w->id, hex), quote(st->what), why.buf);
			r->stats.failed++;
			w->staged = 0;
			continue;
		}
		r->stats.restored++;
		if (r->opt.restored)
			r->opt.restored(&w->id, w->len, st->what, st->offset, r->opt.data);
		if (restored)
			(*restored)++;
		healed(r, w);
	}
	for (i = 0; i < r->nstaged; i++)
		strbuf_release(&r->staged[i].tmpname);
	r->nstaged = 0;
	r->staged_bytes = 0;
	strbuf_release(&why);
	update_limits(r);
	return err;
}

/* Write one wanted chunk back from data that hashes to its id: staged, for commit_staged(). */
static int restore_chunk(struct cdt_repair *r, struct wanted *w, const unsigned char *data,
			 const char *what, uint64_t offset, int *restored)
{
	char hex[CDT_ID_HEXLEN + 1];
	struct staged *st;
	uint32_t len;
	size_t olen;
	int ret;

	/* Never replace a good chunk, whoever made it good. */
	if (cdt_chunk_read(r->reader, &w->id, w->len, r->check, &len, NULL) == 0) {
		r->stats.good_again++;
		healed(r, w);
		if (restored)
			(*restored)++;
		return 0;
	}
	olen = cdt_object_encode(r->comp, data, w->len, r->obj);
	ALLOC_GROW(r->staged, r->nstaged + 1, r->astaged);
	st = &r->staged[r->nstaged];
	strbuf_init(&st->tmpname, 0);
	ret = cdt_chunk_replace_stage(r->store, r->obj, olen, &st->tmpname);
	if (ret < 0) {
		strbuf_release(&st->tmpname);
		r->stats.failed++;
		return error_code(ret, "cannot write chunk %s: %s", cdt_id_to_hex(&w->id, hex),
				  cdt_strerror(ret));
	}
	st->want = (size_t)(w - r->want);
	st->what = what;
	st->offset = offset;
	r->nstaged++;
	r->staged_bytes += olen;
	w->staged = 1;
	if (r->left)
		r->left--;
	if (r->nstaged >= STAGE_CHUNKS || r->staged_bytes >= STAGE_BYTES)
		return commit_staged(r, restored);
	return 0;
}

/* A cut piece of the buffer that hashes to a wanted id? Then write it back. */
static void offer(struct cdt_repair *r, const struct piece *p, const unsigned char *data,
		  const char *what, uint64_t offset, int *restored)
{
	uint64_t *v = cdt_idset_get(&r->want_ids, &p->id);
	struct wanted *w;

	if (!v)
		return;
	w = &r->want[*v];
	if (w->done || w->staged || w->len != p->len)
		return;
	/* Errors are said; the chunk stays wanted. */
	restore_chunk(r, w, data, what, offset, restored);
}

/* Fill `w` with what `prev` left uncut and the next bytes of the file, and cut it. */
static void fill(struct cdt_repair *r, struct window *w, const struct window *prev)
{
	size_t pos = 0;

	w->have = prev ? prev->have - prev->used : 0;
	w->base = prev ? prev->base + prev->used : 0;
	if (w->have)
		memcpy(w->buf, prev->buf + prev->used, w->have);
	while (w->have < r->buf_cap && !r->eof) {
		ssize_t n = read(r->fd, w->buf + w->have, r->buf_cap - w->have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r->read_err = -errno;
			r->eof = 1;
			break;
		}
		if (!n)
			r->eof = 1;
		w->have += (size_t)n;
		r->stats.bytes += (uint64_t)n;
	}
	w->npieces = 0;
	for (;;) {
		size_t n = cdt_chunker_next(r->chunker, w->buf + pos, w->have - pos, r->eof);

		if (!n)
			break;
		ALLOC_GROW(w->pieces, w->npieces + 1, w->apieces);
		w->pieces[w->npieces].off = pos;
		w->pieces[w->npieces].len = (uint32_t)n;
		w->npieces++;
		pos += n;
	}
	w->used = pos;
}

/* Item 0 reads and cuts the next window; item k + 1 hashes piece k of this one. */
static void round_item(size_t i, int worker, void *data)
{
	struct cdt_repair *r = data;
	struct piece *p;

	(void)worker;
	if (!i) {
		if (r->filling)
			fill(r, r->filling, r->hashing);
		return;
	}
	p = &r->hashing->pieces[i - 1];
	cdt_hash(r->hashing->buf + p->off, p->len, &p->id);
}

static void scan_progress(struct cdt_repair *r, const char *what, int force)
{
	static double last;
	double now;

	if (!r->opt.scan_progress)
		return;
	now = now_seconds();
	if (!force && now - last < 0.1)
		return;
	last = now;
	r->opt.scan_progress(what, r->stats.bytes, r->opt.data);
}

/* Fixed-size blocks with no whole block wanted: only the last block can match. */
static int scan_tail(struct cdt_repair *r, int fd, const char *what, uint64_t size, int *restored)
{
	uint32_t block = r->chunker->max_size;
	struct piece p;
	ssize_t n;

	p.len = (uint32_t)(size % block);
	p.off = 0;
	n = pread_full(fd, r->win[0].buf, p.len, (off_t)(size - p.len));
	if (n < 0)
		return error_code((int)n, "cannot read '%s': %s", quote(what), cdt_strerror((int)n));
	r->stats.bytes += (uint64_t)n;
	if ((size_t)n != p.len)
		return 0;	/* shrank under us */
	cdt_hash(r->win[0].buf, p.len, &p.id);
	offer(r, &p, r->win[0].buf, what, size - p.len, restored);
	return 0;
}

/* The next wanted manifest, from wman[*i] on, of a file of `size` bytes; NULL if none. */
static struct wanted_manifest *manifest_of_size(const struct cdt_repair *r, uint64_t size,
						 size_t *i)
{
	for (; *i < r->nwman; (*i)++)
		if (!r->wman[*i].done && r->wman[*i].size == size)
			return &r->wman[*i];
	return NULL;
}

/* Can a file of `size` bytes hold a wanted chunk or manifest? */
static int may_hold(const struct cdt_repair *r, uint64_t size)
{
	size_t from = 0;

	if (manifest_of_size(r, size, &from))
		return 1;
	if (!r->left || !size || size < r->min_len)
		return 0;
	if (r->chunker->kind == CDT_CHUNKER_FIXED && !r->want_block) {
		uint64_t tail = size % r->chunker->max_size;
		size_t i;

		for (i = 0; tail && i < r->nwant; i++)
			if (!r->want[i].done && r->want[i].len == tail)
				return 1;
		return 0;
	}
	return 1;
}

static int scan_fd(struct cdt_repair *r, int fd, const char *what, uint64_t size, int *restored)
{
	struct window *cur = &r->win[0], *next = &r->win[1], *t;
	size_t i;

	if (r->chunker->kind == CDT_CHUNKER_FIXED && !r->want_block)
		return scan_tail(r, fd, what, size, restored);
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	r->fd = fd;
	r->eof = 0;
	r->read_err = 0;
	fill(r, cur, NULL);
	while (r->left && !r->read_err) {
		int more = !r->eof;

		r->hashing = cur;
		r->filling = more ? next : NULL;
		cdt_workers_run(r->workers, cur->npieces + 1, round_item, r);
		for (i = 0; i < cur->npieces; i++) {
			struct piece *p = &cur->pieces[i];

			offer(r, p, cur->buf + p->off, what, cur->base + p->off, restored);
		}
		scan_progress(r, what, 0);
		if (!more)
			break;
		t = cur;
		cur = next;
		next = t;
	}
	if (r->read_err)
		return error_code(r->read_err, "cannot read '%s': %s", quote(what),
				   cdt_strerror(r->read_err));
	return 0;
}

/* The content id of fd's `size` bytes, read once more: 0, 1 if it is not that long now, or -errno. */
static int file_content_id(struct cdt_repair *r, int fd, const char *what, uint64_t size,
			   struct cdt_id *out)
{
	struct cdt_cid *c = cdt_cid_new(cdt_config_cid(cdt_store_config(r->store)));
	uint64_t off = 0;
	ssize_t n = 0;

	while (off < size) {
		size_t want = (size_t)MIN((uint64_t)r->buf_cap, size - off);

		n = pread_full(fd, r->win[0].buf, want, (off_t)off);
		if (n <= 0)
			break;
		cdt_cid_update(c, r->win[0].buf, (size_t)n);
		off += (uint64_t)n;
		r->stats.bytes += (uint64_t)n;
	}
	cdt_cid_final(c, out);
	cdt_cid_free(c);
	if (n < 0)
		return error_code((int)n, "cannot read '%s': %s", quote(what), cdt_strerror((int)n));
	return off != size;
}

/*
 * Store fd again as add stores it, under the name that uses wm's manifest
 * (left as it is): the manifest is written again, and chunks the store
 * does not hold are added. Only bytes of wm's content id are stored.
 */
static int write_manifest(struct cdt_repair *r, int fd, const char *what,
			  const struct wanted_manifest *wm)
{
	struct cdt_ingest_options io = { 0 };
	struct cdt_ingest_result res;
	struct cdt_name_entry meta;
	struct strbuf why = STRBUF_INIT;
	struct cdt_ingest *ing;
	int ret;

	memset(&meta, 0, sizeof(meta));
	ret = cdt_name_read(r->store, wm->name, &meta, &why);
	if (ret < 0) {
		error("cannot read the entry of '%s': %s", quote(wm->name),
		      why.len ? why.buf : cdt_strerror(ret));
		strbuf_release(&why);
		return ret;
	}
	strbuf_release(&why);
	if (meta.type != CDT_NAME_REG || !cdt_id_eq(&meta.content, &wm->id)) {
		cdt_name_entry_release(&meta);
		return 0;	/* not its manifest any more */
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		ret = -errno;
		cdt_name_entry_release(&meta);
		return error_code(ret, "cannot read '%s': %s", quote(what), cdt_strerror(ret));
	}
	io.jobs = r->opt.jobs;
	ing = cdt_ingest_new(r->store, &io);
	ret = cdt_ingest_fd_expect(ing, fd, what, &meta, &wm->id, &res);
	cdt_ingest_free(ing);
	cdt_name_entry_release(&meta);
	return ret;
}

/*
 * Every chunk the manifest of wm lists that does not read good, wanted
 * from now on (it is damaged where the check could not see it: no
 * readable manifest listed it). The number of such chunks, or -errno.
 */
static int want_bad_chunks(struct cdt_repair *r, const struct wanted_manifest *wm)
{
	struct strbuf why = STRBUF_INIT;
	char hex[CDT_ID_HEXLEN + 1];
	struct cdt_manifest *m;
	uint64_t i, count;
	int ret, bad = 0;

	ret = cdt_manifest_open(r->store, &wm->id, &m, &why);
	if (ret < 0) {
		error("manifest %s cannot be read after it was written: %s", cdt_id_to_hex(&wm->id, hex),
		      why.len ? why.buf : cdt_strerror(ret));
		strbuf_release(&why);
		return ret;
	}
	count = cdt_manifest_count(m);
	for (i = 0; i < count; i++) {
		struct cdt_manifest_entry e;
		uint64_t *v;
		uint32_t len;

		ret = cdt_manifest_get(m, i, &e);
		if (ret < 0)
			break;
		if (cdt_chunk_read(r->reader, &e.id, e.len, r->check, &len, NULL) == 0)
			continue;
		bad++;
		v = cdt_idset_get(&r->want_ids, &e.id);
		if (v) {
			r->want[*v].done = 0;	/* bad after all */
			continue;
		}
		collect_wanted(&e.id, e.len, r);
		r->stats.damaged++;
	}
	cdt_manifest_close(m);
	strbuf_release(&why);
	if (ret < 0)
		return error_code(ret, "manifest %s cannot be read after it was written: %s",
				  cdt_id_to_hex(&wm->id, hex), cdt_strerror(ret));
	if (bad)
		update_limits(r);
	return bad;
}

/*
 * A wanted manifest of fd's content, when fd (`size` bytes, chunks already
 * offered) has the size of one: written again, then its chunks made good
 * from fd. restored counts chunks written back.
 */
static int heal_manifest(struct cdt_repair *r, int fd, const char *what, uint64_t size,
			 int *restored)
{
	struct wanted_manifest *wm = NULL;
	char hex[CDT_ID_HEXLEN + 1];
	struct cdt_id content;
	size_t i = 0;
	int ret, pass;

	if (!manifest_of_size(r, size, &i))
		return 0;
	ret = file_content_id(r, fd, what, size, &content);
	if (ret)
		return ret < 0 ? ret : 0;
	for (i = 0; (wm = manifest_of_size(r, size, &i)); i++)
		if (cdt_id_eq(&wm->id, &content))
			break;
	if (!wm)
		return 0;
	ret = write_manifest(r, fd, what, wm);
	/* Chunks it lists that are damaged: found in the same file, and checked again. */
	for (pass = 0; !ret && pass < 2; pass++) {
		ret = want_bad_chunks(r, wm);
		if (ret <= 0 || pass)
			break;
		if (lseek(fd, 0, SEEK_SET) < 0) {
			ret = error_code(-errno, "cannot read '%s': %s", quote(what),
					 cdt_strerror(errno));
			break;
		}
		ret = scan_fd(r, fd, what, size, restored);
		commit_staged(r, restored);
	}
	if (ret < 0)
		return ret;
	if (ret > 0) {
		error("manifest %s of '%s' was written again from '%s', but %d of its chunks still fail",
		      cdt_id_to_hex(&wm->id, hex), quote(wm->name), quote(what), ret);
		return 0;
	}
	wm->done = 1;
	r->wman_left--;
	r->stats.manifests_restored++;
	cdt_fsck_manifest_healed(r->fsck, &wm->id);
	if (r->opt.manifest_restored)
		r->opt.manifest_restored(&wm->id, wm->name, what, r->opt.data);
	return 0;
}

static int repair_path(struct cdt_repair *r, int dirfd, const char *name, const char *what,
		       const struct stat *st_in)
{
	struct stat st;
	int fd, ret, restored = 0;
	double t0;

	if (st_in && !may_hold(r, (uint64_t)st_in->st_size)) {
		r->stats.skipped++;
		return 0;
	}
	cdt_pause_point("repair-open");	/* (tests: the file is replaced here) */
	/*
	 * O_NONBLOCK: a FIFO that took the file's place since it was looked
	 * at would hold the open (and the store's lock) for ever, waiting for
	 * a writer; fstat() below finds it. Reads of a regular file ignore it.
	 */
	fd = openat(dirfd, name, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC |
		    (st_in ? O_NOFOLLOW : 0));
	if (fd < 0)
		return error_code(-errno, "cannot open '%s': %s", quote(what), cdt_strerror(errno));
	if (fstat(fd, &st) < 0) {
		ret = error_code(-errno, "cannot stat '%s': %s", quote(what), cdt_strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = error_code(-EINVAL, "cannot read '%s': not a regular file", quote(what));
		goto out;
	}
	if (!may_hold(r, (uint64_t)st.st_size)) {
		r->stats.skipped++;
		ret = 0;
		goto out;
	}
	r->stats.files++;
	t0 = now_seconds();
	ret = scan_fd(r, fd, what, (uint64_t)st.st_size, &restored);
	/* What was found before a read error is good all the same. */
	commit_staged(r, &restored);
	if (!ret)
		ret = heal_manifest(r, fd, what, (uint64_t)st.st_size, &restored);
	r->stats.scan_seconds += now_seconds() - t0;
	if (!ret)
		ret = restored;
out:
	close(fd);
	return ret;
}

/*
 * A delta is damaged with its base: once the base is written back, the
 * delta reads again without being written itself. Those still wanted that
 * read good now are healed, so that no file is searched for them and their
 * damaged packs can be rewritten.
 */
static void settle(struct cdt_repair *r)
{
	uint64_t before = r->stats.good_again;
	uint32_t len;
	size_t i;

	for (i = 0; i < r->nwant; i++) {
		struct wanted *w = &r->want[i];

		if (w->done || cdt_chunk_read(r->reader, &w->id, w->len, r->check, &len, NULL) < 0)
			continue;
		w->done = 1;
		r->stats.good_again++;
		cdt_fsck_chunk_healed(r->fsck, &w->id);
	}
	if (r->stats.good_again != before)
		update_limits(r);
}

int cdt_repair_file(struct cdt_repair *r, const char *path)
{
	int ret = repair_path(r, AT_FDCWD, path, path, NULL);

	if (ret > 0)
		settle(r);
	return ret;
}

static int scan_dir(struct cdt_repair *r, int dfd, struct strbuf *path, int depth, int *restored)
{
	struct cdt_dent *v = NULL;
	size_t n = 0, i;
	int ret = 0;

	if (depth > 256) {
		close(dfd);
		return error_code(-ELOOP, "'%s': directories nested too deeply", quote(path->buf));
	}
	ret = cdt_list_dir(dfd, ".", &v, &n);
	if (ret < 0) {
		close(dfd);
		return error_code(ret, "cannot read directory '%s': %s", quote(path->buf), cdt_strerror(ret));
	}
	for (i = 0; i < n && cdt_repair_wanted(r); i++) {
		size_t keep = path->len;
		struct stat st;
		int err = 0, fd;

		strbuf_addf(path, "%s%s", path->len && path->buf[path->len - 1] != '/' ? "/" : "",
			    v[i].name);
		if (fstatat(dfd, v[i].name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			err = error_code(-errno, "cannot stat '%s': %s", quote(path->buf), cdt_strerror(errno));
		} else if (S_ISDIR(st.st_mode) && st.st_dev == r->store_dev &&
			   st.st_ino == r->store_ino) {
			;	/* the store itself */
		} else if (S_ISDIR(st.st_mode)) {
			fd = openat(dfd, v[i].name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				err = error_code(-errno, "cannot open directory '%s': %s", quote(path->buf),
						  cdt_strerror(errno));
			else
				err = scan_dir(r, fd, path, depth + 1, restored);
		} else if (S_ISREG(st.st_mode)) {
			err = repair_path(r, dfd, v[i].name, path->buf, &st);
			if (err > 0) {
				*restored += err;
				err = 0;
			}
			scan_progress(r, path->buf, 0);
		}
		if (err < 0 && !ret)
			ret = err;
		strbuf_setlen(path, keep);
	}
	cdt_dents_free(v, n);
	close(dfd);
	return ret;
}

int cdt_repair_scan(struct cdt_repair *r, const char *path)
{
	struct strbuf sb = STRBUF_INIT;
	int fd, ret, restored = 0;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return error_code(-errno, "cannot open directory '%s': %s", quote(path), cdt_strerror(errno));
	strbuf_addstr(&sb, path);
	ret = scan_dir(r, fd, &sb, 0, &restored);
	strbuf_release(&sb);
	if (restored)
		settle(r);
	return ret < 0 ? ret : restored;
}

/*
 * Rewrite one damaged pack: every object whose bytes still check is copied
 * as it is, every other one from a good copy found elsewhere (repair has just
 * made sure there is one for each chunk a name needs; a damaged object no
 * name needs is dropped). The new pack is durable and read back before the
 * old one goes, index first, as gc removes packs.
 */
struct pack_heal {
	struct cdt_repair *r;
	int rewritten, failed, midx;
	struct cdt_decompressor *d;
	unsigned char *raw;
	size_t cap;
};

static int rewrite_pack(struct pack_heal *ph, struct cdt_pack *p, const char *name)
{
	struct cdt_repair *r = ph->r;
	int packsfd = cdt_store_dirfd(r->store, CDT_DIR_PACKS);
	struct cdt_pack_writer *w = NULL;
	struct strbuf why = STRBUF_INIT;
	char made[CDT_ID_HEXLEN + 6], hex[CDT_ID_HEXLEN + 1];
	uint64_t k, replaced = 0, dropped = 0;
	int ret;

	ret = cdt_pack_writer_new(r->store, &w);
	if (ret < 0)
		goto fail;
	for (k = 0; k < p->count; k++) {
		struct cdt_id id;
		uint32_t len;

		cdt_pack_entry(p, k, &id, NULL, NULL, NULL);
		/* What still checks in this pack is kept; the rest comes from a good copy. */
		if (cdt_chunk_read_entry(r->reader, p, k, ph->raw, &len, NULL) == 0) {
			ret = cdt_pack_writer_add_chunk(w, r->comp, &id, ph->raw, len);
			if (ret < 0)
				goto fail;
			continue;
		}
		if (cdt_chunk_read(r->reader, &id, 0, ph->raw, &len, NULL) == 0) {
			ret = cdt_pack_writer_add_chunk(w, r->comp, &id, ph->raw, len);
			if (ret < 0)
				goto fail;
			replaced++;
			continue;
		}
		if (cdt_fsck_chunk_needed(r->fsck, &id)) {
			/* Its only copy: keep the pack, so that repair can still find it. */
			error("pack '%s' holds the only copy of chunk %s, damaged; leaving the pack as it is",
			      name, cdt_id_to_hex(&id, hex));
			cdt_pack_writer_free(w);
			ph->failed++;
			return 0;
		}
		dropped++;
	}
	ret = cdt_pack_writer_commit(w, made);
	cdt_pack_writer_free(w);
	w = NULL;
	if (ret < 0)
		goto fail;
	/* Read back what was written. */
	{
		struct cdt_pack np;

		ret = cdt_pack_open(packsfd, made, &np);
		if (!ret) {
			ret = cdt_pack_verify(&np, packsfd, NULL, NULL, &why);
			cdt_pack_close(&np);
		}
		if (ret < 0) {
			error("pack '%s', written in place of '%s', does not read back: %s", made, name,
			      why.len ? why.buf : cdt_strerror(ret));
			ph->failed++;
			strbuf_release(&why);
			return 0;
		}
	}
	if (strcmp(made, name)) {
		cdt_serverinfo_unlist_pack(r->store, name);
		ret = cdt_pack_remove_files(r->store, name);
		cdt_serverinfo_packs(r->store);
		if (ret < 0)
			goto fail;
	}
	if (fsync(packsfd) < 0) {
		ret = -errno;
		goto fail;
	}
	cdt_fsck_pack_healed(r->fsck, name);
	ph->rewritten++;
	if (r->opt.pack_rewritten)
		r->opt.pack_rewritten(name, made, replaced, dropped, r->opt.data);
	strbuf_release(&why);
	return 0;
fail:
	cdt_pack_writer_free(w);
	ph->failed++;
	strbuf_release(&why);
	error("cannot rewrite pack '%s': %s", name, cdt_strerror(ret));
	return 0;
}

static int heal_pack(struct cdt_pack *p, const char *name, void *data)
{
	struct pack_heal *ph = data;

	struct cdt_repair *r = ph->r;
	int packsfd = cdt_store_dirfd(r->store, CDT_DIR_PACKS);
	int ret;

	if (!strcmp(name, CDT_MIDX_NAME)) {
		ph->midx = 1;	/* rewritten once the packs are */
		return 0;
	}
	if (p)
		return rewrite_pack(ph, p, name);
	/*
	 * An index that cannot be read hides its pack from every reader, and
	 * what it holds is unknown. Once every chunk a name needs reads back
	 * good, and every manifest a name uses could be read, nothing needed
	 * lives only there: remove it, index first.
	 */
	if (!cdt_fsck_needs_known(r->fsck)) {
		ph->failed++;
		return 0;
	}
	cdt_serverinfo_unlist_pack(r->store, name);
	ret = cdt_pack_remove_files(r->store, name);
	cdt_serverinfo_packs(r->store);
	if (ret < 0) {
		error("cannot remove 'packs/%s.idx': %s", name, cdt_strerror(ret));
		ph->failed++;
		return 0;
	}
	fsync(packsfd);
	cdt_fsck_pack_healed(r->fsck, name);
	ph->rewritten++;
	if (r->opt.pack_rewritten)
		r->opt.pack_rewritten(name, NULL, 0, 0, r->opt.data);
	return 0;
}

static void sketch_fixed(const char *pack, enum cdt_sketch_fix what, void *data)
{
	struct cdt_repair *r = data;
	char *file = xstrfmt("%s.sketch", pack);

	cdt_fsck_pack_healed(r->fsck, file);
	if (what == CDT_SKETCH_REBUILT && r->opt.pack_rewritten)
		r->opt.pack_rewritten(file, file, 0, 0, r->opt.data);
	free(file);
}

int cdt_repair_packs(struct cdt_repair *r)
{
	struct pack_heal ph = { r, 0, 0, 0, NULL, NULL, 0 };
	int ret;

	if (r->left) {
		cdt_serverinfo_packs_settle(r->store);	/* (as below) */
		return 0;	/* a damaged pack may hold what is still wanted */
	}
	ph.d = cdt_decompressor_new();
	ph.cap = CDT_OBJ_MAX(r->chunker->max_size);
	ph.raw = xmalloc(r->chunker->max_size);
	cdt_fsck_for_each_damaged_pack(r->fsck, heal_pack, &ph);
	cdt_decompressor_free(ph.d);
	free(ph.raw);
	/* The multi-pack index names packs: write it again over the packs there are now. */
	if (ph.rewritten || ph.midx) {
		ret = cdt_packs_write_midx(r->store);
		if (ret < 0) {
			error("cannot write the multi-pack index: %s", cdt_strerror(ret));
			ph.failed++;
		} else if (ph.midx) {
			cdt_fsck_pack_healed(r->fsck, CDT_MIDX_NAME);
			ph.rewritten++;
			if (r->opt.pack_rewritten)
				r->opt.pack_rewritten(CDT_MIDX_NAME, CDT_MIDX_NAME, 0, 0, r->opt.data);
		}
	}
	/* Sketches follow the packs there are now: a missing or damaged one is made again. */
	ret = cdt_sketches_fix(r->store, 0, sketch_fixed, r);
	if (ret < 0)
		ph.failed++;
	r->stats.packs_rewritten += (uint64_t)ph.rewritten;
	/*
	 * info/packs lists the packs repair leaves, whatever became of others
	 * before it ran (pack files deleted, their chunks restored loose).
	 */
	cdt_serverinfo_packs_settle(r->store);
	return ph.failed ? -CDT_ECORRUPT : ph.rewritten;
}

void cdt_repair_get_stats(const struct cdt_repair *r, struct cdt_repair_stats *st)
{
	*st = r->stats;
}

uint64_t cdt_repair_finish(struct cdt_repair *r,
			   void (*problem)(const struct cdt_fsck_item *it, void *data),
			   cdt_fsck_name_fn name, void *data)
{
	struct cdt_fsck_summary sum;

	r->problem_cb = problem;
	r->problem_data = data;
	cdt_fsck_finish(r->fsck, &sum);
	if (name)
		cdt_fsck_for_each_affected_name(r->fsck, name, data);
	return sum.problems;
}
