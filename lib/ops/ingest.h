/* ingest.h: adding a file's contents and name to the store (the add pipeline). */
#ifndef CDT_INGEST_H
#define CDT_INGEST_H

#include <stdint.h>
#include "format/names.h"
#include "format/store.h"

struct cdt_pack;
struct cdt_ingest_result;

struct cdt_ingest_options {
	int jobs;		/* worker threads for hashing and compression (0: online CPUs) */
	int no_replace;		/* refuse to overwrite an existing name */
	/*
	 * May the name of this file (the cookie it was queued with) replace
	 * names of another type in its way (see cdt_name_install())? NULL: never.
	 */
	int (*replace_type)(void *cookie, void *data);
	void *replace_data;
	/* Called now and then with the bytes read so far of the current file. */
	void (*progress)(uint64_t done, void *data);
	void *progress_data;
	/*
	 * For storing stored content again (cdt_ingest_again(), gc
	 * --recompress); add leaves them all 0 / NULL.
	 *
	 * level: the codec's level for new chunks (0: the store's).
	 * stored: replaces the question "does the store hold this chunk?" by
	 * the caller's (is it stored in the form wanted); called from worker
	 * threads, never while committed() runs. 1, 0 or -errno.
	 * base_ok: may a delta take its base from pack p? (A chunk in a pack
	 * about to be removed is no base.)
	 * committed: pack `pack` ("pack-<hex>") was committed (its chunks are
	 * now stored). A pack is named by its checksum, so it may have the
	 * name of a pack that was there before (the same bytes written again).
	 */
	int level;
	/* Never write loose objects, only packs (a store whose new files are uploaded). */
	int pack_always;
	/* A damaged manifest replaced by the one made is said by the caller (repair), not here. */
	int quiet_heal;
	/*
	 * Group commit (add of many files). With `group` set, cdt_ingest_queue()
	 * leaves names pending and cdt_ingest_commit() makes a batch of them
	 * durable at once (a few syncfs per batch instead of several fsyncs
	 * per file); a batch is committed on its own once it holds `group`
	 * names, many new manifests or GROUP_SECONDS of work. done() then
	 * tells, for each name in the order queued, that it is durable (err 0)
	 * or failed (err < 0, already reported), with the caller's cookie.
	 */
	size_t group;
	void (*done)(const struct cdt_name_entry *e, const struct cdt_ingest_result *res,
		     int err, void *cookie, void *data);
	void *done_data;
	int (*stored)(const struct cdt_id *id, void *data);
	int (*base_ok)(const struct cdt_pack *p, void *data);
	void (*committed)(const char *pack, void *data);
	void *again_data;
};

struct cdt_ingest_result {
	struct cdt_id content;	/* the content id (base/cid.h) */
	uint64_t size;		/* bytes read */
	uint64_t chunks;	/* chunks in the file */
	uint64_t new_chunks;	/* chunks this add stored */
	uint64_t new_raw;	/* their uncompressed bytes */
	uint64_t new_stored;	/* bytes they take in the store */
	/* Of those, the ones stored as deltas against a similar chunk. */
	uint64_t delta_chunks, delta_raw, delta_stored;
	int manifest_existed;	/* identical content was already stored */
	/* The name's stored entry was this one already (but for when it was written): kept. */
	int name_kept;
	/*
	 * Bytes fed to the whole-file hash: the size for new content, less
	 * when the file's chunks were found to be a stored file's.
	 */
	uint64_t hashed;
};

struct cdt_ingest;
struct cdt_ingest *cdt_ingest_new(struct cdt_store *s, const struct cdt_ingest_options *opt);
void cdt_ingest_free(struct cdt_ingest *ing);

/*
 * Read fd to its end and store it under meta->name with meta's mode, owner
 * and mtime (size, content and added time are filled in). On success the
 * name is durable and every earlier write it depends on is too. The caller
 * holds the shared lock. Errors are reported (naming `what`, the source)
 * and returned as -errno; the store then holds at most unreferenced garbage.
 */
int cdt_ingest_fd(struct cdt_ingest *ing, int fd, const char *what,
		  struct cdt_name_entry *meta, struct cdt_ingest_result *res);
/*
 * cdt_ingest_fd() of bytes that must have the content id `expect` (repair
 * of a manifest from a local file): other bytes are not stored and the
 * name is left as it is (-CDT_ECORRUPT, reported).
 */
int cdt_ingest_fd_expect(struct cdt_ingest *ing, int fd, const char *what,
			 struct cdt_name_entry *meta, const struct cdt_id *expect,
			 struct cdt_ingest_result *res);

/*
 * Group commit: read and store fd's content as cdt_ingest_fd() does, but
 * leave its name pending until the batch is committed (then opt.done is
 * called for it). res is filled in at once. meta->type must be
 * CDT_NAME_REG; meta is copied (its extended attributes taken over: the
 * caller's pointer is cleared). 0, or -errno (reported): nothing of this
 * file is pending then.
 */
int cdt_ingest_queue(struct cdt_ingest *ing, int fd, const char *what,
		     struct cdt_name_entry *meta, void *cookie, struct cdt_ingest_result *res);
/*
 * cdt_ingest_queue() of a file read ahead (ops/ahead.h): its bytes, chunks
 * and ids as the reader prepared them; the store is asked about its chunks
 * now. The file is not read again.
 */
struct cdt_ahead_file;
int cdt_ingest_queue_ahead(struct cdt_ingest *ing, const struct cdt_ahead_file *f,
			   const char *what, struct cdt_name_entry *meta, void *cookie,
			   struct cdt_ingest_result *res);
/*
 * cdt_ingest_queue() of bytes that must have the content id `expect` (they
 * come from another store: push, pull); other bytes are not stored and the
 * name is not queued (-CDT_ECORRUPT, reported). `source_err`, when not
 * NULL, is where the writer of fd puts its error (atomically, before it
 * closes fd): bytes cut short by it fail with that error, which the
 * writer reported, not as other bytes.
 */
int cdt_ingest_queue_expect(struct cdt_ingest *ing, int fd, const char *what,
			    struct cdt_name_entry *meta, const struct cdt_id *expect,
			    const int *source_err, void *cookie, struct cdt_ingest_result *res);
/*
 * Queue a name whose content is already stored (content and size set in
 * meta: a files cache hit), or that has none (a directory or symbolic
 * link). A name with content whose manifest is not in the store (nor
 * pending in it), or is of another size than the name's, is refused with
 * -ENOENT (not reported: the caller reads the file). 0 or -errno.
 */
int cdt_ingest_queue_entry(struct cdt_ingest *ing, struct cdt_name_entry *meta, void *cookie);
/*
 * Commit every pending name: chunk data, references, manifests, name
 * records, names, each step made durable by one syncfs before the next
 * points at it. Calls opt.done for each. Then info/packs of a local store
 * is brought to agree with packs/ (cdt_serverinfo_packs_settle()). 0, or
 * -errno when any name failed.
 */
int cdt_ingest_commit(struct cdt_ingest *ing);

/*
 * Store the stored content `content` again, as if it were added now: its
 * bytes are read from its chunks (each checked against its id), cut by the
 * store's chunker, and every chunk that opt->stored() says is not stored
 * in the wanted form is planned, encoded and staged exactly as add does
 * (frames, deltas against similar chunks, sketches), at opt->level. The
 * content id is computed again and must be `content`, and the chunks cut
 * must be those its manifest lists; manifests and names are left as they
 * are. New chunks of successive calls share one batch, always a pack,
 * committed when it is full and by cdt_ingest_again_commit(). `what`
 * names the content in messages. 0 or -errno (reported); on failure what
 * was staged since the last commit is dropped by cdt_ingest_free().
 */
int cdt_ingest_again(struct cdt_ingest *ing, const struct cdt_id *content, const char *what,
		     struct cdt_ingest_result *res);
/* Commit what cdt_ingest_again() staged. 0 or -errno (reported). */
int cdt_ingest_again_commit(struct cdt_ingest *ing);

#endif
