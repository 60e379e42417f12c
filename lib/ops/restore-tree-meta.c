/* restore-tree-meta.c: the stored metadata of the directories of a restore, set last, and each one replaced meanwhile reported once. */
#include "ops/restore-tree.h"
#include "ops/restore-tree-internal.h"
#include "format/names.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A directory whose metadata could not be set: its item, and why (0: another directory is there). */
struct unset {
	size_t i;
	int err;
};

static int under_gone(const struct tree *t, const char *rel)
{
	size_t k;

	for (k = 0; k < t->nr_gone; k++)
		if (rt_is_under(t->gone[k], rel))
			return 1;
	return 0;
}

/*
 * A directory whose metadata could not be set fails: it was counted as
 * made or kept when it was entered, and is counted once, as failed.
 */
static void dir_failed(struct tree *t, const struct titem *it)
{
	if (it->kept)
		t->res->skipped--;
	else
		t->res->written--;
	t->res->failed++;
}

/* One line for the directory of f, and the n under it that failed with it. */
static void report_unset(struct tree *t, const struct unset *f, size_t n)
{
	struct strbuf shown = STRBUF_INIT, under = STRBUF_INIT;
	const char *why;

	rt_local_path(t, &t->items[f->i], &shown);
	if (n)
		strbuf_addf(&under, " nor of the %zu %s under it", n,
			    n == 1 ? "directory" : "directories");
	if (!f->err)
		why = "it was replaced while restoring";
	else if (f->err == -ENOENT || f->err == -ENOTDIR || f->err == -ELOOP)
		why = "it was replaced or removed while restoring";
	else
		why = cdt_strerror(f->err);
	error("cannot set the metadata of '%s'%s: %s", quote(shown.buf), under.buf, why);
	strbuf_release(&shown);
	strbuf_release(&under);
}

void rt_finish_dirs(struct tree *t)
{
	struct strbuf shown = STRBUF_INIT;
	struct unset *unset = NULL;
	size_t nr = 0, alloc = 0, i, k, n;

	for (i = t->nr; i-- > 0;) {
		struct titem *it = &t->items[i];
		struct stat st;
		int fd;

		if (it->type != CDT_NAME_DIR || !it->made)
			continue;
		/* Under one reported replaced during the walk: nothing more to say. */
		if (under_gone(t, it->rel)) {
			dir_failed(t, it);
			continue;
		}
		fd = rt_open_dir_beneath(t->rootfd, it->rel);
		if (fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == it->dev && st.st_ino == it->ino) {
			if (rt_set_meta(t, it, fd, rt_local_path(t, it, &shown)) < 0)
				dir_failed(t, it);
			close(fd);
			continue;
		}
		/* Reported below, once for the uppermost of those under one another. */
		ALLOC_GROW(unset, nr + 1, alloc);
		unset[nr].i = i;
		unset[nr].err = fd < 0 ? fd : 0;
		nr++;
		dir_failed(t, it);
		if (fd >= 0)
			close(fd);
	}
	/* In name order (the reverse of the above), the names under a directory follow it. */
	for (k = nr; k-- > 0; k -= n) {
		const char *top = t->items[unset[k].i].rel;

		for (n = 0; n < k && rt_is_under(top, t->items[unset[k - n - 1].i].rel); n++)
			;
		report_unset(t, &unset[k], n);
	}
	free(unset);
	strbuf_release(&shown);
}
