/* fsck.h: checking a whole store, and saying which stored names each problem affects. */
#ifndef CDT_FSCK_H
#define CDT_FSCK_H

#include <stddef.h>
#include <stdint.h>
#include "base/hash.h"
#include "format/store.h"

struct cdt_pack;

/*
 * What a check can find. Problems make `cdt fsck` fail; garbage (left by an
 * interrupted add, by rm, or by hand) is reported but is no error: gc
 * removes it.
 */
enum cdt_fsck_kind {
	CDT_FSCK_CONFIG_CORRUPT,	/* config damaged: the store cannot be used */
	CDT_FSCK_NAME_CORRUPT,		/* a name entry cannot be read or disagrees */
	CDT_FSCK_MANIFEST_MISSING,	/* a name points to a manifest that is not there */
	CDT_FSCK_MANIFEST_CORRUPT,	/* a manifest fails its checks */
	CDT_FSCK_MANIFEST_LAYOUT,	/* lists chunks the store's chunker cannot cut */
	CDT_FSCK_MANIFEST_CONTENT,	/* its chunks do not hash to its content id */
	CDT_FSCK_CHUNK_MISSING,
	CDT_FSCK_CHUNK_CORRUPT,		/* cannot be read, or fails a check */
	CDT_FSCK_PACK_CORRUPT,		/* a pack or its index fails its checks */
	CDT_FSCK_MIDX_CORRUPT,		/* the multi-pack index misleads lookups */
	CDT_FSCK_SKETCH_CORRUPT,	/* a pack's sketch file is missing or damaged */
	CDT_FSCK_REFS_TABLE_CORRUPT,	/* a reference table fails its checks */
	CDT_FSCK_REFS_MISSING,		/* a manifest's chunk has no reference */
	CDT_FSCK_REFS_STALE,		/* a reference names a chunk its manifest lacks */
	CDT_FSCK_NAMEREF_MISSING,	/* a name has no name record */
	CDT_FSCK_NAMEREF_CORRUPT,	/* a name's record is damaged */
	CDT_FSCK_INFO_STALE,		/* info/ disagrees with packs/ or names/ */
	CDT_FSCK_UNCHECKED,		/* something could not be checked (I/O error) */
	/* Garbage. */
	CDT_FSCK_GARBAGE_CHUNK,		/* chunk no manifest lists */
	CDT_FSCK_GARBAGE_MANIFEST,	/* manifest no name uses */
	CDT_FSCK_GARBAGE_REF,		/* reference to a manifest that does not exist */
	CDT_FSCK_GARBAGE_NAMEREF,	/* name record of a name that is gone or moved */
	CDT_FSCK_GARBAGE_PACK,		/* pack file without an index: never read */
	CDT_FSCK_GARBAGE_TMP,		/* file left in tmp/ */
	CDT_FSCK_GARBAGE_STRAY,		/* file that is not part of the store format */
	CDT_FSCK_KIND__COUNT
};

/*
 * Exit-status bits of `cdt fsck`, one per class of problem (documented in
 * cdt-fsck(1)); they leave 2 (usage error) alone. 1 means that fsck could
 * not check everything.
 */
#define CDT_FSCK_EXIT_UNCHECKED 1
#define CDT_FSCK_EXIT_CHUNK 4
#define CDT_FSCK_EXIT_MANIFEST 8
#define CDT_FSCK_EXIT_NAME 16
#define CDT_FSCK_EXIT_REFS 32
#define CDT_FSCK_EXIT_STORE 64

/* "chunk-missing", "garbage-chunk", ...: the kind as printed. */
const char *cdt_fsck_kind_name(enum cdt_fsck_kind kind);
/* The exit-status bit of a problem kind; 0 for garbage. */
unsigned cdt_fsck_kind_bit(enum cdt_fsck_kind kind);
int cdt_fsck_kind_is_garbage(enum cdt_fsck_kind kind);

/* One problem or piece of garbage, as reported. */
struct cdt_fsck_item {
	enum cdt_fsck_kind kind;
	const char *object;	/* a 64-hex id, or a path relative to the store */
	const char *detail;	/* what is wrong, in words */
	const char *const *names;	/* the stored names it affects, sorted */
	size_t nr_names;
	uint64_t bytes;		/* garbage: bytes it takes on disk */
};

enum cdt_fsck_phase {
	CDT_FSCK_PHASE_NAMES,
	CDT_FSCK_PHASE_MANIFESTS,
	CDT_FSCK_PHASE_OBJECTS,
	CDT_FSCK_PHASE_PACKS,
	CDT_FSCK_PHASE_CHUNKS,
	CDT_FSCK_PHASE_CONTENT,
	CDT_FSCK_PHASE_REBUILD,
	CDT_FSCK_PHASE_REFS,
	CDT_FSCK_PHASE_NAMEREFS,
};
const char *cdt_fsck_phase_name(enum cdt_fsck_phase phase);

struct cdt_fsck_options {
	int quick;		/* do not read chunk data (existence and size only) */
	int jobs;		/* threads reading chunks (0: online CPUs) */
	/*
	 * Rebuild the reverse references from the manifests and names before
	 * checking them. The caller holds the exclusive lock.
	 */
	int rebuild_refs;
	int list_garbage;	/* report each piece of garbage, not only count it */
	/* Called now and then (at most ten times a second) during long phases. */
	void (*progress)(enum cdt_fsck_phase phase, uint64_t done, uint64_t total,
			 uint64_t bytes, void *data);
	/* Called by cdt_fsck_finish() for each problem, then each piece of garbage. */
	void (*report)(const struct cdt_fsck_item *item, void *data);
	void *data;
};

struct cdt_fsck_summary {
	uint64_t names, manifests, chunks;	/* what the store holds (names: of every type) */
	uint64_t chunks_read, bytes_read;	/* chunk data read and checked */
	/*
	 * Manifests whose chunks were read again in order and hashed against
	 * their content ids, the bytes that took, and the seconds.
	 */
	uint64_t contents, content_bytes;
	double content_seconds;
	uint64_t packs;				/* pack files readers see */
	uint64_t tables, pairs;			/* reference tables and their pairs */
	uint64_t problems, garbage, garbage_bytes;
	uint64_t per_kind[CDT_FSCK_KIND__COUNT];
	/* --rebuild-refs: tables written and removed, name records added and removed. */
	uint64_t tables_written, tables_removed, namerefs_added, namerefs_removed;
	unsigned exit_bits;			/* OR of the problems' bits */
};

/*
 * The whole check, as `cdt fsck` runs it: names, manifests, chunks (read
 * unless quick), reverse references, temporary files. Problems and garbage
 * go to opt->report. Returns 0 (problems found or not: see sum->exit_bits)
 * or -errno when the check could not run at all (reported). The caller
 * holds the shared lock (exclusive with rebuild_refs).
 */
int cdt_fsck(struct cdt_store *s, const struct cdt_fsck_options *opt,
	     struct cdt_fsck_summary *sum);

/*
 * The same in steps, for repair, which needs the damage found before it
 * reports it.
 */
struct cdt_fsck;
struct cdt_fsck *cdt_fsck_new(struct cdt_store *s, const struct cdt_fsck_options *opt);
void cdt_fsck_free(struct cdt_fsck *f);
/* Names, manifests, objects and chunk data. 0 or -errno. */
int cdt_fsck_check_data(struct cdt_fsck *f);
/*
 * Unless quick: each live manifest's chunks, read in order, hash to its
 * content id (one more read of every distinct stored file). 0 or -errno.
 */
int cdt_fsck_check_contents(struct cdt_fsck *f);
/* Reverse references (rebuilt first if asked) and temporary files. 0 or -errno. */
int cdt_fsck_check_refs(struct cdt_fsck *f);
/*
 * Find the names each problem affects, report what is not resolved (then
 * the garbage, if listed) and fill in the summary.
 */
void cdt_fsck_finish(struct cdt_fsck *f, struct cdt_fsck_summary *sum);

/* Every chunk found missing or damaged and not yet healed, with its length. */
typedef int (*cdt_fsck_chunk_fn)(const struct cdt_id *id, uint32_t len, void *data);
int cdt_fsck_for_each_damaged_chunk(struct cdt_fsck *f, cdt_fsck_chunk_fn fn, void *data);
/* The chunk is good again: its problem is resolved. */
void cdt_fsck_chunk_healed(struct cdt_fsck *f, const struct cdt_id *id);
/*
 * Every manifest a name uses that is missing or fails its checks, and
 * not yet healed: its content
 * id, and the size and name of the first name that uses it. A manifest
 * with several problems comes once per problem. fn's non-zero return
 * stops the walk.
 */
typedef int (*cdt_fsck_manifest_fn)(const struct cdt_id *content, uint64_t size,
				    const char *name, void *data);
int cdt_fsck_for_each_damaged_manifest(struct cdt_fsck *f, cdt_fsck_manifest_fn fn, void *data);
/*
 * The manifest of `content` was written again and every chunk it lists
 * reads good: its problems are resolved. (The chunks it lists are not
 * added to what the check knows.)
 */
void cdt_fsck_manifest_healed(struct cdt_fsck *f, const struct cdt_id *content);
/*
 * Every pack found damaged and not yet healed: `pack` is NULL when its
 * index cannot even be opened (readers do not see it), `name` is
 * "pack-<64 hex>", or "multi-pack-index" (pack NULL) for a damaged
 * multi-pack index. fn's non-zero return stops the walk.
 */
typedef int (*cdt_fsck_pack_fn)(struct cdt_pack *pack, const char *name, void *data);
int cdt_fsck_for_each_damaged_pack(struct cdt_fsck *f, cdt_fsck_pack_fn fn, void *data);
/* The pack named `name` was replaced or removed: its problem is resolved. */
void cdt_fsck_pack_healed(struct cdt_fsck *f, const char *name);
/* Manifest pack `name` (of manifests/pack/) was written again whole, or removed. */
void cdt_fsck_mpack_healed(struct cdt_fsck *f, const char *name);
/*
 * Is every chunk a name needs known: every name entry and every manifest a
 * name uses could be read?
 */
int cdt_fsck_needs_known(struct cdt_fsck *f);
/* Is the chunk listed by a manifest some name uses? */
int cdt_fsck_chunk_needed(struct cdt_fsck *f, const struct cdt_id *id);
/*
 * After cdt_fsck_finish(): each stored name that any problem affected, in
 * order, with whether an unresolved problem still affects it.
 */
typedef void (*cdt_fsck_name_fn)(const char *name, int damaged, void *data);
void cdt_fsck_for_each_affected_name(struct cdt_fsck *f, cdt_fsck_name_fn fn, void *data);

#endif
