/*
 * Single HTTP requests to the Hub (API calls) and what every request shares:
 * headers (the token only to the endpoint's own origin), timeouts, backoff
 * with jitter, and the mapping of the Hub's error answers to messages a user
 * can act on. A handful of requests per fetch; the easy handle is reused so
 * the connection is too.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub/hub_net.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

#define MAX_HOPS 10

uint64_t pf_hub_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool pf_hub_status_retryable(long status)
{
	return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

uint64_t pf_hub_backoff_ms(const pf_hub_ctx *c, int attempt, const pf_hub_headers *h)
{
	uint64_t ms = c->backoff_base_ms;
	if (h && h->status == 429) {
		/* whole seconds: one more, so the wait cannot end just before the window resets */
		if (h->ratelimit_reset_s >= 0)
			return (uint64_t)h->ratelimit_reset_s * 1000u + 1000u;
		if (h->retry_after_s >= 0)
			return (uint64_t)h->retry_after_s * 1000u + 1000u;
	}
	for (int i = 1; i < attempt && ms < 8000; i++)
		ms *= 2;
	if (ms > 8000)
		ms = 8000;
	/* jitter: up to half the step again, so parallel clients spread out */
	return ms + (uint64_t)rand() % (ms / 2 + 1);
}

struct curl_slist *pf_hub_request_headers(const pf_hub_ctx *c, const char *url, bool head, const char *extra)
{
	struct curl_slist *l = NULL;
	char *origin = pf_hub_url_origin(url);
	char *ua = pf_xasprintf("User-Agent: %s", c->user_agent);
	l = curl_slist_append(l, ua);
	free(ua);
	if (head)
		l = curl_slist_append(l, "Accept-Encoding: identity");
	/* the token goes to the endpoint's own scheme://host:port and nowhere else (signed CDN URLs) */
	if (c->auth_header && origin && c->endpoint_origin && !strcmp(origin, c->endpoint_origin))
		l = curl_slist_append(l, c->auth_header);
	if (extra)
		l = curl_slist_append(l, extra);
	free(origin);
	return l;
}

void pf_hub_easy_common(const pf_hub_ctx *c, CURL *e)
{
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, c->connect_timeout_s);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, c->read_timeout_s);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	/* on HTTP/2 prefer a stream on the open connection to a new connection */
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
}

size_t pf_hub_header_cb(char *data, size_t size, size_t nitems, void *userdata)
{
	pf_hub_headers *h = userdata;
	size_t n = size * nitems;
	if (pf_hub_headers_feed(h, data, n) < 0) {
		h->rejected = true;
		return 0; /* abort the transfer: hostile headers */
	}
	return n;
}

static size_t body_cb(char *data, size_t size, size_t nitems, void *userdata)
{
	pf_buf *b = userdata;
	size_t n = size * nitems;
	return pf_buf_append(b, data, n) < 0 ? 0 : n;
}

static const char *status_text(const pf_hub_headers *h)
{
	return h->error_message ? h->error_message : "";
}

/* The hub's own X-Error-Message, for the user: printable ASCII only, at most 200 bytes, secrets redacted;
 * "" when there is none. Caller frees. */
static char *hub_says(const pf_hub_headers *h)
{
	const char *m = status_text(h);
	size_t k = 0;
	char *red, *out;
	if (!*m)
		return pf_xstrdup("");
	/* redact before cutting: a cut through a secret leaves a piece that no longer matches it */
	red = pf_secret_redact(m);
	for (size_t i = 0; red[i] && k < 200; i++)
		red[k++] = (red[i] >= 0x20 && red[i] < 0x7f) ? red[i] : '?';
	red[k] = '\0';
	out = pf_xasprintf(" (the hub says: %s)", red);
	free(red);
	return out;
}

static int http_error(const pf_hub_ctx *c, const pf_hub_headers *h, const char *file)
{
	const char *repo = c->opts->repo_id;
	const char *code = h->error_code ? h->error_code : "";
	const char *msg = status_text(h);
	switch (h->status) {
	case 401:
		if (!c->token)
			return pf_error_code(
			    PF_EAUTH,
			    "\"%s\" needs a token (it is private or gated, or does not exist): this repo needs a "
			    "token: set HF_TOKEN or run `hf auth login`",
			    repo);
		return pf_error_code(
		    PF_EAUTH,
		    "the token was refused by %s for \"%s\": check HF_TOKEN (or the saved login) and that it "
		    "can read this repo",
		    c->endpoint, repo);
	case 403:
		if (!strcmp(code, "GatedRepo") || strstr(msg, "restricted") || strstr(msg, "authorized list"))
			return pf_error_code(
			    PF_EAUTH,
			    "\"%s\" is gated and this token is not approved yet: accept the licence at %s/%s%s "
			    "then run again",
			    repo, c->endpoint, pf_hub_type_prefix(c->repo_type), repo);
		if (strstr(msg, "disabled"))
			return pf_error_code(PF_EAUTH, "\"%s\" is disabled on the hub: it cannot be downloaded", repo);
		return pf_error_code(
		    PF_EAUTH, "access to \"%s\" was refused (403): use a token with read access to this repo", repo);
	case 404:
		if (!strcmp(code, "RevisionNotFound"))
			return pf_error_code(PF_ENOTFOUND, "revision \"%s\" not found in \"%s\": check --revision",
			                     c->revision, repo);
		if (!strcmp(code, "EntryNotFound") || (file && strcmp(code, "RepoNotFound")))
			return pf_error_code(PF_ENOTFOUND, "file \"%s\" not found in \"%s\" at revision \"%s\"",
			                     file ? file : "?", repo, c->revision);
		return pf_error_code(PF_ENOTFOUND,
		                     "repo \"%s\" not found at %s: check the id and --repo-type (RepoNotFound)", repo,
		                     c->endpoint);
	case 416:
		return pf_error_code(PF_EGENERIC, "the hub refused the byte range asked for \"%s\" (416)",
		                     file ? file : repo);
	default:
		break;
	}
	if (h->status == 429 && (h->ratelimit_reset_s >= 0 || h->retry_after_s >= 0))
		return pf_error_code(PF_EENV,
		                     "the hub rate-limits this client (429) for \"%s\" and asks to wait %ld s, more than "
		                     "the retry time limit leaves: try again later or raise PTEFLOW_HUB_RETRY_BUDGET_S",
		                     file ? file : repo, h->ratelimit_reset_s >= 0 ? h->ratelimit_reset_s : h->retry_after_s);
	if (pf_hub_status_retryable(h->status))
		return pf_error_code(PF_EENV, "the hub kept answering %ld for \"%s\": try again later", h->status,
		                     file ? file : repo);
	return pf_error_code(PF_EGENERIC, "unexpected answer %ld from the hub for \"%s\"", h->status,
	                     file ? file : repo);
}

int pf_hub_http_error(const pf_hub_ctx *c, const pf_hub_headers *h, const char *file)
{
	int rc = http_error(c, h, file);
	char *says = hub_says(h);
	if (*says) {
		char *msg = pf_xasprintf("%s%s", pf_error_last(), says);
		pf_error_code(rc, "%s", msg);
		free(msg);
	}
	free(says);
	return rc;
}

static int once(pf_hub_ctx *c, pf_buf *body, pf_hub_headers *h, const char *url, bool head, CURLcode *cc)
{
	struct curl_slist *hdrs = pf_hub_request_headers(c, url, head, NULL);
	CURL *e = c->api;
	curl_easy_reset(e);
	pf_hub_easy_common(c, e);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_NOBODY, head ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, pf_hub_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, body);
	pf_hub_headers_dispose(h);
	pf_buf_reset(body);
	*cc = curl_easy_perform(e);
	curl_slist_free_all(hdrs);
	return 0;
}

int pf_hub_http_request(pf_hub_ctx *c, pf_buf *body, pf_hub_headers *h, const char *url, bool head)
{
	char *cur = pf_xstrdup(url);
	uint64_t start = pf_hub_now_ms();
	int attempt = 0, hops = 0, rc = 0;
	for (;;) {
		CURLcode cc;
		once(c, body, h, cur, head, &cc);
		if (cc == CURLE_OK && h->status >= 300 && h->status < 400 && h->location) {
			/* API answers carry no file: follow every redirect (a renamed repo, a mirror's canonical
			 * host); the token still goes only to the endpoint's origin */
			char *next = pf_hub_url_relative(cur, h->location);
			if (++hops > MAX_HOPS || !next) {
				free(next);
				rc = pf_error_code(PF_EGENERIC, "the hub redirected \"%s\" more than %d times", url,
				                   MAX_HOPS);
				goto done;
			}
			free(cur);
			cur = next;
			continue;
		}
		if (cc == CURLE_OK && !pf_hub_status_retryable(h->status))
			goto done;
		if (cc == CURLE_WRITE_ERROR) {
			/* not a network fault: asking again would get the same answer */
			if (h->rejected) {
				char *why = pf_xstrdup(pf_error_last());
				rc = pf_error_code(PF_EINVALID, "the hub at %s sent unusable headers (%s)", c->endpoint,
				                   why);
				free(why);
			} else
				rc = pf_error_code(PF_ELIMIT, "the hub's answer for %s is larger than %u MiB: not read",
				                   url, PF_HUB_JSON_MAX >> 20);
			goto done;
		}
		{
			uint64_t wait = pf_hub_backoff_ms(c, attempt + 1, cc == CURLE_OK ? h : NULL);
			struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L};
			/* a server asking for a longer wait than the time limit left is not waited for */
			if (++attempt > c->max_retries || pf_hub_now_ms() - start + wait > c->retry_budget_ms) {
				if (cc != CURLE_OK)
					rc = pf_error_code(PF_EENV, "cannot reach the hub at %s: %s", c->endpoint,
					                   curl_easy_strerror(cc));
				goto done; /* a retryable status stays in h for the caller to report */
			}
			pf_log_info("hub request failed (%s), retrying in %llu ms",
			            cc != CURLE_OK ? curl_easy_strerror(cc) : "server busy", (unsigned long long)wait);
			nanosleep(&ts, NULL);
		}
	}
done:
	free(cur);
	return rc;
}
