/*
 * JSON of what the .pte reader found beyond the method list: the values of
 * metadata methods and the test suites of a bundled program (.bpte). One
 * builder for `pteflow inspect --json` and the manifest's artifact
 * structure, so both say the same (schemas/manifest.schema.json: metadata,
 * bundle).
 */
#ifndef PF_MANIFEST_STRUCTURE_H
#define PF_MANIFEST_STRUCTURE_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "pte/pte.h"

/*
 * {"get_max_seq_len": 128, "get_eos_ids": [1, 2], "use_kv_cache": true, ...}:
 * one entry per metadata method, a list when the method returned a list.
 * Int and Double are numbers (an Int is exact up to 2^53), Bool a boolean,
 * String a string (redacted like every manifest string), anything else
 * null. The caller owns the result.
 */
cJSON *pf_manifest_metadata_json(const pf_pte_info *p);
/*
 * The bundle of a .bpte: version, the embedded program's offset and size,
 * each suite's method and test-case count; with `detailed`, the listed cases
 * with their values (tensor dtype, sizes, data bytes; scalars). NULL for
 * other kinds. The caller owns the result.
 */
cJSON *pf_manifest_bundle_json(const pf_pte_info *p, bool detailed);

#endif
