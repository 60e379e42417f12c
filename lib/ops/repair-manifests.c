/* repair-manifests.c: manifests names use, missing or damaged, written again from a file of their content. */
#include "ops/repair-internal.h"
#include "base/cid.h"
#include "base/util.h"
#include "ops/chunks.h"
#include "ops/ingest.h"
#include "format/config.h"
#include "format/manifest.h"
#include "format/names.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int repair_want_manifest(const struct cdt_id *content, uint64_t size, const char *name,
			    void *data)
{
	struct cdt_repair *r = data;

	if (!cdt_idset_add(&r->wman_ids, content))
		return 0;	/* a second problem of the same manifest */
	ALLOC_GROW(r->wman, r->nwman + 1, r->awman);
	r->wman[r->nwman].id = *content;
	r->wman[r->nwman].size = size;
	r->wman[r->nwman].name = xstrdup(name);
	r->wman[r->nwman].done = 0;
	r->nwman++;
	r->wman_left++;
	return 0;
}

static int cmp_size(const void *a, const void *b)
{
	const struct wanted_manifest *x = a, *y = b;

	return x->size < y->size ? -1 : x->size > y->size;
}

void repair_sort_manifests(struct cdt_repair *r)
{
	if (r->nwman > 1)
		qsort(r->wman, r->nwman, sizeof(*r->wman), cmp_size);
}

/*
 * The next wanted manifest, from wman[*i] on, of a file of `size` bytes;
 * NULL if none. wman is sorted by size: the first of that size is found
 * by bisection, so a scan of many files costs no walk of every wanted one.
 */
struct wanted_manifest *repair_manifest_of_size(const struct cdt_repair *r, uint64_t size,
						size_t *i)
{
	size_t lo = *i, hi = r->nwman;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->wman[mid].size < size)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (*i = lo; *i < r->nwman && r->wman[*i].size == size; (*i)++)
		if (!r->wman[*i].done)
			return &r->wman[*i];
	return NULL;
}

/* The content id of fd's `size` bytes, read once more: 0, 1 if it is not that long now, or -errno. */
static int file_content_id(struct cdt_repair *r, int fd, const char *what, uint64_t size,
			   struct cdt_id *out)
{
	struct cdt_cid *c = cdt_cid_new(cdt_config_cid(cdt_store_config(r->store)));
	uint64_t off = 0;
	ssize_t n = 0;

	while (off < size) {
		size_t want = (size_t)MIN((uint64_t)r->buf_cap, size - off);

		n = pread_full(fd, r->win[0].buf, want, (off_t)off);
		if (n <= 0)
			break;
		cdt_cid_update(c, r->win[0].buf, (size_t)n);
		off += (uint64_t)n;
		r->stats.bytes += (uint64_t)n;
	}
	cdt_cid_final(c, out);
	cdt_cid_free(c);
	if (n < 0)
		return error_code((int)n, "cannot read '%s': %s", quote(what), cdt_strerror((int)n));
	return off != size;
}

/* A heal's result, from the group commit: the content is stored, or it failed. */
static void heal_done(const struct cdt_name_entry *e, const struct cdt_ingest_result *res,
		      int err, void *cookie, void *data)
{
	struct cdt_repair *r = data;
	struct heal *h = &r->heals[(uintptr_t)cookie];

	(void)e;
	h->err = err;
	h->added = err ? 0 : res->new_chunks;
	h->committed = 1;
}

/*
 * Store fd again as add stores it, under the name that uses wm's manifest
 * (left as it is): queued in repair's group commit, which writes the
 * manifest again and adds the chunks the store does not hold, once a
 * batch of heals is full or the scan ends (repair_flush_heals()). Only
 * bytes of wm's content id are stored. 0, 1 if nothing was queued (the
 * name uses another content now), or -errno (reported).
 */
static int queue_manifest(struct cdt_repair *r, int fd, const char *what, int follow,
			  struct wanted_manifest *wm)
{
	struct cdt_ingest_result res;
	struct cdt_name_entry meta;
	struct strbuf why = STRBUF_INIT;
	struct heal *h;
	int ret;

	memset(&meta, 0, sizeof(meta));
	ret = cdt_name_read(r->store, wm->name, &meta, &why);
	if (ret < 0) {
		error("cannot read the entry of '%s': %s", quote(wm->name),
		      why.len ? why.buf : cdt_strerror(ret));
		strbuf_release(&why);
		return ret;
	}
	strbuf_release(&why);
	if (meta.type != CDT_NAME_REG || !cdt_id_eq(&meta.content, &wm->id)) {
		cdt_name_entry_release(&meta);
		return 1;	/* not its manifest any more */
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		ret = -errno;
		cdt_name_entry_release(&meta);
		return error_code(ret, "cannot read '%s': %s", quote(what), cdt_strerror(ret));
	}
	if (!r->heal_ing) {
		struct cdt_ingest_options io = { 0 };

		io.jobs = r->opt.jobs;
		io.quiet_heal = 1;	/* said as "restored manifest" */
		io.group = HEAL_GROUP;
		io.done = heal_done;
		io.done_data = r;
		r->heal_ing = cdt_ingest_new(r->store, &io);
	}
	ALLOC_GROW(r->heals, r->nheals + 1, r->aheals);
	h = &r->heals[r->nheals];
	memset(h, 0, sizeof(*h));
	h->wm = (size_t)(wm - r->wman);
	h->what = xstrdup(what);
	h->follow = follow;
	memset(&res, 0, sizeof(res));
	ret = cdt_ingest_queue_expect(r->heal_ing, fd, what, &meta, &wm->id, NULL,
				      (void *)(uintptr_t)r->nheals, &res);
	cdt_name_entry_release(&meta);
	if (ret < 0) {
		free(h->what);
		return ret;
	}
	r->nheals++;
	/* Found: no other file is searched for it, unless its heal fails. */
	wm->done = 1;
	r->wman_left--;
	return 0;
}

/*
 * Every chunk the manifest of wm lists that does not read good, wanted
 * from now on (it is damaged where the check could not see it: no
 * readable manifest listed it). The number of such chunks, or -errno.
 */
static int want_bad_chunks(struct cdt_repair *r, const struct wanted_manifest *wm)
{
	struct strbuf why = STRBUF_INIT;
	char hex[CDT_ID_HEXLEN + 1];
	struct cdt_manifest *m;
	uint64_t i, count;
	int ret, bad = 0;

	ret = cdt_manifest_open(r->store, &wm->id, &m, &why);
	if (ret < 0) {
		error("manifest %s cannot be read after it was written: %s", cdt_id_to_hex(&wm->id, hex),
		      why.len ? why.buf : cdt_strerror(ret));
		strbuf_release(&why);
		return ret;
	}
	count = cdt_manifest_count(m);
	for (i = 0; i < count; i++) {
		struct cdt_manifest_entry e;
		uint64_t *v;
		uint32_t len;

		ret = cdt_manifest_get(m, i, &e);
		if (ret < 0)
			break;
		if (cdt_chunk_read(r->reader, &e.id, e.len, r->check, &len, NULL) == 0)
			continue;
		bad++;
		v = cdt_idset_get(&r->want_ids, &e.id);
		if (v) {
			r->want[*v].done = 0;	/* bad after all */
			continue;
		}
		repair_want_chunk(&e.id, e.len, r);
		r->stats.damaged++;
	}
	cdt_manifest_close(m);
	strbuf_release(&why);
	if (ret < 0)
		return error_code(ret, "manifest %s cannot be read after it was written: %s",
				  cdt_id_to_hex(&wm->id, hex), cdt_strerror(ret));
	if (bad)
		repair_update_limits(r);
	return bad;
}

/*
 * A wanted manifest of fd's content, when fd (`size` bytes, chunks already
 * offered) has the size of one: queued to be written again (see
 * repair_flush_heals()). `follow`: what may be opened again by following
 * a symbolic link (a file named by the user). 0, what the commit of a
 * full batch restored (> 0), or -errno.
 */
int repair_heal_manifest(struct cdt_repair *r, int fd, const char *what, int follow,
			 uint64_t size)
{
	struct wanted_manifest *wm = NULL;
	struct cdt_id content;
	size_t i = 0;
	int ret;

	if (!repair_manifest_of_size(r, size, &i))
		return 0;
	ret = file_content_id(r, fd, what, size, &content);
	if (ret)
		return ret < 0 ? ret : 0;
	for (i = 0; (wm = repair_manifest_of_size(r, size, &i)); i++)
		if (cdt_id_eq(&wm->id, &content))
			break;
	if (!wm)
		return 0;
	ret = queue_manifest(r, fd, what, follow, wm);
	if (ret < 0)
		return ret;
	if (r->nheals >= HEAL_GROUP)
		return repair_flush_heals(r);
	return 0;
}

/*
 * A committed heal: its manifest is written again; the chunks it lists
 * that do not read good are made good from its file (opened again).
 * restored counts chunks written back. 0 or -errno.
 */
static int finish_heal(struct cdt_repair *r, const struct heal *h, int *restored)
{
	struct wanted_manifest *wm = &r->wman[h->wm];
	char hex[CDT_ID_HEXLEN + 1];
	struct stat st;
	int ret = 0, pass, fd = -1;

	/* Missing where the check could not see it, and now stored: restored. */
	r->stats.damaged += h->added;
	r->stats.restored += h->added;
	*restored += (int)h->added;
	/* Chunks it lists that are damaged: found in the same file, and checked again. */
	for (pass = 0; !ret && pass < 2; pass++) {
		ret = want_bad_chunks(r, wm);
		if (ret <= 0 || pass)
			break;
		fd = open(h->what, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC |
			  (h->follow ? 0 : O_NOFOLLOW));
		if (fd < 0 || fstat(fd, &st) < 0) {
			ret = error_code(-errno, "cannot open '%s' again: %s", quote(h->what),
					 cdt_strerror(errno));
			break;
		}
		/* Changed since: its chunks are checked against their ids all the same. */
		if (S_ISREG(st.st_mode))
			ret = repair_scan_fd(r, fd, h->what, (uint64_t)st.st_size, restored);
		repair_commit_staged(r, restored);
		close(fd);
		fd = -1;
	}
	if (fd >= 0)
		close(fd);
	if (ret < 0)
		return ret;
	if (ret > 0) {
		error("manifest %s of '%s' was written again from '%s', but %d of its chunks still fail",
		      cdt_id_to_hex(&wm->id, hex), quote(wm->name), quote(h->what), ret);
		return 0;
	}
	r->stats.manifests_restored++;
	cdt_fsck_manifest_healed(r->fsck, &wm->id);
	if (r->opt.manifest_restored)
		r->opt.manifest_restored(&wm->id, wm->name, h->what, h->added, r->opt.data);
	return 0;
}

int repair_flush_heals(struct cdt_repair *r)
{
	int restored = 0, ret = 0, err;
	size_t i;

	if (!r->nheals)
		return 0;
	err = cdt_ingest_commit(r->heal_ing);
	for (i = 0; i < r->nheals; i++) {
		struct heal *h = &r->heals[i];

		if (!h->committed)
			h->err = err < 0 ? err : -EIO;
		if (h->err < 0) {
			/* Reported by the commit: another file of its content may do. */
			r->wman[h->wm].done = 0;
			r->wman_left++;
		} else if ((err = finish_heal(r, h, &restored)) < 0 && !ret) {
			ret = err;
		}
		free(h->what);
	}
	r->nheals = 0;
	return ret < 0 ? ret : restored;
}
