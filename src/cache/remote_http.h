/*
 * Internal to the remote store (remote.c): GET, HEAD and PUT of one key of a
 * Bazel-style HTTP cache, with bounded retries. libcurl stays inside
 * remote_http.c. Protocol notes: the team's remote-cache protocol reference
 * (ac/ and cas/ under a base URL, 200/201/202/204 a stored PUT, 404 or 204 a
 * miss on GET).
 */
#ifndef PF_CACHE_REMOTE_HTTP_H
#define PF_CACHE_REMOTE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pf_remote_http pf_remote_http;

typedef struct pf_remote_http_options {
	const char *base_url;    /* http(s)://host[:port][/path], no user info */
	const char *token;       /* "user:password" (basic) or a bearer token; NULL: none */
	long connect_timeout_s;  /* per attempt */
	long stall_timeout_s;    /* a transfer moving less than 1 byte/s for this long is a failure */
	int max_attempts;        /* per request, for network errors, timeouts, 408, 429 and 5xx */
	uint64_t backoff_ms;     /* before the second attempt; doubled each time */
} pf_remote_http_options;

/* PF_EINVALID when the URL is not http(s) or carries user info (the message says to use the token). */
int pf_remote_http_new(pf_remote_http **out, const pf_remote_http_options *o);
void pf_remote_http_free(pf_remote_http *h);
/* The base URL as given (no credentials: it may be printed). */
const char *pf_remote_http_base(const pf_remote_http *h);

/*
 * GET <base>/<key> into fd (from offset 0), hashing what arrives; at most
 * max_bytes (more: PF_ELIMIT). hex and *size receive the SHA-256 and size.
 * 0 on 200; PF_ENOTFOUND on 404 or 204; PF_EAUTH on 401/403; PF_EENV when
 * the server cannot be reached or keeps failing; -1 otherwise.
 */
int pf_remote_http_get_file(pf_remote_http *h, const char *key, int fd, uint64_t max_bytes, char hex[65],
			    uint64_t *size);
/* The same into memory (heap, NUL-terminated, at most max bytes). */
int pf_remote_http_get_text(pf_remote_http *h, const char *key, size_t max, char **out, size_t *len);
/* HEAD: 0 when the key is there, PF_ENOTFOUND when not, codes as GET otherwise. */
int pf_remote_http_head(pf_remote_http *h, const char *key, uint64_t *size);
/*
 * PUT size bytes of fd (from offset 0) or of data (fd < 0) with
 * Content-Length. deadline_ms (monotonic, 0: none) bounds the whole request
 * with its retries: PF_ELIMIT when it passes. 413 and 507: PF_ELIMIT.
 */
int pf_remote_http_put(pf_remote_http *h, const char *key, int fd, const void *data, uint64_t size,
		       uint64_t deadline_ms);

/* The last request failed for the server (no connection, timeouts, 5xx after the retries), not the object. */
bool pf_remote_http_unreachable(const pf_remote_http *h);

#endif
