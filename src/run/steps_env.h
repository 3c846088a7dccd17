/*
 * The environment a step runs with: a documented allowlist of the caller's
 * variables, pteflow's own variables, and the step's `env:` (interpolated).
 * Nothing else of pteflow's environment reaches a step: a secret reaches only
 * a step that names it.
 */
#ifndef PF_RUN_STEPS_ENV_H
#define PF_RUN_STEPS_ENV_H

#include "pipeline/interp.h"
#include "pipeline/pipeline.h"

/* Variables passed through when set (README "Step environment" lists the same). */
extern const char *const pf_steps_env_allowlist[];

/*
 * Build a NULL-terminated envp (heap; free with pf_strv0_free): allowlist,
 * then PTEFLOW_OUT, PTEFLOW_STEP, PTEFLOW_RESULT, PYTHONPATH (steps_path
 * prepended when not NULL), PYTHONUNBUFFERED=1, then the step's env (which
 * wins). PF_EINVALID when a value cannot be interpolated.
 */
int pf_steps_env_build(char ***out, const pf_step *step, const pf_interp_ctx *ictx, const char *steps_path,
		       const char *out_dir, const char *result_path);

/*
 * The folder holding the pteflow_steps package: $PTEFLOW_STEPS_PATH, else
 * <pipeline dir>/../python (a checkout, or a pipeline of the installed
 * share/pteflow/pipelines), else <prefix>/share/pteflow/python of an installed
 * pteflow (found from the binary's own path), else the source tree's python/
 * the binary was built from. NULL when none has pteflow_steps/. Caller frees.
 * pipeline_dir may be NULL.
 */
char *pf_steps_env_find_package(const char *pipeline_dir);

/*
 * <prefix>/share/pteflow when this binary runs as <prefix>/bin/pteflow (its
 * path read from /proc/self/exe), else NULL. Whether it exists is not checked.
 * Caller frees.
 */
char *pf_steps_env_installed_dir(void);

#endif
