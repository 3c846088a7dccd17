/*
 * The local artifact store (store.h): opening it, its locks, records in and
 * out, and the index of the last entry of each step. Objects are in
 * store_object.c, the record's JSON in store_record.c, listing and gc in
 * store_gc.c.
 *
 * Concurrency: objects and records are written to a temporary name and
 * renamed into place, so a reader sees a whole file or none; two runs that
 * store the same object write the same bytes. Runs hold store.lock shared
 * while they copy in or out, gc holds it exclusively, so gc never removes an
 * object a run is about to refer to, nor an entry a restore holds. One run at
 * a time computes a given fingerprint (locks/<fp>.lock); the other waits,
 * then restores. Every wait is bounded (PTEFLOW_STORE_LOCK_TIMEOUT) and ends
 * at the first SIGINT/SIGTERM.
 *
 * Threat model (README, "The store"): anyone who can write to the store
 * folder may plant links, FIFOs, huge or edited files in it. Every file is
 * reached through a descriptor of the store's own folders with O_NOFOLLOW and
 * O_NONBLOCK, checked to be a regular file of a bounded size before it is
 * read; temporary files have unpredictable names created with O_EXCL.
 */
#define _GNU_SOURCE
#include "cache/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proc/proc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/safefs.h"
#include "util/text.h"
#include "verify/hash.h"

const char *const pf_store_dir_names[PF_STORE_N_DIRS] = {"objects", "entries", "index", "locks", "tmp"};

static int open_lock_file(int dirfd, const char *name, const char *shown);

char *pf_store_default_dir(void)
{
	const char *env = getenv("PTEFLOW_STORE"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	if (env && env[0])
		return pf_xstrdup(env);
	if (xdg && xdg[0])
		return pf_xasprintf("%s/pteflow/store", xdg);
	return pf_xasprintf("%s/.cache/pteflow/store", home && home[0] ? home : ".");
}

/* A folder of the store, created, opened without following a link. */
static int open_subdir(pf_store *s, const char *name)
{
	int fd;
	if (mkdirat(s->root_fd, name, 0755) < 0 && errno != EEXIST)
		return pf_error_errno("the store folder \"%s/%s\" cannot be created", s->dir, name);
	fd = openat(s->root_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && (errno == ENOTDIR || errno == ELOOP))
		return pf_error_code(PF_EINVALID, "the store folder \"%s/%s\" is a symbolic link or not a folder: a store "
						  "holds only folders of its own (someone else wrote to it)", s->dir, name);
	if (fd < 0)
		return pf_error_errno("the store folder \"%s/%s\" cannot be opened", s->dir, name);
	return fd;
}

int pf_store_open(pf_store **out, const char *dir)
{
	pf_store *s = pf_xcalloc(1, sizeof(*s));
	int rc = 0, lock = -1;
	s->root_fd = -1;
	for (size_t i = 0; i < PF_STORE_N_DIRS; i++)
		s->fd[i] = -1;
	s->dir = dir ? pf_fs_absolute(dir) : NULL;
	if (!s->dir) {
		char *d = pf_store_default_dir();
		s->dir = pf_fs_absolute(d);
		free(d);
	}
	if ((rc = pf_fs_mkdir_p(s->dir)) < 0)
		goto done;
	s->root_fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root_fd < 0) {
		rc = pf_error_errno("\"%s\" cannot be opened", s->dir);
		goto done;
	}
	for (size_t i = 0; i < PF_STORE_N_DIRS && rc == 0; i++)
		if ((s->fd[i] = open_subdir(s, pf_store_dir_names[i])) < 0)
			rc = s->fd[i];
	/* store.lock once, to find an unusable store early */
	if (rc == 0) {
		char *shown = pf_fs_join(s->dir, "store.lock");
		if ((lock = open_lock_file(s->root_fd, "store.lock", shown)) < 0)
			rc = lock;
		free(shown);
	}
done:
	if (lock >= 0)
		close(lock);
	if (rc < 0) {
		rc = pf_error_code(PF_EENV, "the store \"%s\" cannot be used: %s; set PTEFLOW_STORE to a writable folder "
					    "or pass --no-cache", s->dir, pf_error_last());
		pf_store_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

const char *pf_store_dir(const pf_store *s)
{
	return s->dir;
}

void pf_store_free(pf_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < PF_STORE_N_DIRS; i++)
		if (s->fd[i] >= 0)
			close(s->fd[i]);
	if (s->root_fd >= 0)
		close(s->root_fd);
	free(s->dir);
	free(s);
}

/* ---- locks ---- */

/* Open (creating) a lock file under dirfd: no link followed, never a FIFO. */
static int open_lock_file(int dirfd, const char *name, const char *shown)
{
	struct stat st;
	int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ELOOP)
		return pf_error_code(PF_EINVALID, "the store lock \"%s\" is a symbolic link: it was not followed", shown);
	if (fd < 0)
		return pf_error_errno("the store lock \"%s\" cannot be opened", shown);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return pf_error_code(PF_EINVALID, "the store lock \"%s\" is not a regular file", shown);
	}
	return fd;
}

static unsigned lock_wait_s(void)
{
	const char *v = getenv("PTEFLOW_STORE_LOCK_TIMEOUT");
	char *end = NULL;
	unsigned long n;
	if (!v || !*v)
		return PF_STORE_LOCK_WAIT_S;
	n = strtoul(v, &end, 10);
	return end && !*end && n <= 86400ul * 7 ? (unsigned)n : PF_STORE_LOCK_WAIT_S;
}

/*
 * flock with a bound: polls (a blocking flock cannot be given a deadline, and
 * a signal handler that restarts it would never let the first Ctrl-C through).
 * PF_ELIMIT after the bound, PF_EINTR at a SIGINT/SIGTERM; both name the lock.
 */
static int wait_flock(int fd, int how, const char *shown, bool *waited)
{
	uint64_t deadline_ns, now_ns;
	struct timespec ts, nap = {0, 1000000};
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	deadline_ns = now_ns + (uint64_t)lock_wait_s() * 1000000000u;
	for (;;) {
		if (flock(fd, how | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return pf_error_errno("the store lock \"%s\" cannot be taken", shown);
		if (waited)
			*waited = true;
		if (pf_proc_interrupted())
			return pf_error_code(PF_EINTR, "interrupted while waiting for the store lock \"%s\"", shown);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		if (now_ns >= deadline_ns)
			return pf_error_code(PF_ELIMIT, "the store lock \"%s\" is still held by another process after %u s "
							"(a stuck run or gc?); the wait is bounded by PTEFLOW_STORE_LOCK_TIMEOUT",
					     shown, lock_wait_s());
		(void)nanosleep(&nap, NULL);
		if (nap.tv_nsec < 50000000)
			nap.tv_nsec *= 2;
	}
}

int pf_store_lock_store(pf_store *s, bool exclusive)
{
	char *shown = pf_fs_join(s->dir, "store.lock");
	int fd = open_lock_file(s->root_fd, "store.lock", shown), rc;
	if (fd >= 0 && (rc = wait_flock(fd, exclusive ? LOCK_EX : LOCK_SH, shown, NULL)) < 0) {
		close(fd);
		fd = rc;
	}
	free(shown);
	return fd;
}

int pf_store_lock(int *fd, pf_store *s, const char *fingerprint, bool *waited)
{
	char name[80], *shown;
	int f, rc = 0;
	*waited = false;
	(void)snprintf(name, sizeof(name), "%.64s.lock", fingerprint);
	shown = pf_xasprintf("%s/locks/%s", s->dir, name);
	f = open_lock_file(s->fd[PF_STORE_LOCKS], name, shown);
	if (f < 0) {
		rc = f;
		goto done;
	}
	if ((rc = wait_flock(f, LOCK_EX, shown, waited)) < 0) {
		close(f);
		goto done;
	}
	*fd = f;
done:
	free(shown);
	return rc;
}

void pf_store_unlock(int fd)
{
	if (fd >= 0) {
		flock(fd, LOCK_UN);
		close(fd);
	}
}

/* ---- records ---- */

int pf_store_read_entry(pf_store_entry **out, pf_store *s, const char *name)
{
	char *shown = pf_xasprintf("%s/entries/%s", s->dir, name), *text = NULL;
	uint64_t size = 0;
	size_t len = 0;
	struct stat st;
	int fd = pf_safefs_open_read(s->fd[PF_STORE_ENTRIES], name, &size, shown), rc = 0;
	*out = NULL;
	if (fd == PF_ENOTFOUND) {
		rc = fd;
		goto done;
	}
	if (fd < 0)
		rc = fd;
	else if (size > PF_STORE_RECORD_MAX_BYTES)
		rc = pf_error_code(PF_EINVALID, "it is larger than 16 MiB");
	else if ((rc = pf_safefs_read_all(&text, &len, fd, PF_STORE_RECORD_MAX_BYTES, shown)) == 0)
		rc = pf_store_entry_parse(out, text, len);
	if (rc < 0) {
		rc = pf_error_code(PF_EINVALID, "the store record \"%s\" is unreadable: %s", shown, pf_error_last());
		goto done;
	}
	if (fstat(fd, &st) == 0)
		(*out)->last_used = st.st_mtime;
done:
	if (fd >= 0)
		close(fd);
	free(text);
	free(shown);
	return rc;
}

int pf_store_get(pf_store_entry **out, pf_store *s, const char *fingerprint)
{
	char name[70];
	int rc;
	*out = NULL;
	pf_store_entry_name(name, fingerprint);
	rc = pf_store_read_entry(out, s, name);
	if (rc == 0 && strcmp((*out)->fingerprint, fingerprint)) {
		rc = pf_error_code(PF_EINVALID, "the store record \"%s/entries/%s\" holds another fingerprint", s->dir,
				   name);
		pf_store_entry_free(*out);
		*out = NULL;
	}
	return rc;
}

static void index_name(char id[65], const char *pipeline, const char *target, const char *step)
{
	pf_sha256 *h = pf_sha256_new();
	pf_sha256_update(h, pipeline, strlen(pipeline) + 1);
	pf_sha256_update(h, target ? target : "", strlen(target ? target : "") + 1);
	pf_sha256_update(h, step, strlen(step) + 1);
	pf_sha256_final_hex(h, id);
}

void pf_store_set_last(pf_store *s, const pf_store_entry *e)
{
	char id[65];
	index_name(id, e->pipeline ? e->pipeline : "", e->target, e->step ? e->step : "");
	if (pf_safefs_write_atomic(s->fd[PF_STORE_INDEX], id, e->fingerprint, 64, id) < 0)
		pf_log_warn("the store index \"%s/index/%s\" could not be updated: %s", s->dir, id, pf_error_last());
}

int pf_store_last(char out[65], pf_store *s, const char *pipeline, const char *target, const char *step)
{
	char id[65], *text = NULL;
	size_t len = 0;
	int fd, rc;
	index_name(id, pipeline, target, step);
	fd = pf_safefs_open_read(s->fd[PF_STORE_INDEX], id, NULL, id);
	if (fd < 0)
		return PF_ENOTFOUND;
	rc = pf_safefs_read_all(&text, &len, fd, 128, id);
	close(fd);
	if (rc == 0 && len == 64 && pf_is_sha256_hex(text))
		memcpy(out, text, 65);
	else
		rc = PF_ENOTFOUND;
	free(text);
	return rc;
}

int pf_store_entry_write(pf_store *s, const pf_store_entry *e)
{
	char *text = pf_store_entry_to_json(e), name[70];
	int rc;
	pf_store_entry_name(name, e->fingerprint);
	rc = pf_safefs_write_atomic(s->fd[PF_STORE_ENTRIES], name, text, strlen(text), name);
	if (rc == 0)
		pf_store_set_last(s, e);
	free(text);
	return rc;
}

int pf_store_put(pf_store *s, pf_store_entry *e, const char *out_dir, uint64_t *stored_bytes)
{
	uint64_t copied = 0;
	int rc = 0, lock = -1, out_fd = open(out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (out_fd < 0) {
		rc = pf_error_errno("the output folder \"%s\" cannot be opened", out_dir);
		goto done;
	}
	lock = pf_store_lock_store(s, false);
	if (lock < 0) {
		rc = lock;
		goto done;
	}
	for (size_t i = 0; i < e->n_outputs && rc == 0; i++)
		rc = pf_store_object_put(s, &e->outputs[i], out_fd, false, &copied);
	if (rc == 0 && e->log.path)
		rc = pf_store_object_put(s, &e->log, out_fd, false, &copied);
	if (rc == 0 && e->result.path)
		rc = pf_store_object_put(s, &e->result, out_fd, true, &copied);
	if (rc < 0)
		goto done;
	if ((rc = pf_store_entry_write(s, e)) < 0)
		goto done;
	if (stored_bytes)
		*stored_bytes = copied;
done:
	if (lock >= 0)
		close(lock);
	if (out_fd >= 0)
		close(out_fd);
	return rc;
}
