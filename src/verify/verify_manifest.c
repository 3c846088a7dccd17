/*
 * `pteflow verify`: re-check a release folder against its manifest.json.
 * Each recorded artifact is re-hashed, its size compared, its structure and
 * recorded gates (sizes, methods, backends, external data) re-run with the
 * same code as at export time (check.h). Paths that would leave the folder
 * are reported UNSAFE and never opened. Workload: a few files of up to a few
 * GB; memory stays constant (streaming hash, header-only structure reads).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "verify/check.h"
#include "verify/verify.h"

const char *pf_verify_status_name(pf_verify_status s)
{
	switch (s) {
	case PF_VERIFY_OK:
		return "OK";
	case PF_VERIFY_MISMATCH:
		return "MISMATCH";
	case PF_VERIFY_MISSING:
		return "MISSING";
	case PF_VERIFY_STRUCTURE:
		return "STRUCTURE";
	case PF_VERIFY_UNSAFE:
		return "UNSAFE";
	}
	return "UNKNOWN";
}

static const char *first_failed_message(const pf_artifact_result *a)
{
	for (size_t i = 0; i < a->n_gates; i++)
		if (!a->gates[i].passed)
			return a->gates[i].message ? a->gates[i].message : a->gates[i].name;
	return NULL;
}

/* The entry whose recorded hash is `hex`, other than `self`: evidence of a swap or rename. */
static const pf_manifest_entry *owner_of(const pf_manifest *m, size_t self, const char *hex)
{
	for (size_t i = 0; i < m->n_entries; i++)
		if (i != self && m->entries[i].has_sha256 && !strcmp(m->entries[i].sha256, hex))
			return &m->entries[i];
	return NULL;
}

static void classify(pf_verify_line *line, const pf_manifest *m, size_t idx, const pf_artifact_result *a, bool link)
{
	const pf_manifest_entry *e = &m->entries[idx];
	pf_buf d;
	const char *msg;
	pf_buf_init(&d, 64u * 1024u);
	line->expected_size = e->size_bytes;
	if (e->has_sha256)
		memcpy(line->expected_sha256, e->sha256, 65);
	if (e->unsafe) {
		line->status = PF_VERIFY_UNSAFE;
		(void)pf_buf_puts(&d, "path escapes the folder: it was not opened (the manifest was edited or is hostile)");
		goto done;
	}
	if (link) {
		line->status = PF_VERIFY_UNSAFE;
		(void)pf_buf_puts(&d, "is, or lies in a folder that is, a symbolic link: its bytes may live outside the folder, it was not opened (ship the file itself)");
		goto done;
	}
	if (!a->exists) {
		line->status = PF_VERIFY_MISSING;
		msg = first_failed_message(a);
		(void)pf_buf_puts(&d, e->has_sha256 ? "not found in the folder" : "not found (the run recorded it as missing too)");
		if (msg && strstr(msg, "cannot be read"))
			(void)pf_buf_printf(&d, ": %s", msg);
		goto done;
	}
	line->actual_size = a->size_bytes;
	memcpy(line->actual_sha256, a->sha256, 65);
	if (!e->has_sha256) {
		line->status = PF_VERIFY_MISMATCH;
		(void)pf_buf_printf(&d, "the manifest records no such file, found %" PRIu64 " bytes", a->size_bytes);
		goto done;
	}
	if (a->size_bytes != e->size_bytes || strcmp(a->sha256, e->sha256) != 0) {
		const pf_manifest_entry *other = owner_of(m, idx, a->sha256);
		line->status = PF_VERIFY_MISMATCH;
		if (a->size_bytes != e->size_bytes)
			(void)pf_buf_printf(&d, "expected %" PRIu64 " bytes, found %" PRIu64 "; ", e->size_bytes, a->size_bytes);
		(void)pf_buf_printf(&d, "expected sha256 %.16s.. found %.16s..", e->sha256, a->sha256);
		if (other)
			(void)pf_buf_printf(&d, "; its bytes are those recorded for \"%s\": files swapped or renamed", other->path);
		else if (a->size_bytes < e->size_bytes)
			(void)pf_buf_puts(&d, ": the file is truncated");
		goto done;
	}
	msg = first_failed_message(a);
	if (msg) {
		line->status = PF_VERIFY_STRUCTURE;
		(void)pf_buf_puts(&d, msg);
		goto done;
	}
	line->status = PF_VERIFY_OK;
done:
	line->detail = d.len ? pf_buf_detach(&d) : NULL;
	pf_buf_dispose(&d);
}

int pf_verify_manifest(pf_verify_report *out, const char *manifest_path, const char *dir)
{
	pf_manifest *m = NULL;
	pf_artifact_result *res = NULL;
	bool *links = NULL;
	size_t n = 0;
	int rc;
	memset(out, 0, sizeof(*out));
	rc = pf_manifest_read(&m, manifest_path);
	if (rc < 0)
		goto done;
	out->dir = dir ? pf_xstrdup(dir) : pf_fs_dirname(manifest_path);
	if (!pf_fs_is_dir(out->dir)) {
		rc = pf_error_code(PF_ENOTFOUND, "the folder \"%s\" does not exist: pass the release folder with --dir", out->dir);
		goto done;
	}
	n = m->n_entries;
	res = pf_xcalloc(n ? n : 1, sizeof(*res));
	links = pf_xcalloc(n ? n : 1, sizeof(*links));
	for (size_t i = 0; i < n; i++) {
		const pf_manifest_entry *e = &m->entries[i];
		char *abs;
		pf_check_req req = {
			.rel = e->path, .kind = e->kind, .max_size = e->max_size, .min_size = e->min_size,
			.methods = e->methods, .n_methods = e->n_methods,
			.backends = e->backends, .n_backends = e->n_backends,
		};
		if (e->unsafe) {
			res[i].path = pf_xstrdup(e->path);
			res[i].kind = pf_xstrdup(e->kind);
			continue;
		}
		abs = pf_fs_join(out->dir, e->path);
		req.abs = abs;
		if (pf_fs_through_link(out->dir, e->path)) {
			links[i] = true; /* never followed: it, or a folder on its way, could point anywhere */
			res[i].path = pf_xstrdup(e->path);
			res[i].kind = pf_xstrdup(e->kind);
		} else {
			pf_verify_check_file(&res[i], &req);
		}
		free(abs);
	}
	for (size_t i = 0; i < n; i++)
		if (m->entries[i].check_external)
			pf_verify_check_external(&res[i], res, n, m->entries[i].data, m->entries[i].n_data);
	out->lines = pf_xcalloc(n ? n : 1, sizeof(*out->lines));
	out->n_lines = n;
	out->ok = n > 0;
	for (size_t i = 0; i < n; i++) {
		out->lines[i].path = pf_xstrdup(m->entries[i].path);
		classify(&out->lines[i], m, i, &res[i], links[i]);
		out->counts[out->lines[i].status]++;
		out->ok = out->ok && out->lines[i].status == PF_VERIFY_OK;
	}
	pf_verify_kpi_recheck(out, m);
done:
	for (size_t i = 0; i < n; i++)
		pf_artifact_result_dispose(&res[i]);
	free(res);
	free(links);
	pf_manifest_free(m);
	return rc;
}

void pf_verify_report_dispose(pf_verify_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_lines; i++) {
		free(r->lines[i].path);
		free(r->lines[i].detail);
	}
	free(r->lines);
	for (size_t i = 0; i < r->n_kpi; i++) {
		free(r->kpi[i].name);
		free(r->kpi[i].detail);
	}
	free(r->kpi);
	free(r->dir);
	memset(r, 0, sizeof(*r));
}

/* Path for display: control characters (a hostile manifest's newlines) become '?'. */
static char *printable(const char *s)
{
	char *p = pf_secret_redact(s);
	for (char *c = p; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return p;
}

static void verdict(pf_buf *b, const pf_verify_report *r)
{
	size_t bad = r->n_lines - r->counts[PF_VERIFY_OK];
	if (r->n_lines && !bad && r->kpi_failed) {
		(void)pf_buf_printf(b, "FAILED: all %zu files match the manifest, but %zu of %zu KPI gates failed", r->n_lines,
				    r->kpi_failed, r->n_kpi);
		return;
	}
	if (r->n_lines == 0) {
		(void)pf_buf_puts(b, "FAILED: the manifest lists no artifact: nothing was verified");
		return;
	}
	if (r->ok) {
		(void)pf_buf_printf(b, "verified: all %zu files match the manifest", r->n_lines);
		if (r->n_kpi)
			(void)pf_buf_printf(b, ", and its %zu KPI gates passed", r->n_kpi);
		return;
	}
	(void)pf_buf_printf(b, "FAILED: %zu of %zu files do not match the manifest (", bad, r->n_lines);
	for (int s = 1, first = 1; s < 5; s++) {
		if (!r->counts[s])
			continue;
		(void)pf_buf_printf(b, "%s%zu %s", first ? "" : ", ", r->counts[s], pf_verify_status_name((pf_verify_status)s));
		first = 0;
	}
	(void)pf_buf_puts(b, ")");
}

char *pf_verify_report_text(const pf_verify_report *r)
{
	pf_buf b;
	pf_buf_init(&b, 64u * 1024u * 1024u);
	for (size_t i = 0; i < r->n_lines; i++) {
		const pf_verify_line *l = &r->lines[i];
		char *path = printable(l->path), *detail = l->detail ? printable(l->detail) : NULL;
		(void)pf_buf_printf(&b, "%s  %s%s%s\n", pf_verify_status_name(l->status), path, detail ? ": " : "",
				    detail ? detail : "");
		free(path);
		free(detail);
	}
	for (size_t i = 0; i < r->n_kpi; i++) {
		char *name = printable(r->kpi[i].name), *detail = printable(r->kpi[i].detail);
		(void)pf_buf_printf(&b, "%s  KPI %s: %s\n", r->kpi[i].ok ? "OK" : "FAILED", name, detail);
		free(name);
		free(detail);
	}
	verdict(&b, r);
	(void)pf_buf_puts(&b, "\n");
	return pf_buf_detach(&b);
}

static void json_str(pf_buf *b, const char *s)
{
	char *clean;
	if (!s) {
		(void)pf_buf_puts(b, "null");
		return;
	}
	clean = pf_secret_redact(s);
	(void)pf_buf_puts(b, "\"");
	for (const unsigned char *c = (const unsigned char *)clean; *c; c++) {
		if (*c == '"' || *c == '\\')
			(void)pf_buf_printf(b, "\\%c", *c);
		else if (*c < 0x20 || *c == 0x7f)
			(void)pf_buf_printf(b, "\\u%04x", *c);
		else
			(void)pf_buf_append(b, c, 1);
	}
	(void)pf_buf_puts(b, "\"");
	free(clean);
}

char *pf_verify_report_json(const pf_verify_report *r, const char *manifest_path)
{
	pf_buf b, v;
	pf_buf_init(&b, 64u * 1024u * 1024u);
	pf_buf_init(&v, 64u * 1024u);
	(void)pf_buf_puts(&b, "{\n  \"manifest\": ");
	json_str(&b, manifest_path);
	(void)pf_buf_puts(&b, ",\n  \"dir\": ");
	json_str(&b, r->dir);
	(void)pf_buf_printf(&b, ",\n  \"ok\": %s,\n  \"files\": [", r->ok ? "true" : "false");
	for (size_t i = 0; i < r->n_lines; i++) {
		const pf_verify_line *l = &r->lines[i];
		(void)pf_buf_printf(&b, "%s\n    {\"path\": ", i ? "," : "");
		json_str(&b, l->path);
		(void)pf_buf_printf(&b, ", \"status\": \"%s\", \"detail\": ", pf_verify_status_name(l->status));
		json_str(&b, l->detail);
		(void)pf_buf_puts(&b, ", \"expected_sha256\": ");
		json_str(&b, l->expected_sha256[0] ? l->expected_sha256 : NULL);
		(void)pf_buf_puts(&b, ", \"actual_sha256\": ");
		json_str(&b, l->actual_sha256[0] ? l->actual_sha256 : NULL);
		(void)pf_buf_printf(&b, ", \"expected_size\": %" PRIu64 ", \"actual_size\": %" PRIu64 "}", l->expected_size,
				    l->actual_size);
	}
	(void)pf_buf_printf(&b, "%s],\n  \"counts\": {", r->n_lines ? "\n  " : "");
	for (int s = 0; s < 5; s++)
		(void)pf_buf_printf(&b, "%s\"%s\": %zu", s ? ", " : "", pf_verify_status_name((pf_verify_status)s), r->counts[s]);
	(void)pf_buf_puts(&b, "},\n  \"kpi\": [");
	for (size_t i = 0; i < r->n_kpi; i++) {
		(void)pf_buf_printf(&b, "%s\n    {\"name\": ", i ? "," : "");
		json_str(&b, r->kpi[i].name);
		(void)pf_buf_printf(&b, ", \"status\": \"%s\", \"detail\": ", r->kpi[i].ok ? "OK" : "FAILED");
		json_str(&b, r->kpi[i].detail);
		(void)pf_buf_puts(&b, "}");
	}
	(void)pf_buf_printf(&b, "%s]", r->n_kpi ? "\n  " : "");
	verdict(&v, r);
	(void)pf_buf_puts(&b, ",\n  \"verdict\": ");
	json_str(&b, pf_buf_cstr(&v));
	(void)pf_buf_puts(&b, "\n}\n");
	pf_buf_dispose(&v);
	return pf_buf_detach(&b);
}
