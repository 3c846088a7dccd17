/*
 * libFuzzer target for the store's records (src/cache/store.h): a record is
 * pteflow's own file, but a store is a folder anyone with access may edit,
 * so pf_store_entry_parse must never read out of bounds or leak, and every
 * path it accepts must stay inside the output folder it is restored into.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_path(const char *p)
{
	if (!p)
		return;
	if (!p[0] || p[0] == '/' || !strcmp(p, "..") || !strncmp(p, "../", 3) || strstr(p, "/../") ||
	    (strlen(p) >= 3 && !strcmp(p + strlen(p) - 3, "/..")))
		abort(); /* a path that escapes was accepted */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pf_store_entry *e = NULL;
	if (pf_store_entry_parse(&e, (const char *)data, size) == 0) {
		for (size_t i = 0; i < e->n_outputs; i++)
			check_path(e->outputs[i].path);
		check_path(e->log.path);
		check_path(e->result.path);
		if (strlen(e->fingerprint) != 64)
			abort();
	}
	pf_store_entry_free(e);
	return 0;
}
