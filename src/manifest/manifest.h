/*
 * manifest.json and SHA256SUMS: the durable record of a run, written
 * atomically (temp file, fsync, rename) so no reader sees half of either.
 * Shape: schemas/manifest.schema.json (keep the two in step).
 */
#ifndef PF_MANIFEST_MANIFEST_H
#define PF_MANIFEST_MANIFEST_H

#include "manifest/record.h"

#define PF_MANIFEST_SCHEMA_VERSION 1

/* Render the record as JSON text (heap, caller frees). */
int pf_manifest_render(char **out, const pf_run_record *rec);
/* Write <out_dir>/<manifest_name> and <out_dir>/SHA256SUMS atomically. */
int pf_manifest_write(const pf_run_record *rec, const char *out_dir, const char *manifest_name);

/*
 * Write the run's KPI figures to `path` as ExecuTorch benchmark "v3" records
 * (a JSON list, one record per metric; src/manifest/kpi_record.c), atomically.
 * PF_EINVALID when no step measured KPIs, PF_EENV when it cannot be written.
 */
int pf_manifest_write_kpi_record(const pf_run_record *rec, const char *path);

/* A manifest as read back for verification. */
typedef struct pf_manifest_entry {
	char *path;
	char *kind;
	uint64_t size_bytes;
	char sha256[65];
	uint64_t max_size;   /* 0 = none */
	uint64_t min_size;
	char **methods;
	size_t n_methods;
	char **backends;
	size_t n_backends;
	char **data;         /* .ptd paths that provide external keys */
	size_t n_data;
	bool has_sha256;     /* false when the run recorded the artifact as missing (sha256 null) */
	bool unsafe;         /* the path is absolute or has a ".." component: never opened */
	bool check_external; /* the manifest recorded an external_data gate */
} pf_manifest_entry;

/* A runtime KPI gate as recorded (issue 17); `pteflow verify` re-checks value against limit. */
typedef struct pf_manifest_kpi_gate {
	char *name;
	char *expected;
	char *actual;
	bool passed;
	bool has_limit, has_value;
	double limit, value;
} pf_manifest_kpi_gate;

typedef struct pf_manifest {
	int schema_version;
	char *pipeline_name;
	pf_manifest_entry *entries;
	size_t n_entries;
	bool has_kpi;                   /* the run recorded a kpi section (not null) */
	pf_manifest_kpi_gate *kpi_gates;
	size_t n_kpi_gates;
} pf_manifest;

/* Parse (bounded size and depth) and check shape. PF_EINVALID with what is wrong. */
int pf_manifest_read(pf_manifest **out, const char *path);
/* The same over bytes in memory (fuzzing, tests); `len` is capped at PF_MANIFEST_MAX_BYTES. */
int pf_manifest_parse(pf_manifest **out, const char *data, size_t len);

#define PF_MANIFEST_MAX_BYTES (16u * 1024u * 1024u)
#define PF_MANIFEST_MAX_DEPTH 64

/* true when a manifest path is relative and has no ".." component (and is not empty). */
bool pf_manifest_path_safe(const char *path);
/* The manifest word for a step's end: "success", "failed", "killed_by_signal", ... */
const char *pf_manifest_step_status(const pf_step_record *step);
void pf_manifest_free(pf_manifest *m);

#endif
