/* `pteflow validate`: placeholder until its module lands (see the issue tracker). */
#include "cli/cli.h"
#include "util/log.h"

const char pf_usage_validate[] = "usage: pteflow validate\n";

int cmd_validate(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	pf_log_error("'validate' is not built yet");
	return PF_EXIT_FAILED;
}
