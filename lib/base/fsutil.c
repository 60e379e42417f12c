/* fsutil.c: durable file-system operations. */
#include "base/fsutil.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int mkdirat_p(int dirfd, const char *rel)
{
	return mkdirat_p_flags(dirfd, rel, 1);
}

/* Length of the parent of buf[0, len) (no trailing slashes), 0 if it has none. */
static size_t parent_len(const char *buf, size_t len)
{
	while (len && buf[len - 1] != '/')
		len--;
	while (len > 1 && buf[len - 1] == '/')
		len--;
	return len;
}

/* fsync the directory buf[0, len) (relative to dirfd), "." when len is 0. */
static int fsync_prefix(int dirfd, char *buf, size_t len)
{
	char save = buf[len];
	int ret;

	buf[len] = '\0';
	ret = fsync_dirat(dirfd, len ? buf : ".");
	buf[len] = save;
	return ret;
}

/*
 * mkdirat() of buf[0, len), making missing parents first. The directory
 * itself is tried first: usually its parents exist, and one call does. 1
 * if it existed, 0 if made (its parent synced first with `sync`), -errno.
 */
static int mkdir_up(int dirfd, char *buf, size_t len, int sync, int depth)
{
	size_t plen;
	char save = buf[len];
	int ret, e;

	buf[len] = '\0';
	ret = mkdirat(dirfd, buf, 0777);
	e = errno;
	buf[len] = save;
	if (ret == 0)
		goto made;
	if (e == EEXIST)
		return 1;
	plen = parent_len(buf, len);
	if (e != ENOENT || !plen || (plen == 1 && buf[0] == '/') || depth >= FS_TREE_DEPTH_MAX)
		return -e;
	ret = mkdir_up(dirfd, buf, plen, sync, depth + 1);
	if (ret < 0)
		return ret;
	buf[len] = '\0';
	ret = mkdirat(dirfd, buf, 0777);
	e = errno;
	buf[len] = save;
	if (ret < 0)
		return e == EEXIST ? 1 : -e;
made:
	/*
	 * A new directory is durable only once its parent is synced: what
	 * goes into it may be synced next (unless the caller syncs the
	 * whole file system later).
	 */
	if (!sync)
		return 0;
	plen = parent_len(buf, len);
	if (!plen && buf[0] == '/')
		plen = 1;
	return fsync_prefix(dirfd, buf, plen);
}

int mkdirat_p_flags(int dirfd, const char *rel, int sync)
{
	struct strbuf sb = STRBUF_INIT;
	int ret;

	strbuf_addstr(&sb, rel);
	while (sb.len > 1 && sb.buf[sb.len - 1] == '/')
		strbuf_setlen(&sb, sb.len - 1);
	ret = mkdir_up(dirfd, sb.buf, sb.len, sync, 0);
	if (ret == 1) {
		struct stat st;

		/* Made by us it is a directory; found, it may be anything. */
		if (fstatat(dirfd, sb.buf, &st, AT_SYMLINK_NOFOLLOW) < 0)
			ret = -errno;
		else
			ret = S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	}
	strbuf_release(&sb);
	return ret;
}

int tmpfile_sync(int tmpfd, const char *name)
{
	int fd = openat(tmpfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), ret = 0;

	if (fd < 0 || fsync(fd) < 0)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	if (ret)
		unlinkat(tmpfd, name, 0);
	return ret;
}

int mkdir_p(const char *path)
{
	return mkdirat_p(AT_FDCWD, path);
}

int fsync_dirat(int dirfd, const char *path)
{
	int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0 && errno != EINVAL)
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * The remembered temporary files: a ring, so registration never fails and
 * never allocates. Most temporary files live while a few dozen others are
 * made; repair keeps a batch of up to 1024 written before it renames them.
 */
#define TEMP_SLOTS TMPFILE_REMEMBERED
#define TEMP_NAME_MAX 96

struct temp_slot {
	volatile sig_atomic_t used;
	int dirfd;
	char name[TEMP_NAME_MAX];
};

static struct temp_slot temps[TEMP_SLOTS];
static unsigned temp_next;
static pthread_mutex_t temp_mu = PTHREAD_MUTEX_INITIALIZER;

static void remember_temp(int dirfd, const char *name)
{
	struct temp_slot *t;

	if (strlen(name) >= TEMP_NAME_MAX)
		return;
	pthread_mutex_lock(&temp_mu);
	t = &temps[temp_next++ % TEMP_SLOTS];
	t->used = 0;
	t->dirfd = dirfd;
	strcpy(t->name, name);
	t->used = 1;
	pthread_mutex_unlock(&temp_mu);
}

void tmpfile_forget(int tmpfd, const char *name)
{
	int i;

	pthread_mutex_lock(&temp_mu);
	for (i = 0; i < TEMP_SLOTS; i++)
		if (temps[i].used && temps[i].dirfd == tmpfd && !strcmp(temps[i].name, name))
			temps[i].used = 0;
	pthread_mutex_unlock(&temp_mu);
}

static void remove_temps_on_signal(int sig)
{
	int i, saved = errno;

	/* Only async-signal-safe calls here. */
	for (i = 0; i < TEMP_SLOTS; i++)
		if (temps[i].used)
			unlinkat(temps[i].dirfd, temps[i].name, 0);
	errno = saved;
	signal(sig, SIG_DFL);
	raise(sig);
}

void tmpfile_install_signal_handlers(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = remove_temps_on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	for (i = 0; i < ARRAY_SIZE(sigs); i++) {
		struct sigaction old;

		/* Leave alone a signal the caller's parent chose to ignore (nohup). */
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaction(sigs[i], &sa, NULL);
	}
}

/*
 * Temporary names: 64 random bits drawn once per process, then a counter
 * mixed by splitmix64 (a bijection, so no name repeats within a process).
 * O_EXCL still decides; the seed only makes a clash with another process
 * unlikely. A forked child draws its own.
 */
static uint64_t temp_seed, temp_count;
static long temp_pid;
static int temp_seeded, temp_atfork;

static void temp_reseed_in_child(void)
{
	temp_seeded = 0;
}

static uint64_t next_temp_id(long *pid)
{
	uint64_t z;

	pthread_mutex_lock(&temp_mu);
	if (!temp_seeded) {
		if (getrandom(&temp_seed, sizeof(temp_seed), 0) != sizeof(temp_seed))
			temp_seed = (uint64_t)(now_seconds() * 1e9) ^ ((uint64_t)getpid() << 32);
		temp_pid = (long)getpid();
		temp_count = 0;
		temp_seeded = 1;
		if (!temp_atfork && !pthread_atfork(NULL, NULL, temp_reseed_in_child))
			temp_atfork = 1;
	}
	z = temp_seed + ++temp_count * 0x9e3779b97f4a7c15ull;
	*pid = temp_pid;
	pthread_mutex_unlock(&temp_mu);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

int tmpfile_openat(int tmpfd, const char *prefix, struct strbuf *name)
{
	return tmpfile_openat_mode(tmpfd, prefix, name, 0666);
}

int tmpfile_openat_mode(int tmpfd, const char *prefix, struct strbuf *name, mode_t mode)
{
	int tries, err;

	for (tries = 0; tries < 100; tries++) {
		long pid;
		uint64_t r = next_temp_id(&pid);
		int fd;

		strbuf_reset(name);
		strbuf_addf(name, "%s-%ld-%016llx", prefix, pid, (unsigned long long)r);
		/*
		 * Remembered before it exists: a signal between creating the
		 * file and remembering it would leave it behind. (Unlinking a
		 * name not created yet does nothing; the name holds our pid
		 * and bits drawn from a random seed, so it is nobody else's.)
		 */
		remember_temp(tmpfd, name->buf);
		fd = openat(tmpfd, name->buf,
			    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
		if (fd >= 0)
			return fd;
		err = errno;
		tmpfile_forget(tmpfd, name->buf);
		if (err != EEXIST)
			return -err;
	}
	return -EEXIST;
}

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

int rename_noreplace(int fromfd, const char *from, int tofd, const char *to)
{
	if (syscall(SYS_renameat2, fromfd, from, tofd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST) {
		unlinkat(fromfd, from, 0);
		return 1;
	}
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* File systems without RENAME_NOREPLACE: link() never replaces either. */
	if (linkat(fromfd, from, tofd, to, 0) < 0) {
		if (errno == EEXIST) {
			unlinkat(fromfd, from, 0);
			return 1;
		}
		return -errno;
	}
	unlinkat(fromfd, from, 0);
	return 0;
}

int read_small_fileat(int dirfd, const char *path, size_t max, struct strbuf *out)
{
	/* O_NONBLOCK: a FIFO in the file's place is refused below, not waited on. */
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	ssize_t n;
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		ret = -EFBIG;
		goto out;
	}
	strbuf_reset(out);
	strbuf_grow(out, (size_t)st.st_size + 1);
	/* Read one byte more than fstat said, to notice a file that grew. */
	n = read_full(fd, out->buf, (size_t)st.st_size + 1);
	if (n < 0) {
		ret = (int)n;
		goto out;
	}
	if ((size_t)n > max) {
		ret = -EFBIG;
		goto out;
	}
	strbuf_setlen(out, (size_t)n);
out:
	close(fd);
	return ret;
}

int map_file_at(int dirfd, const char *name, uint64_t min, uint64_t max,
		const unsigned char **map, size_t *len)
{
	struct stat st;
	void *m;
	/* O_NONBLOCK: a FIFO in the file's place is refused below, not waited on. */
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	if (fd < 0)
		return errno == ELOOP ? -CDT_ECORRUPT : -errno;
	if (fstat(fd, &st) < 0) {
		int e = -errno;	/* an I/O error, not damage */

		close(fd);
		return e;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < min ||
	    (uint64_t)st.st_size > max || st.st_size == 0) {
		close(fd);
		return -CDT_ECORRUPT;
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -errno;
	*map = m;
	*len = (size_t)st.st_size;
	return 0;
}

static int cmp_dent(const void *a, const void *b)
{
	return strcmp(((const struct cdt_dent *)a)->name, ((const struct cdt_dent *)b)->name);
}

int cdt_list_dir(int dirfd, const char *path, struct cdt_dent **out, size_t *nr)
{
	struct cdt_dent *v = NULL;
	size_t n = 0, alloc = 0;
	struct dirent *de;
	DIR *d;
	int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	*out = NULL;
	*nr = 0;
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		int e = -errno;

		close(fd);
		return e;
	}
	errno = 0;
	while ((de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		ALLOC_GROW(v, n + 1, alloc);
		v[n].name = xstrdup(de->d_name);
		v[n].type = de->d_type;
		if (v[n].type == DT_UNKNOWN) {
			if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				v[n].type = DT_UNKNOWN;
			else if (S_ISDIR(st.st_mode))
				v[n].type = DT_DIR;
			else if (S_ISREG(st.st_mode))
				v[n].type = DT_REG;
			else
				v[n].type = DT_LNK;	/* anything else: not ours */
		}
		n++;
		errno = 0;
	}
	if (errno) {
		int e = -errno;

		closedir(d);
		for (size_t i = 0; i < n; i++)
			free(v[i].name);
		free(v);
		return e;
	}
	closedir(d);
	/* Sorted by name: ids in order, and output that does not depend on the disk. */
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_dent);
	*out = v;
	*nr = n;
	return 0;
}

void cdt_dents_free(struct cdt_dent *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

int dir_usage_checked_at(int dirfd, const char *path, uint64_t *bytes, uint64_t *files,
			 int depth)
{
	int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *de;
	DIR *d;
	int ret = 0;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		ret = -errno;
		close(fd);
		return ret;
	}
	for (;;) {
		struct stat st;

		errno = 0;
		de = readdir(d);
		if (!de) {
			ret = -errno;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;	/* removed since it was listed */
			ret = -errno;
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			if (depth < FS_TREE_DEPTH_MAX) {
				ret = dir_usage_checked_at(fd, de->d_name, bytes, files, depth + 1);
				if (ret == -ENOENT)
					ret = 0;	/* removed since it was listed */
				if (ret < 0)
					break;
			}
		} else if (S_ISREG(st.st_mode)) {
			*bytes += (uint64_t)st.st_size;
			if (files)
				(*files)++;
		}
	}
	closedir(d);
	return ret;
}

uint64_t dir_usage_at(int dirfd, const char *path, uint64_t *files, int depth)
{
	uint64_t sum = 0;

	dir_usage_checked_at(dirfd, path, &sum, files, depth);
	return sum;
}

int remove_tree_at(int dirfd, const char *name, int depth)
{
	struct dirent *de;
	DIR *d;
	int fd, ret = 0;

	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	if (depth >= FS_TREE_DEPTH_MAX)
		return -ELOOP;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		ret = -errno;
		close(fd);
		return ret;
	}
	while ((de = readdir(d))) {
		int r;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		r = remove_tree_at(fd, de->d_name, depth + 1);
		if (r < 0 && !ret)
			ret = r;
	}
	closedir(d);
	if (!ret && unlinkat(dirfd, name, AT_REMOVEDIR) < 0)
		ret = -errno;
	return ret;
}

int listing_racy(const struct timespec *listed_at, const struct timespec *mtime,
		 const struct timespec *ctime)
{
	time_t last = mtime->tv_sec > ctime->tv_sec ? mtime->tv_sec : ctime->tv_sec;

	return listed_at->tv_sec - last < CDT_RACY_SECONDS;
}
