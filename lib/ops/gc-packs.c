/* gc-packs.c: packs whose index is missing or damaged, indexed again (or read as gc would, with -n), and packs that cannot be indexed: their live chunks saved before they go. */
#include "ops/gc-internal.h"
#include "ops/chunks.h"
#include "ops/mark.h"
#include "ops/serverinfo.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What gc does with a pack, said in the tense of a dry run when it is one. */
static const char *keeping(const struct sweep *sw)
{
	return sw->flags & CDT_GC_DRY_RUN ? "gc would keep it" : "keeping it";
}

/*
 * A dry run does not index a pack again, but reads it as gc would (the
 * same checks, nothing written), so that it says what gc would do: index
 * it, or keep or remove it as a pack that cannot be indexed.
 */
/* A chunk found by a scan of a pack gc would index (dry_base_read()). */
struct dry_find {
	const struct cdt_id *id;
	uint32_t len;
	unsigned char *out;
};

static int dry_find_chunk(const struct cdt_pack_object *o, const unsigned char *raw, void *data)
{
	struct dry_find *df = data;

	if (!cdt_id_eq(&o->id, df->id) || o->raw_len != df->len)
		return 0;
	memcpy(df->out, raw, df->len);
	return 1;
}

/*
 * The bases of a dry run: the store's, then the packs it would index,
 * read from their own bytes (rare, and only while gc -n checks packs).
 */
static int dry_base_read(const struct cdt_id *id, uint32_t len, unsigned char *out, void *data,
			 struct strbuf *why);

static int dry_scan(struct sweep *sw, const char *name, cdt_pack_scan_fn fn, void *data,
		    struct strbuf *why)
{
	struct cdt_base_source bases = { dry_base_read, sw };

	return cdt_pack_scan(cdt_store_dirfd(sw->store, CDT_DIR_PACKS), name,
			     cdt_store_chunker(sw->store)->max_size, &bases, fn, data, why);
}

static int dry_base_read(const struct cdt_id *id, uint32_t len, unsigned char *out, void *data,
			 struct strbuf *why)
{
	struct sweep *sw = data;
	struct dry_find df = { id, len, out };
	size_t i;
	int ret = sw->bases->read(id, len, out, sw->bases->data, why);

	/* A base of a base of ...: a few levels, as deltas are stored. */
	if (!ret || sw->base_depth >= 4)
		return ret;
	sw->base_depth++;
	for (i = 0; i < sw->nwould; i++) {
		struct strbuf ignored = STRBUF_INIT;
		int found = dry_scan(sw, sw->would_index[i], dry_find_chunk, &df, &ignored);

		strbuf_release(&ignored);
		if (found == 1) {
			strbuf_reset(why);
			ret = 0;
			break;
		}
	}
	sw->base_depth--;
	return ret;
}

/* Read a pack as gc would index it: 0, or what keeps it from that (in sb). */
static int dry_index(struct sweep *sw, const char *name, const char *why, struct strbuf *sb)
{
	int ret;

	strbuf_reset(sb);
	strbuf_addf(sb, "%s; ", why);
	ret = dry_scan(sw, name, NULL, NULL, sb);
	if (!ret) {
		warning("pack %s: %s; gc would index it again from the pack", name, why);
		ALLOC_GROW(sw->would_index, sw->nwould + 1, sw->would_alloc);
		sw->would_index[sw->nwould++] = xstrdup(name);
	} else if (sb->buf[sb->len - 1] == ' ') {
		strbuf_addstr(sb, cdt_strerror(ret));
	}
	return ret;
}

static void pack_needs_index(struct sweep *sw, const char *name, const char *why)
{
	struct strbuf sb = STRBUF_INIT;

	/* What fails now is read again once the others are (gc_dry_index_later()). */
	if (dry_index(sw, name, why, &sb)) {
		ALLOC_GROW(sw->later, sw->nlater + 1, sw->later_alloc);
		sw->later[sw->nlater].name = xstrdup(name);
		sw->later[sw->nlater].why = xstrdup(why);
		sw->nlater++;
	}
	strbuf_release(&sb);
}

/*
 * The packs a dry run could not read, read again while that gives more
 * packs gc would index (their bases may be in them), as gc indexes them
 * (reindex_later() in packset.c); then what is left is said as gc would.
 */
void gc_dry_index_later(struct sweep *sw)
{
	struct strbuf sb = STRBUF_INIT;
	int progress = 1;
	size_t i, k;

	while (progress && sw->nlater) {
		progress = 0;
		for (i = 0, k = 0; i < sw->nlater; i++) {
			if (!dry_index(sw, sw->later[i].name, sw->later[i].why, &sb)) {
				free(sw->later[i].name);
				free(sw->later[i].why);
				progress = 1;
				continue;
			}
			sw->later[k++] = sw->later[i];
		}
		sw->nlater = k;
	}
	for (i = 0; i < sw->nlater; i++) {
		int ret = dry_index(sw, sw->later[i].name, sw->later[i].why, &sb);

		gc_pack_checked(sw->later[i].name,
			     cdt_err_is_damage(ret) ? CDT_PACK_UNUSABLE : CDT_PACK_UNREADABLE,
			     sb.buf, sw);
		free(sw->later[i].name);
		free(sw->later[i].why);
	}
	free(sw->later);
	sw->later = NULL;
	sw->nlater = 0;
	strbuf_release(&sb);
}

static int dry_found(const struct cdt_pack_object *o, const unsigned char *raw, void *data)
{
	struct sweep *sw = data;

	(void)raw;
	if (cdt_idset_has(&sw->live->missing, &o->id))
		cdt_idset_add(&sw->salvaged, &o->id);
	return 0;
}

/*
 * A dry run's mark does not find what the packs gc would index hold (gc
 * finds it there, indexed first): those live chunks count as found, as
 * those a damaged pack would give up do (sw->salvaged).
 */
void gc_dry_would_find(struct sweep *sw)
{
	struct cdt_chunk_reader *br;
	struct cdt_base_source bases;
	struct strbuf why = STRBUF_INIT;
	size_t i;

	if (!sw->live->missing.nr || !sw->nwould)
		return;
	br = cdt_chunk_reader_new(sw->store);
	bases = cdt_chunk_base_source(br);
	sw->bases = &bases;
	for (i = 0; i < sw->nwould; i++) {
		strbuf_reset(&why);
		dry_scan(sw, sw->would_index[i], dry_found, sw, &why);
	}
	sw->bases = NULL;
	cdt_chunk_reader_free(br);
	strbuf_release(&why);
}

/* Packs whose index had to be written again (or cannot be): said whatever -v says. */
void gc_pack_checked(const char *name, enum cdt_pack_state st, const char *why, void *data)
{
	struct sweep *sw = data;

	switch (st) {
	case CDT_PACK_REINDEXED:
		warning("pack %s: %s", name, why);
		sw->res->packs_reindexed++;
		break;
	case CDT_PACK_NEEDS_INDEX:
		pack_needs_index(sw, name, why);
		break;
	case CDT_PACK_UNUSABLE:
		warning("pack %s: %s; %s unless no live chunk needs it", name, why, keeping(sw));
		sw->res->packs_unusable++;
		ALLOC_GROW(sw->unusable, sw->nunusable + 1, sw->unusable_alloc);
		sw->unusable[sw->nunusable++] = xstrdup(name);
		break;
	case CDT_PACK_MIDX_DAMAGED:
		warning("%s: %s; gc would write it again", name, why);
		break;
	case CDT_PACK_MIDX_REMOVED:
		warning("%s: %s; writing it again", name, why);
		break;
	case CDT_PACK_UNREADABLE:
		/* Not read, so not known to be damaged: never removed, and not read again. */
		warning("pack %s: %s; %s: what it holds is not known (run 'cdt fsck')",
			name, why, keeping(sw));
		sw->res->packs_unusable++;
		break;
	case CDT_PACK_INDEX_UNREADABLE:
		error("pack %s: %s; not collecting garbage: what it holds is not known "
		      "(run 'cdt fsck')", name, why);
		sw->index_unreadable = 1;
		break;
	}
}

/*
 * The chunks met reading a damaged pack that cannot be indexed, past its
 * damage too: a live one with no other good copy (its marked copy may be
 * the damaged one, or no lookup found it) is written to a new pack, so
 * that it is not lost when the damaged one goes (with -n, only counted).
 */
struct salvage {
	struct sweep *sw;
	struct cdt_pack_writer *w;
	struct cdt_compressor *comp;
	uint64_t n;
	int err;		/* -errno: a read (or the write) of a copy failed */
	int writing;		/* err is the new pack's */
	struct cdt_id failed;	/* the chunk err is about */
	int whole;		/* the new pack is the damaged one, written again whole */
};

static int salvage_chunk(const struct cdt_pack_object *o, const unsigned char *raw, void *data)
{
	struct salvage *sv = data;
	struct sweep *sw = sv->sw;
	uint32_t len;
	int ret;

	if (cdt_idset_has(&sw->salvaged, &o->id) || !cdt_live_chunk(sw->live, &o->id))
		return 0;
	ret = cdt_chunk_read(sw->reader, &o->id, o->raw_len, sw->raw, &len, NULL);
	if (!ret)
		return 0;
	if (cdt_err_is_damage(ret)) {
		if (sw->flags & CDT_GC_DRY_RUN)
			ret = 0;
		else if (!sv->w && (ret = cdt_pack_writer_new(sw->store, &sv->w)) < 0)
			sv->w = NULL;
		else
			ret = cdt_pack_writer_add_chunk(sv->w, sv->comp, &o->id, raw, o->raw_len);
		if (!ret) {
			cdt_idset_add(&sw->salvaged, &o->id);
			sv->n++;
			return 0;
		}
		sv->writing = 1;
	}
	sv->err = ret;
	sv->failed = o->id;
	return 1;
}

/* Commit the chunks salvage_chunk() saved, durably. 0 or -errno (reported). */
static int salvage_commit(struct salvage *sv, const char *name)
{
	struct sweep *sw = sv->sw;
	char made[CDT_ID_HEXLEN + 6];
	int ret = cdt_pack_writer_commit(sv->w, made);

	cdt_pack_writer_free(sv->w);
	sv->w = NULL;
	if (!ret)
		ret = cdt_store_sync(sw->store);
	if (ret < 0)
		return error_code(ret, "pack %s: cannot write its live chunks with no other good copy "
				  "to a new pack: %s; keeping it", name, cdt_strerror(ret));
	/*
	 * A pack is named by the hash of its bytes: the same name means the
	 * same objects in the same order, so its damage was outside them
	 * (its checksum). The file under that name is whole now, and stays.
	 */
	sv->whole = !strcmp(made, name);
	if (sv->whole) {
		warning("pack %s cannot be indexed, yet all %llu of its chunks read good: written "
			"again whole under its own name", name, (unsigned long long)sv->n);
		sw->res->packs_unusable--;
	} else {
		warning("pack %s cannot be indexed: %llu live chunk%s in it had no other good copy; "
			"written to pack %s", name, (unsigned long long)sv->n, sv->n == 1 ? "" : "s",
			made);
	}
	sw->res->packs_written++;
	cdt_serverinfo_packs(sw->store);
	/* The new copies are the live ones: not dead, and not to be written again. */
	cdt_live_mark_pack(sw->live, made);
	return 0;
}

/*
 * Pack `name` could not be indexed: may it go? Read again from start to
 * end, on past its damage (cdt_pack_salvage()). An I/O error (or a read
 * that succeeds now) says nothing of what it holds: it may be the only
 * good copy of a live chunk whose marked copy is damaged, so it stays, and
 * only damage lets it go; the live chunks read from it, before the damage
 * or after, whose other copies are all damaged or missing are written to
 * a new pack first.
 */
static int unusable_is_damaged(struct sweep *sw, const char *name)
{
	struct cdt_base_source bases = cdt_chunk_base_source(sw->reader);
	struct strbuf why = STRBUF_INIT;
	struct salvage sv = { 0 };
	char hex[CDT_ID_HEXLEN + 1];
	int ret;

	sv.sw = sw;
	sv.comp = cdt_store_compressor_new(sw->store);
	ret = cdt_pack_salvage(cdt_store_dirfd(sw->store, CDT_DIR_PACKS), name,
			       cdt_store_chunker(sw->store)->max_size, &bases, salvage_chunk, &sv, &why);
	if (sv.err && sv.writing)
		error("pack %s: cannot write live chunk %s, which has no other good copy, to a new "
		      "pack: %s; keeping the pack", name, cdt_id_to_hex(&sv.failed, hex),
		      cdt_strerror(sv.err));
	else if (sv.err)
		warning("pack %s: chunk %s, live, cannot be read elsewhere: %s; %s: "
			"it may hold the only good copy (run 'cdt fsck')", name,
			cdt_id_to_hex(&sv.failed, hex), cdt_strerror(sv.err), keeping(sw));
	else if (ret != -CDT_ECORRUPT)
		warning("pack %s: %s; %s: what it holds is not known (run 'cdt fsck')",
			name, ret < 0 ? (why.len ? why.buf : cdt_strerror(ret)) :
			"it reads without error now, but was not indexed", keeping(sw));
	else if (sv.n && (sw->flags & CDT_GC_DRY_RUN))
		warning("pack %s cannot be indexed: %llu live chunk%s in it %s no other good copy; "
			"gc would write %s to a new pack", name, (unsigned long long)sv.n,
			sv.n == 1 ? "" : "s", sv.n == 1 ? "has" : "have", sv.n == 1 ? "it" : "them");
	else if (sv.w && salvage_commit(&sv, name) < 0)
		ret = -EIO;
	if (sv.w)
		cdt_pack_writer_free(sv.w);
	cdt_compressor_free(sv.comp);
	strbuf_release(&why);
	return ret == -CDT_ECORRUPT && !sv.err && !sv.whole;
}

struct live_check {
	struct sweep *sw;
	struct cdt_id bad;
	int err;
	struct strbuf why;
};

static int check_live_copy(const struct cdt_object_info *o, void *data)
{
	struct live_check *lc = data;
	struct cdt_live *l = lc->sw->live;
	uint32_t len;
	int ret;

	/* Each live chunk once: at the copy the mark chose. */
	if (o->pack ? !cdt_live_packed(o->pack, o->index) : !cdt_idset_has(&l->loose_live, &o->id))
		return 0;
	/* A dry run writes nothing: a chunk a damaged pack would give up counts as good. */
	if ((lc->sw->flags & CDT_GC_DRY_RUN) && cdt_idset_has(&lc->sw->salvaged, &o->id))
		return 0;
	strbuf_reset(&lc->why);
	ret = cdt_chunk_read(lc->sw->reader, &o->id, 0, lc->sw->raw, &len, &lc->why);
	if (ret < 0) {
		lc->err = ret;
		lc->bad = o->id;
		return 1;
	}
	return 0;
}

/* The live chunks no lookup found at the mark: each one must read back good now. */
static int check_missing(struct live_check *lc)
{
	struct sweep *sw = lc->sw;
	const struct cdt_idset *m = &sw->live->missing;
	uint32_t len;
	size_t i;
	int ret;

	for (i = 0; i < m->cap; i++) {
		if (!m->used[i] || ((sw->flags & CDT_GC_DRY_RUN) &&
				    cdt_idset_has(&sw->salvaged, &m->ids[i])))
			continue;
		strbuf_reset(&lc->why);
		ret = cdt_chunk_read(sw->reader, &m->ids[i], 0, sw->raw, &len, &lc->why);
		if (ret < 0) {
			lc->err = ret;
			lc->bad = m->ids[i];
			return 1;
		}
	}
	return 0;
}

/*
 * A damaged pack that cannot be indexed was read past its damage, but
 * what the damage covers is lost: there it may have held the only good
 * copy of a live chunk whose marked copy is damaged too, or that no
 * lookup found. It may go only once every live chunk reads back good from
 * the indexed copies (once per gc: a read of all that names need, paid
 * only when such a pack is there).
 */
static int live_all_good(struct sweep *sw, const char *name)
{
	struct live_check lc = { sw, { { 0 } }, 0, STRBUF_INIT };
	char hex[CDT_ID_HEXLEN + 1];
	int ret;

	if (!sw->live_good) {
		ret = check_missing(&lc);
		if (!ret)
			ret = cdt_objects_walk(sw->store, check_live_copy, NULL, &lc);
		if (ret < 0 && !lc.err)
			warning("pack %s: cannot list the stored chunks to tell it holds nothing live: %s",
				name, cdt_strerror(ret));
		else if (lc.err)
			warning("pack %s cannot be indexed; %s: live chunk %s has no good copy "
				"elsewhere (%s), and the pack may hold one in its damage "
				"(run 'cdt fsck', then 'cdt repair')", name, keeping(sw),
				cdt_id_to_hex(&lc.bad, hex), lc.why.len ? lc.why.buf : cdt_strerror(lc.err));
		sw->live_good = ret < 0 || lc.err ? -1 : 1;
	} else if (sw->live_good < 0) {
		warning("pack %s cannot be indexed; %s: a live chunk has no good copy elsewhere",
			name, keeping(sw));
	}
	strbuf_release(&lc.why);
	return sw->live_good > 0;
}

/*
 * The packs that cannot be indexed: each one gives up the live chunks it
 * holds that have no other good copy, then goes when it is damaged (not
 * unreadable) and every live chunk reads back good. A dry run reads and
 * checks as much, and says what gc would do.
 */
void gc_remove_unusable(struct sweep *sw, int dry)
{
	int packsfd = cdt_store_dirfd(sw->store, CDT_DIR_PACKS);
	static const char *const ext[] = { ".idx", ".sketch", ".pack" };
	struct strbuf path = STRBUF_INIT;
	unsigned char *damaged = xcalloc(sw->nunusable + 1, 1);
	size_t i, k;

	/* All of them first: one may hold what another's damage hides. */
	for (i = 0; i < sw->nunusable; i++)
		damaged[i] = (unsigned char)unusable_is_damaged(sw, sw->unusable[i]);
	for (i = 0; i < sw->nunusable; i++) {
		struct stat st;
		int failed = 0;

		if (!damaged[i] || !live_all_good(sw, sw->unusable[i]))
			continue;
		strbuf_reset(&path);
		strbuf_addf(&path, "%s.pack", sw->unusable[i]);
		gc_say(sw, "pack no live chunk needs (it cannot be indexed)", sw->unusable[i],
		    fstatat(packsfd, path.buf, &st, AT_SYMLINK_NOFOLLOW) ? 0 : (uint64_t)st.st_size);
		for (k = 0; !dry && k < ARRAY_SIZE(ext); k++) {
			strbuf_reset(&path);
			strbuf_addf(&path, "%s%s", sw->unusable[i], ext[k]);
			if (unlinkat(packsfd, path.buf, 0) < 0 && errno != ENOENT) {
				error("cannot remove 'packs/%s': %s", path.buf, cdt_strerror(errno));
				failed = 1;
			}
		}
		if (!failed) {
			sw->res->packs_unusable--;
			sw->res->packs_removed++;
		}
	}
	free(damaged);
	strbuf_release(&path);
}
