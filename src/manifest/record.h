/*
 * The run record: everything pteflow learns during one run, in plain C types.
 * src/run/ fills it, src/verify/ adds artifact results, src/manifest/ writes
 * it to manifest.json (schemas/manifest.schema.json), src/gha/ summarises it.
 * It holds no secret: argv and env are redacted before they are stored here.
 */
#ifndef PF_MANIFEST_RECORD_H
#define PF_MANIFEST_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guard/guard.h"
#include "proc/proc.h"
#include "pte/pte.h"

typedef struct pf_gate_result {
	char *name;     /* "non_empty", "max_size", "min_size", "structure", "methods", "backends", "external_data", "sha256" */
	char *expected; /* human text, e.g. "<= 1.5 GB" */
	char *actual;
	bool passed;
	/* Added by the verify module: machine-readable requirement, so `pteflow verify` can re-check it. */
	char *message;        /* one line when failed: "\"model.pte\" is empty: ...", else NULL */
	uint64_t limit_bytes; /* max_size / min_size: the limit in bytes */
	char **values;        /* methods / backends / external_data: the required names (.ptd paths for external_data) */
	size_t n_values;
} pf_gate_result;

typedef struct pf_artifact_result {
	char *path;          /* relative to the output folder */
	char *kind;          /* "pte", "ptd", "file" */
	bool exists;
	uint64_t size_bytes;
	char sha256[65];
	pf_pte_info *structure; /* NULL for kind file or when missing */
	pf_gate_result *gates;
	size_t n_gates;
	bool passed;
	char *produced_by;   /* name of the step that last ran before it appeared, or NULL */
	uint64_t min_free_ram_bytes; /* device admission figure for .pte */
} pf_artifact_result;

/*
 * A prediction made before a step ran (src/run/predict.c, model in
 * python/pteflow_steps/estimate.py) and what happened: written under the
 * step's "prediction" in manifest.json. Bytes; an interval low <= point <= high.
 */
typedef struct pf_interval {
	uint64_t low, point, high;
} pf_interval;

typedef struct pf_predicted_artifact {
	char *path;              /* as the step writes it (absolute); rel: relative to the output folder, or NULL */
	char *rel;
	char *kind;              /* "pte", "ptd" */
	pf_interval size;
	bool has_runtime;        /* .pte: runtime memory (program + data + planned arenas) predicted */
	pf_interval runtime;
	bool has_actual;         /* the file exists after the step: actual_* are set */
	uint64_t actual_size;
	uint64_t actual_runtime; /* from the file's execution plan (pf_pte_runtime_bytes), 0 when not read */
} pf_predicted_artifact;

typedef struct pf_prediction {
	bool made;               /* the estimator answered for this export step */
	char *module;            /* "export_llm", ... */
	char *model_json;        /* the estimator's "model" object (compact JSON) or NULL */
	pf_interval peak;
	pf_predicted_artifact *artifacts;
	size_t n_artifacts;
	bool used_for_admission; /* the step had no limits.expect: peak.high admitted it */
	bool has_actual_peak;
	uint64_t actual_peak;
} pf_prediction;

typedef struct pf_step_record {
	char *name;
	char **argv;         /* redacted */
	size_t n_argv;
	pf_proc_result result;
	char *log_path;      /* relative to the output folder */
	char *result_json;   /* the step's own JSON result (raw text) if it wrote one, else NULL */
	bool ran;            /* false when skipped after an earlier failure */
	uint64_t expect_bytes;
	uint64_t timeout_ms;
	/* Incremental runs (src/run/incremental.c) */
	bool cached;             /* restored from the store instead of run: result holds the stored run's figures */
	char fingerprint[65];    /* "" when caching was disabled */
	const char *cache_status; /* static: "hit", "miss", "rebuild", "off" (cache: false), "disabled", or NULL */
	char *cache_reason;      /* miss: the first input that differs from the last stored run */
	char *cache_origin_utc;  /* hit: when the stored run happened */
	uint64_t cache_restore_ms; /* hit: time to check and copy the outputs back */
	uint64_t cache_overhead_ms; /* fingerprinting, and on a miss hashing and storing the outputs */
	bool cache_stored;       /* miss: the outputs went into the store */
	uint64_t cache_store_ms; /* miss: the copy into the store, done while the next steps ran */
	const char *cache_source; /* static: hit: "local" or "remote" (restored from the remote store); else NULL */
	bool cache_remote_verified; /* remote hit: its record's signature verified with --remote-key */
	int cache_remote_stored; /* miss, writable remote store: 1 pushed, -1 not; 0 no push tried */
	pf_prediction *prediction; /* NULL when none was made (not an export step, or the estimator failed) */
} pf_step_record;

/* One runtime KPI gate (issue 17): what the pipeline asked, what the step measured. */
typedef struct pf_kpi_gate {
	char *name;      /* "measured", "crash", "ttft_max", "decode_min_tps", "prefill_min_tps", "load_max",
	                    "runtime_memory_max", "soak_turns", "soak_duration", "soak_max_growth" */
	const char *unit; /* static: "ms", "s", "tokens/s", "bytes", "turns", "crashes", NULL */
	double limit;
	double value;
	bool has_value;  /* false: not measured (the gate fails) */
	char *expected;  /* "<= 200 ms" */
	char *actual;    /* "183.2 ms", "not measured" */
	bool passed;
} pf_kpi_gate;

/* The KPI section of a run: the gates of the step that carries `kpi:` and what it measured. */
typedef struct pf_kpi_record {
	char *step;
	char *preset;        /* NULL when none */
	pf_kpi_gate *gates;
	size_t n_gates;
	bool passed;
	char *failure;       /* one line naming the first failed gate, or NULL */
	char *measured_json; /* the step result's "kpi" object (compact JSON), or NULL */
} pf_kpi_record;

typedef struct pf_model_file {
	char *path;          /* path in the repo */
	uint64_t size_bytes;
	char sha256[65];
	char *etag;
	bool lfs;
	bool from_cache;
} pf_model_file;

typedef struct pf_model_record {
	char *repo;
	char *repo_type;
	char *revision;
	char *commit;
	char *endpoint;      /* the Hub endpoint used (never with credentials) */
	char *snapshot_dir;
	pf_model_file *files;
	size_t n_files;
	uint64_t duration_ms;
	uint64_t bytes_downloaded;
} pf_model_record;

typedef struct pf_git_record {
	bool present;
	char *repository;    /* work tree path relative to nothing: the remote "origin" URL without credentials, else the folder name */
	char *commit;
	char *branch;        /* NULL when detached */
	bool dirty;
	char *describe;      /* tag-based description or NULL */
} pf_git_record;

typedef struct pf_ci_record {
	bool present;        /* GITHUB_ACTIONS=true */
	char *repository, *run_id, *run_attempt, *workflow, *ref, *sha, *runner_os, *job, *server_url;
} pf_ci_record;

typedef struct pf_host_record {
	char *os;            /* "Linux 6.1.0 x86_64" */
	char *hostname;
	unsigned cpu_count;
	uint64_t memory_bytes;
	uint64_t memory_available_bytes;
	char *guard_auto;    /* what auto picks here */
} pf_host_record;

typedef struct pf_run_record {
	char *pteflow_version;
	char *pipeline_name;
	char *pipeline_path;
	char pipeline_sha256[65];
	char *target;        /* NULL when none */
	char *created_utc;   /* RFC 3339 */
	char *out_dir;       /* absolute, for messages only; not written to the manifest */
	pf_host_record host;
	pf_git_record git;
	pf_ci_record ci;
	pf_model_record *model; /* NULL when the pipeline has no model */
	pf_step_record *steps;
	size_t n_steps;
	pf_artifact_result *artifacts;
	size_t n_artifacts;
	pf_kpi_record *kpi;  /* NULL when no step carries kpi: */
	char *tool_versions_json; /* {"python": "...", "torch": "...", "executorch": "..."} merged from step results; may be NULL */
	uint64_t duration_ms;
	bool passed;
	char *failure;       /* one line: why the run failed, or NULL */
} pf_run_record;

void pf_run_record_dispose(pf_run_record *rec);
void pf_prediction_free(pf_prediction *p);
void pf_artifact_result_dispose(pf_artifact_result *a);
void pf_gate_result_dispose(pf_gate_result *g);
void pf_kpi_record_free(pf_kpi_record *k);

#endif
