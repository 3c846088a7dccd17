/*
 * Helpers shared by the .pte reader's unit tests (test_pte.c, test_hostile.c,
 * test_bpte.c): load a fixture of tests/resources/pte, inspect bytes (also
 * those of an fbb.h builder), look for a finding, print the findings of a
 * failing case.
 */
#ifndef PF_TEST_PTE_TEST_H
#define PF_TEST_PTE_TEST_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fbb.h"
#include "pte/pte.h"
#include "util/buf.h"
#include "util/fs.h"

#define RES PF_SOURCE_DIR "/tests/resources/pte/"

typedef struct bytes {
	uint8_t *data;
	size_t len;
} bytes;

static inline bytes load(const char *name)
{
	pf_buf b;
	bytes out;
	char path[1024];
	snprintf(path, sizeof(path), "%s%s", RES, name);
	pf_buf_init(&b, 1 << 20);
	cr_assert_eq(pf_fs_read_file(&b, path, 1 << 20), 0, "cannot read fixture %s", path);
	out.len = b.len;
	out.data = malloc(b.len ? b.len : 1);
	memcpy(out.data, b.data, b.len);
	pf_buf_dispose(&b);
	return out;
}

static inline pf_pte_info *inspect(const uint8_t *data, size_t len)
{
	pf_pte_info *info = NULL;
	cr_assert_eq(pf_pte_inspect_bytes(&info, data, len), 0);
	cr_assert_not_null(info);
	return info;
}

static inline pf_pte_info *inspect_fbb(const fbb *b)
{
	return inspect(b->d, b->len);
}

static inline bool has_finding(const pf_pte_info *info, pf_pte_severity sev, const char *needle)
{
	for (size_t i = 0; i < info->n_findings; i++)
		if (info->findings[i].severity == sev && strstr(info->findings[i].message, needle))
			return true;
	return false;
}

static inline void dump_findings(const pf_pte_info *info)
{
	for (size_t i = 0; i < info->n_findings; i++)
		fprintf(stderr, "  %s: %s\n", info->findings[i].severity == PF_PTE_FATAL ? "FATAL" : "WARN",
		        info->findings[i].message);
}

#endif
