/*
 * GitHub Actions integration, active when GITHUB_ACTIONS=true: log groups,
 * ::error/::warning annotations pointing at the pipeline YAML, ::add-mask::
 * for every secret, the job summary (GITHUB_STEP_SUMMARY), outputs
 * (GITHUB_OUTPUT) and the run context for the manifest.
 */
#ifndef PF_GHA_GHA_H
#define PF_GHA_GHA_H

#include <stdbool.h>

#include "manifest/record.h"

bool pf_gha_active(void);
/* Call first: hooks secret registration so every secret is masked before anything else is printed. */
void pf_gha_init(void);
void pf_gha_group_begin(const char *title);
void pf_gha_group_end(void);
/* level "error" | "warning" | "notice"; file/line/col may be NULL/0. */
void pf_gha_annotate(const char *level, const char *file, int line, int col, const char *title, const char *message);
/* Fill the CI context from GITHUB_* variables. */
void pf_gha_context(pf_ci_record *out);
/* Append the summary table and write outputs. */
int pf_gha_summary(const pf_run_record *rec, const char *manifest_path);

#endif
