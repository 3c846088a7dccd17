/*
 * Targets (named variants of a pipeline, issue 7) applied to a parsed plan,
 * and the memory figure `pteflow matrix` uses to suggest a runner. A plan
 * holds a handful of targets: linear searches throughout.
 */
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"

const pf_target *pf_plan_find_target(const pf_plan *plan, const char *name)
{
	for (size_t i = 0; i < plan->n_targets; i++)
		if (!strcmp(plan->targets[i].name, name))
			return &plan->targets[i];
	return NULL;
}

static void override_limits(pf_limits *into, const pf_limits *by)
{
	if (by->memory_bytes)
		into->memory_bytes = by->memory_bytes;
	if (by->timeout_ms)
		into->timeout_ms = by->timeout_ms;
	if (by->expect_bytes)
		into->expect_bytes = by->expect_bytes;
}

static char **strv_dup(char **v, size_t n)
{
	char **out = pf_xcalloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		out[i] = pf_xstrdup(v[i]);
	return out;
}

static void replace_strv(char ***v, size_t *n, char **by, size_t n_by)
{
	pf_strv_free(*v, *n);
	*v = strv_dup(by, n_by);
	*n = n_by;
}

static void override_artifact(pf_artifact *a, const pf_artifact *by)
{
	if (by->set & PF_ARTIFACT_SET_MAX_SIZE)
		a->max_size = by->max_size;
	if (by->set & PF_ARTIFACT_SET_MIN_SIZE)
		a->min_size = by->min_size;
	if (by->set & PF_ARTIFACT_SET_METHODS)
		replace_strv(&a->methods, &a->n_methods, by->methods, by->n_methods);
	if (by->set & PF_ARTIFACT_SET_BACKENDS)
		replace_strv(&a->backends, &a->n_backends, by->backends, by->n_backends);
	if (by->set & PF_ARTIFACT_SET_DATA)
		replace_strv(&a->data, &a->n_data, by->data, by->n_data);
	a->set |= by->set;
}

int pf_plan_apply_target(pf_plan *plan, const char *name)
{
	const pf_target *t = pf_plan_find_target(plan, name);
	if (!t) {
		pf_buf known;
		int rc;
		pf_buf_init(&known, 1 << 16);
		for (size_t i = 0; i < plan->n_targets; i++)
			pf_buf_printf(&known, "%s%s", i ? ", " : "", plan->targets[i].name);
		if (plan->n_targets)
			rc = pf_error_code(PF_ENOTFOUND, "no target \"%s\" in \"%s\": known targets are %s", name,
			                   plan->path, pf_buf_cstr(&known));
		else
			rc = pf_error_code(PF_ENOTFOUND,
			                   "no target \"%s\": \"%s\" declares no targets; run it without --target",
			                   name, plan->path);
		pf_buf_dispose(&known);
		return rc;
	}
	for (size_t i = 0; i < t->n_vars; i++) {
		for (size_t j = 0; j < plan->n_vars; j++) {
			if (!strcmp(plan->vars[j].key, t->vars[i].key)) {
				free(plan->vars[j].value);
				plan->vars[j].value = pf_xstrdup(t->vars[i].value);
			}
		}
	}
	override_limits(&plan->limits, &t->limits);
	for (size_t i = 0; i < plan->n_steps; i++)
		override_limits(&plan->steps[i].limits, &t->limits);
	for (size_t i = 0; i < t->n_artifacts; i++)
		for (size_t j = 0; j < plan->n_artifacts; j++)
			if (!strcmp(plan->artifacts[j].path, t->artifacts[i].path))
				override_artifact(&plan->artifacts[j], &t->artifacts[i]);
	free(plan->target);
	plan->target = pf_xstrdup(t->name);
	return 0;
}

uint64_t pf_plan_memory_need(const pf_plan *plan)
{
	uint64_t need = plan->limits.memory_bytes;
	if (plan->limits.expect_bytes > need)
		need = plan->limits.expect_bytes;
	for (size_t i = 0; i < plan->n_steps; i++) {
		if (plan->steps[i].limits.memory_bytes > need)
			need = plan->steps[i].limits.memory_bytes;
		if (plan->steps[i].limits.expect_bytes > need)
			need = plan->steps[i].limits.expect_bytes;
	}
	return need;
}
