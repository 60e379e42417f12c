/* ingest.c: the add pipeline: read, chunk, hash, look up, compress, stage, commit. */
#include "ingest.h"
#include "compress.h"
#include "idset.h"
#include "manifest.h"
#include "objects.h"
#include "refs.h"
#include "util.h"
#include "workers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * Work proceeds in rounds over a buffer of READ_BUF bytes: cut the buffer
 * into chunks, hash them (and feed the whole-file hash) in parallel, look
 * each up in order, compress the new ones in parallel, then stage them and
 * append to the manifest in order. Memory is the buffer, an arena for
 * compressed output of the same size, and bounded batches: nothing grows
 * with the file.
 */
#define READ_BUF (8u << 20)
/*
 * Commit staged chunks at least this often (count or stored bytes): each
 * commit is a pack (or a few loose objects) and one syncfs.
 */
#define BATCH_CHUNKS 65536
#define BATCH_BYTES (64u << 20)
/* Merge reference tables when an add leaves more than this many. */
#define REFS_MAX_TABLES 32

struct desc {
	size_t off;		/* in the read buffer */
	uint32_t len;
	struct cdt_id id;
	int is_new;
	unsigned char *obj;	/* encoded object, in the arena */
	size_t obj_len;
};

struct cdt_ingest {
	struct cdt_store *store;
	struct cdt_ingest_options opt;
	struct cdt_workers *workers;
	struct cdt_compressor **comp;	/* one per worker + caller */
	int ncomp;
	unsigned char *buf;
	size_t buf_cap;
	unsigned char *arena;
	struct desc *descs;
	size_t ndesc, desc_alloc;
	struct cdt_hasher *file_hash;
	struct cdt_idset round_new;	/* ids found new in this round */
	/* What the round's parallel steps work on. */
	size_t round_len;
};

struct cdt_ingest *cdt_ingest_new(struct cdt_store *s, const struct cdt_ingest_options *opt)
{
	struct cdt_ingest *ing = xcalloc(1, sizeof(*ing));
	const struct cdt_chunker *c = cdt_store_chunker(s);
	int jobs = opt->jobs > 0 ? opt->jobs : cdt_online_cpus(), i;

	ing->store = s;
	ing->opt = *opt;
	/* The calling thread works too: jobs - 1 extra threads. */
	ing->workers = cdt_workers_new(jobs - 1);
	ing->ncomp = cdt_workers_count(ing->workers) + 1;
	ing->comp = xcalloc((size_t)ing->ncomp, sizeof(*ing->comp));
	for (i = 0; i < ing->ncomp; i++)
		ing->comp[i] = cdt_compressor_new(cdt_store_config(s)->level);
	ing->buf_cap = MAX((size_t)READ_BUF, 2 * (size_t)c->max_size);
	ing->buf = xmalloc(ing->buf_cap);
	/* Every object is at most its chunk plus a header. */
	ing->arena = xmalloc(ing->buf_cap + (ing->buf_cap / c->min_size + 1) * CDT_OBJ_HDR);
	ing->file_hash = cdt_hasher_new();
	return ing;
}

void cdt_ingest_free(struct cdt_ingest *ing)
{
	int i;

	if (!ing)
		return;
	cdt_workers_free(ing->workers);
	for (i = 0; i < ing->ncomp; i++)
		cdt_compressor_free(ing->comp[i]);
	free(ing->comp);
	free(ing->buf);
	free(ing->arena);
	free(ing->descs);
	cdt_hasher_free(ing->file_hash);
	cdt_idset_clear(&ing->round_new);
	free(ing);
}

/* Parallel step 1: item 0 feeds the whole-file hash, item k+1 hashes chunk k. */
static void hash_item(size_t i, int worker, void *data)
{
	struct cdt_ingest *ing = data;
	struct desc *d;

	(void)worker;
	if (i == 0) {
		cdt_hasher_update(ing->file_hash, ing->buf, ing->round_len);
		return;
	}
	d = &ing->descs[i - 1];
	cdt_hash(ing->buf + d->off, d->len, &d->id);
}

/* Parallel step 2: encode each new chunk into its slot of the arena. */
static void encode_item(size_t i, int worker, void *data)
{
	struct cdt_ingest *ing = data;
	struct desc *d = &ing->descs[i];

	if (!d->is_new)
		return;
	d->obj_len = cdt_object_encode(ing->comp[worker], ing->buf + d->off, d->len, d->obj);
}

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

/* Write the chunk references of the finished manifest, reading it back in bounded pieces. */
static int write_refs(struct cdt_ingest *ing, const char *manifest_tmp, const struct cdt_id *m)
{
	struct cdt_ref_writer *w = cdt_ref_writer_new(ing->store);
	int tmpfd = cdt_store_dirfd(ing->store, CDT_DIR_TMP);
	unsigned char *rec = xmalloc(1024 * CDT_MANIFEST_REC);
	off_t off = CDT_MANIFEST_HDR;
	struct stat st;
	int fd, ret = 0;
	uint64_t left;

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
	if (!ret)
		ret = cdt_ref_writer_flush(w);
out:
	if (fd >= 0)
		close(fd);
	free(rec);
	cdt_ref_writer_free(w);
	return ret;
}

int cdt_ingest_fd(struct cdt_ingest *ing, int fd, const char *what,
		  struct cdt_name_entry *meta, struct cdt_ingest_result *res)
{
	struct cdt_store *s = ing->store;
	const struct cdt_chunker *ch = cdt_store_chunker(s);
	struct cdt_manifest_writer *mw = NULL;
	struct cdt_chunk_batch *batch = cdt_chunk_batch_new(s);
	size_t have = 0;
	int eof = 0, ret;
	double last_progress = 0;
	char hex[CDT_ID_HEXLEN + 1];

	memset(res, 0, sizeof(*res));
	cdt_hasher_reset(ing->file_hash);
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	ret = cdt_manifest_writer_new(s, &mw);
	if (ret < 0) {
		error("cannot create a manifest in '%s/tmp': %s", cdt_store_path(s), strerror(-ret));
		goto out;
	}

	for (;;) {
		size_t pos = 0, i;
		unsigned char *arena = ing->arena;

		ret = read_more(fd, ing->buf, ing->buf_cap, &have, &eof);
		if (ret < 0) {
			error("cannot read '%s': %s", quote(what), strerror(-ret));
			goto out;
		}
		/* Cut. */
		ing->ndesc = 0;
		for (;;) {
			size_t n = cdt_chunker_next(ch, ing->buf + pos, have - pos, eof);

			if (!n)
				break;
			ALLOC_GROW(ing->descs, ing->ndesc + 1, ing->desc_alloc);
			ing->descs[ing->ndesc].off = pos;
			ing->descs[ing->ndesc].len = (uint32_t)n;
			ing->descs[ing->ndesc].is_new = 0;
			ing->ndesc++;
			pos += n;
		}
		/* Hash the chunks and the bytes consumed. */
		ing->round_len = pos;
		cdt_workers_run(ing->workers, ing->ndesc + 1, hash_item, ing);
		/* Look up, in order, so duplicates within the file are stored once. */
		cdt_idset_reset(&ing->round_new);
		for (i = 0; i < ing->ndesc; i++) {
			struct desc *d = &ing->descs[i];
			int has = cdt_chunk_batch_has(batch, &d->id) ||
				  cdt_idset_has(&ing->round_new, &d->id);

			if (!has)
				has = cdt_chunk_has(s, &d->id);
			if (has < 0) {
				ret = has;
				error("cannot look up chunk %s: %s", cdt_id_to_hex(&d->id, hex),
				      strerror(-ret));
				goto out;
			}
			if (!has) {
				cdt_idset_add(&ing->round_new, &d->id);
				d->is_new = 1;
				d->obj = arena;
				arena += CDT_OBJ_MAX(d->len);
			}
		}
		cdt_workers_run(ing->workers, ing->ndesc, encode_item, ing);
		/* Stage and record, in order. */
		for (i = 0; i < ing->ndesc; i++) {
			struct desc *d = &ing->descs[i];

			if (d->is_new) {
				ret = cdt_chunk_batch_stage(batch, &d->id, d->obj, d->obj_len);
				if (ret < 0)
					goto out;
				res->new_chunks++;
				res->new_raw += d->len;
				res->new_stored += d->obj_len;
			}
			ret = cdt_manifest_writer_add(mw, &d->id, d->len);
			if (ret < 0) {
				error("cannot write manifest for '%s': %s", quote(what), strerror(-ret));
				goto out;
			}
			res->chunks++;
		}
		res->size += pos;
		if (cdt_chunk_batch_count(batch) >= BATCH_CHUNKS ||
		    cdt_chunk_batch_bytes(batch) >= BATCH_BYTES) {
			ret = cdt_chunk_batch_commit(batch);
			if (ret < 0)
				goto out;
		}
		memmove(ing->buf, ing->buf + pos, have - pos);
		have -= pos;
		if (ing->opt.progress && now_seconds() - last_progress > 0.2) {
			last_progress = now_seconds();
			ing->opt.progress(res->size, ing->opt.progress_data);
		}
		if (eof && !have)
			break;
	}

	cdt_hasher_final(ing->file_hash, &res->content);
	ret = cdt_manifest_writer_finish(mw, &res->content);
	if (ret < 0) {
		error("cannot write manifest for '%s': %s", quote(what), strerror(-ret));
		goto out;
	}
	ret = cdt_manifest_exists(s, &res->content);
	if (ret < 0) {
		error("cannot look up manifest %s: %s", cdt_id_to_hex(&res->content, hex),
		      strerror(-ret));
		goto out;
	}
	res->manifest_existed = ret;
	if (!ret) {
		ret = write_refs(ing, cdt_manifest_writer_tmpname(mw), &res->content);
		if (ret < 0) {
			error("cannot write reference table: %s", strerror(-ret));
			goto out;
		}
	}
	/* Data before metadata: chunks and references durable before the manifest. */
	ret = cdt_chunk_batch_commit(batch);
	if (ret < 0)
		goto out;
	if (!res->manifest_existed) {
		ret = cdt_store_sync(s);
		if (ret < 0) {
			error("cannot sync store '%s': %s", cdt_store_path(s), strerror(-ret));
			goto out;
		}
		cdt_crash_point("manifest");
		ret = cdt_manifest_writer_commit(mw);
		if (ret < 0) {
			error("cannot store manifest %s: %s", cdt_id_to_hex(&res->content, hex),
			      strerror(-ret));
			goto out;
		}
	}
	/* Then the name record, then the name. */
	ret = cdt_nameref_add(s, &res->content, meta->name);
	if (ret < 0) {
		error("cannot record name '%s' for manifest %s: %s", quote(meta->name),
		      cdt_id_to_hex(&res->content, hex), strerror(-ret));
		goto out;
	}
	meta->size = res->size;
	meta->content = res->content;
	meta->added_sec = (int64_t)time(NULL);
	ret = cdt_name_write(s, meta, !ing->opt.no_replace);
	if (ret == -EEXIST)
		error("name '%s' already exists (not replaced)", quote(meta->name));
	else if (ret == -EISDIR)
		error("cannot store '%s': stored names exist under '%s/'", quote(meta->name), quote(meta->name));
	else if (ret == -ENOTDIR)
		error("cannot store '%s': a parent of it is a stored name", quote(meta->name));
	else if (ret < 0)
		error("cannot write name '%s': %s", quote(meta->name), strerror(-ret));
	if (ret < 0)
		goto out;
	if (ing->opt.progress)
		ing->opt.progress(res->size, ing->opt.progress_data);
	/* Keep lookups cheap: merge small reference tables now and then. */
	if (!res->manifest_existed) {
		int r = cdt_refs_compact(s, REFS_MAX_TABLES, NULL, NULL);

		if (r < 0)
			warning("cannot merge reference tables: %s", strerror(-r));
	}
	ret = 0;
out:
	cdt_chunk_batch_free(batch);
	cdt_manifest_writer_free(mw);
	return ret;
}
