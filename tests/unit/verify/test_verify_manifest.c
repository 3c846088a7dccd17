/*
 * Round trip: gates over real files -> manifest.json + SHA256SUMS (the real
 * writer) -> `pteflow verify`'s core over the folder. An untouched folder is
 * OK for every file; a flipped byte and a swap are caught. (The full tamper
 * list runs against the binary in tests/cli/test_verify.py.)
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "helpers.h"
#include "manifest/manifest.h"
#include "pipeline/pipeline.h"
#include "util/error.h"
#include "verify/verify.h"

static char s_forward[] = "forward", s_xnn[] = "XnnpackBackend", s_w[] = "weights.ptd";
static char *fwd[] = {s_forward};
static char *xnn[] = {s_xnn};
static char *data[] = {s_w};
static char s_model[] = "model.pte", s_sep[] = "sep.pte";

/* A release folder with three real artifacts and its manifest. */
static char *make_release(void)
{
	char *dir = tv_tmpdir();
	pf_artifact a[3];
	pf_plan plan;
	pf_run_record rec;
	memset(a, 0, sizeof(a));
	memset(&plan, 0, sizeof(plan));
	memset(&rec, 0, sizeof(rec));
	tv_copy(dir, "xnnpack-linear.pte", "model.pte", 0);
	tv_copy(dir, "separated-linear.pte", "sep.pte", 0);
	tv_copy(dir, "separated-linear.ptd", "weights.ptd", 0);
	a[0] = (pf_artifact){.path = s_model, .kind = PF_ARTIFACT_PTE, .max_size = 1500000000ull,
			     .methods = fwd, .n_methods = 1, .backends = xnn, .n_backends = 1};
	a[1] = (pf_artifact){.path = s_sep, .kind = PF_ARTIFACT_PTE, .data = data, .n_data = 1};
	a[2] = (pf_artifact){.path = s_w, .kind = PF_ARTIFACT_PTD, .min_size = 16};
	plan.artifacts = a;
	plan.n_artifacts = 3;
	cr_assert_eq(pf_verify_artifacts(&rec.artifacts, &rec.n_artifacts, &plan, dir), 0, "%s", pf_error_last());
	rec.pipeline_name = pf_xstrdup("roundtrip");
	rec.passed = true;
	for (size_t i = 0; i < rec.n_artifacts; i++)
		cr_assert(rec.artifacts[i].passed, "artifact %zu failed its gates", i);
	cr_assert_eq(pf_manifest_write(&rec, dir, "manifest.json"), 0, "%s", pf_error_last());
	pf_run_record_dispose(&rec);
	return dir;
}

static const pf_verify_line *line_of(const pf_verify_report *r, const char *path)
{
	for (size_t i = 0; i < r->n_lines; i++)
		if (!strcmp(r->lines[i].path, path))
			return &r->lines[i];
	cr_assert_fail("no line for %s", path);
	return NULL;
}

Test(verify_manifest, untouched_release_is_ok)
{
	char *dir = make_release(), *mpath = pf_fs_join(dir, "manifest.json"), *text;
	pf_verify_report r;
	cr_assert_eq(pf_verify_manifest(&r, mpath, NULL), 0, "%s", pf_error_last());
	cr_assert(r.ok);
	cr_assert_eq(r.n_lines, 3);
	cr_assert_eq(r.counts[PF_VERIFY_OK], 3);
	text = pf_verify_report_text(&r);
	cr_assert(strstr(text, "OK  model.pte\n"), "%s", text);
	cr_assert(strstr(text, "verified: all 3 files match the manifest"), "%s", text);
	free(text);
	pf_verify_report_dispose(&r);
	free(mpath);
	tv_rmtree(dir);
}

Test(verify_manifest, sha256sums_is_readable_by_sha256sum)
{
	char *dir = make_release(), *cmd = pf_xasprintf("cd '%s' && sha256sum -c --quiet SHA256SUMS", dir);
	pf_buf b;
	int status;
	pf_buf_init(&b, 1u << 20);
	char *sums = pf_fs_join(dir, "SHA256SUMS");
	cr_assert_eq(pf_fs_read_file(&b, sums, 1u << 20), 0);
	cr_assert(strstr(pf_buf_cstr(&b), "  model.pte\n"));
	cr_assert(strstr(pf_buf_cstr(&b), "  weights.ptd\n"));
	status = system(cmd);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		cr_skip_test("sha256sum is not installed: SHA256SUMS not checked with it");
	cr_assert_eq(status, 0, "sha256sum -c rejected SHA256SUMS");
	pf_buf_dispose(&b);
	free(sums);
	free(cmd);
	tv_rmtree(dir);
}

Test(verify_manifest, flipped_byte_and_swap_are_caught)
{
	char *dir = make_release(), *mpath = pf_fs_join(dir, "manifest.json");
	char *p = pf_fs_join(dir, "model.pte"), *q = pf_fs_join(dir, "sep.pte"), *t = pf_fs_join(dir, "tmp");
	pf_verify_report r;
	FILE *f = fopen(p, "r+b");
	int c;
	cr_assert_not_null(f);
	fseek(f, 100, SEEK_SET);
	c = fgetc(f);
	fseek(f, 100, SEEK_SET);
	fputc(c ^ 1, f);
	fclose(f);
	cr_assert_eq(pf_verify_manifest(&r, mpath, NULL), 0);
	cr_assert_not(r.ok);
	cr_assert_eq(line_of(&r, "model.pte")->status, PF_VERIFY_MISMATCH);
	cr_assert(strstr(line_of(&r, "model.pte")->detail, "expected sha256 "));
	cr_assert_eq(line_of(&r, "sep.pte")->status, PF_VERIFY_OK);
	pf_verify_report_dispose(&r);
	/* undo the flip, then swap the two programs */
	f = fopen(p, "r+b");
	fseek(f, 100, SEEK_SET);
	fputc(c, f);
	fclose(f);
	cr_assert_eq(rename(p, t), 0);
	cr_assert_eq(rename(q, p), 0);
	cr_assert_eq(rename(t, q), 0);
	cr_assert_eq(pf_verify_manifest(&r, mpath, NULL), 0);
	cr_assert_eq(line_of(&r, "model.pte")->status, PF_VERIFY_MISMATCH);
	cr_assert_eq(line_of(&r, "sep.pte")->status, PF_VERIFY_MISMATCH);
	cr_assert(strstr(line_of(&r, "model.pte")->detail, "recorded for \"sep.pte\": files swapped"),
		  "%s", line_of(&r, "model.pte")->detail);
	cr_assert_eq(r.counts[PF_VERIFY_MISMATCH], 2);
	pf_verify_report_dispose(&r);
	free(p);
	free(q);
	free(t);
	free(mpath);
	tv_rmtree(dir);
}

Test(verify_manifest, invalid_and_unreadable_manifests)
{
	char *dir = tv_tmpdir(), *mpath = pf_fs_join(dir, "manifest.json"), *none = pf_fs_join(dir, "none.json");
	pf_verify_report r;
	tv_write(dir, "manifest.json", "{\"schema_version\": 1,", 21);
	cr_assert_eq(pf_verify_manifest(&r, mpath, NULL), PF_EINVALID);
	cr_assert(strstr(pf_error_last(), "not valid JSON"), "%s", pf_error_last());
	pf_verify_report_dispose(&r);
	cr_assert_eq(pf_verify_manifest(&r, none, NULL), PF_ENOTFOUND);
	pf_verify_report_dispose(&r);
	free(mpath);
	free(none);
	tv_rmtree(dir);
}

/*
 * With PF_VERIFY_SAMPLE_DIR set (tests/cli/test_verify.py sets it), leave a
 * release written by the real writer there, for the binary and the schema.
 */
Test(verify_manifest, write_sample)
{
	const char *out = getenv("PF_VERIFY_SAMPLE_DIR");
	char *dir, *cmd;
	if (!out || !out[0])
		cr_skip_test("PF_VERIFY_SAMPLE_DIR is not set: nothing to write (used by tests/cli/test_verify.py)");
	dir = make_release();
	cmd = pf_xasprintf("cp -p '%s'/* '%s'/", dir, out);
	cr_assert_eq(system(cmd), 0, "cannot copy the release to %s", out);
	free(cmd);
	tv_rmtree(dir);
}
