/* cmd/rm.c: cdt rm, remove stored names. */
#include "cmd.h"
#include "format/names.h"
#include "ops/remove.h"
#include "ops/stats.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char usage_rm[] =
	"usage: cdt rm [-r] [--ignore-missing] [-n] [-q] NAME...\n"
	"\n"
	"Remove stored names. Content that no name uses any more is dropped;\n"
	"'cdt gc' then frees the chunks nothing else uses.\n"
	"\n"
	"    -r, --recursive    remove NAME and every name under NAME/\n"
	"    --ignore-missing   a name that does not exist is not an error\n"
	"    -n, --dry-run      show what would be removed, and what 'cdt gc' would\n"
	"                       then free\n"
	"    -q, --quiet        print only errors\n"
	"    -h, --help         show this help\n";

struct targets {
	char **names;
	size_t nr, alloc;
};

static int collect_name(const char *name, const struct cdt_name_entry *e, int err,
			const char *why, void *data)
{
	struct targets *t = data;

	/* Damaged entries can be removed too: the user wants them gone. */
	(void)e; (void)err; (void)why;
	ALLOC_GROW(t->names, t->nr + 1, t->alloc);
	t->names[t->nr++] = xstrdup(name);
	return 0;
}

/* The targets in byte order, each with its place on the command line. */
struct sorted_name {
	const char *name;
	size_t idx;
};

static int cmp_sorted(const void *a, const void *b)
{
	const struct sorted_name *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static int cmp_key(const void *key, const void *elem)
{
	return strcmp(key, ((const struct sorted_name *)elem)->name);
}

struct lookup {
	struct sorted_name *v;
	size_t nr;
};

static int is_target(const char *name, void *data)
{
	const struct lookup *lk = data;

	return bsearch(name, lk->v, lk->nr, sizeof(*lk->v), cmp_key) != NULL;
}

/*
 * -n: the names that would be removed, each once, then what removing them
 * would drop and free, counted as 'cdt stats PREFIX' counts: the chunks
 * no other name needs. 0 or -1 (reported).
 */
static int dry_run(struct cmd_ctx *ctx, const struct targets *t, int quiet)
{
	struct lookup lk = { xcalloc(t->nr + 1, sizeof(*lk.v)), t->nr };
	unsigned char *dup = xcalloc(t->nr + 1, 1);
	struct cdt_stats_part st;
	char h[2][32];
	size_t k, distinct = 0;
	int ret = 0;

	for (k = 0; k < t->nr; k++) {
		lk.v[k].name = t->names[k];
		lk.v[k].idx = k;
	}
	qsort(lk.v, lk.nr, sizeof(*lk.v), cmp_sorted);
	for (k = 1; k < lk.nr; k++)
		if (!strcmp(lk.v[k].name, lk.v[k - 1].name))
			dup[lk.v[k].idx] = 1;
	for (k = 0; k < t->nr; k++) {
		if (dup[k])
			continue;
		distinct++;
		if (!quiet)
			printf("would remove %s\n", t->names[k]);
	}
	if (quiet)
		goto out;
	ret = cdt_stats_part(ctx->store, NULL, is_target, &lk, &st);
	if (ret < 0) {
		error("cannot tell what removing would free: %s",
		      ret == -CDT_ECORRUPT ? "names or manifests are damaged (run 'cdt fsck')" :
		      cdt_strerror(ret));
		ret = -1;
		goto out;
	}
	printf("%llu name%s would be removed, %llu manifest%s dropped; would free %llu bytes (%s) "
	       "in %llu chunk%s after 'cdt gc'",
	       (unsigned long long)distinct, distinct == 1 ? "" : "s",
	       (unsigned long long)st.only_manifests, st.only_manifests == 1 ? "" : "s",
	       (unsigned long long)st.freed_bytes, human_size(st.freed_bytes, h[0], 32),
	       (unsigned long long)st.freed_chunks, st.freed_chunks == 1 ? "" : "s");
	if (st.freed_next_gc < st.freed_bytes)
		printf(", %s of it once gc rewrites their packs",
		       human_size(st.freed_bytes - st.freed_next_gc, h[1], 32));
	putchar('\n');
out:
	free(lk.v);
	free(dup);
	return ret;
}

int cmd_rm(int argc, char **argv, struct cmd_ctx *ctx)
{
	static const struct option opts[] = {
		{ "recursive", no_argument, NULL, 'r' },
		{ "ignore-missing", no_argument, NULL, 'I' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 }
	};
	struct targets t = { 0 };
	struct cdt_remove_result res = { 0 };
	struct cdt_remover *rem = NULL;
	struct strbuf why = STRBUF_INIT, arg = STRBUF_INIT;
	int c, i, recursive = 0, ignore_missing = 0, dry = 0, quiet = 0, ret = EXIT_OK;
	size_t k;

	while ((c = getopt_long(argc, argv, ":rnq", opts, NULL)) != -1) {
		switch (c) {
		case 'r': recursive = 1; break;
		case 'I': ignore_missing = 1; break;
		case 'n': dry = 1; break;
		case 'q': quiet = 1; break;
		default: return option_error(ctx, c, argv);
		}
	}
	argc -= optind;
	argv += optind;
	if (!argc)
		return usage_error(ctx, "no name given");

	if (!dry && cdt_store_lock(ctx->store, CDT_LOCK_EXCLUSIVE) < 0)
		return EXIT_FAIL;
	if (!dry)
		cdt_store_keep_config_copy(ctx->store);
	/* Resolve everything first: a missing name removes nothing. */
	for (i = 0; i < argc; i++) {
		size_t before = t.nr;
		struct cdt_name_entry *e;
		int r;

		strbuf_reset(&arg);
		strbuf_addstr(&arg, argv[i]);
		if (recursive)
			trim_slashes(&arg);
		strbuf_reset(&why);
		if (cdt_name_check(arg.buf, &why) < 0) {
			error("bad name '%s': %s", quote(argv[i]), why.buf);
			ret = EXIT_FAIL;
			continue;
		}
		if (recursive) {
			r = cdt_names_walk(ctx->store, arg.buf, collect_name, &t);
			if (r < 0) {
				error("cannot list '%s': %s", quote(arg.buf), cdt_strerror(r));
				ret = EXIT_FAIL;
			}
		} else {
			e = xmalloc(sizeof(*e));
			strbuf_reset(&why);
			r = cdt_name_read(ctx->store, arg.buf, e, &why);
			if (r < 0 && r != -ENOENT && r != -CDT_ECORRUPT) {
				/* Not damage: what it is (a directory?) is unknown. */
				error("name '%s': %s", quote(arg.buf),
				      why.len ? why.buf : cdt_strerror(r));
				ret = EXIT_FAIL;
				free(e);
				continue;
			}
			if (!r && e->type == CDT_NAME_DIR) {
				/* As rm(1): a directory goes only with what is in it. */
				error("cannot remove '%s': it is a directory (use -r)", quote(arg.buf));
				ret = EXIT_FAIL;
				cdt_name_entry_release(e);
				free(e);
				continue;
			}
			if (!r)
				cdt_name_entry_release(e);
			free(e);
			if (r != -ENOENT)
				collect_name(arg.buf, NULL, r, NULL, &t);
		}
		if (t.nr == before && !ignore_missing) {
			error("no such name: '%s'", quote(arg.buf));
			ret = EXIT_FAIL;
		}
	}
	if (ret != EXIT_OK)
		goto out;
	if (dry) {
		if (dry_run(ctx, &t, quiet) < 0)
			ret = EXIT_FAIL;
		goto out;
	}
	if (cdt_remover_new(ctx->store, &rem) < 0) {
		ret = EXIT_FAIL;
		goto out;
	}
	for (k = 0; k < t.nr; k++) {
		int r;

		/* The same name may be listed twice (a NAME and a prefix of it). */
		if (k && !strcmp(t.names[k], t.names[k - 1]))
			continue;
		r = cdt_remove_name(rem, t.names[k], &res);
		if (r == -ENOENT)
			continue;
		if (r < 0) {
			ret = EXIT_FAIL;
			break;
		}
		if (!quiet)
			printf("removed %s\n", t.names[k]);
	}
	/* After a failed removal too: settle the content of the names already gone. */
	if (cdt_remover_finish(rem, &res) < 0)
		ret = EXIT_FAIL;
	if (!quiet && res.names && res.uncounted) {
		printf("%llu name%s removed, %llu manifest%s dropped; what 'cdt gc' can reclaim "
		       "is not known (%llu manifest%s could not be read)\n",
		       (unsigned long long)res.names, res.names == 1 ? "" : "s",
		       (unsigned long long)res.manifests, res.manifests == 1 ? "" : "s",
		       (unsigned long long)res.uncounted, res.uncounted == 1 ? "" : "s");
	} else if (!quiet && res.names) {
		char h[32];

		printf("%llu name%s removed, %llu manifest%s dropped; %s in %llu chunk%s "
		       "reclaimable by 'cdt gc'\n",
		       (unsigned long long)res.names, res.names == 1 ? "" : "s",
		       (unsigned long long)res.manifests, res.manifests == 1 ? "" : "s",
		       human_size(res.reclaimable_bytes, h, sizeof(h)),
		       (unsigned long long)res.chunks, res.chunks == 1 ? "" : "s");
	}
out:
	cdt_remover_free(rem);
	for (k = 0; k < t.nr; k++)
		free(t.names[k]);
	free(t.names);
	strbuf_release(&why);
	strbuf_release(&arg);
	return ret;
}
