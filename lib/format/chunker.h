/* chunker.h: content-defined (FastCDC) and fixed-size chunking. */
#ifndef CDT_CHUNKER_H
#define CDT_CHUNKER_H

#include <stddef.h>
#include <stdint.h>

enum cdt_chunker_kind {
	CDT_CHUNKER_FASTCDC = 1,
	CDT_CHUNKER_FIXED = 2,
};

/* Limits on the average (FastCDC) or block (fixed) size a store may use. */
#define CDT_CHUNK_AVG_MIN (1u << 10)
#define CDT_CHUNK_AVG_MAX (4u << 20)
#define CDT_FIXED_MIN 512u
#define CDT_FIXED_MAX (16u << 20)
/* No chunk of any store is larger than this; readers bound allocations by it. */
#define CDT_CHUNK_HARD_MAX (16u << 20)

struct cdt_chunker {
	enum cdt_chunker_kind kind;
	uint32_t min_size, avg_size, max_size;
	uint64_t mask_s, mask_l;
	uint64_t gear[256];
};

/*
 * Set up a chunker. For FastCDC `size` is the average (a power of two
 * between CDT_CHUNK_AVG_MIN and CDT_CHUNK_AVG_MAX; min = avg/4, max =
 * avg*4); for fixed it is the block size. Returns 0 or -EINVAL.
 */
int cdt_chunker_init(struct cdt_chunker *c, enum cdt_chunker_kind kind, uint32_t size);

/*
 * Length of the next chunk at the start of data[0..len). When `eof` is false
 * and the buffer may end before the cut point (len < max_size), returns 0:
 * the caller must supply more data. With eof set, the last chunk is whatever
 * remains. Never returns more than len or max_size; returns 0 for len 0.
 */
size_t cdt_chunker_next(const struct cdt_chunker *c, const unsigned char *data,
			size_t len, int eof);

/*
 * The same cut as cdt_chunker_next(), when the caller knows that
 * data[0..zeros) are zero bytes (holes of a sparse file): a long run of
 * them is passed over without being hashed byte by byte, and need not
 * even have been written to data (zeros may exceed len).
 */
size_t cdt_chunker_next_zeros(const struct cdt_chunker *c, const unsigned char *data,
			      size_t len, int eof, size_t zeros);

const char *cdt_chunker_name(enum cdt_chunker_kind kind);
/* Parse "fastcdc" or "fixed"; 0 or -EINVAL. */
int cdt_chunker_parse(const char *s, enum cdt_chunker_kind *out);

#endif
