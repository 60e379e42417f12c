/* fsck.c: fsck's driver: problems, the names they affect, the summary, what repair asks. */
#include "ops/fsck-internal.h"
#include "format/chunker.h"
#include "format/manifest.h"
#include "format/mpack.h"
#include "format/names.h"
#include "ops/chunks.h"
#include "ops/remote.h"
#include "format/pack.h"
#include "base/util.h"
#include "base/fsutil.h"
#include "base/workers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const struct {
	const char *name;
	unsigned bit;
} kinds[CDT_FSCK_KIND__COUNT] = {
	[CDT_FSCK_CONFIG_CORRUPT] = { "config-corrupt", CDT_FSCK_EXIT_STORE },
	[CDT_FSCK_NAME_CORRUPT] = { "name-corrupt", CDT_FSCK_EXIT_NAME },
	[CDT_FSCK_MANIFEST_MISSING] = { "manifest-missing", CDT_FSCK_EXIT_MANIFEST },
	[CDT_FSCK_MANIFEST_CORRUPT] = { "manifest-corrupt", CDT_FSCK_EXIT_MANIFEST },
	[CDT_FSCK_MANIFEST_LAYOUT] = { "manifest-layout", CDT_FSCK_EXIT_MANIFEST },
	[CDT_FSCK_MANIFEST_CONTENT] = { "manifest-content", CDT_FSCK_EXIT_MANIFEST },
	[CDT_FSCK_CHUNK_MISSING] = { "chunk-missing", CDT_FSCK_EXIT_CHUNK },
	[CDT_FSCK_CHUNK_CORRUPT] = { "chunk-corrupt", CDT_FSCK_EXIT_CHUNK },
	[CDT_FSCK_PACK_CORRUPT] = { "pack-corrupt", CDT_FSCK_EXIT_CHUNK },
	[CDT_FSCK_MIDX_CORRUPT] = { "midx-corrupt", CDT_FSCK_EXIT_CHUNK },
	[CDT_FSCK_SKETCH_CORRUPT] = { "sketch-corrupt", CDT_FSCK_EXIT_CHUNK },
	[CDT_FSCK_REFS_TABLE_CORRUPT] = { "refs-table-corrupt", CDT_FSCK_EXIT_REFS },
	[CDT_FSCK_REFS_MISSING] = { "refs-missing", CDT_FSCK_EXIT_REFS },
	[CDT_FSCK_REFS_STALE] = { "refs-stale", CDT_FSCK_EXIT_REFS },
	[CDT_FSCK_NAMEREF_MISSING] = { "nameref-missing", CDT_FSCK_EXIT_REFS },
	[CDT_FSCK_NAMEREF_CORRUPT] = { "nameref-corrupt", CDT_FSCK_EXIT_REFS },
	[CDT_FSCK_INFO_STALE] = { "info-stale", CDT_FSCK_EXIT_REFS },
	[CDT_FSCK_UNCHECKED] = { "unchecked", CDT_FSCK_EXIT_UNCHECKED },
	[CDT_FSCK_GARBAGE_CHUNK] = { "garbage-chunk", 0 },
	[CDT_FSCK_GARBAGE_MANIFEST] = { "garbage-manifest", 0 },
	[CDT_FSCK_GARBAGE_REF] = { "garbage-ref", 0 },
	[CDT_FSCK_GARBAGE_NAMEREF] = { "garbage-nameref", 0 },
	[CDT_FSCK_GARBAGE_PACK] = { "garbage-pack", 0 },
	[CDT_FSCK_GARBAGE_TMP] = { "garbage-tmp", 0 },
	[CDT_FSCK_GARBAGE_STRAY] = { "garbage-stray", 0 },
};

const char *cdt_fsck_kind_name(enum cdt_fsck_kind kind)
{
	return kinds[kind].name;
}

unsigned cdt_fsck_kind_bit(enum cdt_fsck_kind kind)
{
	return kinds[kind].bit;
}

int cdt_fsck_kind_is_garbage(enum cdt_fsck_kind kind)
{
	return kind >= CDT_FSCK_GARBAGE_CHUNK;
}

const char *cdt_fsck_phase_name(enum cdt_fsck_phase phase)
{
	static const char *const names[] = {
		[CDT_FSCK_PHASE_NAMES] = "reading names",
		[CDT_FSCK_PHASE_MANIFESTS] = "checking manifests",
		[CDT_FSCK_PHASE_OBJECTS] = "listing chunks",
		[CDT_FSCK_PHASE_PACKS] = "checking packs",
		[CDT_FSCK_PHASE_CHUNKS] = "checking chunks",
		[CDT_FSCK_PHASE_CONTENT] = "checking content ids",
		[CDT_FSCK_PHASE_REBUILD] = "rebuilding references",
		[CDT_FSCK_PHASE_REFS] = "checking references",
		[CDT_FSCK_PHASE_NAMEREFS] = "checking name records",
	};
	return names[phase];
}

char *fsck_hex(const struct cdt_id *id)
{
	char hex[CDT_ID_HEXLEN + 1];

	return xstrdup(cdt_id_to_hex(id, hex));
}

void fsck_progress(struct cdt_fsck *f, enum cdt_fsck_phase phase, uint64_t done,
		   uint64_t total, uint64_t bytes, int force)
{
	double now;

	if (!f->opt.progress)
		return;
	now = now_seconds();
	if (!force && now - f->last_progress < 0.1)
		return;
	f->last_progress = now;
	f->opt.progress(phase, done, total, bytes, f->opt.data);
}

static struct fsck_problem *add_item(struct cdt_fsck *f, enum cdt_fsck_kind kind, char *object,
				     uint64_t bytes, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));
static struct fsck_problem *add_item(struct cdt_fsck *f, enum cdt_fsck_kind kind, char *object,
				     uint64_t bytes, const char *fmt, va_list ap)
{
	struct fsck_problem *p;
	struct strbuf sb = STRBUF_INIT;

	f->sum.per_kind[kind]++;
	if (cdt_fsck_kind_is_garbage(kind)) {
		f->sum.garbage++;
		f->sum.garbage_bytes += bytes;
		if (!f->opt.list_garbage) {
			free(object);
			return NULL;
		}
	}
	strbuf_vaddf(&sb, fmt, ap);
	ALLOC_GROW(f->problems, f->nproblems + 1, f->aproblems);
	p = &f->problems[f->nproblems++];
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->object = object;
	p->detail = strbuf_detach(&sb, NULL);
	p->bytes = bytes;
	p->name = FSCK_NONE;
	p->manifest = FSCK_NONE;
	return p;
}

struct fsck_problem *fsck_report(struct cdt_fsck *f, enum cdt_fsck_kind kind, char *object,
				 uint64_t bytes, const char *fmt, ...)
{
	struct fsck_problem *p;
	va_list ap;

	va_start(ap, fmt);
	p = add_item(f, kind, object, bytes, fmt, ap);
	va_end(ap);
	return p;
}

void fsck_manifest_problem(struct cdt_fsck *f, enum cdt_fsck_kind kind, uint32_t m,
			   const char *fmt, ...)
{
	struct fsck_problem *p;
	va_list ap;

	va_start(ap, fmt);
	p = add_item(f, kind, fsck_hex(&f->mans[m].id), 0, fmt, ap);
	va_end(ap);
	if (p)
		p->manifest = m;
}

void fsck_name_problem(struct cdt_fsck *f, enum cdt_fsck_kind kind, uint32_t n,
		       const char *fmt, ...)
{
	struct fsck_problem *p;
	va_list ap;

	va_start(ap, fmt);
	p = add_item(f, kind, xstrfmt("names/%s", f->names[n].name), 0, fmt, ap);
	va_end(ap);
	if (p)
		p->name = n;
}

void fsck_chunk_problem(struct cdt_fsck *f, enum cdt_fsck_kind kind, uint32_t c,
			const char *fmt, ...)
{
	struct fsck_problem *p;
	va_list ap;

	if (f->chunks[c].problem != FSCK_NONE)
		return;
	va_start(ap, fmt);
	p = add_item(f, kind, fsck_hex(&f->chunks[c].id), 0, fmt, ap);
	va_end(ap);
	f->chunks[c].problem = (uint32_t)(p - f->problems);
	f->nchunk_problems++;
}

void fsck_stray(struct cdt_fsck *f, int dirfd, const char *base, const char *why,
		const char *fmt, ...)
{
	struct strbuf path = STRBUF_INIT;
	struct stat st;
	uint64_t bytes = 0;
	va_list ap;

	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
		bytes = (uint64_t)st.st_size;
	va_start(ap, fmt);
	strbuf_vaddf(&path, fmt, ap);
	va_end(ap);
	fsck_report(f, CDT_FSCK_GARBAGE_STRAY, strbuf_detach(&path, NULL), bytes, "%s", why);
}

uint32_t fsck_manifest_index(struct cdt_fsck *f, const struct cdt_id *id)
{
	uint64_t *v = cdt_idset_get(&f->man_ids, id);
	struct fsck_manifest *m;

	if (v)
		return (uint32_t)*v;
	ALLOC_GROW(f->mans, f->nmans + 1, f->amans);
	m = &f->mans[f->nmans];
	memset(m, 0, sizeof(*m));
	m->id = *id;
	m->first_name = FSCK_NONE;
	cdt_idset_put(&f->man_ids, id, f->nmans);
	return (uint32_t)f->nmans++;
}

uint32_t fsck_find_manifest(struct cdt_fsck *f, const struct cdt_id *id)
{
	uint64_t *v = cdt_idset_get(&f->man_ids, id);

	return v ? (uint32_t)*v : FSCK_NONE;
}

/* The slot of id in chunk_slots: where it is, or the empty slot it would take. */
static size_t chunk_slot(const struct cdt_fsck *f, const struct cdt_id *id)
{
	size_t i = (size_t)get_le64(id->b) & (f->chunk_cap - 1);

	while (f->chunk_slots[i] && !cdt_id_eq(&f->chunks[f->chunk_slots[i] - 1].id, id))
		i = (i + 1) & (f->chunk_cap - 1);
	return i;
}

static void grow_chunk_slots(struct cdt_fsck *f)
{
	size_t k;

	free(f->chunk_slots);
	f->chunk_cap = f->chunk_cap ? f->chunk_cap * 2 : 1024;
	f->chunk_slots = xcalloc(f->chunk_cap, sizeof(*f->chunk_slots));
	for (k = 0; k < f->nchunks; k++)
		f->chunk_slots[chunk_slot(f, &f->chunks[k].id)] = (uint32_t)(k + 1);
}

uint32_t fsck_chunk_index(struct cdt_fsck *f, const struct cdt_id *id, uint32_t len, int *added)
{
	struct fsck_chunk *c;
	size_t slot;

	if ((f->nchunks + 1) * 4 > f->chunk_cap * 3)
		grow_chunk_slots(f);
	slot = chunk_slot(f, id);
	*added = !f->chunk_slots[slot];
	if (!*added)
		return f->chunk_slots[slot] - 1;
	if (f->nchunks >= FSCK_NONE - 1)
		die("fsck: more than %u chunks", FSCK_NONE - 1);
	ALLOC_GROW(f->chunks, f->nchunks + 1, f->achunks);
	c = &f->chunks[f->nchunks];
	memset(c, 0, sizeof(*c));
	c->id = *id;
	c->len = len;
	c->last_manifest = FSCK_NONE;
	c->problem = FSCK_NONE;
	f->chunk_slots[slot] = (uint32_t)(f->nchunks + 1);
	return (uint32_t)f->nchunks++;
}

uint32_t fsck_find_chunk(struct cdt_fsck *f, const struct cdt_id *id)
{
	size_t slot;

	if (!f->chunk_cap)
		return FSCK_NONE;
	slot = chunk_slot(f, id);
	return f->chunk_slots[slot] ? f->chunk_slots[slot] - 1 : FSCK_NONE;
}

void fsck_fp_add(uint64_t fp[4], const struct cdt_id *id)
{
	size_t i;

	for (i = 0; i < 4; i++)
		fp[i] += get_le64(id->b + 8 * i);
}

struct cdt_fsck *cdt_fsck_new(struct cdt_store *s, const struct cdt_fsck_options *opt)
{
	struct cdt_fsck *f = xcalloc(1, sizeof(*f));

	f->s = s;
	f->opt = *opt;
	f->chunker = cdt_store_chunker(s);
	f->check_layout = !cdt_store_config_damage(s);
	f->jobs = opt->jobs > 0 ? opt->jobs : cdt_online_cpus();
	return f;
}

void cdt_fsck_free(struct cdt_fsck *f)
{
	size_t i;

	if (!f)
		return;
	for (i = 0; i < f->nnames; i++)
		free(f->names[i].name);
	free(f->names);
	for (i = 0; i < f->nproblems; i++) {
		free(f->problems[i].object);
		free(f->problems[i].detail);
		free(f->problems[i].users);
		free(f->problems[i].reach);
	}
	free(f->problems);
	free(f->mans);
	free(f->chunks);
	free(f->bases);
	cdt_idset_clear(&f->man_ids);
	free(f->chunk_slots);
	free(f);
}

/*
 * The config's copy, when there is one, must be a config of this store:
 * one that is damaged, or another store's, is reported (the next writer
 * writes it again while the config reads). A copy that is whole but not
 * the config's bytes is what a change of the config cut short leaves
 * (gc --recompress killed between the two): no problem, written again by
 * the next writer too. A missing copy (a store made before copies) is no
 * problem either.
 */
static void fsck_check_config_copy(struct cdt_fsck *f)
{
	struct strbuf copy = STRBUF_INIT, why = STRBUF_INIT;
	struct cdt_config cfg;
	int ret;

	ret = read_small_fileat(cdt_store_rootfd(f->s), CDT_CONFIG_COPY, CDT_CONFIG_MAX, &copy);
	if (ret == -ENOENT)
		goto out;
	if (!ret && cdt_config_parse(copy.buf, copy.len, &cfg, &why) < 0) {
		ret = -CDT_ECORRUPT;
	} else if (!ret && strcmp(cfg.store_id, cdt_store_config(f->s)->store_id)) {
		ret = -CDT_ECORRUPT;
		strbuf_addstr(&why, "it is another store's");
	}
	if (ret == -EFBIG || ret == -CDT_ECORRUPT)
		fsck_report(f, CDT_FSCK_CONFIG_CORRUPT, xstrdup(CDT_CONFIG_COPY), 0,
			    "the config's copy is damaged (%s): the next add, gc or repair writes "
			    "it again", why.len ? why.buf : "it is too large");
	else if (ret < 0)
		fsck_report(f, CDT_FSCK_UNCHECKED, xstrdup(CDT_CONFIG_COPY), 0,
			    "cannot be read: %s", cdt_strerror(ret));
out:
	strbuf_release(&copy);
	strbuf_release(&why);
}

int cdt_fsck_check_data(struct cdt_fsck *f)
{
	const char *damage = cdt_store_config_damage(f->s);

	if (damage)
		fsck_report(f, CDT_FSCK_CONFIG_CORRUPT, xstrdup("config"), 0,
			    "%s; no command but fsck can use the store (chunk layouts not checked)",
			    damage);
	else if ((damage = cdt_remote_config_damage(f->s)))
		fsck_report(f, CDT_FSCK_CONFIG_CORRUPT, xstrdup("config"), 0,
			    "%s; its copy %s is whole and stands in for it: the config is put back "
			    "from it where the store is served", damage, CDT_CONFIG_COPY);
	else if ((damage = cdt_store_config_copy_used(f->s)))
		fsck_report(f, CDT_FSCK_CONFIG_CORRUPT, xstrdup("config"), 0,
			    "%s; its copy %s is whole and stands in for it: 'cdt repair' writes "
			    "the config again from it", damage, CDT_CONFIG_COPY);
	else
		fsck_check_config_copy(f);
	fsck_check_names(f);
	fsck_check_manifests(f);
	fsck_check_objects(f);
	fsck_check_packs(f);
	fsck_check_chunk_data(f);
	return 0;
}

int cdt_fsck_check_refs(struct cdt_fsck *f)
{
	if (f->opt.rebuild_refs) {
		int ret;

		fsck_progress(f, CDT_FSCK_PHASE_REBUILD, 0, f->nmans, 0, 1);
		ret = fsck_rebuild_tables(f);
		if (ret < 0)
			return ret;
	}
	fsck_check_refs_dir(f);
	fsck_check_tables(f);
	f->refs_checked = 1;
	fsck_check_namerefs(f);
	fsck_check_info(f);
	fsck_check_tmp(f);
	return 0;
}

/* For each chunk problem, the manifests listing the chunk: one more pass over them. */
static void find_chunk_users(struct cdt_fsck *f)
{
	size_t i;

	if (!f->nchunk_problems)
		return;
	for (i = 0; i < f->nmans; i++) {
		struct cdt_manifest *m = NULL;
		uint64_t j, count;

		if (f->mans[i].state != M_VALID ||
		    cdt_manifest_open(f->s, &f->mans[i].id, &m, NULL) < 0)
			continue;
		count = cdt_manifest_count(m);
		for (j = 0; j < count; j++) {
			struct cdt_manifest_entry e;
			struct fsck_problem *p;
			uint32_t ci;

			if (cdt_manifest_get(m, j, &e) < 0)
				break;
			ci = fsck_find_chunk(f, &e.id);
			if (ci == FSCK_NONE || f->chunks[ci].problem == FSCK_NONE)
				continue;
			p = &f->problems[f->chunks[ci].problem];
			if (p->nusers && p->users[p->nusers - 1] == i)
				continue;
			ALLOC_GROW(p->users, p->nusers + 1, p->ausers);
			p->users[p->nusers++] = (uint32_t)i;
		}
		cdt_manifest_close(m);
	}
}

static void add_manifest_names(struct cdt_fsck *f, uint32_t mi, uint32_t **v, size_t *n,
			       size_t *alloc)
{
	uint32_t ni;

	if (mi == FSCK_NONE)
		return;
	for (ni = f->mans[mi].first_name; ni != FSCK_NONE; ni = f->names[ni].next) {
		ALLOC_GROW(*v, *n + 1, *alloc);
		(*v)[(*n)++] = ni;
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The names a problem affects, as sorted, distinct name indices. */
static size_t problem_names(struct cdt_fsck *f, const struct fsck_problem *p, uint32_t **out)
{
	uint32_t *v = NULL;
	size_t n = 0, alloc = 0, i, j;
	uint64_t k;

	if (p->kind == CDT_FSCK_CONFIG_CORRUPT && cdt_store_config_damage(f->s)) {
		/* No command but fsck opens the store: every name is out of reach. */
		v = xcalloc(f->nnames ? f->nnames : 1, sizeof(*v));
		for (n = 0; n < f->nnames; n++)
			v[n] = (uint32_t)n;
		*out = v;
		return n;
	}
	if (p->name != FSCK_NONE) {
		ALLOC_GROW(v, 1, alloc);
		v[n++] = p->name;
	}
	add_manifest_names(f, p->manifest, &v, &n, &alloc);
	for (i = 0; i < p->nusers; i++)
		add_manifest_names(f, p->users[i], &v, &n, &alloc);
	if (p->kind == CDT_FSCK_MIDX_CORRUPT) {
		/* It reaches the names of the chunks lookups cannot find. */
		for (k = 0; k < f->nchunks; k++) {
			const struct fsck_problem *cp;

			if (!f->chunks[k].unfound || f->chunks[k].problem == FSCK_NONE)
				continue;
			cp = &f->problems[f->chunks[k].problem];
			for (j = 0; !cp->resolved && j < cp->nusers; j++)
				add_manifest_names(f, cp->users[j], &v, &n, &alloc);
		}
	}
	for (i = 0; i < p->nreach; i++) {
		const struct fsck_problem *cp;

		if (f->chunks[p->reach[i]].problem == FSCK_NONE)
			continue;
		cp = &f->problems[f->chunks[p->reach[i]].problem];
		for (j = 0; !cp->resolved && j < cp->nusers; j++)
			add_manifest_names(f, cp->users[j], &v, &n, &alloc);
	}
	if (p->pack) {
		/* A pack's damage reaches the names of its chunks that have no good copy. */
		for (k = 0; k < p->pack->count; k++) {
			const struct fsck_problem *cp;
			struct cdt_id id;
			uint32_t ci;

			cdt_pack_entry(p->pack, k, &id, NULL, NULL, NULL);
			ci = fsck_find_chunk(f, &id);
			if (ci == FSCK_NONE || f->chunks[ci].problem == FSCK_NONE)
				continue;
			cp = &f->problems[f->chunks[ci].problem];
			for (j = 0; !cp->resolved && j < cp->nusers; j++)
				add_manifest_names(f, cp->users[j], &v, &n, &alloc);
		}
	}
	if (n > 1) {
		qsort(v, n, sizeof(*v), cmp_u32);
		for (i = 1, j = 1; i < n; i++)
			if (v[i] != v[j - 1])
				v[j++] = v[i];
		n = j;
	}
	*out = v;
	return n;
}

static int cmp_problems(const void *a, const void *b)
{
	const struct fsck_problem *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return strcmp(x->object, y->object);
}

static int cmp_problem_order(const void *a, const void *b, void *data)
{
	const struct fsck_problem *problems = data;

	return cmp_problems(&problems[*(const uint32_t *)a], &problems[*(const uint32_t *)b]);
}

void cdt_fsck_finish(struct cdt_fsck *f, struct cdt_fsck_summary *sum)
{
	const char **names = NULL;
	size_t nalloc = 0, i, k;
	int pass;

	if (!f->finished) {
		find_chunk_users(f);
		/* Only once the references were read can unlisted chunks be judged. */
		for (i = 0; f->refs_checked && i < f->nchunks; i++)
			if (f->chunks[i].unlisted && !f->chunks[i].kept && !f->chunks[i].base)
				fsck_report(f, CDT_FSCK_GARBAGE_CHUNK, fsck_hex(&f->chunks[i].id),
					    f->chunks[i].disk_size, "no manifest lists it");
		f->finished = 1;
	}
	/*
	 * Sorted for output; chunks point at their problems by index (their
	 * own, whatever its kind, or the problem of a pack that hides them),
	 * so renumber through where each problem went.
	 */
	if (f->nproblems > 1) {
		struct fsck_problem *sorted = xcalloc(f->nproblems, sizeof(*sorted));
		uint32_t *order = xcalloc(f->nproblems, sizeof(*order));
		uint32_t *moved = xcalloc(f->nproblems, sizeof(*moved));

		for (i = 0; i < f->nproblems; i++)
			order[i] = (uint32_t)i;
		qsort_r(order, f->nproblems, sizeof(*order), cmp_problem_order, f->problems);
		for (i = 0; i < f->nproblems; i++) {
			sorted[i] = f->problems[order[i]];
			moved[order[i]] = (uint32_t)i;
		}
		memcpy(f->problems, sorted, f->nproblems * sizeof(*sorted));
		for (i = 0; i < f->nchunks; i++)
			if (f->chunks[i].problem != FSCK_NONE)
				f->chunks[i].problem = moved[f->chunks[i].problem];
		free(sorted);
		free(order);
		free(moved);
	}
	f->sum.problems = 0;
	f->sum.exit_bits = 0;
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < f->nproblems; i++) {
			struct fsck_problem *p = &f->problems[i];
			struct cdt_fsck_item it;
			uint32_t *idx;
			size_t n;

			if (cdt_fsck_kind_is_garbage(p->kind) != pass || p->resolved)
				continue;
			if (!pass) {
				f->sum.problems++;
				f->sum.exit_bits |= cdt_fsck_kind_bit(p->kind);
			}
			if (!f->opt.report)
				continue;
			n = problem_names(f, p, &idx);
			ALLOC_GROW(names, n + 1, nalloc);
			for (k = 0; k < n; k++)
				names[k] = f->names[idx[k]].name;
			free(idx);
			it.kind = p->kind;
			it.object = p->object;
			it.detail = p->detail;
			it.names = names;
			it.nr_names = n;
			it.bytes = p->bytes;
			f->opt.report(&it, f->opt.data);
		}
	}
	free(names);
	if (sum)
		*sum = f->sum;
}

int cdt_fsck_for_each_damaged_chunk(struct cdt_fsck *f, cdt_fsck_chunk_fn fn, void *data)
{
	size_t i;
	int ret;

	for (i = 0; i < f->nchunks; i++) {
		struct fsck_chunk *c = &f->chunks[i];

		if (c->problem == FSCK_NONE || f->problems[c->problem].resolved)
			continue;
		ret = fn(&c->id, c->len, data);
		if (ret)
			return ret;
	}
	return 0;
}

void cdt_fsck_chunk_healed(struct cdt_fsck *f, const struct cdt_id *id)
{
	uint32_t ci = fsck_find_chunk(f, id);

	if (ci != FSCK_NONE && f->chunks[ci].problem != FSCK_NONE)
		f->problems[f->chunks[ci].problem].resolved = 1;
}

/*
 * The problems repair heals by writing the manifest again from the file.
 * (Not one that reads but lists other chunks: its references would stay
 * until --rebuild-refs.)
 */
static int manifest_healable(const struct fsck_problem *p)
{
	return (p->kind == CDT_FSCK_MANIFEST_MISSING || p->kind == CDT_FSCK_MANIFEST_CORRUPT) &&
	       p->manifest != FSCK_NONE && !p->resolved;
}

int cdt_fsck_for_each_damaged_manifest(struct cdt_fsck *f, cdt_fsck_manifest_fn fn, void *data)
{
	size_t i;
	int ret;

	for (i = 0; i < f->nproblems; i++) {
		const struct fsck_problem *p = &f->problems[i];
		const struct fsck_manifest *m;

		if (!manifest_healable(p))
			continue;
		m = &f->mans[p->manifest];
		if (m->first_name == FSCK_NONE)
			continue;
		ret = fn(&m->id, f->names[m->first_name].size, f->names[m->first_name].name, data);
		if (ret)
			return ret;
	}
	return 0;
}

void cdt_fsck_manifest_healed(struct cdt_fsck *f, const struct cdt_id *content)
{
	size_t i;

	for (i = 0; i < f->nproblems; i++) {
		struct fsck_problem *p = &f->problems[i];

		if (manifest_healable(p) && cdt_id_eq(&f->mans[p->manifest].id, content))
			p->resolved = 1;
	}
}

int cdt_fsck_for_each_damaged_pack(struct cdt_fsck *f, cdt_fsck_pack_fn fn, void *data)
{
	size_t i;
	int ret;

	for (i = 0; i < f->nproblems; i++) {
		struct fsck_problem *p = &f->problems[i];

		if ((p->kind != CDT_FSCK_PACK_CORRUPT && p->kind != CDT_FSCK_MIDX_CORRUPT) ||
		    p->resolved)
			continue;
		ret = fn(p->pack, p->object + strlen("packs/"), data);
		if (ret)
			return ret;
	}
	return 0;
}

void cdt_fsck_pack_healed(struct cdt_fsck *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->nproblems; i++) {
		struct fsck_problem *p = &f->problems[i];

		if ((p->kind == CDT_FSCK_PACK_CORRUPT || p->kind == CDT_FSCK_MIDX_CORRUPT ||
		     p->kind == CDT_FSCK_SKETCH_CORRUPT) &&
		    !strcmp(p->object + strlen("packs/"), name))
			p->resolved = 1;
	}
}

void cdt_fsck_mpack_healed(struct cdt_fsck *f, const char *name)
{
	size_t i, skip = strlen("manifests/") + strlen(CDT_MPACK_DIR) + 1;

	for (i = 0; i < f->nproblems; i++) {
		struct fsck_problem *p = &f->problems[i];

		if (p->kind == CDT_FSCK_MANIFEST_CORRUPT && strlen(p->object) > skip &&
		    !strncmp(p->object, "manifests/" CDT_MPACK_DIR "/", skip) &&
		    !strcmp(p->object + skip, name))
			p->resolved = 1;
	}
}

int cdt_fsck_needs_known(struct cdt_fsck *f)
{
	size_t i;

	for (i = 0; i < f->nnames; i++)
		if (f->names[i].damaged)
			return 0;
	for (i = 0; i < f->nmans; i++)
		if ((f->mans[i].first_name != FSCK_NONE || f->mans[i].maybe_named) &&
		    f->mans[i].state != M_VALID)
			return 0;
	return 1;
}

int cdt_fsck_chunk_needed(struct cdt_fsck *f, const struct cdt_id *id)
{
	uint32_t ci = fsck_find_chunk(f, id);

	return ci != FSCK_NONE && !f->chunks[ci].unlisted;
}

void cdt_fsck_for_each_affected_name(struct cdt_fsck *f, cdt_fsck_name_fn fn, void *data)
{
	/* 0: unaffected, 1: only resolved problems, 2: an unresolved one. */
	unsigned char *state = xcalloc(f->nnames ? f->nnames : 1, 1);
	size_t i, k;

	for (i = 0; i < f->nproblems; i++) {
		struct fsck_problem *p = &f->problems[i];
		uint32_t *idx;
		size_t n;

		if (cdt_fsck_kind_is_garbage(p->kind))
			continue;
		n = problem_names(f, p, &idx);
		for (k = 0; k < n; k++)
			state[idx[k]] = MAX(state[idx[k]], p->resolved ? 1 : 2);
		free(idx);
	}
	for (i = 0; i < f->nnames; i++)
		if (state[i])
			fn(f->names[i].name, state[i] == 2, data);
	free(state);
}

/*
 * A remote store is checked through its cache, which holds what was
 * fetched: first every manifest a name needs is fetched, and every chunk
 * no pack index lists is asked for as a loose object, so that the walks
 * of the cache see what the remote store holds for its names. What is
 * missing there stays missing here, and is reported as such.
 */
static int fetch_for_names(const char *name, const struct cdt_name_entry *e, int err,
			   const char *why, void *data)
{
	struct cdt_store *s = data;
	struct cdt_manifest *m;
	struct cdt_manifest_entry me;
	uint64_t i, n;

	/* Opening a manifest the cache lacks fetches it. */
	if (err || !cdt_name_has_content(e) || cdt_manifest_open(s, &e->content, &m, NULL) < 0)
		return 0;	/* the checks find it and say so */
	n = cdt_manifest_count(m);
	for (i = 0; i < n; i++)
		if (cdt_manifest_get(m, i, &me) == 0)
			cdt_chunk_has(s, &me.id);
	cdt_manifest_close(m);
	return 0;
}

int cdt_fsck(struct cdt_store *s, const struct cdt_fsck_options *opt,
	     struct cdt_fsck_summary *sum)
{
	struct cdt_fsck *f;
	int ret;

	if (cdt_store_remote_url(s)) {
		if (opt->rebuild_refs)
			return error_code(-EROFS, "cannot rebuild references of '%s': a store given "
					  "by URL is written only by push and pull",
					  cdt_store_remote_url(s));
		ret = cdt_names_walk(s, NULL, fetch_for_names, s);
		if (ret < 0)
			return error_code(ret, "cannot list the names of '%s': %s",
					  cdt_store_remote_url(s), cdt_strerror(ret));
	}
	f = cdt_fsck_new(s, opt);
	ret = cdt_fsck_check_data(f);
	if (!ret)
		ret = cdt_fsck_check_contents(f);
	/*
	 * Reverse references are not fetched (nothing that reads a remote
	 * store needs them), and the cache's tmp/ and info/ are its own.
	 */
	if (!ret && !cdt_store_remote_url(s))
		ret = cdt_fsck_check_refs(f);
	if (!ret)
		cdt_fsck_finish(f, sum);
	cdt_fsck_free(f);
	return ret;
}
