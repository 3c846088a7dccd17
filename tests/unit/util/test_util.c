/* Unit tests of src/util: bounded buffers, atomic writes, secret redaction, errors. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/text.h"

Test(util_buf, append_grows_and_stays_terminated)
{
	pf_buf b;
	pf_buf_init(&b, 1024);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(pf_buf_puts(&b, "ab"), 0);
	cr_assert_eq(b.len, 200);
	cr_assert_eq(strlen(pf_buf_cstr(&b)), 200);
	pf_buf_dispose(&b);
}

Test(util_buf, refuses_to_pass_its_maximum)
{
	pf_buf b;
	pf_buf_init(&b, 10);
	cr_assert_eq(pf_buf_puts(&b, "0123456789"), 0);
	cr_assert_eq(pf_buf_puts(&b, "x"), PF_ELIMIT);
	cr_assert_eq(b.len, 10);
	cr_assert(strstr(pf_error_last(), "10 bytes"));
	pf_buf_dispose(&b);
}

Test(util_buf, printf_formats_long_text)
{
	pf_buf b;
	char big[600];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	pf_buf_init(&b, 4096);
	cr_assert_eq(pf_buf_printf(&b, "<%s|%d>", big, 42), 0);
	cr_assert_eq(b.len, 599 + 5);
	cr_assert(strstr(pf_buf_cstr(&b), "|42>"));
	pf_buf_dispose(&b);
}

Test(util_secret, redacts_every_occurrence)
{
	char *r;
	pf_secret_clear();
	pf_secret_add("hf_SECRETVALUE");
	r = pf_secret_redact("a hf_SECRETVALUE b hf_SECRETVALUEc");
	cr_assert_str_eq(r, "a *** b ***c");
	cr_assert(pf_secret_contains("xxhf_SECRETVALUE", 16));
	cr_assert_not(pf_secret_contains("hf_SECRETVALU", 13));
	free(r);
	pf_secret_clear();
}

Test(util_secret, ignores_values_too_short_to_be_secrets)
{
	char *r;
	pf_secret_clear();
	pf_secret_add("a");
	r = pf_secret_redact("banana");
	cr_assert_str_eq(r, "banana");
	free(r);
}

Test(util_fs, atomic_write_replaces_whole_file)
{
	char dir[] = "/tmp/pf_fs_XXXXXX";
	char *path;
	pf_buf b;
	cr_assert_not_null(mkdtemp(dir));
	path = pf_fs_join(dir, "m.json");
	cr_assert_eq(pf_fs_write_atomic(path, "first", 5), 0);
	cr_assert_eq(pf_fs_write_atomic(path, "second", 6), 0);
	pf_buf_init(&b, 100);
	cr_assert_eq(pf_fs_read_file(&b, path, 100), 0);
	cr_assert_str_eq(pf_buf_cstr(&b), "second");
	pf_buf_dispose(&b);
	cr_assert_eq(pf_fs_remove_tree(dir), 0);
	cr_assert_not(pf_fs_exists(dir));
	free(path);
}

Test(util_fs, atomic_write_into_missing_folder_fails_and_leaves_nothing)
{
	int rc = pf_fs_write_atomic("/nonexistent-pf-dir/x.json", "a", 1);
	cr_assert_lt(rc, 0);
	cr_assert(strstr(pf_error_last(), "nonexistent-pf-dir"));
}

Test(util_fs, read_file_respects_its_cap)
{
	char dir[] = "/tmp/pf_fs_XXXXXX";
	char *path;
	pf_buf b;
	cr_assert_not_null(mkdtemp(dir));
	path = pf_fs_join(dir, "f");
	cr_assert_eq(pf_fs_write_atomic(path, "0123456789", 10), 0);
	pf_buf_init(&b, 100);
	cr_assert_eq(pf_fs_read_file(&b, path, 5), PF_ELIMIT);
	pf_buf_dispose(&b);
	pf_fs_remove_tree(dir);
	free(path);
}

Test(util_fs, join_never_doubles_slashes)
{
	char *a = pf_fs_join("out/", "/m.pte");
	char *b = pf_fs_join("out", "m.pte");
	cr_assert_str_eq(a, "out/m.pte");
	cr_assert_str_eq(b, "out/m.pte");
	free(a);
	free(b);
}

Test(util_error, a_message_can_wrap_the_last_one)
{
	pf_error_set("variable \"%s\" is not set", "HF_TOKEN");
	pf_error_code(PF_EINVALID, "env \"%s\": %s", "HF_TOKEN", pf_error_last());
	cr_assert_str_eq(pf_error_last(), "env \"HF_TOKEN\": variable \"HF_TOKEN\" is not set");
	pf_error_set("step \"%s\": %s", "export", pf_error_last());
	cr_assert_str_eq(pf_error_last(), "step \"export\": env \"HF_TOKEN\": variable \"HF_TOKEN\" is not set");
}

Test(util_url, check_wants_http_with_a_host_and_no_credentials)
{
	cr_assert_eq(pf_url_check("https://cache.example.org/pteflow"), PF_URL_OK);
	cr_assert_eq(pf_url_check("http://127.0.0.1:8080"), PF_URL_OK);
	cr_assert_eq(pf_url_check("http://h/path@v1"), PF_URL_OK); /* an @ in the path is no user info */
	cr_assert_eq(pf_url_check("https://ci:secret@cache.example.org"), PF_URL_CREDENTIALS);
	cr_assert_eq(pf_url_check("https://token@cache.example.org/x"), PF_URL_CREDENTIALS);
	cr_assert_eq(pf_url_check("ftp://cache.example.org"), PF_URL_NOT_HTTP);
	cr_assert_eq(pf_url_check("https:///path"), PF_URL_NOT_HTTP);
	cr_assert_eq(pf_url_check("https://"), PF_URL_NOT_HTTP);
	cr_assert_eq(pf_url_check("cache.example.org"), PF_URL_NOT_HTTP);
}
