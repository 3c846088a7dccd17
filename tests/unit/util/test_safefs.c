/* util/safefs: nothing followed, nothing blocks, temporary names never reused. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"
#include "util/safefs.h"

static char *tree(void)
{
	char tmpl[] = "/tmp/pf-safefs-XXXXXX";
	char *root = pf_xstrdup(mkdtemp(tmpl)), *p;
	p = pf_fs_join(root, "in/sub");
	cr_assert_eq(pf_fs_mkdir_p(p), 0);
	free(p);
	p = pf_fs_join(root, "outside");
	cr_assert_eq(pf_fs_mkdir_p(p), 0);
	free(p);
	p = pf_fs_join(root, "outside/secret");
	cr_assert_eq(pf_fs_write_atomic(p, "secret\n", 7), 0);
	free(p);
	p = pf_fs_join(root, "in/link");
	cr_assert_eq(symlink("../outside", p), 0);
	free(p);
	return root;
}

Test(util_safefs, nothing_on_the_way_is_followed_and_nothing_escapes)
{
	char *root = tree(), *in = pf_fs_join(root, "in");
	int dfd = open(in, O_RDONLY | O_DIRECTORY), fd;
	cr_assert(dfd >= 0);
	errno = 0;
	cr_assert_lt(pf_safefs_openat(dfd, "link/secret", O_RDONLY, 0), 0);
	cr_assert(errno == ELOOP || errno == EXDEV, "%s", strerror(errno));
	cr_assert_lt(pf_safefs_openat(dfd, "../outside/secret", O_RDONLY, 0), 0);
	cr_assert_lt(pf_safefs_openat(dfd, "/etc/passwd", O_RDONLY, 0), 0);
	cr_assert_eq(pf_safefs_open_read(dfd, "link", NULL, "link"), PF_EINVALID);
	cr_assert_eq(pf_safefs_open_read(dfd, "none", NULL, "none"), PF_ENOTFOUND);
	cr_assert_eq(pf_safefs_mkdirs(dfd, "link/x", "link/x"), PF_EINVALID, "%s", pf_error_last());
	fd = pf_safefs_mkdirs(dfd, "sub/a/b", "sub/a/b");
	cr_assert(fd >= 0, "%s", pf_error_last());
	close(fd);
	close(dfd);
	pf_fs_remove_tree(root);
	free(in);
	free(root);
}

Test(util_safefs, a_fifo_is_refused_without_blocking)
{
	char *root = tree(), *in = pf_fs_join(root, "in"), *fifo = pf_fs_join(root, "in/fifo");
	int dfd = open(in, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(mkfifo(fifo, 0644), 0);
	cr_assert_eq(pf_safefs_open_read(dfd, "fifo", NULL, "fifo"), PF_EINVALID);
	cr_assert(strstr(pf_error_last(), "not a regular file"), "%s", pf_error_last());
	close(dfd);
	pf_fs_remove_tree(root);
	free(fifo);
	free(in);
	free(root);
}

Test(util_safefs, atomic_writes_replace_a_planted_link_and_never_write_through_it)
{
	char *root = tree(), *in = pf_fs_join(root, "in"), *target = pf_fs_join(root, "in/record");
	char *secret = pf_fs_join(root, "outside/secret"), name1[PF_SAFEFS_TEMP_NAME], name2[PF_SAFEFS_TEMP_NAME];
	int dfd = open(in, O_RDONLY | O_DIRECTORY), a, b;
	pf_buf buf;
	struct stat st;
	cr_assert_eq(symlink(secret, target), 0);
	cr_assert_eq(pf_safefs_write_atomic(dfd, "record", "new\n", 4, "record"), 0, "%s", pf_error_last());
	cr_assert_eq(lstat(target, &st), 0);
	cr_assert(S_ISREG(st.st_mode), "the link itself was replaced");
	pf_buf_init(&buf, 64);
	cr_assert_eq(pf_fs_read_file(&buf, secret, 64), 0);
	cr_assert_str_eq(pf_buf_cstr(&buf), "secret\n");
	pf_buf_dispose(&buf);
	a = pf_safefs_temp(name1, dfd, "x");
	b = pf_safefs_temp(name2, dfd, "x");
	cr_assert(a >= 0 && b >= 0);
	cr_assert_str_neq(name1, name2);
	cr_assert(strstr(name1, ".pteflow-"), "snapshots skip it: %s", name1);
	close(a);
	close(b);
	close(dfd);
	pf_fs_remove_tree(root);
	free(secret);
	free(target);
	free(in);
	free(root);
}
