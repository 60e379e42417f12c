/* restore-tree.c: write the names under a prefix back into a directory, files in parallel, never outside it. */
#include "ops/restore-tree.h"
#include "ops/restore-tree-internal.h"
#include "ops/restore.h"
#include "format/names.h"
#include "base/fsutil.h"
#include "base/hash.h"
#include "base/util.h"
#include "base/workers.h"
#include "base/testpoint.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#ifdef SYS_openat2
#include <linux/openat2.h>
#endif


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

/* ---- helpers ---- */

void rt_report(struct tree *t, enum cdt_tree_action a, const char *stored)
{
	pthread_mutex_lock(&t->mu);
	if (t->o->action)
		t->o->action(a, stored, t->o->data);
	pthread_mutex_unlock(&t->mu);
}

/* Under t->mu. */
void rt_show_progress(struct tree *t)
{
	if (t->o->progress)
		t->o->progress(t->done_bytes, t->res->bytes, t->done_names, t->res->names,
			       t->o->data);
}

void rt_name_done(struct tree *t, int failed, int kept, uint64_t bytes_written)
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
	rt_show_progress(t);
	pthread_mutex_unlock(&t->mu);
}

/* A regular file's state, which hard links to it wait for. */
void rt_set_state(struct tree *t, struct titem *it, int state)
{
	pthread_mutex_lock(&t->mu);
	it->state = state;
	if (t->waiting)
		pthread_cond_signal(&t->state);
	pthread_mutex_unlock(&t->mu);
}

void rt_node_unref(struct tree *t, struct tnode *n)
{
	int last;

	if (!n)
		return;
	pthread_mutex_lock(&t->mu);
	last = !--n->refs;
	pthread_mutex_unlock(&t->mu);
	if (last) {
		if (n->fd >= 0 && !n->borrowed)
			close(n->fd);
		free(n);
	}
}

void rt_node_ref(struct tree *t, struct tnode *n)
{
	pthread_mutex_lock(&t->mu);
	n->refs++;
	pthread_mutex_unlock(&t->mu);
}

/* The path shown for an item in messages about the local file: DIR/rel. */
const char *rt_local_path(const struct tree *t, const struct titem *it, struct strbuf *sb)
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
int rt_open_dir_beneath(int rootfd, const char *rel)
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

/*
 * An attribute that is the stored file's to have or not: user and trusted
 * ones, ACLs and file capabilities. Security labels (security.selinux and
 * the like) are the system's, given to every file made, so one not stored
 * is left as it is.
 */
static int stored_or_removed(const char *name)
{
	return !strncmp(name, "user.", 5) || !strncmp(name, "trusted.", 8) ||
	       !strcmp(name, "system.posix_acl_access") ||
	       !strcmp(name, "system.posix_acl_default") ||
	       !strcmp(name, "security.capability");
}

static int is_stored_xattr(const struct titem *it, const char *name)
{
	const unsigned char *p = it->xattrs, *end = it->xattrs + it->xattrs_len;
	size_t len = strlen(name);

	while (p + 6 <= end) {
		uint16_t nl = get_le16(p);

		if (nl == len && !memcmp(p + 6, name, len))
			return 1;
		p += 6 + nl + get_le32(p + 2);
	}
	return 0;
}

/*
 * Remove the attributes of fd, or of the link `full`, that the entry does
 * not store and that are its to have (stored_or_removed()): a file kept
 * from an earlier restore, a directory reused, an ACL a new file took from
 * its directory, end as a file restored afresh with the stored ones.
 */
static void remove_unstored_xattrs(const struct titem *it, int fd, const char *full,
				   const char *shown)
{
	char *list = NULL, *p;
	ssize_t n;
	int tries;

	/* The list may grow between the two calls: ERANGE then, and again. */
	for (tries = 0; tries < 3; tries++) {
		n = fd >= 0 ? flistxattr(fd, NULL, 0) : llistxattr(full, NULL, 0);
		if (n <= 0)
			break;
		list = xrealloc(list, (size_t)n);
		n = fd >= 0 ? flistxattr(fd, list, (size_t)n) : llistxattr(full, list, (size_t)n);
		if (n >= 0 || errno != ERANGE)
			break;
	}
	if (n < 0 && errno != ENOTSUP)
		warning("cannot list the extended attributes of '%s': %s", quote(shown),
			cdt_strerror(errno));
	for (p = list; n > 0 && p < list + n; p += strlen(p) + 1) {
		int ret;

		if (!stored_or_removed(p) || is_stored_xattr(it, p))
			continue;
		ret = fd >= 0 ? fremovexattr(fd, p) : lremovexattr(full, p);
		if (ret < 0 && errno != ENODATA)
			warning("cannot remove extended attribute '%s' of '%s' (not stored): %s",
				quote(p), quote(shown), cdt_strerror(errno));
	}
	free(list);
}

/*
 * Make one entry's extended attributes the stored ones on fd, or on
 * dirfd/base (a link).
 */
void rt_set_xattrs(const struct titem *it, int fd, int dirfd, const char *shown)
{
	const unsigned char *p = it->xattrs, *end = it->xattrs + it->xattrs_len;
	char path[64];

	if (fd < 0)
		snprintf(path, sizeof(path), "/proc/self/fd/%d/", dirfd);
	if (fd >= 0) {
		remove_unstored_xattrs(it, fd, NULL, shown);
	} else {
		char *full = xstrfmt("%s%s", path, it->base);

		remove_unstored_xattrs(it, -1, full, shown);
		free(full);
	}
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
int rt_set_meta(struct tree *t, const struct titem *it, int fd, const char *shown)
{
	struct timespec ts[2];
	mode_t mode = t->owners ? it->mode & 07777 : it->mode & 01777;

	if (t->owners && fchown(fd, it->uid, it->gid) < 0)
		return error("cannot set the owner of '%s' to %u:%u: %s (--no-owner leaves owners alone)",
			     quote(shown), it->uid, it->gid, cdt_strerror(errno));
	if (fchmod(fd, mode) < 0)
		return error("cannot set the mode of '%s': %s", quote(shown), cdt_strerror(errno));
	if (t->xattrs)
		rt_set_xattrs(it, fd, -1, shown);
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = it->mtime_sec;
	ts[1].tv_nsec = it->mtime_nsec;
	if (futimens(fd, ts) < 0)
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
int rt_tmp_name(int dirfd, struct strbuf *name, int keep_file)
{
	/* Nobody else reads the bytes before the stored mode is set. */
	int fd = tmpfile_openat_mode(dirfd, TMP_PREFIX, name, 0600);

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

/* ---- directories, links (the main thread, in name order) ---- */

/* The open directories from DIR down to where the walk is. */
struct level {
	char *rel;		/* raw path under DIR */
	char *stored;		/* its stored name (for an implied directory's messages) */
	struct tnode *node;
};

/*
 * A restore killed while writing leaves its temporary files
 * (TMP_PREFIX-<pid>-<16 hex>, see rt_tmp_name()) in the directories it
 * was writing. When a resumed restore enters a directory that was there,
 * it removes those of processes that are gone (a live pid may be another
 * restore at work), and those of a live pid whose process started after
 * the file last changed: the pid was used again (in a container, the
 * first process has the same pid, often 1, each time it runs).
 */
/* When process pid started, in seconds since the epoch (to a clock tick), or -1. */
static double process_start(long pid)
{
	char path[64], buf[1024], *p;
	long hz = sysconf(_SC_CLK_TCK);
	struct timespec now, up;
	unsigned long long ticks;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	/* After the command name in parentheses: the state (field 3) ... the start time (22). */
	if (!p || !(p = strrchr(buf, ')')) || hz <= 0)
		return -1;
	for (i = 3; i <= 22 && p; i++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p, " %llu", &ticks) != 1)
		return -1;
	/* The start time counts from boot, as CLOCK_BOOTTIME does. */
	if (clock_gettime(CLOCK_REALTIME, &now) < 0 || clock_gettime(CLOCK_BOOTTIME, &up) < 0)
		return -1;
	return (double)(now.tv_sec - up.tv_sec) + (now.tv_nsec - up.tv_nsec) / 1e9 +
	       (double)ticks / (double)hz;
}

static void remove_stale_temps(int dirfd)
{
	struct cdt_dent *ents;
	size_t n, i, plen = strlen(TMP_PREFIX);

	if (cdt_list_dir(dirfd, ".", &ents, &n) < 0)
		return;
	for (i = 0; i < n; i++) {
		const char *name = ents[i].name, *p;
		char *end;
		long pid;

		if (ents[i].type == DT_DIR || strncmp(name, TMP_PREFIX "-", plen + 1))
			continue;
		p = name + plen + 1;
		pid = strtol(p, &end, 10);
		if (end == p || *end != '-' || pid <= 0 || strlen(end + 1) != 16 ||
		    strspn(end + 1, "0123456789abcdef") != 16)
			continue;
		if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) {
			struct stat st;
			double start;

			/* Half a second of slack, for the clock being set meanwhile. */
			if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    (start = process_start(pid)) < 0 ||
			    start <= (double)st.st_ctim.tv_sec + st.st_ctim.tv_nsec / 1e9 + 0.5)
				continue;
		}
		unlinkat(dirfd, name, 0);
	}
	cdt_dents_free(ents, n);
}

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
		rt_report(t, CDT_TREE_MKDIR, stored);
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
			rt_report(t, CDT_TREE_MKDIR, stored);
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
	n->dev = st.st_dev;
	n->ino = st.st_ino;
	/* A stored tree that held a store (its own copy, say) must not write over this one. */
	if (st.st_dev == t->store_dev && st.st_ino == t->store_ino) {
		error("cannot restore '%s' nor the names under it: '%s' is the store",
		      quote(stored), quote(shown.buf));
		goto failed;
	}
	/*
	 * A directory of a restore that stopped early may still have a
	 * read-only stored mode; its final mode is set again at the end.
	 */
	if (!made && !t->dry && it && st.st_uid == geteuid() && (st.st_mode & 0700) != 0700)
		fchmod(n->fd, (st.st_mode & 07777) | 0700);
	if (!made && !t->dry)
		remove_stale_temps(n->fd);
	if (it) {
		it->made = 1;
		it->kept = !made;
		it->dev = st.st_dev;
		it->ino = st.st_ino;
	}
	if (made)
		rt_report(t, CDT_TREE_MKDIR, stored);
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
		rt_name_done(t, 1, 0, 0);
	strbuf_release(&shown);
	return n;
out:
	if (it)
		rt_name_done(t, n->fd < 0 && !n->missing, !made && !n->missing, 0);
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

int rt_is_under(const char *dir, const char *rel)
{
	size_t n = strlen(dir);

	return !n || (!strncmp(dir, rel, n) && (rel[n] == '/' || !rel[n]));
}

/*
 * Of the directories from DIR down to where the walk is, only the last
 * t->open_levels keep their descriptor (DIR's aside): those above have it
 * closed when nothing queued uses it, and are opened again when the walk
 * comes back to them. So a tree is restored whole at any depth add stores
 * (2048 levels), under whatever limit of open files restore-tree-fds.c
 * planned for.
 */

/* Close the descriptor of the directory at stack[i] if nothing else uses it. */
static void park_level(struct tree *t, struct level *l)
{
	struct tnode *n = l->node;
	int alone;

	/* Only this thread changes the descriptor of a directory on the stack. */
	if (n->fd < 0)
		return;
	pthread_mutex_lock(&t->mu);
	alone = n->refs == 1;
	pthread_mutex_unlock(&t->mu);
	if (alone && n->fd >= 0) {
		close(n->fd);
		n->fd = -1;
		n->parked = 1;
	}
}

/*
 * Before a directory is opened at stack[depth - 1], every level above
 * the window is tried, not only the one just left behind: one whose
 * files were still queued when the walk went by is closed once they are
 * written. Beyond the window, only directories of files queued or being
 * written are then open: at most one each.
 */
static void park_levels(struct tree *t, struct level *stack, size_t depth)
{
	size_t i;

	for (i = 1; i + t->open_levels < depth; i++)
		park_level(t, &stack[i]);
}

/*
 * Open a parked directory again, without following a link on the way,
 * and only if it is still the directory made (else it is reported, and
 * the names under it fail as under a directory that could not be made).
 */
static void unpark_level(struct tree *t, struct level *l)
{
	static int paused;
	struct tnode *n = l->node;
	struct strbuf shown = STRBUF_INIT;
	struct stat st;
	int fd;

	if (!n->parked)
		return;
	n->parked = 0;
	/* Tests swap the directory here. */
	if (!paused++)
		cdt_pause_point("restore-unpark");
	fd = rt_open_dir_beneath(t->rootfd, l->rel);
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == n->dev && st.st_ino == n->ino) {
		n->fd = fd;
		return;
	}
	strbuf_addf(&shown, "%s/%s", t->dir, l->rel);
	/* One that cannot be opened (no descriptor left, say) is not said to be replaced. */
	if (fd >= 0 || fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP || fd == -EXDEV) {
		error("cannot restore the names under '%s': directory '%s' was replaced while restoring",
		      quote(l->stored ? l->stored : l->rel), quote(shown.buf));
		/* Said once: the directories made under it get nothing more either. */
		ALLOC_GROW(t->gone, t->nr_gone + 1, t->alloc_gone);
		t->gone[t->nr_gone++] = xstrdup(l->rel);
	} else
		error("cannot restore the names under '%s': cannot open directory '%s': %s",
		      quote(l->stored ? l->stored : l->rel), quote(shown.buf), cdt_strerror(fd));
	if (fd >= 0)
		close(fd);
	strbuf_release(&shown);
}

/*
 * Make or reuse the directory rel (stored as `stored`, both taken) in the
 * one at the top of the stack, for item `it` (NULL: implied), and push it.
 */
static void push_level(struct tree *t, struct level **stack, size_t *depth, size_t *alloc,
		       char *rel, char *stored, struct titem *it)
{
	const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
	struct tnode *n;

	park_levels(t, *stack, *depth + 1);
	n = enter_dir(t, (*stack)[*depth - 1].node, base, rel, stored, it);
	ALLOC_GROW(*stack, *depth + 1, *alloc);
	(*stack)[*depth].rel = rel;
	(*stack)[*depth].stored = stored;
	(*stack)[*depth].node = n;
	++*depth;
}

/*
 * Make the stack of open directories end at parent_rel (the directory of
 * the next item, whose stored name is `stored`), opening or making the
 * directories on the way. Returns the node of parent_rel.
 */
static struct tnode *enter_parent(struct tree *t, struct level **stack, size_t *depth,
				  size_t *alloc, const char *parent_rel, const struct titem *it)
{
	size_t have, want = *parent_rel ? (size_t)rt_count_comps(parent_rel) : 0;

	while (*depth > 1 && !rt_is_under((*stack)[*depth - 1].rel, parent_rel)) {
		struct level *l = &(*stack)[--*depth];

		rt_node_unref(t, l->node);
		free(l->rel);
		free(l->stored);
	}
	if ((*stack)[*depth - 1].node->parked) {
		park_levels(t, *stack, *depth);
		unpark_level(t, &(*stack)[*depth - 1]);
	}
	have = *depth - 1;
	while (have < want) {
		char *rel = first_comps(parent_rel, have + 1);
		/* Its stored name: as many components past the prefix's. */
		char *stored = first_comps(it->stored, t->prefix_comps + have + 1);

		push_level(t, stack, depth, alloc, rel, stored, NULL);
		have++;
	}
	return (*stack)[*depth - 1].node;
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
	if (fstat(cdt_store_rootfd(t->s), &st) < 0)
		return error_code(-errno, "cannot stat the store '%s': %s", cdt_store_path(t->s),
				  cdt_strerror(errno));
	t->store_dev = st.st_dev;
	t->store_ino = st.st_ino;
	if (cdt_store_holds_dir(t->s, t->rootfd)) {
		if (t->root_made)
			rmdir(dir);
		return error_code(-EINVAL, "cannot restore into '%s': it is in the store '%s'",
				  quote(dir), cdt_store_path(t->s));
	}
	/* As a directory under it (see enter_dir()): its stored mode is set again at the end. */
	if (!t->root_made && !t->dry && private && fstat(t->rootfd, &st) == 0 &&
	    st.st_uid == geteuid() && (st.st_mode & 0700) != 0700)
		fchmod(t->rootfd, (st.st_mode & 07777) | 0700);
	if (!t->root_made && !t->dry)
		remove_stale_temps(t->rootfd);
	return 0;
}

static void run(struct tree *t)
{
	struct level *stack = NULL;
	size_t depth = 0, alloc = 0, i;
	struct tnode *root = xcalloc(1, sizeof(*root));

	/* DIR's own descriptor, closed with the tree, not with the node. */
	root->fd = t->rootfd;
	root->borrowed = 1;
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
			rt_name_done(t, 0, !t->root_made, 0);
			continue;
		}
		parent_rel = xstrndup(it->rel, slash ? (size_t)(slash - it->rel) : 0);
		dir = enter_parent(t, &stack, &depth, &alloc, parent_rel, it);
		free(parent_rel);
		if (dir->fd < 0 && !dir->missing) {
			/* Its directory failed, reported once. */
			rt_name_done(t, 1, 0, 0);
			rt_set_state(t, it, ST_FAILED);
			continue;
		}
		switch (it->type) {
		case CDT_NAME_DIR:
			push_level(t, &stack, &depth, &alloc, xstrdup(it->rel), xstrdup(it->stored), it);
			break;
		case CDT_NAME_SYMLINK:
			rt_restore_symlink(t, dir, it);
			break;
		default:
			if (it->leader >= 0 && rt_restore_hardlink(t, dir, it))
				break;
			rt_enqueue(t, i, dir);
			break;
		}
	}
	while (depth) {
		rt_node_unref(t, stack[--depth].node);
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
	t.prefix_comps = (size_t)rt_count_comps(prefix);

	/* Under a low limit of open files: fewer at once, or nothing at all. */
	ret = rt_plan_descriptors(&t, &jobs);
	if (ret < 0)
		goto out;

	/* Every entry first: a missing prefix makes nothing, and the total is known. */
	ret = cdt_names_walk(s, prefix, rt_collect, &t);
	if (ret < 0) {
		error("cannot list '%s': %s", quote(prefix), cdt_strerror(ret));
		goto out;
	}
	if (!res->names) {
		ret = error_code(-ENOENT, "no stored name is '%s' or under it", quote(prefix));
		goto out;
	}
	if (!t.nr) {
		/* Every name under it was unreadable or refused (each reported): nothing to write. */
		ret = 1;
		goto out;
	}
	rt_find_leaders(&t);

	/* The prefix's own entry, if any, is visited first: it gives DIR its mode. */
	ret = open_root(&t, dir, !*t.items[0].rel);
	if (ret < 0 && !(ret == -ENOENT && t.dry))
		goto out;

	pthread_mutex_init(&t.mu, NULL);
	pthread_cond_init(&t.work, NULL);
	pthread_cond_init(&t.space, NULL);
	pthread_cond_init(&t.state, NULL);
	/* DIR made for a directory; a single file or link is only written into it. */
	if (t.root_made && (!*t.items[0].rel || strcmp(t.items[0].stored, prefix)))
		rt_report(&t, CDT_TREE_MKDIR, prefix);
	t.queue = xmalloc(t.qcap * sizeof(*t.queue));
	t.nworkers = jobs;
	t.workers = xcalloc((size_t)jobs, sizeof(*t.workers));
	/* A dry run writes nothing: it goes through the files in this thread. */
	if (t.dry)
		jobs = 1;
	t.jobs = jobs;
	for (i = 0; i < jobs; i++) {
		struct worker *w = rt_worker_new(&t, 1);

		/* Files are the parallel part: each worker reads its own file's chunks. */
		t.workers[i] = *w;
		free(w);
		w = &t.workers[i];
		cdt_restore_set_progress(w->r, rt_file_progress, w);
		if (!t.dry && pthread_create(&w->thread, NULL, rt_worker_main, w)) {
			rt_worker_release(w);
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
		rt_finish_dirs(&t);
		/* Durable when the command says it is done: one sync of the file system. */
		if (syncfs(t.rootfd) < 0) {
			error("cannot sync '%s': %s", quote(dir), cdt_strerror(errno));
			res->failed++;
		}
	}
	ret = res->failed ? 1 : 0;
out_threads:
	for (i = 0; i < t.nworkers; i++)
		rt_worker_release(&t.workers[i]);
	free(t.workers);
	if (t.big) {
		rt_worker_release(t.big);
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
	for (k = 0; k < t.nr_gone; k++)
		free(t.gone[k]);
	free(t.gone);
	return ret;
}
