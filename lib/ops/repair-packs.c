/* repair-packs.c: damaged packs rewritten once nothing is wanted, their objects from good copies. */
#include "ops/repair-internal.h"
#include "base/compress.h"
#include "base/util.h"
#include "ops/chunks.h"
#include "ops/mpack-drop.h"
#include "ops/packset.h"
#include "ops/serverinfo.h"
#include "ops/sketchset.h"
#include "format/midx.h"
#include "format/mpack.h"
#include "format/object.h"
#include "format/pack.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/*
 * Manifest packs that fail their checksum: written again without the
 * damaged manifests names use, once each is whole elsewhere (restored
 * loose above); repair drops nothing else.
 */
static int mpack_none_dead(const struct cdt_id *id, void *data)
{
	(void)id;
	(void)data;
	return 0;
}

static void mpack_not_dropped(const struct cdt_id *id, uint64_t len, int ok, void *data)
{
	(void)id;
	(void)len;
	(void)ok;
	(void)data;
}

static void mpack_left(const char *name, const char *why, void *data)
{
	(void)data;
	warning("manifest pack '%s/%s' left as it is: %s", CDT_MPACK_DIR, quote(name), why);
}

static void mpack_replaced(const char *name, const char *fresh, void *data)
{
	struct cdt_repair *r = data;

	cdt_fsck_mpack_healed(r->fsck, name);
	r->stats.packs_rewritten++;
	if (r->opt.mpack_rewritten)
		r->opt.mpack_rewritten(name, fresh, r->opt.data);
}

/* A pack whole now (its manifests written again as the same pack): its problem is gone. */
static int mpack_whole(const char *name, const struct cdt_mpack *mp, int err, const char *why,
		       void *data)
{
	struct cdt_repair *r = data;

	(void)why;
	if (!err && !cdt_mpack_verify(mp, name, NULL))
		cdt_fsck_mpack_healed(r->fsck, name);
	return 0;
}

static const struct cdt_mpack_drop_ops repair_mpack_ops = {
	mpack_none_dead, mpack_not_dropped, mpack_left, NULL, mpack_replaced
};

int cdt_repair_packs(struct cdt_repair *r)
{
	struct pack_heal ph = { r, 0, 0, 0, NULL, NULL, 0 };
	int ret;

	if (cdt_mpacks_drop(r->store, &repair_mpack_ops, r, CDT_MPACK_DROP_DAMAGED) < 0)
		ph.failed++;	/* (said) */
	cdt_mpacks_walk(r->store, mpack_whole, r);

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
