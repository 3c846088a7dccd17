/*
 * The orchestration of one pipeline run: load and validate the plan, fetch
 * the model, run each step under its guard, verify the artifacts, write the
 * manifest, report to GitHub Actions. The CLI's `run` command is a thin
 * wrapper around pf_run_pipeline().
 */
#ifndef PF_RUN_RUN_H
#define PF_RUN_RUN_H

#include <stdbool.h>

#include "attest/attest.h"
#include "guard/guard.h"
#include "manifest/record.h"

typedef struct pf_run_options {
	const char *pipeline_path;
	const char *out_dir;      /* NULL = out/<pipeline name>[/<target>] */
	const char *target;       /* NULL = the pipeline as written */
	const char *python;       /* NULL = $PTEFLOW_PYTHON, the cached venv, then python3 */
	const char *workdir;      /* NULL = the output folder */
	pf_guard_mode guard_mode;
	bool dry_run;
	bool force;               /* run steps even when admission says memory is short */
	bool offline;             /* model source from the cache only */
	bool echo;                /* echo step output live (default on) */
	int jobs;                 /* download parallelism; 0 = default */
	const pf_attest_key *sign_key; /* signs provenance.intoto.jsonl; NULL = written unsigned */
} pf_run_options;

/*
 * Run the pipeline. Returns 0 when every step and gate passed; PF_EFAILED
 * when a step or gate failed (rec->failure says which); PF_EINVALID for an
 * invalid pipeline; PF_EENV for an environment problem; PF_EINTR when
 * interrupted. rec is filled as far as the run got, and the manifest is
 * written (atomically) whenever the output folder could be created.
 */
int pf_run_pipeline(pf_run_record *rec, const pf_run_options *opt);

/* The interpreter ${python} resolves to (heap; caller frees). */
char *pf_run_find_python(const char *override);

/* Fill the host part of the record (OS, CPUs, memory, what guard auto picks). */
void pf_run_host(pf_host_record *out);

#endif
