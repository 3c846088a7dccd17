/* Unit tests of src/cache/remote_record.c: the remote store's records (DSSE envelopes of a store
 * record) and the checks a fetched one passes: payload type, signature under a trusted key,
 * fingerprint. The transfers are tested through the real binary (tests/cli/test_remote_store.py). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attest/attest.h"
#include "cache/remote.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

#define FP "4c3ca75f15f71cb0dc9b2749781ddc6460256346a6f9611287c8ff2ee36acca6"

static pf_store_entry *sample(void)
{
	char *path = pf_xasprintf("%s/tests/fuzz/corpus/store_record/entry.json", PF_SOURCE_DIR);
	pf_buf b;
	pf_store_entry *e = NULL;
	pf_buf_init(&b, 1u << 20);
	cr_assert_eq(pf_fs_read_file(&b, path, 1u << 20), 0, "%s", pf_error_last());
	cr_assert_eq(pf_store_entry_parse(&e, b.data, b.len), 0, "%s", pf_error_last());
	pf_buf_dispose(&b);
	free(path);
	return e;
}

static void keys(pf_attest_key **priv, pf_attest_key **pub, const char *name)
{
	char tmpl[] = "/tmp/pf-remote-test-XXXXXX", keyid[65];
	char *d = mkdtemp(tmpl), *a, *b;
	cr_assert(d);
	a = pf_xasprintf("%s/%s.pem", d, name);
	b = pf_xasprintf("%s/%s.pub.pem", d, name);
	cr_assert_eq(pf_attest_keygen(keyid, a, b, PF_KEY_ED25519), 0, "%s", pf_error_last());
	cr_assert_eq(pf_attest_key_load_private(priv, a), 0, "%s", pf_error_last());
	cr_assert_eq(pf_attest_key_load_public(pub, b), 0, "%s", pf_error_last());
	unlink(a);
	unlink(b);
	rmdir(d);
	free(a);
	free(b);
}

Test(remote_record, unsigned_is_taken_unverified_and_refused_under_a_key)
{
	pf_store_entry *e = sample(), *back = NULL;
	pf_attest_key *priv, *pub;
	char *text = NULL;
	bool verified = true;
	keys(&priv, &pub, "k");
	cr_assert_eq(pf_remote_record_make(&text, e, NULL), 0);
	cr_assert_eq(pf_remote_record_open(&back, &verified, text, strlen(text), FP, NULL), 0, "%s", pf_error_last());
	cr_assert(!verified);
	cr_assert_str_eq(back->step, "two");
	pf_store_entry_free(back);
	back = NULL;
	cr_assert_eq(pf_remote_record_open(&back, &verified, text, strlen(text), FP, pub), PF_EAUTH);
	cr_assert(strstr(pf_error_last(), "not signed"));
	cr_assert_null(back);
	free(text);
	pf_attest_key_free(priv);
	pf_attest_key_free(pub);
	pf_store_entry_free(e);
}

Test(remote_record, signed_verifies_with_its_key_only_and_not_once_changed)
{
	pf_store_entry *e = sample(), *back = NULL;
	pf_attest_key *priv, *pub, *other_priv, *other_pub;
	pf_dsse_envelope *env = NULL;
	char *text = NULL, *forged = NULL;
	bool verified = false;
	keys(&priv, &pub, "k");
	keys(&other_priv, &other_pub, "other");
	cr_assert_eq(pf_remote_record_make(&text, e, priv), 0, "%s", pf_error_last());
	cr_assert_eq(pf_remote_record_open(&back, &verified, text, strlen(text), FP, pub), 0, "%s", pf_error_last());
	cr_assert(verified);
	pf_store_entry_free(back);
	back = NULL;
	cr_assert_eq(pf_remote_record_open(&back, &verified, text, strlen(text), FP, other_pub), PF_EAUTH);
	cr_assert(!verified);
	/* the same signature over a payload with another output hash */
	cr_assert_eq(pf_attest_envelope_parse(&env, text, strlen(text)), 0);
	{
		char *p = strstr((char *)env->payload, "a6e2b7a0");
		cr_assert(p);
		p[0] = 'b';
	}
	forged = pf_attest_envelope_render(env);
	cr_assert_eq(pf_remote_record_open(&back, &verified, forged, strlen(forged), FP, pub), PF_EAUTH);
	cr_assert(strstr(pf_error_last(), "does not verify"));
	free(forged);
	pf_attest_envelope_free(env);
	free(text);
	pf_attest_key_free(priv);
	pf_attest_key_free(pub);
	pf_attest_key_free(other_priv);
	pf_attest_key_free(other_pub);
	pf_store_entry_free(e);
}

Test(remote_record, another_fingerprint_or_payload_type_is_refused)
{
	pf_store_entry *e = sample(), *back = NULL;
	pf_dsse_envelope *env = pf_attest_envelope_new("application/vnd.in-toto+json", "{}", 2);
	char *text = NULL, *other = pf_attest_envelope_render(env);
	bool verified = false;
	cr_assert_eq(pf_remote_record_make(&text, e, NULL), 0);
	cr_assert_eq(pf_remote_record_open(&back, &verified, text, strlen(text),
					   "0000000000000000000000000000000000000000000000000000000000000000", NULL),
		     PF_EINVALID);
	cr_assert(strstr(pf_error_last(), "another fingerprint"));
	cr_assert_eq(pf_remote_record_open(&back, &verified, other, strlen(other), FP, NULL), PF_EINVALID);
	cr_assert(strstr(pf_error_last(), "payload type"));
	cr_assert_eq(pf_remote_record_open(&back, &verified, "{\"payload", 9, FP, NULL), PF_EINVALID);
	cr_assert_null(back);
	free(text);
	free(other);
	pf_attest_envelope_free(env);
	pf_store_entry_free(e);
}

/* The fuzz corpus's signed record verifies with the key the fuzz target trusts (tests/fuzz/fuzz_remote_record.c),
 * so the fuzzer starts from an accepted record; its forged copy does not. */
Test(remote_record, corpus_signed_record_verifies_and_its_forgery_does_not)
{
	static const char pem[] = "-----BEGIN PUBLIC KEY-----\n"
				  "MCowBQYDK2VwAyEAYV49mYqaCtmqLq0IqqHXRrgietqESTkDp525dQIeO0w=\n"
				  "-----END PUBLIC KEY-----\n";
	static const char *const names[] = {"signed.json", "forged.json"};
	pf_attest_key *key = NULL;
	cr_assert_eq(pf_attest_key_parse_public(&key, pem, sizeof(pem) - 1), 0, "%s", pf_error_last());
	for (size_t i = 0; i < 2; i++) {
		char *path = pf_xasprintf("%s/tests/fuzz/corpus/remote_record/%s", PF_SOURCE_DIR, names[i]);
		pf_store_entry *e = NULL;
		bool verified = false;
		pf_buf b;
		pf_buf_init(&b, 1u << 20);
		cr_assert_eq(pf_fs_read_file(&b, path, 1u << 20), 0, "%s", pf_error_last());
		cr_assert_eq(pf_remote_record_open(&e, &verified, b.data, b.len, FP, key), i == 0 ? 0 : PF_EAUTH, "%s: %s",
			     names[i], pf_error_last());
		cr_assert_eq(verified, i == 0);
		pf_store_entry_free(e);
		pf_buf_dispose(&b);
		free(path);
	}
	pf_attest_key_free(key);
}
