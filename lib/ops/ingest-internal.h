/* ingest-internal.h: the add pipeline's state, shared by ingest.c (the rounds), ingest-delta.c (bases and deltas) and ingest-candidates.c (stored content found early, and the hash caught up). */
#ifndef CDT_INGEST_INTERNAL_H
#define CDT_INGEST_INTERNAL_H

#include "ops/ingest.h"
#include "ops/batch.h"
#include "ops/chunks.h"
#include "base/compress.h"
#include "base/cid.h"
#include "base/hash.h"
#include "base/idset.h"
#include "format/manifest.h"
#include "format/names.h"
#include "format/pack.h"
#include "format/sketch.h"
#include "ops/sketchset.h"
#include "base/workers.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Work proceeds in rounds over a buffer of READ_BUF bytes: cut the buffer
 * into chunks, hash them (and feed the whole-file hash) in parallel, look
 * each up in order, compress the new ones in parallel, then stage them and
 * append to the manifest in order. Memory is the buffer, an arena for
 * compressed output of the same size, and bounded batches: nothing grows
 * with the file.
 */
#define READ_BUF (8u << 20)
/* A file's only round smaller than this is worked on by the calling thread alone. */
#define SMALL_ROUND (256u << 10)
/*
 * Commit staged chunks at least this often (count or stored bytes): each
 * commit is a pack (or a few loose objects) and one syncfs.
 */
#define BATCH_CHUNKS 65536
#define BATCH_BYTES (64u << 20)
/* Stored manifests a file is compared with while its whole-file hash waits. */
#define MAX_CANDIDATES 8
/* Index packs together when an add leaves more than this many outside the multi-pack index. */
#define MIDX_AFTER_PACKS 32
/* Merge reference tables when an add leaves more than this many. */
#define REFS_MAX_TABLES 32
/*
 * A group commit (ingest-commit.c) happens once this many new manifests
 * wait (each a finished temporary file, its name and a few chunk ids held
 * until the commit renames it), or names, or seconds of work. Each commit
 * costs three or four syncfs; two batches are in memory at a time (one
 * read while the one before is committed).
 */
#define GROUP_MANIFESTS 1024
/* Batches whose names are on their way at once (one staged while one commits). */
#define COMMIT_INFLIGHT 2
#define GROUP_NAMES_MAX 8192
#define GROUP_SECONDS 5.0

/* A name waiting for its batch to be committed. */
struct pending {
	struct cdt_name_entry *meta;		/* owned */
	struct cdt_manifest_writer *mw;		/* its new manifest, or NULL */
	int heal;				/* mw replaces a damaged manifest */
	int packed;				/* mw went into the batch's manifest pack */
	struct cdt_ingest_result res;
	void *cookie;
	struct strbuf name_tmp;	/* staged entry */
	int err;
};

struct desc {
	size_t off;		/* in the read buffer */
	uint32_t len;
	struct cdt_id id;
	int stored;		/* cdt_chunk_has() when it was hashed: 1, 0 or -errno */
	int is_new;
	unsigned char *obj;	/* encoded object (or frame, for its first chunk), in the arena */
	size_t obj_len;
	/* Framed: the first chunk of a frame holds its size; 0 for the others in it. */
	uint32_t frame_n;	/* chunks in the frame this one opens */
	size_t frame_raw;	/* their raw bytes */
	/* Deltas: the chunk's sketch, the base it may be stored against, the delta. */
	struct cdt_sketch_sf sf;
	int base;		/* BASE_NONE, BASE_ADD (stored by this add) or BASE_PACKED */
	size_t base_ref;	/* BASE_ADD: in ing->add_sf.bases */
	struct cdt_pack *base_pack;
	uint64_t base_entry;
	int delta;		/* stored as the delta in dobj */
	unsigned char *dobj;
	size_t dobj_len;
	/*
	 * Holes: the chunk lies in holes of the input, so it is all zeros
	 * and its id was known when it was cut; zero_first is the first such
	 * chunk of its length in the round, the only one asked of the store.
	 */
	int zero;
	size_t zero_first;
};

enum { BASE_NONE, BASE_ADD, BASE_PACKED };

/* A new chunk goes into a frame (or its own object) unless it is a delta. */
static inline int whole_new(const struct desc *d)
{
	return d->is_new && !d->delta;
}

/*
 * The chunks this add stored whole since its last commit, which deltas may
 * use as bases before their pack's sketch is written: by super-feature
 * (an open-addressing table into `bases`). A base is read back from the
 * input (its round's buffer, or the file again, checked against its id).
 */
struct sf_table {
	uint64_t *keys;
	size_t *vals;
	size_t cap, n;
	struct base_ref {
		uint64_t file_off;	/* from where reading began */
		uint32_t len;
		struct cdt_id id;
	} *bases;
	size_t nbases, abases;
};

/* One buffer's worth of the file and what becomes of it. */
struct round {
	unsigned char *buf;
	size_t have;		/* bytes in buf */
	size_t len;		/* bytes cut into chunks (the rest carries over) */
	struct desc *descs;
	size_t ndesc, alloc;
	unsigned char *arena;	/* encoded objects (or frames) of the new chunks */
	int framed;		/* new chunks go into frames (the batch packs them) */
	size_t nframes;		/* frames in this round */
	size_t *frame_first;	/* the desc that opens each */
	size_t frames_alloc;
	int packed;		/* new chunks go into a pack */
	uint64_t file_off;	/* of buf[0], from where reading began */
	unsigned char *darena;	/* deltas of the new chunks */
	int last;		/* the file ends with this round */
	/*
	 * Holes of the input in buf: sorted, disjoint ranges filled with
	 * zeros instead of read; and those of buf's previous round, which
	 * still hold zeros where this round has not written yet.
	 */
	struct zrange {
		size_t start, end;
	} *zr, *old_zr;
	size_t nzr, zr_alloc, nold_zr, old_zr_alloc;
};
/* Room for deltas in a round: a chunk past it is stored whole. */
#define DELTA_ARENA (16u << 20)
/*
 * Threads an add uses unless told: each one beyond the first costs about
 * 3.5 MiB (its compressor, reader and buffers), and 8 keep an add within
 * 64 MiB of memory on any machine; past that, reading the input bounds it.
 */
#define DEFAULT_JOBS_MAX 8
/* A delta is kept only when it is at least this much smaller than the chunk alone. */
#define DELTA_MIN_GAIN 32

/*
 * The changes of names/ an add made, waiting for the tables of
 * info/names/ (ingest-info.c): they are written once for many batches,
 * under the mark ingest_info_begin() makes before the first name changes.
 * note() records a name installed (the file put in place); flush() brings
 * the tables up to date, under info/lock, with every name whose file is
 * still the one installed, and the others read again; due(): enough
 * changes wait to flush them now. end() removes the mark once the tables
 * follow every change, else leaves it (the next writer writes every
 * table again); release() ends and frees.
 */
struct ingest_info_change {
	char *name;
	int type;
	unsigned char *raw;
	size_t len;
	struct cdt_name_file file;
};
struct ingest_info {
	struct cdt_info_intent *intent;
	int marked;		/* begun (intent NULL when info/ could not be marked) */
	int lost;		/* a change the tables will not follow: the mark stays */
	struct ingest_info_change *v;
	size_t n, alloc, bytes;
};
struct cdt_info;
void ingest_info_begin(struct ingest_info *ii, struct cdt_store *s);
void ingest_info_note(struct ingest_info *ii, struct cdt_name_entry *meta,
		      const struct cdt_name_file *installed);
/* A name removed by the add (a cdt_name_gone function; data is the ingest_info). */
void ingest_info_note_gone(const char *name, int type, void *data);
int ingest_info_due(const struct ingest_info *ii);
int ingest_info_flush(struct ingest_info *ii, struct cdt_store *s, struct cdt_info *info);
void ingest_info_end(struct ingest_info *ii);
void ingest_info_release(struct ingest_info *ii);

struct cdt_ingest {
	struct cdt_store *store;
	struct cdt_ingest_options opt;
	struct cdt_workers *workers;
	struct cdt_compressor **comp;	/* one per worker + caller */
	struct cdt_chunk_reader **readers;	/* the same, to check loose copies found */
	unsigned char **rbufs;
	uint32_t frame_size;		/* the store's; 0: every chunk alone */
	unsigned char **fbufs;		/* per worker: a frame's raw bytes, gathered */
	uint32_t **flens;
	int ncomp;
	size_t buf_cap;
	/* Deltas (a store that keeps them): bases by sketch, and scratch per worker. */
	int deltas;
	struct cdt_sketchset *sketches;
	struct sf_table add_sf;
	unsigned char **zbufs;
	int fd;				/* the input; bases are read back from it */
	/*
	 * cdt_ingest_again(): the input is a stored content's chunks (src,
	 * the next entry, the chunk read last and how much of it is used),
	 * bases are read back from the store by id, and new chunks go into
	 * one batch across contents. stream_off is where the current input
	 * starts in everything read since the ingest was made (add: 0).
	 */
	struct cdt_manifest *src;
	uint64_t src_next;
	unsigned char *src_buf;
	uint32_t src_len, src_pos;
	struct cdt_chunk_reader *src_reader;
	struct strbuf src_why;
	struct cdt_chunk_batch *again_batch;
	uint64_t stream_off;
	int reread;			/* it can be read again (bases of earlier rounds) */
	int paused;			/* the "delta-base" test hook was met */
	uint64_t batch_bytes;		/* staged bytes that make a commit: BATCH_BYTES */
	/* add: one batch of chunks, references and names across files (group commit). */
	struct cdt_chunk_batch *batch;
	struct cdt_ref_writer *refw;
	struct pending *pend;
	size_t npend, apend, pend_manifests;
	struct cdt_idset pend_ids;	/* contents whose manifest is pending */
	/*
	 * The batches before, oldest first, their names being committed on
	 * threads of their own (ingest-commit.c), and the order they take.
	 */
	struct commit_job *inflight[COMMIT_INFLIGHT];
	size_t ninflight;
	struct commit_order *order;
	struct ingest_info info;	/* names committed, not yet in info/names/ */
	double pend_since;		/* when the first pending name was queued */
	int64_t committed_at;		/* added time of the names of the last commit */
	/* Two rounds: one is encoded while the next is read and cut. */
	struct round rounds[2];
	struct round *cur;		/* the round the parallel steps work on */
	struct cdt_cid *file_hash;	/* the content id, of the store's kind */
	struct cdt_idset round_new;	/* ids found new in this round */
	/*
	 * Content already stored: a file whose chunks are exactly those of a
	 * stored manifest has that manifest's content id (a manifest's id is
	 * only ever recorded from the bytes it was hashed from, and fsck
	 * checks it), so the whole-file hash (a second SHA-256 pass over
	 * every byte) can wait until the file turns out to differ. Then it is
	 * caught up by reading the part that was skipped again, each chunk of
	 * it checked against its id (only for input that can be read again).
	 */
	struct cand {
		struct cdt_manifest *m;
		struct cdt_id id;
		uint64_t next;		/* the manifest entry the next chunk must match */
	} cands[MAX_CANDIDATES];
	int ncands;
	int lazy;			/* the file hash is behind: see above */
	int defer;			/* the first round's file hash waits for the candidates */
	const struct cdt_id *expect;	/* cdt_ingest_queue_expect(): the id the bytes must have */
	const int *source_err;		/* and where their writer puts its error */
	/* cdt_ingest_queue_ahead(): the input, read, cut and hashed already. */
	const struct cdt_ahead_file *ahead;
	uint64_t hashed;		/* bytes of the file fed to file_hash */
	off_t start;			/* offset of the file's first byte in fd, -1 if unknown */
	/*
	 * What one fstat() of the input said (ingest_read()): a regular
	 * file, and one that may have holes (fewer blocks than its size
	 * needs: a file without holes is read without looking for them).
	 */
	int input_reg, input_sparse;
	/*
	 * Holes (fill_round): whether they are looked for in this input,
	 * the offset of the next byte to read, whether the "sparse-hole"
	 * test hook was met; the ids of all-zero chunks of a few lengths.
	 */
	int holes;
	off_t rpos;
	int hole_paused;
	struct zero_id {
		uint32_t len;
		struct cdt_id id;
	} zero_ids[4];
	unsigned nzero_ids;
	/* Reading skipped bytes again: a buffer, its chunks and their check. */
	unsigned char *cbuf;
	struct cdt_manifest_entry *cents;
	unsigned char *csame;
	size_t cents_cap;
};

/*
 * Deltas (ingest-delta.c), each step over the round at ing->cur:
 * sketches of the new chunks (parallel), a base for each in order, the
 * "delta-base" test pause, then the deltas in DELTA_SPANS runs
 * (parallel). ingest_sf_reset() forgets this add's own bases.
 */
#define DELTA_SPANS 16
void ingest_sf_reset(struct sf_table *t);
void ingest_sketch_item(size_t i, int worker, void *data);
void ingest_plan_bases(struct cdt_ingest *ing, struct round *r);
void ingest_pause_before_reread(struct cdt_ingest *ing, struct round *r);
void ingest_delta_item(size_t i, int worker, void *data);

/*
 * Stored content (ingest-candidates.c): a file whose chunks so far are
 * those of a stored manifest waits for its whole-file hash; the hash is
 * caught up from the input when the file turns out to differ.
 */
void ingest_drop_candidates(struct cdt_ingest *ing);
int ingest_catch_up(struct cdt_ingest *ing, int fd, const struct cdt_id *ref,
		    uint64_t nchunks, uint64_t upto);
void ingest_find_candidates(struct cdt_ingest *ing, int fd, const struct round *r);
/* Feed the round's bytes (r->len of them) to the content id, its holes as zeros. */
void ingest_hash_round(struct cdt_ingest *ing, const struct round *r);
int ingest_follow_candidates(struct cdt_ingest *ing, int fd, const struct round *r,
			     uint64_t round_start, uint64_t chunks_before);
int ingest_catch_up_error(const char *what, int ret);

/*
 * The rounds of one input, read from fd (or, for cdt_ingest_again(), from
 * ing->src): every chunk cut, looked up, new ones encoded and staged into
 * batch, all of them recorded in mw (ingest.c; ingest-file.c reads a file
 * through it). 0 or -errno (reported).
 */
int ingest_run_rounds(struct cdt_ingest *ing, int fd, const char *what,
		      struct cdt_chunk_batch *batch, struct cdt_manifest_writer *mw,
		      struct cdt_ingest_result *res);

/*
 * Filling a round (ingest-read.c): ingest_fill_round() puts the bytes
 * `prev` left uncut, then as much of the input as fits, into r (holes of
 * a sparse input as zeros, stored content read back when ing->src is
 * set) and cuts it into chunks; 0 or -errno (read error).
 * ingest_fill_ahead() makes ing->ahead, a file read ahead, round r.
 */
int ingest_fill_round(struct cdt_ingest *ing, int fd, struct round *r, const struct round *prev,
		      int *eof);
void ingest_fill_ahead(struct cdt_ingest *ing, struct round *r, int *eof);

/*
 * Group commit (ingest-commit.c). ingest_pend() queues a name (meta copied,
 * its extended attributes taken over; mw owned from now on);
 * ingest_commit_if_due() commits when the batch is due: its chunk data at
 * once, its manifests and names on a thread while the next batch is read
 * (two batches at most on their way: the batch is finished, and its
 * names told to the caller, by a later commit); ingest_commit_last()
 * commits now and returns the last queued name's result;
 * ingest_pend_free() drops what is pending (add failed or was
 * interrupted); ingest_commit_wait() finishes the batches on their way.
 * ingest_content_pending(): is the manifest of `id` pending, in this batch
 * or one on its way (a name that uses it then fails if that one does)?
 * *size (optional) gets the size of that content.
 */
struct commit_job;
struct commit_order;
int ingest_content_pending(const struct cdt_ingest *ing, const struct cdt_id *id, uint64_t *size);
void ingest_commit_wait(struct cdt_ingest *ing);
void ingest_pend(struct cdt_ingest *ing, struct cdt_name_entry *meta,
		 const struct cdt_ingest_result *res, struct cdt_manifest_writer *mw, int heal,
		 void *cookie);
int ingest_commit_if_due(struct cdt_ingest *ing);
int ingest_commit_last(struct cdt_ingest *ing);
void ingest_pend_free(struct cdt_ingest *ing);
/*
 * The batch of chunk data failed to commit (err) before the pending names
 * were committed: they fail, and nothing of theirs is stored.
 */
void ingest_fail_pending(struct cdt_ingest *ing, int err);

/*
 * ingest-mpack.c: the batch's new manifests still in memory (pend[0..n)),
 * when there are enough of them in a store of format 4 or later (not a
 * remote store's cache), staged as one manifest pack in tmp/ (*out, its
 * name in name; each marked packed), which the commit's sync makes
 * durable before ingest_install_mpack() renames it into manifests/pack/
 * with the loose manifests; *out NULL when none is. 0, or -errno (said).
 */
struct cdt_csum_file;
int ingest_stage_mpack(struct cdt_store *s, struct pending *pend, size_t n,
		       struct cdt_csum_file **out, char *name);
/* The staged pack put in place (manifests/pack/ made if need be); f is freed. 0 or -errno. */
int ingest_install_mpack(struct cdt_store *s, struct cdt_csum_file *f, const char *name);

#endif
