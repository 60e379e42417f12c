/* cmd/restore.c: cdt restore, write the names under a prefix back into a directory. */
#include "cmd.h"
#include "format/names.h"
#include "ops/restore-tree.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char usage_restore[] =
	"usage: cdt restore [-n] [-v | -q] [--xattrs] [--no-owner] [-j N] PREFIX DIR\n"
	"\n"
	"Write every stored name under PREFIX back into DIR, as cp -a would have\n"
	"copied the tree that was added: PREFIX/x/y becomes DIR/x/y, with its\n"
	"mode, modification time, symbolic links, empty directories and hard\n"
	"links; PREFIX's own metadata goes to DIR. A PREFIX that is one file or\n"
	"link is written as DIR/<its last component>. DIR is made if missing.\n"
	"Every chunk is checked against its id; a file appears under its name\n"
	"only when complete. Nothing is written outside DIR, whatever the names\n"
	"or the links in DIR say, nor into the store.\n"
	"\n"
	"Run again, restore goes on where it stopped: a file that already holds\n"
	"the stored bytes is kept (its metadata set), any other file or link is\n"
	"replaced, a directory is reused. A directory where a file or link goes,\n"
	"or a file or link where a directory goes, is an error for that name.\n"
	"\n"
	"    -n, --dry-run      show what would be done, change nothing\n"
	"    -v, --verbose      one line per name: write, replace, skip, mkdir,\n"
	"                       symlink or link, and the stored name\n"
	"    -q, --quiet        no summary and no progress\n"
	"    --xattrs           set stored extended attributes and ACLs too\n"
	"    --no-owner         as root, do not set owners (nor set-id bits); other\n"
	"                       users never set them\n"
	"    -j, --jobs N       files written at once (default: CPUs)\n"
	PROGRESS_HELP
	"    -h, --help         show this help\n"
	"\n"
	"Exit status: 0 if every name was restored, 1 if some could not be (each\n"
	"is reported and the others restored) or PREFIX is not stored, 2 usage\n"
	"error.\n";

struct restore_state {
	int verbose;
	struct progress p;
};

static void show_action(enum cdt_tree_action a, const char *stored, void *data)
{
	struct restore_state *st = data;

	if (!st->verbose)
		return;
	progress_clear(&st->p);
	printf("%-7s %s\n", cdt_tree_action_name(a), stored);
}

static void show_progress(uint64_t done, uint64_t total, uint64_t names_done, uint64_t names,
			  void *data)
{
	struct restore_state *st = data;
	char label[64];

	snprintf(label, sizeof(label), "restore %llu/%llu", (unsigned long long)names_done,
		 (unsigned long long)names);
	progress_show_total(&st->p, label, done, total);
}

int cmd_restore(int argc, char **argv, struct cmd_ctx *ctx)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "xattrs", no_argument, NULL, 'X' },
		{ "no-owner", no_argument, NULL, 'O' },
		{ "jobs", required_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct restore_state st = { 0, { 0 } };
	struct cdt_tree_opts o = { 0, 0, show_action, show_progress, &st };
	struct cdt_tree_result res;
	struct strbuf prefix = STRBUF_INIT, why = STRBUF_INIT;
	int c, quiet = 0, no_owner = 0, ret;
	char size[32];

	while ((c = getopt_long(argc, argv, ":nvqj:", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o.flags |= CDT_TREE_DRY_RUN;
			break;
		case 'v':
			st.verbose = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'X':
			o.flags |= CDT_TREE_XATTRS;
			break;
		case 'O':
			no_owner = 1;
			break;
		case 'j':
			if (parse_jobs(ctx, optarg, &o.jobs) < 0)
				return EXIT_USAGE;
			break;
		default:
			return option_error(ctx, c, argv);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 2)
		return usage_error(ctx, argc < 2 ? "PREFIX and DIR are needed" : "too many arguments");
	if (st.verbose && quiet)
		return usage_error(ctx, "-v and -q cannot be used together");
	if (!*argv[1])
		return usage_error(ctx, "DIR is empty");
	strbuf_addstr(&prefix, argv[0]);
	trim_slashes(&prefix);
	if (cdt_name_check(prefix.buf, &why) < 0) {
		ret = usage_error(ctx, "bad prefix '%s': %s", quote(argv[0]), why.buf);
		goto out;
	}
	/* A dry run lists what it would do: that is its output. */
	if (o.flags & CDT_TREE_DRY_RUN)
		st.verbose = 1;
	/* Owners, and the set-id bits that only make sense with them, as tar does. */
	if (geteuid() == 0 && !no_owner)
		o.flags |= CDT_TREE_OWNERS;

	progress_start(&st.p, !quiet && !(o.flags & CDT_TREE_DRY_RUN));
	ret = cdt_restore_tree(ctx->store, prefix.buf, argv[1], &o, &res);
	progress_finish(&st.p);
	if (ret < 0) {
		ret = EXIT_FAIL;
		goto out;
	}
	if (!quiet && !(o.flags & CDT_TREE_DRY_RUN)) {
		double secs = progress_seconds(&st.p);

		printf("restored %llu of %llu names into %s: %llu written, %llu kept as they were",
		       (unsigned long long)(res.names - res.failed), (unsigned long long)res.names,
		       quote(argv[1]), (unsigned long long)res.written,
		       (unsigned long long)res.skipped);
		if (res.failed)
			printf(", %llu failed", (unsigned long long)res.failed);
		printf("; %s written, %.2f s, %.1f MB/s\n",
		       human_size(res.bytes_written, size, sizeof(size)), secs,
		       mb_per_s(res.bytes_written, secs));
	}
	ret = ret ? EXIT_FAIL : EXIT_OK;
out:
	strbuf_release(&prefix);
	strbuf_release(&why);
	return ret;
}
