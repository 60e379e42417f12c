/* cmd/init.c: cdt init, create a store. */
#include "cmd.h"
#include "ops/remote.h"
#include "ops/serverinfo.h"
#include "base/compress.h"
#include "format/chunker.h"
#include "format/config.h"
#include "base/util.h"

#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define STR_(x) #x
#define STR(x) STR_(x)

const char usage_init[] =
	"usage: cdt init [--chunker fastcdc|fixed] [--chunk-size SIZE] [--codec zstd|zlib] [--level N] [--frame-size SIZE] [--content-id tree|sha256] [--no-deltas] [--shared=group] [-q] [DIR]\n"
	"\n"
	"Create a store at DIR (default: --store, else $CDT_STORE, else .cdt in\n"
	"the current directory).\n"
	"The parameters are fixed for the store's life. The store is private to\n"
	"its owner (mode 0700) unless shared with a group.\n"
	"\n"
	"    --chunker KIND     fastcdc (content-defined, default) or fixed (blocks)\n"
	"    --chunk-size SIZE  average chunk size for fastcdc (power of two,\n"
	"                       1K..4M, default 32K), block size for fixed (512..16M)\n"
	"    --codec CODEC      zstd (default) or zlib (with neither --frame-size\n"
	"                       nor --content-id: format 1, readable by older cdt)\n"
	"    --level N          zstd " STR(CDT_ZSTD_LEVEL_MIN) ".." STR(CDT_ZSTD_LEVEL_MAX) " (default " STR(CDT_ZSTD_LEVEL_DEFAULT) "), zlib " STR(CDT_ZLIB_LEVEL_MIN) ".." STR(CDT_ZLIB_LEVEL_MAX) "\n"
	"                       (default " STR(CDT_ZLIB_LEVEL_DEFAULT) "; 0 stores raw)\n"
	"    --frame-size SIZE  raw bytes of neighbouring chunks a pack compresses\n"
	"                       together (4K..16M, default 256K; 0: each chunk\n"
	"                       alone); zlib stores take none unless given\n"
	"    --content-id KIND  how contents are named: tree (default; store format\n"
	"                       4: holes of sparse files are not hashed) or sha256\n"
	"                       (the SHA-256 of the bytes, as sha256sum prints it;\n"
	"                       format 2)\n"
	"    --no-deltas        store every new chunk whole, never as a delta\n"
	"                       against a similar stored one (zstd stores keep\n"
	"                       deltas by default; zlib stores never do)\n"
	"    --shared=group     share the store with the group of DIR (mode 2770):\n"
	"                       its members can add, read and remove, whatever\n"
	"                       their umask\n"
	"    -q, --quiet        print nothing on success\n"
	"    -h, --help         show this help\n";

/* ", shared with group NAME": the group a shared store was made for. */
static void print_group(const char *dir)
{
	struct group *gr;
	struct stat st;

	if (stat(dir, &st) < 0)
		return;
	gr = getgrgid(st.st_gid);
	if (gr)
		printf(", shared with group %s", gr->gr_name);
	else
		printf(", shared with group %lu", (unsigned long)st.st_gid);
}

int cmd_init(int argc, char **argv, struct cmd_ctx *ctx)
{
	static const struct option opts[] = {
		{ "chunker", required_argument, NULL, 'c' },
		{ "chunk-size", required_argument, NULL, 's' },
		{ "codec", required_argument, NULL, 'C' },
		{ "level", required_argument, NULL, 'l' },
		{ "frame-size", required_argument, NULL, 'F' },
		{ "content-id", required_argument, NULL, 'I' },
		{ "no-deltas", no_argument, NULL, 'D' },
		{ "shared", required_argument, NULL, 'S' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 }
	};
	enum cdt_store_sharing sharing = CDT_SHARE_PRIVATE;
	struct cdt_config cfg;
	const char *dir;
	int c, quiet = 0, level_given = 0, frame_given = 0, no_deltas = 0, cid_given = 0;
	enum cdt_cid_kind cid = CDT_CID_TREE;
	uint64_t v;
	char *end;
	long level = 0;

	cdt_config_defaults(&cfg);
	while ((c = getopt_long(argc, argv, ":q", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (cdt_chunker_parse(optarg, &cfg.chunker))
				return usage_error(ctx, "unknown chunker '%s' (fastcdc or fixed)", optarg);
			break;
		case 's':
			if (parse_size(optarg, &v) || v > UINT32_MAX)
				return usage_error(ctx, "bad chunk size '%s'", optarg);
			cfg.chunk_size = (uint32_t)v;
			break;
		case 'C':
			if (cdt_codec_parse(optarg, &cfg.codec))
				return usage_error(ctx, "unknown codec '%s' (zstd or zlib)", quote(optarg));
			break;
		case 'l':
			level = strtol(optarg, &end, 10);
			if (!*optarg || *end || level < -1000 || level > 1000)
				return usage_error(ctx, "level must be a number, not '%s'", quote(optarg));
			level_given = 1;
			break;
		case 'F':
			if (parse_size(optarg, &v) || v > UINT32_MAX)
				return usage_error(ctx, "bad frame size '%s'", quote(optarg));
			cfg.frame_size = (uint32_t)v;
			frame_given = 1;
			break;
		case 'D':
			no_deltas = 1;
			break;
		case 'I':
			if (!strcmp(optarg, "tree"))
				cid = CDT_CID_TREE;
			else if (!strcmp(optarg, "sha256"))
				cid = CDT_CID_SHA256;
			else
				return usage_error(ctx, "unknown content id '%s' (tree or sha256)",
						   quote(optarg));
			cid_given = 1;
			break;
		case 'S':
			if (strcmp(optarg, "group"))
				return usage_error(ctx, "--shared takes 'group', not '%s'", quote(optarg));
			sharing = CDT_SHARE_GROUP;
			break;
		case 'q':
			quiet = 1;
			break;
		default:
			return option_error(ctx, c, argv);
		}
	}
	if (argc - optind > 1)
		return usage_error(ctx, "too many arguments");
	/* zlib stores without frames stay format 1, which older cdt reads too. */
	if (cfg.codec == CDT_CODEC_ZLIB && !frame_given)
		cfg.frame_size = 0;
	if (cfg.codec == CDT_CODEC_ZLIB && !cfg.frame_size && !cid_given)
		cid = CDT_CID_SHA256;
	/* Tree ids: the newest format (4: manifests of a batch in one pack). */
	if (cid == CDT_CID_TREE)
		cfg.format = CDT_FORMAT_VERSION;
	else
		cfg.format = cfg.codec == CDT_CODEC_ZLIB && !cfg.frame_size ? 1 : 2;
	cfg.deltas = cfg.codec == CDT_CODEC_ZSTD && !no_deltas;
	cfg.level = level_given ? (int)level : cdt_codec_level_default(cfg.codec);
	if (cfg.level < cdt_codec_level_min(cfg.codec) || cfg.level > cdt_codec_level_max(cfg.codec))
		return usage_error(ctx, "%s level must be a number from %d to %d, not '%ld'",
				   cdt_codec_name(cfg.codec), cdt_codec_level_min(cfg.codec),
				   cdt_codec_level_max(cfg.codec), level);
	/* Like every command, init uses --store, then $CDT_STORE. */
	dir = optind < argc ? argv[optind] : ctx->store_path ? ctx->store_path :
	      getenv("CDT_STORE") && *getenv("CDT_STORE") ? getenv("CDT_STORE") : ".cdt";
	{
		struct strbuf why = STRBUF_INIT;

		if (cdt_config_check(&cfg, &why)) {
			int r = usage_error(ctx, "%s", why.buf);

			strbuf_release(&why);
			return r;
		}
	}
	/* A store on S3-compatible object storage: made there, nothing local. */
	if (cdt_remote_is_url(dir)) {
		if (cdt_remote_init(dir, &cfg) < 0)
			return EXIT_FAIL;
		if (!quiet)
			printf("initialized cdt store at %s (%s, %u-byte chunks, %s level %d)\n", dir,
			       cdt_chunker_name(cfg.chunker), cfg.chunk_size,
			       cdt_codec_name(cfg.codec), cfg.level);
		return EXIT_OK;
	}
	if (cdt_store_init(dir, &cfg, sharing) < 0)
		return EXIT_FAIL;
	/* An empty info/: the lists of packs and of tables of names, for remote readers. */
	{
		struct cdt_store *s;

		if (cdt_store_open(dir, &s) < 0)
			return EXIT_FAIL;
		if (cdt_serverinfo_rebuild(s) < 0) {
			cdt_store_close(s);
			return EXIT_FAIL;
		}
		cdt_store_close(s);
	}
	if (!quiet) {
		printf("initialized cdt store in %s (%s, %u-byte chunks, %s level %d", dir,
		       cdt_chunker_name(cfg.chunker), cfg.chunk_size, cdt_codec_name(cfg.codec),
		       cfg.level);
		if (cfg.frame_size)
			printf(", %u-byte frames", cfg.frame_size);
		if (cfg.deltas)
			printf(", deltas");
		if (sharing == CDT_SHARE_GROUP)
			print_group(dir);
		printf(")\n");
	}
	return EXIT_OK;
}
