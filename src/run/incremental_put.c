/*
 * The store's side of a step that ran (incremental.h): hash what it wrote,
 * then copy it into the local store on a thread of its own while the next
 * steps run, and push it to the remote store (when there is one and it may
 * be written) from that same thread, so neither copy holds up the run until
 * pf_inc_finish. Workload: one thread per step that ran; the copies are
 * bounded by the disk, the push by the remote's upload timeout.
 */
#define _GNU_SOURCE
#include "run/incremental.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache/snapshot.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "verify/hash.h"

/*
 * Hash a step's outputs (the later steps' fingerprints need them at once),
 * with each file's ctime first: the background copy checks it is the same.
 */
static void hash_outputs(pf_store_file *files, size_t n, const char *out_dir)
{
	for (size_t i = 0; i < n; i++) {
		char *p = pf_fs_join(out_dir, files[i].path);
		struct stat st;
		files[i].ctime_ns = lstat(p, &st) == 0 ? (uint64_t)st.st_ctim.tv_sec * 1000000000u +
								 (uint64_t)st.st_ctim.tv_nsec
						       : 0;
		if (pf_sha256_file(files[i].sha256, &files[i].size_bytes, p) < 0) {
			pf_sha256_bytes(files[i].sha256, "", 0); /* gone again: counts as empty, never stored */
			files[i].ctime_ns = 1;
		}
		free(p);
	}
}

/* One entry being copied into the store by a thread of its own. */
typedef struct pf_inc_put {
	pthread_t thread;
	bool started;
	pf_store *store;
	pf_store_entry entry;
	char *out_dir;
	int lock_fd;
	pf_step_record *sr;
	int rc;
	char *error;
	uint64_t ms;
	pf_remote *remote;   /* push there after the local store took it, or NULL */
	bool remote_tried;
	int remote_rc;
	char *remote_error;
	uint64_t remote_ms;
	bool done;   /* set by the thread when it is through (atomic) */
} pf_inc_put;

static void *put_main(void *arg)
{
	pf_inc_put *p = arg;
	uint64_t t0 = pf_clock_mono_ms();
	p->rc = pf_store_put(p->store, &p->entry, p->out_dir, NULL);
	if (p->rc < 0)
		p->error = pf_xstrdup(pf_error_last());
	pf_store_unlock(p->lock_fd); /* a run waiting for this fingerprint can restore it now */
	p->lock_fd = -1;
	if (p->rc == 0 && p->remote && pf_remote_writable(p->remote) && !pf_remote_down(p->remote)) {
		uint64_t t1 = pf_clock_mono_ms();
		p->remote_rc = pf_remote_push(p->remote, p->store, &p->entry);
		p->remote_tried = true;
		if (p->remote_rc < 0)
			p->remote_error = pf_xstrdup(pf_error_last());
		p->remote_ms = pf_clock_mono_ms() - t1;
	}
	p->ms = pf_clock_mono_ms() - t0;
	__atomic_store_n(&p->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Start the copy; signals stay with the main thread (the step's process handling relies on it). */
static void put_start(pf_inc *inc, pf_inc_put *p)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	p->started = pthread_create(&p->thread, NULL, put_main, p) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!p->started)
		put_main(p); /* no thread to be had: copy now */
	inc->puts = pf_xreallocarray(inc->puts, inc->n_puts + 1, sizeof(*inc->puts));
	inc->puts[inc->n_puts++] = p;
}

void pf_inc_finish(pf_inc *inc)
{
	for (size_t i = 0; i < inc->n_puts; i++) {
		if (!__atomic_load_n(&inc->puts[i]->done, __ATOMIC_ACQUIRE)) {
			pf_log_info("waiting for the store to take the outputs of step \"%s\"", inc->puts[i]->sr->name);
			break;
		}
	}
	for (size_t i = 0; i < inc->n_puts; i++) {
		pf_inc_put *p = inc->puts[i];
		if (p->started)
			pthread_join(p->thread, NULL);
		p->sr->cache_stored = p->rc == 0;
		p->sr->cache_store_ms = p->ms;
		if (p->rc < 0)
			pf_log_warn("step \"%s\": its outputs could not be stored: %s", p->sr->name, p->error);
		if (p->remote_tried) {
			p->sr->cache_remote_stored = p->remote_rc == 0 ? 1 : -1;
			if (p->remote_rc < 0)
				pf_log_warn("step \"%s\": its outputs were not pushed to the remote store: %s",
					    p->sr->name, p->remote_error);
			else
				pf_log_info("step \"%s\": pushed to the remote store in %.1fs", p->sr->name,
					    (double)p->remote_ms / 1000.0);
		}
		free(p->remote_error);
		pf_store_entry_dispose(&p->entry);
		free(p->out_dir);
		free(p->error);
		free(p);
	}
	free(inc->puts);
	inc->puts = NULL;
	inc->n_puts = 0;
}

void pf_inc_after_step(pf_inc *inc, const pf_step *s, pf_step_record *sr, const pf_snapshot *before, int lock_fd)
{
	pf_snapshot after;
	const pf_snap_file **changed = NULL;
	size_t n_changed = 0;
	bool special = false;
	pf_store_entry e;
	uint64_t t0 = pf_clock_mono_ms();
	const char *out = inc->ictx->out;
	memset(&e, 0, sizeof(e));
	if (!inc->store || !sr->ran || sr->result.end != PF_END_OK)
		goto done;
	pf_snapshot_take(&after, out, pf_inc_skip_names(inc));
	pf_snapshot_changed(&changed, &n_changed, before, &after, &special);
	e.outputs = pf_xcalloc(n_changed + 1, sizeof(pf_store_file));
	for (size_t i = 0; i < n_changed; i++)
		if (!changed[i]->special)
			e.outputs[e.n_outputs++].path = pf_xstrdup(changed[i]->path);
	hash_outputs(e.outputs, e.n_outputs, out);
	pf_inc_add_upstream(inc, e.outputs, e.n_outputs);
	if (s->cache && !special && !after.truncated && strcmp(sr->cache_status, "disabled")) {
		pf_inc_put *put = pf_xcalloc(1, sizeof(*put));
		memcpy(e.fingerprint, sr->fingerprint, 65);
		e.pipeline = pf_xstrdup(inc->pipeline_name);
		e.target = inc->target ? pf_xstrdup(inc->target) : NULL;
		e.step = pf_xstrdup(s->name);
		e.created_utc = pf_clock_utc_now();
		e.wall_ms = sr->result.wall_ms;
		e.user_ms = sr->result.user_ms;
		e.sys_ms = sr->result.sys_ms;
		e.peak_bytes = sr->result.guard.peak_bytes;
		e.maxrss_bytes = sr->result.maxrss_bytes;
		e.guard = pf_xstrdup(pf_guard_mode_name(sr->result.guard.mode));
		e.log.path = pf_xstrdup(sr->log_path);
		{
			char *rel = pf_xasprintf("steps/%s.result.json", s->name), *abs = pf_fs_join(out, rel);
			if (pf_fs_exists(abs))
				e.result.path = rel;
			else
				free(rel);
			free(abs);
		}
		e.fp = inc->pending; /* its components, for explain */
		pf_fp_init(&inc->pending);
		put->store = inc->store;
		put->remote = inc->remote;
		put->entry = e;
		memset(&e, 0, sizeof(e));
		put->out_dir = pf_xstrdup(out);
		put->lock_fd = lock_fd;
		lock_fd = -1;
		put->sr = sr;
		put_start(inc, put);
	} else if (s->cache && (special || after.truncated) && strcmp(sr->cache_status, "disabled")) {
		pf_log_warn("step \"%s\" was not stored: it wrote %s", s->name,
			    special ? "a symbolic link or special file" : "more files than the store takes");
	}
	pf_snapshot_dispose(&after);
	sr->cache_overhead_ms += pf_clock_mono_ms() - t0;
done:
	free(changed);
	pf_store_entry_dispose(&e);
	pf_fp_dispose(&inc->pending);
	pf_store_unlock(lock_fd);
}
