/* recompress.h: converting a store in place to the current format (gc --recompress). */
#ifndef CDT_RECOMPRESS_H
#define CDT_RECOMPRESS_H

#include <stdint.h>
#include "format/store.h"

struct cdt_recompress_result {
	int config_written;		/* the config was (or would be) replaced */
	unsigned format;		/* by one of this format */
	uint64_t contents;		/* live contents read back and cut again */
	uint64_t chunks, raw;		/* chunks stored again, and their raw bytes */
	uint64_t stored;		/* the bytes they take now */
	uint64_t deltas;		/* of them, stored as deltas */
	uint64_t packs_removed, pack_bytes;	/* old packs removed, and their bytes */
	uint64_t loose_removed, loose_bytes;	/* old loose chunks removed */
	uint64_t packs_kept;		/* old packs kept: a live chunk of them was not confirmed */
	uint64_t to_convert;		/* dry run: live chunks not in the new form */
	uint64_t to_convert_bytes;	/* and the bytes they take now */
};

/*
 * Convert the store in place (the caller holds the exclusive lock; see
 * "Converting a store" in store-format.md):
 *
 * 1. A config short of the current defaults (format 1, another codec, no
 *    frames or no deltas) is replaced atomically by one of format 2 with
 *    zstd, the default frame size and deltas, and the same chunker.
 * 2. Every live content is read back and stored again through add's
 *    pipeline (cdt_ingest_again()), name by name in byte order; a chunk
 *    is stored again unless a copy of it is in a pack of the new form: a
 *    pack of version 2 whose objects all use the store's codec (or none),
 *    or with `level` (non-zero: the zstd level of the new chunks, the
 *    config's level unchanged) only a pack this run wrote.
 * 3. Live chunks of the old packs and loose objects that no content lists
 *    (bases of deltas) are stored again whole.
 * 4. Once all of that is durable, each old pack and live loose chunk is
 *    removed after every live chunk it holds has been read back, checked,
 *    from a pack of the new form (else it is kept, and said so); then the
 *    multi-pack index is written again.
 *
 * Every step leaves a valid store; a rerun after an interruption goes on
 * where it stopped. What no name needs is left to gc. With dry_run,
 * nothing changes and *res says what would be done. report() (optional)
 * gets a line per content converted and pack removed. 0 or -errno
 * (reported).
 */
int cdt_recompress(struct cdt_store *s, int level, int dry_run,
		   void (*report)(const char *line, void *data), void *data,
		   struct cdt_recompress_result *res);

#endif
