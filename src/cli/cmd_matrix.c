/* `pteflow matrix`: placeholder until its module lands (see the issue tracker). */
#include "cli/cli.h"
#include "util/log.h"

const char pf_usage_matrix[] = "usage: pteflow matrix\n";

int cmd_matrix(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	pf_log_error("'matrix' is not built yet");
	return PF_EXIT_FAILED;
}
