/*
 * fuzz-config.c: the store's config file (lib/config.h cdt_config_parse).
 *
 * The first byte holds flags, the rest is the text; with bit 0 set a
 * correct "checksum" line is appended, so that the checks behind the
 * checksum are reached. A config that parses must pass cdt_config_check()
 * and survive cdt_config_format() and a second parse unchanged; one that
 * does not gets -CDT_ECORRUPT or -CDT_EVERSION and a reason.
 */
#include "fuzz.h"
#include "format/config.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf text = STRBUF_INIT, why = STRBUF_INIT, out = STRBUF_INIT;
	struct cdt_config cfg, again;
	char *copy;
	int ret;

	fuzz_quiet();
	if (!size)
		return 0;
	strbuf_add(&text, data + 1, size - 1);
	if (data[0] & 1) {
		struct cdt_id sum;
		char hex[CDT_ID_HEXLEN + 1];

		cdt_hash(text.buf, text.len, &sum);
		strbuf_addf(&text, "checksum %s\n", cdt_id_to_hex(&sum, hex));
	}
	/* An exactly sized copy, so that ASan sees a read past the end. */
	copy = xmalloc(text.len);
	memcpy(copy, text.buf, text.len);
	ret = cdt_config_parse(copy, text.len, &cfg, &why);
	fuzz_note("config parse", ret, &why);
	if (ret) {
		FUZZ_CHECK(ret == -CDT_ECORRUPT || ret == -CDT_EVERSION);
		FUZZ_CHECK(why.len > 0);
	} else {
		FUZZ_CHECK(why.len == 0);
		FUZZ_CHECK(cdt_config_check(&cfg, &why) == 0);
		cdt_config_format(&cfg, &out);
		FUZZ_CHECK(cdt_config_parse(out.buf, out.len, &again, &why) == 0);
		FUZZ_CHECK(!memcmp(&cfg, &again, sizeof(cfg)));
	}
	free(copy);
	strbuf_release(&text);
	strbuf_release(&why);
	strbuf_release(&out);
	return 0;
}
