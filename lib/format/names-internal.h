/*
 * names-internal.h: what names.c (entries), names-walk.c (the walk) and
 * names-check.c (valid names, escapes) share.
 */
#ifndef CDT_NAMES_INTERNAL_H
#define CDT_NAMES_INTERNAL_H

#include "base/strbuf.h"
#include "format/store.h"

#include <sys/types.h>

/*
 * cdt_name_check(), or with `literal` the rule of version 1 entries, whose
 * names are literal (a backslash is a character like any other).
 */
int cdt_name_check_literal(const char *name, int literal, struct strbuf *why);

/* Read an entry file (at most CDT_NAME_ENTRY_MAX bytes) into buf: its length, or -errno. */
ssize_t name_read_entry(int fd, struct strbuf *buf);
/*
 * The directory under names/ that holds `name` (made first with `create`),
 * not following symbolic links; *base is its last component. An fd, or -errno.
 */
int name_open_parent(struct cdt_store *s, const char *name, int create, const char **base);

/* Remove the names of another type in the way of e's entry (cdt_name_install()). 0 or -errno. */
struct cdt_name_entry;
struct cdt_name_gone;
int name_make_room(struct cdt_store *s, const struct cdt_name_entry *e,
		   const struct cdt_name_gone *gone);

#endif
