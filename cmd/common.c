/* cmd/common.c: what several commands share: usage and option errors, -j, reading a name. */
#include "cmd.h"
#include "format/names.h"
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

int want_progress(void)
{
	return isatty(STDERR_FILENO);
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
