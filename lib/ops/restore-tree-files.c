/* restore-tree-files.c: the regular files of a restore, written by worker threads into temporary files renamed into place. */
#include "ops/restore-tree.h"
#include "ops/restore-tree-internal.h"
#include "ops/restore.h"
#include "format/names.h"
#include "base/fsutil.h"
#include "base/cid.h"
#include "base/hash.h"
#include "format/config.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Does fd hold exactly the stored content? Computes its content id. */
static int same_content(struct worker *w, const struct titem *it, int fd)
{
	struct cdt_id got;
	uint64_t total = 0;
	ssize_t n;

	cdt_cid_reset(w->h);
	while ((n = read_full(fd, w->buf, BUF_SIZE)) > 0) {
		cdt_cid_update(w->h, w->buf, (size_t)n);
		total += (uint64_t)n;
		if (total > it->size)
			return 0;
	}
	if (n < 0)
		return n;
	cdt_cid_final(w->h, &got);
	return total == it->size && cdt_id_eq(&got, &it->content);
}

/* ---- regular files (the workers) ---- */

void rt_file_progress(uint64_t done, void *data)
{
	struct worker *w = data;
	struct tree *t = w->t;

	pthread_mutex_lock(&t->mu);
	t->done_bytes += done - w->last;
	w->last = done;
	rt_show_progress(t);
	pthread_mutex_unlock(&t->mu);
}

/*
 * Are the other links of the file at `it` (the first name of a group of
 * hard links) all names of its group, each found under DIR (never through
 * a symbolic link) as that file? Names of the group not there yet are
 * linked to it after. A restore run again over its own output then keeps
 * the group as it is.
 */
static int links_are_the_group(struct tree *t, const struct titem *it, const struct stat *st)
{
	struct strbuf dir = STRBUF_INIT;
	struct stat lst;
	nlink_t found = 1;
	int k, fd;

	for (k = it->first_link; k >= 0 && found < st->st_nlink; k = t->items[k].next_link) {
		const struct titem *l = &t->items[k];

		strbuf_reset(&dir);
		strbuf_add(&dir, l->rel, (size_t)(l->base - l->rel));
		if (dir.len)
			strbuf_setlen(&dir, dir.len - 1);	/* its '/' */
		fd = rt_open_dir_beneath(t->rootfd, dir.buf);
		if (fd < 0)
			continue;
		if (fstatat(fd, l->base, &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(lst.st_mode) &&
		    lst.st_dev == st->st_dev && lst.st_ino == st->st_ino)
			found++;
		close(fd);
	}
	strbuf_release(&dir);
	return found == st->st_nlink;
}

/*
 * An existing regular file with the same bytes is kept: only the stored
 * metadata is set. Not one with links other than its group's: setting its
 * metadata would change a file elsewhere (perhaps outside DIR), so it is
 * replaced. 1 kept, 0 not, -1 failed (reported).
 */
static int keep_identical(struct worker *w, const struct titem *it, int dirfd,
			  const struct stat *st, const char *shown)
{
	struct tree *t = w->t;
	struct stat fst;
	int fd, same;

	if (!S_ISREG(st->st_mode) || (uint64_t)st->st_size != it->size ||
	    st->st_nlink > (nlink_t)it->links + 1)
		return 0;
	fd = openat(dirfd, it->base, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode) || fst.st_ino != st->st_ino ||
	    fst.st_dev != st->st_dev || fst.st_nlink != st->st_nlink ||
	    (fst.st_nlink > 1 && !links_are_the_group(t, it, &fst))) {
		close(fd);
		return 0;
	}
	same = same_content(w, it, fd);
	if (same <= 0) {
		close(fd);
		return 0;
	}
	if (!t->dry && rt_set_meta(t, it, fd, shown) < 0) {
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

	rt_local_path(t, it, &shown);
	if (it->dir->missing) {
		rt_report(t, CDT_TREE_WRITE, it->stored);
		rt_name_done(t, 0, 0, 0);
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
			it->kept = 1;
			t->done_bytes += it->size;
			pthread_mutex_unlock(&t->mu);
			rt_report(t, CDT_TREE_SKIP, it->stored);
			rt_name_done(t, 0, 1, 0);
			ret = 0;
			goto done;
		}
	} else if (errno != ENOENT) {
		error("cannot restore '%s': %s", quote(it->stored), cdt_strerror(errno));
		goto out;
	}
	if (t->dry) {
		rt_report(t, existed ? CDT_TREE_REPLACE : CDT_TREE_WRITE, it->stored);
		rt_name_done(t, 0, 0, 0);
		ret = 0;
		goto done;
	}
	fd = rt_tmp_name(dirfd, &tmp, 1);
	if (fd < 0) {
		error("cannot restore '%s': cannot create a temporary file in the directory of '%s': %s",
		      quote(it->stored), quote(shown.buf), cdt_strerror(fd));
		fd = -1;
		strbuf_reset(&tmp);
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
	if (rt_set_meta(t, it, fd, shown.buf) < 0)
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
	rt_report(t, existed ? CDT_TREE_REPLACE : CDT_TREE_WRITE, it->stored);
	rt_name_done(t, 0, 0, it->size);
	ret = 0;
	goto done;
out:
	if (fd >= 0)
		close(fd);
	if (tmp.len) {
		unlinkat(dirfd, tmp.buf, 0);
		tmpfile_forget(dirfd, tmp.buf);
	}
	rt_name_done(t, 1, 0, 0);
done:
	/* What the progress line counted of a file that failed stays counted: the line moves on. */
	strbuf_release(&shown);
	strbuf_release(&tmp);
	return ret;
}

void *rt_worker_main(void *data)
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
		rt_node_unref(t, it->dir);
		it->dir = NULL;
		rt_set_state(t, it, ret < 0 ? ST_FAILED : ST_DONE);
	}
	cdt_hash_thread_cleanup();
	return NULL;
}

struct worker *rt_worker_new(struct tree *t, int jobs)
{
	struct worker *w = xcalloc(1, sizeof(*w));

	w->t = t;
	w->r = cdt_restore_new(t->s, jobs);
	cdt_restore_set_progress(w->r, rt_file_progress, w);
	w->e = xcalloc(1, sizeof(*w->e));
	w->h = cdt_cid_new(cdt_config_cid(cdt_store_config(t->s)));
	w->buf = xmalloc(BUF_SIZE);
	return w;
}

void rt_worker_release(struct worker *w)
{
	cdt_restore_free(w->r);
	free(w->e);
	cdt_cid_free(w->h);
	free(w->buf);
}

void rt_enqueue(struct tree *t, size_t i, struct tnode *dir)
{
	if (!t->dry && t->big_jobs > 1 && t->items[i].size >= BIG_FILE) {
		struct titem *it = &t->items[i];

		if (!t->big)
			t->big = rt_worker_new(t, t->big_jobs);
		it->dir = dir;
		rt_set_state(t, it, restore_file(t->big, it) < 0 ? ST_FAILED : ST_DONE);
		it->dir = NULL;
		return;
	}
	if (t->dry) {
		/* Nothing to write: the lines come in name order, from this thread. */
		struct titem *it = &t->items[i];

		it->dir = dir;
		rt_set_state(t, it, restore_file(&t->workers[0], it) < 0 ? ST_FAILED : ST_DONE);
		it->dir = NULL;
		return;
	}
	rt_node_ref(t, dir);
	t->items[i].dir = dir;
	pthread_mutex_lock(&t->mu);
	while (t->qlen == t->qcap)
		pthread_cond_wait(&t->space, &t->mu);
	t->queue[(t->qhead + t->qlen) % t->qcap] = i;
	t->qlen++;
	pthread_cond_signal(&t->work);
	pthread_mutex_unlock(&t->mu);
}
