/*
 * Runtime KPI gates (issue 17): the `kpi:` block of a step (pf_kpi_gates)
 * evaluated on the result JSON that step wrote (python/pteflow_steps/kpi.py,
 * its "kpi" object). For `pteflow run`, which records the verdict in the
 * manifest's kpi section and fails the run naming the first failed gate.
 * The result is a step's output: parsed with a length and a depth cap, every
 * field type-checked, and a missing or malformed figure is a failed gate,
 * never a pass. One small JSON per run.
 *
 * Keep the gate names in step with schemas/manifest.schema.json ($defs/kpi),
 * src/verify/verify_manifest.c (kpi_failures) and README's "Runtime KPI gates".
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "util/mem.h"
#include "util/text.h"
#include "verify/check.h"
#include "verify/verify.h"

#define KPI_RESULT_MAX_DEPTH 32

typedef struct kpi_ctx {
	pf_kpi_record *rec;
	const cJSON *summary; /* NULL when not measured */
	char *where;          /* "2 threads on AMD EPYC" */
} kpi_ctx;

static pf_kpi_gate *add_gate(pf_kpi_record *k, const char *name, const char *unit)
{
	pf_kpi_gate *g;
	k->gates = pf_xrealloc(k->gates, (k->n_gates + 1) * sizeof(*k->gates));
	g = &k->gates[k->n_gates++];
	memset(g, 0, sizeof(*g));
	g->name = pf_xstrdup(name);
	g->unit = unit;
	return g;
}

/* Only a memory growth may be negative (memory handed back during the soak). */
static bool number_of(const cJSON *obj, const char *key, double *out)
{
	const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
	bool signed_ok = !strcmp(key, "rss_growth_bytes");
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || (v->valuedouble < 0 && !signed_ok) ||
	    fabs(v->valuedouble) > 1e18)
		return false;
	*out = v->valuedouble;
	return true;
}

static char *fmt_value(double v, const char *unit, bool binary)
{
	if (unit && !strcmp(unit, "bytes") && v < 0) /* memory handed back over a soak */
		return pf_xasprintf("-%.2f %s (%.0f bytes)", -v / (binary ? 1048576.0 : 1e6), binary ? "MiB" : "MB", v);
	if (unit && !strcmp(unit, "bytes"))
		return pf_verify_format_actual((uint64_t)v, binary);
	return pf_xasprintf("%.4g %s", v, unit);
}

static void fail_once(kpi_ctx *c, const pf_kpi_gate *g, const char *what)
{
	pf_kpi_record *k = c->rec;
	k->passed = false;
	if (k->failure)
		return;
	k->failure = pf_xasprintf("KPI gate %s failed: %s expected %s, measured %s (step \"%s\", %s; the host is a "
				  "proxy for a phone)",
				  g->name, what, g->expected, g->actual, k->step, c->where);
}

/* A limit gate: value <= limit (upper) or value >= limit (lower), on summary[key] scaled by `scale`. */
static void limit_gate(kpi_ctx *c, const char *name, const char *what, const char *key, double scale, double limit,
		       bool upper, const char *unit)
{
	pf_kpi_gate *g = add_gate(c->rec, name, unit);
	double v = 0;
	bool binary = false;
	char *lim = !strcmp(unit, "bytes") ? pf_verify_format_limit((uint64_t)limit, &binary)
					   : pf_xasprintf("%.4g %s", limit, unit);
	g->limit = limit;
	g->expected = pf_xasprintf("%s %s", upper ? "<=" : ">=", lim);
	free(lim);
	if (c->summary && number_of(c->summary, key, &v)) {
		g->has_value = true;
		g->value = v * scale;
		g->actual = fmt_value(g->value, unit, binary);
		g->passed = upper ? g->value <= limit : g->value >= limit;
	} else {
		g->actual = pf_xstrdup("not measured");
	}
	if (!g->passed)
		fail_once(c, g, what);
}

static void crash_gate(kpi_ctx *c, const cJSON *kpi)
{
	pf_kpi_gate *g = add_gate(c->rec, "crash", "crashes");
	const cJSON *crash = kpi ? cJSON_GetObjectItemCaseSensitive(kpi, "crash") : NULL;
	g->expected = pf_xstrdup("no crash");
	if (!kpi) {
		g->actual = pf_xstrdup("not measured");
	} else if (cJSON_IsNull(crash)) {
		g->has_value = true;
		g->actual = pf_xstrdup("none");
		g->passed = true;
		return;
	} else {
		double turn = 0;
		const cJSON *sig = cJSON_GetObjectItemCaseSensitive(crash, "signal");
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(crash, "exit_code");
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(crash, "message");
		char *how = cJSON_IsString(sig) ? pf_xasprintf("%.32s", sig->valuestring)
				: cJSON_IsNumber(code) ? pf_xasprintf("exit code %d", code->valueint)
						       : pf_xstrdup("an exception");
		g->has_value = true;
		g->value = 1;
		(void)number_of(crash, "turn", &turn);
		g->actual = pf_xasprintf("crashed in turn %.0f (%s)%s%.200s", turn, how,
					 cJSON_IsString(msg) && msg->valuestring[0] ? ": " : "",
					 cJSON_IsString(msg) ? msg->valuestring : "");
		free(how);
	}
	fail_once(c, g, "the runtime session:");
}

static void host_text(kpi_ctx *c, const cJSON *kpi)
{
	const cJSON *host = kpi ? cJSON_GetObjectItemCaseSensitive(kpi, "host") : NULL;
	const cJSON *cpu = host ? cJSON_GetObjectItemCaseSensitive(host, "cpu_model") : NULL;
	double threads = 0;
	if (host && number_of(host, "threads", &threads) && cJSON_IsString(cpu))
		c->where = pf_xasprintf("%.0f threads on %.120s", threads, cpu->valuestring);
	else
		c->where = pf_xstrdup("host unknown");
}

static const cJSON *kpi_object(cJSON **root, const char *result_json)
{
	const cJSON *kpi;
	size_t len = result_json ? strlen(result_json) : 0;
	if (!len || !pf_json_depth_ok(result_json, len, KPI_RESULT_MAX_DEPTH))
		return NULL;
	*root = cJSON_ParseWithLength(result_json, len);
	kpi = *root ? cJSON_GetObjectItemCaseSensitive(*root, "kpi") : NULL;
	return cJSON_IsObject(kpi) ? kpi : NULL;
}

pf_kpi_record *pf_verify_kpi(const char *step, const pf_kpi_gates *gates, const char *result_json)
{
	pf_kpi_record *k = pf_xcalloc(1, sizeof(*k));
	cJSON *root = NULL;
	const cJSON *kpi = kpi_object(&root, result_json);
	kpi_ctx c = {.rec = k};
	pf_kpi_gate *g;

	k->step = pf_xstrdup(step);
	k->preset = gates->preset ? pf_xstrdup(gates->preset) : NULL;
	k->passed = true;
	c.summary = kpi ? cJSON_GetObjectItemCaseSensitive(kpi, "summary") : NULL;
	if (!cJSON_IsObject(c.summary))
		c.summary = NULL;
	host_text(&c, kpi);
	if (kpi) {
		char *text = cJSON_PrintUnformatted(kpi);
		k->measured_json = text ? pf_xstrdup(text) : NULL;
		cJSON_free(text);
	}
	g = add_gate(k, "measured", NULL);
	g->expected = pf_xstrdup("a KPI result");
	g->passed = g->has_value = c.summary != NULL;
	g->actual = pf_xstrdup(g->passed ? "present" : "none: the step wrote no kpi result (see its log)");
	if (!g->passed)
		fail_once(&c, g, "the step's result:");
	crash_gate(&c, kpi);
	if (gates->ttft_max_us)
		limit_gate(&c, "ttft_max", "time to first token", "ttft_ms", 1.0, (double)gates->ttft_max_us / 1000.0,
			   true, "ms");
	if (gates->decode_min_tps > 0)
		limit_gate(&c, "decode_min_tps", "decode speed", "decode_tps", 1.0, gates->decode_min_tps, false,
			   "tokens/s");
	if (gates->prefill_min_tps > 0)
		limit_gate(&c, "prefill_min_tps", "prefill speed", "prefill_tps", 1.0, gates->prefill_min_tps, false,
			   "tokens/s");
	if (gates->load_max_us)
		limit_gate(&c, "load_max", "load time", "load_ms", 1.0, (double)gates->load_max_us / 1000.0, true, "ms");
	if (gates->runtime_memory_max_bytes)
		limit_gate(&c, "runtime_memory_max", "runtime memory peak", "peak_rss_bytes", 1.0,
			   (double)gates->runtime_memory_max_bytes, true, "bytes");
	if (gates->soak_turns)
		limit_gate(&c, "soak_turns", "soak length", "turns", 1.0, (double)gates->soak_turns, false, "turns");
	if (gates->soak_duration_ms)
		limit_gate(&c, "soak_duration", "soak duration", "duration_s", 1.0,
			   (double)gates->soak_duration_ms / 1000.0, false, "s");
	if (gates->soak_max_growth_bytes)
		limit_gate(&c, "soak_max_growth", "resident memory growth over the soak (a leak)", "rss_growth_bytes",
			   1.0, (double)gates->soak_max_growth_bytes, true, "bytes");
	cJSON_Delete(root);
	free(c.where);
	return k;
}

/* ---- `pteflow verify`: the gates a manifest recorded ---- */

static bool recheck(const pf_manifest_kpi_gate *g, const char **why)
{
	static const char *const upper[] = {"ttft_max", "load_max", "runtime_memory_max", "soak_max_growth", NULL};
	static const char *const lower[] = {"decode_min_tps", "prefill_min_tps", "soak_turns", "soak_duration", NULL};
	bool is_upper = false, is_lower = false;
	*why = NULL;
	if (!g->passed) {
		*why = "failed at run time";
		return false;
	}
	for (size_t i = 0; upper[i]; i++)
		is_upper = is_upper || !strcmp(g->name, upper[i]);
	for (size_t i = 0; lower[i]; i++)
		is_lower = is_lower || !strcmp(g->name, lower[i]);
	if ((is_upper || is_lower || !strcmp(g->name, "crash")) && (!g->has_limit || !g->has_value)) {
		*why = "recorded as passed without its limit and value";
		return false;
	}
	if ((is_upper && g->value > g->limit) || (is_lower && g->value < g->limit) ||
	    (!strcmp(g->name, "crash") && g->value != 0)) {
		*why = "recorded as passed, but its value does not meet its limit";
		return false;
	}
	return true;
}

void pf_verify_kpi_recheck(pf_verify_report *r, const pf_manifest *m)
{
	if (!m->has_kpi)
		return;
	r->kpi = pf_xcalloc(m->n_kpi_gates ? m->n_kpi_gates : 1, sizeof(*r->kpi));
	for (size_t i = 0; i < m->n_kpi_gates; i++) {
		const pf_manifest_kpi_gate *g = &m->kpi_gates[i];
		const char *why = NULL;
		pf_verify_kpi_line *l = &r->kpi[r->n_kpi++];
		l->name = pf_xstrdup(g->name);
		l->ok = recheck(g, &why);
		l->detail = pf_xasprintf("expected %.200s, measured %.300s%s%s", g->expected, g->actual, why ? ": " : "",
					 why ? why : "");
		if (!l->ok) {
			r->kpi_failed++;
			r->ok = false;
		}
	}
}
