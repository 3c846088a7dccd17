/* `pteflow fetch`: placeholder until its module lands (see the issue tracker). */
#include "cli/cli.h"
#include "util/log.h"

const char pf_usage_fetch[] = "usage: pteflow fetch\n";

int cmd_fetch(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	pf_log_error("'fetch' is not built yet");
	return PF_EXIT_FAILED;
}
