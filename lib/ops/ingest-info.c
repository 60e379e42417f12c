/* ingest-info.c: the tables of info/names/ brought up to date once for many batches of an add, each name checked to be the file it installed. */
#include "ops/ingest-internal.h"
#include "ops/serverinfo.h"
#include "format/info.h"
#include "format/names.h"
#include "base/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * A table of info/names/ holds every entry under its prefix, and is
 * replaced whole. Brought up to date after each batch, a tree of a million
 * files under one prefix would write about a thousand tables of up to
 * 130 MB: the tables are written once the add is done, or once this many
 * changes wait (their entries held in memory).
 */
#define INFO_WAIT_NAMES 65536
#define INFO_WAIT_BYTES (32u << 20)

void ingest_info_begin(struct ingest_info *ii, struct cdt_store *s)
{
	if (ii->marked)
		return;
	/* Before the first name changes; ended once the tables follow. */
	ii->intent = cdt_info_intent_begin(s);
	ii->marked = 1;
}

void ingest_info_note(struct ingest_info *ii, struct cdt_name_entry *meta,
		      const struct cdt_name_file *installed)
{
	struct ingest_info_change *c;
	struct strbuf raw = STRBUF_INIT;

	cdt_name_encode(meta, &raw);	/* the bytes cdt_name_stage() wrote */
	ALLOC_GROW(ii->v, ii->n + 1, ii->alloc);
	c = &ii->v[ii->n++];
	c->name = xstrdup(meta->name);
	c->type = meta->type;
	c->len = raw.len;
	c->raw = (unsigned char *)strbuf_detach(&raw, NULL);
	c->file = *installed;
	ii->bytes += c->len + strlen(c->name);
}

void ingest_info_note_gone(const char *name, int type, void *data)
{
	struct ingest_info *ii = data;
	struct ingest_info_change *c;

	/* No file installed: the flush reads what is there then (none, unless another writer put one). */
	ALLOC_GROW(ii->v, ii->n + 1, ii->alloc);
	c = &ii->v[ii->n++];
	memset(c, 0, sizeof(*c));
	c->name = xstrdup(name);
	c->type = type;
	ii->bytes += strlen(c->name);
}

int ingest_info_due(const struct ingest_info *ii)
{
	return ii->n >= INFO_WAIT_NAMES || ii->bytes >= INFO_WAIT_BYTES;
}

static void drop_changes(struct ingest_info *ii)
{
	size_t i;

	for (i = 0; i < ii->n; i++) {
		free(ii->v[i].name);
		free(ii->v[i].raw);
	}
	ii->n = 0;
	ii->bytes = 0;
}

/*
 * The entry of a name now: what names/ holds (NULL raw: none there, or
 * one that does not check, which no table holds). 0 or -errno.
 */
static int entry_now(struct cdt_store *s, struct ingest_info_change *c)
{
	struct cdt_name_entry e;
	struct strbuf why = STRBUF_INIT, raw = STRBUF_INIT;
	int ret = cdt_name_read(s, c->name, &e, &why);

	free(c->raw);
	c->raw = NULL;
	c->len = 0;
	if (!ret) {
		cdt_name_encode(&e, &raw);
		c->len = raw.len;
		c->raw = (unsigned char *)strbuf_detach(&raw, NULL);
		cdt_name_entry_release(&e);
	} else if (ret == -ENOENT || ret == -CDT_ECORRUPT) {
		ret = 0;
	}
	strbuf_release(&why);
	return ret;
}

int ingest_info_flush(struct ingest_info *ii, struct cdt_store *s, struct cdt_info *info)
{
	struct cdt_info_change *ch;
	size_t i;
	int ret = 0;

	if (!ii->n)
		return 0;
	/*
	 * Another writer may have replaced or removed a name since this add
	 * installed it (its table then followed it, or will): a name whose
	 * file is not the one installed is read again, under info/lock.
	 */
	ch = xcalloc(ii->n, sizeof(*ch));
	for (i = 0; i < ii->n && !ret; i++) {
		struct ingest_info_change *c = &ii->v[i];

		if (!cdt_name_is_file(s, c->name, c->type, &c->file))
			ret = entry_now(s, c);
		ch[i].name = c->name;
		ch[i].raw = c->raw;
		ch[i].len = c->len;
	}
	if (ret)
		error("cannot read names of '%s' for info/names: %s", cdt_store_path(s),
		      cdt_strerror(ret));
	/*
	 * info/packs and info/mpacks first, cheap when they agree: the
	 * batch's manifest packs are listed before the tables of the names
	 * that use them, and an add killed between putting a pack in place
	 * and listing it (info/lock held) left them stale.
	 */
	if (!ret)
		ret = cdt_serverinfo_write_packs_if_stale(info);
	if (!ret)
		ret = cdt_info_names_update(info, ch, ii->n);
	/* The names are stored all the same; fsck --rebuild-refs writes info/ again. */
	if (ret)
		warning("info/ of '%s' is stale ('cdt fsck --rebuild-refs' writes it again)",
			cdt_store_path(s));
	free(ch);
	drop_changes(ii);
	if (ret)
		ii->lost = 1;
	return ret;
}

void ingest_info_end(struct ingest_info *ii)
{
	if (!ii->marked)
		return;
	/* A mark left makes the next writer write every table again. */
	cdt_info_intent_end(ii->intent, !ii->lost && !ii->n);
	drop_changes(ii);
	ii->intent = NULL;
	ii->marked = 0;
	ii->lost = 0;
}

void ingest_info_release(struct ingest_info *ii)
{
	ingest_info_end(ii);
	free(ii->v);
	memset(ii, 0, sizeof(*ii));
}
