/*
 * The remote store's records (remote.h): a local store record wrapped in a
 * DSSE envelope, signed with the key `run --sign-key` names, and the checks
 * a fetched record passes before anything it names is downloaded. Input is
 * hostile (anyone who can write to the shared cache can write a record):
 * bounded parsers only, fuzzed by tests/fuzz/fuzz_remote_record.c.
 */
#include "cache/remote.h"
#include "cache/store_internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/mem.h"

int pf_remote_record_make(char **out, const pf_store_entry *e, const pf_attest_key *key)
{
	char *json = pf_store_entry_to_json(e);
	pf_dsse_envelope *env = pf_attest_envelope_new(PF_REMOTE_PAYLOAD_TYPE, json, strlen(json));
	int rc = 0;
	*out = NULL;
	if (key && (rc = pf_attest_envelope_sign(env, key)) < 0)
		goto done;
	*out = pf_attest_envelope_render(env);
done:
	pf_attest_envelope_free(env);
	free(json);
	return rc;
}

/* One signature of env verifies with key. */
static bool signed_by(const pf_dsse_envelope *env, const pf_attest_key *key)
{
	size_t pae_len = 0;
	unsigned char *pae = pf_attest_pae(&pae_len, env->payload_type, env->payload, env->payload_len);
	bool ok = false;
	for (size_t i = 0; i < env->n_signatures && !ok; i++)
		ok = pf_attest_verify_signature(key, env->signatures[i].sig, env->signatures[i].sig_len, pae,
						pae_len) == 0;
	free(pae);
	pf_error_clear();
	return ok;
}

int pf_remote_record_open(pf_store_entry **out, bool *verified, const char *text, size_t len, const char *fp,
			  const pf_attest_key *trust_key)
{
	pf_dsse_envelope *env = NULL;
	pf_store_entry *e = NULL;
	int rc;
	*out = NULL;
	*verified = false;
	if ((rc = pf_attest_envelope_parse(&env, text, len)) < 0) {
		rc = pf_error_code(PF_EINVALID, "its record is not a DSSE envelope: %s", pf_error_last());
		goto done;
	}
	if (strcmp(env->payload_type, PF_REMOTE_PAYLOAD_TYPE)) {
		rc = pf_error_code(PF_EINVALID, "its record has payload type \"%.80s\", not \"%s\"", env->payload_type,
				   PF_REMOTE_PAYLOAD_TYPE);
		goto done;
	}
	if (trust_key) {
		if (!env->n_signatures) {
			rc = pf_error_code(PF_EAUTH, "its record is not signed, and --remote-key requires a signature");
			goto done;
		}
		if (!signed_by(env, trust_key)) {
			rc = pf_error_code(PF_EAUTH, "its record's signature does not verify with the --remote-key key");
			goto done;
		}
		*verified = true;
	}
	if ((rc = pf_store_entry_parse(&e, (const char *)env->payload, env->payload_len)) < 0) {
		rc = pf_error_code(PF_EINVALID, "its record is unreadable: %s", pf_error_last());
		goto done;
	}
	if (strcmp(e->fingerprint, fp)) {
		rc = pf_error_code(PF_EINVALID, "its record is for another fingerprint (%.16s...)", e->fingerprint);
		goto done;
	}
	*out = e;
	e = NULL;
done:
	if (rc < 0)
		*verified = false;
	pf_store_entry_free(e);
	pf_attest_envelope_free(env);
	return rc;
}
