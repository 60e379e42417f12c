/* sketchset.c: the sketch files of every pack, searched as one. */
#include "ops/sketchset.h"
#include "base/util.h"
#include "format/pack.h"
#include "ops/chunks.h"
#include "ops/packset.h"
#include "base/csum-file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <stdlib.h>
#include <string.h>

struct cdt_sketchset {
	struct cdt_store *store;
	struct loaded {
		struct cdt_pack *pack;
		struct cdt_sketch sk;
		int usable;
	} *packs;
	size_t n, alloc;
};

static int loaded(const struct cdt_sketchset *ss, const struct cdt_pack *p)
{
	size_t i;

	for (i = 0; i < ss->n; i++)
		if (ss->packs[i].pack == p)
			return 1;
	return 0;
}

void cdt_sketchset_refresh(struct cdt_sketchset *ss)
{
	int packsfd = cdt_store_dirfd(ss->store, CDT_DIR_PACKS);
	struct cdt_pack **packs;
	size_t n = cdt_packs_list(ss->store, &packs), i;

	for (i = 0; i < n; i++) {
		struct loaded *l;

		if (loaded(ss, packs[i]))
			continue;
		ALLOC_GROW(ss->packs, ss->n + 1, ss->alloc);
		l = &ss->packs[ss->n++];
		l->pack = packs[i];
		l->usable = packs[i]->version >= CDT_PACK_VERSION_FRAMES &&
			    cdt_sketch_open(packsfd, packs[i]->name, packs[i]->count, &l->sk,
					    NULL) == 0;
	}
	free(packs);
}

struct cdt_sketchset *cdt_sketchset_new(struct cdt_store *s)
{
	struct cdt_sketchset *ss = xcalloc(1, sizeof(*ss));

	ss->store = s;
	cdt_sketchset_refresh(ss);
	return ss;
}

void cdt_sketchset_free(struct cdt_sketchset *ss)
{
	size_t i;

	if (!ss)
		return;
	for (i = 0; i < ss->n; i++)
		if (ss->packs[i].usable)
			cdt_sketch_close(&ss->packs[i].sk);
	free(ss->packs);
	free(ss);
}

int cdt_sketchset_find(struct cdt_sketchset *ss, const struct cdt_sketch_sf *sf,
		       int (*ok)(const struct cdt_pack *p, void *data), void *data,
		       struct cdt_pack **pack, uint64_t *entry)
{
	size_t i;
	int k;

	for (k = 0; k < CDT_SKETCH_SF; k++) {
		for (i = 0; i < ss->n; i++) {
			int64_t e;

			if (!ss->packs[i].usable || (ok && !ok(ss->packs[i].pack, data)))
				continue;
			e = cdt_sketch_find(&ss->packs[i].sk, sf->sf[k]);
			if (e >= 0) {
				*pack = ss->packs[i].pack;
				*entry = (uint64_t)e;
				return 1;
			}
		}
	}
	return 0;
}

/* Compute the sketch of every chunk of p stored whole that reads back good, and write it. */
static int rebuild_sketch(struct cdt_store *s, struct cdt_pack *p)
{
	struct cdt_chunk_reader *r = cdt_chunk_reader_new(s);
	unsigned char *raw = xmalloc(cdt_store_chunker(s)->max_size);
	uint64_t *order = cdt_pack_entry_order(p), k;
	struct cdt_sketch_rec *recs = NULL;
	struct cdt_csum_file *f = NULL;
	size_t n = 0, alloc = 0;
	char path[CDT_ID_HEXLEN + 16];
	struct cdt_id sum;
	int ret, j;

	for (k = 0; k < p->count; k++) {
		struct cdt_sketch_sf sf;
		uint32_t len;

		/* Deltas are never bases; a damaged chunk is no base either. */
		if (cdt_chunk_read_base_entry(r, p, order[k], raw, &len, NULL) < 0)
			continue;
		cdt_sketch_compute(raw, len, &sf);
		ALLOC_GROW(recs, n + CDT_SKETCH_SF, alloc);
		for (j = 0; j < CDT_SKETCH_SF; j++) {
			recs[n].sf = sf.sf[j];
			recs[n].entry = (uint32_t)order[k];
			n++;
		}
	}
	cdt_id_from_hex(p->name + 5, &sum);
	ret = cdt_sketch_write(cdt_store_dirfd(s, CDT_DIR_TMP), recs, n, &sum, CDT_CSUM_FSYNC, &f);
	if (!ret) {
		snprintf(path, sizeof(path), "%s.sketch", p->name);
		ret = cdt_csum_file_rename(f, cdt_store_dirfd(s, CDT_DIR_PACKS), path,
					   CDT_CSUM_SYNC_DIR);
	}
	cdt_csum_file_free(f);
	free(recs);
	free(order);
	free(raw);
	cdt_chunk_reader_free(r);
	return ret;
}

struct sketch_fix {
	struct cdt_store *store;
	int dry_run, fixed;
	cdt_sketch_fix_fn fn;
	void *data;
};

static int remove_orphan(const char *file, const char *pack, enum cdt_pack_file kind, void *data)
{
	struct sketch_fix *sf = data;

	if (kind != CDT_PACKFILE_SKETCH_NO_PACK)
		return 0;
	if (!sf->dry_run && unlinkat(cdt_store_dirfd(sf->store, CDT_DIR_PACKS), file, 0) < 0 &&
	    errno != ENOENT)
		return error_code(-errno, "cannot remove 'packs/%s': %s", file, cdt_strerror(errno));
	if (sf->fn)
		sf->fn(pack, CDT_SKETCH_REMOVED, sf->data);
	sf->fixed++;
	return 0;
}

int cdt_sketches_fix(struct cdt_store *s, int dry_run, cdt_sketch_fix_fn fn, void *data)
{
	struct sketch_fix sf = { s, dry_run, 0, fn, data };
	int packsfd = cdt_store_dirfd(s, CDT_DIR_PACKS);
	struct cdt_pack **packs;
	size_t n, i;
	int ret = cdt_packs_walk_files(s, remove_orphan, &sf);

	if (ret < 0)
		return ret;
	if (!cdt_store_config(s)->deltas)
		return sf.fixed;
	n = cdt_packs_list(s, &packs);
	for (i = 0; i < n && !ret; i++) {
		struct cdt_sketch sk;

		if (packs[i]->version < CDT_PACK_VERSION_FRAMES)
			continue;
		ret = cdt_sketch_open(packsfd, packs[i]->name, packs[i]->count, &sk, NULL);
		if (!ret) {
			ret = cdt_sketch_check(&sk, NULL);
			cdt_sketch_close(&sk);
		}
		if (!ret)
			continue;
		ret = dry_run ? 0 : rebuild_sketch(s, packs[i]);
		if (ret < 0) {
			ret = error_code(ret, "cannot write 'packs/%s.sketch': %s", packs[i]->name,
					 cdt_strerror(ret));
			break;
		}
		if (fn)
			fn(packs[i]->name, CDT_SKETCH_REBUILT, data);
		sf.fixed++;
	}
	free(packs);
	return ret < 0 ? ret : sf.fixed;
}
