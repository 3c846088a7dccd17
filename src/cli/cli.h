/*
 * The command table and what every command shares: exit codes (stable: CI
 * jobs depend on them; README "Exit codes" lists the same), the mapping from
 * pf error codes to exit codes, and help printing.
 */
#ifndef PF_CLI_CLI_H
#define PF_CLI_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "util/error.h"

enum {
	PF_EXIT_OK = 0,      /* success */
	PF_EXIT_FAILED = 1,  /* a step, gate, download or verification failed */
	PF_EXIT_USAGE = 2,   /* bad usage, invalid pipeline or manifest file */
	PF_EXIT_ENV = 3,     /* environment: interpreter, output folder, network, token, disk, memory guard */
	PF_EXIT_INTERRUPTED = 130 /* pteflow got SIGINT or SIGTERM; the running step was stopped */
};

typedef struct pf_command {
	const char *name;
	int (*fn)(int argc, char **argv); /* argv[0] is the command name */
	const char *summary;
	const char *usage;   /* full --help text */
} pf_command;

extern const pf_command pf_commands[];

int cmd_run(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_matrix(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_help(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_store(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_setup(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_publish(int argc, char **argv);

extern const char pf_usage_run[], pf_usage_validate[], pf_usage_fetch[], pf_usage_inspect[],
	pf_usage_verify[], pf_usage_keygen[], pf_usage_matrix[], pf_usage_version[], pf_usage_help[],
	pf_usage_explain[], pf_usage_store[], pf_usage_plan[], pf_usage_setup[], pf_usage_report[], pf_usage_publish[];

/* Map a negative pf error code to an exit code. */
int pf_cli_exit_for(int err);
/* Print "pteflow: error: <last error>" and return the exit code for err. */
int pf_cli_fail(int err);
/* Usage error: message + "see 'pteflow help CMD'"; returns PF_EXIT_USAGE. */
int pf_cli_usage_error(const char *cmd, const char *fmt, ...) PF_PRINTF(2, 3);
/* An option's value: "--opt VALUE" or "--opt=VALUE"; NULL when argv[*i] is not that option (and
 * *missing set when it is, without a value). Advances *i past a separate value. */
const char *pf_cli_option_value(int argc, char **argv, int *i, const char *name, bool *missing);
/* true if argv holds -h or --help (before "--"). */
bool pf_cli_wants_help(int argc, char **argv);
/* Print the command's help to stdout; returns 0 (or 3 if stdout failed). */
int pf_cli_print_help(const char *cmd);
/* Flush stdout and turn a write error (EPIPE, ENOSPC) into exit 3. */
int pf_cli_finish_stdout(int code);

#endif
