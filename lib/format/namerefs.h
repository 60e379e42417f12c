/* namerefs.h: name records (manifest -> names): their tables in refs/names/, and the one walk over them. */
#ifndef CDT_NAMEREFS_H
#define CDT_NAMEREFS_H

#include <stdint.h>
#include "base/hash.h"
#include "base/idset.h"
#include "format/store.h"
#include "base/strbuf.h"

/*
 * A name record says that a name uses a manifest. rm uses them to find
 * another name that still uses a removed name's manifest without reading
 * every name. A record is live while names/<name> exists and holds that
 * manifest; being derived, a record only says where to look (the name
 * entry decides), and no record ever shows that no name uses a manifest.
 *
 * Records are kept in immutable tables, refs/names/<64 hex>.rec, each a
 * set of (manifest id, name) named by its checksum (store-format.md). An
 * add writes one table per group commit and merges tables when there are
 * more than CDT_NAMEREF_MAX_TABLES; the records of names that are gone
 * stay until gc (or fsck --rebuild-refs) writes the tables holding them
 * again without them. Stores written before tables kept one file per
 * record, refs/names/XX/<62 hex of the manifest>/<64 hex SHA-256 of the
 * name>, holding the name; those are read, removed by rm with their name,
 * and moved into a table by gc.
 */
#define CDT_NAMEREF_MAX_TABLES 32

/* Records collected for one table. */
struct cdt_nameref_writer;
struct cdt_nameref_writer *cdt_nameref_writer_new(struct cdt_store *s);
void cdt_nameref_writer_add(struct cdt_nameref_writer *w, const struct cdt_id *m,
			    const char *name);
/* Records added since the last commit (duplicates counted). */
size_t cdt_nameref_writer_count(const struct cdt_nameref_writer *w);
/*
 * Write what was added as one table (none when nothing was) and rename it
 * into refs/names/. With `sync` the table and the directory are synced;
 * without, the caller syncs the store before any name relies on the
 * records. The writer is empty again afterwards, whatever happened.
 * 0 or -errno.
 */
int cdt_nameref_writer_commit(struct cdt_nameref_writer *w, int sync);
/*
 * The same in two steps, for a group commit: stage writes the table to
 * tmp/ (not synced: the caller's syncfs makes it durable), install then
 * moves it into place (not synced either). 0 or -errno.
 */
int cdt_nameref_writer_stage(struct cdt_nameref_writer *w);
int cdt_nameref_writer_install(struct cdt_nameref_writer *w);
void cdt_nameref_writer_free(struct cdt_nameref_writer *w);

/* Record, durably, that `name` uses manifest m (a table of one). 0 or -errno. */
int cdt_nameref_add(struct cdt_store *s, const struct cdt_id *m, const char *name);

/*
 * The records as they are now, for lookups: every table mapped and checked
 * in full once (a damaged one is left out: its records are only missing).
 * 0 or -errno (refs/names cannot be listed).
 */
struct cdt_namerefs;
int cdt_namerefs_open(struct cdt_store *s, struct cdt_namerefs **out);
void cdt_namerefs_close(struct cdt_namerefs *r);
/*
 * Names recorded for manifest m, in the tables and in files of the old
 * layout. fn gets each name, or NULL with err for an old-layout record
 * that cannot be read (-errno) or does not hold a valid name whose hash is
 * its file name (-CDT_ECORRUPT). Returns 0, fn's non-zero value, or -errno.
 */
typedef int (*cdt_nameref_fn)(const char *name, int err, void *data);
int cdt_namerefs_list(struct cdt_namerefs *r, const struct cdt_id *m, cdt_nameref_fn fn,
		      void *data);
/*
 * Remove the old-layout record of (m, name), if there is one (missing is
 * not an error). A record in a table stays until a rewrite leaves it out.
 * 0 or -errno.
 */
int cdt_nameref_remove(struct cdt_store *s, const struct cdt_id *m, const char *name);

/*
 * When an add leaves more than CDT_NAMEREF_MAX_TABLES tables, merge the
 * smallest into one (synced before they are removed). Safe beside other
 * adds: tables are sets. Returns the number of tables merged, or -errno.
 */
int cdt_nameref_merge(struct cdt_store *s);

/*
 * The one walk over refs/names/: record() gets each record of every good
 * table, then of the old layout; bad_table() a table that cannot be used
 * (err -CDT_ECORRUPT with why, or -errno), whose records are not visited;
 * stray() anything else there (the directory fd and file name, its path
 * relative to refs/, and why); unlisted() a directory that cannot be
 * listed. A non-zero return from record() or stray() stops the walk and
 * is returned; -errno if refs/names cannot be listed (0 if absent).
 */
struct cdt_nameref_visit {
	struct cdt_id manifest;
	struct cdt_id name_hash;
	/*
	 * The name, or NULL (with err) for an old-layout record that cannot
	 * be read or does not hold the name its file name is the hash of.
	 */
	const char *name;
	int err;
	const char *path;	/* relative to refs/: names/<64 hex>.rec or names/XX/<62 hex>/<64 hex> */
	int in_table;
};
struct cdt_nameref_walker {
	int (*record)(const struct cdt_nameref_visit *v, void *data);
	void (*bad_table)(const char *path, int err, const char *why, void *data);
	int (*stray)(int dirfd, const char *file, const char *path, const char *why, void *data);
	void (*unlisted)(const char *path, int err, void *data);
	void *data;
};
int cdt_nameref_walk(struct cdt_store *s, const struct cdt_nameref_walker *w);

/*
 * Drop the records keep() returns 0 for (only under the exclusive lock):
 * each table holding one is written again without it (the new table
 * synced before the old one is removed; a table left empty is only
 * removed), and each such old-layout file is removed. With `only`, keep()
 * is asked only about records of those manifests (the others are kept).
 * Flags: CDT_NAMEREF_DROP_BAD also removes tables that cannot be used and
 * old-layout files that are not records; CDT_NAMEREF_CONVERT moves the
 * old-layout records kept into one new table; CDT_NAMEREF_DRY_RUN only
 * counts. *dropped counts the records dropped and *bad the tables and
 * files removed as unusable. 0 or -errno (what was done stays done).
 */
#define CDT_NAMEREF_DROP_BAD 1
#define CDT_NAMEREF_CONVERT 2
#define CDT_NAMEREF_DRY_RUN 4
typedef int (*cdt_nameref_keep_fn)(const struct cdt_nameref_visit *v, void *data);
int cdt_nameref_filter(struct cdt_store *s, const struct cdt_idset *only, cdt_nameref_keep_fn keep,
		       void *data, unsigned flags, uint64_t *dropped, uint64_t *bad);

#endif
