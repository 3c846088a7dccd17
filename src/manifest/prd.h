/*
 * Inside the manifest module: the release verdict fields (prd_compliant,
 * pte_size_gb, kpi) that render.c adds to manifest.json (issue 17).
 */
#ifndef PF_MANIFEST_PRD_H
#define PF_MANIFEST_PRD_H

#include <cjson/cJSON.h>

#include "manifest/record.h"

/* Add prd_compliant, prd_checks, pte_size_gb, pte_size_gb_path and kpi to `root`. */
void pf_manifest_render_prd(cJSON *root, const pf_run_record *rec);

#endif
