/* test-ingest.c: one add, and how much of the file went through the whole-file hash. */
#include "test-tool.h"
#include "base/hash.h"
#include "ops/ingest.h"
#include "format/names.h"
#include "format/store.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Bytes this process has read with read(2) and its kind (/proc/self/io rchar), or -1. */
static long long bytes_read(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	long long n = -1;
	char line[128];

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "rchar: %lld", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
}

/*
 * ingest STORE NAME FILE: add FILE as cdt add would (one worker) and print
 * its size, the bytes that went through the whole-file hash, the content
 * id, and the bytes read during the add (file and store; -1 where
 * /proc/self/io is missing): shows when re-reading stored content skips
 * that hash, and that the holes of a sparse file are not read.
 */
int cmd__ingest(int argc, char **argv)
{
	struct cdt_ingest_options io = { 0 };
	struct cdt_ingest_result res;
	struct cdt_name_entry meta = { 0 };
	struct cdt_ingest *ing;
	struct cdt_store *s;
	char hex[CDT_ID_HEXLEN + 1];
	long long before;
	int fd, ret;

	if (argc != 4 || strlen(argv[2]) > CDT_NAME_MAX)
		die("usage: test-tool ingest STORE NAME FILE");
	if (cdt_store_open(argv[1], &s) < 0 || cdt_store_lock(s, CDT_LOCK_SHARED) < 0)
		return 1;
	fd = open(argv[3], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("cannot open '%s': %s", argv[3], cdt_strerror(errno));
	strcpy(meta.name, argv[2]);
	meta.mode = 0644;
	io.jobs = 1;
	ing = cdt_ingest_new(s, &io);
	before = bytes_read();
	ret = cdt_ingest_fd(ing, fd, argv[3], &meta, &res);
	if (before >= 0)
		before = bytes_read() - before;
	cdt_ingest_free(ing);
	close(fd);
	cdt_store_close(s);
	if (ret < 0)
		return 1;
	printf("size %llu\nhashed %llu\ncontent %s\nread %lld\n", (unsigned long long)res.size,
	       (unsigned long long)res.hashed, cdt_id_to_hex(&res.content, hex), before);
	return 0;
}
