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

/* ---- publish: commit files to a repo (hub_publish.c; shared docs hub-upload-protocol.md) ---- */

/* One file to commit: filled in by pf_hub_publish (size, digests, how it went). */
typedef struct pf_hub_upload {
	const char *path_in_repo; /* '/'-separated, relative */
	const char *local_path;   /* the bytes, on disk */
	uint64_t size;
	char sha256[65];     /* may be given (64 hex: not computed again), else filled in */
	char git_sha1[41];   /* filled in for the files committed as regular */
	char remote_oid[65]; /* what the repo holds at this path (preupload); "" when nothing */
	bool lfs;           /* the hub asked for it through LFS */
	bool unchanged;     /* the repo already holds these bytes at this path: not in the commit */
	bool already_stored; /* LFS object the hub had: not uploaded again */
	bool sent;           /* LFS: the batch answer covered it (uploaded, or already stored) */
} pf_hub_upload;

typedef struct pf_hub_publish_options {
	const char *repo_id;  /* OWNER/NAME */
	const char *revision; /* branch; default "main" */
	bool create;          /* create the repo when it does not exist */
	bool private_repo;    /* with create: a private repo */
	const char *message;  /* commit summary (required) */
	const char *description;
	pf_hub_upload *files;
	size_t n_files;
} pf_hub_publish_options;

typedef struct pf_hub_publish_result {
	char commit[65];   /* the new commit, or the head when nothing changed */
	char *commit_url;  /* heap */
	char *parent;      /* the head the commit was made on (heap) */
	bool committed;    /* false when every file was unchanged */
} pf_hub_publish_result;

/*
 * Commit the files to the repo's branch through the Hub's protocol: repo
 * creation (with create), the branch head, preupload, the LFS batch API
 * (basic and multipart transfers, each part retried on its own; objects the
 * hub has are skipped), verify, then one NDJSON commit whose parentCommit is
 * the head read first. The token (HF_TOKEN...) goes to the endpoint's origin
 * only, never to the storage URLs. Errors: PF_EAUTH (401/403: what token to
 * use), PF_ENOTFOUND (repo or branch; says to add --create), PF_EFAILED (the
 * branch moved meanwhile: 412, nothing committed; a file the hub refused),
 * PF_EENV (network, rate limits beyond the retry budget).
 */
int pf_hub_publish(pf_hub_publish_result *out, const pf_hub_publish_options *o);
void pf_hub_publish_result_dispose(pf_hub_publish_result *r);

/* fnmatch with huggingface_hub semantics ("*" crosses "/", a trailing "/" means the whole folder). */
bool pf_hub_pattern_match(const char *pattern, const char *path);

#endif
