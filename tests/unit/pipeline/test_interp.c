/* Unit tests of ${...} interpolation (src/pipeline/interp.c): every name, $${, unset env, secrets. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/interp.h"
#include "util/error.h"
#include "util/log.h"

/* Present under LeakSanitizer: lets a test fail on a leak (Criterion ignores a child's exit code after it reported). */
int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

static pf_kv vars[] = {{(char *)"quant", (char *)"int8", {0, 0}},
                       {(char *)"seq_len", (char *)"512", {0, 0}},
                       {(char *)"raw", (char *)"${out}", {0, 0}}};

static pf_interp_ctx full_ctx(void)
{
	pf_interp_ctx c;
	memset(&c, 0, sizeof(c));
	c.out = "/o";
	c.workdir = "/w";
	c.python = "/venv/bin/python";
	c.pipeline_dir = "/p";
	c.model_dir = "/cache/snap";
	c.model_commit = "abc123";
	c.target = "int8-seq512";
	c.vars = vars;
	c.n_vars = 3;
	return c;
}

static void expands_to(const pf_interp_ctx *c, const char *text, const char *want)
{
	char *got = NULL;
	cr_assert_eq(pf_interp_expand(&got, text, c), 0, "%s: %s", text, pf_error_last());
	cr_assert_str_eq(got, want);
	free(got);
}

Test(pipeline_interp, every_name)
{
	pf_interp_ctx c = full_ctx();
	setenv("PF_TEST_PLAIN", "plain-value", 1);
	expands_to(&c, "${out}/model.pte", "/o/model.pte");
	expands_to(&c, "${workdir}", "/w");
	expands_to(&c, "${python}", "/venv/bin/python");
	expands_to(&c, "${pipeline.dir}/x", "/p/x");
	expands_to(&c, "${model.dir}", "/cache/snap");
	expands_to(&c, "${model.commit}", "abc123");
	expands_to(&c, "${target}", "int8-seq512");
	expands_to(&c, "--q=${vars.quant}-${vars.seq_len}", "--q=int8-512");
	expands_to(&c, "${env.PF_TEST_PLAIN}", "plain-value");
	expands_to(&c, "", "");
	expands_to(&c, "no refs $ here $x {y}", "no refs $ here $x {y}");
	expands_to(&c, "${out}${workdir}", "/o/w");
}

Test(pipeline_interp, literal_dollar_brace)
{
	pf_interp_ctx c = full_ctx();
	expands_to(&c, "$${out}", "${out}");
	expands_to(&c, "a$${b}c${out}", "a${b}c/o");
	expands_to(&c, "$$x", "$$x");
	expands_to(&c, "$", "$");
	/* a var's value is inserted as is, never expanded again */
	expands_to(&c, "${vars.raw}", "${out}");
}

Test(pipeline_interp, target_is_empty_without_one)
{
	pf_interp_ctx c = full_ctx();
	c.target = NULL;
	expands_to(&c, "[${target}]", "[]");
}

static void expand_fails(const pf_interp_ctx *c, const char *text, const char *needle)
{
	char *got = (char *)1;
	cr_assert_eq(pf_interp_expand(&got, text, c), PF_EINVALID, "%s expanded", text);
	cr_assert_null(got);
	cr_assert(strstr(pf_error_last(), needle), "\"%s\" lacks \"%s\"", pf_error_last(), needle);
}

Test(pipeline_interp, unset_env_is_an_error_naming_it)
{
	pf_interp_ctx c = full_ctx();
	unsetenv("PF_TEST_UNSET_VAR");
	expand_fails(&c, "x${env.PF_TEST_UNSET_VAR}", "\"PF_TEST_UNSET_VAR\" is not set");
	setenv("PF_TEST_EMPTY", "", 1);
	expands_to(&c, "[${env.PF_TEST_EMPTY}]", "[]"); /* set but empty is a value */
}

Test(pipeline_interp, unknown_and_malformed)
{
	pf_interp_ctx c = full_ctx();
	expand_fails(&c, "${outt}", "unknown variable \"${outt}\"");
	expand_fails(&c, "${vars.nope}", "\"${vars.nope}\" is not declared");
	expand_fails(&c, "${out", "unterminated");
	expand_fails(&c, "${}", "empty \"${}\"");
	expand_fails(&c, "${env.1X}", "not a valid environment variable name");
	expand_fails(&c, "${env.}", "not a valid environment variable name");
	c.model_dir = NULL;
	expand_fails(&c, "${model.dir}", "needs a model source");
	c.model_dir = "/m";
	c.python = NULL;
	expand_fails(&c, "${python}", "has no value");
}

Test(pipeline_interp, check_does_not_read_env)
{
	char *bad = NULL;
	unsetenv("PF_TEST_UNSET_VAR");
	cr_assert_eq(pf_interp_check("${env.PF_TEST_UNSET_VAR} ${out} ${vars.quant}", false, vars, 3, &bad), 0);
	cr_assert_null(bad);
	cr_assert_eq(pf_interp_check("${model.dir}", true, NULL, 0, &bad), 0);
	cr_assert_eq(pf_interp_check("a ${model.commit}", false, NULL, 0, &bad), PF_EINVALID);
	cr_assert_str_eq(bad, "model.commit");
	free(bad);
	cr_assert_eq(pf_interp_check("${vars.x}", false, vars, 3, &bad), PF_EINVALID);
	cr_assert_str_eq(bad, "vars.x");
	free(bad);
	cr_assert_eq(pf_interp_check("${ out }", false, NULL, 0, &bad), PF_EINVALID);
	cr_assert_str_eq(bad, " out ");
	free(bad);
	cr_assert_eq(pf_interp_check("$${anything}", false, NULL, 0, NULL), 0);
	/* found by fuzzing: an unterminated reference after a resolved one leaked the first name */
	cr_assert_eq(pf_interp_check("${out} ${ou", false, NULL, 0, &bad), PF_EINVALID);
	cr_assert_str_eq(bad, "ou");
	free(bad);
	cr_assert_eq(pf_interp_check("${out} ${ou", false, NULL, 0, NULL), PF_EINVALID);
	if (__lsan_do_recoverable_leak_check)
		cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked (see the LeakSanitizer report)");
}

Test(pipeline_interp, secret_env_values_are_registered)
{
	pf_interp_ctx c = full_ctx();
	char *got = NULL, *red;
	pf_secret_clear();
	setenv("PF_TEST_HF_TOKEN", "hf_supersecretvalue", 1);
	setenv("MY_API_KEY", "key-material-123", 1);
	setenv("DB_Password", "pw-material-456", 1);
	setenv("PF_TEST_PLAIN", "plain-value", 1);
	/* off: nothing registered */
	cr_assert_eq(pf_interp_expand(&got, "${env.PF_TEST_HF_TOKEN}", &c), 0);
	free(got);
	cr_assert_not(pf_secret_contains("hf_supersecretvalue", 19));
	c.register_env_secrets = true;
	cr_assert_eq(pf_interp_expand(
	                 &got, "${env.PF_TEST_HF_TOKEN} ${env.MY_API_KEY} ${env.DB_Password} ${env.PF_TEST_PLAIN}", &c),
	             0);
	red = pf_secret_redact(got);
	cr_assert_str_eq(red, "*** *** *** plain-value");
	free(red);
	free(got);
	pf_secret_clear();
}

Test(pipeline_interp, malformed_names_say_what_to_do)
{
	pf_interp_ctx c = full_ctx();
	char *bad = NULL;
	expand_fails(&c, "${vars.${vars.quant}}", "nested \"${\"");
	expand_fails(&c, "${vars.}", "is not a valid variable name");
	expand_fails(&c, "${vars.a b}", "is not a valid variable name");
	expand_fails(&c, "${vars.1x}", "is not a valid variable name");
	cr_assert_eq(pf_interp_check("x ${out${out}}", false, NULL, 0, &bad), PF_EINVALID);
	cr_assert(strstr(pf_error_last(), "nested \"${\""), "%s", pf_error_last());
	free(bad);
}

Test(pipeline_interp, long_text_in_messages_is_cut)
{
	pf_interp_ctx c = full_ctx();
	char *text = malloc(3003);
	memset(text, 'a', 3000);
	memcpy(text + 3000, "${", 3);
	expand_fails(&c, text, "write \"$${\" for a literal");
	free(text);
}

Test(pipeline_interp, expansion_is_bounded_by_the_argument_limit)
{
	/* Linux refuses one argument or environment string over 128 KiB (MAX_ARG_STRLEN); a few
	 * references to a long variable must fail here, not allocate 16 MiB per argument */
	size_t big = 64 * 1024;
	char *value = malloc(big + 1);
	pf_kv one[] = {{(char *)"big", value, {0, 0}}};
	pf_interp_ctx c = full_ctx();
	char *got = NULL;
	memset(value, 'v', big);
	value[big] = '\0';
	c.vars = one;
	c.n_vars = 1;
	cr_assert_eq(pf_interp_expand(&got, "${vars.big}", &c), 0);
	free(got);
	expand_fails(&c, "${vars.big}${vars.big}${vars.big}", "more than 128 KiB");
	free(value);
}

Test(pipeline_interp, more_secret_names_are_registered)
{
	pf_interp_ctx c = full_ctx();
	char *got = NULL, *red;
	pf_secret_clear();
	c.register_env_secrets = true;
	setenv("MY_PASSWD", "passwd-material-1", 1);
	setenv("GH_PAT", "ghp_patmaterial2", 1);
	setenv("NPM_AUTH", "auth-material-3", 1);
	setenv("GCP_CREDENTIALS", "cred-material-4", 1);
	setenv("PF_TEST_PATHLIKE", "/not/a/secret", 1);
	setenv("PF_TEST_AUTHOR", "Not Secret", 1);
	cr_assert_eq(pf_interp_expand(&got,
	                              "${env.MY_PASSWD} ${env.GH_PAT} ${env.NPM_AUTH} ${env.GCP_CREDENTIALS} "
	                              "${env.PF_TEST_PATHLIKE} ${env.PF_TEST_AUTHOR}",
	                              &c),
	             0);
	red = pf_secret_redact(got);
	cr_assert_str_eq(red, "*** *** *** *** /not/a/secret Not Secret");
	free(red);
	free(got);
	pf_secret_clear();
}
