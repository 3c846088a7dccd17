/*
 * Unit tests of src/vcs: git provenance read with libgit2 from real
 * repositories that each test makes with the `git` command in a temporary
 * folder, with a temporary HOME and explicit identity so the host's git
 * configuration plays no part.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/mem.h"
#include "vcs/vcs.h"

static char *tmp_root;

static void setup(void)
{
	const char *base = getenv("TMPDIR");
	char *tmpl = pf_xasprintf("%s/pf-vcs-XXXXXX", base && *base ? base : "/tmp");
	cr_assert_not_null(mkdtemp(tmpl), "mkdtemp failed");
	tmp_root = tmpl;
	setenv("HOME", tmp_root, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	unsetenv("GIT_DIR");
	unsetenv("GIT_WORK_TREE");
	if (system("git --version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "skip: the `git` command is not installed\n");
		cr_skip_test("the `git` command is not installed: these tests build repositories with it");
	}
}

static void teardown(void)
{
	if (tmp_root)
		(void)pf_fs_remove_tree(tmp_root);
	free(tmp_root);
	tmp_root = NULL;
}

/* Run a git command in `dir` (relative to the temporary root); asserts success. */
static void git(const char *dir, const char *fmt, ...) PF_PRINTF(2, 3);
static void git(const char *dir, const char *fmt, ...)
{
	va_list ap;
	char args[1024];
	char *cmd;
	int rc;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	cmd = pf_xasprintf("cd '%s/%s' && git -c user.name=pteflow-test -c user.email=test@example.com "
			   "-c init.defaultBranch=main -c commit.gpgsign=false -c tag.gpgsign=false %s "
			   ">/dev/null 2>&1",
			   tmp_root, dir, args);
	rc = system(cmd);
	cr_assert_eq(rc, 0, "command failed: %s", cmd);
	free(cmd);
}

/* First line printed by a git command in `dir`. */
static char *git_out(const char *dir, const char *args)
{
	char line[256] = "";
	char *cmd = pf_xasprintf("cd '%s/%s' && git %s", tmp_root, dir, args);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_not_null(fgets(line, sizeof(line), p), "no output from %s", cmd);
	pclose(p);
	free(cmd);
	line[strcspn(line, "\n")] = '\0';
	return pf_xstrdup(line);
}

static char *path_in(const char *rel)
{
	return pf_fs_join(tmp_root, rel);
}

static void write_file(const char *rel, const char *text)
{
	char *p = path_in(rel);
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f, "cannot write %s", p);
	fputs(text, f);
	fclose(f);
	free(p);
}

/* A repository "repo" with one commit of pipeline.yaml. */
static void make_repo(void)
{
	char *p = path_in("repo");
	cr_assert_eq(pf_fs_mkdir_p(p), 0);
	free(p);
	git("repo", "init -q");
	write_file("repo/pipeline.yaml", "version: 1\n");
	git("repo", "add pipeline.yaml");
	git("repo", "commit -q -m first");
}

static pf_git_record describe(const char *rel)
{
	pf_git_record r;
	char *p = path_in(rel);
	int rc = pf_vcs_describe(&r, p);
	cr_assert_eq(rc, 0, "pf_vcs_describe failed: %s", pf_error_last());
	free(p);
	return r;
}

TestSuite(vcs, .init = setup, .fini = teardown);

Test(vcs, clean_repository_on_a_branch)
{
	pf_git_record r;
	char *head;
	make_repo();
	head = git_out("repo", "rev-parse HEAD");
	r = describe("repo/pipeline.yaml");
	cr_assert(r.present);
	cr_assert_not_null(r.commit);
	cr_assert_eq(strlen(r.commit), 40);
	cr_assert_str_eq(r.commit, head);
	cr_assert_str_eq(r.branch, "main");
	cr_assert_not(r.dirty);
	cr_assert_null(r.describe, "no tag exists, got %s", r.describe);
	/* No "origin": the work tree's folder name. */
	cr_assert_str_eq(r.repository, "repo");
	pf_vcs_record_dispose(&r);
	free(head);
}

Test(vcs, discovery_walks_up_from_a_subfolder)
{
	pf_git_record r;
	char *p;
	make_repo();
	p = path_in("repo/pipelines/deep");
	cr_assert_eq(pf_fs_mkdir_p(p), 0);
	free(p);
	write_file("repo/pipelines/deep/p.yaml", "version: 1\n");
	git("repo", "add pipelines");
	git("repo", "commit -q -m second");
	r = describe("repo/pipelines/deep/p.yaml");
	cr_assert(r.present);
	cr_assert_str_eq(r.repository, "repo");
	cr_assert_not(r.dirty);
	pf_vcs_record_dispose(&r);
}

Test(vcs, modified_tracked_file_is_dirty)
{
	pf_git_record r;
	make_repo();
	write_file("repo/pipeline.yaml", "version: 2\n");
	r = describe("repo");
	cr_assert(r.present);
	cr_assert(r.dirty);
	pf_vcs_record_dispose(&r);
}

Test(vcs, staged_new_file_is_dirty)
{
	pf_git_record r;
	make_repo();
	write_file("repo/new.txt", "x\n");
	git("repo", "add new.txt");
	r = describe("repo");
	cr_assert(r.dirty);
	pf_vcs_record_dispose(&r);
}

Test(vcs, deleted_tracked_file_is_dirty)
{
	pf_git_record r;
	char *p;
	make_repo();
	p = path_in("repo/pipeline.yaml");
	cr_assert_eq(unlink(p), 0);
	free(p);
	r = describe("repo");
	cr_assert(r.dirty);
	pf_vcs_record_dispose(&r);
}

Test(vcs, untracked_files_do_not_make_it_dirty)
{
	pf_git_record r;
	char *p;
	make_repo();
	p = path_in("repo/out/demo");
	cr_assert_eq(pf_fs_mkdir_p(p), 0);
	free(p);
	write_file("repo/out/demo/model.pte", "not tracked\n");
	write_file("repo/notes.txt", "not tracked either\n");
	r = describe("repo");
	cr_assert(r.present);
	cr_assert_not(r.dirty);
	pf_vcs_record_dispose(&r);
}

Test(vcs, detached_head_has_no_branch)
{
	pf_git_record r;
	char *head;
	make_repo();
	git("repo", "checkout -q --detach HEAD");
	head = git_out("repo", "rev-parse HEAD");
	r = describe("repo");
	cr_assert(r.present);
	cr_assert_null(r.branch, "detached HEAD reported branch %s", r.branch);
	cr_assert_str_eq(r.commit, head);
	pf_vcs_record_dispose(&r);
	free(head);
}

Test(vcs, describe_uses_tags)
{
	pf_git_record r;
	char *expected;
	make_repo();
	git("repo", "tag v1.0");
	r = describe("repo");
	cr_assert_str_eq(r.describe, "v1.0");
	pf_vcs_record_dispose(&r);

	write_file("repo/pipeline.yaml", "version: 1\nname: x\n");
	git("repo", "commit -q -am second");
	expected = git_out("repo", "describe --tags");
	r = describe("repo");
	cr_assert_str_eq(r.describe, expected);
	cr_assert(strncmp(r.describe, "v1.0-1-g", 8) == 0, "got %s", r.describe);
	pf_vcs_record_dispose(&r);
	free(expected);
}

Test(vcs, annotated_tag_is_described)
{
	pf_git_record r;
	make_repo();
	git("repo", "tag -a v2.0 -m release");
	r = describe("repo");
	cr_assert_str_eq(r.describe, "v2.0");
	pf_vcs_record_dispose(&r);
}

Test(vcs, unborn_head_without_commits)
{
	pf_git_record r;
	char *p = path_in("empty");
	cr_assert_eq(pf_fs_mkdir_p(p), 0);
	free(p);
	git("empty", "init -q");
	write_file("empty/pipeline.yaml", "version: 1\n");
	r = describe("empty/pipeline.yaml");
	cr_assert(r.present);
	cr_assert_null(r.commit);
	cr_assert_str_eq(r.branch, "main");
	cr_assert_null(r.describe);
	cr_assert_not(r.dirty, "an untracked file in an unborn repository is not a change");
	cr_assert_str_eq(r.repository, "empty");
	pf_vcs_record_dispose(&r);

	git("empty", "add pipeline.yaml");
	r = describe("empty");
	cr_assert_null(r.commit);
	cr_assert(r.dirty, "a staged file in an unborn repository is a change");
	pf_vcs_record_dispose(&r);
}

Test(vcs, no_repository_is_not_an_error)
{
	pf_git_record r;
	char *p = path_in("plain");
	cr_assert_eq(pf_fs_mkdir_p(p), 0);
	free(p);
	write_file("plain/pipeline.yaml", "version: 1\n");
	r = describe("plain/pipeline.yaml");
	cr_assert_not(r.present);
	cr_assert_null(r.commit);
	cr_assert_null(r.repository);
	pf_vcs_record_dispose(&r);
}

Test(vcs, origin_url_loses_its_credentials)
{
	pf_git_record r;
	make_repo();
	git("repo", "remote add origin https://alice:s3cr3t-pass@example.com/org/models.git");
	r = describe("repo");
	cr_assert_str_eq(r.repository, "https://example.com/org/models.git");
	cr_assert_null(strstr(r.repository, "s3cr3t"));
	pf_vcs_record_dispose(&r);

	git("repo", "remote set-url origin https://ghp_TOKENVALUE123@github.com/org/models");
	r = describe("repo");
	cr_assert_str_eq(r.repository, "https://github.com/org/models");
	pf_vcs_record_dispose(&r);

	git("repo", "remote set-url origin git@github.com:org/models.git");
	r = describe("repo");
	cr_assert_str_eq(r.repository, "git@github.com:org/models.git");
	pf_vcs_record_dispose(&r);
}

Test(vcs_url, strip_credentials_cases)
{
	static const char *cases[][2] = {
		{"https://u:p@h.example/x", "https://h.example/x"},
		{"https://tok@h.example", "https://h.example"},
		{"https://u:p@ss@h.example/x@y", "https://h.example/x@y"},
		{"ssh://git@h.example:22/x.git", "ssh://h.example:22/x.git"},
		{"https://h.example/a@b", "https://h.example/a@b"},
		{"git@h.example:a/b.git", "git@h.example:a/b.git"},
		{"/srv/git/repo.git", "/srv/git/repo.git"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = pf_vcs_strip_credentials(cases[i][0]);
		cr_expect_str_eq(s, cases[i][1], "%s", cases[i][0]);
		free(s);
	}
}
