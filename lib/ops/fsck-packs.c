/* fsck-packs.c: fsck's checks of packs, their indexes, the multi-pack index, unindexed packs. */
#include "ops/fsck-internal.h"
#include "format/chunker.h"
#include "format/midx.h"
#include "format/pack.h"
#include "format/sketch.h"
#include "format/object.h"
#include "ops/chunks.h"
#include "ops/packset.h"
#include "base/util.h"
#include "base/workers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Garbage in packs/, with its size. */
static void pack_garbage(struct cdt_fsck *f, int dirfd, const char *base,
			 enum cdt_fsck_kind kind, const char *why)
{
	struct stat st;
	uint64_t bytes = 0;

	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
		bytes = (uint64_t)st.st_size;
	fsck_report(f, kind, xstrfmt("packs/%s", base), bytes, "%s", why);
}

/*
 * Packs: every index readers see is checked with its pack (checksums, that
 * the objects tile the pack, their CRCs; --quick: the index checksum and
 * the pack's length). Packs are independent, so they are checked in
 * parallel. An index readers cannot open hides its pack.
 */
struct pack_check {
	struct cdt_fsck *f;
	struct cdt_pack **packs;
	int *errs;
	struct strbuf *whys;
};

static int quick_check_pack(struct cdt_pack *p, int packsfd, struct strbuf *why)
{
	char path[CDT_ID_HEXLEN + 16];
	struct cdt_id sum;
	struct stat st;
	uint64_t k, end = CDT_PACK_HDR;

	cdt_hash(p->map, p->map_len - CDT_ID_LEN, &sum);
	if (memcmp(sum.b, p->map + p->map_len - CDT_ID_LEN, CDT_ID_LEN)) {
		strbuf_addstr(why, "index checksum does not match its contents");
		return -CDT_ECORRUPT;
	}
	for (k = 0; k < p->count; k++) {
		uint64_t off;
		uint32_t len;

		cdt_pack_entry(p, k, NULL, &off, &len, NULL);
		end = MAX(end, off + len);
	}
	snprintf(path, sizeof(path), "%s.pack", p->name);
	if (fstatat(packsfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		strbuf_addstr(why, errno == ENOENT ? "pack file is missing" : cdt_strerror(errno));
		return -CDT_ECORRUPT;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != end + CDT_PACK_TRAILER) {
		strbuf_addf(why, "pack file is %llu bytes, its index says %llu",
			    (unsigned long long)st.st_size,
			    (unsigned long long)(end + CDT_PACK_TRAILER));
		return -CDT_ECORRUPT;
	}
	return 0;
}

static void check_one_pack(size_t i, int worker, void *data)
{
	struct pack_check *pc = data;
	int packsfd = cdt_store_dirfd(pc->f->s, CDT_DIR_PACKS);

	(void)worker;
	strbuf_reset(&pc->whys[i]);
	if (pc->f->opt.quick)
		pc->errs[i] = quick_check_pack(pc->packs[i], packsfd, &pc->whys[i]);
	else
		pc->errs[i] = cdt_pack_verify(pc->packs[i], packsfd, NULL, NULL, &pc->whys[i]);
}

/*
 * The multi-pack index is derived: readers ignore one whose shape is wrong
 * or that names a pack that is gone (garbage, which gc rewrites), but they
 * trust one that looks right, so its checksum and every mapping are checked.
 */
static void check_midx(struct cdt_fsck *f, struct cdt_pack **packs, size_t n)
{
	int packsfd = cdt_store_dirfd(f->s, CDT_DIR_PACKS);
	struct cdt_pack **by_number = NULL;
	struct cdt_midx m;
	struct cdt_id sum;
	char name[CDT_ID_HEXLEN + 8];
	uint64_t i;
	uint32_t k;
	size_t j;
	int ret = cdt_midx_open(packsfd, &m);

	if (ret == -ENOENT)
		return;
	if (ret < 0) {
		fsck_stray(f, packsfd, CDT_MIDX_NAME,
			   "damaged multi-pack index, ignored by readers", "packs/%s", CDT_MIDX_NAME);
		return;
	}
	by_number = xcalloc(m.npacks ? m.npacks : 1, sizeof(*by_number));
	for (k = 0; k < m.npacks; k++) {
		cdt_midx_pack_name(&m, k, name);
		for (j = 0; j < n && strcmp(packs[j]->name, name); j++)
			;
		if (j == n) {
			fsck_stray(f, packsfd, CDT_MIDX_NAME,
				   "stale multi-pack index (it names a pack that is gone), ignored by readers",
				   "packs/%s", CDT_MIDX_NAME);
			goto out;
		}
		by_number[k] = packs[j];
	}
	cdt_hash(m.map, m.map_len - CDT_ID_LEN, &sum);
	if (memcmp(sum.b, m.map + m.map_len - CDT_ID_LEN, CDT_ID_LEN)) {
		fsck_report(f, CDT_FSCK_MIDX_CORRUPT, xstrfmt("packs/%s", CDT_MIDX_NAME), 0,
			    "checksum does not match its contents: lookups through it may miss chunks");
		goto out;
	}
	for (i = 0; i < m.count; i++) {
		uint32_t pk = get_le32(m.locs + 8 * i), entry = get_le32(m.locs + 8 * i + 4);
		struct cdt_id id;

		if (pk < m.npacks && entry < by_number[pk]->count) {
			cdt_pack_entry(by_number[pk], entry, &id, NULL, NULL, NULL);
			if (!memcmp(id.b, m.ids + i * CDT_ID_LEN, CDT_ID_LEN))
				continue;
		}
		fsck_report(f, CDT_FSCK_MIDX_CORRUPT, xstrfmt("packs/%s", CDT_MIDX_NAME), 0,
			    "entry %llu does not point at its chunk in the packs: lookups through it may miss chunks",
			    (unsigned long long)i);
		break;
	}
out:
	free(by_number);
	cdt_midx_close(&m);
}

/*
 * A pack whose index is missing or cannot be trusted, read without it (not
 * with --quick: that reads no data). When the pack is intact, each chunk
 * that names need and lookups miss because only this pack holds it gets a
 * problem of its own (so the names are known), the pack's problem says how
 * to fix it, and 1 is returned; 0 when the pack is damaged too (or quick).
 */
struct hidden_scan {
	struct cdt_fsck *f;
	uint32_t *chunks;
	size_t n, alloc;
	/* Chunks that names need and that are stored elsewhere as well. */
	uint32_t *copies;
	size_t ncopies, acopies;
};

/* Read a pack without its index, bases of its deltas from the store. */
static int scan_unindexed(struct cdt_fsck *f, const char *name, struct hidden_scan *hs);

static int note_hidden(const struct cdt_pack_object *o, const unsigned char *raw, void *data)
{
	struct hidden_scan *hs = data;
	uint32_t ci = fsck_find_chunk(hs->f, &o->id);

	(void)raw;
	if (ci == FSCK_NONE || hs->f->chunks[ci].unlisted)
		return 0;
	if (hs->f->chunks[ci].present) {
		ALLOC_GROW(hs->copies, hs->ncopies + 1, hs->acopies);
		hs->copies[hs->ncopies++] = ci;
		return 0;
	}
	ALLOC_GROW(hs->chunks, hs->n + 1, hs->alloc);
	hs->chunks[hs->n++] = ci;
	return 0;
}

/*
 * The chunks names need that only a pack readers do not see holds are not
 * missing, only hidden: they belong to the pack's problem (whose names are
 * then those of their users), not each to one of their own.
 */
static void hidden_to_problem(struct cdt_fsck *f, const struct hidden_scan *hs,
			      const struct fsck_problem *p)
{
	size_t i;

	for (i = 0; i < hs->n; i++) {
		struct fsck_chunk *c = &f->chunks[hs->chunks[i]];

		c->present = 1;
		c->unfound = 1;
		if (c->problem == FSCK_NONE) {
			c->problem = (uint32_t)(p - f->problems);
			f->nchunk_problems++;
		}
	}
}

static int scan_unindexed(struct cdt_fsck *f, const char *name, struct hidden_scan *hs)
{
	struct cdt_chunk_reader *r = cdt_chunk_reader_new(f->s);
	struct cdt_base_source bases = cdt_chunk_base_source(r);
	int ret = cdt_pack_scan(cdt_store_dirfd(f->s, CDT_DIR_PACKS), name, f->chunker->max_size,
				&bases, note_hidden, hs, NULL);

	cdt_chunk_reader_free(r);
	return ret;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Sort and drop repeats (a chunk a pack holds twice is one). */
static size_t uniq_u32(uint32_t *v, size_t n)
{
	size_t i, k;

	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_u32);
	for (i = 0, k = 0; i < n; i++)
		if (!k || v[k - 1] != v[i])
			v[k++] = v[i];
	return k;
}

/*
 * Of the chunks pack `name` (which readers do not see) holds good and
 * that are stored elsewhere too, those whose copy readers find is damaged
 * get their problem here, saying the good copy is in it and what `heals`
 * it; they are left first in hs->copies, and their count returned.
 */
static size_t report_good_copies(struct cdt_fsck *f, const char *name, struct hidden_scan *hs,
				 const char *heals)
{
	struct cdt_chunk_reader *r;
	struct strbuf cwhy = STRBUF_INIT;
	unsigned char *buf;
	size_t i, k;

	hs->ncopies = uniq_u32(hs->copies, hs->ncopies);
	if (!hs->ncopies)
		return 0;
	r = cdt_chunk_reader_new(f->s);
	buf = xmalloc(f->chunker->max_size);
	for (i = 0, k = 0; i < hs->ncopies; i++) {
		struct fsck_chunk *c = &f->chunks[hs->copies[i]];
		uint32_t len;

		if (c->problem != FSCK_NONE)
			continue;
		strbuf_reset(&cwhy);
		if (cdt_chunk_read(r, &c->id, c->len, buf, &len, &cwhy) != -CDT_ECORRUPT)
			continue;	/* good, or an I/O error: the check of chunks says */
		fsck_chunk_problem(f, CDT_FSCK_CHUNK_CORRUPT, hs->copies[i],
				   "%s; packs/%s, which readers do not see, holds a good copy: %s",
				   cwhy.buf, name, heals);
		hs->copies[k++] = hs->copies[i];
	}
	free(buf);
	strbuf_release(&cwhy);
	cdt_chunk_reader_free(r);
	return k;
}

/*
 * The problem of an intact pack readers do not see: it holds the only
 * copy of hs->n chunks that names need, and the only good copy of the
 * `saved` first in hs->copies.
 */
static void report_intact_unindexed(struct cdt_fsck *f, const char *name, const char *what,
				    struct cdt_pack *pack, struct hidden_scan *hs, size_t saved)
{
	struct strbuf holds = STRBUF_INIT;
	struct fsck_problem *p;
	size_t i;

	hs->n = uniq_u32(hs->chunks, hs->n);
	if (hs->n || !saved)
		strbuf_addf(&holds, "%zu chunk%s that names need %s only there", hs->n,
			    hs->n == 1 ? "" : "s", hs->n == 1 ? "is" : "are");
	if (hs->n && saved)
		strbuf_addf(&holds, "; it holds the only good copy of %zu more", saved);
	else if (saved)
		strbuf_addf(&holds, "it holds the only good copy of %zu chunk%s that names need",
			    saved, saved == 1 ? "" : "s");
	p = fsck_report(f, CDT_FSCK_PACK_CORRUPT, xstrfmt("packs/%s", name), 0,
			"%s; the pack itself is intact: 'cdt gc' or 'cdt repair' indexes it again "
			"from its objects (%s)", what, holds.buf);
	strbuf_release(&holds);
	if (!p)
		return;
	hidden_to_problem(f, hs, p);
	p->pack = pack;
	/* It reaches the names of the chunks whose good copy it holds. */
	for (i = 0; i < saved; i++) {
		ALLOC_GROW(p->reach, p->nreach + 1, p->areach);
		p->reach[p->nreach++] = hs->copies[i];
	}
}

static int report_unindexed(struct cdt_fsck *f, const char *name, const char *what,
			    struct cdt_pack *pack)
{
	struct hidden_scan hs = { f, NULL, 0, 0, NULL, 0, 0 };
	size_t saved;

	if (f->opt.quick || scan_unindexed(f, name, &hs) < 0) {
		free(hs.chunks);
		free(hs.copies);
		return 0;
	}
	/* (A pack readers see holds no copy readers do not see.) */
	saved = pack ? 0 : report_good_copies(f, name, &hs,
					      "'cdt gc' or 'cdt repair' indexes it again");
	report_intact_unindexed(f, name, what, pack, &hs, saved);
	free(hs.chunks);
	free(hs.copies);
	return 1;
}

/*
 * A damaged pack readers do not see (it has no index, or one that cannot
 * be used) cannot be indexed again, and gc keeps it while a chunk that
 * names need may be in it: read on past its damage (as gc does), the
 * chunks names need that only it holds belong to its problem, and so do
 * those whose copy elsewhere is damaged (gc saves them from it too: their
 * own problems say so); the chunks names need that are stored nowhere may
 * be in its damage. `what` says why readers do not see it. 1 if that makes
 * it a problem (reported), 0 if it is garbage.
 */
static int report_damaged_unindexed(struct cdt_fsck *f, const char *name, const char *what)
{
	struct cdt_chunk_reader *r = cdt_chunk_reader_new(f->s);
	struct cdt_base_source bases = cdt_chunk_base_source(r);
	struct hidden_scan hs = { f, NULL, 0, 0, NULL, 0, 0 };
	struct strbuf why = STRBUF_INIT;
	struct fsck_problem *p;
	size_t i, lost = 0, saved = 0;
	int ret;

	ret = cdt_pack_salvage(cdt_store_dirfd(f->s, CDT_DIR_PACKS), name, f->chunker->max_size,
			       &bases, note_hidden, &hs, &why);
	if (ret != -CDT_ECORRUPT) {
		/* It reads now, or not at all: what it holds is not known. */
		fsck_report(f, CDT_FSCK_UNCHECKED, xstrfmt("packs/%s", name), 0,
			    "%s, and cannot be read: %s", what,
			    ret ? (why.len ? why.buf : cdt_strerror(ret)) : "it reads without error now");
		goto out;
	}
	hs.n = uniq_u32(hs.chunks, hs.n);
	/* Its good copies of chunks whose stored copy is damaged: gc saves them from it. */
	saved = report_good_copies(f, name, &hs, "'cdt gc' writes it to a new pack");
	for (i = 0; i < f->nchunks; i++)
		if (!f->chunks[i].present && !f->chunks[i].unlisted)
			lost++;
	lost -= hs.n;
	if (!hs.n && !saved && !lost)
		goto out;
	if (hs.n || saved)
		p = fsck_report(f, CDT_FSCK_PACK_CORRUPT, xstrfmt("packs/%s", name), 0,
				"%s, and is damaged (%s): 'cdt gc' writes the %zu "
				"chunk%s that names need and only it holds%s to a new pack, %s",
				what, why.buf, hs.n + saved, hs.n + saved == 1 ? "" : "s",
				saved ? " a good copy of" : "",
				lost ? "and keeps it, as it may hold in its damage more that no other "
				"place holds" : "then removes it once every chunk that names need reads "
				"back good");
	else
		p = fsck_report(f, CDT_FSCK_PACK_CORRUPT, xstrfmt("packs/%s", name), 0,
				"%s, and is damaged (%s): 'cdt gc' keeps it, as it may "
				"hold in its damage %zu chunk%s that names need and no other place "
				"holds", what, why.buf, lost, lost == 1 ? "" : "s");
	/* Its chunks that names need are not missing: they belong to its problem. */
	hidden_to_problem(f, &hs, p);
	/*
	 * It reaches the names of the chunks it saves, and of those it may
	 * hold in its damage (missing: their problems come with the check of
	 * chunks).
	 */
	for (i = 0; i < saved; i++) {
		ALLOC_GROW(p->reach, p->nreach + 1, p->areach);
		p->reach[p->nreach++] = hs.copies[i];
	}
	for (i = 0; lost && i < f->nchunks; i++) {
		if (f->chunks[i].present || f->chunks[i].unlisted)
			continue;
		ALLOC_GROW(p->reach, p->nreach + 1, p->areach);
		p->reach[p->nreach++] = (uint32_t)i;
	}
	ret = 1;
out:
	free(hs.chunks);
	free(hs.copies);
	strbuf_release(&why);
	cdt_chunk_reader_free(r);
	return ret != -CDT_ECORRUPT;	/* 1: a problem (or unchecked) was reported */
}

/*
 * A pack's sketch: its shape, checksum and order. It only guides which
 * stored chunk a new one is tried against (every delta is decoded and
 * hashed on every read), so damage to it affects no name; gc and repair
 * write it again from the pack's chunks.
 */
static void check_sketch(struct cdt_fsck *f, struct cdt_pack *p)
{
	struct strbuf why = STRBUF_INIT;
	struct cdt_sketch sk;
	int ret = cdt_sketch_open(cdt_store_dirfd(f->s, CDT_DIR_PACKS), p->name, p->count, &sk,
				  &why);

	if (!ret) {
		ret = cdt_sketch_check(&sk, &why);
		cdt_sketch_close(&sk);
	}
	if (ret == -ENOENT)
		strbuf_addstr(&why, "it is missing");
	if (ret < 0)
		fsck_report(f, CDT_FSCK_SKETCH_CORRUPT, xstrfmt("packs/%s.sketch", p->name), 0,
			    "sketch of the pack's chunks cannot be used (%s): new chunks are not "
			    "stored as deltas against them until 'cdt gc' writes it again", why.buf);
	strbuf_release(&why);
}

/* In a store that keeps deltas, every pack of version 2 has a sketch. */
static void check_sketches_present(struct cdt_fsck *f, struct cdt_pack **packs, size_t n)
{
	int packsfd = cdt_store_dirfd(f->s, CDT_DIR_PACKS);
	char path[CDT_ID_HEXLEN + 16];
	size_t i;

	if (!cdt_store_config(f->s)->deltas)
		return;
	for (i = 0; i < n; i++) {
		if (packs[i]->version < CDT_PACK_VERSION_FRAMES)
			continue;
		snprintf(path, sizeof(path), "%s.sketch", packs[i]->name);
		if (faccessat(packsfd, path, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
			check_sketch(f, packs[i]);
	}
}

/* The files in packs/, from the walk gc and repair fix from. */
struct pack_files {
	struct cdt_fsck *f;
	struct cdt_pack **packs;	/* the packs readers see */
	size_t n;
};

static int visit_pack_file(const char *file, const char *pack, enum cdt_pack_file kind, void *data)
{
	struct pack_files *fs = data;
	struct cdt_fsck *f = fs->f;
	int packsfd = cdt_store_dirfd(f->s, CDT_DIR_PACKS);
	struct hidden_scan hs = { f, NULL, 0, 0, NULL, 0, 0 };
	struct cdt_pack tmp;
	size_t j, saved;
	int ret;

	switch (kind) {
	case CDT_PACKFILE_SKETCH:
		for (j = 0; j < fs->n && strcmp(fs->packs[j]->name, pack); j++)
			;
		if (j < fs->n)
			check_sketch(f, fs->packs[j]);
		break;
	case CDT_PACKFILE_SKETCH_NO_PACK:
		pack_garbage(f, packsfd, file, CDT_FSCK_GARBAGE_PACK,
			     "sketch of a pack that is gone");
		break;
	case CDT_PACKFILE_MIDX:
	case CDT_PACKFILE_NO_PACK:	/* readers see it: its pack is found missing when checked */
		break;
	case CDT_PACKFILE_STRAY:
		/* The cache of a remote store notes there which blocks of a pack it holds. */
		if (cdt_store_remote_url(f->s) && strlen(file) > 5 &&
		    !strcmp(file + strlen(file) - 5, ".have"))
			break;
		fsck_stray(f, packsfd, file, "not a pack or pack index", "packs/%s", file);
		break;
	case CDT_PACKFILE_PACK:
		for (j = 0; j < fs->n && strcmp(fs->packs[j]->name, pack); j++)
			;
		if (j < fs->n)
			break;	/* readers see it: checked with them */
		ret = cdt_pack_open(packsfd, pack, &tmp);
		if (!ret) {
			cdt_pack_close(&tmp);	/* written since the list was made */
			break;
		}
		if (ret != -ENOENT && ret != -CDT_ECORRUPT) {
			/* An I/O error: its chunks are unknown (phase 4 says so), not hidden. */
			fsck_report(f, CDT_FSCK_UNCHECKED, xstrfmt("packs/%s", pack), 0,
				    "index cannot be read: %s", cdt_strerror(ret));
		} else if (ret != -ENOENT) {
			char *what = xstrfmt("its index cannot be used (%s)", cdt_strerror(ret));

			/* Damaged too, it is read on past its damage, as gc reads it. */
			if (report_unindexed(f, pack, what, NULL))
				;
			else if (f->opt.quick)
				fsck_report(f, CDT_FSCK_PACK_CORRUPT, xstrfmt("packs/%s", pack), 0,
					    "index cannot be used (%s): the pack is hidden from readers",
					    cdt_strerror(ret));
			else if (!report_damaged_unindexed(f, pack, what))
				pack_garbage(f, packsfd, file, CDT_FSCK_GARBAGE_PACK,
					     "damaged pack whose index cannot be used; every chunk "
					     "that names need is stored elsewhere too ('cdt gc' removes "
					     "it once they all read back good)");
			free(what);
		}
		break;
	case CDT_PACKFILE_NO_INDEX:
		/* Left by an interrupted write, it holds nothing a name needs. */
		ret = f->opt.quick ? 0 : scan_unindexed(f, pack, &hs);
		saved = ret ? 0 : report_good_copies(f, pack, &hs,
						     "'cdt gc' or 'cdt repair' indexes it again");
		if (!ret && (hs.n || saved))
			report_intact_unindexed(f, pack, "it has no index", NULL, &hs, saved);
		free(hs.chunks);
		free(hs.copies);
		if (!ret && (hs.n || saved))
			break;
		if (ret == -CDT_ECORRUPT) {
			if (!report_damaged_unindexed(f, pack, "it has no index"))
				pack_garbage(f, packsfd, file, CDT_FSCK_GARBAGE_PACK,
					     "damaged pack without an index; every chunk that names "
					     "need is stored elsewhere too ('cdt gc' removes it once "
					     "they all read back good)");
			break;
		}
		pack_garbage(f, packsfd, file, CDT_FSCK_GARBAGE_PACK,
			     "pack without an index, never read ('cdt gc' indexes it again, "
			     "then removes what no name needs)");
		break;
	}
	return 0;
}

void fsck_check_packs(struct cdt_fsck *f)
{
	struct pack_check pc = { f, NULL, NULL, NULL };
	struct pack_files fs;
	struct cdt_workers *w;
	size_t n, i;
	int ret;

	n = cdt_packs_list(f->s, &pc.packs);
	f->sum.packs = n;
	fs.f = f;
	fs.packs = pc.packs;
	fs.n = n;
	ret = cdt_packs_walk_files(f->s, visit_pack_file, &fs);
	if (ret < 0)
		fsck_report(f, CDT_FSCK_UNCHECKED, xstrdup("packs"), 0, "cannot list: %s",
			    cdt_strerror(ret));
	check_midx(f, pc.packs, n);
	/* A remote store's sketches are not fetched: nothing reads them there. */
	if (!cdt_store_remote_url(f->s))
		check_sketches_present(f, pc.packs, n);
	if (!n) {
		free(pc.packs);
		return;
	}
	pc.errs = xcalloc(n, sizeof(*pc.errs));
	pc.whys = xcalloc(n, sizeof(*pc.whys));
	for (i = 0; i < n; i++)
		strbuf_init(&pc.whys[i], 0);
	fsck_progress(f, CDT_FSCK_PHASE_PACKS, 0, n, 0, 1);
	w = cdt_workers_new(f->jobs - 1);
	cdt_workers_run(w, n, check_one_pack, &pc);
	cdt_workers_free(w);
	for (i = 0; i < n; i++) {
		struct fsck_problem *p;

		if (!pc.errs[i])
			continue;
		/* An index that misleads over an intact pack: gc writes it again. */
		if (pc.errs[i] == -CDT_ECORRUPT &&
		    report_unindexed(f, pc.packs[i]->name, pc.whys[i].buf, pc.packs[i]))
			continue;
		p = fsck_report(f, pc.errs[i] == -CDT_ECORRUPT ? CDT_FSCK_PACK_CORRUPT :
				CDT_FSCK_UNCHECKED, xstrfmt("packs/%s", pc.packs[i]->name), 0, "%s",
				pc.whys[i].len ? pc.whys[i].buf : cdt_strerror(pc.errs[i]));
		if (p)
			p->pack = pc.packs[i];
	}
	for (i = 0; i < n; i++)
		strbuf_release(&pc.whys[i]);
	free(pc.whys);
	free(pc.errs);
	free(pc.packs);
}
