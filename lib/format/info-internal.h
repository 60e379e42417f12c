/* info-internal.h: what info.c (parsing) and info-write.c (keeping info/ up to date) share. */
#ifndef CDT_INFO_INTERNAL_H
#define CDT_INFO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "base/hash.h"
#include "base/strbuf.h"

/* The most bytes a table may have (a reader maps or reads it whole). */
#define INFO_TABLE_MAX ((uint64_t)1 << 31)

/* Byte order of two names that need not end in NUL (a prefix sorts first). */
int info_cmp_bytes(const char *a, size_t alen, const char *b, size_t blen);
/* qsort() order of struct cdt_info_prefix, by prefix. */
int info_cmp_prefix(const void *a, const void *b);

/*
 * The names of a table already known to be whole (its checksum is the one
 * info/prefixes lists: this store wrote it), without parsing each entry
 * again: a commit merges its changes into its prefixes' tables, and
 * decoding (and hashing) every entry of a large prefix at every commit
 * was most of the cost. Bounds and order are still checked; fn gets only
 * the name. 0, fn's value or -CDT_ECORRUPT.
 */
typedef int (*info_table_name_fn)(const char *name, size_t name_len, const unsigned char *raw,
				  size_t len, void *data);
int info_table_names(const unsigned char *buf, size_t len, const char *prefix,
		     const struct cdt_id *sum, info_table_name_fn fn, void *data,
		     struct strbuf *why);

/*
 * info-marks.c, for info-write.c: the marks of writers that are gone, in
 * *out (xmalloc'd), and their count (with `tidy`, leftovers of marks never
 * made are removed on the way); is a mark held by a live writer?
 */
struct cdt_dent;
size_t info_scan_intents(int infofd, int tidy, struct cdt_dent **out);
int info_marks_live(int infofd);

#endif
