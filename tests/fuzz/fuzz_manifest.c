/*
 * libFuzzer target for the manifest reader `pteflow verify` runs on
 * manifests that travel with releases (untrusted): pf_manifest_parse over
 * arbitrary bytes must never read out of bounds, recurse without bound or
 * leak, and every path it accepts as safe must stay inside the folder.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manifest/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pf_manifest *m = NULL;
	if (pf_manifest_parse(&m, (const char *)data, size) == 0) {
		for (size_t i = 0; i < m->n_entries; i++) {
			const pf_manifest_entry *e = &m->entries[i];
			if (!e->unsafe && (e->path[0] == '/' || !strcmp(e->path, "..") || !strncmp(e->path, "../", 3) ||
					   strstr(e->path, "/../")))
				abort(); /* a path that escapes was accepted as safe */
		}
	}
	pf_manifest_free(m);
	return 0;
}
