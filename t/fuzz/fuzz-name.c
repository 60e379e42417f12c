/*
 * fuzz-name.c: name entry files (lib/names.h cdt_name_decode).
 *
 * The first byte holds flags, the rest is the entry:
 *   bit 0  recompute the checksum (the last 32 bytes) so that the checks
 *          behind it are reached;
 *   bit 1  decode expecting the name the entry claims to hold;
 *   bit 2  decode expecting another name (must then be refused).
 * An entry that decodes must hold a valid name and encode back to exactly
 * the same bytes: the format has one encoding per entry (version 1 or 2).
 */
#include "fuzz.h"
#include "format/names.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cdt_name_entry e;
	struct strbuf why = STRBUF_INIT, enc = STRBUF_INIT, why2 = STRBUF_INIT;
	char *expect = NULL;
	unsigned char *buf;
	unsigned flags;
	size_t len;
	int ret;

	fuzz_quiet();
	if (!size)
		return 0;
	flags = data[0];
	len = size - 1;
	buf = xmalloc(len);
	memcpy(buf, data + 1, len);
	if ((flags & 1) && len >= CDT_ID_LEN)
		fuzz_fix_checksum(buf, len - CDT_ID_LEN);
	if ((flags & 2) && len > CDT_NAME_FIXED2) {
		size_t fixed = buf[4] == CDT_NAME_VERSION2 ? CDT_NAME_FIXED2 : CDT_NAME_FIXED;

		expect = xstrndup((const char *)buf + fixed,
				  MIN((size_t)get_le16(buf + 80), len - fixed));
	}
	else if (flags & 4)
		expect = xstrdup("fuzz/other-name");

	ret = cdt_name_decode(buf, len, expect, &e, &why);
	fuzz_note("name decode", ret, &why);
	if (ret) {
		FUZZ_CHECK(ret == -CDT_ECORRUPT && why.len > 0);
	} else {
		FUZZ_CHECK(!expect || !strcmp(expect, e.name));
		/* Version 1 names are literal: a backslash there is no escape. */
		FUZZ_CHECK(e.version == CDT_NAME_VERSION || cdt_name_check(e.name, &why2) == 0);
		FUZZ_CHECK(!(e.mode & ~07777u) && e.mtime_nsec < 1000000000u);
		cdt_name_encode(&e, &enc);
		FUZZ_CHECK(enc.len == len && !memcmp(enc.buf, buf, len));
		if (e.version == CDT_NAME_VERSION2) {
			strbuf_reset(&why2);
			FUZZ_CHECK(cdt_name_raw(&e, &enc, &why2) == 0);
		}
		cdt_name_entry_release(&e);
	}
	strbuf_release(&why);
	strbuf_release(&why2);
	strbuf_release(&enc);
	free(expect);
	free(buf);
	return 0;
}
