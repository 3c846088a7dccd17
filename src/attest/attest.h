/*
 * Release provenance: an in-toto Statement v1 with a SLSA provenance v1
 * predicate for the artifacts of a run, wrapped in a DSSE envelope and
 * signed with Ed25519 or ECDSA P-256 (OpenSSL), written beside the manifest
 * as provenance.intoto.jsonl; and the checks `pteflow verify --provenance`
 * makes on such a file. Shape of the file: schemas/provenance.schema.json
 * (keep the two in step). The envelope is untrusted input: every reader here
 * is bounded in size and depth, and has a fuzz target (tests/fuzz/fuzz_dsse.c).
 */
#ifndef PF_ATTEST_ATTEST_H
#define PF_ATTEST_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest/record.h"
#include "pipeline/pipeline.h"

#define PF_ATTEST_FILE_NAME "provenance.intoto.jsonl"
#define PF_ATTEST_PAYLOAD_TYPE "application/vnd.in-toto+json"
#define PF_ATTEST_STATEMENT_TYPE "https://in-toto.io/Statement/v1"
#define PF_ATTEST_PREDICATE_TYPE "https://slsa.dev/provenance/v1"
#define PF_ATTEST_BUILD_TYPE "https://pteflow.dev/buildtypes/run/v1"
/* builder.id outside GitHub Actions, followed by "@<host name>" (README "Verifying a release"). */
#define PF_ATTEST_LOCAL_BUILDER "https://pteflow.dev/builders/local"
/* An envelope file larger than this is refused before it is parsed. */
#define PF_ATTEST_MAX_BYTES (16u * 1024u * 1024u)
/* JSON nesting: the envelope is 3 levels deep, a pteflow statement about 8. */
#define PF_ATTEST_MAX_DEPTH 64
/* More signatures than this in one envelope is refused as malformed. */
#define PF_ATTEST_MAX_SIGNATURES 64

/* ---- keys ---- */

/*
 * keygen makes Ed25519 and P-256 keys; P-384 and P-521 keys made elsewhere
 * (openssl, model_signing users) load too, and sign and verify with SHA-384
 * and SHA-512 as securesystemslib's ecdsa-sha2-nistp384/521 and
 * model_signing do.
 */
typedef enum pf_key_type {
	PF_KEY_ED25519 = 0,
	PF_KEY_ECDSA_P256 = 1,
	PF_KEY_ECDSA_P384 = 2,
	PF_KEY_ECDSA_P521 = 3
} pf_key_type;

/* A public or private signing key (opaque: OpenSSL stays inside this module). */
typedef struct pf_attest_key pf_attest_key;

/* "ed25519" | "ecdsa-p256" (also accepted: "ecdsa", "p256") to a type; PF_EINVALID otherwise. */
int pf_attest_key_type_parse(pf_key_type *out, const char *name);
const char *pf_attest_key_type_name(pf_key_type type);

/*
 * Make a key pair: the private key (unencrypted PKCS#8 PEM, mode 0600) at
 * `private_path` and the public key (SubjectPublicKeyInfo PEM, 0644) at
 * `public_path`. Never overwrites: PF_EINVALID when either file exists;
 * nothing is left behind on failure. keyid receives the key's id (hex).
 */
int pf_attest_keygen(char keyid[65], const char *private_path, const char *public_path, pf_key_type type);

/*
 * Load a PEM key. A private key is what `run --sign-key` signs with; a public
 * key what `verify --key` trusts. PF_ENOTFOUND / PF_EENV when the file cannot
 * be read, PF_EINVALID when it is not a PEM key of a supported type
 * (Ed25519, ECDSA P-256, P-384, P-521) or is encrypted. Free with pf_attest_key_free().
 */
int pf_attest_key_load_private(pf_attest_key **out, const char *path);
int pf_attest_key_load_public(pf_attest_key **out, const char *path);
/* The same from PEM text in memory (tests, fuzzing). */
int pf_attest_key_parse_public(pf_attest_key **out, const char *pem, size_t len);
void pf_attest_key_free(pf_attest_key *key);
/* keyid: lower-case hex SHA-256 of the DER SubjectPublicKeyInfo of the (public half of the) key. */
const char *pf_attest_key_id(const pf_attest_key *key);
/*
 * The keyid securesystemslib (and so in-toto) computes for the same key when
 * it is loaded without an explicit keyid (SSlibKey.from_crypto/from_pem):
 * SHA-256 of the key's canonical JSON, hex. Signed envelopes carry a second
 * signature entry under this id, so those tools find the signature with their
 * default key loading.
 */
const char *pf_attest_key_sslib_id(const pf_attest_key *key);
/*
 * The public key as PEM SubjectPublicKeyInfo text (64-character base64
 * lines, final newline), as Python cryptography and `openssl pkey -pubout`
 * write it; heap, NUL-terminated. Its SHA-256 is model_signing's key hint.
 */
char *pf_attest_key_public_pem(const pf_attest_key *key, size_t *out_len);
pf_key_type pf_attest_key_type(const pf_attest_key *key);

/*
 * Sign `msg` (the PAE bytes): Ed25519 gives 64 raw bytes; ECDSA signs the
 * SHA-256 (P-256), SHA-384 (P-384) or SHA-512 (P-521) of msg and gives a DER
 * ECDSA-Sig-Value, as securesystemslib and Sigstore do. *out is heap; caller frees.
 */
int pf_attest_sign(unsigned char **out, size_t *out_len, const pf_attest_key *key, const void *msg, size_t len);
/* 0 when `sig` verifies over `msg` with `key`; PF_EFAILED when it does not. */
int pf_attest_verify_signature(const pf_attest_key *key, const void *sig, size_t sig_len, const void *msg,
			       size_t len);

/* ---- DSSE ---- */

/* PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in bytes; heap. */
unsigned char *pf_attest_pae(size_t *out_len, const char *payload_type, const void *payload, size_t len);

/* Standard base64 with padding; heap, NUL-terminated. */
char *pf_attest_base64_encode(const void *data, size_t len);
/*
 * Decode standard or URL-safe base64 (not both in one string), padding
 * optional, no whitespace. At most `max` output bytes (PF_ELIMIT), otherwise
 * PF_EINVALID for a character outside the alphabet or a bad length.
 */
int pf_attest_base64_decode(unsigned char **out, size_t *out_len, const char *text, size_t len, size_t max);

typedef struct pf_dsse_signature {
	char *keyid;          /* "" when the envelope gives none */
	unsigned char *sig;
	size_t sig_len;
} pf_dsse_signature;

typedef struct pf_dsse_envelope {
	char *payload_type;
	unsigned char *payload; /* decoded; NUL-terminated for convenience (not counted in payload_len) */
	size_t payload_len;
	pf_dsse_signature *signatures;
	size_t n_signatures;
} pf_dsse_envelope;

/*
 * Parse one envelope (a JSON object, optionally followed by white space: one
 * JSON Lines record). PF_EINVALID when it is not an envelope (message says
 * what); PF_ETRUNCATED (below) when the JSON ends before it is complete, as a
 * file cut short by an interrupted copy does.
 */
#define PF_ATTEST_ETRUNCATED (-100)
int pf_attest_envelope_parse(pf_dsse_envelope **out, const char *data, size_t len);
/* The envelope as one line of JSON, with its final newline; heap. */
char *pf_attest_envelope_render(const pf_dsse_envelope *env);
/* Sign PAE(payload_type, payload) with key and append the signature (keyid = the key's id). */
int pf_attest_envelope_sign(pf_dsse_envelope *env, const pf_attest_key *key);
/*
 * The same, and the same signature bytes appended a second time under the
 * keyid securesystemslib computes (pf_attest_key_sslib_id): what the
 * provenance file carries, so securesystemslib and in-toto find the
 * signature with their default key loading (DSSE keyids are hints only).
 */
int pf_attest_envelope_sign_interop(pf_dsse_envelope *env, const pf_attest_key *key);
/* A new unsigned envelope holding a copy of payload. */
pf_dsse_envelope *pf_attest_envelope_new(const char *payload_type, const void *payload, size_t len);
void pf_attest_envelope_free(pf_dsse_envelope *env);

/* ---- the statement of a run ---- */

typedef struct pf_attest_params {
	const pf_kv *vars;          /* the plan's vars as applied (target included), before interpolation */
	size_t n_vars;
	const char *out_dir;        /* where the manifest and the artifacts are */
	const char *manifest_name;  /* relative to out_dir */
	const pf_attest_key *sign_key; /* NULL: an envelope with no signature */
	const char *finished_utc;   /* RFC 3339; NULL: now */
	const char *invocation_id;  /* NULL: from GITHUB_RUN_ID/GITHUB_RUN_ATTEMPT, else a random urn:uuid */
} pf_attest_params;

/*
 * The in-toto Statement v1 (JSON text, heap) for a run: subjects are the
 * artifacts that exist (path, sha256); the predicate is SLSA provenance v1
 * (see the README section "Verifying a release" for each field). Every
 * string goes through pf_secret_redact(), and the finished text once more.
 * manifest_sha256 may be NULL (no byproduct recorded).
 */
int pf_attest_statement(char **out, const pf_run_record *rec, const pf_attest_params *p, const char *manifest_sha256);

/*
 * Write <out_dir>/provenance.intoto.jsonl atomically for a run that passed:
 * the statement in a DSSE envelope, signed when p->sign_key is set. For a run
 * that did not pass, nothing is attested and a provenance file left there by
 * an earlier run is removed (it would describe other bytes). Returns 0 or a
 * negative code (PF_EENV for a disk or permission problem).
 */
int pf_attest_write_run(const pf_run_record *rec, const pf_attest_params *p);

/* ---- verification ---- */

typedef enum pf_attest_status {
	PF_ATTEST_OK = 0,
	PF_ATTEST_FAILED,
	PF_ATTEST_UNSIGNED,    /* no --key: the signature was not checked (never counts as passed) */
} pf_attest_status;

typedef struct pf_attest_check {
	const char *name;   /* "envelope", "signature", "statement", "subjects", "manifest", "source-repo", "source-ref" */
	pf_attest_status status;
	char *detail;       /* one line */
} pf_attest_check;

typedef struct pf_attest_report {
	pf_attest_check checks[8];
	size_t n_checks;
	bool ok;            /* every check OK, or OK and UNSIGNED when no key was given */
	bool signed_by_key; /* the signature check ran and passed */
	size_t n_signatures;
	size_t n_subjects;
	char *source_repo;  /* as the predicate names them (NULL when absent) */
	char *source_ref;
	char *builder_id;
} pf_attest_report;

typedef struct pf_attest_verify_options {
	const char *provenance_path;
	const char *manifest_path;   /* its digest is checked against the statement's byproduct */
	const char *dir;             /* where the subjects are (default: the manifest's folder) */
	pf_attest_key *const *keys;  /* trusted public keys; none: the signature is not checked */
	size_t n_keys;
	const char *expect_repo;     /* OWNER/NAME or NULL */
	const char *expect_ref;      /* refs/tags/v1, v1, main... or NULL */
	/*
	 * Digests the caller computed in this same verification for files in `dir`
	 * (path relative to dir, 64 hex): `verify` has just hashed every artifact of
	 * the manifest, so a subject it hashed is not read a second time. Optional.
	 */
	const char *const *known_paths;
	const char *const *known_sha256;
	size_t n_known;
} pf_attest_verify_options;

/*
 * Check a provenance file. Returns 0 with a filled report (read report->ok),
 * PF_EINVALID when the file is not a DSSE envelope, PF_ENOTFOUND/PF_EENV when
 * it cannot be read. Checks: envelope (payload type; a file cut short fails
 * here), signature (every signature must verify with one of the keys, and
 * there must be one), statement (in-toto v1, SLSA v1), subjects (each digest
 * against the file on disk, paths that escape the folder or pass a symbolic
 * link are never opened), manifest (the manifest's digest is the one
 * recorded), source-repo and source-ref when expected values are given.
 */
int pf_attest_verify(pf_attest_report *out, const pf_attest_verify_options *opt);
void pf_attest_report_dispose(pf_attest_report *r);
const char *pf_attest_status_name(pf_attest_status s);
/* One line per check and a verdict line; heap. */
char *pf_attest_report_text(const pf_attest_report *r);
/* The same as a JSON object text; heap. */
char *pf_attest_report_json(const pf_attest_report *r, const char *provenance_path);

#endif
