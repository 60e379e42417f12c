/* remote.c: a store read over HTTP(S), opened as a local cache store filled on demand. */
#include "ops/remote.h"
#include "ops/cache-trim.h"
#include "ops/seed.h"
#include "format/config.h"
#include "format/manifest.h"
#include "format/info.h"
#include "format/names.h"
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

/*
 * Pack data is fetched in aligned blocks of this size, and a read brings
 * up to READAHEAD bytes of missing blocks after it (the next reads of a
 * file want them), unless seeds are to be asked first for each chunk.
 */
#define BLOCK CDT_CACHE_BLOCK
#define READAHEAD (1u << 20)
/* The most bytes of one whole file (an index, a manifest, a table) fetched. */
#define WHOLE_MAX ((size_t)1 << 30)

/* A .have file (ops/cache-trim.h): one byte per block of the pack, 1 when the block is here. */
enum { BLOCK_MISSING = 0, BLOCK_HERE = CDT_CACHE_HERE, BLOCK_COMING = 2 };

struct rpack {
	char name[CDT_ID_HEXLEN + 6];
	uint64_t size, nblocks;
	int fd;			/* the sparse .pack, read-write */
	int havefd;		/* its .have */
	unsigned char *have;	/* nblocks states (BLOCK_*) */
	int used;		/* read by this process: its .have was touched */
};

struct remote {
	char *base;		/* the URL, without a trailing slash */
	char *dir;		/* the cache store */
	int packsfd;
	pthread_mutex_t mu;	/* guards every rpack's have[] */
	pthread_cond_t cv;	/* a block stopped coming */
	struct rpack *packs;
	size_t npacks;
	struct cdt_seeds *seeds;	/* NULL: none */
	int writable;		/* s3:// (push and pull write through cdt_remote_publish()) */
};

/* The one remote store of this process (the pack filler has no store). */
static struct remote *the_remote;

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

static void object_url(const struct remote *r, const char *path, struct strbuf *url)
{
	strbuf_reset(url);
	strbuf_addstr(url, r->base);
	strbuf_addch(url, '/');
	add_url_path(url, path);
}

/* GET a whole file of the remote store (relative path) into out. */
static int get_whole(const struct remote *r, const char *path, size_t max, struct strbuf *out,
		     struct strbuf *why)
{
	struct strbuf url = STRBUF_INIT;
	int ret;

	object_url(r, path, &url);
	ret = cdt_http_get(url.buf, 0, 0, max, out, why);
	strbuf_release(&url);
	return ret;
}

/* PUT bytes to a path of the remote store: 0, 1 (create_only: there already) or -errno (reported). */
static int put_object(const struct remote *r, const char *path, const struct strbuf *body,
		      int create_only)
{
	struct strbuf url = STRBUF_INIT, why = STRBUF_INIT;
	int ret;

	object_url(r, path, &url);
	ret = cdt_http_put(url.buf, body->buf ? body->buf : "", -1, body->len, create_only, &why);
	if (ret < 0)
		error("%s", why.buf);
	strbuf_release(&url);
	strbuf_release(&why);
	return ret;
}

/* Write buf to dirfd/path through tmp/ and a rename (replacing). 0 or -errno. */
static int put_file(int rootfd, int dirfd, const char *path, const void *buf, size_t len)
{
	struct strbuf tmp = STRBUF_INIT;
	int tmpfd, fd, ret;
	char *slash;

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
	slash = strrchr(path, '/');
	if (!ret && slash) {
		char *parent = xstrndup(path, (size_t)(slash - path));

		ret = mkdirat_p_flags(dirfd, parent, 0);
		free(parent);
	}
	if (!ret && renameat(tmpfd, tmp.buf, dirfd, path) < 0)
		ret = -errno;
	if (ret)
		unlinkat(tmpfd, tmp.buf, 0);
	tmpfile_forget(tmpfd, tmp.buf);
	close(tmpfd);
	strbuf_release(&tmp);
	return ret;
}

/* cdt_store_fetch(): a manifest or a loose object, fetched whole. */
static int fetch_file(struct cdt_store *s, enum cdt_store_dir d, const char *path, void *data)
{
	struct remote *r = data;
	struct strbuf rel = STRBUF_INIT, buf = STRBUF_INIT, why = STRBUF_INIT;
	int ret;

	strbuf_addf(&rel, "%s/%s", cdt_store_dir_name(d), path);
	ret = get_whole(r, rel.buf, WHOLE_MAX, &buf, &why);
	if (!ret)
		ret = put_file(cdt_store_rootfd(s), cdt_store_dirfd(s, d), path, buf.buf, buf.len);
	if (ret && ret != -ENOENT)
		error("%s", why.len ? why.buf : cdt_strerror(ret));
	strbuf_release(&rel);
	strbuf_release(&buf);
	strbuf_release(&why);
	return ret;
}

static struct rpack *find_rpack(struct remote *r, const char *name)
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

		object_url(r, rel, &url);
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

	if (!r || packsfd != r->packsfd || !(p = find_rpack(r, name)))
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

/* Make sure packs/<name>.idx is the remote's, and the sparse pack and its .have exist. */
static int cache_pack(struct remote *r, int rootfd, const struct cdt_info_pack *ip,
		      struct rpack *p)
{
	struct strbuf path = STRBUF_INIT, buf = STRBUF_INIT, why = STRBUF_INIT;
	struct cdt_hasher *h;
	struct cdt_id sum;
	struct stat st;
	int ret = 0;

	memset(p, 0, sizeof(*p));
	p->fd = p->havefd = -1;
	memcpy(p->name, ip->name, sizeof(p->name));
	p->size = ip->pack_bytes;
	p->nblocks = (p->size + BLOCK - 1) / BLOCK;

	strbuf_addf(&path, "%s.idx", p->name);
	if (fstatat(r->packsfd, path.buf, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode) || (uint64_t)st.st_size != ip->idx_bytes) {
		strbuf_reset(&path);
		strbuf_addf(&path, "packs/%s.idx", p->name);
		ret = get_whole(r, path.buf, MIN(WHOLE_MAX, ip->idx_bytes), &buf, &why);
		if (ret) {
			ret = error_code(ret, "%s", why.buf);
			goto out;
		}
		/* An index is whole or refused: its checksum ends it. */
		h = cdt_hasher_new();
		if (buf.len >= CDT_ID_LEN)
			cdt_hasher_update(h, buf.buf, buf.len - CDT_ID_LEN);
		cdt_hasher_final(h, &sum);
		cdt_hasher_free(h);
		if (buf.len != ip->idx_bytes || buf.len < CDT_ID_LEN ||
		    memcmp(sum.b, buf.buf + buf.len - CDT_ID_LEN, CDT_ID_LEN)) {
			ret = error_code(-CDT_ECORRUPT,
					 "%s/%s: damaged pack index (size or checksum)", r->base,
					 path.buf);
			goto out;
		}
		strbuf_reset(&path);
		strbuf_addf(&path, "%s.idx", p->name);
		ret = put_file(rootfd, r->packsfd, path.buf, buf.buf, buf.len);
		if (ret) {
			ret = error_code(ret, "cannot write '%s/packs/%s': %s", r->dir, path.buf,
					 cdt_strerror(ret));
			goto out;
		}
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

	ret = get_whole(r, "info/packs", WHOLE_MAX, &buf, &why);
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
	ret = put_file(rootfd, rootfd, "info/packs", buf.buf, buf.len);
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

struct names_stage {
	int dirfd;		/* the staging directory, standing for names/ */
	size_t count;
};

/* Write one entry of a table into the staging tree, where names/ would hold it. */
static int stage_entry(const struct cdt_name_entry *e, const unsigned char *raw, size_t len,
		       void *data)
{
	struct names_stage *ns = data;
	struct strbuf path = STRBUF_INIT;
	char *slash;
	int fd, ret;

	strbuf_addstr(&path, e->name);
	if (e->type == CDT_NAME_DIR)
		strbuf_addstr(&path, "/" CDT_NAME_DIRENT);
	slash = strrchr(path.buf, '/');
	ret = 0;
	if (slash) {
		*slash = '\0';
		ret = mkdirat_p_flags(ns->dirfd, path.buf, 0);
		*slash = '/';
	}
	if (!ret) {
		fd = openat(ns->dirfd, path.buf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0666);
		if (fd < 0) {
			ret = -errno;
		} else {
			ret = write_all(fd, raw, len);
			close(fd);
		}
	}
	strbuf_release(&path);
	ns->count++;
	return ret;
}

/* Build names/<prefix> afresh from the table in buf, then put it in place of the old one. */
static int install_prefix(struct remote *r, struct cdt_store *s, const char *prefix,
			  const struct strbuf *table)
{
	struct strbuf stage = STRBUF_INIT, old = STRBUF_INIT, why = STRBUF_INIT;
	int tmpfd = cdt_store_dirfd(s, CDT_DIR_TMP), namesfd = cdt_store_dirfd(s, CDT_DIR_NAMES);
	struct names_stage ns = { -1, 0 };
	int ret, fd;

	/* A fresh staging directory in tmp/ with a unique name. */
	fd = tmpfile_openat(tmpfd, "names", &stage);
	if (fd < 0)
		return error_code(fd, "cannot write to '%s/tmp': %s", r->dir, cdt_strerror(fd));
	close(fd);
	unlinkat(tmpfd, stage.buf, 0);
	tmpfile_forget(tmpfd, stage.buf);
	if (mkdirat(tmpfd, stage.buf, 0777) < 0 ||
	    (ns.dirfd = openat(tmpfd, stage.buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		ret = error_code(-errno, "cannot write to '%s/tmp': %s", r->dir,
				 cdt_strerror(errno));
		goto out;
	}
	ret = cdt_info_names_parse((const unsigned char *)table->buf, table->len, prefix,
				   stage_entry, &ns, &why);
	if (ret == -CDT_ECORRUPT) {
		ret = error_code(ret, "%s/info/names/%s is damaged: %s", r->base, quote(prefix),
				 why.buf);
		goto out;
	} else if (ret) {
		ret = error_code(ret, "cannot write the names of '%s' to '%s/tmp': %s",
				 quote(prefix), r->dir, cdt_strerror(ret));
		goto out;
	}
	/* The old tree out of the way, the new one in, the old one removed. */
	strbuf_addf(&old, "%s.old", stage.buf);
	if (renameat(namesfd, prefix, tmpfd, old.buf) < 0 && errno != ENOENT) {
		ret = error_code(-errno, "cannot replace '%s/names/%s': %s", r->dir, quote(prefix),
				 cdt_strerror(errno));
		goto out;
	}
	strbuf_addf(&stage, "/%s", prefix);
	ret = renameat(tmpfd, stage.buf, namesfd, prefix) < 0 ? -errno : 0;
	strbuf_setlen(&stage, stage.len - strlen(prefix) - 1);
	if (ret) {
		ret = error_code(ret, "cannot replace '%s/names/%s': %s", r->dir, quote(prefix),
				 cdt_strerror(ret));
		goto out;
	}
out:
	if (ns.dirfd >= 0)
		close(ns.dirfd);
	if (stage.len)
		remove_tree_at(tmpfd, stage.buf, 0);
	if (old.len)
		remove_tree_at(tmpfd, old.buf, 0);
	strbuf_release(&stage);
	strbuf_release(&old);
	strbuf_release(&why);
	return ret;
}

/*
 * names/ of the cache as info/prefixes says: tables that changed are
 * fetched (checked against the sums listed) and their trees rebuilt;
 * prefixes no longer listed go. The tables fetched are kept in
 * info/names/ of the cache, so that an unchanged one is not fetched again.
 */
static int refresh_names(struct remote *r, struct cdt_store *s)
{
	struct strbuf buf = STRBUF_INIT, why = STRBUF_INIT, path = STRBUF_INIT,
		      have = STRBUF_INIT, listing = STRBUF_INIT;
	int rootfd = cdt_store_rootfd(s), infofd = -1, ret;
	struct cdt_info_prefix *pre = NULL;
	struct cdt_dent *dents = NULL;
	size_t n = 0, nd = 0, i, k;

	ret = get_whole(r, "info/prefixes", WHOLE_MAX, &buf, &why);
	if (ret) {
		ret = error_code(ret, "%s", why.buf);
		goto out;
	}
	ret = cdt_info_prefixes_parse(buf.buf, buf.len, &pre, &n, &why);
	if (ret) {
		ret = error_code(ret, "%s/info/prefixes is damaged: %s", r->base, why.buf);
		goto out;
	}
	strbuf_addbuf(&listing, &buf);
	if ((ret = mkdirat_p_flags(rootfd, "info/names", 0)) < 0 ||
	    (infofd = openat(rootfd, "info/names", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		ret = error_code(ret < 0 ? ret : -errno, "cannot create '%s/info/names': %s",
				 r->dir, cdt_strerror(ret < 0 ? ret : errno));
		goto out;
	}
	for (i = 0; i < n; i++) {
		const char *p = pre[i].prefix;
		struct stat st;

		/* The table kept from last time, if it is the one listed now. */
		strbuf_reset(&have);
		if (read_small_fileat(infofd, p, WHOLE_MAX, &have) == 0 &&
		    have.len == pre[i].bytes && have.len >= CDT_ID_LEN &&
		    !memcmp(have.buf + have.len - CDT_ID_LEN, pre[i].sum.b, CDT_ID_LEN) &&
		    fstatat(cdt_store_dirfd(s, CDT_DIR_NAMES), p, &st, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		strbuf_reset(&path);
		strbuf_addf(&path, "info/names/%s", p);
		strbuf_reset(&buf);
		strbuf_reset(&why);
		ret = get_whole(r, path.buf, WHOLE_MAX, &buf, &why);
		if (ret) {
			ret = error_code(ret, "%s", why.buf);
			goto out;
		}
		if (buf.len != pre[i].bytes || buf.len < CDT_ID_LEN ||
		    memcmp(buf.buf + buf.len - CDT_ID_LEN, pre[i].sum.b, CDT_ID_LEN)) {
			ret = error_code(-CDT_ECORRUPT,
					 "%s/%s is not the table info/prefixes lists (changed "
					 "meanwhile? try again)", r->base, quote(path.buf));
			goto out;
		}
		ret = install_prefix(r, s, p, &buf);
		if (ret)
			goto out;
		ret = put_file(rootfd, infofd, p, buf.buf, buf.len);
		if (ret) {
			ret = error_code(ret, "cannot write '%s/info/names/%s': %s", r->dir, quote(p),
					 cdt_strerror(ret));
			goto out;
		}
	}
	/* Written once every table it lists is in place. */
	ret = put_file(rootfd, rootfd, "info/prefixes", listing.buf, listing.len);
	if (ret) {
		ret = error_code(ret, "cannot write '%s/info/prefixes': %s", r->dir,
				 cdt_strerror(ret));
		goto out;
	}
	/* Prefixes no longer there. */
	if (cdt_list_dir(cdt_store_dirfd(s, CDT_DIR_NAMES), ".", &dents, &nd) == 0) {
		for (k = 0; k < nd; k++) {
			for (i = 0; i < n && strcmp(pre[i].prefix, dents[k].name); i++)
				;
			if (i == n) {
				remove_tree_at(cdt_store_dirfd(s, CDT_DIR_NAMES), dents[k].name, 0);
				unlinkat(infofd, dents[k].name, 0);
			}
		}
		cdt_dents_free(dents, nd);
	}
out:
	if (infofd >= 0)
		close(infofd);
	cdt_info_prefixes_free(pre, n);
	strbuf_release(&buf);
	strbuf_release(&why);
	strbuf_release(&path);
	strbuf_release(&have);
	strbuf_release(&listing);
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
	ret = put_file(rootfd, rootfd, "config", config->buf, config->len);
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
static int remote_base(const char *url, struct strbuf *base)
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

/* PUT a file of the cache (relative to its root) to the same path of the remote store. */
static int upload_file(const struct remote *r, int rootfd, const char *path, int create_only)
{
	struct strbuf url = STRBUF_INIT, why = STRBUF_INIT;
	struct stat st;
	int fd, ret;

	fd = openat(rootfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = error_code(-errno, "cannot read '%s/%s': %s", r->dir, quote(path),
				 cdt_strerror(errno));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	object_url(r, path, &url);
	ret = cdt_http_put(url.buf, NULL, fd, (uint64_t)st.st_size, create_only, &why);
	close(fd);
	if (ret < 0)
		error("%s", why.buf);
	strbuf_release(&url);
	strbuf_release(&why);
	return ret < 0 ? ret : 0;
}

int cdt_remote_init(const char *url, const struct cdt_config *cfg_in)
{
	struct remote r = { 0 };
	struct strbuf base = STRBUF_INIT, text = STRBUF_INIT, why = STRBUF_INIT,
		      got = STRBUF_INIT;
	struct cdt_config cfg = *cfg_in;
	unsigned char rnd[16];
	int ret, i;

	if (strncmp(url, "s3://", 5))
		return error_code(-EINVAL, "cannot create a store at '%s': a store over HTTP is "
				  "read-only (create it as a directory and serve that)", url);
	if (!cdt_http_available())
		return error_code(-ENOTSUP, "cannot create '%s': this cdt was built without "
				  "remote stores (libcurl)", url);
	if (cdt_config_check(&cfg, &why)) {
		ret = error_code(-EINVAL, "%s", why.buf);
		goto out;
	}
	ret = remote_base(url, &base);
	if (ret)
		goto out;
	r.base = base.buf;
	ret = get_whole(&r, "config", CDT_CONFIG_MAX, &got, &why);
	if (!ret) {
		ret = error_code(-EEXIST, "'%s' is already a cdt store", url);
		goto out;
	} else if (ret != -ENOENT) {
		ret = error_code(ret, "%s", why.buf);
		goto out;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		ret = error_code(-errno, "cannot get random bytes for the store id: %s",
				 cdt_strerror(errno));
		goto out;
	}
	for (i = 0; i < 16; i++)
		sprintf(cfg.store_id + 2 * i, "%02x", rnd[i]);
	/* The lists first, the config last: its presence marks a complete store. */
	cdt_info_packs_format(NULL, 0, &text);
	ret = put_object(&r, "info/packs", &text, 0);
	strbuf_reset(&text);
	cdt_info_prefixes_format(NULL, 0, &text);
	if (!ret)
		ret = put_object(&r, "info/prefixes", &text, 0);
	strbuf_reset(&text);
	cdt_config_format(&cfg, &text);
	if (!ret)
		ret = put_object(&r, "config", &text, 1);
	if (ret == 1)
		ret = error_code(-EEXIST, "'%s' is already a cdt store (made meanwhile)", url);
out:
	strbuf_release(&base);
	strbuf_release(&text);
	strbuf_release(&why);
	strbuf_release(&got);
	cdt_http_cleanup();
	return ret;
}

int cdt_remote_writable(const struct cdt_store *s)
{
	return the_remote && cdt_store_remote_url(s) && the_remote->writable;
}

struct publish {
	const struct remote *r;
	int rootfd;
	char **paths;		/* files to send, relative to the cache's root */
	int create_only;
	int ret;
	pthread_mutex_t mu;
};

static void publish_one(size_t i, int worker, void *data)
{
	struct publish *pb = data;
	int ret = upload_file(pb->r, pb->rootfd, pb->paths[i], pb->create_only);

	if (ret < 0) {
		pthread_mutex_lock(&pb->mu);
		if (!pb->ret)
			pb->ret = ret;
		pthread_mutex_unlock(&pb->mu);
	}
}

/* Send files in parallel (several requests in flight); 0 or the first error. */
static int publish_files(struct publish *pb, struct cdt_workers *w, char **paths, size_t n,
			 int create_only)
{
	pb->paths = paths;
	pb->create_only = create_only;
	pb->ret = 0;
	cdt_workers_run(w, n, publish_one, pb);
	return pb->ret;
}

static void free_paths(char **v, size_t n)
{
	while (n--)
		free(v[n]);
	free(v);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int cdt_remote_publish(struct cdt_store *s, const char *const *names, size_t n,
		       uint64_t *packs_sent, uint64_t *bytes_sent)
{
	struct remote *r = the_remote;
	struct publish pb;
	struct cdt_workers *w = NULL;
	struct cdt_dent *dents = NULL;
	char **manifests = NULL, **entries = NULL, **tables = NULL;
	size_t nd = 0, nm = 0, am = 0, ne = 0, ae = 0, nt = 0, at = 0, i;
	uint64_t npacks = 0, nbytes = 0, req0, bytes0, req1;

	int rootfd = cdt_store_rootfd(s), ret = 0;

	if (!cdt_remote_writable(s))
		return error_code(-EROFS, "'%s' is read-only", cdt_store_remote_url(s));
	cdt_http_counters(&req0, &bytes0);
	memset(&pb, 0, sizeof(pb));
	pb.r = r;
	pb.rootfd = rootfd;
	pthread_mutex_init(&pb.mu, NULL);
	w = cdt_workers_new(7);

	/* 1. New packs, each pack before its index (the index makes it visible). */
	ret = cdt_list_dir(r->packsfd, ".", &dents, &nd);
	if (ret < 0) {
		ret = error_code(ret, "cannot list '%s/packs': %s", r->dir, cdt_strerror(ret));
		goto out;
	}
	for (i = 0; i < nd && !ret; i++) {
		size_t len = strlen(dents[i].name);
		struct strbuf path = STRBUF_INIT;
		char name[CDT_ID_HEXLEN + 6];
		struct stat st;

		if (len != CDT_ID_HEXLEN + 9 || strncmp(dents[i].name, "pack-", 5) ||
		    strcmp(dents[i].name + len - 4, ".idx"))
			continue;
		memcpy(name, dents[i].name, len - 4);
		name[len - 4] = '\0';
		if (find_rpack(r, name))
			continue;	/* the remote store has it */
		strbuf_addf(&path, "packs/%s.pack", name);
		ret = upload_file(r, rootfd, path.buf, 1);
		cdt_crash_point("publish-pack");
		/* Its sketch (deltas of later adds there use it), if the pack has one. */
		strbuf_reset(&path);
		strbuf_addf(&path, "packs/%s.sketch", name);
		if (!ret && faccessat(rootfd, path.buf, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			ret = upload_file(r, rootfd, path.buf, 1);
		strbuf_reset(&path);
		strbuf_addf(&path, "packs/%s.idx", name);
		if (!ret)
			ret = upload_file(r, rootfd, path.buf, 1);
		/* The cache holds all of it: say so, or the next open starts it empty. */
		strbuf_reset(&path);
		strbuf_addf(&path, "%s.pack", name);
		if (!ret && fstatat(r->packsfd, path.buf, &st, 0) == 0) {
			uint64_t nb = ((uint64_t)st.st_size + BLOCK - 1) / BLOCK;
			unsigned char *ones = xmalloc(nb ? nb : 1);
			struct strbuf have = STRBUF_INIT;

			memset(ones, BLOCK_HERE, nb ? nb : 1);
			strbuf_addf(&have, "%s.have", name);
			if (put_file(rootfd, r->packsfd, have.buf, ones, nb) < 0)
				warning("cannot note what the cache of pack %s holds", name);
			strbuf_release(&have);
			free(ones);
		}
		if (!ret)
			npacks++;
		strbuf_release(&path);
	}
	cdt_dents_free(dents, nd);
	if (ret)
		goto out;
	/* 2. The list of packs, before anything that needs a new one. */
	if (npacks) {
		ret = upload_file(r, rootfd, "info/packs", 0);
		if (ret)
			goto out;
	}
	cdt_crash_point("publish-packs-listed");

	/* 3. Manifests, 4. entries: the files of the names written. */
	for (i = 0; i < n; i++) {
		struct cdt_name_entry e;
		struct strbuf path = STRBUF_INIT;
		char hex[CDT_ID_HEXLEN + 2];
		size_t plen;
		int found = 0;

		memset(&e, 0, sizeof(e));
		if (cdt_name_read(s, names[i], &e, NULL) < 0)
			continue;	/* replaced or removed since: nothing of it to send */
		if (cdt_name_has_content(&e)) {
			strbuf_addf(&path, "manifests/%s", cdt_id_path(&e.content, hex));
			ALLOC_GROW(manifests, nm + 1, am);
			manifests[nm++] = strbuf_detach(&path, NULL);
		}
		strbuf_addf(&path, "names/%s", e.name);
		if (e.type == CDT_NAME_DIR)
			strbuf_addstr(&path, "/" CDT_NAME_DIRENT);
		ALLOC_GROW(entries, ne + 1, ae);
		entries[ne++] = strbuf_detach(&path, NULL);
		plen = cdt_info_prefix_len(e.name);
		strbuf_addstr(&path, "info/names/");
		strbuf_add(&path, e.name, plen);
		for (size_t k = 0; k < nt && !found; k++)
			found = !strcmp(tables[k], path.buf);
		if (!found) {
			ALLOC_GROW(tables, nt + 1, at);
			tables[nt++] = strbuf_detach(&path, NULL);
		}
		strbuf_release(&path);
		cdt_name_entry_release(&e);
	}
	if (nm > 1)
		qsort(manifests, nm, sizeof(*manifests), cmp_str);
	ret = publish_files(&pb, w, manifests, nm, 1);
	if (ret)
		goto out;
	cdt_crash_point("publish-manifests");
	ret = publish_files(&pb, w, entries, ne, 0);
	if (ret)
		goto out;
	cdt_crash_point("publish-names");
	/* 5. The tables of the prefixes touched, 6. the list of tables: now they are seen. */
	ret = publish_files(&pb, w, tables, nt, 0);
	if (ret)
		goto out;
	cdt_crash_point("publish-tables");
	if (nt)
		ret = upload_file(r, rootfd, "info/prefixes", 0);
out:
	cdt_workers_free(w);
	pthread_mutex_destroy(&pb.mu);
	free_paths(manifests, nm);
	free_paths(entries, ne);
	free_paths(tables, nt);
	cdt_http_counters(&req1, &nbytes);
	if (packs_sent)
		*packs_sent = npacks;
	if (bytes_sent)
		*bytes_sent = nbytes - bytes0;
	return ret;
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

	ret = get_whole(r, "config", CDT_CONFIG_MAX, &config, &why);
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
		ret = refresh_names(r, *out);
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
