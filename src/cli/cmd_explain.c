/*
 * `pteflow explain PIPELINE [--target T] [--json]`: which steps a run would
 * restore from the store and which it would run, and why. Runs nothing.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pipeline/pipeline.h"
#include "run/run.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/text.h"

const char pf_usage_explain[] =
	"usage: pteflow explain PIPELINE.yaml [--target T] [--json]\n\n"
	"Say, for each step, whether 'pteflow run' would restore it from the store (hit) or\n"
	"run it (miss), and on a miss which input changed since the step was last stored: the\n"
	"first differing part of its fingerprint, by name (command, env, tools, packages, steps,\n"
	"model, inputs, upstream) and entry, or 'limits' when the stored run peaked above the\n"
	"step's limits.memory or took longer than its limits.timeout (it runs again under its\n"
	"guard). Runs nothing and downloads nothing: the model is looked up in the local\n"
	"Hugging Face cache.\n\n"
	"  export  hit   3f2a9c1b7d0e  stored 2026-12-04T17:30:00Z, ran 2m 11s, peak 512.0 MiB\n"
	"  check   miss  command: \"argv[8]\" changed: \"0.01\" -> \"0.02\"\n\n"
	"options:\n"
	"  -t, --target NAME   explain one target (default: every target, or the pipeline as written)\n"
	"  -o, --out DIR       the output folder the run would use (default as 'run')\n"
	"      --python PATH   interpreter for ${python} (default as 'run')\n"
	"      --store DIR     the store (default: $PTEFLOW_STORE, else ~/.cache/pteflow/store)\n"
	"      --json          print a JSON object instead\n"
	"  -h, --help          show this help\n\n"
	"exit codes: 0 explained (whatever it found); 2 bad usage or invalid pipeline;\n"
	"3 the store cannot be opened.\n";

static cJSON *report_json(const pf_explain_report *r)
{
	cJSON *o = cJSON_CreateObject(), *steps = cJSON_CreateArray();
	cJSON_AddStringToObject(o, "pipeline", r->pipeline);
	if (r->target)
		cJSON_AddStringToObject(o, "target", r->target);
	else
		cJSON_AddNullToObject(o, "target");
	cJSON_AddStringToObject(o, "store", r->store_dir);
	if (r->note)
		cJSON_AddStringToObject(o, "note", r->note);
	else
		cJSON_AddNullToObject(o, "note");
	for (size_t i = 0; i < r->n_steps; i++) {
		const pf_explain_step *s = &r->steps[i];
		cJSON *so = cJSON_CreateObject();
		cJSON_AddStringToObject(so, "name", s->name);
		cJSON_AddStringToObject(so, "status", s->status);
		if (s->fingerprint[0])
			cJSON_AddStringToObject(so, "fingerprint", s->fingerprint);
		else
			cJSON_AddNullToObject(so, "fingerprint");
		if (s->reason)
			cJSON_AddStringToObject(so, "reason", s->reason);
		else
			cJSON_AddNullToObject(so, "reason");
		if (s->component)
			cJSON_AddStringToObject(so, "component", s->component);
		else
			cJSON_AddNullToObject(so, "component");
		if (s->stored_utc) {
			cJSON_AddStringToObject(so, "stored_utc", s->stored_utc);
			cJSON_AddNumberToObject(so, "stored_duration_ms", (double)s->stored_wall_ms);
			cJSON_AddNumberToObject(so, "stored_peak_memory_bytes", (double)s->stored_peak_bytes);
		}
		cJSON_AddItemToArray(steps, so);
	}
	cJSON_AddItemToObject(o, "steps", steps);
	return o;
}

/* Everything shown here may come from a store record (anyone's file in a shared store): escaped. */
static void report_table(const pf_explain_report *r)
{
	char *pipeline = pf_text_printable(r->pipeline), *target = pf_text_printable(r->target);
	char *store = pf_text_printable(r->store_dir), *note = pf_text_printable(r->note);
	printf("%s%s%s (store %s)\n", pipeline, r->target ? " / " : "", r->target ? target : "", store);
	if (r->note)
		printf("  note: %s\n", note);
	for (size_t i = 0; i < r->n_steps; i++) {
		const pf_explain_step *s = &r->steps[i];
		char *name = pf_text_printable(s->name);
		if (!strcmp(s->status, "hit")) {
			char *dur = pf_format_duration(s->stored_wall_ms), *peak = pf_format_size(s->stored_peak_bytes);
			char *utc = pf_text_printable(s->stored_utc);
			printf("  %-20s hit     %.12s  stored %s, ran %s, peak %s\n", name, s->fingerprint, utc, dur, peak);
			free(dur);
			free(peak);
			free(utc);
		} else if (!strcmp(s->status, "off")) {
			printf("  %-20s off     %.12s  always runs (cache: false)\n", name, s->fingerprint);
		} else {
			char *reason = pf_text_printable(s->reason);
			printf("  %-20s %-7s %s\n", name, s->status, reason);
			free(reason);
		}
		free(name);
	}
	free(pipeline);
	free(target);
	free(store);
	free(note);
}

static int explain_one(const pf_run_options *opt, bool json, cJSON *all)
{
	pf_explain_report r;
	int rc = pf_run_explain(&r, opt);
	if (rc < 0)
		return pf_cli_fail(rc);
	if (json)
		cJSON_AddItemToArray(all, report_json(&r));
	else
		report_table(&r);
	pf_explain_report_dispose(&r);
	return 0;
}

int cmd_explain(int argc, char **argv)
{
	enum { OPT_JSON = 256, OPT_PYTHON, OPT_STORE };
	static const struct option longopts[] = {
		{"target", required_argument, NULL, 't'}, {"out", required_argument, NULL, 'o'},
		{"python", required_argument, NULL, OPT_PYTHON}, {"store", required_argument, NULL, OPT_STORE},
		{"json", no_argument, NULL, OPT_JSON},   {"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	pf_run_options opt;
	pf_plan *plan = NULL;
	pf_diag diag;
	cJSON *all = NULL;
	bool json = false;
	int c, code = 0, rc;
	memset(&opt, 0, sizeof(opt));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "t:o:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 't': opt.target = optarg; break;
		case 'o': opt.out_dir = optarg; break;
		case OPT_PYTHON: opt.python = optarg; break;
		case OPT_STORE: opt.store_dir = optarg; break;
		case OPT_JSON: json = true; break;
		case 'q': pf_log_set_quiet(true); break;
		case 'h': return pf_cli_print_help("explain");
		default: return pf_cli_usage_error("explain", "unknown option \"%s\"", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return pf_cli_usage_error("explain", optind >= argc ? "a pipeline file is required"
								    : "one pipeline file at a time");
	opt.pipeline_path = argv[optind];
	memset(&diag, 0, sizeof(diag));
	rc = pf_pipeline_load(&plan, opt.pipeline_path, &diag);
	pf_diag_dispose(&diag);
	if (rc < 0)
		return pf_cli_fail(rc);
	all = cJSON_CreateArray();
	if (opt.target || plan->n_targets == 0) {
		code = explain_one(&opt, json, all);
	} else {
		const char *base_out = opt.out_dir;
		for (size_t i = 0; i < plan->n_targets && code == 0; i++) {
			char *out = base_out ? pf_xasprintf("%s/%s", base_out, plan->targets[i].name) : NULL;
			opt.target = plan->targets[i].name;
			opt.out_dir = out;
			code = explain_one(&opt, json, all);
			free(out);
		}
	}
	if (json && code == 0) {
		char *text = cJSON_GetArraySize(all) == 1 ? cJSON_Print(cJSON_GetArrayItem(all, 0)) : cJSON_Print(all);
		if (text)
			printf("%s\n", text);
		cJSON_free(text);
	}
	cJSON_Delete(all);
	pf_plan_free(plan);
	return pf_cli_finish_stdout(code);
}
