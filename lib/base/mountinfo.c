/* mountinfo.c: reading /proc/self/mountinfo, and resolving a mount point that may be dead. */
#include "base/mountinfo.h"
#include "base/alloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Undo the octal escapes (\040 and the like) the kernel writes for ' ', '\t', '\n' and '\\'. */
static void unescape(char *s)
{
	char *d = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*d++ = *s++;
		}
	}
	*d = '\0';
}

int cdt_mountinfo_parse(char *line, struct cdt_mountinfo_entry *e)
{
	char *save = NULL, *tok;
	int field = 0, dash = 0;

	memset(e, 0, sizeof(*e));
	for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		if (dash) {
			/* After the separator: FSTYPE SOURCE SUPEROPTS. */
			if (dash == 1)
				e->fstype = tok;
			else if (dash == 2)
				e->source = tok;
			dash++;
			continue;
		}
		if (++field == 5)
			e->mountpoint = tok;
		else if (field > 6 && !strcmp(tok, "-"))
			dash = 1;
	}
	if (!e->mountpoint || !e->fstype || !e->source)
		return -EINVAL;
	unescape(e->mountpoint);
	unescape(e->fstype);
	unescape(e->source);
	return 0;
}

int cdt_mountinfo_find(const char *path, struct strbuf *fstype, struct strbuf *source)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int found = 0, ret;

	if (!f)
		return -errno;
	errno = 0;
	while (getline(&line, &cap, f) > 0) {
		struct cdt_mountinfo_entry e;

		if (cdt_mountinfo_parse(line, &e) < 0 || strcmp(e.mountpoint, path))
			continue;
		/* A later line for the same point is a mount made on top of the earlier. */
		found = 1;
		if (fstype) {
			strbuf_reset(fstype);
			strbuf_addstr(fstype, e.fstype);
		}
		if (source) {
			strbuf_reset(source);
			strbuf_addstr(source, e.source);
		}
	}
	ret = ferror(f) ? -(errno ? errno : EIO) : found;
	free(line);
	fclose(f);
	return ret;
}

int cdt_mountinfo_resolve(const char *path, struct strbuf *out)
{
	char *real = realpath(path, NULL), *dup, *slash, *dir;
	const char *base;
	int ret = 0;

	strbuf_reset(out);
	if (real) {
		strbuf_addstr(out, real);
		free(real);
		return 0;
	}
	if (errno != ENOTCONN)
		return -errno;
	/* The directory above resolves as usual; the dead mount point is kept as named. */
	dup = xstrdup(path);
	while (strlen(dup) > 1 && dup[strlen(dup) - 1] == '/')
		dup[strlen(dup) - 1] = '\0';
	slash = strrchr(dup, '/');
	if (!slash) {
		dir = ".";
		base = dup;
	} else {
		*slash = '\0';
		dir = slash == dup ? "/" : dup;
		base = slash + 1;
	}
	if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) {
		free(dup);
		return -ENOTCONN;
	}
	real = realpath(dir, NULL);
	if (!real) {
		ret = -errno;
	} else {
		strbuf_addstr(out, real);
		if (out->len > 1)
			strbuf_addch(out, '/');
		strbuf_addstr(out, base);
		free(real);
	}
	free(dup);
	return ret;
}
