/*
 * The memory section of the GitHub job summary (gha.h): per step that was
 * sampled, a Mermaid `xychart-beta` block (GitHub renders Mermaid in
 * Markdown) with the step's memory curve and its limit as a second line.
 * The grammar emitted is the subset checked by tests/cli/mermaid_xychart.py:
 * keep the two in step. Workload: once per run, a few steps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gha/gha.h"
#include "util/mem.h"

/* Columns of a chart: enough for a curve, few enough to read in the summary's source. */
#define CHART_COLUMNS 60
#define TITLE_MAX 60
#define MIB (1024.0 * 1024.0)

/* A Mermaid quoted string holds anything but '"'; "%%" starts a comment elsewhere: keep a plain subset. */
static void title_text(pf_buf *b, const char *name)
{
	size_t n = 0;
	for (const char *p = name ? name : "?"; *p && n < TITLE_MAX; p++, n++) {
		char c = *p;
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' ||
		             c == '_' || c == '-' || c == '.' || c == '/';
		(void)pf_buf_append(b, plain ? &c : "_", 1);
	}
}

static void values(pf_buf *b, const uint64_t *v, size_t n, uint64_t constant)
{
	(void)pf_buf_puts(b, "[");
	for (size_t i = 0; i < n; i++)
		(void)pf_buf_printf(b, "%s%.1f", i ? ", " : "", (double)(v ? v[i] : constant) / MIB);
	(void)pf_buf_puts(b, "]\n");
}

static void step_chart(pf_buf *b, const pf_step_record *s)
{
	const pf_series *se = &s->result.guard.series;
	uint64_t limit = s->result.guard.limit_bytes, top;
	uint64_t end_ms = s->result.wall_ms;
	size_t n = se->n < CHART_COLUMNS ? se->n : CHART_COLUMNS;
	uint64_t *v;
	if (n < 2)
		n = 2; /* a line needs two points */
	v = pf_xcalloc(n, sizeof(*v));
	(void)pf_series_resample(v, n, se, end_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)end_ms);
	top = pf_series_max(se, NULL);
	if (se->n && se->pts[se->n - 1].t_ms > end_ms)
		end_ms = se->pts[se->n - 1].t_ms;
	(void)pf_buf_puts(b, "```mermaid\nxychart-beta\n    title \"");
	title_text(b, s->name);
	(void)pf_buf_printf(b, " memory (MiB)%s\"\n", limit ? " against its limit" : "");
	(void)pf_buf_printf(b, "    x-axis \"seconds\" 0 --> %.1f\n", (double)(end_ms ? end_ms : 1) / 1000.0);
	(void)pf_buf_printf(b, "    y-axis \"MiB\" 0 --> %.0f\n",
	                    (double)(limit > top ? limit : top) / MIB * 1.1 + 1.0);
	(void)pf_buf_puts(b, "    line ");
	values(b, v, n, 0);
	if (limit) {
		(void)pf_buf_puts(b, "    line ");
		values(b, NULL, n, limit);
	}
	(void)pf_buf_puts(b, "```\n\n");
	free(v);
}

void pf_gha_memory_charts(pf_buf *b, const pf_run_record *rec)
{
	bool any = false;
	for (size_t i = 0; i < rec->n_steps; i++) {
		const pf_step_record *s = &rec->steps[i];
		if (!s->ran || s->cached || s->result.guard.series.n == 0)
			continue;
		if (!any)
			(void)pf_buf_puts(b, "### Memory\n\nEach step's memory over time (first line; its top is the "
			                     "step's peak) and its limit (second line, when it has one).\n\n");
		any = true;
		step_chart(b, s);
	}
}
