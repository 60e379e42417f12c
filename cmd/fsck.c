/* cmd/fsck.c: cdt fsck, check the whole store and say what is damaged. */
#include "cmd.h"
#include "ops/fsck.h"
#include "base/util.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

const char usage_fsck[] =
	"usage: cdt fsck [--quick] [--rebuild-refs] [--json] [-v] [-j N]\n"
	"\n"
	"Check the whole store: config, names, manifests, every chunk (read,\n"
	"inflated and hashed), reverse references and temporary files. Prints one\n"
	"line per problem (kind, object, the stored names it affects) and a\n"
	"summary. Garbage (unreferenced objects, leftover temporary files) is\n"
	"counted but is no error. Changes nothing, except with --rebuild-refs.\n"
	"\n"
	"    --quick            do not read chunk data: check that chunks exist and\n"
	"                       have a possible size\n"
	"    --rebuild-refs     first rebuild the reverse references from the\n"
	"                       manifests and names, and the server info in info/\n"
	"                       (takes the exclusive lock)\n"
	"    --json             one JSON object per line: each problem, then a summary\n"
	"    -v, --verbose      also list each piece of garbage\n"
	"    -j, --jobs N       threads reading chunks (default: CPUs)\n"
	PROGRESS_HELP
	"    -h, --help         show this help\n"
	"\n"
	"Exit status: 0 if no problem was found, else the sum of: 1 something\n"
	"could not be checked, 4 chunks, 8 manifests, 16 names, 32 references,\n"
	"64 store config. 2 is a usage error.\n";

struct fsck_out {
	int json;
	struct progress progress;
	int phase;		/* the phase the progress line shows */
};

static void show_progress(enum cdt_fsck_phase phase, uint64_t done, uint64_t total,
			  uint64_t bytes, void *data)
{
	struct fsck_out *o = data;

	show_fsck_progress(&o->progress, "fsck", &o->phase, phase, done, total, bytes);
}

static void print_item(const struct cdt_fsck_item *it, void *data)
{
	struct fsck_out *o = data;
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	progress_clear(&o->progress);
	if (o->json) {
		strbuf_addf(&sb, "{\"type\":\"%s\",\"kind\":\"%s\",\"object\":",
			    cdt_fsck_kind_is_garbage(it->kind) ? "garbage" : "problem",
			    cdt_fsck_kind_name(it->kind));
		strbuf_add_json_string(&sb, it->object);
		strbuf_addstr(&sb, ",\"detail\":");
		strbuf_add_json_string(&sb, it->detail);
		if (cdt_fsck_kind_is_garbage(it->kind)) {
			strbuf_addf(&sb, ",\"bytes\":%llu}", (unsigned long long)it->bytes);
		} else {
			strbuf_addstr(&sb, ",\"names\":[");
			for (i = 0; i < it->nr_names; i++) {
				if (i)
					strbuf_addch(&sb, ',');
				strbuf_add_json_string(&sb, it->names[i]);
			}
			strbuf_addstr(&sb, "]}");
		}
	} else {
		add_fsck_item(&sb, it);
		if (cdt_fsck_kind_is_garbage(it->kind)) {
			char h[32];

			if (it->bytes)
				strbuf_addf(&sb, " (%s)", human_size(it->bytes, h, sizeof(h)));
		} else if (!it->nr_names) {
			strbuf_addstr(&sb, "; affects no stored name");
		}
	}
	puts(sb.buf);
	strbuf_release(&sb);
}

/* "chunk-missing 2, chunk-corrupt 1" for the kinds in [from, to). */
static void kind_counts(struct strbuf *sb, const struct cdt_fsck_summary *sum, int json,
			int from, int to)
{
	int k, first = 1;

	for (k = from; k < to; k++) {
		if (!sum->per_kind[k])
			continue;
		if (json)
			strbuf_addf(sb, "%s\"%s\":%llu", first ? "" : ",",
				    cdt_fsck_kind_name((enum cdt_fsck_kind)k),
				    (unsigned long long)sum->per_kind[k]);
		else
			strbuf_addf(sb, "%s%s %llu", first ? "" : ", ",
				    cdt_fsck_kind_name((enum cdt_fsck_kind)k),
				    (unsigned long long)sum->per_kind[k]);
		first = 0;
	}
}

static void print_summary(const struct fsck_out *o, const struct cdt_fsck_summary *sum,
			  int quick, int rebuilt, double secs)
{
	struct strbuf sb = STRBUF_INIT;
	char a[32], b[32];

	if (o->json) {
		strbuf_addf(&sb, "{\"type\":\"summary\",\"names\":%llu,\"manifests\":%llu,"
			    "\"chunks\":%llu,\"chunks_read\":%llu,\"bytes_read\":%llu,"
			    "\"contents_checked\":%llu,\"content_bytes\":%llu,\"content_seconds\":%.3f,"
			    "\"packs\":%llu,"
			    "\"tables\":%llu,\"pairs\":%llu,\"problems\":%llu,\"garbage\":%llu,"
			    "\"garbage_bytes\":%llu,\"seconds\":%.3f,\"exit\":%u,\"kinds\":{",
			    (unsigned long long)sum->names, (unsigned long long)sum->manifests,
			    (unsigned long long)sum->chunks, (unsigned long long)sum->chunks_read,
			    (unsigned long long)sum->bytes_read, (unsigned long long)sum->contents,
			    (unsigned long long)sum->content_bytes, sum->content_seconds,
			    (unsigned long long)sum->packs,
			    (unsigned long long)sum->tables,
			    (unsigned long long)sum->pairs, (unsigned long long)sum->problems,
			    (unsigned long long)sum->garbage, (unsigned long long)sum->garbage_bytes,
			    secs, sum->exit_bits);
		kind_counts(&sb, sum, 1, 0, CDT_FSCK_KIND__COUNT);
		strbuf_addch(&sb, '}');
		if (rebuilt)
			strbuf_addf(&sb, ",\"rebuilt\":{\"tables_written\":%llu,\"tables_removed\":%llu,"
				    "\"namerefs_added\":%llu,\"namerefs_removed\":%llu}",
				    (unsigned long long)sum->tables_written,
				    (unsigned long long)sum->tables_removed,
				    (unsigned long long)sum->namerefs_added,
				    (unsigned long long)sum->namerefs_removed);
		strbuf_addch(&sb, '}');
		puts(sb.buf);
		strbuf_release(&sb);
		return;
	}
	if (rebuilt)
		printf("rebuilt references: %llu table%s written, %llu removed; %llu name record%s added, %llu removed\n",
		       (unsigned long long)sum->tables_written, sum->tables_written == 1 ? "" : "s",
		       (unsigned long long)sum->tables_removed,
		       (unsigned long long)sum->namerefs_added, sum->namerefs_added == 1 ? "" : "s",
		       (unsigned long long)sum->namerefs_removed);
	printf("checked %llu name%s, %llu manifest%s, %llu chunk%s",
	       (unsigned long long)sum->names, sum->names == 1 ? "" : "s",
	       (unsigned long long)sum->manifests, sum->manifests == 1 ? "" : "s",
	       (unsigned long long)sum->chunks, sum->chunks == 1 ? "" : "s");
	if (quick)
		printf(" (data not read)");
	else
		printf(" (%s read, %.0f MB/s), content ids of %llu manifest%s (%s hashed in %.2f s)",
		       human_size(sum->bytes_read, a, sizeof(a)),
		       mb_per_s(sum->bytes_read, secs - sum->content_seconds),
		       (unsigned long long)sum->contents, sum->contents == 1 ? "" : "s",
		       human_size(sum->content_bytes, b, sizeof(b)), sum->content_seconds);
	printf(", %llu pack%s and %llu reference table%s in %.2f s\n",
	       (unsigned long long)sum->packs, sum->packs == 1 ? "" : "s",
	       (unsigned long long)sum->tables, sum->tables == 1 ? "" : "s", secs);
	if (sum->problems) {
		kind_counts(&sb, sum, 0, 0, CDT_FSCK_GARBAGE_CHUNK);
		printf("%llu problem%s (%s): exit status %u\n", (unsigned long long)sum->problems,
		       sum->problems == 1 ? "" : "s", sb.buf, sum->exit_bits);
	} else {
		printf("no problems found\n");
	}
	if (sum->garbage) {
		strbuf_reset(&sb);
		kind_counts(&sb, sum, 0, CDT_FSCK_GARBAGE_CHUNK, CDT_FSCK_KIND__COUNT);
		printf("garbage (not an error): %llu item%s, %s (%s)\n",
		       (unsigned long long)sum->garbage, sum->garbage == 1 ? "" : "s",
		       human_size(sum->garbage_bytes, a, sizeof(a)), sb.buf);
	}
	strbuf_release(&sb);
}

int cmd_fsck(int argc, char **argv, struct cmd_ctx *ctx)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'Q' },
		{ "rebuild-refs", no_argument, NULL, 'R' },
		{ "json", no_argument, NULL, 'J' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "jobs", required_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct cdt_fsck_options opt = { 0 };
	struct cdt_fsck_summary sum;
	struct fsck_out out = { 0 };
	int c, ret;

	while ((c = getopt_long(argc, argv, ":vj:", opts, NULL)) != -1) {
		switch (c) {
		case 'Q': opt.quick = 1; break;
		case 'R': opt.rebuild_refs = 1; break;
		case 'J': out.json = 1; break;
		case 'v': opt.list_garbage = 1; break;
		case 'j':
			if (parse_jobs(ctx, optarg, &opt.jobs) < 0)
				return EXIT_USAGE;
			break;
		default:
			return option_error(ctx, c, argv);
		}
	}
	if (optind < argc)
		return usage_error(ctx, "unexpected argument '%s'", quote(argv[optind]));
	if (opt.rebuild_refs && cdt_store_config_damage(ctx->store)) {
		error("cannot rebuild references: the store's config is damaged (%s)",
		      cdt_store_config_damage(ctx->store));
		return EXIT_FAIL;
	}
	/*
	 * Not damage, so not in the exit status: a store made before stores
	 * were private, or opened up by hand, lets other users read its files.
	 */
	if (cdt_store_mode(ctx->store) & (S_IROTH | S_IXOTH))
		warning("other users can read store '%s' (mode %04o): 'chmod o-rwx' on it makes it private",
			quote(cdt_store_path(ctx->store)), cdt_store_mode(ctx->store));
	/* Keep rm and gc from removing what is being checked; adds may go on. */
	if (cdt_store_lock(ctx->store, opt.rebuild_refs ? CDT_LOCK_EXCLUSIVE : CDT_LOCK_SHARED) < 0)
		return EXIT_FAIL;
	progress_start(&out.progress, 1);
	out.phase = -1;
	if (out.progress.enabled)
		opt.progress = show_progress;
	opt.report = print_item;
	opt.data = &out;
	ret = cdt_fsck(ctx->store, &opt, &sum);
	progress_finish(&out.progress);
	if (ret < 0)
		return EXIT_FAIL;
	print_summary(&out, &sum, opt.quick, opt.rebuild_refs, progress_seconds(&out.progress));
	return (int)sum.exit_bits;
}
