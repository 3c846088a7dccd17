/*
 * `pteflow run --kpi-record FILE` (issue 17): the run's KPI figures as the
 * benchmark records ExecuTorch's benchmark jobs upload to the PyTorch OSS
 * benchmark database ("v3": a JSON list, one record per metric, as
 * .github/scripts/extract_benchmark_results.py and
 * .ci/scripts/cuda_benchmark.py write them), so an existing dashboard can
 * show them. Metric names follow those jobs where one exists
 * (token_per_sec, first_token_latency(ms), model_load_time(ms),
 * peak_inference_mem_usage(mb)); target_value is the gate's limit (0 when
 * the pipeline sets none). A crashed session is a FAILURE_REPORT record, as
 * the mobile jobs report a failed job. Written atomically; a few KiB.
 */
#include "manifest/manifest.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

typedef struct metric_map {
	const char *summary_key; /* in the kpi step's summary */
	const char *gate;        /* the gate that limits it */
	const char *metric;      /* the v3 metric name */
	double scale;
} metric_map;

static const metric_map metrics[] = {
    {"decode_tps", "decode_min_tps", "token_per_sec", 1.0},
    {"prefill_tps", "prefill_min_tps", "prefill_token_per_sec", 1.0},
    {"ttft_ms", "ttft_max", "first_token_latency(ms)", 1.0},
    {"load_ms", "load_max", "model_load_time(ms)", 1.0},
    {"peak_rss_bytes", "runtime_memory_max", "peak_inference_mem_usage(mb)", 1.0 / (1024.0 * 1024.0)},
    {"rss_growth_bytes", "soak_max_growth", "memory_growth_over_soak(mb)", 1.0 / (1024.0 * 1024.0)},
};

static const pf_kpi_gate *gate_of(const pf_kpi_record *k, const char *name)
{
	for (size_t i = 0; i < k->n_gates; i++)
		if (!strcmp(k->gates[i].name, name))
			return &k->gates[i];
	return NULL;
}

static char *first_string(const pf_run_record *rec, const char *object, const char *key)
{
	for (size_t i = 0; i < rec->n_steps; i++) {
		const char *text = rec->steps[i].result_json;
		cJSON *root = text ? cJSON_ParseWithLength(text, strlen(text)) : NULL;
		const cJSON *o = root ? cJSON_GetObjectItemCaseSensitive(root, object) : NULL;
		const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
		char *out = cJSON_IsString(v) ? pf_xstrdup(v->valuestring) : NULL;
		cJSON_Delete(root);
		if (out)
			return out;
	}
	return NULL;
}

static cJSON *base_record(const pf_run_record *rec, const cJSON *host)
{
	cJSON *r = cJSON_CreateObject(), *bench = cJSON_CreateObject(), *extra = cJSON_CreateObject();
	cJSON *model = cJSON_CreateObject(), *runners = cJSON_CreateArray(), *runner = cJSON_CreateObject();
	const cJSON *cpu = host ? cJSON_GetObjectItemCaseSensitive(host, "cpu_model") : NULL;
	const cJSON *threads = host ? cJSON_GetObjectItemCaseSensitive(host, "threads") : NULL;
	char *quant = first_string(rec, "source", "quant");
	char *name = rec->target ? pf_xasprintf("%s_%s", rec->pipeline_name, rec->target) : pf_xstrdup(rec->pipeline_name);
	const char *backend = "portable";
	for (size_t i = 0; i < rec->n_artifacts; i++) {
		const pf_artifact_result *a = &rec->artifacts[i];
		if (a->kind && !strcmp(a->kind, "pte") && a->structure && a->structure->n_backends) {
			backend = strstr(a->structure->backends[0], "Xnnpack") ? "xnnpack" : a->structure->backends[0];
			break;
		}
	}
	cJSON_AddStringToObject(bench, "name", "ExecuTorch");
	cJSON_AddStringToObject(bench, "mode", "inference");
	cJSON_AddStringToObject(extra, "app_type", "pteflow");
	cJSON_AddStringToObject(extra, "pteflow_version", rec->pteflow_version ? rec->pteflow_version : "");
	if (rec->git.present && rec->git.commit)
		cJSON_AddStringToObject(extra, "git_sha", rec->git.commit);
	if (rec->ci.present && rec->ci.run_id)
		cJSON_AddStringToObject(extra, "workflow_run_id", rec->ci.run_id);
	cJSON_AddStringToObject(extra, "job_conclusion", rec->passed ? "SUCCESS" : "FAILURE");
	cJSON_AddItemToObject(bench, "extra_info", extra);
	cJSON_AddItemToObject(r, "benchmark", bench);
	cJSON_AddStringToObject(model, "name", name);
	cJSON_AddStringToObject(model, "type", "OSS model");
	cJSON_AddStringToObject(model, "backend", backend);
	cJSON_AddStringToObject(model, "quantization", quant ? quant : "unknown");
	cJSON_AddItemToObject(r, "model", model);
	cJSON_AddStringToObject(runner, "name", cJSON_IsString(cpu) ? cpu->valuestring : "unknown CPU");
	cJSON_AddStringToObject(runner, "type", rec->host.os ? rec->host.os : "");
	cJSON_AddNumberToObject(runner, "threads", cJSON_IsNumber(threads) ? threads->valuedouble : 0);
	cJSON_AddNumberToObject(runner, "avail_mem_in_gb", (double)rec->host.memory_available_bytes / 1e9);
	cJSON_AddNumberToObject(runner, "total_mem_in_gb", (double)rec->host.memory_bytes / 1e9);
	cJSON_AddStringToObject(runner, "note", "a host CPU standing in for a phone");
	cJSON_AddItemToArray(runners, runner);
	cJSON_AddItemToObject(r, "runners", runners);
	free(quant);
	free(name);
	return r;
}

static void add_metric(cJSON *list, const pf_run_record *rec, const cJSON *host, const char *name, double value,
		       double target, const pf_kpi_gate *gate)
{
	cJSON *r = base_record(rec, host), *m = cJSON_CreateObject(), *values = cJSON_CreateArray();
	cJSON *extra = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "name", name);
	cJSON_AddItemToArray(values, cJSON_CreateNumber(value));
	cJSON_AddItemToObject(m, "benchmark_values", values);
	cJSON_AddNumberToObject(m, "target_value", target);
	cJSON_AddStringToObject(extra, "method", "forward");
	if (gate) {
		cJSON_AddStringToObject(extra, "gate", gate->name);
		cJSON_AddStringToObject(extra, "gate_passed", gate->passed ? "true" : "false");
	}
	cJSON_AddItemToObject(m, "extra_info", extra);
	cJSON_AddItemToObject(r, "metric", m);
	cJSON_AddItemToArray(list, r);
}

static cJSON *render_records(const pf_run_record *rec, cJSON *measured)
{
	cJSON *list = cJSON_CreateArray();
	const cJSON *host = measured ? cJSON_GetObjectItemCaseSensitive(measured, "host") : NULL;
	const cJSON *summary = measured ? cJSON_GetObjectItemCaseSensitive(measured, "summary") : NULL;
	const pf_kpi_gate *crash = gate_of(rec->kpi, "crash");
	for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
		const cJSON *v = summary ? cJSON_GetObjectItemCaseSensitive(summary, metrics[i].summary_key) : NULL;
		const pf_kpi_gate *g = gate_of(rec->kpi, metrics[i].gate);
		if (cJSON_IsNumber(v))
			add_metric(list, rec, host, metrics[i].metric, v->valuedouble * metrics[i].scale,
				   g ? g->limit * metrics[i].scale : 0.0, g);
	}
	if (crash && !crash->passed) {
		cJSON *r = base_record(rec, host), *m = cJSON_CreateObject(), *values = cJSON_CreateArray();
		cJSON *extra = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "benchmark"), "extra_info");
		cJSON_AddStringToObject(extra, "failure_type", "CRASH");
		cJSON_AddStringToObject(extra, "job_report", crash->actual ? crash->actual : "");
		cJSON_AddStringToObject(m, "name", "FAILURE_REPORT");
		cJSON_AddItemToArray(values, cJSON_CreateNumber(0));
		cJSON_AddItemToObject(m, "benchmark_values", values);
		cJSON_AddNumberToObject(m, "target_value", 0);
		cJSON_AddItemToObject(r, "metric", m);
		cJSON_AddItemToArray(list, r);
	}
	return list;
}

int pf_manifest_write_kpi_record(const pf_run_record *rec, const char *path)
{
	cJSON *measured = NULL, *list = NULL;
	char *text = NULL, *clean = NULL;
	int rc = 0;
	if (!rec->kpi) {
		rc = pf_error_code(PF_EINVALID, "--kpi-record \"%s\": the pipeline has no step with kpi: to record", path);
		goto done;
	}
	if (rec->kpi->measured_json)
		measured = cJSON_ParseWithLength(rec->kpi->measured_json, strlen(rec->kpi->measured_json));
	list = render_records(rec, measured);
	if (!(text = cJSON_Print(list))) {
		rc = pf_error_code(PF_EENV, "cannot render the KPI records: out of memory");
		goto done;
	}
	clean = pf_secret_redact(text);
	if ((rc = pf_fs_write_atomic(path, clean, strlen(clean))) < 0)
		rc = pf_error_code(PF_EENV, "the KPI records \"%s\" could not be written: %s", path, pf_error_last());
done:
	free(clean);
	cJSON_free(text);
	cJSON_Delete(list);
	cJSON_Delete(measured);
	return rc;
}
