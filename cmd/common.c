/* cmd/common.c: what several commands share: usage and option errors, -j, reading names, fsck's item line, the progress line, finding a view. */
#include "cmd.h"
#include "../fuse-view/view.h"
#include "base/mountinfo.h"
#include "format/names.h"
#include "ops/fsck.h"
#include "ops/remote.h"
#include "base/http.h"
#include "base/strbuf.h"
#include "base/util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int usage_error(struct cmd_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error("%s", msg);
	if (ctx && ctx->usage) {
		const char *nl = strchr(ctx->usage, '\n');

		fprintf(stderr, "%.*s\n", nl ? (int)(nl - ctx->usage) : (int)strlen(ctx->usage),
			ctx->usage);
	}
	return EXIT_USAGE;
}

int option_error(struct cmd_ctx *ctx, int c, char **argv)
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		return usage_error(ctx, "option '%s' needs a value", arg);
	if (optopt && (!arg || strncmp(arg, "--", 2)))
		return usage_error(ctx, "unknown option '-%c'", optopt);
	return usage_error(ctx, "unknown option '%s'", arg);
}

int parse_jobs(struct cmd_ctx *ctx, const char *arg, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || *end || end == arg || v < 1 || v > 1024) {
		usage_error(ctx, "-j needs a number of threads between 1 and 1024, not '%s'",
			    quote(arg));
		return -1;
	}
	*out = (int)v;
	return 0;
}

/* "\r\033[K": back to the start of the line and erase it. */
#define ERASE_LINE "\r\033[K"

static enum progress_choice progress_choice;
/* The progress line up now, which a message must clear first. */
static struct progress *progress_up;

static void report_past_progress(const char *prefix, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static void report_past_progress(const char *prefix, const char *fmt, va_list ap)
{
	if (progress_up)
		progress_clear(progress_up);
	report_to_stderr(prefix, fmt, ap);
}

void progress_choose(enum progress_choice choice)
{
	progress_choice = choice;
}

void progress_start(struct progress *p, int wanted)
{
	struct winsize ws;

	if (progress_choice == PROGRESS_ALWAYS)
		p->enabled = 1;
	else if (progress_choice == PROGRESS_NEVER)
		p->enabled = 0;
	else
		p->enabled = wanted && isatty(STDERR_FILENO);
	p->columns = 0;
	if (p->enabled && ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		p->columns = ws.ws_col;
	p->shown = 0;
	p->start = now_seconds();
	p->stage = p->start;
	p->last = 0;
}

void progress_restart(struct progress *p)
{
	progress_clear(p);
	p->start = now_seconds();
	p->stage = p->start;
}

void progress_stage(struct progress *p)
{
	p->stage = now_seconds();
}

int progress_due(const struct progress *p, double interval)
{
	return p->enabled && now_seconds() - p->last >= interval;
}

static void show_text(struct progress *p, const char *text)
{
	struct strbuf sb = STRBUF_INIT;

	/* One write, so that the terminal never shows the line half drawn. */
	strbuf_addstr(&sb, ERASE_LINE);
	strbuf_addstr(&sb, text);
	fputs(sb.buf, stderr);
	fflush(stderr);
	strbuf_release(&sb);
	p->shown = 1;
	p->last = now_seconds();
	/* error() and warning() from anywhere below clear the line first. */
	if (progress_up != p) {
		progress_up = p;
		set_report_routine(report_past_progress);
	}
}

void progress_show(struct progress *p, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	if (!p->enabled)
		return;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	show_text(p, sb.buf);
	strbuf_release(&sb);
}

/*
 * Show "LABEL  FIGURES", the label shortened from its start ("...") when
 * the whole would not fit the terminal: a line that wraps cannot be
 * rewritten in place.
 */
static void show_labelled(struct progress *p, const char *label, const char *figures)
{
	struct strbuf sb = STRBUF_INIT;
	size_t len = strlen(label), room;

	if (p->columns > 0) {
		/* The last column stays free: some terminals wrap on it. */
		size_t width = (size_t)p->columns - 1, need = strlen(figures) + 2;

		room = width > need ? width - need : 0;
		if (len > room) {
			size_t skip = len - (room > 3 ? room - 3 : 0);

			/* Do not start in the middle of a UTF-8 sequence. */
			while (label[skip] && ((unsigned char)label[skip] & 0xc0) == 0x80)
				skip++;
			if (room > 3)
				strbuf_addstr(&sb, "...");
			label += skip;
		}
	}
	strbuf_addstr(&sb, label);
	if (sb.len)
		strbuf_addstr(&sb, "  ");
	strbuf_addstr(&sb, figures);
	if (p->columns > 0 && sb.len > (size_t)p->columns - 1)
		strbuf_setlen(&sb, (size_t)p->columns - 1);
	show_text(p, sb.buf);
	strbuf_release(&sb);
}

/* Rates and ETAs wait this long into a stage: the first reads say little. */
#define SETTLE_SECONDS 1.0

void progress_show_total(struct progress *p, const char *label, uint64_t done, uint64_t total)
{
	struct strbuf sb = STRBUF_INIT;
	double t, rate;
	char a[32], b[32];

	/* The end is shown too: a short stage is then seen to finish. */
	if (!progress_due(p, 0.1) && !(p->enabled && total && done >= total))
		return;
	if (done > total)
		done = total;
	t = now_seconds() - p->stage;
	strbuf_addf(&sb, "%3.0f%%  %s of %s", total ? floor(100.0 * (double)done / (double)total) : 100.0,
		    human_size(done, a, sizeof(a)), human_size(total, b, sizeof(b)));
	if (t >= SETTLE_SECONDS && done) {
		rate = (double)done / t;
		strbuf_addf(&sb, "  %.0f MB/s", rate / 1e6);
		if (done < total) {
			double eta = (double)(total - done) / rate;
			unsigned long long s = eta < 100 * 3600.0 ? (unsigned long long)(eta + 0.5) : 0;

			if (eta >= 100 * 3600.0)
				strbuf_addstr(&sb, "  ETA >99h");
			else if (s >= 3600)
				strbuf_addf(&sb, "  ETA %llu:%02llu:%02llu", s / 3600, s / 60 % 60, s % 60);
			else
				strbuf_addf(&sb, "  ETA %llu:%02llu", s / 60, s % 60);
		}
	}
	show_labelled(p, label, sb.buf);
	strbuf_release(&sb);
}

void progress_show_count(struct progress *p, const char *label, uint64_t done, uint64_t found,
			 const char *unit, uint64_t bytes)
{
	struct strbuf sb = STRBUF_INIT;
	double t;
	char a[32];

	if (!progress_due(p, 0.1))
		return;
	t = now_seconds() - p->stage;
	if (unit && found)
		strbuf_addf(&sb, "%llu/%llu %s  ", (unsigned long long)done, (unsigned long long)found, unit);
	else if (unit)
		strbuf_addf(&sb, "%llu %s  ", (unsigned long long)done, unit);
	strbuf_addstr(&sb, human_size(bytes, a, sizeof(a)));
	if (t >= SETTLE_SECONDS)
		strbuf_addf(&sb, "  %.0f MB/s", mb_per_s(bytes, t));
	show_labelled(p, label, sb.buf);
	strbuf_release(&sb);
}

void progress_clear(struct progress *p)
{
	if (p->shown) {
		fputs(ERASE_LINE, stderr);
		p->shown = 0;
	}
	if (progress_up == p) {
		progress_up = NULL;
		set_report_routine(NULL);
	}
}

void progress_finish(struct progress *p)
{
	progress_clear(p);
	p->enabled = 0;
}

double progress_seconds(const struct progress *p)
{
	return now_seconds() - p->start;
}

double mb_per_s(uint64_t bytes, double seconds)
{
	return seconds > 0 ? (double)bytes / seconds / 1e6 : 0.0;
}

int read_name(struct cdt_store *s, const char *name, struct cdt_name_entry *e)
{
	struct strbuf why = STRBUF_INIT;
	int ret;

	if (cdt_name_check(name, &why) < 0) {
		ret = error("bad name '%s': %s", quote(name), why.buf);
		strbuf_release(&why);
		return ret;
	}
	ret = cdt_name_read(s, name, e, &why);
	if (!ret && !cdt_name_has_content(e)) {
		if (e->type == CDT_NAME_DIR)
			error("'%s' is a directory (see 'cdt ls %s', 'cdt restore')", quote(name), quote(name));
		else
			error("'%s' is a symbolic link to '%s' ('cdt restore' writes it back)",
			      quote(name), quote(e->target));
		cdt_name_entry_release(e);
		ret = -EISDIR;
	} else if (ret == -ENOENT && cdt_name_writable(s, name, CDT_NAME_REG, 0) == -EISDIR)
		error("no such name: '%s' (it is a directory of names: see 'cdt ls %s')",
		      quote(name), quote(name));
	else if (ret == -ENOENT)
		error("no such name: '%s'", quote(name));
	else if (ret < 0 && ret != -EISDIR)
		error("cannot read name '%s': %s", quote(name), why.len ? why.buf : cdt_strerror(ret));
	strbuf_release(&why);
	return ret < 0 ? -1 : 0;
}

int read_names(struct cdt_store *s, int argc, char **argv)
{
	struct cdt_name_entry *e = xmalloc(sizeof(*e));
	int i, ret = 0;

	for (i = 0; i < argc; i++)
		if (read_name(s, argv[i], e) < 0)
			ret = -1;
	free(e);
	return ret;
}

void trim_slashes(struct strbuf *sb)
{
	while (sb->len > 1 && sb->buf[sb->len - 1] == '/')
		strbuf_setlen(sb, sb->len - 1);
}

void add_fsck_item(struct strbuf *sb, const struct cdt_fsck_item *it)
{
	size_t i;

	strbuf_addf(sb, "%s %s: %s", cdt_fsck_kind_name(it->kind), quote(it->object), it->detail);
	if (cdt_fsck_kind_is_garbage(it->kind) || !it->nr_names)
		return;
	strbuf_addstr(sb, "; affects ");
	for (i = 0; i < it->nr_names; i++)
		strbuf_addf(sb, "%s'%s'", i ? ", " : "", quote(it->names[i]));
}

int find_view(const char *path, const char *verb, struct strbuf *resolved, struct strbuf *store)
{
	struct strbuf fstype = STRBUF_INIT;
	int ret;

	ret = cdt_mountinfo_resolve(path, resolved);
	if (ret < 0)
		return error("cannot %s '%s': %s", verb, quote(path), cdt_strerror(ret));
	ret = cdt_mountinfo_find(resolved->buf, &fstype, store);
	if (ret < 0)
		ret = error("cannot read /proc/self/mountinfo: %s", cdt_strerror(ret));
	else if (ret > 0)
		ret = !strcmp(fstype.buf, "fuse." CDT_VIEW_SUBTYPE);
	strbuf_release(&fstype);
	return ret;
}

void show_fsck_progress(struct progress *p, const char *command, int *last_phase, int phase,
			uint64_t done, uint64_t total, uint64_t bytes)
{
	struct strbuf label = STRBUF_INIT;

	if (phase != *last_phase) {
		*last_phase = phase;
		progress_stage(p);
		p->last = 0;	/* a new phase shows at once */
	}
	strbuf_addf(&label, "%s: %s", command, cdt_fsck_phase_name((enum cdt_fsck_phase)phase));
	if ((phase == CDT_FSCK_PHASE_CHUNKS || phase == CDT_FSCK_PHASE_CONTENT) && total)
		progress_show_total(p, label.buf, bytes, total);
	else if (!progress_due(p, 0.1))
		;
	else if (total)
		progress_show(p, "%s  %llu/%llu", label.buf, (unsigned long long)done,
			      (unsigned long long)total);
	else
		progress_show(p, "%s  %llu", label.buf, (unsigned long long)done);
	strbuf_release(&label);
}

const char *remote_cache_dir;
uint64_t remote_cache_size = CDT_CACHE_SIZE_DEFAULT;
const char **remote_seeds;
size_t remote_nseeds;

int open_store_at(const char *where, int writes, const char *verb, struct cdt_store **out)
{
	if (!cdt_remote_is_url(where))
		return cdt_store_open(where, out) < 0 ? -1 : 0;
	if (writes && cdt_http_is_url(where)) {
		error("cannot %s '%s': a store over HTTP is read-only (ls, cat, verify, restore, "
		      "diff, hash, fsck, mount, push and pull read one)", verb, where);
		return -1;
	}
	return cdt_remote_open_seeded(where, remote_cache_dir, remote_cache_size, remote_seeds,
				      remote_nseeds, out) < 0 ? -1 : 0;
}
