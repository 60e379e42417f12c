/* csum-file.c: a temporary file written through a buffer and a running SHA-256, renamed into place. */
#include "base/csum-file.h"
#include "base/fsutil.h"
#include "base/strbuf.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Bytes go out in large pieces: a write() per small record or per chunk
 * object (a few KiB, at any offset) costs ext4 a zeroing of every partly
 * written new block, 16% of an add of incompressible data. A piece that
 * does not fit in what is left of the buffer starts the next write rather
 * than being split across two: filling the buffer to the byte (writes of
 * exactly 1 MiB at aligned offsets) tripled the system time of an add of
 * incompressible data on Linux 6.18.
 */
#define CSUM_BUF (1u << 20)
/* Most files are small (a manifest or a reference table of a small file): their buffer starts small. */
#define CSUM_BUF_FIRST (64u << 10)
#define CSUM_RESERVE_MAX 4096
/* A lazy file of at most this many bytes is kept in memory when it is finished. */
#define CSUM_KEEP_MAX 4096

struct cdt_csum_file {
	int tmpfd;
	const char *prefix;	/* of the temporary file's name */
	int lazy;		/* cdt_csum_file_open_lazy() */
	int fd;			/* -1 until created (lazy), and once finished */
	struct strbuf tmpname;	/* "" once renamed or removed */
	struct cdt_hasher *h;
	unsigned char *buf;
	size_t cap;		/* grows to CSUM_BUF */
	size_t used;		/* bytes in buf */
	size_t hashed;		/* buf[0..hashed) is hashed, or reserved */
	uint64_t off;		/* bytes written, buffered ones included */
	int err;
	int finished;
};

static struct cdt_csum_file *csum_file_new(int tmpfd, const char *prefix)
{
	struct cdt_csum_file *f = xcalloc(1, sizeof(*f));

	strbuf_init(&f->tmpname, 0);
	f->tmpfd = tmpfd;
	f->fd = -1;
	f->prefix = prefix;
	f->h = cdt_hasher_new();
	f->cap = CSUM_BUF_FIRST;
	f->buf = xmalloc(f->cap);
	return f;
}

/* Create the temporary file of a lazy writer, when it first needs one. 0 or -errno. */
static int create(struct cdt_csum_file *f)
{
	if (f->fd >= 0 || f->err)
		return f->err;
	f->fd = tmpfile_openat(f->tmpfd, f->prefix, &f->tmpname);
	if (f->fd < 0) {
		f->err = f->fd;
		f->fd = -1;
		strbuf_reset(&f->tmpname);
	}
	return f->err;
}

int cdt_csum_file_open(int tmpfd, const char *prefix, struct cdt_csum_file **out)
{
	struct cdt_csum_file *f = csum_file_new(tmpfd, prefix);
	int ret = create(f);

	*out = NULL;
	if (ret < 0) {
		cdt_csum_file_free(f);
		return ret;
	}
	*out = f;
	return 0;
}

struct cdt_csum_file *cdt_csum_file_open_lazy(int tmpfd, const char *prefix)
{
	struct cdt_csum_file *f = csum_file_new(tmpfd, prefix);

	f->lazy = 1;
	return f;
}

static void hash_pending(struct cdt_csum_file *f)
{
	if (f->used > f->hashed)
		cdt_hasher_update(f->h, f->buf + f->hashed, f->used - f->hashed);
	f->hashed = f->used;
}

static int flush(struct cdt_csum_file *f)
{
	hash_pending(f);
	if (f->used && !f->err && !create(f))
		f->err = write_all(f->fd, f->buf, f->used);
	f->used = f->hashed = 0;
	return f->err;
}

/* Append n bytes of buf (zeros when buf is NULL: at most CSUM_RESERVE_MAX), hashed or not. */
static int put(struct cdt_csum_file *f, const void *buf, size_t n, int hash)
{
	if (f->err)
		return f->err;
	if (f->finished)
		return -EINVAL;
	if (!hash)
		hash_pending(f);
	if (n > f->cap - f->used && f->cap < CSUM_BUF) {
		f->cap = MIN(CSUM_BUF, MAX(2 * f->cap, f->used + n));
		f->buf = xrealloc(f->buf, f->cap);
	}
	if (f->used && n > f->cap - f->used && flush(f) < 0)
		return f->err;
	if (n >= f->cap) {
		/* Large enough to go out as it is. */
		if (hash)
			cdt_hasher_update(f->h, buf, n);
		if (create(f) < 0)
			return f->err;
		f->err = write_all(f->fd, buf, n);
		if (!f->err)
			f->off += n;
		return f->err;
	}
	if (buf)
		memcpy(f->buf + f->used, buf, n);
	else
		memset(f->buf + f->used, 0, n);
	f->used += n;
	if (!hash)
		f->hashed = f->used;
	f->off += n;
	return 0;
}

int cdt_csum_file_write(struct cdt_csum_file *f, const void *buf, size_t n)
{
	return put(f, buf, n, 1);
}

uint64_t cdt_csum_file_offset(const struct cdt_csum_file *f)
{
	return f->off;
}

uint64_t cdt_csum_file_reserve(struct cdt_csum_file *f, size_t n)
{
	uint64_t off = f->off;

	if (n > CSUM_RESERVE_MAX && !f->err)
		f->err = -EINVAL;
	put(f, NULL, n, 0);
	return off;
}

int cdt_csum_file_fill(struct cdt_csum_file *f, uint64_t off, const void *buf, size_t n)
{
	if (off + n > f->off || off + n < off)
		return f->err ? f->err : -EINVAL;
	if (flush(f) < 0 || create(f) < 0)
		return f->err;
	f->err = pwrite_all(f->fd, buf, n, (off_t)off);
	if (!f->err)
		cdt_hasher_update(f->h, buf, n);
	return f->err;
}

int cdt_csum_file_in_memory(const struct cdt_csum_file *f, const unsigned char **p, size_t *n)
{
	if (!f->finished || !f->buf || f->tmpname.len)
		return 0;
	*p = f->buf;
	*n = f->used;
	return 1;
}

int cdt_csum_file_finish(struct cdt_csum_file *f, unsigned flags, struct cdt_id *sum)
{
	struct cdt_id s;
	int ret;

	if (f->finished)
		return -EINVAL;
	hash_pending(f);
	cdt_hasher_final(f->h, &s);
	if (flags & CDT_CSUM_APPEND)
		put(f, s.b, CDT_ID_LEN, 0);
	if (f->lazy && f->fd < 0 && !f->err && f->used <= CSUM_KEEP_MAX &&
	    !(flags & CDT_CSUM_FSYNC)) {
		/* Small and lazy: kept, in a buffer of its size, until cdt_csum_file_write_out(). */
		f->buf = xrealloc(f->buf, f->used ? f->used : 1);
		f->cap = f->used;
		f->finished = 1;
		cdt_hasher_free(f->h);
		f->h = NULL;
		if (sum)
			*sum = s;
		return 0;
	}
	ret = flush(f);
	if (!ret)
		ret = create(f);	/* a lazy writer's empty file */
	if (!ret && (flags & CDT_CSUM_FSYNC) && fsync(f->fd) < 0)
		ret = -errno;
	if (f->fd >= 0 && close(f->fd) < 0 && !ret)
		ret = -errno;
	f->fd = -1;
	f->finished = 1;
	/* A finished file waits for its rename holding only its name (add keeps many). */
	free(f->buf);
	f->buf = NULL;
	f->cap = f->used = f->hashed = 0;
	cdt_hasher_free(f->h);
	f->h = NULL;
	if (ret < 0) {
		f->err = ret;
		return ret;
	}
	if (sum)
		*sum = s;
	return 0;
}

int cdt_csum_file_write_out(struct cdt_csum_file *f)
{
	int ret;

	if (!f->finished || f->err)
		return f->err ? f->err : -EINVAL;
	if (!f->buf)
		return 0;	/* written when it was finished */
	ret = create(f);
	if (!ret)
		ret = write_all(f->fd, f->buf, f->used);
	if (f->fd >= 0 && close(f->fd) < 0 && !ret)
		ret = -errno;
	f->fd = -1;
	free(f->buf);
	f->buf = NULL;
	f->cap = f->used = f->hashed = 0;
	if (ret < 0)
		f->err = ret;
	return ret;
}

/* fsync the directory that holds `name`, relative to dirfd. */
static int sync_parent(int dirfd, const char *name)
{
	const char *slash = strrchr(name, '/');
	char *dir;
	int ret;

	if (!slash)
		return fsync_dirat(dirfd, ".");
	dir = xstrndup(name, (size_t)(slash - name));
	ret = fsync_dirat(dirfd, dir);
	free(dir);
	return ret;
}

int cdt_csum_file_rename(struct cdt_csum_file *f, int dirfd, const char *name, unsigned flags)
{
	int ret;

	if (!f->finished || f->err || !f->tmpname.len)
		return f->err ? f->err : -EINVAL;
	if (flags & CDT_CSUM_NOREPLACE)
		ret = rename_noreplace(f->tmpfd, f->tmpname.buf, dirfd, name);
	else
		ret = renameat(f->tmpfd, f->tmpname.buf, dirfd, name) < 0 ? -errno : 0;
	if (ret < 0)
		return ret;
	strbuf_reset(&f->tmpname);
	if (ret == 1)
		return 1;
	return flags & CDT_CSUM_SYNC_DIR ? sync_parent(dirfd, name) : 0;
}

const char *cdt_csum_file_tmpname(const struct cdt_csum_file *f)
{
	return f->tmpname.buf;
}

void cdt_csum_file_free(struct cdt_csum_file *f)
{
	if (!f)
		return;
	if (f->fd >= 0)
		close(f->fd);
	if (f->tmpname.len)
		unlinkat(f->tmpfd, f->tmpname.buf, 0);
	strbuf_release(&f->tmpname);
	cdt_hasher_free(f->h);
	free(f->buf);
	free(f);
}
