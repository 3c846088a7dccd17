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
#include "util/buf.h"

bool pf_gha_active(void);
/* Call first: hooks secret registration so every secret is masked before anything else is printed. */
void pf_gha_init(void);
void pf_gha_group_begin(const char *title);
void pf_gha_group_end(void);
/* level "error" | "warning" | "notice"; file/line/col may be NULL/0. */
void pf_gha_annotate(const char *level, const char *file, int line, int col, const char *title, const char *message);
/* Fill the CI context from GITHUB_* variables. */
void pf_gha_context(pf_ci_record *out);
/* Free the strings of a context filled by pf_gha_context() and zero it. NULL-safe. */
void pf_gha_context_dispose(pf_ci_record *ci);
/*
 * Append the Markdown summary (verdict, artifacts table, steps table) to
 * $GITHUB_STEP_SUMMARY and the outputs manifest=, status=passed|failed,
 * artifact_<name>=<path> (joined to rec->out_dir when set) and
 * sha256_<name>=<hex> to $GITHUB_OUTPUT; <name> is the artifact path with
 * every character outside [A-Za-z0-9_] turned into '_'. A file whose
 * variable is unset is skipped. All text is redacted. Returns 0, or a
 * negative code when a file cannot be written. No-op outside Actions.
 */
int pf_gha_summary(const pf_run_record *rec, const char *manifest_path);

/* The pieces of pf_gha_summary(), for tests and other callers (heap strings; caller frees). */
char *pf_gha_render_summary(const pf_run_record *rec);
char *pf_gha_render_outputs(const pf_run_record *rec, const char *manifest_path);
/*
 * Append the "### Memory" section: a Mermaid xychart-beta block per step
 * with a memory series (memory.c), its limit as a second line. Nothing
 * when no step was sampled.
 */
void pf_gha_memory_charts(pf_buf *b, const pf_run_record *rec);
/* "<prefix>_<path sanitised>" as above. */
char *pf_gha_output_name(const char *prefix, const char *path);
/* Append one GITHUB_OUTPUT entry to b: "name=value\n", or the heredoc form when value has a line break. */
void pf_gha_output_entry(pf_buf *b, const char *name, const char *value);

#endif
