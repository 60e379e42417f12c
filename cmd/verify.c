/* cmd/verify.c: cdt verify, read stored files as cat would and say which bytes are lost. */
#include "cmd.h"
#include "format/names.h"
#include "ops/restore.h"
#include "base/util.h"
#include "ops/verify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char usage_verify[] =
	"usage: cdt verify [-v] [--json] [-j N] (--all | NAME...)\n"
	"   or: cdt verify [-j N] --against FILE NAME\n"
	"\n"
	"Read each stored NAME (every name under it, for a directory of names;\n"
	"every name, with --all) end to end exactly as cat would, writing\n"
	"nothing: every chunk is checked against its id and\n"
	"the whole file against its content id. Damage does not stop the read:\n"
	"each damaged name is reported with every byte range that cannot be read.\n"
	"\n"
	"    --all              verify every stored name\n"
	"    --against FILE     check that the local FILE (- for standard input)\n"
	"                       holds exactly the stored NAME, without restoring it;\n"
	"                       prints the first differing byte if not\n"
	"    --json             one JSON object per name, then a summary\n"
	"    -v, --verbose      also list the names that are intact\n"
	"    -j, --jobs N       threads reading and hashing (default: CPUs)\n"
	PROGRESS_HELP
	"    -h, --help         show this help\n"
	"\n"
	"Exit status: 0 if everything is intact (or FILE is identical), 1 if not\n"
	"(or on error), 2 usage error.\n";

/* A run of unreadable bytes with one reason. */
struct run {
	uint64_t offset, len;
	uint64_t chunks;
	struct cdt_id first;
	int has_chunk;
	int err;
	char *why;
};

struct verify_state {
	struct cdt_store *store;
	struct cdt_restore *r;
	int json, verbose;
	struct progress progress;
	struct run *runs;
	size_t nruns, aruns;
	uint64_t names, damaged, unread, bytes, bad_bytes;
	const char *current;
	uint64_t done_before;
	uint64_t total;		/* the bytes of every name to verify, for the progress line */
};

static void bad_range(uint64_t offset, uint64_t len, const struct cdt_id *chunk, int err,
		      const char *why, void *data)
{
	struct verify_state *st = data;
	struct run *last = st->nruns ? &st->runs[st->nruns - 1] : NULL;

	if (last && last->has_chunk && chunk && last->offset + last->len == offset &&
	    last->err == err && !strcmp(last->why, why)) {
		last->len += len;
		last->chunks++;
		return;
	}
	ALLOC_GROW(st->runs, st->nruns + 1, st->aruns);
	last = &st->runs[st->nruns++];
	last->offset = offset;
	last->len = len;
	last->chunks = chunk ? 1 : 0;
	last->has_chunk = !!chunk;
	last->err = err;
	if (chunk)
		last->first = *chunk;
	last->why = xstrdup(why);
}

static void clear_runs(struct verify_state *st)
{
	size_t i;

	for (i = 0; i < st->nruns; i++)
		free(st->runs[i].why);
	st->nruns = 0;
}

static void show_progress(uint64_t done, void *data)
{
	struct verify_state *st = data;

	progress_show_total(&st->progress, st->current, st->done_before + done, st->total);
}

/* The first walk of --all, for the progress line: how many bytes there are to read. */
static int count_walked(const char *name, const struct cdt_name_entry *e, int err,
			const char *why, void *data)
{
	struct verify_state *st = data;

	(void)name;
	(void)err;
	(void)why;
	if (e)
		st->total += e->size;
	return 0;
}

/* "  bytes FIRST-LAST (chunk ID)", or "  all bytes", as a run's place. */
static void run_place(struct strbuf *sb, const struct run *r)
{
	char hex[CDT_ID_HEXLEN + 1];

	if (r->len)
		strbuf_addf(sb, "bytes %llu-%llu", (unsigned long long)r->offset,
			    (unsigned long long)(r->offset + r->len - 1));
	else
		strbuf_addstr(sb, "all bytes");
	if (r->chunks == 1)
		strbuf_addf(sb, " (chunk %s)", cdt_id_to_hex(&r->first, hex));
	else if (r->chunks > 1)
		strbuf_addf(sb, " (%llu chunks from %s)", (unsigned long long)r->chunks,
			    cdt_id_to_hex(&r->first, hex));
}

/*
 * Report one name: its runs of damage, or that it is intact. A run that
 * failed to read for another reason is no damage: it is an error, as in
 * cat, and the name is counted as not read.
 */
static void report_name(struct verify_state *st, const char *name, int have_size, uint64_t size)
{
	struct strbuf sb = STRBUF_INIT;
	char hex[CDT_ID_HEXLEN + 1];
	uint64_t bad = 0;
	size_t i, ndamaged = 0;

	for (i = 0; i < st->nruns; i++) {
		if (cdt_err_is_damage(st->runs[i].err)) {
			bad += st->runs[i].len;
			ndamaged++;
		}
	}
	st->names++;
	st->bytes += size;
	if (ndamaged) {
		st->damaged++;
		st->bad_bytes += bad;
	} else if (st->nruns) {
		st->unread++;
	}
	progress_clear(&st->progress);
	for (i = 0; i < st->nruns; i++) {
		if (cdt_err_is_damage(st->runs[i].err))
			continue;
		if (st->runs[i].err == -ESTALE) {
			error("'%s' %s", quote(name), st->runs[i].why);
			continue;
		}
		strbuf_reset(&sb);
		run_place(&sb, &st->runs[i]);
		error("cannot read '%s', %s: %s", quote(name), sb.buf, st->runs[i].why);
	}
	strbuf_reset(&sb);
	if (st->json) {
		strbuf_addstr(&sb, "{\"type\":\"name\",\"name\":");
		strbuf_add_json_string(&sb, name);
		if (have_size)
			strbuf_addf(&sb, ",\"size\":%llu", (unsigned long long)size);
		else
			strbuf_addstr(&sb, ",\"size\":null");
		strbuf_addf(&sb, ",\"status\":\"%s\",\"bad_bytes\":%llu,\"ranges\":[",
			    ndamaged ? "damaged" : st->nruns ? "unreadable" : "ok",
			    (unsigned long long)bad);
		for (i = 0; i < st->nruns; i++) {
			const struct run *r = &st->runs[i];

			strbuf_addf(&sb, "%s{\"offset\":%llu,\"length\":%llu,\"chunks\":%llu,\"first_chunk\":",
				    i ? "," : "", (unsigned long long)r->offset,
				    (unsigned long long)r->len, (unsigned long long)r->chunks);
			if (r->has_chunk)
				strbuf_addf(&sb, "\"%s\"", cdt_id_to_hex(&r->first, hex));
			else
				strbuf_addstr(&sb, "null");
			strbuf_addstr(&sb, ",\"reason\":");
			strbuf_add_json_string(&sb, r->why);
			strbuf_addf(&sb, ",\"damage\":%s}", cdt_err_is_damage(r->err) ? "true" : "false");
		}
		strbuf_addstr(&sb, "]}");
		puts(sb.buf);
	} else if (!st->nruns) {
		if (st->verbose)
			printf("ok '%s' (%llu bytes)\n", quote(name), (unsigned long long)size);
	} else if (ndamaged) {
		if (have_size)
			printf("damaged '%s': %llu of %llu bytes cannot be read\n", quote(name),
			       (unsigned long long)bad, (unsigned long long)size);
		else
			printf("damaged '%s': cannot be read\n", quote(name));
		for (i = 0; i < st->nruns; i++) {
			if (!cdt_err_is_damage(st->runs[i].err))
				continue;
			strbuf_reset(&sb);
			strbuf_addstr(&sb, "  ");
			run_place(&sb, &st->runs[i]);
			strbuf_addf(&sb, ": %s", st->runs[i].why);
			puts(sb.buf);
		}
	}
	fflush(stdout);
	strbuf_release(&sb);
	clear_runs(st);
}

static void verify_entry(struct verify_state *st, const struct cdt_name_entry *e)
{
	struct cdt_restore_check c = { bad_range, show_progress, st, NULL, NULL };

	int ret, now;

	st->current = e->name;
	ret = cdt_restore_check(st->r, e, &c);
	/* What is missing may be what the name held before add or rm and gc. */
	if (cdt_err_is_damage(ret) &&
	    (now = cdt_restore_name_now(st->store, e)) != CDT_NAME_SAME) {
		clear_runs(st);
		bad_range(0, 0, NULL, -ESTALE, cdt_restore_moved_why(now), st);
	}
	st->done_before += e->size;
	report_name(st, e->name, 1, e->size);
}

static int verify_walked(const char *name, const struct cdt_name_entry *e, int err,
			 const char *why, void *data)
{
	struct verify_state *st = data;

	if (!e) {
		bad_range(0, 0, NULL, err, why ? why : cdt_strerror(err), st);
		report_name(st, name, 0, 0);
		return 0;
	}
	/* Directories and symbolic links have no content to check. */
	if (cdt_name_has_content(e))
		verify_entry(st, e);
	return 0;
}

/*
 * Is `name` a directory of names (with an entry of its own, or only names
 * under it)? Anything else is left to read_name() to report.
 */
static int is_name_dir(struct cdt_store *s, const char *name)
{
	struct cdt_name_entry *e = xcalloc(1, sizeof(*e));
	struct strbuf why = STRBUF_INIT;
	int ret, dir = 0;

	if (cdt_name_check(name, &why) == 0) {
		ret = cdt_name_read(s, name, e, &why);
		if (!ret) {
			dir = e->type == CDT_NAME_DIR;
			cdt_name_entry_release(e);
		} else {
			/* (One whose own entry is damaged still has its names checked.) */
			dir = cdt_name_writable(s, name, CDT_NAME_REG, 0) == -EISDIR;
		}
	}
	strbuf_release(&why);
	free(e);
	return dir;
}

/*
 * Read the entry of NAME, given on the command line: 0 with `e` filled,
 * or -1 when NAME is not a stored file (invalid, missing, a link: said
 * on standard error, as cat says it). An entry that is there but is
 * damaged or fails to read is no typo: it is that name's damage or read
 * error, reported (when `report`) as the walk of --all reports it, and 1.
 */
static int read_entry(struct verify_state *st, const char *name, struct cdt_name_entry *e,
		      int report)
{
	struct strbuf why = STRBUF_INIT;
	int ret;

	if (cdt_name_check(name, &why) == 0) {
		ret = cdt_name_read(st->store, name, e, &why);
		if (ret < 0 && ret != -ENOENT) {
			if (report) {
				bad_range(0, 0, NULL, ret, why.len ? why.buf : cdt_strerror(ret), st);
				report_name(st, name, 0, 0);
			}
			strbuf_release(&why);
			return 1;
		}
		if (!ret)
			cdt_name_entry_release(e);
	}
	strbuf_release(&why);
	return read_name(st->store, name, e);
}

static int verify_against(struct cmd_ctx *ctx, const char *file, const char *name, int jobs)
{
	struct cdt_name_entry *e = xmalloc(sizeof(*e));
	struct cdt_verify_diff diff;
	int fd = -1, ret = EXIT_FAIL;
	int is_stdin = !strcmp(file, "-");
	const char *what = is_stdin ? "standard input" : file;

	if (read_name(ctx->store, name, e) < 0)
		goto out;
	fd = is_stdin ? STDIN_FILENO : open(file, O_RDONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		error("cannot open '%s': %s", quote(file), cdt_strerror(errno));
		goto out;
	}
	if (cdt_verify_against(ctx->store, e, fd, what, jobs, &diff) < 0)
		goto out;
	if (diff.identical) {
		printf("'%s' is identical to '%s' (%llu bytes)\n", quote(what), quote(name),
		       (unsigned long long)e->size);
		ret = EXIT_OK;
	} else if (diff.exact) {
		printf("'%s' differs from '%s' at byte %llu\n", quote(what), quote(name),
		       (unsigned long long)diff.offset);
	} else {
		printf("'%s' differs from '%s' in bytes %llu-%llu (the stored chunk there is damaged, so the exact byte is unknown)\n",
		       quote(what), quote(name), (unsigned long long)diff.offset,
		       (unsigned long long)(diff.offset + diff.len - 1));
	}
out:
	if (fd > STDIN_FILENO)
		close(fd);
	free(e);
	return ret;
}

int cmd_verify(int argc, char **argv, struct cmd_ctx *ctx)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'A' },
		{ "against", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'J' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "jobs", required_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct verify_state st;
	struct cdt_name_entry *e;
	const char *against = NULL;
	int c, i, all = 0, jobs = 0, ret = EXIT_OK, failed = 0;
	char **prefix = NULL;	/* for each NAME that is a directory of names: it, trimmed */

	memset(&st, 0, sizeof(st));
	while ((c = getopt_long(argc, argv, ":vj:", opts, NULL)) != -1) {
		switch (c) {
		case 'A': all = 1; break;
		case 'a': against = optarg; break;
		case 'J': st.json = 1; break;
		case 'v': st.verbose = 1; break;
		case 'j':
			if (parse_jobs(ctx, optarg, &jobs) < 0)
				return EXIT_USAGE;
			break;
		default:
			return option_error(ctx, c, argv);
		}
	}
	argc -= optind;
	argv += optind;
	if (against) {
		if (all)
			return usage_error(ctx, "--against and --all cannot be used together");
		if (argc != 1)
			return usage_error(ctx, "--against takes exactly one NAME");
		return verify_against(ctx, against, argv[0], jobs);
	}
	if (all && argc)
		return usage_error(ctx, "--all takes no NAME");
	if (!all && !argc)
		return usage_error(ctx, "no name given (or --all)");

	/*
	 * Look every name up first, as cat does: a typo fails before any work.
	 * A directory of names stands for every name under it.
	 */
	e = xmalloc(sizeof(*e));
	prefix = xcalloc((size_t)argc + 1, sizeof(*prefix));
	st.store = ctx->store;
	for (i = 0; i < argc; i++) {
		struct strbuf name = STRBUF_INIT;
		int r;

		strbuf_addstr(&name, argv[i]);
		trim_slashes(&name);
		if (is_name_dir(ctx->store, name.buf)) {
			prefix[i] = strbuf_detach(&name, NULL);
		} else {
			strbuf_release(&name);
			r = read_entry(&st, argv[i], e, 0);
			if (r < 0)
				failed = 1;
			else if (!r)
				cdt_name_entry_release(e);
		}
	}
	if (failed) {
		ret = EXIT_FAIL;
		goto out;
	}
	st.r = cdt_restore_new(ctx->store, jobs);
	progress_start(&st.progress, 1);
	/* The bytes to read, known up front: the names' sizes (a listing is cheap beside the reading). */
	if (st.progress.enabled && all) {
		if (cdt_names_walk(ctx->store, NULL, count_walked, &st) < 0)
			st.total = 0;
	} else if (st.progress.enabled) {
		for (i = 0; i < argc; i++) {
			if (prefix[i]) {
				cdt_names_walk(ctx->store, prefix[i], count_walked, &st);
			} else if (read_name(ctx->store, argv[i], e) == 0) {
				st.total += e->size;
				cdt_name_entry_release(e);
			}
		}
	}
	progress_stage(&st.progress);
	if (all) {
		int r = cdt_names_walk(ctx->store, NULL, verify_walked, &st);

		if (r < 0) {
			progress_clear(&st.progress);
			error("cannot list names: %s", cdt_strerror(r));
			failed = 1;
		}
	} else {
		for (i = 0; i < argc; i++) {
			int r;

			if (prefix[i]) {
				r = cdt_names_walk(ctx->store, prefix[i], verify_walked, &st);

				if (r < 0) {
					progress_clear(&st.progress);
					error("cannot list names under '%s': %s", quote(prefix[i]),
					      cdt_strerror(r));
					failed = 1;
				}
				continue;
			}
			r = read_entry(&st, argv[i], e, 1);
			if (r < 0)
				failed = 1;
			if (r)
				continue;
			verify_entry(&st, e);
			cdt_name_entry_release(e);
		}
	}
	progress_finish(&st.progress);
	{
		double t = progress_seconds(&st.progress);

		if (st.json)
			printf("{\"type\":\"summary\",\"names\":%llu,\"damaged\":%llu,\"bytes\":%llu,"
			       "\"bad_bytes\":%llu,\"unreadable\":%llu,\"seconds\":%.3f}\n",
			       (unsigned long long)st.names, (unsigned long long)st.damaged,
			       (unsigned long long)st.bytes, (unsigned long long)st.bad_bytes,
			       (unsigned long long)st.unread, t);
		else if (st.names > 1 || st.verbose || st.damaged || st.unread) {
			char h[32];

			printf("verified %llu name%s, %s in %.2f s (%.0f MB/s): ",
			       (unsigned long long)st.names, st.names == 1 ? "" : "s",
			       human_size(st.bytes, h, sizeof(h)), t,
			       mb_per_s(st.bytes, t));
			if (st.damaged)
				printf("%llu damaged%s", (unsigned long long)st.damaged,
				       st.unread ? ", " : "\n");
			if (st.unread)
				printf("%llu could not be read\n", (unsigned long long)st.unread);
			if (!st.damaged && !st.unread)
				printf("all intact\n");
		}
	}
	if (st.damaged || st.unread || failed)
		ret = EXIT_FAIL;
	cdt_restore_free(st.r);
	free(st.runs);
out:
	for (i = 0; i < argc; i++)
		free(prefix[i]);
	free(prefix);
	free(e);
	return ret;
}
