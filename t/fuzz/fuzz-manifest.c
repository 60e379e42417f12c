/*
 * fuzz-manifest.c: manifest files (lib/manifest.h): cdt_manifest_peek,
 * cdt_manifest_open, then every entry through cdt_manifest_get and
 * cdt_manifest_pget and lookups through cdt_manifest_find.
 *
 * The first byte holds flags, the rest is the file, stored as
 * manifests/XX/<id> in the scratch store:
 *   bit 0  recompute the checksum (the last 32 bytes), which the fuzzer
 *          could never guess, so that the checks behind it are reached;
 *   bit 1  set the trailer's count and size from the file's length and its
 *          last record, before the checksum;
 *   bit 2  store it under a different id than the one in its trailer (it
 *          must then be refused: a manifest names itself).
 * A manifest that opens must keep every promise of manifest.h: entries
 * tile [0, size) in order, each 1..max bytes long, and find() returns the
 * entry holding the offset asked for.
 */
#include "fuzz.h"
#include "format/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void check_open(struct cdt_manifest *m, const unsigned char *file, size_t len,
		       uint32_t max)
{
	uint64_t count = cdt_manifest_count(m), size = cdt_manifest_size(m), i, pos = 0;
	uint64_t probes[6], k;
	struct cdt_manifest_entry e, pe;

	FUZZ_CHECK(count == (len - CDT_MANIFEST_HDR - CDT_MANIFEST_TRAILER) / CDT_MANIFEST_REC);
	FUZZ_CHECK(!count == !size);
	for (i = 0; i < count; i++) {
		FUZZ_CHECK(cdt_manifest_get(m, i, &e) == 0);
		FUZZ_CHECK(cdt_manifest_pget(m, i, &pe) == 0);
		FUZZ_CHECK(e.offset == pos && e.len >= 1 && e.len <= max);
		FUZZ_CHECK(pe.offset == e.offset && pe.len == e.len && cdt_id_eq(&pe.id, &e.id));
		FUZZ_CHECK(!memcmp(e.id.b, file + CDT_MANIFEST_HDR + i * CDT_MANIFEST_REC,
				   CDT_ID_LEN));
		pos += e.len;
	}
	FUZZ_CHECK(pos == size);
	FUZZ_CHECK(cdt_manifest_get(m, count, &e) == -EINVAL);
	FUZZ_CHECK(cdt_manifest_pget(m, count, &e) == -EINVAL);
	FUZZ_CHECK(cdt_manifest_find(m, size, &k) == -EINVAL);
	if (!size)
		return;
	/* Both ends, the middle, and offsets taken from the file. */
	probes[0] = 0;
	probes[1] = size - 1;
	probes[2] = size / 2;
	probes[3] = get_le64(file + len - 72) % size;
	probes[4] = get_le64(file + len - 64) % size;
	probes[5] = get_le64(file + len - 40) % size;
	for (i = 0; i < 6; i++) {
		FUZZ_CHECK(cdt_manifest_find(m, probes[i], &k) == 0);
		FUZZ_CHECK(k < count);
		FUZZ_CHECK(cdt_manifest_get(m, k, &e) == 0);
		FUZZ_CHECK(e.offset <= probes[i] && probes[i] - e.offset < e.len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cdt_store *s;
	struct cdt_manifest *m = NULL;
	struct strbuf why = STRBUF_INIT;
	unsigned char *file;
	char path[CDT_ID_HEXLEN + 2];
	struct cdt_id id;
	uint64_t count, fsize;
	uint32_t max;
	size_t len;
	unsigned flags;
	int mfd, ret;

	s = fuzz_store(CDT_CHUNKER_FASTCDC, 1024);
	fuzz_quiet();
	if (!size)
		return 0;
	max = cdt_store_chunker(s)->max_size;
	mfd = cdt_store_dirfd(s, CDT_DIR_MANIFESTS);
	flags = data[0];
	len = size - 1;
	file = xmalloc(len ? len : 1);
	memcpy(file, data + 1, len);

	if (len >= CDT_MANIFEST_HDR + CDT_MANIFEST_TRAILER) {
		unsigned char *t = file + len - CDT_MANIFEST_TRAILER;

		if (flags & 2) {
			count = (len - CDT_MANIFEST_HDR - CDT_MANIFEST_TRAILER) / CDT_MANIFEST_REC;
			put_le64(t, count);
			put_le64(t + 8, count ? get_le64(t - CDT_MANIFEST_REC + CDT_ID_LEN) : 0);
		}
		if (flags & 1)
			fuzz_fix_checksum(file, len - CDT_ID_LEN);
		memcpy(id.b, t + 16, CDT_ID_LEN);
	} else {
		cdt_hash(file, len, &id);
	}
	if (flags & 4)
		id.b[CDT_ID_LEN - 1] ^= 1;

	cdt_id_path(&id, path);
	path[2] = '\0';
	if (mkdirat(mfd, path, 0777) < 0 && errno != EEXIST)
		die("cannot create manifests/%s", path);
	path[2] = '/';
	fuzz_write_at(mfd, path, file, len);

	ret = cdt_manifest_peek(s, &id, &count, &fsize);
	FUZZ_CHECK(ret == 0 || ret == -CDT_ECORRUPT);
	ret = cdt_manifest_open(s, &id, &m, &why);
	fuzz_note("manifest open", ret, &why);
	if (!ret) {
		FUZZ_CHECK(!(flags & 4) || len < CDT_MANIFEST_HDR + CDT_MANIFEST_TRAILER);
		FUZZ_CHECK(cdt_manifest_peek(s, &id, &count, &fsize) == 0);
		FUZZ_CHECK(count == cdt_manifest_count(m) && fsize == cdt_manifest_size(m));
		check_open(m, file, len, max);
		cdt_manifest_close(m);
	} else {
		FUZZ_CHECK(ret == -CDT_ECORRUPT && why.len > 0 && !m);
	}
	unlinkat(mfd, path, 0);
	strbuf_release(&why);
	free(file);
	return 0;
}
