/*
 * `pteflow publish MANIFEST --to hf:OWNER/NAME ...`: parses options, runs
 * src/publish/ (verify, then one commit through src/hub/) and prints the
 * commit URL, or with --json the commit id and each file's oid.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "publish/publish.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

const char pf_usage_publish[] =
    "usage: pteflow publish MANIFEST --to hf:OWNER/NAME [--revision BRANCH] [--create] [--private]\n"
    "                       [--message M] [--dir DIR] [--provenance FILE --key PUB.pem...] [--json]\n\n"
    "Verify a release as 'pteflow verify' does (and its provenance with --provenance/--key);\n"
    "upload nothing unless every check passes. Then commit to the Hugging Face Hub repo, in\n"
    "one commit on BRANCH made on the head read first (someone pushing meanwhile fails it,\n"
    "nothing half-committed): the artifacts, the manifest, SHA256SUMS, the provenance,\n"
    "model.sig and a generated model card README.md (library_name executorch, backends as\n"
    "tags, base_model, sizes, gates, KPI figures). Large files go through Git LFS (basic or\n"
    "multipart, each part retried on its own; objects the Hub has are not sent again).\n"
    "The token (HF_TOKEN, HF_TOKEN_PATH, $HF_HOME/token) goes to the Hub's host only, never to\n"
    "the storage URLs; HF_ENDPOINT selects the Hub.\n\n"
    "options:\n"
    "  --to hf:OWNER/NAME  the model repo\n"
    "  --revision BRANCH   the branch to commit to (default main; it must exist)\n"
    "  --create            create the repo when it does not exist (--private: a private one)\n"
    "  --message M         the commit summary\n"
    "  --dir DIR           where the artifacts are (default: the manifest's folder)\n"
    "  --provenance FILE   check this provenance first (with --key) and upload it\n"
    "  --key PUB.pem       a trusted public key for the provenance; repeat for several\n"
    "  -q, --quiet         no progress or notes (errors still go to stderr)\n"
    "  --json              print {\"commit\", \"commit_url\", \"files\": [{\"path\", \"oid\", \"lfs\"}]}\n"
    "  -h, --help          show this help\n\n"
    "exit codes: 0 committed (or nothing changed); 1 a check failed (nothing uploaded), the\n"
    "repo or branch does not exist, or the branch moved meanwhile; 2 bad usage or manifest;\n"
    "3 token refused (401/403), network, rate limits beyond the retry budget.\n\n"
    "example:\n"
    "  HF_TOKEN=... pteflow publish out/manifest.json --to hf:org/tiny-llama-int8 --create \\\n"
    "      --provenance out/provenance.intoto.jsonl --key release.pub.pem\n";

static char *result_json(const pf_publish_result *r)
{
	cJSON *o = cJSON_CreateObject(), *files = cJSON_CreateArray();
	char *t, *out;
	cJSON_AddStringToObject(o, "repo", r->repo_id);
	cJSON_AddStringToObject(o, "commit", r->hub.commit);
	cJSON_AddStringToObject(o, "commit_url", r->hub.commit_url ? r->hub.commit_url : "");
	cJSON_AddBoolToObject(o, "committed", r->hub.committed);
	for (size_t i = 0; i < r->n_files; i++) {
		const pf_hub_upload *f = &r->files[i];
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "path", f->path_in_repo);
		cJSON_AddStringToObject(x, "oid", f->lfs ? f->sha256 : f->git_sha1);
		cJSON_AddBoolToObject(x, "lfs", f->lfs);
		cJSON_AddNumberToObject(x, "size", (double)f->size);
		cJSON_AddBoolToObject(x, "unchanged", f->unchanged);
		cJSON_AddItemToArray(files, x);
	}
	cJSON_AddItemToObject(o, "files", files);
	t = cJSON_Print(o);
	out = pf_xasprintf("%s\n", t ? t : "{}");
	cJSON_free(t);
	cJSON_Delete(o);
	return out;
}

int cmd_publish(int argc, char **argv)
{
	static const char *const valued[] = {"--to", "--revision", "--message", "--dir", "--provenance", "--key"};
	pf_publish_options o;
	pf_publish_result r;
	pf_attest_key **keys = NULL;
	const char **key_paths = NULL;
	size_t n_keys = 0;
	bool json = false;
	char *text = NULL;
	int code = PF_EXIT_OK, rc;
	memset(&o, 0, sizeof(o));
	memset(&r, 0, sizeof(r));
	if (pf_cli_wants_help(argc, argv))
		return pf_cli_print_help("publish");
	key_paths = pf_xcalloc((size_t)argc + 1, sizeof(char *));
	keys = pf_xcalloc((size_t)argc + 1, sizeof(*keys));
	for (int i = 1; i < argc; i++) {
		const char *v = NULL;
		bool missing = false;
		size_t k;
		for (k = 0; k < sizeof(valued) / sizeof(valued[0]); k++)
			if ((v = pf_cli_option_value(argc, argv, &i, valued[k], &missing)) || missing)
				break;
		if (missing) {
			code = pf_cli_usage_error("publish", "%s needs a value", valued[k]);
			goto done;
		}
		if (v) {
			const char **slot[] = {&o.to, &o.revision, &o.message, &o.dir, &o.provenance};
			if (k < 5)
				*slot[k] = v;
			else
				key_paths[n_keys++] = v;
		} else if (!strcmp(argv[i], "--create")) {
			o.create = true;
		} else if (!strcmp(argv[i], "--private")) {
			o.private_repo = true;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
			pf_log_set_quiet(true);
		} else if (argv[i][0] == '-' && argv[i][1]) {
			code = pf_cli_usage_error("publish", "unknown option \"%s\"", argv[i]);
			goto done;
		} else if (!o.manifest_path) {
			o.manifest_path = argv[i];
		} else {
			code = pf_cli_usage_error("publish", "unexpected argument \"%s\": give one manifest", argv[i]);
			goto done;
		}
	}
	if (!o.manifest_path || !o.to) {
		code = pf_cli_usage_error("publish", "give the manifest.json and --to hf:OWNER/NAME");
		goto done;
	}
	if (n_keys && !o.provenance) {
		code = pf_cli_usage_error("publish", "--key checks a provenance: add --provenance FILE");
		goto done;
	}
	if (o.private_repo && !o.create) {
		code = pf_cli_usage_error("publish", "--private applies to a repo --create makes");
		goto done;
	}
	for (size_t i = 0; i < n_keys; i++) {
		if ((rc = pf_attest_key_load_public(&keys[i], key_paths[i])) < 0) {
			pf_log_error("%s", pf_error_last());
			code = rc == PF_EENV ? PF_EXIT_ENV : PF_EXIT_USAGE;
			goto done;
		}
	}
	o.keys = keys;
	o.n_keys = n_keys;
	if ((rc = pf_publish(&r, &o)) < 0) {
		code = pf_cli_fail(rc);
		goto done;
	}
	text = json ? result_json(&r) : pf_xasprintf("%s\n", r.hub.commit_url);
	fputs(text, stdout);
	code = pf_cli_finish_stdout(PF_EXIT_OK);
done:
	for (size_t i = 0; i < n_keys; i++)
		pf_attest_key_free(keys[i]);
	free(keys);
	free(key_paths);
	free(text);
	pf_publish_result_dispose(&r);
	return code;
}
