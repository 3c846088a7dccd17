/*
 * Internal: the per-fetch context and the libcurl-facing helpers shared by
 * hub_http.c (single API requests), hub_transfer.c (parallel file transfers)
 * and hub_fetch.c. libcurl types stay inside src/hub/.
 */
#ifndef PF_HUB_NET_H
#define PF_HUB_NET_H

#include <curl/curl.h>

#include "hub/hub_internal.h"

struct pf_hub_ctx {
	const pf_hub_options *opts;
	const char *repo_type;
	const char *revision;
	char *endpoint;        /* no trailing '/' */
	char *endpoint_origin; /* "scheme://host:port": the only origin that gets the token */
	char *token;           /* NULL when anonymous; registered as a secret */
	char *auth_header;     /* "Authorization: Bearer ..." or NULL */
	char *user_agent;
	char *cache_root;
	char *repo_dir;  /* <cache>/models--org--name */
	char *locks_dir; /* <cache>/.locks/models--org--name */
	long connect_timeout_s;
	long read_timeout_s; /* low-speed window: < 1 byte/s for this long aborts */
	int max_retries;     /* consecutive attempts without progress */
	uint64_t backoff_base_ms;
	uint64_t retry_budget_ms; /* total time one request may spend retrying */
	CURL *api;                /* reused for API calls (connection reuse) */
};

typedef struct pf_hub_ctx pf_hub_ctx;

/* hub_fetch.c: the context of one fetch or publish (endpoint, token, timeouts, retries); api is not opened. */
int pf_hub_ctx_init(pf_hub_ctx *c, const pf_hub_options *o);
void pf_hub_ctx_dispose(pf_hub_ctx *c);
/* curl_global_init once per process; PF_EENV when it fails. */
int pf_hub_curl_ready(void);

/* Monotonic milliseconds. */
uint64_t pf_hub_now_ms(void);
/* Backoff before retry `attempt` (1-based): exponential from the base, capped at 8 s, plus jitter; honours
 * Retry-After/RateLimit. */
uint64_t pf_hub_backoff_ms(const pf_hub_ctx *c, int attempt, const pf_hub_headers *h);
/* true for statuses worth retrying: 408, 429, 500, 502, 503, 504. */
bool pf_hub_status_retryable(long status);
/* Header list for a request to `url`: UA, identity encoding for HEAD, the token only to the endpoint origin, extra (may
 * be NULL). */
struct curl_slist *pf_hub_request_headers(const pf_hub_ctx *c, const char *url, bool head, const char *extra);
/* Common easy options: timeouts, no auto-redirects, HTTP/2 over TLS when offered. */
void pf_hub_easy_common(const pf_hub_ctx *c, CURL *e);
/* Header callback target: feeds a pf_hub_headers (userdata). */
size_t pf_hub_header_cb(char *data, size_t size, size_t nitems, void *userdata);
/*
 * Turn a final non-2xx answer into the user-facing error: 401/403/404 codes
 * from the Hub's X-Error-Code, with what to do. `file` may be NULL. Returns
 * the negative PF_E code.
 */
int pf_hub_http_error(const pf_hub_ctx *c, const pf_hub_headers *h, const char *file);
/*
 * One API GET (or HEAD) with relative redirects followed by hand, retries on
 * network errors, 429 and 5xx. On return 0 the final answer is in h/body
 * (body capped at PF_HUB_JSON_MAX); any status. PF_EENV when the network
 * failed after the retries.
 */
int pf_hub_http_request(pf_hub_ctx *c, pf_buf *body, pf_hub_headers *h, const char *url, bool head);
/* Repo info at the revision -> commit (+ siblings as a fallback listing). */
int pf_hub_api_resolve(pf_hub_ctx *c, pf_hub_listing *out);
/* Tree listing at the commit, all pages; falls back to siblings already in `l`. */
int pf_hub_api_list(pf_hub_ctx *c, pf_hub_listing *l);

/* ---- hub_hasher.c: SHA-256 of partial files on a background thread ---- */
typedef struct pf_hub_hasher pf_hub_hasher;
typedef struct pf_hub_hashjob {
	int fd; /* the partial file (read with pread) */
	struct pf_sha256 *sha;
	uint64_t avail, hashed; /* guarded by the hasher's mutex */
	bool busy, listed;
	int err; /* errno of a failed read */
	struct pf_hub_hashjob *next;
} pf_hub_hashjob;

/* NULL if no thread could be started (the caller then hashes inline). */
pf_hub_hasher *pf_hub_hasher_new(void);
void pf_hub_hasher_free(pf_hub_hasher *h);
/* Hash fd from byte 0; `avail` bytes are already there (a resumed file). */
void pf_hub_hasher_start(pf_hub_hasher *h, pf_hub_hashjob *j, int fd, uint64_t avail);
/* The writer has `avail` bytes in the file now. */
void pf_hub_hasher_advance(pf_hub_hasher *h, pf_hub_hashjob *j, uint64_t avail);
/* Wait for every published byte, then write the hex digest. */
int pf_hub_hasher_finish(pf_hub_hasher *h, pf_hub_hashjob *j, char hex[65]);
/* Stop hashing this job (restart, failure); safe when not started. */
void pf_hub_hasher_cancel(pf_hub_hasher *h, pf_hub_hashjob *j);

/* ---- hub_progress.c ---- */
typedef struct pf_hub_progress {
	bool enabled, tty;
	uint64_t total_bytes, done_bytes;
	size_t n_files, n_done, n_cached;
	uint64_t start_ms, last_ms;
	int last_decile;
	const char *current; /* file most recently written to */
	uint64_t current_done, current_size;
	bool drawn; /* a TTY line is on screen */
} pf_hub_progress;

void pf_hub_progress_init(pf_hub_progress *p, bool enabled);
/* Redraw if due (every 200 ms on a TTY; every 5 s or 10% otherwise); force = draw now. */
void pf_hub_progress_tick(pf_hub_progress *p, bool force);
/* Clear the TTY line and print the summary. */
void pf_hub_progress_end(pf_hub_progress *p);

/*
 * Fetch every listed file of the commit into the cache (or local_dir) with
 * the curl multi interface; fills rec->files in listing order.
 */
int pf_hub_transfer_all(pf_hub_ctx *c, pf_model_record *rec, const pf_hub_listing *l, pf_hub_progress *prog);

#endif
