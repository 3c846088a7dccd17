/*
 * One request to a remote store (remote_http.h) with libcurl: a handful of
 * requests per step (one record, one object per output file), objects up to
 * a few GiB streamed to or from a descriptor, hashed as they arrive.
 *
 * The credential goes through libcurl's own authentication options, never a
 * hand-made header: libcurl sends it to the URL's host and port only and
 * drops it when a redirect leads elsewhere (CURLOPT_UNRESTRICTED_AUTH off).
 * Redirects stay on the base URL's scheme (no https -> http downgrade).
 * TLS peer and host verification are on. The caller registers the token
 * as a secret (remote.c, once, on the main thread), so no log line shows it.
 */
#define _GNU_SOURCE
#include "cache/remote_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/text.h"
#include "verify/hash.h"

#define MAX_REDIRECTS 3L
#define BACKOFF_CAP_MS 4000u
#define ANSWER_MAX_BYTES (64u * 1024u)

struct pf_remote_http {
	char *base;      /* no trailing '/' */
	char *user, *password, *bearer;
	bool https;
	bool unreachable; /* the last request failed to connect, timed out or met 5xx to the end */
	pf_remote_http_options o;
	CURL *easy;      /* reused: one connection for the requests of a run */
};

/* One transfer: where the body goes (fd or buf) or comes from (fd or data). */
typedef struct xfer {
	CURL *easy;
	int fd;
	pf_buf *buf;
	const char *data;
	uint64_t size, done, max;
	pf_sha256 *sha;
	bool too_big, io_error;
} xfer;

int pf_remote_http_new(pf_remote_http **out, const pf_remote_http_options *o)
{
	pf_remote_http *h;
	const char *url = o->base_url;
	size_t len = strlen(url);
	pf_url_kind kind = pf_url_check(url);
	*out = NULL;
	if (kind == PF_URL_CREDENTIALS) /* not printed: it holds them */
		return pf_error_code(PF_EINVALID,
				     "the remote store URL carries credentials: put them in PTEFLOW_REMOTE_STORE_TOKEN "
				     "(\"user:password\" or a bearer token) instead");
	if (kind != PF_URL_OK)
		return pf_error_code(PF_EINVALID, "remote store \"%s\" is not an http:// or https:// URL with a host",
				     url);
	h = pf_xcalloc(1, sizeof(*h));
	while (len > 0 && url[len - 1] == '/')
		len--;
	h->base = pf_xstrndup(url, len);
	h->https = !strncmp(url, "https://", 8);
	h->o = *o;
	h->o.base_url = h->base;
	if (o->token && o->token[0]) {
		const char *colon = strchr(o->token, ':');
		if (colon) {
			h->user = pf_xstrndup(o->token, (size_t)(colon - o->token));
			h->password = pf_xstrdup(colon + 1);
		} else {
			h->bearer = pf_xstrdup(o->token);
		}
	}
	h->easy = curl_easy_init();
	if (!h->easy) {
		pf_remote_http_free(h);
		return pf_error_code(PF_EENV, "libcurl could not be initialised");
	}
	*out = h;
	return 0;
}

void pf_remote_http_free(pf_remote_http *h)
{
	if (!h)
		return;
	if (h->easy)
		curl_easy_cleanup(h->easy);
	free(h->base);
	free(h->user);
	free(h->password);
	free(h->bearer);
	free(h);
}

const char *pf_remote_http_base(const pf_remote_http *h)
{
	return h->base;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	xfer *x = arg;
	size_t len = size * n;
	long status = 0;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200)
		return len; /* the body of an error or a redirect is not the object */
	if (x->done + len > x->max || x->done + len < x->done) {
		x->too_big = true;
		return 0;
	}
	if (x->buf) {
		pf_buf_append(x->buf, data, len);
	} else if (x->fd >= 0) {
		for (size_t off = 0; off < len;) {
			ssize_t w = write(x->fd, data + off, len - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				x->io_error = true;
				return 0;
			}
			off += (size_t)w;
		}
	}
	if (x->sha)
		pf_sha256_update(x->sha, data, len);
	x->done += len;
	return len;
}

static size_t on_read(char *dest, size_t size, size_t n, void *arg)
{
	xfer *x = arg;
	size_t want = size * n;
	if ((uint64_t)want > x->size - x->done)
		want = (size_t)(x->size - x->done);
	if (want == 0)
		return 0;
	if (x->data) {
		memcpy(dest, x->data + x->done, want);
	} else {
		ssize_t r = pread(x->fd, dest, want, (off_t)x->done);
		if (r <= 0) {
			x->io_error = true;
			return CURL_READFUNC_ABORT;
		}
		want = (size_t)r;
	}
	x->done += want;
	return want;
}

/* Rewind a transfer for another attempt. */
static int xfer_reset(xfer *x, bool upload)
{
	x->done = 0;
	x->too_big = x->io_error = false;
	if (x->buf)
		pf_buf_reset(x->buf);
	if (x->sha) {
		pf_sha256_free(x->sha);
		x->sha = pf_sha256_new();
	}
	if (!upload && x->fd >= 0 && (ftruncate(x->fd, 0) < 0 || lseek(x->fd, 0, SEEK_SET) < 0))
		return pf_error_errno("a download from the remote store cannot be written");
	return 0;
}

static void set_common(pf_remote_http *h, const char *url, uint64_t deadline_ms)
{
	CURL *e = h->easy;
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, h->https ? "https" : "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, h->https ? "https" : "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, MAX_REDIRECTS);
	curl_easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, h->o.connect_timeout_s);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, h->o.stall_timeout_s);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "pteflow-remote-store");
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL); /* identity: a body is hashed as it comes */
	if (deadline_ms) {
		uint64_t now = pf_clock_mono_ms();
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(deadline_ms > now ? deadline_ms - now : 1));
	}
	if (h->bearer) {
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
		curl_easy_setopt(e, CURLOPT_XOAUTH2_BEARER, h->bearer);
	} else if (h->user) {
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(e, CURLOPT_USERNAME, h->user);
		curl_easy_setopt(e, CURLOPT_PASSWORD, h->password);
	}
}

static bool status_retryable(long status)
{
	return status == 408 || status == 429 || (status >= 500 && status != 501 && status != 507);
}

static bool curl_retryable(CURLcode c)
{
	return c == CURLE_COULDNT_CONNECT || c == CURLE_OPERATION_TIMEDOUT || c == CURLE_RECV_ERROR ||
	       c == CURLE_SEND_ERROR || c == CURLE_GOT_NOTHING || c == CURLE_PARTIAL_FILE ||
	       c == CURLE_COULDNT_RESOLVE_HOST || c == CURLE_SSL_CONNECT_ERROR;
}

/* The final answer of a request to a code and message. */
static int status_error(const pf_remote_http *h, const char *method, const char *key, long status, bool put)
{
	if (status == 404 || (!put && status == 204))
		return PF_ENOTFOUND;
	if (status == 401 || status == 403)
		return pf_error_code(PF_EAUTH,
				     "remote store \"%s\" refused %s %s (HTTP %ld): check PTEFLOW_REMOTE_STORE_TOKEN",
				     h->base, method, key, status);
	if (status == 413 || status == 507)
		return pf_error_code(PF_ELIMIT, "remote store \"%s\" refused %s %s (HTTP %ld: %s)", h->base, method,
				     key, status, status == 413 ? "larger than its body limit" : "the cache is full");
	if (status_retryable(status))
		return pf_error_code(PF_EENV, "remote store \"%s\" kept failing on %s %s (HTTP %ld)", h->base,
				     method, key, status);
	return pf_error_code(PF_EGENERIC, "remote store \"%s\" answered %s %s with HTTP %ld", h->base, method,
			     key, status);
}

/* Run one request with its retries; method "GET", "HEAD" or "PUT". */
static int request(pf_remote_http *h, const char *method, const char *key, xfer *x, uint64_t deadline_ms,
		   uint64_t *length)
{
	char *url = pf_xasprintf("%s/%s", h->base, key);
	bool put = !strcmp(method, "PUT"), head = !strcmp(method, "HEAD");
	uint64_t wait_ms = h->o.backoff_ms;
	long status = 0;
	int rc = -1;
	CURLcode last = CURLE_OK;
	for (int attempt = 1;; attempt++) {
		CURLcode c;
		struct curl_slist *hdr = NULL;
		xfer answer = {.fd = -1, .max = ANSWER_MAX_BYTES}; /* a PUT's answer: dropped */
		if ((rc = xfer_reset(x, put)) < 0)
			break;
		x->easy = answer.easy = h->easy;
		set_common(h, url, deadline_ms);
		if (head) {
			curl_easy_setopt(h->easy, CURLOPT_NOBODY, 1L);
		} else if (put) {
			curl_easy_setopt(h->easy, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(h->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->size);
			curl_easy_setopt(h->easy, CURLOPT_READFUNCTION, on_read);
			curl_easy_setopt(h->easy, CURLOPT_READDATA, x);
			hdr = curl_slist_append(hdr, "Expect:"); /* no 1 s wait for a 100 the server may never send */
			hdr = curl_slist_append(hdr, "Content-Type: application/octet-stream");
			curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, hdr);
		}
		curl_easy_setopt(h->easy, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(h->easy, CURLOPT_WRITEDATA, put ? &answer : x);
		c = last = curl_easy_perform(h->easy);
		curl_slist_free_all(hdr);
		status = 0;
		curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
		if (x->too_big) {
			rc = pf_error_code(PF_ELIMIT, "remote store: %s is larger than its record says (over %llu bytes)",
					   key, (unsigned long long)x->max);
			break;
		}
		if (x->io_error) {
			rc = pf_error_errno("remote store: %s cannot be %s", key, put ? "read" : "written");
			break;
		}
		if (c == CURLE_OK && !status_retryable(status)) {
			if ((put && (status == 200 || status == 201 || status == 202 || status == 204)) ||
			    (!put && status == 200)) {
				rc = 0;
				if (length) {
					curl_off_t cl = -1;
					curl_easy_getinfo(h->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
					*length = cl >= 0 ? (uint64_t)cl : x->done;
				}
			} else {
				rc = status_error(h, method, key, status, put);
			}
			break;
		}
		if (c == CURLE_OK)
			rc = status_error(h, method, key, status, put);
		else
			rc = pf_error_code(PF_EENV, "remote store \"%s\": %s %s: %s", h->base, method, key,
					   curl_easy_strerror(c));
		if (deadline_ms && pf_clock_mono_ms() + wait_ms >= deadline_ms) {
			rc = pf_error_code(PF_ELIMIT, "remote store \"%s\": %s %s did not finish in the time allowed (%s)",
					   h->base, method, key, pf_error_last());
			break;
		}
		if ((c != CURLE_OK && !curl_retryable(c)) || attempt >= h->o.max_attempts)
			break;
		usleep((useconds_t)(wait_ms * 1000u));
		wait_ms = wait_ms * 2 > BACKOFF_CAP_MS ? BACKOFF_CAP_MS : wait_ms * 2;
	}
	/* a truncated answer or a body too large is this object's fault, not the server's */
	h->unreachable = rc == PF_EENV && !x->io_error && !x->too_big && last != CURLE_PARTIAL_FILE &&
			 last != CURLE_RECV_ERROR;
	free(url);
	return rc;
}

bool pf_remote_http_unreachable(const pf_remote_http *h)
{
	return h->unreachable;
}

int pf_remote_http_get_file(pf_remote_http *h, const char *key, int fd, uint64_t max_bytes, char hex[65],
			    uint64_t *size)
{
	xfer x = {.fd = fd, .max = max_bytes, .sha = pf_sha256_new()};
	int rc = request(h, "GET", key, &x, 0, NULL);
	pf_sha256_final_hex(x.sha, hex); /* frees it */
	*size = x.done;
	return rc;
}

int pf_remote_http_get_text(pf_remote_http *h, const char *key, size_t max, char **out, size_t *len)
{
	pf_buf b;
	xfer x = {.fd = -1, .buf = &b, .max = max};
	int rc;
	pf_buf_init(&b, max + 1);
	rc = request(h, "GET", key, &x, 0, NULL);
	*len = b.len;
	*out = pf_buf_detach(&b);
	if (rc < 0) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

int pf_remote_http_head(pf_remote_http *h, const char *key, uint64_t *size)
{
	xfer x = {.fd = -1, .max = 0};
	uint64_t len = 0;
	int rc = request(h, "HEAD", key, &x, 0, &len);
	if (size)
		*size = len;
	return rc;
}

int pf_remote_http_put(pf_remote_http *h, const char *key, int fd, const void *data, uint64_t size,
		       uint64_t deadline_ms)
{
	xfer x = {.fd = fd, .data = data, .size = size};
	return request(h, "PUT", key, &x, deadline_ms, NULL);
}
