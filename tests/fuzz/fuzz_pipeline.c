/*
 * libFuzzer target for the pipeline parser: YAML bytes to a plan (bounds,
 * UTF-8, tabs, anchors, every key), then what the run engine and `matrix`
 * do with a plan (apply each target, memory need, ${...} checks and
 * expansion under the 128 KiB bound), the
 * collecting entry point (same verdict, first problem first), and the
 * size and duration parsers on the raw bytes. Corpus: the pipeline fixtures.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/interp.h"
#include "pipeline/pipeline.h"
#include "util/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise_units(const uint8_t *data, size_t size)
{
	char *text;
	uint64_t v;
	if (size > 64)
		return;
	text = pf_xstrndup((const char *)data, size);
	if (pf_parse_size(&v, text) == 0) {
		char *a = pf_format_size(v), *b = pf_format_size_exact(v);
		uint64_t back = 0;
		if (pf_parse_size(&back, b) != 0 || back != v)
			abort(); /* the exact form must read back */
		free(a);
		free(b);
	}
	if (pf_parse_duration(&v, text) == 0)
		free(pf_format_duration(v));
	free(text);
}

/* Expand every argv entry as a run would (env values are whatever the fuzzer's environment holds). */
static void exercise_expand(const pf_plan *plan)
{
	pf_interp_ctx c;
	memset(&c, 0, sizeof(c));
	c.out = "/o";
	c.workdir = "/w";
	c.python = "/p";
	c.pipeline_dir = "/d";
	c.model_dir = plan->model ? "/m" : NULL;
	c.model_commit = "0123abcd";
	c.target = "t";
	c.vars = plan->vars;
	c.n_vars = plan->n_vars;
	for (size_t i = 0; i < plan->n_steps; i++) {
		for (size_t j = 0; j < plan->steps[i].n_argv; j++) {
			char *text = NULL;
			if (pf_interp_expand(&text, plan->steps[i].argv[j], &c) == 0 &&
			    strlen(text) > ((size_t)128 << 10))
				abort(); /* the expansion bound holds */
			free(text);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pf_plan *plan = NULL;
	pf_diag diag;
	pf_plan *again = NULL;
	pf_diag *all = NULL;
	size_t n_all = 0;
	int rc, rc_all;
	exercise_units(data, size);
	rc = pf_pipeline_parse(&plan, "fuzz.yaml", (const char *)data, size, &diag);
	rc_all = pf_pipeline_parse_all(&again, "fuzz.yaml", (const char *)data, size, &all, &n_all);
	if (rc != rc_all || (rc == 0) != (n_all == 0))
		abort(); /* both entry points agree */
	for (size_t i = 0; i < n_all; i++)
		if (!all[i].message || all[i].pos.line < 1 || all[i].pos.col < 1)
			abort(); /* every problem has a position and a message */
	if (rc != 0) {
		if (!diag.message || diag.pos.line != all[0].pos.line || diag.pos.col != all[0].pos.col)
			abort(); /* the single diag is the first problem */
		pf_diag_dispose(&diag);
		pf_diags_free(all, n_all);
		return 0;
	}
	pf_plan_free(again);
	for (size_t i = 0; i < plan->n_steps; i++)
		for (size_t j = 0; j < plan->steps[i].n_argv; j++)
			if (pf_interp_check(plan->steps[i].argv[j], plan->model != NULL, plan->vars, plan->n_vars,
			                    NULL) != 0)
				abort(); /* the parser already checked these */
	exercise_expand(plan);
	(void)pf_plan_memory_need(plan);
	for (size_t t = 0; t < plan->n_targets; t++) {
		pf_plan *variant = NULL;
		if (pf_pipeline_parse(&variant, "fuzz.yaml", (const char *)data, size, NULL) != 0)
			abort(); /* parsing is deterministic */
		if (pf_plan_apply_target(variant, plan->targets[t].name) != 0)
			abort();
		(void)pf_plan_memory_need(variant);
		pf_plan_free(variant);
	}
	pf_plan_free(plan);
	return 0;
}
