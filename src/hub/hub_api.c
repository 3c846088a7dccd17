/*
 * The Hub's JSON API on the download path: repo info at a revision (the
 * commit it resolves to, siblings with blobs=true) and the recursive tree
 * listing, page after page following Link rel="next". JSON comes from the
 * network: parsed with a length, a size cap and a cap on the file count.
 * One info call and a few tree pages per fetch.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub_net.h"
#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

#define MAX_PAGES 10000

void pf_hub_listing_dispose(pf_hub_listing *l)
{
	for (size_t i = 0; i < l->n_entries; i++) {
		free(l->entries[i].path);
		free(l->entries[i].oid);
		free(l->entries[i].lfs_sha256);
	}
	free(l->entries);
	free(l->commit);
	memset(l, 0, sizeof(*l));
}

static bool is_hex(const char *s, size_t n)
{
	size_t i = 0;
	for (; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == n;
}

static const char *json_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool json_size(const cJSON *o, const char *key, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0)
		return false;
	*out = (uint64_t)v->valuedouble;
	return true;
}

static int add_entry(pf_hub_listing *l, const char *path, const cJSON *size_src, const char *size_key, const char *oid,
                     const cJSON *lfs)
{
	pf_hub_entry *e;
	const char *sha = NULL;
	if (l->n_entries >= PF_HUB_MAX_FILES)
		return pf_error_code(PF_ELIMIT, "the repo lists more than %d files", PF_HUB_MAX_FILES);
	if (lfs && cJSON_IsObject(lfs)) {
		sha = json_str(lfs, "sha256");
		if (!sha)
			sha = json_str(lfs, "oid");
		if (sha && !is_hex(sha, 64))
			return pf_error_code(PF_EINVALID, "the hub listed a malformed sha256 for \"%s\"", path);
	}
	l->entries = pf_xreallocarray(l->entries, l->n_entries + 1, sizeof(*l->entries));
	e = &l->entries[l->n_entries++];
	memset(e, 0, sizeof(*e));
	e->path = pf_xstrdup(path);
	if (!json_size(size_src, size_key, &e->size_bytes) && lfs)
		json_size(lfs, "size", &e->size_bytes);
	e->oid = (oid && is_hex(oid, 40)) ? pf_xstrdup(oid) : NULL;
	e->lfs_sha256 = sha ? pf_xstrdup(sha) : NULL;
	return 0;
}

static cJSON *parse(const char *json, size_t len)
{
	if (len > PF_HUB_JSON_MAX)
		return NULL;
	return cJSON_ParseWithLength(json, len);
}

int pf_hub_tree_parse(pf_hub_listing *l, const char *json, size_t len)
{
	cJSON *root = parse(json, len);
	const cJSON *it;
	int rc = 0;
	if (!cJSON_IsArray(root)) {
		rc = pf_error_code(PF_EINVALID, "the hub sent a tree listing that is not a JSON array");
		goto done;
	}
	cJSON_ArrayForEach(it, root)
	{
		const char *type = json_str(it, "type");
		const char *path = json_str(it, "path");
		if (!type || strcmp(type, "file"))
			continue;
		if (!path) {
			rc = pf_error_code(PF_EINVALID, "the hub sent a tree entry without a path");
			goto done;
		}
		if ((rc = add_entry(l, path, it, "size", json_str(it, "oid"),
		                    cJSON_GetObjectItemCaseSensitive(it, "lfs"))) < 0)
			goto done;
	}
done:
	cJSON_Delete(root);
	return rc;
}

int pf_hub_info_parse(pf_hub_listing *l, const char *json, size_t len, bool want_files)
{
	cJSON *root = parse(json, len);
	const cJSON *sib, *it;
	const char *sha;
	int rc = 0;
	if (!cJSON_IsObject(root)) {
		rc = pf_error_code(PF_EINVALID, "the hub sent repo info that is not a JSON object");
		goto done;
	}
	sha = json_str(root, "sha");
	if (!sha || !is_hex(sha, 40)) {
		rc = pf_error_code(PF_EINVALID, "the hub's repo info has no valid commit \"sha\"");
		goto done;
	}
	free(l->commit);
	l->commit = pf_xstrdup(sha);
	sib = cJSON_GetObjectItemCaseSensitive(root, "siblings");
	if (!want_files || !cJSON_IsArray(sib))
		goto done;
	cJSON_ArrayForEach(it, sib)
	{
		const char *path = json_str(it, "rfilename");
		if (!path)
			continue;
		if ((rc = add_entry(l, path, it, "size", json_str(it, "blobId"),
		                    cJSON_GetObjectItemCaseSensitive(it, "lfs"))) < 0)
			goto done;
	}
done:
	cJSON_Delete(root);
	return rc;
}

int pf_hub_api_resolve(pf_hub_ctx *c, pf_hub_listing *out)
{
	const char *api = pf_hub_type_api(c->repo_type);
	char *rev = pf_hub_quote(c->revision, false);
	/* no ?blobs=true: the tree listing gives sizes and hashes, and a huge repo's info stays small */
	char *url = pf_xasprintf("%s/api/%s/%s/revision/%s", c->endpoint, api, c->opts->repo_id, rev);
	pf_buf body;
	pf_hub_headers h;
	int rc;
	pf_buf_init(&body, PF_HUB_JSON_MAX);
	pf_hub_headers_init(&h);
	if ((rc = pf_hub_http_request(c, &body, &h, url, false)) < 0)
		goto done;
	if (h.status != 200) {
		rc = pf_hub_http_error(c, &h, NULL);
		goto done;
	}
	rc = pf_hub_info_parse(out, pf_buf_cstr(&body), body.len, true);
done:
	pf_hub_headers_dispose(&h);
	pf_buf_dispose(&body);
	free(url);
	free(rev);
	return rc;
}

int pf_hub_api_list(pf_hub_ctx *c, pf_hub_listing *l)
{
	const char *api = pf_hub_type_api(c->repo_type);
	char *url = pf_xasprintf("%s/api/%s/%s/tree/%s?recursive=true&expand=false", c->endpoint, api, c->opts->repo_id,
	                         l->commit);
	pf_hub_listing tree = {0};
	pf_buf body;
	pf_hub_headers h;
	int rc = 0, pages = 0;
	pf_buf_init(&body, PF_HUB_JSON_MAX);
	pf_hub_headers_init(&h);
	while (url) {
		char *next = NULL;
		if (++pages > MAX_PAGES) {
			rc = pf_error_code(PF_ELIMIT, "the hub's tree listing has more than %d pages", MAX_PAGES);
			goto done;
		}
		pf_buf_reset(&body);
		if ((rc = pf_hub_http_request(c, &body, &h, url, false)) < 0)
			goto done;
		if (h.status != 200) {
			if (pages == 1 && (h.status == 404 || h.status == 400 || h.status == 405) && !h.error_code &&
			    l->n_entries) {
				/* no tree API here: keep the siblings of the info call */
				pf_log_info("the hub has no tree listing; using the repo info's file list");
				goto done;
			}
			rc = pf_hub_http_error(c, &h, NULL);
			goto done;
		}
		if ((rc = pf_hub_tree_parse(&tree, pf_buf_cstr(&body), body.len)) < 0)
			goto done;
		if (h.link_next)
			next = pf_hub_url_is_absolute(h.link_next) ? pf_xstrdup(h.link_next)
			                                           : pf_hub_url_relative(url, h.link_next);
		free(url);
		url = next;
	}
	/* the tree wins over the siblings */
	{
		char *commit = l->commit;
		l->commit = NULL;
		pf_hub_listing_dispose(l);
		*l = tree;
		l->commit = commit;
		memset(&tree, 0, sizeof(tree));
	}
done:
	pf_hub_listing_dispose(&tree);
	pf_hub_headers_dispose(&h);
	pf_buf_dispose(&body);
	free(url);
	return rc;
}
