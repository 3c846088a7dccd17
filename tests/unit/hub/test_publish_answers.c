/* Unit tests of the hub answers `pteflow publish` reads (src/hub/hub_publish.c): preupload and multipart plans. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub.h"
#include "hub/hub_internal.h"
#include "util/error.h"
#include "util/mem.h"

Test(hub_publish, preupload_modes_and_unchanged_files)
{
	pf_hub_upload f[3] = {{.path_in_repo = "model.pte", .size = 10},
	                      {.path_in_repo = "README.md", .size = 5},
	                      {.path_in_repo = "empty", .size = 0}};
	const char *ans = "{\"files\":[{\"path\":\"model.pte\",\"uploadMode\":\"lfs\",\"oid\":\"aaaa\"},"
	                  "{\"path\":\"README.md\",\"uploadMode\":\"regular\",\"oid\":\"bbbb\"},"
	                  "{\"path\":\"empty\",\"uploadMode\":\"lfs\"}]}";
	strcpy(f[0].sha256, "aaaa"); /* test data: the comparison is by string */
	strcpy(f[1].git_sha1, "cccc");
	cr_assert_eq(pf_hub_preupload_apply(f, 3, ans, strlen(ans)), 0, "%s", pf_error_last());
	cr_assert(f[0].lfs && f[0].unchanged, "same sha256 at that path: not committed again");
	cr_assert(!f[1].lfs && !f[1].unchanged);
	cr_assert(!f[2].lfs, "an empty file is never LFS (S3 refuses an empty object)");
	{
		const char *xet = "{\"files\":[{\"path\":\"x\",\"uploadMode\":\"xet\"}]}";
		cr_assert_eq(pf_hub_preupload_apply(f, 3, xet, strlen(xet)), PF_EFAILED);
	}
	cr_assert_eq(pf_hub_preupload_apply(f, 3, "[]", 2), PF_EFAILED);
}

Test(hub_publish, multipart_plan)
{
	char **urls = NULL;
	size_t n = 0;
	uint64_t chunk = 0;
	const char *ok = "{\"chunk_size\":\"1000\",\"00003\":\"u3\",\"00001\":\"u1\",\"00002\":\"u2\",\"note\":\"x\"}";
	cr_assert_eq(pf_hub_multipart_plan(&urls, &n, &chunk, ok, strlen(ok), 2500), 0, "%s", pf_error_last());
	cr_assert_eq(n, 3);
	cr_assert_eq(chunk, 1000);
	cr_assert_str_eq(urls[0], "u1");
	cr_assert_str_eq(urls[2], "u3");
	pf_strv_free(urls, n);
	/* one part as large as the object is a plan too, whatever the chunk size says */
	{
		const char *one = "{\"chunk_size\":\"18446744073709551615\",\"1\":\"a\"}";
		cr_assert_eq(pf_hub_multipart_plan(&urls, &n, &chunk, one, strlen(one), 2500), 0);
		cr_assert_eq(n, 1);
		pf_strv_free(urls, n);
		urls = NULL;
	}
	/* a part missing, a part twice under two spellings, a chunk size that is not a number, none, zero */
	const char *bad[] = {"{\"chunk_size\":\"1000\",\"1\":\"a\",\"2\":\"b\"}",
	                     "{\"chunk_size\":\"1000\",\"1\":\"a\",\"01\":\"b\",\"3\":\"c\"}",
	                     "{\"chunk_size\":\"-5\",\"1\":\"a\"}", "{\"1\":\"a\"}", "{\"chunk_size\":\"0\"}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(pf_hub_multipart_plan(&urls, &n, &chunk, bad[i], strlen(bad[i]), 2500), PF_EFAILED, "%s",
		             bad[i]);
		cr_assert_null(urls);
	}
}
