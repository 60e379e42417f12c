/* cmd/stats.c: cdt stats, what the store holds and how well it deduplicates. */
#include "cmd.h"
#include "ops/stats.h"
#include "format/names.h"
#include "base/util.h"

#include <stdio.h>

const char usage_stats[] =
	"usage: cdt stats [--json] [PREFIX]\n"
	"\n"
	"Show names, manifests, chunks, logical, unique and stored bytes, the\n"
	"deduplication and compression ratios, and what 'cdt gc' would free.\n"
	"With PREFIX, what the names under it hold, and what removing them would\n"
	"free: the stored chunks no other name needs.\n"
	"\n"
	"    --json       one JSON object\n"
	"    -h, --help   show this help\n";

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

static int stats_prefix(struct cmd_ctx *ctx, const char *arg, int json)
{
	struct cdt_stats_part st;
	struct strbuf prefix = STRBUF_INIT, why = STRBUF_INIT;
	char h[6][32];
	int ret;

	strbuf_addstr(&prefix, arg);
	trim_slashes(&prefix);
	if (cdt_name_check(prefix.buf, &why) < 0) {
		ret = usage_error(ctx, "bad prefix '%s': %s", quote(arg), why.buf);
		goto out;
	}
	ret = cdt_stats_part(ctx->store, prefix.buf, NULL, NULL, &st);
	if (ret < 0 && ret != -CDT_ECORRUPT) {
		ret = EXIT_FAIL;
		goto out;
	}
	if (!ret && !st.names) {
		error("no such name or directory of names: '%s'", quote(prefix.buf));
		ret = EXIT_FAIL;
		goto out;
	}
	if (json) {
		strbuf_reset(&why);
		strbuf_add_json_string(&why, prefix.buf);
		printf("{\"prefix\":%s,\"names\":%llu,\"manifests\":%llu,\"chunks\":%llu,"
		       "\"logical_bytes\":%llu,\"unique_bytes\":%llu,\"stored_bytes\":%llu,"
		       "\"base_chunks\":%llu,",
		       why.buf, (unsigned long long)st.names, (unsigned long long)st.manifests,
		       (unsigned long long)st.chunks, (unsigned long long)st.logical_bytes,
		       (unsigned long long)st.unique_bytes, (unsigned long long)st.stored_bytes,
		       (unsigned long long)st.base_chunks);
		if (ret < 0)
			printf("\"only_manifests\":null,\"freed_chunks\":null,\"freed_bytes\":null,"
			       "\"freed_next_gc_bytes\":null,");
		else
			printf("\"only_manifests\":%llu,\"freed_chunks\":%llu,\"freed_bytes\":%llu,"
			       "\"freed_next_gc_bytes\":%llu,",
			       (unsigned long long)st.only_manifests,
			       (unsigned long long)st.freed_chunks, (unsigned long long)st.freed_bytes,
			       (unsigned long long)st.freed_next_gc);
		printf("\"missing_chunks\":%llu}\n", (unsigned long long)st.missing_chunks);
	} else {
		printf("names              %llu\n", (unsigned long long)st.names);
		printf("manifests          %llu\n", (unsigned long long)st.manifests);
		printf("chunks             %llu\n", (unsigned long long)st.chunks);
		printf("logical bytes      %llu (%s)\n", (unsigned long long)st.logical_bytes,
		       human_size(st.logical_bytes, h[0], 32));
		printf("unique bytes       %llu (%s)\n", (unsigned long long)st.unique_bytes,
		       human_size(st.unique_bytes, h[1], 32));
		printf("stored bytes       %llu (%s)\n", (unsigned long long)st.stored_bytes,
		       human_size(st.stored_bytes, h[2], 32));
		if (st.base_chunks)
			printf("bases of deltas    %llu chunks (only its deltas need them)\n",
			       (unsigned long long)st.base_chunks);
		if (ret < 0) {
			/* As rm -n: a damaged name, in the prefix or not, may need anything. */
			printf("only used here     not known\n");
			printf("removing frees     not known (names or manifests are damaged; "
			       "run 'cdt fsck')\n");
		} else {
			printf("only used here     %llu manifest%s, %llu chunk%s\n",
			       (unsigned long long)st.only_manifests,
			       st.only_manifests == 1 ? "" : "s",
			       (unsigned long long)st.freed_chunks, st.freed_chunks == 1 ? "" : "s");
			printf("removing frees     %llu (%s) after 'cdt gc'\n",
			       (unsigned long long)st.freed_bytes,
			       human_size(st.freed_bytes, h[3], 32));
		}
		if (!ret && st.freed_next_gc < st.freed_bytes)
			printf("of which in packs  %llu (%s; freed once gc rewrites their packs)\n",
			       (unsigned long long)(st.freed_bytes - st.freed_next_gc),
			       human_size(st.freed_bytes - st.freed_next_gc, h[4], 32));
		if (st.missing_chunks)
			printf("missing chunks     %llu (run 'cdt fsck')\n",
			       (unsigned long long)st.missing_chunks);
	}
	ret = ret < 0 ? EXIT_FAIL : EXIT_OK;
out:
	strbuf_release(&prefix);
	strbuf_release(&why);
	return ret;
}

int cmd_stats(int argc, char **argv, struct cmd_ctx *ctx)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'J' },
		{ NULL, 0, NULL, 0 }
	};
	struct cdt_stats st;
	char h[9][32];
	int c, json = 0, ret;

	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'J': json = 1; break;
		default: return option_error(ctx, c, argv);
		}
	}
	if (optind + 1 < argc)
		return usage_error(ctx, "stats takes at most one prefix");
	if (optind < argc)
		return stats_prefix(ctx, argv[optind], json);
	ret = cdt_stats(ctx->store, &st);
	if (ret < 0 && ret != -CDT_ECORRUPT)
		return EXIT_FAIL;
	if (json) {
		printf("{\"names\":%llu,\"manifests\":%llu,\"chunks\":%llu,\"logical_bytes\":%llu,"
		       "\"unique_bytes\":%llu,\"stored_bytes\":%llu,\"metadata_bytes\":%llu,"
		       "\"dedup_ratio\":%.4f,\"compression_ratio\":%.4f,",
		       (unsigned long long)st.names, (unsigned long long)st.manifests,
		       (unsigned long long)st.chunks, (unsigned long long)st.logical_bytes,
		       (unsigned long long)st.unique_bytes, (unsigned long long)st.stored_bytes,
		       (unsigned long long)st.metadata_bytes,
		       ratio(st.logical_bytes, st.unique_bytes), ratio(st.unique_bytes, st.stored_bytes));
		if (ret < 0)
			printf("\"reclaimable_bytes\":null,\"dead_packed_bytes\":null,"
			       "\"garbage_chunks\":null,\"dead_manifests\":null,");
		else
			printf("\"reclaimable_bytes\":%llu,\"dead_packed_bytes\":%llu,"
			       "\"garbage_chunks\":%llu,\"dead_manifests\":%llu,",
			       (unsigned long long)st.reclaimable_bytes,
			       (unsigned long long)st.dead_packed_bytes,
			       (unsigned long long)st.garbage_chunks,
			       (unsigned long long)st.dead_manifests);
		printf("\"delta_chunks\":%llu,\"delta_raw_bytes\":%llu,\"delta_stored_bytes\":%llu,"
		       "\"base_chunks\":%llu,\"base_bytes\":%llu,"
		       "\"saved_by_dedup\":%llu,\"saved_by_compression\":%llu,\"saved_by_deltas\":%llu,"
		       "\"missing_chunks\":%llu,\"temporary_files\":%llu,\"reference_tables\":%llu}\n",
		       (unsigned long long)st.delta_chunks, (unsigned long long)st.delta_raw_bytes,
		       (unsigned long long)st.delta_stored_bytes, (unsigned long long)st.base_chunks,
		       (unsigned long long)st.base_bytes, (unsigned long long)st.saved_dedup,
		       (unsigned long long)st.saved_compression, (unsigned long long)st.saved_deltas,
		       (unsigned long long)st.missing_chunks,
		       (unsigned long long)st.tmp_files, (unsigned long long)st.ref_tables);
	} else {
		printf("names              %llu\n", (unsigned long long)st.names);
		printf("manifests          %llu\n", (unsigned long long)st.manifests);
		printf("chunks             %llu\n", (unsigned long long)st.chunks);
		printf("logical bytes      %llu (%s)\n", (unsigned long long)st.logical_bytes,
		       human_size(st.logical_bytes, h[0], 32));
		printf("unique bytes       %llu (%s)\n", (unsigned long long)st.unique_bytes,
		       human_size(st.unique_bytes, h[1], 32));
		printf("stored bytes       %llu (%s)\n", (unsigned long long)st.stored_bytes,
		       human_size(st.stored_bytes, h[2], 32));
		printf("metadata bytes     %llu (%s)\n", (unsigned long long)st.metadata_bytes,
		       human_size(st.metadata_bytes, h[3], 32));
		if (st.delta_chunks)
			printf("stored as deltas   %llu chunks, %llu bytes in %llu\n",
			       (unsigned long long)st.delta_chunks,
			       (unsigned long long)st.delta_raw_bytes,
			       (unsigned long long)st.delta_stored_bytes);
		if (st.base_chunks)
			printf("kept as bases      %llu chunks, %llu bytes (only deltas need them)\n",
			       (unsigned long long)st.base_chunks, (unsigned long long)st.base_bytes);
		printf("dedup saved        %llu (%s)\n", (unsigned long long)st.saved_dedup,
		       human_size(st.saved_dedup, h[6], 32));
		printf("compression saved  %llu (%s)\n", (unsigned long long)st.saved_compression,
		       human_size(st.saved_compression, h[7], 32));
		printf("delta saved        %llu (%s)\n", (unsigned long long)st.saved_deltas,
		       human_size(st.saved_deltas, h[8], 32));
		printf("dedup ratio        %.2f\n", ratio(st.logical_bytes, st.unique_bytes));
		printf("compression ratio  %.2f\n", ratio(st.unique_bytes, st.stored_bytes));
		/* gc refuses to run then: a damaged name may need anything. */
		if (ret < 0)
			printf("reclaimable bytes  not known (names or manifests are damaged; "
			       "run 'cdt fsck')\n");
		else
			printf("reclaimable bytes  %llu (%s)\n",
			       (unsigned long long)st.reclaimable_bytes,
			       human_size(st.reclaimable_bytes, h[4], 32));
		if (!ret && st.dead_packed_bytes)
			printf("dead in packs      %llu (%s; freed once gc rewrites their packs)\n",
			       (unsigned long long)st.dead_packed_bytes,
			       human_size(st.dead_packed_bytes, h[5], 32));
		if (st.missing_chunks)
			printf("missing chunks     %llu (run 'cdt fsck')\n",
			       (unsigned long long)st.missing_chunks);
	}
	return ret < 0 ? EXIT_FAIL : EXIT_OK;
}
