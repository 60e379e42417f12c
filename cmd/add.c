/* cmd/add.c: cdt add, store files under names. */
#include "cmd.h"
#include "add.h"
#include "base/exclude.h"
#include "base/hash.h"
#include "ops/ahead.h"
#include "ops/ingest.h"
#include "format/names.h"
#include "format/filescache.h"
#include "base/idset.h"
#include "base/util.h"
#include "base/workers.h"
#include "base/testpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Names committed together (see lib/ops/ingest.h): a kill loses at most one batch. */
#define GROUP_NAMES 1024

const char usage_add[] =
	"usage: cdt add [-r] [--exclude PATTERN]... [--exclude-from FILE]... [-x] [--xattrs] [--no-cache] [--name NAME | --prefix DIR] [--no-replace] [--porcelain | --json] [-j N] [-q] PATH...\n"
	"   or: cdt add --name NAME -\n"
	"\n"
	"Store files. Each is chunked, deduplicated against everything in the\n"
	"store, compressed, and recorded under a name: by default the path as\n"
	"given, made relative (a leading '/' and '.' components are dropped).\n"
	"\n"
	"    -r, --recursive    add what is under each directory: files, symbolic\n"
	"                       links, and directories with their metadata\n"
	"    --exclude PATTERN  leave out what PATTERN matches (gitignore rules,\n"
	"                       relative to each directory; repeatable)\n"
	"    --exclude-from FILE\n"
	"                       leave out what the patterns in FILE match\n"
	"    -x, --one-file-system\n"
	"                       do not go into directories on other file systems\n"
	"    --xattrs           store extended attributes and ACLs too\n"
	"    --no-cache         read every file (do not trust nor update the files\n"
	"                       cache of unchanged files)\n"
	"    --name NAME        store the single PATH (or - for stdin) as NAME\n"
	"    --prefix DIR       name each file DIR/<its base name> (with -r,\n"
	"                       DIR/<directory base name>/<path inside it>)\n"
	"    --no-replace       fail instead of replacing an existing name\n"
	"    --porcelain        one line per file: name, size, new bytes, content id\n"
	"                       (tab-separated)\n"
	"    --json             one JSON object per file, one per line\n"
	"    -j, --jobs N       threads for hashing and compression (default: CPUs, at most 8)\n"
	"    -q, --quiet        no per-file lines and no progress\n"
	PROGRESS_HELP
	"    -h, --help         show this help\n";

static void show_progress(uint64_t done, void *data)
{
	struct add_state *st = data;

	if (st->nfiles > 1)
		progress_show_count(&st->progress, "add", st->files_seen, st->nfiles, "files",
				    st->done_before + done);
	else
		progress_show_total(&st->progress, st->current ? st->current : "add", done,
				    MAX(st->cur_size, done));
}

static void print_result(enum output out, const struct source *src,
			 const struct cdt_ingest_result *r)
{
	char hex[CDT_ID_HEXLEN + 1], a[32], b[32];

	cdt_id_to_hex(&r->content, hex);
	switch (out) {
	case OUT_HUMAN:
		if (r->manifest_existed && !r->new_chunks)
			printf("added %s (%s, already stored)\n", src->name,
			       human_size(r->size, a, sizeof(a)));
		else
			printf("added %s (%s, %s new)\n", src->name,
			       human_size(r->size, a, sizeof(a)),
			       human_size(r->new_stored, b, sizeof(b)));
		break;
	case OUT_PORCELAIN:
		printf("%s\t%llu\t%llu\t%s\n", src->name, (unsigned long long)r->size,
		       (unsigned long long)r->new_stored, hex);
		break;
	case OUT_JSON: {
		struct strbuf sb = STRBUF_INIT;

		strbuf_addstr(&sb, "{\"name\":");
		strbuf_add_json_string(&sb, src->name);
		strbuf_addf(&sb, ",\"size\":%llu,\"chunks\":%llu,\"new_chunks\":%llu,"
			    "\"new_raw_bytes\":%llu,\"new_stored_bytes\":%llu,\"delta_chunks\":%llu,"
			    "\"delta_raw_bytes\":%llu,\"delta_stored_bytes\":%llu,\"content\":\"%s\"}",
			    (unsigned long long)r->size, (unsigned long long)r->chunks,
			    (unsigned long long)r->new_chunks, (unsigned long long)r->new_raw,
			    (unsigned long long)r->new_stored, (unsigned long long)r->delta_chunks,
			    (unsigned long long)r->delta_raw, (unsigned long long)r->delta_stored, hex);
		puts(sb.buf);
		strbuf_release(&sb);
		break;
	}
	}
	fflush(stdout);
}

/* What became of one source. */
enum add_result { ADD_QUEUED, ADD_SKIPPED, ADD_FAILED };

/* The first name of a file with several links, to store the others as links to it. */
struct link_seen {
	char *name;
	struct cdt_id content;
	uint64_t size;
};

static void link_key(const struct stat *sb, struct cdt_id *key)
{
	uint64_t k[2] = { (uint64_t)sb->st_dev, (uint64_t)sb->st_ino };

	cdt_hash(k, sizeof(k), key);
}

static void fill_meta(struct cdt_name_entry *meta, const struct source *src, const struct stat *sb)
{
	snprintf(meta->name, sizeof(meta->name), "%s", src->name);
	meta->type = (uint8_t)src->type;
	meta->mode = sb->st_mode & 07777;
	meta->mtime_sec = sb->st_mtim.tv_sec;
	meta->mtime_nsec = (uint32_t)sb->st_mtim.tv_nsec;
	meta->uid = sb->st_uid;
	meta->gid = sb->st_gid;
}

/* A directory or a symbolic link: its entry is all there is to store. */
static enum add_result add_entry(struct cdt_ingest *ing, struct add_state *st, struct source *src)
{
	struct cdt_name_entry *meta = xcalloc(1, sizeof(*meta));
	enum add_result ret = ADD_FAILED;

	fill_meta(meta, src, &src->st);
	if (src->type == CDT_NAME_SYMLINK) {
		int fd = open_walked(src->path, src->root, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : readlinkat(fd, "", meta->target, CDT_NAME_TARGET_MAX + 1);
		int e = errno;
		struct stat now;

		/* readlinkat() says ENOENT of what is there but is not a link. */
		if (n < 0 && fd >= 0 && fstat(fd, &now) == 0 && !S_ISLNK(now.st_mode))
			e = 0;
		if (fd >= 0)
			close(fd);
		if (n < 0) {
			skip(st, src->path, "cannot read symbolic link: %s",
			     !e ? "it was replaced since the walk by what is not one" :
			     fd < 0 ? open_walked_why(e, src->root) : cdt_strerror(e));
			ret = ADD_SKIPPED;
			goto out;
		}
		if (n > CDT_NAME_TARGET_MAX || memchr(meta->target, 0, (size_t)n)) {
			skip(st, src->path, "symbolic link target longer than %d bytes",
			     CDT_NAME_TARGET_MAX);
			ret = ADD_SKIPPED;
			goto out;
		}
		meta->target[n] = '\0';
		/* A link's own permission bits mean nothing on Linux. */
		meta->mode = 0777;
	}
	add_read_xattrs(st, src, -1, meta);
	if (!cdt_ingest_queue_entry(ing, meta, src))
		ret = ADD_QUEUED;
out:
	cdt_name_entry_release(meta);
	free(meta);
	return ret;
}

/*
 * The absolute form of path (its first len bytes) the files cache knows
 * it by: under the current directory, without empty and "." components,
 * so that "src/", "./src" and "src" are one directory ("..", which a
 * symbolic link may make mean another, is kept).
 */
static void cache_path_len(const struct add_state *st, const char *path, size_t len,
			   struct strbuf *out)
{
	const char *p = path, *end = path + len;

	strbuf_reset(out);
	if (len && path[0] != '/')
		strbuf_addstr(out, st->cwd);
	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		size_t n = slash ? (size_t)(slash - p) : (size_t)(end - p);

		if (n && !(n == 1 && *p == '.')) {
			if (!out->len || out->buf[out->len - 1] != '/')
				strbuf_addch(out, '/');
			strbuf_add(out, p, n);
		}
		p += n + 1;
	}
	if (!out->len)
		strbuf_addch(out, '/');
}

/* Where the files cache knows the file at src->path (an absolute path). */
static void cache_path(const struct add_state *st, const struct source *src, struct strbuf *out)
{
	cache_path_len(st, src->path, strlen(src->path), out);
}

/*
 * The root the files cache files src under: the directory its walk
 * started from, or for a PATH argument its parent. A walk of that
 * directory (or of one holding it, which reads it too) ages the entry.
 */
static void cache_root(const struct add_state *st, const struct source *src, struct strbuf *out)
{
	char *slash;

	if (src->root) {
		cache_path_len(st, src->path, src->root->len, out);
		return;
	}
	cache_path(st, src, out);
	slash = strrchr(out->buf, '/');
	strbuf_setlen(out, slash > out->buf ? (size_t)(slash - out->buf) : 1);
}

/*
 * Write the files cache back. Only a run that stored something ages
 * entries, and only those of the directories it read whole: the walk's
 * roots and every directory under them it entered.
 */
static void save_cache(struct add_state *st)
{
	struct strbuf dir = STRBUF_INIT;
	const struct walk_root *last = NULL;
	int age = st->ok + st->dirs + st->symlinks > 0;
	size_t i;

	for (i = 0; age && i < st->nr; i++) {
		const struct source *src = &st->src[i];

		/* A root named "" (".") has no entry of its own. */
		if (src->root && src->root != last) {
			last = src->root;
			cache_path_len(st, src->path, src->root->len, &dir);
			cdt_filescache_walked(st->cache, dir.buf);
		}
		if (src->type == CDT_NAME_DIR) {
			cache_path(st, src, &dir);
			cdt_filescache_walked(st->cache, dir.buf);
		}
	}
	strbuf_release(&dir);
	cdt_filescache_save(st->cache, age);
}

/* Remember the first link of a file with several, once its content is known. */
static void note_link(struct add_state *st, const struct source *src, const struct stat *sb,
		      const struct cdt_ingest_result *res)
{
	struct link_seen *l;
	struct cdt_id key;

	if (sb->st_nlink < 2)
		return;
	link_key(sb, &key);
	if (cdt_idset_has(&st->links, &key))
		return;
	ALLOC_GROW(st->link_seen, st->nlinks + 1, st->alinks);
	l = &st->link_seen[st->nlinks];
	l->name = xstrdup(src->name);
	l->content = res->content;
	l->size = res->size;
	cdt_idset_put(&st->links, &key, st->nlinks++);
}

/*
 * lstat() of the file at src->path as it is now, as it would be read: in
 * its directory opened as open_walked() opens it (no symbolic link
 * followed on the way), which is kept open for the next file, as the
 * walk's order puts the files of a directory one after the other.
 */
static int stat_now(struct add_state *st, const struct source *src, struct stat *now)
{
	const char *slash, *base;
	size_t len;

	if (!src->root)
		return stat_path_flags(src->path, now, 0);
	slash = strrchr(src->path, '/');
	len = (size_t)(slash - src->path);
	if (st->stat_dirfd < 0 || st->stat_root != src->root || st->stat_dir.len != len ||
	    memcmp(st->stat_dir.buf, src->path, len)) {
		if (st->stat_dirfd >= 0)
			close(st->stat_dirfd);
		strbuf_reset(&st->stat_dir);
		st->stat_dirfd = open_walked_parent(src->path, src->root, &base);
		if (st->stat_dirfd < 0)
			return -1;
		strbuf_add(&st->stat_dir, src->path, len);
		st->stat_root = src->root;
	}
	return fstatat(st->stat_dirfd, slash + 1, now, AT_SYMLINK_NOFOLLOW);
}

/*
 * A regular file that needs no reading: another link to a file already
 * queued, or one the files cache knows unchanged whose content is stored.
 * 1 if queued, 0 if it must be read.
 */
static int add_known(struct cdt_ingest *ing, struct add_state *st, struct source *src)
{
	struct cdt_name_entry *meta;
	struct link_seen *first = NULL;
	struct cdt_id content, key;
	struct stat now;
	uint64_t *slot;
	int known = 0, r;

	if (!src->have_st || src->is_stdin)
		return 0;
	if (src->st.st_nlink > 1) {
		link_key(&src->st, &key);
		slot = cdt_idset_get(&st->links, &key);
		/*
		 * The walk saw a link to a file already queued; a name replaced
		 * since (a file renamed over it) is that file no longer.
		 */
		if (slot) {
			if (stat_now(st, src, &now) < 0 || !S_ISREG(now.st_mode) ||
			    now.st_dev != src->st.st_dev || now.st_ino != src->st.st_ino)
				return 0;
			src->st = now;
			first = &st->link_seen[*slot];
		}
	}
	if (!first && st->cache) {
		struct strbuf abspath = STRBUF_INIT, root = STRBUF_INIT;

		/*
		 * The walk's stat may be minutes old: the file as it is now is
		 * what the cache is asked about (and what its name records).
		 */
		if (!st->paused++)
			cdt_pause_point("files-cache");
		cache_path(st, src, &abspath);
		/*
		 * Unknown to the cache as the walk saw it (all of a first
		 * store): read, without the stat below. Being wrong here only
		 * reads a file the cache could have skipped.
		 */
		if (!cdt_filescache_knows(st->cache, abspath.buf, &src->st)) {
			strbuf_release(&abspath);
			return 0;
		}
		/* Failing, reading it says what is wrong. */
		r = stat_now(st, src, &now);
		if (r < 0 || !S_ISREG(now.st_mode)) {
			strbuf_release(&abspath);
			return 0;
		}
		src->st = now;
		cache_root(st, src, &root);
		known = cdt_filescache_lookup(st->cache, abspath.buf, &src->st, root.buf, &content);
		strbuf_release(&abspath);
		strbuf_release(&root);
	}
	if (!first && !known)
		return 0;
	meta = xcalloc(1, sizeof(*meta));
	fill_meta(meta, src, &src->st);
	if (first) {
		meta->content = first->content;
		meta->size = first->size;
		meta->flags = CDT_NAME_HARDLINK;
		snprintf(meta->target, sizeof(meta->target), "%s", first->name);
	} else {
		meta->content = content;
		meta->size = (uint64_t)src->st.st_size;
	}
	add_read_xattrs(st, src, -1, meta);
	/* Content no longer stored (a stale cache): read the file after all. */
	known = cdt_ingest_queue_entry(ing, meta, src) == 0;
	if (known) {
		st->unread++;
		st->unread_bytes += meta->size;
	}
	/* Its other links, later in the walk, are links to this name, as when it is read. */
	if (known && !first) {
		struct cdt_ingest_result res;

		memset(&res, 0, sizeof(res));
		res.content = meta->content;
		res.size = meta->size;
		note_link(st, src, &src->st, &res);
	}
	cdt_name_entry_release(meta);
	free(meta);
	return known;
}

/*
 * Store one regular file. A file that cannot be opened is skipped, as the
 * walk skips a directory it cannot read; one that fails once reading has
 * begun (a read error, a full disk: ingest cannot tell which) has failed.
 */
/*
 * Is src for reading ahead (ops/ahead.h): a small regular file that will
 * be read, not a file with other links nor one the files cache knows
 * unchanged (as the walk saw it; add_known() decides)?
 */
static int ahead_wanted(const struct add_state *st, const struct source *src)
{
	struct strbuf abspath = STRBUF_INIT;
	int known;

	if (src->type != CDT_NAME_REG || src->is_stdin || !src->have_st ||
	    !S_ISREG(src->st.st_mode) || src->st.st_nlink > 1 ||
	    (uint64_t)src->st.st_size > CDT_AHEAD_MAX)
		return 0;
	if (!st->cache)
		return 1;
	cache_path(st, src, &abspath);
	known = cdt_filescache_knows(st->cache, abspath.buf, &src->st);
	strbuf_release(&abspath);
	return !known;
}

/* Keep the reader CDT_AHEAD_FILES sources ahead of source `i`. */
static void push_ahead(struct add_state *st, size_t i)
{
	for (; st->ahead_pushed < st->nr && st->ahead_pushed < i + CDT_AHEAD_FILES;
	     st->ahead_pushed++) {
		struct source *src = &st->src[st->ahead_pushed];

		src->ahead = ahead_wanted(st, src);
		if (src->ahead)
			cdt_ahead_push(st->ahead, src);
	}
}

static enum add_result add_one(struct cdt_ingest *ing, struct add_state *st, struct source *src)
{
	struct cdt_name_entry *meta;
	struct cdt_ingest_result res;
	struct stat before, after;
	enum add_result ret = ADD_FAILED;
	int fd, changed;
	const char *what = src->is_stdin ? "standard input" : src->path;
	/* Taken in order, even when it turns out not to be needed. */
	struct cdt_ahead_file *af = src->ahead ? cdt_ahead_next(st->ahead) : NULL;

	if (add_known(ing, st, src)) {
		cdt_ahead_file_free(af);
		return ADD_QUEUED;
	}
	meta = xcalloc(1, sizeof(*meta));
	if (af) {
		/* Opened, read and hashed by the reader: its fstat() is from before it read. */
		fd = af->fd;
		af->fd = -1;	/* closed below */
		before = af->st;
	} else {
		fd = src->is_stdin ? STDIN_FILENO :
				     open_source(src, O_RDONLY | O_NOCTTY | O_CLOEXEC);
		if (fd < 0) {
			skip(st, src->path, "cannot open: %s", open_walked_why(errno, src->root));
			ret = ADD_SKIPPED;
			goto out;
		}
	}
	if (!af && fstat(fd, &before) < 0) {
		error("cannot stat '%s': %s", quote(what), cdt_strerror(errno));
		goto out;
	}
	if (!src->is_stdin && !S_ISREG(before.st_mode)) {
		error("cannot add '%s': not a regular file", quote(what));
		goto out;
	}
	if (src->is_stdin && !S_ISREG(before.st_mode)) {
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		snprintf(meta->name, sizeof(meta->name), "%s", src->name);
		meta->mode = 0644 & ~0u;
		meta->mtime_sec = now.tv_sec;
		meta->mtime_nsec = (uint32_t)now.tv_nsec;
		meta->uid = getuid();
		meta->gid = getgid();
	} else {
		fill_meta(meta, src, &before);
	}
	if (!src->is_stdin)
		add_read_xattrs(st, src, fd, meta);
	st->current = src->name;
	src->read_at = af ? af->read_at : (int64_t)time(NULL);
	if (af ? cdt_ingest_queue_ahead(ing, af, what, meta, src, &res) < 0 :
		 cdt_ingest_queue(ing, fd, what, meta, src, &res) < 0)
		goto out;
	/*
	 * Only what fstat() sees counts as a change: files under /proc and
	 * /sys give st_size 0 and read as more, and that is how they are.
	 */
	changed = !src->is_stdin && fstat(fd, &after) == 0 &&
		  (after.st_size != before.st_size ||
		   after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
		   after.st_mtim.tv_nsec != before.st_mtim.tv_nsec ||
		   after.st_ctim.tv_sec != before.st_ctim.tv_sec ||
		   after.st_ctim.tv_nsec != before.st_ctim.tv_nsec);
	if (changed)
		warning("'%s' changed while it was read; stored what was read (%llu bytes)",
			quote(what), (unsigned long long)res.size);
	/* The cache learns only what was read from a file that held still. */
	if (!src->is_stdin && !changed && S_ISREG(before.st_mode)) {
		src->st = before;
		src->cache_ok = 1;
		note_link(st, src, &before, &res);
	}
	ret = ADD_QUEUED;
out:
	if (fd > STDIN_FILENO)
		close(fd);
	cdt_ahead_file_free(af);
	cdt_name_entry_release(meta);
	free(meta);
	return ret;
}

/* Called on the commit thread: replace_type is set before the first file is queued. */
static int source_replaces_type(void *cookie, void *data)
{
	const struct source *src = cookie;

	(void)data;
	return src && src->replace_type;
}

/* A name of this add is durable (err 0) or failed (err < 0, reported). */
static void name_done(const struct cdt_name_entry *e, const struct cdt_ingest_result *res,
		      int err, void *cookie, void *data)
{
	struct add_state *st = data;
	struct source *src = cookie;

	progress_clear(&st->progress);
	if (err) {
		st->failed++;
		return;
	}
	if (e->type == CDT_NAME_DIR) {
		st->dirs++;
		return;
	}
	if (e->type == CDT_NAME_SYMLINK) {
		st->symlinks++;
		return;
	}
	st->ok++;
	st->total_in += res->size;
	st->total_new += res->new_stored;
	st->total_raw += res->new_raw;
	if (st->cache && src->cache_ok) {
		struct strbuf abspath = STRBUF_INIT, root = STRBUF_INIT;

		cache_path(st, src, &abspath);
		cache_root(st, src, &root);
		cdt_filescache_record(st->cache, abspath.buf, &src->st, root.buf, &res->content,
				      src->read_at);
		strbuf_release(&abspath);
		strbuf_release(&root);
	}
	if (!st->quiet)
		print_result(st->out, src, res);
}

/*
 * Add --exclude PATTERN (from_file 0) or the patterns of --exclude-from
 * FILE, after those before it. 0, or EXIT_USAGE, reported.
 */
static int add_exclude(struct cmd_ctx *ctx, struct add_state *st, int from_file, const char *arg)
{
	struct strbuf why = STRBUF_INIT;
	int r, ret = 0;

	if (!st->exclude)
		st->exclude = cdt_exclude_new();
	if (from_file) {
		r = cdt_exclude_add_file(st->exclude, arg, &why);
		if (r == -EINVAL && why.len)
			ret = usage_error(ctx, "bad pattern in '%s': %s", quote(arg), why.buf);
		else if (r < 0)
			ret = usage_error(ctx, "cannot read exclude file '%s': %s", quote(arg), cdt_strerror(r));
	} else if (cdt_exclude_add(st->exclude, arg, &why) < 0) {
		ret = usage_error(ctx, "bad --exclude pattern '%s': %s", quote(arg), why.buf);
	}
	strbuf_release(&why);
	return ret;
}

int cmd_add(int argc, char **argv, struct cmd_ctx *ctx)
{
	static const struct option opts[] = {
		{ "recursive", no_argument, NULL, 'r' },
		{ "name", required_argument, NULL, 'n' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "no-replace", no_argument, NULL, 'R' },
		{ "porcelain", no_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'J' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "exclude", required_argument, NULL, 'e' },
		{ "exclude-from", required_argument, NULL, 'E' },
		{ "one-file-system", no_argument, NULL, 'x' },
		{ "xattrs", no_argument, NULL, 'X' },
		{ "no-cache", no_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 }
	};
	struct add_state st = { 0 };
	struct cdt_ingest_options io = { 0 };
	struct cdt_ingest *ing = NULL;
	enum output out = OUT_HUMAN;
	int c, quiet = 0, ret = EXIT_OK, nstdin = 0, no_cache = 0;
	size_t i;
	struct strbuf why = STRBUF_INIT, missing = STRBUF_INIT;

	st.stat_dirfd = -1;
	strbuf_init(&st.stat_dir, 0);
	while ((c = getopt_long(argc, argv, ":rj:qx", opts, NULL)) != -1) {
		switch (c) {
		case 'r': st.recursive = 1; break;
		case 'x': st.one_fs = 1; break;
		case 'X': st.xattrs = 1; break;
		case 'C': no_cache = 1; break;
		case 'e':
		case 'E':
			if (add_exclude(ctx, &st, c == 'E', optarg)) {
				ret = EXIT_USAGE;
				goto out;
			}
			break;
		case 'n': st.name_opt = optarg; break;
		case 'p': st.prefix = optarg; break;
		case 'R': io.no_replace = 1; break;
		case 'P':
		case 'J':
			if (out != OUT_HUMAN && out != (c == 'P' ? OUT_PORCELAIN : OUT_JSON)) {
				ret = usage_error(ctx, "--porcelain and --json cannot be used together");
				goto out;
			}
			out = c == 'P' ? OUT_PORCELAIN : OUT_JSON;
			break;
		case 'q': quiet = 1; break;
		case 'j':
			if (parse_jobs(ctx, optarg, &io.jobs) < 0) {
				ret = EXIT_USAGE;
				goto out;
			}
			break;
		default:
			ret = option_error(ctx, c, argv);
			goto out;
		}
	}
	argc -= optind;
	argv += optind;
	if (!argc)
		ret = usage_error(ctx, "nothing to add");
	else if (st.name_opt && st.prefix)
		ret = usage_error(ctx, "--name and --prefix cannot be used together");
	else if (st.name_opt && (argc != 1 || st.recursive))
		ret = usage_error(ctx, "--name takes exactly one file (and no -r)");
	for (c = 0; c < argc; c++)
		nstdin += !strcmp(argv[c], "-");
	if (!ret && nstdin && (!st.name_opt || argc != 1))
		ret = usage_error(ctx, "standard input (-) needs --name NAME and no other paths");
	if (ret)
		goto out;
	if (st.prefix && *st.prefix) {
		struct strbuf p = STRBUF_INIT;

		strbuf_addstr(&p, st.prefix);
		trim_slashes(&p);
		if (cdt_name_check(p.buf, &why) < 0) {
			strbuf_release(&p);
			ret = usage_error(ctx, "bad --prefix '%s': %s", quote(st.prefix), why.buf);
			goto out;
		}
		strbuf_release(&p);
	}

	/* Check everything before storing anything: bad input changes nothing. */
	{
		struct stat sb;

		st.store = ctx->store;
		if (fstat(cdt_store_rootfd(ctx->store), &sb) == 0) {
			st.store_dev = sb.st_dev;
			st.store_ino = sb.st_ino;
		}
	}
	if (collect(&st, argc, argv) < 0 || check_name_clashes(&st) < 0) {
		ret = EXIT_FAIL;
		goto out;
	}
	for (i = 0; i < st.nr; i++) {
		const char *name = st.src[i].name, *slash;
		int r;

		strbuf_reset(&why);
		if (cdt_name_check(name, &why) < 0) {
			error("bad name '%s' for '%s': %s", quote(name), quote(st.src[i].path), why.buf);
			ret = EXIT_FAIL;
			continue;
		}
		/*
		 * What the walk found (and the directory given: no root, it is
		 * opened as given) follows the tree: it replaces stored names of
		 * another kind in its way, those there now and those another add
		 * puts there before it is installed; a file named on the command
		 * line never replaces a directory.
		 */
		st.src[i].replace_type = !io.no_replace &&
					 (st.src[i].root || st.src[i].type == CDT_NAME_DIR);
		/* Under a directory of names found missing, every name is new. */
		if (missing.len && !strncmp(name, missing.buf, missing.len) && name[missing.len] == '/')
			continue;
		r = cdt_name_writable(ctx->store, name, st.src[i].type, io.no_replace);
		if (r == 1 && (slash = strrchr(name, '/'))) {
			strbuf_reset(&missing);
			strbuf_add(&missing, name, (size_t)(slash - name));
		}
		if ((r == -EISDIR || r == -ENOTDIR) && st.src[i].replace_type)
			r = 0;
		if (r == -EEXIST)
			error("name '%s' already exists (not replaced)", quote(st.src[i].name));
		else if (r == -EISDIR)
			error("cannot store '%s': it is a directory of names in the store "
			      "('cdt rm -r %s' first)", quote(st.src[i].name),
			      quote(st.src[i].name));
		else if (r == -ENOTDIR)
			error("cannot store '%s': %s is a stored name", quote(st.src[i].name),
			      st.src[i].type == CDT_NAME_DIR ? "it" : "a parent of it");
		else if (r < 0)
			error("cannot check name '%s': %s", quote(st.src[i].name), cdt_strerror(r));
		if (r < 0)
			ret = EXIT_FAIL;
	}
	if (ret != EXIT_OK)
		goto out;
	if (!st.nr) {
		if (st.skipped > 1)
			error("%zu paths skipped", st.skipped);
		if (st.skipped)
			ret = EXIT_FAIL;	/* nothing stored: not a partial success */
		else if (!quiet)
			warning("nothing to add: nothing to store was found");
		goto out;
	}
	for (i = 0; i < st.nr; i++)
		st.nfiles += st.src[i].type == CDT_NAME_REG;

	if (cdt_store_lock(ctx->store, CDT_LOCK_SHARED) < 0) {
		ret = EXIT_FAIL;
		goto out;
	}
	cdt_store_keep_config_copy(ctx->store);
	if (!no_cache) {
		st.cache = cdt_filescache_load(ctx->store);
		st.cwd = getcwd(NULL, 0);
		if (!st.cwd) {
			warning("cannot find the current directory (%s); the files cache is not used",
				cdt_strerror(errno));
			cdt_filescache_free(st.cache);
			st.cache = NULL;
		}
	}
	st.out = out;
	st.quiet = quiet;
	progress_start(&st.progress, !quiet);
	if (st.progress.enabled) {
		io.progress = show_progress;
		io.progress_data = &st;
	}
	io.group = cdt_test_group(GROUP_NAMES);
	io.done = name_done;
	io.done_data = &st;
	io.replace_type = source_replaces_type;
	ing = cdt_ingest_new(ctx->store, &io);
	/* Many files, and more than one thread: small ones are read and hashed ahead. */
	if (st.nr > 1 && (io.jobs ? io.jobs : cdt_online_cpus()) > 1)
		st.ahead = cdt_ahead_new(ctx->store, open_source, io.level);
	progress_restart(&st.progress);	/* the clock starts with the first file */
	for (i = 0; i < st.nr; i++) {
		struct source *src = &st.src[i];
		enum add_result r;

		if (st.ahead)
			push_ahead(&st, i);
		if (src->type == CDT_NAME_REG) {
			st.files_seen++;
			st.cur_size = src->have_st ? (uint64_t)src->st.st_size : 0;
			r = add_one(ing, &st, src);
			st.done_before += st.cur_size;
		} else {
			r = add_entry(ing, &st, src);
		}
		if (r == ADD_FAILED)
			st.failed++;
	}
	cdt_ahead_free(st.ahead);
	cdt_ingest_commit(ing);
	progress_finish(&st.progress);
	if (st.cache)
		save_cache(&st);
	/* One file has its own line; one directory (an empty one) has only this. */
	if (!quiet && out == OUT_HUMAN && (st.nr > 1 || st.dirs)) {
		double t = progress_seconds(&st.progress);
		char a[32], b[32];

		printf("%zu file%s", st.ok, st.ok == 1 ? "" : "s");
		if (st.dirs || st.symlinks)
			printf(", %zu director%s, %zu symbolic link%s", st.dirs, st.dirs == 1 ? "y" : "ies",
			       st.symlinks, st.symlinks == 1 ? "" : "s");
		printf(", %s read, %s stored new (%.1f%% deduplicated), %.2f s, %.1f MB/s",
		       human_size(st.total_in - st.unread_bytes, a, sizeof(a)),
		       human_size(st.total_new, b, sizeof(b)),
		       st.total_in ? 100.0 * (double)(st.total_in - st.total_raw) / (double)st.total_in : 0.0,
		       t, mb_per_s(st.total_in, t));
		if (st.unread)
			printf("; %zu unchanged file%s not read", st.unread, st.unread == 1 ? "" : "s");
		printf("\n");
	}
	if (st.failed && st.nr > 1)
		error("%zu of %zu names could not be added", st.failed, st.nr);
	if (st.skipped && (st.ok || st.failed || st.skipped > 1))
		error("%zu path%s skipped", st.skipped, st.skipped == 1 ? "" : "s");
	if (st.failed || !(st.ok + st.dirs + st.symlinks))
		ret = EXIT_FAIL;
	else if (st.skipped)
		ret = EXIT_SKIPPED;
out:
	cdt_ingest_free(ing);
	for (i = 0; i < st.nr; i++) {
		free(st.src[i].path);
		free(st.src[i].name);
	}
	free(st.src);
	if (st.stat_dirfd >= 0)
		close(st.stat_dirfd);
	strbuf_release(&st.stat_dir);
	for (i = 0; i < st.nroots; i++) {
		if (st.roots[i]->fd >= 0)
			close(st.roots[i]->fd);
		free(st.roots[i]);
	}
	free(st.roots);
	for (i = 0; i < st.nlinks; i++)
		free(st.link_seen[i].name);
	free(st.link_seen);
	cdt_idset_clear(&st.links);
	cdt_filescache_free(st.cache);
	free(st.cwd);
	cdt_exclude_free(st.exclude);
	strbuf_release(&why);
	strbuf_release(&missing);
	return ret;
}
