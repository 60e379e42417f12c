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

/*
 * ingest STORE NAME FILE: add FILE as cdt add would (one worker) and print
 * its size, the bytes that went through the whole-file hash and the
 * content id: shows when re-reading stored content skips that hash.
 */
int cmd__ingest(int argc, char **argv)
{
	struct cdt_ingest_options io = { 0 };
	struct cdt_ingest_result res;
	struct cdt_name_entry meta = { 0 };
	struct cdt_ingest *ing;
	struct cdt_store *s;
	char hex[CDT_ID_HEXLEN + 1];
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
	ret = cdt_ingest_fd(ing, fd, argv[3], &meta, &res);
	cdt_ingest_free(ing);
	close(fd);
	cdt_store_close(s);
	if (ret < 0)
		return 1;
	printf("size %llu\nhashed %llu\ncontent %s\n", (unsigned long long)res.size,
	       (unsigned long long)res.hashed, cdt_id_to_hex(&res.content, hex));
	return 0;
}
