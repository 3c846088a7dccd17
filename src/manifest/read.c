/*
 * manifest.json read back for `pteflow verify`: the artifact list and the
 * gates each artifact was held to. The file is untrusted (it travels with a
 * release), so the read is bounded (PF_MANIFEST_MAX_BYTES, nesting depth
 * PF_MANIFEST_MAX_DEPTH checked before cJSON parses it), every field is type
 * checked, and paths that could leave the folder are marked unsafe so the
 * verifier reports them and never opens them. Workload: one small file.
 * Field names: render.c and schemas/manifest.schema.json.
 */
#include "manifest/manifest.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/text.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

#define MAX_ARTIFACTS 100000u
#define MAX_NAMES 10000u

bool pf_manifest_path_safe(const char *path)
{
	const char *p = path;
	if (!path || !path[0] || path[0] == '/')
		return false;
	while (*p) {
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return false;
		if (!end)
			break;
		p = end + 1;
	}
	return true;
}

static int bad(const char *where, const char *what)
{
	return pf_error_code(PF_EINVALID, "the manifest is not valid: %s %s: check it was written by pteflow and not edited", where, what);
}

static int get_u64(uint64_t *out, const cJSON *obj, const char *key, const char *where)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char what[128];
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0 ||
	    v->valuedouble != (double)(uint64_t)v->valuedouble) {
		snprintf(what, sizeof(what), "has no non-negative integer \"%s\"", key);
		return bad(where, what);
	}
	*out = (uint64_t)v->valuedouble;
	return 0;
}

static int get_names(char ***out, size_t *n_out, const cJSON *arr, const char *where)
{
	size_t n = 0, i = 0;
	const cJSON *it;
	if (!cJSON_IsArray(arr))
		return bad(where, "has a list that is not an array");
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it))
			return bad(where, "has a list entry that is not a string");
		n++;
	}
	if (n > MAX_NAMES)
		return bad(where, "has too many list entries");
	*out = pf_xcalloc(n ? n : 1, sizeof(char *));
	cJSON_ArrayForEach(it, arr)
		(*out)[i++] = pf_xstrdup(it->valuestring);
	*n_out = n;
	return 0;
}

static int read_gate(pf_manifest_entry *e, const cJSON *g, const char *where)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(g, "name");
	if (!cJSON_IsObject(g) || !cJSON_IsString(name))
		return bad(where, "has a gate without a name");
	if (!strcmp(name->valuestring, "max_size"))
		return get_u64(&e->max_size, g, "max_size_bytes", where);
	if (!strcmp(name->valuestring, "min_size"))
		return get_u64(&e->min_size, g, "min_size_bytes", where);
	if (!strcmp(name->valuestring, "methods") && !e->methods)
		return get_names(&e->methods, &e->n_methods, cJSON_GetObjectItemCaseSensitive(g, "methods"), where);
	if (!strcmp(name->valuestring, "backends") && !e->backends)
		return get_names(&e->backends, &e->n_backends, cJSON_GetObjectItemCaseSensitive(g, "backends"), where);
	if (!strcmp(name->valuestring, "external_data") && !e->data) {
		e->check_external = true;
		return get_names(&e->data, &e->n_data, cJSON_GetObjectItemCaseSensitive(g, "data"), where);
	}
	return 0;
}

static int read_entry(pf_manifest_entry *e, const cJSON *a, size_t index)
{
	char where[64];
	const cJSON *path, *kind, *sha, *gates, *g;
	int rc;
	snprintf(where, sizeof(where), "artifact %zu", index + 1);
	if (!cJSON_IsObject(a))
		return bad(where, "is not an object");
	path = cJSON_GetObjectItemCaseSensitive(a, "path");
	kind = cJSON_GetObjectItemCaseSensitive(a, "kind");
	sha = cJSON_GetObjectItemCaseSensitive(a, "sha256");
	gates = cJSON_GetObjectItemCaseSensitive(a, "gates");
	if (!cJSON_IsString(path) || !path->valuestring[0])
		return bad(where, "has no \"path\"");
	e->path = pf_xstrdup(path->valuestring);
	e->unsafe = !pf_manifest_path_safe(e->path);
	if (!cJSON_IsString(kind) || (strcmp(kind->valuestring, "pte") && strcmp(kind->valuestring, "ptd") &&
				       strcmp(kind->valuestring, "bpte") && strcmp(kind->valuestring, "file")))
		return bad(where, "has a \"kind\" that is not pte, ptd, bpte or file");
	e->kind = pf_xstrdup(kind->valuestring);
	rc = get_u64(&e->size_bytes, a, "size_bytes", where);
	if (rc < 0)
		return rc;
	if (cJSON_IsString(sha)) {
		if (!pf_is_sha256_hex(sha->valuestring))
			return bad(where, "has a \"sha256\" that is not 64 lower-case hex digits");
		memcpy(e->sha256, sha->valuestring, 65);
		e->has_sha256 = true;
	} else if (!cJSON_IsNull(sha)) {
		return bad(where, "has no \"sha256\"");
	}
	if (!cJSON_IsArray(gates))
		return bad(where, "has no \"gates\" list");
	cJSON_ArrayForEach(g, gates) {
		rc = read_gate(e, g, where);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static char *opt_string(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? pf_xstrdup(v->valuestring) : pf_xstrdup("");
}

/* The kpi section (issue 17): null, absent (a manifest from before it) or the gates as recorded. */
static int read_kpi(pf_manifest *m, const cJSON *root)
{
	const cJSON *kpi = cJSON_GetObjectItemCaseSensitive(root, "kpi"), *gates, *g;
	size_t n, i = 0;
	if (!kpi || cJSON_IsNull(kpi))
		return 0;
	gates = cJSON_GetObjectItemCaseSensitive(kpi, "gates");
	if (!cJSON_IsObject(kpi) || !cJSON_IsArray(gates))
		return bad("its \"kpi\"", "has no \"gates\" list");
	n = (size_t)cJSON_GetArraySize(gates);
	if (n > MAX_NAMES)
		return bad("its \"kpi\" gates", "are too many");
	m->has_kpi = true;
	m->kpi_gates = pf_xcalloc(n ? n : 1, sizeof(*m->kpi_gates));
	cJSON_ArrayForEach(g, gates) {
		pf_manifest_kpi_gate *k = &m->kpi_gates[i];
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(g, "name");
		const cJSON *passed = cJSON_GetObjectItemCaseSensitive(g, "passed");
		const cJSON *limit = cJSON_GetObjectItemCaseSensitive(g, "limit");
		const cJSON *value = cJSON_GetObjectItemCaseSensitive(g, "value");
		if (!cJSON_IsString(name) || !cJSON_IsBool(passed))
			return bad("a \"kpi\" gate", "has no \"name\" or \"passed\"");
		m->n_kpi_gates = ++i;
		k->name = pf_xstrdup(name->valuestring);
		k->expected = opt_string(g, "expected");
		k->actual = opt_string(g, "actual");
		k->passed = cJSON_IsTrue(passed);
		if ((k->has_limit = cJSON_IsNumber(limit)))
			k->limit = limit->valuedouble;
		if ((k->has_value = cJSON_IsNumber(value)))
			k->value = value->valuedouble;
	}
	return 0;
}

int pf_manifest_parse(pf_manifest **out, const char *data, size_t len)
{
	pf_manifest *m = NULL;
	cJSON *root = NULL;
	const cJSON *ver, *pipe, *name, *arts, *a;
	size_t n = 0, i = 0;
	int rc = 0;
	*out = NULL;
	if (len > PF_MANIFEST_MAX_BYTES) {
		rc = pf_error_code(PF_EINVALID, "the manifest is larger than 16 MiB: it is not a pteflow manifest");
		goto done;
	}
	if (!pf_json_depth_ok(data, len, PF_MANIFEST_MAX_DEPTH)) {
		rc = pf_error_code(PF_EINVALID, "the manifest is nested deeper than %d levels: it is not a pteflow manifest",
				   PF_MANIFEST_MAX_DEPTH);
		goto done;
	}
	root = cJSON_ParseWithLength(data, len);
	if (!root) {
		rc = pf_error_code(PF_EINVALID, "the manifest is not valid JSON (near byte %zu): restore it from the release",
				   (size_t)(cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - data : 0));
		goto done;
	}
	if (!cJSON_IsObject(root)) {
		rc = bad("its top level", "is not an object");
		goto done;
	}
	ver = cJSON_GetObjectItemCaseSensitive(root, "schema_version");
	if (!cJSON_IsNumber(ver) || ver->valuedouble != PF_MANIFEST_SCHEMA_VERSION) {
		rc = pf_error_code(PF_EINVALID, "the manifest has no \"schema_version\" %d: it was not written by this pteflow",
				   PF_MANIFEST_SCHEMA_VERSION);
		goto done;
	}
	pipe = cJSON_GetObjectItemCaseSensitive(root, "pipeline");
	name = cJSON_GetObjectItemCaseSensitive(pipe, "name");
	arts = cJSON_GetObjectItemCaseSensitive(root, "artifacts");
	if (!cJSON_IsObject(pipe) || !cJSON_IsString(name)) {
		rc = bad("its \"pipeline\"", "has no \"name\"");
		goto done;
	}
	if (!cJSON_IsArray(arts)) {
		rc = bad("its top level", "has no \"artifacts\" list");
		goto done;
	}
	n = (size_t)cJSON_GetArraySize(arts);
	if (n > MAX_ARTIFACTS) {
		rc = bad("its \"artifacts\"", "has too many entries");
		goto done;
	}
	m = pf_xcalloc(1, sizeof(*m));
	m->schema_version = PF_MANIFEST_SCHEMA_VERSION;
	m->pipeline_name = pf_xstrdup(name->valuestring);
	m->entries = pf_xcalloc(n ? n : 1, sizeof(*m->entries));
	cJSON_ArrayForEach(a, arts) {
		m->n_entries = i + 1;
		rc = read_entry(&m->entries[i], a, i);
		if (rc < 0)
			goto done;
		i++;
	}
	if ((rc = read_kpi(m, root)) < 0)
		goto done;
	*out = m;
	m = NULL;
done:
	pf_manifest_free(m);
	cJSON_Delete(root);
	return rc;
}

int pf_manifest_read(pf_manifest **out, const char *path)
{
	pf_buf b;
	int rc;
	*out = NULL;
	pf_buf_init(&b, PF_MANIFEST_MAX_BYTES);
	rc = pf_fs_read_file(&b, path, PF_MANIFEST_MAX_BYTES);
	if (rc == PF_ELIMIT)
		rc = pf_error_code(PF_EINVALID, "\"%s\" is larger than 16 MiB: it is not a pteflow manifest", path);
	else if (rc == 0)
		rc = pf_manifest_parse(out, pf_buf_cstr(&b), b.len);
	pf_buf_dispose(&b);
	return rc;
}

void pf_manifest_free(pf_manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_entries; i++) {
		pf_manifest_entry *e = &m->entries[i];
		free(e->path);
		free(e->kind);
		pf_strv_free(e->methods, e->n_methods);
		pf_strv_free(e->backends, e->n_backends);
		pf_strv_free(e->data, e->n_data);
	}
	free(m->entries);
	for (size_t i = 0; i < m->n_kpi_gates; i++) {
		free(m->kpi_gates[i].name);
		free(m->kpi_gates[i].expected);
		free(m->kpi_gates[i].actual);
	}
	free(m->kpi_gates);
	free(m->pipeline_name);
	free(m);
}
