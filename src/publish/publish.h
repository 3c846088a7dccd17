/*
 * `pteflow publish MANIFEST --to hf:OWNER/NAME`: a verified release to a
 * Hugging Face Hub model repo. Every check of `verify` runs first (and the
 * provenance's with --provenance/--key); nothing is uploaded unless all pass.
 * Then the artifacts, the manifest, SHA256SUMS, the provenance, model.sig
 * and a generated model card (README.md) go up in one commit through
 * src/hub/ (pf_hub_publish).
 */
#ifndef PF_PUBLISH_PUBLISH_H
#define PF_PUBLISH_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>

#include "attest/attest.h"
#include "hub/hub.h"

typedef struct pf_publish_options {
	const char *manifest_path;
	const char *dir;      /* where the files are (default: the manifest's folder) */
	const char *to;       /* "hf:OWNER/NAME" */
	const char *revision; /* branch, default main */
	bool create, private_repo;
	const char *message;    /* default: "pteflow publish <pipeline>" */
	const char *provenance; /* checked before anything is uploaded, when set */
	pf_attest_key *const *keys;
	size_t n_keys;
} pf_publish_options;

typedef struct pf_publish_result {
	pf_hub_publish_result hub;
	pf_hub_upload *files; /* what was committed, in order (paths point into `paths`) */
	char **paths;         /* heap: path in repo, local path, per file (2 per file) */
	size_t n_files;
	char *repo_id;
} pf_publish_result;

/*
 * Verify, then publish. Returns 0 when committed (or nothing changed);
 * PF_EFAILED when a check failed (nothing uploaded; the message names it),
 * PF_EINVALID for a bad --to or manifest, the hub's codes otherwise
 * (PF_EAUTH, PF_ENOTFOUND, PF_EENV).
 */
int pf_publish(pf_publish_result *out, const pf_publish_options *o);
void pf_publish_result_dispose(pf_publish_result *r);

/*
 * The model card for a manifest (JSON text, untrusted size-capped): YAML front
 * matter (library_name executorch, tags executorch + each backend, base_model
 * from the manifest's model repo, pipeline_tag text-generation for an LLM
 * export) and a body with the pipeline, quantization, artifact sizes, gates
 * and measured KPI figures. Heap; PF_EINVALID when it is not a manifest.
 */
int pf_publish_card(char **out, const char *manifest_json, size_t len);

#endif
