/* ingest-read.c: filling a round of the add pipeline: reading the input (holes of a sparse file as zeros, or stored content again), cutting it into chunks, or taking a file read ahead. */
#include "ops/ingest.h"
#include "ops/ingest-internal.h"
#include "ops/ahead.h"
#include "ops/chunks.h"
#include "format/manifest.h"
#include "base/util.h"
#include "base/testpoint.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int read_more(int fd, unsigned char *buf, size_t cap, size_t *have, int *eof)
{
	while (*have < cap && !*eof) {
		ssize_t n = read(fd, buf + *have, cap - *have);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			*eof = 1;
		*have += (size_t)n;
	}
	return 0;
}

/*
 * cdt_ingest_again(): fill buf from the chunks of the stored content, in
 * order, each read (any good copy) and checked against its id. A failure
 * is reported here, naming the chunk.
 */
static int read_stored(struct cdt_ingest *ing, unsigned char *buf, size_t cap, size_t *have,
		       int *eof)
{
	char hex[CDT_ID_HEXLEN + 1];

	while (*have < cap && !*eof) {
		size_t n;

		if (ing->src_pos == ing->src_len) {
			struct cdt_manifest_entry e;
			uint32_t len;
			int ret;

			if (ing->src_next == cdt_manifest_count(ing->src)) {
				*eof = 1;
				break;
			}
			ret = cdt_manifest_get(ing->src, ing->src_next, &e);
			if (ret < 0)
				return error_code(ret, "cannot read a manifest entry: %s",
						   cdt_strerror(ret));
			strbuf_reset(&ing->src_why);
			ret = cdt_chunk_read(ing->src_reader, &e.id, e.len, ing->src_buf, &len,
					     &ing->src_why);
			if (ret < 0)
				return error_code(ret, "cannot read chunk %s: %s",
						   cdt_id_to_hex(&e.id, hex),
						   ing->src_why.len ? ing->src_why.buf : cdt_strerror(ret));
			ing->src_next++;
			ing->src_len = len;
			ing->src_pos = 0;
			continue;
		}
		n = MIN(cap - *have, (size_t)(ing->src_len - ing->src_pos));
		memcpy(buf + *have, ing->src_buf + ing->src_pos, n);
		*have += n;
		ing->src_pos += (uint32_t)n;
	}
	return 0;
}

/* Note buf[start, end) of round r as zeros of a hole; ranges come in order. */
static void add_zero_range(struct round *r, size_t start, size_t end)
{
	if (start == end)
		return;
	if (r->nzr && r->zr[r->nzr - 1].end == start) {
		r->zr[r->nzr - 1].end = end;
		return;
	}
	ALLOC_GROW(r->zr, r->nzr + 1, r->zr_alloc);
	r->zr[r->nzr].start = start;
	r->zr[r->nzr].end = end;
	r->nzr++;
}

/*
 * Zero buf[start, end) of round r for a hole. Bytes that the previous
 * round in this buffer left zero, and that this round has not written
 * yet (it writes in order), are zero already: a long hole costs no
 * clearing after its first two rounds.
 */
static void fill_zeros(struct round *r, size_t start, size_t end)
{
	size_t i, at = start;

	for (i = 0; i < r->nold_zr && at < end; i++) {
		const struct zrange *z = &r->old_zr[i];

		if (z->end <= at)
			continue;
		if (z->start >= end)
			break;
		if (z->start > at)
			memset(r->buf + at, 0, z->start - at);
		at = MIN(end, z->end);
	}
	if (at < end)
		memset(r->buf + at, 0, end - at);
	add_zero_range(r, start, end);
}

/*
 * What lies at ing->rpos in a regular file: a hole (*hole set) or data,
 * up to *end. Asked afresh for every round, so that a hole's zeros are
 * never older than the round that uses them. 0, or -errno; a file
 * system that cannot say turns looking for holes off (ing->holes 0).
 * The file offset is left at ing->rpos.
 */
static int find_extent(struct cdt_ingest *ing, int fd, int *hole, off_t *end)
{
	off_t data = lseek(fd, ing->rpos, SEEK_DATA), next;
	struct stat st;

	*hole = 0;
	*end = INT64_MAX;
	if (data < 0 && errno == ENXIO) {
		/* No data from here on: a hole up to the end of the file, or the end. */
		if (fstat(fd, &st) < 0)
			return -errno;
		if (st.st_size > ing->rpos) {
			*hole = 1;
			*end = st.st_size;
		}
	} else if (data < 0) {
		ing->holes = 0;
	} else if (data > ing->rpos) {
		*hole = 1;
		*end = data;
	} else {
		next = lseek(fd, ing->rpos, SEEK_HOLE);
		if (next > ing->rpos)
			*end = next;
	}
	if (lseek(fd, ing->rpos, SEEK_SET) < 0)
		return -errno;
	return 0;
}

/*
 * read_more() for a regular file that may have holes: data is read,
 * holes are filled with zeros without reading them (SEEK_DATA and
 * SEEK_HOLE say where they are) and noted in r->zr. A hole found stale
 * (written since it was looked up) only means this round holds the
 * zeros the file had a moment ago; the write changes the file's times,
 * and add reports that it changed while it was read.
 */
static int read_sparse(struct cdt_ingest *ing, int fd, struct round *r, int *eof)
{
	size_t cap = ing->buf_cap;
	int ret = 0;

	while (r->have < cap && !*eof && ing->holes) {
		size_t want;
		ssize_t n;
		off_t end;
		int hole;

		ret = find_extent(ing, fd, &hole, &end);
		if (ret < 0)
			return ret;
		if (!ing->holes)
			break;
		want = (size_t)MIN((uint64_t)(cap - r->have), (uint64_t)(end - ing->rpos));
		if (hole) {
			if (!ing->hole_paused) {
				ing->hole_paused = 1;
				cdt_pause_point("sparse-hole");
			}
			fill_zeros(r, r->have, r->have + want);
			r->have += want;
			ing->rpos += (off_t)want;
			/* Where read(2) would have left it. */
			if (lseek(fd, ing->rpos, SEEK_SET) < 0)
				return -errno;
			continue;
		}
		n = read(fd, r->buf + r->have, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			*eof = 1;
		r->have += (size_t)n;
		ing->rpos += n;
	}
	if (!ing->holes)
		ret = read_more(fd, r->buf, cap, &r->have, eof);
	return ret;
}

/*
 * Cut round r into chunks. A chunk that starts in a hole is cut without
 * hashing the zeros (cdt_chunker_next_zeros()), and one that lies wholly
 * in holes gets the id of that many zero bytes, computed once per length.
 */
static void cut_round(struct cdt_ingest *ing, struct round *r, int eof)
{
	const struct cdt_chunker *ch = cdt_store_chunker(ing->store);
	size_t pos = 0, zi = 0, first[ARRAY_SIZE(ing->zero_ids)];
	unsigned k;

	for (k = 0; k < ARRAY_SIZE(first); k++)
		first[k] = SIZE_MAX;
	r->ndesc = 0;
	for (;;) {
		size_t zeros = 0, n;
		struct desc *d;

		while (zi < r->nzr && r->zr[zi].end <= pos)
			zi++;
		if (zi < r->nzr && r->zr[zi].start <= pos)
			zeros = r->zr[zi].end - pos;
		n = cdt_chunker_next_zeros(ch, r->buf + pos, r->have - pos, eof, zeros);
		if (!n)
			break;
		ALLOC_GROW(r->descs, r->ndesc + 1, r->alloc);
		d = &r->descs[r->ndesc++];
		d->off = pos;
		d->len = (uint32_t)n;
		d->is_new = 0;
		d->zero = zeros >= n;
		if (d->zero) {
			for (k = 0; k < ing->nzero_ids && ing->zero_ids[k].len != d->len; k++)
				;
			if (k == ing->nzero_ids) {
				/* A few lengths are enough: all but a hole's last chunk are alike. */
				if (ing->nzero_ids < ARRAY_SIZE(ing->zero_ids))
					ing->nzero_ids++;
				else
					k = d->len % ARRAY_SIZE(ing->zero_ids);
				ing->zero_ids[k].len = d->len;
				cdt_hash(r->buf + pos, n, &ing->zero_ids[k].id);
				first[k] = SIZE_MAX;
			}
			d->id = ing->zero_ids[k].id;
			if (first[k] == SIZE_MAX)
				first[k] = r->ndesc - 1;
			d->zero_first = first[k];
		}
		pos += n;
	}
	r->len = pos;
}

/*
 * Fill round r: the bytes `prev` left uncut first, then as much of the file
 * as fits; cut it into chunks. Returns 0 or -errno (read error).
 */
int ingest_fill_round(struct cdt_ingest *ing, int fd, struct round *r, const struct round *prev,
		      int *eof)
{
	struct zrange *t = r->old_zr;
	size_t i, ta = r->old_zr_alloc;
	int ret;

	/* The previous round's holes in this buffer become the old ones. */
	r->old_zr = r->zr;
	r->old_zr_alloc = r->zr_alloc;
	r->nold_zr = r->nzr;
	r->zr = t;
	r->zr_alloc = ta;
	r->nzr = 0;
	r->have = 0;
	if (prev) {
		r->have = prev->have - prev->len;
		memcpy(r->buf, prev->buf + prev->len, r->have);
		for (i = 0; i < prev->nzr; i++)
			if (prev->zr[i].end > prev->len)
				add_zero_range(r, MAX(prev->zr[i].start, prev->len) - prev->len,
					       prev->zr[i].end - prev->len);
	} else if (!ing->src) {
		/* A new input: holes are looked for in a sparse file read from a known offset. */
		ing->holes = ing->start >= 0 && ing->input_sparse;
		ing->rpos = ing->start;
		ing->hole_paused = 0;
	}
	if (ing->src)
		ret = read_stored(ing, r->buf, ing->buf_cap, &r->have, eof);
	else if (ing->holes)
		ret = read_sparse(ing, fd, r, eof);
	else
		ret = read_more(fd, r->buf, ing->buf_cap, &r->have, eof);
	if (ret < 0)
		return ret;
	cut_round(ing, r, *eof);
	r->last = *eof && r->len == r->have;
	return 0;
}

/*
 * A file read ahead (ops/ahead.h) as round r: its bytes, and its chunks
 * with their ids (and sketches) as the reader cut and hashed them.
 */
void ingest_fill_ahead(struct cdt_ingest *ing, struct round *r, int *eof)
{
	const struct cdt_ahead_file *f = ing->ahead;
	size_t i;

	ing->holes = 0;
	r->nzr = r->nold_zr = 0;
	memcpy(r->buf, f->buf, f->len);
	r->have = r->len = f->len;
	r->ndesc = 0;
	for (i = 0; i < f->nchunks; i++) {
		struct desc *d;

		ALLOC_GROW(r->descs, r->ndesc + 1, r->alloc);
		d = &r->descs[r->ndesc++];
		memset(d, 0, sizeof(*d));
		d->off = f->chunks[i].off;
		d->len = f->chunks[i].len;
		d->id = f->chunks[i].id;
		d->sf = f->chunks[i].sf;
	}
	*eof = 1;
	r->last = 1;
}
