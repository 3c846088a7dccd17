/*
 * Incremental runs: a step's fingerprint from what it is given (command,
 * environment, interpreter and package versions, the step package's source,
 * the model's files, declared inputs, the outputs of the steps before it),
 * and the store lookups that let `run` restore a step instead of running it
 * and `explain` say why a step would run. README "Incremental runs" says
 * what is in a fingerprint and what is not; keep the two in step.
 */
#ifndef PF_RUN_INCREMENTAL_H
#define PF_RUN_INCREMENTAL_H

#include <stdbool.h>
#include <stddef.h>

#include "cache/fingerprint.h"
#include "cache/remote.h"
#include "cache/store.h"
#include "manifest/record.h"
#include "pipeline/interp.h"
#include "pipeline/pipeline.h"

typedef struct pf_inc {
	pf_store *store;          /* NULL: caching is off for this run */
	pf_remote *remote;        /* the remote store behind it, or NULL (owned by the caller) */
	const char *pipeline_name;
	const char *target;       /* NULL when none */
	const pf_interp_ctx *ictx; /* out, workdir, pipeline.dir, python, model.dir */
	const char *steps_path;   /* folder holding pteflow_steps, or NULL */
	const pf_model_record *model;
	char *tools;              /* the interpreter probe, once per run ("" when it failed) */
	char *tools_python;       /* the interpreter it was asked of */
	pf_store_file *upstream;  /* outputs of the steps so far (path, sha256), in order */
	size_t n_upstream;
	pf_fingerprint pending;   /* the running step's fingerprint, between before and after */
	struct pf_inc_put **puts; /* outputs being copied into the store while the next steps run */
	size_t n_puts;
	const char *manifest_name; /* left out of the outputs, with logs/, steps/ and SHA256SUMS */
	const char *skip[6];
	bool upstream_unknown;    /* explain: an earlier step would run, so its outputs are not known */
	char *upstream_after;     /* explain: the name of that step */
} pf_inc;

void pf_inc_dispose(pf_inc *inc);

/*
 * Before step s runs: its fingerprint into sr, then, unless rebuild, the
 * store: returns 1 when its outputs, log and result were restored (sr is
 * filled as a cached success), 0 when it must run (sr->cache_status says
 * why; *lock_fd holds the fingerprint's lock until pf_inc_after_step, or is
 * -1). A damaged store entry is a warning and a miss, never an error. <0
 * only when the fingerprint cannot be made (an input that cannot be
 * expanded): the step fails with that message.
 */
int pf_inc_before_step(pf_inc *inc, const pf_step *s, pf_step_record *sr, char *const *argv, size_t n_argv,
		       char *const *envp, const char *cwd, bool rebuild, int *lock_fd);

/*
 * After step s ran: when it succeeded, hash what it wrote into the output
 * folder (the files new or changed since `before`) and keep the hashes for
 * the later steps' fingerprints; when caching applies, start copying them
 * into the store in the background (pf_inc_finish waits for it; the copy
 * must find each file as it was hashed, else that entry is not stored). A
 * store that cannot take them is a warning. Hands lock_fd to the copy, which
 * releases it once the entry is written.
 */
struct pf_snapshot;
void pf_inc_after_step(pf_inc *inc, const pf_step *s, pf_step_record *sr, const struct pf_snapshot *before,
		       int lock_fd);

/*
 * Wait for the outputs still being copied into the store (pf_inc_after_step
 * hands the copy to a thread so the next step need not wait for the disk),
 * and record in each step's record whether they were stored. Call before
 * the manifest is written; pf_inc_dispose calls it too.
 */
void pf_inc_finish(pf_inc *inc);

/* The top-level names of the output folder that are pteflow's own, not a step's outputs (NULL-terminated). */
const char *const *pf_inc_skip_names(const pf_inc *inc);

/*
 * The fingerprint of step s with its expanded argv and environment (both
 * unredacted: secret values are hashed, only redacted text is kept to show).
 */
int pf_inc_fingerprint(pf_fingerprint *fp, pf_inc *inc, const pf_step *s, char *const *argv, size_t n_argv,
		       char *const *envp, const char *cwd);

/*
 * Why a step whose fingerprint is fp misses: the first input that differs
 * from the last one stored for this step, or "never stored". Heap; *component
 * (may be NULL) receives the component's name or NULL.
 */
char *pf_inc_miss_reason(pf_inc *inc, const pf_step *s, const pf_fingerprint *fp, char **component);

/*
 * Whether a stored run of step s (its peak memory and duration) could have
 * happened under the step's current limits. The limits are no part of the
 * fingerprint, so a looser limit still hits; a stored result that crossed
 * today's limits.memory or limits.timeout must not be reused, as no guard
 * of this run would have let it finish. NULL when it fits; else why not,
 * "limits: ..." (heap), for the manifest's cache.reason and `explain`.
 */
char *pf_inc_limits_reason(const pf_step *s, uint64_t stored_peak_bytes, uint64_t stored_wall_ms);

/* Remember the outputs (path, sha256) a step produced or restored, for the steps after it. */
void pf_inc_add_upstream(pf_inc *inc, const pf_store_file *files, size_t n);

#endif
