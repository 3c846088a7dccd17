/*
 * Run the estimator (python/pteflow_steps/estimate.py) for one export step
 * and read its answer; after the step, fill in what was measured.
 *
 * Why a subprocess on the step's own argv, not a model in C: the estimate
 * must read the step's options exactly as the step does (defaults, --quant,
 * --dtype, --group-size, --embedding-quant, LoRA ranks, the demo's random
 * config), and only the step's argparse parser knows them. estimate.py
 * calls that parser, so the two cannot drift; the model and its measured
 * constants stay in one documented Python file. The cost is one Python
 * start (about 0.2 s; seconds when a module class or a transformers causal
 * LM must be built on torch's meta device), paid once per export step.
 *
 * The answer is untrusted text: read with a size cap and parsed with a
 * length (cJSON_ParseWithLength); numbers must be non-negative integers that
 * fit 2^53, intervals ordered low <= point <= high.
 */
#define _GNU_SOURCE
#include "run/predict.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc/proc.h"
#include "pte/pte.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

static const char *const modelled[] = {"pteflow_steps.export_llm", "pteflow_steps.export_encoder",
                                       "pteflow_steps.export_lora", "pteflow_steps.export_module",
                                       "pteflow_steps.export_causal_lm"};

bool pf_predict_applies(char *const *argv, size_t n_argv)
{
	for (size_t i = 1; i + 1 < n_argv; i++) {
		if (strcmp(argv[i], "-m") != 0)
			continue;
		for (size_t k = 0; k < sizeof(modelled) / sizeof(modelled[0]); k++)
			if (!strcmp(argv[i + 1], modelled[k]))
				return true;
		return false;
	}
	return false;
}

/* A JSON number that is a byte count: integral, 0 <= v <= 2^53. */
static bool get_count(const cJSON *o, const char *key, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	double d;
	if (!cJSON_IsNumber(v))
		return false;
	d = v->valuedouble;
	if (!(d >= 0.0 && d <= 9007199254740992.0) || d != (double)(uint64_t)d)
		return false;
	*out = (uint64_t)d;
	return true;
}

static bool get_interval(const cJSON *o, const char *key, pf_interval *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsObject(v) && get_count(v, "low", &out->low) && get_count(v, "point", &out->point) &&
	       get_count(v, "high", &out->high) && out->low <= out->point && out->point <= out->high;
}

/* "path" relative to out_dir when it lies inside it, else NULL. */
static char *relative_to(const char *path, const char *out_dir)
{
	size_t n = out_dir ? strlen(out_dir) : 0;
	while (n > 1 && out_dir[n - 1] == '/')
		n--;
	if (!n || strncmp(path, out_dir, n) != 0 || path[n] != '/' || !path[n + 1])
		return NULL;
	return pf_xstrdup(path + n + 1);
}

int pf_predict_parse(pf_prediction **out, const char *text, size_t len, const char *out_dir)
{
	cJSON *root = cJSON_ParseWithLength(text, len), *arts, *a, *model;
	pf_prediction *p = NULL;
	const cJSON *step;
	int rc = 0;
	*out = NULL;
	if (!cJSON_IsObject(root)) {
		rc = pf_error_code(PF_EINVALID, "the estimator's answer is not a JSON object");
		goto done;
	}
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "estimable")))
		goto done; /* not modelled: no prediction, not an error */
	p = pf_xcalloc(1, sizeof(*p));
	step = cJSON_GetObjectItemCaseSensitive(root, "step");
	p->module = pf_xstrdup(cJSON_IsString(step) ? step->valuestring : "?");
	if (!get_interval(root, "peak_memory", &p->peak)) {
		rc = pf_error_code(PF_EINVALID, "the estimator's answer has no valid \"peak_memory\" interval");
		goto done;
	}
	model = cJSON_GetObjectItemCaseSensitive(root, "model");
	if (cJSON_IsObject(model)) {
		char *t = cJSON_PrintUnformatted(model);
		if (t) {
			p->model_json = pf_xstrdup(t);
			cJSON_free(t);
		}
	}
	arts = cJSON_GetObjectItemCaseSensitive(root, "artifacts");
	if (!cJSON_IsArray(arts) || cJSON_GetArraySize(arts) > 64) {
		rc = pf_error_code(PF_EINVALID, "the estimator's answer has no valid \"artifacts\" list");
		goto done;
	}
	p->artifacts = pf_xcalloc((size_t)cJSON_GetArraySize(arts) + 1, sizeof(*p->artifacts));
	cJSON_ArrayForEach(a, arts)
	{
		pf_predicted_artifact *x = &p->artifacts[p->n_artifacts];
		const cJSON *path = cJSON_GetObjectItemCaseSensitive(a, "path");
		const cJSON *kind = cJSON_GetObjectItemCaseSensitive(a, "kind");
		if (!cJSON_IsString(path) || !path->valuestring[0] || !cJSON_IsString(kind) ||
		    !get_interval(a, "size", &x->size)) {
			rc = pf_error_code(PF_EINVALID, "the estimator's artifact %zu has no path, kind or size",
			                   p->n_artifacts);
			goto done;
		}
		x->path = pf_xstrdup(path->valuestring);
		x->rel = relative_to(x->path, out_dir);
		x->kind = pf_xstrdup(kind->valuestring);
		x->has_runtime = get_interval(a, "runtime_memory", &x->runtime);
		p->n_artifacts++;
	}
	*out = p;
	p = NULL;
done:
	pf_prediction_free(p);
	cJSON_Delete(root);
	return rc;
}

/* The last non-empty line of the estimator's output: its one-line reason on failure. */
static char *last_line(const char *log_path)
{
	pf_buf b;
	char *line = NULL;
	pf_buf_init(&b, 64 * 1024);
	if (pf_fs_read_file(&b, log_path, 64 * 1024) == 0 && b.len > 0) {
		size_t end = b.len, start;
		while (end > 0 && (b.data[end - 1] == '\n' || b.data[end - 1] == '\r' || b.data[end - 1] == ' '))
			end--;
		start = end;
		while (start > 0 && b.data[start - 1] != '\n')
			start--;
		if (end > start && end - start < 1024)
			line = pf_xasprintf("%.*s", (int)(end - start), (const char *)b.data + start);
	}
	pf_buf_dispose(&b);
	return line;
}

static char *temp_path(const char *what)
{
	const char *dir = getenv("TMPDIR");
	char *path = pf_xasprintf("%s/pteflow-%s-XXXXXX", dir && dir[0] ? dir : "/tmp", what);
	int fd = mkstemp(path);
	if (fd < 0) {
		free(path);
		return NULL;
	}
	close(fd);
	return path;
}

int pf_predict_step(pf_prediction **out, char *const *argv, size_t n_argv, char *const *envp, const char *cwd,
                    const char *out_dir)
{
	char **eargv = NULL, *result_path = NULL, *log_path = NULL, *why = NULL;
	size_t n = 0;
	pf_proc_spec spec;
	pf_proc_result res;
	pf_buf b;
	int rc;

	*out = NULL;
	pf_buf_init(&b, PF_PREDICT_MAX_JSON_BYTES);
	if (!pf_predict_applies(argv, n_argv))
		return 0;
	result_path = temp_path("estimate");
	log_path = temp_path("estimate-log");
	if (!result_path || !log_path) {
		rc = pf_error_errno("cannot create a temporary file for the estimator");
		goto done;
	}
	/* argv[0] is the step's interpreter: the estimator runs where the step will. */
	eargv = pf_xcalloc(n_argv + 8, sizeof(char *));
	eargv[n++] = pf_xstrdup(argv[0]);
	eargv[n++] = pf_xstrdup("-m");
	eargv[n++] = pf_xstrdup("pteflow_steps.estimate");
	eargv[n++] = pf_xstrdup("--result");
	eargv[n++] = pf_xstrdup(result_path);
	eargv[n++] = pf_xstrdup("--");
	for (size_t i = 1; i < n_argv; i++)
		eargv[n++] = pf_xstrdup(argv[i]);
	memset(&spec, 0, sizeof(spec));
	spec.name = "estimate";
	spec.argv = eargv;
	spec.envp = envp;
	spec.cwd = cwd;
	spec.log_path = log_path;
	spec.timeout_ms = PF_PREDICT_TIMEOUT_MS;
	spec.guard_mode = PF_GUARD_NONE;
	unlink(result_path); /* the estimator writes it afresh; absent means it answered nothing */
	rc = pf_proc_run(&res, &spec);
	if (rc < 0)
		goto done;
	if (res.end == PF_END_SPAWN) {
		rc = pf_error_code(PF_EENV, "the estimator could not start: %s", res.spawn_error);
		goto done;
	}
	if (res.end != PF_END_OK) {
		char *how = pf_proc_describe(&res);
		why = last_line(log_path);
		rc = pf_error_code(PF_EFAILED, "the estimator %s%s%s", how, why ? ": " : "", why ? why : "");
		free(how);
		goto done;
	}
	if ((rc = pf_fs_read_file(&b, result_path, PF_PREDICT_MAX_JSON_BYTES)) < 0) {
		rc = pf_error_code(PF_EFAILED, "the estimator wrote no readable answer: %s", pf_error_last());
		goto done;
	}
	rc = pf_predict_parse(out, (const char *)b.data, b.len, out_dir);
done:
	if (result_path)
		unlink(result_path);
	if (log_path)
		unlink(log_path);
	free(result_path);
	free(log_path);
	free(why);
	pf_strv_free(eargv, n);
	pf_buf_dispose(&b);
	return rc;
}

void pf_predict_settle(pf_prediction *p, const pf_run_record *rec, bool ran_ok, uint64_t peak_bytes)
{
	if (!p)
		return;
	if (ran_ok && peak_bytes) {
		p->has_actual_peak = true;
		p->actual_peak = peak_bytes;
	}
	for (size_t i = 0; i < p->n_artifacts; i++) {
		pf_predicted_artifact *x = &p->artifacts[i];
		const pf_artifact_result *found = NULL;
		struct stat st;
		for (size_t k = 0; x->rel && k < rec->n_artifacts; k++)
			if (rec->artifacts[k].path && !strcmp(rec->artifacts[k].path, x->rel))
				found = &rec->artifacts[k];
		if (found && found->exists) {
			x->has_actual = true;
			x->actual_size = found->size_bytes;
			if (found->structure)
				x->actual_runtime = pf_pte_runtime_bytes(found->structure);
		} else if (!found && stat(x->path, &st) == 0 && S_ISREG(st.st_mode)) {
			pf_pte_info *info = NULL;
			x->has_actual = true;
			x->actual_size = (uint64_t)st.st_size;
			if (x->has_runtime && pf_pte_inspect_file(&info, x->path) == 0)
				x->actual_runtime = pf_pte_runtime_bytes(info);
			pf_pte_info_free(info);
		}
	}
}
