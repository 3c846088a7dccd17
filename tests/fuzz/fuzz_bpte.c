/*
 * libFuzzer target for the bundled-program (.bpte) reader: bytes 4..7 are
 * forced to the BP08 identifier so every input reaches the bundle walk (the
 * suites, the test-case values and the embedded .pte checked in place), first
 * from memory (pf_pte_inspect_bytes), then from a file (pf_pte_inspect_file),
 * whose reader finds the embedded program's segment data with single reads
 * and skips it. Seed corpus: tests/fuzz/corpus/bpte/ (a bundle ExecuTorch
 * wrote and mutations of it). Replayed by ctest on every run (replay.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pte/pte.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touch what callers read, so a bad pointer shows up here. */
static void touch(const pf_pte_info *info)
{
	uint64_t sum = 0;
	(void)pf_pte_ok(info);
	(void)pf_pte_first_fatal(info);
	(void)pf_pte_runtime_bytes(info);
	for (size_t i = 0; i < info->n_suites; i++)
		for (size_t c = 0; c < info->suites[i].n_listed_cases; c++) {
			const pf_bpte_case *tc = &info->suites[i].cases[c];
			for (size_t k = 0; k < tc->n_listed_inputs + tc->n_listed_outputs; k++)
				sum += tc->values[k].data_bytes + (uint64_t)tc->values[k].i;
		}
	for (size_t i = 0; i < info->n_methods; i++)
		for (size_t k = 0; k < info->methods[i].n_constants; k++) {
			char text[64];
			pf_pte_value_format(text, sizeof(text), &info->methods[i].constants[k]);
			sum += strlen(text);
		}
	if (sum == 1)
		fprintf(stderr, "%c", ' ');
}

static char path[256];

static void remove_scratch(void)
{
	unlink(path);
}

/* One temporary file for the whole run, rewritten for each input and removed at exit. */
static const char *scratch_path(void)
{
	if (!path[0]) {
		const char *dir = getenv("TMPDIR");
		int fd;
		snprintf(path, sizeof(path), "%s/pf-fuzz-bpte-XXXXXX", dir && *dir ? dir : "/tmp");
		fd = mkstemp(path);
		if (fd < 0)
			abort();
		close(fd);
		atexit(remove_scratch);
	}
	return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pf_pte_info *info = NULL;
	uint8_t *copy = malloc(size ? size : 1);
	FILE *f;
	if (!copy)
		return 0;
	if (size)
		memcpy(copy, data, size);
	if (size >= 8)
		memcpy(copy + 4, "BP08", 4);
	if (pf_pte_inspect_bytes(&info, copy, size) == 0)
		touch(info);
	pf_pte_info_free(info);
	info = NULL;
	f = fopen(scratch_path(), "wb");
	if (f && fwrite(copy, 1, size, f) == size && fclose(f) == 0) {
		if (pf_pte_inspect_file(&info, scratch_path()) == 0)
			touch(info);
		pf_pte_info_free(info);
	} else if (f) {
		fclose(f);
	}
	free(copy);
	return 0;
}
