/*
 * libFuzzer target for the runtime KPI verdict (issue 17): pf_verify_kpi over
 * the result JSON a measuring step wrote (a step's output: untrusted). It must
 * never read out of bounds, recurse without bound or leak, and a gate it
 * passes must have a measured value that meets its limit.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"
#include "verify/verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pf_kpi_gates gates = {.ttft_max_us = 200000, .decode_min_tps = 12.0, .prefill_min_tps = 50.0,
			      .load_max_us = 5000000, .runtime_memory_max_bytes = 3000000000u, .soak_turns = 20,
			      .soak_duration_ms = 60000, .soak_max_growth_bytes = 32u << 20};
	char *text;
	pf_kpi_record *k;
	if (size > (1u << 20))
		return 0;
	text = pf_xmalloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	k = pf_verify_kpi("kpi", &gates, text);
	for (size_t i = 0; i < k->n_gates; i++) {
		const pf_kpi_gate *g = &k->gates[i];
		if (g->passed && g->unit && strcmp(g->unit, "crashes") && !g->has_value)
			abort(); /* a limit gate passed on a figure nobody measured */
		if (g->passed && k->failure && !k->passed && !strcmp(g->name, "measured") && !g->has_value)
			abort();
	}
	if (k->passed != (k->failure == NULL))
		abort();
	pf_kpi_record_free(k);
	free(text);
	return 0;
}
