/*
 * Fetching an entry from the remote store into the local one, and pushing a
 * stored entry to it (remote.h). Workload: one record and one object per
 * file of a step, objects up to a few GiB streamed straight into the local
 * store's tmp/ and renamed into objects/ once their SHA-256 matched.
 *
 * Each fetch and push has an HTTP handle of its own: pushes run on the
 * store's copy threads while the main thread fetches for the next step. A
 * remote that cannot be reached is marked down (atomically) and skipped
 * for the rest of the run, so a dead server costs one connect timeout, not
 * one per step.
 */
#define _GNU_SOURCE
#include "cache/remote.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/remote_http.h"
#include "cache/store_internal.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/safefs.h"

/* A record's envelope: the record (at most PF_STORE_RECORD_MAX_BYTES) in base64, and the signatures. */
#define RECORD_MAX_BYTES (PF_STORE_RECORD_MAX_BYTES / 3u * 4u + 64u * 1024u)

struct pf_remote {
	pf_remote_options o;
	char *url;
	char *token;
	bool down; /* atomic */
};

int pf_remote_new(pf_remote **out, const pf_remote_options *o)
{
	pf_remote_http *probe = NULL;
	pf_remote_http_options ho = {.base_url = o->url};
	pf_remote *r;
	int rc;
	*out = NULL;
	if ((rc = pf_remote_http_new(&probe, &ho)) < 0) /* the URL's checks, once, before any step */
		return rc;
	pf_remote_http_free(probe);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return pf_error_code(PF_EENV, "cannot initialise libcurl");
	r = pf_xcalloc(1, sizeof(*r));
	r->o = *o;
	r->url = pf_xstrdup(o->url);
	r->token = o->token ? pf_xstrdup(o->token) : NULL;
	r->o.url = r->url;
	r->o.token = r->token;
	if (r->token && r->token[0]) { /* here, on the main thread: the registry of secrets is not for threads */
		const char *colon = strchr(r->token, ':');
		pf_secret_add(r->token);
		if (colon)
			pf_secret_add(colon + 1);
	}
	if (!r->o.upload_timeout_ms)
		r->o.upload_timeout_ms = PF_REMOTE_UPLOAD_TIMEOUT_MS;
	if (!r->o.connect_timeout_s)
		r->o.connect_timeout_s = 5;
	if (!r->o.stall_timeout_s)
		r->o.stall_timeout_s = 30;
	if (!r->o.max_attempts)
		r->o.max_attempts = 3;
	*out = r;
	return 0;
}

void pf_remote_free(pf_remote *r)
{
	if (!r)
		return;
	free(r->url);
	free(r->token);
	free(r);
	curl_global_cleanup();
}

const char *pf_remote_url(const pf_remote *r)
{
	return r->url;
}

bool pf_remote_writable(const pf_remote *r)
{
	return r->o.write;
}

bool pf_remote_down(const pf_remote *r)
{
	return __atomic_load_n(&r->down, __ATOMIC_ACQUIRE);
}

static int http_open(pf_remote_http **out, pf_remote *r)
{
	pf_remote_http_options ho = {
		.base_url = r->url,
		.token = r->token,
		.connect_timeout_s = r->o.connect_timeout_s,
		.stall_timeout_s = r->o.stall_timeout_s,
		.max_attempts = r->o.max_attempts,
		.backoff_ms = 200,
	};
	return pf_remote_http_new(out, &ho);
}

/* A request failed for the network or the server: mark the remote down for the rest of the run. */
static int note_down(pf_remote *r, const pf_remote_http *h, int rc)
{
	if (rc == PF_EENV && pf_remote_http_unreachable(h))
		__atomic_store_n(&r->down, true, __ATOMIC_RELEASE);
	return rc;
}

/* Download cas/<sha> of f into the local store, checked as it streams. */
static int fetch_object(pf_remote *r, pf_remote_http *h, pf_store *s, const pf_store_file *f)
{
	char tmp[PF_SAFEFS_TEMP_NAME], hex[65], *key = NULL;
	uint64_t size = 0;
	int fd, rc;
	if (pf_store_object_there(s, f))
		return 0;
	if ((fd = pf_safefs_temp(tmp, s->fd[PF_STORE_TMP], "remote")) < 0)
		return fd;
	key = pf_xasprintf("cas/%s", f->sha256);
	rc = pf_remote_http_get_file(h, key, fd, f->size_bytes, hex, &size);
	if (rc == PF_ENOTFOUND)
		rc = pf_error_code(PF_EINVALID, "\"%s\" (%s) is missing from the remote store", f->path, key);
	else if (rc == 0 && (size != f->size_bytes || strcmp(hex, f->sha256)))
		rc = pf_error_code(PF_EINVALID,
				   "\"%s\" from the remote store does not match its SHA-256 (%llu bytes, sha256 "
				   "%.16s..., expected %llu bytes, %.16s...): refused",
				   f->path, (unsigned long long)size, hex, (unsigned long long)f->size_bytes, f->sha256);
	else if (rc == PF_ELIMIT)
		rc = pf_error_code(PF_EINVALID, "\"%s\" from the remote store: %s: refused", f->path, pf_error_last());
	else if (rc < 0 && !pf_remote_http_unreachable(h) && rc != PF_EAUTH)
		rc = pf_error_code(PF_EINVALID, "\"%s\" from the remote store: %s: refused", f->path, pf_error_last());
	else if (rc < 0)
		note_down(r, h, rc);
	if (rc == 0 && (rc = pf_store_object_commit(s, fd, tmp, f, NULL)) == 0)
		tmp[0] = '\0';
	close(fd);
	if (tmp[0])
		(void)unlinkat(s->fd[PF_STORE_TMP], tmp, 0);
	free(key);
	return rc;
}

/* The files of an entry, in the order they are transferred (outputs, log, result). */
static size_t entry_files(const pf_store_file **files, const pf_store_entry *e)
{
	size_t n = 0;
	for (size_t i = 0; i < e->n_outputs; i++)
		files[n++] = &e->outputs[i];
	files[n++] = &e->log;
	if (e->result.path)
		files[n++] = &e->result;
	return n;
}

int pf_remote_fetch(pf_remote *r, pf_store *s, const char *fp, bool *verified)
{
	pf_remote_http *h = NULL;
	pf_store_entry *e = NULL;
	const pf_store_file **files = NULL;
	char *key = pf_xasprintf("ac/%s", fp), *text = NULL;
	size_t len = 0, n;
	int rc, lock = -1;
	*verified = false;
	if (pf_remote_down(r)) {
		rc = pf_error_code(PF_EENV, "remote store \"%s\" could not be reached earlier in this run", r->url);
		goto done;
	}
	if ((rc = http_open(&h, r)) < 0)
		goto done;
	if ((rc = note_down(r, h, pf_remote_http_get_text(h, key, RECORD_MAX_BYTES, &text, &len))) < 0)
		goto done;
	if ((rc = pf_remote_record_open(&e, verified, text, len, fp, r->o.trust_key)) < 0) {
		rc = pf_error_code(rc, "remote store entry %.16s... refused: %s", fp, pf_error_last());
		goto done;
	}
	if ((lock = pf_store_lock_store(s, false)) < 0) {
		rc = lock;
		goto done;
	}
	files = pf_xcalloc(e->n_outputs + 2, sizeof(*files));
	n = entry_files(files, e);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = fetch_object(r, h, s, files[i]);
	if (rc == 0)
		rc = pf_store_entry_write(s, e);
done:
	if (lock >= 0)
		close(lock);
	if (rc < 0)
		*verified = false;
	free(files);
	pf_store_entry_free(e);
	free(text);
	free(key);
	pf_remote_http_free(h);
	return rc;
}

/* Upload one object unless the remote has it (HEAD, same size). */
static int push_object(pf_remote_http *h, pf_store *s, const pf_store_file *f, uint64_t deadline_ms)
{
	char *key = pf_xasprintf("cas/%s", f->sha256), shown[80];
	uint64_t size = 0;
	int dfd = -1, fd = -1, rc;
	if (pf_remote_http_head(h, key, &size) == 0 && size == f->size_bytes) {
		rc = 0;
		goto done;
	}
	(void)snprintf(shown, sizeof(shown), "objects/%.2s/%.64s", f->sha256, f->sha256);
	if ((dfd = pf_store_object_dir(s, f->sha256, false)) < 0 ||
	    (fd = pf_safefs_open_read(dfd, f->sha256, &size, shown)) < 0) {
		rc = pf_error_code(PF_ENOTFOUND, "\"%s\" is no longer in the local store", f->path);
		goto done;
	}
	rc = pf_remote_http_put(h, key, fd, NULL, size, deadline_ms);
done:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	free(key);
	return rc;
}

int pf_remote_push(pf_remote *r, pf_store *s, const pf_store_entry *e)
{
	pf_remote_http *h = NULL;
	const pf_store_file **files = pf_xcalloc(e->n_outputs + 2, sizeof(*files));
	char *record = NULL, *key = pf_xasprintf("ac/%s", e->fingerprint);
	uint64_t deadline_ms = pf_clock_mono_ms() + r->o.upload_timeout_ms;
	size_t n = entry_files(files, e);
	int rc, lock = -1;
	if (pf_remote_down(r)) {
		rc = pf_error_code(PF_EENV, "remote store \"%s\" could not be reached earlier in this run", r->url);
		goto done;
	}
	if ((rc = http_open(&h, r)) < 0 || (rc = pf_remote_record_make(&record, e, r->o.sign_key)) < 0)
		goto done;
	if ((lock = pf_store_lock_store(s, false)) < 0) { /* gc must not remove the objects mid-upload */
		rc = lock;
		goto done;
	}
	/* every object first: a record is never there without all of its objects */
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = note_down(r, h, push_object(h, s, files[i], deadline_ms));
	if (rc == 0)
		rc = note_down(r, h, pf_remote_http_put(h, key, -1, record, strlen(record), deadline_ms));
done:
	if (lock >= 0)
		close(lock);
	free(files);
	free(record);
	free(key);
	pf_remote_http_free(h);
	return rc;
}
