/*
 * Artifact gates after a run, and `pteflow verify` of a manifest for
 * releases. Hashing streams; structure comes from src/pte/.
 */
#ifndef PF_VERIFY_VERIFY_H
#define PF_VERIFY_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest/manifest.h"
#include "manifest/record.h"
#include "pipeline/pipeline.h"

/*
 * Check every artifact of the plan inside out_dir: exists, non-empty,
 * min/max size, SHA-256, structure (.pte/.ptd), required methods and
 * backends, and that each external key of a .pte resolves in the .ptd files
 * it names (or, when none are named, in any .ptd of the plan).
 * Fills rec->artifacts; returns 0 when all checks could be made (read
 * rec->passed-style flags per artifact), <0 on an environment error.
 */
int pf_verify_artifacts(pf_artifact_result **out, size_t *n_out, const pf_plan *plan, const char *out_dir);

/*
 * Evaluate a step's runtime KPI gates on the result JSON it wrote (the "kpi"
 * object of python/pteflow_steps/kpi.py; NULL when it wrote none). Never
 * fails: a missing or malformed figure is a failed gate. Always has the
 * gates "measured" and "crash", then one per gate the block sets. Returns a
 * heap record (pf_kpi_record_free) whose failure names the first failed gate.
 */
pf_kpi_record *pf_verify_kpi(const char *step, const pf_kpi_gates *gates, const char *result_json);

typedef enum pf_verify_status {
	PF_VERIFY_OK = 0,
	PF_VERIFY_MISMATCH,  /* size or hash differs */
	PF_VERIFY_MISSING,
	PF_VERIFY_STRUCTURE, /* the bytes are not a valid .pte/.ptd or a gate fails */
	PF_VERIFY_UNSAFE     /* the manifest path escapes the folder */
} pf_verify_status;

typedef struct pf_verify_line {
	char *path;
	pf_verify_status status;
	char *detail;        /* "expected sha256 ab12..., found 9f00..." */
	/* Added: the figures behind the line (--json). */
	char expected_sha256[65]; /* "" when the manifest has none */
	char actual_sha256[65];   /* "" when the file was not read */
	uint64_t expected_size;
	uint64_t actual_size;
} pf_verify_line;

/* A recorded runtime KPI gate, re-checked (issue 17). */
typedef struct pf_verify_kpi_line {
	char *name;
	bool ok;
	char *detail;        /* "expected <= 200 ms, measured 183 ms" (and why it fails) */
} pf_verify_kpi_line;

typedef struct pf_verify_report {
	pf_verify_line *lines;
	size_t n_lines;
	pf_verify_kpi_line *kpi; /* the manifest's KPI gates; none when it recorded no kpi section */
	size_t n_kpi;
	size_t kpi_failed;
	bool ok;
	size_t counts[5];    /* lines per pf_verify_status */
	char *dir;           /* the folder the files were looked up in */
} pf_verify_report;

/*
 * Re-check the KPI gates a manifest recorded into r->kpi: a gate fails when
 * it was recorded as failed, or when its value does not meet its limit (an
 * edited manifest). Clears r->ok on any failure.
 */
void pf_verify_kpi_recheck(pf_verify_report *r, const pf_manifest *m);

const char *pf_verify_status_name(pf_verify_status s);
/*
 * Verify the artifacts of a manifest against the files in `dir` (default: the
 * manifest's folder). Returns PF_EINVALID for a manifest that is not valid;
 * otherwise 0 and a report.
 */
int pf_verify_manifest(pf_verify_report *out, const char *manifest_path, const char *dir);
void pf_verify_report_dispose(pf_verify_report *r);
/* One line per file ("OK  model.pte", "MISMATCH  model.pte: ...") and a verdict line; caller frees. */
char *pf_verify_report_text(const pf_verify_report *r);
/* The same as a JSON object; caller frees. */
char *pf_verify_report_json(const pf_verify_report *r, const char *manifest_path);

#endif
