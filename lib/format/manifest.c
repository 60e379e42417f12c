/* manifest.c: writing and reading per-file manifests. */
#include "format/manifest.h"
#include "format/mpack.h"
#include "base/csum-file.h"
#include "base/fsutil.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct cdt_manifest_writer {
	struct cdt_store *store;
	struct cdt_csum_file *f;
	uint64_t count, end;
	struct cdt_id file_id;
	struct cdt_id checksum;	/* of the finished file */
	int finished;
	/* The first WRITER_IDS chunk ids, so that a small manifest need not be read back. */
	struct cdt_id *ids;
	size_t ids_alloc;
};

#define WRITER_IDS 1024

int cdt_manifest_writer_new(struct cdt_store *s, struct cdt_manifest_writer **out)
{
	static const unsigned char hdr[CDT_MANIFEST_HDR] = {
		'C', 'D', 'T', 'M', CDT_MANIFEST_VERSION
	};
	/*
	 * A small manifest is kept in memory when it is finished, and written
	 * to its temporary file by cdt_manifest_writer_write_out(): a file whose
	 * content turns out to be stored already costs no file, and the group
	 * commit writes a batch's manifests on its own thread.
	 */
	struct cdt_csum_file *f = cdt_csum_file_open_lazy(cdt_store_dirfd(s, CDT_DIR_TMP), "manifest");
	int ret;

	*out = NULL;
	ret = cdt_csum_file_write(f, hdr, sizeof(hdr));
	if (ret < 0) {
		cdt_csum_file_free(f);
		return ret;
	}
	*out = xcalloc(1, sizeof(**out));
	(*out)->store = s;
	(*out)->f = f;
	return 0;
}

int cdt_manifest_writer_add(struct cdt_manifest_writer *w, const struct cdt_id *id,
			    uint32_t len)
{
	unsigned char rec[CDT_MANIFEST_REC];
	int ret;

	memcpy(rec, id->b, CDT_ID_LEN);
	put_le64(rec + CDT_ID_LEN, w->end + len);
	ret = cdt_csum_file_write(w->f, rec, sizeof(rec));
	if (ret < 0)
		return ret;
	if (w->count < WRITER_IDS) {
		ALLOC_GROW(w->ids, w->count + 1, w->ids_alloc);
		w->ids[w->count] = *id;
	}
	w->end += len;
	w->count++;
	return 0;
}

const struct cdt_id *cdt_manifest_writer_ids(const struct cdt_manifest_writer *w)
{
	return w->count <= WRITER_IDS ? w->ids : NULL;
}

uint64_t cdt_manifest_writer_count(const struct cdt_manifest_writer *w)
{
	return w->count;
}

int cdt_manifest_writer_finish(struct cdt_manifest_writer *w, const struct cdt_id *file_id)
{
	unsigned char t[CDT_MANIFEST_TRAILER - CDT_ID_LEN];
	int ret;

	put_le64(t, w->count);
	put_le64(t + 8, w->end);
	memcpy(t + 16, file_id->b, CDT_ID_LEN);
	ret = cdt_csum_file_write(w->f, t, sizeof(t));
	if (!ret)
		ret = cdt_csum_file_finish(w->f, CDT_CSUM_APPEND, &w->checksum);
	if (ret < 0)
		return ret;
	w->file_id = *file_id;
	w->finished = 1;
	return 0;
}

int cdt_manifest_writer_write_out(struct cdt_manifest_writer *w)
{
	return w->finished ? cdt_csum_file_write_out(w->f) : -EINVAL;
}

int cdt_manifest_writer_in_memory(const struct cdt_manifest_writer *w, const unsigned char **p,
				  size_t *n)
{
	return w->finished && cdt_csum_file_in_memory(w->f, p, n);
}

int cdt_manifest_writer_commit(struct cdt_manifest_writer *w, int replace)
{
	return cdt_manifest_writer_commit_flags(w, replace, 1);
}

int cdt_manifest_writer_commit_flags(struct cdt_manifest_writer *w, int replace, int sync)
{
	int mfd = cdt_store_dirfd(w->store, CDT_DIR_MANIFESTS);
	char path[CDT_ID_HEXLEN + 2];
	int ret;
	unsigned flags = (sync ? CDT_CSUM_SYNC_DIR : 0) | (replace ? 0 : CDT_CSUM_NOREPLACE);

	if (!w->finished)
		return -EINVAL;
	cdt_id_path(&w->file_id, path);
	/*
	 * The manifest must be durable before a name points at it. Its
	 * fan-out directory is there but for the first few hundred: made
	 * only when the rename finds it missing.
	 */
	ret = cdt_csum_file_rename(w->f, mfd, path, flags);
	if (ret != -ENOENT)
		return ret;
	path[2] = '\0';
	if (mkdirat(mfd, path, 0777) == 0) {
		/* A new fan-out directory is durable before what goes into it. */
		if (sync && fsync(mfd) < 0)
			return -errno;
	} else if (errno != EEXIST) {
		return -errno;
	}
	path[2] = '/';
	return cdt_csum_file_rename(w->f, mfd, path, flags);
}

void cdt_manifest_writer_free(struct cdt_manifest_writer *w)
{
	if (!w)
		return;
	cdt_csum_file_free(w->f);
	free(w->ids);
	free(w);
}

int cdt_manifest_exists(struct cdt_store *s, const struct cdt_id *file_id)
{
	char path[CDT_ID_HEXLEN + 2];
	struct stat st;

	int ret;

	if (fstatat(cdt_store_dirfd(s, CDT_DIR_MANIFESTS), cdt_id_path(file_id, path),
		    &st, AT_SYMLINK_NOFOLLOW) == 0)
		return S_ISREG(st.st_mode) ? 1 : -CDT_ECORRUPT;
	if (errno != ENOENT && errno != ENOTDIR)
		return -errno;
	ret = cdt_mpacks_has(s, file_id);
	if (ret)
		return ret;
	/* A store read from elsewhere holds what was fetched so far. */
	ret = cdt_store_fetch(s, CDT_DIR_MANIFESTS, path, NULL);
	return ret == -ENOENT ? 0 : ret < 0 ? ret : 1;
}

#define RBUF_RECS 1024

struct cdt_manifest {
	int fd;
	uint64_t count, size;
	struct cdt_id checksum;
	/* A window of records read ahead for sequential access. */
	unsigned char *win;
	uint64_t win_first, win_nr;
	/*
	 * The end offset of every FIND_STRIDE-th record (the last of each
	 * group), noted while open() checks them all: a search for an offset
	 * is a binary search here and one read of a group, where it was a
	 * read per step through the file. 1/320 of the manifest's size.
	 */
	uint64_t *group_end;
};

#define FIND_STRIDE 64

static int open_manifest_fd(struct cdt_store *s, const struct cdt_id *file_id,
			    uint64_t *fsize, struct strbuf *why)
{
	char path[CDT_ID_HEXLEN + 2];
	struct stat st;
	int fd;

	fd = openat(cdt_store_dirfd(s, CDT_DIR_MANIFESTS), cdt_id_path(file_id, path),
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	/* A store read from elsewhere holds what was fetched so far. */
	if (fd < 0 && (errno == ENOENT || errno == ENOTDIR) && cdt_store_remote_url(s)) {
		struct strbuf reason = STRBUF_INIT;
		int ret = cdt_store_fetch(s, CDT_DIR_MANIFESTS, path, why ? &reason : NULL);

		if (ret < 0 && ret != -ENOENT) {
			if (why)
				strbuf_addf(why, "cannot fetch manifest: %s",
					    reason.len ? reason.buf : cdt_strerror(ret));
			strbuf_release(&reason);
			return ret;
		}
		strbuf_release(&reason);
		fd = openat(cdt_store_dirfd(s, CDT_DIR_MANIFESTS), path,
			    O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 && errno == ENOTDIR)
			errno = ENOENT;
	}
	if (fd < 0) {
		int e = errno == ENOTDIR ? ENOENT : errno;

		if (e == ELOOP)
			return cdt_corrupt(why, "manifest is a symbolic link");
		if (why)
			strbuf_addf(why, e == ENOENT ? "manifest is missing" :
				    "cannot open manifest: %s", cdt_strerror(e));
		return -e;
	}
	if (fstat(fd, &st) < 0) {
		int e = errno;

		close(fd);
		if (why)
			strbuf_addf(why, "cannot stat manifest: %s", cdt_strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return cdt_corrupt(why, "manifest is not a regular file");
	}
	*fsize = (uint64_t)st.st_size;
	if (*fsize < CDT_MANIFEST_HDR + CDT_MANIFEST_TRAILER ||
	    (*fsize - CDT_MANIFEST_HDR - CDT_MANIFEST_TRAILER) % CDT_MANIFEST_REC) {
		close(fd);
		return cdt_corrupt(why, "manifest has an impossible length (%llu bytes)",
			       (unsigned long long)*fsize);
	}
	return fd;
}

/* Check the trailer t, read, against the file length and identity. */
static int parse_trailer(uint64_t fsize, const struct cdt_id *file_id, const unsigned char *t,
			 uint64_t *count, uint64_t *size, struct strbuf *why)
{
	*count = get_le64(t);
	*size = get_le64(t + 8);
	if (*count != (fsize - CDT_MANIFEST_HDR - CDT_MANIFEST_TRAILER) / CDT_MANIFEST_REC)
		return cdt_corrupt(why, "manifest chunk count does not match its length");
	if (memcmp(t + 16, file_id->b, CDT_ID_LEN))
		return cdt_corrupt(why, "manifest belongs to another file id");
	if (!*count != !*size)
		return cdt_corrupt(why, "manifest of a %s file has %s chunks",
			       *size ? "non-empty" : "empty", *count ? "some" : "no");
	return 0;
}

/* Read the trailer into t and check it (parse_trailer()). */
static int check_trailer(int fd, uint64_t fsize, const struct cdt_id *file_id,
			 unsigned char *t, uint64_t *count, uint64_t *size,
			 struct strbuf *why)
{
	ssize_t n = pread_full(fd, t, CDT_MANIFEST_TRAILER, (off_t)(fsize - CDT_MANIFEST_TRAILER));

	if (n < 0)
		return (int)n;
	if (n != CDT_MANIFEST_TRAILER)
		return cdt_corrupt(why, "manifest is truncated");
	return parse_trailer(fsize, file_id, t, count, size, why);
}

/*
 * The manifest of file_id as a loose file (its descriptor, *fsize its
 * length), or, when there is none, from a manifest pack: -1 with its
 * bytes in *all (at most a window's worth: read whole). Else -errno.
 */
static int open_packed_or_fd(struct cdt_store *s, const struct cdt_id *file_id, uint64_t *fsize,
			     unsigned char **all, struct strbuf *why)
{
	struct strbuf pwhy = STRBUF_INIT;
	size_t mark = why ? why->len : 0, len = 0;
	int fd, ret;

	*all = NULL;
	/* A remote store's cache: a manifest in a pack it holds costs no request for a loose one. */
	if (cdt_store_remote_url(s) && !cdt_mpacks_read(s, file_id, all, &len, NULL)) {
		*fsize = len;
		return -1;
	}
	fd = open_manifest_fd(s, file_id, fsize, why);
	if (fd != -ENOENT)
		return fd;
	ret = cdt_mpacks_read(s, file_id, all, &len, &pwhy);
	if (ret == -ENOENT) {
		strbuf_release(&pwhy);
		return fd;	/* "manifest is missing" stands */
	}
	/* The packs' answer replaces what the loose file's absence said. */
	if (why) {
		strbuf_setlen(why, mark);
		strbuf_addbuf(why, &pwhy);
	}
	strbuf_release(&pwhy);
	if (ret < 0)
		return ret;
	*fsize = len;
	return -1;
}

int cdt_manifest_peek(struct cdt_store *s, const struct cdt_id *file_id,
		      uint64_t *count, uint64_t *size)
{
	unsigned char t[CDT_MANIFEST_TRAILER], *all;
	uint64_t fsize;
	int fd = open_packed_or_fd(s, file_id, &fsize, &all, NULL), ret;

	if (all) {
		ret = parse_trailer(fsize, file_id, all + fsize - CDT_MANIFEST_TRAILER, count, size,
				    NULL);
		free(all);
		return ret;
	}
	if (fd < 0)
		return fd;
	ret = check_trailer(fd, fsize, file_id, t, count, size, NULL);
	close(fd);
	return ret;
}

/* The header of a manifest: magic, version, reserved bytes. */
static int check_header(const unsigned char *buf, struct strbuf *why)
{
	if (memcmp(buf, CDT_MANIFEST_MAGIC, 4) || buf[5] || buf[6] || buf[7])
		return cdt_corrupt(why, "manifest has a bad header");
	if (buf[4] != CDT_MANIFEST_VERSION)
		return cdt_corrupt(why, "manifest has unknown version %u", buf[4]);
	return 0;
}

/*
 * Check records done .. done + nr - 1 (at buf): each ends after the one
 * before (*end) by at most max bytes. Notes the end of every group.
 */
static int check_records(const unsigned char *buf, uint64_t nr, uint64_t done, uint64_t count,
			 uint64_t max, uint64_t *end, uint64_t *group_end, struct strbuf *why)
{
	uint64_t i;

	for (i = 0; i < nr; i++) {
		uint64_t e = get_le64(buf + i * CDT_MANIFEST_REC + CDT_ID_LEN);

		if (e <= *end || e - *end > max)
			return cdt_corrupt(why, "manifest entry %llu has a bad length",
					   (unsigned long long)(done + i));
		*end = e;
		if ((done + i + 1) % FIND_STRIDE == 0 || done + i + 1 == count)
			group_end[(done + i) / FIND_STRIDE] = e;
	}
	return 0;
}

int cdt_manifest_open(struct cdt_store *s, const struct cdt_id *file_id,
		      struct cdt_manifest **out, struct strbuf *why)
{
	unsigned char t[CDT_MANIFEST_TRAILER];
	unsigned char *buf = NULL, *all = NULL;
	uint64_t *group_end = NULL;
	struct cdt_hasher *h = NULL;
	struct cdt_id sum;
	uint64_t fsize, count, size, end = 0, done = 0, max = cdt_store_chunker(s)->max_size;
	off_t off;
	int fd, ret;

	*out = NULL;
	fd = open_packed_or_fd(s, file_id, &fsize, &all, why);
	if (fd < 0 && !all)
		return fd;
	if (fsize <= CDT_MANIFEST_HDR + RBUF_RECS * CDT_MANIFEST_REC + CDT_MANIFEST_TRAILER) {
		/* Small enough to be one window: the whole file in one read. */
		ssize_t n = all ? (ssize_t)fsize : 0;

		if (!all) {
			all = xmalloc((size_t)fsize);
			n = pread_full(fd, all, (size_t)fsize, 0);
		}
		if (n != (ssize_t)fsize) {
			ret = n < 0 ? (int)n : cdt_corrupt(why, "manifest is truncated");
			goto fail;
		}
		memcpy(t, all + fsize - CDT_MANIFEST_TRAILER, CDT_MANIFEST_TRAILER);
		ret = parse_trailer(fsize, file_id, t, &count, &size, why);
	} else {
		ret = check_trailer(fd, fsize, file_id, t, &count, &size, why);
	}
	if (ret < 0)
		goto fail;

	/* Stream the body once: checksum and structure, in bounded memory. */
	buf = xmalloc(RBUF_RECS * CDT_MANIFEST_REC);
	group_end = xmalloc((size_t)((count + FIND_STRIDE - 1) / FIND_STRIDE + 1) * sizeof(*group_end));
	h = cdt_hasher_new();
	if (all) {
		memcpy(buf, all, CDT_MANIFEST_HDR);
	} else {
		ret = (int)pread_full(fd, buf, CDT_MANIFEST_HDR, 0);
		if (ret != CDT_MANIFEST_HDR) {
			ret = ret < 0 ? ret : cdt_corrupt(why, "manifest is truncated");
			goto fail;
		}
	}
	ret = check_header(buf, why);
	if (ret < 0)
		goto fail;
	cdt_hasher_update(h, buf, CDT_MANIFEST_HDR);
	off = CDT_MANIFEST_HDR;
	while (done < count) {
		uint64_t nr = MIN(count - done, (uint64_t)RBUF_RECS);
		ssize_t n;

		if (all) {
			/* All of them (count <= RBUF_RECS): they stay as the window. */
			n = (ssize_t)(nr * CDT_MANIFEST_REC);
			memcpy(buf, all + off, (size_t)n);
		} else {
			n = pread_full(fd, buf, nr * CDT_MANIFEST_REC, off);
		}
		if (n < 0) {
			ret = (int)n;
			goto fail;
		}
		if ((uint64_t)n != nr * CDT_MANIFEST_REC) {
			ret = cdt_corrupt(why, "manifest is truncated");
			goto fail;
		}
		cdt_hasher_update(h, buf, (size_t)n);
		ret = check_records(buf, nr, done, count, max, &end, group_end, why);
		if (ret < 0)
			goto fail;
		done += nr;
		off += n;
	}
	cdt_hasher_update(h, t, 48);
	cdt_hasher_final(h, &sum);
	if (memcmp(sum.b, t + 48, CDT_ID_LEN)) {
		ret = cdt_corrupt(why, "manifest checksum does not match its contents");
		goto fail;
	}
	if (end != size) {
		ret = cdt_corrupt(why, "manifest chunk lengths add up to %llu, not the file size %llu",
			      (unsigned long long)end, (unsigned long long)size);
		goto fail;
	}
	cdt_hasher_free(h);
	{
		struct cdt_manifest *m = xcalloc(1, sizeof(*m));

		m->fd = fd;
		m->count = count;
		m->size = size;
		m->checksum = sum;
		m->win = buf;
		/* Read whole, the records checked are the window. */
		m->win_nr = all ? count : 0;
		m->group_end = group_end;
		*out = m;
	}
	free(all);
	return 0;
fail:
	free(all);
	free(buf);
	free(group_end);
	cdt_hasher_free(h);
	if (fd >= 0)
		close(fd);
	return ret;
}

void cdt_manifest_close(struct cdt_manifest *m)
{
	if (!m)
		return;
	if (m->fd >= 0)
		close(m->fd);
	free(m->win);
	free(m->group_end);
	free(m);
}

uint64_t cdt_manifest_count(const struct cdt_manifest *m)
{
	return m->count;
}

uint64_t cdt_manifest_size(const struct cdt_manifest *m)
{
	return m->size;
}

const struct cdt_id *cdt_manifest_checksum(const struct cdt_manifest *m)
{
	return &m->checksum;
}

static uint64_t rec_end(const unsigned char *rec)
{
	return get_le64(rec + CDT_ID_LEN);
}

/*
 * Records first .. first + nr - 1 into buf: read from the file, or for a
 * manifest from a pack (no file) copied from the window that holds them
 * all and never moves. Bytes read, or -errno.
 */
static ssize_t read_recs(const struct cdt_manifest *m, void *buf, uint64_t first, uint64_t nr)
{
	if (m->fd < 0) {
		if (first > m->count || nr > m->count - first)
			return 0;
		memcpy(buf, m->win + first * CDT_MANIFEST_REC, (size_t)(nr * CDT_MANIFEST_REC));
		return (ssize_t)(nr * CDT_MANIFEST_REC);
	}
	return pread_full(m->fd, buf, (size_t)(nr * CDT_MANIFEST_REC),
			  (off_t)(CDT_MANIFEST_HDR + first * CDT_MANIFEST_REC));
}

/* Make record i available in the window; returns a pointer to it. */
static const unsigned char *load_rec(struct cdt_manifest *m, uint64_t i, int *err)
{
	uint64_t first, nr;
	ssize_t n;

	if (i >= m->win_first && i < m->win_first + m->win_nr)
		return m->win + (i - m->win_first) * CDT_MANIFEST_REC;
	/* One record before i too, for its start offset. */
	first = i ? i - 1 : 0;
	nr = MIN(m->count - first, (uint64_t)RBUF_RECS);
	n = read_recs(m, m->win, first, nr);
	if (n < 0 || (uint64_t)n != nr * CDT_MANIFEST_REC) {
		m->win_nr = 0;
		*err = n < 0 ? (int)n : -CDT_ECORRUPT;
		return NULL;
	}
	m->win_first = first;
	m->win_nr = nr;
	return m->win + (i - first) * CDT_MANIFEST_REC;
}

int cdt_manifest_get(struct cdt_manifest *m, uint64_t i, struct cdt_manifest_entry *e)
{
	const unsigned char *rec, *prev;
	uint64_t start = 0, end;
	int err = 0;

	if (i >= m->count)
		return -EINVAL;
	if (i) {
		prev = load_rec(m, i - 1, &err);
		if (!prev)
			return err;
		start = rec_end(prev);
	}
	rec = load_rec(m, i, &err);
	if (!rec)
		return err;
	end = rec_end(rec);
	/* Checked at open; a file rewritten since then fails here, not later. */
	if (end <= start || end - start > UINT32_MAX || end > m->size)
		return -CDT_ECORRUPT;
	memcpy(e->id.b, rec, CDT_ID_LEN);
	e->offset = start;
	e->len = (uint32_t)(end - start);
	return 0;
}

int cdt_manifest_pget(struct cdt_manifest *m, uint64_t i, struct cdt_manifest_entry *e)
{
	unsigned char rec[2 * CDT_MANIFEST_REC];
	const unsigned char *cur = rec;
	uint64_t start = 0, end;
	size_t want = CDT_MANIFEST_REC;
	ssize_t n;

	if (i >= m->count)
		return -EINVAL;
	/* Record i - 1 too, for the start offset: one read for both. */
	if (i) {
		want = sizeof(rec);
		cur = rec + CDT_MANIFEST_REC;
	}
	n = read_recs(m, rec, i ? i - 1 : 0, want / CDT_MANIFEST_REC);
	if (n != (ssize_t)want)
		return n < 0 ? (int)n : -CDT_ECORRUPT;
	if (i)
		start = rec_end(rec);
	end = rec_end(cur);
	if (end <= start || end - start > UINT32_MAX || end > m->size)
		return -CDT_ECORRUPT;
	memcpy(e->id.b, cur, CDT_ID_LEN);
	e->offset = start;
	e->len = (uint32_t)(end - start);
	return 0;
}

int cdt_manifest_find(struct cdt_manifest *m, uint64_t offset, uint64_t *index)
{
	unsigned char rec[FIND_STRIDE * CDT_MANIFEST_REC];
	uint64_t lo = 0, hi = (m->count + FIND_STRIDE - 1) / FIND_STRIDE, first, nr;
	ssize_t n;

	if (offset >= m->size)
		return -EINVAL;
	/* The group whose last record ends past `offset`, */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (m->group_end[mid] > offset)
			hi = mid;
		else
			lo = mid + 1;
	}
	first = lo * FIND_STRIDE;
	if (first >= m->count)
		return -CDT_ECORRUPT;
	/* and in it the first record that does. */
	nr = MIN((uint64_t)FIND_STRIDE, m->count - first);
	n = read_recs(m, rec, first, nr);
	if (n != (ssize_t)(nr * CDT_MANIFEST_REC))
		return n < 0 ? (int)n : -CDT_ECORRUPT;
	lo = 0;
	hi = nr;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (rec_end(rec + mid * CDT_MANIFEST_REC) > offset)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo >= nr)
		return -CDT_ECORRUPT;
	*index = first + lo;
	return 0;
}

const struct cdt_id *cdt_manifest_writer_checksum(const struct cdt_manifest_writer *w)
{
	return w->finished ? &w->checksum : NULL;
}

const char *cdt_manifest_writer_tmpname(const struct cdt_manifest_writer *w)
{
	return cdt_csum_file_tmpname(w->f);
}
