/*
 * Runtime KPI gates (issue 17): pf_verify_kpi on step results, hostile ones
 * included. A figure that is missing, of the wrong type or negative is a
 * failed gate, never a pass; a memory growth may be negative.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "verify/verify.h"

static const pf_kpi_gate *gate(const pf_kpi_record *k, const char *name)
{
	for (size_t i = 0; i < k->n_gates; i++)
		if (!strcmp(k->gates[i].name, name))
			return &k->gates[i];
	return NULL;
}

#define RESULT(summary, crash)                                                                                       \
	"{\"kpi\": {\"host\": {\"cpu_model\": \"Test CPU\", \"threads\": 4}, \"crash\": " crash                     \
	", \"summary\": {" summary "}}}"

Test(verify_kpi, gates_pass_and_fail_on_their_limits)
{
	pf_kpi_gates g = {.ttft_max_us = 200000, .decode_min_tps = 12.0, .soak_max_growth_bytes = 1000};
	pf_kpi_record *k = pf_verify_kpi(
	    "kpi", &g, RESULT("\"ttft_ms\": 250.5, \"decode_tps\": 12.0, \"rss_growth_bytes\": -4096", "null"));
	cr_assert_eq(k->n_gates, 5);
	cr_assert(gate(k, "measured")->passed && gate(k, "crash")->passed);
	cr_assert_not(gate(k, "ttft_max")->passed);
	cr_assert(gate(k, "decode_min_tps")->passed, "the limit itself passes");
	cr_assert(gate(k, "soak_max_growth")->passed, "memory handed back is no leak");
	cr_assert(strstr(gate(k, "soak_max_growth")->actual, "(-4096 bytes)"), "%s", gate(k, "soak_max_growth")->actual);
	cr_assert_not(k->passed);
	cr_assert(strstr(k->failure, "KPI gate ttft_max failed") && strstr(k->failure, "4 threads on Test CPU"),
		  "%s", k->failure);
	pf_kpi_record_free(k);
}

Test(verify_kpi, hostile_figures_are_not_measured)
{
	pf_kpi_gates g = {.ttft_max_us = 200000, .decode_min_tps = 1.0, .load_max_us = 1000};
	pf_kpi_record *k = pf_verify_kpi(
	    "kpi", &g, RESULT("\"ttft_ms\": -1, \"decode_tps\": \"fast\", \"load_ms\": 1e300", "null"));
	cr_assert_not(gate(k, "ttft_max")->passed);
	cr_assert_not(gate(k, "ttft_max")->has_value);
	cr_assert_not(gate(k, "decode_min_tps")->passed);
	cr_assert_not(gate(k, "load_max")->passed);
	cr_assert_str_eq(gate(k, "ttft_max")->actual, "not measured");
	pf_kpi_record_free(k);
}

Test(verify_kpi, a_crash_names_its_turn)
{
	pf_kpi_gates g = {0};
	pf_kpi_record *k =
	    pf_verify_kpi("kpi", &g, RESULT("\"ttft_ms\": 1", "{\"turn\": 7, \"signal\": \"SIGSEGV\", \"message\": \"\"}"));
	cr_assert_not(k->passed);
	cr_assert(strstr(k->failure, "KPI gate crash failed") && strstr(k->failure, "crashed in turn 7 (SIGSEGV)"), "%s",
		  k->failure);
	pf_kpi_record_free(k);
}

Test(verify_kpi, no_result_fails_the_measured_gate)
{
	pf_kpi_gates g = {.ttft_max_us = 1000};
	pf_kpi_record *k = pf_verify_kpi("kpi", &g, NULL);
	cr_assert_not(k->passed);
	cr_assert_not(gate(k, "measured")->passed);
	cr_assert(strstr(k->failure, "KPI gate measured failed"), "%s", k->failure);
	cr_assert_null(k->measured_json);
	pf_kpi_record_free(k);
	k = pf_verify_kpi("kpi", &g, "[\"not an object\"]");
	cr_assert_not(gate(k, "measured")->passed);
	pf_kpi_record_free(k);
}

Test(verify_kpi, the_soak_duration_is_in_seconds)
{
	pf_kpi_gates g = {.soak_duration_ms = 600000};
	pf_kpi_record *k = pf_verify_kpi("kpi", &g, RESULT("\"duration_s\": 603.3", "null"));
	cr_assert(gate(k, "soak_duration")->passed);
	cr_assert_str_eq(gate(k, "soak_duration")->expected, ">= 600 s");
	cr_assert_str_eq(gate(k, "soak_duration")->actual, "603.3 s");
	pf_kpi_record_free(k);
}
