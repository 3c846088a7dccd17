/*
 * `pteflow report` (report.h): the page around the charts. Sections in the
 * order people read a run: verdict, steps (curve, phases, duration, guard),
 * artifacts (size against gates, gate results), KPI figures (rendered
 * generically: the "kpi" section is whatever the run recorded), provenance
 * in brief. Styles are inline in the page; there is no script. Workload:
 * one manifest of a few KiB to a few MiB, once.
 */
#include "report/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest/manifest.h"
#include "report/internal.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/text.h"

#define PAGE_MAX_BYTES (64u * 1024u * 1024u)
#define KPI_MAX_DEPTH 6
#define KPI_MAX_ITEMS 500

static const char style[] =
	"body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:820px;color:#1b1f24;background:#fff}"
	"h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:32px}"
	"h3{font-size:15px;margin:20px 0 4px}table{border-collapse:collapse;margin:6px 0}"
	"td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}"
	".pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}.muted{color:#57606a}"
	"svg{display:block;margin:6px 0}svg text{font:11px system-ui,sans-serif;fill:#57606a}"
	".plot{fill:#f6f8fa;stroke:#d0d7de}.grid{stroke:#e5e9ee}.curve{fill:none;stroke:#0969da;stroke-width:2}"
	".peak{fill:#0969da}.limit{stroke:#cf222e;stroke-width:1.5;stroke-dasharray:6 3}"
	".predicted{fill:#8250df;fill-opacity:.12}.predicted-point{stroke:#8250df;stroke-dasharray:2 3}"
	".phase{stroke:#9a6700;stroke-dasharray:3 3}svg .phase-label{fill:#9a6700}svg .limit-label{fill:#cf222e}"
	"svg .predicted-label{fill:#8250df}.track{fill:#f6f8fa;stroke:#d0d7de}.bar-ok{fill:#2da44e}"
	".bar-fail{fill:#cf222e}.gate{stroke:#1b1f24;stroke-width:2}";

static void verdict(pf_buf *b, bool ok, const char *yes, const char *no)
{
	(void)pf_buf_printf(b, "<span class=\"%s\">%s</span>", ok ? "pass" : "fail", ok ? yes : no);
}

static void row_text(pf_buf *b, const char *key, const char *value)
{
	(void)pf_buf_printf(b, "<tr><th>%s</th><td>", key);
	pf_report_text(b, value);
	(void)pf_buf_puts(b, "</td></tr>");
}

static void header(pf_buf *b, const cJSON *root)
{
	const cJSON *pipe = cJSON_GetObjectItemCaseSensitive(root, "pipeline");
	const char *status = pf_report_str(root, "status");
	bool passed = status && !strcmp(status, "passed");
	(void)pf_buf_puts(b, "<h1>pteflow run: ");
	pf_report_text(b, pf_report_str(pipe, "name"));
	if (pf_report_str(pipe, "target")) {
		(void)pf_buf_puts(b, " / ");
		pf_report_text(b, pf_report_str(pipe, "target"));
	}
	(void)pf_buf_puts(b, "</h1>\n<table class=\"verdicts\">");
	(void)pf_buf_puts(b, "<tr><th>run</th><td id=\"verdict\">");
	verdict(b, passed, "passed", "FAILED");
	(void)pf_buf_puts(b, "</td></tr><tr><th>all gates</th><td>");
	verdict(b, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "all_gates_passed")), "passed", "FAILED");
	(void)pf_buf_puts(b, "</td></tr>");
	if (pf_report_str(root, "failure"))
		row_text(b, "failure", pf_report_str(root, "failure"));
	row_text(b, "created", pf_report_str(root, "created"));
	row_text(b, "pteflow", pf_report_str(root, "pteflow_version"));
	(void)pf_buf_puts(b, "<tr><th>duration</th><td>");
	pf_report_duration(b, pf_report_num(root, "duration_ms", 0));
	(void)pf_buf_puts(b, "</td></tr></table>\n");
}

static void phase_list(pf_buf *b, const cJSON *step)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(step, "phases"), *p;
	size_t i = 0;
	if (!cJSON_IsArray(arr) || !arr->child)
		return;
	(void)pf_buf_puts(b, "<p class=\"phases\">phases: ");
	cJSON_ArrayForEach(p, arr) {
		if (i++ >= PF_REPORT_MAX_PHASES)
			break;
		(void)pf_buf_puts(b, i > 1 ? ", " : "");
		pf_report_text(b, pf_report_str(p, "name"));
		(void)pf_buf_puts(b, " at ");
		pf_report_duration(b, pf_report_num(p, "t_ms", 0));
	}
	(void)pf_buf_puts(b, "</p>\n");
}

static void step_section(pf_buf *b, const cJSON *step, size_t index)
{
	const cJSON *guard = cJSON_GetObjectItemCaseSensitive(step, "guard");
	const cJSON *pm = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(step, "prediction"),
	                                                   "peak_memory");
	const char *status = pf_report_str(step, "status");
	double limit = pf_report_num(guard, "limit_bytes", 0);
	(void)pf_buf_printf(b, "<section class=\"step\" id=\"step-%zu\"><h3>step ", index);
	pf_report_text(b, pf_report_str(step, "name"));
	(void)pf_buf_puts(b, ": ");
	verdict(b, status && !strcmp(status, "success"), "success", "");
	if (!status || strcmp(status, "success"))
		pf_report_text(b, status);
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(step, "cached")))
		(void)pf_buf_puts(b, " <span class=\"muted\">(restored from the store)</span>");
	(void)pf_buf_puts(b, "</h3>\n<p>duration ");
	pf_report_duration(b, pf_report_num(step, "duration_ms", 0));
	(void)pf_buf_puts(b, ", peak ");
	pf_report_size(b, pf_report_num(step, "peak_memory_bytes", 0));
	(void)pf_buf_puts(b, ", guard ");
	pf_report_text(b, pf_report_str(guard, "mode"));
	if (limit > 0) {
		(void)pf_buf_puts(b, ", limit ");
		pf_report_size(b, limit);
	}
	if (cJSON_IsObject(pm)) {
		const cJSON *within = cJSON_GetObjectItemCaseSensitive(pm, "within");
		(void)pf_buf_puts(b, ", prediction ");
		if (cJSON_IsBool(within))
			verdict(b, cJSON_IsTrue(within), "held", "missed");
		else
			(void)pf_buf_puts(b, "not checked");
	}
	(void)pf_buf_puts(b, "</p>\n");
	if (!pf_report_memory_chart(b, step, index))
		(void)pf_buf_puts(b, "<p class=\"muted\">no memory curve: the step was not sampled (restored from "
		                     "the store, skipped, or run with --memory-sample-ms 0)</p>\n");
	phase_list(b, step);
	(void)pf_buf_puts(b, "</section>\n");
}

static void gate_rows(pf_buf *b, const cJSON *artifact)
{
	const cJSON *gates = cJSON_GetObjectItemCaseSensitive(artifact, "gates"), *g;
	size_t n = 0;
	if (!cJSON_IsArray(gates))
		return;
	(void)pf_buf_puts(b, "<table class=\"gates\"><tr><th>gate</th><th>expected</th><th>actual</th><th></th></tr>");
	cJSON_ArrayForEach(g, gates) {
		if (n++ >= KPI_MAX_ITEMS)
			break;
		(void)pf_buf_puts(b, "<tr><td>");
		pf_report_text(b, pf_report_str(g, "name"));
		(void)pf_buf_puts(b, "</td><td>");
		pf_report_text(b, pf_report_str(g, "expected"));
		(void)pf_buf_puts(b, "</td><td>");
		pf_report_text(b, pf_report_str(g, "actual"));
		(void)pf_buf_puts(b, "</td><td>");
		verdict(b, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "passed")), "pass", "FAIL");
		(void)pf_buf_puts(b, "</td></tr>");
	}
	(void)pf_buf_puts(b, "</table>\n");
}

static void artifact_section(pf_buf *b, const cJSON *a)
{
	(void)pf_buf_puts(b, "<section class=\"artifact\"><h3>");
	pf_report_text(b, pf_report_str(a, "path"));
	(void)pf_buf_puts(b, ": ");
	verdict(b, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "passed")), "passed", "FAILED");
	(void)pf_buf_puts(b, "</h3>\n<p>");
	pf_report_text(b, pf_report_str(a, "kind"));
	(void)pf_buf_puts(b, ", ");
	pf_report_size(b, pf_report_num(a, "size_bytes", 0));
	(void)pf_buf_puts(b, ", sha256 <code>");
	pf_report_text(b, pf_report_str(a, "sha256"));
	(void)pf_buf_puts(b, "</code></p>\n");
	pf_report_size_chart(b, a);
	gate_rows(b, a);
	(void)pf_buf_puts(b, "</section>\n");
}

/* Any JSON value as nested tables: the "kpi" section's shape belongs to whoever wrote it. */
static void json_value(pf_buf *b, const cJSON *v, int depth, size_t *budget)
{
	const cJSON *it;
	char num[64];
	if (*budget == 0 || depth > KPI_MAX_DEPTH) {
		(void)pf_buf_puts(b, "&hellip;");
		return;
	}
	(*budget)--;
	if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
		(void)pf_buf_puts(b, "<table>");
		cJSON_ArrayForEach(it, v) {
			(void)pf_buf_puts(b, "<tr>");
			if (cJSON_IsObject(v)) {
				(void)pf_buf_puts(b, "<th>");
				pf_report_text(b, it->string);
				(void)pf_buf_puts(b, "</th>");
			}
			(void)pf_buf_puts(b, "<td>");
			json_value(b, it, depth + 1, budget);
			(void)pf_buf_puts(b, "</td></tr>");
			if (*budget == 0)
				break;
		}
		(void)pf_buf_puts(b, "</table>");
	} else if (cJSON_IsBool(v)) {
		verdict(b, cJSON_IsTrue(v), "true", "false");
	} else if (cJSON_IsNumber(v)) {
		snprintf(num, sizeof(num), "%.6g", v->valuedouble);
		pf_report_text(b, num);
	} else if (cJSON_IsString(v)) {
		pf_report_text(b, v->valuestring);
	} else {
		(void)pf_buf_puts(b, "null");
	}
}

static void body(pf_buf *b, const cJSON *root)
{
	const cJSON *steps = cJSON_GetObjectItemCaseSensitive(root, "steps");
	const cJSON *arts = cJSON_GetObjectItemCaseSensitive(root, "artifacts");
	const cJSON *kpi = cJSON_GetObjectItemCaseSensitive(root, "kpi"), *it;
	size_t i = 0, budget = KPI_MAX_ITEMS;
	header(b, root);
	(void)pf_buf_puts(b, "<h2>steps</h2>\n<p class=\"muted\">memory over time (blue, the top is the step's peak) "
	                     "against its limit (red, dashed) and the predicted peak interval (purple band); phases "
	                     "(brown) as the step announced them.</p>\n");
	if (cJSON_IsArray(steps))
		cJSON_ArrayForEach(it, steps)
			step_section(b, it, i++);
	(void)pf_buf_puts(b, "<h2>artifacts</h2>\n");
	if (cJSON_IsArray(arts))
		cJSON_ArrayForEach(it, arts)
			artifact_section(b, it);
	if (kpi && !cJSON_IsNull(kpi)) {
		(void)pf_buf_puts(b, "<h2>KPI</h2>\n<div class=\"kpi\">");
		json_value(b, kpi, 0, &budget);
		(void)pf_buf_puts(b, "</div>\n");
	}
}

int pf_report_render(char **out, const char *json, size_t len)
{
	cJSON *root = NULL;
	pf_buf b;
	int rc = 0;
	*out = NULL;
	pf_buf_init(&b, PAGE_MAX_BYTES);
	if (len > PF_MANIFEST_MAX_BYTES || !pf_json_depth_ok(json, len, PF_MANIFEST_MAX_DEPTH) ||
	    !(root = cJSON_ParseWithLength(json, len)) || !cJSON_IsObject(root) ||
	    !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "steps"))) {
		rc = pf_error_code(PF_EINVALID, "the manifest is not valid JSON with a \"steps\" list (or is too large or "
		                                "deep): give the manifest.json a pteflow run wrote");
		goto done;
	}
	(void)pf_buf_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	                      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	                      "style-src 'unsafe-inline'\"><title>pteflow report: ");
	pf_report_text(&b, pf_report_str(cJSON_GetObjectItemCaseSensitive(root, "pipeline"), "name"));
	(void)pf_buf_printf(&b, "</title><style>%s</style></head><body>\n", style);
	body(&b, root);
	(void)pf_buf_puts(&b, "<p class=\"muted\">written by pteflow report from the run's manifest.json</p>\n"
	                      "</body></html>\n");
	if (b.len >= PAGE_MAX_BYTES - 1) {
		rc = pf_error_code(PF_EINVALID, "the report would exceed %u MiB: the manifest is too large to draw",
		                   PAGE_MAX_BYTES >> 20);
		goto done;
	}
	*out = pf_buf_detach(&b);
done:
	pf_buf_dispose(&b);
	cJSON_Delete(root);
	return rc;
}

int pf_report_write(const char *manifest_path, const char *out_path)
{
	pf_buf in;
	char *page = NULL;
	int rc;
	pf_buf_init(&in, PF_MANIFEST_MAX_BYTES);
	if ((rc = pf_fs_read_file(&in, manifest_path, PF_MANIFEST_MAX_BYTES)) < 0)
		goto done;
	if ((rc = pf_report_render(&page, in.data ? in.data : "", in.len)) < 0)
		goto done;
	rc = pf_fs_write_atomic(out_path, page, strlen(page));
done:
	free(page);
	pf_buf_dispose(&in);
	return rc;
}
