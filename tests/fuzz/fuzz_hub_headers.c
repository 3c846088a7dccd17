/*
 * Fuzz target for the Hub response-header parser (src/hub/hub_headers.c):
 * the input is split into lines as libcurl hands them over and fed in order;
 * each line also goes through etag normalisation, Link parsing and the
 * remote-path check, and each Location is resolved as a redirect target and
 * as a base. Corpus: tests/fuzz/corpus/hub_headers/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pf_hub_headers h;
	size_t start = 0;
	pf_hub_headers_init(&h);
	for (size_t i = 0; i <= size; i++) {
		if (i < size && data[i] != '\n')
			continue;
		{
			const char *line = (const char *)data + start;
			size_t len = i - start + (i < size ? 1 : 0);
			char *n, *l;
			(void)pf_hub_headers_feed(&h, line, len);
			n = pf_hub_etag_normalise(line, len);
			l = pf_hub_link_next(line, len);
			(void)pf_hub_path_check(line, len);
			free(n);
			free(l);
			if (h.location) {
				char *r = pf_hub_url_relative("http://127.0.0.1:1/org/m/resolve/main/a.bin?x=1", h.location);
				char *b = pf_hub_url_relative(h.location, "x?q");
				char *q = pf_hub_url_relative(h.location, "?q");
				char *p = pf_hub_url_relative(h.location, "//h:2/p");
				char *o = r ? pf_hub_url_origin(r) : NULL;
				free(r);
				free(b);
				free(q);
				free(p);
				free(o);
			}
		}
		start = i + 1;
	}
	pf_hub_headers_dispose(&h);
	return 0;
}
