/*
 * libFuzzer target for the .pte/.ptd reader: any bytes go through
 * pf_pte_inspect_bytes (kind detection, headers, the flatbuffer walk) and
 * the result is freed. Seed corpus: tests/fuzz/corpus/pte/ (real ExecuTorch
 * files plus mutated ones). Replayed by ctest on every run (replay.c).
 */
#include <stddef.h>
#include <stdint.h>

#include "pte/pte.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pf_pte_info *info = NULL;
	if (pf_pte_inspect_bytes(&info, data, size) == 0) {
		/* Touch what callers read, so a bad pointer shows up here. */
		(void)pf_pte_ok(info);
		(void)pf_pte_first_fatal(info);
		(void)pf_pte_runtime_bytes(info); /* planned-memory sums: overflow-checked */
	}
	pf_pte_info_free(info);
	return 0;
}
