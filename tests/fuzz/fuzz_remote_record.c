/*
 * libFuzzer target for the remote store's records (src/cache/remote.h): a
 * shared cache is writable by anyone who holds its token, so the bytes under
 * ac/<fingerprint> are hostile. pf_remote_record_open must never read out of
 * bounds or leak; an accepted record names the fingerprint asked for, and
 * with a trusted key nothing unsigned is accepted.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache/remote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FP "4c3ca75f15f71cb0dc9b2749781ddc6460256346a6f9611287c8ff2ee36acca6"

/* the public half of the key that signed corpus/remote_record/signed.json (unit test remote_record.corpus_*) */
static const char pub_pem[] = "-----BEGIN PUBLIC KEY-----\n"
			      "MCowBQYDK2VwAyEAYV49mYqaCtmqLq0IqqHXRrgietqESTkDp525dQIeO0w=\n"
			      "-----END PUBLIC KEY-----\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static pf_attest_key *key;
	pf_store_entry *e = NULL;
	bool verified = false;
	if (!key && pf_attest_key_parse_public(&key, pub_pem, sizeof(pub_pem) - 1) < 0)
		abort();
	if (pf_remote_record_open(&e, &verified, (const char *)data, size, FP, NULL) == 0 &&
	    strcmp(e->fingerprint, FP))
		abort();
	pf_store_entry_free(e);
	e = NULL;
	if (pf_remote_record_open(&e, &verified, (const char *)data, size, FP, key) == 0 && !verified)
		abort();
	pf_store_entry_free(e);
	return 0;
}
