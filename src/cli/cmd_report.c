/*
 * `pteflow report MANIFEST [-o report.html]`: the run as one HTML page
 * (src/report/). Parses options and calls pf_report_write; nothing else.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "report/report.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

const char pf_usage_report[] =
	"usage: pteflow report MANIFEST.json [-o REPORT.html]\n\n"
	"Write one self-contained HTML page (inline SVG, no script, nothing fetched from the\n"
	"network) that shows the run a manifest records: per step its memory curve against its\n"
	"limit and its predicted peak interval, its phases and its duration; per artifact its\n"
	"size against its size gates and every gate's result; the KPI figures when the manifest\n"
	"has a \"kpi\" section; and the verdicts. It opens in a browser as it is (from a CI\n"
	"artifact, say). Every text from the manifest is escaped: a manifest is untrusted.\n\n"
	"options:\n"
	"  -o, --out FILE  the page to write (default: report.html next to the manifest)\n"
	"  -q, --quiet     do not say where the page went\n"
	"  -h, --help      show this help\n\n"
	"exit codes: 0 written; 2 bad usage or not a manifest; 3 the manifest cannot be read or\n"
	"the page cannot be written.\n";

int cmd_report(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"out", required_argument, NULL, 'o'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *out = NULL;
	char *dir = NULL, *fallback = NULL;
	int c, rc;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'q': pf_log_set_quiet(true); break;
		case 'h': return pf_cli_print_help("report");
		default: return pf_cli_usage_error("report", "unknown option \"%s\"", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return pf_cli_usage_error("report", optind >= argc ? "a manifest file is required"
		                                                   : "one manifest file at a time");
	if (!out) {
		dir = pf_fs_dirname(argv[optind]);
		fallback = pf_fs_join(dir, "report.html");
		out = fallback;
	}
	rc = pf_report_write(argv[optind], out);
	if (rc == 0)
		pf_log_info("wrote %s", out);
	free(dir);
	free(fallback);
	return rc == 0 ? PF_EXIT_OK : pf_cli_fail(rc == PF_ENOTFOUND ? PF_EENV : rc);
}
