/* idset.c: hash set of content ids. Ids are SHA-256 output, so their first bytes are already a good hash. */
#include "base/idset.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

static size_t slot_of(const struct cdt_id *id, size_t cap)
{
	return (size_t)get_le64(id->b) & (cap - 1);
}

static size_t find_slot(const struct cdt_idset *s, const struct cdt_id *id)
{
	size_t i = slot_of(id, s->cap);

	while (s->used[i] && !cdt_id_eq(&s->ids[i], id))
		i = (i + 1) & (s->cap - 1);
	return i;
}

static void grow(struct cdt_idset *s)
{
	struct cdt_idset n = CDT_IDSET_INIT;
	size_t i;

	n.cap = s->cap ? s->cap * 2 : 64;
	n.ids = xcalloc(n.cap, sizeof(*n.ids));
	n.vals = xcalloc(n.cap, sizeof(*n.vals));
	n.used = xcalloc(n.cap, 1);
	for (i = 0; i < s->cap; i++) {
		if (s->used[i]) {
			size_t j = find_slot(&n, &s->ids[i]);

			n.ids[j] = s->ids[i];
			n.vals[j] = s->vals[i];
			n.used[j] = 1;
			n.nr++;
		}
	}
	free(s->ids);
	free(s->vals);
	free(s->used);
	*s = n;
}

int cdt_idset_put(struct cdt_idset *s, const struct cdt_id *id, uint64_t val)
{
	size_t i;

	if ((s->nr + 1) * 4 > s->cap * 3)
		grow(s);
	i = find_slot(s, id);
	s->vals[i] = val;
	if (s->used[i])
		return 0;
	s->ids[i] = *id;
	s->used[i] = 1;
	s->nr++;
	return 1;
}

int cdt_idset_add(struct cdt_idset *s, const struct cdt_id *id)
{
	if (cdt_idset_has(s, id))
		return 0;
	return cdt_idset_put(s, id, 0);
}

uint64_t *cdt_idset_get(const struct cdt_idset *s, const struct cdt_id *id)
{
	size_t i;

	if (!s->nr)
		return NULL;
	i = find_slot(s, id);
	return s->used[i] ? &s->vals[i] : NULL;
}

int cdt_idset_has(const struct cdt_idset *s, const struct cdt_id *id)
{
	return cdt_idset_get(s, id) != NULL;
}

void cdt_idset_clear(struct cdt_idset *s)
{
	free(s->ids);
	free(s->vals);
	free(s->used);
	memset(s, 0, sizeof(*s));
}

void cdt_idset_reset(struct cdt_idset *s)
{
	if (s->cap)
		memset(s->used, 0, s->cap);
	s->nr = 0;
}
