/* test-namerefs.c: the name records of a store, listed, and written as an add would. */
#include "test-tool.h"
#include "base/hash.h"
#include "format/namerefs.h"
#include "format/store.h"
#include "base/util.h"

#include <stdio.h>
#include <string.h>

static int print_record(const struct cdt_nameref_visit *v, void *data)
{
	char hex[CDT_ID_HEXLEN + 1];

	(void)data;
	printf("%s\t%s\t%s\n", v->path, cdt_id_to_hex(&v->manifest, hex), v->name ? v->name : "-");
	return 0;
}

static void print_bad(const char *path, int err, const char *why, void *data)
{
	(void)data;
	printf("%s\tbad\t%s\n", path, err == -CDT_ECORRUPT ? why : cdt_strerror(err));
}

/*
 * namerefs STORE: every name record, one per line: where it is (relative
 * to refs/: names/<table>.rec, or an old-layout file), the manifest id and
 * the name ("-" if it cannot be read); a table that cannot be used as
 * "PATH<tab>bad<tab>why".
 * namerefs STORE MANIFEST NAME...: write a table of those records, as an
 * add would (for tests of misleading records).
 */
int cmd__namerefs(int argc, char **argv)
{
	struct cdt_store *s;
	struct cdt_id m;
	int i, ret;

	if (argc < 2 || argc == 3 || (argc > 3 && cdt_id_from_hex(argv[2], &m)))
		die("usage: test-tool namerefs STORE [MANIFEST-ID NAME...]");
	if (cdt_store_open(argv[1], &s) < 0)
		return 1;
	if (argc == 2) {
		struct cdt_nameref_walker w = { print_record, print_bad, NULL, NULL, NULL };

		ret = cdt_nameref_walk(s, &w);
	} else {
		struct cdt_nameref_writer *w = cdt_nameref_writer_new(s);

		for (i = 3; i < argc; i++)
			cdt_nameref_writer_add(w, &m, argv[i]);
		ret = cdt_nameref_writer_commit(w, 1);
		cdt_nameref_writer_free(w);
	}
	cdt_store_close(s);
	if (ret < 0)
		die("cannot %s name records: %s", argc == 2 ? "read" : "write", cdt_strerror(ret));
	return 0;
}
