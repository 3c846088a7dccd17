/* `pteflow version`: pteflow's version and the libraries it was built with. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/version.h"

const char pf_usage_version[] =
	"usage: pteflow version [--json]\n\n"
	"Print pteflow's version and the versions of libcurl, OpenSSL, libyaml, libgit2 and cJSON.\n\n"
	"options:\n"
	"  --json      print the same as a JSON object\n"
	"  -h, --help  show this help\n";

int cmd_version(int argc, char **argv)
{
	int json = 0;
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
	if (json)
		printf("{\"pteflow\":\"%s\",\"libcurl\":\"%s\",\"openssl\":\"%s\",\"libyaml\":\"%s\","
		       "\"libgit2\":\"%s\",\"cjson\":\"%s\"}\n",
		       v.pteflow, v.curl, v.openssl, v.yaml, v.git2, v.cjson);
	else
		printf("pteflow %s\nlibcurl %s\nopenssl %s\nlibyaml %s\nlibgit2 %s\ncjson %s\n", v.pteflow, v.curl,
		       v.openssl, v.yaml, v.git2, v.cjson);
	return pf_cli_finish_stdout(0);
}
