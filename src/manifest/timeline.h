/*
 * A step's timeline in manifest.json: its memory series ("memory",
 * schemas/manifest.schema.json $defs/memory_series) and its phases
 * ("phases"). Internal to src/manifest/ (render.c).
 */
#ifndef PF_MANIFEST_TIMELINE_H
#define PF_MANIFEST_TIMELINE_H

#include <cjson/cJSON.h>

#include "proc/proc.h"

/* Add "memory" (when sampled) and "phases" (when any) to the step object `o`. */
void pf_manifest_add_timeline(cJSON *o, const pf_proc_result *r);

#endif
