/* fsck.c: check a whole store: names, manifests, chunks, reverse references; rebuild the references. */
#include "ops/fsck.h"
#include "format/fanout.h"
#include "base/fsutil.h"
#include "base/idset.h"
#include "format/manifest.h"
#include "format/midx.h"
#include "format/namerefs.h"
#include "format/names.h"
#include "ops/objects.h"
#include "format/pack.h"
#include "format/refs.h"
#include "ops/restore.h"
#include "base/util.h"
#include "base/workers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define NONE UINT32_MAX
/* Chunk data read per parallel round. */
#define ROUND_BYTES (16u << 20)

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
	[CDT_FSCK_REFS_TABLE_CORRUPT] = { "refs-table-corrupt", CDT_FSCK_EXIT_REFS },
	[CDT_FSCK_REFS_MISSING] = { "refs-missing", CDT_FSCK_EXIT_REFS },
	[CDT_FSCK_REFS_STALE] = { "refs-stale", CDT_FSCK_EXIT_REFS },
	[CDT_FSCK_NAMEREF_MISSING] = { "nameref-missing", CDT_FSCK_EXIT_REFS },
	[CDT_FSCK_NAMEREF_CORRUPT] = { "nameref-corrupt", CDT_FSCK_EXIT_REFS },
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

struct name_info {
	char *name;
	uint64_t size;		/* from the entry */
	uint32_t manifest;	/* NONE when the entry cannot be read */
	uint32_t next;		/* next name of the same manifest */
	unsigned damaged:1, has_record:1, record_bad:1;
};

/*
 * Live manifests are those a name uses, as gc sees it: a manifest no name
 * uses is garbage whatever it holds, and so are the chunks only it lists.
 */
enum mstate { M_ABSENT, M_VALID, M_CORRUPT, M_DEAD };

struct manifest_info {
	struct cdt_id id;
	uint32_t first_name;	/* names using it, linked through name_info.next */
	uint8_t state;
	uint8_t maybe_named;	/* a name record of an unreadable entry names it */
	uint8_t candidate;	/* its references disagree: check them exactly */
	uint64_t size, disk_size;
	/*
	 * Distinct chunks it lists, and the references found for it, each as
	 * a count and sums of id words: equal sums mean equal sets (ids are
	 * SHA-256 output), so only disagreeing manifests are compared pair by
	 * pair.
	 */
	uint64_t nchunks, nrefs;
	uint64_t fp_man[2], fp_ref[2];
};

struct chunk_info {
	struct cdt_id id;
	uint32_t len;
	uint32_t last_manifest;	/* to count each chunk once per manifest */
	uint32_t problem;	/* NONE or an index into problems */
	uint8_t present;	/* its object file exists */
	/*
	 * In objects/ but listed by no readable manifest: garbage, unless a
	 * reference ties it to a manifest that exists but cannot be read.
	 */
	uint8_t unlisted, kept;
	uint8_t unfound;	/* stored, yet a lookup does not find it */
	uint64_t disk_size;
};

struct problem {
	enum cdt_fsck_kind kind;
	char *object;
	char *detail;
	uint64_t bytes;
	uint32_t name;		/* the name it is about, or NONE */
	uint32_t manifest;	/* the manifest it is about, or NONE */
	uint32_t *users;	/* chunk problems: manifests listing the chunk */
	size_t nusers, ausers;
	struct cdt_pack *pack;	/* pack problems: the pack, if readers see it */
	int resolved;
};

struct cdt_fsck {
	struct cdt_store *s;
	struct cdt_fsck_options opt;
	struct cdt_fsck_summary sum;
	const struct cdt_chunker *chunker;
	int check_layout;

	struct name_info *names;
	size_t nnames, anames;
	struct manifest_info *mans;
	size_t nmans, amans;
	struct cdt_idset man_ids;
	struct chunk_info *chunks;
	size_t nchunks, achunks;
	/*
	 * Open addressing over chunks[]: slot = index + 1, 0 empty. Four
	 * bytes a slot instead of an id set's 41, on a table that holds
	 * every chunk of the store.
	 */
	uint32_t *chunk_slots;
	size_t chunk_cap;
	struct problem *problems;
	size_t nproblems, aproblems;
	size_t nchunk_problems;

	int jobs;
	uint64_t objects_seen;
	double last_progress;
	int refs_checked;
	int finished;
};

/* Hex of an id in a static buffer: for one use at a time. */
static const char *hex_of_buf(const struct cdt_id *id)
{
	static char hex[CDT_ID_HEXLEN + 1];

	return cdt_id_to_hex(id, hex);
}

static char *hex_of(const struct cdt_id *id)
{
	char hex[CDT_ID_HEXLEN + 1];

	return xstrdup(cdt_id_to_hex(id, hex));
}

static void progress(struct cdt_fsck *f, enum cdt_fsck_phase phase, uint64_t done,
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

static struct problem *add_item(struct cdt_fsck *f, enum cdt_fsck_kind kind, char *object,
				uint64_t bytes, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));
static struct problem *add_item(struct cdt_fsck *f, enum cdt_fsck_kind kind, char *object,
				uint64_t bytes, const char *fmt, va_list ap)
{
	struct problem *p;
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
	p->name = NONE;
	p->manifest = NONE;
	return p;
}

/* Record a problem or garbage; takes ownership of `object`. */
__attribute__((format(printf, 5, 6)))
static struct problem *report(struct cdt_fsck *f, enum cdt_fsck_kind kind, char *object,
			      uint64_t bytes, const char *fmt, ...)
{
	struct problem *p;
	va_list ap;

	va_start(ap, fmt);
	p = add_item(f, kind, object, bytes, fmt, ap);
	va_end(ap);
	return p;
}

__attribute__((format(printf, 4, 5)))
static void manifest_problem(struct cdt_fsck *f, enum cdt_fsck_kind kind, uint32_t m,
			     const char *fmt, ...)
{
	struct problem *p;
	va_list ap;

	va_start(ap, fmt);
	p = add_item(f, kind, hex_of(&f->mans[m].id), 0, fmt, ap);
	va_end(ap);
	if (p)
		p->manifest = m;
}

__attribute__((format(printf, 4, 5)))
static void name_problem(struct cdt_fsck *f, enum cdt_fsck_kind kind, uint32_t n,
			 const char *fmt, ...)
{
	struct problem *p;
	va_list ap;

	va_start(ap, fmt);
	p = add_item(f, kind, xstrfmt("names/%s", f->names[n].name), 0, fmt, ap);
	va_end(ap);
	if (p)
		p->name = n;
}

__attribute__((format(printf, 4, 5)))
static void chunk_problem(struct cdt_fsck *f, enum cdt_fsck_kind kind, uint32_t c,
			  const char *fmt, ...)
{
	struct problem *p;
	va_list ap;

	if (f->chunks[c].problem != NONE)
		return;
	va_start(ap, fmt);
	p = add_item(f, kind, hex_of(&f->chunks[c].id), 0, fmt, ap);
	va_end(ap);
	f->chunks[c].problem = (uint32_t)(p - f->problems);
	f->nchunk_problems++;
}

static void stray(struct cdt_fsck *f, int dirfd, const char *base, const char *why,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void stray(struct cdt_fsck *f, int dirfd, const char *base, const char *why,
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
	report(f, CDT_FSCK_GARBAGE_STRAY, strbuf_detach(&path, NULL), bytes, "%s", why);
}

/* Garbage in packs/, with its size. */
static void pack_garbage(struct cdt_fsck *f, int dirfd, const char *base,
			     enum cdt_fsck_kind kind, const char *why)
{
	struct stat st;
	uint64_t bytes = 0;

	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
		bytes = (uint64_t)st.st_size;
	report(f, kind, xstrfmt("packs/%s", base), bytes, "%s", why);
}

static uint32_t manifest_index(struct cdt_fsck *f, const struct cdt_id *id)
{
	uint64_t *v = cdt_idset_get(&f->man_ids, id);
	struct manifest_info *m;

	if (v)
		return (uint32_t)*v;
	ALLOC_GROW(f->mans, f->nmans + 1, f->amans);
	m = &f->mans[f->nmans];
	memset(m, 0, sizeof(*m));
	m->id = *id;
	m->first_name = NONE;
	cdt_idset_put(&f->man_ids, id, f->nmans);
	return (uint32_t)f->nmans++;
}

static uint32_t find_manifest(struct cdt_fsck *f, const struct cdt_id *id)
{
	uint64_t *v = cdt_idset_get(&f->man_ids, id);

	return v ? (uint32_t)*v : NONE;
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

static uint32_t chunk_index(struct cdt_fsck *f, const struct cdt_id *id, uint32_t len, int *added)
{
	struct chunk_info *c;
	size_t slot;

	if ((f->nchunks + 1) * 4 > f->chunk_cap * 3)
		grow_chunk_slots(f);
	slot = chunk_slot(f, id);
	*added = !f->chunk_slots[slot];
	if (!*added)
		return f->chunk_slots[slot] - 1;
	if (f->nchunks >= NONE - 1)
		die("fsck: more than %u chunks", NONE - 1);
	ALLOC_GROW(f->chunks, f->nchunks + 1, f->achunks);
	c = &f->chunks[f->nchunks];
	memset(c, 0, sizeof(*c));
	c->id = *id;
	c->len = len;
	c->last_manifest = NONE;
	c->problem = NONE;
	f->chunk_slots[slot] = (uint32_t)(f->nchunks + 1);
	return (uint32_t)f->nchunks++;
}

static uint32_t find_chunk(struct cdt_fsck *f, const struct cdt_id *id)
{
	size_t slot;

	if (!f->chunk_cap)
		return NONE;
	slot = chunk_slot(f, id);
	return f->chunk_slots[slot] ? f->chunk_slots[slot] - 1 : NONE;
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
	}
	free(f->problems);
	free(f->mans);
	free(f->chunks);
	cdt_idset_clear(&f->man_ids);
	free(f->chunk_slots);
	free(f);
}

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

	stray(w->f, cdt_store_dirfd(w->f->s, w->which), path, why, "%s/%s", w->top, path);
	return 0;
}

static int fanout_visit(const struct cdt_id *id, uint64_t size, void *data)
{
	struct fanout_walk *w = data;

	progress(w->f, w->phase, ++w->seen, 0, 0, 0);
	return w->visit(id, size, w->f);
}

static void walk_fanout(struct cdt_fsck *f, enum cdt_store_dir which, const char *top,
			enum cdt_fsck_phase phase, cdt_fanout_fn visit)
{
	struct fanout_walk w = { f, which, top, phase, 0, visit };
	int ret = cdt_fanout_walk(cdt_store_dirfd(f->s, which), fanout_visit, fanout_stray, &w);

	if (ret < 0)
		report(f, CDT_FSCK_UNCHECKED, xstrdup(top), 0, "cannot list: %s", cdt_strerror(ret));
}

/*
 * Name records, through the walk refs.c owns (gc sweeps from the same one).
 * fn gets each well-formed record; anything else there is stray. With
 * `prune`, directories left empty are removed.
 */
typedef void (*record_fn)(struct cdt_fsck *f, int dirfd, const char *dir,
			  const struct cdt_id *manifest, const char *base, void *data);

struct record_walk {
	struct cdt_fsck *f;
	record_fn fn;
	void *data;
};

static int record_visit(const struct cdt_nameref_visit *v, void *data)
{
	struct record_walk *rw = data;
	char dir[CDT_ID_HEXLEN + 16];

	snprintf(dir, sizeof(dir), "%.*s", (int)(strlen(v->path) - CDT_ID_HEXLEN - 1), v->path);
	rw->fn(rw->f, v->dirfd, dir, &v->manifest, v->file, rw->data);
	return 0;
}

static int record_stray(int dirfd, const char *file, const char *path, const char *why,
			void *data)
{
	struct record_walk *rw = data;

	stray(rw->f, dirfd, file, why, "refs/%s", path);
	return 0;
}

static void record_unlisted(const char *path, int err, void *data)
{
	struct record_walk *rw = data;

	report(rw->f, CDT_FSCK_UNCHECKED, xstrfmt("refs/%s", path), 0, "cannot list: %s",
	       cdt_strerror(err));
}

static void walk_records(struct cdt_fsck *f, int prune, record_fn fn, void *data)
{
	struct record_walk rw = { f, fn, data };
	struct cdt_nameref_walker w = { record_visit, record_stray, record_unlisted, prune, &rw };
	int ret = cdt_nameref_walk(f->s, &w);

	if (ret < 0)
		report(f, CDT_FSCK_UNCHECKED, xstrdup("refs/names"), 0, "cannot list: %s",
		       cdt_strerror(ret));
}

/* Phase 1: names. */
static int visit_name(const char *name, const struct cdt_name_entry *e, int err,
		      const char *why, void *data)
{
	struct cdt_fsck *f = data;
	struct name_info *n;
	uint32_t idx;

	ALLOC_GROW(f->names, f->nnames + 1, f->anames);
	idx = (uint32_t)f->nnames++;
	n = &f->names[idx];
	memset(n, 0, sizeof(*n));
	n->name = xstrdup(name);
	n->manifest = NONE;
	n->next = NONE;
	if (!e) {
		n->damaged = 1;
		name_problem(f, err == -CDT_ECORRUPT ? CDT_FSCK_NAME_CORRUPT : CDT_FSCK_UNCHECKED,
			     idx, "%s", why ? why : cdt_strerror(err));
		return 0;
	}
	n->size = e->size;
	n->manifest = manifest_index(f, &e->content);
	n->next = f->mans[n->manifest].first_name;
	f->mans[n->manifest].first_name = idx;
	progress(f, CDT_FSCK_PHASE_NAMES, f->nnames, 0, 0, 0);
	return 0;
}

/* A record of a name whose entry cannot be read says which manifest it used. */
static void mark_maybe_named(struct cdt_fsck *f, int dirfd, const char *dir,
			     const struct cdt_id *m, const char *base, void *data)
{
	struct cdt_id h;

	(void)dirfd;
	(void)dir;
	if (!cdt_id_from_hex(base, &h) && cdt_idset_has(data, &h))
		f->mans[manifest_index(f, m)].maybe_named = 1;
}

static void check_names(struct cdt_fsck *f)
{
	struct cdt_idset damaged = CDT_IDSET_INIT;
	size_t i;
	int ret = cdt_names_walk(f->s, NULL, visit_name, f);

	if (ret < 0)
		report(f, CDT_FSCK_UNCHECKED, xstrdup("names"), 0, "cannot list names: %s",
		       cdt_strerror(ret));
	f->sum.names = f->nnames;
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
		walk_records(f, 0, mark_maybe_named, &damaged);
	cdt_idset_clear(&damaged);
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
		manifest_problem(f, CDT_FSCK_MANIFEST_LAYOUT, mi,
				 "chunk %llu (at offset %llu) is %u bytes; the store cuts %u-byte blocks",
				 (unsigned long long)i, (unsigned long long)e->offset, e->len,
				 ch->max_size);
	} else if (ch->kind == CDT_CHUNKER_FASTCDC &&
		   (e->len > ch->max_size || (!last && e->len < ch->min_size))) {
		*reported = 1;
		manifest_problem(f, CDT_FSCK_MANIFEST_LAYOUT, mi,
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
	struct manifest_info *mi;
	uint32_t idx = manifest_index(f, id);
	uint64_t i, count;
	int ret, layout_reported = 0, length_reported = 0;

	mi = &f->mans[idx];
	mi->disk_size = size;
	if (mi->first_name == NONE && !mi->maybe_named) {
		mi->state = M_DEAD;
		report(f, CDT_FSCK_GARBAGE_MANIFEST, hex_of(id), size, "no name uses it");
		return 0;
	}
	ret = cdt_manifest_open(f->s, id, &m, &why);
	if (ret == -ENOENT)
		goto out;	/* gone since it was listed */
	f->sum.manifests++;
	if (ret < 0) {
		mi->state = M_CORRUPT;
		manifest_problem(f, ret == -CDT_ECORRUPT ? CDT_FSCK_MANIFEST_CORRUPT : CDT_FSCK_UNCHECKED,
				 idx, "%s", why.len ? why.buf : cdt_strerror(ret));
		goto out;
	}
	mi->state = M_VALID;
	mi->size = cdt_manifest_size(m);
	count = cdt_manifest_count(m);
	for (i = 0; i < count; i++) {
		struct cdt_manifest_entry e;
		struct chunk_info *c;
		uint32_t ci;
		int added;

		ret = cdt_manifest_get(m, i, &e);
		if (ret < 0) {
			/* Re-read and now different: as damaged as any other. */
			f->mans[idx].state = M_CORRUPT;
			manifest_problem(f, CDT_FSCK_MANIFEST_CORRUPT, idx,
					 "entry %llu cannot be read: %s", (unsigned long long)i,
					 cdt_strerror(ret));
			break;
		}
		check_layout(f, idx, i, count, &e, &layout_reported);
		ci = chunk_index(f, &e.id, e.len, &added);
		c = &f->chunks[ci];
		if (!added && c->len != e.len && !length_reported) {
			char hex[CDT_ID_HEXLEN + 1];

			length_reported = 1;
			manifest_problem(f, CDT_FSCK_MANIFEST_LAYOUT, idx,
					 "lists chunk %s as %u bytes, another manifest as %u",
					 cdt_id_to_hex(&e.id, hex), e.len, c->len);
		}
		mi = &f->mans[idx];
		if (c->last_manifest != idx) {
			c->last_manifest = idx;
			mi->nchunks++;
			mi->fp_man[0] += get_le64(e.id.b);
			mi->fp_man[1] += get_le64(e.id.b + 8);
		}
	}
out:
	cdt_manifest_close(m);
	strbuf_release(&why);
	return 0;
}

static void check_manifests(struct cdt_fsck *f)
{
	size_t i;

	walk_fanout(f, CDT_DIR_MANIFESTS, "manifests", CDT_FSCK_PHASE_MANIFESTS, visit_manifest);
	f->sum.chunks = f->nchunks;
	for (i = 0; i < f->nmans; i++) {
		struct manifest_info *m = &f->mans[i];
		uint32_t n;

		if (m->first_name == NONE)
			continue;
		if (m->state == M_ABSENT) {
			manifest_problem(f, CDT_FSCK_MANIFEST_MISSING, (uint32_t)i, "manifest is missing");
			continue;
		}
		if (m->state != M_VALID)
			continue;
		/* cat refuses a name whose entry and manifest disagree on the size. */
		for (n = m->first_name; n != NONE; n = f->names[n].next)
			if (f->names[n].size != m->size)
				name_problem(f, CDT_FSCK_NAME_CORRUPT, n,
					     "entry says %llu bytes, its manifest %llu",
					     (unsigned long long)f->names[n].size,
					     (unsigned long long)m->size);
	}
}

/* Phase 3: what objects/ and packs/ hold. */
static int visit_object(const struct cdt_object_info *o, void *data)
{
	struct cdt_fsck *f = data;
	uint32_t ci = find_chunk(f, &o->id);
	struct chunk_info *c;
	int added;

	progress(f, CDT_FSCK_PHASE_OBJECTS, ++f->objects_seen, 0, 0, 0);
	if (ci == NONE) {
		ci = chunk_index(f, &o->id, 0, &added);
		f->chunks[ci].unlisted = 1;
	}
	c = &f->chunks[ci];
	c->present = 1;
	if (c->unlisted) {
		c->disk_size += o->size;
		return 0;
	}
	/* Without reading: a loose object is a header plus at most its raw bytes. */
	if (!o->pack && f->opt.quick &&
	    (o->size <= CDT_OBJ_HDR || o->size > (uint64_t)CDT_OBJ_HDR + c->len))
		chunk_problem(f, CDT_FSCK_CHUNK_CORRUPT, ci,
			      "object is %llu bytes, impossible for a %u-byte chunk",
			      (unsigned long long)o->size, c->len);
	return 0;
}

static int object_stray(const char *path, const char *why, void *data)
{
	struct cdt_fsck *f = data;

	stray(f, cdt_store_dirfd(f->s, CDT_DIR_OBJECTS), path, why, "objects/%s", path);
	return 0;
}

static void check_objects(struct cdt_fsck *f)
{
	int ret = cdt_objects_walk(f->s, visit_object, object_stray, f);

	if (ret < 0)
		report(f, CDT_FSCK_UNCHECKED, xstrdup("objects"), 0, "cannot list: %s",
		       cdt_strerror(ret));
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
		stray(f, packsfd, CDT_MIDX_NAME, "damaged multi-pack index, ignored by readers",
		      "packs/%s", CDT_MIDX_NAME);
		return;
	}
	by_number = xcalloc(m.npacks ? m.npacks : 1, sizeof(*by_number));
	for (k = 0; k < m.npacks; k++) {
		cdt_midx_pack_name(&m, k, name);
		for (j = 0; j < n && strcmp(packs[j]->name, name); j++)
			;
		if (j == n) {
			stray(f, packsfd, CDT_MIDX_NAME,
			      "stale multi-pack index (it names a pack that is gone), ignored by readers",
			      "packs/%s", CDT_MIDX_NAME);
			goto out;
		}
		by_number[k] = packs[j];
	}
	cdt_hash(m.map, m.map_len - CDT_ID_LEN, &sum);
	if (memcmp(sum.b, m.map + m.map_len - CDT_ID_LEN, CDT_ID_LEN)) {
		report(f, CDT_FSCK_MIDX_CORRUPT, xstrfmt("packs/%s", CDT_MIDX_NAME), 0,
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
		report(f, CDT_FSCK_MIDX_CORRUPT, xstrfmt("packs/%s", CDT_MIDX_NAME), 0,
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
};

static int note_hidden(const struct cdt_pack_object *o, const unsigned char *raw, void *data)
{
	struct hidden_scan *hs = data;
	uint32_t ci = find_chunk(hs->f, &o->id);

	(void)raw;
	if (ci == NONE || hs->f->chunks[ci].present || hs->f->chunks[ci].unlisted)
		return 0;
	ALLOC_GROW(hs->chunks, hs->n + 1, hs->alloc);
	hs->chunks[hs->n++] = ci;
	return 0;
}

static int report_unindexed(struct cdt_fsck *f, const char *name, const char *what,
			    struct cdt_pack *pack)
{
	struct hidden_scan hs = { f, NULL, 0, 0 };
	struct problem *p;
	size_t i;

	if (f->opt.quick || cdt_pack_scan(cdt_store_dirfd(f->s, CDT_DIR_PACKS), name,
					  f->chunker->max_size, note_hidden, &hs, NULL) < 0) {
		free(hs.chunks);
		return 0;
	}
	p = report(f, CDT_FSCK_PACK_CORRUPT, xstrfmt("packs/%s", name), 0,
		   "%s; the pack itself is intact: 'cdt gc' or 'cdt repair' indexes it again from its "
		   "objects (%zu chunk%s that names need %s only there)", what, hs.n,
		   hs.n == 1 ? "" : "s", hs.n == 1 ? "is" : "are");
	/*
	 * Its chunks are not missing, only hidden: they belong to the pack's
	 * problem (whose names are then those of their users), not each to
	 * one of their own.
	 */
	for (i = 0; p && i < hs.n; i++) {
		struct chunk_info *c = &f->chunks[hs.chunks[i]];

		c->present = 1;
		c->unfound = 1;
		if (c->problem == NONE) {
			c->problem = (uint32_t)(p - f->problems);
			f->nchunk_problems++;
		}
	}
	if (p)
		p->pack = pack;
	free(hs.chunks);
	return 1;
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
	struct hidden_scan hs = { f, NULL, 0, 0 };
	struct cdt_pack tmp;
	size_t j;
	int ret;

	switch (kind) {
	case CDT_PACKFILE_MIDX:
	case CDT_PACKFILE_NO_PACK:	/* readers see it: its pack is found missing when checked */
		break;
	case CDT_PACKFILE_STRAY:
		stray(f, packsfd, file, "not a pack or pack index", "packs/%s", file);
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
		if (ret != -ENOENT) {
			char *what = xstrfmt("its index cannot be used (%s)", cdt_strerror(ret));

			if (!report_unindexed(f, pack, what, NULL))
				report(f, CDT_FSCK_PACK_CORRUPT, xstrfmt("packs/%s", pack), 0,
				       "index cannot be used (%s): the pack is hidden from readers",
				       cdt_strerror(ret));
			free(what);
		}
		break;
	case CDT_PACKFILE_NO_INDEX:
		/* Left by an interrupted write, it holds nothing a name needs. */
		if (!f->opt.quick &&
		    cdt_pack_scan(packsfd, pack, f->chunker->max_size, note_hidden, &hs, NULL) == 0 &&
		    hs.n) {
			free(hs.chunks);
			report_unindexed(f, pack, "it has no index", NULL);
			break;
		}
		free(hs.chunks);
		pack_garbage(f, packsfd, file, CDT_FSCK_GARBAGE_PACK,
			     "pack without an index, never read ('cdt gc' indexes it again, "
			     "then removes what no name needs)");
		break;
	}
	return 0;
}

static void check_packs(struct cdt_fsck *f)
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
		report(f, CDT_FSCK_UNCHECKED, xstrdup("packs"), 0, "cannot list: %s", cdt_strerror(ret));
	check_midx(f, pc.packs, n);
	if (!n) {
		free(pc.packs);
		return;
	}
	pc.errs = xcalloc(n, sizeof(*pc.errs));
	pc.whys = xcalloc(n, sizeof(*pc.whys));
	for (i = 0; i < n; i++)
		strbuf_init(&pc.whys[i], 0);
	progress(f, CDT_FSCK_PHASE_PACKS, 0, n, 0, 1);
	w = cdt_workers_new(f->jobs - 1);
	cdt_workers_run(w, n, check_one_pack, &pc);
	cdt_workers_free(w);
	for (i = 0; i < n; i++) {
		struct problem *p;

		if (!pc.errs[i])
			continue;
		/* An index that misleads over an intact pack: gc writes it again. */
		if (pc.errs[i] == -CDT_ECORRUPT &&
		    report_unindexed(f, pc.packs[i]->name, pc.whys[i].buf, pc.packs[i]))
			continue;
		p = report(f, pc.errs[i] == -CDT_ECORRUPT ? CDT_FSCK_PACK_CORRUPT : CDT_FSCK_UNCHECKED,
			   xstrfmt("packs/%s", pc.packs[i]->name), 0, "%s",
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

/* Phase 4: chunk data, read and checked in parallel rounds. */

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
	struct chunk_info *c = &rr->f->chunks[rr->items[i]];
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
	const struct chunk_info *chunks = data;

	return cdt_id_cmp(&chunks[*(const uint32_t *)a].id, &chunks[*(const uint32_t *)b].id);
}

static void check_chunk_data(struct cdt_fsck *f)
{
	struct read_round rr = { f, NULL, NULL, NULL, NULL, NULL };
	struct cdt_workers *w;
	uint32_t *order = NULL;
	size_t n = 0, aorder = 0, i, slots, next;
	uint64_t total = 0;
	int jobs = f->jobs, nreaders, k;

	for (i = 0; i < f->nchunks; i++) {
		struct chunk_info *c = &f->chunks[i];

		if (c->problem != NONE || c->unlisted)
			continue;
		if (!c->present) {
			chunk_problem(f, CDT_FSCK_CHUNK_MISSING, (uint32_t)i, "chunk is missing");
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
	slots = MAX((size_t)4 * (size_t)nreaders, ROUND_BYTES / f->chunker->avg_size);
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
				chunk_problem(f, CDT_FSCK_CHUNK_MISSING, ci,
					      "chunk is stored, but a lookup does not find it");
			} else if (err == -ENOENT) {
				chunk_problem(f, CDT_FSCK_CHUNK_MISSING, ci, "chunk is missing");
			}
			else if (err == DAMAGED_EXTRA_COPY)
				/*
				 * No data is lost: gc packs the good copy and drops
				 * this one. Garbage, so not tied to the chunk's users.
				 */
				report(f, CDT_FSCK_GARBAGE_CHUNK, hex_of(&f->chunks[ci].id), 0,
				       "loose copy is damaged (%s); a good packed copy serves reads",
				       rr.whys[i].buf);
			else if (err)
				chunk_problem(f, CDT_FSCK_CHUNK_CORRUPT, ci, "%s",
					      rr.whys[i].len ? rr.whys[i].buf : cdt_strerror(err));
		}
		next += nr;
		progress(f, CDT_FSCK_PHASE_CHUNKS, f->sum.bytes_read, total, f->sum.bytes_read, 0);
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
	free(order);
}

int cdt_fsck_check_data(struct cdt_fsck *f)
{
	const char *damage = cdt_store_config_damage(f->s);

	if (damage)
		report(f, CDT_FSCK_CONFIG_CORRUPT, xstrdup("config"), 0,
		       "%s; no command but fsck can use the store (chunk layouts not checked)",
		       damage);
	check_names(f);
	check_manifests(f);
	check_objects(f);
	check_packs(f);
	check_chunk_data(f);
	return 0;
}

/*
 * Phase 5: content ids. A manifest is named by the SHA-256 of the file it
 * lists, and add may skip that hash for a file whose chunks are a stored
 * manifest's, trusting its id; so each live manifest's chunks are read
 * again in order and hashed. This costs one more read of every distinct
 * stored file (the sizes of the live manifests, not the store's unique
 * bytes), at about the speed of 'cdt cat'.
 */
struct content_check {
	struct cdt_fsck *f;
	uint64_t base, total;
};

static void content_bad(uint64_t offset, uint64_t len, const struct cdt_id *chunk, int err,
			const char *why, void *data)
{
	/* Damaged chunks were reported by phase 4; without them no id can be computed. */
	(void)offset; (void)len; (void)chunk; (void)err; (void)why; (void)data;
}

static void content_progress(uint64_t done, void *data)
{
	struct content_check *cc = data;

	progress(cc->f, CDT_FSCK_PHASE_CONTENT, cc->base + done, cc->total, cc->base + done, 0);
}

int cdt_fsck_check_contents(struct cdt_fsck *f)
{
	struct content_check cc = { f, 0, 0 };
	struct cdt_name_entry *e;
	struct cdt_restore *r;
	double start = now_seconds();
	size_t i;

	if (f->opt.quick)
		return 0;
	for (i = 0; i < f->nmans; i++)
		if (f->mans[i].state == M_VALID && f->mans[i].first_name != NONE)
			cc.total += f->mans[i].size;
	r = cdt_restore_new(f->s, f->jobs);
	e = xcalloc(1, sizeof(*e));
	for (i = 0; i < f->nmans; i++) {
		struct manifest_info *mi = &f->mans[i];
		struct cdt_restore_check c = { content_bad, content_progress, &cc, NULL, NULL };
		struct cdt_id got;
		int hashed = 0;

		if (mi->state != M_VALID || mi->first_name == NONE)
			continue;
		e->content = mi->id;
		e->size = mi->size;
		cdt_id_to_hex(&mi->id, e->name);
		c.hashed = &hashed;
		c.got = &got;
		cdt_restore_check(r, e, &c);
		cc.base += mi->size;
		if (!hashed)
			continue;
		f->sum.contents++;
		f->sum.content_bytes += mi->size;
		if (!cdt_id_eq(&got, &mi->id)) {
			char hex[CDT_ID_HEXLEN + 1];

			manifest_problem(f, CDT_FSCK_MANIFEST_CONTENT, (uint32_t)i,
					 "its chunks hash to %s, not to its id: its names restore other bytes "
					 "than were stored (add the right file again to replace it, or remove "
					 "the names)", cdt_id_to_hex(&got, hex));
		}
	}
	free(e);
	cdt_restore_free(r);
	f->sum.content_seconds = now_seconds() - start;
	return 0;
}

/*
 * Reference tables, read here on their own terms (refs.h documents the
 * format) so that a bug in the reader cannot hide itself from the checker.
 */
struct rtable {
	char *name;
	const unsigned char *map;
	size_t len;
	uint64_t count;
	int good;		/* shape, order, checksum and name all hold */
};

static const unsigned char *rec_at(const struct rtable *t, uint64_t i)
{
	return t->map + CDT_REFS_HDR + i * CDT_REFS_REC;
}

/* Map a table and check its shape; then, with `full`, everything else. */
static int map_rtable(int dfd, struct rtable *t, int full, struct strbuf *why)
{
	struct stat st;
	void *map;
	int fd = openat(dfd, t->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	uint64_t i;

	if (fd < 0) {
		strbuf_addf(why, "cannot open: %s", cdt_strerror(errno));
		return errno == ELOOP ? -CDT_ECORRUPT : -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		strbuf_addstr(why, "not a regular file");
		return -CDT_ECORRUPT;
	}
	if ((uint64_t)st.st_size < CDT_REFS_HDR + CDT_ID_LEN ||
	    ((uint64_t)st.st_size - CDT_REFS_HDR - CDT_ID_LEN) % CDT_REFS_REC) {
		close(fd);
		strbuf_addf(why, "impossible length (%llu bytes)", (unsigned long long)st.st_size);
		return -CDT_ECORRUPT;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		strbuf_addf(why, "cannot map: %s", cdt_strerror(errno));
		return -errno;
	}
	t->map = map;
	t->len = (size_t)st.st_size;
	t->count = (t->len - CDT_REFS_HDR - CDT_ID_LEN) / CDT_REFS_REC;
	if (memcmp(t->map, CDT_REFS_MAGIC, 4) || t->map[4] != CDT_REFS_VERSION ||
	    t->map[5] || t->map[6] || t->map[7]) {
		strbuf_addstr(why, "bad header");
		return -CDT_ECORRUPT;
	}
	if (get_le64(t->map + 8) != t->count) {
		strbuf_addstr(why, "pair count does not match its length");
		return -CDT_ECORRUPT;
	}
	if (!full)
		return 0;
	{
		/* As written: the pairs, then the header (its count is known last). */
		struct cdt_hasher *h = cdt_hasher_new();
		char hex[CDT_ID_HEXLEN + 1];
		struct cdt_id sum;

		cdt_hasher_update(h, t->map + CDT_REFS_HDR, t->count * CDT_REFS_REC);
		cdt_hasher_update(h, t->map, CDT_REFS_HDR);
		cdt_hasher_final(h, &sum);
		cdt_hasher_free(h);
		if (memcmp(sum.b, t->map + t->len - CDT_ID_LEN, CDT_ID_LEN)) {
			strbuf_addstr(why, "checksum does not match its contents");
			return -CDT_ECORRUPT;
		}
		cdt_id_to_hex(&sum, hex);
		if (strncmp(t->name, hex, CDT_ID_HEXLEN)) {
			strbuf_addstr(why, "name is not its checksum");
			return -CDT_ECORRUPT;
		}
	}
	for (i = 1; i < t->count; i++) {
		if (memcmp(rec_at(t, i - 1), rec_at(t, i), CDT_REFS_REC) >= 0) {
			strbuf_addf(why, "pair %llu is out of order", (unsigned long long)i);
			return -CDT_ECORRUPT;
		}
	}
	t->good = 1;
	return 0;
}

static int is_table_name(const char *n)
{
	size_t len = strlen(n);

	return len == CDT_ID_HEXLEN + 4 && !strcmp(n + CDT_ID_HEXLEN, ".ref") &&
	       strspn(n, "0123456789abcdef") == CDT_ID_HEXLEN;
}

struct tables {
	struct rtable *t;
	size_t nr;
};

static void unmap_tables(struct tables *ts)
{
	size_t i;

	for (i = 0; i < ts->nr; i++) {
		if (ts->t[i].map)
			munmap((void *)ts->t[i].map, ts->t[i].len);
		free(ts->t[i].name);
	}
	free(ts->t);
	ts->t = NULL;
	ts->nr = 0;
}

static int open_chunks_dir(struct cdt_fsck *f)
{
	int fd = openat(cdt_store_dirfd(f->s, CDT_DIR_REFS), "chunks",
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/*
 * Map every table in refs/chunks/. With `check`, report damaged tables and
 * stray files; otherwise keep every table whose shape holds (rebuild reads
 * them for what no manifest can tell).
 */
static int load_tables(struct cdt_fsck *f, int check, struct tables *ts)
{
	struct cdt_dent *ents;
	size_t n, i;
	int dfd, ret;

	ts->t = NULL;
	ts->nr = 0;
	dfd = open_chunks_dir(f);
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	/*
	 * Hold the compaction lock (refs.c) while listing and mapping, so that
	 * no add merges tables between the two; maps outlive the files.
	 */
	while (flock(dfd, LOCK_EX) < 0 && errno == EINTR)
		;
	ret = cdt_list_dir(dfd, ".", &ents, &n);
	if (ret < 0) {
		close(dfd);
		return ret;
	}
	ts->t = xcalloc(n ? n : 1, sizeof(*ts->t));
	for (i = 0; i < n; i++) {
		struct strbuf why = STRBUF_INIT;
		struct rtable *t = &ts->t[ts->nr];

		if (!is_table_name(ents[i].name)) {
			if (check)
				stray(f, dfd, ents[i].name, "not a reference table",
				      "refs/chunks/%s", ents[i].name);
			continue;
		}
		memset(t, 0, sizeof(*t));
		t->name = xstrdup(ents[i].name);
		ret = map_rtable(dfd, t, check, &why);
		if (ret < 0 && check)
			report(f, ret == -CDT_ECORRUPT ? CDT_FSCK_REFS_TABLE_CORRUPT : CDT_FSCK_UNCHECKED,
			       xstrfmt("refs/chunks/%s", t->name), 0, "%s", why.buf);
		strbuf_release(&why);
		if (ret < 0 && !t->map) {
			free(t->name);
			continue;
		}
		if (ret < 0)
			t->good = 0;
		ts->nr++;
	}
	cdt_dents_free(ents, n);
	close(dfd);	/* drops the lock */
	return 0;
}

/* Visit the distinct pairs of the good tables in order (a k-way merge). */
typedef void (*pair_fn)(struct cdt_fsck *f, const unsigned char *rec, void *data);

static void merge_tables(struct cdt_fsck *f, const struct tables *ts, pair_fn fn, void *data)
{
	uint64_t *pos = xcalloc(ts->nr ? ts->nr : 1, sizeof(*pos));
	const unsigned char *last = NULL;

	for (;;) {
		const unsigned char *best = NULL;
		size_t i, bi = 0;

		for (i = 0; i < ts->nr; i++) {
			const unsigned char *r;

			if (!ts->t[i].good || pos[i] >= ts->t[i].count)
				continue;
			r = rec_at(&ts->t[i], pos[i]);
			if (!best || memcmp(r, best, CDT_REFS_REC) < 0) {
				best = r;
				bi = i;
			}
		}
		if (!best)
			break;
		pos[bi]++;
		if (last && !memcmp(last, best, CDT_REFS_REC))
			continue;
		last = best;
		fn(f, best, data);
	}
	free(pos);
}

struct refs_pass {
	struct cdt_idset dead_checked;	/* manifests absent from the walk: value 1 if there now */
	/* Second pass: pairs of manifests whose references disagree. */
	struct { uint32_t m; struct cdt_id c; } *pairs;
	size_t npairs, apairs;
};

static void count_pair(struct cdt_fsck *f, const unsigned char *rec, void *data)
{
	struct refs_pass *rp = data;
	struct cdt_id c, m;
	uint32_t mi;

	memcpy(c.b, rec, CDT_ID_LEN);
	memcpy(m.b, rec + CDT_ID_LEN, CDT_ID_LEN);
	f->sum.pairs++;
	if (f->sum.pairs % 4096 == 0)
		progress(f, CDT_FSCK_PHASE_REFS, f->sum.pairs, 0, 0, 0);
	mi = find_manifest(f, &m);
	if (mi != NONE && f->mans[mi].state == M_VALID) {
		struct manifest_info *mm = &f->mans[mi];

		mm->nrefs++;
		mm->fp_ref[0] += get_le64(c.b);
		mm->fp_ref[1] += get_le64(c.b + 8);
		return;
	}
	if (mi != NONE && f->mans[mi].state == M_DEAD) {
		report(f, CDT_FSCK_GARBAGE_REF, hex_of(&c), CDT_REFS_REC,
		       "reference to manifest %s, which no name uses", hex_of_buf(&m));
		return;
	}
	if (mi != NONE && f->mans[mi].state == M_CORRUPT) {
		/* What a damaged manifest lists is unknown: keep what it referenced. */
		uint32_t ci = find_chunk(f, &c);

		if (ci != NONE)
			f->chunks[ci].kept = 1;
		return;
	}
	{
		/* A manifest added since the walk is not dead. */
		uint64_t *v = cdt_idset_get(&rp->dead_checked, &m);
		char mhex[CDT_ID_HEXLEN + 1];

		if (!v) {
			cdt_idset_put(&rp->dead_checked, &m, cdt_manifest_exists(f->s, &m) == 1);
			v = cdt_idset_get(&rp->dead_checked, &m);
		}
		if (*v)
			return;
		report(f, CDT_FSCK_GARBAGE_REF, hex_of(&c), CDT_REFS_REC,
		       "reference to manifest %s, which does not exist", cdt_id_to_hex(&m, mhex));
	}
}

static void collect_pair(struct cdt_fsck *f, const unsigned char *rec, void *data)
{
	struct refs_pass *rp = data;
	struct cdt_id m;
	uint32_t mi;

	memcpy(m.b, rec + CDT_ID_LEN, CDT_ID_LEN);
	mi = find_manifest(f, &m);
	if (mi == NONE || !f->mans[mi].candidate)
		return;
	ALLOC_GROW(rp->pairs, rp->npairs + 1, rp->apairs);
	rp->pairs[rp->npairs].m = mi;
	memcpy(rp->pairs[rp->npairs].c.b, rec, CDT_ID_LEN);
	rp->npairs++;
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
		manifest_problem(f, CDT_FSCK_UNCHECKED, mi,
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
		manifest_problem(f, CDT_FSCK_REFS_MISSING, mi,
				 "%llu of its %llu chunks %s no reverse reference (first: %s)",
				 (unsigned long long)missing, (unsigned long long)listed.nr,
				 missing == 1 ? "has" : "have", cdt_id_to_hex(&first_missing, hex));
	if (stale)
		manifest_problem(f, CDT_FSCK_REFS_STALE, mi,
				 "%llu reverse reference%s to chunks it does not list (first: %s)",
				 (unsigned long long)stale, stale == 1 ? "" : "s",
				 cdt_id_to_hex(&first_stale, hex));
out:
	cdt_manifest_close(m);
	cdt_idset_clear(&listed);
	cdt_idset_clear(&have);
	strbuf_release(&why);
}

static void check_tables(struct cdt_fsck *f)
{
	struct refs_pass rp;
	struct tables ts;
	size_t i, ncand = 0;
	int ret;

	memset(&rp, 0, sizeof(rp));
	ret = load_tables(f, 1, &ts);
	if (ret < 0) {
		report(f, CDT_FSCK_UNCHECKED, xstrdup("refs/chunks"), 0, "cannot list: %s",
		       cdt_strerror(ret));
		return;
	}
	f->sum.tables = ts.nr;
	merge_tables(f, &ts, count_pair, &rp);
	for (i = 0; i < f->nmans; i++) {
		struct manifest_info *m = &f->mans[i];

		if (m->state == M_VALID &&
		    (m->nrefs != m->nchunks || m->fp_ref[0] != m->fp_man[0] ||
		     m->fp_ref[1] != m->fp_man[1])) {
			m->candidate = 1;
			ncand++;
		}
	}
	if (ncand) {
		size_t start;

		merge_tables(f, &ts, collect_pair, &rp);
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
	unmap_tables(&ts);
}

/*
 * Name records: refs/names/XX/<62 hex manifest>/<64 hex SHA-256 of name>.
 * With `fix` (rebuild), damaged and dead records are removed and missing
 * ones written instead of reported.
 */
struct nameref_walk {
	struct cdt_idset by_hash;	/* SHA-256 of name -> name index */
	int fix;
};

static void visit_record(struct cdt_fsck *f, int dfd, const char *dir, const struct cdt_id *m,
			 const char *base, void *data)
{
	struct nameref_walk *nw = data;
	struct strbuf sb = STRBUF_INIT;
	struct cdt_id h, got;
	uint64_t *v;
	uint32_t ni = NONE, mi = find_manifest(f, m);
	int ret, damaged = 0, live = 0;

	cdt_id_from_hex(base, &h);
	ret = read_small_fileat(dfd, base, CDT_NAME_MAX, &sb);
	if (ret < 0) {
		damaged = 1;
	} else {
		cdt_hash(sb.buf, sb.len, &got);
		damaged = !cdt_id_eq(&got, &h);
	}
	v = cdt_idset_get(&nw->by_hash, &h);
	if (v)
		ni = (uint32_t)*v;
	if (ni != NONE && f->names[ni].damaged)
		goto out;	/* whose it is cannot be told: neither live nor dead */
	live = ni != NONE && mi != NONE && f->names[ni].manifest == mi;
	if (live && !damaged) {
		f->names[ni].has_record = 1;
		goto out;
	}
	if (nw->fix) {
		if (unlinkat(dfd, base, 0) == 0)
			f->sum.namerefs_removed++;
		goto out;
	}
	if (live) {
		f->names[ni].record_bad = 1;
		name_problem(f, CDT_FSCK_NAMEREF_CORRUPT, ni, "name record refs/%s/%s is damaged",
			     dir, base);
	} else {
		report(f, CDT_FSCK_GARBAGE_NAMEREF, xstrfmt("refs/%s/%s", dir, base),
		       ret < 0 ? 0 : sb.len, "%s", damaged ? "damaged record of no live name" :
		       "record of a name that is gone or holds other content");
	}
out:
	strbuf_release(&sb);
}

static void check_namerefs(struct cdt_fsck *f)
{
	struct nameref_walk nw = { CDT_IDSET_INIT, f->opt.rebuild_refs };
	size_t i;
	int ret;

	for (i = 0; i < f->nnames; i++) {
		struct cdt_id h;

		cdt_hash(f->names[i].name, strlen(f->names[i].name), &h);
		cdt_idset_put(&nw.by_hash, &h, i);
	}
	progress(f, CDT_FSCK_PHASE_NAMEREFS, 0, f->nnames, 0, 1);
	walk_records(f, nw.fix, visit_record, &nw);
	for (i = 0; i < f->nnames; i++) {
		struct name_info *n = &f->names[i];

		if (n->damaged || n->has_record || n->record_bad)
			continue;
		if (nw.fix) {
			ret = cdt_nameref_add(f->s, &f->mans[n->manifest].id, n->name);
			if (ret < 0)
				name_problem(f, CDT_FSCK_UNCHECKED, (uint32_t)i,
					     "cannot write its name record: %s", cdt_strerror(ret));
			else
				f->sum.namerefs_added++;
			continue;
		}
		name_problem(f, CDT_FSCK_NAMEREF_MISSING, (uint32_t)i,
			     "no name record for it under manifest %.12s...",
			     hex_of_buf(&f->mans[n->manifest].id));
	}
	cdt_idset_clear(&nw.by_hash);
}

/*
 * Rebuild the chunk tables from the manifests: write fresh tables, make them
 * durable, and only then remove the old ones. Pairs of a manifest that
 * exists but cannot be read are carried over from the old tables: what it
 * lists is unknown, and gc must not take its chunks.
 */
static int write_fresh_tables(struct cdt_fsck *f, const struct tables *old, char ***names,
			      size_t *nnames)
{
	struct cdt_ref_writer *w = cdt_ref_writer_new(f->s);
	const char *const *written;
	size_t i, n;
	int ret = 0;

	for (i = 0; i < f->nmans && !ret; i++) {
		struct cdt_manifest *m = NULL;
		uint64_t j, count;

		if (f->mans[i].state != M_VALID)
			continue;
		ret = cdt_manifest_open(f->s, &f->mans[i].id, &m, NULL);
		if (ret < 0)
			break;
		count = cdt_manifest_count(m);
		for (j = 0; j < count && !ret; j++) {
			struct cdt_manifest_entry e;

			ret = cdt_manifest_get(m, j, &e);
			if (!ret)
				ret = cdt_ref_writer_add(w, &e.id, &f->mans[i].id);
		}
		cdt_manifest_close(m);
		progress(f, CDT_FSCK_PHASE_REBUILD, i + 1, f->nmans, 0, 0);
	}
	for (i = 0; i < old->nr && !ret; i++) {
		uint64_t j;

		for (j = 0; j < old->t[i].count && !ret; j++) {
			const unsigned char *r = rec_at(&old->t[i], j);
			struct cdt_id c, m;
			uint32_t mi;

			memcpy(c.b, r, CDT_ID_LEN);
			memcpy(m.b, r + CDT_ID_LEN, CDT_ID_LEN);
			mi = find_manifest(f, &m);
			if (mi != NONE && f->mans[mi].state == M_CORRUPT)
				ret = cdt_ref_writer_add(w, &c, &m);
		}
	}
	if (!ret)
		ret = cdt_ref_writer_flush(w);
	n = cdt_ref_writer_tables(w, &written);
	*names = xcalloc(n ? n : 1, sizeof(**names));
	for (i = 0; i < n; i++)
		(*names)[i] = xstrdup(written[i]);
	*nnames = n;
	cdt_ref_writer_free(w);
	return ret;
}

static void free_strv(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int rebuild_tables(struct cdt_fsck *f)
{
	struct tables old;
	char **fresh = NULL;
	size_t nfresh = 0, i, j;
	int dfd = -1, ret, round;

	ret = load_tables(f, 0, &old);
	if (ret < 0)
		return error_code(ret, "cannot read the reference tables: %s", cdt_strerror(ret));
	/*
	 * A fresh table that has the name of a damaged old one (same pairs,
	 * rotted bytes) is not written over it: remove the damaged file once
	 * the others are durable, and write again.
	 */
	for (round = 0; round < 2; round++) {
		int redo = 0;

		free_strv(fresh, nfresh);
		ret = write_fresh_tables(f, &old, &fresh, &nfresh);
		if (!ret)
			ret = cdt_store_sync(f->s);
		if (ret < 0) {
			error("cannot write reference tables: %s", cdt_strerror(ret));
			goto out;
		}
		dfd = open_chunks_dir(f);
		for (i = 0; dfd >= 0 && i < nfresh; i++) {
			struct rtable t = { fresh[i], NULL, 0, 0, 0 };
			struct strbuf why = STRBUF_INIT;

			if (map_rtable(dfd, &t, 1, &why) < 0) {
				if (unlinkat(dfd, fresh[i], 0) == 0)
					f->sum.tables_removed++;
				redo = 1;
			}
			if (t.map)
				munmap((void *)t.map, t.len);
			strbuf_release(&why);
		}
		if (!redo)
			break;
		if (dfd >= 0)
			close(dfd);
		dfd = -1;
	}
	if (round == 2) {
		ret = error_code(-EIO, "reference tables in '%s/refs/chunks' do not read back as written",
				  cdt_store_path(f->s));
		goto out;
	}
	f->sum.tables_written = nfresh;
	if (dfd < 0 && nfresh) {
		ret = error_code(dfd, "cannot open '%s/refs/chunks': %s", cdt_store_path(f->s),
				  cdt_strerror(dfd));
		goto out;
	}
	/* The fresh tables are durable: every other table (old, damaged) can go. */
	if (dfd >= 0) {
		struct cdt_dent *ents;
		size_t n;

		ret = cdt_list_dir(dfd, ".", &ents, &n);
		if (ret < 0) {
			error("cannot list '%s/refs/chunks': %s", cdt_store_path(f->s), cdt_strerror(ret));
			goto out;
		}
		for (i = 0; i < n; i++) {
			int keep = !is_table_name(ents[i].name);

			for (j = 0; !keep && j < nfresh; j++)
				keep = !strcmp(ents[i].name, fresh[j]);
			if (keep)
				continue;
			if (unlinkat(dfd, ents[i].name, 0) < 0 && errno != ENOENT) {
				ret = error_code(-errno, "cannot remove 'refs/chunks/%s': %s",
						  ents[i].name, cdt_strerror(errno));
				cdt_dents_free(ents, n);
				goto out;
			}
			f->sum.tables_removed++;
		}
		cdt_dents_free(ents, n);
		if (fsync(dfd) < 0) {
			ret = error_code(-errno, "cannot sync '%s/refs/chunks': %s",
					  cdt_store_path(f->s), cdt_strerror(errno));
			goto out;
		}
	}
	/* Keep lookups cheap: one table. */
	ret = cdt_refs_compact(f->s, 0, NULL, NULL);
	if (ret < 0) {
		error("cannot merge reference tables: %s", cdt_strerror(ret));
		goto out;
	}
	ret = 0;
out:
	if (dfd >= 0)
		close(dfd);
	free_strv(fresh, nfresh);
	unmap_tables(&old);
	return ret;
}

static int tmp_garbage(const char *name, int is_dir, uint64_t bytes, void *data)
{
	struct cdt_fsck *f = data;

	report(f, CDT_FSCK_GARBAGE_TMP, xstrfmt("tmp/%s", name), bytes,
	       "%s left by a writer that did not finish (or is still running)",
	       is_dir ? "directory" : "file");
	return 0;
}

/* The walk gc removes from and stats counts from: they cannot disagree. */
static void check_tmp(struct cdt_fsck *f)
{
	int ret = cdt_tmp_walk(f->s, tmp_garbage, f);

	if (ret < 0)
		report(f, CDT_FSCK_UNCHECKED, xstrdup("tmp"), 0, "cannot list: %s", cdt_strerror(ret));
}

static void check_refs_dir(struct cdt_fsck *f)
{
	int refsfd = cdt_store_dirfd(f->s, CDT_DIR_REFS);
	struct cdt_dent *ents;
	size_t n, i;

	if (cdt_list_dir(refsfd, ".", &ents, &n) < 0)
		return;
	for (i = 0; i < n; i++)
		if (strcmp(ents[i].name, "chunks") && strcmp(ents[i].name, "names"))
			stray(f, refsfd, ents[i].name, "not part of the store format",
			      "refs/%s", ents[i].name);
	cdt_dents_free(ents, n);
}

int cdt_fsck_check_refs(struct cdt_fsck *f)
{
	if (f->opt.rebuild_refs) {
		int ret;

		progress(f, CDT_FSCK_PHASE_REBUILD, 0, f->nmans, 0, 1);
		ret = rebuild_tables(f);
		if (ret < 0)
			return ret;
	}
	check_refs_dir(f);
	check_tables(f);
	f->refs_checked = 1;
	check_namerefs(f);
	check_tmp(f);
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
			struct problem *p;
			uint32_t ci;

			if (cdt_manifest_get(m, j, &e) < 0)
				break;
			ci = find_chunk(f, &e.id);
			if (ci == NONE || f->chunks[ci].problem == NONE)
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

static void add_manifest_names(struct cdt_fsck *f, uint32_t mi, uint32_t **v, size_t *n, size_t *alloc)
{
	uint32_t ni;

	if (mi == NONE)
		return;
	for (ni = f->mans[mi].first_name; ni != NONE; ni = f->names[ni].next) {
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
static size_t problem_names(struct cdt_fsck *f, const struct problem *p, uint32_t **out)
{
	uint32_t *v = NULL;
	size_t n = 0, alloc = 0, i, j;
	uint64_t k;

	if (p->kind == CDT_FSCK_CONFIG_CORRUPT) {
		/* No command but fsck opens the store: every name is out of reach. */
		v = xcalloc(f->nnames ? f->nnames : 1, sizeof(*v));
		for (n = 0; n < f->nnames; n++)
			v[n] = (uint32_t)n;
		*out = v;
		return n;
	}
	if (p->name != NONE) {
		ALLOC_GROW(v, 1, alloc);
		v[n++] = p->name;
	}
	add_manifest_names(f, p->manifest, &v, &n, &alloc);
	for (i = 0; i < p->nusers; i++)
		add_manifest_names(f, p->users[i], &v, &n, &alloc);
	if (p->kind == CDT_FSCK_MIDX_CORRUPT) {
		/* It reaches the names of the chunks lookups cannot find. */
		for (k = 0; k < f->nchunks; k++) {
			const struct problem *cp;

			if (!f->chunks[k].unfound || f->chunks[k].problem == NONE)
				continue;
			cp = &f->problems[f->chunks[k].problem];
			for (j = 0; !cp->resolved && j < cp->nusers; j++)
				add_manifest_names(f, cp->users[j], &v, &n, &alloc);
		}
	}
	if (p->pack) {
		/* A pack's damage reaches the names of its chunks that have no good copy. */
		for (k = 0; k < p->pack->count; k++) {
			const struct problem *cp;
			struct cdt_id id;
			uint32_t ci;

			cdt_pack_entry(p->pack, k, &id, NULL, NULL, NULL);
			ci = find_chunk(f, &id);
			if (ci == NONE || f->chunks[ci].problem == NONE)
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
	const struct problem *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return strcmp(x->object, y->object);
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
			if (f->chunks[i].unlisted && !f->chunks[i].kept)
				report(f, CDT_FSCK_GARBAGE_CHUNK, hex_of(&f->chunks[i].id),
				       f->chunks[i].disk_size, "no manifest lists it");
		f->finished = 1;
	}
	/* Sorted for output; chunks point at their problems by index, so renumber. */
	if (f->nproblems > 1)
		qsort(f->problems, f->nproblems, sizeof(*f->problems), cmp_problems);
	for (i = 0; i < f->nproblems; i++) {
		struct problem *p = &f->problems[i];
		struct cdt_id id;
		uint32_t ci;

		if ((p->kind == CDT_FSCK_CHUNK_MISSING || p->kind == CDT_FSCK_CHUNK_CORRUPT) &&
		    cdt_id_from_hex(p->object, &id) == 0 && (ci = find_chunk(f, &id)) != NONE)
			f->chunks[ci].problem = (uint32_t)i;
	}
	f->sum.problems = 0;
	f->sum.exit_bits = 0;
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < f->nproblems; i++) {
			struct problem *p = &f->problems[i];
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
		struct chunk_info *c = &f->chunks[i];

		if (c->problem == NONE || f->problems[c->problem].resolved)
			continue;
		ret = fn(&c->id, c->len, data);
		if (ret)
			return ret;
	}
	return 0;
}

void cdt_fsck_chunk_healed(struct cdt_fsck *f, const struct cdt_id *id)
{
	uint32_t ci = find_chunk(f, id);

	if (ci != NONE && f->chunks[ci].problem != NONE)
		f->problems[f->chunks[ci].problem].resolved = 1;
}

int cdt_fsck_for_each_damaged_pack(struct cdt_fsck *f, cdt_fsck_pack_fn fn, void *data)
{
	size_t i;
	int ret;

	for (i = 0; i < f->nproblems; i++) {
		struct problem *p = &f->problems[i];

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
		struct problem *p = &f->problems[i];

		if ((p->kind == CDT_FSCK_PACK_CORRUPT || p->kind == CDT_FSCK_MIDX_CORRUPT) &&
		    !strcmp(p->object + strlen("packs/"), name))
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
		if ((f->mans[i].first_name != NONE || f->mans[i].maybe_named) &&
		    f->mans[i].state != M_VALID)
			return 0;
	return 1;
}

int cdt_fsck_chunk_needed(struct cdt_fsck *f, const struct cdt_id *id)
{
	uint32_t ci = find_chunk(f, id);

	return ci != NONE && !f->chunks[ci].unlisted;
}

void cdt_fsck_for_each_affected_name(struct cdt_fsck *f, cdt_fsck_name_fn fn, void *data)
{
	/* 0: unaffected, 1: only resolved problems, 2: an unresolved one. */
	unsigned char *state = xcalloc(f->nnames ? f->nnames : 1, 1);
	size_t i, k;

	for (i = 0; i < f->nproblems; i++) {
		struct problem *p = &f->problems[i];
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

int cdt_fsck(struct cdt_store *s, const struct cdt_fsck_options *opt,
	     struct cdt_fsck_summary *sum)
{
	struct cdt_fsck *f = cdt_fsck_new(s, opt);
	int ret;

	ret = cdt_fsck_check_data(f);
	if (!ret)
		ret = cdt_fsck_check_contents(f);
	if (!ret)
		ret = cdt_fsck_check_refs(f);
	if (!ret)
		cdt_fsck_finish(f, sum);
	cdt_fsck_free(f);
	return ret;
}
