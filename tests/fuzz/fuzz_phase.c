/*
 * libFuzzer target for the phase markers in a step's output (the step is
 * untrusted: it runs whatever the pipeline says): pf_proc_phase_feed over
 * arbitrary bytes cut into arbitrary reads (the first byte chooses the cut)
 * must keep at most PF_PROC_MAX_PHASES names, each NUL-terminated, 1-31
 * characters of [A-Za-z0-9_.-], and find the same phases however it is cut.
 * Seed corpus: tests/fuzz/corpus/phase/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proc/proc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void scan(pf_proc_result *r, const uint8_t *data, size_t size, size_t cut)
{
	pf_proc_phase_scan sc;
	memset(r, 0, sizeof(*r));
	pf_proc_phase_scan_init(&sc);
	for (size_t at = 0; at < size; at += cut) {
		size_t n = size - at < cut ? size - at : cut;
		pf_proc_phase_feed(&sc, (const char *)data + at, n, (uint32_t)at, r);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static pf_proc_result whole, cut;
	if (size == 0)
		return 0;
	scan(&whole, data + 1, size - 1, size);
	scan(&cut, data + 1, size - 1, (size_t)data[0] % 7 + 1);
	if (whole.n_phases > PF_PROC_MAX_PHASES || whole.n_phases != cut.n_phases ||
	    whole.n_phases_dropped != cut.n_phases_dropped)
		abort();
	for (size_t i = 0; i < whole.n_phases; i++) {
		size_t len = strnlen(whole.phases[i].name, PF_PROC_PHASE_NAME_MAX);
		if (len == 0 || len >= PF_PROC_PHASE_NAME_MAX || strcmp(whole.phases[i].name, cut.phases[i].name))
			abort();
		if (strspn(whole.phases[i].name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != len)
			abort();
	}
	return 0;
}
