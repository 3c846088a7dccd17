/* Unit tests of the model card `pteflow publish` writes (src/publish/card.c). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "publish/publish.h"
#include "util/error.h"

Test(publish_card, front_matter_and_body)
{
	const char *m = "{\"pipeline\":{\"name\":\"tiny\",\"target\":\"int8\"},\"model\":{\"repo\":\"org/base\","
	                "\"commit\":\"0123\"},\"steps\":[{\"argv\":[\"python\",\"--quantize\",\"8da4w\"]}],"
	                "\"artifacts\":[{\"path\":\"model.pte\",\"size_bytes\":1234,\"sha256\":\"ab\","
	                "\"structure\":{\"backends\":[\"XnnpackBackend\"],\"metadata\":{\"get_max_seq_len\":128}},"
	                "\"gates\":[{\"passed\":true},{\"passed\":false}]}],"
	                "\"kpi\":{\"gates\":[{\"name\":\"ttft_max\",\"expected\":\"<= 350 ms\",\"actual\":\"2 ms\","
	                "\"passed\":true}]}}";
	char *card = NULL;
	cr_assert_eq(pf_publish_card(&card, m, strlen(m)), 0, "%s", pf_error_last());
	cr_assert(strstr(card, "---\nlibrary_name: executorch\ntags:\n- \"executorch\"\n- \"XnnpackBackend\"\n"
	                       "base_model: \"org/base\"\npipeline_tag: text-generation\n---\n"),
	          "%s", card);
	cr_assert(strstr(card, "- Quantization: `8da4w`"), "%s", card);
	cr_assert(strstr(card, "| model.pte | 1234 | `ab` | 1 of 2 passed |"), "%s", card);
	cr_assert(strstr(card, "| ttft_max | <= 350 ms | 2 ms | passed |"), "%s", card);
	free(card);
}

Test(publish_card, hostile_strings_stay_in_their_place)
{
	const char *m = "{\"model\":{\"repo\":\"x\\\"\\nlicense: evil\"},\"artifacts\":[{\"path\":\"a|b\\nc\","
	                "\"structure\":{\"backends\":[\"b\\nname: y\"]}}]}";
	char *card = NULL;
	cr_assert_eq(pf_publish_card(&card, m, strlen(m)), 0, "%s", pf_error_last());
	cr_assert_null(strstr(card, "\nlicense:"), "%s", card);
	cr_assert_null(strstr(card, "\nname:"), "%s", card);
	cr_assert(strstr(card, "base_model: \"x\\\"license: evil\""), "%s", card);
	cr_assert(strstr(card, "| a\\|bc |"), "%s", card);
	free(card);
	cr_assert_eq(pf_publish_card(&card, "[1]", 3), PF_EINVALID);
	cr_assert_eq(pf_publish_card(&card, "{", 1), PF_EINVALID);
}
