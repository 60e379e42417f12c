/* remove.c: cdt rm's library side: names, name records, manifests, reclaimable chunks. */
#include "ops/remove.h"
#include "ops/chunks.h"
#include "ops/mpack-drop.h"
#include "ops/serverinfo.h"
#include "format/fanout.h"
#include "base/idset.h"
#include "format/manifest.h"
#include "format/namerefs.h"
#include "format/names.h"
#include "format/refs.h"
#include "base/util.h"
#include "base/testpoint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct cdt_remover {
	struct cdt_store *store;
	struct cdt_refs *refs;
	struct cdt_namerefs *records;
	/* Manifests of removed names that no other name was seen to use. */
	struct cdt_idset candidates;
	/* The names removed ("name\0" each), for info/names/. */
	struct strbuf removed;
	size_t nremoved;
	struct cdt_info_intent *intent;	/* from the first name removed to its tables */
};

int cdt_remover_new(struct cdt_store *s, struct cdt_remover **out)
{
	struct cdt_remover *r = xcalloc(1, sizeof(*r));
	int ret;

	r->store = s;
	strbuf_init(&r->removed, 0);
	ret = cdt_refs_open(s, &r->refs);
	if (ret < 0) {
		free(r);
		*out = NULL;
		return error_code(ret, "cannot read reference tables: %s", cdt_strerror(ret));
	}
	/* Name records are only a shortcut: without them, rm reads every name. */
	ret = cdt_namerefs_open(s, &r->records);
	if (ret < 0)
		warning("cannot read name records: %s", cdt_strerror(ret));
	*out = r;
	return 0;
}

void cdt_remover_free(struct cdt_remover *r)
{
	if (!r)
		return;
	cdt_info_intent_end(r->intent, 0);	/* not finished: info/ is written again next time */
	cdt_refs_close(r->refs);
	cdt_namerefs_close(r->records);
	cdt_idset_clear(&r->candidates);
	strbuf_release(&r->removed);
	free(r);
}

struct records {
	struct cdt_remover *r;
	const struct cdt_id *m;
	const char *removed;
};

/*
 * For each recorded name of the manifest: does its entry still use it? A
 * yes ends the search. A record proves nothing by itself: a missing,
 * damaged or misleading one only costs cdt_remover_finish() its walk.
 */
static int check_record(const char *name, int err, void *data)
{
	struct records *rc = data;
	struct cdt_name_entry *e;
	struct strbuf why = STRBUF_INIT;
	int ret, used = 0;

	(void)err;
	if (!name || !strcmp(name, rc->removed))
		return 0;
	e = xmalloc(sizeof(*e));
	ret = cdt_name_read(rc->r->store, name, e, &why);
	if (ret == 0 && cdt_name_has_content(e) && cdt_id_eq(&e->content, rc->m))
		used = 1;
	else if (ret == -ENOENT || ret == 0)
		/* The name is gone or holds other content now: a stale record. */
		cdt_nameref_remove(rc->r->store, rc->m, name);
	if (ret == 0)
		cdt_name_entry_release(e);
	free(e);
	strbuf_release(&why);
	return used;
}

int cdt_remove_name(struct cdt_remover *r, const char *name, struct cdt_remove_result *res)
{
	struct cdt_name_entry *e = xmalloc(sizeof(*e));
	struct strbuf why = STRBUF_INIT;
	struct records rc = { 0 };
	int ret, have_entry = 0;

	ret = cdt_name_read(r->store, name, e, &why);
	if (ret == -ENOENT)
		goto out;
	if (ret < 0 && ret != -CDT_ECORRUPT) {
		/* An error reading it is no damage: the name stays. */
		error("name '%s': %s", quote(name), why.len ? why.buf : cdt_strerror(ret));
		goto out;
	}
	have_entry = ret == 0;
	if (!have_entry)
		warning("removing damaged name '%s' (%s); its content is left to 'cdt gc'",
			quote(name), why.len ? why.buf : cdt_strerror(ret));
	if (!r->intent)
		r->intent = cdt_info_intent_begin(r->store);
	ret = cdt_name_remove(r->store, name, have_entry ? e->type == CDT_NAME_DIR : -1);
	if (ret < 0) {
		error("cannot remove name '%s': %s", quote(name), cdt_strerror(ret));
		goto out;
	}
	res->names++;
	strbuf_add(&r->removed, name, strlen(name) + 1);
	r->nremoved++;
	ret = 0;
	if (!have_entry || !cdt_name_has_content(e))
		goto out;
	/* The name is gone; does another name still use its manifest? */
	rc.r = r;
	rc.m = &e->content;
	rc.removed = name;
	if (!r->records || cdt_namerefs_list(r->records, &e->content, check_record, &rc) != 1)
		cdt_idset_add(&r->candidates, &e->content);
	cdt_nameref_remove(r->store, &e->content, name);
out:
	if (have_entry)
		cdt_name_entry_release(e);
	free(e);
	strbuf_release(&why);
	return ret;
}

/*
 * Chunks of m that no surviving manifest lists, and their stored size.
 * `dead` holds the manifests being removed; `seen` the chunks counted.
 * A chunk whose references do not list m shows that the tables are
 * incomplete: whether another manifest uses it cannot be told, so it is
 * not counted. What cannot be read makes the count unknown: a warning,
 * and m is counted in res->uncounted.
 */
static void count_reclaimable(struct cdt_remover *r, const struct cdt_id *m,
			      const struct cdt_idset *dead, struct cdt_idset *seen,
			      struct cdt_remove_result *res)
{
	struct strbuf why = STRBUF_INIT;
	struct cdt_manifest *man;
	char hex[CDT_ID_HEXLEN + 1];
	uint64_t i, n;
	int ret;

	ret = cdt_manifest_open(r->store, m, &man, &why);
	if (ret < 0)
		goto out;
	n = cdt_manifest_count(man);
	for (i = 0; i < n && !ret; i++) {
		struct cdt_manifest_entry e;
		struct cdt_id *users = NULL;
		int nu, k, used = 0, listed = 0;

		ret = cdt_manifest_get(man, i, &e);
		if (ret < 0) {
			strbuf_addstr(&why, "manifest changed while reading it");
			break;
		}
		if (!cdt_idset_add(seen, &e.id))
			continue;
		nu = cdt_refs_lookup(r->refs, &e.id, &users);
		for (k = 0; k < nu && !used; k++) {
			if (cdt_id_eq(&users[k], m)) {
				listed = 1;
			} else if (!cdt_idset_has(dead, &users[k])) {
				used = cdt_manifest_exists(r->store, &users[k]);
				if (used < 0) {
					ret = used;
					strbuf_addf(&why, "cannot tell whether manifest %s exists: %s",
						    cdt_id_to_hex(&users[k], hex), cdt_strerror(ret));
					break;
				}
			}
		}
		free(users);
		if (ret < 0)
			break;
		if (listed && !used) {
			int64_t sz = cdt_chunk_stored_size(r->store, &e.id);

			/* A missing chunk frees nothing; one that cannot be looked up, unknown. */
			if (sz < 0 && sz != -ENOENT) {
				ret = (int)sz;
				strbuf_addf(&why, "chunk %s: %s", cdt_id_to_hex(&e.id, hex),
					    cdt_strerror(ret));
				break;
			}
			res->chunks++;
			if (sz > 0)
				res->reclaimable_bytes += (uint64_t)sz;
		}
	}
	cdt_manifest_close(man);
out:
	if (ret < 0) {
		warning("cannot count what dropping manifest %s frees: %s",
			cdt_id_to_hex(m, hex), why.len ? why.buf : cdt_strerror(ret));
		res->uncounted++;
	}
	strbuf_release(&why);
}

struct settle {
	const struct cdt_idset *candidates;
	struct cdt_idset used;		/* candidates some name entry uses */
	uint64_t damaged;		/* entries that could not be read */
	struct strbuf first, first_why;	/* the first of them, for the warning */
};

static int note_user(const char *name, const struct cdt_name_entry *e, int err,
		     const char *why, void *data)
{
	struct settle *st = data;

	if (!e) {
		if (!st->damaged++) {
			strbuf_addstr(&st->first, name);
			strbuf_addstr(&st->first_why, why && *why ? why : cdt_strerror(err));
		}
		return 0;
	}
	if (cdt_name_has_content(e) && cdt_idset_has(st->candidates, &e->content))
		cdt_idset_add(&st->used, &e->content);
	/* Every candidate in use: the rest of the walk cannot change anything. */
	return st->used.nr == st->candidates->nr;
}

/* The removed names leave the tables of info/names/ (a warning if they cannot). */
static void update_info(struct cdt_remover *r)
{
	struct cdt_info_change *ch;
	struct cdt_info *in;
	size_t i, off;
	int ret, was;

	if (!r->nremoved) {
		cdt_info_intent_end(r->intent, 1);
		r->intent = NULL;
		/* No table to change; info/packs agrees with packs/ all the same (cheap when it does). */
		cdt_serverinfo_packs_settle(r->store);
		return;
	}
	cdt_crash_point("info");	/* names removed, tables not yet */
	ch = xcalloc(r->nremoved, sizeof(*ch));
	for (i = 0, off = 0; i < r->nremoved; i++) {
		ch[i].name = r->removed.buf + off;
		off += strlen(ch[i].name) + 1;
	}
	/* The names are removed: what goes wrong from here is a warning. */
	was = cdt_errors_as_warnings(1);
	ret = cdt_info_open(r->store, &in);
	if (!ret) {
		ret = cdt_info_names_update(in, ch, r->nremoved);
		/* And info/packs agrees with packs/ as this writer leaves it (cheap when it does). */
		if (!ret)
			ret = cdt_serverinfo_write_packs_if_stale(in);
		cdt_info_close(in);
	}
	/*
	 * The mark goes only once the tables are durable (as add's last
	 * syncfs makes them): a power cut must not leave a table naming a
	 * removed name with no mark to say it may be behind names/.
	 */
	if (!ret) {
		ret = cdt_store_sync(r->store);
		if (ret)
			warning("cannot sync store '%s': %s", cdt_store_path(r->store),
				cdt_strerror(ret));
	}
	cdt_errors_as_warnings(was);
	if (ret)
		warning("info/ of '%s' is stale ('cdt fsck --rebuild-refs' writes it again)",
			cdt_store_path(r->store));
	cdt_info_intent_end(r->intent, !ret);
	r->intent = NULL;
	free(ch);
	r->nremoved = 0;
	strbuf_reset(&r->removed);
}

/* Dead manifests in manifest packs: the packs written again without them. */
struct packed_drop {
	const struct cdt_idset *dead, *loose_gone;
	struct cdt_remove_result *res;
};

static int packed_dead(const struct cdt_id *id, void *data)
{
	return cdt_idset_has(((struct packed_drop *)data)->dead, id);
}

static void packed_dropped(const struct cdt_id *id, uint64_t len, int ok, void *data)
{
	struct packed_drop *pd = data;

	(void)len;
	if (ok && !cdt_idset_has(pd->loose_gone, id))
		pd->res->manifests++;
}

static void packed_unreadable(const char *name, const char *why, void *data)
{
	(void)data;
	warning("manifest pack '%s' cannot be read (%s): the unused manifests in it stay; "
		"run 'cdt fsck'", quote(name), why);
}

static const struct cdt_mpack_drop_ops rm_mpack_ops = {
	packed_dead, packed_dropped, packed_unreadable, NULL, NULL
};

int cdt_remover_finish(struct cdt_remover *r, struct cdt_remove_result *res)
{
	struct settle st = { &r->candidates, CDT_IDSET_INIT, 0, STRBUF_INIT, STRBUF_INIT };
	struct cdt_idset dead = CDT_IDSET_INIT, seen = CDT_IDSET_INIT, gone = CDT_IDSET_INIT;
	struct packed_drop pd = { &dead, &gone, res };
	int mfd = cdt_store_dirfd(r->store, CDT_DIR_MANIFESTS);
	char hex[CDT_ID_HEXLEN + 1];
	unsigned long long kept;
	size_t i;
	int ret;

	update_info(r);
	if (!r->candidates.nr)
		return 0;
	ret = cdt_names_walk(r->store, NULL, note_user, &st);
	kept = (unsigned long long)(r->candidates.nr - st.used.nr);
	if (ret < 0) {
		error("cannot list names: %s; keeping %llu manifest%s for 'cdt gc'",
		      cdt_strerror(ret), kept, kept == 1 ? "" : "s");
		goto out;
	}
	ret = 0;
	if (!kept)
		goto out;
	if (st.damaged == 1) {
		warning("name '%s' cannot be read (%s): keeping %llu manifest%s it may use; "
			"run 'cdt fsck'", quote(st.first.buf), st.first_why.buf, kept,
			kept == 1 ? "" : "s");
		goto out;
	}
	if (st.damaged) {
		warning("%llu names cannot be read (the first, '%s': %s): keeping %llu manifest%s "
			"they may use; run 'cdt fsck'", (unsigned long long)st.damaged,
			quote(st.first.buf), st.first_why.buf, kept, kept == 1 ? "" : "s");
		goto out;
	}
	for (i = 0; i < r->candidates.cap; i++)
		if (r->candidates.used[i] && !cdt_idset_has(&st.used, &r->candidates.ids[i]))
			cdt_idset_add(&dead, &r->candidates.ids[i]);
	for (i = 0; i < dead.cap; i++) {
		const struct cdt_id *m = &dead.ids[i];
		int rm;

		if (!dead.used[i])
			continue;
		count_reclaimable(r, m, &dead, &seen, res);
		rm = cdt_fanout_remove(mfd, m);
		if (rm < 0 && rm != -ENOENT)
			warning("cannot remove manifest %s: %s; 'cdt gc' will",
				cdt_id_to_hex(m, hex), cdt_strerror(rm));
		else if (rm == 0 && cdt_idset_add(&gone, m))
			res->manifests++;
	}
	{
		/* (What is not dropped now, gc drops: warnings, as above.) */
		int was = cdt_errors_as_warnings(1);

		cdt_mpacks_drop(r->store, &rm_mpack_ops, &pd, 0);
		cdt_errors_as_warnings(was);
	}
out:
	cdt_idset_clear(&st.used);
	cdt_idset_clear(&dead);
	cdt_idset_clear(&seen);
	cdt_idset_clear(&gone);
	strbuf_release(&st.first);
	strbuf_release(&st.first_why);
	return ret;
}
