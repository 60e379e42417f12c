/* fsutil.h: durable file-system operations (temp files, atomic rename, directory fsync). */
#ifndef CDT_FSUTIL_H
#define CDT_FSUTIL_H

#include "strbuf.h"

/* Create `path` and missing parents with mode 0777 & ~umask. 0 or -errno. */
int mkdir_p(const char *path);
/* Same, relative to dirfd; creates every component of `rel`. */
int mkdirat_p(int dirfd, const char *rel);
/* fsync the directory `path` (relative to dirfd). 0 or -errno. */
int fsync_dirat(int dirfd, const char *path);

/*
 * Open a new temporary file "PREFIX-PID-RANDOM" in directory tmpfd with
 * O_EXCL; its name relative to tmpfd goes to `name`. Returns fd or -errno.
 * The file is remembered, so that a signal that stops the process (see
 * tmpfile_install_signal_handlers) removes it.
 */
int tmpfile_openat(int tmpfd, const char *prefix, struct strbuf *name);
/*
 * Forget a temporary file that was renamed or removed; needed only when its
 * directory descriptor is about to be closed (so the number can be reused).
 */
void tmpfile_forget(int tmpfd, const char *name);
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

/* Read a whole small file (at most max bytes, else -EFBIG). 0 or -errno. */
int read_small_fileat(int dirfd, const char *path, size_t max, struct strbuf *out);

#endif
