/* fsck-internal.h: what fsck.c shares with its checks (fsck-data.c, fsck-packs.c, fsck-refs.c). */
#ifndef CDT_FSCK_INTERNAL_H
#define CDT_FSCK_INTERNAL_H

#include <stdint.h>
#include "ops/fsck.h"
#include "base/idset.h"

struct cdt_chunker;

/* No index: a name, manifest or problem that is not there. */
#define FSCK_NONE UINT32_MAX

enum { FSCK_MPACK_READ, FSCK_MPACK_DAMAGED, FSCK_MPACK_UNREAD };

struct fsck_name {
	char *name;
	uint64_t size;		/* from the entry */
	uint32_t manifest;	/* FSCK_NONE when the entry cannot be read */
	uint32_t next;		/* next name of the same manifest */
	unsigned damaged:1, has_record:1, record_bad:1;
};

/*
 * Live manifests are those a name uses, as gc sees it: a manifest no name
 * uses is garbage whatever it holds, and so are the chunks only it lists.
 */
enum mstate { M_ABSENT, M_VALID, M_CORRUPT, M_DEAD };

struct fsck_manifest {
	struct cdt_id id;
	uint32_t first_name;	/* names using it, linked through fsck_name.next */
	uint8_t state;
	uint8_t maybe_named;	/* a name record of an unreadable entry names it */
	uint8_t candidate;	/* its references disagree: check them exactly */
	uint8_t unread;		/* no name uses it and --rebuild-refs could not read it */
	uint64_t size, disk_size;
	/*
	 * Distinct chunks it lists, and the references found for it, each as
	 * a count and sums of each of the four words of the ids: equal sums
	 * mean equal sets (ids are SHA-256 output), so only disagreeing
	 * manifests are compared pair by pair. Every word: a damaged pair is
	 * no SHA-256 output, and may differ from its chunk's id in any byte.
	 */
	uint64_t nchunks, nrefs;
	uint64_t fp_man[4], fp_ref[4];
};

struct fsck_chunk {
	struct cdt_id id;
	uint32_t len;
	uint32_t last_manifest;	/* to count each chunk once per manifest */
	uint32_t problem;	/* FSCK_NONE or an index into problems */
	uint8_t present;	/* its object file exists */
	/*
	 * In objects/ but listed by no readable manifest: garbage, unless a
	 * reference ties it to a manifest that exists but cannot be read.
	 */
	uint8_t unlisted, kept;
	uint8_t base;		/* the base of a listed chunk stored as a delta: not garbage */
	uint8_t unfound;	/* stored, yet a lookup does not find it */
	uint64_t disk_size;
};

struct fsck_problem {
	enum cdt_fsck_kind kind;
	char *object;
	char *detail;
	uint64_t bytes;
	uint32_t name;		/* the name it is about, or FSCK_NONE */
	uint32_t manifest;	/* the manifest it is about, or FSCK_NONE */
	uint32_t *users;	/* chunk problems: manifests listing the chunk */
	size_t nusers, ausers;
	struct cdt_pack *pack;	/* pack problems: the pack, if readers see it */
	/*
	 * Pack problems of a pack readers do not see: chunks with problems of
	 * their own whose names it reaches too (it holds their only good copy,
	 * or may hold them in its damage).
	 */
	uint32_t *reach;
	size_t nreach, areach;
	int resolved;
};

struct cdt_fsck {
	struct cdt_store *s;
	struct cdt_fsck_options opt;
	struct cdt_fsck_summary sum;
	const struct cdt_chunker *chunker;
	int check_layout;
	/*
	 * A manifest pack could not be opened: a manifest not seen may be in
	 * it (FSCK_MPACK_UNREAD), or, when every such pack is damaged, a
	 * manifest not seen cannot be read wherever it is (FSCK_MPACK_DAMAGED).
	 */
	int mpacks_unread;

	struct fsck_name *names;
	size_t nnames, anames;
	/* names/ was not all read (an I/O error, not damage): a name not seen may exist. */
	int names_incomplete;
	/* objects/ or packs/ was not all listed (an I/O error): a chunk not seen may be stored. */
	int objects_incomplete;
	struct fsck_manifest *mans;
	size_t nmans, amans;
	struct cdt_idset man_ids;
	struct fsck_chunk *chunks;
	size_t nchunks, achunks;
	/*
	 * Open addressing over chunks[]: slot = index + 1, 0 empty. Four
	 * bytes a slot instead of an id set's 41, on a table that holds
	 * every chunk of the store.
	 */
	uint32_t *chunk_slots;
	size_t chunk_cap;
	struct fsck_problem *problems;
	size_t nproblems, aproblems;
	size_t nchunk_problems;

	int jobs;
	uint64_t objects_seen;
	/* Bases named by the deltas that hold listed chunks (phase 3). */
	struct cdt_id *bases;
	size_t nbases, abases;
	int bases_unknown;	/* a listed delta could not be read: its base is not known */
	double last_progress;
	int refs_checked;
	int finished;
};

/* fsck.c: the bookkeeping every check shares. */

/* The hex of an id, allocated (for a problem's object). */
char *fsck_hex(const struct cdt_id *id);
/* Tell opt->progress, at most ten times a second unless `force`. */
void fsck_progress(struct cdt_fsck *f, enum cdt_fsck_phase phase, uint64_t done,
		   uint64_t total, uint64_t bytes, int force);
/*
 * Record a problem or garbage; takes ownership of `object`. Returns the
 * item, or NULL for garbage that is only counted.
 */
struct fsck_problem *fsck_report(struct cdt_fsck *f, enum cdt_fsck_kind kind, char *object,
				 uint64_t bytes, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* A problem of manifest m, of name n, of chunk c (one per chunk: later ones are dropped). */
void fsck_manifest_problem(struct cdt_fsck *f, enum cdt_fsck_kind kind, uint32_t m,
			   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void fsck_name_problem(struct cdt_fsck *f, enum cdt_fsck_kind kind, uint32_t n,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void fsck_chunk_problem(struct cdt_fsck *f, enum cdt_fsck_kind kind, uint32_t c,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A file that is not part of the store format: dirfd/base, reported as the path fmt gives. */
void fsck_stray(struct cdt_fsck *f, int dirfd, const char *base, const char *why,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/*
 * The index of a manifest or chunk, added if new (for a chunk, *added says
 * whether it was); the find functions add nothing and return FSCK_NONE.
 */
uint32_t fsck_manifest_index(struct cdt_fsck *f, const struct cdt_id *id);
uint32_t fsck_find_manifest(struct cdt_fsck *f, const struct cdt_id *id);
uint32_t fsck_chunk_index(struct cdt_fsck *f, const struct cdt_id *id, uint32_t len, int *added);
uint32_t fsck_find_chunk(struct cdt_fsck *f, const struct cdt_id *id);
/* Add a chunk id to a manifest's fingerprint (fp_man or fp_ref). */
void fsck_fp_add(uint64_t fp[4], const struct cdt_id *id);

/* fsck-data.c: phases 1 to 4 (phase 5 is cdt_fsck_check_contents()). */
void fsck_check_names(struct cdt_fsck *f);
void fsck_check_manifests(struct cdt_fsck *f);
void fsck_check_objects(struct cdt_fsck *f);
void fsck_check_chunk_data(struct cdt_fsck *f);

/* fsck-packs.c: packs, their indexes and the multi-pack index. */
void fsck_check_packs(struct cdt_fsck *f);

/* fsck-refs.c: reference tables, name records, tmp/ and the rest of refs/. */

/*
 * Name records, through the walk namerefs.c owns (gc drops records
 * through the same module). fn gets each record; a table that cannot be
 * used and anything else there are reported.
 */
struct cdt_nameref_visit;
typedef void (*fsck_record_fn)(struct cdt_fsck *f, const struct cdt_nameref_visit *v,
			       void *data);
void fsck_walk_records(struct cdt_fsck *f, fsck_record_fn fn, void *data);
/* --rebuild-refs: write the chunk tables again (errors reported). 0 or -errno. */
int fsck_rebuild_tables(struct cdt_fsck *f);
void fsck_check_refs_dir(struct cdt_fsck *f);
void fsck_check_tables(struct cdt_fsck *f);
void fsck_check_namerefs(struct cdt_fsck *f);
void fsck_check_tmp(struct cdt_fsck *f);
/* info/ against packs/ and names/ (written again first with --rebuild-refs). */
void fsck_check_info(struct cdt_fsck *f);

#endif
