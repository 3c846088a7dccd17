/*
 * Hugging Face Hub downloads into the standard cache layout
 * (<cache>/models--org--name/{blobs,snapshots/<commit>,refs}), compatible with
 * huggingface_hub: resolve revision, list files, filter with allow/ignore
 * patterns, fetch in parallel (curl multi), resume with Range, verify SHA-256
 * of LFS files while streaming, never place a partial file in snapshots/.
 * See shared docs hf-hub-protocol.md.
 */
#ifndef PF_HUB_HUB_H
#define PF_HUB_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest/record.h"

typedef struct pf_hub_options {
	const char *repo_id;     /* "org/name" */
	const char *repo_type;   /* "model" (default), "dataset", "space" */
	const char *revision;    /* default "main" */
	const char *const *include; /* allow patterns (fnmatch, like allow_patterns) */
	size_t n_include;
	const char *const *exclude;
	size_t n_exclude;
	const char *cache_dir;   /* default: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub */
	const char *local_dir;   /* if set: real files there instead of the cache */
	int jobs;                /* parallel transfers; 0 = default (8) */
	bool offline;            /* also forced by HF_HUB_OFFLINE=1 */
	bool progress;           /* progress on stderr */
	bool json_progress;
} pf_hub_options;

/* Endpoint (HF_ENDPOINT or https://huggingface.co) and token (HF_TOKEN, HF_TOKEN_PATH, $HF_HOME/token). */
char *pf_hub_endpoint(void);
/* Token or NULL; registers it as a secret. Caller frees. */
char *pf_hub_token(void);

/*
 * Fetch a snapshot. On success *out describes the commit, snapshot folder and
 * every file with size and SHA-256. Errors: PF_EAUTH (401/403, with what to
 * do), PF_ENOTFOUND (repo, revision, file), PF_EENV (network, disk), PF_EINVALID
 * (hostile file names), PF_EFAILED (hash mismatch after retries).
 */
int pf_hub_fetch(pf_model_record **out, const pf_hub_options *opts);
void pf_model_record_free(pf_model_record *m);

/* fnmatch with huggingface_hub semantics ("*" crosses "/", a trailing "/" means the whole folder). */
bool pf_hub_pattern_match(const char *pattern, const char *path);

#endif
