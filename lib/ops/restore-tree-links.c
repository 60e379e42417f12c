/* restore-tree-links.c: the symbolic and hard links of a restore, made by the main thread in name order. */
#include "ops/restore-tree.h"
#include "ops/restore-tree-internal.h"
#include "format/names.h"
#include "base/fsutil.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* rt_set_meta() for the symbolic link dirfd/it->base, never following it. */
static int set_link_meta(struct tree *t, const struct titem *it, int dirfd, const char *shown)
{
	struct timespec ts[2];

	if (t->owners && fchownat(dirfd, it->base, it->uid, it->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return error("cannot set the owner of '%s' to %u:%u: %s (--no-owner leaves owners alone)",
			     quote(shown), it->uid, it->gid, cdt_strerror(errno));
	if (t->xattrs)
		rt_set_xattrs(it, -1, dirfd, shown);
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
 * What is at it's place in its directory now: 1 an entry that is not a
 * directory (*st), 0 nothing, -1 a directory or an error (reported).
 */
static int stat_place(int dirfd, const struct titem *it, const char *shown, struct stat *st)
{
	if (fstatat(dirfd, it->base, st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		error("cannot restore '%s': %s", quote(it->stored), cdt_strerror(errno));
		return -1;
	}
	if (S_ISDIR(st->st_mode)) {
		error("cannot restore '%s': '%s' is a directory", quote(it->stored), quote(shown));
		return -1;
	}
	return 1;
}

/*
 * A symbolic link: made, kept when it has the same target (and no other
 * hard link), or made anew over a non-directory.
 */
void rt_restore_symlink(struct tree *t, struct tnode *dir, struct titem *it)
{
	struct strbuf shown = STRBUF_INIT, tmp = STRBUF_INIT, cur = STRBUF_INIT;
	int dirfd = dir->fd, existed = 0, failed = 1;
	struct stat st;

	rt_local_path(t, it, &shown);
	if (dir->missing) {
		rt_report(t, CDT_TREE_SYMLINK, it->stored);
		failed = 0;
		goto out;
	}
	existed = stat_place(dirfd, it, shown.buf, &st);
	if (existed < 0)
		goto out;
	/* Not one with other links: its owner and time would change elsewhere too. */
	if (existed && S_ISLNK(st.st_mode) && st.st_nlink == 1) {
		ssize_t n;

		strbuf_grow(&cur, CDT_NAME_TARGET_MAX + 2);
		n = readlinkat(dirfd, it->base, cur.buf, CDT_NAME_TARGET_MAX + 1);
		if (n >= 0 && (size_t)n == strlen(it->target) &&
		    !memcmp(cur.buf, it->target, (size_t)n)) {
			if (!t->dry && set_link_meta(t, it, dirfd, shown.buf) < 0)
				goto out;
			rt_report(t, CDT_TREE_SKIP, it->stored);
			rt_name_done(t, 0, 1, 0);
			goto done;
		}
	}
	if (t->dry) {
		rt_report(t, CDT_TREE_SYMLINK, it->stored);
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
		int ret = rt_tmp_name(dirfd, &tmp, 0);

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
	rt_report(t, CDT_TREE_SYMLINK, it->stored);
	failed = 0;
out:
	rt_name_done(t, failed, 0, 0);
done:
	strbuf_release(&shown);
	strbuf_release(&tmp);
	strbuf_release(&cur);
}

/*
 * A hard link to the first name of its file, once that is written. 1 when
 * done (or failed, reported), 0 when it is to be written as a copy
 * instead (the first name failed, or the link cannot be made: a warning).
 */
int rt_restore_hardlink(struct tree *t, struct tnode *dir, struct titem *it)
{
	struct titem *l = &t->items[it->leader];
	struct strbuf shown = STRBUF_INIT, tmp = STRBUF_INIT, ldir = STRBUF_INIT;
	int dirfd = dir->fd, lfd = -1, existed = 0, ret = 1, failed = 1;
	const char *why;
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
	rt_local_path(t, it, &shown);
	if (dir->missing) {
		rt_report(t, CDT_TREE_LINK, it->stored);
		failed = 0;
		goto out;
	}
	slash = strrchr(l->rel, '/');
	if (slash)
		strbuf_add(&ldir, l->rel, (size_t)(slash - l->rel));
	lfd = rt_open_dir_beneath(t->rootfd, ldir.buf);
	if (lfd < 0) {
		if (t->dry) {
			/* Its directory would be made: so would the link. */
			rt_report(t, CDT_TREE_LINK, it->stored);
			failed = 0;
			goto out;
		}
		why = cdt_strerror(lfd);
		lfd = -1;
		goto copy;
	}
	if (fstatat(lfd, l->base, &lst, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(lst.st_mode)) {
		if (t->dry) {
			rt_report(t, CDT_TREE_LINK, it->stored);
			failed = 0;
			goto out;
		}
		why = "it was replaced while restoring";
		goto copy;
	}
	existed = stat_place(dirfd, it, shown.buf, &st);
	if (existed < 0)
		goto out;
	/* A dry run writes no first name anew: a link to it is kept only with it. */
	if (existed && st.st_dev == lst.st_dev && st.st_ino == lst.st_ino && (!t->dry || l->kept)) {
		rt_report(t, CDT_TREE_SKIP, it->stored);
		rt_name_done(t, 0, 1, 0);
		goto done;
	}
	if (t->dry) {
		rt_report(t, CDT_TREE_LINK, it->stored);
		failed = 0;
		goto out;
	}
	if (!existed) {
		if (linkat(lfd, l->base, dirfd, it->base, 0) < 0) {
			why = cdt_strerror(errno);
			goto copy;
		}
	} else {
		int r = rt_tmp_name(dirfd, &tmp, 0);

		if (r < 0 || linkat(lfd, l->base, dirfd, tmp.buf, 0) < 0) {
			why = cdt_strerror(r < 0 ? -r : errno);
			if (r == 0)
				tmpfile_forget(dirfd, tmp.buf);
			goto copy;
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
	rt_report(t, CDT_TREE_LINK, it->stored);
	failed = 0;
	goto out;
copy:
	/* Its bytes are still restored; only the link is not. */
	warning("cannot link '%s' to '%s': %s; written as a copy", quote(shown.buf),
		quote(rt_local_path(t, l, &ldir)), why);
	ret = 0;
out:
	if (ret)
		rt_name_done(t, failed, 0, 0);
done:
	if (lfd >= 0)
		close(lfd);
	strbuf_release(&shown);
	strbuf_release(&tmp);
	strbuf_release(&ldir);
	return ret;
}