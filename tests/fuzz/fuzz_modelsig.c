/*
 * libFuzzer target for the OpenSSF model signature reader `pteflow verify
 * --model-sig` runs on model.sig files that come with models (untrusted):
 * pf_modelsig_parse over arbitrary bytes (bundle JSON, its DSSE envelope,
 * the base64 statement inside) must never read out of bounds, recurse
 * without bound or leak. A file it accepts has unique resource names, at
 * most PF_MODELSIG_MAX_ITEMS of them, and a root digest that matches them;
 * the statement pteflow would write for the same files is rendered too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modelsig/modelsig.h"
#include "util/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pf_modelsig_claims *c = NULL;
	if (pf_modelsig_parse(&c, (const char *)data, size) == 0) {
		pf_modelsig_file *copy;
		char *st;
		if (c->n_files > PF_MODELSIG_MAX_ITEMS || c->n_ignore > PF_MODELSIG_MAX_ITEMS || !c->envelope ||
		    strlen(c->root_sha256) != 64)
			abort();
		copy = pf_xcalloc(c->n_files + 1, sizeof(*copy));
		memcpy(copy, c->files, c->n_files * sizeof(*copy));
		st = pf_modelsig_statement(c->model_name, copy, c->n_files, (const char *const *)c->ignore_paths,
		                           c->n_ignore);
		if (!st || !strstr(st, PF_MODELSIG_PREDICATE_TYPE))
			abort();
		for (size_t i = 1; i < c->n_files; i++) /* sorted by the writer, and names are unique */
			if (pf_modelsig_name_cmp(copy[i - 1].name, copy[i].name) >= 0)
				abort();
		free(st);
		free(copy);
	}
	pf_modelsig_claims_free(c);
	return 0;
}
