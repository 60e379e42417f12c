/* test-mpack.c: move a store's loose manifests into one manifest pack (as a batch writes them), or list what the packs hold. */
#include "test-tool.h"
#include "base/fsutil.h"
#include "base/hash.h"
#include "base/util.h"
#include "format/fanout.h"
#include "format/mpack.h"
#include "format/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct collect {
	struct cdt_mpack_item *items;
	struct strbuf *bytes;
	size_t n, alloc;
	int mfd;
};

static int take(const struct cdt_id *id, uint64_t size, void *data)
{
	struct collect *c = data;
	char path[CDT_ID_HEXLEN + 2];
	struct strbuf sb = STRBUF_INIT;

	if (size > CDT_MPACK_MANIFEST_MAX)
		return 0;	/* stays loose */
	if (read_small_fileat(c->mfd, cdt_id_path(id, path), CDT_MPACK_MANIFEST_MAX, &sb) < 0)
		die("cannot read manifest %s", path);
	ALLOC_GROW(c->items, c->n + 1, c->alloc);
	c->bytes = realloc(c->bytes, c->alloc * sizeof(*c->bytes));
	c->items[c->n].id = *id;
	c->bytes[c->n] = sb;
	c->n++;
	return 0;
}

/* Each manifest of a readable pack: "<content id> <pack name>". */
static int list_pack(const char *name, const struct cdt_mpack *mp, int err, const char *why,
		     void *data)
{
	char hex[CDT_ID_HEXLEN + 1];
	struct cdt_id id;
	uint64_t i, off, len;

	(void)data;
	if (err)
		die("manifest pack %s cannot be read: %s", name, why);
	for (i = 0; i < mp->count; i++) {
		cdt_mpack_entry(mp, i, &id, &off, &len);
		printf("%s %s\n", cdt_id_to_hex(&id, hex), name);
	}
	return 0;
}

/*
 * test-tool mpack STORE: the loose manifests of at most 40 KiB, packed;
 * prints the pack's name. test-tool mpack --list STORE: what the packs hold.
 */
int cmd__mpack(int argc, char **argv)
{
	struct collect c = { 0 };
	struct cdt_store *s;
	char name[CDT_MPACK_NAME_MAX];
	int pfd, ret;
	size_t i;

	if (argc == 3 && !strcmp(argv[1], "--list")) {
		if (cdt_store_open(argv[2], &s) < 0)
			die("cannot open store '%s'", argv[2]);
		ret = cdt_mpacks_walk(s, list_pack, NULL);
		if (ret < 0)
			die("cannot list manifest packs: %s", cdt_strerror(ret));
		cdt_store_close(s);
		return 0;
	}
	if (argc != 2)
		die("usage: test-tool mpack [--list] STORE");
	if (cdt_store_open(argv[1], &s) < 0)
		die("cannot open store '%s'", argv[1]);
	c.mfd = cdt_store_dirfd(s, CDT_DIR_MANIFESTS);
	ret = cdt_fanout_walk(c.mfd, take, NULL, &c);
	if (ret < 0)
		die("cannot list manifests: %s", cdt_strerror(ret));
	for (i = 0; i < c.n; i++) {
		c.items[i].bytes = (const unsigned char *)c.bytes[i].buf;
		c.items[i].len = c.bytes[i].len;
	}
	if (mkdirat(c.mfd, CDT_MPACK_DIR, 0777) < 0 && errno != EEXIST)
		die("cannot make manifests/%s", CDT_MPACK_DIR);
	pfd = openat(c.mfd, CDT_MPACK_DIR, O_RDONLY | O_DIRECTORY);
	ret = cdt_mpack_write(cdt_store_dirfd(s, CDT_DIR_TMP), pfd, c.items, c.n, 1, name);
	if (ret < 0)
		die("cannot write a manifest pack: %s", cdt_strerror(ret));
	/* In the pack and durable: the loose copies go. */
	for (i = 0; i < c.n; i++)
		cdt_fanout_remove(c.mfd, &c.items[i].id);
	printf("%s %zu\n", name, c.n);
	close(pfd);
	for (i = 0; i < c.n; i++)
		strbuf_release(&c.bytes[i]);
	free(c.bytes);
	free(c.items);
	cdt_store_close(s);
	return 0;
}
