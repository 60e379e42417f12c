/* cmd/add-walk.c: what cdt add stores: the walk of directories (-r), names for PATH arguments, and name clashes. */
#include "cmd.h"
#include "add.h"
#include "base/exclude.h"
#include "format/names.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void add_source(struct add_state *st, const char *path, const char *name, int type,
		       const struct stat *sb)
{
	struct source *src;

	ALLOC_GROW(st->src, st->nr + 1, st->alloc);
	src = &st->src[st->nr++];
	memset(src, 0, sizeof(*src));
	src->path = xstrdup(path);
	src->name = xstrdup(name);
	src->is_stdin = !strcmp(path, "-");
	src->type = type;
	if (sb) {
		src->st = *sb;
		src->have_st = 1;
	}
}

/*
 * openat(AT_FDCWD, path, flags) for a path of any length. The kernel takes
 * paths shorter than PATH_MAX only, and a walk can reach further: a longer
 * one is opened a piece of whole components at a time, each piece relative
 * to the directory the one before reached. -1 with errno set.
 */
int open_path(const char *path, int flags)
{
	const char *p = path;
	size_t len = strlen(path);
	int fd = AT_FDCWD, next, e;

	while (len >= PATH_MAX) {
		size_t cut = PATH_MAX - 1;
		char *piece;

		while (cut && p[cut] != '/')
			cut--;
		if (!cut) {
			/* No component is this long; the path is not one. */
			if (fd != AT_FDCWD)
				close(fd);
			errno = ENAMETOOLONG;
			return -1;
		}
		piece = xstrndup(p, cut);
		next = openat(fd, piece, O_PATH | O_DIRECTORY | O_CLOEXEC);
		e = errno;
		free(piece);
		if (fd != AT_FDCWD)
			close(fd);
		if (next < 0) {
			errno = e;
			return -1;
		}
		fd = next;
		while (p[cut] == '/')
			cut++;
		p += cut;
		len -= cut;
	}
	next = openat(fd, *p ? p : ".", flags);
	e = errno;
	if (fd != AT_FDCWD)
		close(fd);
	errno = e;
	return next;
}

/*
 * The directory a walk started from, path[0..root->len): its held
 * descriptor (a new one, for the caller to close), or opened as given
 * (followed, as a PATH argument is) and found to be the one walked: were
 * it swapped for a link to "/" since, its files would be others.
 */
static int open_root(const char *path, const struct walk_root *root)
{
	char *dir;
	int fd;
	struct stat sb;

	if (root->fd >= 0)
		return fcntl(root->fd, F_DUPFD_CLOEXEC, 0);
	dir = xstrndup(path, root->len);
	fd = open_path(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd >= 0 && (fstat(fd, &sb) < 0 || sb.st_dev != root->dev || sb.st_ino != root->ino)) {
		close(fd);
		errno = ESTALE;
		return -1;
	}
	return fd;
}

/*
 * The walk found path as a file or directory under root (or root itself),
 * and that is what is read: were a directory on the way swapped for a
 * symbolic link to "/" (or the file for one to a secret) between the walk
 * and the read, what the link points to is not added under the tree's
 * names.
 */
int open_walked(const char *path, const struct walk_root *root, int flags)
{
	const char *rel;
	int rootfd, fd;

	if (!root)
		return open_path(path, flags);
	rel = path[root->len] ? path + root->len + 1 : ".";
	if (root->fd >= 0) {
		rootfd = root->fd;
	} else {
		rootfd = open_root(path, root);
		if (rootfd < 0)
			return -1;
	}
	fd = openat_beneath(rootfd, rel, flags, 0);
	if (rootfd != root->fd)
		close(rootfd);
	if (fd < 0) {
		errno = -fd;
		return -1;
	}
	return fd;
}

int open_walked_parent(const char *path, const struct walk_root *root, const char **base)
{
	/* path is root/REL: its last '/' is the one after root, or one in REL. */
	const char *slash = strrchr(path, '/');
	size_t len = (size_t)(slash - path);
	char *dir;
	int fd, e;

	*base = slash + 1;
	if (len <= root->len)
		return open_root(path, root);
	dir = xstrndup(path, len);
	fd = open_walked(dir, root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	e = errno;
	free(dir);
	errno = e;
	return fd;
}

const char *open_walked_why(int err, const struct walk_root *root)
{
	/* openat_beneath(): a link last is ELOOP, one on the way ENOTDIR. */
	if (root && (err == ELOOP || err == ENOTDIR))
		return "it or a directory above it was replaced since the walk "
		       "(a symbolic link is not followed)";
	if (root && err == ESTALE)
		return "the directory given was replaced since the walk";
	return cdt_strerror(err);
}

/*
 * O_NONBLOCK, then blocking again: a FIFO that took a file's place after
 * the walk would otherwise hold the open (and the add) for ever, waiting
 * for a writer. The caller finds it is not a regular file.
 */
int open_source(const void *src, int flags)
{
	const struct source *s = src;
	int fd = open_walked(s->path, s->root, flags | O_NONBLOCK);

	/* F_SETFL takes the status flags: flags hold the only one set. */
	if (fd >= 0)
		fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	return fd;
}

int stat_path_flags(const char *path, struct stat *sb, int nofollow)
{
	int fd, ret, e;

	if (strlen(path) < PATH_MAX)
		return fstatat(AT_FDCWD, path, sb, nofollow ? AT_SYMLINK_NOFOLLOW : 0);
	fd = open_path(path, O_PATH | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
	if (fd < 0)
		return -1;
	ret = fstat(fd, sb);
	e = errno;
	close(fd);
	errno = e;
	return ret;
}

/*
 * An input that will not be stored although it was asked for (a directory
 * that cannot be read, a file that cannot be opened or named): one line
 * naming it and why, then the others go on.
 */
void skip(struct add_state *st, const char *path, const char *fmt, ...)
{
	struct strbuf why = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&why, fmt, ap);
	va_end(ap);
	error("skipping '%s': %s", quote(path), why.buf);
	strbuf_release(&why);
	st->skipped++;
}

/* A directory entry, examined while its directory was open. */
struct walk_entry {
	char *base;
	int err;		/* errno of fstatat(), or 0 */
	unsigned char d_type;	/* what readdir() said it is (DT_UNKNOWN if it could not) */
	mode_t mode;
	dev_t dev;
	ino_t ino;
	struct stat st;
};

/* A directory being walked: its sorted entries and the next to visit. */
struct walk_dir {
	char *path;		/* on disk, as the walk reached it */
	char *name;		/* the name its files are stored under */
	struct walk_entry *ent;
	size_t nr, next;
};

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct walk_entry *)a)->base, ((const struct walk_entry *)b)->base);
}

/*
 * Read the directory `path` (to be named `name`) and push it on the walk's
 * stack; or report it skipped. Its entries are examined relative to its
 * file descriptor, which is closed before the walk goes on, so the walk
 * holds no descriptor however deep it goes.
 */
static void push_dir(struct add_state *st, struct walk_dir **stack, size_t *depth,
		     size_t *alloc, const char *path, const char *name, const struct walk_root *root)
{
	struct strbuf why = STRBUF_INIT;
	struct walk_entry *ent = NULL;
	size_t nr = 0, nalloc = 0, i;
	struct dirent *de;
	DIR *d;
	int fd;

	/*
	 * Every name under the directory starts with its own, so a directory
	 * whose name cannot lead a stored one is skipped whole. This also
	 * bounds the depth: a name has at most CDT_NAME_MAX / 2 components.
	 */
	if (strlen(name) + 2 > CDT_NAME_MAX) {
		skip(st, path, "names under it would be longer than %d bytes", CDT_NAME_MAX);
		goto out;
	}
	if (*name && cdt_name_check(name, &why) < 0) {
		skip(st, path, "%s", why.buf);
		goto out;
	}
	fd = open_walked(path, root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		skip(st, path, "cannot open directory: %s", open_walked_why(errno, root));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		ALLOC_GROW(ent, nr + 1, nalloc);
		memset(&ent[nr], 0, sizeof(*ent));
		ent[nr].d_type = de->d_type;
		ent[nr++].base = xstrdup(de->d_name);
	}
	if (errno) {
		skip(st, path, "cannot read directory: %s", cdt_strerror(errno));
		closedir(d);
		for (i = 0; i < nr; i++)
			free(ent[i].base);
		free(ent);
		goto out;
	}
	for (i = 0; i < nr; i++) {
		struct stat sb;

		if (fstatat(dirfd(d), ent[i].base, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			ent[i].err = errno;
			continue;
		}
		ent[i].mode = sb.st_mode;
		ent[i].dev = sb.st_dev;
		ent[i].ino = sb.st_ino;
		ent[i].st = sb;
	}
	/* The directory itself: its metadata, and that it exists if it stays empty. */
	if (*name) {
		struct stat ds;

		if (fstat(dirfd(d), &ds) == 0) {
			add_source(st, path, name, CDT_NAME_DIR, &ds);
			/* The directory given has no root: it is opened as given. */
			st->src[st->nr - 1].root = root && path[root->len] ? root : NULL;
		}
	}
	closedir(d);
	if (nr > 1)
		qsort(ent, nr, sizeof(*ent), cmp_entry);
	ALLOC_GROW(*stack, *depth + 1, *alloc);
	(*stack)[*depth].path = xstrdup(path);
	(*stack)[*depth].name = xstrdup(name);
	(*stack)[*depth].ent = ent;
	(*stack)[*depth].nr = nr;
	(*stack)[*depth].next = 0;
	(*depth)++;
out:
	strbuf_release(&why);
}

/*
 * Add every regular file under the directory `dir` (a path on disk, sb
 * its stat()), named under `name`, in byte order depth first. The stack
 * of directories lives on the heap: a deep tree costs memory, not the
 * process's stack.
 */
static void walk(struct add_state *st, const char *dir, const char *name, const struct stat *sb)
{
	struct walk_dir *stack = NULL;
	size_t depth = 0, alloc = 0;
	size_t rel = strlen(dir) + 1;	/* every path is dir/REL: patterns match REL */
	struct strbuf nb = STRBUF_INIT;
	struct walk_root *root = xcalloc(1, sizeof(*root));
	dev_t dev = sb->st_dev;

	root->len = rel - 1;
	root->dev = sb->st_dev;
	root->ino = sb->st_ino;
	root->fd = -1;
	/* Swapped since the stat: opened by path later, and found not to be it. */
	if (st->nroots < WALK_ROOTS_HELD)
		root->fd = open_root(dir, root);
	ALLOC_GROW(st->roots, st->nroots + 1, st->aroots);
	st->roots[st->nroots++] = root;
	/* The directory given itself: through its descriptor if held, else as given. */
	push_dir(st, &stack, &depth, &alloc, dir, name, root->fd >= 0 ? root : NULL);
	while (depth) {
		struct walk_dir *top = &stack[depth - 1];
		struct walk_entry *e;
		char *p, *n;

		if (top->next == top->nr) {
			free(top->path);
			free(top->name);
			free(top->ent);
			depth--;
			continue;
		}
		e = &top->ent[top->next++];
		p = xstrfmt("%s/%s", top->path, e->base);
		/* Any byte a file system allows in a name is stored, escaped. */
		strbuf_reset(&nb);
		if (*top->name) {
			strbuf_addstr(&nb, top->name);
			strbuf_addch(&nb, '/');
		}
		cdt_name_escape(e->base, strlen(e->base), &nb);
		n = xstrdup(nb.buf);
		free(e->base);
		/*
		 * An entry that cannot be examined (its directory readable but not
		 * searchable) is a directory if readdir() said so, as for git: a
		 * "cache/" left out is not reported as a path skipped.
		 */
		if (st->exclude && cdt_exclude_match(st->exclude, p + rel, strlen(p + rel),
						     e->err ? e->d_type == DT_DIR : S_ISDIR(e->mode))) {
			/* Left out as asked: not reported, and not opened. */
		} else if (e->err) {
			skip(st, p, "cannot stat: %s", cdt_strerror(e->err));
		} else if (S_ISDIR(e->mode)) {
			if (e->dev == st->store_dev && e->ino == st->store_ino)
				warning("skipping '%s': it is the store", quote(p));
			else if (st->one_fs && e->dev != dev)
				;	/* a mount point: not entered, as asked */
			else
				push_dir(st, &stack, &depth, &alloc, p, n, root);	/* moves top */
		} else if (S_ISREG(e->mode) || S_ISLNK(e->mode)) {
			struct strbuf why = STRBUF_INIT;

			/*
			 * One file with an unusable name (too long once escaped)
			 * must not stop a nightly backup of thousands: skip it
			 * loudly and go on.
			 */
			if (cdt_name_check(n, &why) < 0) {
				skip(st, p, "%s", why.buf);
			} else {
				add_source(st, p, n, S_ISREG(e->mode) ? CDT_NAME_REG : CDT_NAME_SYMLINK,
					   &e->st);
				st->src[st->nr - 1].root = root;
			}
			strbuf_release(&why);
		} else {
			warning("skipping '%s': %s", quote(p), S_ISFIFO(e->mode) ? "a FIFO is not stored" :
				S_ISSOCK(e->mode) ? "a socket is not stored" :
				"device files are not stored");
		}
		free(p);
		free(n);
	}
	free(stack);
	strbuf_release(&nb);
}

/* The last component of path, or "" for "/", "." and "..". */
static const char *base_component(const char *path, struct strbuf *tmp)
{
	size_t len = strlen(path);
	const char *b;

	while (len > 1 && path[len - 1] == '/')
		len--;
	strbuf_reset(tmp);
	strbuf_add(tmp, path, len);
	b = strrchr(tmp->buf, '/');
	b = b ? b + 1 : tmp->buf;
	if (!strcmp(b, ".") || !strcmp(b, ".."))
		return "";
	return b;
}

/* Name for a PATH argument (before -r expansion). */
static int name_for_arg(struct add_state *st, const char *path, struct strbuf *out)
{
	struct strbuf why = STRBUF_INIT, tmp = STRBUF_INIT;
	int ret = 0;

	strbuf_reset(out);
	if (st->name_opt) {
		strbuf_addstr(out, st->name_opt);
	} else if (st->prefix) {
		const char *b = base_component(path, &tmp);

		strbuf_addstr(out, st->prefix);
		while (out->len && out->buf[out->len - 1] == '/')
			strbuf_setlen(out, out->len - 1);
		if (*b) {
			if (out->len)
				strbuf_addch(out, '/');
			/* A file system's bytes, escaped as a walk escapes them. */
			cdt_name_escape(b, strlen(b), out);
		}
	} else if (cdt_name_from_path(path, out, &why) < 0) {
		if (!strcmp(why.buf, "path gives an empty name"))
			ret = 0;	/* "." with -r: names are the paths inside */
		else
			ret = error("cannot name '%s': %s; use --name or --prefix", quote(path), why.buf);
	}
	strbuf_release(&why);
	strbuf_release(&tmp);
	return ret;
}

/*
 * A file given as a PATH is matched by its base name, as if it were in the
 * top directory of a walk: "cdt add --exclude '*.tmp' *" leaves out what
 * the shell expanded. A directory given is the root patterns are relative
 * to, and is not matched itself.
 */
static int excluded_arg(struct add_state *st, const char *path)
{
	struct strbuf tmp = STRBUF_INIT;
	const char *b = base_component(path, &tmp);
	int ret = st->exclude && *b && cdt_exclude_match(st->exclude, b, strlen(b), 0);

	strbuf_release(&tmp);
	return ret;
}

/*
 * Is the PATH argument (a directory, or a file's directory, links
 * followed) in the store? What is there is cdt's own, not data to add.
 */
static int in_store(struct add_state *st, const char *path, int is_dir)
{
	struct strbuf dir = STRBUF_INIT;
	const char *slash = is_dir ? NULL : strrchr(path, '/');
	int fd, ret = 0;

	if (is_dir)
		strbuf_addstr(&dir, path);
	else if (slash)
		strbuf_add(&dir, path, (size_t)(slash - path) + 1);
	else
		strbuf_addch(&dir, '.');
	fd = open_path(dir.buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		ret = cdt_store_holds_dir(st->store, fd);
		close(fd);
	}
	strbuf_release(&dir);
	return ret;
}

int collect(struct add_state *st, int argc, char **argv)
{
	struct strbuf name = STRBUF_INIT;
	int i;

	for (i = 0; i < argc; i++) {
		const char *path = argv[i];
		struct stat sb;

		if (name_for_arg(st, path, &name) < 0) {
			st->bad = 1;
			continue;
		}
		if (!strcmp(path, "-")) {
			add_source(st, path, name.buf, CDT_NAME_REG, NULL);
			continue;
		}
		if (stat_path_flags(path, &sb, 0) < 0) {
			error("cannot add '%s': %s", quote(path), cdt_strerror(errno));
			st->bad = 1;
		} else if (S_ISDIR(sb.st_mode)) {
			if (!st->recursive) {
				error("cannot add '%s': it is a directory (use -r)", quote(path));
				st->bad = 1;
			} else if (sb.st_dev == st->store_dev && sb.st_ino == st->store_ino) {
				error("cannot add '%s': it is the store", quote(path));
				st->bad = 1;
			} else if (in_store(st, path, 1)) {
				error("cannot add '%s': it is in the store '%s'", quote(path),
				      cdt_store_path(st->store));
				st->bad = 1;
			} else {
				walk(st, path, name.buf, &sb);
			}
		} else if (S_ISREG(sb.st_mode)) {
			if (excluded_arg(st, path)) {
				continue;
			} else if (in_store(st, path, 0)) {
				error("cannot add '%s': it is in the store '%s'", quote(path),
				      cdt_store_path(st->store));
				st->bad = 1;
			} else if (!name.len && !st->name_opt) {
				error("cannot name '%s': use --name or --prefix", quote(path));
				st->bad = 1;
			} else {
				add_source(st, path, name.buf, CDT_NAME_REG, &sb);
			}
		} else {
			error("cannot add '%s': not a regular file", quote(path));
			st->bad = 1;
		}
	}
	strbuf_release(&name);
	return st->bad ? -1 : 0;
}

static int cmp_source(const void *a, const void *b)
{
	const struct source *x = *(const struct source *const *)a;
	const struct source *y = *(const struct source *const *)b;

	return strcmp(x->name, y->name);
}

/*
 * Two sources with one name, or one name under another ("a" and "a/b"),
 * would make the later replace or fail on the earlier: refuse before
 * storing anything. Sorted, a conflict is always between neighbours or a
 * name and a later one starting with it and '/'.
 */
int check_name_clashes(struct add_state *st)
{
	const struct source **sorted;
	size_t i, j;
	int ret = 0;

	if (st->nr < 2)
		return 0;
	/* Pointers sorted, not the sources: 13,000 names in 8 ms, not 18. */
	sorted = xmalloc(st->nr * sizeof(*sorted));
	for (i = 0; i < st->nr; i++)
		sorted[i] = &st->src[i];
	qsort(sorted, st->nr, sizeof(*sorted), cmp_source);
	for (i = 0; i + 1 < st->nr; i++) {
		size_t len = strlen(sorted[i]->name);

		if (!strcmp(sorted[i]->name, sorted[i + 1]->name)) {
			ret = error("'%s' and '%s' would both be stored as '%s'",
				    quote(sorted[i]->path), quote(sorted[i + 1]->path),
				    quote(sorted[i]->name));
			continue;
		}
		/* A directory's entry goes with the names under it. */
		for (j = i + 1; sorted[i]->type != CDT_NAME_DIR && j < st->nr &&
			    !strncmp(sorted[j]->name, sorted[i]->name, len); j++) {
			if (sorted[j]->name[len] == '/') {
				ret = error("'%s' would be stored as '%s', which '%s' needs as a directory",
					    quote(sorted[i]->path), quote(sorted[i]->name),
					    quote(sorted[j]->name));
				break;
			}
		}
	}
	free(sorted);
	return ret;
}
