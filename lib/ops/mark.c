/* mark.c: mark what the live names need, from names/ and the manifests they use. */
#include "ops/mark.h"
#include "format/fanout.h"
#include "format/manifest.h"
#include "format/names.h"
#include "format/pack.h"
#include "ops/packset.h"
#include "base/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int bit_test(const unsigned char *bits, uint64_t i)
{
	return bits && (bits[i / 8] >> (i % 8)) & 1;
}

int cdt_live_packed(const struct cdt_pack *p, uint64_t i)
{
	return bit_test(p->mark, i);
}

int cdt_live_chunk(struct cdt_live *l, const struct cdt_id *id)
{
	struct cdt_pack *p;
	uint64_t k;

	if (cdt_idset_has(&l->loose_live, id) || cdt_idset_has(&l->missing, id))
		return 1;
	return cdt_chunk_locate(l->store, id, &p, &k) && cdt_live_packed(p, k);
}

void cdt_live_record_key(const struct cdt_id *m, const struct cdt_id *nh, struct cdt_id *out)
{
	unsigned char buf[2 * CDT_ID_LEN];

	memcpy(buf, m->b, CDT_ID_LEN);
	memcpy(buf + CDT_ID_LEN, nh->b, CDT_ID_LEN);
	cdt_hash(buf, sizeof(buf), out);
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
		if (!p->mark) {
			p->mark = xcalloc(p->count / 8 + 1, 1);
			ALLOC_GROW(l->marked, l->nmarked + 1, l->marked_alloc);
			l->marked[l->nmarked++] = p;
		}
		seen |= bit_test(p->mark, k);
		p->mark[k / 8] |= (unsigned char)(1u << (k % 8));
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

	if (!e) {
		error("name '%s' is damaged: %s", quote(name), why ? why : cdt_strerror(err));
		l->damaged++;
		return 0;
	}
	cdt_idset_add(&l->manifests, &e->content);
	cdt_hash(name, strlen(name), &nh);
	cdt_live_record_key(&e->content, &nh, &key);
	cdt_idset_add(&l->records, &key);
	l->names++;
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
		return ret == -ENOENT || ret == -CDT_ECORRUPT ? 0 : ret;
	}
	n = cdt_manifest_count(man);
	for (i = 0; i < n; i++) {
		struct cdt_manifest_entry e;

		ret = cdt_manifest_get(man, i, &e);
		if (ret < 0) {
			l->damaged++;
			break;
		}
		mark_chunk(l, &e.id, e.len);
	}
	cdt_manifest_close(man);
	strbuf_release(&why);
	if (i == n)
		l->good_manifests++;
	return 0;
}

int cdt_live_mark(struct cdt_store *s, struct cdt_live *l)
{
	size_t i;
	int ret;

	memset(l, 0, sizeof(*l));
	l->store = s;
	ret = cdt_fanout_walk(cdt_store_dirfd(s, CDT_DIR_OBJECTS), note_loose, NULL, l);
	if (ret < 0)
		return error_code(ret, "cannot list loose chunks: %s", cdt_strerror(ret));
	ret = cdt_names_walk(s, NULL, mark_name, l);
	if (ret < 0)
		return error_code(ret, "cannot list names: %s", cdt_strerror(ret));
	for (i = 0; i < l->manifests.cap; i++) {
		if (!l->manifests.used[i])
			continue;
		ret = mark_manifest(l, &l->manifests.ids[i]);
		if (ret < 0)
			return error_code(ret, "cannot read manifests: %s", cdt_strerror(ret));
	}
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
	for (i = 0; i < l->nmarked; i++) {
		free(l->marked[i]->mark);
		l->marked[i]->mark = NULL;
	}
	free(l->marked);
	l->marked = NULL;
	l->nmarked = 0;
}
