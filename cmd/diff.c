/* cmd/diff.c: cdt diff, the names added, removed and changed between two prefixes. */
#include "cmd.h"
#include "ops/diff.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const char usage_diff[] =
	"usage: cdt diff [--stat] [--porcelain | --json] [--exit-code] [-q] PREFIX1 PREFIX2\n"
	"\n"
	"Compare the names under PREFIX1 with those under PREFIX2, each relative to\n"
	"its prefix: '+' added, '-' removed, 'M' content changed, 'T' type changed\n"
	"(file, directory, symlink), 'm' only mode, owner, modification time or\n"
	"extended attributes changed; in byte order, then a summary.\n"
	"\n"
	"    --stat         sizes on each line; bytes added and removed, and the\n"
	"                   chunks PREFIX2 uses that PREFIX1 does not\n"
	"    --porcelain    tab-separated lines: status, what differs, sizes, name\n"
	"    --json         one JSON object per difference, one per line, then a summary\n"
	"    --exit-code    exit 1 when there are differences\n"
	"    -q, --quiet    print nothing; exit 1 at the first difference\n"
	"    -h, --help     show this help\n";

/* Trouble (a missing prefix, a damaged name) is 2, as in diff(1) and cmp(1): 1 means they differ. */
#define EXIT_TROUBLE 2

enum output { OUT_HUMAN, OUT_PORCELAIN, OUT_JSON, OUT_NONE };

struct show {
	enum output out;
	int stat;
	struct strbuf line;
};

static char status_char(unsigned what)
{
	if (what & CDT_DIFF_ADDED)
		return '+';
	if (what & CDT_DIFF_REMOVED)
		return '-';
	if (what & CDT_DIFF_TYPE)
		return 'T';
	return what & CDT_DIFF_CONTENT ? 'M' : 'm';
}

/*
 * "content,mode,owner,mtime,xattrs": the fields that differ, in that order;
 * "type" alone for a name that changed type (its other fields are of
 * different things).
 */
static void add_fields(struct strbuf *sb, unsigned what, const char *sep)
{
	static const struct { unsigned bit; const char *name; } fields[] = {
		{ CDT_DIFF_CONTENT, "content" },
		{ CDT_DIFF_MODE, "mode" },
		{ CDT_DIFF_OWNER, "owner" },
		{ CDT_DIFF_MTIME, "mtime" },
		{ CDT_DIFF_XATTRS, "xattrs" },
	};
	size_t i, start = sb->len;

	if (what & CDT_DIFF_TYPE) {
		strbuf_addstr(sb, "type");
		return;
	}
	for (i = 0; i < ARRAY_SIZE(fields); i++) {
		if (!(what & fields[i].bit))
			continue;
		if (sb->len > start)
			strbuf_addstr(sb, sep);
		strbuf_addstr(sb, fields[i].name);
	}
}

static void add_size(struct strbuf *sb, const struct cdt_name_entry *e, const char *none)
{
	if (e)
		strbuf_addf(sb, "%llu", (unsigned long long)e->size);
	else
		strbuf_addstr(sb, none);
}

static const char *type_name(const struct cdt_name_entry *e)
{
	return e->type == CDT_NAME_DIR ? "directory" :
	       e->type == CDT_NAME_SYMLINK ? "symlink" : "file";
}

/* "file, 2 bytes" with --stat, the type alone without. */
static void add_type(struct strbuf *sb, const struct cdt_name_entry *e, int stat)
{
	strbuf_addstr(sb, type_name(e));
	if (stat && cdt_name_has_content(e))
		strbuf_addf(sb, ", %llu bytes", (unsigned long long)e->size);
}

static int show_item(const struct cdt_diff_item *it, void *data)
{
	struct show *sh = data;
	struct strbuf *sb = &sh->line;
	const char *path = *it->path ? it->path : ".";
	char st[2] = { status_char(it->what), 0 };

	if (it->what & CDT_DIFF_DAMAGED) {
		error("name '%s' is damaged: %s", quote(it->damaged_name), it->why);
		return 0;
	}
	if (sh->out == OUT_NONE)
		return 1;	/* one difference is enough */
	strbuf_reset(sb);
	switch (sh->out) {
	case OUT_HUMAN: {
		size_t open;

		strbuf_addf(sb, "%s %s", st, path);
		open = sb->len;
		strbuf_addstr(sb, " (");
		if (it->what & CDT_DIFF_TYPE) {
			add_type(sb, it->a, sh->stat);
			strbuf_addstr(sb, " -> ");
			add_type(sb, it->b, sh->stat);
			strbuf_addch(sb, ')');
			break;
		}
		if (sh->stat) {
			/* A link's target or hard link changed: no bytes to count. */
			if (it->a && it->b && it->what & CDT_DIFF_CONTENT &&
			    cdt_name_has_content(it->a))
				strbuf_addf(sb, "%llu -> %llu bytes", (unsigned long long)it->a->size,
					    (unsigned long long)it->b->size);
			else if ((it->a || it->b) && cdt_name_has_content(it->b ? it->b : it->a))
				strbuf_addf(sb, "%llu bytes",
					    (unsigned long long)(it->b ? it->b : it->a)->size);
		}
		if (it->what & CDT_DIFF_META) {
			if (sb->len > open + 2)
				strbuf_addstr(sb, "; ");
			add_fields(sb, it->what & CDT_DIFF_META, ", ");
		}
		if (sb->len > open + 2)
			strbuf_addch(sb, ')');
		else
			strbuf_setlen(sb, open);
		break;
	}
	case OUT_PORCELAIN:
		strbuf_addf(sb, "%s\t", st);
		if (it->a && it->b)
			add_fields(sb, it->what, ",");
		else
			strbuf_addch(sb, '-');
		strbuf_addch(sb, '\t');
		add_size(sb, it->a, "-");
		strbuf_addch(sb, '\t');
		add_size(sb, it->b, "-");
		strbuf_addf(sb, "\t%s", it->path);
		break;
	case OUT_JSON:
		strbuf_addf(sb, "{\"status\":\"%s\",\"path\":", st);
		strbuf_add_json_string(sb, it->path);
		strbuf_addstr(sb, ",\"differs\":[");
		if (it->a && it->b) {
			strbuf_addch(sb, '"');
			add_fields(sb, it->what, "\",\"");
			strbuf_addch(sb, '"');
		}
		strbuf_addstr(sb, "],\"old_size\":");
		add_size(sb, it->a, "null");
		strbuf_addstr(sb, ",\"new_size\":");
		add_size(sb, it->b, "null");
		strbuf_addch(sb, '}');
		break;
	case OUT_NONE:
		break;
	}
	puts(sb->buf);
	return 0;
}

static void show_summary(const struct show *sh, const struct cdt_diff_result *r)
{
	char h[4][32];

	if (sh->out == OUT_JSON) {
		printf("{\"summary\":{\"added\":%llu,\"removed\":%llu,\"changed\":%llu,"
		       "\"metadata_only\":%llu,\"unchanged\":%llu,\"damaged\":%llu,"
		       "\"added_bytes\":%llu,\"removed_bytes\":%llu,"
		       "\"changed_old_bytes\":%llu,\"changed_new_bytes\":%llu",
		       (unsigned long long)r->added, (unsigned long long)r->removed,
		       (unsigned long long)r->changed, (unsigned long long)r->meta_only,
		       (unsigned long long)r->same, (unsigned long long)r->damaged,
		       (unsigned long long)r->added_bytes, (unsigned long long)r->removed_bytes,
		       (unsigned long long)r->old_bytes, (unsigned long long)r->new_bytes);
		if (sh->stat)
			printf(",\"new_chunks\":%llu,\"new_raw_bytes\":%llu,\"new_stored_bytes\":%llu",
			       (unsigned long long)r->new_chunks, (unsigned long long)r->new_raw_bytes,
			       (unsigned long long)r->new_stored_bytes);
		puts("}}");
		return;
	}
	if (sh->out != OUT_HUMAN)
		return;
	printf("%llu added, %llu removed, %llu changed, %llu metadata only; %llu unchanged\n",
	       (unsigned long long)r->added, (unsigned long long)r->removed,
	       (unsigned long long)r->changed, (unsigned long long)r->meta_only,
	       (unsigned long long)r->same);
	if (!sh->stat)
		return;
	printf("%llu bytes added (%s), %llu removed (%s); changed names %llu -> %llu bytes\n",
	       (unsigned long long)r->added_bytes, human_size(r->added_bytes, h[0], 32),
	       (unsigned long long)r->removed_bytes, human_size(r->removed_bytes, h[1], 32),
	       (unsigned long long)r->old_bytes, (unsigned long long)r->new_bytes);
	printf("%llu chunk%s not used by the first prefix: %llu bytes (%s), %llu stored (%s)\n",
	       (unsigned long long)r->new_chunks, r->new_chunks == 1 ? "" : "s",
	       (unsigned long long)r->new_raw_bytes, human_size(r->new_raw_bytes, h[2], 32),
	       (unsigned long long)r->new_stored_bytes, human_size(r->new_stored_bytes, h[3], 32));
}

int cmd_diff(int argc, char **argv, struct cmd_ctx *ctx)
{
	static const struct option opts[] = {
		{ "stat", no_argument, NULL, 'S' },
		{ "porcelain", no_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'J' },
		{ "exit-code", no_argument, NULL, 'E' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 }
	};
	struct show sh = { OUT_HUMAN, 0, STRBUF_INIT };
	struct cdt_diff_result res;
	struct strbuf p[2] = { STRBUF_INIT, STRBUF_INIT }, why = STRBUF_INIT;
	int c, i, exit_code = 0, quiet = 0, ret;
	unsigned differ;

	while ((c = getopt_long(argc, argv, ":q", opts, NULL)) != -1) {
		switch (c) {
		case 'S': sh.stat = 1; break;
		case 'P':
		case 'J':
			if (sh.out != OUT_HUMAN && sh.out != (c == 'P' ? OUT_PORCELAIN : OUT_JSON))
				return usage_error(ctx, "--porcelain and --json cannot be used together");
			sh.out = c == 'P' ? OUT_PORCELAIN : OUT_JSON;
			break;
		case 'E': exit_code = 1; break;
		case 'q': quiet = 1; break;
		default: return option_error(ctx, c, argv);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 2)
		return usage_error(ctx, "diff takes two prefixes");
	if (quiet) {
		if (sh.out != OUT_HUMAN || sh.stat)
			return usage_error(ctx, "-q prints nothing: it takes no --stat, --porcelain or --json");
		sh.out = OUT_NONE;
		exit_code = 1;
	}
	for (i = 0; i < 2; i++) {
		strbuf_addstr(&p[i], argv[i]);
		trim_slashes(&p[i]);
		strbuf_reset(&why);
		if (cdt_name_check(p[i].buf, &why) < 0) {
			ret = usage_error(ctx, "bad prefix '%s': %s", quote(argv[i]), why.buf);
			goto out;
		}
	}
	ret = cdt_diff(ctx->store, p[0].buf, p[1].buf, sh.stat ? CDT_DIFF_CHUNKS : 0, show_item,
		       &sh, &res);
	differ = res.added || res.removed || res.changed || res.meta_only;
	/* A manifest unread (damaged, or its name changed meanwhile): the rest is still said. */
	if (ret < 0 && ret != -CDT_ECORRUPT && ret != -ESTALE) {
		ret = EXIT_TROUBLE;
		goto out;
	}
	show_summary(&sh, &res);
	if (res.damaged) {
		error("%llu damaged name%s could not be compared (run 'cdt fsck')",
		      (unsigned long long)res.damaged, res.damaged == 1 ? "" : "s");
		ret = EXIT_TROUBLE;
	} else if (ret < 0) {
		ret = EXIT_TROUBLE;
	} else {
		ret = exit_code && differ ? EXIT_FAIL : EXIT_OK;
	}
out:
	strbuf_release(&p[0]);
	strbuf_release(&p[1]);
	strbuf_release(&why);
	strbuf_release(&sh.line);
	return ret;
}
