/* fsutil.h: durable file-system operations (temp files, atomic rename, directory fsync). */
#ifndef CDT_FSUTIL_H
#define CDT_FSUTIL_H

#include <stdint.h>
#include <sys/types.h>
#include "base/strbuf.h"

/* Create `path` and missing parents with mode 0777 & ~umask. 0 or -errno. */
int mkdir_p(const char *path);
/* Same, relative to dirfd; creates every component of `rel`. */
int mkdirat_p(int dirfd, const char *rel);
/* mkdirat_p() that syncs new directories' parents only with `sync` set. */
int mkdirat_p_flags(int dirfd, const char *rel, int sync);
/* fsync the directory `path` (relative to dirfd). 0 or -errno. */
int fsync_dirat(int dirfd, const char *path);

/*
 * Open a new temporary file "PREFIX-PID-RANDOM" in directory tmpfd with
 * O_EXCL; its name relative to tmpfd goes to `name`. Returns fd or -errno.
 * The file is remembered, so that a signal that stops the process (see
 * tmpfile_install_signal_handlers) removes it, if it is one of the last
 * TMPFILE_REMEMBERED made: no caller keeps more than that alive at once.
 */
#define TMPFILE_REMEMBERED 2048
int tmpfile_openat(int tmpfd, const char *prefix, struct strbuf *name);
/* The same, created with `mode` (before the umask) instead of 0666. */
int tmpfile_openat_mode(int tmpfd, const char *prefix, struct strbuf *name, mode_t mode);
/*
 * Forget a temporary file that was renamed or removed; needed only when its
 * directory descriptor is about to be closed (so the number can be reused).
 */
void tmpfile_forget(int tmpfd, const char *name);
/*
 * fsync the temporary file tmpfd/name, written and closed before; on
 * failure remove it. 0 or -errno.
 */
int tmpfile_sync(int tmpfd, const char *name);
/*
 * On SIGINT, SIGTERM, SIGHUP and SIGQUIT, remove the remembered temporary
 * files that still exist, then die of the signal as usual. Removing a name
 * that was already renamed away is harmless: names are random and only
 * ever removed from the directory they were created in.
 */
void tmpfile_install_signal_handlers(void);

/*
 * Move from (relative to fromfd) to `to` (relative to tofd) without ever
 * replacing an existing file. Returns 0 when moved, 1 when `to` already
 * existed (and `from` was removed), or -errno (with `from` left in place).
 */
int rename_noreplace(int fromfd, const char *from, int tofd, const char *to);

/*
 * Map the regular file dirfd/name read-only (never through a symbolic
 * link). Its size must be between min and max, else -CDT_ECORRUPT: a file
 * that cannot be what it claims is damage, and nothing is mapped. Returns
 * 0 (unmap with munmap(*map, *len)), -ENOENT or -errno.
 */
int map_file_at(int dirfd, const char *name, uint64_t min, uint64_t max,
		const unsigned char **map, size_t *len);

/* Read a whole small file (at most max bytes, else -EFBIG). 0 or -errno. */
int read_small_fileat(int dirfd, const char *path, size_t max, struct strbuf *out);

/* A directory listing, sorted by name, with file types (DT_DIR, DT_REG; DT_LNK for anything else). */
struct cdt_dent {
	char *name;
	unsigned char type;
};
/* List dirfd/path (never through a symbolic link). 0 or -errno. */
int cdt_list_dir(int dirfd, const char *path, struct cdt_dent **out, size_t *nr);
void cdt_dents_free(struct cdt_dent *v, size_t n);

/* How deep dir_usage_at() and remove_tree_at() go. */
#define FS_TREE_DEPTH_MAX 64
/*
 * Bytes of the regular files under dirfd/path (counted in *files, if
 * given), not following symbolic links; 0 if it cannot be read.
 */
uint64_t dir_usage_at(int dirfd, const char *path, uint64_t *files, int depth);
/*
 * The same, added to *bytes (and *files), for a caller that must not
 * report a figure short: 0, or -errno if any part could not be read.
 */
int dir_usage_checked_at(int dirfd, const char *path, uint64_t *bytes, uint64_t *files,
			 int depth);
/* Remove dirfd/name, a file or a whole directory tree. 0 or -errno. */
int remove_tree_at(int dirfd, const char *name, int depth);

/*
 * Was a directory listed at `listed_at` (CLOCK_REALTIME) so soon after its
 * last change (its mtime and ctime, as fstat gave them before the listing)
 * that a later change might leave both times as they were? File systems
 * stamp changes with a coarse clock (a few milliseconds; whole seconds on
 * some), so a change within the same tick as the listing does not show:
 * such a listing is "racy" (git's word for index entries of the same
 * problem) and its unchanged times prove nothing. A time in the future
 * counts as racy too. CDT_RACY_SECONDS of margin.
 */
#define CDT_RACY_SECONDS 2
struct timespec;
int listing_racy(const struct timespec *listed_at, const struct timespec *mtime,
		 const struct timespec *ctime);

#endif
