/* hash.h: SHA-256 content ids (OpenSSL EVP) and their hex form. */
#ifndef CDT_HASH_H
#define CDT_HASH_H

#include <stddef.h>
#include <string.h>

#define CDT_ID_LEN 32
#define CDT_ID_HEXLEN 64

/* A content id: the SHA-256 of a chunk's or a whole file's bytes. */
struct cdt_id {
	unsigned char b[CDT_ID_LEN];
};

static inline int cdt_id_cmp(const struct cdt_id *a, const struct cdt_id *b)
{
	return memcmp(a->b, b->b, CDT_ID_LEN);
}

static inline int cdt_id_is_zero(const struct cdt_id *a)
{
	static const struct cdt_id zero;

	return !memcmp(a->b, zero.b, sizeof(zero.b));
}

static inline int cdt_id_eq(const struct cdt_id *a, const struct cdt_id *b)
{
	return !memcmp(a->b, b->b, CDT_ID_LEN);
}

/* One-shot SHA-256 of a buffer; safe to call from several threads. */
void cdt_hash(const void *data, size_t len, struct cdt_id *out);

/* Free the calling thread's cached context (call before a worker thread exits). */
void cdt_hash_thread_cleanup(void);

/* Incremental SHA-256. */
struct cdt_hasher;
struct cdt_hasher *cdt_hasher_new(void);
void cdt_hasher_reset(struct cdt_hasher *h);
void cdt_hasher_update(struct cdt_hasher *h, const void *data, size_t len);
void cdt_hasher_final(struct cdt_hasher *h, struct cdt_id *out);
void cdt_hasher_free(struct cdt_hasher *h);

/* Hex conversion; buf holds CDT_ID_HEXLEN + 1 bytes. */
char *cdt_id_to_hex(const struct cdt_id *id, char *buf);
/* Fan-out path of an id: "XX/<62 hex>" (buf holds CDT_ID_HEXLEN + 2 bytes). */
char *cdt_id_path(const struct cdt_id *id, char *buf);
/* Parse exactly 64 lower- or upper-case hex digits; 0 or -EINVAL. */
int cdt_id_from_hex(const char *hex, struct cdt_id *out);
/* Is s exactly len lower-case hex digits (how ids and their parts are named on disk)? */
int cdt_is_hex(const char *s, size_t len);
/* Parse a hex string of len digits into len/2 bytes; 0 or -EINVAL. */
int hex_to_bytes(const char *hex, size_t len, unsigned char *out);

#endif
