/*
 * Inside the verify module: the per-file checks shared by the run-time
 * artifact gates (gates.c) and `pteflow verify` (verify_manifest.c), so a
 * release is re-checked by exactly the code that passed it.
 */
#ifndef PF_VERIFY_CHECK_H
#define PF_VERIFY_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest/record.h"

typedef struct pf_check_req {
	const char *rel;          /* path as recorded (messages, result path) */
	const char *abs;          /* path to open */
	const char *kind;         /* "pte", "ptd", "file" */
	uint64_t max_size;        /* 0 = no gate */
	uint64_t min_size;        /* 0 = no gate */
	char *const *methods;
	size_t n_methods;
	char *const *backends;
	size_t n_backends;
} pf_check_req;

/*
 * Fill `out` (zeroed by the caller) with existence, size, SHA-256, structure
 * and the gates exists, non_empty, min_size, max_size, structure, methods,
 * backends. Never fails: problems become failed gates.
 */
void pf_verify_check_file(pf_artifact_result *out, const pf_check_req *req);

/*
 * Add the external_data gate to `pte` when it is a .pte with external keys or
 * declared data files: every external key must be a data key of one of the
 * .ptd results named in `data` (all .ptd results of `all` when n_data is 0),
 * and where the .ptd records a layout for it, the dtype, shape and dim order
 * must be the program's (pf_pte_layout_mismatches). O((k + m) log m) for k
 * external keys and m data keys.
 */
void pf_verify_check_external(pf_artifact_result *pte, const pf_artifact_result *all, size_t n_all,
			      char *const *data, size_t n_data);

/* Recompute a->passed from its gates. */
void pf_verify_update_passed(pf_artifact_result *a);

/* "1.5 GB (1500000000 bytes)": the exact decimal or binary unit the limit was most likely written in. */
char *pf_verify_format_limit(uint64_t bytes, bool *out_binary);
/* "1.62 GB (1623456789 bytes)" in the decimal or binary family. */
char *pf_verify_format_actual(uint64_t bytes, bool binary);

#endif
