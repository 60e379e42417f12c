/* tree.c: building, searching and swapping the in-memory tree of stored names. */
#include "tree.h"
#include "format/names.h"
#include "base/strbuf.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Unreadable names reported one by one per rebuild; the rest are counted. */
#define MAX_REPORTED 10

/*
 * A directory whose mtime is this close to the start of the walk may have
 * changed again within the same timestamp tick after we read it; such a
 * tree is rebuilt at the next check whatever the stamps say.
 */
#define STAMP_GRACE_NS 1000000000LL

struct dir_stamp {
	char *path;	/* relative to names/; "." for names/ itself */
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
};

struct build {
	struct view_tree *t;
	const struct view_tree *old;
};

static struct view_node *new_node(const char *base, size_t len, int is_dir)
{
	struct view_node *n = xcalloc(1, sizeof(*n));

	n->base = xstrndup(base, len);
	n->is_dir = !!is_dir;
	return n;
}

static void add_kid(struct view_node *dir, struct view_node *kid)
{
	ALLOC_GROW(dir->kids, dir->nkids + 1, dir->alloc);
	dir->kids[dir->nkids++] = kid;
	if (kid->is_dir)
		dir->nsubdirs++;
}

static void newer_mtime(struct view_node *dir, const struct cdt_name_entry *e)
{
	/* A stored directory shows its own times, not its newest name's. */
	if (dir->has_meta)
		return;
	if (e->mtime_sec > dir->mtime_sec ||
	    (e->mtime_sec == dir->mtime_sec && e->mtime_nsec > dir->mtime_nsec)) {
		dir->mtime_sec = e->mtime_sec;
		dir->mtime_nsec = e->mtime_nsec;
	}
	if (e->added_sec > dir->added_sec)
		dir->added_sec = e->added_sec;
}

static int cmp_node(const void *a, const void *b)
{
	const struct view_node *x = *(const struct view_node *const *)a;
	const struct view_node *y = *(const struct view_node *const *)b;

	return strcmp(x->base, y->base);
}

/* Find the child `base` (len bytes) of dir by binary search. */
static struct view_node *find_kid(const struct view_node *dir, const char *base, size_t len)
{
	size_t lo = 0, hi = dir->nkids;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *k = dir->kids[mid]->base;
		int c = strncmp(k, base, len);

		if (!c)
			c = k[len] ? 1 : 0;
		if (!c)
			return dir->kids[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Look up a relative name ("a/b"); "" is the root. */
static struct view_node *lookup_rel(const struct view_tree *t, const char *name)
{
	struct view_node *n = t->root;

	while (*name && n) {
		const char *slash = strchr(name, '/');
		size_t len = slash ? (size_t)(slash - name) : strlen(name);

		if (!n->is_dir)
			return NULL;
		if (len)
			n = find_kid(n, name, len);
		name += len;
		while (*name == '/')
			name++;
	}
	return n;
}

struct view_node *view_tree_lookup(const struct view_tree *t, const char *path)
{
	while (*path == '/')
		path++;
	return lookup_rel(t, path);
}

/* Does file node n show what o showed (its attributes, its bytes)? */
static int same_file(const struct view_node *o, const struct view_node *n)
{
	return o->is_link == n->is_link && o->mode == n->mode && o->uid == n->uid &&
	       o->gid == n->gid && o->mtime_sec == n->mtime_sec &&
	       o->mtime_nsec == n->mtime_nsec && o->size == n->size &&
	       cdt_id_eq(&o->content, &n->content) &&
	       (!o->is_link || !strcmp(o->target, n->target));
}

static int add_name(const char *name, const struct cdt_name_entry *e, int err,
		    const char *why, void *data)
{
	struct build *b = data;
	struct view_node *dir = b->t->root, *n;
	struct strbuf raw = STRBUF_INIT, w = STRBUF_INIT;
	const char *p, *slash, *sp = name, *sslash;

	/* The view shows the names files had, as restore writes them: raw bytes. */
	if (e && cdt_name_raw(e, &raw, &w) < 0) {
		why = w.buf;
		err = -EINVAL;
		e = NULL;
	}
	if (!e) {
		if (b->t->unreadable++ < MAX_REPORTED)
			error("cannot read name '%s': %s", quote(name), why && *why ? why : cdt_strerror(err));
		strbuf_release(&raw);
		strbuf_release(&w);
		return 0;
	}
	p = raw.buf;
	newer_mtime(dir, e);
	/* Raw and stored names have the same components, each escaped or not. */
	while ((slash = strchr(p, '/')) && (sslash = strchr(sp, '/'))) {
		size_t len = (size_t)(slash - p), slen = (size_t)(sslash - sp);
		struct view_node *last = dir->nkids ? dir->kids[dir->nkids - 1] : NULL;

		/* The walk goes down names/, so names under one directory come together. */
		if (last && last->is_dir && !strncmp(last->base, p, len) && !last->base[len]) {
			dir = last;
		} else {
			n = new_node(p, len, 1);
			if (slen != len || memcmp(sp, p, len))
				n->stored = xstrndup(sp, slen);
			add_kid(dir, n);
			b->t->dirs++;
			dir = n;
		}
		newer_mtime(dir, e);
		p = slash + 1;
		sp = sslash + 1;
	}
	if (e->type == CDT_NAME_DIR) {
		struct view_node *last = dir->nkids ? dir->kids[dir->nkids - 1] : NULL;

		/* Its entry comes before the names under it: the node is new. */
		if (last && last->is_dir && !strcmp(last->base, p)) {
			n = last;
		} else {
			n = new_node(p, strlen(p), 1);
			if (strcmp(sp, p))
				n->stored = xstrdup(sp);
			add_kid(dir, n);
			b->t->dirs++;
		}
		n->has_meta = 1;
		n->mode = e->mode & 07777;
		n->uid = e->uid;
		n->gid = e->gid;
		n->mtime_sec = e->mtime_sec;
		n->mtime_nsec = e->mtime_nsec;
		n->added_sec = e->added_sec;
		goto out;
	}
	n = new_node(p, strlen(p), 0);
	if (e->type == CDT_NAME_SYMLINK) {
		n->is_link = 1;
		n->target = xstrdup(e->target);
	}
	n->mode = e->mode & 07777;
	n->uid = e->uid;
	n->gid = e->gid;
	n->mtime_sec = e->mtime_sec;
	n->mtime_nsec = e->mtime_nsec;
	n->added_sec = e->added_sec;
	n->size = e->size;
	n->content = e->content;
	if (b->old) {
		const struct view_node *o = lookup_rel(b->old, raw.buf);

		if (o && !o->is_dir && !o->is_link && !n->is_link &&
		    cdt_id_eq(&o->content, &e->content))
			n->cached = __atomic_load_n(&o->cached, __ATOMIC_RELAXED);
		if (o && !o->is_dir && !same_file(o, n)) {
			ALLOC_GROW(b->t->changed, b->t->nchanged + 1, b->t->changed_alloc);
			b->t->changed[b->t->nchanged++] = xstrfmt("/%s", raw.buf);
		}
	}
	add_kid(dir, n);
	b->t->files++;
out:
	strbuf_release(&raw);
	strbuf_release(&w);
	return 0;
}

static void sort_dir(struct view_node *dir)
{
	size_t i;

	for (i = 1; i < dir->nkids; i++)
		if (strcmp(dir->kids[i - 1]->base, dir->kids[i]->base) >= 0)
			break;
	if (i < dir->nkids)
		qsort(dir->kids, dir->nkids, sizeof(*dir->kids), cmp_node);
	for (i = 0; i < dir->nkids; i++)
		if (dir->kids[i]->is_dir)
			sort_dir(dir->kids[i]);
}

static void free_node(struct view_node *n)
{
	size_t i;

	for (i = 0; i < n->nkids; i++)
		free_node(n->kids[i]);
	free(n->kids);
	free(n->base);
	free(n->stored);
	free(n->target);
	free(n);
}

static void stamp_dirs(struct view_tree *t, int namesfd, struct view_node *dir,
		       struct strbuf *path, size_t *alloc, const struct timespec *start)
{
	struct dir_stamp *st;
	struct stat sb;
	size_t i, keep;
	long long age;

	ALLOC_GROW(t->stamps, t->nstamps + 1, *alloc);
	st = &t->stamps[t->nstamps++];
	st->path = xstrdup(path->len ? path->buf : ".");
	if (fstatat(namesfd, st->path, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
		/* Gone already: the next check sees the difference. */
		memset(&st->mtime, 0, sizeof(st->mtime));
		st->dev = 0;
		st->ino = 0;
		t->unsure = 1;
	} else {
		st->dev = sb.st_dev;
		st->ino = sb.st_ino;
		st->mtime = sb.st_mtim;
		age = (long long)(start->tv_sec - sb.st_mtim.tv_sec) * 1000000000LL +
		      (start->tv_nsec - sb.st_mtim.tv_nsec);
		if (age < STAMP_GRACE_NS)
			t->unsure = 1;
	}
	for (i = 0; i < dir->nkids; i++) {
		if (!dir->kids[i]->is_dir)
			continue;
		keep = path->len;
		if (path->len)
			strbuf_addch(path, '/');
		strbuf_addstr(path, dir->kids[i]->stored ? dir->kids[i]->stored :
				    dir->kids[i]->base);
		stamp_dirs(t, namesfd, dir->kids[i], path, alloc, start);
		strbuf_setlen(path, keep);
	}
}

int view_tree_build(struct cdt_store *s, const struct view_tree *old, struct view_tree **out)
{
	struct view_tree *t = xcalloc(1, sizeof(*t));
	struct build b = { t, old };
	struct strbuf path = STRBUF_INIT;
	struct timespec start;
	size_t alloc = 0;
	int ret;

	t->root = new_node("", 0, 1);
	t->refs = 1;
	clock_gettime(CLOCK_REALTIME, &start);
	ret = cdt_names_walk(s, NULL, add_name, &b);
	if (ret < 0) {
		view_tree_free(t);
		*out = NULL;
		return ret;
	}
	if (t->unreadable > MAX_REPORTED)
		error("%zu more names cannot be read (run 'cdt fsck')", t->unreadable - MAX_REPORTED);
	sort_dir(t->root);
	stamp_dirs(t, cdt_store_dirfd(s, CDT_DIR_NAMES), t->root, &path, &alloc, &start);
	if (!t->root->nkids && t->stamps[0].mtime.tv_sec) {
		/* No names: the root shows when names/ last changed. */
		t->root->mtime_sec = t->stamps[0].mtime.tv_sec;
		t->root->mtime_nsec = (uint32_t)t->stamps[0].mtime.tv_nsec;
		t->root->added_sec = t->root->mtime_sec;
	}
	strbuf_release(&path);
	*out = t;
	return 0;
}

void view_tree_free(struct view_tree *t)
{
	size_t i;

	if (!t)
		return;
	free_node(t->root);
	for (i = 0; i < t->nstamps; i++)
		free(t->stamps[i].path);
	free(t->stamps);
	for (i = 0; i < t->nchanged; i++)
		free(t->changed[i]);
	free(t->changed);
	free(t);
}

int view_tree_stale(struct cdt_store *s, const struct view_tree *t)
{
	int namesfd = cdt_store_dirfd(s, CDT_DIR_NAMES);
	struct stat sb;
	size_t i;

	if (t->unsure)
		return 1;
	for (i = 0; i < t->nstamps; i++) {
		const struct dir_stamp *st = &t->stamps[i];

		if (fstatat(namesfd, st->path, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT || errno == ENOTDIR)
				return 1;
			return -errno;
		}
		if (sb.st_dev != st->dev || sb.st_ino != st->ino ||
		    sb.st_mtim.tv_sec != st->mtime.tv_sec ||
		    sb.st_mtim.tv_nsec != st->mtime.tv_nsec)
			return 1;
	}
	return 0;
}

void view_current_init(struct view_current *c)
{
	pthread_mutex_init(&c->lock, NULL);
	c->tree = NULL;
}

void view_current_release(struct view_current *c)
{
	if (c->tree)
		view_tree_put(c, c->tree);
	c->tree = NULL;
	pthread_mutex_destroy(&c->lock);
}

void view_current_set(struct view_current *c, struct view_tree *fresh)
{
	struct view_tree *old;

	pthread_mutex_lock(&c->lock);
	old = c->tree;
	c->tree = fresh;
	pthread_mutex_unlock(&c->lock);
	if (old)
		view_tree_put(c, old);
}

struct view_tree *view_tree_get(struct view_current *c)
{
	struct view_tree *t;

	pthread_mutex_lock(&c->lock);
	t = c->tree;
	t->refs++;
	pthread_mutex_unlock(&c->lock);
	return t;
}

void view_tree_put(struct view_current *c, struct view_tree *t)
{
	unsigned left;

	pthread_mutex_lock(&c->lock);
	left = --t->refs;
	pthread_mutex_unlock(&c->lock);
	if (!left)
		view_tree_free(t);
}
