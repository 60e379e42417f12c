/* cid.c: content ids: the id a store gives a file's bytes (SHA-256 of them, or the tree id of format 3). */
#include "base/cid.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

/* Perfect subtrees of 2^height leaves, largest first: at most one per height. */
#define MAX_HEIGHT 64

struct cdt_cid {
	enum cdt_cid_kind kind;
	struct cdt_hasher *h;	/* SHA-256: the bytes; tree: the open leaf */
	uint64_t size;		/* bytes hashed (or known as whole zero leaves) */
	/* tree */
	uint64_t pending_zeros;	/* zeros given, not yet hashed: runs join up across calls */
	uint32_t leaf_fill;	/* bytes in the open leaf */
	int leaf_open;		/* the open leaf's 0x00 is fed */
	struct {
		unsigned height;
		struct cdt_id hash;
	} stack[MAX_HEIGHT + 1];
	unsigned depth;
	int have_z0;
	struct cdt_id z0;	/* the hash of a leaf of zeros */
};

static const unsigned char zero_block[65536];

struct cdt_cid *cdt_cid_new(enum cdt_cid_kind kind)
{
	struct cdt_cid *c = xcalloc(1, sizeof(*c));

	c->kind = kind;
	c->h = cdt_hasher_new();
	return c;
}

enum cdt_cid_kind cdt_cid_kind(const struct cdt_cid *c)
{
	return c->kind;
}

void cdt_cid_reset(struct cdt_cid *c)
{
	cdt_hasher_reset(c->h);
	c->size = 0;
	c->pending_zeros = 0;
	c->leaf_fill = 0;
	c->leaf_open = 0;
	c->depth = 0;
}

uint64_t cdt_cid_size(const struct cdt_cid *c)
{
	return c->size + c->pending_zeros;
}

static void node_hash(const struct cdt_id *l, const struct cdt_id *r, struct cdt_id *out)
{
	unsigned char buf[1 + 2 * CDT_ID_LEN];

	buf[0] = 0x01;
	memcpy(buf + 1, l->b, CDT_ID_LEN);
	memcpy(buf + 1 + CDT_ID_LEN, r->b, CDT_ID_LEN);
	cdt_hash(buf, sizeof(buf), out);
}

/* Add a leaf's hash, joining subtrees of equal height as they complete. */
static void push_leaf(struct cdt_cid *c, const struct cdt_id *leaf)
{
	c->stack[c->depth].height = 0;
	c->stack[c->depth].hash = *leaf;
	c->depth++;
	while (c->depth >= 2 && c->stack[c->depth - 1].height == c->stack[c->depth - 2].height) {
		struct cdt_id joined;

		node_hash(&c->stack[c->depth - 2].hash, &c->stack[c->depth - 1].hash, &joined);
		c->depth--;
		c->stack[c->depth - 1].hash = joined;
		c->stack[c->depth - 1].height++;
	}
}

static void close_leaf(struct cdt_cid *c)
{
	struct cdt_id leaf;

	if (!c->leaf_open) {
		static const unsigned char tag = 0x00;

		cdt_hasher_update(c->h, &tag, 1);
	}
	cdt_hasher_final(c->h, &leaf);
	push_leaf(c, &leaf);
	c->leaf_fill = 0;
	c->leaf_open = 0;
}

void cdt_cid_leaf_hash(const void *piece, size_t len, struct cdt_id *out)
{
	struct cdt_hasher *h = cdt_hasher_new();
	static const unsigned char tag = 0x00;

	cdt_hasher_update(h, &tag, 1);
	cdt_hasher_update(h, piece, len);
	cdt_hasher_final(h, out);
	cdt_hasher_free(h);
}

static void flush_zeros(struct cdt_cid *c);

static void update(struct cdt_cid *c, const void *data, size_t len)
{
	const unsigned char *p = data;

	c->size += len;
	if (c->kind == CDT_CID_SHA256) {
		cdt_hasher_update(c->h, data, len);
		return;
	}
	while (len) {
		size_t take = CDT_CID_LEAF - c->leaf_fill;

		if (take > len)
			take = len;
		if (!c->leaf_open) {
			static const unsigned char tag = 0x00;

			cdt_hasher_update(c->h, &tag, 1);
			c->leaf_open = 1;
		}
		cdt_hasher_update(c->h, p, take);
		c->leaf_fill += (uint32_t)take;
		p += take;
		len -= take;
		if (c->leaf_fill == CDT_CID_LEAF)
			close_leaf(c);
	}
}

static void feed_zeros(struct cdt_cid *c, uint64_t n)
{
	while (n) {
		size_t take = n < sizeof(zero_block) ? (size_t)n : sizeof(zero_block);

		update(c, zero_block, take);
		n -= take;
	}
}

/* Hash the zeros given so far: the open leaf's share, whole leaves by their known hash, the rest. */
static void flush_zeros(struct cdt_cid *c)
{
	uint64_t n = c->pending_zeros, head;

	c->pending_zeros = 0;
	if (n < CDT_CID_LEAF) {
		feed_zeros(c, n);
		return;
	}
	head = c->leaf_fill ? CDT_CID_LEAF - c->leaf_fill : 0;
	feed_zeros(c, head);
	n -= head;
	if (n >= CDT_CID_LEAF && !c->have_z0) {
		struct cdt_hasher *h = c->h;
		static const unsigned char tag = 0x00;
		uint32_t i;

		cdt_hasher_update(h, &tag, 1);
		for (i = 0; i < CDT_CID_LEAF / sizeof(zero_block); i++)
			cdt_hasher_update(h, zero_block, sizeof(zero_block));
		cdt_hasher_final(h, &c->z0);
		c->have_z0 = 1;
	}
	while (n >= CDT_CID_LEAF) {
		push_leaf(c, &c->z0);
		c->size += CDT_CID_LEAF;
		n -= CDT_CID_LEAF;
	}
	feed_zeros(c, n);
}

void cdt_cid_update(struct cdt_cid *c, const void *data, size_t len)
{
	if (c->pending_zeros)
		flush_zeros(c);
	update(c, data, len);
}

void cdt_cid_zeros(struct cdt_cid *c, uint64_t n)
{
	if (c->kind == CDT_CID_SHA256)
		feed_zeros(c, n);
	else
		c->pending_zeros += n;
}

void cdt_cid_leaves(struct cdt_cid *c, const struct cdt_id *hashes, size_t n, uint64_t len)
{
	size_t i;

	if (c->pending_zeros)
		flush_zeros(c);
	if (c->kind != CDT_CID_TREE || c->leaf_fill || c->leaf_open)
		die("cdt_cid_leaves: not a tree id at a leaf boundary");
	for (i = 0; i < n; i++)
		push_leaf(c, &hashes[i]);
	c->size += len;
}

void cdt_cid_final(struct cdt_cid *c, struct cdt_id *out)
{
	unsigned char buf[10 + 8 + CDT_ID_LEN];
	struct cdt_id root;
	unsigned i;

	if (c->kind == CDT_CID_SHA256) {
		cdt_hasher_final(c->h, out);
		cdt_cid_reset(c);
		return;
	}
	if (c->pending_zeros)
		flush_zeros(c);
	/* The last leaf, short or empty (an empty file is one empty leaf). */
	if (c->leaf_open || !c->depth)
		close_leaf(c);
	/* RFC 6962: every left subtree is the largest perfect one; fold from the right. */
	root = c->stack[c->depth - 1].hash;
	for (i = c->depth - 1; i-- > 0;)
		node_hash(&c->stack[i].hash, &root, &root);
	memcpy(buf, "cdt-tree-1", 10);
	put_le64(buf + 10, c->size);
	memcpy(buf + 18, root.b, CDT_ID_LEN);
	cdt_hash(buf, sizeof(buf), out);
	cdt_cid_reset(c);
}

void cdt_cid_free(struct cdt_cid *c)
{
	if (!c)
		return;
	cdt_hasher_free(c->h);
	free(c);
}

void cdt_cid_buf(enum cdt_cid_kind kind, const void *data, size_t len, struct cdt_id *out)
{
	struct cdt_cid *c = cdt_cid_new(kind);

	cdt_cid_update(c, data, len);
	cdt_cid_final(c, out);
	cdt_cid_free(c);
}
