/* exclude.h: gitignore-style exclude patterns, and matching paths against them. */
#ifndef CDT_EXCLUDE_H
#define CDT_EXCLUDE_H

#include <stddef.h>

struct strbuf;

/*
 * An ordered list of patterns with the meaning gitignore(5) gives them.
 * Paths are matched as bytes, relative to the root of a walk, with
 * components separated by single '/' and no '/' at either end ("a/b.o").
 *
 *  - "!" first negates: a path the pattern matches is not excluded (a
 *    literal '!' first is written "\!");
 *  - a '/' at the end matches directories only (and is not part of what
 *    is matched);
 *  - a pattern with a '/' at the start or in the middle is anchored: it is
 *    matched against the whole path (a leading '/' dropped); one without
 *    is matched against the last component, at any depth;
 *  - '*' matches any bytes but '/', '?' any one byte but '/', "[...]" one
 *    byte of a set ("[!...]" or "[^...]" outside it; ranges "a-z", classes
 *    "[:alpha:]", ']' first or "\]" as a member; never '/'), '\' quotes
 *    the next byte;
 *  - "**" as a whole component (between slashes, or at either end)
 *    matches zero or more components: first, at any depth; between two
 *    others, "a" and "b", it matches a/b and a/x/y/b; last, it matches one
 *    or more (everything inside what comes before it). Anywhere else "**"
 *    is "*".
 *
 * The last pattern that matches a path decides. Excluding a directory
 * excludes what is inside it only because a walk does not go into it: the
 * matcher itself answers for the one path it is given.
 */
struct cdt_exclude;

struct cdt_exclude *cdt_exclude_new(void);
void cdt_exclude_free(struct cdt_exclude *ex);

/* Whether any pattern was added. */
int cdt_exclude_empty(const struct cdt_exclude *ex);

/*
 * Add one pattern, taken as it is (as one given on a command line: no
 * comments, no trimming). 0, or -EINVAL with the reason in `why` (a '['
 * without its ']', an unknown class, a '\' at the end, an empty pattern).
 */
int cdt_exclude_add(struct cdt_exclude *ex, const char *pattern, struct strbuf *why);

/*
 * Add the patterns in `buf` (len bytes), one a line, as a gitignore file
 * holds them: a UTF-8 byte order mark first is dropped, "\r\n" ends a line
 * as "\n" does, blank lines and lines starting with '#' are skipped
 * ("\#" for a pattern starting with '#'), and trailing spaces are trimmed
 * unless quoted with '\'. All of them, or none: 0, or -EINVAL with "line
 * N: REASON" in `why`.
 */
int cdt_exclude_add_lines(struct cdt_exclude *ex, const char *buf, size_t len, struct strbuf *why);

/*
 * Add the patterns of the file `path`, as cdt_exclude_add_lines() does.
 * 0; -errno when it cannot be read (-EFBIG beyond 64 MiB), `why` empty;
 * or -EINVAL with the reason in `why`.
 */
int cdt_exclude_add_file(struct cdt_exclude *ex, const char *path, struct strbuf *why);

/*
 * Is `path` (len bytes, relative to the root, as described above)
 * excluded? is_dir: whether it is a directory. 1 or 0.
 */
int cdt_exclude_match(const struct cdt_exclude *ex, const char *path, size_t len, int is_dir);

#endif
