/* common.c: the scratch store and helpers shared by the fuzz targets. */
#include "fuzz.h"
#include "format/config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
	abort();
}

static int verbose;

static void quiet_report(const char *prefix, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static void quiet_report(const char *prefix, const char *fmt, va_list ap)
{
	/* Format anyway: a bad format argument must still be found. */
	char buf[256];

	vsnprintf(buf, sizeof(buf), fmt, ap);
}

void fuzz_quiet(void)
{
	static int done;
	const char *v;

	if (done)
		return;
	done = 1;
	v = getenv("CDT_FUZZ_VERBOSE");
	verbose = v && !strcmp(v, "1");
	if (!verbose)
		set_report_routine(quiet_report);
}

void fuzz_note(const char *what, int ret, const struct strbuf *why)
{
	if (verbose)
		fprintf(stderr, "%s: %d%s%s\n", what, ret, why && why->len ? ": " : "",
			why ? why->buf : "");
}

static char *scratch_dir;
static struct cdt_store *scratch_store;

static void remove_tree(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd >= 0 && (d = fdopendir(fd))) {
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				remove_tree(fd, de->d_name);
		closedir(d);
		unlinkat(dirfd, name, AT_REMOVEDIR);
		return;
	}
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, name, 0);
}

static void remove_scratch(void)
{
	if (scratch_store)
		cdt_store_close(scratch_store);
	scratch_store = NULL;
	if (scratch_dir)
		remove_tree(AT_FDCWD, scratch_dir);
	free(scratch_dir);
	scratch_dir = NULL;
}

struct cdt_store *fuzz_store(enum cdt_chunker_kind kind, uint32_t chunk_size)
{
	const char *tmp = getenv("TMPDIR");
	struct cdt_config cfg;
	char *path;

	if (scratch_store)
		return scratch_store;
	if (!tmp || !*tmp)
		tmp = "/tmp";
	scratch_dir = xstrfmt("%s/cdt-fuzz-XXXXXX", tmp);
	if (!mkdtemp(scratch_dir))
		die("cannot create a directory in '%s': %s", tmp, cdt_strerror(errno));
	atexit(remove_scratch);
	cdt_config_defaults(&cfg);
	cfg.chunker = kind;
	cfg.chunk_size = chunk_size;
	path = xstrfmt("%s/store", scratch_dir);
	if (cdt_store_init(path, &cfg, CDT_SHARE_PRIVATE) < 0 || cdt_store_open(path, &scratch_store) < 0)
		die("cannot set up the scratch store '%s'", path);
	free(path);
	return scratch_store;
}

void fuzz_write_at(int dirfd, const char *path, const void *data, size_t len)
{
	int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		die("cannot create '%s': %s", path, cdt_strerror(errno));
	if (write_all(fd, data, len) < 0)
		die("cannot write '%s'", path);
	close(fd);
}

void fuzz_empty_dir(int dirfd, const char *rel)
{
	int fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			unlinkat(fd, de->d_name, 0);
	closedir(d);
}

void fuzz_fix_checksum(unsigned char *data, size_t len_before_sum)
{
	struct cdt_id sum;

	cdt_hash(data, len_before_sum, &sum);
	memcpy(data + len_before_sum, sum.b, CDT_ID_LEN);
}

const char *fuzz_fmt(const char *fmt, ...)
{
	static char buf[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return buf;
}
