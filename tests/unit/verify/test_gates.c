/*
 * Unit tests of the artifact gates (src/verify/gates.c) on real ExecuTorch
 * files (tests/resources/verify/) and on generated empty and truncated ones:
 * each gate passes on a good file and fails, with its message, on a bad one.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../pte/fbb.h"
#include "helpers.h"
#include "pipeline/pipeline.h"
#include "util/error.h"
#include "verify/check.h"
#include "verify/verify.h"

static char s_forward[] = "forward", s_encode[] = "encode", s_xnn[] = "XnnpackBackend";
static char *names1[] = {s_forward};
static char *names_encode[] = {s_forward, s_encode};
static char *xnn[] = {s_xnn};

static pf_artifact art(const char *path, pf_artifact_kind kind)
{
	pf_artifact a;
	memset(&a, 0, sizeof(a));
	a.path = (char *)path;
	a.kind = kind;
	return a;
}

/* Run the gates over `n` artifacts in `dir`; the caller disposes *res. */
static void run(pf_artifact_result **res, size_t *n_res, pf_artifact *arts, size_t n, const char *dir)
{
	pf_plan plan;
	memset(&plan, 0, sizeof(plan));
	plan.artifacts = arts;
	plan.n_artifacts = n;
	cr_assert_eq(pf_verify_artifacts(res, n_res, &plan, dir), 0, "%s", pf_error_last());
	cr_assert_eq(*n_res, n);
}

static void dispose(pf_artifact_result *res, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pf_artifact_result_dispose(&res[i]);
	free(res);
}

static const pf_gate_result *gate(const pf_artifact_result *a, const char *name)
{
	for (size_t i = 0; i < a->n_gates; i++)
		if (!strcmp(a->gates[i].name, name))
			return &a->gates[i];
	return NULL;
}

Test(verify_gates, real_pte_passes_every_gate)
{
	char *dir = tv_tmpdir();
	pf_artifact a = art("model.pte", PF_ARTIFACT_PTE);
	pf_artifact_result *res;
	size_t n;
	tv_copy(dir, "add-eh00-segments.pte", "model.pte", 0);
	a.methods = names1;
	a.n_methods = 1;
	a.max_size = 1500000000ull;
	a.min_size = 100;
	run(&res, &n, &a, 1, dir);
	cr_assert(res[0].passed, "first failure: %s", res[0].n_gates ? res[0].gates[0].message : "");
	cr_assert(res[0].exists);
	cr_assert_eq(res[0].size_bytes, 1156);
	cr_assert_eq(strlen(res[0].sha256), 64);
	cr_assert_not_null(res[0].structure);
	cr_assert_eq(res[0].min_free_ram_bytes, pf_pte_min_free_ram(1156));
	cr_assert_str_eq(gate(&res[0], "max_size")->expected, "<= 1.5 GB (1500000000 bytes)");
	cr_assert_eq(gate(&res[0], "max_size")->limit_bytes, 1500000000ull);
	cr_assert_str_eq(gate(&res[0], "methods")->values[0], "forward");
	cr_assert(gate(&res[0], "structure")->passed);
	dispose(res, n);
	tv_rmtree(dir);
}

Test(verify_gates, empty_file_says_the_step_wrote_nothing)
{
	char *dir = tv_tmpdir();
	pf_artifact a = art("model.pte", PF_ARTIFACT_PTE);
	pf_artifact_result *res;
	size_t n;
	tv_write(dir, "model.pte", "", 0);
	run(&res, &n, &a, 1, dir);
	cr_assert_not(res[0].passed);
	cr_assert_not(gate(&res[0], "non_empty")->passed);
	cr_assert_str_eq(gate(&res[0], "non_empty")->message,
			 "\"model.pte\" is empty: the export step exited 0 but wrote nothing");
	cr_assert_null(gate(&res[0], "structure"), "no structure gate on an empty file: the empty gate says it");
	dispose(res, n);
	tv_rmtree(dir);
}

Test(verify_gates, missing_file_fails_exists)
{
	char *dir = tv_tmpdir();
	pf_artifact a = art("model.pte", PF_ARTIFACT_PTE);
	pf_artifact_result *res;
	size_t n;
	run(&res, &n, &a, 1, dir);
	cr_assert_not(res[0].passed);
	cr_assert_not(res[0].exists);
	cr_assert_not(gate(&res[0], "exists")->passed);
	cr_assert(strstr(gate(&res[0], "exists")->message, "\"model.pte\" does not exist"));
	dispose(res, n);
	tv_rmtree(dir);
}

Test(verify_gates, truncated_pte_fails_structure)
{
	char *dir = tv_tmpdir();
	pf_artifact a = art("model.pte", PF_ARTIFACT_PTE);
	pf_artifact_result *res;
	size_t n;
	tv_copy(dir, "add-eh00-segments.pte", "model.pte", 600);
	run(&res, &n, &a, 1, dir);
	cr_assert_not(res[0].passed);
	cr_assert(gate(&res[0], "non_empty")->passed);
	cr_assert_not(gate(&res[0], "structure")->passed);
	cr_assert(strstr(gate(&res[0], "structure")->message, "\"model.pte\" is not a valid .pte: "),
		  "%s", gate(&res[0], "structure")->message);
	dispose(res, n);
	tv_rmtree(dir);
}

Test(verify_gates, size_limits_each_way_with_units_as_given)
{
	char *dir = tv_tmpdir();
	pf_artifact a[4] = {art("a.pte", PF_ARTIFACT_PTE), art("b.pte", PF_ARTIFACT_PTE), art("c.pte", PF_ARTIFACT_PTE),
			    art("d.pte", PF_ARTIFACT_PTE)};
	pf_artifact_result *res;
	size_t n;
	for (int i = 0; i < 4; i++)
		tv_copy(dir, "add-eh00-segments.pte", a[i].path, 0); /* 1156 bytes */
	a[0].max_size = 1000;   /* 1 kB: fails */
	a[1].max_size = 2048;   /* 2 KiB: passes */
	a[2].min_size = 1024;   /* 1 KiB: passes */
	a[3].min_size = 1500;   /* 1.5 kB: fails */
	run(&res, &n, a, 4, dir);
	cr_assert_not(res[0].passed);
	cr_assert_str_eq(gate(&res[0], "max_size")->expected, "<= 1 kB (1000 bytes)");
	cr_assert_str_eq(gate(&res[0], "max_size")->actual, "1.16 kB (1156 bytes)");
	cr_assert(strstr(gate(&res[0], "max_size")->message, "over its max_size 1 kB"));
	cr_assert(res[1].passed);
	cr_assert_str_eq(gate(&res[1], "max_size")->expected, "<= 2 KiB (2048 bytes)");
	cr_assert_str_eq(gate(&res[1], "max_size")->actual, "1.13 KiB (1156 bytes)");
	cr_assert(res[2].passed);
	cr_assert_not(res[3].passed);
	cr_assert(strstr(gate(&res[3], "min_size")->message, "below its min_size 1.5 kB"));
	dispose(res, n);
	tv_rmtree(dir);
}

Test(verify_gates, limit_formats)
{
	struct {
		uint64_t bytes;
		const char *text;
	} cases[] = {
		{1500000000ull, "1.5 GB (1500000000 bytes)"},
		{6ull << 30, "6 GiB (6442450944 bytes)"},
		{512ull << 20, "512 MiB (536870912 bytes)"},
		{1234567, "1.234567 MB"},
		{999, "999 bytes"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = pf_verify_format_limit(cases[i].bytes, NULL);
		if (i == 3)
			cr_assert(strstr(s, "1234567 bytes"), "%s", s);
		else
			cr_assert_str_eq(s, cases[i].text);
		free(s);
	}
}

Test(verify_gates, methods_present_and_missing)
{
	char *dir = tv_tmpdir();
	pf_artifact a[2] = {art("a.pte", PF_ARTIFACT_PTE), art("b.pte", PF_ARTIFACT_PTE)};
	pf_artifact_result *res;
	size_t n;
	tv_copy(dir, "add-no-extended-header.pte", "a.pte", 0);
	tv_copy(dir, "add-no-extended-header.pte", "b.pte", 0);
	a[0].methods = names1;
	a[0].n_methods = 1;
	a[1].methods = names_encode;
	a[1].n_methods = 2;
	run(&res, &n, a, 2, dir);
	cr_assert(res[0].passed);
	cr_assert_not(res[1].passed);
	cr_assert(strstr(gate(&res[1], "methods")->message, "\"b.pte\" has no method \"encode\" (it has: forward)"),
		  "%s", gate(&res[1], "methods")->message);
	dispose(res, n);
	tv_rmtree(dir);
}

Test(verify_gates, backends_fail_when_nothing_was_delegated)
{
	char *dir = tv_tmpdir();
	pf_artifact a[2] = {art("xnn.pte", PF_ARTIFACT_PTE), art("plain.pte", PF_ARTIFACT_PTE)};
	pf_artifact_result *res;
	size_t n;
	tv_copy(dir, "xnnpack-linear.pte", "xnn.pte", 0);
	tv_copy(dir, "add-eh00-segments.pte", "plain.pte", 0);
	for (int i = 0; i < 2; i++) {
		a[i].backends = xnn;
		a[i].n_backends = 1;
	}
	run(&res, &n, a, 2, dir);
	cr_assert(res[0].passed, "%s", gate(&res[0], "backends") ? gate(&res[0], "backends")->actual : "no gate");
	cr_assert_str_eq(gate(&res[0], "backends")->actual, "XnnpackBackend");
	cr_assert_not(res[1].passed);
	cr_assert_str_eq(gate(&res[1], "backends")->message,
			 "\"plain.pte\": no method delegates to XnnpackBackend: the export was not lowered");
	dispose(res, n);
	tv_rmtree(dir);
}

Test(verify_gates, kind_mismatch_fails_structure)
{
	char *dir = tv_tmpdir();
	pf_artifact a[2] = {art("model.pte", PF_ARTIFACT_PTE), art("data.ptd", PF_ARTIFACT_PTD)};
	pf_artifact_result *res;
	size_t n;
	tv_copy(dir, "separated-linear.ptd", "model.pte", 0);
	tv_copy(dir, "add-eh00-segments.pte", "data.ptd", 0);
	run(&res, &n, a, 2, dir);
	cr_assert_not(res[0].passed);
	cr_assert(strstr(gate(&res[0], "structure")->message, "is a ptd file, but the pipeline declares kind pte"),
		  "%s", gate(&res[0], "structure")->message);
	cr_assert_not(res[1].passed);
	cr_assert(strstr(gate(&res[1], "structure")->message, "declares kind ptd"), "%s",
		  gate(&res[1], "structure")->message);
	dispose(res, n);
	tv_rmtree(dir);
}

Test(verify_gates, file_kind_gets_no_structure_check)
{
	char *dir = tv_tmpdir();
	pf_artifact a = art("notes.txt", PF_ARTIFACT_FILE);
	pf_artifact_result *res;
	size_t n;
	tv_write(dir, "notes.txt", "hello", 5);
	run(&res, &n, &a, 1, dir);
	cr_assert(res[0].passed);
	cr_assert_null(res[0].structure);
	cr_assert_eq(res[0].min_free_ram_bytes, 0);
	dispose(res, n);
	tv_rmtree(dir);
}

Test(verify_gates, external_data_resolves_in_the_listed_ptd)
{
	char *dir = tv_tmpdir();
	char s_w[] = "weights.ptd";
	char *data[] = {s_w};
	pf_artifact a[2] = {art("model.pte", PF_ARTIFACT_PTE), art("weights.ptd", PF_ARTIFACT_PTD)};
	pf_artifact_result *res;
	size_t n;
	tv_copy(dir, "separated-linear.pte", "model.pte", 0);
	tv_copy(dir, "separated-linear.ptd", "weights.ptd", 0);
	a[0].data = data;
	a[0].n_data = 1;
	run(&res, &n, a, 2, dir);
	cr_assert_not_null(res[0].structure);
	cr_assert_gt(res[0].structure->n_external, 0, "the fixture has external keys");
	cr_assert(res[0].passed, "%s", gate(&res[0], "external_data") ? gate(&res[0], "external_data")->message : "");
	cr_assert(gate(&res[0], "external_data")->passed);
	cr_assert_str_eq(gate(&res[0], "external_data")->values[0], "weights.ptd");
	cr_assert(res[1].passed);
	dispose(res, n);
	tv_rmtree(dir);
}

Test(verify_gates, external_data_any_ptd_when_none_listed)
{
	char *dir = tv_tmpdir();
	pf_artifact a[2] = {art("model.pte", PF_ARTIFACT_PTE), art("weights.ptd", PF_ARTIFACT_PTD)};
	pf_artifact_result *res;
	size_t n;
	tv_copy(dir, "separated-linear.pte", "model.pte", 0);
	tv_copy(dir, "separated-linear.ptd", "weights.ptd", 0);
	run(&res, &n, a, 2, dir);
	cr_assert(res[0].passed);
	cr_assert_not_null(gate(&res[0], "external_data"));
	dispose(res, n);
	tv_rmtree(dir);
}

Test(verify_gates, external_data_missing_names_the_keys)
{
	char *dir = tv_tmpdir();
	char s_o[] = "other.ptd";
	char *data[] = {s_o};
	pf_artifact a[2] = {art("model.pte", PF_ARTIFACT_PTE), art("other.ptd", PF_ARTIFACT_PTD)};
	pf_artifact_result *res;
	size_t n;
	const pf_gate_result *g;
	tv_copy(dir, "separated-linear.pte", "model.pte", 0);
	run(&res, &n, a, 1, dir); /* the .ptd is not part of the plan at all */
	g = gate(&res[0], "external_data");
	cr_assert_not_null(g);
	cr_assert_not(res[0].passed);
	cr_assert(strstr(g->message, "no .ptd provides them"), "%s", g->message);
	dispose(res, n);
	a[0].data = data;
	a[0].n_data = 1;
	run(&res, &n, a, 2, dir); /* other.ptd declared but absent from the folder */
	g = gate(&res[0], "external_data");
	cr_assert_not(g->passed);
	cr_assert_not(res[1].exists);
	cr_assert(strstr(g->message, res[0].structure->external_keys[0]), "the message names the keys: %s", g->message);
	dispose(res, n);
	tv_rmtree(dir);
}

Test(verify_gates, missing_output_folder_is_an_environment_error)
{
	pf_artifact a = art("model.pte", PF_ARTIFACT_PTE);
	pf_plan plan;
	pf_artifact_result *res = NULL;
	size_t n = 9;
	memset(&plan, 0, sizeof(plan));
	plan.artifacts = &a;
	plan.n_artifacts = 1;
	cr_assert_eq(pf_verify_artifacts(&res, &n, &plan, "/nonexistent-pteflow-folder"), PF_EENV);
	cr_assert_null(res);
	cr_assert_eq(n, 0);
}

/*
 * model.pte with n EXTERNAL float tensors "w00000".. of shape [1], and
 * weights.ptd with the same keys whose layouts are [1] float, except key
 * `odd` (when < n) which gets `odd_type` and `odd_size`.
 */
static void write_pair(const char *dir, uint32_t n, uint32_t odd, uint8_t odd_type, int32_t odd_size)
{
	static const int32_t one[] = {1};
	fbb p, d;
	size_t plans, plan, values, named;
	char key[16];
	fbb_program(&p, 1, &plans);
	plan = fbb_plan(&p, "forward", n, &values);
	fbb_vec_ref(&p, plans, 0, plan);
	fbb_ptd(&d, n, 64, &named);
	for (uint32_t i = 0; i < n; i++) {
		int len = snprintf(key, sizeof(key), "w%05u", (unsigned)i);
		int32_t size = i == odd ? odd_size : 1;
		fbb_vec_ref(&p, values, i, fbb_external_value(&p, key, (size_t)len, one, 1));
		fbb_ptd_key(&d, named, i, key, (size_t)len, i == odd ? odd_type : 6, &size, 1, NULL);
	}
	fbb_ptd_finish(&d, 64);
	tv_write(dir, "model.pte", p.d, p.len);
	tv_write(dir, "weights.ptd", d.d, d.len);
	fbb_free(&p);
	fbb_free(&d);
}

static void run_pair(pf_artifact_result **res, size_t *n, const char *dir)
{
	static char s_w[] = "weights.ptd";
	static char *data[] = {s_w};
	static pf_artifact a[2];
	a[0] = art("model.pte", PF_ARTIFACT_PTE);
	a[1] = art("weights.ptd", PF_ARTIFACT_PTD);
	a[0].data = data;
	a[0].n_data = 1;
	run(res, n, a, 2, dir);
}

Test(verify_gates, fifty_thousand_external_keys_resolve)
{
	/* Each key looked up among all the .ptd keys (the old way): 1.25e9 comparisons; sorted, quick. */
	char *dir = tv_tmpdir();
	pf_artifact_result *res;
	size_t n;
	write_pair(dir, 50000, UINT32_MAX, 0, 0);
	run_pair(&res, &n, dir);
	cr_assert(res[1].passed, "%s", res[1].n_gates ? res[1].gates[res[1].n_gates - 1].message : "");
	cr_assert_eq(res[0].structure->n_external, 50000);
	cr_assert(res[0].passed, "%s", gate(&res[0], "external_data")->message);
	cr_assert_str_eq(gate(&res[0], "external_data")->actual, "50000 of 50000 resolved");
	dispose(res, n);
	tv_rmtree(dir);
}

Test(verify_gates, external_data_checks_dtype_and_shape)
{
	char *dir = tv_tmpdir();
	pf_artifact_result *res;
	size_t n;
	const pf_gate_result *g;
	write_pair(dir, 3, 1, 6, 2); /* w00001 is [2] in the .ptd, [1] in the program */
	run_pair(&res, &n, dir);
	cr_assert(res[1].passed);
	g = gate(&res[0], "external_data");
	cr_assert_not(res[0].passed);
	cr_assert_not(g->passed);
	cr_assert_str_eq(g->actual, "3 of 3 resolved, 1 with another dtype or shape");
	cr_assert(strstr(g->message, "\"model.pte\" and weights.ptd disagree on 1 external tensor: external tensor "
				     "\"w00001\" is scalar type 6 [1] in the program but scalar type 6 [2] in the .ptd"),
		  "%s", g->message);
	dispose(res, n);
	write_pair(dir, 3, 2, 7, 1); /* w00002 is a double in the .ptd */
	run_pair(&res, &n, dir);
	g = gate(&res[0], "external_data");
	cr_assert_not(g->passed);
	cr_assert(strstr(g->message, "\"w00002\" is scalar type 6 [1] in the program but scalar type 7 [1]"), "%s",
		  g->message);
	dispose(res, n);
	tv_rmtree(dir);
}
