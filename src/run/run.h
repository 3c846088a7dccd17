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
	bool no_cache;            /* neither restore from nor write to the store */
	const char *store_dir;    /* NULL = $PTEFLOW_STORE or the default */
	const char *const *rebuild; /* steps to run even when the store has them */
	size_t n_rebuild;
	const pf_attest_key *sign_key; /* signs provenance.intoto.jsonl and remote store records; NULL = unsigned */
	const char *remote_store;  /* NULL = $PTEFLOW_REMOTE_STORE, then the pipeline's store.remote, else none */
	const char *remote_mode;   /* "read", "readwrite"; NULL = $PTEFLOW_REMOTE_STORE_MODE, store.mode, default */
	const pf_attest_key *remote_key; /* records from the remote store must be signed by it; NULL = unverified */
	uint64_t remote_upload_timeout_ms; /* 0 = store.upload_timeout, else the default */
	const char *kpi_record;   /* write the KPI figures here as ExecuTorch benchmark v3 records; NULL = not */
	int memory_sample_ms;     /* memory series interval: 0 = PF_SERIES_DEFAULT_MS, < 0 = none */
} pf_run_options;

/*
 * Run the pipeline. Returns 0 when every step and gate passed; PF_EFAILED
 * when a step or gate failed (rec->failure says which); PF_EINVALID for an
 * invalid pipeline; PF_EENV for an environment problem; PF_EINTR when
 * interrupted. rec is filled as far as the run got, and the manifest is
 * written (atomically) whenever the output folder could be created.
 */
int pf_run_pipeline(pf_run_record *rec, const pf_run_options *opt);

/* What `pteflow explain` finds for one step. */
typedef struct pf_explain_step {
	char *name;
	const char *status;       /* static: "hit", "miss", "off" (cache: false), "unknown" (cannot be fingerprinted) */
	char fingerprint[65];     /* "" when unknown */
	char *reason;             /* miss: the first input that differs; unknown: why */
	char *component;          /* miss: that input's component ("command", "steps", ...), or NULL */
	char *stored_utc;         /* hit: when the stored run happened */
	uint64_t stored_wall_ms, stored_peak_bytes;
} pf_explain_step;

typedef struct pf_explain_report {
	char *pipeline;
	char *target;             /* NULL when none */
	char *store_dir;
	char *note;               /* e.g. the model is not in the local cache; NULL */
	pf_explain_step *steps;
	size_t n_steps;
} pf_explain_report;

/*
 * For each step of the pipeline (and opt->target): would `run` restore it
 * from the store, or run it, and why. Runs nothing and downloads nothing:
 * the model is looked up in the local Hugging Face cache only. Steps after
 * one that would run depend on its outputs, which are not known yet: they
 * show as misses for that reason unless another input already differs.
 * PF_EINVALID for an invalid pipeline or target, PF_EENV when the store
 * cannot be opened.
 */
int pf_run_explain(pf_explain_report *out, const pf_run_options *opt);
void pf_explain_report_dispose(pf_explain_report *r);

/* The interpreter ${python} resolves to (heap; caller frees). */
char *pf_run_find_python(const char *override);

/* Fill the host part of the record (OS, CPUs, memory, what guard auto picks). */
void pf_run_host(pf_host_record *out);

#endif
