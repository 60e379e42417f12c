/* config.c: parse and write STORE/config, a small line-based text file with a checksum. */
#include "format/config.h"
#include "base/compress.h"
#include "base/hash.h"
#include "base/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void cdt_config_defaults(struct cdt_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->format = CDT_FORMAT_VERSION;
	cfg->chunker = CDT_CHUNKER_FASTCDC;
	cfg->chunk_size = 32 << 10;
	cfg->codec = CDT_CODEC_ZSTD;
	cfg->level = CDT_ZSTD_LEVEL_DEFAULT;
	cfg->frame_size = CDT_FRAME_SIZE_DEFAULT;
	cfg->deltas = 1;
}

enum cdt_cid_kind cdt_config_cid(const struct cdt_config *cfg)
{
	return cfg->format >= 3 ? CDT_CID_TREE : CDT_CID_SHA256;
}

int cdt_config_check(const struct cdt_config *cfg, struct strbuf *why)
{
	struct cdt_chunker c;

	if (cfg->codec != CDT_CODEC_ZLIB && cfg->codec != CDT_CODEC_ZSTD) {
		strbuf_addstr(why, "unknown codec");
		return -EINVAL;
	}
	if (cfg->format < 2 && cfg->codec != CDT_CODEC_ZLIB) {
		strbuf_addf(why, "format %u stores have the zlib codec", cfg->format);
		return -EINVAL;
	}
	if (cfg->format < 2 && cfg->frame_size) {
		strbuf_addf(why, "format %u stores keep each chunk on its own (no frames)", cfg->format);
		return -EINVAL;
	}
	if (cfg->deltas && (cfg->format < 2 || cfg->codec != CDT_CODEC_ZSTD)) {
		strbuf_addstr(why, "only zstd stores (format 2) keep deltas");
		return -EINVAL;
	}
	if (cfg->deltas > 1) {
		strbuf_addstr(why, "deltas is 0 or 1");
		return -EINVAL;
	}
	if (cfg->frame_size &&
	    (cfg->frame_size < CDT_FRAME_SIZE_MIN || cfg->frame_size > CDT_FRAME_SIZE_MAX)) {
		strbuf_addf(why, "frame size %u is not 0 or between %u and %u", cfg->frame_size,
			    CDT_FRAME_SIZE_MIN, CDT_FRAME_SIZE_MAX);
		return -EINVAL;
	}
	if (cfg->level < cdt_codec_level_min(cfg->codec) ||
	    cfg->level > cdt_codec_level_max(cfg->codec)) {
		strbuf_addf(why, "%s level %d is not between %d and %d", cdt_codec_name(cfg->codec),
			    cfg->level, cdt_codec_level_min(cfg->codec),
			    cdt_codec_level_max(cfg->codec));
		return -EINVAL;
	}
	if (cdt_chunker_init(&c, cfg->chunker, cfg->chunk_size) < 0) {
		if (cfg->chunker == CDT_CHUNKER_FASTCDC)
			strbuf_addf(why, "fastcdc chunk size %u is not a power of two between %u and %u",
				    cfg->chunk_size, CDT_CHUNK_AVG_MIN, CDT_CHUNK_AVG_MAX);
		else
			strbuf_addf(why, "fixed chunk size %u is not between %u and %u",
				    cfg->chunk_size, CDT_FIXED_MIN, CDT_FIXED_MAX);
		return -EINVAL;
	}
	return 0;
}

static void format_body(const struct cdt_config *cfg, struct strbuf *out)
{
	strbuf_addstr(out, "# cdt store configuration: written by cdt init, fixed for the store's life\n");
	strbuf_addf(out, "format %u\n", cfg->format);
	strbuf_addf(out, "chunker %s\n", cdt_chunker_name(cfg->chunker));
	strbuf_addf(out, "chunk-size %u\n", cfg->chunk_size);
	if (cfg->format >= 2)
		strbuf_addf(out, "codec %s\n", cdt_codec_name(cfg->codec));
	strbuf_addf(out, "level %d\n", cfg->level);
	if (cfg->format >= 2)
		strbuf_addf(out, "frame-size %u\n", cfg->frame_size);
	if (cfg->deltas)
		strbuf_addf(out, "deltas %u\n", cfg->deltas);
	strbuf_addf(out, "store-id %s\n", cfg->store_id);
}

void cdt_config_format(const struct cdt_config *cfg, struct strbuf *out)
{
	struct cdt_id sum;
	char hex[CDT_ID_HEXLEN + 1];
	size_t start = out->len;

	format_body(cfg, out);
	cdt_hash(out->buf + start, out->len - start, &sum);
	strbuf_addf(out, "checksum %s\n", cdt_id_to_hex(&sum, hex));
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno || *end || *out > max)
		return -1;
	return 0;
}

int cdt_config_parse(const char *text, size_t len, struct cdt_config *cfg,
		     struct strbuf *why)
{
	char buf[CDT_CONFIG_MAX + 1];
	char *line, *next;
	unsigned seen = 0;
	size_t body_len = 0;
	int have_sum = 0;
	struct cdt_id want, got;

	memset(cfg, 0, sizeof(*cfg));
	if (len > CDT_CONFIG_MAX) {
		strbuf_addstr(why, "config is too large");
		return -CDT_ECORRUPT;
	}
	if (memchr(text, '\0', len)) {
		strbuf_addstr(why, "config contains a NUL byte");
		return -CDT_ECORRUPT;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (!len || buf[len - 1] != '\n') {
		strbuf_addstr(why, "config is truncated");
		return -CDT_ECORRUPT;
	}
	for (line = buf; *line; line = next) {
		char *key = line, *val;
		unsigned long long v;
		size_t line_start = (size_t)(line - buf);

		next = strchr(line, '\n');
		*next++ = '\0';
		if (have_sum) {
			strbuf_addstr(why, "config has text after its checksum");
			return -CDT_ECORRUPT;
		}
		if (*line == '#')
			continue;
		val = strchr(line, ' ');
		if (!val) {
			strbuf_addf(why, "config line '%.40s' has no value", line);
			return -CDT_ECORRUPT;
		}
		*val++ = '\0';
		if (!strcmp(key, "format")) {
			if (seen & 1) {
				strbuf_addf(why, "config key '%s' appears twice", key);
				return -CDT_ECORRUPT;
			}
			if (parse_uint(val, 1000000, &v) || !v) {
				strbuf_addf(why, "bad format version '%.20s'", val);
				return -CDT_ECORRUPT;
			}
			cfg->format = (unsigned)v;
			/* Checked before the checksum: a newer cdt may write another layout. */
			if (v > CDT_FORMAT_VERSION) {
				strbuf_addf(why, "store format %llu is newer than this cdt supports (%d)",
					    v, CDT_FORMAT_VERSION);
				return -CDT_EVERSION;
			}
			seen |= 1;
		} else if (!strcmp(key, "chunker")) {
			if (seen & 2) {
				strbuf_addf(why, "config key '%s' appears twice", key);
				return -CDT_ECORRUPT;
			}
			if (cdt_chunker_parse(val, &cfg->chunker)) {
				strbuf_addf(why, "unknown chunker '%.20s'", val);
				return -CDT_ECORRUPT;
			}
			seen |= 2;
		} else if (!strcmp(key, "chunk-size")) {
			if (seen & 4) {
				strbuf_addf(why, "config key '%s' appears twice", key);
				return -CDT_ECORRUPT;
			}
			if (parse_uint(val, CDT_FIXED_MAX, &v)) {
				strbuf_addf(why, "bad chunk-size '%.20s'", val);
				return -CDT_ECORRUPT;
			}
			cfg->chunk_size = (uint32_t)v;
			seen |= 4;
		} else if (!strcmp(key, "level")) {
			if (seen & 8) {
				strbuf_addf(why, "config key '%s' appears twice", key);
				return -CDT_ECORRUPT;
			}
			if (parse_uint(val, 99, &v)) {
				strbuf_addf(why, "bad level '%.20s'", val);
				return -CDT_ECORRUPT;
			}
			cfg->level = (int)v;
			seen |= 8;
		} else if (!strcmp(key, "codec")) {
			if (seen & 32) {
				strbuf_addf(why, "config key '%s' appears twice", key);
				return -CDT_ECORRUPT;
			}
			if (cdt_codec_parse(val, &cfg->codec)) {
				strbuf_addf(why, "unknown codec '%.20s'", val);
				return -CDT_ECORRUPT;
			}
			seen |= 32;
		} else if (!strcmp(key, "frame-size")) {
			if (seen & 64) {
				strbuf_addf(why, "config key '%s' appears twice", key);
				return -CDT_ECORRUPT;
			}
			if (parse_uint(val, CDT_FRAME_SIZE_MAX, &v)) {
				strbuf_addf(why, "bad frame-size '%.20s'", val);
				return -CDT_ECORRUPT;
			}
			cfg->frame_size = (uint32_t)v;
			seen |= 64;
		} else if (!strcmp(key, "deltas")) {
			if (seen & 128) {
				strbuf_addf(why, "config key '%s' appears twice", key);
				return -CDT_ECORRUPT;
			}
			if (parse_uint(val, 1, &v)) {
				strbuf_addf(why, "bad deltas '%.20s'", val);
				return -CDT_ECORRUPT;
			}
			cfg->deltas = (uint32_t)v;
			seen |= 128;
		} else if (!strcmp(key, "store-id")) {
			if (seen & 16) {
				strbuf_addf(why, "config key '%s' appears twice", key);
				return -CDT_ECORRUPT;
			}
			if (strlen(val) != 32 || strspn(val, "0123456789abcdef") != 32) {
				strbuf_addstr(why, "bad store-id");
				return -CDT_ECORRUPT;
			}
			memcpy(cfg->store_id, val, 33);
			seen |= 16;
		} else if (!strcmp(key, "checksum")) {
			if (cdt_id_from_hex(val, &want)) {
				strbuf_addstr(why, "bad checksum line");
				return -CDT_ECORRUPT;
			}
			body_len = line_start;
			have_sum = 1;
		} else {
			strbuf_addf(why, "unknown config key '%.40s'", key);
			return -CDT_ECORRUPT;
		}
	}
	if (!(seen & 1)) {
		strbuf_addstr(why, "config has no format version");
		return -CDT_ECORRUPT;
	}
	if (!have_sum) {
		strbuf_addstr(why, "config has no checksum");
		return -CDT_ECORRUPT;
	}
	cdt_hash(text, body_len, &got);
	if (!cdt_id_eq(&want, &got)) {
		strbuf_addstr(why, "config checksum does not match its contents");
		return -CDT_ECORRUPT;
	}
	/* Format 1 has no codec or frame-size line: its chunks are zlib streams, each alone. */
	if (cfg->format < 2 && !(seen & 96)) {
		cfg->codec = CDT_CODEC_ZLIB;
		cfg->frame_size = 0;
		seen |= 96;
	} else if (cfg->format < 2) {
		strbuf_addstr(why, "config of format 1 names a codec or a frame size");
		return -CDT_ECORRUPT;
	}
	/* deltas is optional: a store without the line keeps none. */
	if ((seen | 128) != 255) {
		strbuf_addstr(why, "config is missing a required key");
		return -CDT_ECORRUPT;
	}
	if (cdt_config_check(cfg, why))
		return -CDT_ECORRUPT;
	return 0;
}
