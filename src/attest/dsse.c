/*
 * DSSE (Dead Simple Signing Envelope, github.com/secure-systems-lab/dsse):
 * the pre-authentication encoding, base64, and the JSON envelope
 * {"payload", "payloadType", "signatures": [{"keyid", "sig"}]} that pteflow
 * writes one per line in provenance.intoto.jsonl and reads back in `verify`.
 * The envelope on read is hostile: its size is capped before parsing, its
 * nesting counted without recursion, every base64 field decoded with a bound,
 * and unknown fields ignored as the DSSE envelope spec asks.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"
#include "attest/internal.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/text.h"

unsigned char *pf_attest_pae(size_t *out_len, const char *payload_type, const void *payload, size_t len)
{
	char head[64];
	size_t type_len = strlen(payload_type);
	int h1 = snprintf(head, sizeof(head), "DSSEv1 %zu ", type_len);
	char mid[32];
	int h2 = snprintf(mid, sizeof(mid), " %zu ", len);
	uint64_t total = 0;
	unsigned char *out, *p;
	/* callers hold at most PF_ATTEST_MAX_BYTES; a sum that overflows is out of memory (pf_xmalloc exits) */
	if (pf_add_overflow((uint64_t)h1 + (uint64_t)h2, type_len, &total) || pf_add_overflow(total, len, &total) ||
	    total >= SIZE_MAX)
		total = SIZE_MAX - 1;
	out = pf_xmalloc((size_t)total + 1);
	p = out;
	memcpy(p, head, (size_t)h1);
	p += h1;
	memcpy(p, payload_type, type_len);
	p += type_len;
	memcpy(p, mid, (size_t)h2);
	p += h2;
	if (len)
		memcpy(p, payload, len);
	out[total] = '\0';
	*out_len = (size_t)total;
	return out;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *pf_attest_base64_encode(const void *data, size_t len)
{
	const unsigned char *in = data;
	size_t groups = len / 3 + (len % 3 != 0);
	char *out, *o;
	/* a length whose encoding does not fit is out of memory (pf_xmalloc exits) */
	out = pf_xmalloc(groups > (SIZE_MAX - 1) / 4 ? SIZE_MAX : groups * 4 + 1);
	o = out;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t n = len - i < 3 ? len - i : 3;
		if (n > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (n > 2)
			v |= in[i + 2];
		*o++ = B64[(v >> 18) & 63];
		*o++ = B64[(v >> 12) & 63];
		*o++ = n > 1 ? B64[(v >> 6) & 63] : '=';
		*o++ = n > 2 ? B64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* 0..63, or -1; `alphabet` becomes 1 (standard) or 2 (URL-safe) when the character tells. */
static int b64_value(unsigned char c, int *alphabet)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '/') {
		if (*alphabet == 2)
			return -1;
		*alphabet = 1;
		return c == '+' ? 62 : 63;
	}
	if (c == '-' || c == '_') {
		if (*alphabet == 1)
			return -1;
		*alphabet = 2;
		return c == '-' ? 62 : 63;
	}
	return -1;
}

int pf_attest_base64_decode(unsigned char **out, size_t *out_len, const char *text, size_t len, size_t max)
{
	size_t pad = 0, body, n_out, o = 0;
	unsigned char *buf = NULL;
	int alphabet = 0;
	uint32_t acc = 0;
	int bits = 0;
	*out = NULL;
	*out_len = 0;
	while (pad < 2 && len > pad && text[len - 1 - pad] == '=')
		pad++;
	body = len - pad;
	if ((pad && len % 4 != 0) || body % 4 == 1)
		return pf_error_code(PF_EINVALID, "is not base64: %zu characters cannot encode whole bytes", len);
	n_out = body / 4 * 3 + (body % 4 ? body % 4 - 1 : 0);
	if (n_out > max)
		return pf_error_code(PF_ELIMIT, "decodes to more than %zu bytes", max);
	buf = pf_xmalloc(n_out + 1);
	for (size_t i = 0; i < body; i++) {
		int v = b64_value((unsigned char)text[i], &alphabet);
		if (v < 0) {
			free(buf);
			return pf_error_code(PF_EINVALID, "is not base64: unexpected character at offset %zu", i);
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1u;
		}
	}
	/* left-over bits must be zero, so each byte string has one encoding (no malleable signatures) */
	if (acc != 0) {
		free(buf);
		return pf_error_code(PF_EINVALID, "is not base64: its last character carries stray bits");
	}
	buf[o] = '\0';
	*out = buf;
	*out_len = o;
	return 0;
}

void pf_attest_envelope_free(pf_dsse_envelope *env)
{
	if (!env)
		return;
	free(env->payload_type);
	free(env->payload);
	for (size_t i = 0; i < env->n_signatures; i++) {
		free(env->signatures[i].keyid);
		free(env->signatures[i].sig);
	}
	free(env->signatures);
	free(env);
}

pf_dsse_envelope *pf_attest_envelope_new(const char *payload_type, const void *payload, size_t len)
{
	pf_dsse_envelope *env = pf_xcalloc(1, sizeof(*env));
	env->payload_type = pf_xstrdup(payload_type);
	env->payload = pf_xmalloc(len + 1);
	if (len)
		memcpy(env->payload, payload, len);
	env->payload[len] = '\0';
	env->payload_len = len;
	return env;
}

/*
 * true when JSON text ends inside a string or with a bracket still open: what
 * a file cut short by an interrupted copy looks like, as opposed to text that
 * was never JSON (whose brackets close, or which closes more than it opened).
 */
static bool cut_short(const char *s, size_t len)
{
	long depth = 0;
	bool in_str = false, opened = false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			depth++;
			opened = true;
		} else if (c == ']' || c == '}') {
			if (--depth < 0)
				return false;
		}
	}
	return opened && (in_str || depth > 0);
}

static bool only_space(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			return false;
	return true;
}

static int bad(const char *what)
{
	return pf_error_code(PF_EINVALID, "the provenance is not a DSSE envelope: %s", what);
}

static int decode_field(unsigned char **out, size_t *out_len, const cJSON *v, const char *name, size_t max)
{
	int rc;
	if (!cJSON_IsString(v))
		return pf_error_code(PF_EINVALID, "the provenance is not a DSSE envelope: \"%s\" is missing or not a string",
				     name);
	rc = pf_attest_base64_decode(out, out_len, v->valuestring, strlen(v->valuestring), max);
	if (rc < 0)
		return pf_error_code(PF_EINVALID, "the provenance is not a DSSE envelope: \"%s\" %s", name,
				     pf_error_last());
	return 0;
}

int pf_attest_envelope_parse(pf_dsse_envelope **out, const char *data, size_t len)
{
	cJSON *root = NULL;
	const cJSON *payload, *type, *sigs, *s;
	const char *end = NULL;
	pf_dsse_envelope *env = NULL;
	size_t i = 0;
	int rc = 0;
	*out = NULL;
	if (len > PF_ATTEST_MAX_BYTES) {
		rc = pf_error_code(PF_EINVALID, "the provenance is larger than %u MiB: it is not an envelope pteflow wrote",
				   PF_ATTEST_MAX_BYTES >> 20);
		goto done;
	}
	if (only_space(data, len)) {
		rc = pf_error_code(PF_ATTEST_ETRUNCATED, "the provenance is empty: copy or download it again");
		goto done;
	}
	if (!pf_json_depth_ok(data, len, PF_ATTEST_MAX_DEPTH)) {
		rc = bad("it is nested deeper than 64 levels");
		goto done;
	}
	root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
	if (!root) {
		const char *at = cJSON_GetErrorPtr();
		size_t off = at && at >= data && at <= data + len ? (size_t)(at - data) : 0;
		if (cut_short(data, len))
			rc = pf_error_code(PF_ATTEST_ETRUNCATED, "the provenance ends after %zu bytes in the middle of its "
								 "JSON: it was cut short; copy or download it again", len);
		else
			rc = pf_error_code(PF_EINVALID, "the provenance is not valid JSON (at byte %zu): it is not a "
							"DSSE envelope", off);
		goto done;
	}
	if (end && !only_space(end, len - (size_t)(end - data))) {
		rc = bad("more than one JSON value: pteflow reads one envelope per file (one JSON Lines record)");
		goto done;
	}
	if (!cJSON_IsObject(root)) {
		rc = bad("the JSON is not an object");
		goto done;
	}
	payload = cJSON_GetObjectItemCaseSensitive(root, "payload");
	type = cJSON_GetObjectItemCaseSensitive(root, "payloadType");
	sigs = cJSON_GetObjectItemCaseSensitive(root, "signatures");
	if (!cJSON_IsString(type)) {
		rc = bad("\"payloadType\" is missing or not a string");
		goto done;
	}
	if (!cJSON_IsArray(sigs)) {
		rc = bad("\"signatures\" is missing or not a list");
		goto done;
	}
	if ((size_t)cJSON_GetArraySize(sigs) > PF_ATTEST_MAX_SIGNATURES) {
		rc = bad("more than 64 signatures");
		goto done;
	}
	env = pf_xcalloc(1, sizeof(*env));
	env->payload_type = pf_xstrdup(type->valuestring);
	if ((rc = decode_field(&env->payload, &env->payload_len, payload, "payload", PF_ATTEST_MAX_BYTES)) < 0)
		goto done;
	env->signatures = pf_xcalloc((size_t)cJSON_GetArraySize(sigs) + 1, sizeof(*env->signatures));
	cJSON_ArrayForEach(s, sigs)
	{
		const cJSON *keyid = cJSON_GetObjectItemCaseSensitive(s, "keyid");
		pf_dsse_signature *d = &env->signatures[i];
		if (!cJSON_IsObject(s)) {
			rc = bad("a signature is not an object");
			goto done;
		}
		if (keyid && !cJSON_IsString(keyid) && !cJSON_IsNull(keyid)) {
			rc = bad("a signature's \"keyid\" is not a string");
			goto done;
		}
		d->keyid = pf_xstrdup(cJSON_IsString(keyid) ? keyid->valuestring : "");
		env->n_signatures = ++i;
		if ((rc = decode_field(&d->sig, &d->sig_len, cJSON_GetObjectItemCaseSensitive(s, "sig"), "sig", 4096)) < 0)
			goto done;
		if (d->sig_len == 0) {
			rc = bad("a signature's \"sig\" is empty");
			goto done;
		}
	}
	*out = env;
	env = NULL;
done:
	pf_attest_envelope_free(env);
	cJSON_Delete(root);
	return rc;
}

char *pf_attest_envelope_render(const pf_dsse_envelope *env)
{
	cJSON *root = cJSON_CreateObject(), *sigs = cJSON_CreateArray();
	char *b64 = pf_attest_base64_encode(env->payload, env->payload_len), *text, *line;
	cJSON_AddStringToObject(root, "payload", b64);
	free(b64);
	cJSON_AddStringToObject(root, "payloadType", env->payload_type);
	for (size_t i = 0; i < env->n_signatures; i++) {
		cJSON *o = cJSON_CreateObject();
		b64 = pf_attest_base64_encode(env->signatures[i].sig, env->signatures[i].sig_len);
		cJSON_AddStringToObject(o, "keyid", env->signatures[i].keyid ? env->signatures[i].keyid : "");
		cJSON_AddStringToObject(o, "sig", b64);
		free(b64);
		cJSON_AddItemToArray(sigs, o);
	}
	cJSON_AddItemToObject(root, "signatures", sigs);
	text = cJSON_PrintUnformatted(root);
	if (!text) /* cJSON fails only when out of memory: exit as pf_xmalloc does */
		pf_xmalloc(SIZE_MAX);
	line = pf_xasprintf("%s\n", text);
	cJSON_free(text);
	cJSON_Delete(root);
	return line;
}

static void append_signature(pf_dsse_envelope *env, const char *keyid, const unsigned char *sig, size_t sig_len)
{
	pf_dsse_signature *d;
	env->signatures = pf_xreallocarray(env->signatures, env->n_signatures + 1, sizeof(*env->signatures));
	d = &env->signatures[env->n_signatures++];
	d->keyid = pf_xstrdup(keyid);
	d->sig = pf_xmalloc(sig_len ? sig_len : 1);
	if (sig_len)
		memcpy(d->sig, sig, sig_len);
	d->sig_len = sig_len;
}

static int sign_envelope(pf_dsse_envelope *env, const pf_attest_key *key, bool sslib_alias)
{
	size_t pae_len = 0, sig_len = 0;
	unsigned char *pae = pf_attest_pae(&pae_len, env->payload_type, env->payload, env->payload_len);
	unsigned char *sig = NULL;
	int rc = pf_attest_sign(&sig, &sig_len, key, pae, pae_len);
	if (rc == 0) {
		const char *sslib = pf_attest_key_sslib_id(key);
		append_signature(env, pf_attest_key_id(key), sig, sig_len);
		/*
		 * The same signature under securesystemslib's default keyid as well:
		 * its Envelope.verify() and in-toto match signatures to keys by keyid,
		 * so a key they load without keyid= finds this entry (issue 19).
		 */
		if (sslib_alias && sslib[0] && strcmp(sslib, pf_attest_key_id(key)) != 0)
			append_signature(env, sslib, sig, sig_len);
	}
	free(sig);
	free(pae);
	return rc;
}

int pf_attest_envelope_sign(pf_dsse_envelope *env, const pf_attest_key *key)
{
	return sign_envelope(env, key, false);
}

int pf_attest_envelope_sign_interop(pf_dsse_envelope *env, const pf_attest_key *key)
{
	return sign_envelope(env, key, true);
}
