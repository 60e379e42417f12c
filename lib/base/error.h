/* error.h: error codes, reporting (error, warning, die) and their text. */
#ifndef CDT_ERROR_H
#define CDT_ERROR_H

#include <errno.h>
#include <stdarg.h>

/*
 * Error codes beyond errno. Library functions return 0 (or a count) on
 * success and a negative errno value on failure; data that fails a check is
 * -CDT_ECORRUPT, so callers (and the FUSE view) can tell damage from I/O.
 */
#define CDT_ECORRUPT EBADMSG
#define CDT_EVERSION EPROTONOSUPPORT

/*
 * Is err what a copy of data says when it is damage (missing, or failing
 * its checks), rather than an error that says only that it could not be
 * read this time (EIO, EMFILE, ENOMEM: that copy may be good)?
 */
static inline int cdt_err_is_damage(int err)
{
	return err == -ENOENT || err == -CDT_ECORRUPT;
}

/*
 * Reporting. error() prints "error: MSG" to stderr and returns -1, so that
 * `return error(...)` reads naturally; warning() prints "warning: MSG".
 * The FUSE view replaces the routine to send messages to its log instead.
 */
int error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Like error(), but returns `err` (a negative error code) unchanged:
 * `return error_code(ret, "cannot open '%s': %s", path, cdt_strerror(ret))`.
 * (Not git's error_errno(), which appends strerror(errno) itself.)
 */
int error_code(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/*
 * From now on, on the calling thread, error() and error_code() print
 * "warning: " (on 1) or "error: " again (0); returns the setting before.
 * For work whose failure the caller reports as a warning and does not
 * fail for (add and rm keeping info/ up to date), so that its messages do
 * not say "error" of a command that succeeds.
 */
int cdt_errors_as_warnings(int on);

typedef void (*report_fn)(const char *prefix, const char *fmt, va_list ap);
/* Replace the routine (NULL: back to report_to_stderr()). */
void set_report_routine(report_fn fn);
/* The routine in place unless replaced: "PREFIXMSG\n" on stderr, in one write. */
void report_to_stderr(const char *prefix, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/*
 * Text for an error code (a negative one as lib/ returns, or an errno;
 * CDT_E* included): the one way an error becomes text, so that the same
 * damage reads the same from every command ("data is corrupt", never
 * "Bad message").
 */
const char *cdt_strerror(int err);

#endif
