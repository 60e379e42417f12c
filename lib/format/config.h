/* config.h: the store's versioned configuration file. */
#ifndef CDT_CONFIG_H
#define CDT_CONFIG_H

#include <stdint.h>
#include "format/chunker.h"
#include "base/cid.h"
#include "base/compress.h"
#include "base/strbuf.h"

/*
 * The newest store format this build reads and writes. Format 1 stores
 * chunks with the zlib codec; format 2 names its codec (zstd or zlib);
 * format 3 is format 2 with tree content ids (base/cid.h) instead of the
 * SHA-256 of a file's bytes; format 4 is format 3 whose manifests may be
 * in manifest packs (mpack.h), which a cdt that knows only format 3
 * would not find.
 */
#define CDT_FORMAT_VERSION 4
/* The first format whose adds may write manifest packs. */
#define CDT_FORMAT_MPACKS 4
#define CDT_CONFIG_MAX 4096

struct cdt_config {
	unsigned format;
	enum cdt_chunker_kind chunker;
	uint32_t chunk_size;	/* FastCDC average or fixed block size */
	enum cdt_codec codec;	/* zlib (format 1) or zstd */
	/*
	 * Raw bytes of chunks a pack compresses together in one frame (format 2;
	 * 0: each chunk on its own, as format 1 always does).
	 */
	uint32_t frame_size;
	/*
	 * New chunks similar to a stored one are stored as deltas against it
	 * (format 2, zstd only; 0 or 1).
	 */
	uint32_t deltas;
	int level;		/* the codec's level */
	char store_id[33];	/* 32 hex digits, random at init */
};

/* Limits on a store's frame size (besides 0, no frames). */
#define CDT_FRAME_SIZE_MIN (4u << 10)
#define CDT_FRAME_SIZE_MAX (16u << 20)
#define CDT_FRAME_SIZE_DEFAULT (256u << 10)

/* The content ids of a store of this config: SHA-256 (formats 1, 2) or tree ids (3). */
enum cdt_cid_kind cdt_config_cid(const struct cdt_config *cfg);

/* Defaults for cdt init. */
void cdt_config_defaults(struct cdt_config *cfg);
/* Check that the parameters are usable; 0 or -EINVAL with a message. */
int cdt_config_check(const struct cdt_config *cfg, struct strbuf *why);
/* Serialise, with the trailing checksum line. */
void cdt_config_format(const struct cdt_config *cfg, struct strbuf *out);
/*
 * Parse text read from a store. Returns 0, -CDT_EVERSION (a format newer
 * than this build), or -CDT_ECORRUPT; `why` gets a human-readable reason.
 */
int cdt_config_parse(const char *text, size_t len, struct cdt_config *cfg,
		     struct strbuf *why);

#endif
