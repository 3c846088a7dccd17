/* `pteflow help [COMMAND]`. */
#include <stdio.h>

#include "cli/cli.h"

const char pf_usage_help[] = "usage: pteflow help [COMMAND]\n\nShow the list of commands, or one command's options.\n";

int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		printf("usage: pteflow [--quiet] COMMAND [ARGS]\n\ncommands:\n");
		for (const pf_command *c = pf_commands; c->name; c++)
			printf("  %-10s %s\n", c->name, c->summary);
		printf("\nexit codes: 0 success, 1 a step/gate/download/verification failed, 2 bad usage or\n"
		       "invalid input file, 3 environment problem, 130 interrupted.\n");
		return pf_cli_finish_stdout(0);
	}
	if (pf_cli_wants_help(argc, argv))
		return pf_cli_print_help("help");
	return pf_cli_print_help(argv[1]);
}
