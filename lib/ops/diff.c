/* diff.c: compare the names under two prefixes: a merge of two walks of names/, and new chunks. */
#include "ops/diff.h"
#include "ops/chunks.h"
#include "ops/restore.h"
#include "base/hash.h"
#include "base/idset.h"
#include "format/manifest.h"
#include "base/util.h"
#include "base/testpoint.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cdt_name_entry_diff(), with the link targets (ta, tb) to compare. */
static unsigned entry_diff(const struct cdt_name_entry *a, const struct cdt_name_entry *b,
			   const char *ta, const char *tb)
{
	unsigned what = 0;

	/* What a name is: its type, content, link target or first hard link. */
	if (a->type != b->type)
		what |= CDT_DIFF_TYPE | CDT_DIFF_CONTENT;
	else if (!cdt_id_eq(&a->content, &b->content) || a->size != b->size || strcmp(ta, tb))
		what |= CDT_DIFF_CONTENT;
	if (a->mode != b->mode)
		what |= CDT_DIFF_MODE;
	/* Records in name order (see format/names.h): the same attributes, the same bytes. */
	if (a->xattrs_len != b->xattrs_len ||
	    (a->xattrs_len && memcmp(a->xattrs, b->xattrs, a->xattrs_len)))
		what |= CDT_DIFF_XATTRS;
	if (a->uid != b->uid || a->gid != b->gid)
		what |= CDT_DIFF_OWNER;
	/*
	 * A directory's mtime changes with every name added or removed in it:
	 * what changed inside is shown by those names themselves.
	 */
	if ((a->mtime_sec != b->mtime_sec || a->mtime_nsec != b->mtime_nsec) &&
	    !(a->type == CDT_NAME_DIR && b->type == CDT_NAME_DIR))
		what |= CDT_DIFF_MTIME;
	return what;
}

unsigned cdt_name_entry_diff(const struct cdt_name_entry *a, const struct cdt_name_entry *b)
{
	return entry_diff(a, b, a->target, b->target);
}

/* One entry of a walk: its stored name, and the entry or why there is none. */
struct slot {
	struct strbuf name;
	struct strbuf why;
	struct strbuf xattrs;		/* e.xattrs points here */
	struct cdt_name_entry e;	/* e.name unused: names may be longer when damaged */
	int ok;
};

#define QUEUE_LEN 128

/*
 * The first prefix's walk runs in a thread and hands its entries over
 * through a ring of QUEUE_LEN slots: the producer waits while it is full,
 * the consumer (the second walk's callback) while it is empty.
 */
struct queue {
	pthread_mutex_t lock;
	pthread_cond_t not_full, not_empty;
	struct slot slots[QUEUE_LEN];
	size_t head, count;
	int done, stop;		/* the walk has ended; the consumer wants no more */
	int ret;		/* the walk's return */
	struct cdt_store *store;
	const char *prefix;
};

static void slot_set(struct slot *sl, const char *name, const struct cdt_name_entry *e,
		     int err, const char *why)
{
	strbuf_reset(&sl->name);
	strbuf_addstr(&sl->name, name);
	strbuf_reset(&sl->why);
	sl->ok = e != NULL;
	if (e) {
		sl->e = *e;
		/* The walk frees them when the callback returns: a copy is compared. */
		strbuf_reset(&sl->xattrs);
		if (e->xattrs_len)
			strbuf_add(&sl->xattrs, e->xattrs, e->xattrs_len);
		sl->e.xattrs = (unsigned char *)sl->xattrs.buf;
	} else
		strbuf_addstr(&sl->why, why && *why ? why : cdt_strerror(err));
}

static int produce(const char *name, const struct cdt_name_entry *e, int err, const char *why,
		   void *data)
{
	struct queue *q = data;
	size_t at;
	int stop;

	pthread_mutex_lock(&q->lock);
	while (q->count == QUEUE_LEN && !q->stop)
		pthread_cond_wait(&q->not_full, &q->lock);
	stop = q->stop;
	/*
	 * The slot after the last, found under the lock: head and count
	 * change as the consumer pops (read outside it, an old head with a
	 * new count named a slot still queued, and an entry was lost).
	 */
	at = (q->head + q->count) % QUEUE_LEN;
	pthread_mutex_unlock(&q->lock);
	if (stop)
		return 1;
	/* That slot is the producer's alone until count says otherwise. */
	slot_set(&q->slots[at], name, e, err, why);
	pthread_mutex_lock(&q->lock);
	if (!q->count++)
		pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

static void *producer(void *data)
{
	struct queue *q = data;
	int ret = cdt_names_walk(q->store, q->prefix, produce, q);

	cdt_hash_thread_cleanup();	/* the walk hashed each entry it read */
	pthread_mutex_lock(&q->lock);
	q->ret = ret;
	q->done = 1;
	pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

/* The first prefix's next entry, left in the queue; NULL at its end. */
static struct slot *peek(struct queue *q)
{
	struct slot *sl = NULL;

	pthread_mutex_lock(&q->lock);
	while (!q->count && !q->done)
		pthread_cond_wait(&q->not_empty, &q->lock);
	if (q->count)
		sl = &q->slots[q->head];
	pthread_mutex_unlock(&q->lock);
	return sl;
}

static void pop(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->head = (q->head + 1) % QUEUE_LEN;
	if (q->count-- == QUEUE_LEN)
		pthread_cond_signal(&q->not_full);
	pthread_mutex_unlock(&q->lock);
}

struct merge {
	struct queue q;
	const char *prefix2;		/* the first is q.prefix */
	size_t len1, len2;		/* of the prefixes */
	unsigned flags;
	cdt_diff_fn fn;
	void *data;
	struct cdt_diff_result *res;
	/*
	 * CDT_DIFF_CHUNKS: each side's content ids, each mapped to the offset
	 * in `holders` of a name that held it when walked (its size, 8
	 * bytes, then the name and a NUL), to tell a manifest that a
	 * concurrent rm or add and gc took away from a missing one.
	 */
	struct cdt_idset contents1, contents2;
	struct strbuf holders;
	struct slot b;			/* the second walk's entry */
	/*
	 * A name that is a file or link on one side and a directory on the
	 * other is compared when its entry that is not a directory is
	 * walked; the directory's entry, read ahead into `ahead`, is passed
	 * over when its walk gets there (skip[0] for the first walk, skip[1]
	 * the second). Each is a stack: names pushed later sort between a
	 * name and its '/', so they are reached first.
	 */
	struct slot ahead;
	struct cdt_name_entry look;
	struct skip {
		char **names;
		size_t nr, alloc;
	} skip[2];
};

/* A stored name relative to its prefix (the prefix itself is ""). */
static const char *relative(const char *name, size_t plen)
{
	if (!plen)
		return name;
	return name[plen] ? name + plen + 1 : name + plen;
}

/*
 * Compare relative names a and b in the order of cdt_names_walk(): a
 * stored directory (dira, dirb) sorts as if its name ended in '/', before
 * the names under it, so "e.y" comes before the directory "e". The same
 * name is 0 whatever its type on each side, so that a name that changed
 * type is matched when no other name sorts between its two places (when
 * one does, the directory is read ahead: see struct merge).
 */
static int walk_cmp(const char *a, int dira, const char *b, int dirb)
{
	const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
	int c1, c2;

	while (*p && *p == *q) {
		p++;
		q++;
	}
	if (!*p && !*q)
		return 0;
	/* The prefix itself ("") comes first. */
	c1 = *p ? *p : dira && *a ? '/' : 0;
	c2 = *q ? *q : dirb && *b ? '/' : 0;
	if (c1 != c2)
		return c1 - c2;
	/* A directory and a name under it: the directory first. */
	return *p ? 1 : -1;
}

static int slot_is_dir(const struct slot *sl)
{
	return sl->ok && sl->e.type == CDT_NAME_DIR;
}

/*
 * Might the other walk, now at `other`, still come to a directory named
 * rel? Only when it is at a name between rel and rel + '/'.
 */
static int dir_may_follow(const char *rel, const char *other)
{
	size_t len = strlen(rel);

	return *rel && !strncmp(other, rel, len) && other[len] &&
	       (unsigned char)other[len] < '/';
}

/*
 * Read ahead the entry of rel under prefix into m->ahead: 1 when it is a
 * directory, else 0 (none, or not one, or unreadable: the walk will tell).
 */
static int read_dir_ahead(struct merge *m, const char *prefix, size_t plen, const char *rel)
{
	struct strbuf name = STRBUF_INIT, why = STRBUF_INIT;
	int ret;

	strbuf_add(&name, prefix, plen);
	if (plen)
		strbuf_addch(&name, '/');
	strbuf_addstr(&name, rel);
	ret = cdt_name_read(m->q.store, name.buf, &m->look, &why) == 0 &&
	      m->look.type == CDT_NAME_DIR;
	if (ret)
		slot_set(&m->ahead, name.buf, &m->look, 0, NULL);
	cdt_name_entry_release(&m->look);
	strbuf_release(&name);
	strbuf_release(&why);
	return ret;
}

/*
 * Is the entry rel (a directory: isdir) of walk `side` one compared ahead?
 * Names on the stack that the walk has passed are dropped.
 */
static int skip_ahead(struct merge *m, int side, const char *rel, int isdir)
{
	struct skip *sk = &m->skip[side];

	while (sk->nr) {
		const char *top = sk->names[sk->nr - 1];
		int cmp = walk_cmp(top, 1, rel, isdir);

		if (cmp > 0)
			return 0;
		free(sk->names[--sk->nr]);
		if (!cmp && isdir)
			return 1;
	}
	return 0;
}

static void skip_push(struct merge *m, int side, const char *rel)
{
	struct skip *sk = &m->skip[side];

	ALLOC_GROW(sk->names, sk->nr + 1, sk->alloc);
	sk->names[sk->nr++] = xstrdup(rel);
}

/* A stored name relative to prefix (plen bytes), or NULL when it is not under it. */
static const char *under(const char *name, const char *prefix, size_t plen)
{
	if (plen && (strncmp(name, prefix, plen) || (name[plen] && name[plen] != '/')))
		return NULL;
	return relative(name, plen);
}

/*
 * What differs between a and b. A hard link's target is a whole stored
 * name: when each is under its own side's prefix, they are compared
 * relative to it, as the names themselves are.
 */
static unsigned slot_diff(const struct merge *m, const struct cdt_name_entry *a,
			  const struct cdt_name_entry *b)
{
	const char *ta = a->target, *tb = b->target;

	if (a->type == CDT_NAME_REG && b->type == CDT_NAME_REG &&
	    a->flags & CDT_NAME_HARDLINK && b->flags & CDT_NAME_HARDLINK) {
		const char *ra = under(ta, m->q.prefix, m->len1);
		const char *rb = under(tb, m->prefix2, m->len2);

		if (ra && rb) {
			ta = ra;
			tb = rb;
		}
	}
	return entry_diff(a, b, ta, tb);
}

static void add_content(struct merge *m, struct cdt_idset *set, const struct slot *sl)
{
	if (cdt_idset_has(set, &sl->e.content))
		return;
	cdt_idset_put(set, &sl->e.content, m->holders.len);
	strbuf_add(&m->holders, &sl->e.size, sizeof(sl->e.size));
	strbuf_add(&m->holders, sl->name.buf, sl->name.len + 1);
}

/*
 * A manifest that could not be read (err): when the name that held it
 * holds it no more, say so (-ESTALE); else 0, and the caller reports err.
 */
static int holder_moved(struct cdt_store *s, const struct merge *m, const struct cdt_idset *set,
			const struct cdt_id *id, int err)
{
	struct cdt_name_entry *e;
	const char *at;
	int ret;

	if (!cdt_err_is_damage(err))
		return 0;
	at = m->holders.buf + *cdt_idset_get(set, id);
	e = xcalloc(1, sizeof(*e));
	memcpy(&e->size, at, sizeof(e->size));
	snprintf(e->name, sizeof(e->name), "%s", at + sizeof(e->size));
	e->type = CDT_NAME_REG;
	e->content = *id;
	ret = cdt_restore_report_moved(s, e, err);
	free(e);
	return ret;
}

static int emit(struct merge *m, const char *path, const struct slot *a, const struct slot *b)
{
	struct cdt_diff_item it = { path, 0, NULL, NULL, NULL, NULL };
	struct cdt_diff_result *r = m->res;

	if ((a && !a->ok) || (b && !b->ok)) {
		const struct slot *bad = a && !a->ok ? a : b;

		it.what = CDT_DIFF_DAMAGED;
		it.damaged_name = bad->name.buf;
		it.why = bad->why.buf;
		r->damaged++;
		/* Both sides damaged: each is said. */
		if (a && !a->ok && b && !b->ok) {
			int ret = m->fn(&it, m->data);

			if (ret)
				return ret;
			it.damaged_name = b->name.buf;
			it.why = b->why.buf;
			r->damaged++;
		}
		return m->fn(&it, m->data);
	}
	it.a = a ? &a->e : NULL;
	it.b = b ? &b->e : NULL;
	/* Only regular files have contents (a link's or directory's id is zeros). */
	if (a && m->flags & CDT_DIFF_CHUNKS && cdt_name_has_content(&a->e))
		add_content(m, &m->contents1, a);
	if (b && m->flags & CDT_DIFF_CHUNKS && cdt_name_has_content(&b->e))
		add_content(m, &m->contents2, b);
	if (a && b) {
		it.what = slot_diff(m, &a->e, &b->e);
		if (!it.what) {
			r->same++;
			return 0;
		}
		if (it.what & CDT_DIFF_TYPE) {
			/* A directory or a link has no bytes: the file's are removed or added. */
			r->changed++;
			if (cdt_name_has_content(&a->e))
				r->removed_bytes += a->e.size;
			if (cdt_name_has_content(&b->e))
				r->added_bytes += b->e.size;
		} else if (it.what & CDT_DIFF_CONTENT) {
			r->changed++;
			r->old_bytes += a->e.size;
			r->new_bytes += b->e.size;
		} else {
			r->meta_only++;
		}
	} else if (a) {
		it.what = CDT_DIFF_REMOVED;
		r->removed++;
		r->removed_bytes += a->e.size;
	} else {
		it.what = CDT_DIFF_ADDED;
		r->added++;
		r->added_bytes += b->e.size;
	}
	return m->fn(&it, m->data);
}

/* Each entry of the second walk: the first's entries before it are removed names. */
static int consume(const char *name, const struct cdt_name_entry *e, int err, const char *why,
		   void *data)
{
	struct merge *m = data;
	struct slot *b = &m->b, *a;
	const char *rb;
	int ret, cmp;

	slot_set(b, name, e, err, why);
	rb = relative(b->name.buf, m->len2);
	if (skip_ahead(m, 1, rb, slot_is_dir(b)))
		return 0;
	while ((a = peek(&m->q))) {
		const char *ra = relative(a->name.buf, m->len1);

		if (skip_ahead(m, 0, ra, slot_is_dir(a))) {
			pop(&m->q);
			continue;
		}
		cmp = walk_cmp(ra, slot_is_dir(a), rb, slot_is_dir(b));
		if (cmp > 0)
			break;
		/* A file here may be a directory there, after the names between. */
		if (cmp && a->ok && !slot_is_dir(a) && dir_may_follow(ra, rb) &&
		    read_dir_ahead(m, m->prefix2, m->len2, ra)) {
			skip_push(m, 1, ra);
			ret = emit(m, ra, a, &m->ahead);
		} else {
			ret = emit(m, ra, a, cmp ? NULL : b);
		}
		pop(&m->q);
		if (ret || !cmp)
			return ret;
	}
	if (a && b->ok && !slot_is_dir(b) &&
	    dir_may_follow(rb, relative(a->name.buf, m->len1)) &&
	    read_dir_ahead(m, m->q.prefix, m->len1, rb)) {
		skip_push(m, 0, rb);
		return emit(m, rb, &m->ahead, b);
	}
	return emit(m, rb, NULL, b);
}

static int first_name(const char *name, const struct cdt_name_entry *e, int err,
		      const char *why, void *data)
{
	(void)name; (void)e; (void)err; (void)why; (void)data;
	return 1;
}

/* Is there a name (good or damaged) under prefix? 1, 0, or -errno (reported). */
static int has_names(struct cdt_store *s, const char *prefix)
{
	int ret = cdt_names_walk(s, prefix, first_name, NULL);

	if (ret < 0)
		return error_code(ret, "cannot list '%s': %s", quote(prefix), cdt_strerror(ret));
	if (!ret)
		error("no such name or directory of names: '%s'", quote(prefix));
	return ret;
}

/* Chunks the second side's contents list and the first side's do not. */
static int count_new_chunks(struct cdt_store *s, struct merge *m)
{
	struct cdt_idset old = CDT_IDSET_INIT, seen = CDT_IDSET_INIT;
	struct strbuf why = STRBUF_INIT;
	char hex[CDT_ID_HEXLEN + 1];
	int pass, bad = 0, moved = 0;
	size_t i;

	for (pass = 0; pass < 2; pass++) {
		const struct cdt_idset *set = pass ? &m->contents2 : &m->contents1;

		for (i = 0; i < set->cap; i++) {
			struct cdt_manifest *man;
			uint64_t k, n;
			int ret;

			if (!set->used[i] || (pass && cdt_idset_has(&m->contents1, &set->ids[i])))
				continue;
			strbuf_reset(&why);
			ret = cdt_manifest_open(s, &set->ids[i], &man, &why);
			if (ret < 0 && holder_moved(s, m, set, &set->ids[i], ret) < 0) {
				moved = 1;
				continue;
			}
			if (ret < 0) {
				error("manifest %s cannot be read: %s", cdt_id_to_hex(&set->ids[i], hex),
				      why.len ? why.buf : cdt_strerror(ret));
				bad = 1;
				continue;
			}
			n = cdt_manifest_count(man);
			for (k = 0; k < n; k++) {
				struct cdt_manifest_entry e;
				int64_t sz;

				if (cdt_manifest_get(man, k, &e) < 0) {
					error("manifest %s cannot be read", cdt_id_to_hex(&set->ids[i], hex));
					bad = 1;
					break;
				}
				if (!pass) {
					cdt_idset_add(&old, &e.id);
					continue;
				}
				if (cdt_idset_has(&old, &e.id) || !cdt_idset_add(&seen, &e.id))
					continue;
				m->res->new_chunks++;
				m->res->new_raw_bytes += e.len;
				sz = cdt_chunk_stored_size(s, &e.id);
				if (sz > 0)
					m->res->new_stored_bytes += (uint64_t)sz;
			}
			cdt_manifest_close(man);
		}
	}
	cdt_idset_clear(&old);
	cdt_idset_clear(&seen);
	strbuf_release(&why);
	return bad ? -CDT_ECORRUPT : moved ? -ESTALE : 0;
}

int cdt_diff(struct cdt_store *s, const char *prefix1, const char *prefix2, unsigned flags,
	     cdt_diff_fn fn, void *data, struct cdt_diff_result *res)
{
	struct merge m;
	pthread_t th;
	struct slot *a;
	size_t i;
	int ret;

	memset(res, 0, sizeof(*res));
	ret = has_names(s, prefix1);
	if (ret > 0)
		ret = has_names(s, prefix2);
	if (ret <= 0)
		return ret ? ret : -ENOENT;

	memset(&m, 0, sizeof(m));
	pthread_mutex_init(&m.q.lock, NULL);
	pthread_cond_init(&m.q.not_full, NULL);
	pthread_cond_init(&m.q.not_empty, NULL);
	for (i = 0; i < QUEUE_LEN; i++) {
		strbuf_init(&m.q.slots[i].name, 0);
		strbuf_init(&m.q.slots[i].why, 0);
		strbuf_init(&m.q.slots[i].xattrs, 0);
	}
	strbuf_init(&m.b.name, 0);
	strbuf_init(&m.b.why, 0);
	strbuf_init(&m.b.xattrs, 0);
	strbuf_init(&m.ahead.name, 0);
	strbuf_init(&m.ahead.why, 0);
	strbuf_init(&m.ahead.xattrs, 0);
	strbuf_init(&m.holders, 0);
	m.q.store = s;
	m.q.prefix = prefix1;
	m.prefix2 = prefix2;
	m.len1 = strlen(prefix1);
	m.len2 = strlen(prefix2);
	m.flags = flags;
	m.fn = fn;
	m.data = data;
	m.res = res;
	ret = pthread_create(&th, NULL, producer, &m.q);
	if (ret) {
		ret = error_code(-ret, "cannot start a thread: %s", cdt_strerror(-ret));
		goto out;
	}
	ret = cdt_names_walk(s, prefix2, consume, &m);
	if (ret < 0)
		error("cannot list '%s': %s", quote(prefix2), cdt_strerror(ret));
	/* What is left of the first walk was removed. */
	while (!ret && (a = peek(&m.q))) {
		const char *ra = relative(a->name.buf, m.len1);

		if (!skip_ahead(&m, 0, ra, slot_is_dir(a)))
			ret = emit(&m, ra, a, NULL);
		pop(&m.q);
	}
	pthread_mutex_lock(&m.q.lock);
	m.q.stop = 1;
	pthread_cond_signal(&m.q.not_full);
	pthread_mutex_unlock(&m.q.lock);
	pthread_join(th, NULL);
	/* A walk stopped by the consumer returns 1: not an error of its own. */
	if (!ret && m.q.ret < 0)
		ret = error_code(m.q.ret, "cannot list '%s': %s", quote(prefix1),
				 cdt_strerror(m.q.ret));
	if (!ret && flags & CDT_DIFF_CHUNKS) {
		cdt_pause_point("restore-manifest");	/* (tests: a name goes here) */
		ret = count_new_chunks(s, &m);
	}
out:
	for (i = 0; i < QUEUE_LEN; i++) {
		strbuf_release(&m.q.slots[i].name);
		strbuf_release(&m.q.slots[i].why);
		strbuf_release(&m.q.slots[i].xattrs);
	}
	strbuf_release(&m.b.name);
	strbuf_release(&m.b.why);
	strbuf_release(&m.b.xattrs);
	strbuf_release(&m.ahead.name);
	strbuf_release(&m.ahead.why);
	strbuf_release(&m.ahead.xattrs);
	strbuf_release(&m.holders);
	for (i = 0; i < 2; i++) {
		while (m.skip[i].nr)
			free(m.skip[i].names[--m.skip[i].nr]);
		free(m.skip[i].names);
	}
	cdt_idset_clear(&m.contents1);
	cdt_idset_clear(&m.contents2);
	pthread_cond_destroy(&m.q.not_full);
	pthread_cond_destroy(&m.q.not_empty);
	pthread_mutex_destroy(&m.q.lock);
	return ret;
}
