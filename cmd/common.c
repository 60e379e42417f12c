/* cmd/common.c: what several commands share: usage and option errors, -j, reading names, fsck's item line, the progress line, finding a view. */
#include "cmd.h"
#include "../fuse-view/view.h"
#include "base/mountinfo.h"
#include "format/names.h"
#include "ops/fsck.h"
#include "base/strbuf.h"
#include "base/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

void progress_start(struct progress *p, int wanted)
{
	p->enabled = wanted && isatty(STDERR_FILENO);
	p->shown = 0;
	p->start = now_seconds();
	p->last = 0;
}

void progress_restart(struct progress *p)
{
	progress_clear(p);
	p->start = now_seconds();
}

int progress_due(const struct progress *p, double interval)
{
	return p->enabled && now_seconds() - p->last >= interval;
}

void progress_show(struct progress *p, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	if (!p->enabled)
		return;
	/* One write, so that the terminal never shows the line half drawn. */
	strbuf_addstr(&sb, ERASE_LINE);
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	fputs(sb.buf, stderr);
	strbuf_release(&sb);
	p->shown = 1;
	p->last = now_seconds();
}

void progress_clear(struct progress *p)
{
	if (p->shown) {
		fputs(ERASE_LINE, stderr);
		p->shown = 0;
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
	if (ret == -ENOENT && cdt_name_writable(s, name, 0) == -EISDIR)
		error("no such name: '%s' (it is a directory of names: see 'cdt ls %s')",
		      quote(name), quote(name));
	else if (ret == -ENOENT)
		error("no such name: '%s'", quote(name));
	else if (ret < 0)
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
