/* gc.c: delete what no live name needs, each deletion confirmed from the primary records. */
#include "ops/gc-internal.h"
#include "ops/chunks.h"
#include "format/fanout.h"
#include "base/fsutil.h"
#include "base/idset.h"
#include "ops/mark.h"
#include "ops/mpack-drop.h"
#include "format/mpack.h"
#include "format/namerefs.h"
#include "format/names.h"
#include "ops/packset.h"
#include "format/refs.h"
#include "ops/repack.h"
#include "ops/serverinfo.h"
#include "ops/sketchset.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


void gc_say(struct sweep *sw, const char *what, const char *item, uint64_t bytes)
{
	if (!(sw->flags & CDT_GC_VERBOSE) || !sw->report)
		return;
	strbuf_reset(&sw->line);
	strbuf_addf(&sw->line, "%s %s %s (%llu bytes)",
		    sw->flags & CDT_GC_DRY_RUN ? "would remove" : "removing", what, item,
		    (unsigned long long)bytes);
	sw->report(sw->line.buf, sw->data);
}

/* A sketch file fixed: derived data, said whatever -v says when it was damaged. */
static void sketch_fixed(const char *pack, enum cdt_sketch_fix what, void *data)
{
	struct sweep *sw = data;

	if (what == CDT_SKETCH_REMOVED)
		gc_say(sw, "the sketch of removed pack", pack, 0);
	else
		warning("pack %s: its sketch was missing or damaged; %s", pack,
			sw->flags & CDT_GC_DRY_RUN ? "gc would write it again" :
			"written again from its chunks");
}

static void say_repack(const char *what, const char *item, uint64_t bytes, void *data)
{
	gc_say(data, what, item, bytes);
}

static void repack_progress(uint64_t done, uint64_t total, void *data)
{
	struct sweep *sw = data;

	sw->progress("rewriting packs", done, total, sw->data);
}

static int sweep_one(struct sweep *sw, const struct cdt_id *id, uint64_t size, const char *what)
{
	char hex[CDT_ID_HEXLEN + 1];
	int ret;

	gc_say(sw, what, cdt_id_to_hex(id, hex), size);
	if (sw->flags & CDT_GC_DRY_RUN)
		return 1;
	ret = cdt_fanout_remove(sw->dirfd, id);
	if (ret < 0 && ret != -ENOENT) {
		error("cannot remove %s %s: %s", what, hex, cdt_strerror(ret));
		sw->err = ret;
		return 0;
	}
	return 1;
}

static int sweep_manifest(const struct cdt_id *id, uint64_t size, void *data)
{
	struct sweep *sw = data;

	if (cdt_idset_has(&sw->live->manifests, id))
		return 0;
	if (sweep_one(sw, id, size, "manifest")) {
		sw->res->manifests++;
		sw->res->manifest_bytes += size;
	} else {
		/* Still there: its references stay with it (an add may name it again). */
		cdt_idset_add(&sw->stuck, id);
	}
	return 0;
}

/*
 * Loose chunks: live ones are remembered, to be packed. A dead one goes
 * only when its bytes hash to its name (so it is not, misplaced, a live
 * chunk), or, unreadable, when no live chunk is missing.
 */
static int sweep_chunk(const struct cdt_id *id, uint64_t size, void *data)
{
	struct sweep *sw = data;
	char hex[CDT_ID_HEXLEN + 1];
	uint32_t len;

	if (cdt_idset_has(&sw->live->loose_live, id)) {
		ALLOC_GROW(sw->loose, sw->nloose + 1, sw->loose_alloc);
		sw->loose[sw->nloose++] = *id;
		return 0;
	}
	/* A live chunk the mark found nowhere: this may be it (kept, as the warning said). */
	if (cdt_idset_has(&sw->live->missing, id))
		return 0;
	if (sw->live->missing.nr &&
	    cdt_chunk_read_loose(sw->reader, id, 0, sw->raw, &len, NULL) < 0) {
		warning("loose chunk %s cannot be read while live chunks are missing; leaving it "
			"(run 'cdt fsck')", cdt_id_to_hex(id, hex));
		return 0;
	}
	if (sweep_one(sw, id, size, "chunk")) {
		sw->res->chunks++;
		sw->res->chunk_bytes += size;
	}
	return 0;
}

/* Manifests in packs: a pack holding unused ones is written again without them. */
static int packed_dead(const struct cdt_id *id, void *data)
{
	struct sweep *sw = data;

	return !cdt_idset_has(&sw->live->manifests, id);
}

static void packed_dropped(const struct cdt_id *id, uint64_t len, int ok, void *data)
{
	struct sweep *sw = data;
	char hex[CDT_ID_HEXLEN + 1];

	if (!ok) {
		cdt_idset_add(&sw->stuck, id);	/* (as sweep_manifest()) */
		return;
	}
	gc_say(sw, "packed manifest", cdt_id_to_hex(id, hex), len);
	sw->res->manifests++;
	sw->res->manifest_bytes += len;
}

static void packed_unreadable(const char *name, const char *why, void *data)
{
	(void)data;
	warning("leaving manifest pack 'manifests/%s/%s' alone: %s (see 'cdt fsck')",
		CDT_MPACK_DIR, quote(name), why);
}

/* A damaged pack holding no manifest that a name uses (the mark found each elsewhere). */
static void packed_damaged_gone(const char *name, const char *why, uint64_t bytes, void *data)
{
	struct sweep *sw = data;

	strbuf_reset(&sw->item);
	strbuf_addf(&sw->item, "manifests/%s/%s (%s)", CDT_MPACK_DIR, name, why);
	gc_say(sw, "damaged manifest pack", sw->item.buf, bytes);
}

static const struct cdt_mpack_drop_ops gc_mpack_ops = {
	packed_dead, packed_dropped, packed_unreadable, packed_damaged_gone, NULL
};

static int report_stray(const char *path, const char *why, void *data)
{
	(void)data;
	warning("leaving '%s' alone: %s (see 'cdt fsck')", quote(path), why);
	return 0;
}

static int keep_pair(const struct cdt_ref_pair *p, void *data)
{
	struct sweep *sw = data;

	if (cdt_idset_has(&sw->live->manifests, &p->manifest) ||
	    cdt_idset_has(&sw->stuck, &p->manifest))
		return 1;
	sw->res->ref_pairs_dropped++;
	return 0;
}

/* Everything in tmp/: with the exclusive lock held, all of it is left over. */
static int sweep_tmp_entry(const char *name, int is_dir, uint64_t bytes, void *data)
{
	struct sweep *sw = data;
	int ret;

	gc_say(sw, is_dir ? "temporary directory" : "temporary file", quote(name), bytes);
	if (!(sw->flags & CDT_GC_DRY_RUN)) {
		ret = cdt_tmp_remove(sw->store, name);
		if (ret < 0) {
			error("cannot remove 'tmp/%s': %s", quote(name), cdt_strerror(ret));
			sw->err = ret;
			return 0;
		}
	}
	sw->res->tmp_files++;
	sw->res->tmp_bytes += bytes;
	return 0;
}

/*
 * Name records of names that are gone or hold other content now (and
 * old-layout records that cannot be read) are dropped; the tables holding
 * them are written again.
 */
static int keep_record(const struct cdt_nameref_visit *v, void *data)
{
	struct sweep *sw = data;
	struct cdt_id key;

	if (v->name) {
		cdt_live_record_key(&v->manifest, &v->name_hash, &key);
		if (cdt_idset_has(&sw->live->records, &key))
			return 1;
	}
	strbuf_reset(&sw->item);
	strbuf_addf(&sw->item, "refs/%s", v->path);
	if (v->name)
		strbuf_addf(&sw->item, " (%s)", quote(v->name));
	gc_say(sw, "name record", sw->item.buf, 0);
	return 0;
}

/* Remove directories under names/ left empty (post-order, so parents follow). */
static uint64_t prune_names(int dirfd, int depth)
{
	struct cdt_dent *ents;
	uint64_t n = 0;
	size_t nents, i;

	if (depth > CDT_NAME_MAX / 2 || cdt_list_dir(dirfd, ".", &ents, &nents) < 0)
		return 0;
	for (i = 0; i < nents; i++) {
		int sub;

		if (ents[i].type != DT_DIR)
			continue;
		sub = openat(dirfd, ents[i].name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		n += prune_names(sub, depth + 1);
		close(sub);
		if (unlinkat(dirfd, ents[i].name, AT_REMOVEDIR) == 0)
			n++;
	}
	cdt_dents_free(ents, nents);
	return n;
}

int cdt_gc(struct cdt_store *s, unsigned flags, int level,
	   void (*report)(const char *line, void *data),
	   void (*progress)(const char *stage, uint64_t done, uint64_t total, void *data),
	   void *data, struct cdt_gc_result *res)
{
	struct cdt_live l;
	struct sweep sw = { 0 };
	struct cdt_repack_plan plan = { 0 };
	struct cdt_repack_result rr;
	int ret, dry = flags & CDT_GC_DRY_RUN;

	memset(res, 0, sizeof(*res));
	memset(&l, 0, sizeof(l));
	if (flags & CDT_GC_RECOMPRESS) {
		ret = cdt_recompress(s, level, dry, flags & CDT_GC_VERBOSE ? report : NULL, data,
				     &res->recompress);
		if (ret < 0) {
			if (!dry)
				cdt_serverinfo_packs_settle(s);	/* (as below) */
			return ret;
		}
	}
	sw.store = s;
	sw.live = &l;
	sw.flags = flags;
	sw.report = report;
	sw.progress = progress;
	sw.data = data;
	sw.res = res;
	strbuf_init(&sw.line, 0);
	strbuf_init(&sw.item, 0);

	/*
	 * Indexes are derived data that lookups trust: checked first, and a
	 * missing or damaged one written again from its pack, so that what
	 * is marked live is found where it is.
	 */
	{
		struct cdt_chunk_reader *br = cdt_chunk_reader_new(s);
		struct cdt_base_source bases = cdt_chunk_base_source(br);

		sw.bases = &bases;
		ret = cdt_packs_check(s, !dry, &bases, gc_pack_checked, &sw);
		gc_dry_index_later(&sw);
		sw.bases = NULL;
		cdt_chunk_reader_free(br);
	}
	if (ret < 0) {
		error("cannot check the pack indexes: %s", cdt_strerror(ret));
		goto stopped;
	}
	if (sw.index_unreadable) {
		ret = -EIO;	/* (said above, pack by pack) */
		goto stopped;
	}
	ret = cdt_live_mark(s, &l);
	if (ret < 0)
		goto stopped;
	if (l.unreadable) {
		/* (A manifest that cannot be read stops the mark itself.) */
		ret = error_code(-EIO, "not collecting garbage: %llu name%s could not be read: "
				 "what is live is unknown (run 'cdt fsck')",
				 (unsigned long long)l.unreadable, l.unreadable == 1 ? "" : "s");
		goto stopped;
	}
	if (l.damaged) {
		ret = error_code(-CDT_ECORRUPT, "not collecting garbage: %llu damaged name%s or manifest%s "
				  "make it unknown what is live (run 'cdt fsck')",
				  (unsigned long long)l.damaged, l.damaged == 1 ? "" : "s",
				  l.damaged == 1 ? "" : "s");
		goto stopped;
	}
	sw.reader = cdt_chunk_reader_new(s);
	sw.raw = xmalloc(cdt_store_chunker(s)->max_size);
	if (dry)
		gc_dry_would_find(&sw);

	/*
	 * A pack that cannot be indexed (damaged, its index gone) may hold
	 * the only good copy of live chunks, found nowhere else by the mark
	 * above or found damaged: they are written to a new pack, and the
	 * damaged one goes only once every live chunk reads back good (fsck
	 * then calls it garbage); else it stays for repair, and gc says so.
	 */
	gc_remove_unusable(&sw, dry);
	if (l.missing.nr) {
		uint64_t left = l.missing.nr;
		size_t i;

		/* (Those a damaged pack gave up are live still: l.missing keeps them so.) */
		for (i = 0; i < l.missing.cap; i++)
			if (l.missing.used[i] && cdt_idset_has(&sw.salvaged, &l.missing.ids[i]))
				left--;
		if (left)
			warning("%llu chunk%s that names need %s found nowhere; keeping everything that "
				"could be %s (run 'cdt fsck')", (unsigned long long)left,
				left == 1 ? "" : "s", left == 1 ? "is" : "are",
				left == 1 ? "it" : "one of them");
	}

	/* Manifests first: nothing live needs them, and then their references are dead. */
	sw.dirfd = cdt_store_dirfd(s, CDT_DIR_MANIFESTS);
	ret = cdt_fanout_walk(sw.dirfd, sweep_manifest, report_stray, &sw);
	if (ret < 0)
		goto fail_walk;
	ret = cdt_mpacks_drop(s, &gc_mpack_ops, &sw,
			      CDT_MPACK_DROP_DAMAGED | CDT_MPACK_DROP_UNUSABLE |
			      (dry ? CDT_MPACK_DROP_DRY : 0));
	if (ret < 0 && !sw.err)
		sw.err = ret;	/* (said) */
	sw.dirfd = cdt_store_dirfd(s, CDT_DIR_OBJECTS);
	ret = cdt_fanout_walk(sw.dirfd, sweep_chunk, report_stray, &sw);
	if (ret < 0)
		goto fail_walk;
	cdt_repack_plan(s, &l, sw.nloose, &plan);
	ret = cdt_repack(s, &l, &plan, sw.loose, sw.nloose, dry, say_repack,
			 progress ? repack_progress : NULL, &sw, &rr);
	res->chunks += rr.chunks;
	res->chunk_bytes += rr.chunk_bytes;
	res->packs_written += rr.packs_written;
	res->packs_removed += rr.packs_removed;
	res->loose_packed += rr.loose_packed;
	if (ret < 0 && !sw.err)
		sw.err = ret;
	if (!dry && !sw.err) {
		ret = cdt_packs_write_midx(s);
		if (ret < 0)
			sw.err = error_code(ret, "cannot write the multi-pack index: %s", cdt_strerror(ret));
	}
	/* Sketches are derived: one whose pack is gone goes, a missing or damaged one is made again. */
	if (!sw.err) {
		ret = cdt_sketches_fix(s, dry, sketch_fixed, &sw);
		if (ret < 0)
			sw.err = ret;
	}
	if (!dry) {
		ret = cdt_refs_compact(s, 0, keep_pair, &sw);
		if (ret < 0) {
			error("cannot rewrite reference tables: %s", cdt_strerror(ret));
			sw.err = ret;
		}
	}
	ret = cdt_nameref_filter(s, NULL, keep_record, &sw,
				 CDT_NAMEREF_DROP_BAD | CDT_NAMEREF_CONVERT | (dry ? CDT_NAMEREF_DRY_RUN : 0),
				 &res->name_records, NULL);
	if (ret < 0) {
		error("cannot rewrite name records: %s", cdt_strerror(ret));
		if (!sw.err)
			sw.err = ret;
	}
	ret = cdt_tmp_walk(s, sweep_tmp_entry, &sw);
	if (ret < 0 && !sw.err)
		sw.err = error_code(ret, "cannot list '%s/tmp': %s", cdt_store_path(s), cdt_strerror(ret));
	res->dirs += (uint64_t)cdt_fanout_prune(cdt_store_dirfd(s, CDT_DIR_OBJECTS), dry);
	res->dirs += (uint64_t)cdt_fanout_prune(cdt_store_dirfd(s, CDT_DIR_MANIFESTS), dry);
	if (!dry)
		res->dirs += prune_names(cdt_store_dirfd(s, CDT_DIR_NAMES), 0);
	/* info/ written whole: the packs now, every table from names/. */
	if (!dry && cdt_serverinfo_rebuild(s) < 0 && !sw.err)
		sw.err = -EIO;
	if (!dry) {
		ret = cdt_store_sync(s);
		if (ret < 0 && !sw.err)
			sw.err = error_code(ret, "cannot sync store: %s", cdt_strerror(ret));
	}
	ret = sw.err;
	goto out;
fail_walk:
	error("cannot walk the store: %s", cdt_strerror(ret));
stopped:
	/*
	 * Stopped before info/ is written whole: info/packs agrees with
	 * packs/ as gc leaves them all the same, whatever left it stale
	 * before (compared first, written only when it differs).
	 */
	if (!dry)
		cdt_serverinfo_packs_settle(s);
out:
	while (sw.nunusable)
		free(sw.unusable[--sw.nunusable]);
	free(sw.unusable);
	while (sw.nwould)
		free(sw.would_index[--sw.nwould]);
	free(sw.would_index);
	cdt_repack_plan_release(&plan);
	cdt_chunk_reader_free(sw.reader);
	free(sw.raw);
	strbuf_release(&sw.line);
	strbuf_release(&sw.item);
	free(sw.loose);
	cdt_idset_clear(&sw.stuck);
	cdt_idset_clear(&sw.salvaged);
	cdt_live_release(&l);
	return ret;
}
