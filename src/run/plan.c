/*
 * `pteflow plan`: predict a pipeline before anything runs. Loads the
 * pipeline (one target), fetches only the model's config.json (into the
 * normal Hugging Face cache; no weights), expands each step's command line
 * as `run` would, asks the estimator (predict.c) about every export step,
 * and sets each prediction beside the gates it will meet: the step's
 * limits.memory and each artifact's max_size/min_size.
 *
 * A breach is a point prediction past a gate; "at risk" is an interval that
 * crosses one. Workload: one small download and one short Python start per
 * export step.
 */
#define _GNU_SOURCE
#include "run/predict.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub/hub.h"
#include "pipeline/interp.h"
#include "pipeline/pipeline.h"
#include "run/steps_env.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

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

/* config.json alone, at the pipeline's revision, through the same downloader and cache as `run`. */
static int fetch_config(pf_model_record **out, const pf_model_source *m, const pf_run_options *opt)
{
	static const char *const only[] = {"config.json"};
	pf_hub_options ho;
	memset(&ho, 0, sizeof(ho));
	ho.repo_id = m->hf;
	ho.repo_type = m->repo_type;
	ho.revision = m->revision;
	ho.include = only;
	ho.n_include = 1;
	ho.jobs = 1;
	ho.offline = opt->offline;
	pf_log_info("fetching config.json of \"%s\" at \"%s\" (no weights)", m->hf, m->revision ? m->revision : "main");
	return pf_hub_fetch(out, &ho);
}

/* The step's environment; when its own env: cannot be expanded here (an unset ${env.HF_TOKEN}), without it. */
static int step_env(char ***envp, const pf_step *s, const pf_interp_ctx *ictx, const char *steps_path,
                    const char *out_dir)
{
	char *scratch = pf_xasprintf("%s/steps/%s.estimate.json", out_dir, s->name);
	int rc = pf_steps_env_build(envp, s, ictx, steps_path, out_dir, scratch);
	if (rc < 0) {
		pf_step bare = *s;
		bare.env = NULL;
		bare.n_env = 0;
		rc = pf_steps_env_build(envp, &bare, ictx, steps_path, out_dir, scratch);
	}
	free(scratch);
	return rc;
}

static void judge_step(pf_plan_report *r, pf_plan_step *ps)
{
	const pf_prediction *p = ps->prediction;
	if (!p || !ps->memory_limit_bytes)
		return;
	if (p->peak.point > ps->memory_limit_bytes)
		ps->breach = true;
	else if (p->peak.high > ps->memory_limit_bytes)
		ps->at_risk = true;
	r->n_breaches += ps->breach;
	r->n_at_risk += ps->at_risk;
}

static void judge_artifacts(pf_plan_report *r, const pf_plan *plan)
{
	r->artifacts = pf_xcalloc(plan->n_artifacts + 1, sizeof(*r->artifacts));
	r->n_artifacts = plan->n_artifacts;
	for (size_t i = 0; i < plan->n_artifacts; i++) {
		const pf_artifact *a = &plan->artifacts[i];
		pf_plan_artifact *x = &r->artifacts[i];
		x->path = pf_xstrdup(a->path);
		x->kind = pf_xstrdup(pf_artifact_kind_name(a->kind));
		x->max_size = a->max_size;
		x->min_size = a->min_size;
		/* The last step predicted to write it wins, as the last writer does in a run. */
		for (size_t k = 0; k < r->n_steps; k++) {
			const pf_prediction *p = r->steps[k].prediction;
			for (size_t j = 0; p && j < p->n_artifacts; j++) {
				if (!p->artifacts[j].rel || strcmp(p->artifacts[j].rel, a->path) != 0)
					continue;
				free(x->step);
				x->step = pf_xstrdup(r->steps[k].name);
				x->pred = p->artifacts[j];
				x->pred.path = x->pred.rel = x->pred.kind = NULL;
			}
		}
		if (!x->step)
			continue;
		if ((a->max_size && x->pred.size.point > a->max_size) ||
		    (a->min_size && x->pred.size.point < a->min_size))
			x->breach = true;
		else if ((a->max_size && x->pred.size.high > a->max_size) ||
		         (a->min_size && x->pred.size.low < a->min_size))
			x->at_risk = true;
		r->n_breaches += x->breach;
		r->n_at_risk += x->at_risk;
	}
}

static void predict_steps(pf_plan_report *r, const pf_plan *plan, const pf_interp_ctx *ictx, const char *steps_path,
                          const char *out_dir)
{
	r->steps = pf_xcalloc(plan->n_steps + 1, sizeof(*r->steps));
	r->n_steps = plan->n_steps;
	for (size_t i = 0; i < plan->n_steps; i++) {
		const pf_step *s = &plan->steps[i];
		pf_plan_step *ps = &r->steps[i];
		char **argv = pf_xcalloc(s->n_argv + 1, sizeof(char *)), **envp = NULL;
		size_t n = 0;
		int rc = 0;
		ps->name = pf_xstrdup(s->name);
		ps->memory_limit_bytes = s->limits.memory_bytes;
		ps->expect_bytes = s->limits.expect_bytes;
		for (; n < s->n_argv && rc == 0; n++)
			rc = pf_interp_expand(&argv[n], s->argv[n], ictx);
		if (rc < 0) {
			ps->note = pf_xasprintf("its command line cannot be expanded here: %s", pf_error_last());
		} else if (s->shell || !pf_predict_applies(argv, n)) {
			ps->note = pf_xstrdup("not an export step the estimator models");
		} else if ((rc = step_env(&envp, s, ictx, steps_path, out_dir)) < 0 ||
		           (rc = pf_predict_step(&ps->prediction, argv, n, envp, NULL, out_dir)) < 0) {
			char *why = pf_secret_redact(pf_error_last());
			ps->note = pf_xasprintf("no prediction: %s", why);
			free(why);
			r->n_unpredicted_exports++;
			if (rc == PF_EENV)
				r->env_problem = true;
		} else if (!ps->prediction) {
			ps->note = pf_xstrdup("the estimator does not model this step");
		}
		judge_step(r, ps);
		pf_strv_free(argv, n);
		pf_strv0_free(envp);
	}
}

int pf_run_plan(pf_plan_report *out, const pf_run_options *opt)
{
	pf_plan *plan = NULL;
	pf_diag diag;
	pf_interp_ctx ictx;
	pf_model_record *model = NULL;
	char *out_dir = NULL, *python = NULL, *pipeline_dir = NULL, *steps_path = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&diag, 0, sizeof(diag));
	memset(&ictx, 0, sizeof(ictx));
	if ((rc = pf_pipeline_load(&plan, opt->pipeline_path, &diag)) < 0) {
		pf_diag_dispose(&diag);
		goto done;
	}
	pf_diag_dispose(&diag);
	if (opt->target && (rc = pf_plan_apply_target(plan, opt->target)) < 0) {
		rc = rc == PF_ENOTFOUND ? PF_EINVALID : rc;
		goto done;
	}
	out->pipeline_name = pf_xstrdup(plan->name);
	out->pipeline_path = pf_xstrdup(opt->pipeline_path);
	out->target = opt->target ? pf_xstrdup(opt->target) : NULL;
	{
		char *rel = opt->out_dir  ? pf_xstrdup(opt->out_dir)
		            : opt->target ? pf_xasprintf("out/%s/%s", plan->name, opt->target)
		                          : pf_xasprintf("out/%s", plan->name);
		out_dir = pf_fs_absolute(rel);
		free(rel);
	}
	python = pf_run_find_python(opt->python);
	pipeline_dir = dir_of(opt->pipeline_path);
	steps_path = pf_steps_env_find_package(pipeline_dir);
	ictx.out = out_dir;
	ictx.workdir = out_dir;
	ictx.python = python;
	ictx.pipeline_dir = pipeline_dir;
	ictx.target = opt->target;
	ictx.vars = plan->vars;
	ictx.n_vars = plan->n_vars;
	ictx.register_env_secrets = true;
	if (plan->model) {
		out->model_repo = pf_xstrdup(plan->model->hf);
		out->model_revision = pf_xstrdup(plan->model->revision ? plan->model->revision : "main");
		if ((rc = fetch_config(&model, plan->model, opt)) < 0) {
			rc = pf_error_code(rc == PF_EAUTH || rc == PF_ENOTFOUND ? rc : PF_EENV,
			                   "config.json of \"%s\" could not be fetched: %s", plan->model->hf,
			                   pf_error_last());
			goto done;
		}
		out->model_commit = model->commit ? pf_xstrdup(model->commit) : NULL;
		ictx.model_dir = model->snapshot_dir;
		ictx.model_commit = model->commit;
	}
	predict_steps(out, plan, &ictx, steps_path, out_dir);
	judge_artifacts(out, plan);
	rc = 0;
done:
	pf_model_record_free(model);
	free(out_dir);
	free(python);
	free(pipeline_dir);
	free(steps_path);
	pf_plan_free(plan);
	return rc;
}

void pf_plan_report_dispose(pf_plan_report *r)
{
	for (size_t i = 0; i < r->n_steps; i++) {
		free(r->steps[i].name);
		free(r->steps[i].note);
		pf_prediction_free(r->steps[i].prediction);
	}
	free(r->steps);
	for (size_t i = 0; i < r->n_artifacts; i++) {
		free(r->artifacts[i].path);
		free(r->artifacts[i].kind);
		free(r->artifacts[i].step);
	}
	free(r->artifacts);
	free(r->pipeline_name);
	free(r->pipeline_path);
	free(r->target);
	free(r->model_repo);
	free(r->model_revision);
	free(r->model_commit);
	memset(r, 0, sizeof(*r));
}
