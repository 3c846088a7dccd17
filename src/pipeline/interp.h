/*
 * ${...} interpolation of step arguments, environment and paths.
 *
 * Known names: ${out}, ${workdir}, ${python}, ${pipeline.dir}, ${model.dir},
 * ${model.commit}, ${target}, ${vars.NAME}, ${env.NAME}. "$${" is a literal
 * "${". An unset ${env.NAME} is an error, never an empty string.
 */
#ifndef PF_PIPELINE_INTERP_H
#define PF_PIPELINE_INTERP_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline/pipeline.h"

typedef struct pf_interp_ctx {
	const char *out;
	const char *workdir;
	const char *python;
	const char *pipeline_dir;
	const char *model_dir;    /* NULL when the pipeline has no model source */
	const char *model_commit;
	const char *target;       /* NULL when no target */
	const pf_kv *vars;
	size_t n_vars;
	/* Values read from ${env.NAME} are registered as secrets when this is true
	 * and the name looks like a secret (it contains TOKEN, KEY, SECRET, PASSWORD,
	 * PASSWD or CREDENTIAL, or has a _-separated part PAT, PASS or AUTH). */
	bool register_env_secrets;
} pf_interp_ctx;

/*
 * Expand `text`; heap result in *out. PF_EINVALID with the variable's name on
 * an unknown or unset variable, a nested "${", or a result over 128 KiB (what
 * Linux accepts for one argument or environment string). ${target} is "" when ctx->target is NULL; a
 * NULL out/workdir/python/pipeline_dir/model_* is an error when referenced;
 * ${model.*} is unknown when ctx->model_dir is NULL. Values of ${vars.NAME}
 * are inserted as they are (never expanded again).
 */
int pf_interp_expand(char **out, const char *text, const pf_interp_ctx *ctx);

/*
 * Check the references of `text` without expanding: is each name known? (env
 * values are not read). On PF_EINVALID the last error says why and *bad_name
 * (if not NULL) receives the offending name, heap, caller frees.
 */
int pf_interp_check(const char *text, bool has_model, const pf_kv *vars, size_t n_vars, char **bad_name);

#endif
