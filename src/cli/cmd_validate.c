/*
 * `pteflow validate PIPELINE.yaml...`: parse each pipeline file and report
 * "FILE: ok (...)" or its first problem with line and column, as text or
 * JSON, plus a GitHub annotation when GITHUB_ACTIONS=true. For CI jobs and
 * editors; a few small files per call. All checking lives in src/pipeline.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "gha/gha.h"
#include "pipeline/pipeline.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

const char pf_usage_validate[] =
    "usage: pteflow validate PIPELINE.yaml... [--json]\n"
    "\n"
    "Check pipeline files (format version 1, schemas/pipeline.schema.json) without running\n"
    "anything. For each file, print \"FILE: ok (N steps, M artifacts, K targets)\" on stdout,\n"
    "or each problem on stderr as FILE:LINE:COL: what is wrong: what would be valid.\n"
    "Sections, steps, artifacts and targets are checked one by one, so independent mistakes\n"
    "are reported together (at most 50 per file); a YAML syntax error stops at the first.\n"
    "\n"
    "Checked: YAML syntax, UTF-8, control characters, tabs in indentation, anchors, aliases\n"
    "and tags (refused), size (1 MiB) and nesting (32 levels) bounds, unknown keys (with a\n"
    "suggestion), types (as YAML 1.1 reads plain values), duplicate keys and names, required\n"
    "keys, sizes (1.5GB, 6GiB, 512MiB, 100B; never rounded), durations (90s, 30m, 2h, 500ms,\n"
    "1h30m; at most 8760h), ${...} variables (out, workdir, python, pipeline.dir, model.dir,\n"
    "model.commit, target, vars.NAME, env.NAME), artifact paths (relative, no \"..\"),\n"
    "targets. Environment variables are not read.\n"
    "\n"
    "When GITHUB_ACTIONS=true, each problem is also printed on stderr as a workflow command\n"
    "::error file=FILE,line=LINE,col=COL::MESSAGE so GitHub annotates the YAML.\n"
    "\n"
    "options:\n"
    "  --json      print {\"ok\":BOOL,\"files\":[{\"file\",\"ok\",\"steps\",\"artifacts\",\"targets\"}\n"
    "              or {\"file\",\"ok\":false,\"line\",\"col\",\"message\",\"errors\":[{\"line\",\"col\",\n"
    "              \"message\"}]}]} on stdout instead (line, col, message: the first problem)\n"
    "  -h, --help  show this help\n"
    "\n"
    "exit codes: 0 every file is valid; 2 a file is invalid (or bad usage); 3 a file cannot\n"
    "be read (missing, a folder, no permission). 3 wins over 2 when both happen.\n";

/* GitHub workflow-command escaping: data escapes % CR LF; properties also : and , */
/* One annotation per problem, pointing at the YAML (src/gha/ writes it when GITHUB_ACTIONS=true). */
static void gha_error(const pf_diag *d)
{
	if (d->file && d->message)
		pf_gha_annotate("error", d->file, d->pos.line, d->pos.col, NULL, d->message);
}

static const char *plural(size_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

static cJSON *diag_json(const pf_diag *d)
{
	cJSON *e = cJSON_CreateObject();
	cJSON_AddNumberToObject(e, "line", d->pos.line);
	cJSON_AddNumberToObject(e, "col", d->pos.col);
	cJSON_AddStringToObject(e, "message", d->message ? d->message : "");
	return e;
}

/* Validate one file; returns the exit code for it and adds its JSON entry. */
static int validate_one(const char *path, bool json, cJSON *files)
{
	pf_plan *plan = NULL;
	pf_diag *diags = NULL;
	size_t n_diags = 0;
	cJSON *e = cJSON_CreateObject();
	int rc = pf_pipeline_load_all(&plan, path, &diags, &n_diags);
	int code;
	cJSON_AddStringToObject(e, "file", path);
	cJSON_AddBoolToObject(e, "ok", rc == 0);
	if (rc == 0) {
		cJSON_AddNumberToObject(e, "steps", (double)plan->n_steps);
		cJSON_AddNumberToObject(e, "artifacts", (double)plan->n_artifacts);
		cJSON_AddNumberToObject(e, "targets", (double)plan->n_targets);
		if (!json)
			printf("%s: ok (%zu %s, %zu %s, %zu %s)\n", path, plan->n_steps,
			       plural(plan->n_steps, "step", "steps"), plan->n_artifacts,
			       plural(plan->n_artifacts, "artifact", "artifacts"), plan->n_targets,
			       plural(plan->n_targets, "target", "targets"));
		code = PF_EXIT_OK;
	} else {
		cJSON *errors = cJSON_CreateArray();
		if (n_diags == 0) /* defensive: a failure always carries a diag */
			pf_log_error("%s", pf_error_last());
		for (size_t i = 0; i < n_diags; i++) {
			if (diags[i].pos.line > 0)
				pf_log_error("%s:%d:%d: %s", diags[i].file, diags[i].pos.line, diags[i].pos.col,
				             diags[i].message);
			else
				pf_log_error("%s", diags[i].message);
			gha_error(&diags[i]);
			cJSON_AddItemToArray(errors, diag_json(&diags[i]));
		}
		/* the first problem also at the top, for simple consumers */
		cJSON_AddNumberToObject(e, "line", n_diags ? diags[0].pos.line : 0);
		cJSON_AddNumberToObject(e, "col", n_diags ? diags[0].pos.col : 0);
		cJSON_AddStringToObject(e, "message", n_diags ? diags[0].message : pf_error_last());
		cJSON_AddItemToObject(e, "errors", errors);
		code = rc == PF_EINVALID ? PF_EXIT_USAGE : PF_EXIT_ENV;
	}
	cJSON_AddItemToArray(files, e);
	pf_diags_free(diags, n_diags);
	pf_plan_free(plan);
	return code;
}

int cmd_validate(int argc, char **argv)
{
	bool json = false;
	int n_files = 0, code = PF_EXIT_OK;
	cJSON *root = NULL, *files;
	if (pf_cli_wants_help(argc, argv))
		return pf_cli_print_help("validate");
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--"))
			break;
		else if (argv[i][0] == '-' && argv[i][1])
			return pf_cli_usage_error("validate", "unknown option \"%s\"", argv[i]);
		else
			n_files++;
	}
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--") && i + 1 < argc)
			n_files += argc - i - 1;
	if (n_files == 0)
		return pf_cli_usage_error("validate", "no pipeline file given");
	root = cJSON_CreateObject();
	files = cJSON_CreateArray();
	for (int i = 1, after_dashes = 0; i < argc; i++) {
		int c;
		if (!after_dashes && !strcmp(argv[i], "--")) {
			after_dashes = 1;
			continue;
		}
		if (!after_dashes && !strcmp(argv[i], "--json"))
			continue;
		c = validate_one(argv[i], json, files);
		if (c == PF_EXIT_ENV || (c == PF_EXIT_USAGE && code != PF_EXIT_ENV))
			code = c;
	}
	cJSON_AddBoolToObject(root, "ok", code == PF_EXIT_OK);
	cJSON_AddItemToObject(root, "files", files);
	if (json) {
		char *text = cJSON_PrintUnformatted(root);
		if (!text) {
			cJSON_Delete(root);
			pf_log_error("cannot format the JSON report: out of memory");
			return PF_EXIT_ENV;
		}
		printf("%s\n", text);
		free(text);
	}
	cJSON_Delete(root);
	return pf_cli_finish_stdout(code);
}
