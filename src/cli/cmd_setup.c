/*
 * `pteflow setup`: find or make the export steps' Python environment (the
 * work is src/run/pyenv.c) and print its interpreter, which `run` then uses
 * as ${python} when --python is not given.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "run/pyenv.h"
#include "util/error.h"
#include "util/log.h"

const char pf_usage_setup[] =
    "usage: pteflow setup [--requirements FILE] [--base-python PY] [--check] [--json]\n\n"
    "Find or create the Python virtual environment of the export steps (torch, executorch,\n"
    "transformers... pinned in the requirements.txt beside the installed pteflow_steps package)\n"
    "in <cache>/venv-<hash of the requirements>, where <cache> is $PTEFLOW_CACHE, else\n"
    "$XDG_CACHE_HOME/pteflow, else ~/.cache/pteflow; point <cache>/current at it and print its\n"
    "interpreter. 'pteflow run' uses <cache>/current/bin/python when --python is not given.\n"
    "The first time takes minutes (pip downloads about 6 GB of wheels); later calls take a\n"
    "moment. scripts/setup-python.sh in a checkout makes the same environment.\n\n"
    "options:\n"
    "  --requirements FILE  use this requirements file instead of the installed one\n"
    "  --base-python PY     interpreter that creates the environment (default: $PTEFLOW_BASE_PYTHON\n"
    "                       or python3; Python 3.10-3.12)\n"
    "  --check              create nothing: exit 3 when the environment is not there\n"
    "  --json               print {\"python\", \"venv\", \"requirements\", \"created\", \"seconds\"}\n"
    "  -h, --help           show this help\n\n"
    "exit codes:\n"
    "  0  the environment is ready (its interpreter is printed)\n"
    "  2  bad usage\n"
    "  3  no requirements file, no environment (--check), or venv/pip failed\n\n"
    "example:\n"
    "  pteflow run pipelines/demo.yaml --python \"$(pteflow setup)\"\n";

static int print_json(const pf_pyenv *env)
{
	cJSON *o = cJSON_CreateObject();
	char *text;
	cJSON_AddStringToObject(o, "python", env->python);
	cJSON_AddStringToObject(o, "venv", env->venv);
	cJSON_AddStringToObject(o, "requirements", env->requirements);
	cJSON_AddBoolToObject(o, "created", env->created);
	cJSON_AddNumberToObject(o, "seconds", (double)env->seconds);
	text = cJSON_PrintUnformatted(o);
	printf("%s\n", text);
	cJSON_free(text);
	cJSON_Delete(o);
	return 0;
}

int cmd_setup(int argc, char **argv)
{
	pf_pyenv_opts opts = {0};
	pf_pyenv env;
	bool json = false;
	int rc;
	if (pf_cli_wants_help(argc, argv))
		return pf_cli_print_help("setup");
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--check")) {
			opts.check_only = true;
		} else if (!strcmp(argv[i], "--requirements") || !strcmp(argv[i], "--base-python")) {
			if (i + 1 >= argc || !argv[i + 1][0])
				return pf_cli_usage_error("setup", "%s needs a value", argv[i]);
			if (!strcmp(argv[i], "--requirements"))
				opts.requirements = argv[++i];
			else
				opts.base_python = argv[++i];
		} else {
			return pf_cli_usage_error("setup", "unknown argument \"%s\"", argv[i]);
		}
	}
	if ((rc = pf_pyenv_setup(&env, &opts)) < 0) {
		pf_log_error("%s", pf_error_last());
		return PF_EXIT_ENV;
	}
	if (json)
		print_json(&env);
	else
		printf("%s\n", env.python);
	if (env.created)
		pf_log_info("setup: ready in %lld s", env.seconds);
	pf_pyenv_dispose(&env);
	return pf_cli_finish_stdout(0);
}
