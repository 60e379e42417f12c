/* store.h: opening, creating and locking a cdt store. */
#ifndef CDT_STORE_H
#define CDT_STORE_H

#include "base/hash.h"
#include "format/chunker.h"
#include "format/config.h"
#include "base/strbuf.h"

/*
 * A store on disk:
 *   config     versioned parameters (config.h); config.copy, its copy
 *   lock       flock()ed: shared by add, exclusive by rm, gc, repair
 *   objects/   loose chunks, objects/XX/<62 hex>
 *   packs/     chunks in pack files with their indexes (pack.h)
 *   manifests/ per-file chunk lists, manifests/XX/<62 hex>
 *   refs/      reverse reference tables (chunk -> manifests)
 *   names/     one entry file per stored name, at names/<name>
 *   tmp/       temporary files; anything here is garbage once no writer runs
 * See Documentation/technical/store-format.md.
 */
struct cdt_store;

enum cdt_store_dir {
	CDT_DIR_OBJECTS,
	CDT_DIR_MANIFESTS,
	CDT_DIR_REFS,
	CDT_DIR_NAMES,
	CDT_DIR_TMP,
	CDT_DIR_PACKS,
	CDT_DIR__COUNT
};

/*
 * Who may use a store. The mode of the store's own directory says so (see
 * "Permissions" in store-format.md): a private store's is 0700; a store
 * shared with its group has a group-writable, set-group-ID directory
 * (2770), so that what anyone creates in it belongs to that group.
 */
enum cdt_store_sharing {
	CDT_SHARE_PRIVATE,
	CDT_SHARE_GROUP,
};

/*
 * Create a new store at `path` (which must not exist or be an empty
 * directory). Its directory gets the mode `sharing` calls for, whatever
 * the umask; it keeps the group it has (its creator's, or that of a
 * set-group-ID parent, or the one an empty directory was given).
 * Errors are reported (one line); returns 0 or -1.
 */
int cdt_store_init(const char *path, const struct cdt_config *cfg,
		   enum cdt_store_sharing sharing);

/*
 * Find the store to use: `explicit` (from --store) if given, else
 * $CDT_STORE, else a ".cdt" directory in the current directory or one of its
 * parents. The chosen path goes to `out`. Returns 0 or -ENOENT.
 */
int cdt_store_find(const char *explicit, struct strbuf *out);

/*
 * Open the store at `path`; errors are reported (one line) and returned.
 * Opening a store shared with its group clears the group bits of the
 * process's umask, for the rest of the process: whatever this process
 * creates in the store (through any module) is then readable and writable
 * by the group, whatever umask the user runs with. Call it before starting
 * threads that create files.
 */
int cdt_store_open(const char *path, struct cdt_store **out);
void cdt_store_close(struct cdt_store *s);
/*
 * Open for checking (fsck): like cdt_store_open(), but a config that is
 * damaged (not one of a newer format) is no reason to refuse. The store
 * then works with the most permissive parameters (a FastCDC chunker whose
 * maximum is CDT_CHUNK_HARD_MAX) and cdt_store_config_damage() says why.
 */
int cdt_store_open_salvage(const char *path, struct cdt_store **out);
/* Why the config could not be used (salvage mode only), or NULL. */
const char *cdt_store_config_damage(const struct cdt_store *s);

/*
 * The config's copy, written by init before the config and kept equal to
 * it by every command that writes (cdt_store_keep_config_copy()). When the config is
 * damaged and the copy is whole, opening uses the copy (said once, on
 * stderr) and cdt_store_config_copy_used() says why the config was not
 * used; cdt_store_restore_config() then writes the config again from the
 * copy (the store's exclusive lock held): 1, 0 if there was nothing to do,
 * or -errno (reported).
 */
#define CDT_CONFIG_COPY "config.copy"
const char *cdt_store_config_copy_used(const struct cdt_store *s);
int cdt_store_restore_config(struct cdt_store *s);
/*
 * Make the copy what the config is, when it is missing (a store made
 * before copies), damaged or different (a change of the config cut
 * short): called by writers with the store's lock held, never by readers
 * or checkers. The config is read again then (a gc --recompress may have
 * changed it since this process opened the store); a damaged one leaves
 * the copy as it is. Once a process; a failure is said as a warning (only the
 * copy is then missing).
 */
void cdt_store_keep_config_copy(struct cdt_store *s);
/*
 * Can `copy` stand in for the damaged config whose bytes are
 * damaged[0..len) (empty when it could not be read)? Not when those still
 * name a store id that differs from the copy's in most of its digits (a
 * copy of another store put in place, whose parameters repair would make
 * this store's): 0, said in why ("; its copy ... is another store's
 * ..."). Else 1.
 */
int cdt_config_copy_fits(const char *damaged, size_t len, const struct cdt_config *copy,
			 struct strbuf *why);

const char *cdt_store_path(const struct cdt_store *s);
/* "objects", "packs", ...: the name of one part of the store. */
const char *cdt_store_dir_name(enum cdt_store_dir d);

/*
 * A store read from elsewhere (a URL) is opened as a local cache store
 * that holds what was fetched (Documentation/technical/remote.md). Its
 * directory has the store layout; a whole file it lacks (a manifest, a
 * loose object) is fetched through `fetch`, which puts it in place and
 * returns 0, or -ENOENT when the remote store has none either, or
 * another -errno with a one-line reason naming the URL in why, for the
 * caller to give as the cause of its own error (why NULL: reported).
 * Pack data is filled through the pack module's own hook
 * (cdt_pack_set_filler()), which reports the same way.
 */
struct cdt_store_remote {
	const char *url;
	int (*fetch)(struct cdt_store *s, enum cdt_store_dir d, const char *path,
		     struct strbuf *why, void *data);
	/*
	 * Local data that may hold a chunk (--seed), asked before the cache
	 * and the remote store: 0 with the chunk's bytes checked against its
	 * id, or -ENOENT. NULL: none.
	 */
	int (*seed)(const struct cdt_id *id, uint32_t want_len, unsigned char *out,
		    uint32_t *len, void *data);
	/*
	 * A chunk could not be read from the packs listed: list them again
	 * if a pack was found gone from the server (a gc there). 0 when they
	 * were listed again since (by this call or another thread's), so
	 * that reading again may help; -EAGAIN when no pack went (reading
	 * again would fail the same way); else -errno, said as a warning.
	 */
	int (*refresh)(struct cdt_store *s, void *data);
	void *data;
};
void cdt_store_set_remote(struct cdt_store *s, const struct cdt_store_remote *r);
/* The URL of the remote store this is a cache of, or NULL for a local store. */
const char *cdt_store_remote_url(const struct cdt_store *s);
/*
 * Fetch the file `path` of part d into the cache: 0, -ENOENT (local
 * store, or none there) or -errno, its reason in why (NULL: reported).
 */
int cdt_store_fetch(struct cdt_store *s, enum cdt_store_dir d, const char *path,
		    struct strbuf *why);
/* List a remote store's packs again (see cdt_store_remote): 0, -ENOENT (local store) or -errno. */
int cdt_store_refresh_remote(struct cdt_store *s);
/* Read a chunk from the seeds of a remote store: 0, or -ENOENT (no seed has it, or no seeds). */
int cdt_store_seed_read(struct cdt_store *s, const struct cdt_id *id, uint32_t want_len,
			unsigned char *out, uint32_t *len);
/* How the store is shared, from the mode its directory had when opened. */
enum cdt_store_sharing cdt_store_sharing(const struct cdt_store *s);
/*
 * The permission bits of the store's directory when it was opened, for
 * telling whether users outside its owner and group can get in (o+x).
 */
unsigned cdt_store_mode(const struct cdt_store *s);
const struct cdt_config *cdt_store_config(const struct cdt_store *s);
/*
 * Replace the store's config with cfg (gc --recompress: a store of an
 * older format takes the current one), atomically and durably: temporary
 * file, fsync, rename, directory fsync. The chunker and store id may not
 * change, since every id depends on the first. Call it before anything
 * sized by the config (readers, the pack set) is made. 0 or -errno
 * (reported).
 */
int cdt_store_set_config(struct cdt_store *s, const struct cdt_config *cfg);
const struct cdt_chunker *cdt_store_chunker(const struct cdt_store *s);
/*
 * The most raw bytes a frame of this store can hold (its frame size plus
 * one largest chunk: a frame is closed once it reaches the size), or 0
 * when the store keeps chunks alone; in salvage mode the hard maximum.
 */
uint64_t cdt_store_frame_max(const struct cdt_store *s);
/* A compressor with the store's codec and level (one per thread; free it). */
struct cdt_compressor *cdt_store_compressor_new(const struct cdt_store *s);
/* The same at `level` of the store's codec (0: the store's level). */
struct cdt_compressor *cdt_store_compressor_at(const struct cdt_store *s, int level);
/* Directory fd of one part of the store, valid until close. */
int cdt_store_dirfd(const struct cdt_store *s, enum cdt_store_dir d);
/* Directory fd of the store itself. */
int cdt_store_rootfd(const struct cdt_store *s);
/*
 * Is the directory `dirfd` the store's own directory or one under it?
 * Commands that write files where the user says (cat -o, restore) refuse
 * such a place: what they wrote would replace the store's own files.
 */
int cdt_store_holds_dir(const struct cdt_store *s, int dirfd);

enum cdt_lock_mode {
	CDT_LOCK_SHARED = 1,	/* writers that only add: add */
	CDT_LOCK_EXCLUSIVE = 2,	/* writers that remove or replace: rm, gc, repair */
};
/*
 * Take the store's writer lock, waiting (with one message on stderr) while
 * another process holds a conflicting one. The kernel drops the lock when
 * its holder exits, however it exits, so a killed writer never leaves a
 * stale lock. Returns 0 or -errno.
 */
int cdt_store_lock(struct cdt_store *s, enum cdt_lock_mode mode);
/* The same without waiting: 0, -EWOULDBLOCK (held by another; nothing said) or -errno (reported). */
int cdt_store_trylock(struct cdt_store *s, enum cdt_lock_mode mode);
void cdt_store_unlock(struct cdt_store *s);

/*
 * State that a module above keeps per open store (the pack set), held here
 * without the store knowing its type. The first call with a given `key`
 * (the address of something of the caller's) makes it with make(s);
 * every later one returns the same pointer. cdt_store_close() frees it
 * with drop(). Safe to call from several threads. Returns the state.
 */
void *cdt_store_state(struct cdt_store *s, const void *key, void *(*make)(struct cdt_store *s),
		      void (*drop)(void *state));

/*
 * The one walk over tmp/: fn gets each entry (a file, or a directory with
 * everything in it) and the bytes it holds. While no writer holds the lock,
 * every one is garbage; fsck reports, gc removes and stats counts from
 * this walk. A non-zero return stops it and is returned; -errno if tmp/
 * cannot be listed.
 */
typedef int (*cdt_tmp_fn)(const char *name, int is_dir, uint64_t bytes, void *data);
int cdt_tmp_walk(struct cdt_store *s, cdt_tmp_fn fn, void *data);
/* Remove entry `name` of tmp/, with everything in it. 0 or -errno. */
int cdt_tmp_remove(struct cdt_store *s, const char *name);

/* Make everything written to the store's file system so far durable. */
int cdt_store_sync(struct cdt_store *s);

#endif
