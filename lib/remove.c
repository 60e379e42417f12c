/* remove.c: cdt rm's library side: names, name records, manifests, reclaimable chunks. */
#include "remove.h"
#include "fanout.h"
#include "idset.h"
#include "manifest.h"
#include "names.h"
#include "objects.h"
#include "refs.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct cdt_remover {
	struct cdt_store *store;
	struct cdt_refs *refs;
};

int cdt_remover_new(struct cdt_store *s, struct cdt_remover **out)
{
	struct cdt_remover *r = xcalloc(1, sizeof(*r));
	int ret;

	r->store = s;
	ret = cdt_refs_open(s, &r->refs);
	if (ret < 0) {
		free(r);
		*out = NULL;
		return error_errno(ret, "cannot read reference tables: %s", cdt_strerror(ret));
	}
	*out = r;
	return 0;
}

void cdt_remover_free(struct cdt_remover *r)
{
	if (!r)
		return;
	cdt_refs_close(r->refs);
	free(r);
}

struct records {
	struct cdt_remover *r;
	const struct cdt_id *m;
	const char *removed;
	int had_removed;
	int live;
	int err;
};

/* For each recorded name of the manifest: is it still a live user? */
static int check_record(const char *name, int err, void *data)
{
	struct records *rc = data;
	struct cdt_name_entry *e;
	struct strbuf why = STRBUF_INIT;
	int ret;

	if (!name) {
		/* An unreadable record: be safe and treat it as live. */
		rc->live++;
		return 0;
	}
	if (!strcmp(name, rc->removed)) {
		rc->had_removed = 1;
		return 0;
	}
	e = xmalloc(sizeof(*e));
	ret = cdt_name_read(rc->r->store, name, e, &why);
	if (ret == 0 && cdt_id_eq(&e->content, rc->m)) {
		rc->live++;
	} else if (ret == -ENOENT || ret == 0) {
		/* The name is gone or holds other content now: a stale record. */
		cdt_nameref_remove(rc->r->store, rc->m, name);
	} else {
		/* Cannot tell: keep the manifest. */
		rc->live++;
	}
	(void)err;
	free(e);
	strbuf_release(&why);
	return 0;
}

/* Chunks of m that no other live manifest lists, and their stored size. */
static void count_reclaimable(struct cdt_remover *r, const struct cdt_id *m,
			      struct cdt_remove_result *res)
{
	struct cdt_manifest *man;
	struct cdt_idset seen = CDT_IDSET_INIT;
	uint64_t i, n;

	if (cdt_manifest_open(r->store, m, &man, NULL) < 0)
		return;
	n = cdt_manifest_count(man);
	for (i = 0; i < n; i++) {
		struct cdt_manifest_entry e;
		struct cdt_id *users = NULL;
		int nu, k, used = 0;

		if (cdt_manifest_get(man, i, &e) < 0)
			break;
		if (!cdt_idset_add(&seen, &e.id))
			continue;
		nu = cdt_refs_lookup(r->refs, &e.id, &users);
		for (k = 0; k < nu && !used; k++)
			used = !cdt_id_eq(&users[k], m) &&
			       cdt_manifest_exists(r->store, &users[k]) == 1;
		free(users);
		if (!used) {
			int64_t sz = cdt_chunk_stored_size(r->store, &e.id);

			res->chunks++;
			if (sz > 0)
				res->reclaimable_bytes += (uint64_t)sz;
		}
	}
	cdt_idset_clear(&seen);
	cdt_manifest_close(man);
}

int cdt_remove_name(struct cdt_remover *r, const char *name, struct cdt_remove_result *res)
{
	struct cdt_name_entry *e = xmalloc(sizeof(*e));
	struct strbuf why = STRBUF_INIT;
	struct records rc = { 0 };
	char hex[CDT_ID_HEXLEN + 1];
	int ret, have_entry;

	ret = cdt_name_read(r->store, name, e, &why);
	if (ret == -ENOENT)
		goto out;
	have_entry = ret == 0;
	if (!have_entry)
		warning("removing damaged name '%s' (%s); its content is left to 'cdt gc'",
			quote(name), why.len ? why.buf : cdt_strerror(ret));
	ret = cdt_name_remove(r->store, name);
	if (ret < 0) {
		error("cannot remove name '%s': %s", quote(name), strerror(-ret));
		goto out;
	}
	res->names++;
	if (!have_entry) {
		ret = 0;
		goto out;
	}
	/* The name is gone; now settle its manifest. */
	rc.r = r;
	rc.m = &e->content;
	rc.removed = name;
	ret = cdt_nameref_list(r->store, &e->content, check_record, &rc);
	if (ret < 0) {
		warning("cannot read the name records of manifest %s: %s; leaving it to 'cdt gc'",
			cdt_id_to_hex(&e->content, hex), strerror(-ret));
		ret = 0;
		goto out;
	}
	cdt_nameref_remove(r->store, &e->content, name);
	if (rc.live)
		goto out;
	if (!rc.had_removed) {
		/* Records are incomplete, so other names may use it unrecorded. */
		warning("manifest %s has no record of name '%s'; leaving it to 'cdt gc' "
			"(run 'cdt fsck')", cdt_id_to_hex(&e->content, hex), quote(name));
		goto out;
	}
	count_reclaimable(r, &e->content, res);
	ret = cdt_fanout_remove(cdt_store_dirfd(r->store, CDT_DIR_MANIFESTS), &e->content);
	if (ret < 0 && ret != -ENOENT) {
		warning("cannot remove manifest %s: %s; 'cdt gc' will", cdt_id_to_hex(&e->content, hex),
			strerror(-ret));
	} else if (ret == 0) {
		res->manifests++;
	}
	ret = 0;
out:
	free(e);
	strbuf_release(&why);
	return ret;
}
