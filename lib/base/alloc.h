/* alloc.h: allocation that cannot fail, and growing arrays. */
#ifndef CDT_ALLOC_H
#define CDT_ALLOC_H

#include <stddef.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/*
 * Allocation that cannot fail: on exhaustion the process dies with the size
 * it tried. Sizes derived from on-disk data must be bounded before they get
 * here; these wrappers are not a defence against hostile lengths.
 */
void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xstrfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grow an array to hold at least `nr` elements (amortised doubling). */
#define ALLOC_GROW(x, nr, alloc) \
	do { \
		if ((size_t)(nr) > (size_t)(alloc)) { \
			size_t alloc_grow_n_ = ((size_t)(alloc) + 16) * 3 / 2; \
			if (alloc_grow_n_ < (size_t)(nr)) \
				alloc_grow_n_ = (nr); \
			(x) = xrealloc((x), alloc_grow_n_ * sizeof(*(x))); \
			(alloc) = alloc_grow_n_; \
		} \
	} while (0)

#endif
