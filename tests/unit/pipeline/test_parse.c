/*
 * Unit tests of the pipeline parser: every invalid fixture in
 * tests/resources/pipelines/invalid/ states on its first line the position
 * and message it must produce ("# expect: LINE:COL text"); every valid
 * fixture must load; plus cases built in memory (size bound, UTF-16,
 * billion laughs timing, deep nesting) and the parsed values themselves.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/pipeline.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

#define FIXTURES PF_SOURCE_DIR "/tests/resources/pipelines"

/* Present under LeakSanitizer: a leak on an error path fails the test (Criterion ignores the child's exit code). */
int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

static void assert_no_leak(void)
{
	if (__lsan_do_recoverable_leak_check)
		cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked (see the LeakSanitizer report)");
}

static char *fixture(const char *kind, const char *name)
{
	return pf_xasprintf("%s/%s/%s", FIXTURES, kind, name);
}

static size_t list_yaml(const char *kind, char ***out)
{
	char *dir = pf_xasprintf("%s/%s", FIXTURES, kind);
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;
	cr_assert_not_null(d, "cannot open %s", dir);
	*out = NULL;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len < 6 || strcmp(e->d_name + len - 5, ".yaml"))
			continue;
		*out = pf_xreallocarray(*out, n + 1, sizeof(char *));
		(*out)[n++] = pf_xstrdup(e->d_name);
	}
	closedir(d);
	free(dir);
	return n;
}

Test(pipeline_parse, every_valid_fixture_loads)
{
	char **names;
	size_t n = list_yaml("valid", &names);
	cr_assert_geq(n, 4);
	for (size_t i = 0; i < n; i++) {
		char *path = fixture("valid", names[i]);
		pf_plan *plan = NULL;
		pf_diag diag;
		int rc = pf_pipeline_load(&plan, path, &diag);
		cr_assert_eq(rc, 0, "%s: %s", names[i], pf_error_last());
		cr_assert_null(diag.message);
		cr_assert_geq(plan->n_steps, 1);
		pf_plan_free(plan);
		free(path);
		free(names[i]);
	}
	free(names);
	assert_no_leak();
}

/* Each invalid fixture: the expected LINE:COL and message, in the error and in the diag. */
Test(pipeline_parse, every_invalid_fixture_fails_at_its_position)
{
	char **names;
	size_t n = list_yaml("invalid", &names);
	cr_assert_geq(n, 40);
	for (size_t i = 0; i < n; i++) {
		char *path = fixture("invalid", names[i]);
		pf_buf b;
		pf_plan *plan = (pf_plan *)1;
		pf_diag diag;
		int line = 0, col = 0;
		const char *text, *p;
		char *prefix;
		pf_buf_init(&b, 1 << 20);
		cr_assert_eq(pf_fs_read_file(&b, path, 1 << 20), 0);
		text = pf_buf_cstr(&b);
		cr_assert(!strncmp(text, "# expect: ", 10), "%s: no expect line", names[i]);
		p = text + 10;
		while (*p >= '0' && *p <= '9')
			line = line * 10 + (*p++ - '0');
		cr_assert_eq(*p++, ':', "%s: bad expect line", names[i]);
		while (*p >= '0' && *p <= '9')
			col = col * 10 + (*p++ - '0');
		cr_assert_eq(*p++, ' ', "%s: bad expect line", names[i]);
		char *want = pf_xstrndup(p, strcspn(p, "\n"));

		cr_assert_eq(pf_pipeline_load(&plan, path, &diag), PF_EINVALID, "%s was accepted", names[i]);
		cr_assert_null(plan);
		prefix = pf_xasprintf("%s:%d:%d: ", path, line, col);
		cr_assert(!strncmp(pf_error_last(), prefix, strlen(prefix)), "%s: error \"%s\" does not start \"%s\"",
		          names[i], pf_error_last(), prefix);
		cr_assert(strstr(pf_error_last(), want), "%s: error \"%s\" lacks \"%s\"", names[i], pf_error_last(),
		          want);
		cr_assert_str_eq(diag.file, path);
		cr_assert_eq(diag.pos.line, line, "%s: diag line %d", names[i], diag.pos.line);
		cr_assert_eq(diag.pos.col, col, "%s: diag col %d", names[i], diag.pos.col);
		cr_assert(strstr(diag.message, want), "%s: diag \"%s\"", names[i], diag.message);
		cr_assert(!strstr(diag.message, path), "%s: the diag message repeats the file", names[i]);
		pf_diag_dispose(&diag);
		free(want);
		free(prefix);
		pf_buf_dispose(&b);
		free(path);
		free(names[i]);
	}
	free(names);
	assert_no_leak();
}

static int parse_str(pf_plan **plan, const char *yaml, pf_diag *diag)
{
	return pf_pipeline_parse(plan, "mem.yaml", yaml, strlen(yaml), diag);
}

static void expect_error(const char *yaml, int line, int col, const char *needle)
{
	pf_plan *plan = NULL;
	pf_diag diag;
	cr_assert_eq(parse_str(&plan, yaml, &diag), PF_EINVALID, "accepted: %s", yaml);
	cr_assert_eq(diag.pos.line, line, "line %d for %s (%s)", diag.pos.line, yaml, diag.message);
	if (col > 0) /* 0: a column far along a generated line, not worth computing */
		cr_assert_eq(diag.pos.col, col, "col %d for %s (%s)", diag.pos.col, yaml, diag.message);
	cr_assert(strstr(diag.message, needle), "\"%s\" lacks \"%s\"", diag.message, needle);
	pf_diag_dispose(&diag);
}

Test(pipeline_parse, values_of_the_full_fixture)
{
	char *path = fixture("valid", "full.yaml");
	pf_plan *p = NULL;
	cr_assert_eq(pf_pipeline_load(&p, path, NULL), 0, "%s", pf_error_last());
	cr_assert_str_eq(p->name, "tiny-llama-int8");
	cr_assert_eq(p->version, 1);
	cr_assert_not_null(p->description);
	cr_assert_str_eq(p->model->hf, "org/name");
	cr_assert_str_eq(p->model->revision, "main");
	cr_assert_str_eq(p->model->repo_type, "model");
	cr_assert_eq(p->model->n_include, 2);
	cr_assert_str_eq(p->model->include[1], "*.safetensors");
	cr_assert_eq(p->model->n_exclude, 0);
	cr_assert_eq(p->n_vars, 4);
	cr_assert_str_eq(p->vars[0].key, "seq_len");
	cr_assert_str_eq(p->vars[0].value, "512");
	cr_assert_str_eq(p->vars[2].value, "true");
	cr_assert_eq(p->limits.memory_bytes, 6ULL << 30);
	cr_assert_eq(p->limits.timeout_ms, 30 * 60000);
	cr_assert_eq(p->limits.expect_bytes, 5905580032ULL);
	cr_assert_eq(p->n_steps, 2);
	cr_assert_str_eq(p->steps[0].name, "export");
	cr_assert_str_eq(p->steps[0].argv[0], "${python}");
	cr_assert_eq(p->steps[0].shell, false);
	cr_assert_eq(p->steps[0].n_env, 3);
	cr_assert_str_eq(p->steps[0].env[0].key, "HF_TOKEN");
	cr_assert_str_eq(p->steps[0].env[0].value, "${env.HF_TOKEN}");
	cr_assert_str_eq(p->steps[0].env[1].value, "0");
	cr_assert_str_eq(p->steps[0].cwd, "${workdir}");
	cr_assert_eq(p->steps[0].limits.memory_bytes, 4ULL << 30);
	cr_assert_eq(p->steps[0].limits.timeout_ms, 600000);
	cr_assert_eq(p->steps[0].pos.line, 14);
	cr_assert_eq(p->steps[0].pos.col, 5);
	/* step 2 sets only a timeout: memory and expect come from the defaults */
	cr_assert_eq(p->steps[1].limits.memory_bytes, 6ULL << 30);
	cr_assert_eq(p->steps[1].limits.expect_bytes, 5905580032ULL);
	cr_assert_eq(p->steps[1].limits.timeout_ms, 5400000);
	cr_assert_null(p->steps[1].cwd);
	cr_assert_eq(p->n_artifacts, 3);
	cr_assert_eq(p->artifacts[0].kind, PF_ARTIFACT_PTE);
	cr_assert_eq(p->artifacts[0].max_size, 1500000000ULL);
	cr_assert_eq(p->artifacts[0].min_size, 1000);
	cr_assert_str_eq(p->artifacts[0].methods[0], "forward");
	cr_assert_str_eq(p->artifacts[0].backends[0], "XnnpackBackend");
	cr_assert_str_eq(p->artifacts[0].data[0], "weights.ptd");
	cr_assert_eq(p->artifacts[1].kind, PF_ARTIFACT_PTD); /* from the extension */
	cr_assert_eq(p->artifacts[2].kind, PF_ARTIFACT_FILE);
	cr_assert_eq(p->n_targets, 2);
	cr_assert_str_eq(p->targets[0].runner, "ubuntu-latest");
	cr_assert_null(p->targets[1].runner);
	cr_assert_str_eq(p->manifest, "manifest.json");
	cr_assert_null(p->target);
	pf_plan_free(p);
	free(path);
}

Test(pipeline_parse, defaults)
{
	pf_plan *p = NULL;
	cr_assert_eq(parse_str(&p, "version: 1\nname: a\nmodel: {hf: gpt2}\nsteps: [{name: s, run: [x]}]\n", NULL), 0,
	             "%s", pf_error_last());
	cr_assert_str_eq(p->manifest, "manifest.json");
	cr_assert_str_eq(p->model->revision, "main");
	cr_assert_str_eq(p->model->repo_type, "model");
	cr_assert_eq(p->steps[0].limits.memory_bytes, 0);
	cr_assert_eq(p->n_artifacts, 0);
	cr_assert_eq(p->n_targets, 0);
	cr_assert_null(p->description);
	pf_plan_free(p);
}

Test(pipeline_parse, refuses_files_over_the_bound)
{
	size_t n = (1 << 20) + 1;
	char *big = pf_xmalloc(n + 1);
	pf_plan *p = NULL;
	pf_diag diag;
	memset(big, '#', n);
	big[n] = '\0';
	cr_assert_eq(pf_pipeline_parse(&p, "big.yaml", big, n, &diag), PF_EINVALID);
	cr_assert(strstr(diag.message, "larger than 1024 KiB"), "%s", diag.message);
	cr_assert_eq(diag.pos.line, 1);
	pf_diag_dispose(&diag);
	free(big);
}

Test(pipeline_parse, load_reports_missing_and_large_files)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *dir = pf_xasprintf("%s/pf-pipeline-XXXXXX", tmp);
	char *path;
	pf_plan *p = NULL;
	pf_diag diag;
	char *big;
	cr_assert_not_null(mkdtemp(dir));
	path = pf_xasprintf("%s/absent.yaml", dir);
	cr_assert_eq(pf_pipeline_load(&p, path, &diag), PF_ENOTFOUND);
	cr_assert(strstr(pf_error_last(), "does not exist"));
	pf_diag_dispose(&diag);
	cr_assert_eq(pf_pipeline_load(&p, dir, &diag), PF_EENV, "a folder: %s", pf_error_last());
	pf_diag_dispose(&diag);
	big = pf_xcalloc(1, (1 << 20) + 10);
	memset(big, ' ', (1 << 20) + 9);
	cr_assert_eq(pf_fs_write_atomic(path, big, (1 << 20) + 9), 0);
	cr_assert_eq(pf_pipeline_load(&p, path, &diag), PF_EINVALID);
	cr_assert(strstr(diag.message, "larger than"));
	pf_diag_dispose(&diag);
	pf_fs_remove_tree(dir);
	free(big);
	free(path);
	free(dir);
}

Test(pipeline_parse, utf16_is_named)
{
	static const char utf16[] = "\xff\xfev\0e\0r\0";
	pf_plan *p = NULL;
	pf_diag diag;
	cr_assert_eq(pf_pipeline_parse(&p, "u.yaml", utf16, sizeof(utf16) - 1, &diag), PF_EINVALID);
	cr_assert(strstr(diag.message, "UTF-16"), "%s", diag.message);
	pf_diag_dispose(&diag);
}

Test(pipeline_parse, billion_laughs_fails_fast)
{
	/* without the refusal this expands to 10^9 nodes */
	pf_buf b;
	struct timespec t0, t1;
	pf_buf_init(&b, 1 << 20);
	pf_buf_puts(&b, "version: 1\nname: p\nsteps: [{name: s, run: [x]}]\nvars:\n  a: [\"lol\", \"lol\"]\n");
	pf_buf_puts(&b, "x: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
	for (int i = 0; i < 9; i++)
		pf_buf_printf(&b, "x%d: &a%d [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n", i, i);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	expect_error(pf_buf_cstr(&b), 6, 4, "anchor \"&a\" is not supported");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_lt((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, 2000);
	/* a bare alias (no anchor before it) is refused too, and not as a YAML syntax error */
	expect_error("version: 1\nname: *x\n", 2, 7, "alias \"*x\" is not supported");
	pf_buf_dispose(&b);
}

Test(pipeline_parse, deep_nesting_is_bounded)
{
	pf_buf b;
	pf_buf_init(&b, 1 << 20);
	pf_buf_puts(&b, "version: 1\nx: ");
	for (int i = 0; i < 100000; i++)
		pf_buf_puts(&b, "[");
	expect_error(pf_buf_cstr(&b), 2, 35, "nesting deeper than 32 levels");
	pf_buf_dispose(&b);
}

Test(pipeline_parse, huge_collections_are_bounded)
{
	pf_buf b;
	pf_buf_init(&b, 1 << 20);
	pf_buf_puts(&b, "version: 1\nname: p\nsteps: [{name: s, run: [x]}]\nvars: {");
	for (int i = 0; i < 20000; i++)
		pf_buf_printf(&b, "v%d: 1, ", i);
	pf_buf_puts(&b, "}\n");
	expect_error(pf_buf_cstr(&b), 4, 0, "more than 10000 entries");
	pf_buf_dispose(&b);
}

Test(pipeline_parse, many_vars_duplicate_found_by_position)
{
	pf_buf b;
	pf_buf_init(&b, 1 << 20);
	pf_buf_puts(&b, "version: 1\nname: p\nsteps: [{name: s, run: [x]}]\nvars:\n");
	for (int i = 0; i < 5000; i++)
		pf_buf_printf(&b, "  v%d: %d\n", i, i);
	pf_buf_puts(&b, "  v17: again\n  v3: again\n");
	expect_error(pf_buf_cstr(&b), 5005, 3, "duplicate key \"v17\": it is already used at line 22, column 3");
	pf_buf_dispose(&b);
}

Test(pipeline_parse, suggestions_and_types)
{
	expect_error("version: 1\nname: p\nsteps: [{name: s, run: [x], limts: {}}]\n", 3, 29,
	             "did you mean \"limits\"");
	expect_error("version: 1\nname: p\nsteps: [{name: s, run: [x], limits: {memroy: 1GB}}]\n", 3, 38,
	             "did you mean \"memory\"");
	expect_error("version: 1\nname: p\nsteps: [{name: s, run: [x]}]\nartifacts: [{path: a.pte, max_szie: 1GB}]\n",
	             4, 27, "did you mean \"max_size\"");
	expect_error("version: 1\nname: p\nsteps: [{name: s, run: [x]}]\nvars: [a]\n", 4, 7, "must be a mapping");
	expect_error("version: 1\nname: p\nsteps: [{name: s, run: [x], env: {A: [1]}}]\n", 3, 38,
	             "must be text, a number or a boolean");
	expect_error("version: 1\nname: p\nsteps: [{name: s, run: [x, ~]}]\n", 3, 28, "got nothing (null)");
	expect_error("version: 1\nname: p\nsteps: [{name: s, run: [\"\"]}]\n", 3, 25, "must not be empty");
	expect_error("version: 1\nname: yes\nsteps: [{name: s, run: [x]}]\n", 2, 7, "got a boolean");
	expect_error("version: 1\nname: p\nlimits: {memory: [1]}\nsteps: [{name: s, run: [x]}]\n", 3, 18,
	             "must be a size");
	expect_error("version: 1\nname: p\nlimits: {memory: 0}\nsteps: [{name: s, run: [x]}]\n", 3, 18,
	             "greater than 0");
	expect_error("version: 1.0\nname: p\n", 1, 10, "must be the integer 1, got a number");
	expect_error("version: 1\nname: p\nsteps: [{name: s, run: [x]}]\nartifacts: [{path: \"a/./b\"}]\n", 4, 20,
	             "not a plain relative path");
	expect_error("version: 1\nname: p\nsteps: [{name: s, run: [x]}]\nartifacts: [{path: \"a//b\"}]\n", 4, 20,
	             "not a plain relative path");
	expect_error("version: 1\nname: p\nsteps: [{name: s, run: [x]}]\nartifacts: [{path: \"m-${target}.pte\"}]\n", 4,
	             20, "not a plain relative path");
	expect_error("version: 1\nname: p\nsteps: [{name: s, run: [x]}]\nmanifest: ../m.json\n", 4, 11,
	             "contains \"..\"");
	expect_error("version: 1\nname: p\nsteps: [{name: s, run: [x]}]\nartifacts: [{path: \"..\"}]\n", 4, 20,
	             "contains \"..\"");
	expect_error("version: 1\nname: p\nsteps: [{name: s, run: [x], cwd: \"${nope}\"}]\n", 3, 34,
	             "unknown variable \"${nope}\"");
	expect_error("version: 1\nname: p\nsteps: [{name: s, run: [x], env: {A: \"${model.commit}\"}}]\n", 3, 38,
	             "needs a model source");
	expect_error("version: 1\nname: p\nsteps: [{name: s, run: [x]}]\n{a: 1}: 2\n", 4, 1,
	             "mapping key must be plain text");
	expect_error("version: 1\nname: \"a\\0b\"\n", 2, 7, "NUL character");
	expect_error("version: 1\nname: p\nsteps: [{name: s, run: [x]}]\ntargets: []\n", 4, 10, "must not be empty");
	assert_no_leak();
}

Test(pipeline_parse, tabs_inside_values_are_fine)
{
	pf_plan *p = NULL;
	cr_assert_eq(parse_str(&p, "version: 1\nname: p\t# comment\nsteps:\n  - name: s\n    run: [\"a\tb\"]\n", NULL),
	             0, "%s", pf_error_last());
	cr_assert_str_eq(p->steps[0].argv[0], "a\tb");
	pf_plan_free(p);
}

Test(pipeline_parse, diag_may_be_null_and_error_is_positioned)
{
	pf_plan *p = NULL;
	cr_assert_eq(parse_str(&p, "version: 1\nnmae: p\n", NULL), PF_EINVALID);
	cr_assert(!strncmp(pf_error_last(), "mem.yaml:2:1: unknown key \"nmae\"", 32), "%s", pf_error_last());
}

Test(pipeline_parse, independent_problems_are_all_reported)
{
	static const char yaml[] = "version: 1\n"
	                           "name: \"bad name\"\n"
	                           "limits: { memory: 6XB }\n"
	                           "steps:\n"
	                           "  - name: a\n"
	                           "    run: [x]\n"
	                           "    colour: red\n"
	                           "  - name: b\n"
	                           "  - name: a\n"
	                           "    run: [y]\n"
	                           "artifacts:\n"
	                           "  - path: /abs.pte\n"
	                           "manifest: ../m.json\n"
	                           "colour: blue\n";
	static const struct {
		int line, col;
		const char *text;
	} want[] = {
	    {14, 1, "unknown key \"colour\" in the pipeline"},
	    {2, 7, "invalid pipeline name \"bad name\""},
	    {3, 19, "invalid size \"6XB\""},
	    {7, 5, "unknown key \"colour\" in step"},
	    {8, 5, "step \"b\" is missing required key \"run\""},
	    {9, 11, "duplicate step name \"a\": it is already used at line 5, column 11"},
	    {12, 11, "is absolute"},
	    {13, 11, "contains \"..\""},
	};
	pf_plan *p = NULL;
	pf_diag *d = NULL, single;
	size_t n = 0;
	cr_assert_eq(pf_pipeline_parse_all(&p, "m.yaml", yaml, strlen(yaml), &d, &n), PF_EINVALID);
	cr_assert_null(p);
	cr_assert_eq(n, sizeof(want) / sizeof(want[0]), "%zu problems", n);
	for (size_t i = 0; i < n; i++) {
		cr_assert_str_eq(d[i].file, "m.yaml");
		cr_assert_eq(d[i].pos.line, want[i].line, "problem %zu: line %d (%s)", i, d[i].pos.line, d[i].message);
		cr_assert_eq(d[i].pos.col, want[i].col, "problem %zu: col %d (%s)", i, d[i].pos.col, d[i].message);
		cr_assert(strstr(d[i].message, want[i].text), "problem %zu: %s", i, d[i].message);
	}
	/* the last error and the single-diag API give the first problem, as before */
	cr_assert(!strncmp(pf_error_last(), "m.yaml:14:1: unknown key", 24), "%s", pf_error_last());
	pf_diags_free(d, n);
	cr_assert_eq(pf_pipeline_parse(&p, "m.yaml", yaml, strlen(yaml), &single), PF_EINVALID);
	cr_assert_eq(single.pos.line, 14);
	pf_diag_dispose(&single);
	assert_no_leak();
}

Test(pipeline_parse, misspelled_required_key_is_reported_once)
{
	pf_plan *p = NULL;
	pf_diag *d = NULL;
	size_t n = 0;
	static const char yaml[] = "version: 1\nnmae: p\nstesp: [{nmae: s, rnu: [x]}]\n";
	static const char ok[] = "version: 1\nname: p\nsteps: [{name: s, run: [x]}]\n";
	cr_assert_eq(pf_pipeline_parse_all(&p, "m.yaml", yaml, strlen(yaml), &d, &n), PF_EINVALID);
	cr_assert_eq(n, 2, "%zu problems: %s", n, n ? d[n - 1].message : "");
	cr_assert(strstr(d[0].message, "did you mean \"name\""));
	cr_assert(strstr(d[1].message, "did you mean \"steps\""));
	pf_diags_free(d, n);
	cr_assert_eq(pf_pipeline_parse_all(&p, "ok.yaml", ok, strlen(ok), &d, &n), 0, "%s", pf_error_last());
	cr_assert_eq(n, 0);
	cr_assert_null(d);
	pf_plan_free(p);
}

Test(pipeline_parse, problems_are_capped)
{
	pf_buf b;
	pf_plan *p = NULL;
	pf_diag *d = NULL;
	size_t n = 0;
	pf_buf_init(&b, 1 << 20);
	pf_buf_puts(&b, "version: 1\nname: p\nsteps:\n");
	for (int i = 0; i < 500; i++)
		pf_buf_printf(&b, "  - name: s%d\n", i);
	cr_assert_eq(pf_pipeline_parse_all(&p, "m.yaml", pf_buf_cstr(&b), b.len, &d, &n), PF_EINVALID);
	cr_assert_eq(n, 50);
	cr_assert_eq(d[49].pos.line, 53);
	pf_diags_free(d, n);
	pf_buf_dispose(&b);
}

static void expect_ok(const char *yaml)
{
	pf_plan *plan = NULL;
	cr_assert_eq(parse_str(&plan, yaml, NULL), 0, "refused: %s: %s", yaml, pf_error_last());
	pf_plan_free(plan);
}

/* Plain scalars are typed as YAML 1.1 (PyYAML) types them, no more: 1.2.3 is text, 2024-01-01 a date. */
Test(pipeline_parse, scalar_types_follow_yaml_1_1_exactly)
{
	pf_plan *p = NULL;
	cr_assert_eq(parse_str(&p,
	                       "version: 1\nname: 1.2.3\ndescription: 1:60\nmodel: {hf: a/b, revision: 1.0.0}\n"
	                       "steps: [{name: 09, run: [x]}, {name: 0b12, run: [x]}, {name: 1.5e3, run: [x]},"
	                       " {name: s, run: [x]}]\n",
	                       NULL),
	             0, "%s", pf_error_last());
	cr_assert_str_eq(p->name, "1.2.3");
	cr_assert_str_eq(p->model->revision, "1.0.0");
	cr_assert_str_eq(p->steps[1].name, "0b12");
	pf_plan_free(p);
	expect_error("version: 1\nname: 1.5e+3\n", 2, 7, "got a number");
	expect_error("version: 1\nname: 1_0\n", 2, 7, "got an integer");
	expect_error("version: 1\nname: 1:30\n", 2, 7, "got an integer");
	expect_error("version: 1\nname: 2024-01-01\n", 2, 7, "got a date: put it in quotes");
	expect_error("version: 1\nname: p\nsteps: [{name: s, run: [x, 2001-12-14 21:59:43.10 -5]}]\n", 3, 28,
	             "got a date");
	expect_error("version: 1\nname: p\nvars: {day: 2001-12-14t21:59:43.10Z}\nsteps: [{name: s, run: [x]}]\n", 3, 13,
	             "got a date");
	expect_ok("version: 1\nname: p\nvars: {day: \"2024-01-01\", n: 2024-1-1}\nsteps: [{name: s, run: [x]}]\n");
	assert_no_leak();
}

Test(pipeline_parse, yaml_1_1_integer_notations_are_refused_in_sizes)
{
	pf_plan *p = NULL;
	/* PyYAML reads 010 as 8, YAML 1.2 as 10, 1_000 as text: refuse rather than guess */
	expect_error("version: 1\nname: p\nlimits: {memory: 010}\nsteps: [{name: s, run: [x]}]\n", 3, 18,
	             "plain decimal digits");
	expect_error("version: 1\nname: p\nlimits: {memory: 0x10}\nsteps: [{name: s, run: [x]}]\n", 3, 18,
	             "plain decimal digits");
	expect_error("version: 1\nname: p\nlimits: {memory: 1_000}\nsteps: [{name: s, run: [x]}]\n", 3, 18,
	             "plain decimal digits");
	expect_error("version: 1\nname: p\nlimits: {memory: +5}\nsteps: [{name: s, run: [x]}]\n", 3, 18,
	             "plain decimal digits");
	expect_error("version: 1\nname: p\nlimits: {expect: 1:30}\nsteps: [{name: s, run: [x]}]\n", 3, 18,
	             "plain decimal digits");
	expect_error("version: 1\nname: p\nlimits: {memory: -5}\nsteps: [{name: s, run: [x]}]\n", 3, 18,
	             "cannot be negative");
	expect_error("version: 1\nname: p\nlimits: {timeout: 1:30}\nsteps: [{name: s, run: [x]}]\n", 3, 19,
	             "such as 90s");
	cr_assert_eq(
	    parse_str(&p, "version: 1\nname: p\nlimits: {memory: \"010\"}\nsteps: [{name: s, run: [x]}]\n", NULL), 0,
	    "%s", pf_error_last());
	cr_assert_eq(p->limits.memory_bytes, 10);
	pf_plan_free(p);
	assert_no_leak();
}

Test(pipeline_parse, control_characters_are_named_at_their_position)
{
	static const char nul[] = "version: 1\nname: p\nsteps: [{name: s, run: [x\0y]}]\n";
	pf_plan *p = NULL;
	pf_diag diag;
	cr_assert_eq(pf_pipeline_parse(&p, "n.yaml", nul, sizeof(nul) - 1, &diag), PF_EINVALID);
	cr_assert_eq(diag.pos.line, 3, "%d: %s", diag.pos.line, diag.message);
	cr_assert_eq(diag.pos.col, 26, "%d: %s", diag.pos.col, diag.message);
	cr_assert(strstr(diag.message, "NUL"), "%s", diag.message);
	pf_diag_dispose(&diag);
	expect_error("version: 1\nname: \"a\x01"
	             "b\"\n",
	             2, 9, "control character U+0001");
	expect_error("version: 1\nname: p\x7f\n", 2, 8, "control character U+007F");
	expect_error("version: 1\nname: \"\xc3\xa9\xc2\x86\"\n", 2, 9, "control character U+0086");
	expect_error("version: 1\nname: p\xef\xbf\xbe\n", 2, 8, "U+FFFE");
	/* lines end at CR too, as libyaml counts them */
	expect_error("version: 1\rname: p\r\tx: 1\r", 3, 1, "tab character in indentation");
	assert_no_leak();
}

Test(pipeline_parse, utf8_byte_order_mark_is_accepted)
{
	/* Windows editors write one; libyaml then saw the first line one column to the right */
	expect_ok("\xef\xbb\xbfversion: 1\nname: p\nsteps: [{name: s, run: [x]}]\n");
	expect_error("\xef\xbb\xbfversion: 1\nname: p\nsteps: [{name: s, run: [x]}]\nfoo: 1\n", 4, 1,
	             "unknown key \"foo\"");
	expect_error("\xef\xbb\xbfnmae: p\nversion: 1\n", 1, 1, "unknown key \"nmae\"");
}

Test(pipeline_parse, every_tag_is_refused)
{
	/* "!" alone is a tag too (libyaml reports it as implicit): it turned 1 into text "1" */
	expect_error("version: 1\nname: ! p\n", 2, 7, "tag \"!\" is not supported");
	expect_error("version: ! 1\nname: p\n", 1, 10, "tag \"!\" is not supported");
}

Test(pipeline_parse, syntax_errors_say_what_to_do)
{
	expect_error("version: 1\nname: a: b\n", 2, 8, "put the value in quotes");
	expect_error("version: 1\nname: @p\n", 2, 7, "put the value in quotes");
	expect_error("version: 1\nname: p\nsteps: [{name: s, run: [x]}\n", 4, 1, "close it with ']'");
	expect_error("version: 1\nname: \"p\nsteps: 1\n", 4, 1, "close the quote");
	expect_error("version: 1\nname: p\nsteps:\n- name: s\n  run: [x]\n -name: t\n", 6, 2, "check the indentation");
	assert_no_leak();
}

Test(pipeline_parse, empty_values_ask_for_a_value)
{
	expect_error("version: 1\nname:\nsteps: [{name: s, run: [x]}]\n", 2, 6, "give it a value or remove it");
	expect_error("version: 1\nname: p\nsteps: [{name: s, run: [x], cwd: ~}]\n", 3, 34,
	             "give it a value or remove it");
	expect_error("version: 1\nname: p\nsteps: [{name: s, run: x, shell: \"yes\"}]\n", 3, 34,
	             "write it without quotes");
}

Test(pipeline_parse, load_explains_a_folder)
{
	pf_plan *p = NULL;
	pf_diag diag;
	cr_assert_eq(pf_pipeline_load(&p, FIXTURES, &diag), PF_EENV);
	cr_assert(strstr(diag.message, "is a folder"), "%s", diag.message);
	cr_assert(strstr(pf_error_last(), "give the path of a pipeline file"), "%s", pf_error_last());
	pf_diag_dispose(&diag);
}

Test(pipeline_parse, long_durations_are_refused)
{
	expect_error("version: 1\nname: p\nlimits: {timeout: 10000000000000000ms}\nsteps: [{name: s, run: [x]}]\n", 3,
	             19, "the maximum is 8760h");
}
