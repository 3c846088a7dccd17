/*
 * Unit tests of the .pte/.ptd reader on programs built field by field with
 * fbb.h, for what mutating real files cannot reach: names repeated or shared
 * many times over (work and memory must stay bounded and de-duplication must
 * compare whole bytes), fields the runtime requires but a file omits, index
 * lists, inline delegate blobs, misaligned vectors, the legacy .ptd layout,
 * the layout cross-check and oversized programs.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pte_test.h"

/* A program of one plan "forward" with n_values values (filled by the caller). */
static size_t one_plan(fbb *b, uint32_t n_values, size_t *values, size_t *chain)
{
	size_t plans, plan;
	size_t program = fbb_program(b, 1, &plans);
	plan = fbb_plan_chain(b, "forward", n_values, values, chain);
	fbb_vec_ref(b, plans, 0, plan);
	(void)program;
	return plan;
}

/* Program.backend_delegate_data = [ {data: [0x2a]} ] (data absent when !with_data). */
static void inline_blob(fbb *b, size_t program, bool with_data)
{
	size_t v = fbb_vec(b, 1, 4), t = fbb_table(b, 1), data;
	fbb_point(b, fbb_field(b, program, 3), v);
	fbb_vec_ref(b, v, 0, t);
	if (with_data) {
		data = fbb_vec(b, 1, 1);
		b->d[data + 4] = 0x2a;
		fbb_point(b, fbb_field(b, t, 0), data);
	}
}

/* A BackendDelegate with this id whose blob is inline blob 0. */
static size_t delegate(fbb *b, const char *id, size_t id_len)
{
	size_t t = fbb_table(b, 3), ref;
	fbb_point(b, fbb_field(b, t, 0), fbb_str_n(b, id, id_len));
	ref = fbb_table(b, 2);
	fbb_point(b, fbb_field(b, t, 1), ref);
	fbb_u32(b, ref, 1, 0);
	fbb_set_empty(b, t, 2, 4);
	return t;
}

/* The root table of a program built by fbb_program (its position is stored at byte 0). */
static size_t program_of(const fbb *b)
{
	return fbb_get32(b->d);
}

/* ---- names: cost, memory, exact comparison ---- */

Test(pte_names, fifty_thousand_delegate_ids_are_sorted_once)
{
	/*
	 * 50,000 distinct ids in descending order: checking each against the list
	 * (the old way) costs 1.25e9 comparisons per list; sorting once is quick
	 * and leaves the lists in byte order.
	 */
	const uint32_t n = 50000;
	fbb b;
	size_t values, plan = one_plan(&b, 0, &values, NULL), ds;
	pf_pte_info *info;
	char id[32];
	ds = fbb_vec(&b, n, 4);
	fbb_point(&b, fbb_field(&b, plan, 7), ds);
	for (uint32_t i = 0; i < n; i++) {
		int len = snprintf(id, sizeof(id), "Backend%05u", (unsigned)(n - 1 - i));
		fbb_vec_ref(&b, ds, i, delegate(&b, id, (size_t)len));
	}
	inline_blob(&b, program_of(&b), true);
	info = inspect_fbb(&b);
	dump_findings(info);
	cr_assert(pf_pte_ok(info));
	cr_assert_eq(info->n_backends, n);
	cr_assert_eq(info->methods[0].n_delegates, n);
	cr_assert_str_eq(info->backends[0], "Backend00000");
	for (size_t i = 1; i < n; i++) {
		cr_assert_lt(strcmp(info->backends[i - 1], info->backends[i]), 0, "backends not sorted at %zu", i);
		cr_assert_str_eq(info->backends[i], info->methods[0].delegates[i]);
	}
	pf_pte_info_free(info);
	fbb_free(&b);
}

Test(pte_names, shared_plan_tables_stay_under_the_name_budget)
{
	/*
	 * 2,000 execution_plan entries share one plan with 100 distinct 200-byte
	 * ids: a 40 kB file whose per-method copies would take 42 MB.
	 */
	const uint32_t n_plans = 2000, n_ids = 100;
	fbb b;
	size_t plans, values, plan, ds;
	size_t program = fbb_program(&b, n_plans, &plans);
	uint64_t stored = 0;
	pf_pte_info *info;
	char id[201];
	plan = fbb_plan(&b, "forward", 0, &values);
	for (uint32_t i = 0; i < n_plans; i++)
		fbb_vec_ref(&b, plans, i, plan);
	ds = fbb_vec(&b, n_ids, 4);
	fbb_point(&b, fbb_field(&b, plan, 7), ds);
	memset(id, 'x', sizeof(id));
	for (uint32_t i = 0; i < n_ids; i++) {
		snprintf(id, sizeof(id), "%03u", (unsigned)i);
		id[3] = 'x';
		fbb_vec_ref(&b, ds, i, delegate(&b, id, 200));
	}
	inline_blob(&b, program, true);
	cr_assert_lt(b.len, 64 * 1024);
	info = inspect_fbb(&b);
	cr_assert(pf_pte_ok(info), "%s", pf_pte_first_fatal(info));
	cr_assert_eq(info->n_methods, n_plans);
	cr_assert_eq(info->n_backends, n_ids, "the distinct backends are all listed");
	for (size_t m = 0; m < info->n_methods; m++) {
		stored += strlen(info->methods[m].name) + 1 + sizeof(char *);
		for (size_t d = 0; d < info->methods[m].n_delegates; d++)
			stored += strlen(info->methods[m].delegates[d]) + 1 + sizeof(char *);
	}
	cr_assert_leq(stored, PF_PTE_MAX_NAME_BYTES, "%llu bytes of names stored", (unsigned long long)stored);
	cr_assert(has_finding(info, PF_PTE_WARN, "listings are cut"));
	pf_pte_info_free(info);
	fbb_free(&b);
}

Test(pte_names, repeated_external_key_does_not_push_others_out)
{
	/* 100,001 values share one EXTERNAL tensor "a.repeat"; the last is "z.real". */
	const uint32_t n = 100002;
	static const int32_t one[] = {1};
	fbb b;
	size_t values, ev;
	pf_pte_info *info;
	one_plan(&b, n, &values, NULL);
	ev = fbb_external_value(&b, "a.repeat", 8, one, 1);
	for (uint32_t i = 0; i + 1 < n; i++)
		fbb_vec_ref(&b, values, i, ev);
	fbb_vec_ref(&b, values, n - 1, fbb_external_value(&b, "z.real", 6, one, 1));
	info = inspect_fbb(&b);
	dump_findings(info);
	cr_assert(pf_pte_ok(info));
	cr_assert_eq(info->n_external, 2);
	cr_assert_str_eq(info->external_keys[0], "a.repeat");
	cr_assert_str_eq(info->external_keys[1], "z.real");
	cr_assert_eq(info->n_layouts, 2);
	pf_pte_info_free(info);
	fbb_free(&b);
}

Test(pte_names, repeated_ptd_key_does_not_push_others_out)
{
	/* 100,001 named_data entries share one "a.repeat" table; the last is "z.real". */
	const uint32_t n = 100002;
	static const int32_t one[] = {1};
	fbb d;
	size_t named, nd;
	pf_pte_info *ptd;
	fbb_ptd(&d, n, 4, &named);
	nd = fbb_ptd_key(&d, named, 0, "a.repeat", 8, 6, one, 1, NULL);
	for (uint32_t i = 1; i + 1 < n; i++)
		fbb_vec_ref(&d, named, i, nd);
	fbb_ptd_key(&d, named, n - 1, "z.real", 6, 6, one, 1, NULL);
	fbb_ptd_finish(&d, 4);
	ptd = inspect_fbb(&d);
	cr_assert(pf_pte_ok(ptd), "%s", pf_pte_first_fatal(ptd));
	cr_assert_eq(ptd->n_data_keys, 2);
	cr_assert_str_eq(ptd->data_keys[1], "z.real");
	cr_assert_eq(ptd->n_layouts, 2);
	cr_assert(has_finding(ptd, PF_PTE_WARN, "key \"a.repeat\" appears more than once"));
	pf_pte_info_free(ptd);
	fbb_free(&d);
}

/* An EXTERNAL key of 600 'p' bytes then `last`. */
static void long_key(char *out, char last)
{
	memset(out, 'p', 600);
	out[600] = last;
}

Test(pte_names, long_external_keys_are_compared_whole)
{
	/* Two keys equal in their first 600 bytes: two keys, not one cut copy. */
	static const int32_t one[] = {1};
	char k1[601], k2[601];
	fbb b;
	size_t values;
	pf_pte_info *info;
	long_key(k1, '1');
	long_key(k2, '2');
	one_plan(&b, 2, &values, NULL);
	fbb_vec_ref(&b, values, 0, fbb_external_value(&b, k1, sizeof(k1), one, 1));
	fbb_vec_ref(&b, values, 1, fbb_external_value(&b, k2, sizeof(k2), one, 1));
	info = inspect_fbb(&b);
	cr_assert_eq(info->n_external, 2);
	cr_assert_eq(strlen(info->external_keys[0]), 601);
	cr_assert_eq(info->external_keys[0][600], '1');
	pf_pte_info_free(info);
	fbb_free(&b);
}

Test(pte_names, control_bytes_do_not_make_keys_equal)
{
	/* "a\nb" in the program, "a\rb" in the .ptd: once both printed as "a?b", now different. */
	static const int32_t one[] = {1};
	fbb p, d;
	size_t values, named;
	pf_pte_info *pte, *ptd;
	one_plan(&p, 1, &values, NULL);
	fbb_vec_ref(&p, values, 0, fbb_external_value(&p, "a\nb", 3, one, 1));
	fbb_ptd(&d, 1, 4, &named);
	fbb_ptd_key(&d, named, 0, "a\rb", 3, 6, one, 1, NULL);
	fbb_ptd_finish(&d, 4);
	pte = inspect_fbb(&p);
	ptd = inspect_fbb(&d);
	dump_findings(ptd);
	cr_assert(pf_pte_ok(ptd));
	cr_assert_str_eq(pte->external_keys[0], "a\\x0ab", "stored escaped: %s", pte->external_keys[0]);
	cr_assert_str_eq(ptd->data_keys[0], "a\\x0db");
	cr_assert_eq(pf_pte_check_external(pte, ptd), 1);
	cr_assert(has_finding(pte, PF_PTE_FATAL, "is not among"));
	pf_pte_info_free(pte);
	pf_pte_info_free(ptd);
	fbb_free(&p);
	fbb_free(&d);
}

Test(pte_names, long_ptd_keys_are_not_false_duplicates)
{
	char k1[601], k2[601];
	fbb d;
	size_t named;
	pf_pte_info *ptd;
	long_key(k1, '1');
	long_key(k2, '2');
	fbb_ptd(&d, 2, 4, &named);
	fbb_ptd_key(&d, named, 0, k1, sizeof(k1), 0, NULL, 0, NULL);
	fbb_ptd_key(&d, named, 1, k2, sizeof(k2), 0, NULL, 0, NULL);
	fbb_ptd_finish(&d, 4);
	ptd = inspect_fbb(&d);
	dump_findings(ptd);
	cr_assert(pf_pte_ok(ptd));
	cr_assert_eq(ptd->n_data_keys, 2);
	cr_assert_not(has_finding(ptd, PF_PTE_WARN, "more than once"));
	pf_pte_info_free(ptd);
	fbb_free(&d);
}

/* ---- fields the runtime requires ---- */

Test(pte_required, builder_plan_is_clean)
{
	fbb b;
	size_t values, val;
	pf_pte_info *info;
	one_plan(&b, 1, &values, NULL);
	fbb_vec_ref(&b, values, 0, fbb_evalue(&b, 1, 0, &val));
	info = inspect_fbb(&b);
	dump_findings(info);
	cr_assert(pf_pte_ok(info));
	cr_assert_eq(info->n_findings, 0);
	pf_pte_info_free(info);
	fbb_free(&b);
}

/*
 * Program.constant_segment absent, or with no offsets (not even the
 * placeholder): ExecuTorch 1.5 runtimes then take the deprecated inline
 * constant_buffer path, which their builds leave out, and refuse the program
 * at load whether or not it has constants: a warning (a runtime built with
 * the deprecated path loads it).
 */
static void check_no_constant_offsets(bool with_table)
{
	fbb b;
	size_t values, val, cs;
	pf_pte_info *info;
	one_plan(&b, 1, &values, NULL);
	fbb_vec_ref(&b, values, 0, fbb_evalue(&b, 1, 0, &val));
	if (with_table) {
		cs = fbb_table(&b, 2);
		fbb_point(&b, fbb_field(&b, program_of(&b), 5), cs);
		fbb_set_empty(&b, cs, 1, 8);
	} else {
		fbb_unset(&b, program_of(&b), 5);
	}
	info = inspect_fbb(&b);
	dump_findings(info);
	cr_assert(pf_pte_ok(info), "%s", pf_pte_first_fatal(info));
	cr_assert(has_finding(info, PF_PTE_WARN, "deprecated inline constant_buffer"));
	pf_pte_info_free(info);
	fbb_free(&b);
}

Test(pte_required, program_without_constant_segment_warns)
{
	check_no_constant_offsets(false);
}

Test(pte_required, constant_segment_without_offsets_warns)
{
	check_no_constant_offsets(true);
}

/* One plan with one Null value, changed by `edit`, must give a FATAL finding containing `needle`. */
static void expect_fatal(void (*edit)(fbb *b, size_t plan, size_t chain), const char *needle)
{
	fbb b;
	size_t values, val, chain, plan = one_plan(&b, 1, &values, &chain);
	pf_pte_info *info;
	fbb_vec_ref(&b, values, 0, fbb_evalue(&b, 1, 0, &val));
	edit(&b, plan, chain);
	info = inspect_fbb(&b);
	cr_assert_not(pf_pte_ok(info), "no fatal finding for \"%s\"", needle);
	cr_assert(has_finding(info, PF_PTE_FATAL, needle), "no \"%s\" in: %s", needle, pf_pte_first_fatal(info));
	pf_pte_info_free(info);
	fbb_free(&b);
}

static void no_chains(fbb *b, size_t plan, size_t chain)
{
	(void)chain;
	fbb_unset(b, plan, 5);
}

static void empty_chains(fbb *b, size_t plan, size_t chain)
{
	(void)chain;
	fbb_point(b, fbb_field(b, plan, 5), fbb_vec(b, 0, 4));
}

static void no_instructions(fbb *b, size_t plan, size_t chain)
{
	(void)plan;
	fbb_unset(b, chain, 2);
}

static void no_delegates(fbb *b, size_t plan, size_t chain)
{
	(void)chain;
	fbb_unset(b, plan, 7);
}

/* One instruction of kind `tag` (KernelCall 1, DelegateCall 2) with index 0 and no args; one operator. */
static void call_without_args(fbb *b, size_t plan, size_t chain, uint8_t tag)
{
	size_t ins = fbb_vec(b, 1, 4), t = fbb_table(b, 2), args, ops, op;
	fbb_point(b, fbb_field(b, chain, 2), ins);
	fbb_vec_ref(b, ins, 0, t);
	fbb_u8(b, t, 0, tag);
	args = fbb_table(b, 2);
	fbb_point(b, fbb_field(b, t, 1), args);
	fbb_u32(b, args, 0, 0);
	ops = fbb_vec(b, 1, 4);
	fbb_point(b, fbb_field(b, plan, 6), ops);
	op = fbb_table(b, 2);
	fbb_vec_ref(b, ops, 0, op);
	fbb_set_str(b, op, 0, "aten::add");
}

static void kernel_call_without_args(fbb *b, size_t plan, size_t chain)
{
	call_without_args(b, plan, chain, 1);
}

static void delegate_call_without_args(fbb *b, size_t plan, size_t chain)
{
	call_without_args(b, plan, chain, 2);
}

Test(pte_required, chains_absent_or_empty)
{
	expect_fatal(no_chains, "has no chains");
	expect_fatal(empty_chains, "has no chains");
}

Test(pte_required, chain_without_instructions)
{
	expect_fatal(no_instructions, "chain 0 has no instruction list");
}

Test(pte_required, plan_without_delegates)
{
	expect_fatal(no_delegates, "has no delegates list");
}

Test(pte_required, calls_without_arguments)
{
	expect_fatal(kernel_call_without_args, "(a kernel call) has no argument list");
	expect_fatal(delegate_call_without_args, "(a delegate call) has no argument list");
}

Test(pte_required, lists_and_strings_without_items)
{
	/* String (6) without string_val, and every list kind (7..11) without items. */
	for (uint8_t tag = 6; tag <= 11; tag++) {
		fbb b;
		size_t values, val;
		pf_pte_info *info;
		one_plan(&b, 1, &values, NULL);
		fbb_vec_ref(&b, values, 0, fbb_evalue(&b, tag, 1, &val));
		info = inspect_fbb(&b);
		cr_assert(has_finding(info, PF_PTE_FATAL, tag == 6 ? "has no string" : "has no items"), "tag %u: %s",
		          (unsigned)tag, pf_pte_first_fatal(info));
		pf_pte_info_free(info);
		fbb_free(&b);
	}
}

/* ---- index lists ---- */

static pf_pte_info *int_list(int64_t item)
{
	fbb b;
	size_t values, val, items;
	pf_pte_info *info;
	one_plan(&b, 2, &values, NULL);
	fbb_vec_ref(&b, values, 0, fbb_evalue(&b, 2, 1, &val)); /* Int 0 */
	fbb_vec_ref(&b, values, 1, fbb_evalue(&b, 7, 1, &val)); /* IntList [item] */
	items = fbb_vec(&b, 1, 8);
	fbb_vec_i64(&b, items, 0, item);
	fbb_point(&b, fbb_field(&b, val, 0), items);
	info = inspect_fbb(&b);
	fbb_free(&b);
	return info;
}

Test(pte_indices, int_list_items_are_value_indices)
{
	pf_pte_info *info = int_list(0);
	dump_findings(info);
	cr_assert(pf_pte_ok(info));
	pf_pte_info_free(info);
	info = int_list(5);
	cr_assert(has_finding(info, PF_PTE_FATAL, "an int list item 0 refers to value 5, but the method has 2 values"), "%s",
	          pf_pte_first_fatal(info));
	pf_pte_info_free(info);
	info = int_list(-1);
	cr_assert(has_finding(info, PF_PTE_FATAL, "refers to value -1"), "%s", pf_pte_first_fatal(info));
	pf_pte_info_free(info);
	info = int_list(INT64_C(0x100000000));
	cr_assert(has_finding(info, PF_PTE_FATAL, "refers to value 4294967296"), "%s", pf_pte_first_fatal(info));
	pf_pte_info_free(info);
}

/* ---- inline delegate blobs ---- */

static pf_pte_info *inline_delegate(bool with_data)
{
	fbb b;
	size_t values, plan = one_plan(&b, 0, &values, NULL), ds;
	pf_pte_info *info;
	ds = fbb_vec(&b, 1, 4);
	fbb_point(&b, fbb_field(&b, plan, 7), ds);
	fbb_vec_ref(&b, ds, 0, delegate(&b, "XnnpackBackend", 14));
	inline_blob(&b, program_of(&b), with_data);
	info = inspect_fbb(&b);
	fbb_free(&b);
	return info;
}

Test(pte_delegates, inline_blob_must_have_data)
{
	pf_pte_info *info = inline_delegate(true);
	dump_findings(info);
	cr_assert(pf_pte_ok(info));
	cr_assert_eq(info->n_delegate_blobs, 1);
	pf_pte_info_free(info);
	info = inline_delegate(false);
	cr_assert(has_finding(info, PF_PTE_FATAL, "uses inline blob 0, which has no data"), "%s", pf_pte_first_fatal(info));
	pf_pte_info_free(info);
}

/* ---- alignment ---- */

Test(pte_alignment, misaligned_u64_vector_is_a_warning)
{
	/* constant_segment.offsets = [0] with its u64 at a 4-mod-8 address. */
	fbb b;
	size_t values, val, cs, offs;
	pf_pte_info *info;
	one_plan(&b, 1, &values, NULL);
	fbb_vec_ref(&b, values, 0, fbb_evalue(&b, 1, 0, &val));
	cs = fbb_table(&b, 2);
	fbb_point(&b, fbb_field(&b, program_of(&b), 5), cs);
	fbb_u32(&b, cs, 0, 0);
	offs = fbb_vec_skew(&b, 1, 8, true);
	cr_assert_eq((offs + 4) % 8, 4);
	fbb_point(&b, fbb_field(&b, cs, 1), offs);
	info = inspect_fbb(&b);
	dump_findings(info);
	cr_assert(pf_pte_ok(info), "%s", pf_pte_first_fatal(info));
	cr_assert(has_finding(info, PF_PTE_WARN, "not 8-byte aligned (the first: constant_segment.offsets"));
	pf_pte_info_free(info);
	fbb_free(&b);
}

/* ---- .ptd layouts ---- */

/* A current-layout .ptd whose root has a fourth (future) field, a plain u32: not the legacy layout. */
Test(pte_ptd_layout, new_fields_are_not_the_legacy_layout)
{
	static const int32_t sizes[] = {4, 8};
	fbb d;
	size_t root, segs, seg, named;
	pf_pte_info *ptd;
	fbb_init(&d, "FT01", 40);
	memcpy(d.d + 8, "FH01", 4);
	fbb_put32(d.d + 12, 40);
	fbb_put64(d.d + 16, 48);
	root = fbb_table(&d, 4);
	fbb_root(&d, root);
	fbb_u32(&d, root, 3, 7);
	segs = fbb_vec(&d, 1, 4);
	fbb_point(&d, fbb_field(&d, root, 1), segs);
	named = fbb_vec(&d, 1, 4);
	fbb_point(&d, fbb_field(&d, root, 2), named);
	seg = fbb_table(&d, 2);
	fbb_vec_ref(&d, segs, 0, seg);
	fbb_u64(&d, seg, 1, 128);
	fbb_ptd_key(&d, named, 0, "linear.weight", 13, 6, sizes, 2, NULL);
	fbb_ptd_finish(&d, 128);
	ptd = inspect_fbb(&d);
	dump_findings(ptd);
	cr_assert(pf_pte_ok(ptd));
	cr_assert_not(ptd->ptd_legacy_layout);
	cr_assert_eq(ptd->n_data_keys, 1);
	cr_assert_str_eq(ptd->data_keys[0], "linear.weight");
	pf_pte_info_free(ptd);
	fbb_free(&d);
}

/* A v0.6.0 .ptd (pte-format.md 5.3): version, tensor_alignment 16, tensors, segments, named_data. */
static void legacy_ptd(fbb *d)
{
	size_t root, tensors, t, v, segs, seg;
	fbb_init(d, "FT01", 40);
	memcpy(d->d + 8, "FH01", 4);
	fbb_put32(d->d + 12, 40);
	fbb_put64(d->d + 16, 48);
	root = fbb_table(d, 5);
	fbb_root(d, root);
	fbb_u32(d, root, 1, 16);
	tensors = fbb_vec(d, 1, 4);
	fbb_point(d, fbb_field(d, root, 2), tensors);
	segs = fbb_vec(d, 1, 4);
	fbb_point(d, fbb_field(d, root, 3), segs);
	fbb_set_empty(d, root, 4, 4);
	t = fbb_table(d, 6);
	fbb_vec_ref(d, tensors, 0, t);
	fbb_set_str(d, t, 0, "linear.weight");
	fbb_u8(d, t, 1, 6);
	v = fbb_vec(d, 2, 4);
	fbb_point(d, fbb_field(d, t, 2), v);
	fbb_vec_i32(d, v, 0, 4);
	fbb_vec_i32(d, v, 1, 8);
	v = fbb_vec(d, 2, 1);
	fbb_point(d, fbb_field(d, t, 3), v);
	d->d[v + 5] = 1;
	fbb_u32(d, t, 4, 0);
	fbb_u64(d, t, 5, 0);
	seg = fbb_table(d, 2);
	fbb_vec_ref(d, segs, 0, seg);
	fbb_u64(d, seg, 1, 128);
	fbb_ptd_finish(d, 128);
}

Test(pte_ptd_layout, legacy_keys_come_from_its_tensors)
{
	static const int32_t right[] = {4, 8}, wrong[] = {4, 7};
	fbb d, p;
	size_t values;
	pf_pte_info *ptd, *pte;
	legacy_ptd(&d);
	ptd = inspect_fbb(&d);
	dump_findings(ptd);
	cr_assert(pf_pte_ok(ptd));
	cr_assert(ptd->ptd_legacy_layout);
	cr_assert(has_finding(ptd, PF_PTE_WARN, "legacy v0.6.0"));
	cr_assert_eq(ptd->n_data_keys, 1);
	cr_assert_str_eq(ptd->data_keys[0], "linear.weight");
	cr_assert_eq(ptd->n_layouts, 1);
	one_plan(&p, 1, &values, NULL);
	fbb_vec_ref(&p, values, 0, fbb_external_value(&p, "linear.weight", 13, right, 2));
	pte = inspect_fbb(&p);
	cr_assert_eq(pf_pte_check_external(pte, ptd), 0);
	pf_pte_info_free(pte);
	fbb_free(&p);
	one_plan(&p, 1, &values, NULL);
	fbb_vec_ref(&p, values, 0, fbb_external_value(&p, "linear.weight", 13, wrong, 2));
	pte = inspect_fbb(&p);
	cr_assert_eq(pf_pte_check_external(pte, ptd), 1);
	pf_pte_info_free(pte);
	fbb_free(&p);
	pf_pte_info_free(ptd);
	fbb_free(&d);
}

Test(pte_ptd_layout, dim_order_is_compared_when_both_carry_it)
{
	static const int32_t sizes[] = {4, 8};
	static const uint8_t swapped[] = {1, 0};
	fbb p, d;
	size_t values, named;
	pf_pte_info *pte, *ptd;
	char *first = NULL;
	const pf_pte_info *set[1];
	one_plan(&p, 1, &values, NULL);
	fbb_vec_ref(&p, values, 0, fbb_external_value(&p, "linear.weight", 13, sizes, 2));
	fbb_ptd(&d, 1, 128, &named);
	fbb_ptd_key(&d, named, 0, "linear.weight", 13, 6, sizes, 2, swapped);
	fbb_ptd_finish(&d, 128);
	pte = inspect_fbb(&p);
	ptd = inspect_fbb(&d);
	cr_assert(pf_pte_ok(ptd));
	set[0] = ptd;
	cr_assert_eq(pf_pte_layout_mismatches(pte, set, 1, &first), 1);
	cr_assert_not_null(first);
	cr_assert(strstr(first, "is scalar type 6 [4, 8] dim order [0, 1] in the program but scalar type 6 [4, 8] "
	                        "dim order [1, 0] in the .ptd"),
	          "%s", first);
	free(first);
	pf_pte_info_free(pte);
	pf_pte_info_free(ptd);
	fbb_free(&p);
	fbb_free(&d);
}

/* ---- program size ---- */

/* A file of `size` bytes (sparse) whose eh00 header claims a program of program_size bytes. */
static pf_pte_info *claimed_program(uint64_t program_size, uint64_t size)
{
	char path[1024];
	const char *dir = getenv("TMPDIR");
	uint8_t head[64];
	pf_pte_info *info = NULL;
	int fd;
	memset(head, 0, sizeof(head));
	fbb_put32(head, 48);
	memcpy(head + 4, "ET12", 4);
	memcpy(head + 8, "eh00", 4);
	fbb_put32(head + 12, 32);
	fbb_put64(head + 16, program_size);
	snprintf(path, sizeof(path), "%s/pf-pte-hostile-XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, head, sizeof(head)), (ssize_t)sizeof(head));
	cr_assert_eq(ftruncate(fd, (off_t)size), 0);
	close(fd);
	cr_assert_eq(pf_pte_inspect_file(&info, path), 0);
	unlink(path);
	return info;
}

Test(pte_size, large_program_is_reported_not_read)
{
	/* 600 MiB: within FlatBuffers' 2 GiB, over what the reader holds in memory. */
	pf_pte_info *info = claimed_program(600ull << 20, (600ull << 20) + 64);
	dump_findings(info);
	cr_assert(pf_pte_ok(info), "%s", pf_pte_first_fatal(info));
	cr_assert(has_finding(info, PF_PTE_WARN, "too large to check structurally"));
	cr_assert_eq(info->n_methods, 0);
	pf_pte_info_free(info);
	info = claimed_program((2ull << 30) + 64, (2ull << 30) + 128);
	cr_assert(has_finding(info, PF_PTE_FATAL, "over FlatBuffers' 2 GiB limit"), "%s", pf_pte_first_fatal(info));
	pf_pte_info_free(info);
}
