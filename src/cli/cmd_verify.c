/* `pteflow verify`: placeholder until its module lands (see the issue tracker). */
#include "cli/cli.h"
#include "util/log.h"

const char pf_usage_verify[] = "usage: pteflow verify\n";

int cmd_verify(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	pf_log_error("'verify' is not built yet");
	return PF_EXIT_FAILED;
}
