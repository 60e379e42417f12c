/* cmd/gc.c: cdt gc, free what no stored name needs. */
#include "cmd.h"
#include "ops/gc.h"
#include "base/util.h"

#include "base/compress.h"
#include "format/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

const char usage_gc[] =
	"usage: cdt gc [-n] [-v] [--recompress] [--level N]\n"
	"\n"
	"Delete chunks that no stored file uses, manifests no name uses, dead\n"
	"references, temporary files left by interrupted commands, and empty\n"
	"directories; move loose chunks into packs and rewrite packs that are\n"
	"mostly dead or small. Waits for running adds; safe to interrupt and rerun.\n"
	"\n"
	"    -n, --dry-run   show what would be removed, remove nothing\n"
	"    -v, --verbose   one line per item removed\n"
	"    --recompress    first convert the store in place to the current format:\n"
	"                    zstd, frames and deltas, as add stores chunks now\n"
	"    --level N       with --recompress (implied): store every live chunk again\n"
	"                    at zstd level N (1..19); the level of later adds stays\n"
	"    --progress      show the progress line even if stderr is not a terminal\n"
	"    --no-progress   never show it\n"
	"    -h, --help      show this help\n";

static void print_line(const char *line, void *data)
{
	progress_clear(data);
	puts(line);
}

static void show_progress(const char *stage, uint64_t done, uint64_t total, void *data)
{
	struct progress *p = data;
	char label[64];

	if (!total)
		return;
	if (!done)
		progress_stage(p);	/* the rate is the stage's */
	snprintf(label, sizeof(label), "gc: %s", stage);
	progress_show_total(p, label, done, total);
}

static void print_recompress(const struct cdt_recompress_result *r, int dry)
{
	char a[32], b[32], c[32];

	if (r->config_written)
		printf("%s the config of format %u: zstd, frames and deltas\n",
		       dry ? "would write" : "wrote", r->format);
	if (dry) {
		printf("would convert %llu chunk%s (%s as stored now)\n",
		       (unsigned long long)r->to_convert, r->to_convert == 1 ? "" : "s",
		       human_size(r->to_convert_bytes, a, sizeof(a)));
		return;
	}
	printf("converted %llu chunk%s (%s) of %llu file content%s into %s (%llu as deltas); "
	       "removed %llu old pack%s and %llu loose chunk%s (%s)\n",
	       (unsigned long long)r->chunks, r->chunks == 1 ? "" : "s",
	       human_size(r->raw, a, sizeof(a)),
	       (unsigned long long)r->contents, r->contents == 1 ? "" : "s",
	       human_size(r->stored, b, sizeof(b)), (unsigned long long)r->deltas,
	       (unsigned long long)r->packs_removed, r->packs_removed == 1 ? "" : "s",
	       (unsigned long long)r->loose_removed, r->loose_removed == 1 ? "" : "s",
	       human_size(r->pack_bytes + r->loose_bytes, c, sizeof(c)));
	if (r->packs_kept)
		printf("kept %llu old pack%s that could not be confirmed converted\n",
		       (unsigned long long)r->packs_kept, r->packs_kept == 1 ? "" : "s");
}

int cmd_gc(int argc, char **argv, struct cmd_ctx *ctx)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "recompress", no_argument, NULL, 'R' },
		{ "level", required_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 }
	};
	struct cdt_gc_result res;
	struct progress progress;
	unsigned flags = 0;
	int ret;
	char a[32], b[32], t[32];
	int c, level = 0;
	char *end;
	long v;

	while ((c = getopt_long(argc, argv, ":nv", opts, NULL)) != -1) {
		switch (c) {
		case 'n': flags |= CDT_GC_DRY_RUN; break;
		case 'v': flags |= CDT_GC_VERBOSE; break;
		case 'R': flags |= CDT_GC_RECOMPRESS; break;
		case 'L':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < cdt_codec_level_min(CDT_CODEC_ZSTD) ||
			    v > cdt_codec_level_max(CDT_CODEC_ZSTD))
				return usage_error(ctx, "--level takes a zstd level, %d to %d",
						   cdt_codec_level_min(CDT_CODEC_ZSTD),
						   cdt_codec_level_max(CDT_CODEC_ZSTD));
			level = (int)v;
			flags |= CDT_GC_RECOMPRESS;
			break;
		default: return option_error(ctx, c, argv);
		}
	}
	if (optind < argc)
		return usage_error(ctx, "gc takes no arguments");
	/* Even a dry run needs a stable store to say what is garbage. */
	if (cdt_store_lock(ctx->store, CDT_LOCK_EXCLUSIVE) < 0)
		return EXIT_FAIL;
	if (!(flags & CDT_GC_DRY_RUN))
		cdt_store_keep_config_copy(ctx->store);
	progress_start(&progress, 1);
	ret = cdt_gc(ctx->store, flags, level, print_line,
		     progress.enabled ? show_progress : NULL, &progress, &res);
	progress_finish(&progress);
	if (ret < 0) {
		/* What was freed before it stopped stays freed: say so. */
		if (res.chunks || res.manifests || res.tmp_files || res.packs_removed)
			fprintf(stderr, "gc stopped after removing %llu chunk%s (%s), %llu manifest%s "
				"and %llu temporary file%s\n",
				(unsigned long long)res.chunks, res.chunks == 1 ? "" : "s",
				human_size(res.chunk_bytes, a, sizeof(a)),
				(unsigned long long)res.manifests, res.manifests == 1 ? "" : "s",
				(unsigned long long)res.tmp_files, res.tmp_files == 1 ? "" : "s");
		return EXIT_FAIL;
	}
	if (flags & CDT_GC_RECOMPRESS)
		print_recompress(&res.recompress, flags & CDT_GC_DRY_RUN);
	printf("%s %llu chunk%s (%s), %llu manifest%s (%s), %llu temporary file%s (%s)\n",
	       flags & CDT_GC_DRY_RUN ? "would remove" : "removed",
	       (unsigned long long)res.chunks, res.chunks == 1 ? "" : "s",
	       human_size(res.chunk_bytes, a, sizeof(a)),
	       (unsigned long long)res.manifests, res.manifests == 1 ? "" : "s",
	       human_size(res.manifest_bytes, b, sizeof(b)),
	       (unsigned long long)res.tmp_files, res.tmp_files == 1 ? "" : "s",
	       human_size(res.tmp_bytes, t, sizeof(t)));
	if ((res.packs_written || res.packs_removed || res.loose_packed) && (flags & CDT_GC_DRY_RUN))
		printf("would pack %llu loose chunk%s; would rewrite or remove %llu pack%s\n",
		       (unsigned long long)res.loose_packed, res.loose_packed == 1 ? "" : "s",
		       (unsigned long long)res.packs_removed, res.packs_removed == 1 ? "" : "s");
	else if (res.packs_written || res.packs_removed || res.loose_packed)
		printf("packed %llu loose chunk%s; wrote %llu pack%s, removed %llu\n",
		       (unsigned long long)res.loose_packed, res.loose_packed == 1 ? "" : "s",
		       (unsigned long long)res.packs_written, res.packs_written == 1 ? "" : "s",
		       (unsigned long long)res.packs_removed);
	if (res.packs_reindexed)
		printf("indexed %llu pack%s again from %s own objects\n",
		       (unsigned long long)res.packs_reindexed, res.packs_reindexed == 1 ? "" : "s",
		       res.packs_reindexed == 1 ? "its" : "their");
	if (res.packs_unusable) {
		error("%llu pack%s could not be indexed and %s kept as %s (run 'cdt fsck')",
		      (unsigned long long)res.packs_unusable, res.packs_unusable == 1 ? "" : "s",
		      flags & CDT_GC_DRY_RUN ? "would be" : res.packs_unusable == 1 ? "was" : "were",
		      res.packs_unusable == 1 ? "it is" : "they are");
		return EXIT_FAIL;
	}
	return EXIT_OK;
}
