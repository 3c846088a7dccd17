/* Helpers shared by the verify unit tests: temporary folders and fixture copies. */
#ifndef PF_TEST_VERIFY_HELPERS_H
#define PF_TEST_VERIFY_HELPERS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fs.h"
#include "util/mem.h"

static inline char *tv_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *tmpl = pf_xasprintf("%s/pteflow-verify-XXXXXX", base && base[0] ? base : "/tmp");
	cr_assert_not_null(mkdtemp(tmpl), "cannot create a temporary folder");
	return tmpl;
}

static inline void tv_write(const char *dir, const char *name, const void *data, size_t len)
{
	char *p = pf_fs_join(dir, name);
	FILE *f = fopen(p, "wb");
	cr_assert_not_null(f, "cannot write %s", p);
	if (len)
		cr_assert_eq(fwrite(data, 1, len, f), len);
	fclose(f);
	free(p);
}

/* Copy tests/resources/verify/<fixture> to dir/<name>, optionally keeping only `keep` bytes (0 = all). */
static inline size_t tv_copy(const char *dir, const char *fixture, const char *name, size_t keep)
{
	pf_buf b;
	char *src = pf_xasprintf("%s/tests/resources/verify/%s", PF_SOURCE_DIR, fixture);
	size_t n;
	pf_buf_init(&b, 1u << 26);
	cr_assert_eq(pf_fs_read_file(&b, src, 1u << 26), 0, "fixture %s missing", src);
	n = keep && keep < b.len ? keep : b.len;
	tv_write(dir, name, b.data, n);
	pf_buf_dispose(&b);
	free(src);
	return n;
}

static inline void tv_rmtree(char *dir)
{
	pf_fs_remove_tree(dir);
	free(dir);
}

#endif
