/*
 * `pteflow verify MANIFEST [--dir DIR] [--json]`: release verification. Parses
 * options and prints the report that src/verify/ builds; one line per file
 * and a verdict on stdout, errors on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/error.h"
#include "util/log.h"
#include "verify/verify.h"

const char pf_usage_verify[] =
	"usage: pteflow verify MANIFEST [--dir DIR] [--json]\n\n"
	"Re-check the artifacts a manifest.json records, as a release job does before\n"
	"publishing: each file is re-hashed (SHA-256) and its size compared; .pte and\n"
	".ptd files are re-read and their structure checked; the gates the run recorded\n"
	"(max_size, min_size, methods, backends, external data) are checked again.\n\n"
	"One line per file on stdout, then a verdict:\n"
	"  OK  model.pte                                       every check holds\n"
	"  MISMATCH  model.pte: expected sha256 ab12.. found 9f00..   size or bytes differ\n"
	"  MISSING  model.pte                                  not in the folder\n"
	"  STRUCTURE  model.pte: <what is broken>              bytes match, a check fails\n"
	"  UNSAFE  ../x: path escapes the folder               never opened\n"
	"  UNSAFE  x.pte: is ... a symbolic link               never opened (nor a file in a linked folder)\n"
	"Two files swapped show as MISMATCH on both, naming the file whose bytes each holds.\n\n"
	"arguments:\n"
	"  MANIFEST       the manifest.json written by 'pteflow run'\n\n"
	"options:\n"
	"  --dir DIR      look the artifacts up in DIR (default: the manifest's folder)\n"
	"  --json         print the report as a JSON object instead\n"
	"  -h, --help     show this help\n\n"
	"exit codes:\n"
	"  0  every file is OK\n"
	"  1  at least one file is MISMATCH, MISSING, STRUCTURE or UNSAFE\n"
	"  2  bad usage, or the manifest is not valid (not JSON, wrong shape)\n"
	"  3  the manifest or the folder cannot be read\n\n"
	"example:\n"
	"  pteflow verify out/manifest.json && sha256sum -c SHA256SUMS\n";

int cmd_verify(int argc, char **argv)
{
	const char *manifest = NULL, *dir = NULL;
	bool json = false;
	pf_verify_report report;
	char *text = NULL;
	int rc, code;
	if (pf_cli_wants_help(argc, argv))
		return pf_cli_print_help("verify");
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--dir")) {
			if (++i >= argc)
				return pf_cli_usage_error("verify", "--dir needs a folder");
			dir = argv[i];
		} else if (!strncmp(argv[i], "--dir=", 6)) {
			dir = argv[i] + 6;
		} else if (!strcmp(argv[i], "--")) {
			if (i + 1 < argc && !manifest)
				manifest = argv[++i];
			if (i + 1 < argc)
				return pf_cli_usage_error("verify", "unexpected argument \"%s\"", argv[i + 1]);
			break;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return pf_cli_usage_error("verify", "unknown option \"%s\"", argv[i]);
		} else if (!manifest) {
			manifest = argv[i];
		} else {
			return pf_cli_usage_error("verify", "unexpected argument \"%s\": give one manifest", argv[i]);
		}
	}
	if (!manifest)
		return pf_cli_usage_error("verify", "give the manifest.json to verify");
	rc = pf_verify_manifest(&report, manifest, dir);
	if (rc < 0) {
		pf_log_error("\"%s\": %s", manifest, pf_error_last());
		pf_verify_report_dispose(&report);
		return rc == PF_EINVALID ? PF_EXIT_USAGE : PF_EXIT_ENV;
	}
	text = json ? pf_verify_report_json(&report, manifest) : pf_verify_report_text(&report);
	fputs(text, stdout);
	code = report.ok ? PF_EXIT_OK : PF_EXIT_FAILED;
	free(text);
	pf_verify_report_dispose(&report);
	return pf_cli_finish_stdout(code);
}
