/* `pteflow version`: pteflow's version and the libraries it was built with. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "run/steps_env.h"
#include "util/version.h"

const char pf_usage_version[] =
	"usage: pteflow version [--json]\n\n"
	"Print pteflow's version and the versions of libcurl, OpenSSL, libyaml, libgit2 and cJSON,\n"
	"and the folder of the Python export steps (pteflow_steps) a run would use.\n\n"
	"options:\n"
	"  --json      print the same as a JSON object\n"
	"  -h, --help  show this help\n";

int cmd_version(int argc, char **argv)
{
	int json = 0;
	char *steps;
	pf_versions v;
	if (pf_cli_wants_help(argc, argv))
		return pf_cli_print_help("version");
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else
			return pf_cli_usage_error("version", "unknown option \"%s\"", argv[i]);
	}
	pf_versions_get(&v);
	steps = pf_steps_env_find_package(NULL);
	if (json) {
		cJSON *o = cJSON_CreateObject();
		char *text;
		cJSON_AddStringToObject(o, "pteflow", v.pteflow);
		cJSON_AddStringToObject(o, "libcurl", v.curl);
		cJSON_AddStringToObject(o, "openssl", v.openssl);
		cJSON_AddStringToObject(o, "libyaml", v.yaml);
		cJSON_AddStringToObject(o, "libgit2", v.git2);
		cJSON_AddStringToObject(o, "cjson", v.cjson);
		if (steps)
			cJSON_AddStringToObject(o, "steps", steps);
		else
			cJSON_AddNullToObject(o, "steps");
		text = cJSON_PrintUnformatted(o);
		printf("%s\n", text);
		cJSON_free(text);
		cJSON_Delete(o);
	} else {
		printf("pteflow %s\nlibcurl %s\nopenssl %s\nlibyaml %s\nlibgit2 %s\ncjson %s\nsteps %s\n", v.pteflow,
		       v.curl, v.openssl, v.yaml, v.git2, v.cjson, steps ? steps : "(not found)");
	}
	free(steps);
	return pf_cli_finish_stdout(0);
}
