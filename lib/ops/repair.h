/* repair.h: healing missing or damaged chunks from local files that hold the same data. */
#ifndef CDT_REPAIR_H
#define CDT_REPAIR_H

#include <stdint.h>
#include "ops/fsck.h"
#include "base/hash.h"
#include "format/store.h"

struct cdt_repair_options {
	int jobs;		/* threads for reading the store and hashing (0: CPUs) */
	/* While the store is checked (as fsck checks it). */
	void (*check_progress)(enum cdt_fsck_phase phase, uint64_t done, uint64_t total,
			       uint64_t bytes, void *data);
	/* While local files are read: the file and the bytes read in all. */
	void (*scan_progress)(const char *what, uint64_t bytes, void *data);
	/* Each chunk written back, and where its data came from. */
	void (*restored)(const struct cdt_id *id, uint32_t len, const char *what,
			 uint64_t offset, void *data);
	/*
	 * Each manifest written back (content id, a name that uses it, the
	 * file), with the chunks it lists that the store lacked, added with it.
	 */
	void (*manifest_restored)(const struct cdt_id *content, const char *name,
				  const char *what, uint64_t added, void *data);
	/*
	 * Each damaged pack rewritten (objects taken from good copies, damaged
	 * objects no name needs dropped), or removed (new_name NULL: its index
	 * could not be read).
	 */
	void (*pack_rewritten)(const char *old_name, const char *new_name, uint64_t replaced,
			       uint64_t dropped, void *data);
	/*
	 * Each manifest pack that failed its checksum written again as
	 * new_name (the same name when only its checksum was damaged; else
	 * without its damaged manifests, written again loose before), or
	 * removed (new_name NULL: none of its manifests was whole and used).
	 */
	void (*mpack_rewritten)(const char *old_name, const char *new_name, void *data);
	/*
	 * Each pack whose missing or damaged index was written again from its
	 * own objects before the check (and the multi-pack index, when it was
	 * damaged and removed), with what was wrong.
	 */
	void (*pack_reindexed)(const char *name, const char *why, void *data);
	/*
	 * Each damaged name entry written back from its copy in info/names/
	 * (`from`, "info/names/<P>"), or left as it is (from NULL) and why.
	 */
	void (*name_restored)(const char *name, const char *from, const char *why, void *data);
	void *data;
};

struct cdt_repair_stats {
	uint64_t damaged;	/* chunks found missing or damaged */
	uint64_t restored;	/* of those, written back and read back intact */
	uint64_t good_again;	/* of those, good again unwritten (deltas on a base restored) */
	uint64_t failed;	/* writes or read-backs that failed */
	uint64_t manifests_damaged;	/* manifests names use found missing or damaged */
	uint64_t manifests_restored;	/* of those, written again from a file of that content */
	uint64_t files, skipped, bytes;	/* files read, files skipped unread, bytes read */
	uint64_t packs_rewritten;
	uint64_t names_damaged;		/* name entries found damaged */
	uint64_t names_restored;	/* of those, written back from info/names/ */
	double scan_seconds;	/* time spent reading local files */
};

struct cdt_repair;

/*
 * Check the store (every chunk is read, as by fsck) to find the chunks that
 * are wanted: missing or damaged and listed by a manifest. Indexes come
 * first: a pack whose index is missing or damaged is indexed again from its
 * own objects when the pack itself is intact (cdt_packs_check()), so that
 * nothing it holds is taken for missing. Then, before the check, each name
 * entry that is damaged (not one that is missing) is written back from its
 * copy in info/names/ when that copy is known to be the name's current
 * entry and its manifest reads (repair-names.c). The caller holds the
 * exclusive lock. Returns 0 or -errno (reported).
 */
int cdt_repair_new(struct cdt_store *s, const struct cdt_repair_options *opt,
		   struct cdt_repair **out);
void cdt_repair_free(struct cdt_repair *r);

/* Chunks and manifests still wanted. */
uint64_t cdt_repair_wanted(const struct cdt_repair *r);

/*
 * Cut the local file `path` as the store cuts files and write back every
 * wanted chunk it holds: atomically, then read back and checked. A good
 * chunk is never replaced and the file is only read. A file that cannot
 * hold any wanted chunk (by its size, and for a fixed-size chunker by where
 * its blocks fall) is skipped unread. Then a wanted delta that reads good
 * again, its base written back, is no longer wanted. A file of the size
 * of a wanted manifest (missing or damaged) is read once more for its
 * content id; when it is that manifest's, the file is stored again as add
 * stores it (the manifest written again, chunks the store lacks added, the
 * names left as they are), and every chunk the manifest lists that does not
 * read good is wanted and written back from the file too. Returns the
 * number of chunks restored or -errno (reported: the file cannot be read).
 */
int cdt_repair_file(struct cdt_repair *r, const char *path);

/*
 * The same for every regular file under the directory `path` (symbolic
 * links are not followed, and the store itself is left out), stopping as
 * soon as nothing is wanted. Returns the number of chunks restored, or
 * -errno when something could not be read (reported; the rest is still
 * scanned).
 */
int cdt_repair_scan(struct cdt_repair *r, const char *path);

/*
 * Once nothing is wanted, rewrite each damaged pack (see cdt_fsck) from the
 * objects in it that still check and good copies of the others, so that no
 * damaged bytes remain; the new pack is durable and read back before the old
 * one is removed. A pack whose index cannot be read is removed when every
 * manifest a name uses could be read; the multi-pack index is written again.
 * Does nothing while a chunk is still wanted, since a damaged pack may hold
 * its only copy. Either way info/packs then lists the packs there are (those
 * lost before, their chunks restored loose, no more). Returns the number of packs rewritten or removed, or
 * -CDT_ECORRUPT when a damaged pack had to be left (reported).
 */
int cdt_repair_packs(struct cdt_repair *r);

void cdt_repair_get_stats(const struct cdt_repair *r, struct cdt_repair_stats *st);

/*
 * Report: `problem` gets every problem still unresolved (as fsck reports
 * them), `name` each stored name the damage affected, with whether it is
 * still damaged. Returns the number of unresolved problems.
 */
uint64_t cdt_repair_finish(struct cdt_repair *r,
			   void (*problem)(const struct cdt_fsck_item *it, void *data),
			   cdt_fsck_name_fn name, void *data);

#endif
