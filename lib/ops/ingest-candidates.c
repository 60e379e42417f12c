/* ingest-candidates.c: the add pipeline's stored content: manifests a file may equal, followed round by round, and the whole-file hash caught up when it does not. */
#include "ops/ingest-internal.h"
#include "base/fsutil.h"
#include "format/refs.h"
#include "base/util.h"
#include "base/testpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void ingest_drop_candidates(struct cdt_ingest *ing)
{
	int i;

	for (i = 0; i < ing->ncands; i++)
		cdt_manifest_close(ing->cands[i].m);
	ing->ncands = 0;
}

/* One buffer of bytes read again, and the chunks it holds. */
struct catchup {
	struct cdt_cid *file_hash;
	const unsigned char *buf;
	size_t len;
	uint64_t base;			/* file offset of buf[0] */
	const struct cdt_manifest_entry *ents;
	unsigned char *same;		/* per chunk: hashes to its id again */
};

/* Item 0 feeds the file hash the whole buffer; item k+1 checks chunk k. */
static void catchup_item(size_t i, int worker, void *data)
{
	struct catchup *c = data;
	const struct cdt_manifest_entry *e;
	struct cdt_id got;

	(void)worker;
	if (i == 0) {
		cdt_cid_update(c->file_hash, c->buf, c->len);
		return;
	}
	e = &c->ents[i - 1];
	cdt_hash(c->buf + (e->offset - c->base), e->len, &got);
	c->same[i - 1] = cdt_id_eq(&got, &e->id);
}

/*
 * pread_full() that fills the holes of a sparse file with zeros instead of
 * reading them (SEEK_DATA, SEEK_HOLE), and leaves fd's offset as it was.
 * The bytes are then checked against the chunk ids they must hash to, so
 * a hole map made stale by a write only makes the check fail.
 */
static ssize_t pread_holes(int fd, unsigned char *buf, size_t len, off_t off)
{
	off_t keep = lseek(fd, 0, SEEK_CUR), data, hole;
	size_t done = 0;
	struct stat st;
	ssize_t n, err = 0;

	if (keep < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return pread_full(fd, buf, len, off);
	if (off >= st.st_size)
		return 0;
	if ((uint64_t)(st.st_size - off) < len)
		len = (size_t)(st.st_size - off);
	while (done < len) {
		off_t pos = off + (off_t)done;

		data = lseek(fd, pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			data = off + (off_t)len;	/* a hole to the end */
		if (data < 0) {
			/* No hole map here: read the rest. */
			n = pread_full(fd, buf + done, len - done, pos);
			if (n < 0)
				err = n;
			else
				done += (size_t)n;
			break;
		}
		if (data > pos) {
			size_t z = (size_t)MIN((off_t)(len - done), data - pos);

			memset(buf + done, 0, z);
			done += z;
			continue;
		}
		hole = lseek(fd, pos, SEEK_HOLE);
		if (hole < 0 || hole > off + (off_t)len)
			hole = off + (off_t)len;
		n = pread_full(fd, buf + done, (size_t)(hole - pos), pos);
		if (n < 0) {
			err = n;
			break;
		}
		done += (size_t)n;
		if (n < hole - pos)
			break;	/* the file shrank */
	}
	lseek(fd, keep, SEEK_SET);
	return err ? err : (ssize_t)done;
}

/*
 * Feed the file hash the bytes [0, upto) that were skipped, by reading
 * them again. They are the first `nchunks` chunks cut, which are also the
 * first entries of candidate manifest `ref`. Bytes read a second time are
 * the bytes that were chunked only if every chunk hashes to its id again,
 * so each is checked (in parallel, as they were hashed the first time):
 * a content id is never computed from bytes other than those stored. 0,
 * -EAGAIN when the file no longer holds those bytes (it changed, or
 * shrank), or another -errno.
 */
int ingest_catch_up(struct cdt_ingest *ing, int fd, const struct cdt_id *ref,
		    uint64_t nchunks, uint64_t upto)
{
	const struct cdt_chunker *ch = cdt_store_chunker(ing->store);
	struct cdt_manifest *m = NULL;
	struct catchup c;
	uint64_t next = 0;
	int ret;

	if (ing->hashed || ing->start < 0)
		return -EINVAL;	/* lazy hashing starts at the first byte of seekable input */
	ret = cdt_manifest_open(ing->store, ref, &m, NULL);
	if (ret < 0)
		return ret;
	if (cdt_manifest_count(m) < nchunks) {
		ret = -EAGAIN;
		goto out;
	}
	if (!ing->cbuf) {
		ing->cents_cap = ing->buf_cap / ch->min_size + 2;
		ing->cbuf = xmalloc(ing->buf_cap);
		ing->cents = xcalloc(ing->cents_cap, sizeof(*ing->cents));
		ing->csame = xmalloc(ing->cents_cap);
	}
	cdt_pause_point("catch-up");
	c.file_hash = ing->file_hash;
	c.buf = ing->cbuf;
	c.ents = ing->cents;
	c.same = ing->csame;
	while (next < nchunks) {
		size_t nr = 0, want = 0, i;
		ssize_t n;

		/* As many whole chunks as fit. */
		while (next + nr < nchunks && nr < ing->cents_cap) {
			ret = cdt_manifest_get(m, next + nr, &ing->cents[nr]);
			if (ret < 0)
				goto out;
			if (want + ing->cents[nr].len > ing->buf_cap)
				break;
			want += ing->cents[nr].len;
			nr++;
		}
		c.base = ing->cents[0].offset;
		c.len = want;
		if (c.base != ing->hashed) {
			ret = -EAGAIN;
			goto out;
		}
		n = pread_holes(fd, ing->cbuf, want, ing->start + (off_t)c.base);
		if (n < 0) {
			ret = (int)n;
			goto out;
		}
		if ((size_t)n != want) {
			ret = -EAGAIN;	/* the file shrank */
			goto out;
		}
		cdt_workers_run(ing->workers, nr + 1, catchup_item, &c);
		for (i = 0; i < nr; i++)
			if (!c.same[i]) {
				ret = -EAGAIN;
				goto out;
			}
		ing->hashed += want;
		next += nr;
	}
	ret = ing->hashed == upto ? 0 : -EAGAIN;
out:
	cdt_manifest_close(m);
	return ret;
}

/* Keep the candidates whose next entries are exactly the round's chunks. */
static void match_candidates(struct cdt_ingest *ing, const struct round *r)
{
	int i, j;
	size_t k;

	for (i = 0; i < ing->ncands; i++) {
		struct cand *c = &ing->cands[i];
		int ok = 1;

		for (k = 0; k < r->ndesc && ok; k++, c->next++) {
			struct cdt_manifest_entry e;

			ok = c->next < cdt_manifest_count(c->m) &&
			     cdt_manifest_get(c->m, c->next, &e) == 0 &&
			     cdt_id_eq(&e.id, &r->descs[k].id) && e.len == r->descs[k].len;
		}
		if (!ok) {
			cdt_manifest_close(c->m);
			c->m = NULL;
		}
	}
	for (i = 0, j = 0; i < ing->ncands; i++)
		if (ing->cands[i].m)
			ing->cands[j++] = ing->cands[i];
	ing->ncands = j;
}

/* After the first round: stored manifests that start with its chunks. */
void ingest_find_candidates(struct cdt_ingest *ing, int fd, const struct round *r)
{
	struct cdt_refs *refs;
	struct cdt_id *users = NULL;
	struct stat st;
	int n, i;

	ing->ncands = 0;
	ing->lazy = 0;
	if (!r->ndesc || r->last || ing->start < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return;	/* nothing to gain, or input that cannot be read again */
	if (cdt_refs_open(ing->store, &refs) < 0)
		return;
	n = cdt_refs_lookup(refs, &r->descs[0].id, &users);
	for (i = 0; i < n && ing->ncands < MAX_CANDIDATES; i++) {
		struct cand *c = &ing->cands[ing->ncands];
		struct cdt_manifest_entry e;

		if (cdt_manifest_open(ing->store, &users[i], &c->m, NULL) < 0)
			continue;
		if (cdt_manifest_get(c->m, 0, &e) < 0 || !cdt_id_eq(&e.id, &r->descs[0].id) ||
		    e.len != r->descs[0].len) {
			cdt_manifest_close(c->m);
			continue;
		}
		c->id = users[i];
		c->next = 0;
		ing->ncands++;
	}
	free(users);
	cdt_refs_close(refs);
	/* A candidate must match the whole first round. */
	match_candidates(ing, r);
	ing->lazy = ing->ncands > 0;
}

/* Compare the round's chunks with each candidate; catch the hash up when none is left. */
int ingest_follow_candidates(struct cdt_ingest *ing, int fd, const struct round *r,
			     uint64_t round_start, uint64_t chunks_before)
{
	/* Every candidate left matched all chunks before this round. */
	struct cdt_id ref = ing->cands[0].id;
	int ret;

	match_candidates(ing, r);
	if (ing->ncands)
		return 0;
	/* The file differs from every stored one: hash what was skipped, and this round. */
	ing->lazy = 0;
	ret = ingest_catch_up(ing, fd, &ref, chunks_before, round_start);
	if (ret < 0)
		return ret;
	ingest_hash_round(ing, r);
	ing->hashed += r->len;
	return 0;
}

/* Report a failed ingest_catch_up() of `what`. */
int ingest_catch_up_error(const char *what, int ret)
{
	if (ret == -EAGAIN)
		return error_code(ret, "'%s' changed while it was read; not stored (add it again)",
				   quote(what));
	return error_code(ret, "cannot read '%s' again: %s", quote(what), cdt_strerror(ret));
}
