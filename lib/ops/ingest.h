/* ingest.h: adding a file's contents and name to the store (the add pipeline). */
#ifndef CDT_INGEST_H
#define CDT_INGEST_H

#include <stdint.h>
#include "format/names.h"
#include "format/store.h"

struct cdt_ingest_options {
	int jobs;		/* worker threads for hashing and compression (0: online CPUs) */
	int no_replace;		/* refuse to overwrite an existing name */
	/* Called now and then with the bytes read so far of the current file. */
	void (*progress)(uint64_t done, void *data);
	void *progress_data;
};

struct cdt_ingest_result {
	struct cdt_id content;	/* whole-file SHA-256 */
	uint64_t size;		/* bytes read */
	uint64_t chunks;	/* chunks in the file */
	uint64_t new_chunks;	/* chunks this add stored */
	uint64_t new_raw;	/* their uncompressed bytes */
	uint64_t new_stored;	/* bytes they take in the store */
	/* Of those, the ones stored as deltas against a similar chunk. */
	uint64_t delta_chunks, delta_raw, delta_stored;
	int manifest_existed;	/* identical content was already stored */
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

#endif
