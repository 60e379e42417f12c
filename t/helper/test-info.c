/* test-info.c: a file of server info (info/packs, info/prefixes, a table of info/names/) parsed and printed. */
#include "test-tool.h"
#include "base/fsutil.h"
#include "base/hash.h"
#include "format/info.h"
#include "base/util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int print_entry(const struct cdt_name_entry *e, const unsigned char *raw, size_t len,
		       void *data)
{
	char hex[CDT_ID_HEXLEN + 1];
	struct cdt_id sum;

	(void)data;
	cdt_hash(raw, len, &sum);
	printf("%s\t%s\n", e->name, cdt_id_to_hex(&sum, hex));
	return 0;
}

/*
 * info packs FILE: "pack-<hex> <pack bytes> <index bytes>" per pack.
 * info prefixes FILE: "<checksum> <bytes> <prefix>" per table.
 * info names FILE PREFIX: "<name><tab><SHA-256 of its entry's bytes>" per
 * entry, in the table's order (sha256sum of names/<name> gives the same).
 * A file that does not parse: "FILE: why" on stderr, exit status 1.
 */
int cmd__info(int argc, char **argv)
{
	struct strbuf buf = STRBUF_INIT, why = STRBUF_INIT;
	char hex[CDT_ID_HEXLEN + 1];
	size_t n, i;
	int ret;

	if (argc < 3 || (strcmp(argv[1], "names") ? argc != 3 : argc != 4))
		die("usage: test-tool info packs|prefixes FILE | info names FILE PREFIX");
	ret = read_small_fileat(AT_FDCWD, argv[2], (size_t)1 << 31, &buf);
	if (ret < 0)
		die("cannot read '%s': %s", argv[2], cdt_strerror(ret));
	if (!strcmp(argv[1], "packs")) {
		struct cdt_info_pack *p;

		ret = cdt_info_packs_parse(buf.buf, buf.len, &p, &n, &why);
		for (i = 0; !ret && i < n; i++)
			printf("%s %llu %llu\n", p[i].name, (unsigned long long)p[i].pack_bytes,
			       (unsigned long long)p[i].idx_bytes);
		if (!ret)
			free(p);
	} else if (!strcmp(argv[1], "prefixes")) {
		struct cdt_info_prefix *p;

		ret = cdt_info_prefixes_parse(buf.buf, buf.len, &p, &n, &why);
		for (i = 0; !ret && i < n; i++)
			printf("%s %llu %s\n", cdt_id_to_hex(&p[i].sum, hex),
			       (unsigned long long)p[i].bytes, p[i].prefix);
		if (!ret)
			cdt_info_prefixes_free(p, n);
	} else if (!strcmp(argv[1], "names")) {
		ret = cdt_info_names_parse((const unsigned char *)buf.buf, buf.len, argv[3],
					   print_entry, NULL, &why);
	} else {
		die("test-tool info: unknown file kind '%s'", argv[1]);
	}
	if (ret)
		fprintf(stderr, "%s: %s\n", argv[2], why.len ? why.buf : cdt_strerror(ret));
	strbuf_release(&buf);
	strbuf_release(&why);
	return ret ? 1 : 0;
}
