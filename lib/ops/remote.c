/* remote.c: a store read over HTTP(S), opened as a local cache store filled on demand. */
#include "ops/remote.h"
#include "ops/remote-internal.h"
#include "ops/cache-trim.h"
#include "ops/seed.h"
#include "format/config.h"
#include "format/manifest.h"
#include "format/info.h"
#include "format/names.h"
#include "format/object.h"
#include "format/chunker.h"
#include "format/pack.h"
#include "base/fsutil.h"
#include "base/hash.h"
#include "base/http.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "base/workers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>



struct remote *the_remote;

/* Append path to url, %-encoding every byte but unreserved ones and '/'. */
static void add_url_path(struct strbuf *url, const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	for (p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~/", *p)) {
			strbuf_addch(url, *p);
		} else {
			strbuf_addch(url, '%');
			strbuf_addch(url, hex[*p >> 4]);
			strbuf_addch(url, hex[*p & 15]);
		}
	}
}

void remote_object_url(const struct remote *r, const char *path, struct strbuf *url)
{
	strbuf_reset(url);
	strbuf_addstr(url, r->base);
	strbuf_addch(url, '/');
	add_url_path(url, path);
}

/* GET a whole file of the remote store (relative path) into out. */
int remote_get_whole(const struct remote *r, const char *path, size_t max, struct strbuf *out,
		     struct strbuf *why)
{
	struct strbuf url = STRBUF_INIT;
	int ret;

	remote_object_url(r, path, &url);
	ret = cdt_http_get(url.buf, 0, 0, max, out, why);
	strbuf_release(&url);
	return ret;
}

/* PUT bytes to a path of the remote store: 0, 1 (create_only: there already) or -errno (reported). */
int remote_put_object(const struct remote *r, const char *path, const struct strbuf *body,
		      int create_only)
{
	struct strbuf url = STRBUF_INIT, why = STRBUF_INIT;
	int ret;

	remote_object_url(r, path, &url);
	ret = cdt_http_put(url.buf, body->buf ? body->buf : "", -1, body->len, create_only, &why);
	if (ret < 0)
		error("%s", why.buf);
	strbuf_release(&url);
	strbuf_release(&why);
	return ret;
}

/* Move tmpfd/tmp to dirfd/path (replacing), its parent made first; on failure remove it. 0 or -errno. */
static int place_file(int tmpfd, const char *tmp, int dirfd, const char *path)
{
	char *slash = strrchr(path, '/');
	int ret = 0;

	if (slash) {
		char *parent = xstrndup(path, (size_t)(slash - path));

		ret = mkdirat_p_flags(dirfd, parent, 0);
		free(parent);
	}
	if (!ret && renameat(tmpfd, tmp, dirfd, path) < 0)
		ret = -errno;
	if (ret)
		unlinkat(tmpfd, tmp, 0);
	tmpfile_forget(tmpfd, tmp);
	return ret;
}

/* Write buf to dirfd/path through tmp/ and a rename (replacing). 0 or -errno. */
int remote_put_file(int rootfd, int dirfd, const char *path, const void *buf, size_t len)
{
	struct strbuf tmp = STRBUF_INIT;
	int tmpfd, fd, ret;

	tmpfd = openat(rootfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tmpfd < 0)
		return -errno;
	fd = tmpfile_openat(tmpfd, "fetch", &tmp);
	if (fd < 0) {
		close(tmpfd);
		return fd;
	}
	ret = write_all(fd, buf, len);
	close(fd);
	if (ret) {
		unlinkat(tmpfd, tmp.buf, 0);
		tmpfile_forget(tmpfd, tmp.buf);
	} else {
		ret = place_file(tmpfd, tmp.buf, dirfd, path);
	}
	close(tmpfd);
	strbuf_release(&tmp);
	return ret;
}

/* Does buf end in the checksum of what comes before it (a pack index, a manifest)? */
static int ends_in_its_sum(const struct strbuf *buf)
{
	struct cdt_id sum;

	if (buf->len < CDT_ID_LEN)
		return 0;
	cdt_hash(buf->buf, buf->len - CDT_ID_LEN, &sum);
	return !memcmp(sum.b, buf->buf + buf->len - CDT_ID_LEN, CDT_ID_LEN);
}

/*
 * Is the file fd, fetched as manifests/<path>, a whole manifest of that
 * file id (its checksum, and the file id of its trailer)? Read in steps:
 * a manifest may be larger than memory allows. 1, 0, or -errno.
 */
static int whole_manifest(int fd, const char *path)
{
	unsigned char *buf, sum[CDT_ID_LEN];
	char hex[CDT_ID_HEXLEN + 1];
	struct cdt_hasher *h;
	struct cdt_id id, got;
	uint64_t size, pos = 0;
	struct stat st;
	ssize_t n = 0;

	if (strlen(path) != CDT_ID_HEXLEN + 1 || path[2] != '/')
		return 0;
	memcpy(hex, path, 2);
	memcpy(hex + 2, path + 3, CDT_ID_HEXLEN - 2);
	hex[CDT_ID_HEXLEN] = '\0';
	if (cdt_id_from_hex(hex, &id))
		return 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	size = (uint64_t)st.st_size;
	/* The trailer: count, size, the file id, the checksum. */
	if (size < CDT_MANIFEST_TRAILER)
		return 0;
	if (pread_full(fd, sum, CDT_ID_LEN, (off_t)(size - CDT_MANIFEST_TRAILER + 16)) != CDT_ID_LEN)
		return -EIO;
	if (memcmp(sum, id.b, CDT_ID_LEN))
		return 0;
	buf = xmalloc(1u << 20);
	h = cdt_hasher_new();
	while (pos < size - CDT_ID_LEN) {
		n = pread_full(fd, buf, (size_t)MIN(size - CDT_ID_LEN - pos, (uint64_t)(1u << 20)),
			       (off_t)pos);
		if (n <= 0)
			break;
		cdt_hasher_update(h, buf, (size_t)n);
		pos += (uint64_t)n;
	}
	cdt_hasher_final(h, &got);
	cdt_hasher_free(h);
	free(buf);
	if (n < 0)
		return (int)n;
	if (pos < size - CDT_ID_LEN ||
	    pread_full(fd, sum, CDT_ID_LEN, (off_t)(size - CDT_ID_LEN)) != CDT_ID_LEN)
		return -EIO;
	return !memcmp(sum, got.b, CDT_ID_LEN);
}

/*
 * A manifest, fetched into a file of tmp/ (its size is the file's: it is
 * never held in memory), checked, and renamed into the cache: a manifest
 * is whole or refused (its checksum ends it), since one kept damaged would
 * fail every read from the cache once the server is right.
 */
static int fetch_manifest(struct cdt_store *s, const char *url, const char *path,
			  struct strbuf *why)
{
	struct strbuf tmp = STRBUF_INIT;
	int tmpfd, fd, ret;

	tmpfd = openat(cdt_store_rootfd(s), "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tmpfd < 0)
		return -errno;
	fd = tmpfile_openat(tmpfd, "fetch", &tmp);
	if (fd < 0) {
		close(tmpfd);
		return fd;
	}
	ret = cdt_http_get_file(url, UINT64_MAX, fd, why);
	if (!ret) {
		ret = whole_manifest(fd, path);
		if (ret == 0) {
			strbuf_addf(why, "%s: damaged manifest (checksum or file id)", url);
			ret = -CDT_ECORRUPT;
		} else if (ret > 0) {
			ret = 0;
		}
	}
	close(fd);
	if (ret) {
		unlinkat(tmpfd, tmp.buf, 0);
		tmpfile_forget(tmpfd, tmp.buf);
	} else {
		ret = place_file(tmpfd, tmp.buf, cdt_store_dirfd(s, CDT_DIR_MANIFESTS), path);
	}
	close(tmpfd);
	strbuf_release(&tmp);
	return ret;
}

/*
 * cdt_store_fetch(): a manifest or a loose object, fetched whole. A loose
 * object is at most the largest object the store's chunks make (more is
 * refused as it comes, not held), and is checked when read, and fetched
 * again then.
 */
static int fetch_file(struct cdt_store *s, enum cdt_store_dir d, const char *path, void *data)
{
	struct remote *r = data;
	struct strbuf rel = STRBUF_INIT, url = STRBUF_INIT, buf = STRBUF_INIT, why = STRBUF_INIT;
	int ret;

	strbuf_addf(&rel, "%s/%s", cdt_store_dir_name(d), path);
	remote_object_url(r, rel.buf, &url);
	if (d == CDT_DIR_MANIFESTS) {
		ret = fetch_manifest(s, url.buf, path, &why);
	} else {
		ret = cdt_http_get(url.buf, 0, 0, CDT_OBJ_MAX(cdt_store_chunker(s)->max_size),
				   &buf, &why);
		if (!ret)
			ret = remote_put_file(cdt_store_rootfd(s), cdt_store_dirfd(s, d), path,
					      buf.buf, buf.len);
	}
	if (ret && ret != -ENOENT)
		error("%s", why.len ? why.buf : cdt_strerror(ret));
	strbuf_release(&rel);
	strbuf_release(&url);
	strbuf_release(&buf);
	strbuf_release(&why);
	return ret;
}

struct rpack *remote_find_rpack(struct remote *r, const char *name)
{
	size_t lo = 0, hi = r->npacks;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(r->packs[mid].name, name);

		if (!c)
			return &r->packs[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Fetch blocks [first, end) of p (marked BLOCK_COMING by the caller). */
static int fetch_blocks(struct remote *r, struct rpack *p, uint64_t first, uint64_t end,
			struct strbuf *why)
{
	struct strbuf url = STRBUF_INIT, buf = STRBUF_INIT;
	uint64_t off = first * BLOCK, len = MIN(end * BLOCK, p->size) - off, k;
	unsigned char *ones;
	int ret, lockfd = -1;

	strbuf_addf(&url, "packs/%s.pack", p->name);
	{
		char *rel = strbuf_detach(&url, NULL);

		remote_object_url(r, rel, &url);
		free(rel);
	}
	ret = cdt_http_get(url.buf, off, len, (size_t)len, &buf, why);
	/* A listed pack that is not there is an I/O error, not a missing chunk. */
	if (ret == -ENOENT)
		ret = -EIO;
	/*
	 * Data and marks are written under a shared lock on the .have, which
	 * a trim of the cache takes exclusively (ops/cache-trim.h). Each fetch
	 * opens its own: one shared open file would be unlocked by the first
	 * thread done with it.
	 */
	if (!ret) {
		strbuf_reset(&url);
		strbuf_addf(&url, "%s.have", p->name);
		lockfd = openat(r->packsfd, url.buf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		while (lockfd >= 0 && flock(lockfd, LOCK_SH) < 0 && errno == EINTR)
			;
	}
	if (!ret)
		ret = pwrite_all(p->fd, buf.buf, buf.len, (off_t)off);
	if (!ret) {
		/* Data first, then the mark: a mark never stands for bytes not written. */
		ones = xmalloc(end - first);
		memset(ones, BLOCK_HERE, end - first);
		if (pwrite_all(p->havefd, ones, end - first, (off_t)first) < 0)
			warning("cannot note what the cache of pack %s holds", p->name);
		free(ones);
	} else if (!why->len) {
		strbuf_addf(why, "cannot write to the cache of pack %s: %s", p->name,
			    cdt_strerror(ret));
	}
	if (lockfd >= 0)
		close(lockfd);
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
static int fill_pack(int packsfd, const char *name, uint64_t off, uint64_t len, int again,
		     struct strbuf *why, void *data)
{
	struct remote *r = data;
	struct strbuf local_why = STRBUF_INIT;
	struct rpack *p;
	uint64_t b, first, last;
	int ret = 0;

	if (!r || packsfd != r->packsfd || !(p = remote_find_rpack(r, name)))
		return 1;	/* not a pack of the remote store: whole */
	if (off >= p->size || len > p->size - off) {
		strbuf_addf(why ? why : &local_why, "pack %s: read past its end", name);
		strbuf_release(&local_why);
		return -CDT_ECORRUPT;
	}
	first = off / BLOCK;
	last = (off + len - 1) / BLOCK;
	pthread_mutex_lock(&r->mu);
	/*
	 * The trim evicts the packs whose .have is oldest: a pack read from
	 * the cache is used as much as one fetched. Once per process is enough.
	 */
	if (!p->used) {
		p->used = 1;
		futimens(p->havefd, NULL);
	}
	if (again) {
		for (b = first; b <= last; b++)
			if (p->have[b] == BLOCK_HERE) {
				p->have[b] = BLOCK_MISSING;
				if (pwrite_all(p->havefd, &p->have[b], 1, (off_t)b) < 0)
					warning("cannot note what the cache of pack %s holds",
						p->name);
			}
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

/* What the .have of p says is here (once more after a trim). */
static void load_have(struct rpack *p)
{
	ssize_t n = pread_full(p->havefd, p->have, p->nblocks, 0);
	uint64_t k;

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
	int ret = 0, cached;

	memset(p, 0, sizeof(*p));
	p->fd = p->havefd = -1;
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
	p->fd = openat(r->packsfd, path.buf, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (p->fd < 0 || fstat(p->fd, &st) < 0) {
		ret = error_code(-errno, "cannot open '%s/packs/%s': %s", r->dir, path.buf,
				 cdt_strerror(errno));
		goto out;
	}
	strbuf_reset(&path);
	strbuf_addf(&path, "%s.have", p->name);
	p->havefd = openat(r->packsfd, path.buf, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (p->havefd < 0) {
		ret = error_code(-errno, "cannot open '%s/packs/%s': %s", r->dir, path.buf,
				 cdt_strerror(errno));
		goto out;
	}
	p->have = xcalloc(p->nblocks ? p->nblocks : 1, 1);
	{
		struct stat hst;

		/* A .have of another size was made with another block size: start again. */
		if (fstat(p->havefd, &hst) < 0 || (uint64_t)hst.st_size != p->nblocks)
			st.st_size = -1;
	}
	if ((uint64_t)st.st_size != p->size) {
		/* New, or not the size the remote pack has: start it empty. */
		if (ftruncate(p->fd, 0) < 0 || ftruncate(p->fd, (off_t)p->size) < 0 ||
		    ftruncate(p->havefd, 0) < 0 || ftruncate(p->havefd, (off_t)p->nblocks) < 0) {
			ret = error_code(-errno, "cannot size '%s/packs/%s': %s", r->dir,
					 p->name, cdt_strerror(errno));
			goto out;
		}
	} else {
		load_have(p);
	}
out:
	strbuf_release(&path);
	strbuf_release(&buf);
	strbuf_release(&why);
	return ret;
}

static int cmp_rpack(const void *a, const void *b)
{
	return strcmp(((const struct rpack *)a)->name, ((const struct rpack *)b)->name);
}

/* Is `name` (a file in packs/) one of the packs listed? */
static int listed(const struct remote *r, const char *file)
{
	size_t i, n;

	for (i = 0; i < r->npacks; i++) {
		n = strlen(r->packs[i].name);
		if (!strncmp(file, r->packs[i].name, n) &&
		    (!strcmp(file + n, ".pack") || !strcmp(file + n, ".idx") ||
		     !strcmp(file + n, ".have")))
			return 1;
	}
	return 0;
}

static int refresh_packs(struct remote *r, int rootfd)
{
	struct strbuf buf = STRBUF_INIT, why = STRBUF_INIT;
	struct cdt_info_pack *ips = NULL;
	struct cdt_dent *dents = NULL;
	size_t n = 0, nd = 0, i;
	int ret;

	ret = remote_get_whole(r, "info/packs", WHOLE_MAX, &buf, &why);
	if (ret == -ENOENT) {
		ret = error_code(ret, "'%s' has no info/packs: not a cdt store, or one written "
				 "before stores kept it ('cdt fsck --rebuild-refs' there writes it)",
				 r->base);
		goto out;
	}
	if (ret) {
		ret = error_code(ret, "%s", why.buf);
		goto out;
	}
	ret = cdt_info_packs_parse(buf.buf, buf.len, &ips, &n, &why);
	if (ret) {
		ret = error_code(ret, "%s/info/packs is damaged: %s", r->base, why.buf);
		goto out;
	}
	/* The cache's own info/ is the remote's, which a push then updates. */
	ret = remote_put_file(rootfd, rootfd, "info/packs", buf.buf, buf.len);
	if (ret) {
		ret = error_code(ret, "cannot write '%s/info/packs': %s", r->dir, cdt_strerror(ret));
		goto out;
	}
	r->packs = xcalloc(n ? n : 1, sizeof(*r->packs));
	for (i = 0; i < n; i++) {
		ret = cache_pack(r, rootfd, &ips[i], &r->packs[i]);
		r->npacks = i + 1;
		if (ret)
			goto out;
	}
	qsort(r->packs, r->npacks, sizeof(*r->packs), cmp_rpack);
	/* Packs the remote store no longer has (gc there) go from the cache too. */
	if (cdt_list_dir(r->packsfd, ".", &dents, &nd) == 0) {
		for (i = 0; i < nd; i++)
			if (!strncmp(dents[i].name, "pack-", 5) && !listed(r, dents[i].name))
				unlinkat(r->packsfd, dents[i].name, 0);
		cdt_dents_free(dents, nd);
	}
out:
	free(ips);
	strbuf_release(&buf);
	strbuf_release(&why);
	return ret;
}

/* Create the cache store (the layout, and the remote's config as it is) or check it is this store's. */
static int prepare_cache(const char *dir, const struct strbuf *config)
{
	static const char *const dirs[] = { "objects", "manifests", "refs", "names", "tmp",
					    "packs", "info" };
	struct strbuf have = STRBUF_INIT;
	int rootfd, fd, ret;
	size_t i;

	ret = mkdir_p(dir);
	if (ret < 0)
		return error_code(ret, "cannot create the cache '%s': %s", dir, cdt_strerror(ret));
	rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return error_code(-errno, "cannot open the cache '%s': %s", dir,
				  cdt_strerror(errno));
	/* What was fetched is for this user only, as a private store is. */
	if (fchmod(rootfd, 0700) < 0)
		warning("cannot make the cache '%s' private: %s", dir, cdt_strerror(errno));
	ret = read_small_fileat(rootfd, "config", CDT_CONFIG_MAX, &have);
	if (ret == 0) {
		if (have.len != config->len || memcmp(have.buf, config->buf, have.len))
			ret = error_code(-EEXIST, "the cache '%s' holds another config for this "
					 "store id (remove the cache to start it afresh)", dir);
		goto out;
	}
	for (i = 0; i < sizeof(dirs) / sizeof(*dirs); i++)
		if (mkdirat(rootfd, dirs[i], 0777) < 0 && errno != EEXIST) {
			ret = error_code(-errno, "cannot create '%s/%s': %s", dir, dirs[i],
					 cdt_strerror(errno));
			goto out;
		}
	fd = openat(rootfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd >= 0)
		close(fd);
	/* The config last, as init writes it: its presence marks a complete cache. */
	ret = remote_put_file(rootfd, rootfd, "config", config->buf, config->len);
	if (ret)
		ret = error_code(ret, "cannot write '%s/config': %s", dir, cdt_strerror(ret));
out:
	close(rootfd);
	strbuf_release(&have);
	return ret;
}

int cdt_remote_is_url(const char *s)
{
	return cdt_http_is_url(s) || (s && !strncmp(s, "s3://", 5));
}

/*
 * The base URL of a store: an http(s) URL as it is (without trailing
 * slashes); s3://BUCKET[/PREFIX] as ENDPOINT/BUCKET[/PREFIX] (path-style),
 * with requests under it signed with the credentials of the environment,
 * as AWS tools take them.
 */
int remote_base(const char *url, struct strbuf *base)
{
	const char *region, *key, *secret, *endpoint, *bucket, *slash;
	size_t len;

	strbuf_reset(base);
	if (strncmp(url, "s3://", 5)) {
		len = strlen(url);
		while (len > 8 && url[len - 1] == '/')
			len--;
		strbuf_add(base, url, len);
		return 0;
	}
	bucket = url + 5;
	slash = strchr(bucket, '/');
	len = slash ? (size_t)(slash - bucket) : strlen(bucket);
	if (!len)
		return error_code(-EINVAL, "'%s': no bucket (s3://BUCKET[/PREFIX])", url);
	region = getenv("AWS_REGION");
	if (!region || !*region)
		region = getenv("AWS_DEFAULT_REGION");
	if (!region || !*region)
		region = "us-east-1";
	key = getenv("AWS_ACCESS_KEY_ID");
	secret = getenv("AWS_SECRET_ACCESS_KEY");
	if (!key || !*key || !secret || !*secret)
		return error_code(-EINVAL, "'%s': set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
				  "(and AWS_ENDPOINT_URL for a store outside AWS)", url);
	endpoint = getenv("AWS_ENDPOINT_URL");
	if (endpoint && *endpoint) {
		size_t elen = strlen(endpoint);

		while (elen > 8 && endpoint[elen - 1] == '/')
			elen--;
		strbuf_add(base, endpoint, elen);
	} else {
		strbuf_addf(base, "https://s3.%s.amazonaws.com", region);
	}
	strbuf_addch(base, '/');
	{
		char *b = xstrndup(bucket, len);

		add_url_path(base, b);
		free(b);
	}
	if (slash) {
		const char *prefix = slash;

		while (*prefix == '/')
			prefix++;
		if (*prefix) {
			char *p = xstrdup(prefix);
			size_t plen = strlen(p);

			while (plen && p[plen - 1] == '/')
				p[--plen] = '\0';
			strbuf_addch(base, '/');
			add_url_path(base, p);
			free(p);
		}
	}
	cdt_http_sign_s3(base->buf, region, key, secret, getenv("AWS_SESSION_TOKEN"));
	return 0;
}

static void default_cache_root(struct strbuf *out)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");

	if (xdg && *xdg == '/')
		strbuf_addf(out, "%s/cdt", xdg);
	else if (home && *home)
		strbuf_addf(out, "%s/.cache/cdt", home);
	else
		strbuf_addstr(out, "/tmp/cdt-cache");
}

static void free_remote(struct remote *r)
{
	while (r->npacks--) {
		struct rpack *p = &r->packs[r->npacks];

		if (p->fd >= 0)
			close(p->fd);
		if (p->havefd >= 0)
			close(p->havefd);
		free(p->have);
	}
	cdt_seeds_free(r->seeds);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r->packs);
	free(r->base);
	free(r->dir);
	free(r);
}

/* cdt_store_state() hands the remote to the store, which drops it when closed. */
static void *take_remote(struct cdt_store *s)
{
	return the_remote;
}

static void drop_remote(void *state)
{
	cdt_pack_set_filler(NULL, NULL);
	the_remote = NULL;
	free_remote(state);
	cdt_http_cleanup();
}

static int seed_read(const struct cdt_id *id, uint32_t want_len, unsigned char *out,
		     uint32_t *len, void *data)
{
	struct remote *r = data;

	return r->seeds ? cdt_seeds_read(r->seeds, id, want_len, out, len) : -ENOENT;
}

int cdt_remote_open(const char *url, const char *cache_dir, struct cdt_store **out)
{
	return cdt_remote_open_seeded(url, cache_dir, CDT_CACHE_SIZE_DEFAULT, NULL, 0, out);
}

int cdt_remote_open_seeded(const char *url, const char *cache_dir, uint64_t cache_size,
			   const char *const *seeds, size_t nseeds, struct cdt_store **out)
{
	struct remote *r;
	struct strbuf config = STRBUF_INIT, why = STRBUF_INIT, dir = STRBUF_INIT;
	struct cdt_store_remote hook;
	struct cdt_config cfg;
	int ret, lockfd = -1;

	*out = NULL;
	if (the_remote)
		return error_code(-EBUSY, "one remote store per command");
	if (!cdt_http_available())
		return error_code(-ENOTSUP, "cannot read '%s': this cdt was built without "
				  "remote stores (libcurl)", url);
	r = xcalloc(1, sizeof(*r));
	r->packsfd = -1;
	ret = remote_base(url, &dir);
	if (ret) {
		free(r);
		strbuf_release(&dir);
		return ret;
	}
	r->base = strbuf_detach(&dir, NULL);
	r->writable = !strncmp(url, "s3://", 5);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);

	ret = remote_get_whole(r, "config", CDT_CONFIG_MAX, &config, &why);
	if (ret == -ENOENT) {
		ret = error_code(ret, "'%s' is not a cdt store (no config)", r->base);
		goto fail;
	} else if (ret) {
		ret = error_code(ret, "%s", why.buf);
		goto fail;
	}
	ret = cdt_config_parse(config.buf, config.len, &cfg, &why);
	if (ret) {
		ret = error_code(ret, "cannot use store '%s': %s", r->base, why.buf);
		goto fail;
	}
	if (cache_dir && *cache_dir)
		strbuf_addstr(&dir, cache_dir);
	else
		default_cache_root(&dir);
	strbuf_addf(&dir, "/%s", cfg.store_id);
	r->dir = strbuf_detach(&dir, NULL);
	ret = prepare_cache(r->dir, &config);
	if (ret)
		goto fail;
	ret = cdt_store_open(r->dir, out);
	if (ret)
		goto fail;
	/* One refresher at a time per cache (readers of it do not wait). */
	lockfd = openat(cdt_store_rootfd(*out), "cache.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (lockfd < 0 || flock(lockfd, LOCK_EX) < 0) {
		ret = error_code(-errno, "cannot lock the cache '%s': %s", r->dir,
				 cdt_strerror(errno));
		goto fail;
	}
	r->packsfd = cdt_store_dirfd(*out, CDT_DIR_PACKS);
	ret = refresh_packs(r, cdt_store_rootfd(*out));
	if (!ret)
		ret = remote_refresh_names(r, *out);
	/* Within its bound, before anything of it is read (only at open). */
	if (!ret)
		ret = cdt_cache_trim(*out, cache_size, NULL);
	if (!ret)
		for (size_t i = 0; i < r->npacks; i++)
			load_have(&r->packs[i]);
	close(lockfd);
	lockfd = -1;
	if (!ret && nseeds)
		ret = cdt_seeds_open(*out, seeds, nseeds, &r->seeds);
	if (ret)
		goto fail;
	/* Tests change a seed here, after it was cut and before it is read. */
	if (nseeds)
		cdt_pause_point("seeds-cut");
	hook.url = r->base;
	hook.fetch = fetch_file;
	hook.seed = seed_read;
	hook.data = r;
	cdt_store_set_remote(*out, &hook);
	the_remote = r;
	cdt_store_state(*out, &the_remote, take_remote, drop_remote);
	cdt_pack_set_filler(fill_pack, r);
	strbuf_release(&config);
	strbuf_release(&why);
	return 0;
fail:
	if (lockfd >= 0)
		close(lockfd);
	cdt_store_close(*out);
	*out = NULL;
	free_remote(r);
	cdt_http_cleanup();
	strbuf_release(&config);
	strbuf_release(&why);
	strbuf_release(&dir);
	return ret;
}

void cdt_remote_counters(uint64_t *requests, uint64_t *bytes)
{
	cdt_http_counters(requests, bytes);
}

void cdt_remote_seed_counters(uint64_t *chunks, uint64_t *bytes)
{
	*chunks = *bytes = 0;
	if (the_remote && the_remote->seeds)
		cdt_seeds_counters(the_remote->seeds, chunks, bytes);
}
