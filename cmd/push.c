/* cmd/push.c: cdt push, copy names and what they need from this store into another. */
#include "cmd.h"
#include "push.h"
#include "ops/push.h"
#include "ops/remote.h"
#include "base/util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_push[] =
	"usage: cdt push [-f] [-n] [-v] [-j N] DEST [PREFIX...]\n"
	"\n"
	"Copy the names of this store (those under each PREFIX, or all) and\n"
	"everything they need into the store DEST: an off-site copy. Only\n"
	"contents DEST lacks are read, and of those only chunks DEST lacks are\n"
	"stored, each step made durable before the next points at it, so an\n"
	"interrupted push leaves DEST consistent and a rerun copies the rest. A\n"
	"name DEST holds with other content is kept and reported (exit status 3)\n"
	"unless -f. Nothing is removed from DEST but what -f replaces.\n"
	"\n"
	"    -f, --force        replace names that hold other content in DEST\n"
	"    -n, --dry-run      say what would be copied; write nothing\n"
	"    -v, --verbose      name each name copied\n"
	"    -j, --jobs N       threads reading and storing (default: CPUs)\n"
	"    -h, --help         show this help\n"
	"\n"
	"Exit status: 0 if every name is in DEST now, 3 if some were kept because\n"
	"they differ in DEST, 1 if some could not be copied or a PREFIX has no\n"
	"name (or on error), 2 usage error.\n";

struct report {
	int verbose, dry_run;
	/* The names copied into a remote store's cache, to publish. */
	int keep;
	char **names;
	size_t nnames, anames;
	uint64_t packs, bytes;	/* what publish() sent */
	char *url;		/* where */
};

static void copied(const char *name, const struct cdt_name_entry *e, void *data)
{
	struct report *r = data;

	(void)e;
	if (r->verbose)
		printf("%s %s\n", r->dry_run ? "would copy" : "copied", name);
	if (r->keep) {
		ALLOC_GROW(r->names, r->nnames + 1, r->anames);
		r->names[r->nnames++] = xstrdup(name);
	}
}

static void report_release(struct report *rep)
{
	size_t i;

	for (i = 0; i < rep->nnames; i++)
		free(rep->names[i]);
	free(rep->names);
	free(rep->url);
	rep->names = NULL;
	rep->nnames = 0;
	rep->url = NULL;
}

/* Send what the push wrote into the cache of a remote destination. */
static int publish(struct cdt_store *dst, struct report *rep)
{
	rep->url = xstrdup(cdt_store_remote_url(dst));
	return cdt_remote_publish(dst, (const char *const *)rep->names, rep->nnames, &rep->packs,
				  &rep->bytes);
}

static void differs(const char *name, const char *why, void *data)
{
	(void)data;
	if (why)
		warning("'%s' in the destination cannot be read (%s); kept it (-f replaces it)",
			quote(name), why);
	else
		warning("'%s' holds other content in the destination; kept it (-f replaces it)",
			quote(name));
}

int push_or_pull(int argc, char **argv, struct cmd_ctx *ctx, int pull)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "jobs", required_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct report rep = { 0, 0, 0, NULL, 0, 0, 0, 0, NULL };
	struct cdt_push_options opt = { 0 };
	struct cdt_push_result res;
	struct cdt_store *other = NULL, *src, *dst;
	struct strbuf why = STRBUF_INIT;
	char **prefixes;
	int c, i, nprefixes, jobs = 0, ret;
	char a[32], b[32];

	while ((c = getopt_long(argc, argv, ":fnvj:", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			opt.force = 1;
			break;
		case 'n':
			opt.dry_run = rep.dry_run = 1;
			break;
		case 'v':
			rep.verbose = 1;
			break;
		case 'j':
			if (parse_jobs(ctx, optarg, &jobs))
				return EXIT_USAGE;
			break;
		default:
			return option_error(ctx, c, argv);
		}
	}
	if (optind >= argc)
		return usage_error(ctx, "give the store to %s", pull ? "pull from" : "push to");
	/* Prefixes as the other commands take them: 'dir/' is 'dir'. */
	nprefixes = argc - optind - 1;
	prefixes = xcalloc((size_t)nprefixes + 1, sizeof(*prefixes));
	for (i = 0; i < nprefixes; i++) {
		struct strbuf pfx = STRBUF_INIT;

		strbuf_addstr(&pfx, argv[optind + 1 + i]);
		trim_slashes(&pfx);
		prefixes[i] = strbuf_detach(&pfx, NULL);
		strbuf_reset(&why);
		if (cdt_name_check(prefixes[i], &why) < 0) {
			ret = usage_error(ctx, "bad prefix '%s': %s", quote(argv[optind + 1 + i]),
					  why.buf);
			goto out;
		}
	}
	if (pull && !opt.dry_run && cdt_store_remote_url(ctx->store) &&
	    !cdt_remote_writable(ctx->store)) {
		error("cannot pull into '%s': a store over HTTP is read-only",
		      cdt_store_remote_url(ctx->store));
		ret = EXIT_FAIL;
		goto out;
	}
	if (open_store_at(argv[optind], !pull && !opt.dry_run, "push to", &other) < 0) {
		ret = EXIT_FAIL;
		goto out;
	}
	src = pull ? other : ctx->store;
	dst = pull ? ctx->store : other;
	/* The destination is written as add writes it; the source is only read. */
	if (!opt.dry_run && cdt_store_lock(dst, CDT_LOCK_SHARED) < 0) {
		cdt_store_close(other);
		ret = EXIT_FAIL;
		goto out;
	}
	if (!opt.dry_run)
		cdt_store_keep_config_copy(dst);
	/* A content copy feeds the store through a pipe: its end is an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	opt.jobs = jobs;
	opt.copied = copied;
	opt.differs = differs;
	opt.data = &rep;
	rep.keep = !opt.dry_run && cdt_store_remote_url(dst);
	ret = cdt_push(src, dst, (const char *const *)prefixes, (size_t)nprefixes, &opt, &res);
	/* A remote destination: what was written into its cache is sent now. */
	if (rep.keep)
		ret = ret < 0 ? ret : publish(dst, &rep);
	cdt_store_close(other);
	if (ret < 0) {
		report_release(&rep);
		ret = EXIT_FAIL;
		goto out;
	}
	if (opt.dry_run)
		printf("would copy %llu name%s (%llu new content%s, %s to read); %llu unchanged",
		       (unsigned long long)res.names, res.names == 1 ? "" : "s",
		       (unsigned long long)res.contents, res.contents == 1 ? "" : "s",
		       human_size(res.bytes, a, sizeof(a)), (unsigned long long)res.unchanged);
	else
		printf("copied %llu name%s (%llu new content%s, %s read, %s stored new); %llu unchanged",
		       (unsigned long long)res.names, res.names == 1 ? "" : "s",
		       (unsigned long long)res.contents, res.contents == 1 ? "" : "s",
		       human_size(res.bytes, a, sizeof(a)), human_size(res.stored, b, sizeof(b)),
		       (unsigned long long)res.unchanged);
	if (res.differ)
		printf("; %llu kept because they differ", (unsigned long long)res.differ);
	printf("\n");
	if (rep.url)
		printf("sent %llu pack%s and %s to %s\n", (unsigned long long)rep.packs,
		       rep.packs == 1 ? "" : "s", human_size(rep.bytes, a, sizeof(a)), rep.url);
	report_release(&rep);
	if (res.failed)
		error("%llu name%s could not be copied", (unsigned long long)res.failed,
		      res.failed == 1 ? "" : "s");
	ret = res.failed || res.missing ? EXIT_FAIL : res.differ ? EXIT_SKIPPED : EXIT_OK;
out:
	for (i = 0; i < nprefixes; i++)
		free(prefixes[i]);
	free(prefixes);
	strbuf_release(&why);
	return ret;
}

int cmd_push(int argc, char **argv, struct cmd_ctx *ctx)
{
	return push_or_pull(argc, argv, ctx, 0);
}
