/*
 * The store's records (store.h): one JSON file per fingerprint, written by
 * pteflow but read as untrusted input, since anyone who can write to a shared
 * store can edit it: bounded size (checked before reading), types checked,
 * paths relative without "..", hashes 64 hex digits, at most
 * PF_STORE_MAX_OUTPUTS outputs and PF_STORE_RESTORE_MAX_BYTES in all (checked
 * arithmetic). The fuzz target tests/fuzz/fuzz_store_record.c comes in through
 * pf_store_entry_parse. Workload: one record of a few KiB per step.
 */
#include "cache/store_internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/mem.h"
#include "util/text.h"

#define ENTRY_FORMAT 1
#define PATH_MAX_LEN 4096u

/* Relative, no "." or ".." component, no empty component, not too long. */
static bool rel_path_safe(const char *p)
{
	size_t len = p ? strlen(p) : 0;
	if (!len || len > PATH_MAX_LEN || p[0] == '/')
		return false;
	for (const char *c = p; *c;) {
		const char *slash = strchr(c, '/');
		size_t n = slash ? (size_t)(slash - c) : strlen(c);
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += n + (slash ? 1 : 0);
		if (slash && !*c)
			return false;
	}
	return true;
}

void pf_store_file_dispose(pf_store_file *f)
{
	if (f) {
		free(f->path);
		memset(f, 0, sizeof(*f));
	}
}

void pf_store_entry_free(pf_store_entry *e)
{
	pf_store_entry_dispose(e);
	free(e);
}

void pf_store_entry_dispose(pf_store_entry *e)
{
	if (!e)
		return;
	free(e->pipeline);
	free(e->target);
	free(e->step);
	free(e->created_utc);
	free(e->guard);
	pf_fp_dispose(&e->fp);
	for (size_t i = 0; i < e->n_outputs; i++)
		pf_store_file_dispose(&e->outputs[i]);
	free(e->outputs);
	pf_store_file_dispose(&e->log);
	pf_store_file_dispose(&e->result);
	memset(e, 0, sizeof(*e));
}

static void add_file_json(cJSON *obj, const char *key, const pf_store_file *f)
{
	cJSON *o;
	if (!f->path) {
		cJSON_AddNullToObject(obj, key);
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "path", f->path);
	cJSON_AddStringToObject(o, "sha256", f->sha256);
	cJSON_AddNumberToObject(o, "size", (double)f->size_bytes);
	cJSON_AddItemToObject(obj, key, o);
}

char *pf_store_entry_to_json(const pf_store_entry *e)
{
	cJSON *root = cJSON_CreateObject(), *run = cJSON_CreateObject(), *outs = cJSON_CreateArray();
	char *text, *copy;
	cJSON_AddNumberToObject(root, "format", ENTRY_FORMAT);
	cJSON_AddStringToObject(root, "fingerprint", e->fingerprint);
	cJSON_AddStringToObject(root, "pipeline", e->pipeline ? e->pipeline : "");
	if (e->target)
		cJSON_AddStringToObject(root, "target", e->target);
	else
		cJSON_AddNullToObject(root, "target");
	cJSON_AddStringToObject(root, "step", e->step ? e->step : "");
	cJSON_AddStringToObject(root, "created_utc", e->created_utc ? e->created_utc : "");
	cJSON_AddNumberToObject(run, "wall_ms", (double)e->wall_ms);
	cJSON_AddNumberToObject(run, "user_ms", (double)e->user_ms);
	cJSON_AddNumberToObject(run, "sys_ms", (double)e->sys_ms);
	cJSON_AddNumberToObject(run, "peak_bytes", (double)e->peak_bytes);
	cJSON_AddNumberToObject(run, "maxrss_bytes", (double)e->maxrss_bytes);
	cJSON_AddStringToObject(run, "guard", e->guard ? e->guard : "none");
	cJSON_AddItemToObject(root, "run", run);
	for (size_t i = 0; i < e->n_outputs; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "path", e->outputs[i].path);
		cJSON_AddStringToObject(o, "sha256", e->outputs[i].sha256);
		cJSON_AddNumberToObject(o, "size", (double)e->outputs[i].size_bytes);
		cJSON_AddItemToArray(outs, o);
	}
	cJSON_AddItemToObject(root, "outputs", outs);
	add_file_json(root, "log", &e->log);
	add_file_json(root, "result", &e->result);
	cJSON_AddItemToObject(root, "components", pf_fp_to_json(&e->fp));
	text = cJSON_Print(root);
	copy = pf_xstrdup(text ? text : "{}");
	cJSON_free(text);
	cJSON_Delete(root);
	return copy;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool ju64(const cJSON *o, const char *k, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0)
		return false;
	*out = (uint64_t)v->valuedouble;
	return true;
}

static int file_from_json(pf_store_file *f, const cJSON *o, const char *what)
{
	const char *path = jstr(o, "path"), *sha = jstr(o, "sha256");
	if (!rel_path_safe(path) || !pf_is_sha256_hex(sha) || !ju64(o, "size", &f->size_bytes))
		return pf_error_code(PF_EINVALID, "its %s entry has no safe relative path, sha256 or size", what);
	f->path = pf_xstrdup(path);
	memcpy(f->sha256, sha, 65);
	return 0;
}

static int entry_from_json(pf_store_entry *e, const char *text, size_t len)
{
	cJSON *root = pf_json_depth_ok(text, len, 32) ? cJSON_ParseWithLength(text, len) : NULL, *run, *outs, *o;
	const char *fp, *target;
	int rc = 0;
	uint64_t fmt = 0;
	if (!root || !cJSON_IsObject(root)) {
		rc = pf_error_code(PF_EINVALID, "it is not a JSON object (or nests deeper than 32 levels)");
		goto done;
	}
	fp = jstr(root, "fingerprint");
	run = cJSON_GetObjectItemCaseSensitive(root, "run");
	outs = cJSON_GetObjectItemCaseSensitive(root, "outputs");
	if (!ju64(root, "format", &fmt) || fmt != ENTRY_FORMAT || !pf_is_sha256_hex(fp) || !jstr(root, "step") ||
	    !cJSON_IsObject(run) || !cJSON_IsArray(outs)) {
		rc = pf_error_code(PF_EINVALID, "it lacks format %d, fingerprint, step, run or outputs", ENTRY_FORMAT);
		goto done;
	}
	memcpy(e->fingerprint, fp, 65);
	e->pipeline = pf_xstrdup(jstr(root, "pipeline") ? jstr(root, "pipeline") : "");
	target = jstr(root, "target");
	e->target = target ? pf_xstrdup(target) : NULL;
	e->step = pf_xstrdup(jstr(root, "step"));
	e->created_utc = pf_xstrdup(jstr(root, "created_utc") ? jstr(root, "created_utc") : "");
	e->guard = pf_xstrdup(jstr(run, "guard") ? jstr(run, "guard") : "none");
	ju64(run, "wall_ms", &e->wall_ms);
	ju64(run, "user_ms", &e->user_ms);
	ju64(run, "sys_ms", &e->sys_ms);
	ju64(run, "peak_bytes", &e->peak_bytes);
	ju64(run, "maxrss_bytes", &e->maxrss_bytes);
	if (cJSON_GetArraySize(outs) > (int)PF_STORE_MAX_OUTPUTS) {
		rc = pf_error_code(PF_EINVALID, "it lists more than %u outputs", PF_STORE_MAX_OUTPUTS);
		goto done;
	}
	e->outputs = pf_xcalloc((size_t)cJSON_GetArraySize(outs) + 1, sizeof(pf_store_file));
	cJSON_ArrayForEach(o, outs)
	{
		if ((rc = file_from_json(&e->outputs[e->n_outputs], o, "output")) < 0)
			goto done;
		e->n_outputs++;
	}
	o = cJSON_GetObjectItemCaseSensitive(root, "log");
	if (!cJSON_IsObject(o) || (rc = file_from_json(&e->log, o, "log")) < 0) {
		rc = pf_error_code(PF_EINVALID, "its log entry is missing or malformed");
		goto done;
	}
	o = cJSON_GetObjectItemCaseSensitive(root, "result");
	if (cJSON_IsObject(o) && (rc = file_from_json(&e->result, o, "result")) < 0)
		goto done;
	if ((rc = pf_fp_from_json(&e->fp, cJSON_GetObjectItemCaseSensitive(root, "components"))) < 0)
		goto done;
	if (strcmp(e->fp.sha256, e->fingerprint))
		rc = pf_error_code(PF_EINVALID, "its components do not hash to its fingerprint");
done:
	cJSON_Delete(root);
	return rc;
}

int pf_store_entry_parse(pf_store_entry **out, const char *text, size_t len)
{
	pf_store_entry *e = pf_xcalloc(1, sizeof(*e));
	bool over = false;
	int rc = len > PF_STORE_RECORD_MAX_BYTES ? pf_error_code(PF_EINVALID, "it is larger than 16 MiB")
						 : entry_from_json(e, text, len);
	if (rc < 0)
		goto done;
	over = __builtin_add_overflow(e->log.size_bytes, e->result.size_bytes, &e->bytes);
	for (size_t i = 0; i < e->n_outputs && !over; i++)
		over = __builtin_add_overflow(e->bytes, e->outputs[i].size_bytes, &e->bytes);
	if (over || e->bytes > PF_STORE_RESTORE_MAX_BYTES)
		rc = pf_error_code(PF_EINVALID, "its files take more than %llu GiB together: no restore writes that much",
				   PF_STORE_RESTORE_MAX_BYTES >> 30);
done:
	if (rc < 0) {
		pf_store_entry_free(e);
		return rc;
	}
	*out = e;
	return 0;
}

void pf_store_entry_name(char out[70], const char *fingerprint)
{
	(void)snprintf(out, 70, "%.64s.json", fingerprint);
}
