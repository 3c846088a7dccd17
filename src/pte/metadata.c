/*
 * Values of metadata ("constant") methods, read without running anything
 * (executorch-runtime-contracts.md section 1.2): to_edge(...,
 * constant_methods={...}) emits one plan per key with no inputs and no
 * instructions whose outputs are Int, Bool, Double or String values.
 * Runners read get_max_seq_len, get_eos_ids, use_kv_cache... from them;
 * `inspect` and the manifest show them. Part of the Program walk (walk.h);
 * output indices were range-checked by the plan walk, union members are
 * re-checked here. Workload: a few values per method, capped.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pte/walk.h"
#include "util/mem.h"

static const char *const evalue_names[] = {"none",        "null",      "int",         "bool",
                                           "double",      "tensor",    "string",      "int list",
                                           "double list", "bool list", "tensor list", "optional tensor list"};

/*
 * The pytree spec the exporter records for a getter's outputs: the top
 * node's "type" is null for a single leaf and "builtins.list" (or tuple) for
 * a list, so get_eos_ids = [2] is a list of one though it has one output.
 * A bounded scan of the string, not a JSON parse: absent or odd, the output
 * count decides.
 */
static bool spec_is_list(pf_pte_walk *w, const pf_fb_table *plan, uint32_t n_outputs)
{
	pf_fb_table meta;
	const char *spec = NULL, *p, *end;
	uint32_t len = 0;
	if (!pf_fb_subtable(w->fb, plan, 1, &meta, "ContainerMetadata") ||
	    !pf_fb_string(w->fb, &meta, 1, &spec, &len, "ContainerMetadata.encoded_out_str") ||
	    !pf_fb_spend(w->fb, len))
		return n_outputs != 1;
	end = spec + len;
	for (p = spec; p + 6 <= end; p++) {
		if (memcmp(p, "\"type\"", 6) != 0)
			continue;
		for (p += 6; p < end && (*p == ' ' || *p == ':'); p++)
			;
		return !(end - p >= 4 && !memcmp(p, "null", 4));
	}
	return n_outputs != 1;
}

/* One output of a metadata method: the value at `idx` (already range-checked), read from its union member. */
static void read_constant(pf_pte_walk *w, const pf_fb_vec *values, uint32_t idx, pf_pte_value *out)
{
	pf_fb_table ev, val;
	const char *s = NULL;
	uint32_t len = 0;
	uint64_t bits;
	uint8_t tag;
	memset(out, 0, sizeof(*out));
	out->type = PF_PTE_VALUE_OTHER;
	if (!pf_fb_vec_table(w->fb, values, idx, &ev, "EValue"))
		return;
	tag = pf_fb_u8(w->fb, &ev, 0, 0);
	/* walk_value has reported unknown tags and missing members; such a value stays OTHER. */
	if (tag > 11 || !pf_fb_subtable(w->fb, &ev, 1, &val, "EValue.val")) {
		out->s = pf_pte_name_store(w->info, "invalid", 7);
		return;
	}
	switch (tag) {
	case 2:
		out->type = PF_PTE_VALUE_INT;
		out->i = (int64_t)pf_fb_u64(w->fb, &val, 0, 0);
		return;
	case 3:
		out->type = PF_PTE_VALUE_BOOL;
		out->i = pf_fb_u8(w->fb, &val, 0, 0) != 0;
		return;
	case 4:
		out->type = PF_PTE_VALUE_DOUBLE;
		bits = pf_fb_u64(w->fb, &val, 0, 0);
		memcpy(&out->d, &bits, sizeof(out->d));
		return;
	case 6:
		if (pf_fb_string(w->fb, &val, 0, &s, &len, "String.string_val") && pf_pte_walk_spend_name(w, len)) {
			out->type = PF_PTE_VALUE_STRING;
			out->s = pf_pte_name_store(w->info, s, len);
			return;
		}
		break;
	default:
		break;
	}
	out->s = pf_pte_name_store(w->info, evalue_names[tag], strlen(evalue_names[tag]));
}

void pf_pte_walk_constants_of(pf_pte_walk *w, const pf_fb_table *plan, pf_pte_method *m, const pf_fb_vec *values,
                              const pf_fb_vec *outputs)
{
	pf_pte_info *info = w->info;
	uint32_t n = outputs->n;
	if (w->fb->failed)
		return;
	m->is_constant = true;
	m->is_list = spec_is_list(w, plan, n);
	info->n_constant_methods++;
	if (n > PF_PTE_MAX_METHOD_VALUES) {
		WARN(w,
		     "metadata method \"%s\" returns %u values: only the first %u are listed (a real getter returns "
		     "a few)",
		     m->name, (unsigned)n, PF_PTE_MAX_METHOD_VALUES);
		n = PF_PTE_MAX_METHOD_VALUES;
	}
	if (n > PF_PTE_MAX_FILE_VALUES - info->n_values_kept) {
		if (info->n_values_kept < PF_PTE_MAX_FILE_VALUES || !w->values_cut)
			WARN(w,
			     "the metadata methods return more than %u values in all: the values of \"%s\" and later "
			     "ones are cut",
			     PF_PTE_MAX_FILE_VALUES, m->name);
		w->values_cut = true;
		n = (uint32_t)(PF_PTE_MAX_FILE_VALUES - info->n_values_kept);
	}
	if (n == 0)
		return;
	m->constants = pf_xcalloc(n, sizeof(*m->constants));
	for (uint32_t i = 0; i < n && !w->fb->failed; i++) {
		int32_t idx = (int32_t)pf_fb_le32(w->fb->data + outputs->pos + 4 * (uint64_t)i);
		pf_pte_value *v = &m->constants[m->n_constants];
		if (idx < 0 || (uint32_t)idx >= values->n)
			continue; /* check_indices reported it */
		read_constant(w, values, (uint32_t)idx, v);
		m->n_constants++;
	}
	info->n_values_kept += m->n_constants;
}

void pf_pte_value_format(char *buf, size_t size, const pf_pte_value *v)
{
	switch (v->type) {
	case PF_PTE_VALUE_INT:
		snprintf(buf, size, "%" PRId64, v->i);
		break;
	case PF_PTE_VALUE_BOOL:
		snprintf(buf, size, "%s", v->i ? "true" : "false");
		break;
	case PF_PTE_VALUE_DOUBLE:
		/* 64.0 as Python prints it, so a float reads as one; else the shortest exact form. */
		if (v->d > -1e15 && v->d < 1e15 && (double)(int64_t)v->d == v->d) /* false for NaN */
			snprintf(buf, size, "%.1f", v->d);
		else
			snprintf(buf, size, "%.17g", v->d);
		break;
	case PF_PTE_VALUE_STRING:
		snprintf(buf, size, "\"%s\"", v->s ? v->s : "");
		break;
	default:
		snprintf(buf, size, "<%s>", v->s ? v->s : "value");
		break;
	}
}
