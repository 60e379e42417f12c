/* names-internal.h: what names.c (entries, the walk) and names-check.c (valid names, escapes) share. */
#ifndef CDT_NAMES_INTERNAL_H
#define CDT_NAMES_INTERNAL_H

#include "base/strbuf.h"

/*
 * cdt_name_check(), or with `literal` the rule of version 1 entries, whose
 * names are literal (a backslash is a character like any other).
 */
int cdt_name_check_literal(const char *name, int literal, struct strbuf *why);

#endif
