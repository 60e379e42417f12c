/* test-ref-add.c: a reference table of one pair, written as an add would. */
#include "test-tool.h"
#include "base/hash.h"
#include "format/refs.h"
#include "format/store.h"
#include "base/util.h"

/*
 * ref-add STORE CHUNK MANIFEST: write a reference table holding the one
 * pair, as an add would (for tests of stale references).
 */
int cmd__ref_add(int argc, char **argv)
{
	struct cdt_store *s;
	struct cdt_ref_writer *w;
	struct cdt_id c, m;

	if (argc != 4 || cdt_id_from_hex(argv[2], &c) || cdt_id_from_hex(argv[3], &m))
		die("usage: test-tool ref-add STORE CHUNK-ID MANIFEST-ID");
	if (cdt_store_open(argv[1], &s) < 0)
		return 1;
	w = cdt_ref_writer_new(s);
	if (cdt_ref_writer_add(w, &c, &m) < 0 || cdt_ref_writer_flush(w) < 0 ||
	    cdt_store_sync(s) < 0)
		die("cannot write a reference table");
	cdt_ref_writer_free(w);
	cdt_store_close(s);
	return 0;
}
