/*
 * The run record to manifest.json (cJSON) and SHA256SUMS, both replaced
 * atomically. Shape: schemas/manifest.schema.json; keep the two in step (and
 * read.c, which reads back what `pteflow verify` needs). Every string goes
 * through pf_secret_redact() on its way in, and the finished text once more,
 * so no registered secret can reach the file even if a caller forgot to
 * redact. Workload: once per run, a few KiB of JSON.
 */
#include "manifest/manifest.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/guard.h"
#include "manifest/prd.h"
#include "manifest/structure.h"
#include "manifest/timeline.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

#define STEP_RESULT_MAX_BYTES (1024u * 1024u)
#define EMBED_MAX_DEPTH 32

const char *pf_manifest_step_status(const pf_step_record *step)
{
	if (!step->ran)
		return "skipped";
	switch (step->result.end) {
	case PF_END_OK:
		return "success";
	case PF_END_EXIT:
		return "failed";
	case PF_END_SIGNAL:
		return "killed_by_signal";
	case PF_END_TIMEOUT:
		return "timed_out";
	case PF_END_MEMORY:
		return "out_of_memory";
	case PF_END_INTERRUPTED:
		return "interrupted";
	case PF_END_SPAWN:
		return "could_not_start";
	}
	return "failed";
}

static void add_str(cJSON *obj, const char *key, const char *value)
{
	if (!value) {
		cJSON_AddNullToObject(obj, key);
		return;
	}
	char *clean = pf_secret_redact(value);
	cJSON_AddStringToObject(obj, key, clean);
	free(clean);
}

static void add_u64(cJSON *obj, const char *key, uint64_t v)
{
	cJSON_AddNumberToObject(obj, key, (double)v);
}

static void add_hex(cJSON *obj, const char *key, const char *hex)
{
	if (hex && strlen(hex) == 64)
		cJSON_AddStringToObject(obj, key, hex);
	else
		cJSON_AddNullToObject(obj, key);
}

static cJSON *str_array(char *const *v, size_t n)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++) {
		char *clean = pf_secret_redact(v[i] ? v[i] : "");
		cJSON_AddItemToArray(arr, cJSON_CreateString(clean));
		free(clean);
	}
	return arr;
}

static int depth_of(const cJSON *item, int depth)
{
	int max = depth;
	for (const cJSON *c = item ? item->child : NULL; c; c = c->next) {
		int d = depth_of(c, depth + 1);
		if (d > max)
			max = d;
		if (max > EMBED_MAX_DEPTH)
			break;
	}
	return max;
}

/*
 * A step's own JSON text, parsed and embedded. Text that is too large, not
 * JSON, not an object or too deep is recorded as {"error": "..."} instead: a
 * step's output must never make the manifest invalid. The text is redacted
 * before parsing so a secret inside a string becomes "***".
 */
static cJSON *embed_json(const char *text, const char *what)
{
	cJSON *parsed = NULL, *err = NULL;
	const char *problem = NULL;
	size_t len = strlen(text), clean_len = 0;
	char *clean = NULL;
	if (len > STEP_RESULT_MAX_BYTES) {
		problem = "larger than 1 MiB";
		goto done;
	}
	clean = pf_secret_redact_n(text, len, &clean_len);
	parsed = cJSON_ParseWithLength(clean, clean_len);
	if (!parsed)
		problem = "not valid JSON";
	else if (!cJSON_IsObject(parsed))
		problem = "not a JSON object";
	else if (depth_of(parsed, 1) > EMBED_MAX_DEPTH)
		problem = "nested deeper than 32 levels";
done:
	free(clean);
	if (!problem)
		return parsed;
	cJSON_Delete(parsed);
	err = cJSON_CreateObject();
	char *msg = pf_xasprintf("%s is %s: it was not embedded", what, problem);
	cJSON_AddStringToObject(err, "error", msg);
	free(msg);
	return err;
}

static cJSON *render_host(const pf_host_record *h)
{
	cJSON *o = cJSON_CreateObject();
	add_str(o, "os", h->os ? h->os : "unknown");
	add_u64(o, "cpus", h->cpu_count);
	add_u64(o, "memory_bytes", h->memory_bytes);
	add_u64(o, "memory_available_bytes", h->memory_available_bytes);
	add_str(o, "guard_auto", h->guard_auto);
	return o;
}

static cJSON *render_git(const pf_git_record *g)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "present", g->present);
	add_str(o, "repository", g->repository);
	add_str(o, "commit", g->commit);
	add_str(o, "branch", g->branch);
	cJSON_AddBoolToObject(o, "dirty", g->dirty);
	add_str(o, "describe", g->describe);
	return o;
}

static cJSON *render_ci(const pf_ci_record *c)
{
	cJSON *o = cJSON_CreateObject();
	add_str(o, "repository", c->repository);
	add_str(o, "run_id", c->run_id);
	add_str(o, "run_attempt", c->run_attempt);
	add_str(o, "workflow", c->workflow);
	add_str(o, "ref", c->ref);
	add_str(o, "sha", c->sha);
	add_str(o, "runner_os", c->runner_os);
	add_str(o, "job", c->job);
	add_str(o, "server_url", c->server_url);
	return o;
}

static cJSON *render_model(const pf_model_record *m)
{
	cJSON *o = cJSON_CreateObject(), *files = cJSON_CreateArray();
	add_str(o, "repo", m->repo);
	add_str(o, "repo_type", m->repo_type ? m->repo_type : "model");
	add_str(o, "revision", m->revision);
	add_str(o, "commit", m->commit);
	add_str(o, "endpoint", m->endpoint);
	for (size_t i = 0; i < m->n_files; i++) {
		const pf_model_file *f = &m->files[i];
		cJSON *fo = cJSON_CreateObject();
		add_str(fo, "path", f->path);
		add_u64(fo, "size", f->size_bytes);
		add_hex(fo, "sha256", f->sha256);
		add_str(fo, "etag", f->etag);
		cJSON_AddBoolToObject(fo, "lfs", f->lfs);
		cJSON_AddItemToArray(files, fo);
	}
	cJSON_AddItemToObject(o, "files", files);
	add_u64(o, "duration_ms", m->duration_ms);
	add_u64(o, "bytes_downloaded", m->bytes_downloaded);
	return o;
}

static cJSON *render_guard(const pf_guard_report *g)
{
	cJSON *o = cJSON_CreateObject();
	add_str(o, "mode", pf_guard_mode_name(g->mode));
	add_u64(o, "limit_bytes", g->limit_bytes);
	cJSON_AddBoolToObject(o, "memory_kill", g->memory_kill);
	add_u64(o, "oom_kills", g->oom_kills);
	add_str(o, "detail", g->detail);
	return o;
}

static cJSON *render_cache(const pf_step_record *s)
{
	cJSON *o;
	if (!s->cache_status)
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	add_str(o, "status", s->cache_status);
	add_str(o, "reason", s->cache_reason);
	add_str(o, "original_run_utc", s->cache_origin_utc);
	add_u64(o, "restore_ms", s->cache_restore_ms);
	add_u64(o, "overhead_ms", s->cache_overhead_ms);
	add_u64(o, "store_ms", s->cache_store_ms);
	cJSON_AddBoolToObject(o, "stored", s->cache_stored);
	if (s->cache_source)
		add_str(o, "source", s->cache_source);
	if (s->cache_source && !strcmp(s->cache_source, "remote"))
		cJSON_AddBoolToObject(o, "remote_verified", s->cache_remote_verified);
	if (s->cache_remote_stored)
		cJSON_AddBoolToObject(o, "remote_stored", s->cache_remote_stored == 1);
	return o;
}

static cJSON *render_interval(const pf_interval *v)
{
	cJSON *o = cJSON_CreateObject();
	add_u64(o, "low", v->low);
	add_u64(o, "point", v->point);
	add_u64(o, "high", v->high);
	return o;
}

/* {"predicted": {low, point, high}, "actual": n|null, "error_pct": (point - actual) / actual x 100 | null, "within": bool|null} */
static cJSON *render_figure(const pf_interval *predicted, bool has_actual, uint64_t actual)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "predicted", render_interval(predicted));
	if (has_actual) {
		add_u64(o, "actual", actual);
		if (actual > 0) {
			/* one decimal, rounded half away from zero */
			double e = ((double)predicted->point - (double)actual) / (double)actual * 1000.0;
			cJSON_AddNumberToObject(o, "error_pct", (double)(long long)(e + (e >= 0 ? 0.5 : -0.5)) / 10.0);
		} else {
			cJSON_AddNullToObject(o, "error_pct");
		}
		cJSON_AddBoolToObject(o, "within", actual >= predicted->low && actual <= predicted->high);
	} else {
		cJSON_AddNullToObject(o, "actual");
		cJSON_AddNullToObject(o, "error_pct");
		cJSON_AddNullToObject(o, "within");
	}
	return o;
}

/* Step "prediction" (see pf_prediction in record.h; schema: $defs/prediction). */
static cJSON *render_prediction(const pf_step_record *s)
{
	const pf_prediction *p = s->prediction;
	cJSON *o = cJSON_CreateObject(), *arts = cJSON_CreateArray();
	add_str(o, "estimator", p->module ? p->module : "");
	if (p->model_json) {
		char *what = pf_xasprintf("the prediction model of step \"%s\"", s->name ? s->name : "?");
		cJSON_AddItemToObject(o, "model", embed_json(p->model_json, what));
		free(what);
	} else {
		cJSON_AddNullToObject(o, "model");
	}
	cJSON_AddItemToObject(o, "peak_memory", render_figure(&p->peak, p->has_actual_peak, p->actual_peak));
	cJSON_AddBoolToObject(o, "used_for_admission", p->used_for_admission);
	for (size_t i = 0; i < p->n_artifacts; i++) {
		const pf_predicted_artifact *a = &p->artifacts[i];
		cJSON *x = cJSON_CreateObject();
		add_str(x, "path", a->rel ? a->rel : a->path);
		add_str(x, "kind", a->kind ? a->kind : "file");
		cJSON_AddItemToObject(x, "size", render_figure(&a->size, a->has_actual, a->actual_size));
		if (a->has_runtime)
			cJSON_AddItemToObject(x, "runtime_memory",
					      render_figure(&a->runtime, a->has_actual && a->actual_runtime > 0,
							    a->actual_runtime));
		cJSON_AddItemToArray(arts, x);
	}
	cJSON_AddItemToObject(o, "artifacts", arts);
	return o;
}

static cJSON *render_step(const pf_step_record *s)
{
	cJSON *o = cJSON_CreateObject(), *log;
	const pf_proc_result *r = &s->result;
	add_str(o, "name", s->name);
	cJSON_AddItemToObject(o, "argv", str_array(s->argv, s->n_argv));
	add_str(o, "status", pf_manifest_step_status(s));
	if (s->ran && (r->end == PF_END_OK || r->end == PF_END_EXIT))
		cJSON_AddNumberToObject(o, "exit_code", r->exit_code);
	else
		cJSON_AddNullToObject(o, "exit_code");
	if (s->ran && r->signal > 0)
		cJSON_AddNumberToObject(o, "signal", r->signal);
	else
		cJSON_AddNullToObject(o, "signal");
	add_u64(o, "duration_ms", r->wall_ms);
	add_u64(o, "cpu_user_ms", r->user_ms);
	add_u64(o, "cpu_sys_ms", r->sys_ms);
	add_u64(o, "maxrss_bytes", r->maxrss_bytes);
	add_u64(o, "peak_memory_bytes", r->guard.peak_bytes);
	cJSON_AddItemToObject(o, "guard", render_guard(&r->guard));
	add_u64(o, "timeout_ms", s->timeout_ms);
	if (s->log_path) {
		log = cJSON_CreateObject();
		add_str(log, "path", s->log_path);
		add_u64(log, "size", r->log_bytes);
		add_hex(log, "sha256", r->log_sha256);
		cJSON_AddItemToObject(o, "log", log);
	} else {
		cJSON_AddNullToObject(o, "log");
	}
	if (s->result_json) {
		char *what = pf_xasprintf("the result of step \"%s\"", s->name ? s->name : "?");
		cJSON_AddItemToObject(o, "result", embed_json(s->result_json, what));
		free(what);
	} else {
		cJSON_AddNullToObject(o, "result");
	}
	cJSON_AddBoolToObject(o, "cached", s->cached);
	add_hex(o, "fingerprint", s->fingerprint);
	cJSON_AddItemToObject(o, "cache", render_cache(s));
	/* Appended last (issue 13); absent when no prediction was made. */
	if (s->prediction)
		cJSON_AddItemToObject(o, "prediction", render_prediction(s));
	/* Issue 22: absent when not sampled / no phase announced (timeline.c). */
	pf_manifest_add_timeline(o, r);
	return o;
}

static cJSON *render_structure(const pf_pte_info *p)
{
	cJSON *o = cJSON_CreateObject(), *methods = cJSON_CreateArray(), *findings = cJSON_CreateArray();
	add_str(o, "kind", pf_file_kind_name(p->kind));
	for (size_t i = 0; i < p->n_methods; i++) {
		const pf_pte_method *m = &p->methods[i];
		cJSON *mo = cJSON_CreateObject();
		add_str(mo, "name", m->name ? m->name : "");
		add_u64(mo, "inputs", m->n_inputs);
		add_u64(mo, "outputs", m->n_outputs);
		cJSON_AddItemToObject(mo, "delegates", str_array(m->delegates, m->n_delegates));
		cJSON_AddItemToArray(methods, mo);
	}
	cJSON_AddItemToObject(o, "methods", methods);
	cJSON_AddItemToObject(o, "backends", str_array(p->backends, p->n_backends));
	add_u64(o, "segments", p->n_segments);
	cJSON_AddItemToObject(o, "external_keys", str_array(p->external_keys, p->n_external));
	cJSON_AddItemToObject(o, "data_keys", str_array(p->data_keys, p->n_data_keys));
	/* Added with issue 16: the metadata methods' values, and a .bpte's test suites. */
	cJSON_AddItemToObject(o, "metadata", pf_manifest_metadata_json(p));
	if (p->kind == PF_FILE_BPTE)
		cJSON_AddItemToObject(o, "bundle", pf_manifest_bundle_json(p, false));
	for (size_t i = 0; i < p->n_findings; i++) {
		cJSON *fo = cJSON_CreateObject();
		add_str(fo, "severity", p->findings[i].severity == PF_PTE_FATAL ? "fatal" : "warning");
		add_str(fo, "message", p->findings[i].message ? p->findings[i].message : "");
		cJSON_AddItemToArray(findings, fo);
	}
	cJSON_AddItemToObject(o, "findings", findings);
	return o;
}

static cJSON *render_gate(const pf_gate_result *g)
{
	cJSON *o = cJSON_CreateObject();
	add_str(o, "name", g->name ? g->name : "");
	add_str(o, "expected", g->expected ? g->expected : "");
	add_str(o, "actual", g->actual ? g->actual : "");
	cJSON_AddBoolToObject(o, "passed", g->passed);
	if (g->message)
		add_str(o, "message", g->message);
	/* Machine fields `pteflow verify` re-checks (read.c reads the same names). */
	if (g->name && !strcmp(g->name, "max_size"))
		add_u64(o, "max_size_bytes", g->limit_bytes);
	else if (g->name && !strcmp(g->name, "min_size"))
		add_u64(o, "min_size_bytes", g->limit_bytes);
	else if (g->name && !strcmp(g->name, "methods"))
		cJSON_AddItemToObject(o, "methods", str_array(g->values, g->n_values));
	else if (g->name && !strcmp(g->name, "backends"))
		cJSON_AddItemToObject(o, "backends", str_array(g->values, g->n_values));
	else if (g->name && !strcmp(g->name, "external_data"))
		cJSON_AddItemToObject(o, "data", str_array(g->values, g->n_values));
	return o;
}

static cJSON *render_artifact(const pf_artifact_result *a)
{
	cJSON *o = cJSON_CreateObject(), *gates = cJSON_CreateArray();
	char gb[64];
	add_str(o, "path", a->path ? a->path : "");
	add_str(o, "kind", a->kind ? a->kind : "file");
	cJSON_AddBoolToObject(o, "exists", a->exists);
	add_u64(o, "size_bytes", a->size_bytes);
	/* Decimal GB with three decimals, as release checkers compare it ("size_gb": 1.234). */
	snprintf(gb, sizeof(gb), "%.3f", (double)a->size_bytes / 1e9);
	cJSON_AddItemToObject(o, "size_gb", cJSON_CreateRaw(gb));
	add_hex(o, "sha256", a->exists ? a->sha256 : NULL);
	add_u64(o, "min_free_ram_bytes", a->min_free_ram_bytes);
	if (a->structure)
		cJSON_AddItemToObject(o, "structure", render_structure(a->structure));
	else
		cJSON_AddNullToObject(o, "structure");
	for (size_t i = 0; i < a->n_gates; i++)
		cJSON_AddItemToArray(gates, render_gate(&a->gates[i]));
	cJSON_AddItemToObject(o, "gates", gates);
	cJSON_AddBoolToObject(o, "passed", a->passed);
	add_str(o, "produced_by", a->produced_by);
	return o;
}

static cJSON *render_record(const pf_run_record *rec)
{
	cJSON *root = cJSON_CreateObject(), *pipe = cJSON_CreateObject();
	cJSON *steps = cJSON_CreateArray(), *arts = cJSON_CreateArray();
	bool all = true;
	cJSON_AddNumberToObject(root, "schema_version", PF_MANIFEST_SCHEMA_VERSION);
	add_str(root, "pteflow_version", rec->pteflow_version ? rec->pteflow_version : PTEFLOW_VERSION);
	cJSON_AddStringToObject(root, "runtime", "ExecuTorch");
	add_str(pipe, "name", rec->pipeline_name ? rec->pipeline_name : "");
	add_str(pipe, "path", rec->pipeline_path ? rec->pipeline_path : "");
	add_hex(pipe, "sha256", rec->pipeline_sha256);
	add_str(pipe, "target", rec->target);
	cJSON_AddItemToObject(root, "pipeline", pipe);
	add_str(root, "created", rec->created_utc ? rec->created_utc : "1970-01-01T00:00:00Z");
	cJSON_AddItemToObject(root, "host", render_host(&rec->host));
	cJSON_AddItemToObject(root, "git", render_git(&rec->git));
	if (rec->ci.present)
		cJSON_AddItemToObject(root, "ci", render_ci(&rec->ci));
	else
		cJSON_AddNullToObject(root, "ci");
	if (rec->model)
		cJSON_AddItemToObject(root, "model", render_model(rec->model));
	else
		cJSON_AddNullToObject(root, "model");
	for (size_t i = 0; i < rec->n_steps; i++)
		cJSON_AddItemToArray(steps, render_step(&rec->steps[i]));
	cJSON_AddItemToObject(root, "steps", steps);
	for (size_t i = 0; i < rec->n_artifacts; i++) {
		cJSON_AddItemToArray(arts, render_artifact(&rec->artifacts[i]));
		all = all && rec->artifacts[i].passed;
	}
	cJSON_AddItemToObject(root, "artifacts", arts);
	if (rec->tool_versions_json)
		cJSON_AddItemToObject(root, "tool_versions", embed_json(rec->tool_versions_json, "tool_versions"));
	else
		cJSON_AddItemToObject(root, "tool_versions", cJSON_CreateObject());
	add_u64(root, "duration_ms", rec->duration_ms);
	cJSON_AddBoolToObject(root, "all_gates_passed", all);
	cJSON_AddStringToObject(root, "status", rec->passed ? "passed" : "failed");
	add_str(root, "failure", rec->failure);
	pf_manifest_render_prd(root, rec);
	return root;
}

int pf_manifest_render(char **out, const pf_run_record *rec)
{
	cJSON *root = render_record(rec);
	char *text = cJSON_Print(root);
	char *clean = NULL;
	int rc = 0;
	*out = NULL;
	if (!text) {
		rc = pf_error_code(PF_EENV, "cannot render the manifest: out of memory");
		goto done;
	}
	/* Defence in depth: strings were redacted one by one; redact the whole text again. */
	clean = pf_secret_redact(text);
	*out = pf_xasprintf("%s\n", clean);
done:
	free(clean);
	free(text);
	cJSON_Delete(root);
	return rc;
}

static int render_sums(char **out, const pf_run_record *rec)
{
	pf_buf b;
	int rc = 0;
	pf_buf_init(&b, 64u * 1024u * 1024u);
	for (size_t i = 0; i < rec->n_artifacts; i++) {
		const pf_artifact_result *a = &rec->artifacts[i];
		if (!a->exists || strlen(a->sha256) != 64 || !a->path || !pf_manifest_path_safe(a->path))
			continue;
		/* sha256sum escapes names with a newline or backslash; we refuse them instead. */
		if (strchr(a->path, '\n') || strchr(a->path, '\\') || strchr(a->path, '\r'))
			continue;
		rc = pf_buf_printf(&b, "%s  %s\n", a->sha256, a->path);
		if (rc < 0)
			goto done;
	}
	*out = pf_secret_redact(pf_buf_cstr(&b));
done:
	pf_buf_dispose(&b);
	return rc;
}

int pf_manifest_write(const pf_run_record *rec, const char *out_dir, const char *manifest_name)
{
	char *json = NULL, *sums = NULL, *json_path = NULL, *sums_path = NULL;
	int rc = pf_manifest_render(&json, rec);
	if (rc < 0)
		goto done;
	rc = render_sums(&sums, rec);
	if (rc < 0)
		goto done;
	json_path = pf_fs_join(out_dir, manifest_name ? manifest_name : "manifest.json");
	sums_path = pf_fs_join(out_dir, "SHA256SUMS");
	/* SHA256SUMS first: a manifest on disk always has its sums next to it. */
	rc = pf_fs_write_atomic(sums_path, sums, strlen(sums));
	if (rc < 0)
		goto done;
	rc = pf_fs_write_atomic(json_path, json, strlen(json));
done:
	free(json);
	free(sums);
	free(json_path);
	free(sums_path);
	return rc;
}
