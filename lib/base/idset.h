/* idset.h: an open-addressing hash set (optionally map to a small value) of content ids. */
#ifndef CDT_IDSET_H
#define CDT_IDSET_H

#include <stddef.h>
#include <stdint.h>
#include "base/hash.h"

struct cdt_idset {
	struct cdt_id *ids;
	uint64_t *vals;
	unsigned char *used;
	size_t nr, cap;
};

#define CDT_IDSET_INIT { NULL, NULL, NULL, 0, 0 }

/* Insert id; returns 1 if added, 0 if it was already there. */
int cdt_idset_add(struct cdt_idset *s, const struct cdt_id *id);
/* Insert or update id -> val. Returns 1 if added, 0 if updated. */
int cdt_idset_put(struct cdt_idset *s, const struct cdt_id *id, uint64_t val);
int cdt_idset_has(const struct cdt_idset *s, const struct cdt_id *id);
/* Value stored for id, or NULL when absent. */
uint64_t *cdt_idset_get(const struct cdt_idset *s, const struct cdt_id *id);
void cdt_idset_clear(struct cdt_idset *s);
/* Empty the set but keep its memory. */
void cdt_idset_reset(struct cdt_idset *s);
/* Iterate: for (i = 0; i < s->cap; i++) if (s->used[i]) ... s->ids[i] */

#endif
