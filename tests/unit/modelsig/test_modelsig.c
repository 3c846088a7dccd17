/* Unit tests of src/modelsig/: order of names, path cleaning, statement and bundle round trip, refusals,
 * the folder check, and the signature a run writes. Interop with model-signing itself: tests/cli/test_model_sig.py. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/attest.h"
#include "modelsig/internal.h"
#include "modelsig/modelsig.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "verify/hash.h"

static char *tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *tmpl = pf_xasprintf("%s/pteflow-modelsig-XXXXXX", base && base[0] ? base : "/tmp");
	cr_assert_not_null(mkdtemp(tmpl));
	return tmpl;
}

static void write_text(const char *dir, const char *name, const char *text)
{
	char *p = pf_fs_join(dir, name), *parent = pf_fs_dirname(p);
	cr_assert_eq(pf_fs_mkdir_p(parent), 0);
	cr_assert_eq(pf_fs_write_atomic(p, text, strlen(text)), 0, "%s", pf_error_last());
	free(parent);
	free(p);
}

static void keypair(const char *dir, pf_key_type type, pf_attest_key **priv, pf_attest_key **pub)
{
	char *a = pf_fs_join(dir, type == PF_KEY_ED25519 ? "ed.pem" : "ec.pem");
	char *b = pf_fs_join(dir, type == PF_KEY_ED25519 ? "ed.pub.pem" : "ec.pub.pem");
	char keyid[65];
	cr_assert_eq(pf_attest_keygen(keyid, a, b, type), 0, "%s", pf_error_last());
	cr_assert_eq(pf_attest_key_load_private(priv, a), 0, "%s", pf_error_last());
	cr_assert_eq(pf_attest_key_load_public(pub, b), 0, "%s", pf_error_last());
	free(a);
	free(b);
}

/* model_signing 1.1.1 listed these in this order for one folder (PurePosixPath order, observed). */
Test(modelsig_order, path_components_as_model_signing)
{
	const char *want[] = {".hidden", "a", "a/b", "a-b", "config.json", "model.pte", "sub/w.bin"};
	for (size_t i = 0; i + 1 < sizeof(want) / sizeof(want[0]); i++) {
		cr_assert_lt(pf_modelsig_name_cmp(want[i], want[i + 1]), 0, "%s < %s", want[i], want[i + 1]);
		cr_assert_gt(pf_modelsig_name_cmp(want[i + 1], want[i]), 0);
	}
	cr_assert_eq(pf_modelsig_name_cmp("a/b", "a/b"), 0);
	cr_assert_lt(strcmp("a-b", "a/b"), 0, "byte order differs: the comparator is needed");
}

Test(modelsig_paths, cleaned_as_purepath)
{
	struct {
		const char *in, *out;
	} cases[] = {{"./a//b/", "a/b"}, {".", ""}, {"a/./b", "a/b"}, {"model.sig", "model.sig"}, {"", ""}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *c = ms_clean_path(cases[i].in);
		cr_assert_not_null(c, "%s", cases[i].in);
		cr_assert_str_eq(c, cases[i].out, "%s", cases[i].in);
		free(c);
	}
	cr_assert_null(ms_clean_path("/abs"));
	cr_assert_null(ms_clean_path("a/../b"));
	cr_assert_null(ms_clean_path(".."));
}

static pf_modelsig_file file_of(const char *name, const char *content)
{
	pf_modelsig_file f = {.name = pf_xstrdup(name)};
	pf_sha256_bytes(f.sha256, content, strlen(content));
	return f;
}

/* The documented example: config.json "{}" and model.pte "hello" give this root digest. */
Test(modelsig_statement, root_digest_of_the_format_example)
{
	pf_modelsig_file files[2] = {file_of("model.pte", "hello"), file_of("config.json", "{}")};
	char *st = pf_modelsig_statement("demo", files, 2, NULL, 0);
	cJSON *j = cJSON_Parse(st), *subject = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "subject"), 0);
	cJSON *res = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "predicate"), "resources");
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(subject, "digest"), "sha256")->valuestring,
	                 "6d579d56e009c61479c978ad4849556a6e6cee5ad4ba63e478acb2525cdc8fa5");
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(res, 0), "name")->valuestring, "config.json", "sorted");
	cr_assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "predicate"), "serialization"),
	                                   "ignore_paths"),
	               "model_signing leaves out an empty list");
	cJSON_Delete(j);
	free(st);
	free(files[0].name);
	free(files[1].name);
}

Test(modelsig_bundle, sign_parse_verify_and_refusals)
{
	char *dir = tmpdir(), *model = pf_fs_join(dir, "model"), *sig = pf_fs_join(dir, "model.sig");
	pf_attest_key *priv = NULL, *pub = NULL, *edpriv = NULL, *edpub = NULL;
	pf_modelsig_file files[2] = {file_of("model.pte", "hello"), file_of("sub/w.bin", "x")};
	const char *ignore[] = {"logs", "manifest.json"};
	pf_modelsig_claims *c = NULL;
	pf_modelsig_report r;
	char *st, *bundle = NULL;
	keypair(dir, PF_KEY_ECDSA_P256, &priv, &pub);
	keypair(dir, PF_KEY_ED25519, &edpriv, &edpub);
	st = pf_modelsig_statement("model", files, 2, ignore, 2);
	cr_assert_eq(pf_modelsig_bundle(&bundle, st, edpriv), PF_EINVALID, "model_signing takes EC keys only");
	cr_assert_eq(pf_modelsig_bundle(&bundle, st, priv), 0, "%s", pf_error_last());
	cr_assert_eq(pf_modelsig_parse(&c, bundle, strlen(bundle)), 0, "%s", pf_error_last());
	cr_assert_eq(c->n_files, 2);
	cr_assert_eq(c->n_ignore, 2);
	cr_assert_str_eq(c->files[1].name, "sub/w.bin");
	cr_assert_not_null(c->key_hint);
	pf_modelsig_claims_free(c);

	write_text(model, "model.pte", "hello");
	write_text(model, "sub/w.bin", "x");
	write_text(model, "logs/step.log", "ignored");
	write_text(model, "manifest.json", "ignored");
	write_text(model, ".git/HEAD", "always ignored");
	write_text(dir, "model.sig", bundle);
	{
		pf_attest_key *keys[2] = {edpub, pub};
		cr_assert_eq(pf_modelsig_verify(&r, sig, model, keys, 2), 0, "%s", pf_error_last());
		cr_assert(r.ok, "%s / %s", r.signature_detail, r.files_detail);
		cr_assert_eq(r.n_files, 2);
		pf_modelsig_report_dispose(&r);
		cr_assert_eq(pf_modelsig_verify(&r, sig, model, keys, 1), 0);
		cr_assert_not(r.signature_ok);
		cr_assert(strstr(r.signature_detail, "key mismatch"), "%s", r.signature_detail);
		pf_modelsig_report_dispose(&r);
	}
	/* the signature inside the folder is ignored, as model_signing's CLI does */
	{
		char *inner = pf_fs_join(model, "model.sig");
		pf_attest_key *keys[1] = {pub};
		write_text(model, "model.sig", bundle);
		cr_assert_eq(pf_modelsig_verify(&r, inner, model, keys, 1), 0);
		cr_assert(r.ok, "%s", r.files_detail);
		pf_modelsig_report_dispose(&r);
		write_text(model, "sub/w.bin", "y");
		cr_assert_eq(pf_modelsig_verify(&r, inner, model, keys, 1), 0);
		cr_assert_not(r.ok);
		cr_assert(strstr(r.files_detail, "changed file \"sub/w.bin\""), "%s", r.files_detail);
		pf_modelsig_report_dispose(&r);
		free(inner);
	}
	free(st);
	free(bundle);
	free(files[0].name);
	free(files[1].name);
	pf_attest_key_free(priv);
	pf_attest_key_free(pub);
	pf_attest_key_free(edpriv);
	pf_attest_key_free(edpub);
	pf_fs_remove_tree(dir);
	free(dir);
	free(model);
	free(sig);
}

/* A bundle around a statement given as text (the signature is garbage: parse does not check it). */
static int parse_statement_text(const char *statement)
{
	char *b64 = pf_attest_base64_encode(statement, strlen(statement));
	char *bundle =
	    pf_xasprintf("{\"mediaType\":\"%s\",\"verificationMaterial\":{\"tlogEntries\":[]},"
	                 "\"dsseEnvelope\":{\"payload\":\"%s\",\"payloadType\":\"application/vnd.in-toto+json\","
	                 "\"signatures\":[{\"sig\":\"MEQ=\",\"keyid\":\"\"}]}}",
	                 PF_MODELSIG_MEDIA_TYPE, b64);
	pf_modelsig_claims *c = NULL;
	int rc = pf_modelsig_parse(&c, bundle, strlen(bundle));
	pf_modelsig_claims_free(c);
	free(bundle);
	free(b64);
	return rc;
}

static int nibble(char c)
{
	return c >= 'a' ? c - 'a' + 10 : c - '0';
}

Test(modelsig_parse, hostile_statements)
{
	char d1[65], root[65];
	unsigned char raw[64];
	char *st;
	pf_sha256_bytes(d1, "a", 1);
	for (int i = 0; i < 32; i++) {
		unsigned char v = (unsigned char)(nibble(d1[2 * i]) << 4 | nibble(d1[2 * i + 1]));
		raw[i] = v;
		raw[32 + i] = v;
	}
	pf_sha256_bytes(root, raw, 32);
#define ST(res, sub, ser)                                                                                              \
	pf_xasprintf("{\"_type\":\"https://in-toto.io/Statement/"                                                      \
	             "v1\",\"subject\":[{\"name\":\"m\",\"digest\":{\"sha256\":\"%s\"}}],"                             \
	             "\"predicateType\":\"%s\",\"predicate\":{\"serialization\":%s,\"resources\":%s}}",                \
	             sub, PF_MODELSIG_PREDICATE_TYPE, ser, res)
	const char *files_ser = "{\"method\":\"files\",\"hash_type\":\"sha256\",\"allow_symlinks\":false}";
	char *one = pf_xasprintf("[{\"name\":\"a\",\"algorithm\":\"sha256\",\"digest\":\"%s\"}]", d1);
	char *two = pf_xasprintf("[{\"name\":\"a\",\"algorithm\":\"sha256\",\"digest\":\"%s\"},"
	                         "{\"name\":\"a\",\"algorithm\":\"sha256\",\"digest\":\"%s\"}]",
	                         d1, d1);
	char root2[65];
	pf_sha256_bytes(root2, raw, 64);
	st = ST(one, root, files_ser);
	cr_assert_eq(parse_statement_text(st), 0, "%s", pf_error_last());
	free(st);
	st = ST(one, root2, files_ser);
	cr_assert_eq(parse_statement_text(st), PF_EINVALID, "root digest does not match");
	cr_assert(strstr(pf_error_last(), "inconsistent"), "%s", pf_error_last());
	free(st);
	st = ST(two, root2, files_ser);
	cr_assert_eq(parse_statement_text(st), PF_EINVALID, "duplicate names");
	cr_assert(strstr(pf_error_last(), "same name"), "%s", pf_error_last());
	free(st);
	st = ST(one, root, "{\"method\":\"shards\",\"hash_type\":\"sha256\",\"shard_size\":2}");
	cr_assert_eq(parse_statement_text(st), PF_EINVALID);
	cr_assert(strstr(pf_error_last(), "shards"), "%s", pf_error_last());
	free(st);
	st = ST(one, root, "{\"method\":\"files\",\"hash_type\":\"blake3\"}");
	cr_assert_eq(parse_statement_text(st), PF_EINVALID);
	free(st);
	st = ST(one, root, "{\"method\":\"files\",\"hash_type\":\"sha256\",\"ignore_paths\":[5]}");
	cr_assert_eq(parse_statement_text(st), PF_EINVALID);
	free(st);
	cr_assert_eq(parse_statement_text("[]"), PF_EINVALID);
	cr_assert_eq(parse_statement_text("{\"_type\":\"https://in-toto.io/Statement/v1\"}"), PF_EINVALID);
	free(one);
	free(two);
#undef ST
}

/* The ignore list of a run: everything but the artifacts, whole folders when no artifact is below them. */
Test(modelsig_write, run_signature_ignores_what_is_not_an_artifact)
{
	char *dir = tmpdir(), *text;
	pf_attest_key *priv = NULL, *pub = NULL;
	pf_run_record rec;
	pf_modelsig_claims *c = NULL;
	pf_buf b;
	char *sig = pf_fs_join(dir, "out/model.sig"), *out = pf_fs_join(dir, "out");
	char *later = pf_fs_join(dir, "out/./kpi/records.json");
	keypair(dir, PF_KEY_ECDSA_P256, &priv, &pub);
	write_text(out, "model.pte", "P");
	write_text(out, "sub/w.ptd", "D");
	write_text(out, "sub/tmp.bin", "T");
	write_text(out, "logs/make.log", "L");
	write_text(out, "manifest.json", "{}");
	memset(&rec, 0, sizeof(rec));
	rec.passed = true;
	rec.artifacts = pf_xcalloc(3, sizeof(*rec.artifacts));
	rec.n_artifacts = 3;
	rec.artifacts[0].path = pf_xstrdup("./model.pte");
	rec.artifacts[0].exists = true;
	pf_sha256_bytes(rec.artifacts[0].sha256, "P", 1);
	rec.artifacts[1].path = pf_xstrdup("sub/w.ptd");
	rec.artifacts[1].exists = true;
	pf_sha256_bytes(rec.artifacts[1].sha256, "D", 1);
	rec.artifacts[2].path = pf_xstrdup("missing.pte");
	/* the --kpi-record file, written after model.sig, is ignored when it lies in the folder */
	cr_assert_eq(pf_modelsig_write_run(&rec, out, "manifest.json", later, priv, UINT64_MAX), 0, "%s",
	             pf_error_last());
	pf_buf_init(&b, 1u << 20);
	cr_assert_eq(pf_fs_read_file(&b, sig, 1u << 20), 0);
	cr_assert_eq(pf_modelsig_parse(&c, pf_buf_cstr(&b), b.len), 0, "%s", pf_error_last());
	cr_assert_eq(c->n_files, 2);
	cr_assert_str_eq(c->files[0].name, "model.pte");
	cr_assert_str_eq(c->files[1].name, "sub/w.ptd");
	cr_assert_str_eq(c->model_name, "out");
	text = pf_xstrdup("");
	for (size_t i = 0; i < c->n_ignore; i++) {
		char *t = pf_xasprintf("%s%s,", text, c->ignore_paths[i]);
		free(text);
		text = t;
	}
	cr_assert_str_eq(text, ".cache/huggingface,.git,.gitattributes,.github,.gitignore,README.md,SHA256SUMS,"
	                       "kpi/records.json,logs,manifest.json,model.sig,provenance.intoto.jsonl,report.html,"
	                       "sub/tmp.bin,");
	/* a failed run, or an Ed25519 key, leaves no signature behind */
	rec.passed = false;
	cr_assert_eq(pf_modelsig_write_run(&rec, out, "manifest.json", NULL, priv, UINT64_MAX), 0);
	cr_assert_not(pf_fs_exists(sig));
	free(text);
	pf_modelsig_claims_free(c);
	pf_buf_dispose(&b);
	pf_run_record_dispose(&rec);
	pf_attest_key_free(priv);
	pf_attest_key_free(pub);
	pf_fs_remove_tree(dir);
	free(dir);
	free(sig);
	free(out);
	free(later);
}
