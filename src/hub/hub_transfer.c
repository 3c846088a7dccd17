/*
 * Parallel file transfers for one snapshot with the curl multi interface:
 * per file a HEAD (metadata, relative redirects followed by hand), then a GET
 * of the chosen location into "<blob>.incomplete" beside the blob, hashed
 * while it streams, resumed with Range after a drop (and across runs: the
 * partial file is named by etag), checked (size, SHA-256 or git SHA-1) and
 * only then renamed into blobs/ and linked into snapshots/. From one to
 * hundreds of thousands of files, of any size, in constant memory per job.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hub/hub_net.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "verify/hash.h"

#define MAX_HOPS 10
#define MAX_HASH_RETRIES 1
#define ERRBODY_MAX 4096

typedef enum { J_PENDING, J_HEAD, J_PREP, J_GET, J_WAIT, J_DONE, J_FAILED } jstate;

typedef struct job {
	const pf_hub_entry *entry;
	pf_model_file *out;
	jstate state, after_wait;
	char *url; /* current HEAD url */
	char *get_url;
	int hops;
	pf_hub_headers h;
	CURL *easy;
	struct curl_slist *hdrs;
	char *etag;
	uint64_t size;
	bool lfs;
	char *tmp_path, *final_path, *lock_path;
	int fd, lock_fd;
	uint64_t written, attempt_start;
	pf_hub_hashjob hj;
	pf_hub_hasher *hasher;
	bool range_sent, body_checked, body_to_err, bad_range;
	bool private_tmp; /* no lock here: a partial file of this process only, never resumed by another */
	pf_buf errbody;
	int attempts, hash_failures, reheads;
	uint64_t rehead_at; /* bytes written when the last re-HEAD was asked */
	uint64_t retry_at_ms, first_fail_ms;
	int write_err;
	pf_hub_progress *prog;
} job;

typedef struct engine {
	pf_hub_ctx *c;
	pf_model_record *rec;
	CURLM *multi;
	job *jobs;
	size_t n, next;
	int active;
	int fatal;
	char *fatal_msg;
	pf_hub_progress *prog;
	char *local_meta_dir; /* <local_dir>/.cache/huggingface/download, local_dir mode only */
	bool kicked;          /* a transfer was added: drive it before sleeping in poll */
	pf_hub_hasher *hasher;
} engine;

static void fail(engine *e, job *j, int rc)
{
	j->state = J_FAILED;
	if (!e->fatal) {
		e->fatal = rc < 0 ? rc : PF_EGENERIC;
		e->fatal_msg = pf_xstrdup(pf_error_last());
	}
}

static void close_files(job *j, bool remove_tmp)
{
	pf_hub_hasher_cancel(j->hasher, &j->hj);
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	if ((remove_tmp || j->private_tmp) && j->tmp_path)
		unlink(j->tmp_path);
	if (j->lock_fd >= 0) {
		flock(j->lock_fd, LOCK_UN);
		close(j->lock_fd);
	}
	j->lock_fd = -1;
}

/* The job's bytes leave the progress count (a restart or a download again). */
static void forget_progress(job *j)
{
	j->prog->done_bytes -= j->written < j->prog->done_bytes ? j->written : j->prog->done_bytes;
}

/* Empty the partial file and hash from byte zero again: 0, or an error code with the message set. */
static int restart_from_zero(job *j)
{
	if (ftruncate(j->fd, 0) != 0 || lseek(j->fd, 0, SEEK_SET) < 0)
		return pf_error_errno("cannot truncate \"%s\"", j->tmp_path);
	pf_hub_hasher_start(j->hasher, &j->hj, j->fd, 0);
	forget_progress(j);
	j->written = 0;
	j->attempt_start = 0;
	return 0;
}

static void detach(engine *e, job *j)
{
	if (j->easy) {
		curl_multi_remove_handle(e->multi, j->easy);
		curl_easy_cleanup(j->easy);
		j->easy = NULL;
	}
	curl_slist_free_all(j->hdrs);
	j->hdrs = NULL;
}

static void job_dispose(engine *e, job *j)
{
	detach(e, j);
	close_files(j, false);
	pf_hub_headers_dispose(&j->h);
	pf_buf_dispose(&j->errbody);
	free(j->url);
	free(j->get_url);
	free(j->etag);
	free(j->tmp_path);
	free(j->final_path);
	free(j->lock_path);
}

static bool local_mode(const engine *e)
{
	return e->c->opts->local_dir != NULL;
}

static char *blob_path(const engine *e, const char *etag)
{
	return pf_xasprintf("%s/blobs/%s", e->c->repo_dir, etag);
}

static int ensure_parent(const char *file)
{
	char *dir = pf_xstrdup(file);
	char *slash = strrchr(dir, '/');
	int rc = 0;
	if (slash && slash != dir) {
		*slash = '\0';
		rc = pf_fs_mkdir_p(dir);
	}
	free(dir);
	return rc;
}

static void mark_done(engine *e, job *j, bool from_cache)
{
	j->state = J_DONE;
	j->out->from_cache = from_cache;
	e->prog->n_done++;
	if (from_cache)
		e->prog->n_cached++;
	else
		e->rec->bytes_downloaded += j->size;
}

/* The file is already where it belongs: record it without any request. */
static int record_cached(engine *e, job *j, const char *file)
{
	int rc;
	if ((rc = pf_hub_cached_sha256(j->out->sha256, &j->out->size_bytes, file)) < 0)
		return rc;
	if (!j->out->etag)
		j->out->etag =
		    pf_xstrdup(j->entry->lfs_sha256 ? j->entry->lfs_sha256 : (j->entry->oid ? j->entry->oid : ""));
	j->out->lfs = j->entry->lfs_sha256 != NULL;
	if (e->prog->total_bytes >= j->entry->size_bytes)
		e->prog->total_bytes -= j->entry->size_bytes;
	mark_done(e, j, true);
	return 0;
}

/* local_dir bookkeeping: download/<path>.metadata = "commit\netag\ntimestamp\n" */
static char *meta_path(const engine *e, const job *j, const char *suffix)
{
	return pf_xasprintf("%s/%s%s", e->local_meta_dir, j->entry->path, suffix);
}

static bool local_meta_matches(const engine *e, const job *j, const char *etag)
{
	char *mp = meta_path(e, j, ".metadata");
	pf_buf b;
	bool ok = false;
	pf_buf_init(&b, 4096);
	if (pf_fs_read_file(&b, mp, 4096) == 0) {
		const char *s = pf_buf_cstr(&b);
		const char *nl = strchr(s, '\n');
		if (nl) {
			const char *e2 = strchr(nl + 1, '\n');
			size_t elen = e2 ? (size_t)(e2 - nl - 1) : strlen(nl + 1);
			ok = (size_t)(nl - s) == strlen(e->rec->commit) &&
			     !strncmp(s, e->rec->commit, (size_t)(nl - s)) && strlen(etag) == elen &&
			     !strncmp(nl + 1, etag, elen);
		}
	}
	pf_error_clear();
	pf_buf_dispose(&b);
	free(mp);
	return ok;
}

static int write_local_meta(const engine *e, const job *j)
{
	char *mp = meta_path(e, j, ".metadata");
	char *text = pf_xasprintf("%s\n%s\n%ld.0\n", e->rec->commit, j->etag, (long)time(NULL));
	int rc = ensure_parent(mp);
	if (rc == 0)
		rc = pf_fs_write_atomic(mp, text, strlen(text));
	free(text);
	free(mp);
	return rc;
}

static void start_head(engine *e, job *j);
static void start_get(engine *e, job *j);
static void prepare(engine *e, job *j);

static void schedule_retry(engine *e, job *j, jstate what, const pf_hub_headers *h, const char *why)
{
	uint64_t now = pf_hub_now_ms(), wait;
	if (j->written > j->attempt_start) {
		/* progress was made: the counter and the time limit restart */
		j->attempts = 0;
		j->first_fail_ms = 0;
	}
	if (!j->first_fail_ms)
		j->first_fail_ms = now;
	wait = pf_hub_backoff_ms(e->c, j->attempts + 1, h);
	if (++j->attempts > e->c->max_retries || now - j->first_fail_ms + wait > e->c->retry_budget_ms) {
		int rc;
		if (h && h->status >= 400)
			rc = pf_hub_http_error(e->c, h, j->entry->path);
		else
			rc = pf_error_code(PF_EENV, "download of \"%s\" failed after %d attempts: %s", j->entry->path,
			                   j->attempts, why);
		close_files(j, false);
		fail(e, j, rc);
		return;
	}
	pf_log_info("\"%s\": %s; retrying in %llu ms (attempt %d of %d)", j->entry->path, why, (unsigned long long)wait,
	            j->attempts + 1, e->c->max_retries + 1);
	j->retry_at_ms = now + wait;
	j->after_wait = what;
	j->state = J_WAIT;
}

static CURL *new_easy(engine *e, job *j, const char *url, bool head, const char *extra)
{
	CURL *h = curl_easy_init();
	if (!h) {
		pf_log_error("out of memory creating a transfer");
		exit(3);
	}
	pf_hub_easy_common(e->c, h);
	j->hdrs = pf_hub_request_headers(e->c, url, head, extra);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, j->hdrs);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, pf_hub_header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &j->h);
	curl_easy_setopt(h, CURLOPT_PRIVATE, (void *)j);
	curl_easy_setopt(h, CURLOPT_NOBODY, head ? 1L : 0L);
	pf_hub_headers_dispose(&j->h);
	return h;
}

static void start_head(engine *e, job *j)
{
	detach(e, j);
	j->easy = new_easy(e, j, j->url, true, NULL);
	j->state = J_HEAD;
	curl_multi_add_handle(e->multi, j->easy);
	e->kicked = true;
}

/* After a good HEAD: the etag names the blob; a blob already stored costs nothing more. */
static void on_metadata(engine *e, job *j)
{
	const pf_hub_headers *h = &j->h;
	const char *etag = h->linked_etag ? h->linked_etag : h->etag;
	int rc;
	if (!h->repo_commit || !etag || !*etag ||
	    !(h->has_linked_size || (h->has_content_length && (h->status < 300 || h->status >= 400)))) {
		rc = pf_error_code(
		    PF_EGENERIC,
		    "the hub's answer for \"%s\" lacks X-Repo-Commit, ETag or size: is %s a Hugging Face hub?",
		    j->entry->path, e->c->endpoint);
		fail(e, j, rc);
		return;
	}
	if (pf_hub_path_check(etag, strlen(etag)) < 0 || strchr(etag, '/')) {
		fail(e, j, pf_error_code(PF_EINVALID, "the hub sent an unusable etag for \"%s\"", j->entry->path));
		return;
	}
	free(j->etag);
	j->etag = pf_xstrdup(etag);
	j->size = h->has_linked_size ? h->linked_size : h->content_length;
	/* a sha256 etag is checked as one; any other form (a mirror's MD5, say) is size-checked only */
	j->lfs = pf_hub_is_sha256(etag);
	if (j->lfs && j->entry->lfs_sha256 && strcmp(j->entry->lfs_sha256, j->etag)) {
		fail(e, j,
		     pf_error_code(PF_EFAILED, "the hub's listing and file metadata disagree on \"%s\"",
		                   j->entry->path));
		return;
	}
	free(j->out->etag);
	j->out->etag = pf_xstrdup(j->etag);
	j->out->lfs = j->lfs;
	j->out->size_bytes = j->size;
	/* progress total follows the HEAD size */
	e->prog->total_bytes =
	    e->prog->total_bytes - (e->prog->total_bytes >= j->entry->size_bytes ? j->entry->size_bytes : 0) + j->size;
	if (!local_mode(e)) {
		char *blob = blob_path(e, j->etag);
		bool have = pf_hub_file_ok(blob);
		if (have && (rc = pf_hub_snapshot_link(e->c->repo_dir, e->rec->commit, j->entry->path, j->etag)) == 0)
			rc = record_cached(e, j, blob);
		free(blob);
		if (have) {
			if (rc < 0)
				fail(e, j, rc);
			return;
		}
	}
	prepare(e, j);
}

/* Lock, open the partial file named by etag, hash what it already holds. */
static void prepare(engine *e, job *j)
{
	struct stat st;
	int rc;
	free(j->tmp_path);
	free(j->lock_path);
	free(j->final_path);
	j->private_tmp = false;
	if (local_mode(e)) {
		j->tmp_path = meta_path(e, j, "");
		{
			char *t = pf_xasprintf("%s.%s.incomplete", j->tmp_path, j->etag);
			free(j->tmp_path);
			j->tmp_path = t;
		}
		j->lock_path = meta_path(e, j, ".lock");
		j->final_path = pf_xasprintf("%s/%s", e->c->opts->local_dir, j->entry->path);
	} else {
		j->tmp_path = pf_xasprintf("%s/blobs/%s.incomplete", e->c->repo_dir, j->etag);
		j->lock_path = pf_xasprintf("%s/%s.lock", e->c->locks_dir, j->etag);
		j->final_path = blob_path(e, j->etag);
	}
	if ((rc = ensure_parent(j->tmp_path)) < 0 || (rc = ensure_parent(j->lock_path)) < 0 ||
	    (rc = ensure_parent(j->final_path)) < 0) {
		fail(e, j, rc);
		return;
	}
	if (j->lock_fd < 0) {
		j->lock_fd = open(j->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0664);
		if (j->lock_fd < 0) {
			fail(e, j, pf_error_errno("cannot create the lock \"%s\"", j->lock_path));
			return;
		}
	}
	if (flock(j->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK) {
			/* another process downloads this blob: look again shortly */
			j->retry_at_ms = pf_hub_now_ms() + 250;
			j->after_wait = J_PREP;
			j->state = J_WAIT;
			return;
		}
		/* flock unsupported (some network file systems): without a lock two processes must not share
		 * one partial file, so this one writes its own (no resume across runs) */
		{
			static unsigned seq;
			int err = errno;
			char *t = pf_xasprintf("%.*s.%ld-%u.incomplete", (int)(strlen(j->tmp_path) - strlen(".incomplete")),
			                       j->tmp_path, (long)getpid(), ++seq);
			pf_log_info("\"%s\": cannot lock \"%s\" (%s); downloading into a file of this run only",
			            j->entry->path, j->lock_path, strerror(err));
			free(j->tmp_path);
			j->tmp_path = t;
			j->private_tmp = true;
		}
	}
	if (!local_mode(e) && pf_hub_file_ok(j->final_path)) {
		/* finished by another process while we waited */
		close_files(j, false);
		rc = pf_hub_snapshot_link(e->c->repo_dir, e->rec->commit, j->entry->path, j->etag);
		if (rc == 0)
			rc = record_cached(e, j, j->final_path);
		if (rc < 0)
			fail(e, j, rc);
		return;
	}
	j->fd = open(j->tmp_path, O_RDWR | O_CREAT | O_CLOEXEC | (j->private_tmp ? O_EXCL : 0), 0644);
	if (j->fd < 0 || fstat(j->fd, &st) != 0) {
		fail(e, j, pf_error_errno("cannot open \"%s\"", j->tmp_path));
		return;
	}
	j->written = 0;
	if ((uint64_t)st.st_size > j->size) {
		if (ftruncate(j->fd, 0) != 0) {
			fail(e, j, pf_error_errno("cannot truncate \"%s\"", j->tmp_path));
			return;
		}
	} else if (st.st_size > 0) {
		/* resume: the bytes already there enter the hash first (the hasher reads them back) */
		j->written = (uint64_t)st.st_size;
		pf_log_info("\"%s\": resuming from byte %llu of %llu", j->entry->path, (unsigned long long)j->written,
		            (unsigned long long)j->size);
	}
	if (lseek(j->fd, (off_t)j->written, SEEK_SET) < 0) {
		fail(e, j, pf_error_errno("cannot seek in \"%s\"", j->tmp_path));
		return;
	}
	pf_hub_hasher_start(j->hasher, &j->hj, j->fd, j->written);
	e->prog->done_bytes += j->written;
	start_get(e, j);
}

static size_t write_cb(char *data, size_t size, size_t nitems, void *userdata)
{
	job *j = userdata;
	size_t len = size * nitems, off = 0;
	if (!j->body_checked) {
		long code = 0;
		curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
		j->body_checked = true;
		if (code == 200 && j->written > 0) {
			/* the server ignored Range: start again from zero */
			pf_log_info("\"%s\": the server ignored the Range request; restarting from zero", j->out->path);
			if ((j->write_err = restart_from_zero(j)) < 0)
				return 0;
		} else if (code == 206 && (!j->h.has_range_start || j->h.range_start != j->written)) {
			/* bytes from another offset than the one asked: none of them can be kept */
			j->bad_range = true;
			return 0;
		} else if (code != 200 && code != 206) {
			j->body_to_err = true;
		}
	}
	if (j->body_to_err) {
		size_t room = ERRBODY_MAX - j->errbody.len;
		pf_buf_append(&j->errbody, data, len < room ? len : room);
		return len;
	}
	if (len > j->size - j->written) {
		j->write_err =
		    pf_error_code(PF_EFAILED, "the server sent more bytes than the %llu announced for \"%s\"",
		                  (unsigned long long)j->size, j->out->path);
		return 0;
	}
	while (off < len) {
		ssize_t n = write(j->fd, data + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			j->write_err = pf_error_errno("cannot write \"%s\"", j->tmp_path);
			return 0;
		}
		off += (size_t)n;
	}
	j->written += len;
	pf_hub_hasher_advance(j->hasher, &j->hj, j->written);
	j->prog->done_bytes += len;
	j->prog->current = j->out->path;
	j->prog->current_done = j->written;
	j->prog->current_size = j->size;
	return len;
}

static void start_get(engine *e, job *j)
{
	char *range = NULL;
	detach(e, j);
	if (j->written == j->size) {
		/* complete already (an earlier run, or a drop after the last byte): no request, no 416 */
		j->state = J_GET;
		return;
	}
	if (j->written > 0)
		range = pf_xasprintf("Range: bytes=%llu-", (unsigned long long)j->written);
	j->range_sent = range != NULL;
	j->body_checked = false;
	j->body_to_err = false;
	j->bad_range = false;
	j->write_err = 0;
	j->attempt_start = j->written;
	pf_buf_reset(&j->errbody);
	j->easy = new_easy(e, j, j->get_url, false, range);
	/* bigger reads mean fewer write(2) and hash calls; 8 jobs x 512 KiB stays far under the RSS target */
	curl_easy_setopt(j->easy, CURLOPT_BUFFERSIZE, 512L * 1024L);
	curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(j->easy, CURLOPT_WRITEDATA, j);
	free(range);
	j->state = J_GET;
	curl_multi_add_handle(e->multi, j->easy);
	e->kicked = true;
}

static bool hex_eq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/* All bytes are in the partial file: check and move into place. */
static void finish(engine *e, job *j)
{
	char sha[65];
	int rc = 0;
	bool ok;
	if (j->written != j->size) {
		fail(e, j,
		     pf_error_code(PF_EFAILED, "\"%s\" is %llu bytes, the hub announced %llu", j->entry->path,
		                   (unsigned long long)j->written, (unsigned long long)j->size));
		close_files(j, true);
		return;
	}
	if ((rc = pf_hub_hasher_finish(j->hasher, &j->hj, sha)) < 0) {
		close_files(j, true);
		fail(e, j, rc);
		return;
	}
	if (j->lfs) {
		ok = hex_eq(sha, j->etag);
	} else if (strlen(j->etag) == 40) {
		char sha1[41];
		ok = pf_git_blob_sha1_file(sha1, j->tmp_path) == 0 && hex_eq(sha1, j->etag);
	} else {
		ok = true; /* an etag of unknown form: the size check above is all we have */
	}
	if (!ok) {
		close_files(j, true);
		if (++j->hash_failures <= MAX_HASH_RETRIES) {
			pf_log_warn("\"%s\": content does not match its %s; downloading it again", j->entry->path,
			            j->lfs ? "sha256" : "git hash");
			forget_progress(j);
			prepare(e, j);
			return;
		}
		fail(e, j,
		     pf_error_code(
		         PF_EFAILED,
		         "\"%s\" does not match its %s %s after %d downloads: the hub or a proxy serves wrong bytes",
		         j->entry->path, j->lfs ? "sha256" : "git blob id", j->etag, j->hash_failures));
		return;
	}
	memcpy(j->out->sha256, sha, sizeof(sha));
	{
		mode_t um = umask(0);
		umask(um);
		if (fchmod(j->fd, 0666 & ~um) != 0) {
			rc = pf_error_errno("cannot set the mode of \"%s\"", j->tmp_path);
			goto out;
		}
	}
	if (rename(j->tmp_path, j->final_path) != 0) {
		rc = pf_error_errno("cannot move \"%s\" into place", j->tmp_path);
		goto out;
	}
	if (local_mode(e))
		rc = write_local_meta(e, j);
	else
		rc = pf_hub_snapshot_link(e->c->repo_dir, e->rec->commit, j->entry->path, j->etag);
out:
	close_files(j, rc < 0);
	if (rc < 0) {
		fail(e, j, rc);
		return;
	}
	mark_done(e, j, false);
}

/* Headers broke a limit or the grammar: asking again would get the same answer. */
static int rejected_headers(const engine *e, const job *j, const char *url)
{
	char *why = pf_xstrdup(pf_error_last());
	char *origin = pf_hub_url_origin(url);
	bool hub = origin && !strcmp(origin, e->c->endpoint_origin);
	int rc = pf_error_code(PF_EINVALID, "%s %s sent unusable headers for \"%s\" (%s)%s",
	                       hub ? "the hub" : "the file server", origin ? origin : "?", j->entry->path, why,
	                       hub ? ": is it a Hugging Face hub?" : "");
	free(origin);
	free(why);
	return rc;
}

static void head_done(engine *e, job *j, CURLcode cc)
{
	const pf_hub_headers *h = &j->h;
	if (h->rejected) {
		fail(e, j, rejected_headers(e, j, j->url));
		return;
	}
	if (cc != CURLE_OK) {
		schedule_retry(e, j, J_HEAD, NULL, curl_easy_strerror(cc));
		return;
	}
	if (h->status >= 300 && h->status < 400 && h->location) {
		char *next = pf_hub_url_relative(j->url, h->location);
		bool elsewhere = pf_hub_url_is_absolute(h->location) || !strncmp(h->location, "//", 2);
		if (!next) {
			fail(e, j, pf_error_code(PF_EGENERIC, "the hub sent an unusable redirect for \"%s\"", j->entry->path));
			return;
		}
		if (elsewhere && h->repo_commit) {
			/* the file's metadata came with the redirect: the location is the file server (a CDN) */
			free(j->get_url);
			j->get_url = next;
			on_metadata(e, j);
			return;
		}
		/* a relative redirect (renamed repo, resolve cache), or an absolute one without the file's
		 * metadata (a mirror sending us to its canonical host): ask there */
		if (++j->hops > MAX_HOPS) {
			free(next);
			fail(e, j,
			     pf_error_code(PF_EGENERIC, "the hub redirected \"%s\" more than %d times", j->entry->path,
			                   MAX_HOPS));
			return;
		}
		free(j->url);
		j->url = next;
		start_head(e, j);
		return;
	}
	if (h->status >= 200 && h->status < 300) {
		free(j->get_url);
		j->get_url = pf_xstrdup(j->url);
		on_metadata(e, j);
		return;
	}
	if (pf_hub_status_retryable(h->status)) {
		char why[64];
		snprintf(why, sizeof(why), "the hub answered %ld", h->status);
		schedule_retry(e, j, J_HEAD, h, why);
		return;
	}
	fail(e, j, pf_hub_http_error(e->c, h, j->entry->path));
}

static void get_done(engine *e, job *j, CURLcode cc)
{
	long code = 0;
	char why[160];
	if (j->write_err) {
		/* disk full, or more bytes than announced: nothing half-written stays */
		close_files(j, true);
		fail(e, j, j->write_err);
		return;
	}
	if (j->h.rejected) {
		close_files(j, false);
		fail(e, j, rejected_headers(e, j, j->get_url));
		return;
	}
	if (j->easy)
		curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
	if (!j->easy || (cc == CURLE_OK && (code == 200 || code == 206) && j->written == j->size)) {
		finish(e, j);
		return;
	}
	if ((cc == CURLE_OK && code == 416) || j->bad_range) {
		/* our offset is past what the server has, or it answered another range: start from zero */
		int rc = restart_from_zero(j);
		if (rc < 0) {
			close_files(j, true);
			fail(e, j, rc);
			return;
		}
		schedule_retry(e, j, J_GET, NULL,
		               j->bad_range ? "the server answered a different byte range than asked"
		                            : "the server refused the resume offset (416)");
		return;
	}
	if (cc == CURLE_OK && code >= 300 && code < 400 && j->h.location) {
		/* the file server moved the bytes (an S3 or CDN redirect on GET): follow, token-less elsewhere */
		char *next = pf_hub_url_relative(j->get_url, j->h.location);
		if (!next || ++j->hops > MAX_HOPS) {
			free(next);
			close_files(j, false);
			fail(e, j,
			     pf_error_code(PF_EGENERIC, "the file server redirected \"%s\" more than %d times",
			                   j->entry->path, MAX_HOPS));
			return;
		}
		free(j->get_url);
		j->get_url = next;
		start_get(e, j);
		return;
	}
	if (cc == CURLE_OK && code >= 400 && !pf_hub_status_retryable(code)) {
		pf_hub_headers hh = j->h;
		char *origin = pf_hub_url_origin(j->get_url);
		bool hub_host = origin && !strcmp(origin, e->c->endpoint_origin);
		hh.status = code;
		if (!hub_host && (j->reheads == 0 || j->written > j->rehead_at)) {
			/* a signed file-server URL expires (about an hour on the Hub): ask the hub for a fresh
			 * one and resume; once more only after new bytes arrived, so a refusal cannot loop */
			pf_log_info("\"%s\": the file server answered %ld; asking the hub for a fresh location",
			            j->entry->path, code);
			free(origin);
			j->reheads++;
			j->rehead_at = j->written;
			close_files(j, false);
			forget_progress(j);
			j->written = 0;
			j->hops = 0;
			free(j->url);
			j->url = pf_hub_resolve_url(e->c->endpoint, e->c->repo_type, e->c->opts->repo_id,
			                            e->rec->commit, j->entry->path);
			start_head(e, j);
			return;
		}
		close_files(j, false);
		if (hub_host)
			fail(e, j, pf_hub_http_error(e->c, &hh, j->entry->path));
		else
			fail(
			    e, j,
			    pf_error_code(
			        PF_EENV,
			        "the file server %s answered %ld for \"%s\" (a signed URL may have expired): run again",
			        origin ? origin : "?", code, j->entry->path));
		free(origin);
		return;
	}
	if (cc != CURLE_OK)
		snprintf(why, sizeof(why), "%s after %llu of %llu bytes", curl_easy_strerror(cc),
		         (unsigned long long)j->written, (unsigned long long)j->size);
	else if (pf_hub_status_retryable(code))
		snprintf(why, sizeof(why), "the server answered %ld", code);
	else
		snprintf(why, sizeof(why), "the connection ended after %llu of %llu bytes",
		         (unsigned long long)j->written, (unsigned long long)j->size);
	schedule_retry(e, j, J_GET, cc == CURLE_OK ? &j->h : NULL, why);
}

static void start_job(engine *e, job *j)
{
	char *snap = NULL;
	const char *etag = j->entry->lfs_sha256 ? j->entry->lfs_sha256 : j->entry->oid;
	int rc = 0;
	e->active++;
	if (local_mode(e)) {
		snap = pf_xasprintf("%s/%s", e->c->opts->local_dir, j->entry->path);
		if (etag && pf_hub_file_ok(snap) && local_meta_matches(e, j, etag)) {
			j->out->etag = pf_xstrdup(etag);
			rc = record_cached(e, j, snap);
			goto done;
		}
	} else {
		snap = pf_xasprintf("%s/snapshots/%s/%s", e->c->repo_dir, e->rec->commit, j->entry->path);
		if (pf_hub_file_ok(snap)) {
			rc = record_cached(e, j, snap);
			goto done;
		}
		if (etag) {
			/* the listing already names the blob: link it without a request */
			char *blob = blob_path(e, etag);
			if (pf_hub_file_ok(blob)) {
				j->out->etag = pf_xstrdup(etag);
				rc = pf_hub_snapshot_link(e->c->repo_dir, e->rec->commit, j->entry->path, etag);
				if (rc == 0)
					rc = record_cached(e, j, blob);
				free(blob);
				goto done;
			}
			free(blob);
		}
	}
	j->url =
	    pf_hub_resolve_url(e->c->endpoint, e->c->repo_type, e->c->opts->repo_id, e->rec->commit, j->entry->path);
	start_head(e, j);
done:
	if (rc < 0)
		fail(e, j, rc);
	free(snap);
}

static void wake(engine *e, job *j)
{
	switch (j->after_wait) {
	case J_HEAD:
		start_head(e, j);
		break;
	case J_PREP:
		prepare(e, j);
		break;
	default:
		start_get(e, j);
		break;
	}
}

static int run(engine *e)
{
	int jobs = e->c->opts->jobs > 0 ? e->c->opts->jobs : 8;
	for (;;) {
		int running = 0;
		CURLMsg *msg;
		int left;
		uint64_t now = pf_hub_now_ms();
		while (!e->fatal && e->active < jobs && e->next < e->n) {
			job *j = &e->jobs[e->next++];
			start_job(e, j);
			if (j->state == J_DONE || j->state == J_FAILED)
				e->active--;
		}
		for (size_t i = 0; i < e->next && !e->fatal; i++) {
			job *j = &e->jobs[i];
			if (j->state == J_WAIT && j->retry_at_ms <= now) {
				wake(e, j);
				if (j->state == J_DONE || j->state == J_FAILED) {
					detach(e, j);
					e->active--;
				}
			} else if (j->state == J_GET && !j->easy) {
				/* complete partial file: finish without a request */
				get_done(e, j, CURLE_OK);
				if (j->state == J_DONE || j->state == J_FAILED) {
					detach(e, j);
					e->active--;
				}
			}
		}
		if (e->fatal || (e->active == 0 && e->next >= e->n))
			break;
		curl_multi_perform(e->multi, &running);
		while ((msg = curl_multi_info_read(e->multi, &left))) {
			job *j;
			char *priv = NULL;
			jstate before;
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
			j = (job *)(void *)priv;
			before = j->state;
			{
				CURLcode cc = msg->data.result;
				curl_multi_remove_handle(e->multi, j->easy);
				if (before == J_HEAD)
					head_done(e, j, cc);
				else
					get_done(e, j, cc);
			}
			if (j->state == J_DONE || j->state == J_FAILED) {
				detach(e, j);
				e->active--;
			}
			if (e->fatal)
				break;
		}
		if (e->fatal)
			break;
		pf_hub_progress_tick(e->prog, false);
		/* new transfers (or free slots to fill): go round at once, their sockets are not polled yet */
		if (e->kicked || (e->active < jobs && e->next < e->n))
			e->kicked = false;
		else
			curl_multi_poll(e->multi, NULL, 0, 50, NULL);
	}
	return e->fatal;
}

int pf_hub_transfer_all(pf_hub_ctx *c, pf_model_record *rec, const pf_hub_listing *l, pf_hub_progress *prog)
{
	engine e;
	int rc = 0;
	memset(&e, 0, sizeof(e));
	e.c = c;
	e.rec = rec;
	e.prog = prog;
	e.n = l->n_entries;
	e.hasher = pf_hub_hasher_new();
	if (!e.hasher)
		return pf_error_code(PF_EENV, "cannot start the hashing thread: too many processes or threads?");
	e.jobs = pf_xcalloc(e.n ? e.n : 1, sizeof(*e.jobs));
	rec->files = pf_xcalloc(e.n ? e.n : 1, sizeof(*rec->files));
	rec->n_files = e.n;
	if (c->opts->local_dir)
		e.local_meta_dir = pf_xasprintf("%s/.cache/huggingface/download", c->opts->local_dir);
	prog->n_files = e.n;
	for (size_t i = 0; i < e.n; i++) {
		job *j = &e.jobs[i];
		j->entry = &l->entries[i];
		j->out = &rec->files[i];
		j->out->path = pf_xstrdup(j->entry->path);
		j->out->size_bytes = j->entry->size_bytes;
		j->out->lfs = j->entry->lfs_sha256 != NULL;
		j->fd = -1;
		j->lock_fd = -1;
		j->prog = prog;
		j->hasher = e.hasher;
		pf_hub_headers_init(&j->h);
		pf_buf_init(&j->errbody, ERRBODY_MAX);
		prog->total_bytes += j->entry->size_bytes;
	}
	e.multi = curl_multi_init();
	curl_multi_setopt(e.multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	curl_multi_setopt(e.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)(c->opts->jobs > 0 ? c->opts->jobs : 8));
	rc = run(&e);
	if (prog->n_cached < prog->n_done)
		pf_hub_progress_tick(prog, true);
	for (size_t i = 0; i < e.n; i++) {
		job *j = &e.jobs[i];
		/* a fatal disk error removes every partial file of this run: nothing half-written stays */
		if (rc == PF_EENV && j->fd >= 0 && e.fatal_msg && strstr(e.fatal_msg, "No space"))
			close_files(j, true);
		job_dispose(&e, j);
	}
	curl_multi_cleanup(e.multi);
	pf_hub_hasher_free(e.hasher);
	if (rc < 0)
		pf_error_code(rc, "%s", e.fatal_msg ? e.fatal_msg : "download failed");
	free(e.fatal_msg);
	free(e.local_meta_dir);
	free(e.jobs);
	return rc;
}
