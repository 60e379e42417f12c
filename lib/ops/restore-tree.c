/* restore-tree.c: write the names under a prefix back into a directory, files in parallel, never outside it. */
#include "ops/restore-tree.h"
#include "ops/restore.h"
#include "format/names.h"
#include "base/fsutil.h"
#include "base/hash.h"
#include "base/util.h"
#include "base/workers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifdef SYS_openat2
#include <linux/openat2.h>
#endif

#define TMP_PREFIX ".cdt-restore"

const char *cdt_tree_action_name(enum cdt_tree_action a)
{
	switch (a) {
	case CDT_TREE_WRITE: return "write";
	case CDT_TREE_REPLACE: return "replace";
	case CDT_TREE_SKIP: return "skip";
	case CDT_TREE_MKDIR: return "mkdir";
	case CDT_TREE_SYMLINK: return "symlink";
	case CDT_TREE_LINK: return "link";
	}
	return "?";
}

/* An open directory of the tree being written, shared by the files queued in it. */
struct tnode {
	int fd;			/* -1: it could not be made (reported) or, dry run, is not there */
	int missing;		/* dry run: it would be made, so everything under it is new */
	int refs;		/* under tree.mu */
};

enum { ST_PENDING, ST_DONE, ST_FAILED };

/* One stored name to restore: what its entry says, and how its restore went. */
struct titem {
	char *stored;		/* the stored name, for messages */
	char *rel;		/* raw path under DIR ("" for DIR itself) */
	const char *base;	/* its last component */
	uint8_t type, flags;
	uint32_t mode, uid, gid;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint64_t size;
	struct cdt_id content;
	char *target;		/* link target, or the stored name of the first hard link */
	unsigned char *xattrs;
	size_t xattrs_len;
	int leader;		/* the item this one is a hard link to, else -1 */
	int state;		/* ST_*, under tree.mu */
	struct tnode *dir;	/* while it is queued */
	int made;		/* a directory opened: its metadata is set at the end */
	dev_t dev;
	ino_t ino;
};

struct tree;

struct worker {
	struct tree *t;
	pthread_t thread;
	struct cdt_restore *r;
	struct cdt_name_entry *e;	/* what cdt_restore_fd() reads */
	struct cdt_hasher *h;
	unsigned char *buf;
	uint64_t last;			/* progress within the file being written */
};

struct tree {
	struct cdt_store *s;
	const struct cdt_tree_opts *o;
	struct cdt_tree_result *res;
	const char *dir;		/* as given, for messages */
	int dry, owners, xattrs;
	int rootfd;
	int root_made;			/* DIR did not exist */

	struct titem *items;
	size_t nr, alloc;
	size_t prefix_comps;		/* components of the prefix */
	const char *prefix;
	int walk_failed;

	pthread_mutex_t mu;
	pthread_cond_t work;		/* the queue has items (or is closing) */
	pthread_cond_t space;		/* the queue has room */
	pthread_cond_t state;		/* a file the main thread waits for is done */
	int waiting;			/* the main thread waits on `state` */
	size_t *queue;
	size_t qhead, qlen, qcap;
	int closing;
	struct worker *workers;
	int nworkers;
	int jobs;
	struct worker *big;		/* the main thread's, for big files */
	uint64_t done_bytes, done_names;
};

#define BUF_SIZE (1u << 20)
/*
 * A file this big is written by the main thread with every thread reading
 * ahead in it, as cat does, while the workers go on with small files: one
 * worker reading a big file alone would take longer than all of them.
 */
#define BIG_FILE (32u << 20)

/* ---- collecting the entries ---- */

static int count_comps(const char *s)
{
	int n = 1;

	for (; *s; s++)
		n += *s == '/';
	return n;
}

/*
 * The raw path under DIR of a name, from its raw bytes: everything after
 * the prefix's components (or, for the prefix itself, "" for a directory
 * and the last component for a file or link). Checked as untrusted: no
 * empty, "." or ".." component, no NUL, none longer than a file name.
 */
static int rel_path(const struct tree *t, const struct cdt_name_entry *e, struct strbuf *raw,
		    char **rel, struct strbuf *why)
{
	const char *p = raw->buf, *c;
	size_t i;

	if (strlen(raw->buf) != raw->len) {
		strbuf_addstr(why, "its name holds a NUL byte");
		return -EINVAL;
	}
	if (!strcmp(e->name, t->prefix)) {
		if (e->type == CDT_NAME_DIR) {
			*rel = xstrdup("");
			return 0;
		}
		c = strrchr(p, '/');
		p = c ? c + 1 : p;
	} else {
		for (i = 0; i < t->prefix_comps; i++) {
			c = strchr(p, '/');
			if (!c) {
				strbuf_addstr(why, "its name is not under the prefix");
				return -EINVAL;
			}
			p = c + 1;
		}
	}
	for (c = p;;) {
		const char *end = strchrnul(c, '/');
		size_t n = (size_t)(end - c);

		if (!n || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) {
			strbuf_addstr(why, "its name has an empty, '.' or '..' component");
			return -EINVAL;
		}
		if (n > 255) {
			strbuf_addstr(why, "its name has a component longer than 255 bytes");
			return -ENAMETOOLONG;
		}
		if (!*end)
			break;
		c = end + 1;
	}
	*rel = xstrdup(p);
	return 0;
}

static int collect(const char *name, const struct cdt_name_entry *e, int err, const char *why,
		   void *data)
{
	struct tree *t = data;
	struct strbuf raw = STRBUF_INIT, w = STRBUF_INIT;
	struct titem *it;
	char *rel = NULL;
	const char *slash;

	t->res->names++;
	if (!e) {
		error("cannot restore '%s': %s", quote(name), why ? why : cdt_strerror(err));
		t->res->failed++;
		return 0;
	}
	if (cdt_name_raw(e, &raw, &w) < 0 || rel_path(t, e, &raw, &rel, &w) < 0) {
		error("cannot restore '%s': %s", quote(name), w.buf);
		t->res->failed++;
		goto out;
	}
	ALLOC_GROW(t->items, t->nr + 1, t->alloc);
	it = &t->items[t->nr++];
	memset(it, 0, sizeof(*it));
	it->stored = xstrdup(e->name);
	it->rel = rel;
	slash = strrchr(rel, '/');
	it->base = slash ? slash + 1 : rel;
	it->type = e->type;
	it->flags = e->flags;
	it->mode = e->mode;
	it->uid = e->uid;
	it->gid = e->gid;
	it->mtime_sec = e->mtime_sec;
	it->mtime_nsec = e->mtime_nsec;
	it->size = e->size;
	it->content = e->content;
	it->target = e->target[0] ? xstrdup(e->target) : NULL;
	if (e->xattrs_len) {
		it->xattrs = xmalloc(e->xattrs_len);
		memcpy(it->xattrs, e->xattrs, e->xattrs_len);
		it->xattrs_len = e->xattrs_len;
	}
	it->leader = -1;
	if (e->type == CDT_NAME_REG)
		t->res->bytes += e->size;
out:
	strbuf_release(&raw);
	strbuf_release(&w);
	return 0;
}

static int cmp_stored(const void *a, const void *b, void *data)
{
	const struct titem *items = data;

	return strcmp(items[*(const size_t *)a].stored, items[*(const size_t *)b].stored);
}

/*
 * A hard link is made to the first name of its file restored in this run:
 * the name its entry names, if that came earlier, is a regular file and
 * has the same content (else it is written as a copy, which its own
 * content id allows).
 */
static void find_leaders(struct tree *t)
{
	size_t *idx = xmalloc((t->nr ? t->nr : 1) * sizeof(*idx)), i;

	for (i = 0; i < t->nr; i++)
		idx[i] = i;
	qsort_r(idx, t->nr, sizeof(*idx), cmp_stored, t->items);
	for (i = 0; i < t->nr; i++) {
		struct titem *it = &t->items[i];
		size_t lo = 0, hi = t->nr;

		if (it->type != CDT_NAME_REG || !(it->flags & CDT_NAME_HARDLINK) || !it->target)
			continue;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = strcmp(t->items[idx[mid]].stored, it->target);

			if (!c) {
				size_t j = idx[mid];
				struct titem *l = &t->items[j];

				if (l->leader >= 0)
					j = (size_t)l->leader;
				l = &t->items[j];
				if (j < i && l->type == CDT_NAME_REG && l->size == it->size &&
				    cdt_id_eq(&l->content, &it->content))
					it->leader = (int)j;
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	free(idx);
}

/* ---- helpers ---- */

static void report(struct tree *t, enum cdt_tree_action a, const char *stored)
{
	pthread_mutex_lock(&t->mu);
	if (t->o->action)
		t->o->action(a, stored, t->o->data);
	pthread_mutex_unlock(&t->mu);
}

/* Under t->mu. */
static void show_progress(struct tree *t)
{
	if (t->o->progress)
		t->o->progress(t->done_bytes, t->res->bytes, t->done_names, t->res->names,
			       t->o->data);
}

static void name_done(struct tree *t, int failed, int kept, uint64_t bytes_written)
{
	pthread_mutex_lock(&t->mu);
	t->done_names++;
	if (failed)
		t->res->failed++;
	else if (kept)
		t->res->skipped++;
	else
		t->res->written++;
	t->res->bytes_written += bytes_written;
	show_progress(t);
	pthread_mutex_unlock(&t->mu);
}

/* A regular file's state, which hard links to it wait for. */
static void set_state(struct tree *t, struct titem *it, int state)
{
	pthread_mutex_lock(&t->mu);
	it->state = state;
	if (t->waiting)
		pthread_cond_signal(&t->state);
	pthread_mutex_unlock(&t->mu);
}

static void node_unref(struct tree *t, struct tnode *n)
{
	int last;

	if (!n)
		return;
	pthread_mutex_lock(&t->mu);
	last = !--n->refs;
	pthread_mutex_unlock(&t->mu);
	if (last) {
		if (n->fd >= 0)
			close(n->fd);
		free(n);
	}
}

static void node_ref(struct tree *t, struct tnode *n)
{
	pthread_mutex_lock(&t->mu);
	n->refs++;
	pthread_mutex_unlock(&t->mu);
}

/* The path shown for an item in messages about the local file: DIR/rel. */
static const char *local_path(const struct tree *t, const struct titem *it, struct strbuf *sb)
{
	strbuf_reset(sb);
	strbuf_addstr(sb, t->dir);
	if (*it->rel) {
		strbuf_addch(sb, '/');
		strbuf_addstr(sb, it->rel);
	}
	return sb->buf;
}

/*
 * Open the directory rel under rootfd without leaving it and without
 * following any symbolic link: openat2() where the kernel has it, else one
 * component at a time with O_NOFOLLOW.
 */
static int open_dir_beneath(int rootfd, const char *rel)
{
	int fd;

	if (!*rel)
		fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else {
#ifdef SYS_openat2
		struct open_how how;

		memset(&how, 0, sizeof(how));
		how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
		fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
		if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
			return fd < 0 ? (errno == ELOOP ? -ENOTDIR : -errno) : fd;
#endif
		return openat_beneath(rootfd, rel, O_RDONLY | O_DIRECTORY, 0);
	}
	return fd < 0 ? -errno : fd;
}

/* Set one entry's stored extended attributes on fd, or on dirfd/base (a link). */
static void set_xattrs(const struct titem *it, int fd, int dirfd, const char *shown)
{
	const unsigned char *p = it->xattrs, *end = it->xattrs + it->xattrs_len;
	char path[64];

	if (fd < 0)
		snprintf(path, sizeof(path), "/proc/self/fd/%d/", dirfd);
	/* The records were checked when the entry was read. */
	while (p + 6 <= end) {
		uint16_t nl = get_le16(p);
		uint32_t vl = get_le32(p + 2);
		char *name = xstrndup((const char *)p + 6, nl);
		const void *value = p + 6 + nl;
		int ret;

		if (fd >= 0)
			ret = fsetxattr(fd, name, value, vl, 0);
		else {
			char *full = xstrfmt("%s%s", path, it->base);

			ret = lsetxattr(full, name, value, vl, 0);
			free(full);
		}
		if (ret < 0)
			warning("cannot set extended attribute '%s' of '%s': %s", quote(name),
				quote(shown), cdt_strerror(errno));
		free(name);
		p += 6 + nl + vl;
	}
}

/*
 * The stored metadata of a file or directory, on its open fd: owner (root
 * only: chown clears set-id bits, so it comes first), mode, extended
 * attributes (an ACL after the mode it refines), then the time.
 */
static int set_meta(struct tree *t, const struct titem *it, int fd, const char *shown)
{
	struct timespec ts[2];
	mode_t mode = t->owners ? it->mode & 07777 : it->mode & 01777;

	if (t->owners && fchown(fd, it->uid, it->gid) < 0)
		return error("cannot set the owner of '%s' to %u:%u: %s (--no-owner leaves owners alone)",
			     quote(shown), it->uid, it->gid, cdt_strerror(errno));
	if (fchmod(fd, mode) < 0)
		return error("cannot set the mode of '%s': %s", quote(shown), cdt_strerror(errno));
	if (t->xattrs && it->xattrs_len)
		set_xattrs(it, fd, -1, shown);
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = it->mtime_sec;
	ts[1].tv_nsec = it->mtime_nsec;
	if (futimens(fd, ts) < 0)
		return error("cannot set the modification time of '%s': %s", quote(shown),
			     cdt_strerror(errno));
	return 0;
}

/* The same for a symbolic link dirfd/it->base, never following it. */
static int set_link_meta(struct tree *t, const struct titem *it, int dirfd, const char *shown)
{
	struct timespec ts[2];

	if (t->owners && fchownat(dirfd, it->base, it->uid, it->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return error("cannot set the owner of '%s' to %u:%u: %s (--no-owner leaves owners alone)",
			     quote(shown), it->uid, it->gid, cdt_strerror(errno));
	if (t->xattrs && it->xattrs_len)
		set_xattrs(it, -1, dirfd, shown);
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = it->mtime_sec;
	ts[1].tv_nsec = it->mtime_nsec;
	if (utimensat(dirfd, it->base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return error("cannot set the modification time of '%s': %s", quote(shown),
			     cdt_strerror(errno));
	return 0;
}

/*
 * A fresh temporary name in dirfd, remembered so that a signal removes
 * whatever is made there: a regular file is made (and removed again when
 * `keep_file` is 0, so that a link can be made under the name instead).
 * Returns the open file (or 0 when not kept) or -errno.
 */
static int tmp_name(int dirfd, struct strbuf *name, int keep_file)
{
	int fd = tmpfile_openat(dirfd, TMP_PREFIX, name);

	if (fd < 0 || keep_file)
		return fd;
	close(fd);
	if (unlinkat(dirfd, name->buf, 0) < 0) {
		fd = -errno;
		tmpfile_forget(dirfd, name->buf);
		return fd;
	}
	return 0;
}

/* Does fd hold exactly the stored content? Hashes it: the content id is its SHA-256. */
static int same_content(struct worker *w, const struct titem *it, int fd)
{
	struct cdt_id got;
	uint64_t total = 0;
	ssize_t n;

	cdt_hasher_reset(w->h);
	while ((n = read_full(fd, w->buf, BUF_SIZE)) > 0) {
		cdt_hasher_update(w->h, w->buf, (size_t)n);
		total += (uint64_t)n;
		if (total > it->size)
			return 0;
	}
	if (n < 0)
		return n;
	cdt_hasher_final(w->h, &got);
	return total == it->size && cdt_id_eq(&got, &it->content);
}

/* ---- regular files (the workers) ---- */

static void file_progress(uint64_t done, void *data)
{
	struct worker *w = data;
	struct tree *t = w->t;

	pthread_mutex_lock(&t->mu);
	t->done_bytes += done - w->last;
	w->last = done;
	show_progress(t);
	pthread_mutex_unlock(&t->mu);
}

/*
 * An existing regular file with the same bytes is kept: only the stored
 * metadata is set. Not one with other links: setting its metadata would
 * change a file elsewhere (perhaps outside DIR), so it is replaced.
 * 1 kept, 0 not, -1 failed (reported).
 */
static int keep_identical(struct worker *w, const struct titem *it, int dirfd,
			  const struct stat *st, const char *shown)
{
	struct tree *t = w->t;
	struct stat fst;
	int fd, same;

	if (!S_ISREG(st->st_mode) || (uint64_t)st->st_size != it->size || st->st_nlink != 1)
		return 0;
	fd = openat(dirfd, it->base, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode) || fst.st_ino != st->st_ino ||
	    fst.st_dev != st->st_dev || fst.st_nlink != 1) {
		close(fd);
		return 0;
	}
	same = same_content(w, it, fd);
	if (same <= 0) {
		close(fd);
		return 0;
	}
	if (!t->dry && set_meta(t, it, fd, shown) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	return 1;
}

/* Write one regular file into it->dir. 0 or -1 (reported). */
static int restore_file(struct worker *w, struct titem *it)
{
	struct tree *t = w->t;
	struct strbuf shown = STRBUF_INIT, tmp = STRBUF_INIT;
	struct cdt_name_entry *e = w->e;
	int dirfd = it->dir->fd, fd = -1, ret = -1, existed = 0;
	struct stat st;

	local_path(t, it, &shown);
	if (it->dir->missing) {
		report(t, CDT_TREE_WRITE, it->stored);
		name_done(t, 0, 0, 0);
		strbuf_release(&shown);
		return 0;
	}
	if (fstatat(dirfd, it->base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		int kept;

		existed = 1;
		if (S_ISDIR(st.st_mode)) {
			error("cannot restore '%s': '%s' is a directory", quote(it->stored),
			      quote(shown.buf));
			goto out;
		}
		kept = keep_identical(w, it, dirfd, &st, shown.buf);
		if (kept < 0)
			goto out;
		if (kept) {
			pthread_mutex_lock(&t->mu);
			t->done_bytes += it->size;
			pthread_mutex_unlock(&t->mu);
			report(t, CDT_TREE_SKIP, it->stored);
			name_done(t, 0, 1, 0);
			ret = 0;
			goto done;
		}
	} else if (errno != ENOENT) {
		error("cannot restore '%s': %s", quote(it->stored), cdt_strerror(errno));
		goto out;
	}
	if (t->dry) {
		report(t, existed ? CDT_TREE_REPLACE : CDT_TREE_WRITE, it->stored);
		name_done(t, 0, 0, 0);
		ret = 0;
		goto done;
	}
	fd = tmp_name(dirfd, &tmp, 1);
	if (fd < 0) {
		error("cannot restore '%s': cannot create a temporary file in the directory of '%s': %s",
		      quote(it->stored), quote(shown.buf), cdt_strerror(fd));
		fd = -1;
		strbuf_reset(&tmp);
		goto out;
	}
	/* Nobody else reads the bytes before the stored mode is set. */
	if (fchmod(fd, 0600) < 0) {
		error("cannot restore '%s': cannot set the mode of a temporary file: %s",
		      quote(it->stored), cdt_strerror(errno));
		goto out;
	}
	memcpy(e->name, it->stored, strlen(it->stored) + 1);
	e->version = CDT_NAME_VERSION2;
	e->type = CDT_NAME_REG;
	e->size = it->size;
	e->content = it->content;
	w->last = 0;
	if (cdt_restore_fd(w->r, e, fd, shown.buf, 1) < 0)
		goto out;
	if (set_meta(t, it, fd, shown.buf) < 0)
		goto out;
	if (close(fd) < 0) {
		fd = -1;
		error("cannot write '%s': %s", quote(shown.buf), cdt_strerror(errno));
		goto out;
	}
	fd = -1;
	if (renameat(dirfd, tmp.buf, dirfd, it->base) < 0) {
		error("cannot restore '%s': cannot rename to '%s': %s", quote(it->stored),
		      quote(shown.buf), cdt_strerror(errno));
		goto out;
	}
	tmpfile_forget(dirfd, tmp.buf);
	strbuf_reset(&tmp);
	report(t, existed ? CDT_TREE_REPLACE : CDT_TREE_WRITE, it->stored);
	name_done(t, 0, 0, it->size);
	ret = 0;
	goto done;
out:
	if (fd >= 0)
		close(fd);
	if (tmp.len) {
		unlinkat(dirfd, tmp.buf, 0);
		tmpfile_forget(dirfd, tmp.buf);
	}
	name_done(t, 1, 0, 0);
done:
	/* What the progress line counted of a file that failed stays counted: the line moves on. */
	strbuf_release(&shown);
	strbuf_release(&tmp);
	return ret;
}

static void *worker_main(void *data)
{
	struct worker *w = data;
	struct tree *t = w->t;

	for (;;) {
		struct titem *it;
		size_t i;
		int ret;

		pthread_mutex_lock(&t->mu);
		while (!t->qlen && !t->closing)
			pthread_cond_wait(&t->work, &t->mu);
		if (!t->qlen) {
			pthread_mutex_unlock(&t->mu);
			break;
		}
		i = t->queue[t->qhead];
		t->qhead = (t->qhead + 1) % t->qcap;
		t->qlen--;
		pthread_cond_signal(&t->space);
		pthread_mutex_unlock(&t->mu);

		it = &t->items[i];
		ret = restore_file(w, it);
		node_unref(t, it->dir);
		it->dir = NULL;
		set_state(t, it, ret < 0 ? ST_FAILED : ST_DONE);
	}
	cdt_hash_thread_cleanup();
	return NULL;
}

static struct worker *worker_new(struct tree *t, int jobs)
{
	struct worker *w = xcalloc(1, sizeof(*w));

	w->t = t;
	w->r = cdt_restore_new(t->s, jobs);
	cdt_restore_set_progress(w->r, file_progress, w);
	w->e = xcalloc(1, sizeof(*w->e));
	w->h = cdt_hasher_new();
	w->buf = xmalloc(BUF_SIZE);
	return w;
}

static void worker_release(struct worker *w)
{
	cdt_restore_free(w->r);
	free(w->e);
	cdt_hasher_free(w->h);
	free(w->buf);
}

static void enqueue(struct tree *t, size_t i, struct tnode *dir)
{
	if (!t->dry && t->jobs > 1 && t->items[i].size >= BIG_FILE) {
		struct titem *it = &t->items[i];

		if (!t->big)
			t->big = worker_new(t, t->jobs);
		it->dir = dir;
		set_state(t, it, restore_file(t->big, it) < 0 ? ST_FAILED : ST_DONE);
		it->dir = NULL;
		return;
	}
	if (t->dry) {
		/* Nothing to write: the lines come in name order, from this thread. */
		struct titem *it = &t->items[i];

		it->dir = dir;
		set_state(t, it, restore_file(&t->workers[0], it) < 0 ? ST_FAILED : ST_DONE);
		it->dir = NULL;
		return;
	}
	node_ref(t, dir);
	t->items[i].dir = dir;
	pthread_mutex_lock(&t->mu);
	while (t->qlen == t->qcap)
		pthread_cond_wait(&t->space, &t->mu);
	t->queue[(t->qhead + t->qlen) % t->qcap] = i;
	t->qlen++;
	pthread_cond_signal(&t->work);
	pthread_mutex_unlock(&t->mu);
}

/* ---- directories, links (the main thread, in name order) ---- */

/* The open directories from DIR down to where the walk is. */
struct level {
	char *rel;		/* raw path under DIR */
	char *stored;		/* its stored name (for an implied directory's messages) */
	struct tnode *node;
};

/*
 * Make or reuse the directory `base` in parent (for item `it`, or implied
 * by the names under it when `it` is NULL; called `stored` in messages).
 * Returns a node with one reference (fd -1 when it failed, reported).
 */
static struct tnode *enter_dir(struct tree *t, struct tnode *parent, const char *base,
			       const char *rel, const char *stored, struct titem *it)
{
	static int paused;
	struct tnode *n = xcalloc(1, sizeof(*n));
	struct strbuf shown = STRBUF_INIT;
	struct stat st;
	int made = 0;

	n->fd = -1;
	n->refs = 1;
	strbuf_addf(&shown, "%s/%s", t->dir, rel);
	if (parent->missing) {
		n->missing = 1;
		report(t, CDT_TREE_MKDIR, stored);
		goto out;
	}
	if (parent->fd < 0)
		goto out;
	if (fstatat(parent->fd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT) {
			error("cannot restore '%s' nor the names under it: %s", quote(stored),
			      cdt_strerror(errno));
			goto failed;
		}
		if (t->dry) {
			n->missing = 1;
			report(t, CDT_TREE_MKDIR, stored);
			goto out;
		}
		/* Private until its stored mode is set, once everything in it is written. */
		if (mkdirat(parent->fd, base, it ? 0700 : 0777) < 0) {
			error("cannot restore '%s' nor the names under it: cannot make directory '%s': %s",
			      quote(stored), quote(shown.buf), cdt_strerror(errno));
			goto failed;
		}
		made = 1;
	} else if (!S_ISDIR(st.st_mode)) {
		error("cannot restore '%s' nor the names under it: '%s' exists and is not a directory",
		      quote(stored), quote(shown.buf));
		goto failed;
	}
	n->fd = openat(parent->fd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (n->fd < 0 || fstat(n->fd, &st) < 0) {
		error("cannot restore '%s' nor the names under it: cannot open directory '%s': %s",
		      quote(stored), quote(shown.buf), cdt_strerror(errno == ELOOP ? ENOTDIR : errno));
		goto failed;
	}
	/*
	 * A directory of a restore that stopped early may still have a
	 * read-only stored mode; its final mode is set again at the end.
	 */
	if (!made && !t->dry && it && st.st_uid == geteuid() && (st.st_mode & 0700) != 0700)
		fchmod(n->fd, (st.st_mode & 07777) | 0700);
	if (it) {
		it->made = 1;
		it->dev = st.st_dev;
		it->ino = st.st_ino;
	}
	if (made)
		report(t, CDT_TREE_MKDIR, stored);
	/* Tests swap the directory for a link here: nothing may follow it. */
	if (!paused) {
		paused = 1;
		cdt_pause_point("restore-dir");
	}
	goto out;
failed:
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
	n->missing = 0;
	if (it)
		name_done(t, 1, 0, 0);
	strbuf_release(&shown);
	return n;
out:
	if (it)
		name_done(t, n->fd < 0 && !n->missing, !made && !n->missing, 0);
	strbuf_release(&shown);
	return n;
}

/* The first n components of a '/'-separated path. */
static char *first_comps(const char *s, size_t n)
{
	const char *p = s;
	size_t i;

	for (i = 0; i < n; i++) {
		p = strchrnul(p, '/');
		if (i + 1 < n && *p)
			p++;
	}
	return xstrndup(s, (size_t)(p - s));
}

static int is_under(const char *dir, const char *rel)
{
	size_t n = strlen(dir);

	return !n || (!strncmp(dir, rel, n) && (rel[n] == '/' || !rel[n]));
}

/*
 * Make the stack of open directories end at parent_rel (the directory of
 * the next item, whose stored name is `stored`), opening or making the
 * directories on the way. Returns the node of parent_rel.
 */
static struct tnode *enter_parent(struct tree *t, struct level **stack, size_t *depth,
				  size_t *alloc, const char *parent_rel, const struct titem *it)
{
	size_t have, want = *parent_rel ? (size_t)count_comps(parent_rel) : 0;

	while (*depth > 1 && !is_under((*stack)[*depth - 1].rel, parent_rel)) {
		struct level *l = &(*stack)[--*depth];

		node_unref(t, l->node);
		free(l->rel);
		free(l->stored);
	}
	have = *depth - 1;
	while (have < want) {
		struct level *up = &(*stack)[*depth - 1];
		char *rel = first_comps(parent_rel, have + 1);
		/* Its stored name: as many components past the prefix's. */
		size_t skip = t->prefix_comps + have + 1;
		char *stored = first_comps(it->stored, skip);
		const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
		struct tnode *n = enter_dir(t, up->node, base, rel, stored, NULL);

		ALLOC_GROW(*stack, *depth + 1, *alloc);
		(*stack)[*depth].rel = rel;
		(*stack)[*depth].stored = stored;
		(*stack)[*depth].node = n;
		++*depth;
		have++;
	}
	return (*stack)[*depth - 1].node;
}

/* A symbolic link: made, kept when it has the same target, or made anew over a non-directory. */
static void restore_symlink(struct tree *t, struct tnode *dir, struct titem *it)
{
	struct strbuf shown = STRBUF_INIT, tmp = STRBUF_INIT, cur = STRBUF_INIT;
	int dirfd = dir->fd, existed = 0, failed = 1;
	struct stat st;

	local_path(t, it, &shown);
	if (dir->missing) {
		report(t, CDT_TREE_SYMLINK, it->stored);
		failed = 0;
		goto out;
	}
	if (fstatat(dirfd, it->base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		existed = 1;
		if (S_ISDIR(st.st_mode)) {
			error("cannot restore '%s': '%s' is a directory", quote(it->stored),
			      quote(shown.buf));
			goto out;
		}
		if (S_ISLNK(st.st_mode)) {
			ssize_t n;

			strbuf_grow(&cur, CDT_NAME_TARGET_MAX + 2);
			n = readlinkat(dirfd, it->base, cur.buf, CDT_NAME_TARGET_MAX + 1);
			if (n >= 0 && (size_t)n == strlen(it->target) &&
			    !memcmp(cur.buf, it->target, (size_t)n)) {
				if (!t->dry && set_link_meta(t, it, dirfd, shown.buf) < 0)
					goto out;
				report(t, CDT_TREE_SKIP, it->stored);
				name_done(t, 0, 1, 0);
				goto done;
			}
		}
	} else if (errno != ENOENT) {
		error("cannot restore '%s': %s", quote(it->stored), cdt_strerror(errno));
		goto out;
	}
	if (t->dry) {
		report(t, CDT_TREE_SYMLINK, it->stored);
		failed = 0;
		goto out;
	}
	if (!existed) {
		if (symlinkat(it->target, dirfd, it->base) < 0) {
			error("cannot restore '%s': cannot make symbolic link '%s': %s",
			      quote(it->stored), quote(shown.buf), cdt_strerror(errno));
			goto out;
		}
	} else {
		int ret = tmp_name(dirfd, &tmp, 0);

		if (ret < 0) {
			error("cannot restore '%s': cannot create a temporary file in the directory of '%s': %s",
			      quote(it->stored), quote(shown.buf), cdt_strerror(ret));
			strbuf_reset(&tmp);
			goto out;
		}
		if (symlinkat(it->target, dirfd, tmp.buf) < 0 ||
		    renameat(dirfd, tmp.buf, dirfd, it->base) < 0) {
			error("cannot restore '%s': cannot make symbolic link '%s': %s",
			      quote(it->stored), quote(shown.buf), cdt_strerror(errno));
			unlinkat(dirfd, tmp.buf, 0);
			tmpfile_forget(dirfd, tmp.buf);
			goto out;
		}
		tmpfile_forget(dirfd, tmp.buf);
	}
	if (set_link_meta(t, it, dirfd, shown.buf) < 0)
		goto out;
	report(t, CDT_TREE_SYMLINK, it->stored);
	failed = 0;
out:
	name_done(t, failed, 0, 0);
done:
	strbuf_release(&shown);
	strbuf_release(&tmp);
	strbuf_release(&cur);
}

/*
 * A hard link to the first name of its file, once that is written. 1 when
 * done (or failed, reported), 0 when it is to be written as a copy
 * instead (the first name failed, or the link cannot be made).
 */
static int restore_hardlink(struct tree *t, struct tnode *dir, struct titem *it)
{
	struct titem *l = &t->items[it->leader];
	struct strbuf shown = STRBUF_INIT, tmp = STRBUF_INIT, ldir = STRBUF_INIT;
	int dirfd = dir->fd, lfd = -1, existed = 0, ret = 1, failed = 1;
	struct stat st, lst;
	const char *slash;

	pthread_mutex_lock(&t->mu);
	t->waiting = 1;
	while (l->state == ST_PENDING)
		pthread_cond_wait(&t->state, &t->mu);
	t->waiting = 0;
	pthread_mutex_unlock(&t->mu);
	if (l->state != ST_DONE)
		return 0;
	local_path(t, it, &shown);
	if (dir->missing) {
		report(t, CDT_TREE_LINK, it->stored);
		failed = 0;
		goto out;
	}
	slash = strrchr(l->rel, '/');
	if (slash)
		strbuf_add(&ldir, l->rel, (size_t)(slash - l->rel));
	lfd = open_dir_beneath(t->rootfd, ldir.buf);
	if (lfd < 0) {
		if (t->dry) {
			/* Its directory would be made: so would the link. */
			report(t, CDT_TREE_LINK, it->stored);
			failed = 0;
			goto out;
		}
		lfd = -1;
		ret = 0;
		goto out;
	}
	if (fstatat(lfd, l->base, &lst, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(lst.st_mode)) {
		if (t->dry) {
			report(t, CDT_TREE_LINK, it->stored);
			failed = 0;
			goto out;
		}
		ret = 0;
		goto out;
	}
	if (fstatat(dirfd, it->base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		existed = 1;
		if (S_ISDIR(st.st_mode)) {
			error("cannot restore '%s': '%s' is a directory", quote(it->stored),
			      quote(shown.buf));
			goto out;
		}
		if (st.st_dev == lst.st_dev && st.st_ino == lst.st_ino) {
			report(t, CDT_TREE_SKIP, it->stored);
			name_done(t, 0, 1, 0);
			goto done;
		}
	} else if (errno != ENOENT) {
		error("cannot restore '%s': %s", quote(it->stored), cdt_strerror(errno));
		goto out;
	}
	if (t->dry) {
		report(t, CDT_TREE_LINK, it->stored);
		failed = 0;
		goto out;
	}
	if (!existed) {
		if (linkat(lfd, l->base, dirfd, it->base, 0) < 0) {
			ret = 0;
			goto out;
		}
	} else {
		int r = tmp_name(dirfd, &tmp, 0);

		if (r < 0 || linkat(lfd, l->base, dirfd, tmp.buf, 0) < 0) {
			if (r == 0)
				tmpfile_forget(dirfd, tmp.buf);
			ret = 0;
			goto out;
		}
		if (renameat(dirfd, tmp.buf, dirfd, it->base) < 0) {
			error("cannot restore '%s': cannot rename to '%s': %s", quote(it->stored),
			      quote(shown.buf), cdt_strerror(errno));
			unlinkat(dirfd, tmp.buf, 0);
			tmpfile_forget(dirfd, tmp.buf);
			goto out;
		}
		tmpfile_forget(dirfd, tmp.buf);
	}
	report(t, CDT_TREE_LINK, it->stored);
	failed = 0;
out:
	if (ret)
		name_done(t, failed, 0, 0);
done:
	if (lfd >= 0)
		close(lfd);
	strbuf_release(&shown);
	strbuf_release(&tmp);
	strbuf_release(&ldir);
	return ret;
}

/* ---- the driver ---- */

static int open_root(struct tree *t, const char *dir, int private)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		if (errno != ENOENT)
			return error_code(-errno, "cannot restore into '%s': %s", quote(dir),
					  cdt_strerror(errno));
		if (t->dry) {
			t->root_made = 1;
			return -ENOENT;
		}
		/* Private until its stored mode is set, as every directory made here. */
		if (mkdir(dir, private ? 0700 : 0777) < 0)
			return error_code(-errno, "cannot make directory '%s': %s", quote(dir),
					  cdt_strerror(errno));
		t->root_made = 1;
	} else if (!S_ISDIR(st.st_mode)) {
		return error_code(-ENOTDIR, "cannot restore into '%s': it is not a directory",
				  quote(dir));
	}
	/* DIR itself is taken as given (a link to a directory is followed); nothing under it is. */
	t->rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->rootfd < 0)
		return error_code(-errno, "cannot open '%s': %s", quote(dir), cdt_strerror(errno));
	return 0;
}

/* Directories last, deepest first, once all that is in them is written: their times stay. */
static void finish_dirs(struct tree *t)
{
	struct strbuf shown = STRBUF_INIT;
	size_t i;

	for (i = t->nr; i-- > 0;) {
		struct titem *it = &t->items[i];
		struct stat st;
		int fd;

		if (it->type != CDT_NAME_DIR || !it->made)
			continue;
		local_path(t, it, &shown);
		fd = open_dir_beneath(t->rootfd, it->rel);
		if (fd < 0) {
			if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
				error("cannot set the metadata of '%s': it was replaced or removed while restoring",
				      quote(shown.buf));
			else
				error("cannot set the metadata of '%s': %s", quote(shown.buf),
				      cdt_strerror(fd));
			pthread_mutex_lock(&t->mu);
			t->res->failed++;
			pthread_mutex_unlock(&t->mu);
			continue;
		}
		if (fstat(fd, &st) < 0 || st.st_dev != it->dev || st.st_ino != it->ino) {
			error("cannot set the metadata of '%s': it was replaced while restoring",
			      quote(shown.buf));
			t->res->failed++;
		} else if (set_meta(t, it, fd, shown.buf) < 0) {
			t->res->failed++;
		}
		close(fd);
	}
	strbuf_release(&shown);
}

static void run(struct tree *t)
{
	struct level *stack = NULL;
	size_t depth = 0, alloc = 0, i;
	struct tnode *root = xcalloc(1, sizeof(*root));

	root->fd = t->rootfd >= 0 ? dup(t->rootfd) : -1;
	root->missing = t->rootfd < 0;	/* a dry run into a directory not made */
	root->refs = 1;
	ALLOC_GROW(stack, 1, alloc);
	stack[0].rel = xstrdup("");
	stack[0].stored = NULL;
	stack[0].node = root;
	depth = 1;

	for (i = 0; i < t->nr; i++) {
		struct titem *it = &t->items[i];
		char *parent_rel;
		const char *slash = strrchr(it->rel, '/');
		struct tnode *dir;

		if (!*it->rel) {
			/* The prefix itself: its metadata goes to DIR, at the end. */
			if (t->rootfd >= 0) {
				struct stat st;

				if (fstat(t->rootfd, &st) == 0) {
					it->made = 1;
					it->dev = st.st_dev;
					it->ino = st.st_ino;
				}
			}
			name_done(t, 0, !t->root_made, 0);
			continue;
		}
		parent_rel = xstrndup(it->rel, slash ? (size_t)(slash - it->rel) : 0);
		dir = enter_parent(t, &stack, &depth, &alloc, parent_rel, it);
		free(parent_rel);
		if (dir->fd < 0 && !dir->missing) {
			/* Its directory failed, reported once. */
			name_done(t, 1, 0, 0);
			set_state(t, it, ST_FAILED);
			continue;
		}
		switch (it->type) {
		case CDT_NAME_DIR: {
			struct tnode *n = enter_dir(t, dir, it->base, it->rel, it->stored, it);

			ALLOC_GROW(stack, depth + 1, alloc);
			stack[depth].rel = xstrdup(it->rel);
			stack[depth].stored = xstrdup(it->stored);
			stack[depth].node = n;
			depth++;
			break;
		}
		case CDT_NAME_SYMLINK:
			restore_symlink(t, dir, it);
			break;
		default:
			if (it->leader >= 0 && restore_hardlink(t, dir, it))
				break;
			enqueue(t, i, dir);
			break;
		}
	}
	while (depth) {
		node_unref(t, stack[--depth].node);
		free(stack[depth].rel);
		free(stack[depth].stored);
	}
	free(stack);
}

int cdt_restore_tree(struct cdt_store *s, const char *prefix, const char *dir,
		     const struct cdt_tree_opts *o, struct cdt_tree_result *res)
{
	struct tree t;
	int ret, i, jobs = o->jobs > 0 ? o->jobs : cdt_online_cpus();
	size_t k;

	memset(res, 0, sizeof(*res));
	memset(&t, 0, sizeof(t));
	t.s = s;
	t.o = o;
	t.res = res;
	t.dir = dir;
	t.dry = !!(o->flags & CDT_TREE_DRY_RUN);
	t.owners = !!(o->flags & CDT_TREE_OWNERS);
	t.xattrs = !!(o->flags & CDT_TREE_XATTRS);
	t.rootfd = -1;
	t.prefix = prefix;
	t.prefix_comps = (size_t)count_comps(prefix);

	/* Every entry first: a missing prefix makes nothing, and the total is known. */
	ret = cdt_names_walk(s, prefix, collect, &t);
	if (ret < 0) {
		error("cannot list '%s': %s", quote(prefix), cdt_strerror(ret));
		goto out;
	}
	if (!res->names) {
		ret = error_code(-ENOENT, "no stored name is '%s' or under it", quote(prefix));
		goto out;
	}
	find_leaders(&t);

	/* The prefix's own entry, if any, is visited first: it gives DIR its mode. */
	ret = open_root(&t, dir, !*t.items[0].rel);
	if (ret < 0 && !(ret == -ENOENT && t.dry))
		goto out;
	if (t.dry && t.rootfd < 0)
		report(&t, CDT_TREE_MKDIR, prefix);

	pthread_mutex_init(&t.mu, NULL);
	pthread_cond_init(&t.work, NULL);
	pthread_cond_init(&t.space, NULL);
	pthread_cond_init(&t.state, NULL);
	t.qcap = (size_t)jobs * 4;
	t.queue = xmalloc(t.qcap * sizeof(*t.queue));
	t.nworkers = jobs;
	t.workers = xcalloc((size_t)jobs, sizeof(*t.workers));
	/* A dry run writes nothing: it goes through the files in this thread. */
	if (t.dry)
		jobs = 1;
	t.jobs = jobs;
	for (i = 0; i < jobs; i++) {
		struct worker *w = worker_new(&t, 1);

		/* Files are the parallel part: each worker reads its own file's chunks. */
		t.workers[i] = *w;
		free(w);
		w = &t.workers[i];
		cdt_restore_set_progress(w->r, file_progress, w);
		if (!t.dry && pthread_create(&w->thread, NULL, worker_main, w)) {
			worker_release(w);
			break;
		}
	}
	t.nworkers = i;
	if (!t.nworkers) {
		ret = error_code(-EAGAIN, "cannot start a thread to restore with");
		goto out_threads;
	}

	run(&t);

	pthread_mutex_lock(&t.mu);
	t.closing = 1;
	pthread_cond_broadcast(&t.work);
	pthread_mutex_unlock(&t.mu);
	for (i = 0; i < t.nworkers && !t.dry; i++)
		pthread_join(t.workers[i].thread, NULL);
	if (!t.dry) {
		finish_dirs(&t);
		/* Durable when the command says it is done: one sync of the file system. */
		if (syncfs(t.rootfd) < 0) {
			error("cannot sync '%s': %s", quote(dir), cdt_strerror(errno));
			res->failed++;
		}
	}
	ret = res->failed ? 1 : 0;
out_threads:
	for (i = 0; i < t.nworkers; i++)
		worker_release(&t.workers[i]);
	free(t.workers);
	if (t.big) {
		worker_release(t.big);
		free(t.big);
	}
	free(t.queue);
	pthread_mutex_destroy(&t.mu);
	pthread_cond_destroy(&t.work);
	pthread_cond_destroy(&t.space);
	pthread_cond_destroy(&t.state);
out:
	if (t.rootfd >= 0)
		close(t.rootfd);
	for (k = 0; k < t.nr; k++) {
		free(t.items[k].stored);
		free(t.items[k].rel);
		free(t.items[k].target);
		free(t.items[k].xattrs);
	}
	free(t.items);
	return ret;
}
