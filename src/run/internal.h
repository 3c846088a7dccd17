/*
 * What run.c (a run) and explain.c (`pteflow explain`) share: the run
 * context and the preparation that plans, expands and fingerprints alike for
 * both. Internal to src/run/.
 */
#ifndef PF_RUN_INTERNAL_H
#define PF_RUN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hub/hub.h"
#include "pipeline/interp.h"
#include "pipeline/pipeline.h"
#include "run/incremental.h"
#include "run/run.h"

typedef struct run_ctx {
	const pf_run_options *opt;
	pf_plan *plan;
	pf_run_record *rec;
	char *out_dir; /* absolute */
	char *workdir;
	char *python;
	char *pipeline_dir;
	char *steps_path; /* PYTHONPATH entry for pteflow_steps */
	pf_interp_ctx ictx;
	uint64_t *artifact_mtimes; /* per artifact: mtime before the current step (0 = absent) */
	pf_inc inc;                /* fingerprints and the store (store NULL: caching off) */
	uint64_t started_unix_ns;  /* wall clock when the run began: files changed since are this run's */
} run_ctx;

/*
 * The remote store of this run (src/run/remote_setup.c): *out NULL when none
 * is configured. The URL, mode and upload timeout from the options, the
 * environment, then the pipeline's store:; read-only by default under a
 * pull_request event on GitHub Actions. PF_EINVALID for a bad URL or mode.
 */
int run_remote_open(pf_remote **out, const pf_run_options *opt, const pf_plan *plan);

/* Plan the pipeline, pick the output folder, interpreter and steps folder (run_ctx_dispose frees). */
int run_prepare(run_ctx *c, pf_run_record *rec, const pf_run_options *opt);
/* What run_prepare() and a run or an explain left in the context (waits for copies into the store). */
void run_ctx_dispose(run_ctx *c);
/* The download options of the pipeline's model source (pointers into m). */
void run_hub_options(pf_hub_options *ho, const pf_model_source *m);
/* A step's argv, interpolated; with dry, a value that cannot be expanded becomes "<template>" (why in *why). */
int run_expand_argv(char ***out, size_t *n_out, const pf_step *s, const pf_interp_ctx *ictx, bool dry, char **why);
/* kpi.c: evaluate the KPI gates of the step that carries `kpi:` into rec->kpi; a failed gate fails the run. */
void run_evaluate_kpi(run_ctx *c);
/* --kpi-record without a step that carries kpi: is bad usage, found before anything runs (PF_EINVALID). */
int run_check_kpi_record(run_ctx *c);
/* Find `name` in PATH when it has no slash; true if it can be executed. */
bool run_program_exists(const char *name);

#endif
