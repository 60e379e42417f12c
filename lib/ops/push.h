/* push.h: copying names and what they need from one store to another (cdt push, cdt pull). */
#ifndef CDT_PUSH_H
#define CDT_PUSH_H

#include <stdint.h>
#include "format/names.h"
#include "format/store.h"

struct cdt_push_options {
	int force;		/* replace a destination name that differs */
	int dry_run;		/* say what would be copied; write nothing */
	int jobs;		/* threads reading and storing (0: CPUs) */
	/*
	 * Each name copied (or that would be), and each kept because it
	 * differs: `why` is NULL when the destination's name holds other
	 * content or another type, else why its entry could not be read.
	 */
	void (*copied)(const char *name, const struct cdt_name_entry *e, void *data);
	void (*differs)(const char *name, const char *why, void *data);
	void *data;
};

struct cdt_push_result {
	uint64_t names;		/* names copied (or that would be) */
	uint64_t contents;	/* of them, contents the destination did not hold */
	uint64_t bytes;		/* their bytes, read from the source */
	uint64_t stored;	/* bytes the destination stored new for them */
	uint64_t unchanged;	/* names the destination holds already, the same */
	uint64_t differ;	/* names the destination holds with other content, kept */
	uint64_t failed;	/* names that could not be copied (reported) */
	uint64_t missing;	/* prefixes with no name in the source (reported) */
};

/*
 * Copy the names of `src` under each of the n prefixes (every name when
 * n is 0), and everything they need, into `dst`, whose shared lock the
 * caller holds. Contents the destination lacks are read from the source
 * (every chunk checked), stored the destination's way (chunks it already
 * holds are not stored again) and checked to have their content id;
 * names the destination holds with the same type, content and target are
 * left alone; one that differs is kept and reported, or replaced with
 * `force`. Durability is add's: data, then manifests and references, then
 * names, each step synced before the next points at it, so a push killed
 * at any point leaves the destination consistent and a rerun copies what
 * is missing. Nothing is ever removed from the destination.
 * A prefix under which the source has no name is reported and counted.
 * Returns 0 (see res for names that differ or failed), or -errno when it
 * could not start (the stores name contents differently, a walk failed:
 * reported).
 */
int cdt_push(struct cdt_store *src, struct cdt_store *dst, const char *const *prefixes, size_t n,
	     const struct cdt_push_options *opt, struct cdt_push_result *res);

#endif
