/* seed.c: local data holding chunks a remote store would otherwise send: files cut as the store cuts, and local stores. */
#include "ops/seed.h"
#include "ops/chunks.h"
#include "format/chunker.h"
#include "base/idset.h"
#include "base/strbuf.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Where a chunk of a seed file is. */
struct place {
	uint64_t off;
	uint32_t len;
	uint32_t file;
};

struct seed_store {
	struct cdt_store *store;
	struct cdt_chunk_reader **free_readers;	/* a pool: readers are per thread */
	size_t nfree, afree;
};

struct cdt_seeds {
	pthread_mutex_t mu;
	int *fds;			/* seed files */
	char **names;
	size_t nfiles;
	struct cdt_idset ids;		/* chunk id -> index in places */
	struct place *places;
	size_t nplaces, aplaces;
	struct seed_store *stores;
	size_t nstores;
	uint64_t hits, hit_bytes;
};

/* Cut the file at fd as the store cuts and note each chunk's place. */
static int index_file(struct cdt_seeds *sd, const struct cdt_chunker *ch, uint32_t file,
		      const char *path)
{
	size_t cap = 8u << 20, have = 0, pos = 0, n;
	unsigned char *buf;
	uint64_t base = 0;
	int eof = 0, warned = 0, ret = 0;
	ssize_t got;

	if (cap < 2 * (size_t)ch->max_size)
		cap = 2 * (size_t)ch->max_size;
	buf = xmalloc(cap);
	for (;;) {
		if (!eof && have - pos < ch->max_size) {
			memmove(buf, buf + pos, have - pos);
			base += pos;
			have -= pos;
			pos = 0;
			got = read_full(sd->fds[file], buf + have, cap - have);
			if (got < 0) {
				ret = error_code((int)got, "cannot read seed '%s': %s", quote(path),
						 cdt_strerror((int)got));
				break;
			}
			have += (size_t)got;
			eof = have < cap;
		}
		n = cdt_chunker_next(ch, buf + pos, have - pos, eof);
		if (!n)
			break;
		if (sd->nplaces >= CDT_SEED_CHUNKS_MAX) {
			if (!warned++)
				warning("seed '%s': only its first %u chunks are used", quote(path),
					CDT_SEED_CHUNKS_MAX);
			break;
		} else {
			struct cdt_id id;

			cdt_hash(buf + pos, n, &id);
			if (!cdt_idset_has(&sd->ids, &id)) {
				ALLOC_GROW(sd->places, sd->nplaces + 1, sd->aplaces);
				sd->places[sd->nplaces].off = base + pos;
				sd->places[sd->nplaces].len = (uint32_t)n;
				sd->places[sd->nplaces].file = file;
				cdt_idset_put(&sd->ids, &id, sd->nplaces);
				sd->nplaces++;
			}
		}
		pos += n;
	}
	free(buf);
	return ret;
}

static int is_store(const char *path)
{
	struct strbuf sb = STRBUF_INIT;
	struct stat st;
	int ok;

	strbuf_addf(&sb, "%s/config", path);
	ok = stat(path, &st) == 0 && S_ISDIR(st.st_mode) && access(sb.buf, F_OK) == 0;
	strbuf_release(&sb);
	return ok;
}

int cdt_seeds_open(struct cdt_store *s, const char *const *paths, size_t n,
		   struct cdt_seeds **out)
{
	struct cdt_seeds *sd = xcalloc(1, sizeof(*sd));
	size_t i;
	int ret = 0;

	pthread_mutex_init(&sd->mu, NULL);
	sd->fds = xcalloc(n ? n : 1, sizeof(*sd->fds));
	sd->names = xcalloc(n ? n : 1, sizeof(*sd->names));
	sd->stores = xcalloc(n ? n : 1, sizeof(*sd->stores));
	for (i = 0; i < n && !ret; i++) {
		struct stat st;

		if (is_store(paths[i])) {
			struct seed_store *ss = &sd->stores[sd->nstores];

			if (cdt_store_open(paths[i], &ss->store) < 0) {
				ret = -EINVAL;
				break;
			}
			sd->nstores++;
			continue;
		}
		sd->fds[sd->nfiles] = open(paths[i], O_RDONLY | O_CLOEXEC);
		if (sd->fds[sd->nfiles] < 0) {
			ret = error_code(-errno, "cannot open seed '%s': %s", quote(paths[i]),
					 cdt_strerror(errno));
			break;
		}
		if (fstat(sd->fds[sd->nfiles], &st) < 0 || !S_ISREG(st.st_mode)) {
			close(sd->fds[sd->nfiles]);
			ret = error_code(-EINVAL, "seed '%s' is neither a file nor a store",
					 quote(paths[i]));
			break;
		}
		sd->names[sd->nfiles] = xstrdup(paths[i]);
		sd->nfiles++;
		ret = index_file(sd, cdt_store_chunker(s), (uint32_t)(sd->nfiles - 1), paths[i]);
	}
	if (ret) {
		cdt_seeds_free(sd);
		*out = NULL;
		return ret;
	}
	*out = sd;
	return 0;
}

void cdt_seeds_free(struct cdt_seeds *sd)
{
	size_t i, k;

	if (!sd)
		return;
	for (i = 0; i < sd->nfiles; i++) {
		close(sd->fds[i]);
		free(sd->names[i]);
	}
	for (i = 0; i < sd->nstores; i++) {
		for (k = 0; k < sd->stores[i].nfree; k++)
			cdt_chunk_reader_free(sd->stores[i].free_readers[k]);
		free(sd->stores[i].free_readers);
		cdt_store_close(sd->stores[i].store);
	}
	cdt_idset_clear(&sd->ids);
	pthread_mutex_destroy(&sd->mu);
	free(sd->places);
	free(sd->fds);
	free(sd->names);
	free(sd->stores);
	free(sd);
}

static void count_hit(struct cdt_seeds *sd, uint32_t len)
{
	pthread_mutex_lock(&sd->mu);
	sd->hits++;
	sd->hit_bytes += len;
	pthread_mutex_unlock(&sd->mu);
}

static int read_from_file(struct cdt_seeds *sd, const struct cdt_id *id, uint32_t want_len,
			  unsigned char *out, uint32_t *len)
{
	const struct place *p;
	uint64_t *v = cdt_idset_get(&sd->ids, id);
	struct cdt_id got;

	if (!v)
		return -ENOENT;
	p = &sd->places[*v];
	if (want_len && p->len != want_len)
		return -ENOENT;
	/* The file may have changed since it was cut: only the id vouches for the bytes. */
	if (pread_full(sd->fds[p->file], out, p->len, (off_t)p->off) != (ssize_t)p->len)
		return -ENOENT;
	cdt_hash(out, p->len, &got);
	if (!cdt_id_eq(&got, id))
		return -ENOENT;
	*len = p->len;
	return 0;
}

static int read_from_store(struct cdt_seeds *sd, struct seed_store *ss, const struct cdt_id *id,
			   uint32_t want_len, unsigned char *out, uint32_t *len)
{
	struct cdt_chunk_reader *r = NULL;
	int ret;

	if (cdt_chunk_has(ss->store, id) <= 0)
		return -ENOENT;
	pthread_mutex_lock(&sd->mu);
	if (ss->nfree)
		r = ss->free_readers[--ss->nfree];
	pthread_mutex_unlock(&sd->mu);
	if (!r)
		r = cdt_chunk_reader_new(ss->store);
	/* Checked against the id as every read is; a damaged copy is no copy. */
	ret = cdt_chunk_read(r, id, want_len, out, len, NULL);
	pthread_mutex_lock(&sd->mu);
	ALLOC_GROW(ss->free_readers, ss->nfree + 1, ss->afree);
	ss->free_readers[ss->nfree++] = r;
	pthread_mutex_unlock(&sd->mu);
	return ret ? -ENOENT : 0;
}

int cdt_seeds_read(struct cdt_seeds *sd, const struct cdt_id *id, uint32_t want_len,
		   unsigned char *out, uint32_t *len)
{
	size_t i;

	if (!read_from_file(sd, id, want_len, out, len)) {
		count_hit(sd, *len);
		return 0;
	}
	for (i = 0; i < sd->nstores; i++)
		if (!read_from_store(sd, &sd->stores[i], id, want_len, out, len)) {
			count_hit(sd, *len);
			return 0;
		}
	return -ENOENT;
}

void cdt_seeds_counters(const struct cdt_seeds *sd, uint64_t *chunks, uint64_t *bytes)
{
	*chunks = sd->hits;
	*bytes = sd->hit_bytes;
}
