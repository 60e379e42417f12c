/* mpack-drop.c: manifest packs written again without the manifests no name uses, or without damaged ones (by rm, gc and repair). */
#include "ops/mpack-drop.h"
#include "ops/serverinfo.h"
#include "format/manifest.h"
#include "format/mpack.h"
#include "format/store.h"
#include "base/error.h"
#include "base/testpoint.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct drop {
	struct cdt_store *store;
	int pfd;
	const struct cdt_mpack_drop_ops *ops;
	void *data;
	unsigned flags;
	int err;	/* the first failure, said */
};

/* What becomes of each manifest of a pack. */
enum { KEEP, DEAD, BAD };

static void tell(struct drop *d, const struct cdt_mpack *mp, const unsigned char *fate, int ok)
{
	struct cdt_id id;
	uint64_t i, off, len;

	for (i = 0; i < mp->count; i++) {
		if (fate[i] != DEAD)
			continue;
		cdt_mpack_entry(mp, i, &id, &off, &len);
		d->ops->dropped(&id, len, ok, d->data);
	}
}

/* Pack `name` goes: unlisted first, so that a reader over HTTP is never sent to a pack that is gone. */
static int remove_pack(struct drop *d, const char *name)
{
	int ret = 0;

	cdt_serverinfo_unlist_mpack(d->store, name);
	cdt_crash_point("mpack-drop");
	if (unlinkat(d->pfd, name, 0) < 0 && errno != ENOENT) {
		ret = -errno;
		error("cannot remove manifest pack '%s/%s': %s", CDT_MPACK_DIR, name,
		      cdt_strerror(ret));
	} else if (fsync(d->pfd) < 0) {
		ret = -errno;
		error("cannot sync '%s/manifests/%s': %s", cdt_store_path(d->store), CDT_MPACK_DIR,
		      cdt_strerror(ret));
	}
	return ret;
}

/* A pack that does not open as one: it goes only if damaged and the caller says so. */
static void unopened(struct drop *d, const char *name, int err, const char *why)
{
	struct stat st;

	why = why && *why ? why : cdt_strerror(err);
	if (err != -CDT_ECORRUPT || !(d->flags & CDT_MPACK_DROP_UNUSABLE)) {
		d->ops->unreadable(name, why, d->data);
		return;
	}
	if (fstatat(d->pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		st.st_size = 0;
	d->ops->damaged_gone(name, why, (uint64_t)st.st_size, d->data);
	if (!(d->flags & CDT_MPACK_DROP_DRY)) {
		int ret = remove_pack(d, name);

		if (ret && !d->err)
			d->err = ret;
		else if (!ret && d->ops->replaced)
			d->ops->replaced(name, NULL, d->data);
	}
}

/*
 * One pack: unchanged when every manifest in it is used (and, with
 * CDT_MPACK_DROP_DAMAGED, it matches its checksum); else its used, whole
 * manifests go to a new pack, synced with its directory, and only then is
 * it removed (a crash between leaves both: the same manifests twice). A
 * damaged manifest is left out only when no name uses it or it reads
 * whole from elsewhere; else the pack stays as it is, for repair.
 */
static int drop_in(const char *name, const struct cdt_mpack *mp, int err, const char *why,
		   void *data)
{
	struct drop *d = data;
	struct cdt_mpack_item *items = NULL;
	unsigned char *fate;
	char fresh[CDT_MPACK_NAME_MAX];
	uint64_t i, nkeep = 0, off, len;
	int ret = 0;
	size_t k = 0;

	if (err) {
		unopened(d, name, err, why);
		return 0;
	}
	fate = xcalloc(mp->count ? mp->count : 1, 1);
	for (i = 0; i < mp->count; i++) {
		struct cdt_id id;

		cdt_mpack_entry(mp, i, &id, &off, &len);
		if (d->ops->is_dead(&id, d->data))
			fate[i] = DEAD;
		else
			nkeep++;
	}
	if (nkeep == mp->count &&
	    !((d->flags & CDT_MPACK_DROP_DAMAGED) && cdt_mpack_verify(mp, name, NULL) < 0))
		goto out;
	/* Written again: what it keeps must be whole (a pack's checksum is made anew). */
	for (i = 0; i < mp->count; i++) {
		struct cdt_manifest *m;
		struct cdt_id id;

		if (fate[i] != KEEP || cdt_mpack_manifest_ok(mp, i))
			continue;
		cdt_mpack_entry(mp, i, &id, &off, &len);
		if (cdt_manifest_open(d->store, &id, &m, NULL) < 0) {
			d->ops->unreadable(name, "it holds a damaged manifest that a name uses and "
					   "no other copy replaces", d->data);
			goto out;
		}
		cdt_manifest_close(m);
		fate[i] = BAD;
		nkeep--;
	}
	if (d->flags & CDT_MPACK_DROP_DRY) {
		tell(d, mp, fate, 1);
		goto out;
	}
	if (nkeep) {
		items = xcalloc(nkeep, sizeof(*items));
		for (i = 0; i < mp->count; i++) {
			if (fate[i] != KEEP)
				continue;
			cdt_mpack_entry(mp, i, &items[k].id, &off, &len);
			items[k].bytes = mp->map + off;
			items[k].len = (size_t)len;
			k++;
		}
		ret = cdt_mpack_write(cdt_store_dirfd(d->store, CDT_DIR_TMP), d->pfd, items, k, 1,
				      fresh);
		if (ret < 0) {
			error("cannot write manifest pack '%s/%s' again without %llu of its "
			      "manifests: %s", CDT_MPACK_DIR, name,
			      (unsigned long long)(mp->count - nkeep), cdt_strerror(ret));
			goto failed;
		}
	}
	/* The same manifests again make the same pack: written over a damaged copy, it stays. */
	ret = nkeep && !strcmp(fresh, name) ? 0 : remove_pack(d, name);
	if (ret)
		goto failed;
	tell(d, mp, fate, 1);
	if (d->ops->replaced)
		d->ops->replaced(name, nkeep ? fresh : NULL, d->data);
	goto out;
failed:
	tell(d, mp, fate, 0);
	if (!d->err)
		d->err = ret;
out:
	free(items);
	free(fate);
	return 0;
}

int cdt_mpacks_drop(struct cdt_store *s, const struct cdt_mpack_drop_ops *ops, void *data,
		    unsigned flags)
{
	struct drop d = { s, -1, ops, data, flags, 0 };
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
