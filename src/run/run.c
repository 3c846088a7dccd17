/*
 * One pipeline run, start to finish, for the `run` command and the tests.
 *
 * The order is fixed: plan -> output folder -> provenance -> model fetch ->
 * steps (each admitted, guarded, timed, logged) -> artifact gates ->
 * manifest + SHA256SUMS (atomic) -> provenance.intoto.jsonl (src/attest/,
 * atomic) -> GitHub Actions summary. A failure at any
 * point still produces a manifest that says what failed, so a CI job always
 * has a record; the manifest is never half-written (pf_fs_write_atomic).
 *
 * Workload: a handful of steps that each run for minutes; nothing here is
 * hot. Memory stays flat: artifacts are hashed and inspected by streaming.
 */
#define _GNU_SOURCE
#include "run/run.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "attest/attest.h"
#include "modelsig/modelsig.h"
#include "gha/gha.h"
#include "hub/hub.h"
#include "manifest/manifest.h"
#include "pipeline/interp.h"
#include "pipeline/pipeline.h"
#include "proc/proc.h"
#include "cache/snapshot.h"
#include "run/incremental.h"
#include "run/internal.h"
#include "run/predict.h"
#include "run/steps_env.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "vcs/vcs.h"
#include "verify/hash.h"
#include "verify/verify.h"

#define STEP_RESULT_MAX_BYTES (1024u * 1024u)

/* pf_run_find_python and pf_run_host: host.c */

/* out/<name>[/<target>] unless the user chose a folder. */
static char *default_out_dir(const pf_plan *plan, const char *target)
{
	if (target)
		return pf_xasprintf("out/%s/%s", plan->name, target);
	return pf_xasprintf("out/%s", plan->name);
}

static char *dir_of(const char *path)
{
	char *abs = pf_fs_absolute(path);
	char *slash = strrchr(abs, '/');
	if (slash && slash != abs)
		*slash = '\0';
	else if (slash)
		slash[1] = '\0';
	return abs;
}

static void record_failure(pf_run_record *rec, const char *fmt, ...) PF_PRINTF(2, 3);

static void record_failure(pf_run_record *rec, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!rec->failure)
		rec->failure = pf_secret_redact(msg);
	rec->passed = false;
}


static uint64_t mtime_of(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return 0;
	return (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec + 1u;
}

static void snapshot_artifacts(run_ctx *c)
{
	for (size_t i = 0; i < c->plan->n_artifacts; i++) {
		char *p = pf_fs_join(c->out_dir, c->plan->artifacts[i].path);
		c->artifact_mtimes[i] = mtime_of(p);
		free(p);
	}
}

/* Which artifacts did the step that just ran create or change? Remember its name for them. */
static void attribute_artifacts(run_ctx *c, const char *step, char **produced_by)
{
	for (size_t i = 0; i < c->plan->n_artifacts; i++) {
		char *p = pf_fs_join(c->out_dir, c->plan->artifacts[i].path);
		uint64_t m = mtime_of(p);
		if (m && m != c->artifact_mtimes[i]) {
			free(produced_by[i]);
			produced_by[i] = pf_xstrdup(step);
		}
		free(p);
	}
}

/* The hub options for the plan's model source (fetch, or a look in the cache for explain). */
void run_hub_options(pf_hub_options *ho, const pf_model_source *m)
{
	memset(ho, 0, sizeof(*ho));
	ho->repo_id = m->hf;
	ho->repo_type = m->repo_type;
	ho->revision = m->revision;
	ho->include = (const char *const *)m->include;
	ho->n_include = m->n_include;
	ho->exclude = (const char *const *)m->exclude;
	ho->n_exclude = m->n_exclude;
}

static int fetch_model(run_ctx *c)
{
	const pf_model_source *m = c->plan->model;
	pf_hub_options ho;
	int rc;
	run_hub_options(&ho, m);
	ho.jobs = c->opt->jobs;
	ho.offline = c->opt->offline;
	ho.progress = !pf_log_quiet();
	pf_log_info("fetching \"%s\" at \"%s\"", m->hf, m->revision ? m->revision : "main");
	pf_gha_group_begin("fetch model");
	rc = pf_hub_fetch(&c->rec->model, &ho);
	pf_gha_group_end();
	if (rc < 0) {
		record_failure(c->rec, "model \"%s\" could not be fetched: %s", m->hf, pf_error_last());
		return rc;
	}
	c->ictx.model_dir = c->rec->model->snapshot_dir;
	c->ictx.model_commit = c->rec->model->commit;
	return 0;
}

/* Linux refuses a command line over ARG_MAX (2 MiB with the environment); leave room for the latter */
#define ARGV_TOTAL_MAX (1536u * 1024u)

/* Expand a step's argv; on a dry run a value that cannot be expanded is shown as <template> and the first
 * reason goes to *why (caller frees), not fatal. */
int run_expand_argv(char ***out, size_t *n_out, const pf_step *s, const pf_interp_ctx *ictx, bool dry,
                       char **why)
{
	char **argv = pf_xcalloc(s->n_argv + 1, sizeof(char *));
	size_t total = 0;
	int rc = 0;
	for (size_t i = 0; i < s->n_argv; i++) {
		rc = pf_interp_expand(&argv[i], s->argv[i], ictx);
		if (rc < 0 && dry) {
			if (why && !*why)
				*why = pf_xstrdup(pf_error_last());
			argv[i] = pf_xasprintf("<%s>", s->argv[i]);
			rc = 0;
		}
		if (rc == 0 && (total += strlen(argv[i]) + 1) > ARGV_TOTAL_MAX)
			rc = pf_error_code(PF_EINVALID, "its arguments expand to more than %u KiB, which Linux refuses: "
			                   "pass long values in a file", ARGV_TOTAL_MAX / 1024u);
		if (rc < 0) {
			pf_strv_free(argv, i + (argv[i] != NULL));
			return pf_error_code(PF_EINVALID, "step \"%s\": %s", s->name, pf_error_last());
		}
	}
	*out = argv;
	*n_out = s->n_argv;
	return 0;
}

static void read_step_result(pf_step_record *sr, const char *path)
{
	pf_buf b;
	pf_buf_init(&b, STEP_RESULT_MAX_BYTES);
	if (pf_fs_read_file(&b, path, STEP_RESULT_MAX_BYTES) == 0 && b.len > 0)
		sr->result_json = pf_buf_detach(&b);
	else if (pf_fs_exists(path))
		pf_log_warn("step \"%s\": its result file \"%s\" could not be read: %s", sr->name, path,
			    pf_error_last());
	pf_buf_dispose(&b);
}

static bool wants_rebuild(const pf_run_options *opt, const char *step)
{
	for (size_t i = 0; i < opt->n_rebuild; i++)
		if (!strcmp(opt->rebuild[i], step))
			return true;
	return false;
}

/*
 * Issue 13: predict an export step's peak, sizes and runtime memory before it
 * runs (src/run/predict.c), with the environment and folder the step gets.
 * Never fails the run: without a prediction the step runs as before.
 */
static void predict_step(run_ctx *c, const pf_step *s, char **argv, size_t n_argv, pf_step_record *sr)
{
	char **envp = NULL, *cwd = NULL, *scratch;
	int rc;
	if (s->shell || !pf_predict_applies(argv, n_argv))
		return;
	scratch = pf_xasprintf("%s/steps/%s.estimate.json", c->out_dir, s->name);
	rc = pf_steps_env_build(&envp, s, &c->ictx, c->steps_path, c->out_dir, scratch);
	if (rc == 0 && s->cwd)
		rc = pf_interp_expand(&cwd, s->cwd, &c->ictx);
	if (rc == 0)
		rc = pf_predict_step(&sr->prediction, argv, n_argv, envp, cwd ? cwd : c->workdir, c->out_dir);
	if (rc < 0 && rc != PF_EINTR) {
		char *r = pf_secret_redact(pf_error_last());
		pf_log_warn("step \"%s\": no prediction (%s); it runs as before", s->name, r);
		free(r);
	} else if (sr->prediction) {
		char *lo = pf_format_size(sr->prediction->peak.low), *hi = pf_format_size(sr->prediction->peak.high);
		pf_log_info("step \"%s\": predicted peak memory %s to %s", s->name, lo, hi);
		free(lo);
		free(hi);
		/* No limits.expect: the prediction's upper bound admits the step (a refusal beats a kill minutes in). */
		sr->prediction->used_for_admission = s->limits.expect_bytes == 0;
	}
	free(scratch);
	free(cwd);
	pf_strv0_free(envp);
}

static int run_one_step(run_ctx *c, size_t idx, pf_step_record *sr)
{
	const pf_step *s = &c->plan->steps[idx];
	char **argv = NULL, **envp = NULL;
	size_t n_argv = 0;
	char *log_rel = NULL, *log_abs = NULL, *result_path = NULL, *cwd = NULL, *why = NULL, *setup_error = NULL;
	pf_proc_spec spec;
	pf_snapshot before;
	int rc, lock_fd = -1;

	memset(&before, 0, sizeof(before));
	sr->name = pf_xstrdup(s->name);
	sr->expect_bytes = s->limits.expect_bytes;
	sr->timeout_ms = s->limits.timeout_ms;
	if ((rc = run_expand_argv(&argv, &n_argv, s, &c->ictx, false, NULL)) < 0) {
		record_failure(c->rec, "%s", pf_error_last());
		goto done;
	}
	sr->argv = pf_xcalloc(n_argv + 1, sizeof(char *));
	for (size_t i = 0; i < n_argv; i++)
		sr->argv[i] = pf_secret_redact(argv[i]);
	sr->n_argv = n_argv;

	log_rel = pf_xasprintf("logs/%s.log", s->name);
	log_abs = pf_fs_join(c->out_dir, log_rel);
	result_path = pf_xasprintf("%s/steps/%s.result.json", c->out_dir, s->name);
	unlink(result_path);
	if (s->cwd) {
		if ((rc = pf_interp_expand(&cwd, s->cwd, &c->ictx)) < 0) {
			record_failure(c->rec, "step \"%s\": %s", s->name, pf_error_last());
			goto done;
		}
	}
	if ((rc = pf_steps_env_build(&envp, s, &c->ictx, c->steps_path, c->out_dir, result_path)) < 0) {
		record_failure(c->rec, "step \"%s\": %s", s->name, pf_error_last());
		goto done;
	}
	snapshot_artifacts(c);
	pf_snapshot_take(&before, c->out_dir, pf_inc_skip_names(&c->inc));
	rc = pf_inc_before_step(&c->inc, s, sr, argv, n_argv, envp, cwd, wants_rebuild(c->opt, s->name), &lock_fd);
	if (rc < 0) {
		record_failure(c->rec, "%s", pf_error_last());
		goto done;
	}
	if (rc == 1) {
		char *peak = pf_format_size(sr->result.guard.peak_bytes);
		sr->log_path = pf_xstrdup(log_rel);
		read_step_result(sr, result_path);
		pf_log_info("step \"%s\" (%zu of %zu): restored from the store (fingerprint %.12s, ran %s, peak "
			    "memory %s)", s->name, idx + 1, c->plan->n_steps, sr->fingerprint, sr->cache_origin_utc, peak);
		free(peak);
		rc = 0;
		goto done;
	}
	/* only a step that runs is predicted and admitted: a restored one needs no memory */
	predict_step(c, s, argv, n_argv, sr);
	if (pf_proc_interrupted()) { /* during the estimate: the step does not start */
		record_failure(c->rec, "interrupted before step \"%s\"", s->name);
		rc = PF_EINTR;
		goto done;
	}
	if (s->limits.expect_bytes && (rc = pf_guard_admit(s->name, s->limits.expect_bytes, c->opt->force)) < 0) {
		record_failure(c->rec, "%s", pf_error_last());
		goto done;
	}
	if (sr->prediction && sr->prediction->used_for_admission &&
	    (rc = pf_guard_admit(s->name, sr->prediction->peak.high, c->opt->force)) < 0) {
		record_failure(c->rec, "%s (the figure is the upper bound of pteflow's prediction for this step: set "
				       "limits.expect to decide it yourself)", pf_error_last());
		goto done;
	}
	if (!s->shell && !run_program_exists(argv[0])) {
		rc = pf_error_code(PF_EENV, "step \"%s\": the program \"%s\" was not found: %s", s->name, argv[0],
				   strcmp(argv[0], c->python) == 0
					   ? "run scripts/setup-python.sh or pass --python"
					   : "install it or fix the step's run list");
		record_failure(c->rec, "%s", pf_error_last());
		goto done;
	}

	memset(&spec, 0, sizeof(spec));
	spec.name = s->name;
	spec.argv = argv;
	spec.envp = envp;
	spec.cwd = cwd ? cwd : c->workdir;
	spec.log_path = log_abs;
	spec.echo = c->opt->echo && !pf_log_quiet();
	spec.timeout_ms = s->limits.timeout_ms;
	spec.guard_mode = c->opt->guard_mode;
	spec.memory_limit_bytes = s->limits.memory_bytes;
	spec.sample_ms = c->opt->memory_sample_ms < 0    ? 0
	                 : c->opt->memory_sample_ms == 0 ? PF_SERIES_DEFAULT_MS
	                                                 : (uint32_t)c->opt->memory_sample_ms;

	pf_log_info("step \"%s\" (%zu of %zu): %s", s->name, idx + 1, c->plan->n_steps, sr->argv[0]);
	pf_gha_group_begin(s->name);
	rc = pf_proc_run(&sr->result, &spec);
	pf_gha_group_end();
	if (rc < 0 && rc != PF_EINTR)
		setup_error = pf_xstrdup(pf_error_last()); /* before reading the result file sets another */
	sr->ran = true;
	sr->log_path = pf_xstrdup(log_rel);
	read_step_result(sr, result_path);
	pf_inc_after_step(&c->inc, s, sr, &before, lock_fd);
	lock_fd = -1;
	if (rc < 0 && rc != PF_EINTR) {
		record_failure(c->rec, "step \"%s\" could not run: %s", s->name, setup_error);
		goto done;
	}
	why = pf_proc_describe(&sr->result);
	if (sr->result.end == PF_END_OK) {
		char *peak = pf_format_size(sr->result.guard.peak_bytes);
		char *dur = pf_format_duration(sr->result.wall_ms);
		pf_log_info("step \"%s\" succeeded in %s (peak memory %s, guard %s)", s->name, dur, peak,
			    pf_guard_mode_name(sr->result.guard.mode));
		free(peak);
		free(dur);
		rc = 0;
	} else if (sr->result.end == PF_END_MEMORY) {
		char *limit = pf_format_size(sr->result.guard.limit_bytes);
		char *peak = pf_format_size(sr->result.guard.peak_bytes);
		record_failure(c->rec,
			       "step \"%s\" was killed: it exceeded its memory limit of %s (peak %s, guard %s%s%s); "
			       "raise limits.memory or run on a bigger machine; log: %s",
			       s->name, limit, peak, pf_guard_mode_name(sr->result.guard.mode),
			       sr->result.guard.detail[0] ? ", " : "", sr->result.guard.detail, log_abs);
		free(limit);
		free(peak);
		rc = PF_ELIMIT;
	} else if (sr->result.end == PF_END_TIMEOUT) {
		char *t = pf_format_duration(s->limits.timeout_ms);
		record_failure(c->rec, "step \"%s\" timed out after %s and was stopped with its processes; raise "
				       "limits.timeout if it needs longer; log: %s",
			       s->name, t, log_abs);
		free(t);
		rc = PF_EFAILED;
	} else if (sr->result.end == PF_END_INTERRUPTED) {
		record_failure(c->rec, "interrupted during step \"%s\": the step and its processes were stopped",
			       s->name);
		rc = PF_EINTR;
	} else {
		record_failure(c->rec, "step \"%s\" %s; see its log: %s", s->name, why, log_abs);
		rc = PF_EFAILED;
	}
done:
	if (rc < 0 && !c->rec->failure)
		record_failure(c->rec, "%s", pf_error_last());
	pf_store_unlock(lock_fd);
	pf_snapshot_dispose(&before);
	free(why);
	free(setup_error);
	free(cwd);
	free(log_rel);
	free(log_abs);
	free(result_path);
	pf_strv_free(argv, n_argv);
	pf_strv0_free(envp);
	return rc;
}

static void dry_run_print(run_ctx *c)
{
	printf("pipeline %s (%s)%s%s\n", c->plan->name, c->plan->path, c->opt->target ? ", target " : "",
	       c->opt->target ? c->opt->target : "");
	printf("output folder: %s\npython: %s\n", c->out_dir, c->python);
	if (c->plan->model)
		printf("model: %s at %s (not fetched on a dry run)\n", c->plan->model->hf,
		       c->plan->model->revision ? c->plan->model->revision : "main");
	for (size_t i = 0; i < c->plan->n_steps; i++) {
		const pf_step *s = &c->plan->steps[i];
		char **argv = NULL, *why = NULL;
		size_t n = 0;
		char *mem = pf_format_size(s->limits.memory_bytes);
		char *t = pf_format_duration(s->limits.timeout_ms);
		printf("step %zu: %s (memory %s, timeout %s)\n ", i + 1, s->name,
		       s->limits.memory_bytes ? mem : "unlimited", s->limits.timeout_ms ? t : "none");
		if (run_expand_argv(&argv, &n, s, &c->ictx, true, &why) == 0) {
			for (size_t k = 0; k < n; k++) {
				char *r = pf_secret_redact(argv[k]);
				printf(" %s", r);
				free(r);
			}
			pf_strv_free(argv, n);
		} else {
			char *r = pf_secret_redact(pf_error_last());
			printf(" (cannot be shown: %s)", r);
			free(r);
		}
		printf("\n");
		if (why) {
			char *r = pf_secret_redact(why);
			printf("  not expanded on this host: %s\n", r);
			free(r);
			free(why);
		}
		free(mem);
		free(t);
	}
	for (size_t i = 0; i < c->plan->n_artifacts; i++) {
		const pf_artifact *a = &c->plan->artifacts[i];
		char *mx = pf_format_size_exact(a->max_size);
		printf("artifact: %s (%s%s%s)\n", a->path,
		       pf_artifact_kind_name(a->kind),
		       a->max_size ? ", max " : "", a->max_size ? mx : "");
		free(mx);
	}
}

/* Collect "versions" objects of step results into one JSON object text (first wins per key). */
static char *merge_tool_versions(const pf_run_record *rec);

static const pf_step *find_step(const pf_plan *plan, const char *name)
{
	for (size_t i = 0; i < plan->n_steps; i++)
		if (!strcmp(plan->steps[i].name, name))
			return &plan->steps[i];
	return NULL;
}

int run_prepare(run_ctx *c, pf_run_record *rec, const pf_run_options *opt)
{
	pf_diag diag;
	int rc;
	memset(&diag, 0, sizeof(diag));
	rc = pf_pipeline_load(&c->plan, opt->pipeline_path, &diag);
	if (rc < 0) {
		if (diag.message)
			pf_gha_annotate("error", diag.file, diag.pos.line, diag.pos.col, "invalid pipeline",
					diag.message);
		pf_diag_dispose(&diag);
		return rc;
	}
	pf_diag_dispose(&diag);
	/* An unknown --target is a usage error (exit 2), like an invalid pipeline. */
	if (opt->target && (rc = pf_plan_apply_target(c->plan, opt->target)) < 0)
		return rc == PF_ENOTFOUND ? PF_EINVALID : rc;

	rec->pteflow_version = pf_xstrdup(PTEFLOW_VERSION);
	rec->pipeline_name = pf_xstrdup(c->plan->name);
	rec->pipeline_path = pf_xstrdup(opt->pipeline_path);
	if ((rc = pf_sha256_file(rec->pipeline_sha256, NULL, opt->pipeline_path)) < 0)
		return rc;
	rec->target = opt->target ? pf_xstrdup(opt->target) : NULL;
	rec->created_utc = pf_clock_utc_now();
	rec->passed = true;

	{
		char *rel = opt->out_dir ? pf_xstrdup(opt->out_dir) : default_out_dir(c->plan, opt->target);
		c->out_dir = pf_fs_absolute(rel);
		free(rel);
	}
	rec->out_dir = pf_xstrdup(c->out_dir);
	c->python = pf_run_find_python(opt->python);
	c->pipeline_dir = dir_of(opt->pipeline_path);
	c->steps_path = pf_steps_env_find_package(c->pipeline_dir);
	c->ictx.out = c->out_dir;
	c->ictx.python = c->python;
	c->ictx.pipeline_dir = c->pipeline_dir;
	c->ictx.target = opt->target;
	c->ictx.vars = c->plan->vars;
	c->ictx.n_vars = c->plan->n_vars;
	c->ictx.register_env_secrets = true;
	c->artifact_mtimes = pf_xcalloc(c->plan->n_artifacts + 1, sizeof(uint64_t));
	c->inc.pipeline_name = c->plan->name;
	c->inc.target = opt->target;
	c->inc.ictx = &c->ictx;
	c->inc.steps_path = c->steps_path;
	c->inc.manifest_name = c->plan->manifest ? c->plan->manifest : "manifest.json";
	for (size_t i = 0; i < opt->n_rebuild; i++)
		if (!find_step(c->plan, opt->rebuild[i]))
			return pf_error_code(PF_EINVALID, "--rebuild \"%s\": the pipeline has no step of that name", opt->rebuild[i]);
	return 0;
}

/* The store for this run, unless --no-cache; a store that cannot be used is a warning, never a failure. */
static void open_store(run_ctx *c)
{
	if (c->opt->no_cache)
		return;
	if (pf_store_open(&c->inc.store, c->opt->store_dir) < 0) {
		pf_log_warn("%s: the steps run without it", pf_error_last());
		c->inc.store = NULL;
	} else if (run_remote_open(&c->inc.remote, c->opt, c->plan) < 0) {
		pf_log_warn("%s: the run uses the local store only", pf_error_last());
	}
}

/* What prepare() and a run or an explain left in the context (waits for copies into the store). */
void run_ctx_dispose(run_ctx *c)
{
	pf_inc_finish(&c->inc); /* the copies use the store: they end before it is closed */
	pf_store_free(c->inc.store);
	c->inc.store = NULL;
	pf_remote_free(c->inc.remote);
	c->inc.remote = NULL;
	pf_inc_dispose(&c->inc);
	free(c->artifact_mtimes);
	free(c->out_dir);
	free(c->workdir);
	free(c->python);
	free(c->pipeline_dir);
	free(c->steps_path);
	pf_plan_free(c->plan);
}

static int make_out_dir(run_ctx *c)
{
	char *logs = pf_fs_join(c->out_dir, "logs");
	char *steps = pf_fs_join(c->out_dir, "steps");
	int rc = pf_fs_mkdir_p(logs);
	if (rc == 0)
		rc = pf_fs_mkdir_p(steps);
	if (rc == 0 && access(c->out_dir, W_OK) != 0)
		rc = pf_error_errno("the output folder \"%s\" is not writable", c->out_dir);
	if (rc < 0)
		rc = pf_error_code(PF_EENV, "cannot use the output folder: %s", pf_error_last());
	free(logs);
	free(steps);
	return rc;
}

static int run_steps(run_ctx *c, char **produced_by)
{
	int rc = 0;
	pf_run_record *rec = c->rec;
	rec->steps = pf_xcalloc(c->plan->n_steps + 1, sizeof(pf_step_record));
	rec->n_steps = c->plan->n_steps;
	for (size_t i = 0; i < c->plan->n_steps; i++) {
		if (pf_proc_interrupted()) {
			record_failure(rec, "interrupted before step \"%s\"", c->plan->steps[i].name);
			rc = PF_EINTR;
			break;
		}
		rc = run_one_step(c, i, &rec->steps[i]);
		if (rec->steps[i].ran)
			attribute_artifacts(c, c->plan->steps[i].name, produced_by);
		if (rc < 0) {
			for (size_t k = i + 1; k < c->plan->n_steps; k++)
				rec->steps[k].name = pf_xstrdup(c->plan->steps[k].name);
			break;
		}
	}
	return rc;
}

static int verify_and_summarise(run_ctx *c, char **produced_by)
{
	pf_run_record *rec = c->rec;
	int rc = pf_verify_artifacts(&rec->artifacts, &rec->n_artifacts, c->plan, c->out_dir);
	if (rc < 0) {
		record_failure(rec, "artifacts could not be checked: %s", pf_error_last());
		return rc;
	}
	for (size_t i = 0; i < rec->n_artifacts; i++) {
		pf_artifact_result *a = &rec->artifacts[i];
		for (size_t k = 0; k < c->plan->n_artifacts && k < rec->n_artifacts; k++)
			if (produced_by[k] && !strcmp(c->plan->artifacts[k].path, a->path) && !a->produced_by)
				a->produced_by = pf_xstrdup(produced_by[k]);
		if (!a->passed) {
			for (size_t g = 0; g < a->n_gates; g++) {
				if (a->gates[g].passed)
					continue;
				/* The first failure is printed by the caller as the run's reason; log the others here. */
				if (rec->failure && a->gates[g].message) {
					pf_log_error("%s", a->gates[g].message);
				} else if (a->gates[g].message) {
					record_failure(rec, "%s", a->gates[g].message);
				} else {
					if (rec->failure)
						pf_log_error("artifact \"%s\" failed its %s gate: expected %s, got %s",
							     a->path, a->gates[g].name,
							     a->gates[g].expected ? a->gates[g].expected : "-",
							     a->gates[g].actual ? a->gates[g].actual : "-");
					record_failure(rec, "artifact \"%s\" failed its %s gate: expected %s, got %s",
						       a->path, a->gates[g].name,
						       a->gates[g].expected ? a->gates[g].expected : "-",
						       a->gates[g].actual ? a->gates[g].actual : "-");
				}
				pf_gha_annotate("error", c->plan->path, c->plan->artifacts[i].pos.line,
						c->plan->artifacts[i].pos.col, "gate failed",
						a->gates[g].message ? a->gates[g].message : rec->failure);
			}
		}
	}
	return 0;
}

/*
 * provenance.intoto.jsonl beside the manifest (src/attest/), after it: the
 * statement records the manifest's digest. When it cannot be written the run
 * fails like a manifest that cannot be: rec->passed turns false (and the
 * caller writes the manifest again so it says so).
 */
static int write_provenance(run_ctx *c)
{
	pf_attest_params ap = {.vars = c->plan->vars, .n_vars = c->plan->n_vars, .out_dir = c->out_dir,
			       .manifest_name = c->plan->manifest ? c->plan->manifest : "manifest.json",
			       .sign_key = c->opt->sign_key};
	int rc = pf_attest_write_run(c->rec, &ap);
	if (rc < 0)
		c->rec->passed = false;
	return rc;
}

/*
 * model.sig (src/modelsig/, OpenSSF model signing) beside the manifest, before
 * the provenance (which it lists as ignored): written for a run that passed
 * with an ECDSA key, removed otherwise. A failure fails the run as the
 * provenance's does.
 */
static int write_model_sig(run_ctx *c)
{
	int rc = pf_modelsig_write_run(c->rec, c->out_dir, c->plan->manifest ? c->plan->manifest : "manifest.json",
				       c->opt->kpi_record, c->opt->sign_key, c->started_unix_ns);
	if (rc < 0)
		c->rec->passed = false;
	return rc;
}

int pf_run_pipeline(pf_run_record *rec, const pf_run_options *opt)
{
	run_ctx c;
	char **produced_by = NULL;
	char *manifest_path = NULL;
	const char *what = "manifest";
	uint64_t t0 = pf_clock_mono_ms();
	int rc, mrc;

	memset(&c, 0, sizeof(c));
	memset(rec, 0, sizeof(*rec));
	c.opt = opt;
	c.rec = rec;
	{
		/* the coarse clock is the one the kernel stamps files with: a file a step writes is never older */
#ifdef CLOCK_REALTIME_COARSE
		clockid_t clock = CLOCK_REALTIME_COARSE;
#else
		clockid_t clock = CLOCK_REALTIME;
#endif
		struct timespec now;
		if (clock_gettime(clock, &now) == 0)
			c.started_unix_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	}
	if ((rc = run_prepare(&c, rec, opt)) < 0 || (rc = run_check_kpi_record(&c)) < 0)
		goto done;
	c.workdir = opt->workdir ? pf_fs_absolute(opt->workdir) : pf_xstrdup(c.out_dir);
	c.ictx.workdir = c.workdir;
	if (opt->dry_run) {
		dry_run_print(&c);
		rc = 0;
		goto done;
	}
	if ((rc = make_out_dir(&c)) < 0)
		goto done;
	(void)pf_guard_remove_stale(); /* cgroups of earlier runs that were killed with their supervisor */

	pf_run_host(&rec->host);
	pf_vcs_describe(&rec->git, c.pipeline_dir);
	pf_gha_context(&rec->ci);
	produced_by = pf_xcalloc(c.plan->n_artifacts + 1, sizeof(char *));

	open_store(&c);
	rc = c.plan->model ? fetch_model(&c) : 0;
	c.inc.model = rec->model;
	if (rc == 0) {
		if (!c.plan->model)
			c.ictx.model_dir = NULL;
		rc = run_steps(&c, produced_by);
	} else {
		pf_log_error("%s", rec->failure ? rec->failure : pf_error_last());
	}
	/* Gates run even after a failed step: the manifest then says what exists and what does not. */
	mrc = verify_and_summarise(&c, produced_by);
	if (rc != PF_EINTR)
		run_evaluate_kpi(&c); /* after the artifact gates: their failure, when any, stays the run's reason */
	pf_inc_finish(&c.inc); /* the manifest says whether each step's outputs were stored */
	if (rc == 0 && mrc < 0)
		rc = mrc;
	/* Predictions: what was measured (issue 13). The model predicts resident memory (see predict.h). */
	for (size_t i = 0; i < rec->n_steps; i++)
		pf_predict_settle(rec->steps[i].prediction, rec, rec->steps[i].ran && rec->steps[i].result.end == PF_END_OK,
				  rec->steps[i].result.maxrss_bytes);
	if (rc == 0 && !rec->passed)
		rc = PF_EFAILED;
	rec->tool_versions_json = merge_tool_versions(rec);
	rec->duration_ms = pf_clock_mono_ms() - t0;
	rec->passed = rec->passed && rc == 0;

	manifest_path = pf_fs_join(c.out_dir, c.plan->manifest ? c.plan->manifest : "manifest.json");
	mrc = pf_manifest_write(rec, c.out_dir, c.plan->manifest ? c.plan->manifest : "manifest.json");
	if (mrc == 0 && (mrc = write_model_sig(&c)) < 0)
		what = "model signature";
	if (mrc == 0 && (mrc = write_provenance(&c)) < 0)
		what = "provenance";
	if (mrc < 0) {
		/* nothing half-written stays (atomic writes), and the run does not pass without its record */
		char *why = pf_xasprintf("the %s could not be written: %s", what, pf_error_last());
		rec->passed = false;
		if (rc == 0) {
			rc = mrc == PF_EENV ? PF_EENV : PF_EFAILED;
			free(rec->failure);
			rec->failure = why; /* reported once, by the caller */
		} else {
			pf_log_error("%s", why); /* the earlier failure stays the one reported */
			free(why);
		}
		if (strcmp(what, "manifest") != 0) { /* the manifest then says the run failed, and why */
			(void)pf_manifest_write(rec, c.out_dir, c.plan->manifest ? c.plan->manifest : "manifest.json");
			/* a failed run signs nothing: both remove what an earlier run left */
			(void)write_model_sig(&c);
			(void)write_provenance(&c);
		}
	} else {
		pf_log_info("manifest: %s", manifest_path);
	}
	if (opt->kpi_record && (mrc = pf_manifest_write_kpi_record(rec, opt->kpi_record)) < 0) {
		pf_log_error("%s", pf_error_last()); /* the manifest stands; the run fails for want of its records */
		rec->passed = false;
		if (rc == 0)
			rc = mrc == PF_EENV ? PF_EENV : PF_EFAILED;
	}
	if (pf_gha_active())
		pf_gha_summary(rec, manifest_path);
	if (rc < 0 && rec->failure)
		pf_error_set("%s", rec->failure);
done:
	if (produced_by && c.plan)
		pf_strv_free(produced_by, c.plan->n_artifacts);
	free(manifest_path);
	run_ctx_dispose(&c);
	return rc;
}

/*
 * The first step result that reports "versions" (python, torch, executorch)
 * gives the run's tool versions. Parsed with a length; results are capped at
 * STEP_RESULT_MAX_BYTES when read.
 */
static char *merge_tool_versions(const pf_run_record *rec)
{
	for (size_t i = 0; i < rec->n_steps; i++) {
		const char *text = rec->steps[i].result_json;
		cJSON *root, *v;
		char *out = NULL;
		if (!text)
			continue;
		root = cJSON_ParseWithLength(text, strlen(text));
		v = root ? cJSON_GetObjectItemCaseSensitive(root, "versions") : NULL;
		if (cJSON_IsObject(v))
			out = cJSON_PrintUnformatted(v);
		cJSON_Delete(root);
		if (out) {
			char *copy = pf_xstrdup(out);
			cJSON_free(out);
			return copy;
		}
	}
	return NULL;
}
