/* mpack.h: manifest packs, the manifests of one batch of an add in one file. */
#ifndef CDT_MPACK_H
#define CDT_MPACK_H

#include <stddef.h>
#include <stdint.h>
#include "base/hash.h"
#include "base/strbuf.h"

/*
 * A first store of many small files creates an inode for each new
 * content's manifest; a manifest pack holds the manifests of a batch in
 * one file (Documentation/technical/peers.md, "Manifests alone"):
 *
 *   "CDTK" version(1)=1 reserved(3)=0 count n (LE64)
 *   the n manifests, each byte for byte its loose file (manifest.h)
 *   n x { content id (32), offset (LE64), length (LE64) }, sorted by id
 *   offset of that table (LE64)
 *   checksum (32): SHA-256 of every byte before it; the file is
 *     pack-<64 hex of it>.mpack
 *
 * Each manifest keeps its own checksum and names its content id, so a
 * reader checks the shape of the table when it opens a pack and each
 * manifest as it reads it (as a loose one); the checksum of the whole is
 * fsck's to check (cdt_mpack_verify()).
 */
#define CDT_MPACK_MAGIC "CDTK"
#define CDT_MPACK_VERSION 1
#define CDT_MPACK_HDR 16
#define CDT_MPACK_REC 48
#define CDT_MPACK_TRAILER (8 + CDT_ID_LEN)
/* Manifests one pack may hold (a batch holds far fewer). */
#define CDT_MPACK_MAX_ENTRIES (1u << 24)
/*
 * The longest manifest a pack holds: one of at most 1024 chunks, which a
 * reader takes whole (longer ones stay loose files).
 */
#define CDT_MPACK_MANIFEST_MAX (8 + 1024 * 40 + 80)
/* Where the packs are: manifests/pack/ (a fan-out walk of manifests/ passes over it). */
#define CDT_MPACK_DIR "pack"

/* A mapped manifest pack whose table was checked. */
struct cdt_mpack {
	const unsigned char *map;
	size_t len;
	uint64_t count;
	const unsigned char *table;
};

/*
 * Map dirfd/name and check its shape: header, length, table offset, ids
 * strictly increasing, each manifest within the body and of a length a
 * manifest can have. 0, -ENOENT, -CDT_ECORRUPT (why says how) or -errno.
 */
int cdt_mpack_open(int dirfd, const char *name, struct cdt_mpack *mp, struct strbuf *why);
/* The same for an open file (a pack fetched, not yet in place). */
int cdt_mpack_open_fd(int fd, struct cdt_mpack *mp, struct strbuf *why);
void cdt_mpack_close(struct cdt_mpack *mp);
/* Where the manifest of content id is in the pack: 1 (offset, length), or 0. */
int cdt_mpack_find(const struct cdt_mpack *mp, const struct cdt_id *id, uint64_t *off,
		   uint64_t *len);
/* Entry i (below count): its content id, offset and length. */
void cdt_mpack_entry(const struct cdt_mpack *mp, uint64_t i, struct cdt_id *id, uint64_t *off,
		     uint64_t *len);
/* The checksum of the whole, and that name is "pack-<it>.mpack": 0 or -CDT_ECORRUPT (why). */
int cdt_mpack_verify(const struct cdt_mpack *mp, const char *name, struct strbuf *why);

/*
 * Does manifest i of the pack end in its own checksum and name its
 * content id (as a manifest fetched whole is checked)? 1 or 0.
 */
int cdt_mpack_manifest_ok(const struct cdt_mpack *mp, uint64_t i);

/* One manifest to pack: its content id and its bytes (a loose manifest's). */
struct cdt_mpack_item {
	struct cdt_id id;
	const unsigned char *bytes;
	size_t len;
};

/*
 * Write the n items (their ids distinct; any order) as a pack: a
 * temporary file in tmpfd, synced when `sync` (else the caller syncs the
 * store before the rename is relied on), renamed to dirfd/pack-<H>.mpack.
 * The name goes to name (at least CDT_MPACK_NAME_MAX bytes). 0 or -errno.
 */
#define CDT_MPACK_NAME_MAX (5 + CDT_ID_HEXLEN + 7)
int cdt_mpack_write(int tmpfd, int dirfd, struct cdt_mpack_item *items, size_t n, int sync,
		    char *name);
/* Is name a manifest pack's ("pack-<64 hex>.mpack")? */
int cdt_mpack_name_ok(const char *name);
/*
 * The same in two steps, for a commit that puts the pack in place only
 * once what its manifests point at is durable: the temporary file written
 * (and synced when `sync`), its writer in *out and its name in name; then
 * cdt_mpack_install() renames it (its directory synced when `sync`) and
 * frees the writer (cdt_csum_file_free() drops a staged pack not wanted).
 */
struct cdt_csum_file;
int cdt_mpack_stage(int tmpfd, struct cdt_mpack_item *items, size_t n, int sync,
		    struct cdt_csum_file **out, char *name);
int cdt_mpack_install(struct cdt_csum_file *f, int dirfd, const char *name, int sync);

struct cdt_store;
/*
 * The manifest of content id from the store's manifest packs (listed
 * again when manifests/pack/ changed): 0 with a copy of its bytes in
 * *bytes (free() it) and their length, -ENOENT when no pack has it, or,
 * when a pack could not be opened (it might have it), its error with why.
 */
int cdt_mpacks_read(struct cdt_store *s, const struct cdt_id *id, unsigned char **bytes,
		    size_t *len, struct strbuf *why);
/*
 * Does a manifest pack that can be read hold content id? 1 or 0. For
 * add's question whether to write a manifest: a pack put in place within
 * the clock tick of the last listing may be missed, and a pack that
 * cannot be opened (damaged) holds nothing (the manifest is then written
 * again), as add's lookups of chunks do; cdt_mpacks_read() lists again
 * before it says -ENOENT.
 */
int cdt_mpacks_has(struct cdt_store *s, const struct cdt_id *id);

/*
 * Every manifest pack in manifests/pack/, in name order: fn gets its name,
 * and the pack opened (err 0) or err with why. A non-zero return from fn
 * stops the walk and is returned; 0 when there is no such directory;
 * -errno if it cannot be listed.
 */
typedef int (*cdt_mpack_fn)(const char *name, const struct cdt_mpack *mp, int err, const char *why,
			    void *data);
int cdt_mpacks_walk(struct cdt_store *s, cdt_mpack_fn fn, void *data);

#endif
