/* cmd/gc.c: cdt gc, free what no stored name needs. */
#include "cmd.h"
#include "ops/gc.h"
#include "base/util.h"

#include <stdio.h>

const char usage_gc[] =
	"usage: cdt gc [-n] [-v]\n"
	"\n"
	"Delete chunks that no stored file uses, manifests no name uses, dead\n"
	"references, temporary files left by interrupted commands, and empty\n"
	"directories; move loose chunks into packs and rewrite packs that are\n"
	"mostly dead or small. Waits for running adds; safe to interrupt and rerun.\n"
	"\n"
	"    -n, --dry-run   show what would be removed, remove nothing\n"
	"    -v, --verbose   one line per item removed\n"
	"    -h, --help      show this help\n";

static void print_line(const char *line, void *data)
{
	(void)data;
	puts(line);
}

int cmd_gc(int argc, char **argv, struct cmd_ctx *ctx)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	struct cdt_gc_result res;
	unsigned flags = 0;
	char a[32], b[32], t[32];
	int c;

	while ((c = getopt_long(argc, argv, ":nv", opts, NULL)) != -1) {
		switch (c) {
		case 'n': flags |= CDT_GC_DRY_RUN; break;
		case 'v': flags |= CDT_GC_VERBOSE; break;
		default: return option_error(ctx, c, argv);
		}
	}
	if (optind < argc)
		return usage_error(ctx, "gc takes no arguments");
	/* Even a dry run needs a stable store to say what is garbage. */
	if (cdt_store_lock(ctx->store, CDT_LOCK_EXCLUSIVE) < 0)
		return EXIT_FAIL;
	if (cdt_gc(ctx->store, flags, print_line, NULL, &res) < 0) {
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
	printf("%s %llu chunk%s (%s), %llu manifest%s (%s), %llu temporary file%s (%s)\n",
	       flags & CDT_GC_DRY_RUN ? "would remove" : "removed",
	       (unsigned long long)res.chunks, res.chunks == 1 ? "" : "s",
	       human_size(res.chunk_bytes, a, sizeof(a)),
	       (unsigned long long)res.manifests, res.manifests == 1 ? "" : "s",
	       human_size(res.manifest_bytes, b, sizeof(b)),
	       (unsigned long long)res.tmp_files, res.tmp_files == 1 ? "" : "s",
	       human_size(res.tmp_bytes, t, sizeof(t)));
	if (res.packs_written || res.packs_removed || res.loose_packed)
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
		      res.packs_unusable == 1 ? "was" : "were", res.packs_unusable == 1 ? "it is" : "they are");
		return EXIT_FAIL;
	}
	return EXIT_OK;
}
