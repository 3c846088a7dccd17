/*
 * The run's runtime KPI verdict (issue 17): after the steps, the gates of the
 * step that carries `kpi:` are evaluated on the result it wrote
 * (src/verify/kpi.c) and recorded in rec->kpi; a failed gate fails the run
 * (exit 1) with a message naming it. Also runs when the measuring step
 * failed or never ran: the manifest then says the KPIs were not measured.
 * One step per run, a few gates: no workload.
 */
#include <stdlib.h>
#include <string.h>

#include "gha/gha.h"
#include "run/internal.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/text.h"
#include "verify/verify.h"

void run_evaluate_kpi(run_ctx *c)
{
	pf_run_record *rec = c->rec;
	for (size_t i = 0; i < c->plan->n_steps && i < rec->n_steps; i++) {
		const pf_step *s = &c->plan->steps[i];
		const pf_step_record *sr = &rec->steps[i];
		if (!s->kpi)
			continue;
		rec->kpi = pf_verify_kpi(s->name, s->kpi, sr->ran ? sr->result_json : NULL);
		if (rec->kpi->passed)
			return;
		if (!rec->failure)
			rec->failure = pf_secret_redact(rec->kpi->failure);
		else
			pf_log_error("%s", rec->kpi->failure);
		rec->passed = false;
		pf_gha_annotate("error", c->plan->path, s->kpi->pos.line, s->kpi->pos.col, "KPI gate failed",
				rec->kpi->failure);
		return;
	}
}

int run_check_kpi_record(run_ctx *c)
{
	if (!c->opt->kpi_record)
		return 0;
	for (size_t i = 0; i < c->plan->n_steps; i++)
		if (c->plan->steps[i].kpi)
			return 0;
	return pf_error_code(PF_EINVALID, "--kpi-record \"%s\": pipeline \"%s\" has no step with a kpi: block to record; "
			     "add one (see README, Runtime KPI gates) or drop --kpi-record",
			     c->opt->kpi_record, c->plan->name);
}
