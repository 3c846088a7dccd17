/*
 * Predictions of an export step before it runs: the .pte/.ptd sizes, the
 * step's peak memory and the runtime memory of each program, each as an
 * interval. The model lives in python/pteflow_steps/estimate.py (one file,
 * its constants and where each was measured); this side runs it as a short
 * subprocess on the step's own expanded command line and reads its JSON.
 * Used by `pteflow plan` (src/cli/cmd_plan.c) and `pteflow run` (admission
 * default and the manifest's "prediction", src/run/run.c).
 */
#ifndef PF_RUN_PREDICT_H
#define PF_RUN_PREDICT_H

#include <stdbool.h>
#include <stddef.h>

#include "manifest/record.h"

/* Largest estimator answer read (it is a few kilobytes). */
#define PF_PREDICT_MAX_JSON_BYTES (256u * 1024u)
/* The estimator imports torch only for export_module (meta-device build): seconds, not minutes. */
#define PF_PREDICT_TIMEOUT_MS (180u * 1000u)

/*
 * true when argv is "<python> -m pteflow_steps.export_{llm,encoder,lora,module} ...":
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
 * something unreadable: callers warn and carry on without a prediction.
 */
int pf_predict_step(pf_prediction **out, char *const *argv, size_t n_argv, char *const *envp, const char *cwd,
                    const char *out_dir);

/*
 * After the step ran: the measured peak, and for each predicted artifact the
 * file's size and (for a .pte) its runtime footprint read from its execution
 * plan. Artifacts the run verified are taken from `rec`; others are stat'ed
 * and inspected directly.
 */
void pf_predict_settle(pf_prediction *p, const pf_run_record *rec, bool ran_ok, uint64_t peak_bytes);

#endif
