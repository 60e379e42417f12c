/* fsck-refs.c: fsck's checks of the reference tables, name records, tmp/ and the rest of refs/. */
#include "ops/fsck-internal.h"
#include "base/fsutil.h"
#include "format/manifest.h"
#include "format/namerefs.h"
#include "format/names.h"
#include "format/refs.h"
#include "ops/serverinfo.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct record_walk {
	struct cdt_fsck *f;
	fsck_record_fn fn;
	void *data;
};

static int record_visit(const struct cdt_nameref_visit *v, void *data)
{
	struct record_walk *rw = data;

	rw->fn(rw->f, v, rw->data);
	return 0;
}

static int record_stray(int dirfd, const char *file, const char *path, const char *why,
			void *data)
{
	struct record_walk *rw = data;

	fsck_stray(rw->f, dirfd, file, why, "refs/%s", path);
	return 0;
}

static void record_unlisted(const char *path, int err, void *data)
{
	struct record_walk *rw = data;

	fsck_report(rw->f, CDT_FSCK_UNCHECKED, xstrfmt("refs/%s", path), 0, "cannot list: %s",
		    cdt_strerror(err));
}

/*
 * A table that cannot be used: its records are as good as missing (the
 * names it held are reported without one). Derived data, so garbage: a
 * crash before its batch was synced leaves such a table with no name
 * installed through it.
 */
static void record_bad_table(const char *path, int err, const char *why, void *data)
{
	struct record_walk *rw = data;

	if (err == -CDT_ECORRUPT)
		fsck_report(rw->f, CDT_FSCK_GARBAGE_NAMEREF, xstrfmt("refs/%s", path), 0,
			    "damaged table of name records (%s); its records are not used", why);
	else
		fsck_report(rw->f, CDT_FSCK_UNCHECKED, xstrfmt("refs/%s", path), 0,
			    "cannot read: %s", cdt_strerror(err));
}

void fsck_walk_records(struct cdt_fsck *f, fsck_record_fn fn, void *data)
{
	struct record_walk rw = { f, fn, data };
	struct cdt_nameref_walker w = { record_visit, record_bad_table, record_stray,
					record_unlisted, &rw };
	int ret = cdt_nameref_walk(f->s, &w);

	if (ret < 0)
		fsck_report(f, CDT_FSCK_UNCHECKED, xstrdup("refs/names"), 0, "cannot list: %s",
			    cdt_strerror(ret));
}

/*
 * Reference tables, read through the checked snapshot refs.c takes (every
 * table checked in full, which lookups do not do).
 */
static void bad_table(int dirfd, const char *file, int err, const char *why, void *data)
{
	struct cdt_fsck *f = data;

	if (!err)
		fsck_stray(f, dirfd, file, why, "refs/chunks/%s", file);
	else
		fsck_report(f, err == -CDT_ECORRUPT ? CDT_FSCK_REFS_TABLE_CORRUPT :
			    CDT_FSCK_UNCHECKED, xstrfmt("refs/chunks/%s", file), 0, "%s", why);
}

struct refs_pass {
	struct cdt_fsck *f;
	struct cdt_idset dead_checked;	/* manifests absent from the walk: value 1 if there now */
	/* Second pass: pairs of manifests whose references disagree. */
	struct { uint32_t m; struct cdt_id c; } *pairs;
	size_t npairs, apairs;
};

static int count_pair(const struct cdt_ref_pair *p, void *data)
{
	struct refs_pass *rp = data;
	struct cdt_fsck *f = rp->f;
	const struct cdt_id c = p->chunk, m = p->manifest;
	char mhex[CDT_ID_HEXLEN + 1];
	uint32_t mi;

	f->sum.pairs++;
	if (f->sum.pairs % 4096 == 0)
		fsck_progress(f, CDT_FSCK_PHASE_REFS, f->sum.pairs, 0, 0, 0);
	mi = fsck_find_manifest(f, &m);
	if (mi != FSCK_NONE && f->mans[mi].state == M_VALID) {
		struct fsck_manifest *mm = &f->mans[mi];

		mm->nrefs++;
		fsck_fp_add(mm->fp_ref, &c);
		return 0;
	}
	if (mi != FSCK_NONE && f->mans[mi].state == M_DEAD) {
		fsck_report(f, CDT_FSCK_GARBAGE_REF, fsck_hex(&c), CDT_REFS_REC,
			    "reference to manifest %s, which no name uses",
			    cdt_id_to_hex(&m, mhex));
		return 0;
	}
	if (mi != FSCK_NONE && f->mans[mi].state == M_CORRUPT) {
		/* What a damaged manifest lists is unknown: keep what it referenced. */
		uint32_t ci = fsck_find_chunk(f, &c);

		if (ci != FSCK_NONE)
			f->chunks[ci].kept = 1;
		return 0;
	}
	{
		/* A manifest added since the walk is not dead. */
		uint64_t *v = cdt_idset_get(&rp->dead_checked, &m);

		if (!v) {
			cdt_idset_put(&rp->dead_checked, &m, cdt_manifest_exists(f->s, &m) == 1);
			v = cdt_idset_get(&rp->dead_checked, &m);
		}
		if (*v)
			return 0;
		fsck_report(f, CDT_FSCK_GARBAGE_REF, fsck_hex(&c), CDT_REFS_REC,
			    "reference to manifest %s, which does not exist",
			    cdt_id_to_hex(&m, mhex));
	}
	return 0;
}

static int collect_pair(const struct cdt_ref_pair *p, void *data)
{
	struct refs_pass *rp = data;
	struct cdt_fsck *f = rp->f;
	uint32_t mi = fsck_find_manifest(f, &p->manifest);

	if (mi == FSCK_NONE || !f->mans[mi].candidate)
		return 0;
	ALLOC_GROW(rp->pairs, rp->npairs + 1, rp->apairs);
	rp->pairs[rp->npairs].m = mi;
	rp->pairs[rp->npairs].c = p->chunk;
	rp->npairs++;
	return 0;
}

static int cmp_pair_manifest(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Compare one manifest's chunks with its references, pair by pair. */
static void compare_refs(struct cdt_fsck *f, uint32_t mi, const struct cdt_id *refs, size_t nrefs)
{
	struct cdt_idset listed = CDT_IDSET_INIT, have = CDT_IDSET_INIT;
	struct cdt_manifest *m = NULL;
	struct strbuf why = STRBUF_INIT;
	struct cdt_id first_missing, first_stale;
	uint64_t i, count, missing = 0, stale = 0;
	char hex[CDT_ID_HEXLEN + 1];

	for (i = 0; i < nrefs; i++)
		cdt_idset_add(&have, &refs[i]);
	if (cdt_manifest_open(f->s, &f->mans[mi].id, &m, &why) < 0) {
		fsck_manifest_problem(f, CDT_FSCK_UNCHECKED, mi,
				      "manifest changed while checking its references: %s", why.buf);
		goto out;
	}
	count = cdt_manifest_count(m);
	for (i = 0; i < count; i++) {
		struct cdt_manifest_entry e;

		if (cdt_manifest_get(m, i, &e) < 0)
			break;
		if (!cdt_idset_add(&listed, &e.id))
			continue;
		if (!cdt_idset_has(&have, &e.id) && !missing++)
			first_missing = e.id;
	}
	for (i = 0; i < nrefs; i++)
		if (!cdt_idset_has(&listed, &refs[i]) && !stale++)
			first_stale = refs[i];
	if (missing)
		fsck_manifest_problem(f, CDT_FSCK_REFS_MISSING, mi,
				      "%llu of its %llu chunks %s no reverse reference (first: %s)",
				      (unsigned long long)missing, (unsigned long long)listed.nr,
				      missing == 1 ? "has" : "have",
				      cdt_id_to_hex(&first_missing, hex));
	if (stale)
		fsck_manifest_problem(f, CDT_FSCK_REFS_STALE, mi,
				      "%llu reverse reference%s to chunks it does not list (first: %s)",
				      (unsigned long long)stale, stale == 1 ? "" : "s",
				      cdt_id_to_hex(&first_stale, hex));
out:
	cdt_manifest_close(m);
	cdt_idset_clear(&listed);
	cdt_idset_clear(&have);
	strbuf_release(&why);
}

void fsck_check_tables(struct cdt_fsck *f)
{
	struct refs_pass rp;
	struct cdt_refs *r;
	size_t i, ncand = 0;
	int ret;

	memset(&rp, 0, sizeof(rp));
	rp.f = f;
	ret = cdt_refs_open_checked(f->s, bad_table, f, &r);
	if (ret < 0) {
		fsck_report(f, CDT_FSCK_UNCHECKED, xstrdup("refs/chunks"), 0, "cannot list: %s",
			    cdt_strerror(ret));
		return;
	}
	f->sum.tables = cdt_refs_table_count(r);
	cdt_refs_for_each_pair(r, count_pair, &rp);
	for (i = 0; i < f->nmans; i++) {
		struct fsck_manifest *m = &f->mans[i];

		if (m->state == M_VALID &&
		    (m->nrefs != m->nchunks ||
		     memcmp(m->fp_ref, m->fp_man, sizeof(m->fp_man)))) {
			m->candidate = 1;
			ncand++;
		}
	}
	if (ncand) {
		size_t start;

		cdt_refs_for_each_pair(r, collect_pair, &rp);
		/* Stable enough: pairs of one manifest only need to be together. */
		if (rp.npairs > 1)
			qsort(rp.pairs, rp.npairs, sizeof(*rp.pairs), cmp_pair_manifest);
		for (i = 0; i < f->nmans; i++) {
			struct cdt_id *refs;
			size_t nr = 0, j;

			if (!f->mans[i].candidate)
				continue;
			/* Binary search for this manifest's pairs. */
			{
				size_t lo = 0, hi = rp.npairs;

				while (lo < hi) {
					size_t mid = lo + (hi - lo) / 2;

					if (rp.pairs[mid].m < i)
						lo = mid + 1;
					else
						hi = mid;
				}
				start = lo;
			}
			while (start + nr < rp.npairs && rp.pairs[start + nr].m == i)
				nr++;
			refs = xcalloc(nr ? nr : 1, sizeof(*refs));
			for (j = 0; j < nr; j++)
				refs[j] = rp.pairs[start + j].c;
			compare_refs(f, (uint32_t)i, refs, nr);
			free(refs);
		}
	}
	free(rp.pairs);
	cdt_idset_clear(&rp.dead_checked);
	cdt_refs_close(r);
}

/*
 * Name records (refs/names/, namerefs.h). With `fix` (rebuild), damaged and
 * dead records are dropped and missing ones written instead of reported.
 */
struct nameref_walk {
	struct cdt_fsck *f;
	struct cdt_idset by_hash;	/* SHA-256 of name -> name index */
	int fix;
};

/* Whose record v is: 1 live (and the name marked as having one), 0 dead, -1 cannot tell. */
static int record_live(struct nameref_walk *nw, const struct cdt_nameref_visit *v)
{
	struct cdt_fsck *f = nw->f;
	uint64_t *p = cdt_idset_get(&nw->by_hash, &v->name_hash);
	uint32_t ni = p ? (uint32_t)*p : FSCK_NONE, mi = fsck_find_manifest(f, &v->manifest);

	if (ni != FSCK_NONE && f->names[ni].damaged)
		return -1;	/* whose it is cannot be told: neither live nor dead */
	if (ni == FSCK_NONE && f->names_incomplete)
		return -1;	/* its name may be among those the walk could not read */
	if (ni == FSCK_NONE || mi == FSCK_NONE || f->names[ni].manifest != mi)
		return 0;
	if (v->name)
		f->names[ni].has_record = 1;
	return 1;
}

static void visit_record(struct cdt_fsck *f, const struct cdt_nameref_visit *v, void *data)
{
	struct nameref_walk *nw = data;
	int live = record_live(nw, v);

	if (live < 0 || (live && v->name))
		return;
	if (live) {
		uint32_t ni = (uint32_t)*cdt_idset_get(&nw->by_hash, &v->name_hash);

		f->names[ni].record_bad = 1;
		fsck_name_problem(f, CDT_FSCK_NAMEREF_CORRUPT, ni,
				  "name record refs/%s is damaged", v->path);
	} else if (v->in_table) {
		fsck_report(f, CDT_FSCK_GARBAGE_NAMEREF,
			    xstrfmt("refs/%s (%s)", v->path, quote(v->name)), 0, "%s",
			    "record of a name that is gone or holds other content");
	} else {
		fsck_report(f, CDT_FSCK_GARBAGE_NAMEREF, xstrfmt("refs/%s", v->path), 0, "%s",
			    v->name ? "record of a name that is gone or holds other content" :
			    "damaged record of no live name");
	}
}

/* --rebuild-refs: keep the live, readable records (and those whose name cannot be read). */
static int keep_record(const struct cdt_nameref_visit *v, void *data)
{
	int live = record_live(data, v);

	return live < 0 || (live && v->name);
}

void fsck_check_namerefs(struct cdt_fsck *f)
{
	struct nameref_walk nw = { f, CDT_IDSET_INIT, f->opt.rebuild_refs };
	struct cdt_nameref_writer *w = NULL;
	char hex[CDT_ID_HEXLEN + 1];
	size_t i;
	int ret;

	for (i = 0; i < f->nnames; i++) {
		struct cdt_id h;

		cdt_hash(f->names[i].name, strlen(f->names[i].name), &h);
		cdt_idset_put(&nw.by_hash, &h, i);
	}
	fsck_progress(f, CDT_FSCK_PHASE_NAMEREFS, 0, f->nnames, 0, 1);
	if (nw.fix) {
		uint64_t dropped = 0, bad = 0;

		ret = cdt_nameref_filter(f->s, NULL, keep_record, &nw,
					 CDT_NAMEREF_DROP_BAD | CDT_NAMEREF_CONVERT, &dropped, &bad);
		f->sum.namerefs_removed += dropped + bad;
		if (ret < 0)
			fsck_report(f, CDT_FSCK_UNCHECKED, xstrdup("refs/names"), 0,
				    "cannot rewrite name records: %s", cdt_strerror(ret));
		w = cdt_nameref_writer_new(f->s);
	} else {
		fsck_walk_records(f, visit_record, &nw);
	}
	for (i = 0; i < f->nnames; i++) {
		struct fsck_name *n = &f->names[i];

		if (n->damaged || n->has_record || n->record_bad)
			continue;
		if (w) {
			cdt_nameref_writer_add(w, &f->mans[n->manifest].id, n->name);
			continue;
		}
		fsck_name_problem(f, CDT_FSCK_NAMEREF_MISSING, (uint32_t)i,
				  "no name record for it under manifest %.12s...",
				  cdt_id_to_hex(&f->mans[n->manifest].id, hex));
	}
	if (w) {
		size_t added = cdt_nameref_writer_count(w);

		ret = cdt_nameref_writer_commit(w, 1);
		if (ret < 0)
			fsck_report(f, CDT_FSCK_UNCHECKED, xstrdup("refs/names"), 0,
				    "cannot write %zu name record%s: %s", added,
				    added == 1 ? "" : "s", cdt_strerror(ret));
		else
			f->sum.namerefs_added += added;
		cdt_nameref_writer_free(w);
	}
	cdt_idset_clear(&nw.by_hash);
}

/*
 * --rebuild-refs: refs.c writes the chunk tables again from the pairs of
 * every manifest that can be read, and carries over from the old tables
 * those of a manifest that exists but cannot be read.
 *
 * Every manifest in manifests/, named or not: a manifest present is
 * primary data, and add trusts that one it finds stored has its
 * references (durability.md, I2), so it writes none when it names it.
 * One that no name uses (an add killed before its names, or one whose
 * names were removed) is garbage, and so are its references, until gc
 * removes the manifest and then its pairs; gc decides that from the
 * names alone, never from these tables.
 */
static int fill_manifest(struct cdt_ref_writer *w, struct cdt_fsck *f, uint32_t mi)
{
	struct fsck_manifest *fm = &f->mans[mi];
	struct cdt_manifest *m = NULL;
	uint64_t j, count;
	int ret;

	if (fm->state != M_VALID && fm->state != M_DEAD)
		return 0;
	ret = cdt_manifest_open(f->s, &fm->id, &m, NULL);
	if (ret < 0 && fm->state == M_DEAD) {
		/*
		 * fsck did not read it (garbage is not checked): gone, nothing
		 * to keep; unreadable, what it lists is unknown, and its old
		 * pairs are carried over as a damaged live manifest's are.
		 */
		fm->unread = ret != -ENOENT;
		return 0;
	}
	if (ret < 0)
		return ret;
	count = cdt_manifest_count(m);
	for (j = 0; j < count && !ret; j++) {
		struct cdt_manifest_entry e;

		ret = cdt_manifest_get(m, j, &e);
		if (!ret)
			ret = cdt_ref_writer_add(w, &e.id, &fm->id);
	}
	cdt_manifest_close(m);
	return ret;
}

static int fill_tables(struct cdt_ref_writer *w, void *data)
{
	struct cdt_fsck *f = data;
	size_t i;
	int ret = 0;

	for (i = 0; i < f->nmans && !ret; i++) {
		ret = fill_manifest(w, f, (uint32_t)i);
		fsck_progress(f, CDT_FSCK_PHASE_REBUILD, i + 1, f->nmans, 0, 0);
	}
	return ret;
}

static int carry_pair(const struct cdt_ref_pair *p, void *data)
{
	struct cdt_fsck *f = data;
	uint32_t mi = fsck_find_manifest(f, &p->manifest);

	return mi != FSCK_NONE && (f->mans[mi].state == M_CORRUPT || f->mans[mi].unread);
}

int fsck_rebuild_tables(struct cdt_fsck *f)
{
	struct cdt_refs_rebuild rb = { fill_tables, carry_pair, f, 0, 0 };
	int ret = cdt_refs_rebuild(f->s, &rb);

	f->sum.tables_written = rb.written;
	f->sum.tables_removed += rb.removed;
	return ret;
}

static int tmp_garbage(const char *name, int is_dir, uint64_t bytes, void *data)
{
	struct cdt_fsck *f = data;

	fsck_report(f, CDT_FSCK_GARBAGE_TMP, xstrfmt("tmp/%s", name), bytes,
		    "%s left by a writer that did not finish (or is still running)",
		    is_dir ? "directory" : "file");
	return 0;
}

/* The walk gc removes from and stats counts from: they cannot disagree. */
void fsck_check_tmp(struct cdt_fsck *f)
{
	int ret = cdt_tmp_walk(f->s, tmp_garbage, f);

	if (ret < 0)
		fsck_report(f, CDT_FSCK_UNCHECKED, xstrdup("tmp"), 0, "cannot list: %s",
			    cdt_strerror(ret));
}

static void info_differs(const char *file, const char *what, void *data)
{
	fsck_report(data, CDT_FSCK_INFO_STALE, xstrdup(file), 0, "%s", what);
}

/*
 * info/ (server info) against packs/ and names/: each difference is
 * derived data out of date, which --rebuild-refs writes again first. A
 * failure there is a problem (writing info/ is part of what was asked),
 * even when what it could not replace happens to agree.
 */
void fsck_check_info(struct cdt_fsck *f)
{
	int ret;

	if (f->opt.rebuild_refs && (ret = cdt_serverinfo_rebuild(f->s)) < 0)
		fsck_report(f, CDT_FSCK_INFO_STALE, xstrdup("info"), 0,
			    "cannot be written again: %s", cdt_strerror(ret));
	ret = cdt_serverinfo_check(f->s, info_differs, f);

	if (ret < 0)
		fsck_report(f, CDT_FSCK_UNCHECKED, xstrdup("info"), 0, "cannot be checked: %s",
			    cdt_strerror(ret));
}

void fsck_check_refs_dir(struct cdt_fsck *f)
{
	int refsfd = cdt_store_dirfd(f->s, CDT_DIR_REFS);
	struct cdt_dent *ents;
	size_t n, i;

	if (cdt_list_dir(refsfd, ".", &ents, &n) < 0)
		return;
	for (i = 0; i < n; i++)
		if (strcmp(ents[i].name, "chunks") && strcmp(ents[i].name, "names"))
			fsck_stray(f, refsfd, ents[i].name, "not part of the store format",
				   "refs/%s", ents[i].name);
	cdt_dents_free(ents, n);
}
