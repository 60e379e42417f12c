/* remote-internal.h: what remote.c (opening the cache), remote-packs.c (its packs), remote-names.c and remote-write.c (creating and writing s3:// stores) share. */
#ifndef CDT_REMOTE_INTERNAL_H
#define CDT_REMOTE_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "ops/cache-trim.h"
#include "base/hash.h"
#include "base/strbuf.h"

struct cdt_seeds;

/*
 * Pack data is fetched in aligned blocks of this size, and a read brings
 * up to READAHEAD bytes of missing blocks after it (the next reads of a
 * file want them), unless seeds are to be asked first for each chunk.
 */
#define BLOCK CDT_CACHE_BLOCK
#define READAHEAD (1u << 20)
/* The most bytes of one whole file (an index, a manifest, a table) fetched. */
#define WHOLE_MAX ((size_t)1 << 30)

/* A .have file (ops/cache-trim.h): one byte per block of the pack, 1 when the block is here. */
enum { BLOCK_MISSING = 0, BLOCK_HERE = CDT_CACHE_HERE, BLOCK_COMING = 2 };

struct rpack {
	char name[CDT_ID_HEXLEN + 6];
	uint64_t size, nblocks;
	/*
	 * Its sparse .pack and .have in the cache are opened for each
	 * fetch and closed after it (a store may list more packs than a
	 * process may have files open); the marks are held here.
	 */
	unsigned char *have;	/* nblocks states (BLOCK_*) */
	int used;		/* read by this process: its .have was touched */
};

struct remote {
	char *base;		/* the URL, without a trailing slash */
	char *dir;		/* the cache store */
	int packsfd;
	pthread_mutex_t mu;	/* guards every rpack's have[], and packs[] */
	pthread_cond_t cv;	/* a block stopped coming */
	/*
	 * The packs info/packs listed, by name. Each is allocated alone and
	 * lives as long as the remote: a refresh (cdt_remote_refresh())
	 * replaces the array under mu, and a pack no longer listed goes to
	 * gone[], where a reader that found it before still reads it.
	 */
	struct rpack **packs;
	size_t npacks;
	struct rpack **gone;
	size_t ngone, agone;
	/*
	 * A pack listed was not on the server (under mu): a gc there since
	 * the listing, which a failed read then fetches again.
	 */
	int vanished;
	struct cdt_seeds *seeds;	/* NULL: none */
	int writable;		/* s3:// (push and pull write through cdt_remote_publish()) */
	struct strbuf config;	/* the config's bytes as fetched (or its copy's) */
	char *config_damage;	/* NULL, or why the config was not usable: its copy stands in */
};

/* The one remote store of this process (the pack filler has no store). */
extern struct remote *the_remote;

/* The URL of path in the remote store (%-encoded), in url. */
void remote_object_url(const struct remote *r, const char *path, struct strbuf *url);
/* GET a whole file of the remote store (relative path) into out: 0, -ENOENT or -errno (why). */
int remote_get_whole(const struct remote *r, const char *path, size_t max, struct strbuf *out,
		     struct strbuf *why);
/*
 * GET a text file of info/ of the remote store (relative path, at most
 * CDT_INFO_TEXT_MAX bytes: what any reader of it takes) into a file of
 * the cache's tmp/, never into memory; use(fd, data) reads it there, and
 * when it returns 0 the file becomes the cache's own (rootfd/path), else
 * it is removed. 0, -ENOENT (not there), use()'s value, or -errno with a
 * one-line reason in why (the fetch's, or the cache's when the fetched
 * file cannot be put in place; use() leaves why to its caller).
 */
int remote_get_info(const struct remote *r, int rootfd, const char *path,
		    int (*use)(int fd, void *data), void *data, struct strbuf *why);
/*
 * A new file at dirfd/path of the cache (replacing; its parent made),
 * written by fill() into a temporary file in the cache's tmp/ and renamed
 * into place when fill() returns 0; else removed, and fill()'s error
 * returned. 0 or -errno.
 */
int remote_place_new_file(int rootfd, int dirfd, const char *path,
			  int (*fill)(int fd, void *data), void *data);
/* PUT bytes to a path of the remote store: 0, 1 (create_only: there already) or -errno (reported). */
int remote_put_object(const struct remote *r, const char *path, const struct strbuf *body,
		      int create_only);
/* Write buf to dirfd/path of the cache through tmp/ and a rename (replacing). 0 or -errno. */
int remote_put_file(int rootfd, int dirfd, const char *path, const void *buf, size_t len);
/* The pack of that name the remote store listed when last refreshed, or NULL (r->mu held). */
struct rpack *remote_find_rpack(struct remote *r, const char *name);
/*
 * packs/ of the cache as info/packs says (remote-packs.c): each listed
 * pack's index fetched and checked (or the cached one kept), a sparse
 * pack file and its .have made; packs no longer listed removed. With
 * `live` (readers may be at work), a pack listed before is kept as it is
 * and a new one gets its have[] before any reader can find it; else the
 * caller loads have[] (remote_load_have()). 0 or -errno (reported; the
 * packs listed before stay).
 */
int remote_refresh_packs(struct remote *r, int rootfd, int live);
/* Free a pack of packs[] or gone[] (the remote's end). */
void remote_rpack_free(struct rpack *p);
/* What the .have of p says is here (once more after a trim). */
void remote_load_have(const struct remote *r, struct rpack *p);
/*
 * The pack filler (cdt_pack_set_filler(), data the remote): make [off,
 * off + len) of a cached pack present, fetching missing blocks; with
 * `again` what is here is dropped first (it failed a check).
 */
int remote_fill_pack(int packsfd, const char *name, uint64_t off, uint64_t len, int again,
		     struct strbuf *why, void *data);
/*
 * The base URL of a store: an http(s) URL as it is (without trailing
 * slashes); s3://BUCKET[/PREFIX] as ENDPOINT/BUCKET[/PREFIX] (path-style),
 * with requests under it signed. 0 or -errno (reported).
 */
int remote_base(const char *url, struct strbuf *base);
/*
 * names/ of the cache s as info/prefixes says (remote-names.c): tables
 * that changed fetched, checked and their trees rebuilt; prefixes no
 * longer listed removed. 0 or -errno (reported).
 */
struct cdt_store;
int remote_refresh_names(struct remote *r, struct cdt_store *s);
/*
 * manifests/pack/ of the cache s as info/mpacks says (remote-mpacks.c; a
 * store of format 4 or later): packs the cache lacks fetched whole and
 * checked, packs no longer listed removed. A store without info/mpacks
 * has none. 0 or -errno (reported).
 */
int remote_refresh_mpacks(struct remote *r, struct cdt_store *s);

#endif
