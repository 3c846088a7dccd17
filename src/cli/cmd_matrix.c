/*
 * `pteflow matrix PIPELINE...`: the JSON for a GitHub Actions
 * `strategy.matrix`: one include entry per target of each pipeline (or one
 * per pipeline without targets), with the memory it needs and a suggested
 * runner label. For the job that fans export jobs out; a few files per call.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pipeline/pipeline.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

#define GIB (1ULL << 30)

const char pf_usage_matrix[] =
    "usage: pteflow matrix PIPELINE.yaml... [--runner-default LABEL]\n"
    "\n"
    "Print, on one line, the JSON that a GitHub Actions `strategy.matrix` takes:\n"
    "  {\"include\":[{\"pipeline\":\"pipelines/x.yaml\",\"target\":\"int8-seq512\",\n"
    "               \"name\":\"x/int8-seq512\",\"memory\":\"6GiB\",\"runner\":\"ubuntu-latest\"},...]}\n"
    "One entry per target of each pipeline; a pipeline without targets gives one entry with\n"
    "target \"\". `name` is the pipeline's name, then \"/TARGET\". `memory` is the largest\n"
    "memory limit or expectation (limits.memory / limits.expect) over the pipeline's defaults\n"
    "and steps once the target is applied (\"\" when none is set).\n"
    "\n"
    "The runner is the target's `runner:` when it sets one, else chosen by that memory:\n"
    "  up to 14 GiB     the default label (ubuntu-latest: GitHub's standard Linux runner\n"
    "                   has 16 GB; about 2 GiB is left to the system and pteflow)\n"
    "  up to 30 GiB     ubuntu-latest-32gb    (a larger runner with 32 GB)\n"
    "  up to 60 GiB     ubuntu-latest-64gb\n"
    "  up to 124 GiB    ubuntu-latest-128gb\n"
    "  more             ubuntu-latest-256gb   (with a warning above 250 GiB)\n"
    "Larger-runner labels are names your organisation gives its runners: set `runner:` on\n"
    "a target to use your own.\n"
    "\n"
    "Use it in a workflow:\n"
    "  - id: m\n"
    "    run: echo \"matrix=$(pteflow matrix pipelines/*.yaml)\" >> \"$GITHUB_OUTPUT\"\n"
    "  ...  strategy: { matrix: ${{ fromJSON(needs.plan.outputs.matrix) }} }\n"
    "\n"
    "options:\n"
    "  --runner-default LABEL  the label for needs up to 14 GiB (default ubuntu-latest)\n"
    "  -h, --help              show this help\n"
    "\n"
    "exit codes: 0 printed; 2 a pipeline is invalid (nothing printed) or bad usage;\n"
    "3 a pipeline cannot be read.\n";

static const char *choose_runner(uint64_t need, const char *default_label)
{
	if (need <= 14 * GIB)
		return default_label;
	if (need <= 30 * GIB)
		return "ubuntu-latest-32gb";
	if (need <= 60 * GIB)
		return "ubuntu-latest-64gb";
	if (need <= 124 * GIB)
		return "ubuntu-latest-128gb";
	return "ubuntu-latest-256gb";
}

static int add_entry(cJSON *include, const char *path, const pf_plan *plan, const pf_target *t,
                     const char *default_label)
{
	cJSON *e = cJSON_CreateObject();
	uint64_t need = pf_plan_memory_need(plan);
	char *mem = need ? pf_format_size_exact(need) : pf_xstrdup("");
	char *name = t ? pf_xasprintf("%s/%s", plan->name, t->name) : pf_xstrdup(plan->name);
	const char *runner = t && t->runner ? t->runner : choose_runner(need, default_label);
	if (need > 250 * GIB && !(t && t->runner))
		pf_log_warn("\"%s\" needs %s of memory: no standard GitHub runner has that much; set runner: on the "
		            "target",
		            name, mem);
	cJSON_AddStringToObject(e, "pipeline", path);
	cJSON_AddStringToObject(e, "target", t ? t->name : "");
	cJSON_AddStringToObject(e, "name", name);
	cJSON_AddStringToObject(e, "memory", mem);
	cJSON_AddStringToObject(e, "runner", runner);
	cJSON_AddItemToArray(include, e);
	free(mem);
	free(name);
	return 0;
}

static int load(pf_plan **plan, const char *path)
{
	pf_diag diag;
	int rc = pf_pipeline_load(plan, path, &diag);
	pf_diag_dispose(&diag);
	if (rc < 0)
		return pf_cli_fail(rc == PF_EINVALID ? PF_EINVALID : PF_EENV);
	return 0;
}

static int add_pipeline(cJSON *include, const char *path, const char *default_label)
{
	pf_plan *plan = NULL;
	int code = load(&plan, path);
	if (code)
		return code;
	if (plan->n_targets == 0) {
		add_entry(include, path, plan, NULL, default_label);
		pf_plan_free(plan);
		return 0;
	}
	for (size_t i = 0; i < plan->n_targets; i++) {
		pf_plan *variant = NULL;
		int rc;
		if ((code = load(&variant, path)) != 0)
			break;
		if ((rc = pf_plan_apply_target(variant, plan->targets[i].name)) < 0) {
			pf_plan_free(variant);
			code = pf_cli_fail(rc);
			break;
		}
		add_entry(include, path, variant, pf_plan_find_target(variant, plan->targets[i].name), default_label);
		pf_plan_free(variant);
	}
	pf_plan_free(plan);
	return code;
}

int cmd_matrix(int argc, char **argv)
{
	const char *default_label = "ubuntu-latest";
	int n_files = 0, code = 0;
	cJSON *root, *include;
	char *text;
	if (pf_cli_wants_help(argc, argv))
		return pf_cli_print_help("matrix");
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--runner-default")) {
			if (i + 1 >= argc || !argv[i + 1][0])
				return pf_cli_usage_error("matrix", "--runner-default needs a runner label");
			default_label = argv[++i];
		} else if (!strncmp(argv[i], "--runner-default=", 17)) {
			default_label = argv[i] + 17;
			if (!default_label[0])
				return pf_cli_usage_error("matrix", "--runner-default needs a runner label");
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return pf_cli_usage_error("matrix", "unknown option \"%s\"", argv[i]);
		} else {
			n_files++;
		}
	}
	if (n_files == 0)
		return pf_cli_usage_error("matrix", "no pipeline file given");
	root = cJSON_CreateObject();
	include = cJSON_AddArrayToObject(root, "include");
	for (int i = 1; i < argc && code == 0; i++) {
		if (!strcmp(argv[i], "--runner-default")) {
			i++;
			continue;
		}
		if (!strncmp(argv[i], "--runner-default=", 17))
			continue;
		code = add_pipeline(include, argv[i], default_label);
	}
	if (code) {
		cJSON_Delete(root);
		return code;
	}
	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!text) {
		pf_log_error("cannot format the matrix: out of memory");
		return PF_EXIT_ENV;
	}
	printf("%s\n", text);
	free(text);
	return pf_cli_finish_stdout(PF_EXIT_OK);
}
