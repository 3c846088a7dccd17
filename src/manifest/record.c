/*
 * Disposal of the run record (record.h): every string and array a run, the
 * hub, the verifier or the provenance readers stored in it. Called once per
 * run; all the free functions accept zeroed or partly filled records.
 */
#include "manifest/record.h"

#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

void pf_gate_result_dispose(pf_gate_result *g)
{
	if (!g)
		return;
	free(g->name);
	free(g->expected);
	free(g->actual);
	free(g->message);
	pf_strv_free(g->values, g->n_values);
	memset(g, 0, sizeof(*g));
}

void pf_artifact_result_dispose(pf_artifact_result *a)
{
	if (!a)
		return;
	free(a->path);
	free(a->kind);
	pf_pte_info_free(a->structure);
	for (size_t i = 0; i < a->n_gates; i++)
		pf_gate_result_dispose(&a->gates[i]);
	free(a->gates);
	free(a->produced_by);
	memset(a, 0, sizeof(*a));
}

void pf_prediction_free(pf_prediction *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_artifacts; i++) {
		free(p->artifacts[i].path);
		free(p->artifacts[i].rel);
		free(p->artifacts[i].kind);
	}
	free(p->artifacts);
	free(p->module);
	free(p->model_json);
	free(p);
}

static void step_dispose(pf_step_record *s)
{
	pf_prediction_free(s->prediction);
	free(s->name);
	pf_strv_free(s->argv, s->n_argv);
	free(s->log_path);
	free(s->result_json);
	free(s->cache_reason);
	free(s->cache_origin_utc);
}

static void model_free(pf_model_record *m)
{
	if (!m)
		return;
	free(m->repo);
	free(m->repo_type);
	free(m->revision);
	free(m->commit);
	free(m->endpoint);
	free(m->snapshot_dir);
	for (size_t i = 0; i < m->n_files; i++) {
		free(m->files[i].path);
		free(m->files[i].etag);
	}
	free(m->files);
	free(m);
}

void pf_run_record_dispose(pf_run_record *rec)
{
	if (!rec)
		return;
	free(rec->pteflow_version);
	free(rec->pipeline_name);
	free(rec->pipeline_path);
	free(rec->target);
	free(rec->created_utc);
	free(rec->out_dir);
	free(rec->host.os);
	free(rec->host.hostname);
	free(rec->host.guard_auto);
	free(rec->git.repository);
	free(rec->git.commit);
	free(rec->git.branch);
	free(rec->git.describe);
	free(rec->ci.repository);
	free(rec->ci.run_id);
	free(rec->ci.run_attempt);
	free(rec->ci.workflow);
	free(rec->ci.ref);
	free(rec->ci.sha);
	free(rec->ci.runner_os);
	free(rec->ci.job);
	free(rec->ci.server_url);
	model_free(rec->model);
	for (size_t i = 0; i < rec->n_steps; i++)
		step_dispose(&rec->steps[i]);
	free(rec->steps);
	for (size_t i = 0; i < rec->n_artifacts; i++)
		pf_artifact_result_dispose(&rec->artifacts[i]);
	free(rec->artifacts);
	pf_kpi_record_free(rec->kpi);
	free(rec->tool_versions_json);
	free(rec->failure);
	memset(rec, 0, sizeof(*rec));
}

void pf_kpi_record_free(pf_kpi_record *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n_gates; i++) {
		free(k->gates[i].name);
		free(k->gates[i].expected);
		free(k->gates[i].actual);
	}
	free(k->gates);
	free(k->step);
	free(k->preset);
	free(k->failure);
	free(k->measured_json);
	free(k);
}
