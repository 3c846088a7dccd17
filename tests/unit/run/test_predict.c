/*
 * Unit tests of src/run/predict.c: which steps the estimator models, and how
 * its answer is read. A shell script stands in for the interpreter (argv[0]
 * of the step): it writes $FAKE_ANSWER to the --result file, or fails with a
 * one-line reason, so every malformed answer can be fed without Python:
 * not JSON, intervals out of order, numbers that are negative, fractional or
 * past 2^53, missing fields, too many artifacts.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run/predict.h"
#include "util/error.h"
#include "util/mem.h"

/* argv/envp are char *const *: literals go in through this cast (never written to). */
#define S(lit) ((char *)(lit))

static char dir[256];
static char fake[300];

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	FILE *f;
	snprintf(dir, sizeof(dir), "%s/pf-predict-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(fake, sizeof(fake), "%s/python", dir);
	f = fopen(fake, "w");
	cr_assert_not_null(f);
	fputs("#!/bin/sh\n"
	      "[ \"$2\" = pteflow_steps.estimate ] && [ \"$3\" = --result ] || exit 9\n"
	      "[ -n \"$FAKE_FAIL\" ] && { echo \"pteflow_steps.estimate: error: $FAKE_FAIL\" >&2; exit 1; }\n"
	      "printf '%s' \"$FAKE_ANSWER\" > \"$4\"\n",
	      f);
	fclose(f);
	chmod(fake, 0755);
}

static void teardown(void)
{
	unlink(fake);
	rmdir(dir);
}

static int ask(pf_prediction **out, const char *answer, const char *fail)
{
	char *argv[] = {fake, S("-m"), S("pteflow_steps.export_llm"), S("--out"), S("/o/sub/x.pte"), NULL};
	char *a = pf_xasprintf("FAKE_ANSWER=%s", answer ? answer : "");
	char *f = pf_xasprintf("FAKE_FAIL=%s", fail ? fail : "");
	char *envp[] = {S("PATH=/usr/bin:/bin"), a, f, NULL};
	int rc = pf_predict_step(out, argv, 5, envp, NULL, "/o");
	free(a);
	free(f);
	return rc;
}

#define GOOD_ART                                                                                                       \
	"{\"path\": \"/o/sub/x.pte\", \"kind\": \"pte\", \"size\": {\"low\": 90, \"point\": 100, \"high\": 110}"

Test(predict, applies_only_to_modelled_export_steps)
{
	char *llm[] = {S("py"), S("-m"), S("pteflow_steps.export_llm"), S("--out"), S("x")};
	char *causal[] = {S("py"), S("-m"), S("pteflow_steps.export_causal_lm"), S("--out"), S("x")};
	char *check[] = {S("py"), S("-m"), S("pteflow_steps.check")};
	char *other[] = {S("py"), S("-m"), S("mypkg.export_llm")};
	char *script[] = {S("py"), S("export_llm.py")};
	char *bare[] = {S("py"), S("-m")};
	cr_assert(pf_predict_applies(llm, 5));
	cr_assert(pf_predict_applies(causal, 5));
	cr_assert_not(pf_predict_applies(check, 3));
	cr_assert_not(pf_predict_applies(other, 3));
	cr_assert_not(pf_predict_applies(script, 2));
	cr_assert_not(pf_predict_applies(bare, 2));
	cr_assert_not(pf_predict_applies(llm, 1));
}

Test(predict, reads_a_valid_answer, .init = setup, .fini = teardown)
{
	pf_prediction *p = NULL;
	int rc = ask(&p,
	             "{\"estimable\": true, \"step\": \"export_llm\", \"model\": {\"layers\": 2},"
	             " \"peak_memory\": {\"low\": 1, \"point\": 2, \"high\": 3}, \"artifacts\": [" GOOD_ART
	             ", \"runtime_memory\": {\"low\": 200, \"point\": 300, \"high\": 400}}]}",
	             NULL);
	cr_assert_eq(rc, 0, "%s", pf_error_last());
	cr_assert_not_null(p);
	cr_assert_str_eq(p->module, "export_llm");
	cr_assert_eq(p->peak.high, 3);
	cr_assert_eq(p->n_artifacts, 1);
	cr_assert_str_eq(p->artifacts[0].rel, "sub/x.pte");
	cr_assert(p->artifacts[0].has_runtime);
	cr_assert_eq(p->artifacts[0].runtime.point, 300);
	cr_assert_not_null(strstr(p->model_json, "\"layers\""));
	pf_prediction_free(p);
}

Test(predict, not_estimable_is_no_prediction_and_no_error, .init = setup, .fini = teardown)
{
	pf_prediction *p = (pf_prediction *)1;
	cr_assert_eq(ask(&p, "{\"estimable\": false, \"reason\": \"not modelled\"}", NULL), 0);
	cr_assert_null(p);
}

Test(predict, malformed_answers_are_refused, .init = setup, .fini = teardown)
{
	static const char *bad[] = {
	    "not json",
	    "[1, 2]",
	    "{\"estimable\": true, \"artifacts\": []}",
	    "{\"estimable\": true, \"peak_memory\": {\"low\": 3, \"point\": 2, \"high\": 1}, \"artifacts\": []}",
	    "{\"estimable\": true, \"peak_memory\": {\"low\": -1, \"point\": 2, \"high\": 3}, \"artifacts\": []}",
	    "{\"estimable\": true, \"peak_memory\": {\"low\": 1.5, \"point\": 2, \"high\": 3}, \"artifacts\": []}",
	    "{\"estimable\": true, \"peak_memory\": {\"low\": 1, \"point\": 2, \"high\": 1e300}, \"artifacts\": []}",
	    "{\"estimable\": true, \"peak_memory\": {\"low\": 1, \"point\": 2, \"high\": 3}}",
	    "{\"estimable\": true, \"peak_memory\": {\"low\": 1, \"point\": 2, \"high\": 3}, \"artifacts\": [{}]}",
	    "{\"estimable\": true, \"peak_memory\": {\"low\": 1, \"point\": 2, \"high\": 3}, \"artifacts\": "
	    "[{\"path\": \"\", \"kind\": \"pte\", \"size\": {\"low\": 1, \"point\": 1, \"high\": 1}}]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pf_prediction *p = NULL;
		cr_assert_lt(ask(&p, bad[i], NULL), 0, "answer %zu was accepted", i);
		cr_assert_null(p);
	}
}

Test(predict, too_many_artifacts_are_refused, .init = setup, .fini = teardown)
{
	char *text = pf_xstrdup("{\"estimable\": true, \"peak_memory\": {\"low\": 1, \"point\": 2, \"high\": 3}, "
	                        "\"artifacts\": [");
	pf_prediction *p = NULL;
	for (int i = 0; i < 65; i++) {
		char *next = pf_xasprintf("%s%s%s}", text, i ? ", " : "", GOOD_ART);
		free(text);
		text = next;
	}
	{
		char *next = pf_xasprintf("%s]}", text);
		free(text);
		text = next;
	}
	cr_assert_lt(ask(&p, text, NULL), 0);
	cr_assert_null(p);
	free(text);
}

Test(predict, estimator_failure_carries_its_reason, .init = setup, .fini = teardown)
{
	pf_prediction *p = NULL;
	int rc = ask(&p, NULL, "cannot read 'x/config.json'");
	cr_assert_lt(rc, 0);
	cr_assert_null(p);
	cr_assert_not_null(strstr(pf_error_last(), "cannot read 'x/config.json'"), "%s", pf_error_last());
}

Test(predict, missing_interpreter_is_an_environment_error)
{
	char *argv[] = {
	    S("/nonexistent/python"), S("-m"), S("pteflow_steps.export_llm"), S("--out"), S("/o/x.pte"), NULL};
	char *envp[] = {S("PATH=/usr/bin:/bin"), NULL};
	pf_prediction *p = NULL;
	cr_assert_eq(pf_predict_step(&p, argv, 5, envp, NULL, "/o"), PF_EENV);
	cr_assert_null(p);
}

Test(predict, settle_reads_the_run_record_and_the_peak)
{
	pf_prediction *p = pf_xcalloc(1, sizeof(*p));
	pf_run_record rec;
	pf_artifact_result art;
	memset(&rec, 0, sizeof(rec));
	memset(&art, 0, sizeof(art));
	p->artifacts = pf_xcalloc(2, sizeof(*p->artifacts));
	p->n_artifacts = 2;
	p->artifacts[0].path = pf_xstrdup("/o/x.pte");
	p->artifacts[0].rel = pf_xstrdup("x.pte");
	p->artifacts[1].path = pf_xstrdup("/nonexistent/y.ptd");
	art.path = S("x.pte");
	art.exists = true;
	art.size_bytes = 1234;
	rec.artifacts = &art;
	rec.n_artifacts = 1;
	pf_predict_settle(p, &rec, true, 5000);
	cr_assert(p->has_actual_peak);
	cr_assert_eq(p->actual_peak, 5000);
	cr_assert(p->artifacts[0].has_actual);
	cr_assert_eq(p->artifacts[0].actual_size, 1234);
	cr_assert_not(p->artifacts[1].has_actual);
	pf_predict_settle(NULL, &rec, true, 1);
	pf_prediction_free(p);
}
