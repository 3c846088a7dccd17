/* Unit tests of targets (src/pipeline/target.c): vars, limits and gate overrides, unknown names, memory need. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline.h"
#include "util/error.h"

static const char yaml[] = "version: 1\n"
                           "name: t\n"
                           "vars: { quant: int8, seq_len: \"512\" }\n"
                           "limits: { memory: 2GiB, timeout: 10m }\n"
                           "steps:\n"
                           "  - name: fetch\n"
                           "    run: [x]\n"
                           "  - name: export\n"
                           "    run: [x, \"${vars.quant}\"]\n"
                           "    limits: { memory: 6GiB, expect: 5GiB }\n"
                           "artifacts:\n"
                           "  - { path: model.pte, max_size: 1.5GB, methods: [forward], backends: [XnnpackBackend] }\n"
                           "  - { path: w.ptd, min_size: 1KB }\n"
                           "targets:\n"
                           "  - name: small\n"
                           "  - name: big\n"
                           "    vars: { quant: 8da4w }\n"
                           "    limits: { memory: 20GiB, timeout: 2h }\n"
                           "    runner: my-runner\n"
                           "    artifacts:\n"
                           "      - { path: model.pte, max_size: 3GB, backends: [] }\n";

static pf_plan *load(void)
{
	pf_plan *p = NULL;
	cr_assert_eq(pf_pipeline_parse(&p, "t.yaml", yaml, strlen(yaml), NULL), 0, "%s", pf_error_last());
	return p;
}

Test(pipeline_target, overrides_vars_limits_and_gates)
{
	pf_plan *p = load();
	cr_assert_eq(pf_plan_memory_need(p), 6ULL << 30);
	cr_assert_eq(pf_plan_apply_target(p, "big"), 0, "%s", pf_error_last());
	cr_assert_str_eq(p->target, "big");
	cr_assert_str_eq(p->vars[0].value, "8da4w");
	cr_assert_str_eq(p->vars[1].value, "512");
	cr_assert_eq(p->limits.memory_bytes, 20ULL << 30);
	cr_assert_eq(p->limits.timeout_ms, 7200000);
	/* the target is the most specific: its limits reach every step */
	cr_assert_eq(p->steps[0].limits.memory_bytes, 20ULL << 30);
	cr_assert_eq(p->steps[1].limits.memory_bytes, 20ULL << 30);
	cr_assert_eq(p->steps[1].limits.expect_bytes, 5ULL << 30); /* not set by the target: kept */
	cr_assert_eq(p->steps[1].limits.timeout_ms, 7200000);
	cr_assert_eq(p->artifacts[0].max_size, 3000000000ULL);
	cr_assert_eq(p->artifacts[0].n_backends, 0);
	cr_assert_eq(p->artifacts[0].n_methods, 1); /* not overridden */
	cr_assert_eq(p->artifacts[1].min_size, 1000);
	cr_assert_eq(pf_plan_memory_need(p), 20ULL << 30);
	cr_assert_str_eq(pf_plan_find_target(p, "big")->runner, "my-runner");
	pf_plan_free(p);
}

Test(pipeline_target, empty_target_changes_nothing)
{
	pf_plan *p = load();
	cr_assert_eq(pf_plan_apply_target(p, "small"), 0);
	cr_assert_str_eq(p->vars[0].value, "int8");
	cr_assert_eq(p->steps[0].limits.memory_bytes, 2ULL << 30);
	cr_assert_eq(p->artifacts[0].max_size, 1500000000ULL);
	cr_assert_eq(p->artifacts[0].n_backends, 1);
	pf_plan_free(p);
}

Test(pipeline_target, unknown_target_lists_known_ones)
{
	pf_plan *p = load();
	cr_assert_eq(pf_plan_apply_target(p, "huge"), PF_ENOTFOUND);
	cr_assert(strstr(pf_error_last(), "no target \"huge\""), "%s", pf_error_last());
	cr_assert(strstr(pf_error_last(), "known targets are small, big"), "%s", pf_error_last());
	cr_assert_null(p->target);
	cr_assert_null(pf_plan_find_target(p, "huge"));
	pf_plan_free(p);
}

Test(pipeline_target, pipeline_without_targets)
{
	pf_plan *p = NULL;
	cr_assert_eq(pf_pipeline_parse(&p, "n.yaml", "version: 1\nname: n\nsteps: [{name: s, run: [x]}]\n",
	                               strlen("version: 1\nname: n\nsteps: [{name: s, run: [x]}]\n"), NULL),
	             0, "%s", pf_error_last());
	cr_assert_eq(pf_plan_apply_target(p, "x"), PF_ENOTFOUND);
	cr_assert(strstr(pf_error_last(), "declares no targets"), "%s", pf_error_last());
	cr_assert_eq(pf_plan_memory_need(p), 0);
	pf_plan_free(p);
}
