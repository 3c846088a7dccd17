/*
 * The release verdict of a run in manifest.json (issue 17), as the export
 * guide's validation checklist reads it (`jq '.prd_compliant, .runtime,
 * .pte_size_gb'`):
 *
 *   prd_compliant  true exactly when the run passed and every gate the guide
 *                  asks for was there and passed: the artifact gates (size,
 *                  structure...), a numerical check (a step result of
 *                  pteflow_steps.check with "pass": true) and the runtime KPI
 *                  gates (a step with `kpi:`); prd_checks says which is missing
 *   pte_size_gb    the main program's size in GB (bytes / 1e9): the first
 *                  `.pte` artifact of the pipeline; pte_size_gb_path names it
 *   kpi            the KPI gates, what was measured and on which host
 *
 * Shape: schemas/manifest.schema.json. Once per run, a few KiB.
 */
#include "manifest/prd.h"

#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/mem.h"

static bool check_passed(const pf_run_record *rec)
{
	for (size_t i = 0; i < rec->n_steps; i++) {
		const pf_step_record *s = &rec->steps[i];
		const char *text = s->result_json;
		cJSON *root, *step, *pass;
		bool ok;
		if (!text || !s->ran || s->result.end != PF_END_OK)
			continue;
		root = cJSON_ParseWithLength(text, strlen(text));
		step = root ? cJSON_GetObjectItemCaseSensitive(root, "step") : NULL;
		pass = root ? cJSON_GetObjectItemCaseSensitive(root, "pass") : NULL;
		ok = cJSON_IsString(step) && !strcmp(step->valuestring, "check") && cJSON_IsTrue(pass);
		cJSON_Delete(root);
		if (ok)
			return true;
	}
	return false;
}

static cJSON *render_kpi_gate(const pf_kpi_gate *g)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", g->name);
	cJSON_AddStringToObject(o, "expected", g->expected ? g->expected : "");
	cJSON_AddStringToObject(o, "actual", g->actual ? g->actual : "");
	if (g->unit) {
		cJSON_AddStringToObject(o, "unit", g->unit);
		cJSON_AddNumberToObject(o, "limit", g->limit);
	} else {
		cJSON_AddNullToObject(o, "unit");
		cJSON_AddNullToObject(o, "limit");
	}
	if (g->has_value && g->unit)
		cJSON_AddNumberToObject(o, "value", g->value);
	else
		cJSON_AddNullToObject(o, "value");
	cJSON_AddBoolToObject(o, "passed", g->passed);
	return o;
}

/* The step's measurements, redacted; its "host" goes up beside the gates. */
static void add_measured(cJSON *kpi, const char *text)
{
	size_t len = 0;
	char *clean = text ? pf_secret_redact_n(text, strlen(text), &len) : NULL;
	cJSON *m = clean ? cJSON_ParseWithLength(clean, len) : NULL;
	cJSON *host = m ? cJSON_DetachItemFromObjectCaseSensitive(m, "host") : NULL;
	free(clean);
	cJSON_AddItemToObject(kpi, "host", cJSON_IsObject(host) ? host : cJSON_CreateNull());
	if (host && !cJSON_IsObject(host))
		cJSON_Delete(host);
	cJSON_AddItemToObject(kpi, "measured", cJSON_IsObject(m) ? m : cJSON_CreateNull());
	if (m && !cJSON_IsObject(m))
		cJSON_Delete(m);
}

static cJSON *render_kpi(const pf_kpi_record *k)
{
	cJSON *o = cJSON_CreateObject(), *gates = cJSON_CreateArray();
	char *failure = k->failure ? pf_secret_redact(k->failure) : NULL;
	cJSON_AddStringToObject(o, "step", k->step);
	if (k->preset)
		cJSON_AddStringToObject(o, "preset", k->preset);
	else
		cJSON_AddNullToObject(o, "preset");
	cJSON_AddBoolToObject(o, "passed", k->passed);
	if (failure)
		cJSON_AddStringToObject(o, "failure", failure);
	else
		cJSON_AddNullToObject(o, "failure");
	free(failure);
	for (size_t i = 0; i < k->n_gates; i++)
		cJSON_AddItemToArray(gates, render_kpi_gate(&k->gates[i]));
	cJSON_AddItemToObject(o, "gates", gates);
	add_measured(o, k->measured_json);
	return o;
}

void pf_manifest_render_prd(cJSON *root, const pf_run_record *rec)
{
	cJSON *checks = cJSON_CreateObject();
	const pf_artifact_result *main_pte = NULL;
	bool arts = rec->n_artifacts > 0, check = check_passed(rec), kpi = rec->kpi && rec->kpi->passed;
	for (size_t i = 0; i < rec->n_artifacts; i++) {
		arts = arts && rec->artifacts[i].passed;
		if (!main_pte && rec->artifacts[i].kind && !strcmp(rec->artifacts[i].kind, "pte"))
			main_pte = &rec->artifacts[i];
	}
	cJSON_AddBoolToObject(root, "prd_compliant", rec->passed && arts && check && kpi);
	cJSON_AddBoolToObject(checks, "artifact_gates", arts);
	cJSON_AddBoolToObject(checks, "numerical_check", check);
	cJSON_AddBoolToObject(checks, "kpi_gates", kpi);
	cJSON_AddItemToObject(root, "prd_checks", checks);
	if (main_pte && main_pte->exists) {
		cJSON_AddNumberToObject(root, "pte_size_gb", (double)main_pte->size_bytes / 1e9);
		cJSON_AddStringToObject(root, "pte_size_gb_path", main_pte->path);
	} else {
		cJSON_AddNullToObject(root, "pte_size_gb");
		cJSON_AddNullToObject(root, "pte_size_gb_path");
	}
	cJSON_AddItemToObject(root, "kpi", rec->kpi ? render_kpi(rec->kpi) : cJSON_CreateNull());
}
