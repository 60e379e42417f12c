/* verify.c: compare a local file with a stored one chunk by chunk, by hash. */
#include "ops/verify.h"
#include "ops/chunks.h"
#include "ops/restore.h"
#include "base/cid.h"
#include "format/config.h"
#include "format/manifest.h"
#include "base/util.h"
#include "base/workers.h"
#include "base/testpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


struct round {
	const unsigned char *buf;
	struct cdt_manifest_entry *ents;
	uint64_t base;		/* file offset of buf[0] */
	size_t have;		/* bytes in buf */
	unsigned char *same;	/* per chunk: hash equals the id */
};

static void hash_one(size_t i, int worker, void *data)
{
	struct round *r = data;
	const struct cdt_manifest_entry *e = &r->ents[i];
	size_t off = (size_t)(e->offset - r->base);
	struct cdt_id got;

	(void)worker;
	if (off + e->len > r->have) {
		r->same[i] = 0;		/* the local file ends inside it */
		return;
	}
	cdt_hash(r->buf + off, e->len, &got);
	r->same[i] = cdt_id_eq(&got, &e->id);
}

/*
 * Find the first differing byte inside chunk e, whose local bytes are
 * local[0..n). A stored chunk that is damaged leaves the whole chunk as the
 * place; one that cannot be read (EIO) is an error, reported for `name`.
 */
static int locate(struct cdt_store *s, const struct cdt_manifest_entry *e, const char *name,
		  const unsigned char *local, size_t n, struct cdt_verify_diff *diff)
{
	struct cdt_chunk_reader *rd = cdt_chunk_reader_new(s);
	unsigned char *stored = xmalloc(cdt_store_chunker(s)->max_size);
	struct strbuf why = STRBUF_INIT;
	char hex[CDT_ID_HEXLEN + 1];
	uint32_t len;
	size_t i;
	int ret = 0;

	diff->identical = 0;
	diff->exact = 1;
	if (!n) {
		diff->offset = e->offset;	/* the local file ends before it */
		goto out;
	}
	ret = cdt_chunk_read(rd, &e->id, e->len, stored, &len, &why);
	if (ret < 0 && ret != -ENOENT && ret != -CDT_ECORRUPT) {
		error("cannot read '%s' at offset %llu: chunk %s: %s", quote(name),
		      (unsigned long long)e->offset, cdt_id_to_hex(&e->id, hex),
		      why.len ? why.buf : cdt_strerror(ret));
		goto out;
	}
	if (ret < 0) {
		ret = 0;
		diff->exact = 0;
		diff->offset = e->offset;
		diff->len = e->len;
		goto out;
	}
	for (i = 0; i < n && local[i] == stored[i]; i++)
		;
	diff->offset = e->offset + i;	/* i == n: the local file ends here */
out:
	free(stored);
	strbuf_release(&why);
	cdt_chunk_reader_free(rd);
	return ret;
}

int cdt_verify_against(struct cdt_store *s, const struct cdt_name_entry *e, int fd,
		       const char *what, int jobs, struct cdt_verify_diff *diff)
{
	uint32_t max = cdt_store_chunker(s)->max_size;
	size_t cap = MAX((size_t)CDT_ROUND_BYTES, (size_t)max);
	size_t nents = cap / cdt_store_chunker(s)->min_size + 2;
	struct cdt_manifest *m = NULL;
	struct cdt_workers *w = NULL;
	struct strbuf why = STRBUF_INIT;
	struct round r = { 0 };
	unsigned char *buf = NULL;
	uint64_t count, next = 0;
	char hex[CDT_ID_HEXLEN + 1];
	int ret, eof = 0;

	memset(diff, 0, sizeof(*diff));
	cdt_pause_point("restore-manifest");
	ret = cdt_manifest_open(s, &e->content, &m, &why);
	if (ret < 0 && cdt_restore_report_moved(s, e, ret) < 0) {
		ret = -ESTALE;
		goto out;
	}
	if (ret < 0) {
		error("cannot read '%s': manifest %s: %s", quote(e->name), cdt_id_to_hex(&e->content, hex),
		      why.len ? why.buf : cdt_strerror(ret));
		goto out;
	}
	if (cdt_manifest_size(m) != e->size) {
		ret = error_code(-CDT_ECORRUPT, "cannot read '%s': its entry says %llu bytes, its manifest %llu",
				  quote(e->name), (unsigned long long)e->size,
				  (unsigned long long)cdt_manifest_size(m));
		goto out;
	}
	cdt_pause_point("restore-open");
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	w = cdt_workers_new(jobs > 0 ? jobs - 1 : cdt_online_cpus() - 1);
	buf = xmalloc(cap);
	r.buf = buf;
	r.ents = xcalloc(nents, sizeof(*r.ents));
	r.same = xmalloc(nents);
	count = cdt_manifest_count(m);
	while (next < count) {
		size_t nr = 0, want = 0, i;
		ssize_t n;

		/* As many whole chunks as fit. */
		while (next + nr < count && nr < nents) {
			ret = cdt_manifest_get(m, next + nr, &r.ents[nr]);
			if (ret < 0) {
				error("cannot read '%s': manifest %s changed while reading it",
				      quote(e->name), cdt_id_to_hex(&e->content, hex));
				goto out;
			}
			if (nr && want + r.ents[nr].len > cap)
				break;
			want += r.ents[nr].len;
			nr++;
		}
		r.base = r.ents[0].offset;
		n = read_full(fd, buf, want);
		if (n < 0) {
			ret = error_code((int)n, "cannot read '%s': %s", quote(what), cdt_strerror((int)n));
			goto out;
		}
		r.have = (size_t)n;
		eof = r.have < want;
		cdt_workers_run(w, nr, hash_one, &r);
		for (i = 0; i < nr; i++) {
			if (r.same[i])
				continue;
			{
				size_t off = (size_t)(r.ents[i].offset - r.base);
				size_t avail = r.have > off ? MIN(r.have - off, (size_t)r.ents[i].len) : 0;

				ret = locate(s, &r.ents[i], e->name, buf + off, avail, diff);
			}
			/* A chunk missing or damaged: perhaps no longer the name's. */
			if (!ret && !diff->exact &&
			    cdt_restore_report_moved(s, e, -CDT_ECORRUPT) < 0)
				ret = -ESTALE;
			goto out;
		}
		next += nr;
	}
	/* Every stored byte matched: the local file must end here too. */
	if (!eof) {
		unsigned char one;
		ssize_t n = read_full(fd, &one, 1);

		if (n < 0) {
			ret = error_code((int)n, "cannot read '%s': %s", quote(what), cdt_strerror((int)n));
			goto out;
		}
		if (n) {
			diff->offset = cdt_manifest_size(m);
			diff->exact = 1;
			ret = 0;
			goto out;
		}
	}
	diff->identical = 1;
	ret = 0;
out:
	cdt_workers_free(w);
	cdt_manifest_close(m);
	free(buf);
	free(r.ents);
	free(r.same);
	strbuf_release(&why);
	return ret;
}

/* Read [off, end) of fd into the id, whatever read() gives (the file may change). */
static int hash_range(struct cdt_cid *c, int fd, unsigned char *buf, size_t cap, off_t off,
		      off_t end, int *eof)
{
	while (end < 0 || off < end) {
		size_t want = end < 0 || (uint64_t)(end - off) > cap ? cap : (size_t)(end - off);
		ssize_t n = pread(fd, buf, want, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			*eof = 1;
			return 0;
		}
		cdt_cid_update(c, buf, (size_t)n);
		off += n;
	}
	return 0;
}

int cdt_content_id_fd(struct cdt_store *s, int fd, struct cdt_id *out, uint64_t *size)
{
	enum cdt_cid_kind kind = cdt_config_cid(cdt_store_config(s));
	struct cdt_cid *c = cdt_cid_new(kind);
	size_t cap = 1u << 20;
	unsigned char *buf = xmalloc(cap);
	off_t start = lseek(fd, 0, SEEK_CUR), off = start;
	struct stat st;
	int ret = 0, eof = 0;

	/*
	 * A regular file read from a known offset: data where SEEK_DATA says,
	 * zeros for the holes (a tree id passes over whole leaves of them).
	 */
	if (kind == CDT_CID_TREE && start >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size) {
		while (!ret && !eof && off < st.st_size) {
			off_t data = lseek(fd, off, SEEK_DATA), hole;

			if (data < 0 && errno == ENXIO)
				data = st.st_size;	/* a hole to the end */
			if (data < 0)
				break;	/* cannot tell: read the rest */
			if (data > off) {
				cdt_cid_zeros(c, (uint64_t)(data - off));
				off = data;
				continue;
			}
			hole = lseek(fd, off, SEEK_HOLE);
			if (hole < 0)
				break;
			ret = hash_range(c, fd, buf, cap, off, hole, &eof);
			off = hole;
		}
	}
	/* Anything else, or what is left: read it (a pipe, a file that grew). */
	if (!ret && !eof) {
		if (start >= 0) {
			ret = hash_range(c, fd, buf, cap, off, -1, &eof);
		} else {
			ssize_t n;

			while ((n = read_full(fd, buf, cap)) > 0)
				cdt_cid_update(c, buf, (size_t)n);
			if (n < 0)
				ret = (int)n;
		}
	}
	*size = cdt_cid_size(c);
	cdt_cid_final(c, out);
	cdt_cid_free(c);
	free(buf);
	return ret;
}
