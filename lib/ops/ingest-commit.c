/* ingest-commit.c: the group commit of add: chunk data, references, manifests, name records and names of many files made durable together. */
#include "ops/ingest.h"
#include "ops/ingest-internal.h"
#include "ops/batch.h"
#include "ops/chunks.h"
#include "ops/packset.h"
#include "ops/serverinfo.h"
#include "ops/sketchset.h"
#include "format/config.h"
#include "format/manifest.h"
#include "format/mpack.h"
#include "format/namerefs.h"
#include "format/names.h"
#include "format/refs.h"
#include "base/csum-file.h"
#include "base/hash.h"
#include "base/util.h"
#include "base/testpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void ingest_pend(struct cdt_ingest *ing, struct cdt_name_entry *meta,
		 const struct cdt_ingest_result *res, struct cdt_manifest_writer *mw, int heal,
		 void *cookie)
{
	struct pending *p;

	if (!ing->npend)
		ing->pend_since = now_seconds();
	ALLOC_GROW(ing->pend, ing->npend + 1, ing->apend);
	p = &ing->pend[ing->npend++];
	memset(p, 0, sizeof(*p));
	p->meta = xmalloc(sizeof(*p->meta));
	memcpy(p->meta, meta, sizeof(*meta));
	/* The copy owns the extended attributes now. */
	meta->xattrs = NULL;
	meta->xattrs_len = 0;
	if (res)
		p->res = *res;
	p->mw = mw;
	p->heal = heal;
	p->cookie = cookie;
	strbuf_init(&p->name_tmp, 0);
	if (mw)
		ing->pend_manifests++;
}

/* cdt_content_stored() with the ingest thread's own chunk reader. */
static int content_stored(struct cdt_ingest *ing, const struct cdt_id *id, uint64_t size)
{
	int self = cdt_workers_count(ing->workers);

	return cdt_content_stored(ing->store, ing->readers[self], ing->rbufs[self], id, size);
}

int cdt_ingest_queue_entry(struct cdt_ingest *ing, struct cdt_name_entry *meta, void *cookie)
{
	struct cdt_ingest_result res;

	memset(&res, 0, sizeof(res));
	if (cdt_name_has_content(meta)) {
		uint64_t size;
		/* Of the name's size, as cdt_content_stored() asks of a stored one. */
		int ret = ingest_content_pending(ing, &meta->content, &size) ? size == meta->size :
			  content_stored(ing, &meta->content, meta->size);

		if (ret < 0)
			return ret;
		if (!ret)
			return -ENOENT;
		res.content = meta->content;
		res.size = meta->size;
		res.manifest_existed = 1;
	}
	ingest_pend(ing, meta, &res, NULL, 0, cookie);
	ingest_commit_if_due(ing);	/* failures reach the caller through done() */
	return 0;
}

static void pend_release(struct pending *p)
{
	cdt_manifest_writer_free(p->mw);
	cdt_name_entry_release(p->meta);
	free(p->meta);
	strbuf_release(&p->name_tmp);
}

/* Names done with: their staged entries left in tmp/ removed, and freed. */
static void pend_release_all(struct cdt_store *s, struct pending *pend, size_t n)
{
	int tmpfd = n ? cdt_store_dirfd(s, CDT_DIR_TMP) : -1;
	size_t i;

	for (i = 0; i < n; i++) {
		if (pend[i].name_tmp.len)
			unlinkat(tmpfd, pend[i].name_tmp.buf, 0);
		pend_release(&pend[i]);
	}
}

void ingest_pend_free(struct cdt_ingest *ing)
{
	pend_release_all(ing->store, ing->pend, ing->npend);
	ing->npend = 0;
	ing->pend_manifests = 0;
	cdt_idset_reset(&ing->pend_ids);
}

static void name_error(const struct cdt_name_entry *e, int ret)
{
	if (ret == -EEXIST)
		error("name '%s' already exists (not replaced)", quote(e->name));
	else if (ret == -EISDIR)
		error("cannot store '%s': it is a directory of names in the store "
		      "('cdt rm -r %s' first)", quote(e->name),
		      quote(e->name));
	else if (ret == -ENOTDIR)
		error("cannot store '%s': a parent of it is a stored name", quote(e->name));
	else
		error("cannot write name '%s': %s", quote(e->name), cdt_strerror(ret));
}

/*
 * A batch of names on its way into the store: steps 2 to 5 of a commit
 * (commit_names()), run on a thread of their own while the ingest reads
 * the next batch, or on the caller's. It takes over the ingest's pending
 * names, their reference writer and the set of contents whose manifests
 * they bring; nothing else it touches is the ingest's.
 */
struct commit_job {
	struct cdt_store *store;
	int no_replace;
	int (*replace_type)(void *cookie, void *data);
	void *replace_data;
	struct pending *pend;
	size_t npend;
	struct cdt_ref_writer *refw;
	struct cdt_idset ids;
	int64_t committed_at;
	int ret;		/* a failure all its names share */
	/*
	 * A manifest of the batch may not be stored: names queued after it
	 * may use it (found pending, not read), so they are not stored either.
	 */
	int fatal;
	pthread_t thread;
	int threaded;
	struct ingest_info *info;	/* the ingest's: changes for info/names/ */
	int last;		/* the tables follow every name once it is committed */
	struct commit_order *order;	/* the ingest's: whose turn it is */
	uint64_t turn;		/* its place in that order */
	/* Found and staged by prepare_names(), for the rest of the commit. */
	size_t changes;
	struct cdt_nameref_writer *records;
	size_t nrecords;
	/* The batch's manifest pack, staged in tmp/: put in place with the loose manifests. */
	struct cdt_csum_file *mpack;
	char mpack_name[CDT_MPACK_NAME_MAX];
};

/*
 * The commits of an ingest's batches, in the order they were made: a job
 * looks at its names and stages them (tmp/ files, seen by nobody) after
 * the job before it did, while that one commits; then it waits for its
 * turn for the rest, from the first name changed to the last sync. A job
 * that failed in a way the names after it may depend on (a manifest not
 * stored) fails the names of the job after it, which may have found its
 * manifests pending (the names queued later are the ingest's: see
 * finish_oldest()).
 */
struct commit_order {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t staging;	/* the job whose names are staged now */
	uint64_t next;		/* the job whose turn to commit it is */
	uint64_t given;		/* jobs made */
	int broken;		/* the job before `next` failed with this; or 0 */
};

/* Every name of the job not failed yet fails with ret. */
static void fail_all(struct commit_job *j, int ret)
{
	size_t i;

	if (!j->ret)
		j->ret = ret;
	j->fatal = 1;
	for (i = 0; i < j->npend; i++)
		if (!j->pend[i].err)
			j->pend[i].err = ret;
}

/*
 * The names of pend[0..n) not failed yet fail with err, because the batch
 * before them failed: all of them, or with `uses` those whose content is
 * in it (a manifest that batch brought). Says how many, in one line.
 */
static void fail_after_batch(struct pending *pend, size_t n, int err, const struct cdt_idset *uses)
{
	size_t failed = 0, i;

	for (i = 0; i < n; i++) {
		struct pending *p = &pend[i];

		if (p->err || (uses && (!cdt_name_has_content(p->meta) ||
					!cdt_idset_has(uses, &p->meta->content))))
			continue;
		p->err = err;
		failed++;
	}
	if (failed)
		error("%zu name%s not stored: the batch before %s failed", failed,
		      failed == 1 ? "" : "s", failed == 1 ? "it" : "them");
}

static int sync_store(struct commit_job *j)
{
	int ret = cdt_store_sync(j->store);

	if (ret < 0) {
		error("cannot sync store '%s': %s", cdt_store_path(j->store), cdt_strerror(ret));
		fail_all(j, ret);
	}
	return ret;
}

/* The name records of a batch could not be written: none of its names is. */
static void records_error(struct commit_job *j, size_t records, int err)
{
	error("cannot write the name records of %zu name%s: %s", records, records == 1 ? "" : "s",
	      cdt_strerror(err));
	fail_all(j, err);
}

/*
 * The steps of a commit, each durable before the next points at it
 * (Documentation/technical/durability.md):
 *  1. chunk data: the batch's pack (or loose objects), synced, then renamed
 *     (commit_data(), on the ingest's thread: what it reads next is looked
 *     up among these chunks);
 *  2. reference tables of the new manifests (renamed, synced with step 3's);
 *  3. name entries and the batch's table of name records written to tmp/; syncfs;
 *  4. manifests and the table renamed into place; syncfs;
 *  5. name entries renamed into place, the tables of info/names/ of their
 *     prefixes and info/prefixes written (under info/lock); syncfs.
 * Steps 2 to 5 are commit_names().
 */
static int commit_data(struct cdt_ingest *ing)
{
	struct cdt_store *s = ing->store;
	int ret = 0;

	if (ing->batch) {
		ret = cdt_chunk_batch_commit(ing->batch);
		if (!ret && ing->sketches) {
			cdt_sketchset_refresh(ing->sketches);
			ingest_sf_reset(&ing->add_sf);
		}
	}
	/* Keep lookups cheap: index many new packs together now and then. */
	if (cdt_packs_uncovered(s) > MIDX_AFTER_PACKS) {
		int w = cdt_packs_write_midx(s);

		if (w < 0)
			warning("cannot write the multi-pack index: %s", cdt_strerror(w));
	}
	return ret;
}

/*
 * Is the stored entry of meta's name the one it would write, but for when
 * it was written? Then it is kept as it is: an unchanged tree added again
 * under the same names creates, renames and records nothing. An entry
 * that cannot be read (missing, damaged, in the way) is written as usual.
 *
 * `missing` is a directory of names found missing for an earlier name
 * (or empty): the names under it are new, and are not looked for one by
 * one (a first store of a tree asks once a directory). Being wrong about
 * it only writes an entry, never keeps one.
 */
static int name_unchanged(struct cdt_store *s, struct cdt_name_entry *meta, struct strbuf *missing)
{
	struct cdt_name_entry old;
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT, why = STRBUF_INIT;
	const char *slash = strrchr(meta->name, '/');
	int64_t added = meta->added_sec;
	int same = 0, ret, fd;

	if (missing->len && !strncmp(meta->name, missing->buf, missing->len) &&
	    meta->name[missing->len] == '/')
		return 0;
	ret = cdt_name_read(s, meta->name, &old, &why);
	if (ret == -ENOENT && slash) {
		/* Is its directory missing too? */
		strbuf_reset(missing);
		strbuf_add(missing, meta->name, (size_t)(slash - meta->name));
		fd = openat_beneath(cdt_store_dirfd(s, CDT_DIR_NAMES), missing->buf,
				    O_RDONLY | O_DIRECTORY, 0);
		if (fd >= 0) {
			close(fd);
			strbuf_reset(missing);
		}
	}
	if (!ret) {
		meta->added_sec = old.added_sec;
		cdt_name_encode(meta, &a);
		cdt_name_encode(&old, &b);
		same = a.len == b.len && !memcmp(a.buf, b.buf, a.len);
		if (!same)
			meta->added_sec = added;
		cdt_name_entry_release(&old);
	}
	strbuf_release(&a);
	strbuf_release(&b);
	strbuf_release(&why);
	return same;
}

/*
 * The name records of the names to write: one table for the batch, staged
 * in tmp/ like their entries (so the next syncfs makes it whole before it
 * is in place). 0, or -errno with every name failed.
 */
static int stage_records(struct commit_job *j)
{
	size_t i;
	int ret;

	j->records = cdt_nameref_writer_new(j->store);
	for (i = 0; i < j->npend; i++) {
		struct pending *p = &j->pend[i];

		if (!p->err && !p->res.name_kept && cdt_name_has_content(p->meta))
			cdt_nameref_writer_add(j->records, &p->meta->content, p->meta->name);
	}
	j->nrecords = cdt_nameref_writer_count(j->records);
	ret = cdt_fail_point("name-records");
	if (!ret)
		ret = cdt_nameref_writer_stage(j->records);
	if (ret < 0)
		records_error(j, j->nrecords, ret);
	return ret;
}

static void install_names(struct commit_job *j)
{
	static unsigned paused_at_mark, paused_waiting;
	struct cdt_store *s = j->store;
	struct cdt_name_dirs *dirs;
	struct cdt_name_gone gone = { ingest_info_note_gone, j->info };
	struct cdt_info *info;
	char hex[CDT_ID_HEXLEN + 1];
	size_t i;
	int ret, any_new = 0, was;

	/*
	 * Nothing to write, nothing to sync; unless a writer killed between
	 * its names and its tables left info/ stale: opening it mends that (a
	 * kept name's entry may be the killed writer's). Tables that wait for
	 * names of the batches before are written by commit_batch() then.
	 */
	if (!j->changes && !j->refw && !cdt_info_intents_dead(s))
		return;
	if (!j->records && stage_records(j) < 0)
		return;
	/* Before any name changes; ended once the tables of info/names/ follow. */
	ingest_info_begin(j->info, s);
	/* Jobs take their turns one after another. */
	if (!paused_at_mark++)
		cdt_pause_point("info-mark");
	if (j->refw) {
		ret = cdt_ref_writer_flush(j->refw);
		if (ret < 0) {
			error("cannot write reference table: %s", cdt_strerror(ret));
			fail_all(j, ret);
			goto out;
		}
	}
	if (sync_store(j) < 0)
		goto out;
	cdt_crash_point("manifest");
	/*
	 * Every new manifest, even of a name that failed: other names, of
	 * this batch or the next, may have found it pending and use it.
	 */
	if (j->mpack) {
		ret = ingest_install_mpack(s, j->mpack, j->mpack_name);
		j->mpack = NULL;
		if (ret < 0) {
			error("cannot store a pack of manifests: %s", cdt_strerror(ret));
			fail_all(j, ret);
			goto out;
		}
	}
	for (i = 0; i < j->npend; i++) {
		struct pending *p = &j->pend[i];

		if (!p->mw || p->packed)
			continue;
		ret = cdt_manifest_writer_commit_flags(p->mw, p->heal, 0);
		if (ret < 0) {
			error("cannot store manifest %s: %s", cdt_id_to_hex(&p->res.content, hex),
			      cdt_strerror(ret));
			fail_all(j, ret);
			goto out;
		}
		any_new = 1;
	}
	/* The batch's table of name records, staged with the entries: moved into place now. */
	ret = cdt_nameref_writer_install(j->records);
	if (ret < 0) {
		records_error(j, j->nrecords, ret);
		goto out;
	}
	if (sync_store(j) < 0)
		goto out;
	/*
	 * info/lock is held from the first name installed to the last table
	 * written, so that concurrent adds change names and tables in one order.
	 */
	/* The names are stored whatever becomes of info/: its failures are warnings. */
	was = cdt_errors_as_warnings(1);
	if (cdt_info_open(s, &info) < 0) {
		info = NULL;
		j->info->lost = 1;
	}
	cdt_errors_as_warnings(was);
	dirs = cdt_name_dirs_new();
	for (i = 0; i < j->npend; i++) {
		struct pending *p = &j->pend[i];
		struct cdt_name_file installed;

		if (!p->name_tmp.len || p->err)
			continue;
		p->err = cdt_name_install(s, dirs, p->meta, p->name_tmp.buf, !j->no_replace,
					  j->replace_type && j->replace_type(p->cookie, j->replace_data) ?
					  &gone : NULL, &installed);
		strbuf_reset(&p->name_tmp);
		if (p->err)
			name_error(p->meta, p->err);
		else
			ingest_info_note(j->info, p->meta, &installed);
	}
	cdt_name_dirs_free(dirs);
	cdt_crash_point("info");
	/* The tables follow the names at the end, or when many changes wait. */
	was = cdt_errors_as_warnings(1);
	if (info && (j->last || ingest_info_due(j->info)))
		ingest_info_flush(j->info, s, info);
	cdt_info_close(info);
	cdt_errors_as_warnings(was);
	if (j->info->n && !paused_waiting++)
		cdt_pause_point("info-wait");
	if (sync_store(j) < 0)
		goto out;
	/* Merge small reference tables and tables of name records now and then. */
	if (any_new) {
		int merged = cdt_refs_compact(s, REFS_MAX_TABLES, NULL, NULL);

		if (merged < 0)
			warning("cannot merge reference tables: %s", cdt_strerror(merged));
	}
	if (j->nrecords) {
		int merged = cdt_nameref_merge(s);

		if (merged < 0)
			warning("cannot merge tables of name records: %s", cdt_strerror(merged));
	}
out:
	/* Changes waiting for the tables keep the mark. */
	if (!j->info->n)
		ingest_info_end(j->info);
}

/*
 * Step 3's files, which no reader sees: the entries of the names to write
 * and the table of their name records staged in tmp/, new manifests
 * written to their temporary files. Run while the job before commits.
 */
static void prepare_names(struct commit_job *j)
{
	struct cdt_store *s = j->store;
	char hex[CDT_ID_HEXLEN + 1];
	struct strbuf missing = STRBUF_INIT;
	size_t i;
	int ret;

	/*
	 * Names stored as they would be written are kept. (add stores a name
	 * once per command, so none is both kept and written here, nor in a
	 * batch before, whose names may be going in meanwhile.)
	 */
	for (i = 0; i < j->npend; i++) {
		struct pending *p = &j->pend[i];

		if (p->err)
			continue;
		p->meta->added_sec = j->committed_at;
		/* With --no-replace an existing name fails, the same or not. */
		p->res.name_kept = !j->no_replace && name_unchanged(s, p->meta, &missing);
		j->changes += !p->res.name_kept || p->mw;
	}
	strbuf_release(&missing);
	if (!j->changes && !j->refw)
		return;
	ret = ingest_stage_mpack(s, j->pend, j->npend, &j->mpack, j->mpack_name);
	if (ret < 0) {
		fail_all(j, ret);
		return;
	}
	/* New manifests kept in memory go to their temporary files (synced in turn). */
	for (i = 0; i < j->npend; i++) {
		struct pending *p = &j->pend[i];

		if (!p->mw || p->packed)
			continue;
		ret = cdt_manifest_writer_write_out(p->mw);
		if (ret < 0) {
			error("cannot write manifest %s: %s", cdt_id_to_hex(&p->res.content, hex),
			      cdt_strerror(ret));
			fail_all(j, ret);
			return;
		}
	}
	for (i = 0; i < j->npend; i++) {
		struct pending *p = &j->pend[i];

		if (p->err || p->res.name_kept)
			continue;
		p->err = cdt_name_stage(s, p->meta, &p->name_tmp);
		if (p->err) {
			strbuf_reset(&p->name_tmp);
			error("cannot write name '%s': %s", quote(p->meta->name), cdt_strerror(p->err));
		}
	}
	stage_records(j);
}

static void wait_for(struct commit_order *o, const uint64_t *counter, uint64_t turn)
{
	pthread_mutex_lock(&o->mu);
	while (*counter != turn)
		pthread_cond_wait(&o->cv, &o->mu);
	pthread_mutex_unlock(&o->mu);
}

static void step(struct commit_order *o, uint64_t *counter)
{
	pthread_mutex_lock(&o->mu);
	(*counter)++;
	pthread_cond_broadcast(&o->cv);
	pthread_mutex_unlock(&o->mu);
}

/*
 * Wait for the job's turn to commit. When the job before failed, its
 * names fail (they may use its manifests): the rest of the commit still
 * stores its manifests, which names after it may use.
 */
static void wait_turn(struct commit_job *j)
{
	struct commit_order *o = j->order;
	int broken;

	wait_for(o, &o->next, j->turn);
	pthread_mutex_lock(&o->mu);
	broken = o->broken;
	pthread_mutex_unlock(&o->mu);
	if (!broken || j->ret)
		return;
	fail_after_batch(j->pend, j->npend, broken, NULL);
	/* Their records are not stored either: staged again, without them. */
	cdt_nameref_writer_free(j->records);
	j->records = NULL;
}

/* The next job's turn, told whether this one failed its names. */
static void end_turn(struct commit_job *j)
{
	struct commit_order *o = j->order;

	pthread_mutex_lock(&o->mu);
	o->broken = j->fatal ? (j->ret < 0 ? j->ret : -EIO) : 0;
	o->next++;
	pthread_cond_broadcast(&o->cv);
	pthread_mutex_unlock(&o->mu);
}

static void commit_names(struct commit_job *j)
{
	/* Staged in the order of the jobs too, as their names were queued. */
	wait_for(j->order, &j->order->staging, j->turn);
	if (!j->ret)
		prepare_names(j);
	step(j->order, &j->order->staging);
	wait_turn(j);
	if (!j->ret)
		install_names(j);
	end_turn(j);
	cdt_nameref_writer_free(j->records);
	j->records = NULL;
}

static void *commit_thread(void *arg)
{
	commit_names(arg);
	cdt_hash_thread_cleanup();
	return NULL;
}

/* The ingest's pending names, made a job (the ingest starts an empty batch). */
static struct commit_job *take_pending(struct cdt_ingest *ing)
{
	struct commit_job *j = xcalloc(1, sizeof(*j));
	struct cdt_idset empty = CDT_IDSET_INIT;

	j->store = ing->store;
	j->no_replace = ing->opt.no_replace;
	j->replace_type = ing->opt.replace_type;
	j->replace_data = ing->opt.replace_data;
	j->pend = ing->pend;
	j->npend = ing->npend;
	j->refw = ing->refw;
	j->ids = ing->pend_ids;
	j->committed_at = ing->committed_at;
	j->info = &ing->info;
	ing->pend = NULL;
	ing->npend = ing->apend = ing->pend_manifests = 0;
	ing->refw = NULL;
	ing->pend_ids = empty;
	return j;
}

/* Wait for the job, tell the caller about each name, and forget them. */
static int finish_job(struct cdt_ingest *ing, struct commit_job *j, int *last_err)
{
	size_t i;
	int ret;

	if (j->threaded)
		pthread_join(j->thread, NULL);
	/*
	 * Failed: the pending names, queued while its manifests were
	 * pending, fail if they use one; and with no job after it yet, the
	 * next job does not fail for it (its names are those just checked).
	 */
	if (j->fatal)
		fail_after_batch(ing->pend, ing->npend, j->ret < 0 ? j->ret : -EIO, &j->ids);
	if (j->order && j->fatal) {
		pthread_mutex_lock(&j->order->mu);
		if (j->order->given == j->turn + 1)
			j->order->broken = 0;
		pthread_mutex_unlock(&j->order->mu);
	}
	ret = j->ret;
	for (i = 0; i < j->npend; i++) {
		struct pending *p = &j->pend[i];

		if (p->err && !ret)
			ret = p->err;
		if (ing->opt.done)
			ing->opt.done(p->meta, &p->res, p->err, p->cookie, ing->opt.done_data);
	}
	if (last_err && j->npend)
		*last_err = j->pend[j->npend - 1].err;
	pend_release_all(j->store, j->pend, j->npend);
	free(j->pend);
	cdt_idset_clear(&j->ids);
	cdt_ref_writer_free(j->refw);
	cdt_csum_file_free(j->mpack);	/* (staged, the commit failed before it) */
	free(j);
	return ret;
}

/*
 * The oldest batch on its way, finished. When it failed in a way the
 * pending names may depend on, they fail too (those of a batch on its
 * way after it fail in their turn). 0 or its first error.
 */
static int finish_oldest(struct cdt_ingest *ing)
{
	struct commit_job *j = ing->inflight[0];

	ing->ninflight--;
	memmove(ing->inflight, ing->inflight + 1, ing->ninflight * sizeof(*ing->inflight));
	return finish_job(ing, j, NULL);
}

/* Every batch on its way finished, oldest first. 0 or the first error. */
static int finish_inflight(struct cdt_ingest *ing)
{
	int ret = 0, r;

	while (ing->ninflight) {
		r = finish_oldest(ing);
		if (!ret)
			ret = r;
	}
	return ret;
}

void ingest_fail_pending(struct cdt_ingest *ing, int err)
{
	struct commit_job *j;

	if (!ing->npend)
		return;
	/* Their lines come after those of the batches before. */
	finish_inflight(ing);
	if (!ing->npend)
		return;
	error("%zu name%s not stored: the chunks %s could not be stored", ing->npend,
	      ing->npend == 1 ? "" : "s", ing->npend == 1 ? "it uses" : "they use");
	j = take_pending(ing);
	fail_all(j, err);
	finish_job(ing, j, NULL);
}

int ingest_content_pending(const struct cdt_ingest *ing, const struct cdt_id *id, uint64_t *size)
{
	const uint64_t *v = cdt_idset_get(&ing->pend_ids, id);
	size_t i;

	for (i = 0; !v && i < ing->ninflight; i++)
		v = cdt_idset_get(&ing->inflight[i]->ids, id);
	if (v && size)
		*size = *v;
	return v != NULL;
}

void ingest_commit_wait(struct cdt_ingest *ing)
{
	finish_inflight(ing);
	if (ing->order) {
		pthread_mutex_destroy(&ing->order->mu);
		pthread_cond_destroy(&ing->order->cv);
		free(ing->order);
		ing->order = NULL;
	}
}

/*
 * The tables of info/names/ made to follow the names of earlier batches
 * that still wait for them, when there is no batch left to do it.
 */
static void flush_info(struct cdt_ingest *ing)
{
	struct cdt_info *info;
	int ret, was;

	if (!ing->info.n)
		return;
	/* The names are committed: what goes wrong from here is a warning. */
	was = cdt_errors_as_warnings(1);
	if (cdt_info_open(ing->store, &info) < 0) {
		ing->info.lost = 1;
	} else {
		ingest_info_flush(&ing->info, ing->store, info);
		cdt_info_close(info);
		/* Durable before the mark goes, as a commit's last syncfs makes them. */
		ret = cdt_store_sync(ing->store);
		if (ret < 0) {
			warning("cannot sync store '%s': %s", cdt_store_path(ing->store),
				cdt_strerror(ret));
			ing->info.lost = 1;
		}
	}
	cdt_errors_as_warnings(was);
	ingest_info_end(&ing->info);
}

/*
 * Commit the pending names: chunk data now, the rest on a thread of its
 * own when `async` (finished by a later commit), else now. Two batches at
 * most are on their way: the names of one are looked at and staged while
 * the one before commits (prepare_names()), and each commits in turn.
 * Tells the caller about each name once it is finished, in order. `last`:
 * the tables of info/names/ follow every name committed so far. 0, or the
 * first error of the names finished.
 */
static int commit_batch(struct cdt_ingest *ing, int *last_err, int async, int last)
{
	struct commit_job *j;
	int prev = 0, ret;

	while (ing->ninflight && (ing->ninflight >= COMMIT_INFLIGHT || !async || !ing->npend)) {
		ret = finish_oldest(ing);
		if (!prev)
			prev = ret;
	}
	if (!ing->npend) {
		if (last)
			flush_info(ing);
		return prev;
	}
	ing->committed_at = (int64_t)time(NULL);
	ret = commit_data(ing);
	j = take_pending(ing);
	j->last = last;
	if (!ing->order) {
		ing->order = xcalloc(1, sizeof(*ing->order));
		pthread_mutex_init(&ing->order->mu, NULL);
		pthread_cond_init(&ing->order->cv, NULL);
	}
	j->order = ing->order;
	j->turn = ing->order->given++;
	if (ret < 0)
		fail_all(j, ret);
	if (async && !j->ret && !pthread_create(&j->thread, NULL, commit_thread, j)) {
		j->threaded = 1;
		ing->inflight[ing->ninflight++] = j;
		return prev;
	}
	/* Now, on this thread: the lines of the batches before come first. */
	ret = finish_inflight(ing);
	if (!prev)
		prev = ret;
	commit_names(j);
	ret = finish_job(ing, j, last_err);
	/*
	 * Tables still waiting (the batch changed no name, or failed before
	 * its tables): those of the batches before.
	 */
	if (last)
		flush_info(ing);
	return prev ? prev : ret;
}

int cdt_ingest_commit(struct cdt_ingest *ing)
{
	int ret = commit_batch(ing, NULL, 0, 1);

	/*
	 * info/packs agrees with packs/ as the ingest ends, also when no name
	 * changed (then no table was written, nor info/packs with them), and
	 * whatever became of packs before it (a writer killed between its
	 * pack and info/packs): compared first, written only when it differs.
	 * A remote store's cache is published by push instead.
	 */
	if (!cdt_store_remote_url(ing->store))
		cdt_serverinfo_packs_settle(ing->store);
	return ret;
}

int ingest_commit_if_due(struct cdt_ingest *ing)
{
	if (!ing->opt.group)
		return commit_batch(ing, NULL, 0, 1);
	if (ing->npend >= ing->opt.group || ing->npend >= GROUP_NAMES_MAX ||
	    ing->pend_manifests >= GROUP_MANIFESTS || now_seconds() - ing->pend_since >= GROUP_SECONDS)
		return commit_batch(ing, NULL, ing->ncomp > 1, 0);	/* -j 1: one thread */
	return 0;
}

int ingest_commit_last(struct cdt_ingest *ing)
{
	int last = 0, ret = commit_batch(ing, &last, 0, 1);

	return last ? last : ret;
}
