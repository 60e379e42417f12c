/* ingest-mpack.c: the group commit's manifest pack: a batch's small new manifests staged as one file, then put in place. */
#include "ops/ingest-internal.h"
#include "format/config.h"
#include "format/manifest.h"
#include "format/mpack.h"
#include "base/csum-file.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Batches with fewer new manifests than this keep them loose. */
#define MPACK_MIN 16

static int cmp_pending_content(const void *a, const void *b)
{
	const struct pending *const *x = a, *const *y = b;

	return memcmp((*x)->res.content.b, (*y)->res.content.b, CDT_ID_LEN);
}

int ingest_stage_mpack(struct cdt_store *s, struct pending *pend, size_t npend,
		       struct cdt_csum_file **out, char *name)
{
	struct pending **take = NULL;
	struct cdt_mpack_item *items = NULL;
	size_t n = 0, k = 0, i;
	int ret = 0;

	/* Not in a store an older cdt may read, nor in a remote store's cache (published loose). */
	if (cdt_store_config(s)->format < CDT_FORMAT_MPACKS || cdt_store_remote_url(s))
		return 0;
	take = xcalloc(npend ? npend : 1, sizeof(*take));
	for (i = 0; i < npend; i++) {
		struct pending *p = &pend[i];
		const unsigned char *b;
		size_t len;

		if (p->mw && !p->heal && cdt_manifest_writer_in_memory(p->mw, &b, &len) &&
		    len <= CDT_MPACK_MANIFEST_MAX)
			take[n++] = p;
	}
	if (n < MPACK_MIN)
		goto out;
	qsort(take, n, sizeof(*take), cmp_pending_content);
	items = xcalloc(n, sizeof(*items));
	for (i = 0; i < n; i++) {
		if (i && !cmp_pending_content(&take[i - 1], &take[i]))
			continue;	/* the same content twice: one copy */
		items[k].id = take[i]->res.content;
		cdt_manifest_writer_in_memory(take[i]->mw, &items[k].bytes, &items[k].len);
		k++;
	}
	ret = cdt_mpack_stage(cdt_store_dirfd(s, CDT_DIR_TMP), items, k, 0, out, name);
	if (ret < 0) {
		error("cannot write a pack of %zu manifests: %s", k, cdt_strerror(ret));
		goto out;
	}
	for (i = 0; i < n; i++)
		take[i]->packed = 1;
out:
	free(items);
	free(take);
	return ret;
}

int ingest_install_mpack(struct cdt_store *s, struct cdt_csum_file *f, const char *name)
{
	int mfd = cdt_store_dirfd(s, CDT_DIR_MANIFESTS), pfd, ret;

	if (mkdirat(mfd, CDT_MPACK_DIR, 0777) < 0 && errno != EEXIST) {
		ret = -errno;
		cdt_csum_file_free(f);
		return ret;
	}
	pfd = openat(mfd, CDT_MPACK_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0) {
		ret = -errno;
		cdt_csum_file_free(f);
		return ret;
	}
	ret = cdt_mpack_install(f, pfd, name, 0);
	close(pfd);
	return ret;
}
