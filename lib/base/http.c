/* http.c: HTTP(S) GETs of whole objects and byte ranges, with retries and a stall timeout (libcurl). */
#include "base/http.h"
#include "base/strbuf.h"
#include "base/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int cdt_http_is_url(const char *s)
{
	return s && (!strncmp(s, "https://", 8) || !strncmp(s, "http://", 7));
}

#ifndef CDT_HAVE_CURL

int cdt_http_available(void)
{
	return 0;
}

int cdt_http_get(const char *url, uint64_t off, uint64_t len, size_t max, struct strbuf *out,
		 struct strbuf *why)
{
	strbuf_addf(why, "cannot read '%s': this cdt was built without remote stores (libcurl)",
		    url);
	return -ENOTSUP;
}

void cdt_http_counters(uint64_t *requests, uint64_t *bytes)
{
	*requests = 0;
	*bytes = 0;
}

void cdt_http_cleanup(void)
{
}

#else

#include <curl/curl.h>
#include <pthread.h>
#include <time.h>

/* Attempts per GET, and the pause before each retry (seconds). */
#define ATTEMPTS 3
static const double backoff[ATTEMPTS] = { 0, 0.25, 1.0 };

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static CURL **pool;
static size_t npool, apool;
static uint64_t n_requests, n_bytes;
static long stall_seconds = 30;
static const char *ca_bundle;
static int init_failed;

static void init_curl(void)
{
	const char *t = getenv("CDT_HTTP_TIMEOUT");

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		init_failed = 1;
	if (t && *t) {
		char *end;
		long v = strtol(t, &end, 10);

		if (!*end && v > 0 && v <= 3600)
			stall_seconds = v;
	}
	ca_bundle = getenv("CDT_CA_BUNDLE");
	if (!ca_bundle || !*ca_bundle)
		ca_bundle = getenv("CURL_CA_BUNDLE");
	if (!ca_bundle || !*ca_bundle)
		ca_bundle = getenv("SSL_CERT_FILE");
	if (ca_bundle && !*ca_bundle)
		ca_bundle = NULL;
}

int cdt_http_available(void)
{
	return 1;
}

static CURL *take_handle(void)
{
	CURL *c = NULL;

	pthread_mutex_lock(&pool_mu);
	if (npool)
		c = pool[--npool];
	pthread_mutex_unlock(&pool_mu);
	if (c)
		return c;
	c = curl_easy_init();
	if (!c)
		return NULL;
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, stall_seconds);
	/* Less than a byte a second for the stall time: the server is gone. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, stall_seconds);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "cdt/" CDT_VERSION);
	if (ca_bundle)
		curl_easy_setopt(c, CURLOPT_CAINFO, ca_bundle);
	return c;
}

static void give_handle(CURL *c)
{
	pthread_mutex_lock(&pool_mu);
	ALLOC_GROW(pool, npool + 1, apool);
	pool[npool++] = c;
	pthread_mutex_unlock(&pool_mu);
}

void cdt_http_cleanup(void)
{
	size_t i;

	pthread_mutex_lock(&pool_mu);
	for (i = 0; i < npool; i++)
		curl_easy_cleanup(pool[i]);
	free(pool);
	pool = NULL;
	npool = apool = 0;
	pthread_mutex_unlock(&pool_mu);
}

void cdt_http_counters(uint64_t *requests, uint64_t *bytes)
{
	pthread_mutex_lock(&pool_mu);
	*requests = n_requests;
	*bytes = n_bytes;
	pthread_mutex_unlock(&pool_mu);
}

struct transfer {
	struct strbuf *out;
	size_t cap;		/* the most body bytes accepted */
	int too_long;
	int have_range;		/* a Content-Range header was seen */
	uint64_t range_start, range_end;
};

static size_t on_body(char *p, size_t size, size_t n, void *data)
{
	struct transfer *t = data;
	size_t len = size * n;

	if (len > t->cap - t->out->len) {
		t->too_long = 1;
		return 0;	/* aborts the transfer */
	}
	strbuf_add(t->out, p, len);
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *data)
{
	struct transfer *t = data;
	size_t len = size * n;
	unsigned long long a, b;
	char line[256];

	if (len >= sizeof(line))
		return len;
	memcpy(line, p, len);
	line[len] = '\0';
	/* A new reply (after a redirect or a 100) starts over. */
	if (!strncmp(line, "HTTP/", 5))
		t->have_range = 0;
	if (!strncasecmp(line, "content-range:", 14) &&
	    sscanf(line + 14, " bytes %llu-%llu/", &a, &b) == 2) {
		t->have_range = 1;
		t->range_start = a;
		t->range_end = b;
	}
	return len;
}

static void pause_seconds(double s)
{
	struct timespec ts;

	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One attempt. 0, or -errno with the reason in why; *retry says whether another try may help. */
static int get_once(CURL *c, const char *url, uint64_t off, uint64_t len, size_t max,
		    struct strbuf *out, struct strbuf *why, int *retry)
{
	struct transfer t = { out, len ? (size_t)len : max, 0, 0, 0, 0 };
	char errbuf[CURL_ERROR_SIZE] = "", range[64];
	long status = 0;
	CURLcode rc;

	*retry = 0;
	strbuf_reset(out);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	if (len) {
		snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)off,
			 (unsigned long long)(off + len - 1));
		curl_easy_setopt(c, CURLOPT_RANGE, range);
	} else {
		curl_easy_setopt(c, CURLOPT_RANGE, NULL);
	}
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	pthread_mutex_lock(&pool_mu);
	n_requests++;
	n_bytes += out->len;
	pthread_mutex_unlock(&pool_mu);

	if (rc == CURLE_WRITE_ERROR && t.too_long) {
		if (len)
			strbuf_addf(why, "GET %s: the server sent more than the %llu bytes asked for",
				    url, (unsigned long long)len);
		else
			strbuf_addf(why, "GET %s: larger than %zu bytes", url, max);
		return -EIO;
	}
	if (rc != CURLE_OK) {
		switch (rc) {
		case CURLE_OPERATION_TIMEDOUT:
			strbuf_addf(why, "GET %s: no reply for %ld s (server stalled?)", url,
				    stall_seconds);
			break;
		case CURLE_PARTIAL_FILE:
			strbuf_addf(why, "GET %s: reply cut short (%zu bytes received)", url,
				    out->len);
			break;
		default:
			strbuf_addf(why, "GET %s: %s", url, *errbuf ? errbuf : curl_easy_strerror(rc));
		}
		*retry = rc != CURLE_PEER_FAILED_VERIFICATION && rc != CURLE_SSL_CACERT_BADFILE &&
			 rc != CURLE_UNSUPPORTED_PROTOCOL && rc != CURLE_URL_MALFORMAT &&
			 rc != CURLE_SSL_CERTPROBLEM;
		return -EIO;
	}
	if (status == 404 || status == 410) {
		strbuf_addf(why, "GET %s: not found (HTTP %ld)", url, status);
		return -ENOENT;
	}
	if (status == 401 || status == 403) {
		strbuf_addf(why, "GET %s: access denied (HTTP %ld)", url, status);
		return -EACCES;
	}
	if (status >= 500 || status == 429) {
		strbuf_addf(why, "GET %s: server error (HTTP %ld)", url, status);
		*retry = 1;
		return -EIO;
	}
	if (len) {
		if (status != 206 || !t.have_range || t.range_start != off ||
		    t.range_end != off + len - 1) {
			strbuf_addf(why, "GET %s: the server did not send bytes %s (HTTP %ld)", url,
				    range, status);
			return -EIO;
		}
		if (out->len != len) {
			strbuf_addf(why, "GET %s: reply cut short (%zu of %llu bytes)", url, out->len,
				    (unsigned long long)len);
			*retry = 1;
			return -EIO;
		}
	} else if (status != 200) {
		strbuf_addf(why, "GET %s: unexpected reply (HTTP %ld)", url, status);
		return -EIO;
	}
	return 0;
}

int cdt_http_get(const char *url, uint64_t off, uint64_t len, size_t max, struct strbuf *out,
		 struct strbuf *why)
{
	struct strbuf last = STRBUF_INIT;
	int ret = -EIO, retry = 0, i;
	CURL *c;

	pthread_once(&init_once, init_curl);
	if (init_failed || !(c = take_handle())) {
		strbuf_addf(why, "GET %s: cannot start libcurl", url);
		return -EIO;
	}
	for (i = 0; i < ATTEMPTS; i++) {
		if (i)
			pause_seconds(backoff[i]);
		strbuf_reset(&last);
		ret = get_once(c, url, off, len, max, out, &last, &retry);
		if (!ret || !retry)
			break;
	}
	if (ret) {
		strbuf_addbuf(why, &last);
		if (retry)
			strbuf_addf(why, " (tried %d times)", ATTEMPTS);
		strbuf_reset(out);
	}
	strbuf_release(&last);
	give_handle(c);
	return ret;
}

#endif
