/*
 * The pipeline model: a YAML file (schemas/pipeline.schema.json, version 1)
 * parsed into typed, validated C structs. Every node keeps its source
 * position so later stages (gates, GitHub annotations) can point at the YAML.
 *
 * Ownership: pf_pipeline_load() returns a heap plan freed by pf_plan_free().
 */
#ifndef PF_PIPELINE_PIPELINE_H
#define PF_PIPELINE_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pf_pos {
	int line; /* 1-based; 0 when unknown */
	int col;  /* 1-based */
} pf_pos;

typedef struct pf_limits {
	uint64_t memory_bytes;  /* 0 = not set */
	uint64_t timeout_ms;    /* 0 = not set */
	uint64_t expect_bytes;  /* admission: what the step expects to need; 0 = not set */
	pf_pos pos;
} pf_limits;

typedef struct pf_kv {
	char *key;
	char *value; /* still holds ${...} references; interpolated at run time */
	pf_pos pos;
} pf_kv;

/*
 * Runtime KPI gates of a measuring step (`kpi:` on a step, src/pipeline/kpi.c):
 * pteflow evaluates them on the step's result (src/verify/kpi.c). A preset
 * fills every field; keys written next to it replace the preset's value.
 */
typedef struct pf_kpi_gates {
	char *preset;                      /* "flagship", "mid-range" or NULL */
	uint64_t ttft_max_us;              /* 0 = no gate (each field); latencies in microseconds */
	double decode_min_tps;
	double prefill_min_tps;
	uint64_t load_max_us;
	uint64_t runtime_memory_max_bytes;
	uint64_t soak_turns;               /* 0 = the step's default */
	uint64_t soak_duration_ms;
	uint64_t soak_max_growth_bytes;    /* 0 = no leak gate */
	pf_pos pos;
} pf_kpi_gates;

typedef struct pf_step {
	char *name;
	char **argv; /* n_argv strings, ${...} not yet interpolated */
	size_t n_argv;
	bool shell;  /* run argv[0] through /bin/sh -c */
	pf_kv *env;
	size_t n_env;
	char *cwd;   /* NULL = the run's work folder */
	pf_limits limits; /* already merged with the pipeline defaults */
	char **inputs; /* paths or globs (${...} allowed) whose content the step reads: part of its fingerprint */
	size_t n_inputs;
	bool cache;    /* false: never restored from or written to the store (cache: false) */
	pf_kpi_gates *kpi; /* NULL when the step measures no KPIs */
	pf_pos pos;
} pf_step;

typedef enum pf_artifact_kind { PF_ARTIFACT_FILE, PF_ARTIFACT_PTE, PF_ARTIFACT_PTD, PF_ARTIFACT_BPTE } pf_artifact_kind;
/* "pte", "ptd", "bpte" or "file", as pipelines and manifests spell the kind. */
const char *pf_artifact_kind_name(pf_artifact_kind kind);

typedef struct pf_artifact {
	char *path;               /* relative to the output folder; no "..", not absolute */
	pf_artifact_kind kind;
	uint64_t max_size;        /* 0 = no gate */
	uint64_t min_size;        /* 0 = only non-empty */
	char **methods;           /* required method names (pte) */
	size_t n_methods;
	char **backends;          /* required delegate ids (pte), e.g. XnnpackBackend */
	size_t n_backends;
	char **data;              /* .ptd artifact paths that must provide this .pte's external keys */
	size_t n_data;
	pf_pos pos;
	unsigned set;             /* PF_ARTIFACT_SET_* bits: the keys the YAML wrote (target overrides) */
} pf_artifact;

enum {
	PF_ARTIFACT_SET_KIND = 1u << 0,
	PF_ARTIFACT_SET_MAX_SIZE = 1u << 1,
	PF_ARTIFACT_SET_MIN_SIZE = 1u << 2,
	PF_ARTIFACT_SET_METHODS = 1u << 3,
	PF_ARTIFACT_SET_BACKENDS = 1u << 4,
	PF_ARTIFACT_SET_DATA = 1u << 5
};

typedef struct pf_model_source {
	char *hf;        /* "org/name" */
	char *revision;  /* default "main" */
	char *repo_type; /* "model" (default), "dataset", "space" */
	char **include;
	size_t n_include;
	char **exclude;
	size_t n_exclude;
	pf_pos pos;
} pf_model_source;

/* A named variant (targets:): overrides variables, limits and gates. */
typedef struct pf_target {
	char *name;
	pf_kv *vars;        /* overrides of the pipeline's vars */
	size_t n_vars;
	pf_limits limits;   /* overrides of the pipeline defaults (0 = keep) */
	pf_artifact *artifacts; /* per-path gate overrides (max_size, min_size, backends, methods) */
	size_t n_artifacts;
	char *runner;       /* suggested runner label, or NULL */
	pf_pos pos;
} pf_target;

/* The pipeline's store: section: settings of the remote store that are not secret (README "Remote store"). */
typedef struct pf_store_settings {
	char *remote;               /* http(s) URL of a Bazel-style HTTP cache, or NULL */
	char *mode;                 /* "read" | "readwrite" | NULL */
	uint64_t upload_timeout_ms; /* 0 = the default */
} pf_store_settings;

typedef struct pf_plan {
	char *path;          /* the YAML file as given */
	char *name;
	int version;
	char *description;   /* may be NULL */
	pf_model_source *model; /* NULL if none */
	pf_limits limits;    /* pipeline defaults */
	pf_kv *vars;         /* user variables, referenced as ${vars.NAME} */
	size_t n_vars;
	pf_step *steps;
	size_t n_steps;
	pf_artifact *artifacts;
	size_t n_artifacts;
	pf_target *targets;
	size_t n_targets;
	char *manifest;      /* manifest file name relative to the output folder; default "manifest.json" */
	pf_store_settings store;
	char *target;        /* name of the target applied by pf_plan_apply_target, or NULL */
} pf_plan;

/* One diagnostic of validation: position, message and a hint with the fix. */
typedef struct pf_diag {
	char *file;
	pf_pos pos;
	char *message;
} pf_diag;

/*
 * Parse and validate a pipeline file. On failure returns PF_EINVALID (bad
 * input), PF_ENOTFOUND or PF_EENV; the last error is
 * "FILE:LINE:COL: message: fix", and *diag (if diag is not NULL) receives the
 * same parts for annotations (free with pf_diag_dispose). *diag is always
 * initialised (empty on success); for a file that cannot be read its pos is
 * 0:0. Only the first problem is reported here (see pf_pipeline_load_all).
 * Bounds: 1 MiB, nesting 32, 10000 entries per list or mapping; anchors,
 * aliases and tags are refused.
 */
int pf_pipeline_load(pf_plan **out, const char *path, pf_diag *diag);
/* Same, from memory; `name` is used in messages. */
int pf_pipeline_parse(pf_plan **out, const char *name, const char *data, size_t len, pf_diag *diag);
void pf_plan_free(pf_plan *plan);
void pf_diag_dispose(pf_diag *diag);

/*
 * Same as pf_pipeline_load, but every problem found is returned (at most 50):
 * sections, steps, artifacts and targets are checked one by one, so
 * independent mistakes are reported together (`pteflow validate`). A YAML
 * syntax error stops at the first. *diags is a heap array of *n_diags entries
 * (0 on success), free with pf_diags_free. The return code and the last error
 * are those of the first problem.
 */
int pf_pipeline_load_all(pf_plan **out, const char *path, pf_diag **diags, size_t *n_diags);
/* Same, from memory. */
int pf_pipeline_parse_all(pf_plan **out, const char *name, const char *data, size_t len, pf_diag **diags,
                          size_t *n_diags);
void pf_diags_free(pf_diag *diags, size_t n);

/*
 * Apply target `name` to the plan (vars, limits, artifact gates). PF_ENOTFOUND
 * with the list of known targets when there is none of that name.
 * A target's limits are the most specific: each one it sets replaces that
 * limit in the pipeline defaults AND in every step (a step's own value
 * included). Its vars replace the pipeline's values; its artifact entries
 * replace the gates they set (max_size, min_size, methods, backends, data)
 * on the pipeline artifact of the same path. Sets plan->target.
 */
int pf_plan_apply_target(pf_plan *plan, const char *name);

/* Units: "1.5GB" (decimal), "6GiB" (binary), "512MiB", "100B", plain integer bytes. No silent rounding: a fraction of a byte is an error. */
int pf_parse_size(uint64_t *out, const char *text);
/* "90s", "30m", "2h", "500ms", "1h30m". */
int pf_parse_duration(uint64_t *out_ms, const char *text);
/* Human forms for messages: "1.5 GiB", "6.0 GiB"; "1h 2m 3s". Caller frees. */
char *pf_format_size(uint64_t bytes);
char *pf_format_duration(uint64_t ms);
/* Shortest exact form that pf_parse_size reads back: "6GiB", "1.5GB", "100B". Caller frees. */
char *pf_format_size_exact(uint64_t bytes);

/* The largest memory limit or expectation over the plan's defaults and steps (0 if none). */
uint64_t pf_plan_memory_need(const pf_plan *plan);
/* The target called `name`, or NULL. */
const pf_target *pf_plan_find_target(const pf_plan *plan, const char *name);

#endif
