/*
 * `pteflow explain`: which steps a run would restore from the store and, for
 * the others, the input that changed (or `limits`: stored beyond this run's
 * limits). Offline: the model is read from the local Hugging Face cache only.
 * Shares the run's preparation (internal.h) so both fingerprint alike.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "hub/hub.h"
#include "run/incremental.h"
#include "run/internal.h"
#include "run/run.h"
#include "run/steps_env.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
/* The model as the local Hugging Face cache has it (no request), for the fingerprints. */
static void explain_model(run_ctx *c, pf_explain_report *r)
{
	const pf_model_source *m = c->plan->model;
	pf_hub_options ho;
	run_hub_options(&ho, m);
	ho.offline = true;
	if (pf_hub_fetch(&c->rec->model, &ho) == 0) {
		c->ictx.model_dir = c->rec->model->snapshot_dir;
		c->ictx.model_commit = c->rec->model->commit;
		c->inc.model = c->rec->model;
		return;
	}
	r->note = pf_xasprintf("model \"%s\" at \"%s\" is not in the local cache (%s): the steps that read it would "
	                       "run after it is fetched",
	                       m->hf, m->revision ? m->revision : "main", pf_error_last());
	c->ictx.model_dir = "${model.dir}";
	c->ictx.model_commit = "${model.commit}";
}

/* One step: its fingerprint and what the store says of it. */
static void explain_step(run_ctx *c, const pf_step *s, pf_explain_step *es)
{
	char **argv = NULL, **envp = NULL;
	char *cwd = NULL, *result_path = pf_xasprintf("%s/steps/%s.result.json", c->out_dir, s->name);
	size_t n_argv = 0;
	pf_fingerprint fp;
	pf_store_entry *e = NULL;
	bool stored;
	pf_fp_init(&fp);
	es->name = pf_xstrdup(s->name);
	es->status = "unknown";
	if (run_expand_argv(&argv, &n_argv, s, &c->ictx, false, NULL) < 0 ||
	    (s->cwd && pf_interp_expand(&cwd, s->cwd, &c->ictx) < 0) ||
	    pf_steps_env_build(&envp, s, &c->ictx, c->steps_path, c->out_dir, result_path) < 0 ||
	    pf_inc_fingerprint(&fp, &c->inc, s, argv, n_argv, envp, cwd) < 0) {
		es->reason = pf_secret_redact(pf_error_last());
		goto later_unknown;
	}
	memcpy(es->fingerprint, fp.sha256, 65);
	if (!s->cache) {
		es->status = "off";
		goto later_unknown;
	}
	stored = pf_store_get(&e, c->inc.store, fp.sha256) == 0;
	if (stored && (es->reason = pf_inc_limits_reason(s, e->peak_bytes, e->wall_ms)) != NULL) {
		/* stored, but beyond this run's limits: it would run under its guard */
		es->status = "miss";
		es->component = pf_xstrdup("limits");
		goto later_unknown;
	}
	if (stored) {
		es->status = "hit";
		es->stored_utc = pf_xstrdup(e->created_utc);
		es->stored_wall_ms = e->wall_ms;
		es->stored_peak_bytes = e->peak_bytes;
		pf_inc_add_upstream(&c->inc, e->outputs, e->n_outputs);
		goto done;
	}
	es->status = "miss";
	es->reason = pf_inc_miss_reason(&c->inc, s, &fp, &es->component);
	if (c->inc.upstream_unknown && es->component && !strcmp(es->component, "upstream")) {
		free(es->reason);
		es->reason =
		    pf_xasprintf("it runs after \"%s\", which runs: its outputs decide", c->inc.upstream_after);
	}
later_unknown:
	/* what this step writes is unknown until it runs: the steps after it cannot be looked up exactly */
	if (!c->inc.upstream_unknown) {
		c->inc.upstream_unknown = true;
		c->inc.upstream_after = pf_xstrdup(s->name);
	}
done:
	pf_store_entry_free(e);
	pf_fp_dispose(&fp);
	pf_strv_free(argv, n_argv);
	pf_strv0_free(envp);
	free(cwd);
	free(result_path);
}

int pf_run_explain(pf_explain_report *out, const pf_run_options *opt)
{
	run_ctx c;
	pf_run_record rec;
	int rc;
	memset(&c, 0, sizeof(c));
	memset(&rec, 0, sizeof(rec));
	memset(out, 0, sizeof(*out));
	c.opt = opt;
	c.rec = &rec;
	if ((rc = run_prepare(&c, &rec, opt)) < 0)
		goto done;
	c.workdir = opt->workdir ? pf_fs_absolute(opt->workdir) : pf_xstrdup(c.out_dir);
	c.ictx.workdir = c.workdir;
	if ((rc = pf_store_open(&c.inc.store, opt->store_dir)) < 0)
		goto done;
	out->pipeline = pf_xstrdup(c.plan->name);
	out->target = opt->target ? pf_xstrdup(opt->target) : NULL;
	out->store_dir = pf_xstrdup(pf_store_dir(c.inc.store));
	if (c.plan->model)
		explain_model(&c, out);
	out->steps = pf_xcalloc(c.plan->n_steps + 1, sizeof(pf_explain_step));
	out->n_steps = c.plan->n_steps;
	for (size_t i = 0; i < c.plan->n_steps; i++)
		explain_step(&c, &c.plan->steps[i], &out->steps[i]);
done:
	run_ctx_dispose(&c);
	pf_run_record_dispose(&rec);
	if (rc < 0)
		pf_explain_report_dispose(out);
	return rc;
}

void pf_explain_report_dispose(pf_explain_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_steps; i++) {
		free(r->steps[i].name);
		free(r->steps[i].reason);
		free(r->steps[i].component);
		free(r->steps[i].stored_utc);
	}
	free(r->steps);
	free(r->pipeline);
	free(r->target);
	free(r->store_dir);
	free(r->note);
	memset(r, 0, sizeof(*r));
}
