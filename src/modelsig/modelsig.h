/*
 * OpenSSF model signing (PyPI model-signing 1.1.1, sigstore/model-transparency):
 * the `model.sig` file `run --sign-key` writes beside a release and the
 * check `pteflow verify --model-sig` makes. The file is a Sigstore bundle
 * v0.3 (JSON) holding a DSSE envelope whose payload is an in-toto Statement
 * v1 with predicate type https://model_signing/signature/v1.0: one subject
 * (the model's name, sha256 over the concatenated file digests) and, in the
 * predicate, every file with its sha256 plus the paths the signature ignores.
 * Signed with ECDSA P-256 over DSSE's PAE, as `model_signing sign key` does.
 * Format reference: docs of the project (model-signing-format.md); the
 * reader treats the file as hostile (size cap, depth cap, bounded base64,
 * fuzz target tests/fuzz/fuzz_modelsig.c).
 */
#ifndef PF_MODELSIG_MODELSIG_H
#define PF_MODELSIG_MODELSIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"
#include "manifest/record.h"

#define PF_MODELSIG_FILE_NAME "model.sig"
#define PF_MODELSIG_MEDIA_TYPE "application/vnd.dev.sigstore.bundle.v0.3+json"
#define PF_MODELSIG_PREDICATE_TYPE "https://model_signing/signature/v1.0"
/* A signature file larger than this is refused before it is parsed (100k files take about 15 MiB). */
#define PF_MODELSIG_MAX_BYTES (64u * 1024u * 1024u)
/* More resources or ignore paths than this in one signature is refused as malformed. */
#define PF_MODELSIG_MAX_ITEMS 200000u
/* A model folder deeper than this is refused (a walk never recurses without bound). */
#define PF_MODELSIG_MAX_DEPTH 64

/* One file of a model: its path relative to the model folder ('/'-separated) and its sha256 (hex). */
typedef struct pf_modelsig_file {
	char *name;
	char sha256[65];
} pf_modelsig_file;

/* What a signature says, once parsed (pf_modelsig_parse). */
typedef struct pf_modelsig_claims {
	char *model_name;        /* subject[0].name: informative only */
	char root_sha256[65];    /* subject[0].digest.sha256, checked against the resources */
	pf_modelsig_file *files; /* predicate.resources, in their order */
	size_t n_files;
	char **ignore_paths; /* predicate.serialization.ignore_paths */
	size_t n_ignore;
	char *key_hint; /* verificationMaterial.publicKey.hint or NULL */
	pf_dsse_envelope *envelope;
} pf_modelsig_claims;

/*
 * Parse a model signature file (bundle, envelope and statement) without
 * checking its signature. PF_EINVALID with a message naming what is wrong
 * when it is not a model_signing 1.x file pteflow can check (another bundle
 * media type, a sharded or non-sha256 manifest, a broken root digest...).
 * Free with pf_modelsig_claims_free().
 */
int pf_modelsig_parse(pf_modelsig_claims **out, const char *data, size_t len);
void pf_modelsig_claims_free(pf_modelsig_claims *c);

/*
 * The in-toto statement (JSON text, heap) for files (sorted here in
 * model_signing's order: by path component) with ignore_paths recorded, and
 * the bundle text (heap, one line) of that statement signed with key (ECDSA
 * P-256, P-384 or P-521, hashed as model_signing does; PF_EINVALID for Ed25519).
 */
char *pf_modelsig_statement(const char *model_name, pf_modelsig_file *files, size_t n_files,
                            const char *const *ignore_paths, size_t n_ignore);
int pf_modelsig_bundle(char **out, const char *statement, const pf_attest_key *key);

/*
 * `run --sign-key`: write <out_dir>/model.sig over the artifacts of a run
 * that passed, signed with an ECDSA key (P-256, or P-384/P-521 made elsewhere); ignore_paths names every
 * other entry of the folder (manifest, SHA256SUMS, provenance, logs, files
 * that are not artifacts), so `model_signing verify key` accepts the folder
 * as it is. For a run that failed, without a key, or with an Ed25519 key
 * (model_signing takes EC keys only: a note says so), nothing is written and
 * a model.sig left by an earlier run is removed. A model.sig that is an
 * artifact, or that changed at or after started_unix_ns (a step of this run
 * wrote it), is the pipeline's own: it is never removed nor overwritten (a
 * warning says no OpenSSF signature was written). written_later (may be
 * NULL) names a file pteflow writes after this one (the --kpi-record file):
 * ignored too when it lies in out_dir. PF_EENV on a disk problem.
 */
int pf_modelsig_write_run(const pf_run_record *rec, const char *out_dir, const char *manifest_name,
			  const char *written_later, const pf_attest_key *key, uint64_t started_unix_ns);

/* ---- verification ---- */

typedef struct pf_modelsig_report {
	bool ok;
	bool signature_ok; /* the envelope's signature verified with a given key */
	bool files_ok;     /* the folder holds exactly the signed files, byte for byte */
	size_t n_files;    /* files the signature lists */
	char *signature_detail;
	char *files_detail; /* extra, missing and changed files, or how many matched */
	char *model_name;
} pf_modelsig_report;

/*
 * Verify the signature file sig_path over the folder model_dir with the
 * trusted keys, as `model_signing verify key` does: the key hint, the
 * signature over the PAE, the statement, then the folder re-hashed (regular
 * files only; the signature's ignore_paths, .git, .gitattributes, .github,
 * .gitignore and the signature file itself left out; a symbolic link or
 * special file fails, never followed or read) and compared name by name.
 * Returns 0 with a filled report (read report->ok); PF_EINVALID when the file
 * is not a model signature, PF_ENOTFOUND/PF_EENV when it or the folder cannot
 * be read.
 */
int pf_modelsig_verify(pf_modelsig_report *out, const char *sig_path, const char *model_dir, pf_attest_key *const *keys,
                       size_t n_keys);
void pf_modelsig_report_dispose(pf_modelsig_report *r);
/* Lines "OK  model-sig signature: ..." / "FAILED  model-sig files: ..." and a verdict; heap. */
char *pf_modelsig_report_text(const pf_modelsig_report *r);
/* The same as a JSON object text; heap. */
char *pf_modelsig_report_json(const pf_modelsig_report *r, const char *sig_path);

/* model_signing's order of names: by '/'-separated component, a prefix first (PurePosixPath). */
int pf_modelsig_name_cmp(const char *a, const char *b);

#endif
