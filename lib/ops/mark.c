/* mark.c: mark what the live names need, from names/ and the manifests they use. */
#include "ops/mark.h"
#include "format/fanout.h"
#include "format/manifest.h"
#include "format/names.h"
#include "format/object.h"
#include "format/pack.h"
#include "ops/packset.h"
#include "base/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void mark_entry(struct cdt_live *l, struct cdt_pack *p, uint64_t k, int *seen);

static int bit_test(const unsigned char *bits, uint64_t i)
{
	return bits && (bits[i / 8] >> (i % 8)) & 1;
}

int cdt_live_packed(const struct cdt_pack *p, uint64_t i)
{
	return bit_test(p->mark, i);
}

static int cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, CDT_ID_LEN);
}

/*
 * Note every chunk that more than one pack holds, a first byte of the ids
 * at a time (every index is sorted): a pass over the indexes, with the ids
 * of one first byte in memory.
 */
static void find_dups(struct cdt_live *l)
{
	struct cdt_pack **packs;
	size_t n = cdt_packs_list(l->store, &packs), i, nr, alloc = 0;
	uint64_t *pos = xcalloc(n + 1, sizeof(*pos));
	struct cdt_id *ids = NULL;
	unsigned b;

	for (b = 0; b < 256 && !l->dups_all; b++) {
		nr = 0;
		for (i = 0; i < n; i++) {
			for (; pos[i] < packs[i]->count; pos[i]++) {
				struct cdt_id id;

				cdt_pack_entry(packs[i], pos[i], &id, NULL, NULL, NULL);
				if (id.b[0] < b)
					l->dups_all = 1;	/* out of order: trust nothing */
				if (id.b[0] != b)
					break;
				ALLOC_GROW(ids, nr + 1, alloc);
				ids[nr++] = id;
			}
		}
		if (nr > 1)
			qsort(ids, nr, sizeof(*ids), cmp_id);
		for (i = 1; i < nr; i++)
			if (cdt_id_eq(&ids[i], &ids[i - 1]))
				cdt_idset_add(&l->dups, &ids[i]);
	}
	free(ids);
	free(pos);
	free(packs);
	l->dups_known = 1;
}

int cdt_live_chunk(struct cdt_live *l, const struct cdt_id *id)
{
	struct cdt_pack *p;
	struct cdt_id got;
	uint64_t k;
	size_t i;

	if (cdt_idset_has(&l->loose_live, id) || cdt_idset_has(&l->missing, id))
		return 1;
	if (!cdt_chunk_locate(l->store, id, &p, &k))
		p = NULL;
	if (p && cdt_live_packed(p, k))
		return 1;
	/*
	 * With two packed copies, a lookup now may find another one than
	 * the mark did (the last pack a lookup hit is tried first). A chunk
	 * found where the pack's own index says, and held by no other pack,
	 * is dead; any other is looked for in every marked pack.
	 */
	if (!l->dups_known)
		find_dups(l);
	if (p && !l->dups_all && !cdt_idset_has(&l->dups, id)) {
		cdt_pack_entry(p, k, &got, NULL, NULL, NULL);
		if (cdt_id_eq(&got, id))
			return 0;
	}
	for (i = 0; i < l->nmarked; i++) {
		int64_t e = cdt_pack_find(l->marked[i], id);

		if (e >= 0 && cdt_live_packed(l->marked[i], (uint64_t)e))
			return 1;
	}
	return 0;
}

void cdt_live_packs_changed(struct cdt_live *l)
{
	cdt_idset_clear(&l->dups);
	l->dups_known = l->dups_all = 0;
}

void cdt_live_mark_pack(struct cdt_live *l, const char *name)
{
	struct cdt_pack **packs;
	size_t n = cdt_packs_list(l->store, &packs), i;
	uint64_t k;
	int seen;

	for (i = 0; i < n; i++) {
		if (strcmp(packs[i]->name, name))
			continue;
		for (k = 0; k < packs[i]->count; k++)
			mark_entry(l, packs[i], k, &seen);
		break;
	}
	free(packs);
	cdt_live_packs_changed(l);
}

void cdt_live_record_key(const struct cdt_id *m, const struct cdt_id *nh, struct cdt_id *out)
{
	unsigned char buf[2 * CDT_ID_LEN];

	memcpy(buf, m->b, CDT_ID_LEN);
	memcpy(buf + CDT_ID_LEN, nh->b, CDT_ID_LEN);
	cdt_hash(buf, sizeof(buf), out);
}

static void mark_entry(struct cdt_live *l, struct cdt_pack *p, uint64_t k, int *seen)
{
	if (!p->mark) {
		p->mark = xcalloc(p->count / 8 + 1, 1);
		ALLOC_GROW(l->marked, l->nmarked + 1, l->marked_alloc);
		l->marked[l->nmarked++] = p;
	}
	*seen |= bit_test(p->mark, k);
	p->mark[k / 8] |= (unsigned char)(1u << (k % 8));
}

/*
 * Is entry k of p a delta? 1 with its header parsed into *di (buf holds
 * the object), 0 if not (or damaged: then no base of it is known, and a
 * damaged delta needs none), never trusting the index for it; -errno
 * when it cannot be read at all (an I/O error): then what it needs is
 * not known.
 */
static int entry_delta(struct cdt_live *l, struct cdt_pack *p, uint64_t k, unsigned char *buf,
		       size_t cap, struct cdt_delta_info *di)
{
	uint32_t roff, rlen;
	size_t n;
	int ret;

	if (p->version < CDT_PACK_VERSION_FRAMES)
		return 0;
	cdt_pack_entry_part(p, k, &roff, &rlen);
	if (rlen)
		return 0;	/* a frame's chunk */
	ret = cdt_pack_read(p, cdt_store_dirfd(l->store, CDT_DIR_PACKS), k, buf, cap, &n, NULL);
	if (ret == -CDT_ECORRUPT)
		return 0;
	if (ret < 0)
		return error_code(ret, "cannot read pack %s for the bases of its deltas: %s", p->name,
				  cdt_strerror(ret));
	return cdt_object_is_delta(buf, n) &&
	       cdt_delta_parse(buf, n, cdt_store_chunker(l->store)->max_size, di, NULL) == 0;
}

/*
 * A copy of chunk id stored whole (a base is read that way, and a delta
 * whose base is nowhere cannot be read at all): the loose one (1), else a
 * packed one that is not a delta (2, at entry *k of *p); 0 if there is
 * none, -errno if a copy cannot be read to tell.
 */
static int find_whole(struct cdt_live *l, const struct cdt_id *id, unsigned char *buf, size_t cap,
		      struct cdt_pack **p, uint64_t *k)
{
	struct cdt_delta_info di;
	struct cdt_pack **packs;
	size_t n, i;
	int ret;

	if (cdt_idset_has(&l->loose_all, id))
		return 1;
	if (cdt_chunk_locate(l->store, id, p, k)) {
		ret = entry_delta(l, *p, *k, buf, cap, &di);
		if (ret <= 0)
			return ret < 0 ? ret : 2;
	}
	n = cdt_packs_list(l->store, &packs);
	for (i = 0, ret = 0; i < n && !ret; i++) {
		int64_t e = cdt_pack_find(packs[i], id);

		if (e < 0)
			continue;
		ret = entry_delta(l, packs[i], (uint64_t)e, buf, cap, &di);
		if (!ret) {
			*p = packs[i];
			*k = (uint64_t)e;
			ret = 2;
		} else if (ret > 0) {
			ret = 0;
		}
	}
	free(packs);
	return ret;
}

/* Mark the whole copy find_whole() found (how: its return). Was it marked before? */
static int mark_whole(struct cdt_live *l, int how, const struct cdt_id *id, uint32_t len,
		      struct cdt_pack *p, uint64_t k)
{
	int seen = 0;

	if (how == 1)
		seen = !cdt_idset_put(&l->loose_live, id, len);
	else
		mark_entry(l, p, k, &seen);
	return seen;
}

/*
 * Base id of a live delta is live too, in a copy that is stored whole.
 * 1 if it was marked, 0 if there is none, -errno.
 */
static int mark_base(struct cdt_live *l, const struct cdt_id *id, uint32_t len,
		     unsigned char *buf, size_t cap)
{
	struct cdt_pack *p = NULL;
	uint64_t k = 0;
	int ret = find_whole(l, id, buf, cap, &p, &k);

	if (ret <= 0)
		return ret;
	if (!mark_whole(l, ret, id, len, p, k)) {
		l->bases++;
		l->base_bytes += len;
	}
	return 1;
}

/*
 * The bases of every live delta (a base is never a delta: one pass). A
 * delta whose base is stored nowhere cannot be read: the chunk is marked
 * in a copy of it stored whole instead (repair writes one loose), and the
 * delta is no longer its marked copy. With no such copy either, the base
 * is counted missing, so that gc keeps every copy there may be. 0 or -errno.
 */
static int mark_bases(struct cdt_live *l)
{
	size_t cap = CDT_OBJ_MAX(cdt_store_chunker(l->store)->max_size);
	unsigned char *buf = xmalloc(cap);
	size_t i, n = l->nmarked;
	uint64_t k;
	int ret = 0;

	for (i = 0; i < n && ret >= 0; i++) {
		struct cdt_pack *p = l->marked[i];

		if (p->version < CDT_PACK_VERSION_FRAMES)
			continue;
		for (k = 0; k < p->count && ret >= 0; k++) {
			struct cdt_delta_info di;
			struct cdt_pack *wp = NULL;
			struct cdt_id id;
			uint64_t wk = 0;
			uint32_t len;

			if (!bit_test(p->mark, k))
				continue;
			ret = entry_delta(l, p, k, buf, cap, &di);
			if (ret <= 0)
				continue;
			ret = mark_base(l, &di.base, di.base_len, buf, cap);
			if (ret < 0)
				break;
			if (!ret) {
				cdt_pack_entry(p, k, &id, NULL, NULL, NULL);
				len = di.raw_len;
				ret = find_whole(l, &id, buf, cap, &wp, &wk);
				if (ret < 0)
					break;
				if (ret) {
					mark_whole(l, ret, &id, len, wp, wk);
					p->mark[k / 8] &= (unsigned char)~(1u << (k % 8));
					continue;
				}
				cdt_idset_add(&l->missing, &di.base);
			}
			l->deltas++;
			l->delta_raw += di.raw_len;
			l->delta_stored += di.obj_len;
		}
	}
	free(buf);
	return ret < 0 ? ret : 0;
}

static void mark_chunk(struct cdt_live *l, const struct cdt_id *id, uint32_t len)
{
	struct cdt_pack *p;
	uint64_t k;
	int found = 0, seen = 0;

	/* A loose copy is live too: repair puts good copies of damaged packed chunks there. */
	if (cdt_idset_has(&l->loose_all, id)) {
		found = 1;
		seen = !cdt_idset_put(&l->loose_live, id, len);
	}
	if (cdt_chunk_locate(l->store, id, &p, &k)) {
		mark_entry(l, p, k, &seen);
		found = 1;
	}
	if (!found) {
		cdt_idset_add(&l->missing, id);
		return;
	}
	if (!seen) {
		l->chunks++;
		l->unique += len;
	}
}

static int note_loose(const struct cdt_id *id, uint64_t size, void *data)
{
	struct cdt_live *l = data;

	cdt_idset_put(&l->loose_all, id, size);
	return 0;
}

static int mark_name(const char *name, const struct cdt_name_entry *e, int err,
		     const char *why, void *data)
{
	struct cdt_live *l = data;
	struct cdt_id nh, key;

	if (l->take && !l->take(name, l->take_data))
		return 0;
	if (!e) {
		/* An entry that cannot be read may be sound: it is no damage. */
		if (err == -CDT_ECORRUPT) {
			error("name '%s' is damaged: %s", quote(name), why ? why : cdt_strerror(err));
		} else {
			error("name '%s': %s", quote(name), why && *why ? why : cdt_strerror(err));
			l->unreadable++;
		}
		l->damaged++;
		return 0;
	}
	l->names++;
	if (!cdt_name_has_content(e))
		return 0;
	cdt_idset_add(&l->manifests, &e->content);
	cdt_hash(name, strlen(name), &nh);
	cdt_live_record_key(&e->content, &nh, &key);
	cdt_idset_add(&l->records, &key);
	l->logical += e->size;
	return 0;
}

static int mark_manifest(struct cdt_live *l, const struct cdt_id *m)
{
	struct cdt_manifest *man;
	struct strbuf why = STRBUF_INIT;
	char hex[CDT_ID_HEXLEN + 1];
	uint64_t i, n;
	int ret;

	ret = cdt_manifest_open(l->store, m, &man, &why);
	if (ret < 0) {
		error("manifest %s, used by stored names, cannot be read: %s",
		      cdt_id_to_hex(m, hex), why.len ? why.buf : cdt_strerror(ret));
		l->damaged++;
		strbuf_release(&why);
		return cdt_err_is_damage(ret) ? 0 : ret;
	}
	n = cdt_manifest_count(man);
	for (i = 0; i < n; i++) {
		struct cdt_manifest_entry e;

		ret = cdt_manifest_get(man, i, &e);
		if (ret < 0) {
			error("manifest %s, used by stored names, cannot be read: entry %llu: %s",
			      cdt_id_to_hex(m, hex), (unsigned long long)i, cdt_strerror(ret));
			l->damaged++;
			break;
		}
		mark_chunk(l, &e.id, e.len);
	}
	cdt_manifest_close(man);
	strbuf_release(&why);
	if (i == n)
		l->good_manifests++;
	/* As when it cannot be opened: an I/O error stops the mark. */
	return i == n || ret == -CDT_ECORRUPT ? 0 : ret;
}

int cdt_live_mark(struct cdt_store *s, struct cdt_live *l)
{
	return cdt_live_mark_names(s, NULL, NULL, NULL, l);
}

int cdt_live_mark_names(struct cdt_store *s, const char *under,
			int (*take)(const char *name, void *data), void *data, struct cdt_live *l)
{
	size_t i;
	int ret;

	memset(l, 0, sizeof(*l));
	l->store = s;
	l->take = take;
	l->take_data = data;
	ret = cdt_fanout_walk(cdt_store_dirfd(s, CDT_DIR_OBJECTS), note_loose, NULL, l);
	if (ret < 0)
		return error_code(ret, "cannot list loose chunks: %s", cdt_strerror(ret));
	ret = cdt_names_walk(s, under, mark_name, l);
	if (ret < 0)
		return error_code(ret, "cannot list names: %s", cdt_strerror(ret));
	for (i = 0; i < l->manifests.cap; i++) {
		if (!l->manifests.used[i])
			continue;
		ret = mark_manifest(l, &l->manifests.ids[i]);
		if (ret < 0)
			return error_code(ret, "cannot read manifests: %s", cdt_strerror(ret));
	}
	ret = mark_bases(l);	/* an error is said where it happened */
	if (ret < 0)
		return ret;
	/*
	 * A pack whose index could not be read was left out of every lookup:
	 * its live chunks look missing, and the bases of its deltas dead.
	 */
	if (cdt_packs_unreadable(s))
		return error_code(-EIO, "a pack index could not be read: what the names need is not known");
	ret = cdt_packs_list_error(s);
	if (ret < 0)
		return error_code(ret, "cannot list packs/: %s: what the names need is not known",
				  cdt_strerror(ret));
	return 0;
}

void cdt_live_release(struct cdt_live *l)
{
	size_t i;

	cdt_idset_clear(&l->manifests);
	cdt_idset_clear(&l->records);
	cdt_idset_clear(&l->loose_all);
	cdt_idset_clear(&l->loose_live);
	cdt_idset_clear(&l->missing);
	cdt_idset_clear(&l->dups);
	l->dups_known = l->dups_all = 0;
	for (i = 0; i < l->nmarked; i++) {
		free(l->marked[i]->mark);
		l->marked[i]->mark = NULL;
	}
	free(l->marked);
	l->marked = NULL;
	l->nmarked = 0;
}
