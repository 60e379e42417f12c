/* ahead.h: small files read, cut and hashed ahead on a thread of their own (add of many files). */
#ifndef CDT_AHEAD_H
#define CDT_AHEAD_H

#include "base/hash.h"
#include "format/sketch.h"
#include "format/store.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/*
 * An add of many small files spends most of its time on work that depends
 * only on each file's bytes: reading it, cutting it into chunks, hashing
 * them and the whole content, and the sketches of a store that keeps
 * deltas. A reader does that work for the next files of a list on a thread
 * of its own while the caller stores the ones before; it never touches the
 * store. Files are taken back in the order they were pushed.
 *
 * Only regular files of at most CDT_AHEAD_MAX bytes that it reads whole
 * are prepared; any other (gone, grown, sparse, not regular, an error) is left to
 * the caller, which reads it as usual and reports what is wrong. At most
 * CDT_AHEAD_BYTES of file data are held at once, and at most an eighth of
 * the process's descriptors (each prepared file is open until taken).
 *
 * In a store that keeps frames, the reader also compresses a file's frames,
 * as if every chunk of it were new and as add would plan them (ops/ingest.c),
 * when it has no file to prepare: compressing is most of the caller's work
 * on a small file, and on a first add almost every chunk is new. The
 * caller takes such a frame only where its own plan has the same chunks
 * (cdt_ahead_frame()): the bytes are its own encoding's, made by the same
 * codec at the same level from the same bytes.
 */
#define CDT_AHEAD_MAX (1u << 20)
#define CDT_AHEAD_BYTES (16u << 20)
#define CDT_AHEAD_FILES 64

struct cdt_ahead_chunk {
	size_t off;
	uint32_t len;
	struct cdt_id id;
	struct cdt_sketch_sf sf;	/* filled only if the file is `sketched` */
};

struct cdt_ahead_file {
	int fd;			/* open, read to its end */
	struct stat st;		/* fstat() before it was read */
	int64_t read_at;	/* time() before it was opened */
	unsigned char *buf;
	size_t len;
	struct cdt_ahead_chunk *chunks;
	size_t nchunks;
	struct cdt_id content;	/* the content id, of the store's kind */
	/*
	 * The chunks' sketches are filled: a store that keeps deltas, and a
	 * content not read before in this add (whose chunks are not new).
	 */
	int sketched;
	/* Frames encoded ahead, in order of their first chunk; NULL: none. */
	struct cdt_ahead_frame {
		size_t first;		/* its first chunk */
		uint32_t n;		/* its chunks, first to first + n - 1 */
		size_t off, len;	/* its bytes in enc */
	} *frames;
	size_t nframes;
	unsigned char *enc;
	int encoded;		/* 1: frames encoded; -1: being encoded */
};

struct cdt_ahead;
/*
 * open_fn opens a file pushed as the caller would (flags as for open(2));
 * frames are encoded at `level` of the store's codec (0: the store's level),
 * which must be the caller's.
 */
struct cdt_ahead *cdt_ahead_new(struct cdt_store *s, int (*open_fn)(const void *file, int flags),
				int level);
/* Queue `file` (the caller's, valid until it is taken back) to be prepared. */
void cdt_ahead_push(struct cdt_ahead *a, const void *file);
/*
 * The next file pushed, once prepared (waits for it), or NULL when it was
 * not: the caller reads it itself. The caller owns what it gets
 * (cdt_ahead_file_free() closes the file).
 */
struct cdt_ahead_file *cdt_ahead_next(struct cdt_ahead *a);
void cdt_ahead_file_free(struct cdt_ahead_file *f);
/*
 * The frame encoded ahead that holds exactly chunks first to first + n - 1
 * of f, and its length in *len; NULL when there is none.
 */
const unsigned char *cdt_ahead_frame(const struct cdt_ahead_file *f, size_t first, uint32_t n,
				     size_t *len);
/* Stop the thread and drop what was not taken. */
void cdt_ahead_free(struct cdt_ahead *a);

#endif
