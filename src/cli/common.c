/* The command table, exit-code mapping and help printing shared by every command. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/error.h"
#include "util/log.h"

const pf_command pf_commands[] = {
	{"run", cmd_run, "run a pipeline: fetch, export under memory guards, verify, write the manifest", pf_usage_run},
	{"plan", cmd_plan, "predict a pipeline's .pte sizes, peak and runtime memory before it runs", pf_usage_plan},
	{"validate", cmd_validate, "check a pipeline file and report every problem with its position", pf_usage_validate},
	{"fetch", cmd_fetch, "download a Hugging Face repo into the standard cache", pf_usage_fetch},
	{"inspect", cmd_inspect, "show the structure of a .pte, .ptd or .bpte file", pf_usage_inspect},
	{"verify", cmd_verify, "re-check the artifacts of a manifest.json (release verification)", pf_usage_verify},
	{"publish", cmd_publish, "verify a release, then commit it to a Hugging Face Hub model repo", pf_usage_publish},
	{"keygen", cmd_keygen, "make a key pair for signing release provenance (Ed25519, ECDSA P-256)", pf_usage_keygen},
	{"matrix", cmd_matrix, "print the GitHub Actions matrix for pipelines and their targets", pf_usage_matrix},
	{"explain", cmd_explain, "say which steps a run would restore from the store and why the others run", pf_usage_explain},
	{"report", cmd_report, "draw a run's manifest as one HTML page: memory curves, sizes, gates, verdicts", pf_usage_report},
	{"store", cmd_store, "list or garbage-collect the store of step outputs", pf_usage_store},
	{"setup", cmd_setup, "find or create the export steps' Python environment and print its interpreter", pf_usage_setup},
	{"version", cmd_version, "print pteflow's version and the versions of its libraries", pf_usage_version},
	{"help", cmd_help, "show help for pteflow or one command", pf_usage_help},
	{NULL, NULL, NULL, NULL},
};

int pf_cli_exit_for(int err)
{
	switch (err) {
	case 0:
		return PF_EXIT_OK;
	case PF_EINVALID:
		return PF_EXIT_USAGE;
	case PF_EENV:
	case PF_EAUTH:
		return PF_EXIT_ENV;
	case PF_EINTR:
		return PF_EXIT_INTERRUPTED;
	default:
		return PF_EXIT_FAILED;
	}
}

int pf_cli_fail(int err)
{
	const char *msg = pf_error_last();
	pf_log_error("%s", msg[0] ? msg : "unknown failure");
	return pf_cli_exit_for(err);
}

int pf_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pf_log_error("%s: see 'pteflow help %s'", msg, cmd);
	return PF_EXIT_USAGE;
}

bool pf_cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return false;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return true;
	}
	return false;
}

int pf_cli_print_help(const char *cmd)
{
	for (const pf_command *c = pf_commands; c->name; c++) {
		if (!strcmp(c->name, cmd)) {
			fputs(c->usage, stdout);
			return pf_cli_finish_stdout(0);
		}
	}
	pf_log_error("unknown command \"%s\": see 'pteflow --help'", cmd);
	return PF_EXIT_USAGE;
}

int pf_cli_finish_stdout(int code)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "pteflow: error: cannot write the output: %s\n", strerror(errno));
		return PF_EXIT_ENV;
	}
	return code;
}

const char *pf_cli_option_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
	size_t n = strlen(name);
	if (!strcmp(argv[*i], name)) {
		if (*i + 1 >= argc) {
			*missing = true;
			return NULL;
		}
		return argv[++*i];
	}
	if (!strncmp(argv[*i], name, n) && argv[*i][n] == '=')
		return argv[*i] + n + 1;
	return NULL;
}
