/*
 * `pteflow publish`: the checks of `verify` first, then one commit of the
 * release to a Hub repo (src/hub/hub_publish.c). The files are the
 * manifest's artifacts (paths relative to its folder, as in the release),
 * the manifest, SHA256SUMS, the provenance and model.sig when present, and a
 * model card written to a private temporary folder. Workload: once per
 * release.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "modelsig/modelsig.h"
#include "publish/publish.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "verify/verify.h"

#define MANIFEST_MAX (64u * 1024u * 1024u)

void pf_publish_result_dispose(pf_publish_result *r)
{
	if (!r)
		return;
	pf_hub_publish_result_dispose(&r->hub);
	pf_strv_free(r->paths, 2 * r->n_files);
	free(r->files);
	free(r->repo_id);
	memset(r, 0, sizeof(*r));
}

static void add_file(pf_publish_result *r, size_t cap, const char *in_repo, char *local)
{
	if (r->n_files >= cap) {
		free(local);
		return;
	}
	r->paths[2 * r->n_files] = pf_xstrdup(in_repo);
	r->paths[2 * r->n_files + 1] = local;
	r->n_files++;
}

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* Every check `verify` makes (and the provenance's when asked); PF_EFAILED naming the first failure. */
static int check_release(pf_verify_report *rep, const pf_publish_options *o)
{
	int rc = pf_verify_manifest(rep, o->manifest_path, o->dir);
	if (rc < 0)
		return rc;
	if (!rep->ok) {
		for (size_t i = 0; i < rep->n_lines; i++)
			if (rep->lines[i].status != PF_VERIFY_OK)
				return pf_error_code(PF_EFAILED,
				                     "the release does not verify (\"%s\": %s): nothing was "
				                     "uploaded; run 'pteflow verify' to see every failure",
				                     rep->lines[i].path,
				                     rep->lines[i].detail ? rep->lines[i].detail : "failed");
		return pf_error_code(PF_EFAILED,
		                     "the release does not verify (a KPI gate failed): nothing was uploaded");
	}
	if (o->provenance) {
		pf_attest_report pr;
		pf_attest_verify_options vo = {.provenance_path = o->provenance,
		                               .manifest_path = o->manifest_path,
		                               .dir = o->dir,
		                               .keys = o->keys,
		                               .n_keys = o->n_keys};
		memset(&pr, 0, sizeof(pr));
		if ((rc = pf_attest_verify(&pr, &vo)) < 0)
			return rc;
		for (size_t i = 0; i < pr.n_checks && rc == 0; i++)
			if (pr.checks[i].status == PF_ATTEST_FAILED)
				rc = pf_error_code(PF_EFAILED,
				                   "provenance check \"%s\" failed (%s): nothing was uploaded",
				                   pr.checks[i].name, pr.checks[i].detail);
		pf_attest_report_dispose(&pr);
	}
	return rc;
}

int pf_publish(pf_publish_result *out, const pf_publish_options *o)
{
	pf_verify_report rep;
	pf_buf manifest;
	pf_hub_publish_options ho;
	char *dir = NULL, *tmp = NULL, *card = NULL, *card_path = NULL, *message = NULL;
	size_t cap;
	int rc;
	memset(out, 0, sizeof(*out));
	memset(&rep, 0, sizeof(rep));
	pf_buf_init(&manifest, MANIFEST_MAX);
	if (!o->to || strncmp(o->to, "hf:", 3) != 0 || !strchr(o->to + 3, '/')) {
		rc = pf_error_code(PF_EINVALID, "--to \"%s\" is not a Hub repo: write hf:OWNER/NAME",
		                   o->to ? o->to : "");
		goto done;
	}
	out->repo_id = pf_xstrdup(o->to + 3);
	if ((rc = check_release(&rep, o)) < 0)
		goto done;
	if ((rc = pf_fs_read_file(&manifest, o->manifest_path, MANIFEST_MAX)) < 0 ||
	    (rc = pf_publish_card(&card, pf_buf_cstr(&manifest), manifest.len)) < 0)
		goto done;
	{
		const char *t = getenv("TMPDIR");
		tmp = pf_xasprintf("%s/pteflow-publish-XXXXXX", t && *t ? t : "/tmp");
		if (!mkdtemp(tmp)) {
			rc = pf_error_errno("cannot create a temporary folder for the model card");
			free(tmp);
			tmp = NULL;
			goto done;
		}
		card_path = pf_fs_join(tmp, "README.md");
		if ((rc = pf_fs_write_atomic(card_path, card, strlen(card))) < 0)
			goto done;
	}
	dir = o->dir ? pf_xstrdup(o->dir) : pf_fs_dirname(o->manifest_path);
	cap = rep.n_lines + 6;
	out->paths = pf_xcalloc(2 * cap + 1, sizeof(char *));
	for (size_t i = 0; i < rep.n_lines; i++)
		add_file(out, cap, rep.lines[i].path, pf_fs_join(dir, rep.lines[i].path));
	add_file(out, cap, base(o->manifest_path), pf_xstrdup(o->manifest_path));
	{
		const char *extra[] = {"SHA256SUMS", PF_MODELSIG_FILE_NAME};
		for (size_t i = 0; i < 2; i++) {
			char *p = pf_fs_join(dir, extra[i]);
			if (pf_fs_exists(p))
				add_file(out, cap, extra[i], p);
			else
				free(p);
		}
	}
	if (o->provenance) {
		add_file(out, cap, base(o->provenance), pf_xstrdup(o->provenance));
	} else {
		char *p = pf_fs_join(dir, PF_ATTEST_FILE_NAME);
		if (pf_fs_exists(p))
			add_file(out, cap, PF_ATTEST_FILE_NAME, p);
		else
			free(p);
	}
	add_file(out, cap, "README.md", pf_xstrdup(card_path));
	out->files = pf_xcalloc(out->n_files + 1, sizeof(*out->files));
	for (size_t i = 0; i < out->n_files; i++) {
		out->files[i].path_in_repo = out->paths[2 * i];
		out->files[i].local_path = out->paths[2 * i + 1];
		/* the artifacts were just hashed by the checks: their digests are not computed again */
		if (i < rep.n_lines && rep.lines[i].actual_sha256[0])
			memcpy(out->files[i].sha256, rep.lines[i].actual_sha256, 65);
	}
	message =
	    o->message ? pf_xstrdup(o->message) : pf_xstrdup("Publish a verified ExecuTorch release with pteflow");
	ho = (pf_hub_publish_options){.repo_id = out->repo_id,
	                              .revision = o->revision,
	                              .create = o->create,
	                              .private_repo = o->private_repo,
	                              .message = message,
	                              .files = out->files,
	                              .n_files = out->n_files};
	pf_log_info("the release verifies: publishing %zu file(s) to %s", out->n_files, out->repo_id);
	rc = pf_hub_publish(&out->hub, &ho);
done:
	if (tmp)
		(void)pf_fs_remove_tree(tmp);
	if (rc < 0)
		pf_publish_result_dispose(out);
	pf_verify_report_dispose(&rep);
	pf_buf_dispose(&manifest);
	free(dir);
	free(tmp);
	free(card);
	free(card_path);
	free(message);
	return rc;
}
