/* serverinfo.h: keeping info/ (format/info.h) up to date with packs/ and names/, and checking it. */
#ifndef CDT_SERVERINFO_H
#define CDT_SERVERINFO_H

#include "format/info.h"
#include "format/store.h"

/*
 * info/packs written again from the listing of packs/, with info/ open
 * (cdt_info_open()). 0 or -errno (reported).
 */
int cdt_serverinfo_write_packs(struct cdt_info *in);
/*
 * The same, written only when it differs from that listing (so cheap when
 * it agrees): a writer as it ends, whatever became of packs before it
 * (pack files lost to damage, an add killed between its pack and
 * info/packs); info/mpacks too. 0 or -errno (reported).
 */
int cdt_serverinfo_write_packs_if_stale(struct cdt_info *in);
/*
 * After packs were added or removed: info/packs written again (and the
 * rest of info/ when it was incomplete: a store made before it). A
 * failure is reported as a warning (info/ is derived data; fsck finds it
 * stale and --rebuild-refs writes it). 0 or -errno.
 */
int cdt_serverinfo_packs(struct cdt_store *s);
/*
 * As an exclusive writer ends (repair): info/packs brought to agree with
 * packs/ by cdt_serverinfo_write_packs_if_stale() (all of info/ when it
 * was incomplete). 0 or -errno (warned, as above).
 */
int cdt_serverinfo_packs_settle(struct cdt_store *s);
/*
 * The same around new packs put in place: info/ opened and info/lock held
 * exclusively from before they are renamed into packs/ (begin) until
 * info/packs lists them (end, when `changed`), so that a check, which
 * holds it shared, never finds a pack that info/packs does not list yet.
 * begin returns NULL (warned) when info/ cannot be opened: the packs are
 * put in place all the same, and end warns that info/ is stale. end
 * returns 0 or -errno (warned).
 */
struct cdt_info *cdt_serverinfo_packs_begin(struct cdt_store *s);
int cdt_serverinfo_packs_end(struct cdt_store *s, struct cdt_info *in, int changed);
/*
 * Before pack `name` is removed: info/packs written again without it, so
 * that a reader over HTTP is never sent to a pack that is gone, whenever
 * the removal is stopped (a kill between leaves a pack there but not
 * listed, which no name needs any more). 0 or -errno (warned: derived data).
 */
int cdt_serverinfo_unlist_pack(struct cdt_store *s, const char *name);
/* Before manifest pack `name` is removed: as cdt_serverinfo_unlist_pack(). */
int cdt_serverinfo_unlist_mpack(struct cdt_store *s, const char *name);
/*
 * info/ written whole from packs/ and names/ (gc, fsck --rebuild-refs,
 * init), tables of prefixes without names removed. 0 or -errno (reported).
 */
int cdt_serverinfo_rebuild(struct cdt_store *s);

/*
 * Compare info/ with packs/ and names/ under a shared lock of info/lock
 * (writers change names and tables while they hold it exclusively): fn
 * gets each difference, the file it is about ("info", "info/packs",
 * "info/names/<P>", "info/prefixes") and what is wrong. A table that
 * lags behind the names of a writer still at work (its mark held: an add
 * writes its tables when it ends) is not a difference. 0, or -errno when
 * packs/ or names/ cannot be read.
 */
typedef void (*cdt_serverinfo_fn)(const char *file, const char *what, void *data);
int cdt_serverinfo_check(struct cdt_store *s, cdt_serverinfo_fn fn, void *data);

#endif
