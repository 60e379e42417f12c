/* info-marks.c: the marks in info/ of writers changing names, made before their first change and removed once the tables follow. */
#include "format/info.h"
#include "format/info-internal.h"
#include "base/fsutil.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * Marks of writers changing names (cdt_info_intent_begin()):
 * info/changing-<pid>-<n>, each flock()ed by its writer until the tables
 * of info/names/ follow its changes. A mark that can be locked is its
 * writer's that died (or gave up) first: the tables may be stale.
 */
#define INTENT_PREFIX "changing-"

struct cdt_info_intent {
	int infofd, fd;
	struct strbuf name;
};

/*
 * Is info/<name> a regular file that no one holds locked (its writer is
 * gone), and with min_age, at least that many seconds old?
 */
static int unheld(int infofd, const char *name, int64_t min_age)
{
	struct stat st;
	int fd = openat(infofd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), ret;

	if (fd < 0)
		return 0;
	ret = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	      (!min_age || (int64_t)time(NULL) - (int64_t)st.st_mtime >= min_age) &&
	      flock(fd, LOCK_EX | LOCK_NB) == 0;
	close(fd);
	return ret;
}

/*
 * A mark is made under "new-" + its name, locked, then renamed. A writer
 * killed in between leaves the new- file, which nothing reads: removed
 * once no one holds it and it is over a minute old (a live writer locks
 * it microseconds after making it).
 */
#define LITTER_AGE 61

/*
 * The marks of writers that are gone, in *out (xmalloc'd). Their count.
 * With `tidy`, the leftovers of marks never made are removed on the way.
 */
size_t info_scan_intents(int infofd, int tidy, struct cdt_dent **out)
{
	struct cdt_dent *d = NULL;
	size_t nd = 0, i, n = 0;

	*out = NULL;
	if (cdt_list_dir(infofd, ".", &d, &nd) < 0)
		return 0;
	for (i = 0; i < nd; i++) {
		int gone;

		if (tidy && !strncmp(d[i].name, "new-" INTENT_PREFIX, strlen("new-" INTENT_PREFIX)) &&
		    unheld(infofd, d[i].name, LITTER_AGE))
			unlinkat(infofd, d[i].name, 0);
		gone = !strncmp(d[i].name, INTENT_PREFIX, strlen(INTENT_PREFIX)) &&
		       d[i].type == DT_REG && unheld(infofd, d[i].name, 0);
		if (gone)
			d[n++] = d[i];
		else
			free(d[i].name);
	}
	for (i = n; i < nd; i++)
		d[i].name = NULL;
	if (!n) {
		cdt_dents_free(d, nd);
		return 0;
	}
	*out = d;
	return n;
}

int cdt_info_intents_dead(struct cdt_store *s)
{
	int infofd = openat(cdt_store_rootfd(s), CDT_INFO_DIR,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct cdt_dent *d;
	size_t n;

	if (infofd < 0)
		return 0;
	/* Only asks: leftovers are for the update that follows to remove. */
	n = info_scan_intents(infofd, 0, &d);
	cdt_dents_free(d, n);
	close(infofd);
	return n > 0;
}

int info_marks_live(int infofd)
{
	struct cdt_dent *d = NULL;
	size_t nd = 0, i;
	int live = 0;

	if (cdt_list_dir(infofd, ".", &d, &nd) < 0)
		return 0;
	for (i = 0; i < nd && !live; i++) {
		int fd;

		if (strncmp(d[i].name, INTENT_PREFIX, strlen(INTENT_PREFIX)) || d[i].type != DT_REG)
			continue;
		fd = openat(infofd, d[i].name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		/* Its writer holds it (exclusively) for as long as it lives. */
		live = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
		close(fd);
	}
	cdt_dents_free(d, nd);
	return live;
}

struct cdt_info_intent *cdt_info_intent_begin(struct cdt_store *s)
{
	static unsigned long counter;
	struct cdt_info_intent *it = xcalloc(1, sizeof(*it));
	struct strbuf tmp = STRBUF_INIT;
	int rootfd = cdt_store_rootfd(s), tries;

	strbuf_init(&it->name, 0);
	it->infofd = it->fd = -1;
	if (mkdirat(rootfd, CDT_INFO_DIR, 0777) < 0 && errno != EEXIST)
		goto fail;
	it->infofd = openat(rootfd, CDT_INFO_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (it->infofd < 0)
		goto fail;
	/*
	 * Not a temporary file of tmp/: those are removed when a signal
	 * stops the process, and this must outlive a writer stopped half way.
	 */
	for (tries = 0; tries < 100; tries++) {
		int ret;

		strbuf_reset(&it->name);
		strbuf_addf(&it->name, INTENT_PREFIX "%ld-%lu", (long)getpid(),
			    __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
		strbuf_reset(&tmp);
		strbuf_addf(&tmp, "new-%s", it->name.buf);
		it->fd = openat(it->infofd, tmp.buf,
				O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
		if (it->fd < 0 && errno == EEXIST)
			continue;
		if (it->fd < 0)
			goto fail;
		/* Locked before it has the name others look for: a mark is never seen unlocked too soon. */
		if (flock(it->fd, LOCK_EX) < 0) {
			ret = -errno;
			unlinkat(it->infofd, tmp.buf, 0);
		} else {
			/*
			 * Never over a mark of the same name: a writer gone with
			 * this process id (reused, as in a container) left it.
			 */
			ret = rename_noreplace(it->infofd, tmp.buf, it->infofd, it->name.buf);
			if (ret < 0)
				unlinkat(it->infofd, tmp.buf, 0);
		}
		if (!ret) {
			strbuf_release(&tmp);
			return it;
		}
		close(it->fd);
		it->fd = -1;
		if (ret < 0) {
			errno = -ret;
			goto fail;
		}
	}
	errno = EEXIST;
fail:
	warning("cannot mark '%s/info' as being changed (%s): a writer stopped half way would "
		"leave it stale", cdt_store_path(s), cdt_strerror(errno));
	if (it->fd >= 0) {
		unlinkat(it->infofd, it->name.buf, 0);
		close(it->fd);
	}
	if (it->infofd >= 0)
		close(it->infofd);
	strbuf_release(&tmp);
	strbuf_release(&it->name);
	free(it);
	return NULL;
}

void cdt_info_intent_end(struct cdt_info_intent *it, int followed)
{
	if (!it)
		return;
	if (followed)
		unlinkat(it->infofd, it->name.buf, 0);
	close(it->fd);	/* (drops the lock: a mark left is now a dead writer's) */
	close(it->infofd);
	strbuf_release(&it->name);
	free(it);
}

size_t cdt_info_dead_marks(struct cdt_store *s, struct cdt_dent **out)
{
	int infofd = openat(cdt_store_rootfd(s), CDT_INFO_DIR,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	size_t n;

	*out = NULL;
	if (infofd < 0)
		return 0;
	n = info_scan_intents(infofd, 1, out);
	close(infofd);
	return n;
}

void cdt_info_marks_remove(struct cdt_store *s, const struct cdt_dent *marks, size_t n)
{
	int infofd;
	size_t i;

	if (!n)
		return;
	infofd = openat(cdt_store_rootfd(s), CDT_INFO_DIR,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (infofd < 0)
		return;
	for (i = 0; i < n; i++)
		unlinkat(infofd, marks[i].name, 0);
	close(infofd);
}
