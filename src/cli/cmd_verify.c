/*
 * `pteflow verify MANIFEST [--dir DIR] [--json] [--provenance FILE ...]
 * [--model-sig FILE]`, and `pteflow verify [DIR] --model-sig FILE --key PUB`:
 * release verification. Parses options and prints the reports that
 * src/verify/ (the files), src/attest/ (the provenance) and src/modelsig/
 * (an OpenSSF model signature) build; one line per file or check and a
 * verdict on stdout, errors on stderr.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"
#include "cli/cli.h"
#include "modelsig/modelsig.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "verify/verify.h"

const char pf_usage_verify[] =
	"usage: pteflow verify MANIFEST [--dir DIR] [--json] [--provenance FILE [--key PUB.pem]...\n"
	"                      [--expect-repo OWNER/NAME] [--expect-ref REF]] [--model-sig FILE --key PUB.pem]\n"
	"       pteflow verify [MODEL_DIR] --model-sig FILE --key PUB.pem... [--json]\n\n"
	"Re-check the artifacts a manifest.json records: each file is re-hashed (SHA-256)\n"
	"and its size compared; .pte, .ptd and .bpte structure and the recorded gates\n"
	"(max_size, min_size, methods, backends, external data) are checked again.\n"
	"With --provenance, also check the provenance.intoto.jsonl written beside it: the\n"
	"DSSE signature (with --key), every subject's sha256 against the file on disk\n"
	"(each file read once; none read when the signature failed), that the manifest\n"
	"is the one it records, and the source it names. A FIFO or device is never read.\n\n"
	"One line per file on stdout, then a verdict:\n"
	"  OK  model.pte                                       every check holds\n"
	"  MISMATCH  model.pte: expected sha256 ab12.. found 9f00..   size or bytes differ\n"
	"  MISSING  model.pte                                  not in the folder\n"
	"  STRUCTURE  model.pte: <what is broken>              bytes match, a check fails\n"
	"  UNSAFE  ../x: path escapes the folder               never opened\n"
	"  UNSAFE  x.pte: is ... a symbolic link               never opened (nor a file in a linked folder)\n"

	"Then one line per runtime KPI gate the run recorded (a step with kpi:):\n"
	"  OK  KPI ttft_max: expected <= 350 ms, measured 212.4 ms\n"
	"  FAILED  KPI decode_min_tps: expected >= 12 tokens/s, measured 9.8 tokens/s: failed at run time\n"

	"Then, with --provenance, one line per check and a verdict:\n"
	"  OK  provenance signature: 1 of 1 signature(s) verify with the given key\n"
	"  FAILED  provenance subjects: \"model.pte\": the provenance records sha256 ..\n"
	"  UNSIGNED  provenance signature: not checked (no --key): never counts as verified\n"
	"The checks: envelope, signature, statement, subjects, manifest, source-repo, source-ref.\n"
	"With --model-sig, check an OpenSSF model signature (model.sig, from 'run --sign-key'\n"
	"or 'model_signing sign key') over the manifest's folder, or MODEL_DIR (default: the\n"
	"signature's folder): the folder must hold exactly the signed files (links never followed).\n"
	"  FAILED  model-sig files: extra file \"x.bin\"; changed file \"model.pte\"\n\n"
	"arguments:\n"
	"  MANIFEST       the manifest.json written by 'pteflow run'\n"
	"  MODEL_DIR      with --model-sig and no manifest: the model's folder\n\n"
	"options:\n"
	"  --dir DIR      look the artifacts up in DIR (default: the manifest's folder)\n"
	"  --json         print the report as a JSON object instead (with a \"provenance\" object)\n"
	"  --provenance FILE   the provenance.intoto.jsonl to check (a DSSE envelope)\n"
	"  --key PUB.pem  a trusted public key (from 'pteflow keygen'); repeat for several.\n"
	"                 Every signature must verify with one of them. Without --key the\n"
	"                 signature is not checked and the output says so\n"
	"  --expect-repo OWNER/NAME   the repository the provenance must name as its source\n"
	"  --expect-ref REF           the git ref it must name (refs/tags/v1, or v1, main)\n"
	"  --model-sig FILE  an OpenSSF model signature to check with --key (an ECDSA key)\n"
	"  -h, --help     show this help\n\n"
	"exit codes:\n"
	"  0  every file is OK (and every provenance check holds)\n"
	"  1  at least one file is MISMATCH, MISSING, STRUCTURE or UNSAFE, a KPI gate failed, or a provenance\n"
	"     check failed (a tampered, truncated or wrongly signed provenance)\n"
	"  2  bad usage, or the manifest or the provenance is not valid (not JSON, wrong\n"
	"     shape), or a key file is not a public key, or not a model signature pteflow checks\n"
	"  3  the manifest, the provenance, a key or the folder cannot be read\n\n"
	"example:\n"
	"  pteflow verify out/manifest.json && sha256sum -c SHA256SUMS\n"
	"  pteflow verify manifest.json --provenance provenance.intoto.jsonl --key release.pub.pem \\\n"
	"      --expect-repo org/models --expect-ref v1.2.0\n"
	"  pteflow verify ./my-model --model-sig my-model.sig --key key.pub.pem\n";

typedef struct verify_args {
	const char *manifest, *dir, *provenance, *expect_repo, *expect_ref, *model_sig;
	const char **keys;
	size_t n_keys;
	bool json;
} verify_args;

static int parse_args(verify_args *a, int argc, char **argv)
{
	static const char *const valued[] = {"--dir", "--provenance", "--key", "--expect-repo", "--expect-ref",
					     "--model-sig"};
	for (int i = 1; i < argc; i++) {
		const char *v = NULL;
		bool missing = false;
		size_t k;
		for (k = 0; k < sizeof(valued) / sizeof(valued[0]); k++)
			if ((v = pf_cli_option_value(argc, argv, &i, valued[k], &missing)) || missing)
				break;
		if (missing)
			return pf_cli_usage_error("verify", "%s needs a value", valued[k]);
		if (v) {
			if (k == 0)
				a->dir = v;
			else if (k == 1)
				a->provenance = v;
			else if (k == 2)
				a->keys[a->n_keys++] = v;
			else if (k == 3)
				a->expect_repo = v;
			else if (k == 4)
				a->expect_ref = v;
			else
				a->model_sig = v;
		} else if (!strcmp(argv[i], "--json")) {
			a->json = true;
		} else if (!strcmp(argv[i], "--")) {
			if (i + 1 < argc && !a->manifest)
				a->manifest = argv[++i];
			if (i + 1 < argc)
				return pf_cli_usage_error("verify", "unexpected argument \"%s\"", argv[i + 1]);
			break;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return pf_cli_usage_error("verify", "unknown option \"%s\"", argv[i]);
		} else if (!a->manifest) {
			a->manifest = argv[i];
		} else {
			return pf_cli_usage_error("verify", "unexpected argument \"%s\": give one manifest", argv[i]);
		}
	}
	if (!a->manifest && !a->model_sig)
		return pf_cli_usage_error("verify", "give the manifest.json to verify");
	if (a->model_sig && !a->n_keys)
		return pf_cli_usage_error("verify", "--model-sig needs --key PUB.pem: the public key the model was "
						    "signed with");
	if (!a->provenance && !a->model_sig && (a->n_keys || a->expect_repo || a->expect_ref))
		return pf_cli_usage_error("verify", "--key, --expect-repo and --expect-ref check a provenance: "
						    "add --provenance FILE");
	if (!a->provenance && (a->expect_repo || a->expect_ref))
		return pf_cli_usage_error("verify", "--expect-repo and --expect-ref check a provenance: "
						    "add --provenance FILE");
	return 0;
}

/* The manifest report's JSON (or {} when there is none) with the other reports added, and "ok" for all. */
static char *combined_json(const char *manifest_json, const char *prov_json, const char *msig_json, bool ok)
{
	cJSON *root = cJSON_ParseWithLength(manifest_json, strlen(manifest_json));
	cJSON *prov = prov_json ? cJSON_ParseWithLength(prov_json, strlen(prov_json)) : NULL;
	cJSON *msig = msig_json ? cJSON_ParseWithLength(msig_json, strlen(msig_json)) : NULL;
	char *text, *out;
	if (!root || (prov_json && !prov) || (msig_json && !msig)) {
		cJSON_Delete(root);
		cJSON_Delete(prov);
		cJSON_Delete(msig);
		return pf_xstrdup(manifest_json);
	}
	if (cJSON_GetObjectItemCaseSensitive(root, "ok"))
		cJSON_ReplaceItemInObjectCaseSensitive(root, "ok", cJSON_CreateBool(ok));
	else
		cJSON_AddBoolToObject(root, "ok", ok);
	if (prov)
		cJSON_AddItemToObject(root, "provenance", prov);
	if (msig)
		cJSON_AddItemToObject(root, "model_sig", msig);
	text = cJSON_Print(root);
	out = pf_xasprintf("%s\n", text ? text : "{}");
	cJSON_free(text);
	cJSON_Delete(root);
	return out;
}

/* The model signature check; exit code on an error (2: not a model signature, 3: unreadable), else 0. */
static int check_model_sig(pf_modelsig_report *out, const verify_args *a, pf_attest_key *const *keys,
			   const char *model_dir)
{
	int rc = pf_modelsig_verify(out, a->model_sig, model_dir, keys, a->n_keys);
	if (rc < 0) {
		pf_log_error("\"%s\": %s", a->model_sig, pf_error_last());
		return rc == PF_EINVALID ? PF_EXIT_USAGE : PF_EXIT_ENV;
	}
	if (!out->signature_ok)
		pf_log_error("model signature check \"signature\" failed: %s", out->signature_detail);
	else if (!out->files_ok)
		pf_log_error("model signature check \"files\" failed: %s", out->files_detail);
	return 0;
}

/* `verify [MODEL_DIR] --model-sig FILE --key PUB`: a model folder without a pteflow manifest. */
static int verify_model_only(const verify_args *a, pf_attest_key *const *keys)
{
	pf_modelsig_report r;
	char *dir = a->manifest ? pf_xstrdup(a->manifest) : pf_fs_dirname(a->model_sig), *text = NULL, *m = NULL;
	int code;
	if (a->provenance) {
		free(dir);
		return pf_cli_usage_error("verify", "--provenance checks a release: give its manifest.json, not a folder");
	}
	if ((code = check_model_sig(&r, a, keys, dir)) != 0)
		goto done;
	if (a->json) {
		m = pf_modelsig_report_json(&r, a->model_sig);
		text = combined_json("{}", NULL, m, r.ok);
	} else {
		text = pf_modelsig_report_text(&r);
	}
	fputs(text, stdout);
	code = pf_cli_finish_stdout(r.ok ? PF_EXIT_OK : PF_EXIT_FAILED);
	pf_modelsig_report_dispose(&r);
done:
	free(dir);
	free(text);
	free(m);
	return code;
}

/* Load the trusted keys; exit code on failure (2: not a public key or absent, 3: unreadable). */
static int load_keys(pf_attest_key **keys, const verify_args *a)
{
	for (size_t i = 0; i < a->n_keys; i++) {
		int rc = pf_attest_key_load_public(&keys[i], a->keys[i]);
		if (rc < 0) {
			pf_log_error("%s", pf_error_last());
			return rc == PF_EENV ? PF_EXIT_ENV : PF_EXIT_USAGE;
		}
	}
	return 0;
}

int cmd_verify(int argc, char **argv)
{
	verify_args a;
	pf_verify_report report;
	pf_attest_report prov;
	pf_modelsig_report msig;
	pf_attest_key **keys = NULL;
	const char **known_paths = NULL, **known_sha256 = NULL;
	char *text = NULL, *prov_text = NULL, *msig_text = NULL, *msig_dir = NULL;
	bool ok;
	int rc, code;
	memset(&a, 0, sizeof(a));
	memset(&report, 0, sizeof(report));
	memset(&prov, 0, sizeof(prov));
	memset(&msig, 0, sizeof(msig));
	if (pf_cli_wants_help(argc, argv))
		return pf_cli_print_help("verify");
	a.keys = pf_xcalloc((size_t)argc + 1, sizeof(char *));
	keys = pf_xcalloc((size_t)argc + 1, sizeof(*keys));
	if ((code = parse_args(&a, argc, argv)) != 0)
		goto done;
	if ((code = load_keys(keys, &a)) != 0)
		goto done;
	if (a.model_sig && (!a.manifest || pf_fs_is_dir(a.manifest))) {
		code = verify_model_only(&a, keys);
		goto done;
	}
	rc = pf_verify_manifest(&report, a.manifest, a.dir);
	if (rc < 0) {
		pf_log_error("\"%s\": %s", a.manifest, pf_error_last());
		code = rc == PF_EINVALID ? PF_EXIT_USAGE : PF_EXIT_ENV;
		goto done;
	}
	ok = report.ok;
	if (a.provenance) {
		pf_attest_verify_options o = {.provenance_path = a.provenance, .manifest_path = a.manifest, .dir = a.dir,
					      .keys = keys, .n_keys = a.n_keys, .expect_repo = a.expect_repo,
					      .expect_ref = a.expect_ref, .n_known = report.n_lines};
		/* the artifacts were just hashed: the subjects reuse those digests instead of reading gigabytes again */
		known_paths = pf_xcalloc(report.n_lines + 1, sizeof(char *));
		known_sha256 = pf_xcalloc(report.n_lines + 1, sizeof(char *));
		for (size_t i = 0; i < report.n_lines; i++) {
			known_paths[i] = report.lines[i].path;
			known_sha256[i] = report.lines[i].actual_sha256[0] ? report.lines[i].actual_sha256 : NULL;
		}
		o.known_paths = known_paths;
		o.known_sha256 = known_sha256;
		rc = pf_attest_verify(&prov, &o);
		if (rc < 0) {
			pf_log_error("\"%s\": %s", a.provenance, pf_error_last());
			code = rc == PF_EINVALID ? PF_EXIT_USAGE : PF_EXIT_ENV;
			goto done;
		}
		ok = ok && prov.ok;
		for (size_t i = 0; i < prov.n_checks; i++)
			if (prov.checks[i].status == PF_ATTEST_FAILED)
				pf_log_error("provenance check \"%s\" failed: %s", prov.checks[i].name, prov.checks[i].detail);
			else if (prov.checks[i].status == PF_ATTEST_UNSIGNED)
				pf_log_warn("provenance signature NOT checked: pass --key PUB.pem to check who made it");
	}
	if (a.model_sig) {
		msig_dir = a.dir ? pf_xstrdup(a.dir) : pf_fs_dirname(a.manifest);
		if ((code = check_model_sig(&msig, &a, keys, msig_dir)) != 0)
			goto done;
		ok = ok && msig.ok;
	}
	if (a.json) {
		char *m = pf_verify_report_json(&report, a.manifest);
		if (a.provenance || a.model_sig) {
			prov_text = a.provenance ? pf_attest_report_json(&prov, a.provenance) : NULL;
			msig_text = a.model_sig ? pf_modelsig_report_json(&msig, a.model_sig) : NULL;
			text = combined_json(m, prov_text, msig_text, ok);
			free(m);
		} else {
			text = m;
		}
	} else {
		char *m = pf_verify_report_text(&report);
		prov_text = a.provenance ? pf_attest_report_text(&prov) : NULL;
		msig_text = a.model_sig ? pf_modelsig_report_text(&msig) : NULL;
		text = pf_xasprintf("%s%s%s", m, prov_text ? prov_text : "", msig_text ? msig_text : "");
		free(m);
	}
	fputs(text, stdout);
	code = pf_cli_finish_stdout(ok ? PF_EXIT_OK : PF_EXIT_FAILED);
done:
	for (size_t i = 0; keys && i < a.n_keys; i++)
		pf_attest_key_free(keys[i]);
	free(keys);
	free(a.keys);
	free(known_paths);
	free(known_sha256);
	free(text);
	free(prov_text);
	free(msig_text);
	free(msig_dir);
	pf_modelsig_report_dispose(&msig);
	pf_attest_report_dispose(&prov);
	pf_verify_report_dispose(&report);
	return code;
}
