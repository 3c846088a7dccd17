/*
 * Entry point: argv to a command from the table. Global options that come
 * before the command: --quiet/-q, --version, --help.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "gha/gha.h"
#include "util/log.h"

static void print_overview(FILE *f)
{
	fprintf(f, "usage: pteflow [--quiet] COMMAND [ARGS]\n\n"
		   "Turn PyTorch models into verified ExecuTorch artifacts (.pte, .ptd).\n\n"
		   "commands:\n");
	for (const pf_command *c = pf_commands; c->name; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fprintf(f, "\n'pteflow help COMMAND' or 'pteflow COMMAND --help' shows a command's options.\n"
		   "exit codes: 0 success, 1 a step/gate/download/verification failed, 2 bad usage or\n"
		   "invalid input file, 3 environment problem, 130 interrupted.\n");
}

int main(int argc, char **argv)
{
	int i = 1;
	pf_gha_init();
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
			pf_log_set_quiet(true);
		} else if (!strcmp(argv[i], "--version")) {
			{
			char name[] = "version";
			char *v[] = {name, NULL};
			return cmd_version(1, v);
		}
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			print_overview(stdout);
			return pf_cli_finish_stdout(0);
		} else {
			fprintf(stderr, "pteflow: error: unknown option \"%s\"\n\n", argv[i]);
			print_overview(stderr);
			return PF_EXIT_USAGE;
		}
	}
	if (i >= argc) {
		print_overview(stderr);
		return PF_EXIT_USAGE;
	}
	for (const pf_command *c = pf_commands; c->name; c++)
		if (!strcmp(argv[i], c->name))
			return c->fn(argc - i, argv + i);
	fprintf(stderr, "pteflow: error: unknown command \"%s\": see 'pteflow --help'\n", argv[i]);
	return PF_EXIT_USAGE;
}
