/* remote-write.c: s3:// stores written: created by init, and what push wrote into the cache sent in an order that keeps the bucket consistent. */
#include "ops/remote.h"
#include "ops/remote-internal.h"
#include "format/config.h"
#include "format/info.h"
#include "format/names.h"
#include "base/fsutil.h"
#include "base/http.h"
#include "base/util.h"
#include "base/workers.h"
#include "base/testpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* PUT a file of the cache (relative to its root) to the same path of the remote store. */
static int upload_file(const struct remote *r, int rootfd, const char *path, int create_only)
{
	struct strbuf url = STRBUF_INIT, why = STRBUF_INIT;
	struct stat st;
	int fd, ret;

	fd = openat(rootfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = error_code(-errno, "cannot read '%s/%s': %s", r->dir, quote(path),
				 cdt_strerror(errno));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	remote_object_url(r, path, &url);
	ret = cdt_http_put(url.buf, NULL, fd, (uint64_t)st.st_size, create_only, &why);
	close(fd);
	if (ret < 0)
		error("%s", why.buf);
	strbuf_release(&url);
	strbuf_release(&why);
	return ret < 0 ? ret : 0;
}

int cdt_remote_init(const char *url, const struct cdt_config *cfg_in)
{
	struct remote r = { 0 };
	struct strbuf base = STRBUF_INIT, text = STRBUF_INIT, why = STRBUF_INIT,
		      got = STRBUF_INIT;
	struct cdt_config cfg = *cfg_in;
	unsigned char rnd[16];
	int ret, i;

	if (strncmp(url, "s3://", 5))
		return error_code(-EINVAL, "cannot create a store at '%s': a store over HTTP is "
				  "read-only (create it as a directory and serve that)", url);
	if (!cdt_http_available(&why)) {
		ret = error_code(-ENOTSUP, "cannot create '%s': %s", url, why.buf);
		goto out;
	}
	if (cdt_config_check(&cfg, &why)) {
		ret = error_code(-EINVAL, "%s", why.buf);
		goto out;
	}
	ret = remote_base(url, &base);
	if (ret)
		goto out;
	r.base = base.buf;
	ret = remote_get_whole(&r, "config", CDT_CONFIG_MAX, &got, &why);
	if (!ret) {
		ret = error_code(-EEXIST, "'%s' is already a cdt store", url);
		goto out;
	} else if (ret != -ENOENT) {
		ret = error_code(ret, "%s", why.buf);
		goto out;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		ret = error_code(-errno, "cannot get random bytes for the store id: %s",
				 cdt_strerror(errno));
		goto out;
	}
	for (i = 0; i < 16; i++)
		sprintf(cfg.store_id + 2 * i, "%02x", rnd[i]);
	/* The lists, the config's copy, the config last: its presence marks a complete store. */
	cdt_info_packs_format(NULL, 0, &text);
	ret = remote_put_object(&r, "info/packs", &text, 0);
	strbuf_reset(&text);
	cdt_info_prefixes_format(NULL, 0, &text);
	if (!ret)
		ret = remote_put_object(&r, "info/prefixes", &text, 0);
	strbuf_reset(&text);
	cdt_config_format(&cfg, &text);
	if (!ret)
		ret = remote_put_object(&r, CDT_CONFIG_COPY, &text, 0);
	if (!ret)
		ret = remote_put_object(&r, "config", &text, 1);
	if (ret == 1)
		ret = error_code(-EEXIST, "'%s' is already a cdt store (made meanwhile)", url);
out:
	strbuf_release(&base);
	strbuf_release(&text);
	strbuf_release(&why);
	strbuf_release(&got);
	cdt_http_cleanup();
	return ret;
}

int cdt_remote_writable(const struct cdt_store *s)
{
	return the_remote && cdt_store_remote_url(s) && the_remote->writable;
}

struct publish {
	const struct remote *r;
	int rootfd;
	char **paths;		/* files to send, relative to the cache's root */
	int create_only;
	int ret;
	pthread_mutex_t mu;
};

static void publish_one(size_t i, int worker, void *data)
{
	struct publish *pb = data;
	int ret = upload_file(pb->r, pb->rootfd, pb->paths[i], pb->create_only);

	if (ret < 0) {
		pthread_mutex_lock(&pb->mu);
		if (!pb->ret)
			pb->ret = ret;
		pthread_mutex_unlock(&pb->mu);
	}
}

/* Send files in parallel (several requests in flight); 0 or the first error. */
static int publish_files(struct publish *pb, struct cdt_workers *w, char **paths, size_t n,
			 int create_only)
{
	pb->paths = paths;
	pb->create_only = create_only;
	pb->ret = 0;
	cdt_workers_run(w, n, publish_one, pb);
	return pb->ret;
}

static void free_paths(char **v, size_t n)
{
	while (n--)
		free(v[n]);
	free(v);
}

/*
 * Make the remote store's copy of its config what the config is, when it
 * is missing (a store made before copies), damaged or different. Once a
 * push; a failure is said and the push goes on (only the copy is then
 * missing), as the local writers do.
 */
static void keep_config_copy(const struct remote *r)
{
	struct strbuf have = STRBUF_INIT, why = STRBUF_INIT;
	int ret;

	ret = remote_get_whole(r, CDT_CONFIG_COPY, CDT_CONFIG_MAX, &have, &why);
	if (!ret && have.len == r->config.len && !memcmp(have.buf, r->config.buf, have.len))
		goto out;
	if (ret && ret != -ENOENT) {
		warning("cannot check the config's copy: %s", why.buf);
		goto out;
	}
	remote_put_object(r, CDT_CONFIG_COPY, &r->config, 0);	/* a failure is reported */
out:
	strbuf_release(&have);
	strbuf_release(&why);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int cdt_remote_publish(struct cdt_store *s, const char *const *names, size_t n,
		       uint64_t *packs_sent, uint64_t *bytes_sent)
{
	struct remote *r = the_remote;
	struct publish pb;
	struct cdt_workers *w = NULL;
	struct cdt_dent *dents = NULL;
	char **manifests = NULL, **entries = NULL, **tables = NULL;
	size_t nd = 0, nm = 0, am = 0, ne = 0, ae = 0, nt = 0, at = 0, i;
	uint64_t npacks = 0, nbytes = 0, req0, bytes0, req1;

	int rootfd = cdt_store_rootfd(s), ret = 0;

	if (!cdt_remote_writable(s))
		return error_code(-EROFS, "'%s' is read-only", cdt_store_remote_url(s));
	/*
	 * Its copy stood in for reading. Writing the config back is a repair
	 * for whoever owns the bucket, not a side effect of a push: refused,
	 * nothing sent.
	 */
	if (r->config_damage)
		return error_code(-CDT_ECORRUPT, "cannot write into '%s': its config is damaged "
				  "(%s); put its copy '%s' back as 'config' first", r->base,
				  r->config_damage, CDT_CONFIG_COPY);
	keep_config_copy(r);
	cdt_http_counters(&req0, &bytes0);
	memset(&pb, 0, sizeof(pb));
	pb.r = r;
	pb.rootfd = rootfd;
	pthread_mutex_init(&pb.mu, NULL);
	w = cdt_workers_new(7);

	/* 1. New packs, each pack before its index (the index makes it visible). */
	ret = cdt_list_dir(r->packsfd, ".", &dents, &nd);
	if (ret < 0) {
		ret = error_code(ret, "cannot list '%s/packs': %s", r->dir, cdt_strerror(ret));
		goto out;
	}
	for (i = 0; i < nd && !ret; i++) {
		size_t len = strlen(dents[i].name);
		struct strbuf path = STRBUF_INIT;
		char name[CDT_ID_HEXLEN + 6];
		struct stat st;
		int listed;

		if (len != CDT_ID_HEXLEN + 9 || strncmp(dents[i].name, "pack-", 5) ||
		    strcmp(dents[i].name + len - 4, ".idx"))
			continue;
		memcpy(name, dents[i].name, len - 4);
		name[len - 4] = '\0';
		pthread_mutex_lock(&r->mu);
		listed = remote_find_rpack(r, name) != NULL;
		pthread_mutex_unlock(&r->mu);
		if (listed)
			continue;	/* the remote store has it */
		strbuf_addf(&path, "packs/%s.pack", name);
		ret = upload_file(r, rootfd, path.buf, 1);
		cdt_crash_point("publish-pack");
		/* Its sketch (deltas of later adds there use it), if the pack has one. */
		strbuf_reset(&path);
		strbuf_addf(&path, "packs/%s.sketch", name);
		if (!ret && faccessat(rootfd, path.buf, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			ret = upload_file(r, rootfd, path.buf, 1);
		strbuf_reset(&path);
		strbuf_addf(&path, "packs/%s.idx", name);
		if (!ret)
			ret = upload_file(r, rootfd, path.buf, 1);
		/* The cache holds all of it: say so, or the next open starts it empty. */
		strbuf_reset(&path);
		strbuf_addf(&path, "%s.pack", name);
		if (!ret && fstatat(r->packsfd, path.buf, &st, 0) == 0) {
			uint64_t nb = ((uint64_t)st.st_size + BLOCK - 1) / BLOCK;
			unsigned char *ones = xmalloc(nb ? nb : 1);
			struct strbuf have = STRBUF_INIT;

			memset(ones, BLOCK_HERE, nb ? nb : 1);
			strbuf_addf(&have, "%s.have", name);
			if (remote_put_file(rootfd, r->packsfd, have.buf, ones, nb) < 0)
				warning("cannot note what the cache of pack %s holds", name);
			strbuf_release(&have);
			free(ones);
		}
		if (!ret)
			npacks++;
		strbuf_release(&path);
	}
	cdt_dents_free(dents, nd);
	if (ret)
		goto out;
	/* 2. The list of packs, before anything that needs a new one. */
	if (npacks) {
		ret = upload_file(r, rootfd, "info/packs", 0);
		if (ret)
			goto out;
	}
	cdt_crash_point("publish-packs-listed");

	/* 3. Manifests, 4. entries: the files of the names written. */
	for (i = 0; i < n; i++) {
		struct cdt_name_entry e;
		struct strbuf path = STRBUF_INIT;
		char hex[CDT_ID_HEXLEN + 2];
		size_t plen;
		int found = 0;

		memset(&e, 0, sizeof(e));
		if (cdt_name_read(s, names[i], &e, NULL) < 0)
			continue;	/* replaced or removed since: nothing of it to send */
		if (cdt_name_has_content(&e)) {
			strbuf_addf(&path, "manifests/%s", cdt_id_path(&e.content, hex));
			ALLOC_GROW(manifests, nm + 1, am);
			manifests[nm++] = strbuf_detach(&path, NULL);
		}
		strbuf_addf(&path, "names/%s", e.name);
		if (e.type == CDT_NAME_DIR)
			strbuf_addstr(&path, "/" CDT_NAME_DIRENT);
		ALLOC_GROW(entries, ne + 1, ae);
		entries[ne++] = strbuf_detach(&path, NULL);
		plen = cdt_info_prefix_len(e.name);
		strbuf_addstr(&path, "info/names/");
		strbuf_add(&path, e.name, plen);
		for (size_t k = 0; k < nt && !found; k++)
			found = !strcmp(tables[k], path.buf);
		if (!found) {
			ALLOC_GROW(tables, nt + 1, at);
			tables[nt++] = strbuf_detach(&path, NULL);
		}
		strbuf_release(&path);
		cdt_name_entry_release(&e);
	}
	/* Names that share a content share its manifest: send it once. */
	if (nm > 1) {
		size_t k = 1;

		qsort(manifests, nm, sizeof(*manifests), cmp_str);
		for (i = 1; i < nm; i++) {
			if (!strcmp(manifests[i], manifests[k - 1]))
				free(manifests[i]);
			else
				manifests[k++] = manifests[i];
		}
		nm = k;
	}
	ret = publish_files(&pb, w, manifests, nm, 1);
	if (ret)
		goto out;
	cdt_crash_point("publish-manifests");
	ret = publish_files(&pb, w, entries, ne, 0);
	if (ret)
		goto out;
	cdt_crash_point("publish-names");
	/* 5. The tables of the prefixes touched, 6. the list of tables: now they are seen. */
	ret = publish_files(&pb, w, tables, nt, 0);
	if (ret)
		goto out;
	cdt_crash_point("publish-tables");
	if (nt)
		ret = upload_file(r, rootfd, "info/prefixes", 0);
out:
	cdt_workers_free(w);
	pthread_mutex_destroy(&pb.mu);
	free_paths(manifests, nm);
	free_paths(entries, ne);
	free_paths(tables, nt);
	cdt_http_counters(&req1, &nbytes);
	if (packs_sent)
		*packs_sent = npacks;
	if (bytes_sent)
		*bytes_sent = nbytes - bytes0;
	return ret;
}
