/* repair-internal.h: the state of a repair, shared by repair.c, repair-manifests.c and repair-packs.c. */
#ifndef CDT_REPAIR_INTERNAL_H
#define CDT_REPAIR_INTERNAL_H

#include "ops/repair.h"
#include "base/fsutil.h"
#include "base/idset.h"
#include "base/strbuf.h"
#include "format/chunker.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cdt_workers;
struct cdt_chunk_reader;
struct cdt_compressor;
struct cdt_ingest;

/* Local bytes cut and hashed per round (as add reads). */
#define READ_BUF (8u << 20)
/*
 * Chunks written back per syncfs: at most this many, or this many bytes of
 * objects. Fewer than the temporary files a signal removes, so that an
 * interrupted batch leaves none of its files in tmp/.
 */
#define STAGE_CHUNKS 1024
#define STAGE_BYTES (64u << 20)
_Static_assert(STAGE_CHUNKS < TMPFILE_REMEMBERED,
	       "a staged batch outgrows the temporary files a signal removes");

struct wanted {
	struct cdt_id id;
	uint32_t len;
	int done;
	int staged;	/* written to tmp/, not yet in place */
};

/* A manifest names use, missing or damaged: written again from a file of its content. */
struct wanted_manifest {
	struct cdt_id id;
	uint64_t size;
	char *name;	/* the first name that uses it */
	int done;
};

/*
 * A file of a wanted manifest's content, stored again by repair's group
 * commit (heals per commit: one durable commit a batch, not a file).
 */
#define HEAL_GROUP 256
struct heal {
	size_t wm;		/* index into wman */
	char *what;		/* the file, opened again if chunks need it */
	int follow;		/* named by the user: a symbolic link may be followed */
	int committed, err;
	uint64_t added;		/* chunks the store did not hold */
};

/* A chunk written back, waiting for the next repair_commit_staged(). */
struct staged {
	size_t want;		/* index into want */
	struct strbuf tmpname;
	const char *what;	/* the file it came from (scanned until the commit) */
	uint64_t offset;
};

struct piece {
	size_t off;
	uint32_t len;
	struct cdt_id id;
};

/*
 * A file is read into two windows in turn: while the pieces cut from one are
 * hashed in parallel, one worker reads and cuts the next, so cutting (which
 * cannot be split) overlaps hashing instead of alternating with it.
 */
struct window {
	unsigned char *buf;
	size_t have;		/* bytes in buf */
	size_t used;		/* bytes cut into pieces; the rest moves to the next window */
	uint64_t base;		/* file offset of buf[0] */
	struct piece *pieces;
	size_t npieces, apieces;
};

struct cdt_repair {
	struct cdt_store *store;
	struct cdt_repair_options opt;
	struct cdt_fsck *fsck;
	const struct cdt_chunker *chunker;
	int midx_removed, reindexed;	/* by the index check before the store's */

	struct wanted *want;
	size_t nwant, awant;
	struct cdt_idset want_ids;	/* id -> index into want */
	struct wanted_manifest *wman;	/* by size once collected (repair_sort_manifests()) */
	size_t nwman, awman, wman_left;
	struct cdt_idset wman_ids;	/* their content ids */
	uint64_t left;			/* wanted, not done and not staged */
	uint32_t min_len;		/* shortest chunk still wanted */
	int want_block;			/* fixed chunker: a whole block is wanted */

	struct cdt_workers *workers;
	struct cdt_chunk_reader *reader;
	struct cdt_compressor *comp;
	unsigned char *check, *obj;
	size_t buf_cap;
	struct window win[2];
	/* The round in progress. */
	struct window *hashing, *filling;
	int fd, eof, read_err;
	int full;	/* -ENOSPC (or -EDQUOT, -EFBIG): no chunk can be written back */

	dev_t store_dev;
	ino_t store_ino;
	struct cdt_repair_stats stats;
	/*
	 * Chunks written back and not yet in place: one syncfs makes a batch
	 * of them durable before their renames, one more the renames, and
	 * only then is each read back and counted (not two fsyncs a chunk).
	 */
	struct staged *staged;
	size_t nstaged, astaged, staged_bytes;
	/* Manifests' files queued in the group commit of heal_ing. */
	struct cdt_ingest *heal_ing;
	struct heal *heals;
	size_t nheals, aheals;
	/* finish() */
	void (*problem_cb)(const struct cdt_fsck_item *it, void *data);
	void *problem_data;
};

/* repair.c */
/* Want the chunk id (len bytes): a cdt_fsck_chunk_fn. */
int repair_want_chunk(const struct cdt_id *id, uint32_t len, void *data);
/* Count what is still wanted again (left, min_len, want_block). */
void repair_update_limits(struct cdt_repair *r);
/*
 * Put the staged chunks in place, durably, and check each; restored (or
 * NULL) counts those that read back good. 0, or the first error.
 */
int repair_commit_staged(struct cdt_repair *r, int *restored);
/* Cut fd (size bytes, read from its offset) and offer its pieces. 0 or -errno (reported). */
int repair_scan_fd(struct cdt_repair *r, int fd, const char *what, uint64_t size, int *restored);

/* repair-manifests.c */
/* Want the manifest of content (its first name, of size bytes): a cdt_fsck_manifest_fn. */
int repair_want_manifest(const struct cdt_id *content, uint64_t size, const char *name,
			 void *data);
/* Order the wanted manifests by size, for repair_manifest_of_size(). */
void repair_sort_manifests(struct cdt_repair *r);
/* The next wanted manifest, from wman[*i] on, of a file of `size` bytes; NULL if none. */
struct wanted_manifest *repair_manifest_of_size(const struct cdt_repair *r, uint64_t size,
						size_t *i);
/*
 * A wanted manifest of fd's content, when fd (`size` bytes, its chunks
 * offered already) has the size of one: queued to be written again by
 * the group commit of heals (committed when HEAL_GROUP are queued, and by
 * repair_flush_heals()). `follow`: a user-named file (opened again
 * following a symbolic link). 0, what a commit of a full batch restored
 * (> 0), or -errno.
 */
int repair_heal_manifest(struct cdt_repair *r, int fd, const char *what, int follow,
			 uint64_t size);
/*
 * Commit the queued heals, then make good from each file the chunks its
 * manifest lists that do not read good, and say each manifest restored.
 * The number of chunks written back, or -errno.
 */
int repair_flush_heals(struct cdt_repair *r);

/* repair-names.c */
/*
 * Write each damaged name entry back from its copy in info/names/ when
 * that is known to be the name's current entry (cdt_info_name_copies())
 * and its manifest reads; say each, written back or not and why.
 */
void repair_heal_names(struct cdt_repair *r);

#endif
