/* error.c: error(), warning(), die() and the one path from an error code to text. */
#include "base/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void report_to_stderr(const char *prefix, const char *fmt, va_list ap)
{
	char *msg = NULL;

	if (vasprintf(&msg, fmt, ap) < 0) {
		fprintf(stderr, "%scannot format message\n", prefix);
		return;
	}
	/* One write, so lines from threads and processes do not interleave. */
	fprintf(stderr, "%s%s\n", prefix, msg);
	free(msg);
}

static report_fn report_routine = report_to_stderr;

void set_report_routine(report_fn fn)
{
	report_routine = fn ? fn : report_to_stderr;
}

/* On this thread, errors are reported as warnings (cdt_errors_as_warnings()). */
static _Thread_local int demoted;

int cdt_errors_as_warnings(int on)
{
	int was = demoted;

	demoted = on;
	return was;
}

static const char *error_prefix(void)
{
	return demoted ? "warning: " : "error: ";
}

int error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_routine(error_prefix(), fmt, ap);
	va_end(ap);
	return -1;
}

int error_code(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_routine(error_prefix(), fmt, ap);
	va_end(ap);
	return err;
}

void warning(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_routine("warning: ", fmt, ap);
	va_end(ap);
}

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_routine("fatal: ", fmt, ap);
	va_end(ap);
	exit(1);
}

const char *cdt_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case CDT_ECORRUPT:
		return "data is corrupt";
	case CDT_EVERSION:
		return "unsupported format version";
	default:
		return strerror(err);
	}
}

