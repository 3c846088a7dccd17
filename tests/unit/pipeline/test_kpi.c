/*
 * The `kpi:` block of a step (issue 17): presets carry the export guide's
 * numbers, keys beside a preset replace its values, latencies below a
 * millisecond are kept in microseconds.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/pipeline.h"
#include "util/error.h"

static pf_plan *parse(const char *kpi)
{
	char yaml[1024];
	pf_plan *p = NULL;
	pf_diag diag;
	snprintf(yaml, sizeof(yaml), "version: 1\nname: p\nsteps:\n  - name: kpi\n    run: [x]\n    kpi: %s\n", kpi);
	cr_assert_eq(pf_pipeline_parse(&p, "kpi.yaml", yaml, strlen(yaml), &diag), 0, "%s", pf_error_last());
	pf_diag_dispose(&diag);
	return p;
}

Test(pipeline_kpi, presets_carry_the_guide_numbers)
{
	pf_plan *p = parse("{ preset: flagship }");
	const pf_kpi_gates *k = p->steps[0].kpi;
	cr_assert_str_eq(k->preset, "flagship");
	cr_assert_eq(k->ttft_max_us, 200000);
	cr_assert_float_eq(k->decode_min_tps, 18.0, 1e-9);
	cr_assert_eq(k->runtime_memory_max_bytes, 3000000000u);
	cr_assert_eq(k->soak_turns, 20);
	cr_assert_eq(k->soak_duration_ms, 600000);
	cr_assert_eq(k->soak_max_growth_bytes, 32u << 20);
	cr_assert(p->steps[0].cache, "a kpi step is cached like any step");
	pf_plan_free(p);
	p = parse("{ preset: mid-range }");
	cr_assert_eq(p->steps[0].kpi->ttft_max_us, 350000);
	cr_assert_float_eq(p->steps[0].kpi->decode_min_tps, 12.0, 1e-9);
	pf_plan_free(p);
}

Test(pipeline_kpi, keys_beside_a_preset_replace_its_values)
{
	pf_plan *p = parse("{ ttft_max: 0.25ms, preset: mid-range, soak: { turns: 30 }, prefill_min_tps: 40.5 }");
	const pf_kpi_gates *k = p->steps[0].kpi;
	cr_assert_eq(k->ttft_max_us, 250, "written before the preset, still wins");
	cr_assert_eq(k->soak_turns, 30);
	cr_assert_eq(k->soak_duration_ms, 600000, "the preset's duration stays");
	cr_assert_float_eq(k->prefill_min_tps, 40.5, 1e-9);
	cr_assert_float_eq(k->decode_min_tps, 12.0, 1e-9);
	pf_plan_free(p);
}

Test(pipeline_kpi, no_block_no_gates)
{
	pf_plan *p = parse("{ load_max: 2s }");
	cr_assert_eq(p->steps[0].kpi->load_max_us, 2000000);
	cr_assert_null(p->steps[0].kpi->preset);
	cr_assert_eq(p->steps[0].kpi->ttft_max_us, 0);
	pf_plan_free(p);
}
