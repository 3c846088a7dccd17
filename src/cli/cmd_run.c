/*
 * `pteflow run`: options to pf_run_options, one run per target, and the
 * result on stdout (a table, or the manifest as JSON with --json).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"
#include "cli/cli.h"
#include "manifest/manifest.h"
#include "pipeline/pipeline.h"
#include "proc/proc.h"
#include "run/run.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

const char pf_usage_run[] =
	"usage: pteflow run PIPELINE.yaml [options]\n\n"
	"Run a pipeline: fetch the model (if any), run each step under its memory guard and\n"
	"timeout, verify every artifact (size, SHA-256, .pte/.ptd/.bpte structure, methods, backends,\n"
	"external data), and write manifest.json, SHA256SUMS and provenance.intoto.jsonl (an\n"
	"in-toto/SLSA provenance statement in a DSSE envelope) into the output folder.\n\n"
	"options:\n"
	"  -o, --out DIR           output folder (default: out/<pipeline name>[/<target>])\n"
	"  -t, --target NAME       run one target of the pipeline; without it, a pipeline with\n"
	"                          targets runs every target in order, each in its own folder\n"
	"  -n, --dry-run           print the plan (steps, limits, artifacts) and run nothing\n"
	"      --json              print the manifest as JSON on stdout instead of a table\n"
	"      --python PATH       interpreter for ${python} (default: $PTEFLOW_PYTHON, the venv\n"
	"                          made by scripts/setup-python.sh, then python3)\n"
	"      --memory-guard M    auto|cgroup2|cgroup1|rlimit|watchdog|none (default auto: the best\n"
	"                          this host supports; the manifest records which was used)\n"
	"      --memory-sample-ms N  sample each step's memory every N ms for the manifest's\n"
	"                          memory curve (default 250; 0: no curve)\n"
	"      --force             run a step even when its limits.expect exceeds available memory\n"
	"      --offline           use the Hugging Face cache only (as HF_HUB_OFFLINE=1)\n"
	"  -j, --jobs N            parallel downloads (default 8)\n"
	"      --workdir DIR       working folder of the steps (default: the output folder)\n"
	"      --no-echo           do not echo step output (it is still in logs/<step>.log)\n"
	"      --no-cache          run every step, and neither restore from nor write to the\n"
	"                          store of step outputs\n"
	"      --rebuild STEP      run STEP even when the store has its outputs (and store the new\n"
	"                          ones); repeat for several steps\n"
	"      --store DIR         the store of step outputs (default: $PTEFLOW_STORE, else\n"
	"                          ~/.cache/pteflow/store)\n"
	"      --kpi-record FILE   also write the KPI figures (a step with kpi:) as ExecuTorch\n"
	"                          benchmark v3 records (a JSON list); with several targets,\n"
	"                          FILE gets -<target> before its extension\n"
	"      --sign-key KEY.pem  sign provenance.intoto.jsonl and remote store records (Ed25519 or\n"
	"                          ECDSA P-256 key from 'pteflow keygen'); ECDSA: also model.sig (OpenSSF)\n"
	"      --remote-store URL  a shared store behind the local one (Bazel HTTP cache protocol:\n"
	"                          bazel-remote, nginx WebDAV); default $PTEFLOW_REMOTE_STORE, then\n"
	"                          the pipeline's store.remote. Token: $PTEFLOW_REMOTE_STORE_TOKEN\n"
	"                          (bearer, or user:password for basic auth)\n"
	"      --remote-store-mode M  read|readwrite (default readwrite; read under a pull_request\n"
	"                          event on GitHub Actions)\n"
	"      --remote-key PUB.pem  restore only remote records signed by this key ('pteflow keygen');\n"
	"                          without it remote restores are marked unverified in the manifest\n"
	"      --remote-upload-timeout T  the longest one step's upload may take (default 5m)\n"
	"  -q, --quiet             hide progress and notes (errors are always shown)\n"
	"  -h, --help              show this help\n\n"
	"A step whose fingerprint (its command, environment, interpreter and package versions,\n"
	"step source files, model files, declared inputs and the outputs of the steps before it)\n"
	"is in the store is restored instead of run, and shows as cached; every gate still\n"
	"checks its artifacts. 'pteflow explain' says which steps would run, and why.\n\n"
	"exit codes: 0 every step and gate passed; 1 a step, download or gate failed (the manifest\n"
	"says which); 2 bad usage or invalid pipeline; 3 environment problem (interpreter, output\n"
	"folder, network, token, disk, memory guard); 130 interrupted (steps stopped, manifest written).\n";

/* The KPI gates (issue 17), one line each: what was asked, what this host measured. */
static void print_kpi(const pf_kpi_record *k)
{
	printf("  kpi       %-20s %s%s%s\n", k->step, k->passed ? "ok" : "FAILED", k->preset ? "  preset " : "",
	       k->preset ? k->preset : "");
	for (size_t g = 0; g < k->n_gates; g++)
		printf("            gate %-18s %-6s expected %s, measured %s\n", k->gates[g].name,
		       k->gates[g].passed ? "ok" : "FAILED", k->gates[g].expected, k->gates[g].actual);
}

/* The run table's sparklines use Unicode blocks only where the locale says UTF-8. */
static bool locale_utf8(void)
{
	static const char *const vars[] = {"LC_ALL", "LC_CTYPE", "LANG"};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);
		if (v && *v)
			return strstr(v, "UTF-8") || strstr(v, "utf-8") || strstr(v, "UTF8") || strstr(v, "utf8");
	}
	return false;
}

/* "  mem <sparkline>" of a step with a memory series (issue 22), else nothing. */
static void print_sparkline(const pf_step_record *s)
{
	char line[3 * 24 + 1];
	const pf_series *se = &s->result.guard.series;
	if (se->n == 0)
		return;
	printf("  mem %s", pf_series_sparkline(line, sizeof(line), se, (uint32_t)(s->result.wall_ms > UINT32_MAX
	                                                                                     ? UINT32_MAX
	                                                                                     : s->result.wall_ms),
	                                       24, locale_utf8()));
}

static void print_table(const pf_run_record *rec)
{
	printf("%s%s%s: %s\n", rec->pipeline_name ? rec->pipeline_name : "pipeline", rec->target ? " / " : "",
	       rec->target ? rec->target : "", rec->passed ? "passed" : "FAILED");
	for (size_t i = 0; i < rec->n_steps; i++) {
		const pf_step_record *s = &rec->steps[i];
		if (!s->ran) {
			printf("  step      %-20s not run\n", s->name ? s->name : "?");
			continue;
		}
		if (s->cached) {
			/* the time it took now; the stored run's time and memory say what restoring saved */
			printf("  step      %-20s %-14s %6.1fs  peak %7.1f MiB  guard %s (stored run of %s: %.1fs)\n",
			       s->name, "cached", (double)s->cache_restore_ms / 1000.0,
			       (double)s->result.guard.peak_bytes / (1024.0 * 1024.0),
			       pf_guard_mode_name(s->result.guard.mode), s->cache_origin_utc ? s->cache_origin_utc : "?",
			       (double)s->result.wall_ms / 1000.0);
			continue;
		}
		printf("  step      %-20s %-14s %6.1fs  peak %7.1f MiB  guard %s", s->name,
		       pf_proc_end_name(s->result.end), (double)s->result.wall_ms / 1000.0,
		       (double)s->result.guard.peak_bytes / (1024.0 * 1024.0), pf_guard_mode_name(s->result.guard.mode));
		print_sparkline(s);
		printf("\n");
	}
	for (size_t i = 0; i < rec->n_artifacts; i++) {
		const pf_artifact_result *a = &rec->artifacts[i];
		printf("  artifact  %-20s %-6s %12llu bytes  %s  sha256 %.16s\n", a->path, a->passed ? "ok" : "FAILED",
		       (unsigned long long)a->size_bytes, a->kind ? a->kind : "file", a->exists ? a->sha256 : "-");
		for (size_t g = 0; g < a->n_gates; g++)
			if (!a->gates[g].passed)
				printf("            gate %s: expected %s, got %s\n", a->gates[g].name,
				       a->gates[g].expected ? a->gates[g].expected : "-",
				       a->gates[g].actual ? a->gates[g].actual : "-");
	}
	if (rec->kpi)
		print_kpi(rec->kpi);
	if (rec->failure)
		printf("  reason    %s\n", rec->failure);
}

static int run_one(const pf_run_options *opt, bool json)
{
	pf_run_record rec;
	int rc = pf_run_pipeline(&rec, opt);
	int code = pf_cli_exit_for(rc);
	if (rc < 0 && rc != PF_EFAILED && rc != PF_ELIMIT)
		pf_log_error("%s", pf_error_last());
	else if (rc < 0 && rec.failure)
		pf_log_error("%s", rec.failure);
	if (!opt->dry_run && rec.pipeline_name && (rc == 0 || rec.steps || rec.artifacts || rec.failure)) {
		if (json) {
			char *text = NULL;
			if (pf_manifest_render(&text, &rec) == 0) {
				fputs(text, stdout);
				fputc('\n', stdout);
			}
			free(text);
		} else {
			print_table(&rec);
		}
	}
	if (rc == PF_ELIMIT)
		code = PF_EXIT_FAILED;
	pf_run_record_dispose(&rec);
	return code;
}

/* --kpi-record FILE for one of several targets: FILE-<target>.json (heap). */
static char *per_target(const char *file, const char *target)
{
	const char *slash = strrchr(file, '/'), *dot = strrchr(file, '.');
	if (dot && (!slash || dot > slash + 1))
		return pf_xasprintf("%.*s-%s%s", (int)(dot - file), file, target, dot);
	return pf_xasprintf("%s-%s", file, target);
}

/* The names of the pipeline's targets, or none; exit code on failure. */
static int list_targets(char ***out, size_t *n_out, const char *path)
{
	pf_plan *plan = NULL;
	pf_diag diag;
	int rc;
	memset(&diag, 0, sizeof(diag));
	*out = NULL;
	*n_out = 0;
	rc = pf_pipeline_load(&plan, path, &diag);
	pf_diag_dispose(&diag);
	if (rc < 0)
		return pf_cli_fail(rc);
	if (plan->n_targets) {
		*out = pf_xcalloc(plan->n_targets, sizeof(char *));
		for (size_t i = 0; i < plan->n_targets; i++)
			(*out)[i] = pf_xstrdup(plan->targets[i].name);
		*n_out = plan->n_targets;
	}
	pf_plan_free(plan);
	return 0;
}

int cmd_run(int argc, char **argv)
{
	enum { OPT_JSON = 256, OPT_PYTHON, OPT_GUARD, OPT_FORCE, OPT_OFFLINE, OPT_WORKDIR, OPT_NOECHO, OPT_NOCACHE,
	       OPT_REBUILD, OPT_STORE, OPT_SIGN_KEY, OPT_KPI_RECORD, OPT_SAMPLE, OPT_REMOTE, OPT_REMOTE_MODE, OPT_REMOTE_KEY, OPT_REMOTE_TIMEOUT };
	static const struct option longopts[] = {
		{"out", required_argument, NULL, 'o'},      {"target", required_argument, NULL, 't'},
		{"dry-run", no_argument, NULL, 'n'},        {"json", no_argument, NULL, OPT_JSON},
		{"python", required_argument, NULL, OPT_PYTHON}, {"memory-guard", required_argument, NULL, OPT_GUARD},
		{"force", no_argument, NULL, OPT_FORCE},    {"offline", no_argument, NULL, OPT_OFFLINE},
		{"jobs", required_argument, NULL, 'j'},     {"workdir", required_argument, NULL, OPT_WORKDIR},
		{"no-echo", no_argument, NULL, OPT_NOECHO}, {"quiet", no_argument, NULL, 'q'},
		{"no-cache", no_argument, NULL, OPT_NOCACHE}, {"rebuild", required_argument, NULL, OPT_REBUILD},
		{"store", required_argument, NULL, OPT_STORE},
		{"sign-key", required_argument, NULL, OPT_SIGN_KEY},
		{"kpi-record", required_argument, NULL, OPT_KPI_RECORD},
		{"memory-sample-ms", required_argument, NULL, OPT_SAMPLE},
		{"remote-store", required_argument, NULL, OPT_REMOTE},
		{"remote-store-mode", required_argument, NULL, OPT_REMOTE_MODE},
		{"remote-key", required_argument, NULL, OPT_REMOTE_KEY},
		{"remote-upload-timeout", required_argument, NULL, OPT_REMOTE_TIMEOUT},
		{"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
	};
	pf_run_options opt;
	const char *rebuild[64];
	bool json = false;
	char **targets = NULL;
	size_t n_targets = 0;
	const char *sign_key_path = NULL;
	pf_attest_key *sign_key = NULL;
	const char *remote_key_path = NULL;
	pf_attest_key *remote_key = NULL;
	int c, code = 0;

	memset(&opt, 0, sizeof(opt));
	opt.echo = true;
	opt.guard_mode = PF_GUARD_AUTO;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:t:nj:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': opt.out_dir = optarg; break;
		case 't': opt.target = optarg; break;
		case 'n': opt.dry_run = true; break;
		case OPT_JSON: json = true; break;
		case OPT_PYTHON: opt.python = optarg; break;
		case OPT_GUARD:
			if (pf_guard_mode_parse(&opt.guard_mode, optarg) < 0)
				return pf_cli_usage_error("run", "--memory-guard takes auto, cgroup2, cgroup1, rlimit, "
								 "watchdog or none, not \"%s\"", optarg);
			break;
		case OPT_FORCE: opt.force = true; break;
		case OPT_OFFLINE: opt.offline = true; break;
		case 'j': {
			char *end = NULL;
			long v = strtol(optarg, &end, 10);
			if (!end || *end || v < 1 || v > 64)
				return pf_cli_usage_error("run", "--jobs takes a number from 1 to 64, not \"%s\"", optarg);
			opt.jobs = (int)v;
			break;
		}
		case OPT_WORKDIR: opt.workdir = optarg; break;
		case OPT_NOECHO: opt.echo = false; break;
		case OPT_NOCACHE: opt.no_cache = true; break;
		case OPT_STORE: opt.store_dir = optarg; break;
		case OPT_REBUILD:
			if (opt.n_rebuild >= sizeof(rebuild) / sizeof(rebuild[0]))
				return pf_cli_usage_error("run", "--rebuild is given more than %zu times",
							  sizeof(rebuild) / sizeof(rebuild[0]));
			rebuild[opt.n_rebuild++] = optarg;
			break;
		case OPT_SIGN_KEY: sign_key_path = optarg; break;
		case OPT_KPI_RECORD: opt.kpi_record = optarg; break;
		case OPT_SAMPLE: {
			char *end = NULL;
			long v = strtol(optarg, &end, 10);
			if (!end || end == optarg || *end || v < 0 || v > 60000)
				return pf_cli_usage_error("run", "--memory-sample-ms takes a number from 0 (no series) "
							  "to 60000, not \"%s\"", optarg);
			opt.memory_sample_ms = v == 0 ? -1 : (int)v;
			break;
		}
		case OPT_REMOTE: opt.remote_store = optarg; break;
		case OPT_REMOTE_MODE:
			if (strcmp(optarg, "read") && strcmp(optarg, "readwrite"))
				return pf_cli_usage_error("run", "--remote-store-mode takes read or readwrite, not \"%s\"",
							  optarg);
			opt.remote_mode = optarg;
			break;
		case OPT_REMOTE_KEY: remote_key_path = optarg; break;
		case OPT_REMOTE_TIMEOUT:
			if (pf_parse_duration(&opt.remote_upload_timeout_ms, optarg) < 0 || !opt.remote_upload_timeout_ms)
				return pf_cli_usage_error("run", "--remote-upload-timeout takes a duration (30s, 5m), not \"%s\"",
							  optarg);
			break;
		case 'q': pf_log_set_quiet(true); break;
		case 'h': return pf_cli_print_help("run");
		default:
			return pf_cli_usage_error("run", "unknown option \"%s\"", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return pf_cli_usage_error("run", optind >= argc ? "a pipeline file is required"
								: "one pipeline file at a time");
	opt.pipeline_path = argv[optind];
	opt.rebuild = rebuild;
	/* a key that cannot be used is found before an export that may take an hour */
	if (sign_key_path && !opt.dry_run) {
		int rc = pf_attest_key_load_private(&sign_key, sign_key_path);
		if (rc < 0)
			return pf_cli_fail(rc == PF_ENOTFOUND ? PF_EINVALID : rc);
		opt.sign_key = sign_key;
	}
	if (remote_key_path && !opt.dry_run) {
		int rc = pf_attest_key_load_public(&remote_key, remote_key_path);
		if (rc < 0) {
			pf_attest_key_free(sign_key);
			return pf_cli_fail(rc == PF_ENOTFOUND ? PF_EINVALID : rc);
		}
		opt.remote_key = remote_key;
	}
	pf_proc_install_signal_handlers();

	if (!opt.target) {
		if ((code = list_targets(&targets, &n_targets, opt.pipeline_path)) != 0) {
			pf_attest_key_free(sign_key);
			pf_attest_key_free(remote_key);
			return code;
		}
	}
	if (n_targets == 0) {
		code = run_one(&opt, json);
	} else {
		const char *base_out = opt.out_dir, *base_record = opt.kpi_record;
		for (size_t i = 0; i < n_targets && code != PF_EXIT_INTERRUPTED; i++) {
			char *out = base_out ? pf_xasprintf("%s/%s", base_out, targets[i]) : NULL;
			int one;
			opt.target = targets[i];
			opt.out_dir = out;
			pf_log_info("target \"%s\" (%zu of %zu)", targets[i], i + 1, n_targets);
			opt.kpi_record = base_record ? per_target(base_record, targets[i]) : NULL;
			one = run_one(&opt, json);
			if (one != 0 && (code == 0 || one == PF_EXIT_INTERRUPTED))
				code = one;
			free((char *)opt.kpi_record);
			free(out);
		}
		pf_strv_free(targets, n_targets);
	}
	pf_attest_key_free(sign_key);
	pf_attest_key_free(remote_key);
	return pf_cli_finish_stdout(code);
}
