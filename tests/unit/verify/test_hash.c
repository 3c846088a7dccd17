/* Unit tests of src/verify/hash.c: SHA-256 against published vectors and sha256sum, git blob SHA-1. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "util/error.h"
#include "verify/hash.h"

Test(verify_hash, known_vectors)
{
	char hex[65];
	char *million = pf_xmalloc(1000000);
	pf_sha256_bytes(hex, "", 0);
	cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	pf_sha256_bytes(hex, "abc", 3);
	cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	pf_sha256_bytes(hex, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56);
	cr_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	memset(million, 'a', 1000000);
	pf_sha256_bytes(hex, million, 1000000);
	cr_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(million);
}

Test(verify_hash, incremental_equals_one_shot)
{
	char a[65], b[65];
	const char *text = "the quick brown fox jumps over the lazy dog, many times over";
	pf_sha256 *h = pf_sha256_new();
	for (size_t i = 0; text[i]; i++)
		pf_sha256_update(h, text + i, 1);
	pf_sha256_update(h, NULL, 0);
	pf_sha256_final_hex(h, a);
	pf_sha256_bytes(b, text, strlen(text));
	cr_assert_str_eq(a, b);
	pf_sha256_free(NULL);
}

/* A multi-MiB file that is not a multiple of the read block: compare with memory and sha256sum. */
Test(verify_hash, file_matches_memory_and_sha256sum)
{
	char *dir = tv_tmpdir(), *path = pf_fs_join(dir, "big.bin"), *cmd = NULL;
	size_t len = 5u * 1024u * 1024u + 7u;
	unsigned char *data = pf_xmalloc(len);
	char file_hex[65], mem_hex[65], tool_hex[65] = "";
	uint64_t size = 0, x = 88172645463325252ull;
	FILE *p;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		data[i] = (unsigned char)x;
	}
	tv_write(dir, "big.bin", data, len);
	cr_assert_eq(pf_sha256_file(file_hex, &size, path), 0, "%s", pf_error_last());
	pf_sha256_bytes(mem_hex, data, len);
	cr_assert_eq(size, len);
	cr_assert_str_eq(file_hex, mem_hex);
	cmd = pf_xasprintf("sha256sum '%s' 2>/dev/null", path);
	p = popen(cmd, "r");
	if (p && fgets(tool_hex, sizeof(tool_hex), p) && strlen(tool_hex) == 64) {
		cr_assert_str_eq(file_hex, tool_hex, "pteflow and sha256sum disagree");
	} else {
		cr_log_warn("sha256sum is not available here: compared with the in-memory hash only");
	}
	if (p)
		pclose(p);
	free(cmd);
	free(data);
	free(path);
	tv_rmtree(dir);
}

Test(verify_hash, empty_file)
{
	char *dir = tv_tmpdir(), *path = pf_fs_join(dir, "empty");
	char hex[65];
	uint64_t size = 99;
	tv_write(dir, "empty", "", 0);
	cr_assert_eq(pf_sha256_file(hex, &size, path), 0);
	cr_assert_eq(size, 0);
	cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	free(path);
	tv_rmtree(dir);
}

Test(verify_hash, missing_file_and_folder_are_errors)
{
	char *dir = tv_tmpdir(), *path = pf_fs_join(dir, "nope");
	char hex[65], hex1[41];
	cr_assert_eq(pf_sha256_file(hex, NULL, path), PF_ENOTFOUND);
	cr_assert(strstr(pf_error_last(), "does not exist"));
	cr_assert_eq(pf_sha256_file(hex, NULL, dir), PF_EINVALID);
	cr_assert(strstr(pf_error_last(), "not a regular file"));
	cr_assert_eq(pf_git_blob_sha1_file(hex1, path), PF_ENOTFOUND);
	free(path);
	tv_rmtree(dir);
}

Test(verify_hash, git_blob_sha1_matches_git)
{
	char *dir = tv_tmpdir(), *a = pf_fs_join(dir, "a"), *e = pf_fs_join(dir, "e");
	char hex[41];
	tv_write(dir, "a", "hello world\n", 12);
	tv_write(dir, "e", "", 0);
	cr_assert_eq(pf_git_blob_sha1_file(hex, a), 0);
	cr_assert_str_eq(hex, "3b18e512dba79e4c8300dd08aeb37f8e728b8dad"); /* git hash-object */
	cr_assert_eq(pf_git_blob_sha1_file(hex, e), 0);
	cr_assert_str_eq(hex, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
	free(a);
	free(e);
	tv_rmtree(dir);
}
