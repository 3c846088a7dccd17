/*
 * libFuzzer target for the answers `pteflow publish` reads from a hub
 * (untrusted): the preupload answer (pf_hub_preupload_apply over three
 * files) and a multipart upload's part list (pf_hub_multipart_plan for a
 * 2500-byte object). Neither may read out of bounds, recurse without bound
 * or leak; a plan it accepts has exactly ceil(size / chunk_size) URLs.
 * The first byte picks the reader, the rest is the answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub.h"
#include "hub/hub_internal.h"
#include "util/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *)data + 1;
	size_t len = size ? size - 1 : 0;
	if (!size)
		return 0;
	if (data[0] & 1) {
		char **urls = NULL;
		size_t n = 0;
		uint64_t chunk = 0;
		if (pf_hub_multipart_plan(&urls, &n, &chunk, json, len, 2500) == 0) {
			if (!chunk || n != 2500 / chunk + (2500 % chunk != 0))
				abort();
			for (size_t i = 0; i < n; i++)
				if (!urls[i])
					abort();
		}
		pf_strv_free(urls, n);
	} else {
		pf_hub_upload files[3] = {{.path_in_repo = "model.pte", .size = 2500},
		                          {.path_in_repo = "README.md", .size = 10},
		                          {.path_in_repo = "e", .size = 0}};
		memset(files[0].sha256, 'a', 64);
		memset(files[1].git_sha1, 'b', 40);
		(void)pf_hub_preupload_apply(files, 3, json, len);
		if (files[2].lfs) /* an empty file never goes through LFS */
			abort();
	}
	return 0;
}
