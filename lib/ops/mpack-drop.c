/* mpack-drop.c: manifest packs written again without the manifests no name uses (by rm and gc). */
#include "ops/mpack-drop.h"
#include "format/mpack.h"
#include "format/store.h"
#include "base/error.h"
#include "base/testpoint.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct drop {
	struct cdt_store *store;
	int pfd;
	const struct cdt_mpack_drop_ops *ops;
	void *data;
	int dry;
	int err;	/* the first failure, said */
};

static void tell(struct drop *d, const struct cdt_mpack *mp, const unsigned char *dead, int ok)
{
	struct cdt_id id;
	uint64_t i, off, len;

	for (i = 0; i < mp->count; i++) {
		if (!dead[i])
			continue;
		cdt_mpack_entry(mp, i, &id, &off, &len);
		d->ops->dropped(&id, len, ok, d->data);
	}
}

/*
 * One pack: unchanged when every manifest in it is used; else its used
 * manifests go to a new pack, synced with its directory, and only then is
 * it removed (a crash between leaves both: the same manifests twice).
 */
static int drop_in(const char *name, const struct cdt_mpack *mp, int err, const char *why,
		   void *data)
{
	struct drop *d = data;
	struct cdt_mpack_item *items = NULL;
	unsigned char *dead;
	char fresh[CDT_MPACK_NAME_MAX];
	uint64_t i, ndead = 0, off, len;
	size_t k = 0;
	int ret = 0;

	if (err) {
		/* Its manifests cannot be told from it: left for fsck and repair. */
		d->ops->unreadable(name, why && *why ? why : cdt_strerror(err), d->data);
		return 0;
	}
	dead = xcalloc(mp->count ? mp->count : 1, 1);
	for (i = 0; i < mp->count; i++) {
		struct cdt_id id;

		cdt_mpack_entry(mp, i, &id, &off, &len);
		if (d->ops->is_dead(&id, d->data)) {
			dead[i] = 1;
			ndead++;
		}
	}
	if (!ndead)
		goto out;
	if (d->dry) {
		tell(d, mp, dead, 1);
		goto out;
	}
	if (ndead < mp->count) {
		items = xcalloc(mp->count - ndead, sizeof(*items));
		for (i = 0; i < mp->count; i++) {
			if (dead[i])
				continue;
			cdt_mpack_entry(mp, i, &items[k].id, &off, &len);
			items[k].bytes = mp->map + off;
			items[k].len = (size_t)len;
			k++;
		}
		ret = cdt_mpack_write(cdt_store_dirfd(d->store, CDT_DIR_TMP), d->pfd, items, k, 1,
				      fresh);
		if (ret < 0) {
			error("cannot write manifest pack without %llu unused manifest%s of '%s/%s': %s",
			      (unsigned long long)ndead, ndead == 1 ? "" : "s", CDT_MPACK_DIR, name,
			      cdt_strerror(ret));
			goto failed;
		}
	}
	cdt_crash_point("mpack-drop");
	if (unlinkat(d->pfd, name, 0) < 0 && errno != ENOENT) {
		ret = -errno;
		error("cannot remove manifest pack '%s/%s': %s", CDT_MPACK_DIR, name,
		      cdt_strerror(ret));
		goto failed;
	}
	if (fsync(d->pfd) < 0) {
		ret = -errno;
		error("cannot sync '%s/manifests/%s': %s", cdt_store_path(d->store), CDT_MPACK_DIR,
		      cdt_strerror(ret));
		goto failed;
	}
	tell(d, mp, dead, 1);
	goto out;
failed:
	tell(d, mp, dead, 0);
	if (!d->err)
		d->err = ret;
out:
	free(items);
	free(dead);
	return 0;
}

int cdt_mpacks_drop(struct cdt_store *s, const struct cdt_mpack_drop_ops *ops, void *data, int dry)
{
	struct drop d = { s, -1, ops, data, dry, 0 };
	int ret;

	d.pfd = openat(cdt_store_dirfd(s, CDT_DIR_MANIFESTS), CDT_MPACK_DIR,
		       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d.pfd < 0 && errno == ENOENT)
		return 0;
	ret = d.pfd < 0 ? -errno : cdt_mpacks_walk(s, drop_in, &d);
	if (d.pfd >= 0)
		close(d.pfd);
	if (ret < 0)
		return error_code(ret, "cannot list '%s/manifests/%s': %s", cdt_store_path(s),
				  CDT_MPACK_DIR, cdt_strerror(ret));
	return d.err;
}
