/*
 * The report's inline SVG charts (internal.h): a step's memory curve with
 * its limit, its predicted interval, its phases and its peak, and an
 * artifact's size against its size gates. Coordinates only come from
 * numbers checked finite and clamped to the plot; text goes through
 * pf_report_text(). Workload: one chart per step and per artifact.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/internal.h"
#include "util/mem.h"

#define W 760.0
#define H 262.0
#define ML 70.0
#define MR 20.0
#define MT 44.0 /* phase labels live above the plot, clear of the limit and prediction labels */
#define MB 34.0
#define PW (W - ML - MR)
#define PH (H - MT - MB)

typedef struct frame {
	double xmax, ymax;
} frame;

static double px(const frame *f, double t)
{
	double v = ML + PW * (t / f->xmax);
	return v < ML ? ML : v > ML + PW ? ML + PW : v;
}

static double py(const frame *f, double bytes)
{
	double v = MT + PH - PH * (bytes / f->ymax);
	return v < MT ? MT : v > MT + PH ? MT + PH : v;
}

static double num_item(const cJSON *v)
{
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 || v->valuedouble > 1e18)
		return 0;
	return v->valuedouble;
}

/* The series of a step: parallel t_ms/bytes arrays, at most PF_REPORT_MAX_POINTS. */
static size_t read_series(const cJSON *mem, double *t, double *bytes)
{
	const cJSON *ta = cJSON_GetObjectItemCaseSensitive(mem, "t_ms");
	const cJSON *ba = cJSON_GetObjectItemCaseSensitive(mem, "bytes");
	const cJSON *ti, *bi;
	size_t n = 0;
	if (!cJSON_IsArray(ta) || !cJSON_IsArray(ba))
		return 0;
	for (ti = ta->child, bi = ba->child; ti && bi && n < PF_REPORT_MAX_POINTS; ti = ti->next, bi = bi->next) {
		t[n] = num_item(ti);
		bytes[n++] = num_item(bi);
	}
	return n;
}

static void axes(pf_buf *b, const frame *f)
{
	for (int i = 0; i <= 4; i++) {
		double v = f->ymax * i / 4.0, y = py(f, v);
		(void)pf_buf_printf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", ML, y,
		                    ML + PW, y);
		(void)pf_buf_printf(b, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", ML - 6, y + 4);
		pf_report_size(b, v);
		(void)pf_buf_puts(b, "</text>");
	}
	for (int i = 0; i <= 4; i++) {
		double v = f->xmax * i / 4.0;
		(void)pf_buf_printf(b, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">", px(f, v),
		                    MT + PH + 16, i == 4 ? "end" : "middle"); /* the last one stays in the picture */
		if (f->xmax < 10000.0)
			(void)pf_buf_printf(b, "%.2f s", v / 1000.0); /* short steps: ticks closer than 0.1 s */
		else
			pf_report_duration(b, v);
		(void)pf_buf_puts(b, "</text>");
	}
}

static void predicted_band(pf_buf *b, const frame *f, const cJSON *step)
{
	const cJSON *pred = cJSON_GetObjectItemCaseSensitive(step, "prediction");
	const cJSON *pm = cJSON_GetObjectItemCaseSensitive(pred, "peak_memory");
	const cJSON *iv = cJSON_GetObjectItemCaseSensitive(pm, "predicted");
	double lo = pf_report_num(iv, "low", -1), hi = pf_report_num(iv, "high", -1), pt = pf_report_num(iv, "point", -1);
	if (!cJSON_IsObject(iv) || lo < 0 || hi < lo)
		return;
	(void)pf_buf_printf(b, "<rect class=\"predicted\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>", ML,
	                    py(f, hi), PW, py(f, lo) - py(f, hi) + 0.5);
	if (pt >= 0)
		(void)pf_buf_printf(b, "<line class=\"predicted-point\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
		                    ML, py(f, pt), ML + PW, py(f, pt));
	(void)pf_buf_printf(b, "<text class=\"label predicted-label\" x=\"%.1f\" y=\"%.1f\">predicted ", ML + 4,
	                    py(f, hi) - 3);
	pf_report_size(b, lo);
	(void)pf_buf_puts(b, " to ");
	pf_report_size(b, hi);
	(void)pf_buf_puts(b, "</text>");
}

static void phases(pf_buf *b, const frame *f, const cJSON *step)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(step, "phases"), *p;
	size_t i = 0;
	if (!cJSON_IsArray(arr))
		return;
	cJSON_ArrayForEach(p, arr) {
		double t = pf_report_num(p, "t_ms", -1), x;
		if (i++ >= PF_REPORT_MAX_PHASES)
			break;
		if (t < 0)
			continue;
		x = px(f, t);
		(void)pf_buf_printf(b, "<line class=\"phase\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x,
		                    4 + (double)((i - 1) % 3) * 13, x, MT + PH);
		/* near the right edge the label goes to the left of its line */
		(void)pf_buf_printf(b, "<text class=\"label phase-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">",
		                    x > ML + PW * 0.85 ? x - 3 : x + 3, 13 + (double)((i - 1) % 3) * 13,
		                    x > ML + PW * 0.85 ? "end" : "start");
		pf_report_text(b, pf_report_str(p, "name"));
		(void)pf_buf_puts(b, "</text>");
	}
}

static void curve(pf_buf *b, const frame *f, const double *t, const double *bytes, size_t n)
{
	size_t top = 0;
	(void)pf_buf_puts(b, "<polyline class=\"curve\" points=\"");
	for (size_t i = 0; i < n; i++) {
		(void)pf_buf_printf(b, "%s%.1f,%.1f", i ? " " : "", px(f, t[i]), py(f, bytes[i]));
		if (bytes[i] > bytes[top])
			top = i;
	}
	(void)pf_buf_puts(b, "\"/>");
	(void)pf_buf_printf(b, "<circle class=\"peak\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\"/>", px(f, t[top]),
	                    py(f, bytes[top]));
	(void)pf_buf_printf(b, "<text class=\"label peak-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">peak ",
	                    px(f, t[top]) + (t[top] > f->xmax / 2 ? -6 : 6), py(f, bytes[top]) + 14,
	                    t[top] > f->xmax / 2 ? "end" : "start");
	pf_report_size(b, bytes[top]);
	(void)pf_buf_puts(b, "</text>");
}

bool pf_report_memory_chart(pf_buf *b, const cJSON *step, size_t index)
{
	double *t = NULL, *bytes = NULL;
	const cJSON *mem = cJSON_GetObjectItemCaseSensitive(step, "memory");
	const cJSON *guard = cJSON_GetObjectItemCaseSensitive(step, "guard");
	const cJSON *pm = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(step, "prediction"),
	                                                   "peak_memory");
	double limit = pf_report_num(guard, "limit_bytes", 0);
	double high = pf_report_num(cJSON_GetObjectItemCaseSensitive(pm, "predicted"), "high", 0);
	size_t n;
	frame f = {pf_report_num(step, "duration_ms", 0), pf_report_num(step, "peak_memory_bytes", 0)};
	if (!cJSON_IsObject(mem))
		return false;
	t = pf_xcalloc(PF_REPORT_MAX_POINTS, sizeof(*t));
	bytes = pf_xcalloc(PF_REPORT_MAX_POINTS, sizeof(*bytes));
	n = read_series(mem, t, bytes);
	if (n == 0)
		goto done;
	for (size_t i = 0; i < n; i++) {
		if (t[i] > f.xmax)
			f.xmax = t[i];
		if (bytes[i] > f.ymax)
			f.ymax = bytes[i];
	}
	if (limit > f.ymax)
		f.ymax = limit;
	if (high > f.ymax)
		f.ymax = high;
	f.ymax = f.ymax < 1048576.0 ? 1048576.0 : f.ymax * 1.08;
	f.xmax = f.xmax < 1.0 ? 1.0 : f.xmax;
	(void)pf_buf_printf(b,
	                    "<svg class=\"mem\" data-step=\"%zu\" data-points=\"%zu\" xmlns=\"http://www.w3.org/2000/svg\" "
	                    "viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\"><title>memory of step ",
	                    index, n, W, H, W, H);
	pf_report_text(b, pf_report_str(step, "name"));
	(void)pf_buf_printf(b, "</title><rect class=\"plot\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>", ML,
	                    MT, PW, PH);
	axes(b, &f);
	predicted_band(b, &f, step);
	phases(b, &f, step);
	if (limit > 0) {
		(void)pf_buf_printf(b, "<line class=\"limit\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", ML,
		                    py(&f, limit), ML + PW, py(&f, limit));
		(void)pf_buf_printf(b, "<text class=\"label limit-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">limit ",
		                    ML + PW - 4, py(&f, limit) - 4);
		pf_report_size(b, limit);
		(void)pf_buf_puts(b, "</text>");
	}
	curve(b, &f, t, bytes, n);
	(void)pf_buf_puts(b, "</svg>\n");
done:
	free(t);
	free(bytes);
	return n > 0;
}

/* The bytes of the gate named `name` (its `field`), or -1. */
static double gate_bytes(const cJSON *artifact, const char *name, const char *field)
{
	const cJSON *gates = cJSON_GetObjectItemCaseSensitive(artifact, "gates"), *g;
	if (!cJSON_IsArray(gates))
		return -1;
	cJSON_ArrayForEach(g, gates) {
		const char *gn = pf_report_str(g, "name");
		if (gn && !strcmp(gn, name))
			return pf_report_num(g, field, -1);
	}
	return -1;
}

static void size_marker(pf_buf *b, double x, const char *what, double bytes)
{
	/* the label stays inside the picture at either end */
	double tx = x < 40 ? 40 : x > W - 50 ? W - 50 : x;
	(void)pf_buf_printf(b, "<line class=\"gate\" x1=\"%.1f\" y1=\"4\" x2=\"%.1f\" y2=\"30\"/>", x, x);
	(void)pf_buf_printf(b, "<text class=\"label\" x=\"%.1f\" y=\"44\" text-anchor=\"middle\">%s ", tx, what);
	pf_report_size(b, bytes);
	(void)pf_buf_puts(b, "</text>");
}

void pf_report_size_chart(pf_buf *b, const cJSON *artifact)
{
	double size = pf_report_num(artifact, "size_bytes", 0);
	double max = gate_bytes(artifact, "max_size", "max_size_bytes");
	double min = gate_bytes(artifact, "min_size", "min_size_bytes");
	double scale = size, width = W - 40.0;
	const cJSON *passed = cJSON_GetObjectItemCaseSensitive(artifact, "passed");
	if (max > scale)
		scale = max;
	if (min > scale)
		scale = min;
	scale = scale <= 0 ? 1 : scale * 1.1;
	(void)pf_buf_printf(b,
	                    "<svg class=\"size\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f 50\" width=\"%.0f\" "
	                    "height=\"50\" role=\"img\"><title>size of ",
	                    W, W);
	pf_report_text(b, pf_report_str(artifact, "path"));
	(void)pf_buf_printf(b, "</title><rect class=\"track\" x=\"10\" y=\"8\" width=\"%.1f\" height=\"18\"/>", width);
	(void)pf_buf_printf(b, "<rect class=\"%s\" x=\"10\" y=\"8\" width=\"%.1f\" height=\"18\"/>",
	                    cJSON_IsTrue(passed) ? "bar-ok" : "bar-fail", width * size / scale);
	if (max >= 0)
		size_marker(b, 10 + width * max / scale, "max", max);
	if (min >= 0)
		size_marker(b, 10 + width * min / scale, "min", min);
	(void)pf_buf_puts(b, "</svg>\n");
}
