/* gc-internal.h: the state of a gc, shared by gc.c and gc-packs.c. */
#ifndef CDT_GC_INTERNAL_H
#define CDT_GC_INTERNAL_H

#include "ops/gc.h"
#include "ops/packset.h"
#include "base/idset.h"
#include "base/strbuf.h"

#include <stddef.h>
#include <stdint.h>

struct cdt_live;
struct cdt_chunk_reader;
struct cdt_base_source;

struct sweep {
	void (*progress)(const char *stage, uint64_t done, uint64_t total, void *data);
	struct cdt_store *store;
	struct cdt_live *live;
	unsigned flags;
	void (*report)(const char *line, void *data);
	void *data;
	struct cdt_gc_result *res;
	int dirfd;
	int err;
	struct strbuf line;
	struct strbuf item;	/* what say() names, when it must be made */
	struct cdt_id *loose;		/* live loose chunks */
	size_t nloose, loose_alloc;
	struct cdt_chunk_reader *reader;
	unsigned char *raw;
	char **unusable;		/* packs that could not be indexed */
	size_t nunusable, unusable_alloc;
	struct cdt_idset stuck;		/* dead manifests that could not be removed */
	int index_unreadable;		/* a pack index could not be read: gc stops */
	int live_good;			/* every live chunk read back good: 1, no: -1, not known yet: 0 */
	/* Live chunks a damaged pack gave up (-n: would give up, or a pack gc would index holds). */
	struct cdt_idset salvaged;
	const struct cdt_base_source *bases;	/* while the packs are checked */
	/*
	 * A dry run indexes nothing, so a pack whose deltas have their bases
	 * in another pack gc would index first reads only once that one is
	 * taken for indexed: the packs it would index, and those to try again.
	 */
	char **would_index;
	size_t nwould, would_alloc;
	struct dry_later {
		char *name, *why;
	} *later;
	size_t nlater, later_alloc;
	int base_depth;			/* of dry_base_read()s within one another */
};

/* gc.c */
/* With -v, what is (or would be) removed. */
void gc_say(struct sweep *sw, const char *what, const char *item, uint64_t bytes);

/* gc-packs.c: packs whose index is missing or damaged, and packs that cannot be indexed */
/* Each pack whose index was written again (or cannot be): a cdt_pack_check_fn. */
void gc_pack_checked(const char *name, enum cdt_pack_state st, const char *why, void *data);
/* -n: the packs it could not read, read again once the others would be indexed. */
void gc_dry_index_later(struct sweep *sw);
/* -n: the live chunks the packs gc would index hold count as found. */
void gc_dry_would_find(struct sweep *sw);
/*
 * Each pack that cannot be indexed: its live chunks saved to a new pack,
 * and it removed only once every live chunk reads back good (-n: said).
 */
void gc_remove_unusable(struct sweep *sw, int dry);

#endif
