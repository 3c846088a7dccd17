/*
 * `pteflow fetch`: download a Hugging Face repo snapshot into the standard
 * cache (or a folder) and print where it is. Options to pf_hub_options; all
 * the work is in src/hub/. Exit 0, 1 (download failed or not found), 2
 * (usage), 3 (network, token, disk).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "hub/hub.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

const char pf_usage_fetch[] =
    "usage: pteflow fetch REPO_ID [options]\n"
    "\n"
    "Download a Hugging Face Hub repo (all files, or those matching --include)\n"
    "into the huggingface_hub cache and print the snapshot folder. The cache\n"
    "layout is the Python client's, so transformers and huggingface_hub load the\n"
    "files offline afterwards. Files already cached are not downloaded again;\n"
    "an interrupted download resumes. Every LFS file is checked against its\n"
    "SHA-256 (git-stored files against their git blob id) before it enters the cache.\n"
    "\n"
    "options:\n"
    "  --revision R       branch, tag or commit (default main)\n"
    "  --repo-type T      model (default), dataset or space\n"
    "  --include GLOB     keep only matching paths (repeatable; like allow_patterns:\n"
    "                     '*' also crosses '/', 'dir/' means everything under dir)\n"
    "  --exclude GLOB     drop matching paths (repeatable; like ignore_patterns)\n"
    "  --cache-dir DIR    cache root (default $HF_HUB_CACHE, else $HF_HOME/hub,\n"
    "                     else ~/.cache/huggingface/hub)\n"
    "  --local-dir DIR    real files in DIR instead of the cache\n"
    "  --jobs N           parallel transfers (default 8, 1 to 64)\n"
    "  --offline          use the cache only (also HF_HUB_OFFLINE=1)\n"
    "  --json             print {\"commit\", \"folder\", \"files\": [...]} instead of the folder\n"
    "  -h, --help         this help\n"
    "\n"
    "environment:\n"
    "  HF_ENDPOINT                 hub URL (default https://huggingface.co)\n"
    "  HF_TOKEN                    token (else HUGGING_FACE_HUB_TOKEN, the file at\n"
    "                              HF_TOKEN_PATH, or $HF_HOME/token); sent only to\n"
    "                              the hub's own host, never printed\n"
    "  HF_HUB_DISABLE_IMPLICIT_TOKEN=1  send no token\n"
    "  HF_HUB_OFFLINE=1            same as --offline\n"
    "  HF_HUB_DOWNLOAD_TIMEOUT     seconds without data before a retry (default 10)\n"
    "\n"
    "exit codes: 0 done, 1 download failed or not found, 2 bad usage,\n"
    "3 environment (network, token refused or missing, gated repo, disk full).\n";

static int print_json(const pf_model_record *m)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *files = cJSON_AddArrayToObject(root, "files");
	char *text;
	cJSON_AddStringToObject(root, "repo", m->repo);
	cJSON_AddStringToObject(root, "revision", m->revision);
	cJSON_AddStringToObject(root, "commit", m->commit);
	cJSON_AddStringToObject(root, "folder", m->snapshot_dir);
	cJSON_AddNumberToObject(root, "bytes_downloaded", (double)m->bytes_downloaded);
	for (size_t i = 0; i < m->n_files; i++) {
		const pf_model_file *f = &m->files[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "path", f->path);
		cJSON_AddNumberToObject(o, "size", (double)f->size_bytes);
		cJSON_AddStringToObject(o, "sha256", f->sha256);
		cJSON_AddStringToObject(o, "etag", f->etag ? f->etag : "");
		cJSON_AddBoolToObject(o, "lfs", f->lfs);
		cJSON_AddBoolToObject(o, "from_cache", f->from_cache);
		cJSON_AddItemToArray(files, o);
	}
	text = cJSON_Print(root);
	fputs(text, stdout);
	fputc('\n', stdout);
	free(text);
	cJSON_Delete(root);
	return 0;
}

static int parse_jobs(const char *s, int *out)
{
	char *end = NULL;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < 1 || v > 64)
		return -1;
	*out = (int)v;
	return 0;
}

int cmd_fetch(int argc, char **argv)
{
	pf_hub_options o;
	const char **inc = pf_xcalloc((size_t)argc, sizeof(char *));
	const char **exc = pf_xcalloc((size_t)argc, sizeof(char *));
	pf_model_record *m = NULL;
	bool json = false;
	int code = PF_EXIT_OK, rc;
	memset(&o, 0, sizeof(o));
	o.progress = true;
	if (pf_cli_wants_help(argc, argv)) {
		code = pf_cli_print_help("fetch");
		goto done;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes = !strcmp(a, "--revision") || !strcmp(a, "--repo-type") || !strcmp(a, "--include") ||
		             !strcmp(a, "--exclude") || !strcmp(a, "--cache-dir") || !strcmp(a, "--local-dir") ||
		             !strcmp(a, "--jobs");
		if (takes && !val) {
			code = pf_cli_usage_error("fetch", "%s needs a value", a);
			goto done;
		}
		if (!strcmp(a, "--revision"))
			o.revision = argv[++i];
		else if (!strcmp(a, "--repo-type"))
			o.repo_type = argv[++i];
		else if (!strcmp(a, "--include"))
			inc[o.n_include++] = argv[++i];
		else if (!strcmp(a, "--exclude"))
			exc[o.n_exclude++] = argv[++i];
		else if (!strcmp(a, "--cache-dir"))
			o.cache_dir = argv[++i];
		else if (!strcmp(a, "--local-dir"))
			o.local_dir = argv[++i];
		else if (!strcmp(a, "--jobs")) {
			if (parse_jobs(argv[++i], &o.jobs) < 0) {
				code = pf_cli_usage_error("fetch", "--jobs takes a number from 1 to 64, not \"%s\"",
				                          argv[i]);
				goto done;
			}
		} else if (!strcmp(a, "--offline"))
			o.offline = true;
		else if (!strcmp(a, "--json"))
			json = true;
		else if (a[0] == '-' && a[1]) {
			code = pf_cli_usage_error("fetch", "unknown option \"%s\"", a);
			goto done;
		} else if (!o.repo_id)
			o.repo_id = a;
		else {
			code = pf_cli_usage_error("fetch", "one REPO_ID only (got \"%s\" too)", a);
			goto done;
		}
	}
	if (!o.repo_id) {
		code = pf_cli_usage_error("fetch", "REPO_ID is missing");
		goto done;
	}
	if (o.cache_dir && o.local_dir) {
		code = pf_cli_usage_error("fetch", "--cache-dir and --local-dir exclude each other");
		goto done;
	}
	o.include = inc;
	o.exclude = exc;
	if ((rc = pf_hub_fetch(&m, &o)) < 0) {
		code = pf_cli_fail(rc);
		goto done;
	}
	if (json)
		print_json(m);
	else
		printf("%s\n", m->snapshot_dir);
	code = pf_cli_finish_stdout(PF_EXIT_OK);
done:
	pf_model_record_free(m);
	free(inc);
	free(exc);
	return code;
}
