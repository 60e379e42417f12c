/* namerefs.h: name records (manifest -> names) and the one walk over refs/names/. */
#ifndef CDT_NAMEREFS_H
#define CDT_NAMEREFS_H

#include "base/hash.h"
#include "format/store.h"
#include "base/strbuf.h"

/*
 * Name records: refs/names/XX/<62 hex of manifest id>/<64 hex of
 * SHA-256(name)>, a file holding the name. One per (manifest, name); it is
 * live while names/<name> exists and holds that manifest. rm uses them to
 * find another name that still uses a manifest without scanning every name;
 * being derived, they never show on their own that no name does.
 */

/* Record that `name` uses manifest `m` (durably). 0 or -errno. */
int cdt_nameref_add(struct cdt_store *s, const struct cdt_id *m, const char *name);
/*
 * The same in two steps, for a group commit: write the record to a
 * temporary file (not synced; its name in tmpname), then, after the
 * caller's syncfs, move it into place (new directories and the rename are
 * not synced: the caller syncs the store). install removes the temporary
 * file whatever happens. 0 or -errno.
 */
int cdt_nameref_stage(struct cdt_store *s, const char *name, struct strbuf *tmpname);
int cdt_nameref_install(struct cdt_store *s, const struct cdt_id *m, const char *name,
			const char *tmpname);
/*
 * A group commit's way, in one step: write the record in place (created
 * exclusively; one already there is kept), nothing synced. Only safe
 * where no name points at the manifest through this record until the
 * caller's syncfs: a record cut short by a crash before it is then the
 * record of no live name, which fsck calls garbage. 0 or -errno.
 */
int cdt_nameref_put(struct cdt_store *s, const struct cdt_id *m, const char *name);
/* Remove the record (missing is not an error). 0 or -errno. */
int cdt_nameref_remove(struct cdt_store *s, const struct cdt_id *m, const char *name);
/*
 * Names recorded for manifest m. fn gets each name held in a well-formed
 * record, or NULL with err for one that cannot be read (-errno) or that does
 * not hold a valid name whose hash is its file name (-CDT_ECORRUPT). A
 * record says where to look, never that a name is gone: the name entry
 * decides. Returns 0, fn's non-zero value, or -errno.
 */
typedef int (*cdt_nameref_fn)(const char *name, int err, void *data);
int cdt_nameref_list(struct cdt_store *s, const struct cdt_id *m, cdt_nameref_fn fn, void *data);

/*
 * The one walk over refs/names/, in order: record() gets each well-formed
 * record (its manifest, the SHA-256 of its name, and where it is, so that
 * the caller may read or remove it); stray() gets anything else there (the
 * directory fd and file name, its path relative to refs/, and why); and
 * unlisted() a directory that cannot be listed. With prune, directories
 * left empty are removed. A non-zero return from a callback stops the walk
 * and is returned; -errno if refs/names cannot be listed (0 if absent).
 */
struct cdt_nameref_visit {
	struct cdt_id manifest;
	struct cdt_id name_hash;
	int dirfd;		/* the record's directory */
	const char *file;	/* the record's file name in it */
	const char *path;	/* relative to refs/: names/XX/<62 hex>/<64 hex> */
};
struct cdt_nameref_walker {
	int (*record)(const struct cdt_nameref_visit *v, void *data);
	int (*stray)(int dirfd, const char *file, const char *path, const char *why, void *data);
	void (*unlisted)(const char *path, int err, void *data);
	int prune;
	void *data;
};
int cdt_nameref_walk(struct cdt_store *s, const struct cdt_nameref_walker *w);

#endif
