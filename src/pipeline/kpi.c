/*
 * A step's `kpi:` block (issue 17) to pf_kpi_gates: the runtime gates pteflow
 * evaluates on the result of the step that measured them
 * (python/pteflow_steps/kpi.py; evaluation in src/verify/kpi.c). A preset
 * carries the export guide's numbers; keys written beside it replace its
 * values. A few lines of YAML: no workload to speak of.
 *
 * Keep the keys, presets and messages in step with
 * schemas/pipeline.schema.json ($defs/kpi) and README's "Runtime KPI gates".
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/loader.h"
#include "util/mem.h"

static const char *const kpi_keys[] = {"preset",   "ttft_max",           "decode_min_tps", "prefill_min_tps",
                                       "load_max", "runtime_memory_max", "soak",           NULL};
static const char *const soak_keys[] = {"turns", "duration", "max_growth", NULL};

#define KPI_MIN_SOAK_TURNS 5u /* the step's 2 warm-up turns and 3 to fit a slope */
#define KPI_MAX_SOAK_TURNS 100000u

typedef struct kpi_preset {
	const char *name;
	pf_kpi_gates gates;
} kpi_preset;

/* The export guide's KPI gates for Llama 3.2 1B; memory in decimal GB as the guide writes it. */
static const kpi_preset presets[] = {
    {"flagship",
     {.ttft_max_us = 200000, .decode_min_tps = 18.0, .runtime_memory_max_bytes = 3000000000u, .soak_turns = 20,
      .soak_duration_ms = 10u * 60u * 1000u, .soak_max_growth_bytes = 32u * 1024u * 1024u}},
    {"mid-range",
     {.ttft_max_us = 350000, .decode_min_tps = 12.0, .runtime_memory_max_bytes = 3000000000u, .soak_turns = 20,
      .soak_duration_ms = 10u * 60u * 1000u, .soak_max_growth_bytes = 32u * 1024u * 1024u}},
};

static bool decimal_number(const char *s)
{
	size_t digits = 0;
	for (; *s >= '0' && *s <= '9'; s++)
		digits++;
	if (*s == '.') {
		s++;
		for (; *s >= '0' && *s <= '9'; s++)
			digits++;
	}
	return digits > 0 && !*s;
}

/* A rate in tokens per second: a plain positive decimal number (12, 18.5). */
static int want_rate(loader *ld, const pl_node *n, const char *key, double *out)
{
	skind k = n->type == PL_SCALAR ? pl_scalar_kind(n) : S_STR;
	if (n->type != PL_SCALAR || (k != S_INT && k != S_FLOAT) || !decimal_number(n->text))
		return pl_fail(ld, n->pos, "\"%s\" must be a number of tokens per second such as 12 or 18.5, got %s", key,
		               pl_type_name(n));
	*out = strtod(n->text, NULL);
	if (!isfinite(*out) || *out <= 0.0 || *out > 1e9)
		return pl_fail(ld, n->pos, "\"%s\" must be greater than 0 and at most 1e9 tokens per second: remove "
		               "the key to set no gate", key);
	return 0;
}

/*
 * A latency: a duration (200ms, 2s, 1m) or a fraction of a millisecond
 * (0.5ms), since a small program answers in well under one. Microseconds.
 */
static int want_latency(loader *ld, const pl_node *n, const char *key, uint64_t *out_us)
{
	uint64_t ms = 0;
	size_t len = n->type == PL_SCALAR ? strlen(n->text) : 0;
	int rc;
	if (len > 2 && len < 32 && !strcmp(n->text + len - 2, "ms") && memchr(n->text, '.', len)) {
		char num[32];
		double v;
		memcpy(num, n->text, len - 2);
		num[len - 2] = '\0';
		if (!decimal_number(num) || (v = strtod(num, NULL)) * 1000.0 < 1.0 || v > 1e9)
			return pl_fail(ld, n->pos, "\"%s\": %.40s is not a latency: write e.g. 200ms, 0.5ms (at least 0.001ms) "
			               "or 2s", key, n->text);
		*out_us = (uint64_t)(v * 1000.0 + 0.5);
		return 0;
	}
	if ((rc = pl_want_duration(ld, n, key, &ms)) < 0)
		return rc;
	*out_us = ms * 1000u;
	return 0;
}

static int want_turns(loader *ld, const pl_node *n, uint64_t *out)
{
	uint64_t v = 0;
	if (n->type != PL_SCALAR || pl_scalar_kind(n) != S_INT)
		return pl_fail(ld, n->pos, "\"turns\" must be a whole number of turns such as 20, got %s", pl_type_name(n));
	for (const char *s = n->text; *s; s++) {
		if (*s < '0' || *s > '9' || v > KPI_MAX_SOAK_TURNS)
			return pl_fail(ld, n->pos, "\"turns\" must be between %u and %u, got %.40s", KPI_MIN_SOAK_TURNS,
			               KPI_MAX_SOAK_TURNS, n->text);
		v = v * 10u + (uint64_t)(*s - '0');
	}
	if (v < KPI_MIN_SOAK_TURNS || v > KPI_MAX_SOAK_TURNS)
		return pl_fail(ld, n->pos,
		               "\"turns\" must be between %u and %u (2 warm-up turns, then at least 3 to fit the "
		               "memory slope), got %.40s",
		               KPI_MIN_SOAK_TURNS, KPI_MAX_SOAK_TURNS, n->text);
	*out = v;
	return 0;
}

static int parse_soak(loader *ld, const pl_node *n, pf_kpi_gates *k)
{
	const pl_node *v;
	int rc = pl_check_map(ld, n, "kpi soak", soak_keys);
	if (rc < 0)
		return rc;
	if ((v = pl_map_get(n, "turns", NULL)) && (rc = want_turns(ld, v, &k->soak_turns)) < 0)
		return rc;
	if ((v = pl_map_get(n, "duration", NULL)) && (rc = pl_want_duration(ld, v, "duration", &k->soak_duration_ms)) < 0)
		return rc;
	if ((v = pl_map_get(n, "max_growth", NULL)) &&
	    (rc = pl_want_size(ld, v, "max_growth", true, &k->soak_max_growth_bytes)) < 0)
		return rc;
	return 0;
}

static int apply_preset(loader *ld, const pl_node *v, pf_kpi_gates *k)
{
	int rc = pl_want_string(ld, v, "preset", false, &k->preset);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
		if (!strcmp(presets[i].name, k->preset)) {
			char *name = k->preset;
			*k = presets[i].gates;
			k->preset = name;
			return 0;
		}
	}
	return pl_fail(ld, v->pos, "unknown kpi preset \"%.80s\": use flagship or mid-range", k->preset);
}

int pl_parse_kpi(loader *ld, const pl_node *n, pf_kpi_gates **out)
{
	const pl_node *v;
	pf_kpi_gates *k;
	int rc = pl_check_map(ld, n, "kpi", kpi_keys);
	if (rc < 0)
		return rc;
	k = *out = pf_xcalloc(1, sizeof(*k));
	if ((v = pl_map_get(n, "preset", NULL)) && (rc = apply_preset(ld, v, k)) < 0)
		return rc;
	k->pos = n->pos;
	if ((v = pl_map_get(n, "ttft_max", NULL)) && (rc = want_latency(ld, v, "ttft_max", &k->ttft_max_us)) < 0)
		return rc;
	if ((v = pl_map_get(n, "decode_min_tps", NULL)) && (rc = want_rate(ld, v, "decode_min_tps", &k->decode_min_tps)) < 0)
		return rc;
	if ((v = pl_map_get(n, "prefill_min_tps", NULL)) &&
	    (rc = want_rate(ld, v, "prefill_min_tps", &k->prefill_min_tps)) < 0)
		return rc;
	if ((v = pl_map_get(n, "load_max", NULL)) && (rc = want_latency(ld, v, "load_max", &k->load_max_us)) < 0)
		return rc;
	if ((v = pl_map_get(n, "runtime_memory_max", NULL)) &&
	    (rc = pl_want_size(ld, v, "runtime_memory_max", true, &k->runtime_memory_max_bytes)) < 0)
		return rc;
	if ((v = pl_map_get(n, "soak", NULL)) && (rc = parse_soak(ld, v, k)) < 0)
		return rc;
	return 0;
}

void pl_kpi_free(pf_kpi_gates *k)
{
	if (!k)
		return;
	free(k->preset);
	free(k);
}
