/*
 * Builders of the "metadata" and "bundle" JSON objects (structure.h) for
 * `pteflow inspect --json` and manifest.json. Workload: a few dozen values
 * per file; the reader has already capped every list.
 */
#include "manifest/structure.h"

#include <stdlib.h>

#include "util/log.h"

static cJSON *redacted_string(const char *s)
{
	char *clean = pf_secret_redact(s ? s : "");
	cJSON *out = cJSON_CreateString(clean);
	free(clean);
	return out;
}

static cJSON *value_json(const pf_pte_value *v)
{
	char text[64];
	switch (v->type) {
	case PF_PTE_VALUE_INT:
		return cJSON_CreateNumber((double)v->i);
	case PF_PTE_VALUE_BOOL:
		return cJSON_CreateBool(v->i != 0);
	case PF_PTE_VALUE_DOUBLE:
		/* Raw text, so 64.0 stays a float for a JSON reader (cJSON would print 64); NaN and inf are null. */
		if (v->d - v->d != 0.0)
			return cJSON_CreateNull();
		pf_pte_value_format(text, sizeof(text), v);
		return cJSON_CreateRaw(text);
	case PF_PTE_VALUE_STRING:
		return redacted_string(v->s);
	default:
		return cJSON_CreateNull();
	}
}

cJSON *pf_manifest_metadata_json(const pf_pte_info *p)
{
	cJSON *o = cJSON_CreateObject();
	for (size_t i = 0; p && i < p->n_methods; i++) {
		const pf_pte_method *m = &p->methods[i];
		cJSON *v;
		char *key;
		if (!m->is_constant || !m->name || cJSON_GetObjectItemCaseSensitive(o, m->name))
			continue;
		if (m->is_list) {
			v = cJSON_CreateArray();
			for (size_t k = 0; k < m->n_constants; k++)
				cJSON_AddItemToArray(v, value_json(&m->constants[k]));
		} else {
			v = m->n_constants ? value_json(&m->constants[0]) : cJSON_CreateNull();
		}
		key = pf_secret_redact(m->name);
		cJSON_AddItemToObject(o, key, v);
		free(key);
	}
	return o;
}

static cJSON *bvalue_json(const pf_bpte_value *v)
{
	static const char *const types[] = {"none", "tensor", "int", "bool", "double"};
	cJSON *o = cJSON_CreateObject(), *sizes;
	const char *dtype;
	cJSON_AddStringToObject(o, "type", v->type <= PF_BPTE_DOUBLE ? types[v->type] : "none");
	switch (v->type) {
	case PF_BPTE_TENSOR:
		dtype = pf_pte_scalar_name(v->scalar_type);
		if (dtype)
			cJSON_AddStringToObject(o, "dtype", dtype);
		else
			cJSON_AddNullToObject(o, "dtype");
		sizes = cJSON_AddArrayToObject(o, "sizes");
		for (uint32_t d = 0; d < v->n_dims && d < PF_PTE_MAX_DIMS; d++)
			cJSON_AddItemToArray(sizes, cJSON_CreateNumber(v->sizes[d]));
		cJSON_AddNumberToObject(o, "data_bytes", (double)v->data_bytes);
		break;
	case PF_BPTE_INT:
		cJSON_AddNumberToObject(o, "value", (double)v->i);
		break;
	case PF_BPTE_BOOL:
		cJSON_AddBoolToObject(o, "value", v->i != 0);
		break;
	case PF_BPTE_DOUBLE:
		cJSON_AddNumberToObject(o, "value", v->d);
		break;
	}
	return o;
}

static cJSON *case_json(const pf_bpte_case *c)
{
	cJSON *o = cJSON_CreateObject(), *in, *out;
	cJSON_AddNumberToObject(o, "inputs", c->n_inputs);
	cJSON_AddNumberToObject(o, "expected_outputs", c->n_outputs);
	in = cJSON_AddArrayToObject(o, "input_values");
	out = cJSON_AddArrayToObject(o, "expected_output_values");
	for (size_t i = 0; i < c->n_listed_inputs; i++)
		cJSON_AddItemToArray(in, bvalue_json(&c->values[i]));
	for (size_t i = 0; i < c->n_listed_outputs; i++)
		cJSON_AddItemToArray(out, bvalue_json(&c->values[c->n_listed_inputs + i]));
	return o;
}

cJSON *pf_manifest_bundle_json(const pf_pte_info *p, bool detailed)
{
	cJSON *o, *suites;
	if (!p || p->kind != PF_FILE_BPTE)
		return NULL;
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "version", p->bundled_version);
	cJSON_AddNumberToObject(o, "program_offset", (double)p->bundled_program_offset);
	cJSON_AddNumberToObject(o, "program_size", (double)p->bundled_program_size);
	cJSON_AddNumberToObject(o, "test_suite_count", (double)p->n_suites_total);
	suites = cJSON_AddArrayToObject(o, "test_suites");
	for (size_t i = 0; i < p->n_suites; i++) {
		const pf_bpte_suite *s = &p->suites[i];
		cJSON *so = cJSON_CreateObject(), *cases;
		cJSON_AddItemToObject(so, "method", redacted_string(s->method));
		cJSON_AddNumberToObject(so, "test_cases", s->n_cases);
		if (detailed) {
			cases = cJSON_AddArrayToObject(so, "cases");
			for (size_t k = 0; k < s->n_listed_cases; k++)
				cJSON_AddItemToArray(cases, case_json(&s->cases[k]));
		}
		cJSON_AddItemToArray(suites, so);
	}
	return o;
}
