/* cmd/ls.c: cdt ls, list stored names. */
#include "cmd.h"
#include "format/manifest.h"
#include "format/names.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

const char usage_ls[] =
	"usage: cdt ls [-l] [--json] [-t TYPES] [PREFIX...]\n"
	"\n"
	"List stored names in byte order: all of them, or each PREFIX and the\n"
	"names under PREFIX/.\n"
	"\n"
	"    -l, --long   also mode, size, modification time, chunk count and\n"
	"                 short content id\n"
	"    --json       one JSON object per name, one per line\n"
	"    -t, --type TYPES\n"
	"                 only names of these types: f (files), d (directories),\n"
	"                 l (symbolic links), e.g. -t fl\n"
	"    -h, --help   show this help\n";

struct ls_state {
	struct cdt_store *store;
	int lng, json;
	int errors;
	size_t shown;
	const char *types;	/* -t: letters of the types shown; NULL: all */
};

static void mode_string(int type, uint32_t mode, char *buf)
{
	static const char rwx[] = "rwxrwxrwx";
	int i;

	buf[0] = type == CDT_NAME_DIR ? 'd' : type == CDT_NAME_SYMLINK ? 'l' : '-';
	for (i = 0; i < 9; i++)
		buf[i + 1] = (mode & (0400u >> i)) ? rwx[i] : '-';
	if (mode & 04000)
		buf[3] = (mode & 0100) ? 's' : 'S';
	if (mode & 02000)
		buf[6] = (mode & 0010) ? 's' : 'S';
	if (mode & 01000)
		buf[9] = (mode & 0001) ? 't' : 'T';
	buf[10] = '\0';
}

static int show(const char *name, const struct cdt_name_entry *e, int err, const char *why,
		void *data)
{
	struct ls_state *st = data;
	char hex[CDT_ID_HEXLEN + 1], when[64], mode[11];
	uint64_t count = 0, size = 0;
	struct tm tm;
	time_t t;
	int have_manifest;

	if (!e) {
		error("cannot read name '%s': %s", quote(name), why ? why : cdt_strerror(err));
		st->errors++;
		return 0;
	}
	if (st->types && !strchr(st->types, e->type == CDT_NAME_DIR ? 'd' :
					     e->type == CDT_NAME_SYMLINK ? 'l' : 'f'))
		return 0;
	st->shown++;
	if (!st->lng && !st->json) {
		puts(name);
		return 0;
	}
	cdt_id_to_hex(&e->content, hex);
	/* Directories and symbolic links have no content: nothing to find. */
	have_manifest = !cdt_name_has_content(e) ||
			(cdt_manifest_peek(st->store, &e->content, &count, &size) == 0 &&
			 size == e->size);
	t = (time_t)e->mtime_sec;
	if (!localtime_r(&t, &tm) || !strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(when, sizeof(when), "@%lld", (long long)e->mtime_sec);
	if (st->json) {
		struct strbuf sb = STRBUF_INIT;

		strbuf_addstr(&sb, "{\"name\":");
		strbuf_add_json_string(&sb, name);
		strbuf_addstr(&sb, e->type == CDT_NAME_DIR ? ",\"type\":\"directory\"" :
			      e->type == CDT_NAME_SYMLINK ? ",\"type\":\"symlink\"" :
			      ",\"type\":\"file\"");
		if (e->type == CDT_NAME_SYMLINK || (e->flags & CDT_NAME_HARDLINK)) {
			strbuf_addstr(&sb, e->type == CDT_NAME_SYMLINK ? ",\"target\":" : ",\"link\":");
			strbuf_add_json_string(&sb, e->target);
		}
		strbuf_addf(&sb, ",\"size\":%llu,\"mode\":\"%04o\",\"uid\":%u,\"gid\":%u,"
			    "\"mtime\":%lld,\"mtime_nsec\":%u,\"added\":%lld,\"content\":\"%s\"",
			    (unsigned long long)e->size, e->mode, e->uid, e->gid,
			    (long long)e->mtime_sec, e->mtime_nsec, (long long)e->added_sec, hex);
		if (have_manifest && cdt_name_has_content(e))
			strbuf_addf(&sb, ",\"chunks\":%llu", (unsigned long long)count);
		else
			strbuf_addstr(&sb, ",\"chunks\":null");
		strbuf_addch(&sb, '}');
		puts(sb.buf);
		strbuf_release(&sb);
	} else {
		char chunks[24];
		/* As ls(1) and the mount show it: a link's size is its target's length. */
		uint64_t shown = e->type == CDT_NAME_SYMLINK ? strlen(e->target) : e->size;

		if (!cdt_name_has_content(e))
			snprintf(chunks, sizeof(chunks), "-");
		else if (have_manifest)
			snprintf(chunks, sizeof(chunks), "%llu", (unsigned long long)count);
		else
			snprintf(chunks, sizeof(chunks), "?");
		mode_string(e->type, e->mode, mode);
		printf("%s %12llu %s %7s %.12s %s", mode, (unsigned long long)shown, when,
		       chunks, cdt_name_has_content(e) ? hex : "-           ", name);
		if (e->type == CDT_NAME_SYMLINK)
			printf(" -> %s", quote(e->target));
		else if (e->flags & CDT_NAME_HARDLINK)
			printf(" => %s", e->target);
		putchar('\n');
	}
	if (!have_manifest) {
		error("'%s': manifest %.12s is missing or damaged (run 'cdt fsck')", quote(name), hex);
		st->errors++;
	}
	return 0;
}

int cmd_ls(int argc, char **argv, struct cmd_ctx *ctx)
{
	static const struct option opts[] = {
		{ "long", no_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'J' },
		{ "type", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	struct ls_state st = { ctx->store, 0, 0, 0, 0, NULL };
	struct strbuf why = STRBUF_INIT, pfx = STRBUF_INIT;
	int c, i, ret;

	while ((c = getopt_long(argc, argv, ":lt:", opts, NULL)) != -1) {
		switch (c) {
		case 'l': st.lng = 1; break;
		case 't':
			if (!*optarg || optarg[strspn(optarg, "fdl")])
				return usage_error(ctx, "-t takes letters f, d and l, not '%s'",
						   quote(optarg));
			st.types = optarg;
			break;
		case 'J': st.json = 1; break;
		default: return option_error(ctx, c, argv);
		}
	}
	argc -= optind;
	argv += optind;
	if (st.lng && st.json)
		return usage_error(ctx, "-l and --json cannot be used together");
	if (!argc) {
		ret = cdt_names_walk(ctx->store, NULL, show, &st);
		if (ret < 0) {
			error("cannot list names: %s", cdt_strerror(ret));
			st.errors++;
		}
	}
	for (i = 0; i < argc; i++) {
		strbuf_reset(&pfx);
		strbuf_addstr(&pfx, argv[i]);
		trim_slashes(&pfx);
		strbuf_reset(&why);
		if (cdt_name_check(pfx.buf, &why) < 0) {
			error("bad prefix '%s': %s", quote(argv[i]), why.buf);
			st.errors++;
			continue;
		}
		{
			size_t before = st.shown;

			ret = cdt_names_walk(ctx->store, pfx.buf, show, &st);
			if (ret < 0) {
				error("cannot list '%s': %s", quote(argv[i]), cdt_strerror(ret));
				st.errors++;
			} else if (st.shown == before && !st.types) {
				error("no stored name is '%s' or under it", quote(pfx.buf));
				st.errors++;
			}
		}
	}
	strbuf_release(&why);
	strbuf_release(&pfx);
	return st.errors ? EXIT_FAIL : EXIT_OK;
}
