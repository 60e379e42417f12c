/* hash.c: SHA-256 through OpenSSL's EVP interface. */
#include "base/hash.h"
#include "base/util.h"

#include <errno.h>
#include <pthread.h>
#include <openssl/evp.h>

struct cdt_hasher {
	EVP_MD_CTX *ctx;
};

static EVP_MD *fetched_md;
static pthread_once_t fetched_once = PTHREAD_ONCE_INIT;

static void fetch_md(void)
{
	fetched_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256_md(void)
{
	/*
	 * OpenSSL 3 looks the implementation of EVP_sha256() up in its
	 * providers at every EVP_DigestInit_ex() (a locked fetch): for the
	 * small things add hashes by the thousand (entries, manifests,
	 * chunks of small files) that cost more than the hash. Fetched once,
	 * it is used as it is. (OpenSSL 1.1 has no providers: its method.)
	 */
	pthread_once(&fetched_once, fetch_md);
	return fetched_md ? fetched_md : EVP_sha256();
}

struct cdt_hasher *cdt_hasher_new(void)
{
	struct cdt_hasher *h = xmalloc(sizeof(*h));

	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx)
		die("cannot allocate a SHA-256 context");
	cdt_hasher_reset(h);
	return h;
}

void cdt_hasher_reset(struct cdt_hasher *h)
{
	if (EVP_DigestInit_ex(h->ctx, sha256_md(), NULL) != 1)
		die("SHA-256 initialisation failed");
}

void cdt_hasher_update(struct cdt_hasher *h, const void *data, size_t len)
{
	if (len && EVP_DigestUpdate(h->ctx, data, len) != 1)
		die("SHA-256 update failed");
}

void cdt_hasher_final(struct cdt_hasher *h, struct cdt_id *out)
{
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(h->ctx, out->b, &n) != 1 || n != CDT_ID_LEN)
		die("SHA-256 finalisation failed");
	cdt_hasher_reset(h);
}

void cdt_hasher_free(struct cdt_hasher *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

/* One context per thread, created on first use and reused: a fresh context per chunk costs more than hashing a small chunk. */
static _Thread_local EVP_MD_CTX *thread_ctx;

void cdt_hash(const void *data, size_t len, struct cdt_id *out)
{
	unsigned int n = 0;

	if (!thread_ctx) {
		thread_ctx = EVP_MD_CTX_new();
		if (!thread_ctx)
			die("cannot allocate a SHA-256 context");
	}
	if (EVP_DigestInit_ex(thread_ctx, sha256_md(), NULL) != 1 ||
	    (len && EVP_DigestUpdate(thread_ctx, data, len) != 1) ||
	    EVP_DigestFinal_ex(thread_ctx, out->b, &n) != 1 || n != CDT_ID_LEN)
		die("SHA-256 failed");
}

void cdt_hash_thread_cleanup(void)
{
	EVP_MD_CTX_free(thread_ctx);
	thread_ctx = NULL;
}

char *cdt_id_to_hex(const struct cdt_id *id, char *buf)
{
	static const char digits[] = "0123456789abcdef";
	int i;

	for (i = 0; i < CDT_ID_LEN; i++) {
		buf[2 * i] = digits[id->b[i] >> 4];
		buf[2 * i + 1] = digits[id->b[i] & 15];
	}
	buf[CDT_ID_HEXLEN] = '\0';
	return buf;
}

char *cdt_id_path(const struct cdt_id *id, char *buf)
{
	char hex[CDT_ID_HEXLEN + 1];

	cdt_id_to_hex(id, hex);
	memcpy(buf, hex, 2);
	buf[2] = '/';
	memcpy(buf + 3, hex + 2, CDT_ID_HEXLEN - 2 + 1);
	return buf;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_to_bytes(const char *hex, size_t len, unsigned char *out)
{
	size_t i;

	if (len % 2)
		return -EINVAL;
	for (i = 0; i < len; i += 2) {
		int hi = hexval(hex[i]), lo;

		if (hi < 0)
			return -EINVAL;
		lo = hexval(hex[i + 1]);
		if (lo < 0)
			return -EINVAL;
		out[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

int cdt_is_hex(const char *s, size_t len)
{
	return strlen(s) == len && strspn(s, "0123456789abcdef") == len;
}

int cdt_id_from_hex(const char *hex, struct cdt_id *out)
{
	if (strlen(hex) != CDT_ID_HEXLEN)
		return -EINVAL;
	return hex_to_bytes(hex, CDT_ID_HEXLEN, out->b);
}
