/* http.h: HTTP(S) GETs of whole objects and byte ranges, with retries and a stall timeout (libcurl). */
#ifndef CDT_HTTP_H
#define CDT_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct strbuf;

/* Is this a URL cdt reads over HTTP ("http://" or "https://")? */
int cdt_http_is_url(const char *s);

/*
 * 1 when remote requests can be made: built with libcurl, and libcurl loads
 * (it is loaded here, at first use, not at start). Else 0, with the reason
 * appended to why; every request then fails.
 */
int cdt_http_available(struct strbuf *why);

/*
 * GET url into out (appended to; out is reset first). With len 0 the whole
 * object, which must be at most max bytes; else exactly the bytes
 * [off, off + len), which the server must send as that range (206) and in
 * full. Over https:// HTTP/2 is used when the server offers it (ALPN).
 *
 * 5xx replies, resets and timeouts are retried a few times with backoff;
 * a transfer that moves less than 1 KiB a second for the stall time
 * (CDT_HTTP_TIMEOUT seconds, default 30) fails. Returns 0, -ENOENT (404/410), -EACCES
 * (401/403), -ENOTSUP (built without libcurl) or -EIO, with a one-line
 * reason naming the URL in why.
 *
 * The certificates trusted are the system's, or those in the file named
 * by $CDT_CA_BUNDLE (else $CURL_CA_BUNDLE, else $SSL_CERT_FILE).
 * Thread-safe: handles (and their connections) come from a pool.
 */
int cdt_http_get(const char *url, uint64_t off, uint64_t len, size_t max, struct strbuf *out,
		 struct strbuf *why);

/*
 * GET the whole object at url into the file fd, written from its start
 * (truncated first, and again before a retry): for files too large to
 * hold in memory. At most max bytes (a larger reply is refused as soon as
 * its Content-Length or its body says so). Returns as cdt_http_get();
 * the bytes received are the file's size.
 */
int cdt_http_get_file(const char *url, uint64_t max, int fd, struct strbuf *why);

/*
 * Sign every request to a URL that starts with `base` for S3 (AWS
 * Signature Version 4, service "s3", with the payload's SHA-256 in
 * x-amz-content-sha256), with these credentials (token may be NULL).
 * One signer per process; the strings are copied.
 */
void cdt_http_sign_s3(const char *base, const char *region, const char *key,
		      const char *secret, const char *token);

/*
 * PUT url with a body: buf[0..size) when buf is not NULL, else size bytes
 * of the file fd from its start. With create_only the PUT only creates
 * (If-None-Match: *): an object already there is left as it is and 1 is
 * returned. Retried as GETs are. 0, 1, or -errno with a one-line reason
 * (naming the URL and, from an S3 error reply, its code) in why.
 */
int cdt_http_put(const char *url, const void *buf, int fd, uint64_t size, int create_only,
		 struct strbuf *why);

/* The bytes and requests GET has moved in this process (for -v summaries). */
void cdt_http_counters(uint64_t *requests, uint64_t *bytes);

/* Free the pooled handles (at exit; harmless if nothing was fetched). */
void cdt_http_cleanup(void);

#endif
