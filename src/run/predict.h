/*
 * Predictions of an export step before it runs: the .pte/.ptd sizes, the
 * step's peak memory and the runtime memory of each program, each as an
 * interval. The model lives in python/pteflow_steps/estimate.py (one file,
 * its constants and where each was measured); this side runs it as a short
 * subprocess on the step's own expanded command line and reads its JSON.
 * Used by `pteflow plan` (src/cli/cmd_plan.c) and `pteflow run` (admission
 * default and the manifest's "prediction", src/run/run.c).
 *
 * The peak predicted is the step's resident memory (RSS of the export
 * process: what the watchdog guard and /usr/bin/time measure, and what
 * wait4 reports as maxrss_bytes), the figure the model's constants were
 * measured in. A cgroup guard's peak differs: it leaves out shared-library
 * pages another group brought into the page cache (the demo export: 486 MiB
 * charged, 919 MiB resident) and adds page cache the step writes (the 1.4 GB
 * .pte). Resident memory is the conservative one to admit on and to hold
 * against limits.memory.
 */
#ifndef PF_RUN_PREDICT_H
#define PF_RUN_PREDICT_H

#include <stdbool.h>
#include <stddef.h>

#include "manifest/record.h"
#include "run/run.h"

/* Largest estimator answer read (it is a few kilobytes). */
#define PF_PREDICT_MAX_JSON_BYTES (256u * 1024u)
/* The estimator imports torch (and transformers) only for export_module and export_causal_lm
 * (meta-device builds): seconds, not minutes. */
#define PF_PREDICT_TIMEOUT_MS (180u * 1000u)

/*
 * true when argv is "<python> -m pteflow_steps.export_{llm,encoder,lora,module,causal_lm} ...":
 * the steps the estimator models. Nothing is run.
 */
bool pf_predict_applies(char *const *argv, size_t n_argv);

/*
 * Run "argv[0] -m pteflow_steps.estimate --result FILE -- argv[1..]" with
 * `envp` (the step's environment, so PYTHONPATH is the step's) in `cwd`.
 * On success *out is a new prediction (free with pf_prediction_free) whose
 * artifact paths are absolute and, when under `out_dir`, also relative in
 * `rel`. *out is NULL and 0 is returned when the step is not one the
 * estimator models. <0 (message in the last error: the estimator's own
 * one-line reason when it gave one) when the estimator failed or answered
 * something unreadable: callers warn and carry on without a prediction;
 * PF_EENV when the interpreter (argv[0]) could not be started.
 */
int pf_predict_step(pf_prediction **out, char *const *argv, size_t n_argv, char *const *envp, const char *cwd,
                    const char *out_dir);

/*
 * Read an estimator answer (text of len bytes, not NUL-terminated): *out as
 * pf_predict_step gives it, or NULL for "estimable": false. PF_EINVALID for
 * anything else than the documented shape. Exposed for the fuzz target.
 */
int pf_predict_parse(pf_prediction **out, const char *text, size_t len, const char *out_dir);

/*
 * After the step ran: the measured peak, and for each predicted artifact the
 * file's size and (for a .pte) its runtime footprint read from its execution
 * plan. Artifacts the run verified are taken from `rec`; others are stat'ed
 * and inspected directly.
 */
void pf_predict_settle(pf_prediction *p, const pf_run_record *rec, bool ran_ok, uint64_t peak_bytes);

/*
 * `pteflow plan`: every step of a pipeline (one target) predicted before
 * anything runs, beside its gates. For a pipeline with a Hub model only
 * config.json is fetched (into the normal cache, no weights).
 */
typedef struct pf_plan_step {
	char *name;
	uint64_t memory_limit_bytes; /* limits.memory, 0 = none */
	uint64_t expect_bytes;       /* limits.expect, 0 = none */
	pf_prediction *prediction;   /* NULL: see note */
	char *note;                  /* why there is no prediction, or NULL */
	bool breach;                 /* predicted peak (point) over limits.memory */
	bool at_risk;                /* the interval's high bound over limits.memory, the point under it */
} pf_plan_step;

typedef struct pf_plan_artifact {
	char *path;                  /* as the pipeline names it */
	char *kind;                  /* "pte", "ptd", "file" */
	uint64_t max_size, min_size; /* 0 = no gate */
	char *step;                  /* the step predicted to write it, or NULL */
	pf_predicted_artifact pred;  /* copy of that prediction (paths not owned: NULL) when step != NULL */
	bool breach;                 /* point over max_size or under min_size */
	bool at_risk;                /* the interval crosses a gate */
} pf_plan_artifact;

typedef struct pf_plan_report {
	char *pipeline_name, *pipeline_path, *target;
	char *model_repo, *model_revision, *model_commit; /* NULL without a model source */
	pf_plan_step *steps;
	size_t n_steps;
	pf_plan_artifact *artifacts;
	size_t n_artifacts;
	size_t n_breaches, n_at_risk, n_unpredicted_exports;
	bool env_problem; /* the estimator's interpreter could not be started */
} pf_plan_report;

/*
 * Fill *out for opt->pipeline_path and opt->target (only pipeline_path,
 * target, out_dir, python, offline and jobs are read). Errors: PF_EINVALID
 * (invalid pipeline, unknown target), PF_EENV / PF_EAUTH / PF_ENOTFOUND
 * (config.json could not be fetched). A failed estimate is not an error: the
 * step's note says why. Dispose with pf_plan_report_dispose even on error.
 */
int pf_run_plan(pf_plan_report *out, const pf_run_options *opt);
void pf_plan_report_dispose(pf_plan_report *r);

#endif
