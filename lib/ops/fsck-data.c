/* fsck-data.c: fsck's checks of names, manifests, objects, chunk data, content ids (phases 1-5). */
#include "ops/fsck-internal.h"
#include "format/chunker.h"
#include "format/fanout.h"
#include "format/info.h"
#include "format/manifest.h"
#include "format/mpack.h"
#include "format/namerefs.h"
#include "format/names.h"
#include "format/object.h"
#include "format/pack.h"
#include "ops/chunks.h"
#include "ops/packset.h"
#include "ops/restore.h"
#include "base/util.h"
#include "base/workers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>


/* Walking objects/ or manifests/ (cdt_fanout_walk), with what fsck needs around it. */
struct fanout_walk {
	struct cdt_fsck *f;
	enum cdt_store_dir which;
	const char *top;
	enum cdt_fsck_phase phase;
	uint64_t seen;
	cdt_fanout_fn visit;
};

static int fanout_stray(const char *path, const char *why, void *data)
{
	struct fanout_walk *w = data;

	fsck_stray(w->f, cdt_store_dirfd(w->f->s, w->which), path, why, "%s/%s", w->top, path);
	return 0;
}

static int fanout_visit(const struct cdt_id *id, uint64_t size, void *data)
{
	struct fanout_walk *w = data;

	fsck_progress(w->f, w->phase, ++w->seen, 0, 0, 0);
	return w->visit(id, size, w->f);
}

/* 0 once the whole directory is listed, else -errno (reported). */
static int walk_fanout(struct cdt_fsck *f, enum cdt_store_dir which, const char *top,
		       enum cdt_fsck_phase phase, cdt_fanout_fn visit)
{
	struct fanout_walk w = { f, which, top, phase, 0, visit };
	int ret = cdt_fanout_walk(cdt_store_dirfd(f->s, which), fanout_visit, fanout_stray, &w);

	if (ret < 0)
		fsck_report(f, CDT_FSCK_UNCHECKED, xstrdup(top), 0, "cannot list: %s",
			    cdt_strerror(ret));
	return ret;
}

/* Phase 1: names. */
static int visit_name(const char *name, const struct cdt_name_entry *e, int err,
		      const char *why, void *data)
{
	struct cdt_fsck *f = data;
	struct fsck_name *n;
	uint32_t idx;

	f->sum.names++;
	/* Directories and symbolic links are whole in their entries (decode checked them). */
	if (e && !cdt_name_has_content(e))
		return 0;
	ALLOC_GROW(f->names, f->nnames + 1, f->anames);
	idx = (uint32_t)f->nnames++;
	n = &f->names[idx];
	memset(n, 0, sizeof(*n));
	n->name = xstrdup(name);
	n->manifest = FSCK_NONE;
	n->next = FSCK_NONE;
	if (!e) {
		n->damaged = 1;
		if (err != -CDT_ECORRUPT)
			f->names_incomplete = 1;	/* a directory, maybe, and what is under it */
		fsck_name_problem(f, err == -CDT_ECORRUPT ? CDT_FSCK_NAME_CORRUPT :
				  CDT_FSCK_UNCHECKED, idx, "%s", why ? why : cdt_strerror(err));
		return 0;
	}
	n->size = e->size;
	n->manifest = fsck_manifest_index(f, &e->content);
	n->next = f->mans[n->manifest].first_name;
	f->mans[n->manifest].first_name = idx;
	fsck_progress(f, CDT_FSCK_PHASE_NAMES, f->nnames, 0, 0, 0);
	return 0;
}

/* A record of a name whose entry cannot be read says which manifest it used. */
static void mark_maybe_named(struct cdt_fsck *f, const struct cdt_nameref_visit *v, void *data)
{
	uint32_t mi;

	if (!cdt_idset_has(data, &v->name_hash))
		return;
	/* Apart: adding the manifest may move f->mans. */
	mi = fsck_manifest_index(f, &v->manifest);
	f->mans[mi].maybe_named = 1;
}

/* A damaged entry and its problem, for note_copies(). */
struct damaged_name {
	const char *name;
	struct fsck_problem *p;
};

static int cmp_damaged(const void *a, const void *b)
{
	return strcmp(((const struct damaged_name *)a)->name,
		      ((const struct damaged_name *)b)->name);
}

struct copies_seen {
	struct cdt_fsck *f;
	struct damaged_name *v;
	size_t n;
};

/* A cdt_info_copy_fn: a copy repair would write back is said with the damage. */
static int note_copy(const char *name, const struct cdt_name_entry *e, const unsigned char *raw,
		     size_t len, const char *why, void *data)
{
	struct copies_seen *cs = data;
	struct damaged_name key = { name, NULL }, *d;
	struct cdt_manifest *m = NULL;
	char *detail, *prefix;
	int whole;

	(void)raw;
	(void)len;
	(void)why;
	d = bsearch(&key, cs->v, cs->n, sizeof(*cs->v), cmp_damaged);
	if (!e || !d)
		return 0;
	/* As repair-names.c: only a name that comes back whole. */
	whole = !cdt_name_has_content(e) ||
		(cdt_manifest_open(cs->f->s, &e->content, &m, NULL) == 0 &&
		 cdt_manifest_size(m) == e->size);
	cdt_manifest_close(m);
	if (!whole)
		return 0;
	prefix = xstrndup(name, cdt_info_prefix_len(name));
	detail = xstrfmt("%s; cdt repair can restore it from info/names/%s", d->p->detail,
			 quote(prefix));
	free(prefix);
	free(d->p->detail);
	d->p->detail = detail;
	return 0;
}

/* Say of each damaged entry that has a current copy in info/names/ that repair can restore it. */
static void note_copies(struct cdt_fsck *f)
{
	struct copies_seen cs = { f, NULL, 0 };
	struct cdt_info *in;
	const char **names;
	size_t i, alloc = 0;

	for (i = 0; i < f->nproblems; i++) {
		struct fsck_problem *p = &f->problems[i];

		if (p->kind != CDT_FSCK_NAME_CORRUPT || p->name == FSCK_NONE ||
		    !f->names[p->name].damaged)
			continue;
		ALLOC_GROW(cs.v, cs.n + 1, alloc);
		cs.v[cs.n].name = f->names[p->name].name;
		cs.v[cs.n++].p = p;
	}
	if (!cs.n)
		return;
	if (cdt_info_open_check(f->s, &in) == 0) {
		qsort(cs.v, cs.n, sizeof(*cs.v), cmp_damaged);
		names = xmalloc(cs.n * sizeof(*names));
		for (i = 0; i < cs.n; i++)
			names[i] = cs.v[i].name;
		cdt_info_name_copies(in, names, cs.n, note_copy, &cs);
		free(names);
		cdt_info_close(in);
	}
	free(cs.v);
}

void fsck_check_names(struct cdt_fsck *f)
{
	struct cdt_idset damaged = CDT_IDSET_INIT;
	size_t i;
	int ret = cdt_names_walk(f->s, NULL, visit_name, f);

	if (ret < 0) {
		f->names_incomplete = 1;
		fsck_report(f, CDT_FSCK_UNCHECKED, xstrdup("names"), 0, "cannot list names: %s",
			    cdt_strerror(ret));
	}
	/*
	 * The manifest an unreadable entry used stays live (gc refuses to run
	 * then, too): its name records are the only way to tell which it is.
	 */
	for (i = 0; i < f->nnames; i++) {
		struct cdt_id h;

		if (!f->names[i].damaged)
			continue;
		cdt_hash(f->names[i].name, strlen(f->names[i].name), &h);
		cdt_idset_add(&damaged, &h);
	}
	if (damaged.nr)
		fsck_walk_records(f, mark_maybe_named, &damaged);
	cdt_idset_clear(&damaged);
	note_copies(f);
}

/* Phase 2: manifests, and through them the chunks the store must hold. */
static void check_layout(struct cdt_fsck *f, uint32_t mi, uint64_t i, uint64_t count,
			 const struct cdt_manifest_entry *e, int *reported)
{
	const struct cdt_chunker *ch = f->chunker;
	int last = i + 1 == count;

	if (*reported || !f->check_layout)
		return;
	if (ch->kind == CDT_CHUNKER_FIXED && (last ? e->len > ch->max_size : e->len != ch->max_size)) {
		*reported = 1;
		fsck_manifest_problem(f, CDT_FSCK_MANIFEST_LAYOUT, mi,
				      "chunk %llu (at offset %llu) is %u bytes; the store cuts %u-byte blocks",
				      (unsigned long long)i, (unsigned long long)e->offset, e->len,
				      ch->max_size);
	} else if (ch->kind == CDT_CHUNKER_FASTCDC &&
		   (e->len > ch->max_size || (!last && e->len < ch->min_size))) {
		*reported = 1;
		fsck_manifest_problem(f, CDT_FSCK_MANIFEST_LAYOUT, mi,
				      "chunk %llu (at offset %llu) is %u bytes; the store's chunks are %u to %u bytes (only a file's last may be shorter)",
				      (unsigned long long)i, (unsigned long long)e->offset, e->len,
				      ch->min_size, ch->max_size);
	}
}

static int visit_manifest(const struct cdt_id *id, uint64_t size, void *data)
{
	struct cdt_fsck *f = data;
	struct strbuf why = STRBUF_INIT;
	struct cdt_manifest *m = NULL;
	struct fsck_manifest *mi;
	uint32_t idx = fsck_manifest_index(f, id);
	uint64_t i, count;
	int ret, layout_reported = 0, length_reported = 0;

	mi = &f->mans[idx];
	mi->disk_size = size;
	if (mi->first_name == FSCK_NONE && !mi->maybe_named) {
		mi->state = M_DEAD;
		fsck_report(f, CDT_FSCK_GARBAGE_MANIFEST, fsck_hex(id), size, "no name uses it");
		return 0;
	}
	ret = cdt_manifest_open(f->s, id, &m, &why);
	if (ret == -ENOENT)
		goto out;	/* gone since it was listed */
	f->sum.manifests++;
	if (ret < 0) {
		mi->state = M_CORRUPT;
		fsck_manifest_problem(f, ret == -CDT_ECORRUPT ? CDT_FSCK_MANIFEST_CORRUPT :
				      CDT_FSCK_UNCHECKED, idx, "%s",
				      why.len ? why.buf : cdt_strerror(ret));
		goto out;
	}
	mi->state = M_VALID;
	mi->size = cdt_manifest_size(m);
	count = cdt_manifest_count(m);
	for (i = 0; i < count; i++) {
		struct cdt_manifest_entry e;
		struct fsck_chunk *c;
		uint32_t ci;
		int added;

		ret = cdt_manifest_get(m, i, &e);
		if (ret < 0) {
			/* Re-read and now different: as damaged as any other. */
			f->mans[idx].state = M_CORRUPT;
			fsck_manifest_problem(f, CDT_FSCK_MANIFEST_CORRUPT, idx,
					      "entry %llu cannot be read: %s", (unsigned long long)i,
					      cdt_strerror(ret));
			break;
		}
		check_layout(f, idx, i, count, &e, &layout_reported);
		ci = fsck_chunk_index(f, &e.id, e.len, &added);
		c = &f->chunks[ci];
		if (!added && c->len != e.len && !length_reported) {
			char hex[CDT_ID_HEXLEN + 1];

			length_reported = 1;
			fsck_manifest_problem(f, CDT_FSCK_MANIFEST_LAYOUT, idx,
					      "lists chunk %s as %u bytes, another manifest as %u",
					      cdt_id_to_hex(&e.id, hex), e.len, c->len);
		}
		mi = &f->mans[idx];
		if (c->last_manifest != idx) {
			c->last_manifest = idx;
			mi->nchunks++;
			fsck_fp_add(mi->fp_man, &e.id);
		}
	}
out:
	cdt_manifest_close(m);
	strbuf_release(&why);
	return 0;
}

/*
 * A manifest pack: its checksum, then each manifest in it as a loose one
 * is checked (those found loose as well were, and are read loose).
 */
static int visit_mpack(const char *name, const struct cdt_mpack *mp, int err, const char *why,
		       void *data)
{
	struct cdt_fsck *f = data;
	struct strbuf vwhy = STRBUF_INIT;
	uint64_t i;

	if (err) {
		fsck_report(f, err == -CDT_ECORRUPT ? CDT_FSCK_MANIFEST_CORRUPT : CDT_FSCK_UNCHECKED,
			    xstrfmt("manifests/%s/%s", CDT_MPACK_DIR, name), 0, "%s",
			    why && *why ? why : cdt_strerror(err));
		if (err == -CDT_ECORRUPT && f->mpacks_unread != FSCK_MPACK_UNREAD)
			f->mpacks_unread = FSCK_MPACK_DAMAGED;
		else
			f->mpacks_unread = FSCK_MPACK_UNREAD;
		return 0;
	}
	if (cdt_mpack_verify(mp, name, &vwhy) < 0)
		fsck_report(f, CDT_FSCK_MANIFEST_CORRUPT, xstrfmt("manifests/%s/%s", CDT_MPACK_DIR, name),
			    mp->len, "%s", vwhy.buf);
	strbuf_release(&vwhy);
	for (i = 0; i < mp->count; i++) {
		struct cdt_id id;
		uint64_t len;
		uint32_t idx;

		cdt_mpack_entry(mp, i, &id, NULL, &len);
		idx = fsck_manifest_index(f, &id);
		if (f->mans[idx].state != M_ABSENT || f->mans[idx].disk_size)
			continue;
		visit_manifest(&id, len, f);
	}
	return 0;
}

void fsck_check_manifests(struct cdt_fsck *f)
{
	size_t i;
	int ret;

	int listed = !walk_fanout(f, CDT_DIR_MANIFESTS, "manifests", CDT_FSCK_PHASE_MANIFESTS,
				  visit_manifest);

	ret = cdt_mpacks_walk(f->s, visit_mpack, f);
	if (ret < 0) {
		fsck_report(f, CDT_FSCK_UNCHECKED, xstrfmt("manifests/%s", CDT_MPACK_DIR), 0,
			    "cannot list: %s", cdt_strerror(ret));
		listed = 0;
	}
	/* (A listing that failed says so; else a pack not read is the cause.) */
	if (f->mpacks_unread == FSCK_MPACK_UNREAD && listed)
		listed = -1;

	f->sum.chunks = f->nchunks;
	for (i = 0; i < f->nmans; i++) {
		struct fsck_manifest *m = &f->mans[i];
		uint32_t n;

		if (m->first_name == FSCK_NONE)
			continue;
		if (m->state == M_ABSENT && listed != 1) {
			/*
			 * Not seen, and not known to be missing: unknown, as a
			 * damaged one is (--rebuild-refs keeps its references).
			 */
			m->state = M_CORRUPT;
			fsck_manifest_problem(f, CDT_FSCK_UNCHECKED, (uint32_t)i, "%s",
					      listed ? "not checked: a manifest pack that may hold "
					      "it could not be read" :
					      "not checked: manifests/ could not be listed");
			continue;
		}
		if (m->state == M_ABSENT && f->mpacks_unread == FSCK_MPACK_DAMAGED) {
			/* Missing, or in a damaged pack: unreadable either way (repair writes it again). */
			m->state = M_CORRUPT;
			fsck_manifest_problem(f, CDT_FSCK_MANIFEST_CORRUPT, (uint32_t)i,
					      "manifest is not loose nor in a manifest pack that "
					      "can be read");
			continue;
		}
		if (m->state == M_ABSENT) {
			fsck_manifest_problem(f, CDT_FSCK_MANIFEST_MISSING, (uint32_t)i,
					      "manifest is missing");
			continue;
		}
		if (m->state != M_VALID)
			continue;
		/* cat refuses a name whose entry and manifest disagree on the size. */
		for (n = m->first_name; n != FSCK_NONE; n = f->names[n].next)
			if (f->names[n].size != m->size)
				fsck_name_problem(f, CDT_FSCK_NAME_CORRUPT, n,
						  "entry says %llu bytes, its manifest %llu",
						  (unsigned long long)f->names[n].size,
						  (unsigned long long)m->size);
	}
}

/* Phase 3: what objects/ and packs/ hold. */

/*
 * A listed chunk stored as a delta needs its base: the base is no garbage.
 * A delta that cannot be read (an I/O error) leaves its base unknown: the
 * chunk is unchecked, and no chunk is called garbage.
 */
static void note_delta_base(struct cdt_fsck *f, const struct cdt_object_info *o, uint32_t ci)
{
	uint32_t roff, rlen, raw_max = f->chunker->max_size;
	struct strbuf why = STRBUF_INIT;
	struct cdt_delta_info di;
	unsigned char *buf;
	size_t n;
	int ret;

	if (!o->pack || o->pack->version < CDT_PACK_VERSION_FRAMES)
		return;
	cdt_pack_entry_part(o->pack, o->index, &roff, &rlen);
	if (rlen)
		return;
	buf = xmalloc(CDT_OBJ_MAX(raw_max));
	ret = cdt_pack_read(o->pack, cdt_store_dirfd(f->s, CDT_DIR_PACKS), o->index, buf,
			    CDT_OBJ_MAX(raw_max), &n, &why);
	if (ret == 0 && cdt_object_is_delta(buf, n) &&
	    cdt_delta_parse(buf, n, raw_max, &di, NULL) == 0) {
		ALLOC_GROW(f->bases, f->nbases + 1, f->abases);
		f->bases[f->nbases++] = di.base;
	} else if (ret < 0 && ret != -CDT_ECORRUPT) {
		f->bases_unknown = 1;
		if (f->chunks[ci].problem == FSCK_NONE)
			fsck_chunk_problem(f, CDT_FSCK_UNCHECKED, ci,
					   "%s; its base is not known, so no chunk is called garbage",
					   why.len ? why.buf : cdt_strerror(ret));
	}
	strbuf_release(&why);
	free(buf);
}

static int visit_object(const struct cdt_object_info *o, void *data)
{
	struct cdt_fsck *f = data;
	uint32_t ci = fsck_find_chunk(f, &o->id);
	struct fsck_chunk *c;
	int added;

	fsck_progress(f, CDT_FSCK_PHASE_OBJECTS, ++f->objects_seen, 0, 0, 0);
	if (ci == FSCK_NONE) {
		ci = fsck_chunk_index(f, &o->id, 0, &added);
		f->chunks[ci].unlisted = 1;
	}
	c = &f->chunks[ci];
	c->present = 1;
	if (c->unlisted) {
		c->disk_size += o->size;
		return 0;
	}
	note_delta_base(f, o, ci);
	/* Without reading: a loose object is a header plus at most its raw bytes. */
	if (!o->pack && f->opt.quick &&
	    (o->size <= CDT_OBJ_HDR || o->size > (uint64_t)CDT_OBJ_HDR + c->len))
		fsck_chunk_problem(f, CDT_FSCK_CHUNK_CORRUPT, ci,
				   "object is %llu bytes, impossible for a %u-byte chunk",
				   (unsigned long long)o->size, c->len);
	return 0;
}

static int object_stray(const char *path, const char *why, void *data)
{
	struct cdt_fsck *f = data;

	fsck_stray(f, cdt_store_dirfd(f->s, CDT_DIR_OBJECTS), path, why, "objects/%s", path);
	return 0;
}

void fsck_check_objects(struct cdt_fsck *f)
{
	int ret = cdt_objects_walk(f->s, visit_object, object_stray, f);
	int list_err = cdt_packs_list_error(f->s);
	size_t i;

	/* A pack whose index could not be read is left out of the walk, too. */
	if (ret < 0 || list_err < 0 || cdt_packs_index_error(f->s, NULL) < 0)
		f->objects_incomplete = 1;
	/* That of packs/ is said by the check of the packs. */
	if (ret < 0 && ret != list_err)
		fsck_report(f, CDT_FSCK_UNCHECKED, xstrdup("objects"), 0, "cannot list: %s",
			    cdt_strerror(ret));
	for (i = 0; i < f->nbases; i++) {
		uint32_t ci = fsck_find_chunk(f, &f->bases[i]);

		if (ci != FSCK_NONE)
			f->chunks[ci].base = 1;
	}
	/* Any chunk no manifest lists may be the base of a delta that could not be read. */
	for (i = 0; f->bases_unknown && i < f->nchunks; i++)
		if (f->chunks[i].unlisted)
			f->chunks[i].base = 1;
}

/* Phase 4: chunk data, read and checked in parallel rounds. */

/* Why a chunk phase 3 did not see may be stored all the same. */
static void unlisted_why(struct cdt_fsck *f, struct strbuf *sb)
{
	struct strbuf pack = STRBUF_INIT;
	int ret = cdt_packs_index_error(f->s, &pack);

	if (ret < 0 && !cdt_packs_list_error(f->s))
		strbuf_addf(sb, "pack index 'packs/%s.idx' could not be read (%s)", pack.buf,
			    cdt_strerror(ret));
	else
		strbuf_addstr(sb, "objects/ or packs/ could not be listed");
	strbuf_release(&pack);
}

/* A chunk that reads well from a pack while its loose copy is damaged. */
#define DAMAGED_EXTRA_COPY 1

struct read_round {
	struct cdt_fsck *f;
	struct cdt_chunk_reader **readers;
	unsigned char **bufs;
	uint32_t *items;
	int *errs;
	struct strbuf *whys;
};

static void read_one(size_t i, int worker, void *data)
{
	struct read_round *rr = data;
	struct fsck_chunk *c = &rr->f->chunks[rr->items[i]];
	uint32_t len;

	strbuf_reset(&rr->whys[i]);
	rr->errs[i] = cdt_chunk_read(rr->readers[worker], &c->id, c->len, rr->bufs[worker],
				     &len, &rr->whys[i]);
	/* A good read may have skipped a damaged loose copy: say so. */
	if (!rr->errs[i] &&
	    cdt_chunk_read_loose(rr->readers[worker], &c->id, c->len, rr->bufs[worker], &len,
				 &rr->whys[i]) == -CDT_ECORRUPT)
		rr->errs[i] = DAMAGED_EXTRA_COPY;
}

static int cmp_chunk_ids(const void *a, const void *b, void *data)
{
	const struct fsck_chunk *chunks = data;

	return cdt_id_cmp(&chunks[*(const uint32_t *)a].id, &chunks[*(const uint32_t *)b].id);
}

void fsck_check_chunk_data(struct cdt_fsck *f)
{
	struct read_round rr = { f, NULL, NULL, NULL, NULL, NULL };
	struct strbuf unlisted = STRBUF_INIT;
	struct cdt_workers *w;
	uint32_t *order = NULL;
	size_t n = 0, aorder = 0, i, slots, next;
	uint64_t total = 0;
	int jobs = f->jobs, nreaders, k;

	if (f->objects_incomplete)
		unlisted_why(f, &unlisted);
	for (i = 0; i < f->nchunks; i++) {
		struct fsck_chunk *c = &f->chunks[i];

		if (c->problem != FSCK_NONE || c->unlisted)
			continue;
		if (!c->present && f->objects_incomplete) {
			fsck_chunk_problem(f, CDT_FSCK_UNCHECKED, (uint32_t)i, "not checked: %s",
					   unlisted.buf);
			continue;
		}
		if (!c->present) {
			fsck_chunk_problem(f, CDT_FSCK_CHUNK_MISSING, (uint32_t)i,
					   "chunk is missing");
			continue;
		}
		if (f->opt.quick)
			continue;
		ALLOC_GROW(order, n + 1, aorder);
		order[n++] = (uint32_t)i;
		total += c->len;
	}
	if (!n)
		goto out;
	/* In id order, the order of objects/: neighbours on disk are read together. */
	qsort_r(order, n, sizeof(*order), cmp_chunk_ids, f->chunks);
	w = cdt_workers_new(jobs - 1);
	nreaders = cdt_workers_count(w) + 1;
	rr.readers = xcalloc((size_t)nreaders, sizeof(*rr.readers));
	rr.bufs = xcalloc((size_t)nreaders, sizeof(*rr.bufs));
	for (k = 0; k < nreaders; k++) {
		rr.readers[k] = cdt_chunk_reader_new(f->s);
		rr.bufs[k] = xmalloc(f->chunker->max_size);
	}
	slots = MAX((size_t)4 * (size_t)nreaders, CDT_ROUND_BYTES / f->chunker->avg_size);
	rr.errs = xcalloc(slots, sizeof(*rr.errs));
	rr.whys = xcalloc(slots, sizeof(*rr.whys));
	for (i = 0; i < slots; i++)
		strbuf_init(&rr.whys[i], 0);
	for (next = 0; next < n; ) {
		size_t nr = MIN(slots, n - next);

		rr.items = order + next;
		cdt_workers_run(w, nr, read_one, &rr);
		for (i = 0; i < nr; i++) {
			uint32_t ci = order[next + i];
			int err = rr.errs[i];

			f->sum.chunks_read++;
			f->sum.bytes_read += f->chunks[ci].len;
			if (err == -ENOENT && f->chunks[ci].present) {
				/* The walk saw it in a pack: an index misleads the lookup. */
				f->chunks[ci].unfound = 1;
				fsck_chunk_problem(f, CDT_FSCK_CHUNK_MISSING, ci,
						   "chunk is stored, but a lookup does not find it");
			} else if (err == -ENOENT) {
				fsck_chunk_problem(f, CDT_FSCK_CHUNK_MISSING, ci,
						   "chunk is missing");
			}
			else if (err == DAMAGED_EXTRA_COPY)
				/*
				 * No data is lost: gc packs the good copy and drops
				 * this one. Garbage, so not tied to the chunk's users.
				 */
				fsck_report(f, CDT_FSCK_GARBAGE_CHUNK,
					    fsck_hex(&f->chunks[ci].id), 0,
					    "loose copy is damaged (%s); a good packed copy serves "
					    "reads", rr.whys[i].buf);
			else if (err)
				/* An I/O error says nothing of the chunk: it stays unchecked. */
				fsck_chunk_problem(f, err == -CDT_ECORRUPT ? CDT_FSCK_CHUNK_CORRUPT :
						   CDT_FSCK_UNCHECKED, ci, "%s",
						   rr.whys[i].len ? rr.whys[i].buf :
						   cdt_strerror(err));
		}
		next += nr;
		/* The last round always: a phase is seen to finish. */
		fsck_progress(f, CDT_FSCK_PHASE_CHUNKS, f->sum.bytes_read, total,
			      f->sum.bytes_read, next >= n);
	}
	cdt_workers_free(w);
	for (k = 0; k < nreaders; k++) {
		cdt_chunk_reader_free(rr.readers[k]);
		free(rr.bufs[k]);
	}
	for (i = 0; i < slots; i++)
		strbuf_release(&rr.whys[i]);
	free(rr.readers);
	free(rr.bufs);
	free(rr.errs);
	free(rr.whys);
out:
	strbuf_release(&unlisted);
	free(order);
}

/*
 * Phase 5: content ids. A manifest is named by the content id of the file it
 * lists, and add may skip that hash for a file whose chunks are a stored
 * manifest's, trusting its id; so each live manifest's chunks are read
 * again in order and hashed. This costs one more read of every distinct
 * stored file (the sizes of the live manifests, not the store's unique
 * bytes), at about the speed of 'cdt cat'.
 */
struct content_check {
	struct cdt_fsck *f;
	uint64_t base, total;
	/* The first read of this manifest that failed, unless phase 4 reported its chunk. */
	struct strbuf why;
};

static void content_bad(uint64_t offset, uint64_t len, const struct cdt_id *chunk, int err,
			const char *why, void *data)
{
	struct content_check *cc = data;
	char hex[CDT_ID_HEXLEN + 1];
	uint32_t ci;

	(void)offset; (void)len; (void)err;
	if (cc->why.len)
		return;
	/*
	 * Damaged chunks were reported by phase 4; without them no id can
	 * be computed. A read that fails only now (an I/O error, the
	 * manifest or a chunk gone since) leaves the id unchecked, and says so.
	 */
	if (!chunk) {
		strbuf_addstr(&cc->why, why);
		return;
	}
	ci = fsck_find_chunk(cc->f, chunk);
	if (ci != FSCK_NONE && cc->f->chunks[ci].problem != FSCK_NONE)
		return;
	strbuf_addf(&cc->why, "chunk %s: %s", cdt_id_to_hex(chunk, hex), why);
}

static void content_progress(uint64_t done, void *data)
{
	struct content_check *cc = data;

	fsck_progress(cc->f, CDT_FSCK_PHASE_CONTENT, cc->base + done, cc->total,
		      cc->base + done, 0);
}

int cdt_fsck_check_contents(struct cdt_fsck *f)
{
	struct content_check cc = { f, 0, 0, STRBUF_INIT };
	struct cdt_name_entry *e;
	struct cdt_restore *r;
	double start = now_seconds();
	size_t i;

	if (f->opt.quick)
		return 0;
	for (i = 0; i < f->nmans; i++)
		if (f->mans[i].state == M_VALID && f->mans[i].first_name != FSCK_NONE)
			cc.total += f->mans[i].size;
	r = cdt_restore_new(f->s, f->jobs);
	e = xcalloc(1, sizeof(*e));
	for (i = 0; i < f->nmans; i++) {
		struct fsck_manifest *mi = &f->mans[i];
		struct cdt_restore_check c = { content_bad, content_progress, &cc, NULL, NULL };
		struct cdt_id got;
		int hashed = 0;

		if (mi->state != M_VALID || mi->first_name == FSCK_NONE)
			continue;
		e->content = mi->id;
		e->size = mi->size;
		cdt_id_to_hex(&mi->id, e->name);
		c.hashed = &hashed;
		c.got = &got;
		strbuf_reset(&cc.why);
		cdt_restore_check(r, e, &c);
		cc.base += mi->size;
		if (!hashed) {
			if (cc.why.len)
				fsck_manifest_problem(f, CDT_FSCK_UNCHECKED, (uint32_t)i,
						      "content id not checked: %s", cc.why.buf);
			continue;
		}
		f->sum.contents++;
		f->sum.content_bytes += mi->size;
		if (!cdt_id_eq(&got, &mi->id)) {
			char hex[CDT_ID_HEXLEN + 1];

			fsck_manifest_problem(f, CDT_FSCK_MANIFEST_CONTENT, (uint32_t)i,
					      "its chunks hash to %s, not to its id: its names restore other bytes "
					      "than were stored (add the right file again to replace it, or remove "
					      "the names)", cdt_id_to_hex(&got, hex));
		}
	}
	free(e);
	strbuf_release(&cc.why);
	cdt_restore_free(r);
	f->sum.content_seconds = now_seconds() - start;
	return 0;
}
