/* restore-tree-collect.c: the entries under the prefix read into the list a restore works through, and hard links matched with their first names. */
#include "ops/restore-tree.h"
#include "ops/restore-tree-internal.h"
#include "format/names.h"
#include "base/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- collecting the entries ---- */

int rt_count_comps(const char *s)
{
	int n = 1;

	for (; *s; s++)
		n += *s == '/';
	return n;
}

/*
 * The raw path under DIR of a name, from its raw bytes: everything after
 * the prefix's components (or, for the prefix itself, "" for a directory
 * and the last component for a file or link). Checked as untrusted: no
 * empty, "." or ".." component, no NUL, none longer than a file name.
 */
static int rel_path(const struct tree *t, const struct cdt_name_entry *e, struct strbuf *raw,
		    char **rel, struct strbuf *why)
{
	const char *p = raw->buf, *c;
	size_t i;

	if (strlen(raw->buf) != raw->len) {
		strbuf_addstr(why, "its name holds a NUL byte");
		return -EINVAL;
	}
	if (!strcmp(e->name, t->prefix)) {
		if (e->type == CDT_NAME_DIR) {
			*rel = xstrdup("");
			return 0;
		}
		c = strrchr(p, '/');
		p = c ? c + 1 : p;
	} else {
		for (i = 0; i < t->prefix_comps; i++) {
			c = strchr(p, '/');
			if (!c) {
				strbuf_addstr(why, "its name is not under the prefix");
				return -EINVAL;
			}
			p = c + 1;
		}
	}
	for (c = p;;) {
		const char *end = strchrnul(c, '/');
		size_t n = (size_t)(end - c);

		if (!n || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) {
			strbuf_addstr(why, "its name has an empty, '.' or '..' component");
			return -EINVAL;
		}
		if (n > 255) {
			strbuf_addstr(why, "its name has a component longer than 255 bytes");
			return -ENAMETOOLONG;
		}
		if (!*end)
			break;
		c = end + 1;
	}
	*rel = xstrdup(p);
	return 0;
}

int rt_collect(const char *name, const struct cdt_name_entry *e, int err, const char *why,
		   void *data)
{
	struct tree *t = data;
	struct strbuf raw = STRBUF_INIT, w = STRBUF_INIT;
	struct titem *it;
	char *rel = NULL;
	const char *slash;

	t->res->names++;
	if (!e) {
		error("cannot restore '%s': %s", quote(name), why ? why : cdt_strerror(err));
		t->res->failed++;
		return 0;
	}
	if (cdt_name_raw(e, &raw, &w) < 0 || rel_path(t, e, &raw, &rel, &w) < 0) {
		error("cannot restore '%s': %s", quote(name), w.buf);
		t->res->failed++;
		goto out;
	}
	ALLOC_GROW(t->items, t->nr + 1, t->alloc);
	it = &t->items[t->nr++];
	memset(it, 0, sizeof(*it));
	it->stored = xstrdup(e->name);
	it->rel = rel;
	slash = strrchr(rel, '/');
	it->base = slash ? slash + 1 : rel;
	it->type = e->type;
	it->flags = e->flags;
	it->mode = e->mode;
	it->uid = e->uid;
	it->gid = e->gid;
	it->mtime_sec = e->mtime_sec;
	it->mtime_nsec = e->mtime_nsec;
	it->size = e->size;
	it->content = e->content;
	it->target = e->target[0] ? xstrdup(e->target) : NULL;
	if (e->xattrs_len) {
		it->xattrs = xmalloc(e->xattrs_len);
		memcpy(it->xattrs, e->xattrs, e->xattrs_len);
		it->xattrs_len = e->xattrs_len;
	}
	it->leader = -1;
	it->first_link = it->next_link = -1;
	if (e->type == CDT_NAME_REG)
		t->res->bytes += e->size;
out:
	strbuf_release(&raw);
	strbuf_release(&w);
	return 0;
}

static int cmp_stored(const void *a, const void *b, void *data)
{
	const struct titem *items = data;

	return strcmp(items[*(const size_t *)a].stored, items[*(const size_t *)b].stored);
}

/*
 * A hard link is made to the first name of its file restored in this run:
 * the name its entry names, if that came earlier, is a regular file and
 * has the same content (else it is written as a copy, which its own
 * content id allows).
 */
void rt_find_leaders(struct tree *t)
{
	size_t *idx = xmalloc((t->nr ? t->nr : 1) * sizeof(*idx)), i;

	for (i = 0; i < t->nr; i++)
		idx[i] = i;
	qsort_r(idx, t->nr, sizeof(*idx), cmp_stored, t->items);
	for (i = 0; i < t->nr; i++) {
		struct titem *it = &t->items[i];
		size_t lo = 0, hi = t->nr;

		if (it->type != CDT_NAME_REG || !(it->flags & CDT_NAME_HARDLINK) || !it->target)
			continue;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = strcmp(t->items[idx[mid]].stored, it->target);

			if (!c) {
				size_t j = idx[mid];
				struct titem *l = &t->items[j];

				if (l->leader >= 0)
					j = (size_t)l->leader;
				l = &t->items[j];
				if (j < i && l->type == CDT_NAME_REG && l->size == it->size &&
				    cdt_id_eq(&l->content, &it->content)) {
					it->leader = (int)j;
					it->next_link = l->first_link;
					l->first_link = (int)i;
					l->links++;
				}
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	free(idx);
}
