/* ingest-file.c: one file read into the batch, its manifest and references made, and its name queued for the group commit. */
#include "ops/ingest.h"
#include "ops/ingest-internal.h"
#include "ops/ahead.h"
#include "format/manifest.h"
#include "format/refs.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Add the chunk references of the finished manifest to the batch's
 * reference writer (written as a table at the commit, or before when it
 * is full): the ids the manifest writer kept, or for a large manifest
 * its records read back in bounded pieces.
 */
static int write_refs(struct cdt_ingest *ing, const struct cdt_manifest_writer *mw,
		      const struct cdt_id *m)
{
	struct cdt_ref_writer *w;
	int tmpfd = cdt_store_dirfd(ing->store, CDT_DIR_TMP);
	const char *manifest_tmp = cdt_manifest_writer_tmpname(mw);
	const struct cdt_id *ids = cdt_manifest_writer_ids(mw);
	unsigned char *rec;
	off_t off = CDT_MANIFEST_HDR;
	struct stat st;
	int fd, ret = 0;
	uint64_t left;

	if (!ing->refw)
		ing->refw = cdt_ref_writer_new(ing->store);
	w = ing->refw;
	if (ids || !cdt_manifest_writer_count(mw)) {
		/* Few enough chunks that the writer kept their ids: nothing to read back. */
		uint64_t i, n = cdt_manifest_writer_count(mw);

		for (i = 0; i < n && !ret; i++)
			ret = cdt_ref_writer_add(w, &ids[i], m);
		return ret;
	}

	rec = xmalloc(1024 * CDT_MANIFEST_REC);
	fd = openat(tmpfd, manifest_tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	left = ((uint64_t)st.st_size - CDT_MANIFEST_HDR - CDT_MANIFEST_TRAILER) / CDT_MANIFEST_REC;
	while (left && !ret) {
		size_t nr = (size_t)MIN(left, 1024u), i;
		ssize_t n = pread_full(fd, rec, nr * CDT_MANIFEST_REC, off);

		if (n != (ssize_t)(nr * CDT_MANIFEST_REC)) {
			ret = n < 0 ? (int)n : -EIO;
			break;
		}
		for (i = 0; i < nr && !ret; i++) {
			struct cdt_id c;

			memcpy(c.b, rec + i * CDT_MANIFEST_REC, CDT_ID_LEN);
			ret = cdt_ref_writer_add(w, &c, m);
		}
		off += n;
		left -= nr;
	}
out:
	if (fd >= 0)
		close(fd);
	free(rec);
	return ret;
}

/*
 * Read fd to its end: new chunks staged into the ingest's batch, the
 * manifest finished in *mwp and its references added to the batch's
 * reference writer, unless the content is stored (or pending) already
 * (*mwp NULL). *heal: a damaged stored manifest is to be replaced.
 */
static int ingest_read(struct cdt_ingest *ing, int fd, const char *what,
		       struct cdt_ingest_result *res, struct cdt_manifest_writer **mwp, int *heal)
{
	struct cdt_store *s = ing->store;
	struct cdt_manifest_writer *mw = NULL;
	struct cdt_chunk_batch *batch;
	struct stat st;
	int ret;
	char hex[CDT_ID_HEXLEN + 1];

	memset(res, 0, sizeof(*res));
	*mwp = NULL;
	*heal = 0;
	if (!ing->batch) {
		ing->batch = cdt_chunk_batch_new(s);
		if (ing->opt.pack_always)
			cdt_chunk_batch_pack_always(ing->batch);
	}
	batch = ing->batch;
	cdt_cid_reset(ing->file_hash);
	ing->hashed = 0;
	ing->lazy = 0;
	ing->defer = 0;
	ing->ncands = 0;
	ing->stream_off = 0;
	/* Bases of earlier files are read back from those files: not from this one. */
	ingest_sf_reset(&ing->add_sf);
	if (ing->ahead) {
		/* In memory, whole: nothing is read again, nor looked for holes. */
		ing->start = -1;
		ing->fd = -1;
		ing->input_reg = 1;
		ing->input_sparse = 0;
	} else {
		/* Skipped bytes are read again relative to where reading began. */
		ing->start = lseek(fd, 0, SEEK_CUR);
		ing->fd = fd;
		ing->input_reg = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
		/*
		 * st_blocks counts 512-byte units on Linux whatever the block
		 * size; as GNU tar does, a file with blocks for all its bytes is
		 * taken to have no holes worth looking for.
		 */
		ing->input_sparse = ing->input_reg &&
				    (uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size;
		/* A file that fits in one read needs no read-ahead hint. */
		if (!ing->input_reg || (uint64_t)st.st_size > ing->buf_cap)
			posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	}
	ret = cdt_manifest_writer_new(s, &mw);
	if (ret < 0) {
		error("cannot create a manifest in '%s/tmp': %s", cdt_store_path(s), cdt_strerror(ret));
		goto out;
	}

	ret = ingest_run_rounds(ing, fd, what, batch, mw, res);
	if (ret < 0)
		goto out;

	/* A stored manifest with exactly these chunks names this content. */
	if (ing->lazy) {
		int i, found = -1;

		for (i = 0; i < ing->ncands; i++)
			if (ing->cands[i].next == cdt_manifest_count(ing->cands[i].m) &&
			    cdt_manifest_size(ing->cands[i].m) == res->size)
				found = i;
		if (found >= 0) {
			res->content = ing->cands[found].id;
		} else {
			/* Every candidate left matched every chunk: the file is a prefix of each. */
			ret = ingest_catch_up(ing, fd, &ing->cands[0].id, res->chunks, res->size);
			if (ret < 0) {
				ingest_catch_up_error(what, ret);
				goto out;
			}
		}
		ing->lazy = found >= 0;
		ingest_drop_candidates(ing);
	}
	ingest_drop_candidates(ing);
	if (ing->ahead)
		res->content = ing->ahead->content;
	else if (!ing->lazy)
		cdt_cid_final(ing->file_hash, &res->content);
	ing->lazy = 0;
	res->hashed = ing->hashed;
	if (ing->expect && !cdt_id_eq(&res->content, ing->expect)) {
		char want[CDT_ID_HEXLEN + 1];
		int serr = ing->source_err ? __atomic_load_n(ing->source_err, __ATOMIC_ACQUIRE) : 0;

		/* Cut short by its writer, which said why. */
		if (serr < 0) {
			ret = serr;
			goto out;
		}

		error("'%s' was read as content %s (%llu bytes), not %s: not stored", quote(what),
		      cdt_id_to_hex(&res->content, hex), (unsigned long long)res->size,
		      cdt_id_to_hex(ing->expect, want));
		ret = -CDT_ECORRUPT;
		goto out;
	}

	ret = cdt_manifest_writer_finish(mw, &res->content);
	if (ret < 0) {
		error("cannot write manifest for '%s': %s", quote(what), cdt_strerror(ret));
		goto out;
	}
	/* The same content queued earlier in this batch: its manifest is on its way. */
	if (ingest_content_pending(ing, &res->content, NULL)) {
		res->manifest_existed = 1;
		ret = 0;
		goto out;
	}
	ret = cdt_manifest_exists(s, &res->content);
	if (ret < 0) {
		error("cannot look up manifest %s: %s", cdt_id_to_hex(&res->content, hex),
		      cdt_strerror(ret));
		goto out;
	}
	if (ret == 1) {
		struct cdt_manifest *old;
		int v = cdt_manifest_open(s, &res->content, &old, NULL);

		/*
		 * The same content always makes the same manifest, byte for
		 * byte, so a damaged one is healed by adding the file again,
		 * and so is one that lists other chunks than the content it is
		 * named for (its checksum then differs from the one just made,
		 * whose id was computed from the bytes read).
		 */
		if (!v) {
			if (!cdt_id_eq(cdt_manifest_checksum(old), cdt_manifest_writer_checksum(mw))) {
				warning("manifest %s does not list the chunks of the content it is named for; "
					"replacing it with the one just made (then 'cdt fsck --rebuild-refs' "
					"drops its old references)",
					cdt_id_to_hex(&res->content, hex));
				*heal = 1;
				ret = 0;
			}
			cdt_manifest_close(old);
		} else if (v == -CDT_ECORRUPT) {
			if (!ing->opt.quiet_heal)
				warning("manifest %s is damaged; replacing it with the one just made",
					cdt_id_to_hex(&res->content, hex));
			*heal = 1;
			ret = 0;
		}
	}
	res->manifest_existed = ret;
	ret = 0;
	if (!res->manifest_existed) {
		ret = write_refs(ing, mw, &res->content);
		if (ret < 0) {
			error("cannot write reference table: %s", cdt_strerror(ret));
			goto out;
		}
		cdt_idset_put(&ing->pend_ids, &res->content, res->size);
		*mwp = mw;
		mw = NULL;
	}
out:
	ingest_drop_candidates(ing);
	ing->lazy = 0;
	cdt_manifest_writer_free(mw);
	return ret;
}

/* Read fd and queue its name (meta filled in from what was read). 0 or -errno. */
static int read_and_pend(struct cdt_ingest *ing, int fd, const char *what,
			 struct cdt_name_entry *meta, void *cookie, struct cdt_ingest_result *res)
{
	struct cdt_manifest_writer *mw;
	int heal, ret;

	ret = ingest_read(ing, fd, what, res, &mw, &heal);
	if (ret < 0)
		return ret;
	meta->type = CDT_NAME_REG;
	meta->size = res->size;
	meta->content = res->content;
	ingest_pend(ing, meta, res, mw, heal, cookie);
	return 0;
}

int cdt_ingest_queue(struct cdt_ingest *ing, int fd, const char *what,
		     struct cdt_name_entry *meta, void *cookie, struct cdt_ingest_result *res)
{
	int ret = read_and_pend(ing, fd, what, meta, cookie, res);

	if (ret < 0)
		return ret;
	if (ing->opt.progress)
		ing->opt.progress(res->size, ing->opt.progress_data);
	ingest_commit_if_due(ing);	/* failures reach the caller through done() */
	return 0;
}

int cdt_ingest_queue_ahead(struct cdt_ingest *ing, const struct cdt_ahead_file *f,
			   const char *what, struct cdt_name_entry *meta, void *cookie,
			   struct cdt_ingest_result *res)
{
	int ret;

	/* Its bytes are in f: the file is not read again. */
	ing->ahead = f;
	ret = cdt_ingest_queue(ing, -1, what, meta, cookie, res);
	ing->ahead = NULL;
	return ret;
}

int cdt_ingest_queue_expect(struct cdt_ingest *ing, int fd, const char *what,
			    struct cdt_name_entry *meta, const struct cdt_id *expect,
			    const int *source_err, void *cookie, struct cdt_ingest_result *res)
{
	int ret;

	ing->expect = expect;
	ing->source_err = source_err;
	ret = cdt_ingest_queue(ing, fd, what, meta, cookie, res);
	ing->expect = NULL;
	ing->source_err = NULL;
	return ret;
}

int cdt_ingest_fd(struct cdt_ingest *ing, int fd, const char *what,
		  struct cdt_name_entry *meta, struct cdt_ingest_result *res)
{
	int ret = read_and_pend(ing, fd, what, meta, NULL, res);

	if (ret < 0)
		return ret;
	ret = ingest_commit_last(ing);
	if (!ret)
		meta->added_sec = ing->committed_at;
	if (!ret && ing->opt.progress)
		ing->opt.progress(res->size, ing->opt.progress_data);
	return ret;
}

int cdt_ingest_fd_expect(struct cdt_ingest *ing, int fd, const char *what,
			 struct cdt_name_entry *meta, const struct cdt_id *expect,
			 struct cdt_ingest_result *res)
{
	int ret;

	ing->expect = expect;
	ret = cdt_ingest_fd(ing, fd, what, meta, res);
	ing->expect = NULL;
	return ret;
}
