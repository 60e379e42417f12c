/* config.h: the store's versioned configuration file. */
#ifndef CDT_CONFIG_H
#define CDT_CONFIG_H

#include <stdint.h>
#include "format/chunker.h"
#include "base/strbuf.h"

/* The newest store format this build reads and writes. */
#define CDT_FORMAT_VERSION 1
#define CDT_CONFIG_MAX 4096

struct cdt_config {
	unsigned format;
	enum cdt_chunker_kind chunker;
	uint32_t chunk_size;	/* FastCDC average or fixed block size */
	int level;		/* deflate level, 0..12 */
	char store_id[33];	/* 32 hex digits, random at init */
};

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
