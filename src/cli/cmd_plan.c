/*
 * `pteflow plan PIPELINE`: predict each export step's peak memory, the sizes
 * of what it writes and the runtime memory of each program, beside the
 * pipeline's gates, before anything runs (src/run/plan.c does the work; the
 * model is python/pteflow_steps/estimate.py). Prints a table or --json;
 * --strict turns a predicted breach into exit 1.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pipeline/pipeline.h"
#include "run/predict.h"
#include "run/run.h"
#include "util/log.h"
#include "util/mem.h"

const char pf_usage_plan[] = "usage: pteflow plan PIPELINE.yaml [options]\n\n"
                             "Predict, before anything runs, what each export step will need and write: its peak\n"
                             "memory (resident), the size of every .pte/.ptd and each program's runtime memory\n"
                             "(program + data + planned memory buffers), each as an interval, beside the pipeline's\n"
                             "gates (limits.memory, max_size, min_size). A Hub model's config.json is fetched alone\n"
                             "into the normal cache (no weights); the demo's random config needs no network.\n"
                             "The model behind the figures, its measured constants and their accuracy:\n"
                             "python/pteflow_steps/estimate.py and the README's Predictions section.\n\n"
                             "A breach is a predicted figure (the point) past a gate; at risk, an interval that\n"
                             "crosses one. Steps that are not export steps (checks) are listed without a figure.\n\n"
                             "options:\n"
                             "  -t, --target NAME   plan one target; without it, every target of the pipeline\n"
                             "  -o, --out DIR       the output folder ${out} stands for (default as in run)\n"
                             "      --json          print the plan as JSON on stdout\n"
                             "      --strict        exit 1 when a breach is predicted\n"
                             "      --python PATH   interpreter for ${python} (default as in run)\n"
                             "      --offline       read config.json from the Hugging Face cache only\n"
                             "  -q, --quiet         hide progress and notes (errors are always shown)\n"
                             "  -h, --help          show this help\n\n"
                             "exit codes: 0 planned (breaches are reported); 1 --strict and a predicted breach;\n"
                             "2 bad usage, invalid pipeline or unknown target; 3 environment problem (config.json\n"
                             "cannot be fetched, no interpreter for the estimator).\n";

static void print_bytes(FILE *f, uint64_t n)
{
	char *s = pf_format_size(n);
	fputs(s, f);
	free(s);
}

/* A gate as the pipeline wrote it ("1.5 GB", "16 MB"), not rounded. */
static void print_gate(uint64_t n)
{
	char *s = pf_format_size_exact(n);
	fputs(s, stdout);
	free(s);
}

static void print_interval(const pf_interval *v)
{
	print_bytes(stdout, v->point);
	printf(" (");
	print_bytes(stdout, v->low);
	printf(" to ");
	print_bytes(stdout, v->high);
	printf(")");
}

static const char *verdict(bool breach, bool at_risk, bool judged)
{
	return breach ? "BREACH" : at_risk ? "at risk" : judged ? "ok" : "-";
}

static void print_table(const pf_plan_report *r)
{
	printf("pipeline %s (%s)%s%s\n", r->pipeline_name, r->pipeline_path, r->target ? ", target " : "",
	       r->target ? r->target : "");
	if (r->model_repo)
		printf("model    %s at %s: config.json only (commit %s)\n", r->model_repo, r->model_revision,
		       r->model_commit ? r->model_commit : "?");
	for (size_t i = 0; i < r->n_steps; i++) {
		const pf_plan_step *s = &r->steps[i];
		printf("step     %s: ", s->name);
		if (!s->prediction) {
			printf("%s\n", s->note ? s->note : "no prediction");
			continue;
		}
		printf("peak memory ");
		print_interval(&s->prediction->peak);
		if (s->memory_limit_bytes) {
			printf(", limit ");
			print_bytes(stdout, s->memory_limit_bytes);
		}
		printf(": %s\n", verdict(s->breach, s->at_risk, s->memory_limit_bytes != 0));
		for (size_t k = 0; k < s->prediction->n_artifacts; k++) {
			const pf_predicted_artifact *a = &s->prediction->artifacts[k];
			printf("           writes %s, ", a->rel ? a->rel : a->path);
			print_interval(&a->size);
			if (a->has_runtime) {
				printf("; runtime memory ");
				print_interval(&a->runtime);
			}
			printf("\n");
		}
	}
	for (size_t i = 0; i < r->n_artifacts; i++) {
		const pf_plan_artifact *a = &r->artifacts[i];
		if (!a->step || (!a->max_size && !a->min_size))
			continue;
		printf("gate     %s:", a->path);
		if (a->max_size) {
			printf(" max ");
			print_gate(a->max_size);
		}
		if (a->min_size) {
			printf(" min ");
			print_gate(a->min_size);
		}
		printf(", predicted ");
		print_bytes(stdout, a->pred.size.point);
		printf(": %s\n", verdict(a->breach, a->at_risk, true));
	}
	printf("verdict  %zu breach%s, %zu at risk%s\n", r->n_breaches, r->n_breaches == 1 ? "" : "es", r->n_at_risk,
	       r->n_unpredicted_exports ? " (some export steps could not be predicted)" : "");
}

static cJSON *json_interval(const pf_interval *v)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "low", (double)v->low);
	cJSON_AddNumberToObject(o, "point", (double)v->point);
	cJSON_AddNumberToObject(o, "high", (double)v->high);
	return o;
}

static void add_size_or_null(cJSON *o, const char *key, uint64_t v)
{
	if (v)
		cJSON_AddNumberToObject(o, key, (double)v);
	else
		cJSON_AddNullToObject(o, key);
}

static cJSON *json_report(const pf_plan_report *r)
{
	cJSON *o = cJSON_CreateObject(), *steps = cJSON_AddArrayToObject(o, "steps"), *arts;
	cJSON_AddStringToObject(o, "pipeline", r->pipeline_name);
	cJSON_AddStringToObject(o, "path", r->pipeline_path);
	if (r->target)
		cJSON_AddStringToObject(o, "target", r->target);
	else
		cJSON_AddNullToObject(o, "target");
	if (r->model_repo) {
		cJSON *m = cJSON_AddObjectToObject(o, "model");
		cJSON_AddStringToObject(m, "repo", r->model_repo);
		cJSON_AddStringToObject(m, "revision", r->model_revision);
		if (r->model_commit)
			cJSON_AddStringToObject(m, "commit", r->model_commit);
		cJSON_AddBoolToObject(m, "config_only", true);
	} else {
		cJSON_AddNullToObject(o, "model");
	}
	for (size_t i = 0; i < r->n_steps; i++) {
		const pf_plan_step *s = &r->steps[i];
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "name", s->name);
		cJSON_AddBoolToObject(x, "predicted", s->prediction != NULL);
		if (s->note)
			cJSON_AddStringToObject(x, "note", s->note);
		add_size_or_null(x, "memory_limit_bytes", s->memory_limit_bytes);
		add_size_or_null(x, "expect_bytes", s->expect_bytes);
		if (s->prediction) {
			cJSON *pa = cJSON_CreateArray();
			cJSON_AddStringToObject(x, "estimator", s->prediction->module);
			if (s->prediction->model_json)
				cJSON_AddItemToObject(x, "model", cJSON_Parse(s->prediction->model_json));
			cJSON_AddItemToObject(x, "peak_memory", json_interval(&s->prediction->peak));
			for (size_t k = 0; k < s->prediction->n_artifacts; k++) {
				const pf_predicted_artifact *a = &s->prediction->artifacts[k];
				cJSON *y = cJSON_CreateObject();
				cJSON_AddStringToObject(y, "path", a->rel ? a->rel : a->path);
				cJSON_AddStringToObject(y, "kind", a->kind);
				cJSON_AddItemToObject(y, "size", json_interval(&a->size));
				if (a->has_runtime)
					cJSON_AddItemToObject(y, "runtime_memory", json_interval(&a->runtime));
				cJSON_AddItemToArray(pa, y);
			}
			cJSON_AddItemToObject(x, "artifacts", pa);
		}
		cJSON_AddBoolToObject(x, "breach", s->breach);
		cJSON_AddBoolToObject(x, "at_risk", s->at_risk);
		cJSON_AddItemToArray(steps, x);
	}
	arts = cJSON_AddArrayToObject(o, "artifacts");
	for (size_t i = 0; i < r->n_artifacts; i++) {
		const pf_plan_artifact *a = &r->artifacts[i];
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "path", a->path);
		cJSON_AddStringToObject(x, "kind", a->kind);
		add_size_or_null(x, "max_size", a->max_size);
		add_size_or_null(x, "min_size", a->min_size);
		if (a->step) {
			cJSON_AddStringToObject(x, "step", a->step);
			cJSON_AddItemToObject(x, "size", json_interval(&a->pred.size));
			if (a->pred.has_runtime)
				cJSON_AddItemToObject(x, "runtime_memory", json_interval(&a->pred.runtime));
		} else {
			cJSON_AddNullToObject(x, "step");
		}
		cJSON_AddBoolToObject(x, "breach", a->breach);
		cJSON_AddBoolToObject(x, "at_risk", a->at_risk);
		cJSON_AddItemToArray(arts, x);
	}
	cJSON_AddNumberToObject(o, "breaches", (double)r->n_breaches);
	cJSON_AddNumberToObject(o, "at_risk", (double)r->n_at_risk);
	cJSON_AddNumberToObject(o, "unpredicted_export_steps", (double)r->n_unpredicted_exports);
	return o;
}

/* The names of the pipeline's targets (none when it has none); exit code on failure. */
static int targets_of(char ***out, size_t *n_out, const char *path)
{
	pf_plan *plan = NULL;
	pf_diag diag;
	int rc;
	memset(&diag, 0, sizeof(diag));
	*out = NULL;
	*n_out = 0;
	rc = pf_pipeline_load(&plan, path, &diag);
	if (rc < 0) {
		pf_log_error("%s", pf_error_last()); /* "FILE:LINE:COL: message: fix" */
		pf_diag_dispose(&diag);
		return pf_cli_exit_for(rc);
	}
	pf_diag_dispose(&diag);
	*out = pf_xcalloc(plan->n_targets + 1, sizeof(char *));
	for (size_t i = 0; i < plan->n_targets; i++)
		(*out)[i] = pf_xstrdup(plan->targets[i].name);
	*n_out = plan->n_targets;
	pf_plan_free(plan);
	return 0;
}

enum { OPT_JSON = 256, OPT_STRICT, OPT_PYTHON, OPT_OFFLINE };

int cmd_plan(int argc, char **argv)
{
	static const struct option longopts[] = {{"target", required_argument, NULL, 't'},
	                                         {"out", required_argument, NULL, 'o'},
	                                         {"json", no_argument, NULL, OPT_JSON},
	                                         {"strict", no_argument, NULL, OPT_STRICT},
	                                         {"python", required_argument, NULL, OPT_PYTHON},
	                                         {"offline", no_argument, NULL, OPT_OFFLINE},
	                                         {"quiet", no_argument, NULL, 'q'},
	                                         {"help", no_argument, NULL, 'h'},
	                                         {NULL, 0, NULL, 0}};
	pf_run_options opt;
	bool json = false, strict = false;
	char **targets = NULL, *base_out = NULL;
	size_t n_targets = 0, n_plans, breaches = 0;
	cJSON *doc = NULL, *plans = NULL;
	int c, code = PF_EXIT_OK;

	if (pf_cli_wants_help(argc, argv))
		return pf_cli_print_help("plan");
	memset(&opt, 0, sizeof(opt));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "t:o:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			opt.target = optarg;
			break;
		case 'o':
			opt.out_dir = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_STRICT:
			strict = true;
			break;
		case OPT_PYTHON:
			opt.python = optarg;
			break;
		case OPT_OFFLINE:
			opt.offline = true;
			break;
		case 'q':
			pf_log_set_quiet(true);
			break;
		case 'h':
			return pf_cli_print_help("plan");
		default:
			return pf_cli_usage_error("plan", "unknown option or missing value \"%s\"", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return pf_cli_usage_error("plan", optind >= argc ? "missing PIPELINE.yaml" : "one PIPELINE.yaml only");
	opt.pipeline_path = argv[optind];
	if (!opt.target && (code = targets_of(&targets, &n_targets, opt.pipeline_path)) != 0)
		return code;
	n_plans = n_targets ? n_targets : 1;
	if (json) {
		doc = cJSON_CreateObject();
		plans = cJSON_AddArrayToObject(doc, "plans");
	}
	base_out = opt.out_dir ? pf_xstrdup(opt.out_dir) : NULL;
	for (size_t i = 0; i < n_plans && code == PF_EXIT_OK; i++) {
		pf_plan_report r;
		char *out = NULL;
		int rc;
		if (n_targets) {
			opt.target = targets[i];
			out = base_out ? pf_xasprintf("%s/%s", base_out, targets[i]) : NULL;
			opt.out_dir = out;
		}
		rc = pf_run_plan(&r, &opt);
		if (rc < 0) {
			pf_log_error("%s", pf_error_last());
			code = pf_cli_exit_for(rc);
		} else {
			if (json)
				cJSON_AddItemToArray(plans, json_report(&r));
			else
				print_table(&r);
			breaches += r.n_breaches;
			if (r.env_problem) {
				pf_log_error(
				    "the estimator could not be started: run scripts/setup-python.sh or pass --python");
				code = PF_EXIT_ENV;
			}
		}
		pf_plan_report_dispose(&r);
		free(out);
	}
	if (json && code != PF_EXIT_USAGE) {
		char *text;
		cJSON_AddNumberToObject(doc, "breaches", (double)breaches);
		text = cJSON_Print(doc);
		if (text)
			printf("%s\n", text);
		cJSON_free(text);
	}
	if (code == PF_EXIT_OK && strict && breaches) {
		pf_log_error("%zu predicted breach%s of the pipeline's gates (--strict)", breaches,
		             breaches == 1 ? "" : "es");
		code = PF_EXIT_FAILED;
	}
	cJSON_Delete(doc);
	free(base_out);
	pf_strv_free(targets, n_targets);
	return pf_cli_finish_stdout(code);
}
