/* cid.h: content ids: the id a store gives a file's bytes (SHA-256 of them, or the tree id of format 3). */
#ifndef CDT_CID_H
#define CDT_CID_H

#include <stddef.h>
#include <stdint.h>
#include "base/hash.h"

/*
 * A store names every content with one function, fixed by its format
 * (store-format.md, "Content ids"):
 *
 *   CDT_CID_SHA256  formats 1 and 2: the SHA-256 of the bytes;
 *   CDT_CID_TREE    format 3: the bytes cut into CDT_CID_LEAF pieces
 *                   (an empty file is one empty piece), leaf hashes
 *                   H(0x00 || piece), nodes H(0x01 || left || right) over
 *                   them as RFC 6962's Merkle tree hash, and the id
 *                   H("cdt-tree-1" || u64le(size) || root).
 *
 * A tree id takes a run of zeros a whole leaf at a time without hashing
 * them (cdt_cid_zeros()), and its leaves can be hashed anywhere
 * (cdt_cid_leaves()); both give exactly the id of the bytes.
 */
enum cdt_cid_kind { CDT_CID_SHA256, CDT_CID_TREE };
#define CDT_CID_LEAF (1u << 20)

struct cdt_cid;
struct cdt_cid *cdt_cid_new(enum cdt_cid_kind kind);
enum cdt_cid_kind cdt_cid_kind(const struct cdt_cid *c);
/* Start again on new content. */
void cdt_cid_reset(struct cdt_cid *c);
void cdt_cid_update(struct cdt_cid *c, const void *data, size_t len);
/* n zero bytes: the same as feeding them, without hashing whole leaves of them. */
void cdt_cid_zeros(struct cdt_cid *c, uint64_t n);
/* The bytes fed so far. */
uint64_t cdt_cid_size(const struct cdt_cid *c);
/*
 * Tree ids, where the content fed so far ends on a leaf boundary: n whole
 * leaves whose hashes (cdt_cid_leaf_hash()) were computed elsewhere, e.g.
 * by worker threads; len is their bytes (n leaves, the last of which may
 * be short only if no byte follows it).
 */
void cdt_cid_leaves(struct cdt_cid *c, const struct cdt_id *hashes, size_t n, uint64_t len);
/* A leaf's hash: H(0x00 || piece), piece at most CDT_CID_LEAF bytes. Thread-safe. */
void cdt_cid_leaf_hash(const void *piece, size_t len, struct cdt_id *out);
/* The id of everything fed; then the state is reset. */
void cdt_cid_final(struct cdt_cid *c, struct cdt_id *out);
void cdt_cid_free(struct cdt_cid *c);

/* The id of a buffer, in one call. */
void cdt_cid_buf(enum cdt_cid_kind kind, const void *data, size_t len, struct cdt_id *out);

#endif
