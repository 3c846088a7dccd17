/*
 * `pteflow publish`: commit a release's files to a Hugging Face Hub repo the
 * way huggingface_hub's create_commit does (shared docs
 * hub-upload-protocol.md): create the repo when asked, read the branch head,
 * preupload (the hub says lfs or regular per file), the Git LFS batch API
 * for the LFS files (basic: one PUT; multipart: one PUT per part, each part
 * retried on its own, then the completion POST), verify, and one NDJSON
 * commit with parentCommit = the head read first, so a push that happened
 * meanwhile fails the commit (412) instead of being overwritten. Every call
 * but the commit is retried on 408/429/5xx and network errors, honouring
 * Retry-After; the commit is not (a lost answer would commit twice). The
 * token goes to the endpoint's origin only (pf_hub_request_headers): storage
 * URLs never see it. Answers are bounded (PF_HUB_JSON_MAX) and parsed with
 * a depth cap. Workload: a few files, up to a few GB, streamed from disk.
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hub/hub.h"
#include "hub/hub_net.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/text.h"
#include "verify/hash.h"

#define LFS_JSON "application/vnd.git-lfs+json"
#define SAMPLE_BYTES 512
#define REGULAR_MAX (64u * 1024u * 1024u) /* a "regular" file goes base64 in the commit body */
#define MAX_PARTS 10000
#define MAX_FILES 256u

/* A request body: memory, or a byte range of a file (read with pread, rewound on each try). */
typedef struct body {
	const char *mem;
	size_t mem_len;
	int fd;
	uint64_t off, len, pos;
} body;

/* Standard base64 with padding (preupload samples, regular files in the commit); heap. */
static char *b64(const void *data, size_t len)
{
	static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *in = data;
	char *out = pf_xmalloc(len / 3 * 4 + 5), *o = out;
	for (size_t i = 0; i < len; i += 3) {
		size_t n = len - i < 3 ? len - i : 3;
		unsigned long v =
		    (unsigned long)in[i] << 16 | (n > 1 ? (unsigned long)in[i + 1] << 8 : 0) | (n > 2 ? in[i + 2] : 0);
		*o++ = A[v >> 18 & 63];
		*o++ = A[v >> 12 & 63];
		*o++ = n > 1 ? A[v >> 6 & 63] : '=';
		*o++ = n > 2 ? A[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static size_t read_cb(char *dst, size_t size, size_t nitems, void *userdata)
{
	body *b = userdata;
	size_t want = size * nitems;
	uint64_t left = b->len - b->pos;
	ssize_t n;
	if (want > left)
		want = (size_t)left;
	if (!want)
		return 0;
	do
		n = pread(b->fd, dst, want, (off_t)(b->off + b->pos));
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return CURL_READFUNC_ABORT;
	b->pos += (uint64_t)n;
	return (size_t)n;
}

static size_t resp_cb(char *data, size_t size, size_t nitems, void *userdata)
{
	size_t n = size * nitems;
	return pf_buf_append(userdata, data, n) < 0 ? 0 : n;
}

/* One request: method POST (memory body) or PUT (file range or memory). */
static CURLcode send_once(pf_hub_ctx *c, const char *method, const char *url, const char *ctype, body *b, pf_buf *resp,
                          pf_hub_headers *h)
{
	struct curl_slist *hdrs = pf_hub_request_headers(c, url, false, NULL);
	char *ct = ctype ? pf_xasprintf("Content-Type: %s", ctype) : NULL;
	CURL *e = c->api;
	CURLcode cc;
	if (ct)
		hdrs = curl_slist_append(hdrs, ct);
	if (ctype && !strcmp(ctype, LFS_JSON))
		hdrs = curl_slist_append(hdrs, "Accept: " LFS_JSON);
	hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
	curl_easy_reset(e);
	pf_hub_easy_common(c, e);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, pf_hub_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, resp_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, resp);
	if (b->mem || b->fd < 0) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, b->mem ? b->mem : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->mem_len);
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	} else {
		b->pos = 0;
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(e, CURLOPT_READDATA, b);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)b->len);
	}
	pf_hub_headers_dispose(h);
	pf_buf_reset(resp);
	cc = curl_easy_perform(e);
	curl_slist_free_all(hdrs);
	free(ct);
	return cc;
}

/*
 * A request retried on network errors and 408/429/5xx (Retry-After honoured,
 * within the retry budget) unless `once`. 0 with the final answer in h/resp
 * (any status); PF_EENV when the network kept failing.
 */
static int send_req(pf_hub_ctx *c, const char *what, const char *method, const char *url, const char *ctype, body *b,
                    pf_buf *resp, pf_hub_headers *h, bool once)
{
	uint64_t start = pf_hub_now_ms();
	for (int attempt = 1;; attempt++) {
		CURLcode cc = send_once(c, method, url, ctype, b, resp, h);
		uint64_t wait;
		if (cc == CURLE_OK && (once || !pf_hub_status_retryable(h->status)))
			return 0;
		if (cc != CURLE_OK && once)
			return pf_error_code(PF_EENV,
			                     "%s: the connection to %s failed (%s); the commit was not retried: "
			                     "check the repo before publishing again",
			                     what, c->endpoint, curl_easy_strerror(cc));
		/* any retried answer's Retry-After is honoured, + 1 s, as huggingface_hub's http_backoff does */
		if (cc == CURLE_OK && h->retry_after_s >= 0)
			wait = (uint64_t)h->retry_after_s * 1000u + 1000u;
		else
			wait = pf_hub_backoff_ms(c, attempt, cc == CURLE_OK ? h : NULL);
		if (attempt > c->max_retries || pf_hub_now_ms() - start + wait > c->retry_budget_ms) {
			if (cc != CURLE_OK)
				return pf_error_code(PF_EENV, "%s: cannot reach %s: %s", what, c->endpoint,
				                     curl_easy_strerror(cc));
			return 0; /* the retryable status stays in h for the caller to report */
		}
		pf_log_info("%s failed (%s), retrying in %llu ms", what,
		            cc != CURLE_OK ? curl_easy_strerror(cc) : "server busy", (unsigned long long)wait);
		{
			struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
}

/* The user-facing error of a write call's final non-2xx answer. */
static int write_error(pf_hub_ctx *c, const pf_hub_headers *h, const char *what, const char *repo)
{
	const char *says = h->error_message ? h->error_message : "";
	char shown[201];
	size_t k = 0;
	for (const char *p = says; *p && k < 200; p++) /* the hub's words, printable only */
		shown[k++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
	shown[k] = '\0';
	switch (h->status) {
	case 401:
		return pf_error_code(PF_EAUTH,
		                     "%s: the hub refused the token (401%s%s): set HF_TOKEN to a token with "
		                     "write access to \"%s\"",
		                     what, k ? ": " : "", shown, repo);
	case 403:
		return pf_error_code(PF_EAUTH,
		                     "%s: the token may not write to \"%s\" (403%s%s): use a token with write "
		                     "access (a fine-grained token needs write on this repo)",
		                     what, repo, k ? ": " : "", shown);
	case 404:
		return pf_error_code(PF_ENOTFOUND,
		                     "%s: the repo \"%s\" does not exist at %s (404): add --create to "
		                     "make it, or check the name",
		                     what, repo, c->endpoint);
	case 412:
		return pf_error_code(PF_EFAILED,
		                     "%s: the branch moved while publishing (412: someone pushed to \"%s\" "
		                     "meanwhile); nothing was committed: run publish again",
		                     what, repo);
	default:
		break;
	}
	if (pf_hub_status_retryable(h->status))
		return pf_error_code(PF_EENV, "%s: the hub kept answering %ld%s%s: try again later", what, h->status,
		                     k ? ": " : "", shown);
	return pf_error_code(PF_EFAILED, "%s: unexpected answer %ld from the hub%s%s", what, h->status, k ? ": " : "",
	                     shown);
}

static bool ok_status(long s)
{
	return s >= 200 && s < 300;
}

static cJSON *parse_answer(const pf_buf *b)
{
	if (!pf_json_depth_ok(pf_buf_cstr(b), b->len, 32))
		return NULL;
	return cJSON_ParseWithLength(pf_buf_cstr(b), b->len);
}

static char *post_json(cJSON *j)
{
	char *t = cJSON_PrintUnformatted(j), *out;
	if (!t)
		pf_xmalloc(SIZE_MAX);
	out = pf_xstrdup(t);
	cJSON_free(t);
	return out;
}

typedef struct pub {
	pf_hub_ctx c;
	const pf_hub_publish_options *o;
	char *quoted_rev;
	pf_buf resp;
	pf_hub_headers h;
} pub;

static int create_repo(pub *p)
{
	const char *slash = strchr(p->o->repo_id, '/');
	cJSON *j = cJSON_CreateObject();
	char *url = pf_xasprintf("%s/api/repos/create", p->c.endpoint), *text;
	body b = {.fd = -1};
	int rc;
	cJSON_AddStringToObject(j, "name", slash ? slash + 1 : p->o->repo_id);
	if (slash) {
		char *org = pf_xstrndup(p->o->repo_id, (size_t)(slash - p->o->repo_id));
		cJSON_AddStringToObject(j, "organization", org);
		free(org);
	} else {
		cJSON_AddNullToObject(j, "organization");
	}
	if (p->o->private_repo)
		cJSON_AddStringToObject(j, "visibility", "private");
	text = post_json(j);
	b.mem = text;
	b.mem_len = strlen(text);
	rc = send_req(&p->c, "creating the repo", "POST", url, "application/json", &b, &p->resp, &p->h, false);
	if (rc == 0 && p->h.status == 409)
		pf_log_info("the repo \"%s\" exists already", p->o->repo_id);
	else if (rc == 0 && !ok_status(p->h.status))
		rc = write_error(&p->c, &p->h, "creating the repo", p->o->repo_id);
	else if (rc == 0)
		pf_log_info("created the repo \"%s\"%s", p->o->repo_id, p->o->private_repo ? " (private)" : "");
	cJSON_Delete(j);
	free(text);
	free(url);
	return rc;
}

static int read_head(pub *p, char **out)
{
	char *url = pf_xasprintf("%s/api/models/%s/revision/%s", p->c.endpoint, p->o->repo_id, p->quoted_rev);
	cJSON *j = NULL;
	const cJSON *sha;
	int rc = pf_hub_http_request(&p->c, &p->resp, &p->h, url, false);
	*out = NULL;
	if (rc < 0)
		goto done;
	if (p->h.status == 404 && p->h.error_code && !strcmp(p->h.error_code, "RevisionNotFound")) {
		rc = pf_error_code(PF_ENOTFOUND,
		                   "the branch \"%s\" does not exist in \"%s\": create it first, or publish "
		                   "to an existing branch",
		                   p->o->revision ? p->o->revision : "main", p->o->repo_id);
		goto done;
	}
	if (p->h.status == 401 && p->h.error_message && strstr(p->h.error_message, "Invalid credentials")) {
		rc = write_error(&p->c, &p->h, "reading the branch head", p->o->repo_id);
		goto done;
	}
	if (p->h.status == 401 || p->h.status == 404) {
		rc = pf_error_code(PF_ENOTFOUND,
		                   "the repo \"%s\" does not exist at %s (or the token cannot see it): add "
		                   "--create to make it",
		                   p->o->repo_id, p->c.endpoint);
		goto done;
	}
	if (!ok_status(p->h.status)) {
		rc = write_error(&p->c, &p->h, "reading the branch head", p->o->repo_id);
		goto done;
	}
	j = parse_answer(&p->resp);
	sha = cJSON_GetObjectItemCaseSensitive(j, "sha");
	if (!cJSON_IsString(sha) || !pf_hub_is_commit(sha->valuestring)) {
		rc = pf_error_code(PF_EFAILED, "the hub's answer for \"%s\" names no commit", p->o->repo_id);
		goto done;
	}
	*out = pf_xstrdup(sha->valuestring);
done:
	cJSON_Delete(j);
	free(url);
	return rc;
}

static char *sample_b64(const pf_hub_upload *f)
{
	unsigned char buf[SAMPLE_BYTES];
	ssize_t n = 0;
	int fd = open(f->local_path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		do
			n = pread(fd, buf, sizeof(buf), 0);
		while (n < 0 && errno == EINTR);
		close(fd);
	}
	return b64(buf, n > 0 ? (size_t)n : 0);
}

int pf_hub_preupload_apply(pf_hub_upload *files, size_t n_files, const char *json, size_t len)
{
	cJSON *ans = NULL;
	const cJSON *item, *list;
	int rc = 0;
	if (!pf_json_depth_ok(json, len, 32) || !(ans = cJSON_ParseWithLength(json, len)) ||
	    !cJSON_IsArray(list = cJSON_GetObjectItemCaseSensitive(ans, "files"))) {
		rc = pf_error_code(PF_EFAILED, "preupload: the hub's answer is not a JSON object with a files list");
		goto done;
	}
	cJSON_ArrayForEach(item, list)
	{
		const cJSON *path = cJSON_GetObjectItemCaseSensitive(item, "path");
		const cJSON *mode = cJSON_GetObjectItemCaseSensitive(item, "uploadMode");
		const cJSON *oid = cJSON_GetObjectItemCaseSensitive(item, "oid");
		if (!cJSON_IsString(path) || !cJSON_IsString(mode) ||
		    (strcmp(mode->valuestring, "lfs") != 0 && strcmp(mode->valuestring, "regular") != 0)) {
			rc = pf_error_code(PF_EFAILED,
			                   "preupload: the hub's answer is not a list of paths and upload modes");
			goto done;
		}
		for (size_t i = 0; i < n_files; i++) {
			pf_hub_upload *f = &files[i];
			if (strcmp(f->path_in_repo, path->valuestring) != 0)
				continue;
			f->lfs = f->size > 0 && !strcmp(mode->valuestring, "lfs"); /* an empty file is always regular */
			f->remote_oid[0] = '\0';
			if (cJSON_IsString(oid) && strlen(oid->valuestring) < sizeof(f->remote_oid))
				memcpy(f->remote_oid, oid->valuestring, strlen(oid->valuestring) + 1);
			/* a digest not computed yet ("") matches nothing: pf_hub_publish compares again after hashing
			 */
			f->unchanged = f->remote_oid[0] && !strcmp(f->remote_oid, f->lfs ? f->sha256 : f->git_sha1);
		}
	}
done:
	cJSON_Delete(ans);
	return rc;
}

static int preupload(pub *p)
{
	cJSON *j = cJSON_CreateObject(), *files = cJSON_AddArrayToObject(j, "files");
	char *url = pf_xasprintf("%s/api/models/%s/preupload/%s", p->c.endpoint, p->o->repo_id, p->quoted_rev);
	char *text;
	body b = {.fd = -1};
	int rc;
	for (size_t i = 0; i < p->o->n_files; i++) {
		cJSON *f = cJSON_CreateObject();
		char *s = sample_b64(&p->o->files[i]);
		cJSON_AddStringToObject(f, "path", p->o->files[i].path_in_repo);
		cJSON_AddStringToObject(f, "sample", s);
		cJSON_AddNumberToObject(f, "size", (double)p->o->files[i].size);
		cJSON_AddItemToArray(files, f);
		free(s);
	}
	text = post_json(j);
	b.mem = text;
	b.mem_len = strlen(text);
	if ((rc = send_req(&p->c, "preupload", "POST", url, "application/json", &b, &p->resp, &p->h, false)) < 0)
		goto done;
	if (!ok_status(p->h.status)) {
		rc = write_error(&p->c, &p->h, "preupload", p->o->repo_id);
		goto done;
	}
	rc = pf_hub_preupload_apply(p->o->files, p->o->n_files, pf_buf_cstr(&p->resp), p->resp.len);
done:
	cJSON_Delete(j);
	free(text);
	free(url);
	return rc;
}

static int part_number_cmp(const void *x, const void *y)
{
	/* all-digit keys of at most 6 digits, checked by the caller */
	unsigned long a = strtoul(*(char *const *)x, NULL, 10), b = strtoul(*(char *const *)y, NULL, 10);
	return a < b ? -1 : a > b;
}

int pf_hub_multipart_plan(char ***urls, size_t *n_out, uint64_t *chunk_out, const char *header_json, size_t len,
                          uint64_t size)
{
	cJSON *header = NULL;
	const cJSON *cs, *kv;
	char **keys = NULL;
	uint64_t chunk = 0, want;
	size_t n = 0;
	int rc = 0;
	*urls = NULL;
	*n_out = 0;
	if (!pf_json_depth_ok(header_json, len, 8) || !(header = cJSON_ParseWithLength(header_json, len)) ||
	    !cJSON_IsObject(header) || !cJSON_IsString(cs = cJSON_GetObjectItemCaseSensitive(header, "chunk_size")) ||
	    pf_hub_parse_u64(&chunk, cs->valuestring, strlen(cs->valuestring)) < 0 || !chunk) {
		rc = pf_error_code(PF_EFAILED, "invalid server response to upload large LFS file (chunk_size)");
		goto done;
	}
	want = size / chunk + (size % chunk != 0); /* no overflow whatever chunk_size says */
	keys = pf_xcalloc((size_t)cJSON_GetArraySize(header) + 1, sizeof(char *));
	cJSON_ArrayForEach(kv, header)
	{
		bool digits = kv->string && *kv->string && strlen(kv->string) <= 6;
		for (const char *d = kv->string; digits && *d; d++)
			digits = *d >= '0' && *d <= '9';
		if (digits && cJSON_IsString(kv))
			keys[n++] = kv->string;
	}
	if (n != want || n > MAX_PARTS) {
		rc = pf_error_code(PF_EFAILED,
		                   "invalid server response to upload large LFS file (%zu part URLs for "
		                   "%llu parts)",
		                   n, (unsigned long long)want);
		goto done;
	}
	qsort(keys, n, sizeof(char *), part_number_cmp);
	for (size_t i = 0; i < n; i++)
		if (strtoul(keys[i], NULL, 10) != i + 1) { /* parts 1..n, each once */
			rc = pf_error_code(PF_EFAILED,
			                   "invalid server response to upload large LFS file (part numbers "
			                   "are not 1 to %zu)",
			                   n);
			goto done;
		}
	*urls = pf_xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		(*urls)[i] = pf_xstrdup(cJSON_GetObjectItemCaseSensitive(header, keys[i])->valuestring);
	*n_out = n;
	*chunk_out = chunk;
done:
	free(keys);
	cJSON_Delete(header);
	return rc;
}

/* PUT each part to its URL (each part retried on its own), then the completion POST. */
static int upload_multipart(pub *p, const pf_hub_upload *f, int fd, const cJSON *upload)
{
	const cJSON *header = cJSON_GetObjectItemCaseSensitive(upload, "header");
	const cJSON *href = cJSON_GetObjectItemCaseSensitive(upload, "href");
	uint64_t chunk = 0;
	size_t n = 0;
	char **urls = NULL, **etags = NULL, *header_text = NULL;
	cJSON *done_json = cJSON_CreateObject(), *parts;
	char *text = NULL;
	int rc = 0;
	if (!cJSON_IsString(href) || !(header_text = cJSON_PrintUnformatted(header))) {
		rc = pf_error_code(PF_EFAILED, "\"%s\": invalid server response to upload large LFS file (no href)",
		                   f->path_in_repo);
		goto done;
	}
	if ((rc = pf_hub_multipart_plan(&urls, &n, &chunk, header_text, strlen(header_text), f->size)) < 0) {
		rc = pf_error_code(PF_EFAILED, "\"%s\": %s", f->path_in_repo, pf_error_last());
		goto done;
	}
	etags = pf_xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		uint64_t off = (uint64_t)i * chunk;
		body b = {.fd = fd, .off = off, .len = f->size - off < chunk ? f->size - off : chunk};
		char *what = pf_xasprintf("uploading part %zu of %zu of \"%s\"", i + 1, n, f->path_in_repo);
		rc = send_req(&p->c, what, "PUT", urls[i], NULL, &b, &p->resp, &p->h, false);
		if (rc == 0 && !ok_status(p->h.status))
			rc = write_error(&p->c, &p->h, what, p->o->repo_id);
		else if (rc == 0 && (!p->h.etag || !*p->h.etag))
			rc = pf_error_code(PF_EFAILED, "%s: the storage sent no ETag", what);
		free(what);
		if (rc < 0)
			goto done;
		etags[i] = pf_xstrdup(p->h.etag);
	}
	cJSON_AddStringToObject(done_json, "oid", f->sha256);
	parts = cJSON_AddArrayToObject(done_json, "parts");
	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "partNumber", (double)(i + 1));
		cJSON_AddStringToObject(o, "etag", etags[i]);
		cJSON_AddItemToArray(parts, o);
	}
	text = post_json(done_json);
	{
		body b = {.mem = text, .mem_len = strlen(text), .fd = -1};
		char *what = pf_xasprintf("completing the upload of \"%s\"", f->path_in_repo);
		rc = send_req(&p->c, what, "POST", href->valuestring, LFS_JSON, &b, &p->resp, &p->h, false);
		if (rc == 0 && !ok_status(p->h.status))
			rc = write_error(&p->c, &p->h, what, p->o->repo_id);
		free(what);
	}
done:
	for (size_t i = 0; etags && i < n; i++)
		free(etags[i]);
	free(etags);
	pf_strv_free(urls, n);
	cJSON_free(header_text);
	free(text);
	cJSON_Delete(done_json);
	return rc;
}

static int upload_object(pub *p, const pf_hub_upload *f, const cJSON *actions)
{
	const cJSON *upload = cJSON_GetObjectItemCaseSensitive(actions, "upload");
	const cJSON *verify = cJSON_GetObjectItemCaseSensitive(actions, "verify");
	const cJSON *href = cJSON_GetObjectItemCaseSensitive(upload, "href");
	const cJSON *header = cJSON_GetObjectItemCaseSensitive(upload, "header");
	int fd = open(f->local_path, O_RDONLY | O_CLOEXEC), rc = 0;
	if (fd < 0)
		return pf_error_errno("cannot open \"%s\"", f->local_path);
	if (!cJSON_IsString(href)) {
		rc = pf_error_code(PF_EFAILED, "\"%s\": the LFS batch answer has no upload URL", f->path_in_repo);
	} else if (cJSON_GetObjectItemCaseSensitive(header, "chunk_size")) {
		rc = upload_multipart(p, f, fd, upload);
	} else {
		body b = {.fd = fd, .len = f->size};
		char *what = pf_xasprintf("uploading \"%s\"", f->path_in_repo);
		rc = send_req(&p->c, what, "PUT", href->valuestring, NULL, &b, &p->resp, &p->h, false);
		if (rc == 0 && !ok_status(p->h.status))
			rc = write_error(&p->c, &p->h, what, p->o->repo_id);
		free(what);
	}
	if (rc == 0 && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(verify, "href"))) {
		char *text = pf_xasprintf("{\"oid\":\"%s\",\"size\":%llu}", f->sha256, (unsigned long long)f->size);
		body b = {.mem = text, .mem_len = strlen(text), .fd = -1};
		char *what = pf_xasprintf("verifying the upload of \"%s\"", f->path_in_repo);
		rc = send_req(&p->c, what, "POST", cJSON_GetObjectItemCaseSensitive(verify, "href")->valuestring,
		              LFS_JSON, &b, &p->resp, &p->h, false);
		if (rc == 0 && !ok_status(p->h.status))
			rc = write_error(&p->c, &p->h, what, p->o->repo_id);
		free(what);
		free(text);
	}
	close(fd);
	return rc;
}

static int lfs_upload(pub *p)
{
	cJSON *j = cJSON_CreateObject(), *objs, *ans = NULL, *ref;
	const cJSON *o;
	char *url = pf_xasprintf("%s/%s.git/info/lfs/objects/batch", p->c.endpoint, p->o->repo_id), *text = NULL;
	size_t n = 0;
	int rc = 0;
	cJSON_AddStringToObject(j, "operation", "upload");
	cJSON_AddItemToObject(j, "transfers", cJSON_CreateStringArray((const char *[]){"basic", "multipart"}, 2));
	cJSON_AddStringToObject(j, "hash_algo", "sha256");
	ref = cJSON_AddObjectToObject(j, "ref");
	cJSON_AddStringToObject(ref, "name", p->o->revision ? p->o->revision : "main");
	objs = cJSON_AddArrayToObject(j, "objects");
	for (size_t i = 0; i < p->o->n_files; i++) {
		const pf_hub_upload *f = &p->o->files[i];
		cJSON *x;
		if (!f->lfs || f->unchanged)
			continue;
		x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "oid", f->sha256);
		cJSON_AddNumberToObject(x, "size", (double)f->size);
		cJSON_AddItemToArray(objs, x);
		n++;
	}
	if (!n)
		goto done;
	text = post_json(j);
	{
		body b = {.mem = text, .mem_len = strlen(text), .fd = -1};
		if ((rc = send_req(&p->c, "LFS batch", "POST", url, LFS_JSON, &b, &p->resp, &p->h, false)) < 0)
			goto done;
	}
	if (!ok_status(p->h.status)) {
		rc = write_error(&p->c, &p->h, "LFS batch", p->o->repo_id);
		goto done;
	}
	ans = parse_answer(&p->resp);
	if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(ans, "objects"))) {
		rc = pf_error_code(PF_EFAILED, "LFS batch: the hub's answer has no objects list");
		goto done;
	}
	cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(ans, "objects"))
	{
		const cJSON *oid = cJSON_GetObjectItemCaseSensitive(o, "oid");
		const cJSON *err = cJSON_GetObjectItemCaseSensitive(o, "error");
		const cJSON *actions = cJSON_GetObjectItemCaseSensitive(o, "actions");
		if (!cJSON_IsString(oid) || err) {
			const cJSON *msg = cJSON_GetObjectItemCaseSensitive(err, "message");
			rc =
			    pf_error_code(PF_EFAILED, "LFS batch: the hub refused an object%s%.200s",
			                  cJSON_IsString(msg) ? ": " : "", cJSON_IsString(msg) ? msg->valuestring : "");
			goto done;
		}
		for (size_t i = 0; i < p->o->n_files; i++) {
			pf_hub_upload *f = &p->o->files[i];
			if (!f->lfs || f->unchanged || strcmp(f->sha256, oid->valuestring) != 0)
				continue;
			f->sent = true;
			if (!actions) {
				f->already_stored = true; /* the hub has these bytes: nothing to send */
				continue;
			}
			if ((rc = upload_object(p, f, actions)) < 0)
				goto done;
			actions = NULL; /* the same bytes under two paths go up once */
		}
	}
	for (size_t i = 0; i < p->o->n_files; i++)
		if (p->o->files[i].lfs && !p->o->files[i].unchanged && !p->o->files[i].sent) {
			rc = pf_error_code(PF_EFAILED,
			                   "LFS batch: the hub's answer leaves out \"%s\": nothing was committed",
			                   p->o->files[i].path_in_repo);
			goto done;
		}
done:
	cJSON_Delete(j);
	cJSON_Delete(ans);
	free(text);
	free(url);
	return rc;
}

static int add_line(pf_buf *nd, const char *key, cJSON *value)
{
	cJSON *line = cJSON_CreateObject();
	char *text;
	int rc;
	cJSON_AddStringToObject(line, "key", key);
	cJSON_AddItemToObject(line, "value", value);
	text = post_json(line);
	rc = pf_buf_puts(nd, text);
	if (rc == 0)
		rc = pf_buf_puts(nd, "\n");
	free(text);
	cJSON_Delete(line);
	return rc < 0 ? pf_error_code(PF_ELIMIT, "the commit is larger than the client allows") : 0;
}

static int commit(pub *p, pf_hub_publish_result *out, const char *head)
{
	pf_buf nd;
	cJSON *hdr = cJSON_CreateObject(), *ans = NULL;
	char *url = pf_xasprintf("%s/api/models/%s/commit/%s", p->c.endpoint, p->o->repo_id, p->quoted_rev);
	const cJSON *oid, *curl_;
	int rc = 0;
	pf_buf_init(&nd, (size_t)REGULAR_MAX * 2);
	cJSON_AddStringToObject(hdr, "summary", p->o->message);
	cJSON_AddStringToObject(hdr, "description", p->o->description ? p->o->description : "");
	cJSON_AddStringToObject(hdr, "parentCommit", head);
	if ((rc = add_line(&nd, "header", hdr)) < 0)
		goto done;
	for (size_t i = 0; i < p->o->n_files; i++) {
		const pf_hub_upload *f = &p->o->files[i];
		cJSON *v = cJSON_CreateObject();
		cJSON_AddStringToObject(v, "path", f->path_in_repo);
		if (f->unchanged) {
			cJSON_Delete(v);
			continue;
		}
		if (f->lfs) {
			cJSON_AddStringToObject(v, "algo", "sha256");
			cJSON_AddStringToObject(v, "oid", f->sha256);
			cJSON_AddNumberToObject(v, "size", (double)f->size);
			rc = add_line(&nd, "lfsFile", v);
		} else {
			pf_buf content;
			char *text64;
			pf_buf_init(&content, REGULAR_MAX);
			if (pf_fs_read_file(&content, f->local_path, REGULAR_MAX) < 0) {
				pf_buf_dispose(&content);
				cJSON_Delete(v);
				rc = pf_error_code(PF_EENV, "cannot read \"%s\" for the commit: %s", f->local_path,
				                   pf_error_last());
				goto done;
			}
			text64 = b64(content.data ? content.data : "", content.len);
			cJSON_AddStringToObject(v, "content", text64);
			cJSON_AddStringToObject(v, "encoding", "base64");
			free(text64);
			pf_buf_dispose(&content);
			rc = add_line(&nd, "file", v);
		}
		if (rc < 0)
			goto done;
	}
	{
		body b = {.mem = pf_buf_cstr(&nd), .mem_len = nd.len, .fd = -1};
		if ((rc = send_req(&p->c, "commit", "POST", url, "application/x-ndjson", &b, &p->resp, &p->h, true)) <
		    0)
			goto done;
	}
	if (!ok_status(p->h.status)) {
		rc = write_error(&p->c, &p->h, "commit", p->o->repo_id);
		goto done;
	}
	ans = parse_answer(&p->resp);
	oid = cJSON_GetObjectItemCaseSensitive(ans, "commitOid");
	curl_ = cJSON_GetObjectItemCaseSensitive(ans, "commitUrl");
	if (!cJSON_IsString(oid) || !pf_hub_is_commit(oid->valuestring) || !cJSON_IsString(curl_)) {
		rc = pf_error_code(PF_EFAILED, "commit: the hub's answer has no commitOid and commitUrl");
		goto done;
	}
	snprintf(out->commit, sizeof(out->commit), "%s", oid->valuestring);
	out->commit_url = pf_xstrdup(curl_->valuestring);
	out->committed = true;
done:
	cJSON_Delete(ans);
	pf_buf_dispose(&nd);
	free(url);
	return rc;
}

void pf_hub_publish_result_dispose(pf_hub_publish_result *r)
{
	if (!r)
		return;
	free(r->commit_url);
	free(r->parent);
	memset(r, 0, sizeof(*r));
}

/*
 * Before preupload: each file's size, and its sha256 unless the caller knows
 * it (publish passes the digests verify just computed, so a large artifact is
 * read once to check it and once to upload it, as huggingface_hub reads it).
 */
static int hash_files(const pf_hub_publish_options *o)
{
	for (size_t i = 0; i < o->n_files; i++) {
		pf_hub_upload *f = &o->files[i];
		int rc = pf_hub_is_sha256(f->sha256) ? pf_fs_size(&f->size, f->local_path)
		                                     : pf_sha256_file(f->sha256, &f->size, f->local_path);
		if (rc < 0)
			return pf_error_code(PF_EENV, "cannot read \"%s\": %s", f->local_path, pf_error_last());
	}
	return 0;
}

/* After preupload: the git blob id of the files that go in the commit body, and whether the hub has them. */
static int hash_regular(const pf_hub_publish_options *o)
{
	for (size_t i = 0; i < o->n_files; i++) {
		pf_hub_upload *f = &o->files[i];
		if (f->lfs)
			continue;
		if (pf_git_blob_sha1_file(f->git_sha1, f->local_path) < 0)
			return pf_error_code(PF_EENV, "cannot read \"%s\": %s", f->local_path, pf_error_last());
		f->unchanged = f->remote_oid[0] && !strcmp(f->remote_oid, f->git_sha1);
	}
	return 0;
}

int pf_hub_publish(pf_hub_publish_result *out, const pf_hub_publish_options *o)
{
	pub p;
	pf_hub_options ho = {.repo_id = o->repo_id, .revision = o->revision};
	char *head = NULL;
	size_t changed = 0;
	int rc;
	memset(out, 0, sizeof(*out));
	memset(&p, 0, sizeof(p));
	p.o = o;
	pf_buf_init(&p.resp, PF_HUB_JSON_MAX);
	pf_hub_headers_init(&p.h);
	if ((rc = pf_hub_repo_id_check(o->repo_id)) < 0 || (rc = pf_hub_ctx_init(&p.c, &ho)) < 0 ||
	    (rc = pf_hub_curl_ready()) < 0)
		goto done;
	if (o->n_files > MAX_FILES) {
		/* the Hub takes at most 256 paths per preupload and objects per LFS batch call */
		rc = pf_error_code(PF_EINVALID, "%zu files in one publish: pteflow publishes at most %u at a time",
		                   o->n_files, MAX_FILES);
		goto done;
	}
	if (!p.c.token) {
		rc = pf_error_code(PF_EAUTH, "publishing needs a token with write access: set HF_TOKEN");
		goto done;
	}
	if (!(p.c.api = curl_easy_init())) {
		rc = pf_error_code(PF_EENV, "cannot initialise libcurl");
		goto done;
	}
	p.quoted_rev = pf_hub_quote(o->revision ? o->revision : "main", false);
	if ((rc = hash_files(o)) < 0)
		goto done;
	if (o->create && (rc = create_repo(&p)) < 0)
		goto done;
	if ((rc = read_head(&p, &head)) < 0 || (rc = preupload(&p)) < 0 || (rc = hash_regular(o)) < 0 ||
	    (rc = lfs_upload(&p)) < 0)
		goto done;
	out->parent = pf_xstrdup(head);
	for (size_t i = 0; i < o->n_files; i++)
		changed += !o->files[i].unchanged;
	if (!changed) {
		snprintf(out->commit, sizeof(out->commit), "%s", head);
		out->commit_url = pf_xasprintf("%s/%s/commit/%s", p.c.endpoint, o->repo_id, head);
		pf_log_info("every file is already in \"%s\" at %.12s: nothing to commit", o->repo_id, head);
		goto done;
	}
	rc = commit(&p, out, head);
done:
	if (rc < 0)
		pf_hub_publish_result_dispose(out);
	free(head);
	free(p.quoted_rev);
	pf_hub_headers_dispose(&p.h);
	pf_buf_dispose(&p.resp);
	pf_hub_ctx_dispose(&p.c);
	return rc;
}
