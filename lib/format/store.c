/* store.c: creating, finding, opening and locking a store. */
#include "format/store.h"
#include "format/object.h"
#include "base/compress.h"
#include "base/fsutil.h"
#include "base/hash.h"
#include "base/util.h"

#include <dirent.h>
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

struct cdt_store {
	char *path;
	int rootfd;
	unsigned mode;		/* permission bits of the store's directory */
	int dirfds[CDT_DIR__COUNT];
	int lockfd;
	struct cdt_config cfg;
	struct cdt_chunker chunker;
	char *config_damage;	/* salvage mode: why the config was not usable */
	struct strbuf config_text;	/* the config's bytes, as read (or its copy's) */
	char *config_copy_used;	/* why the config was not usable, its copy being used */
	int config_copy_kept;	/* config.copy checked (or written) by this process */
	struct store_state *states;	/* cdt_store_state() */
	size_t nstates, states_alloc;
	struct cdt_store_remote remote;	/* a cache of a remote store: how to fill it */
};

struct store_state {
	const void *key;
	void *state;
	void (*drop)(void *state);
};

/* Guards every store's states; held only to find or make one. */
static pthread_mutex_t states_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const dir_names[CDT_DIR__COUNT] = {
	[CDT_DIR_OBJECTS] = "objects",
	[CDT_DIR_MANIFESTS] = "manifests",
	[CDT_DIR_REFS] = "refs",
	[CDT_DIR_NAMES] = "names",
	[CDT_DIR_TMP] = "tmp",
	[CDT_DIR_PACKS] = "packs",
};

static int dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int empty = 1;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = 0;
			break;
		}
	}
	closedir(d);
	return empty;
}

/* The mode of a store's directory. */
static mode_t sharing_mode(enum cdt_store_sharing sharing)
{
	return sharing == CDT_SHARE_GROUP ? 02770 : 0700;
}

/*
 * A store shared with its group: every writer must leave what it creates
 * readable and writable by the group, whatever its umask, so the umask
 * loses its group bits. umask is per process, which suits cdt: a process
 * works on one store, and every module that creates a file or directory in
 * it (objects, packs, manifests, names, references) is covered at once.
 * umask() cannot be read without being set; the value set in between
 * makes a file created meanwhile private to its owner, never more open.
 */
static void umask_for_group(void)
{
	mode_t old = umask(077);

	umask(old & ~(mode_t)070);
}

/* Give a directory the mode `want`; 0, or -1 with the reason in `why`. */
static int set_dir_mode(int fd, mode_t want, struct strbuf *why)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && (st.st_mode & 07777) == want)
		return 0;
	if (fchmod(fd, want) < 0 || fstat(fd, &st) < 0) {
		strbuf_addstr(why, cdt_strerror(errno));
		return -1;
	}
	/* The kernel drops a set-group-ID bit it does not allow, without an error. */
	if ((st.st_mode & 07777) != want) {
		strbuf_addf(why, "its mode stays %04o", (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/*
 * Write a config file (`config`, or its copy CDT_CONFIG_COPY) atomically:
 * a temporary file in tmp/, fsync, rename over it, fsync the store's
 * directory. 0, or -errno with what failed in why.
 */
static int write_config_file(int rootfd, const char *path, const char *file,
			     const char *text, size_t len, struct strbuf *why)
{
	struct strbuf tmpname = STRBUF_INIT;
	int tmpfd, fd, ret = 0;

	tmpfd = openat(rootfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tmpfd < 0) {
		ret = -errno;
		strbuf_addf(why, "cannot open '%s/tmp': %s", path, cdt_strerror(ret));
		goto out;
	}
	fd = tmpfile_openat(tmpfd, "config", &tmpname);
	if (fd < 0 || (ret = write_all(fd, text, len)) < 0 ||
	    fsync(fd) < 0 || renameat(tmpfd, tmpname.buf, rootfd, file) < 0) {
		ret = fd < 0 ? fd : ret < 0 ? ret : -errno;
		if (fd >= 0) {
			unlinkat(tmpfd, tmpname.buf, 0);
			close(fd);
		}
		close(tmpfd);
		strbuf_addf(why, "cannot write '%s/%s': %s", path, file, cdt_strerror(ret));
		goto out;
	}
	close(fd);
	close(tmpfd);
	if ((ret = fsync_dirat(rootfd, ".")) < 0)
		strbuf_addf(why, "cannot sync '%s': %s", path, cdt_strerror(ret));
out:
	strbuf_release(&tmpname);
	return ret;
}

int cdt_store_init(const char *path, const struct cdt_config *cfg_in,
		   enum cdt_store_sharing sharing)
{
	struct cdt_config cfg = *cfg_in;
	struct strbuf sb = STRBUF_INIT, why = STRBUF_INIT;
	unsigned char rnd[16];
	int rootfd = -1, fd = -1, ret, i;
	struct stat st;

	if (cdt_config_check(&cfg, &why)) {
		ret = error("%s", why.buf);
		goto out;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		ret = error("cannot get random bytes for the store id: %s", cdt_strerror(errno));
		goto out;
	}
	for (i = 0; i < 16; i++)
		sprintf(cfg.store_id + 2 * i, "%02x", rnd[i]);

	if (lstat(path, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			ret = error("cannot create store '%s': not a directory", path);
			goto out;
		}
		strbuf_addf(&sb, "%s/config", path);
		if (access(sb.buf, F_OK) == 0) {
			ret = error("'%s' is already a cdt store", path);
			goto out;
		}
		if (dir_is_empty(path) != 1) {
			ret = error("cannot create store '%s': directory exists and is not empty", path);
			goto out;
		}
	} else if (errno != ENOENT) {
		ret = error("cannot create store '%s': %s", path, cdt_strerror(errno));
		goto out;
	} else if ((ret = mkdir_p(path)) < 0) {
		ret = error("cannot create store '%s': %s", path, cdt_strerror(ret));
		goto out;
	}
	rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		ret = error("cannot open '%s': %s", path, cdt_strerror(errno));
		goto out;
	}
	/* Private or shared whatever the umask: this directory keeps others out. */
	strbuf_reset(&why);
	if (set_dir_mode(rootfd, sharing_mode(sharing), &why) < 0) {
		if (sharing == CDT_SHARE_GROUP) {
			ret = error("cannot share store '%s' with its group: %s", path, why.buf);
			goto out;
		}
		/* A file system without Unix modes (vfat) decides access by itself. */
		warning("cannot make store '%s' private: %s", path, why.buf);
	}
	if (sharing == CDT_SHARE_GROUP)
		umask_for_group();
	for (i = 0; i < CDT_DIR__COUNT; i++) {
		if (mkdirat(rootfd, dir_names[i], 0777) < 0 && errno != EEXIST) {
			ret = error("cannot create '%s/%s': %s", path, dir_names[i], cdt_strerror(errno));
			goto out;
		}
	}
	fd = openat(rootfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0) {
		ret = error("cannot create '%s/lock': %s", path, cdt_strerror(errno));
		goto out;
	}
	close(fd);
	fd = -1;

	/* The config goes in last, after its copy: its presence marks a complete store. */
	strbuf_reset(&sb);
	cdt_config_format(&cfg, &sb);
	strbuf_reset(&why);
	if (write_config_file(rootfd, path, CDT_CONFIG_COPY, sb.buf, sb.len, &why) < 0 ||
	    write_config_file(rootfd, path, "config", sb.buf, sb.len, &why) < 0) {
		ret = error("%s", why.buf);
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rootfd >= 0)
		close(rootfd);
	strbuf_release(&sb);
	strbuf_release(&why);
	return ret < 0 ? -1 : 0;
}

static int is_store_dir(const char *path)
{
	struct strbuf sb = STRBUF_INIT;
	int ok;

	strbuf_addf(&sb, "%s/config", path);
	ok = access(sb.buf, F_OK) == 0;
	strbuf_release(&sb);
	return ok;
}

int cdt_store_find(const char *explicit, struct strbuf *out)
{
	const char *env = getenv("CDT_STORE");
	char *cwd;
	size_t len;

	strbuf_reset(out);
	if (explicit && *explicit) {
		/* A directory holding .cdt counts as naming its store. */
		strbuf_addf(out, "%s/.cdt", explicit);
		if (!is_store_dir(explicit) && is_store_dir(out->buf))
			return 0;
		strbuf_reset(out);
		strbuf_addstr(out, explicit);
		return 0;
	}
	if (env && *env) {
		strbuf_addstr(out, env);
		return 0;
	}
	cwd = getcwd(NULL, 0);
	if (!cwd)
		return -errno;
	len = strlen(cwd);
	for (;;) {
		strbuf_reset(out);
		strbuf_add(out, cwd, len);
		strbuf_addstr(out, len && cwd[len - 1] == '/' ? ".cdt" : "/.cdt");
		if (is_store_dir(out->buf)) {
			free(cwd);
			return 0;
		}
		if (len <= 1)
			break;
		while (len > 1 && cwd[len - 1] != '/')
			len--;
		if (len > 1)
			len--;	/* drop the slash too, unless it is the root */
	}
	free(cwd);
	strbuf_reset(out);
	return -ENOENT;
}

/*
 * Salvage mode: a damaged config is recorded instead of refused, and the
 * most permissive parameters stand in (every length up to the hard maximum).
 */
static void salvage_config(struct cdt_store *s, const char *why)
{
	cdt_config_defaults(&s->cfg);
	s->cfg.chunk_size = CDT_CHUNK_AVG_MAX;
	cdt_chunker_init(&s->chunker, s->cfg.chunker, s->cfg.chunk_size);
	s->config_damage = xstrdup(why);
}

int cdt_config_copy_fits(const char *damaged, size_t len, const struct cdt_config *copy,
			 struct strbuf *why)
{
	static const char key[] = "store-id ";
	const char *p = damaged, *end = damaged + len;
	size_t klen = sizeof(key) - 1;
	int i, differ = 0;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);

		if (n == klen + 32 && !memcmp(p, key, klen)) {
			const char *id = p + klen;

			for (i = 0; i < 32 && id[i] && strchr("0123456789abcdef", id[i]); i++)
				differ += id[i] != copy->store_id[i];
			/*
			 * Damage to the id changes a digit or a few; another
			 * store's random id differs in nearly all of them.
			 */
			if (i == 32 && differ > 16) {
				strbuf_addf(why, "; its copy '%s' is another store's (store-id %s, "
					    "not %.32s)", CDT_CONFIG_COPY, copy->store_id, id);
				return 0;
			}
			return 1;
		}
		p += n + 1;
	}
	return 1;
}

/*
 * The config is damaged (why says how; `damaged`, its bytes as read, may
 * be empty): its copy, when it reads, parses and is this store's, is used
 * in its place, and that is said. 0, or -1 (no usable copy; nothing
 * changed but why, which may say why the copy is not used).
 */
static int use_config_copy(struct cdt_store *s, const struct strbuf *damaged, struct strbuf *why)
{
	struct strbuf text = STRBUF_INIT, bad = STRBUF_INIT;
	struct cdt_config cfg;
	int ret;

	ret = read_small_fileat(s->rootfd, CDT_CONFIG_COPY, CDT_CONFIG_MAX, &text);
	if (!ret)
		ret = cdt_config_parse(text.buf, text.len, &cfg, &bad);
	/* Another store's copy would make its parameters this store's for good (repair). */
	if (!ret && !cdt_config_copy_fits(damaged->buf, damaged->len, &cfg, why))
		ret = -1;
	strbuf_release(&bad);
	if (ret < 0) {
		strbuf_release(&text);
		return -1;
	}
	s->cfg = cfg;
	strbuf_release(&s->config_text);
	s->config_text = text;	/* taken over */
	s->config_copy_used = xstrdup(why->buf);
	warning("store '%s' has a damaged config (%s): using its copy '%s' (run 'cdt repair')",
		s->path, why->buf, CDT_CONFIG_COPY);
	return 0;
}

static int open_store(const char *path, int salvage, struct cdt_store **out)
{
	struct cdt_store *s = xcalloc(1, sizeof(*s));
	struct strbuf text = STRBUF_INIT, why = STRBUF_INIT;
	int ret, i;

	s->path = xstrdup(path);
	strbuf_init(&s->config_text, 0);
	s->rootfd = -1;
	s->lockfd = -1;
	for (i = 0; i < CDT_DIR__COUNT; i++)
		s->dirfds[i] = -1;

	s->rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->rootfd < 0) {
		ret = -errno;
		if (ret == -ENOENT || ret == -ENOTDIR)
			error("'%s' is not a cdt store (no such directory)", path);
		else
			error("cannot open store '%s': %s", path, cdt_strerror(ret));
		goto fail;
	}
	{
		struct stat st;

		if (fstat(s->rootfd, &st) < 0) {
			ret = -errno;
			error("cannot open store '%s': %s", path, cdt_strerror(ret));
			goto fail;
		}
		s->mode = st.st_mode & 07777;
	}
	ret = read_small_fileat(s->rootfd, "config", CDT_CONFIG_MAX, &text);
	if (ret == -ENOENT) {
		error("'%s' is not a cdt store (no config)", path);
		goto fail;
	} else if (ret == -EFBIG) {
		strbuf_addstr(&why, "config is too large");
		ret = -CDT_ECORRUPT;
	} else if (ret < 0 && ret != -EIO) {
		error("cannot read '%s/config': %s", path, cdt_strerror(ret));
		goto fail;
	} else if (ret < 0) {
		strbuf_addf(&why, "cannot read config: %s", cdt_strerror(ret));
	} else {
		ret = cdt_config_parse(text.buf, text.len, &s->cfg, &why);
		if (ret == -CDT_EVERSION) {
			error("cannot use store '%s': %s", path, why.buf);
			goto fail;
		}
	}
	/* Damaged (or unreadable): its copy, when that is whole, stands in. */
	if (ret < 0 && use_config_copy(s, &text, &why) < 0) {
		if (salvage) {
			salvage_config(s, why.buf);
		} else if (ret == -EIO) {
			error("cannot read '%s/config': %s", path, cdt_strerror(ret));
			goto fail;
		} else {
			error("store '%s' has a corrupt config: %s", path, why.buf);
			goto fail;
		}
	} else if (ret >= 0) {
		s->config_text = text;	/* taken over */
		strbuf_init(&text, 0);
	}
	if (!s->config_damage &&
	    cdt_chunker_init(&s->chunker, s->cfg.chunker, s->cfg.chunk_size) < 0) {
		ret = -CDT_ECORRUPT;
		error("store '%s' has unusable chunker parameters", path);
		goto fail;
	}
	for (i = 0; i < CDT_DIR__COUNT; i++) {
		struct stat st;

		/* A symlink in place of a store directory could point anywhere. */
		if (fstatat(s->rootfd, dir_names[i], &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode)) {
			ret = -CDT_ECORRUPT;
			error("store '%s' is damaged: '%s' is missing or not a directory",
			      path, dir_names[i]);
			goto fail;
		}
		s->dirfds[i] = openat(s->rootfd, dir_names[i],
				      O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (s->dirfds[i] < 0) {
			ret = -errno;
			error("cannot open '%s/%s': %s", path, dir_names[i], cdt_strerror(errno));
			goto fail;
		}
	}
	strbuf_release(&text);
	strbuf_release(&why);
	if (cdt_store_sharing(s) == CDT_SHARE_GROUP)
		umask_for_group();
	*out = s;
	return 0;
fail:
	strbuf_release(&text);
	strbuf_release(&why);
	cdt_store_close(s);
	*out = NULL;
	return ret < 0 ? ret : -EINVAL;
}

int cdt_store_open(const char *path, struct cdt_store **out)
{
	return open_store(path, 0, out);
}

int cdt_store_open_salvage(const char *path, struct cdt_store **out)
{
	return open_store(path, 1, out);
}

void cdt_store_set_remote(struct cdt_store *s, const struct cdt_store_remote *r)
{
	s->remote = *r;
}

const char *cdt_store_remote_url(const struct cdt_store *s)
{
	return s->remote.url;
}

int cdt_store_fetch(struct cdt_store *s, enum cdt_store_dir d, const char *path,
		    struct strbuf *why)
{
	if (!s->remote.fetch)
		return -ENOENT;
	return s->remote.fetch(s, d, path, why, s->remote.data);
}

int cdt_store_refresh_remote(struct cdt_store *s)
{
	if (!s->remote.refresh)
		return -ENOENT;
	return s->remote.refresh(s, s->remote.data);
}

int cdt_store_seed_read(struct cdt_store *s, const struct cdt_id *id, uint32_t want_len,
			unsigned char *out, uint32_t *len)
{
	if (!s->remote.seed)
		return -ENOENT;
	return s->remote.seed(id, want_len, out, len, s->remote.data);
}

const char *cdt_store_dir_name(enum cdt_store_dir d)
{
	return dir_names[d];
}

const char *cdt_store_config_damage(const struct cdt_store *s)
{
	return s->config_damage;
}

void cdt_store_close(struct cdt_store *s)
{
	size_t k;
	int i;

	if (!s)
		return;
	/* Last made, first dropped. */
	for (k = s->nstates; k-- > 0;)
		s->states[k].drop(s->states[k].state);
	free(s->states);
	for (i = 0; i < CDT_DIR__COUNT; i++)
		if (s->dirfds[i] >= 0)
			close(s->dirfds[i]);
	if (s->lockfd >= 0)
		close(s->lockfd);
	if (s->rootfd >= 0)
		close(s->rootfd);
	free(s->path);
	free(s->config_damage);
	free(s->config_copy_used);
	strbuf_release(&s->config_text);
	free(s);
}

const char *cdt_store_path(const struct cdt_store *s)
{
	return s->path;
}

/*
 * Shared when the group may write in the store's directory, however that
 * came about (cdt init --shared=group, or chmod g+w later): the mode of the
 * directory, not the config, so that an administrator can share an
 * existing store, or stop sharing it, without cdt.
 */
enum cdt_store_sharing cdt_store_sharing(const struct cdt_store *s)
{
	return s->mode & S_IWGRP ? CDT_SHARE_GROUP : CDT_SHARE_PRIVATE;
}

unsigned cdt_store_mode(const struct cdt_store *s)
{
	return s->mode;
}

uint64_t cdt_store_frame_max(const struct cdt_store *s)
{
	if (s->config_damage)
		return CDT_FRAME_RAW_HARD_MAX;
	if (!s->cfg.frame_size)
		return 0;
	return MIN((uint64_t)s->cfg.frame_size + s->chunker.max_size, (uint64_t)CDT_FRAME_RAW_HARD_MAX);
}

struct cdt_compressor *cdt_store_compressor_new(const struct cdt_store *s)
{
	return cdt_store_compressor_at(s, 0);
}

struct cdt_compressor *cdt_store_compressor_at(const struct cdt_store *s, int level)
{
	return cdt_compressor_new(s->cfg.codec, level ? level : s->cfg.level);
}

int cdt_store_set_config(struct cdt_store *s, const struct cdt_config *cfg)
{
	struct strbuf why = STRBUF_INIT, text = STRBUF_INIT;
	int ret;

	if (s->config_damage || cfg->chunker != s->cfg.chunker ||
	    cfg->chunk_size != s->cfg.chunk_size || strcmp(cfg->store_id, s->cfg.store_id))
		return error_code(-EINVAL, "store '%s': a config may not change its chunker or id",
				  s->path);
	if (cdt_config_check(cfg, &why)) {
		ret = error_code(-EINVAL, "%s", why.buf);
		strbuf_release(&why);
		return ret;
	}
	strbuf_release(&why);
	strbuf_reset(&text);
	cdt_config_format(cfg, &text);
	ret = write_config_file(s->rootfd, s->path, "config", text.buf, text.len, &why);
	if (ret < 0) {
		error("%s", why.buf);
		strbuf_release(&why);
		strbuf_release(&text);
		return ret;
	}
	s->cfg = *cfg;
	strbuf_release(&s->config_text);
	s->config_text = text;	/* taken over */
	free(s->config_copy_used);
	s->config_copy_used = NULL;
	/* The config is the store's; its copy follows it (or the next writer writes it). */
	s->config_copy_kept = 0;
	cdt_store_keep_config_copy(s);
	return 0;
}

const struct cdt_config *cdt_store_config(const struct cdt_store *s)
{
	return &s->cfg;
}

const struct cdt_chunker *cdt_store_chunker(const struct cdt_store *s)
{
	return &s->chunker;
}

int cdt_store_dirfd(const struct cdt_store *s, enum cdt_store_dir d)
{
	return s->dirfds[d];
}

void *cdt_store_state(struct cdt_store *s, const void *key, void *(*make)(struct cdt_store *s),
		      void (*drop)(void *state))
{
	void *state = NULL;
	size_t i;

	pthread_mutex_lock(&states_mu);
	for (i = 0; i < s->nstates && !state; i++)
		if (s->states[i].key == key)
			state = s->states[i].state;
	if (!state) {
		state = make(s);
		ALLOC_GROW(s->states, s->nstates + 1, s->states_alloc);
		s->states[s->nstates].key = key;
		s->states[s->nstates].state = state;
		s->states[s->nstates].drop = drop;
		s->nstates++;
	}
	pthread_mutex_unlock(&states_mu);
	return state;
}

int cdt_store_rootfd(const struct cdt_store *s)
{
	return s->rootfd;
}

int cdt_store_holds_dir(const struct cdt_store *s, int dirfd)
{
	struct stat root, st, up;
	int cur, next;

	if (fstat(s->rootfd, &root) < 0)
		return 0;
	cur = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	while (cur >= 0 && fstat(cur, &st) == 0) {
		if (st.st_dev == root.st_dev && st.st_ino == root.st_ino) {
			close(cur);
			return 1;
		}
		next = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(cur);
		cur = next;
		/* The root is its own parent. */
		if (cur >= 0 && fstat(cur, &up) == 0 && up.st_dev == st.st_dev &&
		    up.st_ino == st.st_ino)
			break;
	}
	if (cur >= 0)
		close(cur);
	return 0;
}

void cdt_store_keep_config_copy(struct cdt_store *s)
{
	struct strbuf have = STRBUF_INIT, now = STRBUF_INIT, why = STRBUF_INIT;
	struct cdt_config cfg;
	int ret;

	if (s->config_copy_kept || s->config_damage || s->config_copy_used || !s->config_text.len)
		return;
	s->config_copy_kept = 1;
	/*
	 * The copy follows the config as it is now, with the lock held, not
	 * as this process read it at open: a gc --recompress may have changed
	 * it while this one waited for the lock.
	 */
	if (read_small_fileat(s->rootfd, "config", CDT_CONFIG_MAX, &now) < 0 ||
	    cdt_config_parse(now.buf, now.len, &cfg, &why) < 0)
		goto out;
	ret = read_small_fileat(s->rootfd, CDT_CONFIG_COPY, CDT_CONFIG_MAX, &have);
	if (!ret && have.len == now.len && !memcmp(have.buf, now.buf, have.len))
		goto out;
	if (write_config_file(s->rootfd, s->path, CDT_CONFIG_COPY, now.buf, now.len, &why) < 0)
		warning("the config's copy is not kept: %s", why.buf);
out:
	strbuf_release(&have);
	strbuf_release(&now);
	strbuf_release(&why);
}

const char *cdt_store_config_copy_used(const struct cdt_store *s)
{
	return s->config_copy_used;
}

int cdt_store_restore_config(struct cdt_store *s)
{
	struct strbuf why = STRBUF_INIT;
	int ret;

	if (!s->config_copy_used)
		return 0;
	ret = write_config_file(s->rootfd, s->path, "config", s->config_text.buf,
				s->config_text.len, &why);
	if (ret < 0) {
		error("cannot restore the config from its copy: %s", why.buf);
		strbuf_release(&why);
		return ret;
	}
	strbuf_release(&why);
	free(s->config_copy_used);
	s->config_copy_used = NULL;
	return 1;
}

int cdt_store_trylock(struct cdt_store *s, enum cdt_lock_mode mode)
{
	int op = mode == CDT_LOCK_EXCLUSIVE ? LOCK_EX : LOCK_SH;

	if (s->lockfd < 0) {
		s->lockfd = openat(s->rootfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
		if (s->lockfd < 0)
			return error_code(-errno, "cannot open '%s/lock': %s", s->path, cdt_strerror(errno));
	}
	if (flock(s->lockfd, op | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK)
		return error_code(-errno, "cannot lock '%s': %s", s->path, cdt_strerror(errno));
	return -EWOULDBLOCK;
}

int cdt_store_lock(struct cdt_store *s, enum cdt_lock_mode mode)
{
	int op = mode == CDT_LOCK_EXCLUSIVE ? LOCK_EX : LOCK_SH;
	int ret = cdt_store_trylock(s, mode);

	if (ret != -EWOULDBLOCK)
		return ret;
	if (getenv("CDT_LOCK_NOWAIT"))
		return error_code(-EWOULDBLOCK, "store '%s' is locked by another cdt process", s->path);
	fprintf(stderr, "waiting for another cdt process to release the store lock...\n");
	while (flock(s->lockfd, op) < 0) {
		if (errno != EINTR)
			return error_code(-errno, "cannot lock '%s': %s", s->path, cdt_strerror(errno));
	}
	return 0;
}

void cdt_store_unlock(struct cdt_store *s)
{
	if (s->lockfd >= 0) {
		close(s->lockfd);
		s->lockfd = -1;
	}
}

int cdt_store_sync(struct cdt_store *s)
{
	if (syncfs(s->rootfd) < 0)
		return -errno;
	return 0;
}

int cdt_tmp_walk(struct cdt_store *s, cdt_tmp_fn fn, void *data)
{
	int tmpfd = cdt_store_dirfd(s, CDT_DIR_TMP);
	struct cdt_dent *ents;
	size_t n, i;
	int ret = cdt_list_dir(tmpfd, ".", &ents, &n);

	if (ret < 0)
		return ret;
	for (i = 0; i < n && !ret; i++) {
		struct stat st;
		uint64_t bytes = 0;
		int is_dir = ents[i].type == DT_DIR;

		if (is_dir)
			bytes = dir_usage_at(tmpfd, ents[i].name, NULL, 0);
		else if (fstatat(tmpfd, ents[i].name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			 S_ISREG(st.st_mode))
			bytes = (uint64_t)st.st_size;
		ret = fn(ents[i].name, is_dir, bytes, data);
	}
	cdt_dents_free(ents, n);
	return ret;
}

int cdt_tmp_remove(struct cdt_store *s, const char *name)
{
	return remove_tree_at(cdt_store_dirfd(s, CDT_DIR_TMP), name, 0);
}
