/* http.c: HTTP(S) GETs of whole objects and byte ranges, with retries and a stall timeout (libcurl). */
#include "base/http.h"
#include "base/hash.h"
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

int cdt_http_available(struct strbuf *why)
{
	strbuf_addstr(why, "this cdt was built without remote stores (libcurl)");
	return 0;
}

int cdt_http_get(const char *url, uint64_t off, uint64_t len, size_t max, struct strbuf *out,
		 struct strbuf *why)
{
	strbuf_addf(why, "cannot read '%s': this cdt was built without remote stores (libcurl)",
		    url);
	return -ENOTSUP;
}

int cdt_http_get_file(const char *url, uint64_t max, int fd, struct strbuf *why)
{
	return cdt_http_get(url, 0, 0, 0, NULL, why);
}

void cdt_http_counters(uint64_t *requests, uint64_t *bytes)
{
	*requests = 0;
	*bytes = 0;
}

void cdt_http_cleanup(void)
{
}

void cdt_http_sign_s3(const char *base, const char *region, const char *key,
		      const char *secret, const char *token)
{
}

int cdt_http_put(const char *url, const void *buf, int fd, uint64_t size, int create_only,
		 struct strbuf *why)
{
	strbuf_addf(why, "cannot write '%s': this cdt was built without remote stores (libcurl)",
		    url);
	return -ENOTSUP;
}

#else

#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#ifndef CDT_CURL_SONAME
#define CDT_CURL_SONAME "libcurl.so.4"
#endif

/*
 * libcurl is loaded at the first remote request, not linked: with it come
 * some thirty libraries (TLS, Kerberos, LDAP, SSH, IDN...) whose loading
 * took every cdt command about 35 ms (`cdt --version` 56 ms against 20),
 * paid by every command on a local store for nothing. What cdt calls of
 * it is here, resolved once; there is no dlclose (libcurl keeps global
 * state until exit).
 */
static struct {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *c);
	CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
	const char *(*easy_strerror)(CURLcode code);
	void (*easy_cleanup)(CURL *c);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);
} lc;

/* Attempts per GET, and the pause before each retry (seconds). */
#define ATTEMPTS 3
static const double backoff[ATTEMPTS] = { 0, 0.25, 1.0 };
/* The slowest transfer (bytes a second, over the stall time) taken for one at work. */
#define LOW_SPEED 1024

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static CURL **pool;
static size_t npool, apool;
static uint64_t n_requests, n_bytes;
static long stall_seconds = 30;
/* cdt_http_sign_s3(): requests to URLs under sign_base are signed. */
static char *sign_base, *sign_what, *sign_user, *sign_token;
static const char *ca_bundle;
static int init_failed;
static char init_error[256];

/* Resolve lc from libcurl; on failure init_error says why. */
static int load_curl(void)
{
	static const struct {
		const char *name;
		void *slot;
	} syms[] = {
		{ "curl_global_init", &lc.global_init },
		{ "curl_easy_init", &lc.easy_init },
		{ "curl_easy_setopt", &lc.easy_setopt },
		{ "curl_easy_perform", &lc.easy_perform },
		{ "curl_easy_getinfo", &lc.easy_getinfo },
		{ "curl_easy_strerror", &lc.easy_strerror },
		{ "curl_easy_cleanup", &lc.easy_cleanup },
		{ "curl_slist_append", &lc.slist_append },
		{ "curl_slist_free_all", &lc.slist_free_all },
	};
	void *h = dlopen(CDT_CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	const char *e;
	size_t i;

	if (!h) {
		e = dlerror();
		snprintf(init_error, sizeof(init_error), "cannot load libcurl: %s",
			 e ? e : CDT_CURL_SONAME);
		return -1;
	}
	for (i = 0; i < ARRAY_SIZE(syms); i++) {
		void *f = dlsym(h, syms[i].name);

		if (!f) {
			snprintf(init_error, sizeof(init_error), "cannot load libcurl: %s has no %s",
				 CDT_CURL_SONAME, syms[i].name);
			return -1;
		}
		/* POSIX: a function's address comes back as a void *. */
		memcpy(syms[i].slot, &f, sizeof(f));
	}
	return 0;
}

static void init_curl(void)
{
	const char *t = getenv("CDT_HTTP_TIMEOUT");

	if (load_curl()) {
		init_failed = 1;
		return;
	}
	if (lc.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(init_error, sizeof(init_error), "cannot start libcurl");
		init_failed = 1;
	}
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

int cdt_http_available(struct strbuf *why)
{
	pthread_once(&init_once, init_curl);
	if (init_failed)
		strbuf_addstr(why, init_error);
	return !init_failed;
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
	c = lc.easy_init();
	if (!c)
		return NULL;
	lc.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	lc.easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	lc.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	lc.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	lc.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, stall_seconds);
	/*
	 * Less than LOW_SPEED bytes a second for the stall time: the server is
	 * gone, or trickles (a byte now and then would hold a command forever).
	 */
	lc.easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, (long)LOW_SPEED);
	lc.easy_setopt(c, CURLOPT_LOW_SPEED_TIME, stall_seconds);
	lc.easy_setopt(c, CURLOPT_USERAGENT, "cdt/" CDT_VERSION);
	if (ca_bundle)
		lc.easy_setopt(c, CURLOPT_CAINFO, ca_bundle);
	/* As GIT_CURL_VERBOSE does: every request and reply header on stderr. */
	if (getenv("CDT_HTTP_VERBOSE") && *getenv("CDT_HTTP_VERBOSE"))
		lc.easy_setopt(c, CURLOPT_VERBOSE, 1L);
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
		lc.easy_cleanup(pool[i]);
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

void cdt_http_sign_s3(const char *base, const char *region, const char *key,
		      const char *secret, const char *token)
{
	struct strbuf sb = STRBUF_INIT;

	free(sign_base);
	free(sign_what);
	free(sign_user);
	free(sign_token);
	sign_base = xstrdup(base);
	strbuf_addf(&sb, "aws:amz:%s:s3", region);
	sign_what = strbuf_detach(&sb, NULL);
	strbuf_addf(&sb, "%s:%s", key, secret);
	sign_user = strbuf_detach(&sb, NULL);
	sign_token = token && *token ? xstrdup(token) : NULL;
}

/*
 * Signing and the headers every request carries: the payload hash (S3),
 * the session token, and the caller's extra ones. The list is the caller's
 * to free once the transfer is over.
 */
static struct curl_slist *request_headers(CURL *c, const char *url, const char *payload_sha,
					  const char *extra)
{
	struct curl_slist *h = NULL;
	char line[128];

	if (sign_base && !strncmp(url, sign_base, strlen(sign_base))) {
		lc.easy_setopt(c, CURLOPT_AWS_SIGV4, sign_what);
		lc.easy_setopt(c, CURLOPT_USERPWD, sign_user);
		snprintf(line, sizeof(line), "x-amz-content-sha256: %s",
			 payload_sha ? payload_sha : "UNSIGNED-PAYLOAD");	/* a GET has none */
		h = lc.slist_append(h, line);
		if (sign_token) {
			struct strbuf sb = STRBUF_INIT;

			strbuf_addf(&sb, "x-amz-security-token: %s", sign_token);
			h = lc.slist_append(h, sb.buf);
			strbuf_release(&sb);
		}
	} else {
		lc.easy_setopt(c, CURLOPT_AWS_SIGV4, NULL);
		lc.easy_setopt(c, CURLOPT_USERPWD, NULL);
	}
	if (extra)
		h = lc.slist_append(h, extra);
	/*
	 * No waiting for "100 Continue" before a body. (An empty "Expect:"
	 * header would drop it, but curl 7.88 signs that header too, and S3
	 * then finds the signature wrong.)
	 */
	lc.easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 0L);
	lc.easy_setopt(c, CURLOPT_HTTPHEADER, h);
	return h;
}

/* The <Code> of an S3 error reply, if body holds one, appended to why as " (Code)". */
static void add_s3_code(struct strbuf *why, const char *body, size_t len)
{
	const char *a, *b;
	struct strbuf sb = STRBUF_INIT;

	strbuf_add(&sb, body, len);
	a = strstr(sb.buf, "<Code>");
	b = a ? strstr(a, "</Code>") : NULL;
	if (a && b && b - a - 6 < 64) {
		const char *p;

		for (p = a + 6; p < b && ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
					  (*p >= '0' && *p <= '9')); p++)
			;
		if (p == b)
			strbuf_addf(why, " %.*s", (int)(b - a - 6), a + 6);
	}
	strbuf_release(&sb);
}

struct transfer {
	struct strbuf *out;	/* the body goes here, */
	int fd;			/* or, when out is NULL, to this file from its start */
	uint64_t got;		/* body bytes received */
	uint64_t cap;		/* the most body bytes accepted */
	int too_long;
	int write_failed;	/* -errno of a write to fd */
	int have_range;		/* a Content-Range header was seen */
	uint64_t range_start, range_end;
};

static size_t on_body(char *p, size_t size, size_t n, void *data)
{
	struct transfer *t = data;
	size_t len = size * n;

	if (len > t->cap - t->got) {
		t->too_long = 1;
		return 0;	/* aborts the transfer */
	}
	if (t->out) {
		strbuf_add(t->out, p, len);
	} else {
		int ret = pwrite_all(t->fd, p, len, (off_t)t->got);

		if (ret < 0) {
			t->write_failed = ret;
			return 0;
		}
	}
	t->got += len;
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

/*
 * One attempt: the body into out, or (out NULL) into the file fd. 0, or
 * -errno with the reason in why; *retry says whether another try may help.
 */
static int get_once(CURL *c, const char *url, uint64_t off, uint64_t len, uint64_t max,
		    struct strbuf *out, int fd, struct strbuf *why, int *retry)
{
	struct transfer t = { out, fd, 0, len ? len : max, 0, 0, 0, 0, 0 };
	char errbuf[CURL_ERROR_SIZE] = "", range[64];
	long status = 0;
	CURLcode rc;

	struct curl_slist *hdrs;

	*retry = 0;
	if (out)
		strbuf_reset(out);
	else if (ftruncate(fd, 0) < 0) {
		int e = -errno;

		strbuf_addf(why, "GET %s: cannot write what comes: %s", url, cdt_strerror(e));
		return e;
	}
	lc.easy_setopt(c, CURLOPT_HTTPGET, 1L);
	hdrs = request_headers(c, url, NULL, NULL);
	lc.easy_setopt(c, CURLOPT_URL, url);
	lc.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	lc.easy_setopt(c, CURLOPT_WRITEDATA, &t);
	lc.easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	lc.easy_setopt(c, CURLOPT_HEADERDATA, &t);
	lc.easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	if (len) {
		snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)off,
			 (unsigned long long)(off + len - 1));
		lc.easy_setopt(c, CURLOPT_RANGE, range);
	} else {
		lc.easy_setopt(c, CURLOPT_RANGE, NULL);
	}
	/* A whole file announced larger than max is refused before its body comes. */
	lc.easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
			 (curl_off_t)(len || max > INT64_MAX ? 0 : max));
	rc = lc.easy_perform(c);
	lc.easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	lc.slist_free_all(hdrs);
	lc.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	pthread_mutex_lock(&pool_mu);
	n_requests++;
	n_bytes += t.got;
	pthread_mutex_unlock(&pool_mu);

	if ((rc == CURLE_WRITE_ERROR && t.too_long) || rc == CURLE_FILESIZE_EXCEEDED) {
		if (len)
			strbuf_addf(why, "GET %s: the server sent more than the %llu bytes asked for",
				    url, (unsigned long long)len);
		else
			strbuf_addf(why, "GET %s: larger than %llu bytes", url,
				    (unsigned long long)max);
		return -EIO;
	}
	if (rc == CURLE_WRITE_ERROR && t.write_failed) {
		strbuf_addf(why, "GET %s: cannot write what comes: %s", url,
			    cdt_strerror(t.write_failed));
		return t.write_failed;
	}
	if (rc != CURLE_OK) {
		switch (rc) {
		case CURLE_OPERATION_TIMEDOUT:
			if (t.got)
				strbuf_addf(why, "GET %s: less than %d bytes a second for %ld s "
					    "(server stalled?)", url, LOW_SPEED, stall_seconds);
			else
				strbuf_addf(why, "GET %s: no reply for %ld s (server stalled?)", url,
					    stall_seconds);
			break;
		case CURLE_PARTIAL_FILE:
			strbuf_addf(why, "GET %s: reply cut short (%llu bytes received)", url,
				    (unsigned long long)t.got);
			break;
		default:
			strbuf_addf(why, "GET %s: %s", url, *errbuf ? errbuf : lc.easy_strerror(rc));
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
		strbuf_addf(why, "GET %s: access denied (HTTP %ld", url, status);
		if (out)
			add_s3_code(why, out->buf, out->len);
		strbuf_addch(why, ')');
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
		if (t.got != len) {
			strbuf_addf(why, "GET %s: reply cut short (%llu of %llu bytes)", url,
				    (unsigned long long)t.got, (unsigned long long)len);
			*retry = 1;
			return -EIO;
		}
	} else if (status != 200) {
		strbuf_addf(why, "GET %s: unexpected reply (HTTP %ld)", url, status);
		return -EIO;
	}
	return 0;
}

/* cdt_http_get() into out, or (out NULL) cdt_http_get_file() into fd. */
static int get(const char *url, uint64_t off, uint64_t len, uint64_t max, struct strbuf *out,
	       int fd, struct strbuf *why)
{
	struct strbuf last = STRBUF_INIT;
	int ret = -EIO, retry = 0, i;
	CURL *c;

	pthread_once(&init_once, init_curl);
	if (init_failed || !(c = take_handle())) {
		strbuf_addf(why, "GET %s: %s", url, init_failed ? init_error : "cannot start libcurl");
		return -EIO;
	}
	for (i = 0; i < ATTEMPTS; i++) {
		if (i)
			pause_seconds(backoff[i]);
		strbuf_reset(&last);
		ret = get_once(c, url, off, len, max, out, fd, &last, &retry);
		if (!ret || !retry)
			break;
	}
	if (ret) {
		strbuf_addbuf(why, &last);
		if (retry)
			strbuf_addf(why, " (tried %d times)", ATTEMPTS);
		if (out)
			strbuf_reset(out);
	}
	strbuf_release(&last);
	give_handle(c);
	return ret;
}

int cdt_http_get(const char *url, uint64_t off, uint64_t len, size_t max, struct strbuf *out,
		 struct strbuf *why)
{
	return get(url, off, len, max, out, -1, why);
}

int cdt_http_get_file(const char *url, uint64_t max, int fd, struct strbuf *why)
{
	return get(url, 0, 0, max, NULL, fd, why);
}

struct upload {
	const unsigned char *buf;
	int fd;
	uint64_t size, pos;
	int failed;		/* -errno of a read of fd */
};

static size_t on_upload(char *p, size_t size, size_t n, void *data)
{
	struct upload *u = data;
	size_t want = size * n;
	ssize_t got;

	if (want > u->size - u->pos)
		want = (size_t)(u->size - u->pos);
	if (!want)
		return 0;
	if (u->buf) {
		memcpy(p, u->buf + u->pos, want);
	} else {
		got = pread_full(u->fd, p, want, (off_t)u->pos);
		if (got != (ssize_t)want) {
			u->failed = got < 0 ? (int)got : -EIO;
			return CURL_READFUNC_ABORT;
		}
	}
	u->pos += want;
	return want;
}

/* The SHA-256 of the body in hex (S3 signs it). 0 or -errno. */
static int body_sha(const void *buf, int fd, uint64_t size, char *hex)
{
	struct cdt_id id;

	if (buf) {
		cdt_hash(buf, (size_t)size, &id);
	} else {
		struct cdt_hasher *h = cdt_hasher_new();
		unsigned char *b = xmalloc(1u << 20);
		uint64_t pos = 0;
		ssize_t got;

		while (pos < size) {
			got = pread_full(fd, b, (size_t)MIN(size - pos, (uint64_t)(1u << 20)),
					 (off_t)pos);
			if (got <= 0) {
				free(b);
				cdt_hasher_free(h);
				return got < 0 ? (int)got : -EIO;
			}
			cdt_hasher_update(h, b, (size_t)got);
			pos += (uint64_t)got;
		}
		cdt_hasher_final(h, &id);
		cdt_hasher_free(h);
		free(b);
	}
	cdt_id_to_hex(&id, hex);
	return 0;
}

static int put_once(CURL *c, const char *url, struct upload *u, const char *sha,
		    int create_only, struct strbuf *why, int *retry)
{
	struct strbuf reply = STRBUF_INIT;
	struct transfer t = { &reply, -1, 0, 64u << 10, 0, 0, 0, 0, 0 };
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs;
	long status = 0;
	CURLcode rc;
	int ret = 0;

	*retry = 0;
	u->pos = 0;
	u->failed = 0;
	hdrs = request_headers(c, url, sha, create_only ? "If-None-Match: *" : NULL);
	lc.easy_setopt(c, CURLOPT_URL, url);
	lc.easy_setopt(c, CURLOPT_UPLOAD, 1L);
	lc.easy_setopt(c, CURLOPT_READFUNCTION, on_upload);
	lc.easy_setopt(c, CURLOPT_READDATA, u);
	lc.easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)u->size);
	lc.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	lc.easy_setopt(c, CURLOPT_WRITEDATA, &t);
	lc.easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	lc.easy_setopt(c, CURLOPT_HEADERDATA, &t);
	lc.easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	lc.easy_setopt(c, CURLOPT_RANGE, NULL);
	lc.easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)0);
	rc = lc.easy_perform(c);
	lc.easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	lc.easy_setopt(c, CURLOPT_UPLOAD, 0L);
	lc.slist_free_all(hdrs);
	lc.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	pthread_mutex_lock(&pool_mu);
	n_requests++;
	n_bytes += u->pos;
	pthread_mutex_unlock(&pool_mu);

	if (u->failed) {
		strbuf_addf(why, "PUT %s: cannot read what to send: %s", url,
			    cdt_strerror(u->failed));
		ret = u->failed;
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		strbuf_addf(why, "PUT %s: no reply for %ld s (server stalled?)", url, stall_seconds);
		*retry = 1;
		ret = -EIO;
	} else if (rc != CURLE_OK && rc != CURLE_WRITE_ERROR) {
		strbuf_addf(why, "PUT %s: %s", url, *errbuf ? errbuf : lc.easy_strerror(rc));
		*retry = rc != CURLE_PEER_FAILED_VERIFICATION && rc != CURLE_URL_MALFORMAT &&
			 rc != CURLE_UNSUPPORTED_PROTOCOL;
		ret = -EIO;
	} else if (status == 412 && create_only) {
		ret = 1;	/* there already */
	} else if (status == 401 || status == 403) {
		strbuf_addf(why, "PUT %s: access denied (HTTP %ld", url, status);
		add_s3_code(why, reply.buf, reply.len);
		strbuf_addch(why, ')');
		ret = -EACCES;
	} else if (status == 404) {
		strbuf_addf(why, "PUT %s: not found (HTTP 404", url);
		add_s3_code(why, reply.buf, reply.len);
		strbuf_addch(why, ')');
		ret = -ENOENT;
	} else if (status >= 500 || status == 429) {
		strbuf_addf(why, "PUT %s: server error (HTTP %ld", url, status);
		add_s3_code(why, reply.buf, reply.len);
		strbuf_addch(why, ')');
		*retry = 1;
		ret = -EIO;
	} else if (status < 200 || status > 299) {
		strbuf_addf(why, "PUT %s: refused (HTTP %ld", url, status);
		add_s3_code(why, reply.buf, reply.len);
		strbuf_addch(why, ')');
		ret = -EIO;
	}
	strbuf_release(&reply);
	return ret;
}

int cdt_http_put(const char *url, const void *buf, int fd, uint64_t size, int create_only,
		 struct strbuf *why)
{
	struct upload u = { buf, fd, size, 0, 0 };
	struct strbuf last = STRBUF_INIT;
	char sha[CDT_ID_HEXLEN + 1];
	int ret, retry = 0, i;
	CURL *c;

	pthread_once(&init_once, init_curl);
	ret = body_sha(buf, fd, size, sha);
	if (ret) {
		strbuf_addf(why, "PUT %s: cannot read what to send: %s", url, cdt_strerror(ret));
		return ret;
	}
	if (init_failed || !(c = take_handle())) {
		strbuf_addf(why, "PUT %s: %s", url, init_failed ? init_error : "cannot start libcurl");
		return -EIO;
	}
	for (i = 0; i < ATTEMPTS; i++) {
		if (i)
			pause_seconds(backoff[i]);
		strbuf_reset(&last);
		ret = put_once(c, url, &u, sha, create_only, &last, &retry);
		if (ret >= 0 || !retry)
			break;
	}
	if (ret < 0) {
		strbuf_addbuf(why, &last);
		if (retry)
			strbuf_addf(why, " (tried %d times)", ATTEMPTS);
	}
	strbuf_release(&last);
	give_handle(c);
	return ret;
}

#endif
