/* cmd/add.h: what cmd/add.c (storing), cmd/add-walk.c (finding what to store) and cmd/add-xattrs.c share. */
#ifndef CDT_CMD_ADD_H
#define CDT_CMD_ADD_H

#include "cmd.h"
#include "base/idset.h"
#include "base/strbuf.h"

#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct cdt_exclude;
struct cdt_ahead;
struct cdt_filescache;
struct link_seen;

enum output { OUT_HUMAN, OUT_PORCELAIN, OUT_JSON };

/*
 * A directory a walk started from, as the walk found it. The first
 * WALK_ROOTS_HELD are held open from the walk to the end of the add, and
 * every file under one is opened through its descriptor: the directory
 * walked is the one read, wherever it is moved meanwhile, and a file costs
 * no open of the root by path. A root beyond those is opened by path each
 * time, and must still be the directory walked (ESTALE if not).
 */
#define WALK_ROOTS_HELD 64
struct walk_root {
	size_t len;		/* every path the walk makes is path[0..len) "/" REL */
	dev_t dev;		/* the directory, which must still be there when read */
	ino_t ino;
	int fd;			/* O_PATH descriptor of it, or -1: opened by path */
};

struct source {
	char *path;
	char *name;
	int is_stdin;
	int type;		/* CDT_NAME_REG, CDT_NAME_SYMLINK or CDT_NAME_DIR */
	int have_st;		/* st is lstat() of the path as the walk found it */
	struct stat st;		/* once read: fstat() of the file as it was read */
	int cache_ok;		/* read, unchanged: the files cache may learn it */
	const struct walk_root *root;	/* found by a walk from there; NULL if not */
	int64_t read_at;	/* when reading it began */
	int ahead;		/* pushed to st->ahead, taken by add_one() */
	int replace_type;	/* its name replaces stored names of another type */
};

struct add_state {
	struct source *src;
	size_t nr, alloc;
	const char *name_opt;
	const char *prefix;
	int recursive;
	struct cdt_exclude *exclude;	/* --exclude, --exclude-from; NULL if none */
	int one_fs;		/* -x: directories on other file systems are not entered */
	struct walk_root **roots;	/* of the walks, for their sources */
	size_t nroots, aroots;
	int bad;
	size_t skipped;		/* inputs reported and not stored; the rest go on */
	struct cdt_store *store;
	dev_t store_dev;	/* the store itself is never added */
	ino_t store_ino;
	int xattrs;		/* --xattrs: store extended attributes and ACLs */
	unsigned paused;	/* the "files-cache" test pause is met once */
	struct cdt_filescache *cache;	/* NULL with --no-cache */
	struct cdt_ahead *ahead;	/* small files read ahead; NULL if not */
	size_t ahead_pushed;		/* sources considered for it so far */
	char *cwd;		/* relative paths are cached under cwd/ */
	/* The directory of the file stat_now() looked at last, open; -1 if none. */
	int stat_dirfd;
	const struct walk_root *stat_root;
	struct strbuf stat_dir;
	/* Files with several links: the first name of each (dev, inode). */
	struct cdt_idset links;
	struct link_seen *link_seen;
	size_t nlinks, alinks;
	/* What was stored, counted as each batch is committed. */
	enum output out;
	int quiet;
	size_t ok, failed, dirs, symlinks, unread;
	size_t nfiles, files_seen;	/* regular files to add, and begun */
	uint64_t cur_size;		/* the size of the one being read, if known */
	uint64_t total_in, total_new, total_raw, unread_bytes;
	/* progress */
	struct progress progress;
	uint64_t done_before;
	const char *current;
};

/* openat(AT_FDCWD, path, flags) for a path of any length; -1 with errno set. */
int open_path(const char *path, int flags);
/* stat() (lstat() with nofollow) for a path of any length. 0, or -1 with errno set. */
int stat_path_flags(const char *path, struct stat *sb, int nofollow);
/*
 * Open path, which a walk from root found (NULL: a PATH argument, opened
 * as open_path() does): path is the root itself or under it. The root is
 * the directory the walk started from (its held descriptor, or opened by
 * path and found to be it: ESTALE if not), and below it no symbolic link
 * is followed, the last component's included. -1 with errno set.
 */
int open_walked(const char *path, const struct walk_root *root, int flags);
/*
 * The directory holding path (found by a walk from root, not NULL),
 * opened with O_PATH as open_walked() opens it; *base is the last
 * component of path. -1 with errno set.
 */
int open_walked_parent(const char *path, const struct walk_root *root, const char **base);
/* The reason open_walked() failed with err, for a message. */
const char *open_walked_why(int err, const struct walk_root *root);
/* open_walked() of a source, to read it: a FIFO does not block the open. */
int open_source(const void *src, int flags);
/* An input reported and not stored (one line naming it and why); the others go on. */
void skip(struct add_state *st, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * The sources of the PATH arguments, walked with -r: st->src. Problems are
 * reported; -1 when one makes the add fail before anything is stored.
 */
int collect(struct add_state *st, int argc, char **argv);
/* Two sources with one name, or a file name under another: reported, -1. */
int check_name_clashes(struct add_state *st);
struct cdt_name_entry;
/*
 * With --xattrs, the extended attributes and ACLs of src into e (name
 * entry records, names in byte order; add-xattrs.c), read as its content
 * is: from fd if it is open (>= 0: what was read, even if another file
 * took its name since), else a PATH argument followed if it is a symbolic
 * link, what a walk found through its directory opened without following
 * one (see open_walked()). 0, or -1 after a warning (then stored without
 * them).
 */
int add_read_xattrs(const struct add_state *st, const struct source *src, int fd,
		    struct cdt_name_entry *e);

#endif
