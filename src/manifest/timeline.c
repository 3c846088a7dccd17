/*
 * The step's memory series and phases to manifest.json (timeline.h). Two
 * flat arrays instead of an object per point keep a step of 120 points
 * near 2 KiB of JSON. Workload: once per step per run.
 */
#include "manifest/timeline.h"

static cJSON *u64_array(const pf_series *s, bool bytes)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < s->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(bytes ? (double)s->pts[i].bytes : (double)s->pts[i].t_ms));
	return a;
}

void pf_manifest_add_timeline(cJSON *o, const pf_proc_result *r)
{
	const pf_series *s = &r->guard.series;
	if (s->interval_ms && s->n) {
		cJSON *m = cJSON_CreateObject();
		cJSON_AddNumberToObject(m, "interval_ms", s->interval_ms);
		cJSON_AddNumberToObject(m, "bucket_ms", s->bucket_ms);
		cJSON_AddStringToObject(m, "source", s->from_cgroup ? "cgroup" : "tree");
		cJSON_AddBoolToObject(m, "peak_settled", s->peak_settled);
		cJSON_AddItemToObject(m, "t_ms", u64_array(s, false));
		cJSON_AddItemToObject(m, "bytes", u64_array(s, true));
		cJSON_AddItemToObject(o, "memory", m);
	}
	if (r->n_phases) {
		cJSON *a = cJSON_CreateArray();
		for (size_t i = 0; i < r->n_phases && i < PF_PROC_MAX_PHASES; i++) {
			cJSON *p = cJSON_CreateObject();
			cJSON_AddStringToObject(p, "name", r->phases[i].name);
			cJSON_AddNumberToObject(p, "t_ms", r->phases[i].t_ms);
			cJSON_AddItemToArray(a, p);
		}
		cJSON_AddItemToObject(o, "phases", a);
	}
}
