/* recompress.c: converting a store in place to the current format, through add's own pipeline. */
#include "ops/recompress.h"
#include "ops/batch.h"
#include "ops/chunks.h"
#include "ops/ingest.h"
#include "ops/mark.h"
#include "ops/packset.h"
#include "ops/serverinfo.h"
#include "base/compress.h"
#include "base/fsutil.h"
#include "base/idset.h"
#include "base/util.h"
#include "format/fanout.h"
#include "format/manifest.h"
#include "format/names.h"
#include "format/object.h"
#include "format/pack.h"
#include "format/sketch.h"
#include "base/testpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct recompress {
	struct cdt_store *s;
	int level, dry;
	void (*report)(const char *line, void *data);
	void *data;
	struct cdt_recompress_result *res;
	struct cdt_live live;
	struct cdt_idset known;		/* every pack seen, by checksum */
	struct cdt_idset newpacks;	/* those of the new form */
	struct cdt_idset newform;	/* chunks with a copy in one of them */
	struct cdt_pack **np, **old;	/* packs of the new form, and the others */
	size_t nnp, anp, nold, aold;
	struct cdt_idset done;		/* contents converted */
	struct cdt_ingest *ing;
	struct cdt_chunk_reader *reader;
	unsigned char *buf;
	struct strbuf line;
	int paused;
	int err;
	int reported;	/* the walk of names stopped on an error already reported */
};

static void say(struct recompress *rc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(struct recompress *rc, const char *fmt, ...)
{
	va_list ap;

	if (!rc->report)
		return;
	strbuf_reset(&rc->line);
	va_start(ap, fmt);
	strbuf_vaddf(&rc->line, fmt, ap);
	va_end(ap);
	rc->report(rc->line.buf, rc->data);
}

static void pack_id(const struct cdt_pack *p, struct cdt_id *id)
{
	if (cdt_id_from_hex(p->name + 5, id) < 0)
		memset(id, 0, sizeof(*id));
}

/*
 * Does pack p keep its chunks in the new form? Version 2, and every
 * object's codec the store's (or raw). Only a hint, from the objects'
 * headers: it decides what is stored again, never what is removed.
 */
static int new_form(struct recompress *rc, struct cdt_pack *p)
{
	int packsfd = cdt_store_dirfd(rc->s, CDT_DIR_PACKS);
	enum cdt_codec want = cdt_store_config(rc->s)->codec;
	uint64_t *order, k, prev = UINT64_MAX;
	int ok = 1;

	if (rc->level || p->version < CDT_PACK_VERSION_FRAMES)
		return 0;
	order = cdt_pack_entry_order(p);
	for (k = 0; k < p->count && ok; k++) {
		uint64_t off;
		int codec;

		cdt_pack_entry(p, order[k], NULL, &off, NULL, NULL);
		if (off == prev)
			continue;	/* the next chunk of the same frame */
		prev = off;
		codec = cdt_pack_object_codec(p, packsfd, order[k]);
		ok = codec == CDT_CODEC_RAW || codec == (int)want;
	}
	free(order);
	cdt_pack_close_file(p);
	return ok;
}

/* Pack p keeps its chunks in the new form: a base for deltas, and what it holds is stored. */
static void add_new(struct recompress *rc, struct cdt_pack *p, const struct cdt_id *pid)
{
	uint64_t k;

	cdt_idset_add(&rc->newpacks, pid);
	ALLOC_GROW(rc->np, rc->nnp + 1, rc->anp);
	rc->np[rc->nnp++] = p;
	for (k = 0; k < p->count; k++) {
		struct cdt_id id;

		cdt_pack_entry(p, k, &id, NULL, NULL, NULL);
		cdt_idset_add(&rc->newform, &id);
	}
}

/* Take in packs not seen before: those written by this run are of the new form by construction. */
static void scan_packs(struct recompress *rc, int ours)
{
	struct cdt_pack **packs;
	size_t n = cdt_packs_list(rc->s, &packs), i;

	for (i = 0; i < n; i++) {
		struct cdt_pack *p = packs[i];
		struct cdt_id pid;

		pack_id(p, &pid);
		if (!cdt_idset_add(&rc->known, &pid))
			continue;
		if (ours || new_form(rc, p)) {
			add_new(rc, p, &pid);
		} else {
			ALLOC_GROW(rc->old, rc->nold + 1, rc->aold);
			rc->old[rc->nold++] = p;
		}
	}
	free(packs);
}

static int is_stored(const struct cdt_id *id, void *data)
{
	struct recompress *rc = data;

	return cdt_idset_has(&rc->newform, id);
}

static int base_ok(const struct cdt_pack *p, void *data)
{
	struct recompress *rc = data;
	struct cdt_id pid;

	pack_id(p, &pid);
	return cdt_idset_has(&rc->newpacks, &pid);
}

/*
 * Pack `name` was just written by this run. A pack is named by its
 * checksum, so when it holds exactly the bytes of an old pack (the same
 * chunks, stored again at the level they had), it has that pack's name
 * and replaced it in place: then it is no old pack any more but one of
 * the new form, whose chunks must not be stored again nor the pack
 * removed at the end.
 */
static void committed(const char *name, void *data)
{
	struct recompress *rc = data;
	size_t i;

	scan_packs(rc, 1);
	for (i = 0; name && *name && i < rc->nold; i++) {
		struct cdt_pack *p = rc->old[i];
		struct cdt_id pid;

		if (strcmp(p->name, name))
			continue;
		memmove(rc->old + i, rc->old + i + 1, (rc->nold - i - 1) * sizeof(*rc->old));
		rc->nold--;
		pack_id(p, &pid);
		add_new(rc, p, &pid);
		break;
	}
	if (!rc->paused) {
		rc->paused = 1;
		/* Testing hook: new packs are committed, no old one is removed yet. */
		cdt_pause_point("recompress");
	}
}

/* Are all the chunks content lists stored in the new form already? (Then it is not read.) */
static int all_new(struct recompress *rc, const struct cdt_id *content)
{
	struct cdt_manifest *m;
	struct cdt_manifest_entry e;
	uint64_t i, n;
	int ok = 1;

	if (cdt_manifest_open(rc->s, content, &m, NULL) < 0)
		return 0;
	n = cdt_manifest_count(m);
	for (i = 0; i < n && ok; i++)
		ok = cdt_manifest_get(m, i, &e) == 0 && cdt_idset_has(&rc->newform, &e.id);
	cdt_manifest_close(m);
	return ok;
}

/* Each live content once, in the order of its first name. */
static int convert_name(const char *name, const struct cdt_name_entry *e, int err,
			const char *why, void *data)
{
	struct recompress *rc = data;
	struct cdt_ingest_result r;
	int ret;

	(void)err;
	(void)why;
	if (!e || !cdt_name_has_content(e) || !cdt_idset_add(&rc->done, &e->content))
		return 0;
	if (all_new(rc, &e->content))
		return 0;
	ret = cdt_ingest_again(rc->ing, &e->content, name, &r);
	if (ret < 0) {
		rc->reported = 1;
		return ret;
	}
	rc->res->contents++;
	rc->res->chunks += r.new_chunks;
	rc->res->raw += r.new_raw;
	rc->res->stored += r.new_stored;
	rc->res->deltas += r.delta_chunks;
	if (r.new_chunks)
		say(rc, "converted '%s' (%llu chunks stored again)", quote(name),
		    (unsigned long long)r.new_chunks);
	return 0;
}

/* What store_whole() needs, made when the first chunk needs it: a batch that packs, a compressor. */
static void whole_start(struct recompress *rc, struct cdt_chunk_batch **b,
			struct cdt_compressor **c, unsigned char **obj)
{
	const struct cdt_config *cfg = cdt_store_config(rc->s);

	*b = cdt_chunk_batch_new(rc->s);
	cdt_chunk_batch_pack_always(*b);
	*c = cdt_compressor_new(cfg->codec, rc->level ? rc->level : cfg->level);
	*obj = xmalloc(CDT_OBJ_MAX(cdt_store_chunker(rc->s)->max_size));
}

/* Store one live chunk that no content lists (a base of deltas) again, whole. */
static int store_whole(struct recompress *rc, struct cdt_chunk_batch *b,
		       struct cdt_compressor *c, unsigned char *obj, const struct cdt_id *id,
		       uint32_t len)
{
	struct cdt_sketch_sf sf;
	size_t n = cdt_object_encode(c, rc->buf, len, obj);
	int ret = cdt_chunk_batch_stage_packed(b, id, obj, n);

	if (ret < 0)
		return ret;
	cdt_sketch_compute(rc->buf, len, &sf);
	cdt_chunk_batch_sketch(b, id, &sf);
	rc->res->chunks++;
	rc->res->raw += len;
	rc->res->stored += n;
	return 0;
}

/* Live chunks of the old packs and loose objects with no copy of the new form yet. */
static int convert_rest(struct recompress *rc)
{
	uint32_t len;
	struct cdt_chunk_batch *b = NULL;
	struct cdt_compressor *c = NULL;
	unsigned char *obj = NULL;
	char hex[CDT_ID_HEXLEN + 1];
	struct strbuf why = STRBUF_INIT;
	size_t i;
	uint64_t k;
	int ret = 0;

	for (i = 0; i < rc->nold && !ret; i++) {
		struct cdt_pack *p = rc->old[i];

		for (k = 0; k < p->count && !ret; k++) {
			struct cdt_id id;

			if (!cdt_live_packed(p, k))
				continue;
			cdt_pack_entry(p, k, &id, NULL, NULL, NULL);
			if (cdt_idset_has(&rc->newform, &id))
				continue;
			if (rc->dry) {
				rc->res->to_convert++;
				rc->res->to_convert_bytes += cdt_pack_entry_size(p, k);
				continue;
			}
			if (!b)
				whole_start(rc, &b, &c, &obj);
			strbuf_reset(&why);
			ret = cdt_chunk_read_entry(rc->reader, p, k, rc->buf, &len, &why);
			if (ret < 0)
				ret = error_code(ret, "cannot read chunk %s: %s", cdt_id_to_hex(&id, hex),
						 why.len ? why.buf : cdt_strerror(ret));
			else
				ret = store_whole(rc, b, c, obj, &id, len);
		}
		cdt_pack_close_file(p);
	}
	for (i = 0; i < rc->live.loose_live.cap && !ret; i++) {
		const struct cdt_id *id = &rc->live.loose_live.ids[i];

		if (!rc->live.loose_live.used[i] || cdt_idset_has(&rc->newform, id))
			continue;
		if (rc->dry) {
			uint64_t *size = cdt_idset_get(&rc->live.loose_all, id);

			rc->res->to_convert++;
			rc->res->to_convert_bytes += size ? *size : 0;
			continue;
		}
		if (!b)
			whole_start(rc, &b, &c, &obj);
		strbuf_reset(&why);
		ret = cdt_chunk_read(rc->reader, id, 0, rc->buf, &len, &why);
		if (ret < 0)
			ret = error_code(ret, "cannot read chunk %s: %s", cdt_id_to_hex(id, hex),
					 why.len ? why.buf : cdt_strerror(ret));
		else
			ret = store_whole(rc, b, c, obj, id, len);
	}
	if (!ret && b && cdt_chunk_batch_count(b)) {
		ret = cdt_chunk_batch_commit(b);
		if (!ret)
			committed(cdt_chunk_batch_pack_name(b), rc);
	}
	cdt_chunk_batch_free(b);
	cdt_compressor_free(c);
	free(obj);
	strbuf_release(&why);
	return ret;
}

/*
 * Has chunk id a copy in a pack of the new form that reads back good?
 * Read from the pack itself and checked against the id: no index or set
 * is trusted to allow a removal.
 */
static int confirmed(struct recompress *rc, const struct cdt_id *id)
{
	size_t i;
	uint32_t len;

	for (i = 0; i < rc->nnp; i++) {
		int64_t at = cdt_pack_find(rc->np[i], id);
		struct cdt_id got;

		if (at < 0)
			continue;
		if (cdt_chunk_read_entry(rc->reader, rc->np[i], (uint64_t)at, rc->buf, &len, NULL) < 0)
			continue;
		cdt_hash(rc->buf, len, &got);
		if (cdt_id_eq(&got, id))
			return 1;
	}
	return 0;
}

static uint64_t pack_bytes(struct recompress *rc, const struct cdt_pack *p)
{
	int packsfd = cdt_store_dirfd(rc->s, CDT_DIR_PACKS);
	char file[sizeof(p->name) + 8];
	struct stat st;
	uint64_t n = p->map_len;

	snprintf(file, sizeof(file), "%s.pack", p->name);
	if (fstatat(packsfd, file, &st, AT_SYMLINK_NOFOLLOW) == 0)
		n += (uint64_t)st.st_size;
	snprintf(file, sizeof(file), "%s.sketch", p->name);
	if (fstatat(packsfd, file, &st, AT_SYMLINK_NOFOLLOW) == 0)
		n += (uint64_t)st.st_size;
	return n;
}

/* Remove each old pack and live loose chunk whose live chunks all have a confirmed new copy. */
static int remove_old(struct recompress *rc)
{
	char hex[CDT_ID_HEXLEN + 1];
	size_t i;
	uint64_t k;
	int ret;

	for (i = 0; i < rc->nold; i++) {
		struct cdt_pack *p = rc->old[i];
		int ok = 1;
		uint64_t bytes;

		for (k = 0; k < p->count && ok; k++) {
			struct cdt_id id;

			if (!cdt_live_packed(p, k))
				continue;
			cdt_pack_entry(p, k, &id, NULL, NULL, NULL);
			ok = confirmed(rc, &id);
			if (!ok)
				warning("keeping pack %s: live chunk %s has no good copy in the new form "
					"(run 'cdt fsck', then 'cdt gc --recompress' again)", p->name,
					cdt_id_to_hex(&id, hex));
		}
		if (!ok) {
			rc->res->packs_kept++;
			continue;
		}
		bytes = pack_bytes(rc, p);
		say(rc, "removing pack %s (%llu bytes)", p->name, (unsigned long long)bytes);
		cdt_pack_close_file(p);
		cdt_serverinfo_unlist_pack(rc->s, p->name);
		ret = cdt_pack_remove_files(rc->s, p->name);
		if (ret < 0)
			return error_code(ret, "cannot remove pack %s: %s", p->name, cdt_strerror(ret));
		rc->res->packs_removed++;
		rc->res->pack_bytes += bytes;
	}
	cdt_serverinfo_packs(rc->s);
	ret = fsync_dirat(cdt_store_dirfd(rc->s, CDT_DIR_PACKS), ".");
	if (ret < 0)
		return error_code(ret, "cannot sync '%s/packs': %s", cdt_store_path(rc->s),
				  cdt_strerror(ret));
	for (i = 0; i < rc->live.loose_live.cap; i++) {
		const struct cdt_id *id = &rc->live.loose_live.ids[i];
		uint64_t *size;

		if (!rc->live.loose_live.used[i])
			continue;
		if (!confirmed(rc, id)) {
			warning("keeping loose chunk %s: it has no good copy in the new form",
				cdt_id_to_hex(id, hex));
			continue;
		}
		ret = cdt_fanout_remove(cdt_store_dirfd(rc->s, CDT_DIR_OBJECTS), id);
		if (ret < 0 && ret != -ENOENT)
			return error_code(ret, "cannot remove chunk %s: %s", cdt_id_to_hex(id, hex),
					  cdt_strerror(ret));
		size = cdt_idset_get(&rc->live.loose_all, id);
		rc->res->loose_removed++;
		rc->res->loose_bytes += size ? *size : 0;
	}
	return 0;
}

/* The config the store converts to: the current defaults where it falls short of them. */
static int target_config(const struct cdt_config *cur, struct cdt_config *out)
{
	struct cdt_config def;

	cdt_config_defaults(&def);
	*out = *cur;
	/* A store keeps its content ids: converting does not rename contents. */
	out->format = cur->format >= 3 ? cur->format : 2;
	if (cur->codec != def.codec) {
		out->codec = def.codec;
		out->level = def.level;
	}
	if (!out->frame_size)
		out->frame_size = def.frame_size;
	if (def.deltas)
		out->deltas = def.deltas;
	return memcmp(out, cur, sizeof(*out)) != 0;
}

static void pack_checked(const char *name, enum cdt_pack_state st, const char *why, void *data)
{
	(void)data;
	if (st == CDT_PACK_UNUSABLE)
		warning("pack %s: %s; keeping it as it is (run 'cdt fsck')", name, why);
	else if (st != CDT_PACK_MIDX_DAMAGED && st != CDT_PACK_MIDX_REMOVED)
		warning("pack %s: %s", name, why);
}

int cdt_recompress(struct cdt_store *s, int level, int dry_run,
		   void (*report)(const char *line, void *data), void *data,
		   struct cdt_recompress_result *res)
{
	struct recompress rc;
	struct cdt_config want;
	int ret;

	memset(res, 0, sizeof(*res));
	memset(&rc, 0, sizeof(rc));
	rc.s = s;
	rc.level = level;
	rc.dry = dry_run;
	rc.report = report;
	rc.data = data;
	rc.res = res;
	strbuf_init(&rc.line, 0);

	/*
	 * The config first, before anything sized by it is made: objects
	 * name their codec and readers take both pack versions, so the store
	 * is valid under either config, and new chunks take the new form.
	 */
	if (target_config(cdt_store_config(s), &want)) {
		res->config_written = 1;
		res->format = want.format;
		say(&rc, "%s the config: format %u, codec %s, level %d, frame size %u, deltas %u",
		    dry_run ? "would write" : "writing", want.format, cdt_codec_name(want.codec),
		    want.level, want.frame_size, want.deltas);
		if (!dry_run && (ret = cdt_store_set_config(s, &want)) < 0)
			goto out;
	}
	if (level && (level < cdt_codec_level_min(want.codec) ||
		      level > cdt_codec_level_max(want.codec))) {
		ret = error_code(-EINVAL, "level %d is outside %s's range %d..%d", level,
				 cdt_codec_name(want.codec), cdt_codec_level_min(want.codec),
				 cdt_codec_level_max(want.codec));
		goto out;
	}
	{
		struct cdt_chunk_reader *br = cdt_chunk_reader_new(s);
		struct cdt_base_source bases = cdt_chunk_base_source(br);

		ret = cdt_packs_check(s, !dry_run, &bases, pack_checked, &rc);
		cdt_chunk_reader_free(br);
	}
	if (ret < 0) {
		error("cannot check the pack indexes: %s", cdt_strerror(ret));
		goto out;
	}
	if (!dry_run)
		cdt_serverinfo_packs(s);	/* (packs may have been indexed again) */
	ret = cdt_live_mark(s, &rc.live);
	if (ret < 0)
		goto out;
	if (rc.live.unreadable) {
		ret = error_code(-EIO, "not converting: %llu name%s could not be read: what is live "
				 "is unknown (run 'cdt fsck')", (unsigned long long)rc.live.unreadable,
				 rc.live.unreadable == 1 ? "" : "s");
		goto out;
	}
	if (rc.live.damaged || rc.live.missing.nr) {
		ret = error_code(-CDT_ECORRUPT, "not converting: the store has damaged names or "
				 "manifests, or live chunks are missing (run 'cdt fsck')");
		goto out;
	}
	rc.reader = cdt_chunk_reader_new(s);
	rc.buf = xmalloc(cdt_store_chunker(s)->max_size);
	/* Dry run: the old config's packs are judged against the new codec all the same. */
	scan_packs(&rc, 0);
	if (dry_run) {
		ret = convert_rest(&rc);
		goto out;
	}
	{
		struct cdt_ingest_options opt = { 0 };

		opt.level = level;
		opt.stored = is_stored;
		opt.base_ok = base_ok;
		opt.committed = committed;
		opt.again_data = &rc;
		rc.ing = cdt_ingest_new(s, &opt);
	}
	ret = cdt_names_walk(s, NULL, convert_name, &rc);
	if (ret < 0 && !rc.reported)
		error("cannot list the names of '%s': %s", cdt_store_path(s), cdt_strerror(ret));
	if (!ret)
		ret = cdt_ingest_again_commit(rc.ing);
	if (ret < 0)
		goto out;
	ret = convert_rest(&rc);
	if (ret < 0)
		goto out;
	/* The new packs' renames durable before any old pack goes. */
	ret = cdt_store_sync(s);
	if (ret < 0) {
		error("cannot sync store '%s': %s", cdt_store_path(s), cdt_strerror(ret));
		goto out;
	}
	cdt_pause_point("recompress-remove");
	ret = remove_old(&rc);
	if (ret < 0)
		goto out;
	ret = cdt_packs_write_midx(s);
	if (ret < 0)
		error("cannot write the multi-pack index: %s", cdt_strerror(ret));
out:
	cdt_ingest_free(rc.ing);
	cdt_chunk_reader_free(rc.reader);
	free(rc.buf);
	free(rc.np);
	free(rc.old);
	cdt_idset_clear(&rc.known);
	cdt_idset_clear(&rc.newpacks);
	cdt_idset_clear(&rc.newform);
	cdt_idset_clear(&rc.done);
	cdt_live_release(&rc.live);
	strbuf_release(&rc.line);
	return ret;
}
