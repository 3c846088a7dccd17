/*
 * `run --sign-key` with an ECDSA P-256 key: model.sig beside the manifest,
 * an OpenSSF model signature over the run's artifacts that
 * `model_signing verify key --signature model.sig --public_key PUB DIR`
 * accepts for the output folder as it is. Its resources are the artifacts
 * (digests the run just verified); its ignore_paths name everything else in
 * the folder (the manifest, SHA256SUMS, the provenance written after it,
 * logs/, files the steps left that are not artifacts), the signature itself,
 * report.html (which `pteflow report` writes there later) and the git paths
 * model_signing always lists. Workload: once per run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/attest.h"
#include "manifest/manifest.h"
#include "modelsig/internal.h"
#include "modelsig/modelsig.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/text.h"

typedef struct artifacts {
	pf_modelsig_file *files;
	size_t n;
} artifacts;

static bool is_artifact(const artifacts *a, const char *rel)
{
	for (size_t i = 0; i < a->n; i++)
		if (!strcmp(a->files[i].name, rel))
			return true;
	return false;
}

/* Go into a folder only when an artifact lies below it: any other folder is ignored whole. */
static bool holds_artifact(const char *rel, void *ctx)
{
	const artifacts *a = ctx;
	size_t n = strlen(rel);
	for (size_t i = 0; i < a->n; i++)
		if (!strncmp(a->files[i].name, rel, n) && a->files[i].name[n] == '/')
			return true;
	return false;
}

static int str_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Everything in out_dir that is not an artifact, plus the names pteflow and model_signing always ignore. */
/* `path` relative to `dir` when it lies below it (both made absolute, not resolved), else NULL; heap. */
static char *below(const char *dir, const char *path)
{
	char *d = pf_fs_absolute(dir), *p = pf_fs_absolute(path), *rel = NULL;
	size_t n = strlen(d);
	while (n > 1 && d[n - 1] == '/')
		n--;
	if (!strncmp(p, d, n) && p[n] == '/' && p[n + 1])
		rel = ms_clean_path(p + n + 1);
	free(d);
	free(p);
	return rel;
}

static int ignore_list(char ***out, size_t *n_out, const char *out_dir, const char *manifest_name,
                       const char *written_later, const artifacts *a)
{
	/* pteflow's later files (report.html; README.md, the model card publish writes), what a Hub
	 * download into a folder leaves (.cache/huggingface), and model_signing's git paths */
	static const char *const always[] = {PF_MODELSIG_FILE_NAME, "SHA256SUMS", PF_ATTEST_FILE_NAME, "report.html",
	                                     "README.md", ".cache/huggingface", ".git", ".gitattributes", ".github",
	                                     ".gitignore"};
	ms_entry *e = NULL;
	size_t n = 0, k = 0, u = 0;
	char **list;
	int rc = ms_walk(&e, &n, out_dir, holds_artifact, (void *)a);
	if (rc < 0)
		return rc;
	list = pf_xcalloc(n + sizeof(always) / sizeof(always[0]) + 2, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		if (is_artifact(a, e[i].name) || (e[i].kind == MS_DIR && holds_artifact(e[i].name, (void *)a)))
			continue;
		if (e[i].kind == MS_LINK || e[i].kind == MS_OTHER)
			pf_log_warn(
			    "\"%s\" in \"%s\" is a %s: model_signing 1.1.1's verify refuses a folder holding one, "
			    "even an ignored one (remove it before checking model.sig with model_signing)",
			    e[i].name, out_dir, e[i].kind == MS_LINK ? "symbolic link" : "special file");
		list[k++] = pf_xstrdup(e[i].name);
	}
	for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
		if (!is_artifact(a, always[i]))
			list[k++] = pf_xstrdup(always[i]);
	{
		char *m = ms_clean_path(manifest_name), *later = written_later ? below(out_dir, written_later) : NULL;
		if (m && *m && !is_artifact(a, m))
			list[k++] = m;
		else
			free(m);
		if (later && *later && !is_artifact(a, later))
			list[k++] = later;
		else
			free(later);
	}
	qsort(list, k, sizeof(char *), str_cmp);
	for (size_t i = 0; i < k; i++) { /* unique */
		if (u && !strcmp(list[u - 1], list[i]))
			free(list[i]);
		else
			list[u++] = list[i];
	}
	ms_entries_free(e, n);
	*out = list;
	*n_out = u;
	return 0;
}

static char *base_name(const char *dir)
{
	char *abs = pf_fs_absolute(dir), *slash, *name;
	size_t len = strlen(abs);
	while (len > 1 && abs[len - 1] == '/')
		abs[--len] = '\0';
	slash = strrchr(abs, '/');
	name = pf_xstrdup(slash && slash[1] ? slash + 1 : abs);
	free(abs);
	return name;
}

/* An earlier run's model.sig (a regular file; anything else there was never pteflow's and stays). */
static int remove_stale(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	if (unlink(path) != 0 && errno != ENOENT)
		return pf_error_errno("cannot remove the earlier model signature \"%s\"", path);
	return 0;
}

/* A model.sig the pipeline made: an artifact, or a file a step of this run wrote. */
static bool pipelines_own(const pf_run_record *rec, const char *path, uint64_t started_unix_ns)
{
	struct stat st;
	for (size_t i = 0; i < rec->n_artifacts; i++) {
		char *clean = ms_clean_path(rec->artifacts[i].path);
		bool same = clean && !strcmp(clean, PF_MODELSIG_FILE_NAME);
		free(clean);
		if (same)
			return true;
	}
	if (lstat(path, &st) != 0)
		return false;
	return (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec >= started_unix_ns;
}

int pf_modelsig_write_run(const pf_run_record *rec, const char *out_dir, const char *manifest_name,
                          const char *written_later, const pf_attest_key *key, uint64_t started_unix_ns)
{
	char *path = pf_fs_join(out_dir, PF_MODELSIG_FILE_NAME), *statement = NULL, *bundle = NULL, *name = NULL;
	artifacts a = {0};
	char **ignore = NULL;
	size_t n_ignore = 0;
	int rc = 0;
	if (pipelines_own(rec, path, started_unix_ns)) {
		if (rec->passed && key && pf_attest_key_type(key) != PF_KEY_ED25519)
			pf_log_warn("\"%s\" was made by the pipeline: pteflow leaves it as it is and writes no OpenSSF "
			            "model signature (rename the pipeline's file to get one)",
			            path);
		goto done;
	}
	if (!rec->passed || !key || pf_attest_key_type(key) == PF_KEY_ED25519) {
		/* nothing to sign; an earlier run's signature would describe other bytes */
		if (rec->passed && key)
			pf_log_info("model.sig not written: OpenSSF model signing takes ECDSA keys, this key is %s "
			            "(make one with 'pteflow keygen KEY.pem --type ecdsa-p256')",
			            pf_attest_key_type_name(pf_attest_key_type(key)));
		rc = remove_stale(path);
		goto done;
	}
	a.files = pf_xcalloc(rec->n_artifacts + 1, sizeof(*a.files));
	for (size_t i = 0; i < rec->n_artifacts; i++) {
		const pf_artifact_result *r = &rec->artifacts[i];
		char *clean;
		if (!r->exists || !pf_is_sha256_hex(r->sha256) || !(clean = ms_clean_path(r->path)))
			continue;
		if (!*clean || is_artifact(&a, clean)) {
			free(clean);
			continue;
		}
		a.files[a.n].name = clean;
		memcpy(a.files[a.n].sha256, r->sha256, 65);
		a.n++;
	}
	if ((rc = ignore_list(&ignore, &n_ignore, out_dir, manifest_name, written_later, &a)) < 0)
		goto done;
	name = base_name(out_dir);
	statement = pf_modelsig_statement(name, a.files, a.n, (const char *const *)ignore, n_ignore);
	if ((rc = pf_modelsig_bundle(&bundle, statement, key)) < 0)
		goto done;
	if ((rc = pf_fs_write_atomic(path, bundle, strlen(bundle))) < 0) {
		(void)unlink(path); /* an earlier run's file must not pass for this run's */
		goto done;
	}
	pf_log_info("model signature: %s (OpenSSF model signing, %zu file(s); check it with 'pteflow verify "
	            "--model-sig' or 'model_signing verify key')",
	            path, a.n);
done:
	for (size_t i = 0; i < a.n; i++)
		free(a.files[i].name);
	free(a.files);
	pf_strv_free(ignore, n_ignore);
	free(statement);
	free(bundle);
	free(name);
	free(path);
	return rc;
}
