/*
 * The remote store: a second level behind the local store (store.h), shared
 * by many machines over the Bazel HTTP cache protocol (GET/PUT/HEAD of
 * <url>/ac/<key> and <url>/cas/<sha256>; bazel-remote, nginx WebDAV).
 *
 *   ac/<fingerprint>  the entry's record (store.h) in a DSSE envelope of
 *                     payload type PF_REMOTE_PAYLOAD_TYPE, signed when the
 *                     writer had a signing key
 *   cas/<sha256>      each file of the entry: outputs, log, result
 *
 * A fetch copies an entry into the local store, every object checked by
 * SHA-256 and size as it streams to disk; the local restore then checks
 * them once more while copying them out. A push uploads the objects first
 * (HEAD skips those there) and the record last, so a reader never finds a
 * record whose objects are missing. Everything read from the remote is
 * untrusted: a record is parsed by the bounded readers of the store and of
 * DSSE (both fuzzed), and with a trusted key it must carry a signature that
 * verifies.
 */
#ifndef PF_CACHE_REMOTE_H
#define PF_CACHE_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"
#include "cache/store.h"

#define PF_REMOTE_PAYLOAD_TYPE "application/vnd.pteflow.store-entry+json"
/* Each step's upload (objects and record) is bounded by this unless the run says otherwise. */
#define PF_REMOTE_UPLOAD_TIMEOUT_MS 300000u

typedef struct pf_remote pf_remote;

typedef struct pf_remote_options {
	const char *url;
	bool write;                      /* readwrite: push after a step ran; false: read only */
	const char *token;               /* "user:password" or a bearer token; NULL: none */
	const pf_attest_key *trust_key;  /* NULL: records are taken unverified */
	const pf_attest_key *sign_key;   /* NULL: records are pushed unsigned */
	uint64_t upload_timeout_ms;      /* 0: PF_REMOTE_UPLOAD_TIMEOUT_MS */
	long connect_timeout_s;          /* 0: 5 */
	long stall_timeout_s;            /* 0: 30 */
	int max_attempts;                /* 0: 3 */
} pf_remote_options;

/* PF_EINVALID for a URL that is not http(s) or that carries credentials. The keys are borrowed. */
int pf_remote_new(pf_remote **out, const pf_remote_options *o);
void pf_remote_free(pf_remote *r);
const char *pf_remote_url(const pf_remote *r);
bool pf_remote_writable(const pf_remote *r);
/* The remote could not be reached once: later requests of this run are skipped. */
bool pf_remote_down(const pf_remote *r);

/*
 * Copy the entry of fingerprint fp from the remote into the local store s.
 * 0 when it is there now (*verified: its record's signature verified with
 * the trusted key); PF_ENOTFOUND when the remote has none; any other code is
 * a miss the caller warns about (message says why: unreachable, a signature
 * missing or wrong, an object that did not match its SHA-256).
 */
int pf_remote_fetch(pf_remote *r, pf_store *s, const char *fp, bool *verified);

/*
 * Upload the local entry e (its objects must be in s) to the remote:
 * objects first, then the record. Bounded by the upload timeout. 0, or a
 * negative code the caller warns about (PF_ELIMIT: refused as too large or
 * the cache is full, or out of time).
 */
int pf_remote_push(pf_remote *r, pf_store *s, const pf_store_entry *e);

/*
 * A record as found under ac/: the envelope checked (payload type, with
 * key: a signature that verifies), then the entry parsed and its
 * fingerprint compared with fp. The fuzz target's way in. PF_EINVALID, or
 * PF_EAUTH for a signature that is missing or does not verify.
 */
int pf_remote_record_open(pf_store_entry **out, bool *verified, const char *text, size_t len, const char *fp,
			  const pf_attest_key *trust_key);
/* The envelope text of e, signed with key when not NULL (heap). */
int pf_remote_record_make(char **out, const pf_store_entry *e, const pf_attest_key *key);

#endif
