/* `pteflow inspect`: placeholder until its module lands (see the issue tracker). */
#include "cli/cli.h"
#include "util/log.h"

const char pf_usage_inspect[] = "usage: pteflow inspect\n";

int cmd_inspect(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	pf_log_error("'inspect' is not built yet");
	return PF_EXIT_FAILED;
}
