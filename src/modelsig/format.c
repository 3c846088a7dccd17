/*
 * The bytes of an OpenSSF model signature (model-signing 1.1.1): writing the
 * in-toto statement and the Sigstore bundle v0.3 around it, and reading both
 * back from a file that may come from anyone. The reader caps the file size
 * and JSON depth, decodes base64 with bounds (src/attest/dsse.c), checks each
 * field's type before use, refuses duplicate names, and recomputes the
 * subject's root digest (SHA-256 over the raw resource digests in listed
 * order) as model_signing's dsse_payload_to_manifest does. Workload: one file
 * per run or verification, a few KiB per hundred model files.
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"
#include "modelsig/modelsig.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/text.h"
#include "verify/hash.h"

#define STATEMENT_TYPE "https://in-toto.io/Statement/v1"

/* 0..15 for a hex digit of either case, -1 otherwise. */
static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int pf_modelsig_name_cmp(const char *a, const char *b)
{
	/* '/' sorts below every other byte and the end of a name below '/': component order */
	for (;; a++, b++) {
		int ca = *a ? (*a == '/' ? 0 : (unsigned char)*a) : -1;
		int cb = *b ? (*b == '/' ? 0 : (unsigned char)*b) : -1;
		if (ca != cb)
			return ca < cb ? -1 : 1;
		if (ca < 0)
			return 0;
	}
}

static int file_cmp(const void *x, const void *y)
{
	return pf_modelsig_name_cmp(((const pf_modelsig_file *)x)->name, ((const pf_modelsig_file *)y)->name);
}

/* SHA-256 over the 32-byte digests in order; false when one is not 64 hex digits. */
static bool root_digest(char out[65], const pf_modelsig_file *files, size_t n)
{
	pf_sha256 *h = pf_sha256_new();
	for (size_t i = 0; i < n; i++) {
		unsigned char raw[32];
		for (size_t k = 0; k < 32; k++) {
			int hi = hex_value(files[i].sha256[2 * k]), lo = hex_value(files[i].sha256[2 * k + 1]);
			if (hi < 0 || lo < 0) {
				pf_sha256_free(h);
				return false;
			}
			raw[k] = (unsigned char)(hi << 4 | lo);
		}
		pf_sha256_update(h, raw, sizeof(raw));
	}
	pf_sha256_final_hex(h, out);
	return true;
}

char *pf_modelsig_statement(const char *model_name, pf_modelsig_file *files, size_t n_files,
                            const char *const *ignore_paths, size_t n_ignore)
{
	cJSON *root = cJSON_CreateObject(), *subjects = cJSON_CreateArray(), *subject = cJSON_CreateObject();
	cJSON *digest = cJSON_CreateObject(), *pred = cJSON_CreateObject(), *ser = cJSON_CreateObject();
	cJSON *ignore = cJSON_CreateArray(), *resources = cJSON_CreateArray();
	char root_hex[65] = "";
	char *text, *out;
	if (n_files > 1)
		qsort(files, n_files, sizeof(*files), file_cmp);
	(void)root_digest(root_hex, files, n_files); /* our own digests: always hex */
	cJSON_AddStringToObject(root, "_type", STATEMENT_TYPE);
	cJSON_AddStringToObject(subject, "name", model_name);
	cJSON_AddStringToObject(digest, "sha256", root_hex);
	cJSON_AddItemToObject(subject, "digest", digest);
	cJSON_AddItemToArray(subjects, subject);
	cJSON_AddItemToObject(root, "subject", subjects);
	cJSON_AddStringToObject(root, "predicateType", PF_MODELSIG_PREDICATE_TYPE);
	cJSON_AddStringToObject(ser, "method", "files");
	cJSON_AddStringToObject(ser, "hash_type", "sha256");
	cJSON_AddBoolToObject(ser, "allow_symlinks", 0);
	for (size_t i = 0; i < n_ignore; i++)
		cJSON_AddItemToArray(ignore, cJSON_CreateString(ignore_paths[i]));
	if (n_ignore) /* model_signing writes the key only when the list is not empty */
		cJSON_AddItemToObject(ser, "ignore_paths", ignore);
	else
		cJSON_Delete(ignore);
	cJSON_AddItemToObject(pred, "serialization", ser);
	for (size_t i = 0; i < n_files; i++) {
		cJSON *r = cJSON_CreateObject();
		cJSON_AddStringToObject(r, "name", files[i].name);
		cJSON_AddStringToObject(r, "algorithm", "sha256");
		cJSON_AddStringToObject(r, "digest", files[i].sha256);
		cJSON_AddItemToArray(resources, r);
	}
	cJSON_AddItemToObject(pred, "resources", resources);
	cJSON_AddItemToObject(root, "predicate", pred);
	text = cJSON_PrintUnformatted(root);
	if (!text) /* cJSON fails only when out of memory: exit as pf_xmalloc does */
		pf_xmalloc(SIZE_MAX);
	out = pf_xstrdup(text);
	cJSON_free(text);
	cJSON_Delete(root);
	return out;
}

int pf_modelsig_bundle(char **out, const char *statement, const pf_attest_key *key)
{
	size_t pae_len = 0, sig_len = 0, pem_len = 0;
	unsigned char *pae = NULL, *sig = NULL;
	char *pem = NULL, *b64 = NULL, *text = NULL;
	char hint[65];
	cJSON *root = NULL, *vm, *pk, *env, *sigs, *s;
	int rc = 0;
	*out = NULL;
	if (pf_attest_key_type(key) == PF_KEY_ED25519) {
		rc = pf_error_code(PF_EINVALID, "OpenSSF model signing takes ECDSA keys: sign with a P-256 key "
		                                "('pteflow keygen KEY.pem --type ecdsa-p256')");
		goto done;
	}
	pae = pf_attest_pae(&pae_len, PF_ATTEST_PAYLOAD_TYPE, statement, strlen(statement));
	if ((rc = pf_attest_sign(&sig, &sig_len, key, pae, pae_len)) < 0)
		goto done;
	/* model_signing's hint: SHA-256 of the public key's PEM text (sign_ec_key.py) */
	pem = pf_attest_key_public_pem(key, &pem_len);
	pf_sha256_bytes(hint, pem, pem_len);
	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "mediaType", PF_MODELSIG_MEDIA_TYPE);
	vm = cJSON_AddObjectToObject(root, "verificationMaterial");
	pk = cJSON_AddObjectToObject(vm, "publicKey");
	cJSON_AddStringToObject(pk, "hint", hint);
	cJSON_AddArrayToObject(vm, "tlogEntries");
	env = cJSON_AddObjectToObject(root, "dsseEnvelope");
	b64 = pf_attest_base64_encode(statement, strlen(statement));
	cJSON_AddStringToObject(env, "payload", b64);
	free(b64);
	cJSON_AddStringToObject(env, "payloadType", PF_ATTEST_PAYLOAD_TYPE);
	sigs = cJSON_AddArrayToObject(env, "signatures");
	s = cJSON_CreateObject();
	b64 = pf_attest_base64_encode(sig, sig_len);
	cJSON_AddStringToObject(s, "sig", b64);
	cJSON_AddStringToObject(s, "keyid", "");
	cJSON_AddItemToArray(sigs, s);
	text = cJSON_PrintUnformatted(root);
	if (!text)
		pf_xmalloc(SIZE_MAX);
	*out = pf_xstrdup(text);
	cJSON_free(text);
done:
	free(b64);
	cJSON_Delete(root);
	free(pae);
	free(sig);
	free(pem);
	return rc;
}

/* ---- reading ---- */

void pf_modelsig_claims_free(pf_modelsig_claims *c)
{
	if (!c)
		return;
	free(c->model_name);
	for (size_t i = 0; i < c->n_files; i++)
		free(c->files[i].name);
	free(c->files);
	pf_strv_free(c->ignore_paths, c->n_ignore);
	free(c->key_hint);
	pf_attest_envelope_free(c->envelope);
	free(c);
}

static int bad(const char *what)
{
	return pf_error_code(PF_EINVALID, "not an OpenSSF model signature: %s", what);
}

static const cJSON *member(const cJSON *o, const char *name)
{
	return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
}

static const char *string_member(const cJSON *o, const char *name)
{
	const cJSON *v = member(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* 64 hex digits of either case, written lower-case into out; false otherwise. */
static bool sha256_hex(char out[65], const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (size_t i = 0; i < 64; i++) {
		if (hex_value(s[i]) < 0)
			return false;
		out[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 'a' : s[i]);
	}
	out[64] = '\0';
	return true;
}

static int name_ptr_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* true when two resources share a name (model_signing would silently keep the last). */
static bool has_duplicates(const pf_modelsig_file *files, size_t n)
{
	char **names = pf_xcalloc(n + 1, sizeof(char *));
	bool dup = false;
	for (size_t i = 0; i < n; i++)
		names[i] = files[i].name;
	qsort(names, n, sizeof(char *), name_ptr_cmp);
	for (size_t i = 1; i < n && !dup; i++)
		dup = !strcmp(names[i - 1], names[i]);
	free(names);
	return dup;
}

static int parse_serialization(pf_modelsig_claims *c, const cJSON *ser)
{
	const char *method = string_member(ser, "method"), *hash = string_member(ser, "hash_type");
	const cJSON *ignore = member(ser, "ignore_paths"), *item;
	size_t i = 0;
	if (!cJSON_IsObject(ser))
		return bad("\"predicate.serialization\" is missing or not an object");
	if (!method || strcmp(method, "files") != 0)
		return pf_error_code(PF_EINVALID,
		                     "the model signature uses serialization method \"%.40s\": pteflow "
		                     "checks \"files\" signatures (model_signing's default), not shards",
		                     method ? method : "(none)");
	if (!hash || strcmp(hash, "sha256") != 0)
		return pf_error_code(PF_EINVALID,
		                     "the model signature hashes with \"%.40s\": pteflow checks sha256 "
		                     "signatures (model_signing's default)",
		                     hash ? hash : "(none)");
	if (!ignore)
		return 0;
	if (!cJSON_IsArray(ignore) || (size_t)cJSON_GetArraySize(ignore) > PF_MODELSIG_MAX_ITEMS)
		return bad("\"ignore_paths\" is not a list of at most 200000 paths");
	c->ignore_paths = pf_xcalloc((size_t)cJSON_GetArraySize(ignore) + 1, sizeof(char *));
	cJSON_ArrayForEach(item, ignore)
	{
		if (!cJSON_IsString(item))
			return bad("an entry of \"ignore_paths\" is not a string");
		c->ignore_paths[i++] = pf_xstrdup(item->valuestring);
		c->n_ignore = i;
	}
	return 0;
}

static int parse_resources(pf_modelsig_claims *c, const cJSON *resources)
{
	const cJSON *r;
	size_t i = 0;
	if (!cJSON_IsArray(resources) || (size_t)cJSON_GetArraySize(resources) > PF_MODELSIG_MAX_ITEMS)
		return bad("\"predicate.resources\" is not a list of at most 200000 files");
	c->files = pf_xcalloc((size_t)cJSON_GetArraySize(resources) + 1, sizeof(*c->files));
	cJSON_ArrayForEach(r, resources)
	{
		const char *name = string_member(r, "name"), *algo = string_member(r, "algorithm");
		if (!name || !*name || !algo)
			return bad("a resource lacks its \"name\" or \"algorithm\"");
		if (strcmp(algo, "sha256") != 0)
			return pf_error_code(PF_EINVALID,
			                     "the model signature lists a file hashed with \"%.40s\": pteflow "
			                     "checks sha256 signatures",
			                     algo);
		c->files[i].name = pf_xstrdup(name);
		c->n_files = ++i;
		if (!sha256_hex(c->files[i - 1].sha256, string_member(r, "digest")))
			return bad("a resource's \"digest\" is not 64 hex digits");
	}
	if (has_duplicates(c->files, c->n_files))
		return bad("two resources have the same name");
	return 0;
}

static int parse_statement(pf_modelsig_claims *c, const char *text, size_t len)
{
	cJSON *st = NULL;
	const cJSON *subjects, *pred;
	const char *type, *ptype, *root_hex;
	char computed[65];
	int rc = 0;
	if (!pf_json_depth_ok(text, len, PF_ATTEST_MAX_DEPTH) || !(st = cJSON_ParseWithLength(text, len)) ||
	    !cJSON_IsObject(st)) {
		rc = bad("the signed statement is not a JSON object");
		goto done;
	}
	type = string_member(st, "_type");
	ptype = string_member(st, "predicateType");
	if (!type || strcmp(type, STATEMENT_TYPE) != 0) {
		rc = bad("the signed statement is not an in-toto Statement v1");
		goto done;
	}
	if (!ptype || strcmp(ptype, PF_MODELSIG_PREDICATE_TYPE) != 0) {
		rc = pf_error_code(PF_EINVALID,
		                   "the model signature's predicate type is \"%.80s\": pteflow checks "
		                   "model_signing 1.x signatures (%s)",
		                   ptype ? ptype : "(none)", PF_MODELSIG_PREDICATE_TYPE);
		goto done;
	}
	subjects = member(st, "subject");
	if (!cJSON_IsArray(subjects) || cJSON_GetArraySize(subjects) != 1) {
		rc = bad("the statement must have exactly one subject");
		goto done;
	}
	root_hex = string_member(member(cJSON_GetArrayItem(subjects, 0), "digest"), "sha256");
	if (!root_hex || !pf_is_sha256_hex(root_hex)) {
		rc = bad("the subject's sha256 is missing or not 64 lower-case hex digits");
		goto done;
	}
	memcpy(c->root_sha256, root_hex, 65);
	c->model_name = pf_xstrdup(string_member(cJSON_GetArrayItem(subjects, 0), "name")
	                               ? string_member(cJSON_GetArrayItem(subjects, 0), "name")
	                               : "");
	pred = member(st, "predicate");
	if ((rc = parse_serialization(c, member(pred, "serialization"))) < 0 ||
	    (rc = parse_resources(c, member(pred, "resources"))) < 0)
		goto done;
	if (!root_digest(computed, c->files, c->n_files) || strcmp(computed, c->root_sha256) != 0) {
		rc = bad("its manifest is inconsistent: the subject's digest is not the digest of the listed files");
		goto done;
	}
done:
	cJSON_Delete(st);
	return rc;
}

int pf_modelsig_parse(pf_modelsig_claims **out, const char *data, size_t len)
{
	cJSON *root = NULL;
	const cJSON *vm, *env_json;
	const char *media, *hint;
	char *env_text = NULL;
	pf_modelsig_claims *c = NULL;
	int rc = 0;
	*out = NULL;
	if (len > PF_MODELSIG_MAX_BYTES) {
		rc = bad("the file is larger than 64 MiB");
		goto done;
	}
	if (!pf_json_depth_ok(data, len, PF_ATTEST_MAX_DEPTH) || !(root = cJSON_ParseWithLength(data, len)) ||
	    !cJSON_IsObject(root)) {
		rc = bad("it is not a JSON object (a Sigstore bundle); a file cut short looks like this too");
		goto done;
	}
	media = string_member(root, "mediaType");
	if (!media || strcmp(media, PF_MODELSIG_MEDIA_TYPE) != 0) {
		rc = pf_error_code(PF_EINVALID,
		                   "not an OpenSSF model signature: the bundle's mediaType is \"%.80s\", "
		                   "model_signing writes and reads \"%s\"",
		                   media ? media : "(none)", PF_MODELSIG_MEDIA_TYPE);
		goto done;
	}
	vm = member(root, "verificationMaterial");
	if (!cJSON_IsObject(vm)) {
		rc = bad("\"verificationMaterial\" is missing");
		goto done;
	}
	c = pf_xcalloc(1, sizeof(*c));
	hint = string_member(member(vm, "publicKey"), "hint");
	if (hint && *hint)
		c->key_hint = pf_xstrdup(hint);
	env_json = member(root, "dsseEnvelope");
	if (!cJSON_IsObject(env_json)) {
		rc = bad("\"dsseEnvelope\" is missing: pteflow checks signatures made with keys (sign key)");
		goto done;
	}
	env_text = cJSON_PrintUnformatted(env_json);
	if (!env_text)
		pf_xmalloc(SIZE_MAX);
	if ((rc = pf_attest_envelope_parse(&c->envelope, env_text, strlen(env_text))) < 0) {
		rc =
		    pf_error_code(PF_EINVALID, "not an OpenSSF model signature: its dsseEnvelope: %s", pf_error_last());
		goto done;
	}
	if (c->envelope->n_signatures == 0) {
		rc = bad("its envelope holds no signature");
		goto done;
	}
	if (strcmp(c->envelope->payload_type, PF_ATTEST_PAYLOAD_TYPE) != 0) {
		rc = bad("the envelope's payloadType is not application/vnd.in-toto+json");
		goto done;
	}
	if ((rc = parse_statement(c, (const char *)c->envelope->payload, c->envelope->payload_len)) < 0)
		goto done;
	*out = c;
	c = NULL;
done:
	cJSON_free(env_text);
	cJSON_Delete(root);
	pf_modelsig_claims_free(c);
	return rc;
}
