/* ingest-commit.c: the group commit of add: chunk data, references, manifests, name records and names of many files made durable together. */
#include "ops/ingest.h"
#include "ops/ingest-internal.h"
#include "ops/batch.h"
#include "ops/chunks.h"
#include "ops/packset.h"
#include "ops/serverinfo.h"
#include "ops/sketchset.h"
#include "format/manifest.h"
#include "format/namerefs.h"
#include "format/names.h"
#include "format/refs.h"
#include "base/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
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

/*
 * Is the content `id` (of `size` bytes) in the store: its manifest, and
 * every chunk it lists (a loose copy checked as add checks one)? A
 * manifest alone proves nothing: one that no name uses may outlive its
 * chunks (a gc stopped half way). 1, 0 or -errno.
 */
static int content_stored(struct cdt_ingest *ing, const struct cdt_id *id, uint64_t size)
{
	int self = cdt_workers_count(ing->workers), ret;
	struct cdt_manifest *m;
	struct cdt_manifest_entry e;
	uint64_t i, n;

	ret = cdt_manifest_open(ing->store, id, &m, NULL);
	if (ret == -ENOENT || ret == -CDT_ECORRUPT)
		return 0;
	if (ret < 0)
		return ret;
	n = cdt_manifest_count(m);
	ret = cdt_manifest_size(m) == size;
	for (i = 0; i < n && ret == 1; i++) {
		ret = cdt_manifest_get(m, i, &e);
		if (!ret)
			ret = cdt_chunk_has_good(ing->readers[self], &e.id, e.len, ing->rbufs[self]);
	}
	cdt_manifest_close(m);
	return ret;
}

int cdt_ingest_queue_entry(struct cdt_ingest *ing, struct cdt_name_entry *meta, void *cookie)
{
	struct cdt_ingest_result res;

	memset(&res, 0, sizeof(res));
	if (cdt_name_has_content(meta)) {
		int ret = cdt_idset_has(&ing->pend_ids, &meta->content) ? 1 :
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

void ingest_pend_free(struct cdt_ingest *ing)
{
	int tmpfd = ing->npend ? cdt_store_dirfd(ing->store, CDT_DIR_TMP) : -1;
	size_t i;

	for (i = 0; i < ing->npend; i++) {
		struct pending *p = &ing->pend[i];

		if (p->name_tmp.len)
			unlinkat(tmpfd, p->name_tmp.buf, 0);
		pend_release(p);
	}
	ing->npend = 0;
	ing->pend_manifests = 0;
	cdt_idset_reset(&ing->pend_ids);
}

static void name_error(const struct cdt_name_entry *e, int ret)
{
	if (ret == -EEXIST)
		error("name '%s' already exists (not replaced)", quote(e->name));
	else if (ret == -EISDIR)
		error("cannot store '%s': stored names exist under '%s/'", quote(e->name),
		      quote(e->name));
	else if (ret == -ENOTDIR)
		error("cannot store '%s': a parent of it is a stored name", quote(e->name));
	else
		error("cannot write name '%s': %s", quote(e->name), cdt_strerror(ret));
}

/* Every pending name not failed yet fails with ret. */
static void fail_all(struct cdt_ingest *ing, int ret)
{
	size_t i;

	for (i = 0; i < ing->npend; i++)
		if (!ing->pend[i].err)
			ing->pend[i].err = ret;
}

static int sync_store(struct cdt_ingest *ing)
{
	int ret = cdt_store_sync(ing->store);

	if (ret < 0) {
		error("cannot sync store '%s': %s", cdt_store_path(ing->store), cdt_strerror(ret));
		fail_all(ing, ret);
	}
	return ret;
}

/* The name records of a batch could not be written: none of its names is. */
static void records_error(struct cdt_ingest *ing, size_t records, int err)
{
	size_t i;

	error("cannot write the name records of %zu name%s: %s", records, records == 1 ? "" : "s",
	      cdt_strerror(err));
	for (i = 0; i < ing->npend; i++)
		if (!ing->pend[i].err)
			ing->pend[i].err = err;
}

/*
 * The tables of info/names/ of the prefixes the batch's names are under,
 * and info/prefixes (info/packs too when info/ was incomplete). A failure
 * is a warning: the names are stored, and fsck --rebuild-refs writes
 * info/ again.
 */
static void update_info(struct cdt_ingest *ing, struct cdt_info *info)
{
	struct cdt_info_change *ch = xcalloc(ing->npend ? ing->npend : 1, sizeof(*ch));
	struct strbuf *bytes = xcalloc(ing->npend ? ing->npend : 1, sizeof(*bytes));
	size_t i, n = 0;
	int ret;

	for (i = 0; i < ing->npend; i++) {
		struct pending *p = &ing->pend[i];

		if (p->err)
			continue;
		strbuf_init(&bytes[n], 0);
		cdt_name_encode(p->meta, &bytes[n]);	/* the bytes cdt_name_stage() wrote */
		ch[n].name = p->meta->name;
		ch[n].raw = (const unsigned char *)bytes[n].buf;
		ch[n].len = bytes[n].len;
		n++;
	}
	ret = cdt_info_names_update(info, ch, n);
	if (!ret && cdt_info_is_new(info))
		ret = cdt_serverinfo_write_packs(info);
	if (ret)
		warning("info/ of '%s' is stale ('cdt fsck --rebuild-refs' writes it again)",
			cdt_store_path(ing->store));
	for (i = 0; i < n; i++)
		strbuf_release(&bytes[i]);
	free(bytes);
	free(ch);
}

/*
 * The steps, each durable before the next points at it
 * (Documentation/technical/durability.md):
 *  1. chunk data: the batch's pack (or loose objects), synced, then renamed;
 *  2. reference tables of the new manifests (renamed, synced with step 3's);
 *  3. name entries and the batch's table of name records written to tmp/; syncfs;
 *  4. manifests and the table renamed into place; syncfs;
 *  5. name entries renamed into place, the tables of info/names/ of their
 *     prefixes and info/prefixes written (under info/lock); syncfs.
 */
static int commit(struct cdt_ingest *ing)
{
	struct cdt_store *s = ing->store;
	struct cdt_name_dirs *dirs;
	struct cdt_info *info;
	char hex[CDT_ID_HEXLEN + 1];
	size_t i;
	size_t records = 0;
	int ret = 0, any_new = 0;

	ing->committed_at = (int64_t)time(NULL);
	if (ing->batch) {
		ret = cdt_chunk_batch_commit(ing->batch);
		if (ret < 0) {
			fail_all(ing, ret);
			goto out;
		}
		if (ing->sketches) {
			cdt_sketchset_refresh(ing->sketches);
			ingest_sf_reset(&ing->add_sf);
		}
	}
	if (ing->refw) {
		ret = cdt_ref_writer_flush(ing->refw);
		if (ret < 0) {
			error("cannot write reference table: %s", cdt_strerror(ret));
			fail_all(ing, ret);
			goto out;
		}
	}
	for (i = 0; i < ing->npend; i++) {
		struct pending *p = &ing->pend[i];

		if (p->err)
			continue;
		p->meta->added_sec = ing->committed_at;
		p->err = cdt_name_stage(s, p->meta, &p->name_tmp);
		if (p->err) {
			strbuf_reset(&p->name_tmp);
			error("cannot write name '%s': %s", quote(p->meta->name), cdt_strerror(p->err));
		}
	}
	/*
	 * Name records, one table for the batch, staged in tmp/ like the
	 * entries (so the next syncfs makes it whole before it is in place).
	 */
	if (!ing->records)
		ing->records = cdt_nameref_writer_new(s);
	for (i = 0; i < ing->npend; i++) {
		struct pending *p = &ing->pend[i];

		if (!p->err && cdt_name_has_content(p->meta))
			cdt_nameref_writer_add(ing->records, &p->meta->content, p->meta->name);
	}
	records = cdt_nameref_writer_count(ing->records);
	ret = cdt_nameref_writer_stage(ing->records);
	if (ret < 0) {
		records_error(ing, records, ret);
		goto out;
	}
	ret = sync_store(ing);
	if (ret < 0)
		goto out;
	cdt_crash_point("manifest");
	for (i = 0; i < ing->npend; i++) {
		struct pending *p = &ing->pend[i];

		if (!p->mw || p->err)
			continue;
		ret = cdt_manifest_writer_commit_flags(p->mw, p->heal, 0);
		if (ret < 0) {
			error("cannot store manifest %s: %s", cdt_id_to_hex(&p->res.content, hex),
			      cdt_strerror(ret));
			p->err = ret;
		}
		any_new = 1;
	}
	/* The batch's table of name records, staged with the entries: moved into place now. */
	ret = cdt_nameref_writer_install(ing->records);
	if (ret < 0) {
		records_error(ing, records, ret);
		goto out;
	}
	ret = sync_store(ing);
	if (ret < 0)
		goto out;
	/*
	 * info/lock is held from the first name installed to the last table
	 * written, so that concurrent adds change names and tables in one order.
	 */
	if (cdt_info_open(s, &info) < 0)
		info = NULL;
	dirs = cdt_name_dirs_new();
	for (i = 0; i < ing->npend; i++) {
		struct pending *p = &ing->pend[i];

		if (!p->name_tmp.len || p->err)
			continue;
		p->err = cdt_name_install(s, dirs, p->meta, p->name_tmp.buf, !ing->opt.no_replace);
		strbuf_reset(&p->name_tmp);
		if (p->err)
			name_error(p->meta, p->err);
	}
	cdt_name_dirs_free(dirs);
	cdt_crash_point("info");
	if (info) {
		update_info(ing, info);
		cdt_info_close(info);
	}
	ret = sync_store(ing);
out:
	/* Keep lookups cheap: index many new packs together now and then. */
	if (cdt_packs_uncovered(s) > MIDX_AFTER_PACKS) {
		int w = cdt_packs_write_midx(s);

		if (w < 0)
			warning("cannot write the multi-pack index: %s", cdt_strerror(w));
	}
	/* And merge small reference tables and tables of name records. */
	if (any_new && !ret) {
		int merged = cdt_refs_compact(s, REFS_MAX_TABLES, NULL, NULL);

		if (merged < 0)
			warning("cannot merge reference tables: %s", cdt_strerror(merged));
	}
	if (records && !ret) {
		int merged = cdt_nameref_merge(s);

		if (merged < 0)
			warning("cannot merge tables of name records: %s", cdt_strerror(merged));
	}
	return ret;
}

/* Commit, tell the caller about each name, and forget them. */
static int commit_and_report(struct cdt_ingest *ing, int *last_err)
{
	size_t i;
	int ret;

	if (!ing->npend)
		return 0;
	ret = commit(ing);
	for (i = 0; i < ing->npend; i++) {
		struct pending *p = &ing->pend[i];

		if (p->err && !ret)
			ret = p->err;
		if (ing->opt.done)
			ing->opt.done(p->meta, &p->res, p->err, p->cookie, ing->opt.done_data);
	}
	if (last_err)
		*last_err = ing->pend[ing->npend - 1].err;
	ingest_pend_free(ing);
	return ret;
}

int cdt_ingest_commit(struct cdt_ingest *ing)
{
	return commit_and_report(ing, NULL);
}

int ingest_commit_if_due(struct cdt_ingest *ing)
{
	if (!ing->opt.group || ing->npend >= ing->opt.group ||
	    ing->npend >= GROUP_NAMES_MAX || ing->pend_manifests >= GROUP_MANIFESTS ||
	    now_seconds() - ing->pend_since >= GROUP_SECONDS)
		return cdt_ingest_commit(ing);
	return 0;
}

int ingest_commit_last(struct cdt_ingest *ing)
{
	int last = 0, ret = commit_and_report(ing, &last);

	return last ? last : ret;
}
