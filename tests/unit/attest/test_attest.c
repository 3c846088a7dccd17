/*
 * Unit tests of src/attest: DSSE's PAE against the spec's vector, base64 in
 * both alphabets and its refusals, key pairs of both types (file modes, no
 * overwrite, sign and verify, a changed message or another key failing),
 * the bounded envelope reader (truncated, not JSON, too deep, too many
 * signatures), the statement of a run (subjects, source, no secret in it),
 * and pf_attest_verify on a folder untouched and tampered with.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/attest.h"
#include "attest/internal.h"
#include "manifest/manifest.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/text.h"
#include "util/log.h"
#include "util/mem.h"
#include "verify/hash.h"

#define SECRET "hf_ATTESTSECRETtoken1234567890"

static char *tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *tmpl = pf_xasprintf("%s/pteflow-attest-XXXXXX", base && base[0] ? base : "/tmp");
	cr_assert_not_null(mkdtemp(tmpl));
	return tmpl;
}

static void write_text(const char *dir, const char *name, const char *text)
{
	char *p = pf_fs_join(dir, name);
	cr_assert_eq(pf_fs_write_atomic(p, text, strlen(text)), 0, "%s", pf_error_last());
	free(p);
}

/* dir/sub, for an artifact in a subfolder */
static int mkdir_sub(const char *dir)
{
	char *sub = pf_fs_join(dir, "sub");
	int rc = pf_fs_mkdir_p(sub);
	free(sub);
	return rc;
}

static char *read_text(const char *dir, const char *name)
{
	pf_buf b;
	char *p = pf_fs_join(dir, name);
	pf_buf_init(&b, 1u << 24);
	cr_assert_eq(pf_fs_read_file(&b, p, 1u << 24), 0, "%s", pf_error_last());
	free(p);
	return pf_buf_detach(&b);
}

Test(attest_pae, spec_vector)
{
	size_t n = 0;
	unsigned char *p = pf_attest_pae(&n, "http://example.com/HelloWorld", "hello world", 11);
	const char *want = "DSSEv1 29 http://example.com/HelloWorld 11 hello world";
	cr_assert_eq(n, strlen(want));
	cr_assert_eq(memcmp(p, want, n), 0);
	free(p);
	p = pf_attest_pae(&n, "", "", 0);
	cr_assert_eq(n, strlen("DSSEv1 0  0 "));
	cr_assert_eq(memcmp(p, "DSSEv1 0  0 ", n), 0);
	free(p);
}

Test(attest_base64, round_trip_and_alphabets)
{
	unsigned char all[256], *out = NULL;
	size_t n = 0;
	char *text;
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	for (size_t len = 0; len < 10; len++) {
		text = pf_attest_base64_encode(all + 250 - len, len);
		cr_assert_eq(pf_attest_base64_decode(&out, &n, text, strlen(text), 100), 0, "%s", pf_error_last());
		cr_assert_eq(n, len);
		cr_assert_eq(memcmp(out, all + 250 - len, len), 0);
		free(out);
		free(text);
	}
	text = pf_attest_base64_encode("hello world", 11);
	cr_assert_str_eq(text, "aGVsbG8gd29ybGQ=");
	free(text);
	/* without padding, URL-safe */
	cr_assert_eq(pf_attest_base64_decode(&out, &n, "aGVsbG8gd29ybGQ", 15, 100), 0);
	cr_assert_eq(n, 11);
	free(out);
	cr_assert_eq(pf_attest_base64_decode(&out, &n, "-_-_", 4, 100), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(out[0], 0xfb);
	free(out);
}

Test(attest_base64, refusals)
{
	unsigned char *out = NULL;
	size_t n = 0;
	cr_assert_eq(pf_attest_base64_decode(&out, &n, "+/-_", 4, 100), PF_EINVALID, "mixed alphabets");
	cr_assert_eq(pf_attest_base64_decode(&out, &n, "aGVs bG8=", 9, 100), PF_EINVALID, "space");
	cr_assert_eq(pf_attest_base64_decode(&out, &n, "a", 1, 100), PF_EINVALID, "one character");
	cr_assert_eq(pf_attest_base64_decode(&out, &n, "aGVsbG8=x", 9, 100), PF_EINVALID, "data after padding");
	cr_assert_eq(pf_attest_base64_decode(&out, &n, "aGVsbG9=", 8, 100), PF_EINVALID, "stray bits");
	cr_assert_eq(pf_attest_base64_decode(&out, &n, "aGVsbG8gd29ybGQ=", 16, 10), PF_ELIMIT, "over the bound");
	cr_assert_null(out);
}

Test(attest_slug, remote_urls)
{
	struct {
		const char *url, *slug;
	} cases[] = {
		{"https://github.com/org/models", "org/models"},
		{"https://github.com/org/models.git", "org/models"},
		{"https://github.com/org/models/", "org/models"},
		{"git@github.com:org/models.git", "org/models"},
		{"ssh://git@github.com/org/models.git", "org/models"},
		{"https://gitlab.example/group/sub/models.git", "sub/models"},
		{"pteflow", "pteflow"},
		{"org/models", "org/models"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = pf_attest_repo_slug(cases[i].url);
		cr_assert_not_null(s, "%s", cases[i].url);
		cr_assert_str_eq(s, cases[i].slug, "%s", cases[i].url);
		free(s);
	}
	cr_assert_null(pf_attest_repo_slug(""));
	cr_assert_null(pf_attest_repo_slug("https://host"));
}

static void keypair(const char *dir, pf_key_type type, pf_attest_key **priv, pf_attest_key **pub)
{
	char *a = pf_fs_join(dir, type == PF_KEY_ED25519 ? "ed.pem" : "ec.pem");
	char *b = pf_fs_join(dir, type == PF_KEY_ED25519 ? "ed.pub.pem" : "ec.pub.pem");
	char keyid[65];
	struct stat st;
	cr_assert_eq(pf_attest_keygen(keyid, a, b, type), 0, "%s", pf_error_last());
	cr_assert_eq(stat(a, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600, "private key mode %o", st.st_mode & 0777);
	cr_assert_eq(stat(b, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0644);
	cr_assert_eq(pf_attest_key_load_private(priv, a), 0, "%s", pf_error_last());
	cr_assert_eq(pf_attest_key_load_public(pub, b), 0, "%s", pf_error_last());
	cr_assert_str_eq(pf_attest_key_id(*priv), keyid);
	cr_assert_str_eq(pf_attest_key_id(*pub), keyid);
	cr_assert_eq(pf_attest_key_type(*pub), type);
	free(a);
	free(b);
}

static void sign_and_verify(pf_key_type type)
{
	char *dir = tmpdir();
	pf_attest_key *priv = NULL, *pub = NULL, *priv2 = NULL, *pub2 = NULL;
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	const char msg[] = "DSSEv1 28 application/vnd.in-toto+json 2 {}";
	keypair(dir, type, &priv, &pub);
	cr_assert_eq(pf_attest_sign(&sig, &sig_len, priv, msg, sizeof(msg) - 1), 0, "%s", pf_error_last());
	if (type == PF_KEY_ED25519)
		cr_assert_eq(sig_len, 64);
	else
		cr_assert(sig_len >= 8 && sig_len <= 72 && sig[0] == 0x30, "DER ECDSA-Sig-Value, %zu bytes", sig_len);
	cr_assert_eq(pf_attest_verify_signature(pub, sig, sig_len, msg, sizeof(msg) - 1), 0);
	cr_assert_eq(pf_attest_verify_signature(priv, sig, sig_len, msg, sizeof(msg) - 1), 0, "a private key verifies too");
	cr_assert_eq(pf_attest_verify_signature(pub, sig, sig_len, msg, sizeof(msg) - 2), PF_EFAILED, "changed message");
	sig[sig_len / 2] ^= 1;
	cr_assert_eq(pf_attest_verify_signature(pub, sig, sig_len, msg, sizeof(msg) - 1), PF_EFAILED, "changed signature");
	sig[sig_len / 2] ^= 1;
	cr_assert_eq(pf_attest_verify_signature(pub, sig, sig_len / 2, msg, sizeof(msg) - 1), PF_EFAILED, "cut signature");
	/* another key of the other type */
	keypair(dir, type == PF_KEY_ED25519 ? PF_KEY_ECDSA_P256 : PF_KEY_ED25519, &priv2, &pub2);
	cr_assert_eq(pf_attest_verify_signature(pub2, sig, sig_len, msg, sizeof(msg) - 1), PF_EFAILED, "another key");
	cr_assert_eq(pf_attest_sign(&(unsigned char *){NULL}, &sig_len, pub, msg, 1), PF_EINVALID, "a public key cannot sign");
	free(sig);
	pf_attest_key_free(priv);
	pf_attest_key_free(pub);
	pf_attest_key_free(priv2);
	pf_attest_key_free(pub2);
	pf_fs_remove_tree(dir);
	free(dir);
}

Test(attest_key, ed25519_sign_verify)
{
	sign_and_verify(PF_KEY_ED25519);
}

Test(attest_key, ecdsa_p256_sign_verify)
{
	sign_and_verify(PF_KEY_ECDSA_P256);
}

Test(attest_key, keygen_never_overwrites)
{
	char *dir = tmpdir(), *a = pf_fs_join(dir, "k.pem"), *b = pf_fs_join(dir, "k.pub.pem"), *before;
	char keyid[65];
	cr_assert_eq(pf_attest_keygen(keyid, a, b, PF_KEY_ED25519), 0);
	before = read_text(dir, "k.pem");
	cr_assert_eq(pf_attest_keygen(keyid, a, b, PF_KEY_ED25519), PF_EINVALID);
	cr_assert(strstr(pf_error_last(), "never overwrites"), "%s", pf_error_last());
	{
		char *after = read_text(dir, "k.pem");
		cr_assert_str_eq(before, after);
		free(after);
	}
	/* only the public half exists: still refused, and no private key appears */
	unlink(a);
	cr_assert_eq(pf_attest_keygen(keyid, a, b, PF_KEY_ED25519), PF_EINVALID);
	cr_assert_not(pf_fs_exists(a));
	free(before);
	free(a);
	free(b);
	pf_fs_remove_tree(dir);
	free(dir);
}

Test(attest_key, load_refusals)
{
	char *dir = tmpdir(), *p;
	pf_attest_key *k = NULL;
	cr_assert_eq(pf_attest_key_load_public(&k, "/nonexistent/key.pem"), PF_ENOTFOUND);
	write_text(dir, "junk.pem", "not a key\n");
	p = pf_fs_join(dir, "junk.pem");
	cr_assert_eq(pf_attest_key_load_public(&k, p), PF_EINVALID);
	cr_assert_eq(pf_attest_key_load_private(&k, p), PF_EINVALID);
	free(p);
	/* an RSA key is refused with the reason */
	write_text(dir, "rsa.pub.pem",
		   "-----BEGIN PUBLIC KEY-----\n"
		   "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAMYsQ4eUs1JWc4ELdZwBbJsG9n0fqnn1\n"
		   "5D9S1H8yT6xOhQYoV6rDcvJ8g5V28YqoTBBRaNqrbD0G7AC1ti7m4OkCAwEAAQ==\n"
		   "-----END PUBLIC KEY-----\n");
	p = pf_fs_join(dir, "rsa.pub.pem");
	if (pf_attest_key_load_public(&k, p) == PF_EINVALID)
		cr_assert(strstr(pf_error_last(), "Ed25519 or ECDSA P-256") || strstr(pf_error_last(), "not a PEM"), "%s",
			  pf_error_last());
	cr_assert_null(k);
	free(p);
	pf_fs_remove_tree(dir);
	free(dir);
}

Test(attest_envelope, parse_render_round_trip)
{
	char *dir = tmpdir();
	pf_attest_key *priv = NULL, *pub = NULL;
	pf_dsse_envelope *env, *back = NULL;
	char *line;
	keypair(dir, PF_KEY_ED25519, &priv, &pub);
	env = pf_attest_envelope_new(PF_ATTEST_PAYLOAD_TYPE, "{\"a\":1}", 7);
	cr_assert_eq(pf_attest_envelope_sign(env, priv), 0);
	line = pf_attest_envelope_render(env);
	cr_assert_eq(line[strlen(line) - 1], '\n');
	cr_assert_eq(strchr(line, '\n'), line + strlen(line) - 1, "one line");
	cr_assert_eq(pf_attest_envelope_parse(&back, line, strlen(line)), 0, "%s", pf_error_last());
	cr_assert_str_eq(back->payload_type, PF_ATTEST_PAYLOAD_TYPE);
	cr_assert_eq(back->payload_len, 7);
	cr_assert_str_eq((char *)back->payload, "{\"a\":1}");
	cr_assert_eq(back->n_signatures, 1);
	cr_assert_str_eq(back->signatures[0].keyid, pf_attest_key_id(pub));
	cr_assert_eq(back->signatures[0].sig_len, 64);
	pf_attest_envelope_free(env);
	pf_attest_envelope_free(back);
	free(line);
	pf_attest_key_free(priv);
	pf_attest_key_free(pub);
	pf_fs_remove_tree(dir);
	free(dir);
}

/* Provenance carries the signature under pteflow's keyid and securesystemslib's default one. */
Test(attest_envelope, interop_signs_under_both_keyids)
{
	char *dir = tmpdir();
	pf_key_type types[2] = {PF_KEY_ED25519, PF_KEY_ECDSA_P256};
	for (size_t t = 0; t < 2; t++) {
		pf_attest_key *priv = NULL, *pub = NULL;
		pf_dsse_envelope *env;
		char *sub = pf_xasprintf("%s/%zu", dir, t);
		cr_assert_eq(pf_fs_mkdir_p(sub), 0);
		keypair(sub, types[t], &priv, &pub);
		cr_assert_str_eq(pf_attest_key_sslib_id(priv), pf_attest_key_sslib_id(pub));
		cr_assert(pf_is_sha256_hex(pf_attest_key_sslib_id(pub)));
		cr_assert_str_neq(pf_attest_key_sslib_id(pub), pf_attest_key_id(pub));
		env = pf_attest_envelope_new(PF_ATTEST_PAYLOAD_TYPE, "{}", 2);
		cr_assert_eq(pf_attest_envelope_sign_interop(env, priv), 0);
		cr_assert_eq(env->n_signatures, 2);
		cr_assert_str_eq(env->signatures[0].keyid, pf_attest_key_id(pub));
		cr_assert_str_eq(env->signatures[1].keyid, pf_attest_key_sslib_id(pub));
		cr_assert_eq(env->signatures[0].sig_len, env->signatures[1].sig_len);
		cr_assert_eq(memcmp(env->signatures[0].sig, env->signatures[1].sig, env->signatures[0].sig_len), 0);
		pf_attest_envelope_free(env);
		env = pf_attest_envelope_new(PF_ATTEST_PAYLOAD_TYPE, "{}", 2);
		cr_assert_eq(pf_attest_envelope_sign(env, priv), 0);
		cr_assert_eq(env->n_signatures, 1, "the remote store's records keep one signature");
		pf_attest_envelope_free(env);
		pf_attest_key_free(priv);
		pf_attest_key_free(pub);
		free(sub);
	}
	pf_fs_remove_tree(dir);
	free(dir);
}

Test(attest_envelope, hostile_inputs)
{
	pf_dsse_envelope *env = NULL;
	const char *good = "{\"payload\":\"e30=\",\"payloadType\":\"x\",\"signatures\":[]}";
	struct {
		const char *text;
		int rc;
	} cases[] = {
		{"", PF_ATTEST_ETRUNCATED},
		{"\n", PF_ATTEST_ETRUNCATED},
		{"{\"payload\":\"e30=\",\"payloadType\":\"x\",\"signa", PF_ATTEST_ETRUNCATED},
		{"{\"payload\":\"e30=\",\"payloadType\":\"x\",\"signatures\":[{\"sig\":\"AAAA\"}", PF_ATTEST_ETRUNCATED},
		{"not json", PF_EINVALID},
		{"[]", PF_EINVALID},
		{"{\"payloadType\":\"x\",\"signatures\":[]}", PF_EINVALID},
		{"{\"payload\":\"e30=\",\"signatures\":[]}", PF_EINVALID},
		{"{\"payload\":\"e30=\",\"payloadType\":\"x\"}", PF_EINVALID},
		{"{\"payload\":\"e30=\",\"payloadType\":\"x\",\"signatures\":{}}", PF_EINVALID},
		{"{\"payload\":\"e3@=\",\"payloadType\":\"x\",\"signatures\":[]}", PF_EINVALID},
		{"{\"payload\":\"e30=\",\"payloadType\":\"x\",\"signatures\":[1]}", PF_EINVALID},
		{"{\"payload\":\"e30=\",\"payloadType\":\"x\",\"signatures\":[{\"sig\":\"\"}]}", PF_EINVALID},
		{"{\"payload\":\"e30=\",\"payloadType\":\"x\",\"signatures\":[{\"keyid\":5,\"sig\":\"AAAA\"}]}", PF_EINVALID},
		{"{\"payload\":\"e30=\",\"payloadType\":\"x\",\"signatures\":[]}\n{}", PF_EINVALID},
	};
	cr_assert_eq(pf_attest_envelope_parse(&env, good, strlen(good)), 0, "%s", pf_error_last());
	cr_assert_eq(env->payload_len, 2);
	pf_attest_envelope_free(env);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		env = NULL;
		cr_assert_eq(pf_attest_envelope_parse(&env, cases[i].text, strlen(cases[i].text)), cases[i].rc,
			     "case %zu: %s -> %s", i, cases[i].text, pf_error_last());
		cr_assert_null(env);
	}
}

Test(attest_envelope, bounded_depth_and_signatures)
{
	pf_buf b;
	pf_dsse_envelope *env = NULL;
	pf_buf_init(&b, 1u << 22);
	(void)pf_buf_puts(&b, "{\"payload\":\"\",\"payloadType\":\"x\",\"signatures\":[],\"x\":");
	for (int i = 0; i < 100000; i++)
		(void)pf_buf_puts(&b, "[");
	cr_assert_eq(pf_attest_envelope_parse(&env, b.data, b.len), PF_EINVALID);
	cr_assert(strstr(pf_error_last(), "deeper"), "%s", pf_error_last());
	pf_buf_reset(&b);
	(void)pf_buf_puts(&b, "{\"payload\":\"\",\"payloadType\":\"x\",\"signatures\":[");
	for (int i = 0; i < 65; i++)
		(void)pf_buf_printf(&b, "%s{\"sig\":\"AAAA\"}", i ? "," : "");
	(void)pf_buf_puts(&b, "]}");
	cr_assert_eq(pf_attest_envelope_parse(&env, b.data, b.len), PF_EINVALID);
	cr_assert(strstr(pf_error_last(), "64 signatures"), "%s", pf_error_last());
	pf_buf_dispose(&b);
}

/* A record of a passed run with two artifacts in `dir` (files written), a model and a step with a secret. */
static void fill_record(pf_run_record *rec, const char *dir)
{
	memset(rec, 0, sizeof(*rec));
	write_text(dir, "model.pte", "PTE bytes");
	write_text(dir, "sub/w.ptd", "PTD bytes");
	rec->pteflow_version = pf_xstrdup("0.1.0");
	rec->pipeline_name = pf_xstrdup("demo");
	rec->pipeline_path = pf_xstrdup("pipelines/demo.yaml");
	memset(rec->pipeline_sha256, 'c', 64);
	rec->target = pf_xstrdup("int8");
	rec->created_utc = pf_xstrdup("2026-01-01T00:00:00Z");
	rec->host.hostname = pf_xstrdup("build host"); /* SLSA wants a URI: the space is encoded */
	rec->git = (pf_git_record){.present = true, .repository = pf_xstrdup("git@github.com:org/models.git"),
				   .commit = pf_xstrdup("0123456789abcdef0123456789abcdef01234567"),
				   .branch = pf_xstrdup("main")};
	rec->model = pf_xcalloc(1, sizeof(*rec->model));
	rec->model->repo = pf_xstrdup("org/tiny");
	rec->model->revision = pf_xstrdup("main");
	rec->model->commit = pf_xstrdup("fedcba9876543210fedcba9876543210fedcba98");
	rec->steps = pf_xcalloc(1, sizeof(*rec->steps));
	rec->n_steps = 1;
	rec->steps[0].name = pf_xstrdup("export");
	rec->steps[0].argv = pf_xcalloc(2, sizeof(char *));
	rec->steps[0].argv[0] = pf_xstrdup("python");
	rec->steps[0].argv[1] = pf_xstrdup("--token=" SECRET); /* a caller that forgot to redact */
	rec->steps[0].n_argv = 2;
	rec->steps[0].ran = true;
	rec->artifacts = pf_xcalloc(3, sizeof(*rec->artifacts));
	rec->n_artifacts = 3;
	rec->artifacts[0].path = pf_xstrdup("model.pte");
	rec->artifacts[0].exists = true;
	pf_sha256_bytes(rec->artifacts[0].sha256, "PTE bytes", 9);
	rec->artifacts[1].path = pf_xstrdup("sub/w.ptd");
	rec->artifacts[1].exists = true;
	pf_sha256_bytes(rec->artifacts[1].sha256, "PTD bytes", 9);
	rec->artifacts[2].path = pf_xstrdup("missing.pte"); /* not attested: it does not exist */
	rec->passed = true;
}

Test(attest_statement, fields_and_no_secret)
{
	char *dir = tmpdir(), *text = NULL;
	pf_run_record rec;
	char k1[] = "seq_len", v1[] = "512", k2[] = "token", v2[] = SECRET;
	pf_kv vars[2] = {{.key = k1, .value = v1}, {.key = k2, .value = v2}};
	pf_attest_params p = {.vars = vars, .n_vars = 2, .out_dir = dir, .manifest_name = "manifest.json",
			      .finished_utc = "2026-01-01T00:01:00Z", .invocation_id = "inv-1"};
	cJSON *st, *subjects;
	pf_secret_add(SECRET);
	cr_assert_eq(mkdir_sub(dir), 0);
	fill_record(&rec, dir);
	cr_assert_eq(pf_attest_statement(&text, &rec, &p, NULL), 0, "%s", pf_error_last());
	cr_assert_null(strstr(text, SECRET), "the secret reached the statement");
	st = cJSON_Parse(text);
	cr_assert_not_null(st);
	cr_assert_str_eq(cJSON_GetObjectItem(st, "_type")->valuestring, PF_ATTEST_STATEMENT_TYPE);
	cr_assert_str_eq(cJSON_GetObjectItem(st, "predicateType")->valuestring, PF_ATTEST_PREDICATE_TYPE);
	subjects = cJSON_GetObjectItem(st, "subject");
	cr_assert_eq(cJSON_GetArraySize(subjects), 2, "the missing artifact is not a subject");
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(subjects, 1), "name")->valuestring, "sub/w.ptd");
	{
		cJSON *pred = cJSON_GetObjectItem(st, "predicate");
		cJSON *ext = cJSON_GetObjectItem(cJSON_GetObjectItem(pred, "buildDefinition"), "externalParameters");
		cJSON *src = cJSON_GetObjectItem(ext, "source");
		cJSON *meta = cJSON_GetObjectItem(cJSON_GetObjectItem(pred, "runDetails"), "metadata");
		cr_assert_str_eq(cJSON_GetObjectItem(src, "repository")->valuestring, "org/models");
		cr_assert_str_eq(cJSON_GetObjectItem(src, "ref")->valuestring, "refs/heads/main");
		cr_assert_str_eq(cJSON_GetObjectItem(ext, "target")->valuestring, "int8");
		cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(ext, "vars"), "seq_len")->valuestring, "512");
		cr_assert_str_eq(cJSON_GetObjectItem(meta, "startedOn")->valuestring, "2026-01-01T00:00:00Z");
		cr_assert_str_eq(cJSON_GetObjectItem(meta, "finishedOn")->valuestring, "2026-01-01T00:01:00Z");
		cr_assert_str_eq(cJSON_GetObjectItem(meta, "invocationId")->valuestring, "inv-1");
		cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(pred, "runDetails"), "builder"),
						     "id")->valuestring,
				 "https://pteflow.dev/builders/local@build%20host");
	}
	cJSON_Delete(st);
	free(text);
	pf_run_record_dispose(&rec);
	pf_secret_clear();
	pf_fs_remove_tree(dir);
	free(dir);
}

static int verify_dir(pf_attest_report *r, const char *dir, pf_attest_key *key, const char *repo, const char *ref)
{
	char *prov = pf_fs_join(dir, PF_ATTEST_FILE_NAME), *manifest = pf_fs_join(dir, "manifest.json");
	pf_attest_key *keys[1] = {key};
	pf_attest_verify_options o = {.provenance_path = prov, .manifest_path = manifest, .keys = keys,
				      .n_keys = key ? 1 : 0, .expect_repo = repo, .expect_ref = ref};
	int rc = pf_attest_verify(r, &o);
	free(prov);
	free(manifest);
	return rc;
}

static const pf_attest_check *check_named(const pf_attest_report *r, const char *name)
{
	for (size_t i = 0; i < r->n_checks; i++)
		if (!strcmp(r->checks[i].name, name))
			return &r->checks[i];
	cr_assert_fail("no check named %s", name);
	return NULL;
}

Test(attest_verify, signed_run_then_tampered)
{
	char *dir = tmpdir(), *line, *cut;
	pf_run_record rec;
	pf_attest_key *priv = NULL, *pub = NULL, *priv2 = NULL, *pub2 = NULL;
	pf_attest_params p;
	pf_attest_report r;
	cr_assert_eq(mkdir_sub(dir), 0);
	fill_record(&rec, dir);
	keypair(dir, PF_KEY_ECDSA_P256, &priv, &pub);
	keypair(dir, PF_KEY_ED25519, &priv2, &pub2);
	write_text(dir, "manifest.json", "{\"schema_version\": 1}\n");
	p = (pf_attest_params){.out_dir = dir, .manifest_name = "manifest.json", .sign_key = priv};
	cr_assert_eq(pf_attest_write_run(&rec, &p), 0, "%s", pf_error_last());

	cr_assert_eq(verify_dir(&r, dir, pub, "org/models", "main"), 0, "%s", pf_error_last());
	cr_assert(r.ok && r.signed_by_key, "%s", check_named(&r, "signature")->detail);
	cr_assert_eq(r.n_subjects, 2);
	pf_attest_report_dispose(&r);

	/* no key: digests checked, the signature is not, and that is said */
	cr_assert_eq(verify_dir(&r, dir, NULL, NULL, NULL), 0);
	cr_assert_eq(check_named(&r, "signature")->status, PF_ATTEST_UNSIGNED);
	cr_assert_not(r.signed_by_key);
	pf_attest_report_dispose(&r);

	/* wrong key, wrong repo, wrong ref */
	cr_assert_eq(verify_dir(&r, dir, pub2, "org/other", "refs/tags/v1"), 0);
	cr_assert_not(r.ok);
	cr_assert_eq(check_named(&r, "signature")->status, PF_ATTEST_FAILED);
	cr_assert_eq(check_named(&r, "source-repo")->status, PF_ATTEST_FAILED);
	cr_assert_eq(check_named(&r, "source-ref")->status, PF_ATTEST_FAILED);
	cr_assert_eq(check_named(&r, "subjects")->status, PF_ATTEST_OK);
	pf_attest_report_dispose(&r);

	/* an artifact changed on disk */
	write_text(dir, "model.pte", "PTE bytEs");
	cr_assert_eq(verify_dir(&r, dir, pub, NULL, NULL), 0);
	cr_assert_eq(check_named(&r, "subjects")->status, PF_ATTEST_FAILED);
	cr_assert(strstr(check_named(&r, "subjects")->detail, "model.pte"));
	cr_assert_eq(check_named(&r, "signature")->status, PF_ATTEST_OK);
	pf_attest_report_dispose(&r);
	write_text(dir, "model.pte", "PTE bytes");

	/* the manifest edited */
	write_text(dir, "manifest.json", "{\"schema_version\": 2}\n");
	cr_assert_eq(verify_dir(&r, dir, pub, NULL, NULL), 0);
	cr_assert_eq(check_named(&r, "manifest")->status, PF_ATTEST_FAILED);
	pf_attest_report_dispose(&r);
	write_text(dir, "manifest.json", "{\"schema_version\": 1}\n");

	/* truncated: a verification failure naming the envelope, not an error */
	line = read_text(dir, PF_ATTEST_FILE_NAME);
	cut = pf_xstrndup(line, strlen(line) / 2);
	write_text(dir, PF_ATTEST_FILE_NAME, cut);
	cr_assert_eq(verify_dir(&r, dir, pub, NULL, NULL), 0);
	cr_assert_not(r.ok);
	cr_assert_eq(check_named(&r, "envelope")->status, PF_ATTEST_FAILED);
	cr_assert(strstr(check_named(&r, "envelope")->detail, "cut short"));
	pf_attest_report_dispose(&r);

	/* not an envelope at all: invalid input */
	write_text(dir, PF_ATTEST_FILE_NAME, "hello: world\n");
	cr_assert_eq(verify_dir(&r, dir, pub, NULL, NULL), PF_EINVALID);
	pf_attest_report_dispose(&r);

	free(line);
	free(cut);
	pf_attest_key_free(priv);
	pf_attest_key_free(pub);
	pf_attest_key_free(priv2);
	pf_attest_key_free(pub2);
	pf_run_record_dispose(&rec);
	pf_fs_remove_tree(dir);
	free(dir);
}

Test(attest_verify, second_signature_from_unknown_key)
{
	char *dir = tmpdir(), *line;
	pf_run_record rec;
	pf_attest_key *priv = NULL, *pub = NULL, *priv2 = NULL, *pub2 = NULL;
	pf_attest_params p;
	pf_attest_report r;
	pf_dsse_envelope *env = NULL;
	cr_assert_eq(mkdir_sub(dir), 0);
	fill_record(&rec, dir);
	keypair(dir, PF_KEY_ED25519, &priv, &pub);
	keypair(dir, PF_KEY_ECDSA_P256, &priv2, &pub2);
	write_text(dir, "manifest.json", "{}\n");
	p = (pf_attest_params){.out_dir = dir, .manifest_name = "manifest.json", .sign_key = priv};
	cr_assert_eq(pf_attest_write_run(&rec, &p), 0, "%s", pf_error_last());
	line = read_text(dir, PF_ATTEST_FILE_NAME);
	cr_assert_eq(pf_attest_envelope_parse(&env, line, strlen(line)), 0);
	cr_assert_eq(pf_attest_envelope_sign(env, priv2), 0);
	free(line);
	line = pf_attest_envelope_render(env);
	write_text(dir, PF_ATTEST_FILE_NAME, line);
	cr_assert_eq(verify_dir(&r, dir, pub, NULL, NULL), 0);
	cr_assert_not(r.ok);
	cr_assert_eq(check_named(&r, "signature")->status, PF_ATTEST_FAILED);
	cr_assert(strstr(check_named(&r, "signature")->detail, "signature 3 of 3"), "%s", check_named(&r, "signature")->detail);
	pf_attest_report_dispose(&r);
	/* both keys trusted: passes */
	{
		char *prov = pf_fs_join(dir, PF_ATTEST_FILE_NAME), *manifest = pf_fs_join(dir, "manifest.json");
		pf_attest_key *keys[2] = {pub, pub2};
		pf_attest_verify_options o = {.provenance_path = prov, .manifest_path = manifest, .keys = keys, .n_keys = 2};
		cr_assert_eq(pf_attest_verify(&r, &o), 0);
		cr_assert(r.ok, "%s", check_named(&r, "signature")->detail);
		pf_attest_report_dispose(&r);
		free(prov);
		free(manifest);
	}
	free(line);
	pf_attest_envelope_free(env);
	pf_attest_key_free(priv);
	pf_attest_key_free(pub);
	pf_attest_key_free(priv2);
	pf_attest_key_free(pub2);
	pf_run_record_dispose(&rec);
	pf_fs_remove_tree(dir);
	free(dir);
}

Test(attest_write, failed_run_removes_stale_provenance)
{
	char *dir = tmpdir(), *path = pf_fs_join(dir, PF_ATTEST_FILE_NAME);
	pf_run_record rec;
	pf_attest_params p = {.out_dir = dir, .manifest_name = "manifest.json"};
	cr_assert_eq(mkdir_sub(dir), 0);
	fill_record(&rec, dir);
	write_text(dir, "manifest.json", "{}\n");
	cr_assert_eq(pf_attest_write_run(&rec, &p), 0, "%s", pf_error_last());
	cr_assert(pf_fs_exists(path));
	rec.passed = false;
	cr_assert_eq(pf_attest_write_run(&rec, &p), 0);
	cr_assert_not(pf_fs_exists(path));
	pf_run_record_dispose(&rec);
	free(path);
	pf_fs_remove_tree(dir);
	free(dir);
}

Test(attest_verify, hostile_subject_paths_are_never_opened)
{
	char *dir = tmpdir(), *text, *line;
	char hex[65];
	pf_dsse_envelope *env;
	pf_attest_report r;
	char *prov, *manifest;
	pf_attest_verify_options o;
	pf_sha256_bytes(hex, "x", 1);
	text = pf_xasprintf("{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicateType\":"
			    "\"https://slsa.dev/provenance/v1\",\"subject\":[{\"name\":\"../outside\",\"digest\":"
			    "{\"sha256\":\"%s\"}},{\"name\":\"link\",\"digest\":{\"sha256\":\"%s\"}}],\"predicate\":{}}",
			    hex, hex);
	env = pf_attest_envelope_new(PF_ATTEST_PAYLOAD_TYPE, text, strlen(text));
	line = pf_attest_envelope_render(env);
	write_text(dir, PF_ATTEST_FILE_NAME, line);
	write_text(dir, "manifest.json", "{}");
	cr_assert_eq(symlink("/etc/hostname", (manifest = pf_fs_join(dir, "link"))), 0);
	free(manifest);
	prov = pf_fs_join(dir, PF_ATTEST_FILE_NAME);
	manifest = pf_fs_join(dir, "manifest.json");
	o = (pf_attest_verify_options){.provenance_path = prov, .manifest_path = manifest};
	cr_assert_eq(pf_attest_verify(&r, &o), 0);
	cr_assert_not(r.ok);
	cr_assert(strstr(check_named(&r, "subjects")->detail, "escapes the folder"));
	cr_assert(strstr(check_named(&r, "subjects")->detail, "symbolic link"));
	cr_assert_eq(check_named(&r, "manifest")->status, PF_ATTEST_FAILED, "no manifest digest recorded");
	pf_attest_report_dispose(&r);
	pf_attest_envelope_free(env);
	free(text);
	free(line);
	free(prov);
	free(manifest);
	pf_fs_remove_tree(dir);
	free(dir);
}
