/* remote.c: a store read over HTTP(S), opened as a local cache store filled on demand (its packs: remote-packs.c). */
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
#include "base/testpoint.h"

#include <ctype.h>
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

int remote_place_new_file(int rootfd, int dirfd, const char *path,
			  int (*fill)(int fd, void *data), void *data)
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
	ret = fill(fd, data);
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

struct bytes {
	const void *buf;
	size_t len;
};

static int fill_bytes(int fd, void *data)
{
	const struct bytes *b = data;

	return write_all(fd, b->buf, b->len);
}

/* Write buf to dirfd/path through tmp/ and a rename (replacing). 0 or -errno. */
int remote_put_file(int rootfd, int dirfd, const char *path, const void *buf, size_t len)
{
	struct bytes b = { buf, len };

	return remote_place_new_file(rootfd, dirfd, path, fill_bytes, &b);
}

struct info_fetch {
	const char *url;
	uint64_t max;
	int (*use)(int fd, void *data);
	void *data;
	struct strbuf *why;
	int called, used;	/* use() was called; it took the file */
};

static int fill_info(int fd, void *data)
{
	struct info_fetch *f = data;
	int ret = cdt_http_get_file(f->url, f->max, fd, f->why);

	if (ret)
		return ret;
	f->called = 1;
	ret = f->use(fd, f->data);
	f->used = !ret;
	return ret;
}

int remote_get_info(const struct remote *r, int rootfd, const char *path,
		    int (*use)(int fd, void *data), void *data, struct strbuf *why)
{
	struct strbuf url = STRBUF_INIT;
	struct info_fetch f = { NULL, CDT_INFO_TEXT_MAX, use, data, why, 0, 0 };
	int ret;

	remote_object_url(r, path, &url);
	f.url = url.buf;
	ret = remote_place_new_file(rootfd, rootfd, path, fill_info, &f);
	/* The cache's own failure: no tmp/, or the file not put in place. */
	if (ret && !why->len && (!f.called || f.used))
		strbuf_addf(why, "cannot write '%s/%s': %s", r->dir, f.called ? path : "tmp",
			    cdt_strerror(ret));
	strbuf_release(&url);
	return ret;
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

struct manifest_fetch {
	const char *url, *path;
	struct strbuf *why;
};

/* The manifest from its URL into fd, checked whole (whole_manifest()). */
static int fill_manifest(int fd, void *data)
{
	struct manifest_fetch *mf = data;
	int ret = cdt_http_get_file(mf->url, UINT64_MAX, fd, mf->why);

	if (ret)
		return ret;
	ret = whole_manifest(fd, mf->path);
	if (ret == 0) {
		strbuf_addf(mf->why, "%s: damaged manifest (checksum or file id)", mf->url);
		return -CDT_ECORRUPT;
	}
	return ret < 0 ? ret : 0;
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
	struct manifest_fetch mf = { url, path, why };

	return remote_place_new_file(cdt_store_rootfd(s), cdt_store_dirfd(s, CDT_DIR_MANIFESTS), path,
			      fill_manifest, &mf);
}

/*
 * cdt_store_fetch(): a manifest or a loose object, fetched whole. A loose
 * object is at most the largest object the store's chunks make (more is
 * refused as it comes, not held), and is checked when read, and fetched
 * again then.
 */
static int fetch_file(struct cdt_store *s, enum cdt_store_dir d, const char *path,
		      struct strbuf *reason, void *data)
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
	if (ret && ret != -ENOENT && !why.len)
		strbuf_addf(&why, "cannot write '%s/%s': %s", r->dir, rel.buf,
			    cdt_strerror(ret));
	/* The caller's error gives the reason as its cause: one line. */
	if (ret && ret != -ENOENT && reason)
		strbuf_addbuf(reason, &why);
	else if (ret && ret != -ENOENT)
		error("%s", why.buf);
	strbuf_release(&rel);
	strbuf_release(&url);
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

/*
 * The name of a store's cache under the cache root: its store id and a
 * short hash of its location, the base URL with the scheme and host in
 * lower case and without a default port. Copies of one store (cp -a,
 * rsync) keep its id and may differ: served from two places, each has a
 * cache of its own, since opening one refreshes the names and packs its
 * cache lists, under a view or a restore reading the other.
 */
static void add_cache_name(struct strbuf *dir, const char *store_id, const char *base)
{
	struct strbuf loc = STRBUF_INIT;
	const char *host = strstr(base, "://"), *end;
	char hex[CDT_ID_HEXLEN + 1];
	struct cdt_id id;
	size_t i;

	host = host ? host + 3 : base;
	end = host + strcspn(host, "/");
	for (i = 0; base + i < end; i++)
		strbuf_addch(&loc, (char)tolower((unsigned char)base[i]));
	if ((!strncmp(loc.buf, "https://", 8) && loc.len > 4 &&
	     !strcmp(loc.buf + loc.len - 4, ":443")) ||
	    (!strncmp(loc.buf, "http://", 7) && loc.len > 3 && !strcmp(loc.buf + loc.len - 3, ":80")))
		strbuf_setlen(&loc, strrchr(loc.buf, ':') - loc.buf);
	strbuf_addstr(&loc, end);
	cdt_hash(loc.buf, loc.len, &id);
	cdt_id_to_hex(&id, hex);
	strbuf_addf(dir, "/%s-%.16s", store_id, hex);
	strbuf_release(&loc);
}

static void free_remote(struct remote *r)
{
	while (r->npacks--)
		remote_rpack_free(r->packs[r->npacks]);
	while (r->ngone--)
		remote_rpack_free(r->gone[r->ngone]);
	free(r->gone);
	cdt_seeds_free(r->seeds);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r->packs);
	free(r->base);
	free(r->dir);
	strbuf_release(&r->config);
	free(r->config_damage);
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

/*
 * The remote store's config is damaged (`damage` says how; r->config
 * holds its bytes): its copy, when it comes, parses and is this store's,
 * is used in its place (into cfg and r->config), and that is said. 0, or
 * -1 (no usable copy; nothing changed but damage, which may say why the
 * copy is not used).
 */
static int use_config_copy(struct remote *r, struct strbuf *damage, struct cdt_config *cfg)
{
	struct strbuf text = STRBUF_INIT, why = STRBUF_INIT;
	struct cdt_config copy;
	int ret;

	ret = remote_get_whole(r, CDT_CONFIG_COPY, CDT_CONFIG_MAX, &text, &why);
	if (!ret)
		ret = cdt_config_parse(text.buf, text.len, &copy, &why);
	/* Another store's copy: its id would name the cache, its parameters the reads. */
	if (!ret && !cdt_config_copy_fits(r->config.buf, r->config.len, &copy, damage))
		ret = -1;
	strbuf_release(&why);
	if (ret) {
		strbuf_release(&text);
		return -1;
	}
	*cfg = copy;
	strbuf_release(&r->config);
	r->config = text;	/* taken over */
	r->config_damage = xstrdup(damage->buf);
	warning("store '%s' has a damaged config (%s): using its copy '%s'", r->base, damage->buf,
		CDT_CONFIG_COPY);
	return 0;
}

int cdt_remote_open(const char *url, const char *cache_dir, struct cdt_store **out)
{
	return cdt_remote_open_seeded(url, cache_dir, CDT_CACHE_SIZE_DEFAULT, NULL, 0, out);
}

/* Take the cache's refresh lock: its descriptor (close() to let go), or -errno (said). */
static int lock_cache(struct cdt_store *s, const struct remote *r)
{
	int lockfd = openat(cdt_store_rootfd(s), "cache.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0666);

	if (lockfd < 0 || flock(lockfd, LOCK_EX) < 0) {
		int ret = error_code(-errno, "cannot lock the cache '%s': %s", r->dir,
				     cdt_strerror(errno));

		if (lockfd >= 0)
			close(lockfd);
		return ret;
	}
	return lockfd;
}

/*
 * The store's refresh hook: a chunk could not be read from the packs
 * listed. When a pack listed was found gone from the server (a gc there
 * replaced it), info/packs is fetched again, once for all the readers
 * that failed on it; else (a server down, stalled) nothing is asked and
 * -EAGAIN says that reading again would fail the same way.
 */
static int refresh_after_failed_read(struct cdt_store *s, void *data)
{
	struct remote *r = data;
	int ret, lockfd, was, vanished;

	pthread_mutex_lock(&r->mu);
	vanished = r->vanished;
	pthread_mutex_unlock(&r->mu);
	if (!vanished)
		return -EAGAIN;
	was = cdt_errors_as_warnings(1);
	lockfd = lock_cache(s, r);
	if (lockfd < 0) {
		cdt_errors_as_warnings(was);
		return lockfd;
	}
	pthread_mutex_lock(&r->mu);
	vanished = r->vanished;
	r->vanished = 0;
	pthread_mutex_unlock(&r->mu);
	/* Not vanished any more: listed again while this thread waited for the lock. */
	ret = vanished ? remote_refresh_packs(r, cdt_store_rootfd(s), 1) : 0;
	close(lockfd);
	cdt_errors_as_warnings(was);
	return ret;
}

int cdt_remote_open_seeded(const char *url, const char *cache_dir, uint64_t cache_size,
			   const char *const *seeds, size_t nseeds, struct cdt_store **out)
{
	struct remote *r;
	struct strbuf why = STRBUF_INIT, dir = STRBUF_INIT;
	struct cdt_store_remote hook;
	struct cdt_config cfg;
	int ret, lockfd = -1;

	*out = NULL;
	if (the_remote)
		return error_code(-EBUSY, "one remote store per command");
	if (!cdt_http_available(&why)) {
		ret = error_code(-ENOTSUP, "cannot read '%s': %s", url, why.buf);
		strbuf_release(&why);
		return ret;
	}
	r = xcalloc(1, sizeof(*r));
	r->packsfd = -1;
	strbuf_init(&r->config, 0);
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

	ret = remote_get_whole(r, "config", CDT_CONFIG_MAX, &r->config, &why);
	if (ret == -ENOENT) {
		ret = error_code(ret, "'%s' is not a cdt store (no config)", r->base);
		goto fail;
	} else if (ret) {
		ret = error_code(ret, "%s", why.buf);
		goto fail;
	}
	ret = cdt_config_parse(r->config.buf, r->config.len, &cfg, &why);
	/* Damaged (a newer format is not): its copy, when that is whole, stands in. */
	if (ret && ret != -CDT_EVERSION && !use_config_copy(r, &why, &cfg))
		ret = 0;
	if (ret) {
		ret = error_code(ret, "cannot use store '%s': %s", r->base, why.buf);
		goto fail;
	}
	if (cache_dir && *cache_dir)
		strbuf_addstr(&dir, cache_dir);
	else
		default_cache_root(&dir);
	add_cache_name(&dir, cfg.store_id, r->base);
	r->dir = strbuf_detach(&dir, NULL);
	ret = prepare_cache(r->dir, &r->config);
	if (ret)
		goto fail;
	ret = cdt_store_open(r->dir, out);
	if (ret)
		goto fail;
	/* One refresher at a time per cache (readers of it do not wait). */
	lockfd = lock_cache(*out, r);
	if (lockfd < 0) {
		ret = lockfd;
		goto fail;
	}
	r->packsfd = cdt_store_dirfd(*out, CDT_DIR_PACKS);
	ret = remote_refresh_packs(r, cdt_store_rootfd(*out), 0);
	if (!ret)
		ret = remote_refresh_mpacks(r, *out);
	if (!ret)
		ret = remote_refresh_names(r, *out);
	/* Within its bound, before anything of it is read (only at open). */
	if (!ret)
		ret = cdt_cache_trim(*out, cache_size, NULL);
	if (!ret)
		for (size_t i = 0; i < r->npacks; i++)
			remote_load_have(r, r->packs[i]);
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
	hook.refresh = refresh_after_failed_read;
	hook.data = r;
	cdt_store_set_remote(*out, &hook);
	the_remote = r;
	cdt_store_state(*out, &the_remote, take_remote, drop_remote);
	cdt_pack_set_filler(remote_fill_pack, r);
	strbuf_release(&why);
	return 0;
fail:
	if (lockfd >= 0)
		close(lockfd);
	cdt_store_close(*out);
	*out = NULL;
	free_remote(r);
	cdt_http_cleanup();
	strbuf_release(&why);
	strbuf_release(&dir);
	return ret;
}

int cdt_remote_refresh(struct cdt_store *s)
{
	struct remote *r = the_remote;
	int ret, lockfd;

	if (!r || !cdt_store_remote_url(s))
		return 0;
	lockfd = lock_cache(s, r);
	if (lockfd < 0)
		return lockfd;
	ret = remote_refresh_packs(r, cdt_store_rootfd(s), 1);
	if (!ret)
		ret = remote_refresh_mpacks(r, s);
	if (!ret)
		ret = remote_refresh_names(r, s);
	close(lockfd);
	return ret;
}

const char *cdt_remote_config_damage(const struct cdt_store *s)
{
	return the_remote && cdt_store_remote_url(s) ? the_remote->config_damage : NULL;
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
