/*
 * Unit tests of the metadata-method values and the BundledProgram (.bpte)
 * reader (issue 16): the real files ExecuTorch wrote with make_fixtures.py
 * (tests/resources/pte) read with the values and suites they were made
 * with; mutations of those bytes (truncation, wrong identifier, a suite for a
 * missing method, tensor data that disagrees with its shape, a truncated
 * embedded program) each give a FATAL finding; and programs built with fbb.h
 * carry hostile getters (wrong union types, out-of-range output indices,
 * huge output lists) that must give findings, never crashes.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pte_test.h"

/* Position of `needle` in data[from, to), or SIZE_MAX. */
static size_t find_in(const bytes *b, size_t from, size_t to, const void *needle, size_t n)
{
	for (size_t i = from; i + n <= to && i + n <= b->len; i++)
		if (!memcmp(b->data + i, needle, n))
			return i;
	return SIZE_MAX;
}

/* ---- metadata methods: the real file ---- */

static const pf_pte_method *constant(const pf_pte_info *info, const char *name)
{
	const pf_pte_method *m = pf_pte_find_constant(info, name);
	cr_assert_not_null(m, "no metadata method %s", name);
	return m;
}

Test(pte_metadata, values_of_a_program_exported_with_constant_methods)
{
	bytes f = load("linear-metadata.pte");
	pf_pte_info *info = inspect(f.data, f.len);
	const pf_pte_method *m;
	char text[64];
	dump_findings(info);
	cr_assert(pf_pte_ok(info));
	cr_assert_eq(info->n_methods, 6);
	cr_assert_eq(info->n_constant_methods, 5);
	cr_assert_eq(pf_pte_n_runnable_methods(info), 1);
	cr_assert_null(pf_pte_find_constant(info, "forward"), "forward is a real method");
	m = constant(info, "get_max_seq_len");
	cr_assert(!m->is_list);
	cr_assert_eq(m->n_constants, 1);
	cr_assert_eq(m->constants[0].type, PF_PTE_VALUE_INT);
	cr_assert_eq(m->constants[0].i, 128);
	m = constant(info, "get_eos_ids");
	cr_assert(m->is_list);
	cr_assert_eq(m->n_constants, 2);
	cr_assert_eq(m->constants[0].i, 1);
	cr_assert_eq(m->constants[1].i, 2);
	m = constant(info, "use_kv_cache");
	cr_assert_eq(m->constants[0].type, PF_PTE_VALUE_BOOL);
	cr_assert_eq(m->constants[0].i, 1);
	m = constant(info, "get_head_dim");
	cr_assert_eq(m->constants[0].type, PF_PTE_VALUE_DOUBLE);
	cr_assert_float_eq(m->constants[0].d, 64.0, 1e-12);
	pf_pte_value_format(text, sizeof(text), &m->constants[0]);
	cr_assert_str_eq(text, "64.0");
	m = constant(info, "name");
	cr_assert_eq(m->constants[0].type, PF_PTE_VALUE_STRING);
	cr_assert_str_eq(m->constants[0].s, "x");
	pf_pte_value_format(text, sizeof(text), &m->constants[0]);
	cr_assert_str_eq(text, "\"x\"");
	pf_pte_info_free(info);
	free(f.data);
}

Test(pte_metadata, a_program_without_getters_has_none)
{
	bytes f = load("xnnpack-linear.pte");
	pf_pte_info *info = inspect(f.data, f.len);
	cr_assert_eq(info->n_constant_methods, 0);
	cr_assert(!info->methods[0].is_constant);
	cr_assert_eq(pf_pte_n_runnable_methods(info), info->n_methods);
	pf_pte_info_free(info);
	free(f.data);
}

/* ---- metadata methods: hostile getters built field by field ---- */

/*
 * A program with "forward" (one input, so not a getter) and one getter whose
 * outputs are `n_outputs` indices, all `index`, into `n_values` values; the
 * caller fills the values (*values).
 */
static size_t getter_program(fbb *b, uint32_t n_outputs, int32_t index, uint32_t n_values, size_t *values)
{
	size_t plans, fwd_values, forward, getter, outs, ins, ev, val;
	fbb_program(b, 2, &plans);
	forward = fbb_plan(b, "forward", 1, &fwd_values);
	fbb_vec_ref(b, plans, 0, forward);
	ins = fbb_vec(b, 1, 4);
	fbb_point(b, fbb_field(b, forward, 3), ins);
	fbb_vec_i32(b, ins, 0, 0);
	ev = fbb_evalue(b, 2, 1, &val);
	fbb_vec_ref(b, fwd_values, 0, ev);
	getter = fbb_plan(b, "get_eos_ids", n_values, values);
	fbb_vec_ref(b, plans, 1, getter);
	outs = fbb_vec(b, n_outputs, 4);
	fbb_point(b, fbb_field(b, getter, 4), outs);
	for (uint32_t i = 0; i < n_outputs; i++)
		fbb_vec_i32(b, outs, i, index);
	return getter;
}

Test(pte_metadata, an_output_index_out_of_range_is_fatal_and_skipped)
{
	fbb b;
	size_t values, val;
	pf_pte_info *info;
	getter_program(&b, 1, 7, 1, &values);
	fbb_vec_ref(&b, values, 0, fbb_evalue(&b, 2, 1, &val));
	info = inspect_fbb(&b);
	dump_findings(info);
	cr_assert(!pf_pte_ok(info));
	cr_assert(has_finding(info, PF_PTE_FATAL, "output 0 refers to value 7"));
	cr_assert(info->methods[1].is_constant);
	cr_assert_eq(info->methods[1].n_constants, 0);
	pf_pte_info_free(info);
	fbb_free(&b);
}

Test(pte_metadata, a_wrong_union_member_is_fatal_and_reads_as_other)
{
	fbb b;
	size_t values, ev;
	pf_pte_info *info;
	getter_program(&b, 1, 0, 1, &values);
	/* Tagged Int but without its member table. */
	ev = fbb_table(&b, 2);
	fbb_u8(&b, ev, 0, 2);
	fbb_vec_ref(&b, values, 0, ev);
	info = inspect_fbb(&b);
	dump_findings(info);
	cr_assert(has_finding(info, PF_PTE_FATAL, "has a type but no content"));
	cr_assert_eq(info->methods[1].n_constants, 1);
	cr_assert_eq(info->methods[1].constants[0].type, PF_PTE_VALUE_OTHER);
	pf_pte_info_free(info);
	fbb_free(&b);
}

Test(pte_metadata, an_unknown_union_tag_is_fatal)
{
	fbb b;
	size_t values, val;
	pf_pte_info *info;
	getter_program(&b, 1, 0, 1, &values);
	fbb_vec_ref(&b, values, 0, fbb_evalue(&b, 99, 1, &val));
	info = inspect_fbb(&b);
	cr_assert(has_finding(info, PF_PTE_FATAL, "unknown type tag 99"));
	cr_assert_eq(info->methods[1].constants[0].type, PF_PTE_VALUE_OTHER);
	pf_pte_info_free(info);
	fbb_free(&b);
}

Test(pte_metadata, a_huge_output_list_is_cut_with_a_warning)
{
	const uint32_t n = 100000;
	fbb b;
	size_t values, val, ev;
	pf_pte_info *info;
	getter_program(&b, n, 0, 1, &values);
	ev = fbb_evalue(&b, 2, 1, &val);
	fbb_u64(&b, val, 0, 50256);
	fbb_vec_ref(&b, values, 0, ev);
	info = inspect_fbb(&b);
	dump_findings(info);
	cr_assert(pf_pte_ok(info));
	cr_assert(has_finding(info, PF_PTE_WARN, "returns 100000 values"));
	cr_assert_eq(info->methods[1].n_outputs, n);
	cr_assert_eq(info->methods[1].n_constants, PF_PTE_MAX_METHOD_VALUES);
	cr_assert_eq(info->methods[1].constants[PF_PTE_MAX_METHOD_VALUES - 1].i, 50256);
	cr_assert(info->methods[1].is_list);
	pf_pte_info_free(info);
	fbb_free(&b);
}

Test(pte_metadata, a_program_of_getters_only_warns)
{
	fbb b;
	size_t plans, values, val, getter, outs, ev;
	pf_pte_info *info;
	fbb_program(&b, 1, &plans);
	getter = fbb_plan(&b, "get_max_seq_len", 1, &values);
	fbb_vec_ref(&b, plans, 0, getter);
	outs = fbb_vec(&b, 1, 4);
	fbb_point(&b, fbb_field(&b, getter, 4), outs);
	fbb_vec_i32(&b, outs, 0, 0);
	ev = fbb_evalue(&b, 2, 1, &val);
	fbb_u64(&b, val, 0, 128);
	fbb_vec_ref(&b, values, 0, ev);
	info = inspect_fbb(&b);
	cr_assert(has_finding(info, PF_PTE_WARN, "all 1 methods are metadata methods"));
	cr_assert_eq(pf_pte_n_runnable_methods(info), 0);
	cr_assert_eq(pf_pte_find_constant(info, "get_max_seq_len")->constants[0].i, 128);
	pf_pte_info_free(info);
	fbb_free(&b);
}

/* ---- bundled programs: the real file and mutations of it ---- */

/* The embedded program's range, from a clean read of the fixture. */
static void program_range(const bytes *f, size_t *off, size_t *size)
{
	pf_pte_info *info = inspect(f->data, f->len);
	*off = (size_t)info->bundled_program_offset;
	*size = (size_t)info->bundled_program_size;
	pf_pte_info_free(info);
}

Test(bpte, the_real_bundle_reads_with_its_suite_and_cases)
{
	bytes f = load("linear-bundled.bpte");
	pf_pte_info *info = inspect(f.data, f.len);
	const pf_bpte_case *c;
	dump_findings(info);
	cr_assert(pf_pte_ok(info));
	cr_assert_eq(info->kind, PF_FILE_BPTE);
	cr_assert_str_eq(pf_file_kind_name(info->kind), "bpte");
	cr_assert_str_eq(info->identifier, "BP08");
	cr_assert_eq(info->bundled_version, 2);
	cr_assert(pf_pte_has_program(info));
	cr_assert_eq(info->file_size, f.len);
	cr_assert_eq(info->bundled_program_offset % 32, 0);
	cr_assert(!memcmp(f.data + info->bundled_program_offset + 4, "ET12", 4));
	cr_assert_eq(info->n_methods, 1);
	cr_assert_str_eq(info->methods[0].name, "forward");
	cr_assert_eq(info->n_suites, 1);
	cr_assert_eq(info->n_suites_total, 1);
	cr_assert_str_eq(info->suites[0].method, "forward");
	cr_assert_eq(info->suites[0].n_cases, 2);
	cr_assert_eq(info->suites[0].n_listed_cases, 2);
	c = &info->suites[0].cases[1];
	cr_assert_eq(c->n_inputs, 1);
	cr_assert_eq(c->n_outputs, 1);
	cr_assert_eq(c->values[0].type, PF_BPTE_TENSOR);
	cr_assert_str_eq(pf_pte_scalar_name(c->values[0].scalar_type), "float32");
	cr_assert_eq(c->values[0].n_dims, 2);
	cr_assert_eq(c->values[0].sizes[1], 4);
	cr_assert_eq(c->values[0].data_bytes, 16);
	cr_assert_eq(c->values[1].sizes[1], 3);
	cr_assert_eq(c->values[1].data_bytes, 12);
	cr_assert_gt(pf_pte_runtime_bytes(info), 0);
	pf_pte_info_free(info);
	free(f.data);
}

Test(bpte, reading_the_file_skips_only_segment_data_and_agrees_with_memory)
{
	char path[] = RES "linear-bundled.bpte";
	bytes f = load("linear-bundled.bpte");
	pf_pte_info *a = inspect(f.data, f.len), *b = NULL;
	cr_assert_eq(pf_pte_inspect_file(&b, path), 0);
	cr_assert(pf_pte_ok(b));
	cr_assert_eq(b->kind, PF_FILE_BPTE);
	cr_assert_eq(a->n_findings, b->n_findings);
	cr_assert_eq(a->bundled_program_size, b->bundled_program_size);
	cr_assert_eq(a->n_segments, b->n_segments);
	cr_assert_eq(a->segment_bytes, b->segment_bytes);
	cr_assert_str_eq(a->suites[0].method, b->suites[0].method);
	cr_assert_eq(a->suites[0].cases[0].values[0].data_bytes, b->suites[0].cases[0].values[0].data_bytes);
	pf_pte_info_free(a);
	pf_pte_info_free(b);
	free(f.data);
}

Test(bpte, every_truncation_is_handled_and_the_usual_ones_are_fatal)
{
	bytes f = load("linear-bundled.bpte");
	size_t fatal = 0;
	for (size_t len = 0; len < f.len; len++) {
		uint8_t *cut = malloc(len ? len : 1);
		pf_pte_info *info;
		memcpy(cut, f.data, len);
		info = inspect(cut, len);
		fatal += !pf_pte_ok(info);
		pf_pte_info_free(info);
		free(cut);
	}
	/* Each object of the flatbuffer is referenced; only trailing alignment padding can go unnoticed. */
	cr_assert_geq(fatal, f.len - 32, "%zu of %zu truncations were fatal", fatal, f.len);
	free(f.data);
}

Test(bpte, a_wrong_identifier_is_not_a_bundle)
{
	bytes f = load("linear-bundled.bpte");
	pf_pte_info *info;
	memcpy(f.data + 4, "BP07", 4);
	info = inspect(f.data, f.len);
	cr_assert(!pf_pte_ok(info));
	cr_assert_eq(info->kind, PF_FILE_UNKNOWN);
	cr_assert(has_finding(info, PF_PTE_FATAL, "not an ExecuTorch file"));
	pf_pte_info_free(info);
	free(f.data);
}

Test(bpte, a_suite_for_a_missing_method_is_fatal)
{
	bytes f = load("linear-bundled.bpte");
	size_t off, size, at;
	pf_pte_info *info;
	program_range(&f, &off, &size);
	/* The suite's method_name lies outside the embedded program. */
	at = find_in(&f, off + size, f.len, "forward", 7);
	if (at == SIZE_MAX)
		at = find_in(&f, 0, off, "forward", 7);
	cr_assert_neq(at, SIZE_MAX, "no suite name outside the program");
	f.data[at + 6] = 'x';
	info = inspect(f.data, f.len);
	dump_findings(info);
	cr_assert(!pf_pte_ok(info));
	cr_assert(
	    has_finding(info, PF_PTE_FATAL, "is for method \"forwarx\", which the embedded program does not have"));
	pf_pte_info_free(info);
	free(f.data);
}

Test(bpte, tensor_data_that_disagrees_with_its_shape_is_fatal)
{
	static const uint8_t sizes_1x4[] = {2, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0};
	bytes f = load("linear-bundled.bpte");
	size_t off, size, at;
	pf_pte_info *info;
	program_range(&f, &off, &size);
	at = find_in(&f, off + size, f.len, sizes_1x4, sizeof(sizes_1x4));
	if (at == SIZE_MAX)
		at = find_in(&f, 0, off, sizes_1x4, sizeof(sizes_1x4));
	cr_assert_neq(at, SIZE_MAX, "no input sizes [1, 4] outside the program");
	f.data[at + 8] = 5; /* [1, 5]: 20 bytes wanted, 16 carried */
	info = inspect(f.data, f.len);
	dump_findings(info);
	cr_assert(!pf_pte_ok(info));
	cr_assert(has_finding(info, PF_PTE_FATAL, "float32 tensor of 20 bytes"));
	cr_assert(has_finding(info, PF_PTE_FATAL, "carries 16 bytes"));
	pf_pte_info_free(info);
	free(f.data);
}

Test(bpte, a_truncated_embedded_program_is_fatal)
{
	bytes f = load("linear-bundled.bpte");
	size_t off, size;
	pf_pte_info *info;
	program_range(&f, &off, &size);
	/* The program vector's count: the image now ends before its own program region does. */
	fbb_put32(f.data + off - 4, 1000);
	info = inspect(f.data, f.len);
	dump_findings(info);
	cr_assert(!pf_pte_ok(info));
	cr_assert(has_finding(info, PF_PTE_FATAL, "embedded program: the program ends at byte"));
	cr_assert(has_finding(info, PF_PTE_FATAL, "the file is truncated"));
	pf_pte_info_free(info);
	free(f.data);
}

Test(bpte, an_embedded_file_that_is_not_a_program_is_fatal)
{
	bytes f = load("linear-bundled.bpte");
	size_t off, size;
	pf_pte_info *info;
	program_range(&f, &off, &size);
	memcpy(f.data + off + 4, "FT01", 4);
	info = inspect(f.data, f.len);
	cr_assert(!pf_pte_ok(info));
	cr_assert(has_finding(info, PF_PTE_FATAL, "embedded program: it is not an ExecuTorch program"));
	pf_pte_info_free(info);
	free(f.data);
}

/* ---- bundled programs built field by field ---- */

/*
 * A bundle of the real linear-metadata.pte with one suite for `method` and
 * one case of n_inputs inputs, which the caller builds (bvalue) into the
 * returned vector. Objects go parent first: root, suites, suite, cases, case,
 * inputs, then the caller's value; the program is appended by finish_bundle.
 */
static size_t bundle_start(fbb *b, const char *method, uint32_t n_inputs, size_t *root)
{
	size_t suites, suite, cases, tc, inputs;
	fbb_init(b, "BP08", 0);
	*root = fbb_table(b, 3);
	fbb_root(b, *root);
	fbb_u32(b, *root, 0, 2);
	suites = fbb_vec(b, 1, 4);
	fbb_point(b, fbb_field(b, *root, 1), suites);
	suite = fbb_table(b, 2);
	fbb_vec_ref(b, suites, 0, suite);
	fbb_set_str(b, suite, 0, method);
	cases = fbb_vec(b, 1, 4);
	fbb_point(b, fbb_field(b, suite, 1), cases);
	tc = fbb_table(b, 2);
	fbb_vec_ref(b, cases, 0, tc);
	inputs = fbb_vec(b, n_inputs, 4);
	fbb_point(b, fbb_field(b, tc, 0), inputs);
	fbb_set_empty(b, tc, 1, 4);
	return inputs;
}

static void bundle_finish(fbb *b, size_t root)
{
	bytes pte = load("linear-metadata.pte");
	size_t v = fbb_vec_skew(b, (uint32_t)pte.len, 1, false);
	fbb_point(b, fbb_field(b, root, 2), v);
	memcpy(b->d + v + 4, pte.data, pte.len);
	free(pte.data);
}

/* Value {val_type, val}: a member table of n_slots. */
static size_t bvalue(fbb *b, size_t inputs, uint32_t i, uint8_t tag, unsigned n_slots, size_t *member)
{
	size_t v = fbb_table(b, 2);
	fbb_vec_ref(b, inputs, i, v);
	fbb_u8(b, v, 0, tag);
	*member = fbb_table(b, n_slots);
	fbb_point(b, fbb_field(b, v, 1), *member);
	return v;
}

Test(bpte, built_bundle_with_an_int_input_reads)
{
	fbb b;
	size_t root, member, inputs = bundle_start(&b, "forward", 1, &root);
	pf_pte_info *info;
	bvalue(&b, inputs, 0, PF_BPTE_INT, 1, &member);
	fbb_u64(&b, member, 0, (uint64_t)-3);
	bundle_finish(&b, root);
	info = inspect_fbb(&b);
	dump_findings(info);
	cr_assert(pf_pte_ok(info));
	cr_assert_eq(info->n_methods, 6, "the embedded program's methods, getters included");
	cr_assert_eq(info->n_constant_methods, 5);
	cr_assert_eq(info->suites[0].cases[0].values[0].type, PF_BPTE_INT);
	cr_assert_eq(info->suites[0].cases[0].values[0].i, -3);
	pf_pte_info_free(info);
	fbb_free(&b);
}

Test(bpte, an_unknown_value_type_is_fatal)
{
	fbb b;
	size_t root, member, inputs = bundle_start(&b, "forward", 1, &root);
	pf_pte_info *info;
	bvalue(&b, inputs, 0, 9, 1, &member);
	bundle_finish(&b, root);
	info = inspect_fbb(&b);
	cr_assert(has_finding(info, PF_PTE_FATAL, "input 0 has the unknown value type 9"));
	pf_pte_info_free(info);
	fbb_free(&b);
}

Test(bpte, a_negative_size_and_an_unknown_dtype_are_fatal)
{
	static const uint8_t codes[] = {6, 9};
	for (size_t k = 0; k < 2; k++) {
		fbb b;
		size_t root, tensor, v, inputs = bundle_start(&b, "forward", 1, &root);
		pf_pte_info *info;
		bvalue(&b, inputs, 0, PF_BPTE_TENSOR, 4, &tensor);
		fbb_u8(&b, tensor, 0, codes[k]);
		v = fbb_vec(&b, 2, 4);
		fbb_point(&b, fbb_field(&b, tensor, 1), v);
		fbb_vec_i32(&b, v, 0, 1);
		fbb_vec_i32(&b, v, 1, -4);
		v = fbb_vec(&b, 16, 1);
		fbb_point(&b, fbb_field(&b, tensor, 2), v);
		bundle_finish(&b, root);
		info = inspect_fbb(&b);
		dump_findings(info);
		cr_assert(has_finding(info, PF_PTE_FATAL, k == 0 ? "negative size -4" : "unknown scalar type 9"));
		pf_pte_info_free(info);
		fbb_free(&b);
	}
}

Test(bpte, a_case_whose_input_count_differs_from_the_method_is_fatal)
{
	fbb b;
	size_t root, member, inputs = bundle_start(&b, "forward", 2, &root);
	pf_pte_info *info;
	bvalue(&b, inputs, 0, PF_BPTE_INT, 1, &member);
	bvalue(&b, inputs, 1, PF_BPTE_BOOL, 1, &member);
	bundle_finish(&b, root);
	info = inspect_fbb(&b);
	dump_findings(info);
	cr_assert(has_finding(info, PF_PTE_FATAL, "has 2 inputs but method \"forward\" takes 1"));
	pf_pte_info_free(info);
	fbb_free(&b);
}
