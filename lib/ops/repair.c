/* repair.c: find the damaged chunks, then cut local files as the store does and write back matches. */
#include "ops/repair-internal.h"
#include "ops/ingest.h"
#include "base/fsutil.h"
#include "base/compress.h"
#include "base/idset.h"
#include "ops/batch.h"
#include "ops/chunks.h"
#include "format/object.h"
#include "ops/packset.h"
#include "ops/serverinfo.h"
#include "base/util.h"
#include "base/workers.h"
#include "base/testpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int repair_want_chunk(const struct cdt_id *id, uint32_t len, void *data)
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

/* What a file must look like to hold something still wanted. */
void repair_update_limits(struct cdt_repair *r)
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
	/* Before the check, so that it sees the names healed and what they need. */
	repair_heal_names(r);
	r->fsck = cdt_fsck_new(s, &fo);
	ret = cdt_fsck_check_data(r->fsck);
	if (ret < 0) {
		cdt_repair_free(r);
		*out = NULL;
		return ret;
	}
	cdt_fsck_for_each_damaged_chunk(r->fsck, repair_want_chunk, r);
	cdt_fsck_for_each_damaged_manifest(r->fsck, repair_want_manifest, r);
	repair_sort_manifests(r);
	r->stats.damaged = r->nwant;
	r->stats.manifests_damaged = r->nwman;
	repair_update_limits(r);
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
	cdt_ingest_free(r->heal_ing);	/* each heal flushed by the scan that queued it */
	free(r->heals);
	while (r->nwman--)
		free(r->wman[r->nwman].name);
	free(r->wman);
	cdt_idset_clear(&r->wman_ids);
	free(r->want);
	cdt_idset_clear(&r->want_ids);
	free(r);
}

uint64_t cdt_repair_wanted(const struct cdt_repair *r)
{
	/* A full disk ends the search: nothing found could be written. */
	return r->full ? 0 : r->left + r->wman_left;
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

/* No room (a full disk, a quota, a file size limit): no chunk can be written back. */
static int disk_full(int err)
{
	return err == -ENOSPC || err == -EDQUOT || err == -EFBIG;
}

/* The first chunk a full disk kept out, said in one line for all: the search ends. */
static void said_full(struct cdt_repair *r, const struct cdt_id *id, int err)
{
	char hex[CDT_ID_HEXLEN + 1];

	r->full = err;
	error("cannot write chunk %s: %s; no more chunks are written back (make room, then run "
	      "repair again)", cdt_id_to_hex(id, hex), cdt_strerror(err));
}

/*
 * Put the staged chunks in place, durably, and check each: one syncfs
 * before the renames (a chunk in place is always complete), one after (a
 * chunk counted restored stays so through a crash). A chunk that fails
 * is wanted again, from a later match. restored (or NULL) counts those
 * that read back good. 0, or the first error.
 */
int repair_commit_staged(struct cdt_repair *r, int *restored)
{
	struct strbuf why = STRBUF_INIT;
	char hex[CDT_ID_HEXLEN + 1];
	size_t i;
	int ret, synced, err = 0;

	if (!r->nstaged)
		return 0;
	cdt_pause_point("repair-commit");	/* (tests: a batch is staged, not synced) */
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
			if (!disk_full(ret))
				error("cannot write chunk %s: %s", cdt_id_to_hex(&w->id, hex),
				      cdt_strerror(ret));
			else if (!r->full)
				said_full(r, &w->id, ret);
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
	repair_update_limits(r);
	return err;
}

/* Write one wanted chunk back from data that hashes to its id: staged, for repair_commit_staged(). */
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
	if (r->full) {
		r->stats.failed++;
		return r->full;	/* said once, when the disk filled */
	}
	olen = cdt_object_encode(r->comp, data, w->len, r->obj);
	ALLOC_GROW(r->staged, r->nstaged + 1, r->astaged);
	st = &r->staged[r->nstaged];
	strbuf_init(&st->tmpname, 0);
	ret = cdt_chunk_replace_stage(r->store, r->obj, olen, &st->tmpname);
	if (ret < 0) {
		strbuf_release(&st->tmpname);
		r->stats.failed++;
		if (!disk_full(ret))
			return error_code(ret, "cannot write chunk %s: %s",
					  cdt_id_to_hex(&w->id, hex), cdt_strerror(ret));
		/* What is staged is still committed. */
		said_full(r, &w->id, ret);
		return ret;
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
		return repair_commit_staged(r, restored);
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

/* Can a file of `size` bytes hold a wanted chunk or manifest? */
static int may_hold(const struct cdt_repair *r, uint64_t size)
{
	size_t from = 0;

	if (repair_manifest_of_size(r, size, &from))
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

int repair_scan_fd(struct cdt_repair *r, int fd, const char *what, uint64_t size, int *restored)
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
	while (r->left && !r->read_err && !r->full) {
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
	ret = repair_scan_fd(r, fd, what, (uint64_t)st.st_size, &restored);
	/* What was found before a read error is good all the same. */
	repair_commit_staged(r, &restored);
	if (!ret) {
		/* (A full batch of heals is committed here: its chunks count too.) */
		ret = repair_heal_manifest(r, fd, what, !st_in, (uint64_t)st.st_size);
		if (ret > 0) {
			restored += ret;
			ret = 0;
		}
	}
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
		repair_update_limits(r);
}

int cdt_repair_file(struct cdt_repair *r, const char *path)
{
	int ret = repair_path(r, AT_FDCWD, path, path, NULL);
	int healed = repair_flush_heals(r);

	if (healed > 0 && ret >= 0)
		ret += healed;
	else if (healed < 0 && ret >= 0)
		ret = healed;
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
	int fd, ret, restored = 0, healed;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return error_code(-errno, "cannot open directory '%s': %s", quote(path), cdt_strerror(errno));
	strbuf_addstr(&sb, path);
	ret = scan_dir(r, fd, &sb, 0, &restored);
	strbuf_release(&sb);
	healed = repair_flush_heals(r);
	if (healed > 0)
		restored += healed;
	else if (healed < 0 && ret >= 0)
		ret = healed;
	if (restored)
		settle(r);
	return ret < 0 ? ret : restored;
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
