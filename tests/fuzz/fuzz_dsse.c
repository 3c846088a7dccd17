/*
 * libFuzzer target for the DSSE envelope reader `pteflow verify --provenance`
 * runs on provenance.intoto.jsonl files that travel with releases
 * (untrusted): pf_attest_envelope_parse over arbitrary bytes must never read
 * out of bounds, recurse without bound or leak; an envelope it accepts must
 * render and parse back to the same fields; its signatures go through the
 * verifier with a fixed Ed25519 and ECDSA P-256 key (never accepted: the
 * fuzzer has no private key), and base64 decoding of the raw bytes is bounded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char ED25519_PUB[] = "-----BEGIN PUBLIC KEY-----\n"
				  "MCowBQYDK2VwAyEA0AJ1dTOw76krG+pVcMvXcSyf5ff7vMZJOq1OKpcDs68=\n"
				  "-----END PUBLIC KEY-----\n";
static const char P256_PUB[] = "-----BEGIN PUBLIC KEY-----\n"
			       "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEkIGDkYdWuiMoky8CqTOtM7BZATG9\n"
			       "ZHVErz07NtPJ0OKgTXjfdSoEAWY4b7R9GOA8sirtC/jNyr2De86rgLUQ8w==\n"
			       "-----END PUBLIC KEY-----\n";

static void check_round_trip(const pf_dsse_envelope *env)
{
	char *line = pf_attest_envelope_render(env);
	pf_dsse_envelope *back = NULL;
	if (pf_attest_envelope_parse(&back, line, strlen(line)) != 0)
		abort(); /* what pteflow writes, pteflow must read */
	if (back->payload_len != env->payload_len || memcmp(back->payload, env->payload, env->payload_len) ||
	    strcmp(back->payload_type, env->payload_type) || back->n_signatures != env->n_signatures)
		abort();
	for (size_t i = 0; i < env->n_signatures; i++)
		if (back->signatures[i].sig_len != env->signatures[i].sig_len ||
		    memcmp(back->signatures[i].sig, env->signatures[i].sig, env->signatures[i].sig_len))
			abort();
	pf_attest_envelope_free(back);
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static pf_attest_key *keys[2];
	pf_dsse_envelope *env = NULL;
	unsigned char *raw = NULL;
	size_t raw_len = 0;
	if (!keys[0]) {
		if (pf_attest_key_parse_public(&keys[0], ED25519_PUB, sizeof(ED25519_PUB) - 1) != 0 ||
		    pf_attest_key_parse_public(&keys[1], P256_PUB, sizeof(P256_PUB) - 1) != 0)
			abort();
	}
	if (pf_attest_envelope_parse(&env, (const char *)data, size) == 0) {
		size_t pae_len = 0;
		unsigned char *pae = pf_attest_pae(&pae_len, env->payload_type, env->payload, env->payload_len);
		for (size_t i = 0; i < env->n_signatures; i++)
			for (size_t k = 0; k < 2; k++)
				if (pf_attest_verify_signature(keys[k], env->signatures[i].sig, env->signatures[i].sig_len, pae,
							       pae_len) == 0)
					abort(); /* a forgery */
		free(pae);
		check_round_trip(env);
	}
	pf_attest_envelope_free(env);
	if (pf_attest_base64_decode(&raw, &raw_len, (const char *)data, size, 4096) == 0 && raw_len > 4096)
		abort();
	free(raw);
	return 0;
}
