/* `pteflow run`: placeholder until its module lands (see the issue tracker). */
#include "cli/cli.h"
#include "util/log.h"

const char pf_usage_run[] = "usage: pteflow run\n";

int cmd_run(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	pf_log_error("'run' is not built yet");
	return PF_EXIT_FAILED;
}
