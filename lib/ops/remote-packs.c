/* remote-packs.c: the packs of a remote store in its cache: listed from info/packs, their indexes fetched and checked, their bytes fetched in blocks as reads need them. */
#include "ops/remote-internal.h"
#include "format/info.h"
#include "format/pack.h"
#include "base/fsutil.h"
#include "base/hash.h"
#include "base/http.h"
#include "base/strbuf.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Does buf end in the checksum of what comes before it (a pack index, a manifest)? */
static int ends_in_its_sum(const struct strbuf *buf)
{
	struct cdt_id sum;

	if (buf->len < CDT_ID_LEN)
		return 0;
	cdt_hash(buf->buf, buf->len - CDT_ID_LEN, &sum);
	return !memcmp(sum.b, buf->buf + buf->len - CDT_ID_LEN, CDT_ID_LEN);
}

/* The pack of that name in a sorted array of n, or NULL. */
static struct rpack *find_in(struct rpack **packs, size_t n, const char *name)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(packs[mid]->name, name);

		if (!c)
			return packs[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

struct rpack *remote_find_rpack(struct remote *r, const char *name)
{
	return find_in(r->packs, r->npacks, name);
}

/*
 * Open packs/<p's name><ext> of the cache: a descriptor or -errno. Opened
 * for each use and closed after it, never held: a store may list more
 * packs than a process may have files open.
 */
static int open_cached(const struct remote *r, const struct rpack *p, const char *ext,
		       int flags)
{
	char path[CDT_ID_HEXLEN + 16];
	int fd;

	snprintf(path, sizeof(path), "%s%s", p->name, ext);
	fd = openat(r->packsfd, path, flags | O_NOFOLLOW | O_CLOEXEC, 0666);
	return fd < 0 ? -errno : fd;
}

/* Fetch blocks [first, end) of p (marked BLOCK_COMING by the caller). */
static int fetch_blocks(struct remote *r, struct rpack *p, uint64_t first, uint64_t end,
			struct strbuf *why)
{
	struct strbuf url = STRBUF_INIT, buf = STRBUF_INIT;
	uint64_t off = first * BLOCK, len = MIN(end * BLOCK, p->size) - off, k;
	unsigned char *ones;
	int ret, fd = -1, havefd = -1;

	strbuf_addf(&url, "packs/%s.pack", p->name);
	{
		char *rel = strbuf_detach(&url, NULL);

		remote_object_url(r, rel, &url);
		free(rel);
	}
	ret = cdt_http_get(url.buf, off, len, (size_t)len, &buf, why);
	/*
	 * A listed pack that is not there is an I/O error, not a missing
	 * chunk; the reader that fails on it lists the packs again.
	 */
	if (ret == -ENOENT) {
		ret = -EIO;
		pthread_mutex_lock(&r->mu);
		r->vanished = 1;
		pthread_mutex_unlock(&r->mu);
	}
	/*
	 * Data and marks are written under a shared lock on the .have, which
	 * a trim of the cache takes exclusively (ops/cache-trim.h). Each fetch
	 * opens its own: one shared open file would be unlocked by the first
	 * thread done with it.
	 */
	if (!ret && (havefd = open_cached(r, p, ".have", O_RDWR)) < 0)
		ret = havefd;
	while (!ret && flock(havefd, LOCK_SH) < 0 && errno == EINTR)
		;
	if (!ret && (fd = open_cached(r, p, ".pack", O_RDWR)) < 0)
		ret = fd;
	if (!ret)
		ret = pwrite_all(fd, buf.buf, buf.len, (off_t)off);
	if (!ret) {
		/* Data first, then the mark: a mark never stands for bytes not written. */
		ones = xmalloc(end - first);
		memset(ones, BLOCK_HERE, end - first);
		if (pwrite_all(havefd, ones, end - first, (off_t)first) < 0)
			warning("cannot note what the cache of pack %s holds", p->name);
		free(ones);
	} else if (!why->len) {
		strbuf_addf(why, "cannot write to the cache of pack %s: %s", p->name,
			    cdt_strerror(ret));
	}
	/* Its cached files gone (another refresh dropped the pack): no missing chunk either. */
	if (ret == -ENOENT)
		ret = -EIO;
	if (fd >= 0)
		close(fd);
	if (havefd >= 0)
		close(havefd);	/* and the lock with it */
	pthread_mutex_lock(&r->mu);
	for (k = first; k < end; k++)
		p->have[k] = ret ? BLOCK_MISSING : BLOCK_HERE;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	strbuf_release(&url);
	strbuf_release(&buf);
	return ret;
}

/*
 * The pack filler: make [off, off + len) of a cached pack present. Blocks
 * another thread is fetching are waited for; missing runs are fetched,
 * one request each. With `again`, what is here is dropped first (it
 * failed a check).
 */
int remote_fill_pack(int packsfd, const char *name, uint64_t off, uint64_t len, int again,
		     struct strbuf *why, void *data)
{
	struct remote *r = data;
	struct strbuf local_why = STRBUF_INIT;
	struct rpack *p;
	uint64_t b, first, last;
	int ret = 0;

	if (!r || packsfd != r->packsfd)
		return 1;	/* not a pack of the remote store: whole */
	pthread_mutex_lock(&r->mu);
	/* A pack gone since (gc there) is still here for a reader that found it before. */
	p = remote_find_rpack(r, name);
	if (!p)
		p = find_in(r->gone, r->ngone, name);
	if (!p) {
		pthread_mutex_unlock(&r->mu);
		return 1;
	}
	if (off >= p->size || len > p->size - off) {
		pthread_mutex_unlock(&r->mu);
		strbuf_addf(why ? why : &local_why, "pack %s: read past its end", name);
		strbuf_release(&local_why);
		return -CDT_ECORRUPT;
	}
	first = off / BLOCK;
	last = (off + len - 1) / BLOCK;
	/*
	 * The trim evicts the packs whose .have is oldest: a pack read from
	 * the cache is used as much as one fetched. Once per process is enough.
	 */
	if (!p->used) {
		char path[CDT_ID_HEXLEN + 16];

		p->used = 1;
		snprintf(path, sizeof(path), "%s.have", p->name);
		utimensat(r->packsfd, path, NULL, AT_SYMLINK_NOFOLLOW);
	}
	if (again) {
		int havefd = -1, failed = 0;

		for (b = first; b <= last; b++)
			if (p->have[b] == BLOCK_HERE) {
				p->have[b] = BLOCK_MISSING;
				if (havefd < 0 && !failed)
					failed = (havefd = open_cached(r, p, ".have", O_RDWR)) < 0;
				if (!failed && pwrite_all(havefd, &p->have[b], 1, (off_t)b) < 0)
					failed = 1;
			}
		if (havefd >= 0)
			close(havefd);
		if (failed)
			warning("cannot note what the cache of pack %s holds", p->name);
		if (again == 2) {
			pthread_mutex_unlock(&r->mu);
			return 1;
		}
	}
	for (b = first; b <= last && !ret;) {
		uint64_t end;

		if (p->have[b] == BLOCK_HERE) {
			b++;
			continue;
		}
		if (p->have[b] == BLOCK_COMING) {
			pthread_cond_wait(&r->cv, &r->mu);
			continue;	/* look at b again */
		}
		for (end = b; end <= last && p->have[end] == BLOCK_MISSING; end++)
			p->have[end] = BLOCK_COMING;
		/* Read ahead: the missing blocks right after what was asked for. */
		if (end == last + 1 && !r->seeds)
			for (; end < p->nblocks && end <= last + READAHEAD / BLOCK &&
			       p->have[end] == BLOCK_MISSING; end++)
				p->have[end] = BLOCK_COMING;
		pthread_mutex_unlock(&r->mu);
		ret = fetch_blocks(r, p, b, end, why ? why : &local_why);
		pthread_mutex_lock(&r->mu);
		b = end;
	}
	pthread_mutex_unlock(&r->mu);
	if (ret && !why)
		error("%s", local_why.buf);
	strbuf_release(&local_why);
	return ret;
}

void remote_load_have(const struct remote *r, struct rpack *p)
{
	int fd = open_cached(r, p, ".have", O_RDONLY);
	ssize_t n = fd < 0 ? fd : pread_full(fd, p->have, p->nblocks, 0);
	uint64_t k;

	if (fd >= 0)
		close(fd);
	/* Anything but a mark of a whole block counts as missing. */
	for (k = 0; k < p->nblocks; k++)
		if (n < 0 || k >= (uint64_t)n || p->have[k] != BLOCK_HERE)
			p->have[k] = BLOCK_MISSING;
}

/*
 * The size of pack p that its index (in the cache) implies: its objects
 * tile the pack between header and trailer. 0 or -errno (the index does
 * not open).
 */
static int implied_size(struct remote *r, const struct rpack *p, uint64_t *size)
{
	struct cdt_pack pk;
	uint64_t i, off, end = CDT_PACK_HDR;
	uint32_t len;
	int ret = cdt_pack_open(r->packsfd, p->name, &pk);

	if (ret)
		return ret;
	for (i = 0; i < pk.count; i++) {
		cdt_pack_entry(&pk, i, NULL, &off, &len, NULL);
		end = MAX(end, off + len);
	}
	cdt_pack_close(&pk);
	*size = end + CDT_PACK_TRAILER;
	return 0;
}

/*
 * Is the index whose last bytes (the pack checksum, then its own) end at
 * `end` the index of pack `name` ("pack-<hex of the pack checksum>")?
 */
static int indexes_pack(const unsigned char *end, const char *name)
{
	struct cdt_id id;

	return !cdt_id_from_hex(name + 5, &id) &&
	       !memcmp(end - 2 * CDT_ID_LEN, id.b, CDT_ID_LEN);
}

/* Does the cached packs/<name>.idx of size bytes name that pack as its own? */
static int cached_indexes_pack(struct remote *r, const char *name, uint64_t size)
{
	unsigned char tail[2 * CDT_ID_LEN];
	char path[CDT_ID_HEXLEN + 16];
	int fd, ok;

	if (size < sizeof(tail))
		return 0;
	snprintf(path, sizeof(path), "%s.idx", name);
	fd = openat(r->packsfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ok = pread_full(fd, tail, sizeof(tail), (off_t)(size - sizeof(tail))) ==
	     (ssize_t)sizeof(tail) && indexes_pack(tail + sizeof(tail), name);
	close(fd);
	return ok;
}

/* Make sure packs/<name>.idx is the remote's, and the sparse pack and its .have exist. */
static int cache_pack(struct remote *r, int rootfd, const struct cdt_info_pack *ip,
		      struct rpack *p)
{
	struct strbuf path = STRBUF_INIT, buf = STRBUF_INIT, why = STRBUF_INIT;
	struct stat st;
	uint64_t implied = 0;
	int ret = 0, cached, fd = -1, havefd = -1;

	memset(p, 0, sizeof(*p));
	memcpy(p->name, ip->name, sizeof(p->name));
	p->size = ip->pack_bytes;
	p->nblocks = (p->size + BLOCK - 1) / BLOCK;

	strbuf_addf(&path, "%s.idx", p->name);
	cached = fstatat(r->packsfd, path.buf, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		 S_ISREG(st.st_mode) && (uint64_t)st.st_size == ip->idx_bytes;
	/* A cached index that does not open, or is another pack's, is fetched again. */
	if (cached && (!cached_indexes_pack(r, p->name, ip->idx_bytes) ||
		       implied_size(r, p, &implied) < 0))
		cached = 0;
	if (!cached) {
		strbuf_reset(&path);
		strbuf_addf(&path, "packs/%s.idx", p->name);
		ret = remote_get_whole(r, path.buf, MIN(WHOLE_MAX, ip->idx_bytes), &buf, &why);
		if (ret) {
			ret = error_code(ret, "%s", why.buf);
			goto out;
		}
		/* An index is whole or refused: its checksum ends it. */
		if (buf.len != ip->idx_bytes || buf.len < 2 * CDT_ID_LEN || !ends_in_its_sum(&buf)) {
			ret = error_code(-CDT_ECORRUPT,
					 "%s/%s: damaged pack index (size or checksum)", r->base,
					 path.buf);
			goto out;
		}
		/* Whole, but another pack's: refused now, not rebuilt from the pack later. */
		if (!indexes_pack((unsigned char *)buf.buf + buf.len, p->name)) {
			char hex[CDT_ID_HEXLEN + 1];
			struct cdt_id other;

			memcpy(other.b, buf.buf + buf.len - 2 * CDT_ID_LEN, CDT_ID_LEN);
			cdt_id_to_hex(&other, hex);
			ret = error_code(-CDT_ECORRUPT, "%s/%s: the index of another pack (pack-%s)",
					 r->base, path.buf, hex);
			goto out;
		}
		strbuf_reset(&path);
		strbuf_addf(&path, "%s.idx", p->name);
		ret = remote_put_file(rootfd, r->packsfd, path.buf, buf.buf, buf.len);
		if (ret) {
			ret = error_code(ret, "cannot write '%s/packs/%s': %s", r->dir, path.buf,
					 cdt_strerror(ret));
			goto out;
		}
		ret = implied_size(r, p, &implied);
		if (ret) {
			ret = error_code(ret, "%s/packs/%s.idx: damaged pack index: %s", r->base,
					 p->name, cdt_strerror(ret));
			goto out;
		}
	}
	/* Listed larger, it would be a sparse file and a map of blocks that size. */
	if (p->size != implied) {
		ret = error_code(-CDT_ECORRUPT, "%s/info/packs lists %s with %llu bytes; its "
				 "index says %llu", r->base, p->name, (unsigned long long)p->size,
				 (unsigned long long)implied);
		goto out;
	}
	strbuf_reset(&path);
	strbuf_addf(&path, "%s.pack", p->name);
	/* Opened to be made, and closed: fetches open them again (open_cached()). */
	fd = openat(r->packsfd, path.buf, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = error_code(-errno, "cannot open '%s/packs/%s': %s", r->dir, path.buf,
				 cdt_strerror(errno));
		goto out;
	}
	strbuf_reset(&path);
	strbuf_addf(&path, "%s.have", p->name);
	havefd = openat(r->packsfd, path.buf, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (havefd < 0) {
		ret = error_code(-errno, "cannot open '%s/packs/%s': %s", r->dir, path.buf,
				 cdt_strerror(errno));
		goto out;
	}
	p->have = xcalloc(p->nblocks ? p->nblocks : 1, 1);
	{
		struct stat hst;

		/* A .have of another size was made with another block size: start again. */
		if (fstat(havefd, &hst) < 0 || (uint64_t)hst.st_size != p->nblocks)
			st.st_size = -1;
	}
	if ((uint64_t)st.st_size != p->size) {
		/* New, or not the size the remote pack has: start it empty. */
		if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)p->size) < 0 ||
		    ftruncate(havefd, 0) < 0 || ftruncate(havefd, (off_t)p->nblocks) < 0) {
			ret = error_code(-errno, "cannot size '%s/packs/%s': %s", r->dir,
					 p->name, cdt_strerror(errno));
			goto out;
		}
	}
	/* have[] is read from the .have after the trim (cdt_remote_open_seeded()). */
out:
	if (fd >= 0)
		close(fd);
	if (havefd >= 0)
		close(havefd);
	strbuf_release(&path);
	strbuf_release(&buf);
	strbuf_release(&why);
	return ret;
}

static int cmp_rpack(const void *a, const void *b)
{
	return strcmp((*(struct rpack *const *)a)->name, (*(struct rpack *const *)b)->name);
}

/*
 * Is `file` (in packs/) a file of one of the packs listed? Looked up by
 * its pack's name: a view refreshes now and then, and a store may list
 * thousands of packs, each with three files here.
 */
static int listed(const struct remote *r, const char *file)
{
	static const char *const ext[] = { ".pack", ".idx", ".have" };
	char name[sizeof(r->packs[0]->name)];
	size_t len = strlen(file), i, n;

	for (i = 0; i < ARRAY_SIZE(ext); i++) {
		n = strlen(ext[i]);
		if (len > n && len - n < sizeof(name) && !strcmp(file + len - n, ext[i])) {
			memcpy(name, file, len - n);
			name[len - n] = '\0';
			return find_in(r->packs, r->npacks, name) != NULL;
		}
	}
	return 0;
}

struct packs_walk {
	struct remote *r;
	int rootfd;
	int live;
	struct rpack **packs;	/* the new listing */
	size_t n, alloc;
	int reported;		/* a pack failed, and said why */
};

/* One line of info/packs: the pack in the cache (in the order listed, which is by name). */
static int take_pack(const struct cdt_info_pack *ip, void *data)
{
	struct packs_walk *pw = data;
	struct remote *r = pw->r;
	struct rpack *p = NULL;
	int ret = 0;

	/* Listed before, and being read: kept as it is (a pack's name is its checksum). */
	if (pw->live) {
		pthread_mutex_lock(&r->mu);
		p = remote_find_rpack(r, ip->name);
		pthread_mutex_unlock(&r->mu);
	}
	if (!p) {
		p = xcalloc(1, sizeof(*p));
		ret = cache_pack(r, pw->rootfd, ip, p);
		if (!ret && pw->live)
			remote_load_have(r, p);
	}
	/* A new one is kept in the listing, failed or not: the caller frees it. */
	ALLOC_GROW(pw->packs, pw->n + 1, pw->alloc);
	pw->packs[pw->n++] = p;
	pw->reported = ret != 0;
	return ret;
}

/* Is p one of the n packs (sorted)? */
static int known(struct rpack **packs, size_t n, const struct rpack *p)
{
	return find_in(packs, n, p->name) == p;
}

void remote_rpack_free(struct rpack *p)
{
	if (p)
		free(p->have);
	free(p);
}

/* info/packs, fetched into the file fd: every pack it lists taken into the cache. */
static int walk_packs(int fd, void *data)
{
	struct packs_walk *pw = data;
	struct strbuf why = STRBUF_INIT;
	int ret = cdt_info_packs_walk_fd(fd, take_pack, pw, &why);

	if (ret && !pw->reported) {
		if (ret == -CDT_ECORRUPT)
			ret = error_code(ret, "%s/info/packs is damaged: %s", pw->r->base, why.buf);
		else
			ret = error_code(ret, "cannot read '%s/info/packs' fetched to '%s/tmp': %s",
					 pw->r->base, pw->r->dir, cdt_strerror(ret));
		pw->reported = 1;
	}
	strbuf_release(&why);
	return ret;
}

int remote_refresh_packs(struct remote *r, int rootfd, int live)
{
	struct packs_walk pw = { .r = r, .rootfd = rootfd, .live = live };
	struct strbuf why = STRBUF_INIT;
	struct cdt_dent *dents = NULL;
	size_t nd = 0, i;
	int ret;

	/*
	 * Fetched to a file and read there in steps, never held: a server
	 * can send any size. Taken whole, it becomes the cache's own
	 * info/packs, which a push then updates.
	 */
	ret = remote_get_info(r, rootfd, "info/packs", walk_packs, &pw, &why);
	if (ret == -ENOENT && !pw.reported) {
		ret = error_code(ret, "'%s' has no info/packs: not a cdt store, or one written "
				 "before stores kept it ('cdt fsck --rebuild-refs' there writes it)",
				 r->base);
		goto out;
	}
	if (ret) {
		if (!pw.reported)
			ret = error_code(ret, "%s", why.buf);
		goto out;
	}
	if (pw.n > 1)
		qsort(pw.packs, pw.n, sizeof(*pw.packs), cmp_rpack);
	/* The new listing in place; the packs it no longer has stay for readers that hold them. */
	pthread_mutex_lock(&r->mu);
	for (i = 0; i < r->npacks; i++) {
		if (known(pw.packs, pw.n, r->packs[i]))
			continue;
		ALLOC_GROW(r->gone, r->ngone + 1, r->agone);
		r->gone[r->ngone++] = r->packs[i];
	}
	if (r->ngone > 1)
		qsort(r->gone, r->ngone, sizeof(*r->gone), cmp_rpack);
	free(r->packs);
	r->packs = pw.packs;
	r->npacks = pw.n;
	pw.packs = NULL;
	pw.n = 0;
	pthread_mutex_unlock(&r->mu);
	/* Packs the remote store no longer has (gc there) go from the cache too. */
	if (cdt_list_dir(r->packsfd, ".", &dents, &nd) == 0) {
		for (i = 0; i < nd; i++)
			if (!strncmp(dents[i].name, "pack-", 5) && !listed(r, dents[i].name))
				unlinkat(r->packsfd, dents[i].name, 0);
		cdt_dents_free(dents, nd);
	}
out:
	/* A listing not taken: the packs it made are dropped, those it shares stay. */
	for (i = 0; i < pw.n; i++)
		if (!known(r->packs, r->npacks, pw.packs[i]))
			remote_rpack_free(pw.packs[i]);
	free(pw.packs);
	strbuf_release(&why);
	return ret;
}
