/*
 * Unit tests of src/gha: workflow commands on stderr (masks, groups,
 * annotations with GitHub's escaping), the job summary and the outputs file,
 * and silence outside Actions. stdout and stderr are captured into one
 * temporary file, as the runner merges them, so ordering can be checked.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gha/gha.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

static char *tmp_root;
static int saved_out = -1, saved_err = -1;
static char *capture_path;

static void setup(void)
{
	const char *base = getenv("TMPDIR");
	char *tmpl = pf_xasprintf("%s/pf-gha-XXXXXX", base && *base ? base : "/tmp");
	cr_assert_not_null(mkdtemp(tmpl));
	tmp_root = tmpl;
	pf_secret_clear();
	pf_secret_set_hook(NULL);
	unsetenv("GITHUB_ACTIONS");
	unsetenv("GITHUB_STEP_SUMMARY");
	unsetenv("GITHUB_OUTPUT");
}

static void teardown(void)
{
	pf_secret_clear();
	pf_secret_set_hook(NULL);
	if (tmp_root)
		(void)pf_fs_remove_tree(tmp_root);
	free(tmp_root);
	free(capture_path);
	tmp_root = capture_path = NULL;
}

TestSuite(gha, .init = setup, .fini = teardown);

static char *tmp_file(const char *name)
{
	return pf_fs_join(tmp_root, name);
}

/* Send fd 1 and fd 2 to one file until capture_end(). */
static void capture_begin(void)
{
	int fd;
	capture_path = tmp_file("captured.txt");
	fd = open(capture_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0);
	fflush(stdout);
	fflush(stderr);
	saved_out = dup(1);
	saved_err = dup(2);
	dup2(fd, 1);
	dup2(fd, 2);
	close(fd);
}

static char *read_all(const char *path)
{
	pf_buf b;
	pf_buf_init(&b, 1 << 20);
	if (pf_fs_read_file(&b, path, 1 << 20) != 0) {
		pf_buf_dispose(&b);
		return NULL;
	}
	return pf_buf_detach(&b);
}

static char *capture_end(void)
{
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	return read_all(capture_path);
}

Test(gha, mask_is_printed_before_the_line_that_holds_the_secret)
{
	static const char token[] = "hf_QWERTYsecretTOKEN123";
	char *out, *mask, *log;
	setenv("GITHUB_ACTIONS", "true", 1);
	capture_begin();
	pf_gha_init();
	pf_log_info("starting");
	pf_secret_add(token);
	pf_log_error("download failed with token %s", token);
	out = capture_end();
	mask = strstr(out, "::add-mask::hf_QWERTYsecretTOKEN123\n");
	log = strstr(out, "pteflow: error: download failed with token ***\n");
	cr_assert_not_null(mask, "no mask line in:\n%s", out);
	cr_assert_not_null(log, "no redacted log line in:\n%s", out);
	cr_assert(mask < log, "the mask came after the log line:\n%s", out);
	/* The only clear occurrence is inside the mask command itself. */
	cr_assert_null(strstr(mask + strlen("::add-mask::") + strlen(token), token), "secret printed in clear:\n%s",
		       out);
	cr_assert_eq(strstr(out, token), mask + strlen("::add-mask::"), "secret printed in clear:\n%s", out);
	free(out);
}

Test(gha, secret_registered_before_init_is_masked_too)
{
	char *out;
	setenv("GITHUB_ACTIONS", "true", 1);
	pf_secret_add("early-secret-value");
	capture_begin();
	pf_gha_init();
	out = capture_end();
	cr_assert_str_eq(out, "::add-mask::early-secret-value\n");
	free(out);
}

Test(gha, multi_line_secret_is_masked_whole_and_per_line)
{
	char *out;
	setenv("GITHUB_ACTIONS", "true", 1);
	capture_begin();
	pf_gha_init();
	pf_secret_add("first-line-secret\nsecond-line-secret");
	out = capture_end();
	cr_assert_str_eq(out, "::add-mask::first-line-secret%0Asecond-line-secret\n"
			      "::add-mask::first-line-secret\n"
			      "::add-mask::second-line-secret\n");
	free(out);
}

Test(gha, annotation_escapes_properties_and_data)
{
	char *out;
	setenv("GITHUB_ACTIONS", "true", 1);
	capture_begin();
	pf_gha_annotate("error", "pipes/a,b:c.yaml", 12, 5, "bad: key, really", "line one\nline two 100%\r");
	out = capture_end();
	cr_assert_str_eq(out, "::error file=pipes/a%2Cb%3Ac.yaml,line=12,col=5,title=bad%3A key%2C really"
			      "::line one%0Aline two 100%25%0D\n");
	free(out);
}

Test(gha, annotation_without_position_and_with_a_secret)
{
	char *out;
	setenv("GITHUB_ACTIONS", "true", 1);
	pf_secret_add("tok-ABCDEFGH");
	capture_begin();
	pf_gha_annotate("warning", NULL, 0, 0, NULL, "token tok-ABCDEFGH rejected");
	pf_gha_annotate("notice", "p.yaml", 0, 9, "t", "m");
	pf_gha_annotate("bogus", "p.yaml", 4, 0, NULL, "x");
	out = capture_end();
	cr_assert_str_eq(out, "::warning::token *** rejected\n"
			      "::notice file=p.yaml,title=t::m\n"
			      "::error file=p.yaml,line=4::x\n");
	free(out);
}

Test(gha, groups_wrap_step_output)
{
	char *out;
	setenv("GITHUB_ACTIONS", "true", 1);
	capture_begin();
	pf_gha_group_begin("step export\n(int8)");
	pf_gha_group_end();
	out = capture_end();
	cr_assert_str_eq(out, "::group::step export%0A(int8)\n::endgroup::\n");
	free(out);
}

Test(gha, context_from_environment)
{
	pf_ci_record ci;
	setenv("GITHUB_ACTIONS", "true", 1);
	setenv("GITHUB_REPOSITORY", "org/models", 1);
	setenv("GITHUB_RUN_ID", "123456", 1);
	setenv("GITHUB_RUN_ATTEMPT", "2", 1);
	setenv("GITHUB_WORKFLOW", "export", 1);
	setenv("GITHUB_REF", "refs/tags/v1.0", 1);
	setenv("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567", 1);
	setenv("RUNNER_OS", "Linux", 1);
	setenv("GITHUB_JOB", "export", 1);
	setenv("GITHUB_SERVER_URL", "https://github.com", 1);
	pf_gha_context(&ci);
	cr_assert(ci.present);
	cr_assert_str_eq(ci.repository, "org/models");
	cr_assert_str_eq(ci.run_id, "123456");
	cr_assert_str_eq(ci.run_attempt, "2");
	cr_assert_str_eq(ci.workflow, "export");
	cr_assert_str_eq(ci.ref, "refs/tags/v1.0");
	cr_assert_str_eq(ci.sha, "0123456789abcdef0123456789abcdef01234567");
	cr_assert_str_eq(ci.runner_os, "Linux");
	cr_assert_str_eq(ci.job, "export");
	cr_assert_str_eq(ci.server_url, "https://github.com");
	pf_gha_context_dispose(&ci);

	unsetenv("GITHUB_ACTIONS");
	pf_gha_context(&ci);
	cr_assert_not(ci.present);
	cr_assert_null(ci.repository);
}

/* ---- a record with two artifacts, the second failing its max_size gate ---- */

static char s_pipe[] = "demo", s_target[] = "int8-seq512", s_ppath[] = "pipelines/demo.yaml";
static char s_out[] = "/home/runner/out/demo", s_pte[] = "model.pte", s_ptd[] = "weights/big.ptd";
static char s_kpte[] = "pte", s_kptd[] = "ptd", s_export[] = "export", s_check[] = "check";
static char s_nonempty[] = "non_empty", s_max[] = "max_size", s_exp[] = "<= 1.5 GB", s_act[] = "2.00 GB";
static char s_fail[] = "artifact \"weights/big.ptd\" failed its max_size gate: expected <= 1.5 GB, got 2.00 GB";

static void make_record(pf_run_record *rec, pf_artifact_result a[2], pf_gate_result g[3], pf_step_record s[2])
{
	memset(rec, 0, sizeof(*rec));
	memset(a, 0, 2 * sizeof(*a));
	memset(g, 0, 3 * sizeof(*g));
	memset(s, 0, 2 * sizeof(*s));
	g[0] = (pf_gate_result){.name = s_nonempty, .passed = true};
	g[1] = (pf_gate_result){.name = s_max, .expected = s_exp, .actual = s_act, .passed = false};
	g[2] = (pf_gate_result){.name = s_nonempty, .passed = true};
	a[0].path = s_pte;
	a[0].kind = s_kpte;
	a[0].exists = true;
	a[0].size_bytes = 1234567890ULL;
	memset(a[0].sha256, 'a', 64);
	a[0].gates = &g[2];
	a[0].n_gates = 1;
	a[0].passed = true;
	a[0].produced_by = s_export;
	a[1].path = s_ptd;
	a[1].kind = s_kptd;
	a[1].exists = true;
	a[1].size_bytes = 2000000000ULL;
	memset(a[1].sha256, 'b', 64);
	a[1].gates = g;
	a[1].n_gates = 2;
	a[1].passed = false;
	a[1].produced_by = s_export;
	s[0].name = s_export;
	s[0].ran = true;
	s[0].result.end = PF_END_OK;
	s[0].result.wall_ms = 83000;
	s[0].result.maxrss_bytes = 1ULL << 30;
	s[0].result.guard.mode = PF_GUARD_CGROUP1;
	s[0].result.guard.limit_bytes = 6ULL << 30;
	s[0].result.guard.peak_bytes = 5ULL << 30;
	s[1].name = s_check;
	s[1].ran = false;
	rec->pipeline_name = s_pipe;
	rec->target = s_target;
	rec->pipeline_path = s_ppath;
	rec->out_dir = s_out;
	rec->artifacts = a;
	rec->n_artifacts = 2;
	rec->steps = s;
	rec->n_steps = 2;
	rec->passed = false;
	rec->failure = s_fail;
}

static void set_files(char **summary, char **output)
{
	*summary = tmp_file("summary.md");
	*output = tmp_file("output.txt");
	setenv("GITHUB_STEP_SUMMARY", *summary, 1);
	setenv("GITHUB_OUTPUT", *output, 1);
}

Test(gha, summary_table_for_two_artifacts_one_failing)
{
	pf_run_record rec;
	pf_artifact_result a[2];
	pf_gate_result g[3];
	pf_step_record s[2];
	char *summary, *output, *text;
	make_record(&rec, a, g, s);
	setenv("GITHUB_ACTIONS", "true", 1);
	set_files(&summary, &output);
	cr_assert_eq(pf_gha_summary(&rec, "/home/runner/out/demo/manifest.json"), 0, "%s", pf_error_last());
	text = read_all(summary);
	cr_assert_not_null(text);
	cr_assert(strstr(text, "## \xe2\x9d\x8c pteflow: `demo` target `int8-seq512` failed\n"), "%s", text);
	cr_assert(strstr(text, "> **Failure:** artifact \"weights/big.ptd\" failed its max_size gate"), "%s", text);
	cr_assert(strstr(text, "| artifact | kind | size | gates | SHA-256 | peak memory (step) |\n"), "%s", text);
	cr_assert(strstr(text, "| `model.pte` | pte | 1.23 GB | \xe2\x9c\x85 non_empty pass | `"
			       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa` | 5.00 GiB (export) |\n"),
		  "%s", text);
	cr_assert(strstr(text, "| `weights/big.ptd` | ptd | 2.00 GB | \xe2\x9c\x85 non_empty pass<br>"
			       "\xe2\x9d\x8c max_size fail (expected &lt;= 1.5 GB, got 2.00 GB) | `"
			       "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb` | 5.00 GiB (export) |\n"),
		  "%s", text);
	cr_assert(strstr(text, "| `export` | \xe2\x9c\x85 success | 1m 23s | 5.00 GiB | cgroup1, limit 6.00 GiB |\n"),
		  "%s", text);
	cr_assert(strstr(text, "| `check` | skipped | - | - | - |\n"), "%s", text);
	free(text);

	/* A second run appends: the summary file is shared by every step of the job. */
	rec.passed = true;
	rec.failure = NULL;
	cr_assert_eq(pf_gha_summary(&rec, "m.json"), 0);
	text = read_all(summary);
	cr_assert(strstr(text, "failed\n"));
	cr_assert(strstr(text, "## \xe2\x9c\x85 pteflow: `demo` target `int8-seq512` passed\n"), "%s", text);
	free(text);
	free(summary);
	free(output);
}

Test(gha, outputs_file_format)
{
	pf_run_record rec;
	pf_artifact_result a[2];
	pf_gate_result g[3];
	pf_step_record s[2];
	char *summary, *output, *text;
	make_record(&rec, a, g, s);
	setenv("GITHUB_ACTIONS", "true", 1);
	set_files(&summary, &output);
	cr_assert_eq(pf_gha_summary(&rec, "out/demo/manifest.json"), 0, "%s", pf_error_last());
	text = read_all(output);
	cr_assert_str_eq(text, "manifest=out/demo/manifest.json\n"
			       "status=failed\n"
			       "artifact_model_pte=/home/runner/out/demo/model.pte\n"
			       "sha256_model_pte=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
			       "artifact_weights_big_ptd=/home/runner/out/demo/weights/big.ptd\n"
			       "sha256_weights_big_ptd=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n");
	free(text);
	free(summary);
	free(output);
}

Test(gha, output_names_are_sanitised_and_unique)
{
	pf_run_record rec;
	pf_artifact_result a[2];
	pf_gate_result g[3];
	pf_step_record s[2];
	static char p1[] = "a-b.pte", p2[] = "a_b_pte";
	char *text;
	make_record(&rec, a, g, s);
	rec.out_dir = NULL;
	rec.passed = true;
	a[0].path = p1;
	a[1].path = p2;
	a[1].exists = false;
	text = pf_gha_render_outputs(&rec, NULL);
	cr_assert_str_eq(text, "status=passed\n"
			       "artifact_a_b_pte=a-b.pte\n"
			       "sha256_a_b_pte=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
			       "artifact_a_b_pte_2=a_b_pte\n");
	free(text);
}

Test(gha, multi_line_output_uses_a_heredoc_delimiter)
{
	pf_buf b;
	char name[64], delim[64], end[128];
	const char *t, *nl;
	pf_buf_init(&b, 4096);
	pf_gha_output_entry(&b, "notes", "line 1\nline 2");
	t = pf_buf_cstr(&b);
	/* notes<<DELIM\nline 1\nline 2\nDELIM\n */
	nl = strchr(t, '\n');
	cr_assert_not_null(nl);
	cr_assert(nl - t < (long)sizeof(name));
	memcpy(name, t, (size_t)(nl - t));
	name[nl - t] = '\0';
	cr_assert(strncmp(name, "notes<<ghadelimiter_", 20) == 0, "%s", t);
	snprintf(delim, sizeof(delim), "%s", name + 7);
	cr_assert(strlen(delim) > 20);
	snprintf(end, sizeof(end), "\nline 1\nline 2\n%s\n", delim);
	cr_assert_str_eq(nl, end, "%s", t);
	pf_buf_dispose(&b);
}

Test(gha, summary_and_outputs_never_hold_a_secret)
{
	pf_run_record rec;
	pf_artifact_result a[2];
	pf_gate_result g[3];
	pf_step_record s[2];
	static char failure[] = "step failed: 401 for token hf_NOPE_leak_1234";
	char *summary, *output, *text;
	make_record(&rec, a, g, s);
	rec.failure = failure;
	setenv("GITHUB_ACTIONS", "true", 1);
	pf_secret_add("hf_NOPE_leak_1234");
	set_files(&summary, &output);
	cr_assert_eq(pf_gha_summary(&rec, "/x/hf_NOPE_leak_1234/manifest.json"), 0);
	text = read_all(summary);
	cr_assert_null(strstr(text, "hf_NOPE_leak_1234"));
	cr_assert(strstr(text, "401 for token ***"), "%s", text);
	free(text);
	text = read_all(output);
	cr_assert_null(strstr(text, "hf_NOPE_leak_1234"));
	cr_assert(strstr(text, "manifest=/x/***/manifest.json\n"), "%s", text);
	free(text);
	free(summary);
	free(output);
}

Test(gha, inactive_without_github_actions)
{
	pf_run_record rec;
	pf_artifact_result a[2];
	pf_gate_result g[3];
	pf_step_record s[2];
	char *summary, *output, *out;
	make_record(&rec, a, g, s);
	set_files(&summary, &output);
	cr_assert_not(pf_gha_active());
	capture_begin();
	pf_gha_init();
	pf_secret_add("would-be-masked");
	pf_gha_group_begin("x");
	pf_gha_annotate("error", "f.yaml", 1, 1, "t", "m");
	pf_gha_group_end();
	cr_assert_eq(pf_gha_summary(&rec, "manifest.json"), 0);
	out = capture_end();
	cr_assert_str_eq(out, "");
	cr_assert_not(pf_fs_exists(summary));
	cr_assert_not(pf_fs_exists(output));
	free(out);

	setenv("GITHUB_ACTIONS", "false", 1);
	cr_assert_not(pf_gha_active());
	free(summary);
	free(output);
}

Test(gha, unwritable_summary_is_an_error)
{
	pf_run_record rec;
	pf_artifact_result a[2];
	pf_gate_result g[3];
	pf_step_record s[2];
	char *bad = tmp_file("no/such/folder/summary.md");
	make_record(&rec, a, g, s);
	setenv("GITHUB_ACTIONS", "true", 1);
	setenv("GITHUB_STEP_SUMMARY", bad, 1);
	cr_assert_lt(pf_gha_summary(&rec, "m.json"), 0);
	cr_assert(strstr(pf_error_last(), "job summary"), "%s", pf_error_last());
	free(bad);
}
