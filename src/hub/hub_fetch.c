/*
 * pf_hub_fetch: one snapshot of a Hub repo into the huggingface_hub cache
 * (or a local folder), for `pteflow fetch` and the pipeline's model source.
 * Order: settings from the environment, revision -> commit, file listing,
 * name checks and patterns, refs/<rev>, parallel transfers. Offline (or when
 * the network fails while resolving) the cached refs + snapshot answer.
 * Once per run.
 */
#include <stdlib.h>
#include <string.h>

#include "hub/hub_net.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

static const char cachedir_tag[] =
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by pteflow (huggingface_hub layout).\n";

static uint64_t env_u64(const char *name, uint64_t def, uint64_t max)
{
	const char *v = getenv(name);
	uint64_t n;
	if (!v || pf_hub_parse_u64(&n, v, strlen(v)) < 0 || n > max)
		return def;
	return n;
}

int pf_hub_curl_ready(void)
{
	static bool ready; /* pteflow is single-threaded when it starts a fetch or a publish */
	if (!ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return pf_error_code(PF_EENV, "cannot initialise libcurl");
		ready = true;
	}
	return 0;
}

void pf_hub_ctx_dispose(pf_hub_ctx *c)
{
	if (c->api)
		curl_easy_cleanup(c->api);
	free(c->endpoint);
	free(c->endpoint_origin);
	free(c->token);
	free(c->auth_header);
	free(c->user_agent);
	free(c->cache_root);
	free(c->repo_dir);
	free(c->locks_dir);
}

void pf_model_record_free(pf_model_record *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_files; i++) {
		free(m->files[i].path);
		free(m->files[i].etag);
	}
	free(m->files);
	free(m->repo);
	free(m->repo_type);
	free(m->revision);
	free(m->commit);
	free(m->endpoint);
	free(m->snapshot_dir);
	free(m);
}

static int check_options(const pf_hub_options *o)
{
	int rc;
	if ((rc = pf_hub_repo_id_check(o->repo_id)) < 0)
		return rc;
	if (!pf_hub_type_api(o->repo_type))
		return pf_error_code(PF_EINVALID, "unknown repo type \"%s\": use model, dataset or space",
		                     o->repo_type);
	if (o->cache_dir && o->local_dir)
		return pf_error_code(PF_EINVALID, "--cache-dir and --local-dir exclude each other: pick one");
	if (o->jobs < 0 || o->jobs > 64)
		return pf_error_code(PF_EINVALID, "--jobs %d is out of range: use 1 to 64", o->jobs);
	if (o->revision && (!*o->revision || strlen(o->revision) > 255))
		return pf_error_code(PF_EINVALID, "the revision is empty or too long");
	return 0;
}

int pf_hub_ctx_init(pf_hub_ctx *c, const pf_hub_options *o)
{
	const char *source = NULL;
	c->opts = o;
	c->repo_type = o->repo_type ? o->repo_type : "model";
	c->revision = o->revision ? o->revision : "main";
	c->endpoint = pf_hub_endpoint();
	c->endpoint_origin = pf_hub_url_origin(c->endpoint);
	if (!c->endpoint_origin)
		return pf_error_code(PF_EINVALID, "HF_ENDPOINT \"%s\" is not an http(s) URL", c->endpoint);
	{
		char *root = pf_hub_cache_root(o->cache_dir);
		c->cache_root = pf_fs_absolute(root);
		free(root);
	}
	{
		char *folder = pf_hub_repo_folder(c->repo_type, o->repo_id);
		c->repo_dir = pf_fs_join(c->cache_root, folder);
		c->locks_dir = pf_xasprintf("%s/.locks/%s", c->cache_root, folder);
		free(folder);
	}
	c->token = pf_hub_token_source(&source);
	if (c->token) {
		c->auth_header = pf_xasprintf("Authorization: Bearer %s", c->token);
		pf_log_info("using the Hugging Face token from %s", source);
	}
	c->user_agent = pf_xstrdup("pteflow/" PTEFLOW_VERSION "; hf_hub/compatible");
	c->connect_timeout_s = (long)env_u64("PTEFLOW_HUB_CONNECT_TIMEOUT", 10, 600);
	c->read_timeout_s = (long)env_u64("HF_HUB_DOWNLOAD_TIMEOUT", 10, 3600);
	if (c->read_timeout_s < 1)
		c->read_timeout_s = 1;
	c->max_retries = (int)env_u64("PTEFLOW_HUB_MAX_RETRIES", 5, 50);
	c->backoff_base_ms = env_u64("PTEFLOW_HUB_BACKOFF_MS", 1000, 60000);
	c->retry_budget_ms = env_u64("PTEFLOW_HUB_RETRY_BUDGET_S", 300, 86400) * 1000u;
	return 0;
}

static pf_model_record *record_new(const pf_hub_ctx *c)
{
	pf_model_record *r = pf_xcalloc(1, sizeof(*r));
	r->repo = pf_xstrdup(c->opts->repo_id);
	r->repo_type = pf_xstrdup(c->repo_type);
	r->revision = pf_xstrdup(c->revision);
	r->endpoint = pf_xstrdup(c->endpoint);
	return r;
}

static int from_cache(pf_model_record *rec, const pf_hub_ctx *c)
{
	char *commit = pf_hub_ref_read(c->repo_dir, c->revision);
	if (c->opts->local_dir)
		return pf_error_code(PF_EINVALID, "offline mode reads the cache: drop --local-dir or go online");
	if (!commit)
		return pf_error_code(
		    PF_ENOTFOUND,
		    "offline: \"%s\" at revision \"%s\" is not in the cache \"%s\" (no refs/%s): fetch it once online",
		    c->opts->repo_id, c->revision, c->cache_root, c->revision);
	rec->commit = commit;
	return pf_hub_offline_collect(rec, c->repo_dir, commit, c->opts);
}

/* Check every remote name, then keep the wanted ones. */
static int select_files(pf_hub_listing *l, const pf_hub_options *o)
{
	size_t kept = 0;
	int rc;
	for (size_t i = 0; i < l->n_entries; i++)
		if ((rc = pf_hub_path_check(l->entries[i].path, strlen(l->entries[i].path))) < 0)
			return rc;
	for (size_t i = 0; i < l->n_entries; i++) {
		pf_hub_entry *e = &l->entries[i];
		if (pf_hub_wanted(o, e->path)) {
			l->entries[kept++] = *e;
		} else {
			free(e->path);
			free(e->oid);
			free(e->lfs_sha256);
		}
	}
	l->n_entries = kept;
	if (kept == 0)
		return pf_error_code(PF_ENOTFOUND, "no file of \"%s\" matches the --include/--exclude patterns",
		                     o->repo_id);
	return 0;
}

static int online(pf_model_record *rec, pf_hub_ctx *c, const pf_hub_options *o)
{
	pf_hub_options no_patterns = {.repo_id = o->repo_id};
	pf_hub_listing l = {0};
	pf_hub_progress prog;
	int rc;
	c->api = curl_easy_init();
	if (!c->api)
		return pf_error_code(PF_EENV, "cannot initialise libcurl");
	if (!o->local_dir && pf_hub_is_commit(c->revision) &&
	    pf_hub_tree_cache_read(&l, c->repo_dir, c->revision) == 0) {
		/* a commit never changes and its listing is cached (l.commit set): no request before the files */
		goto listed;
	}
	pf_hub_listing_dispose(&l);
	memset(&l, 0, sizeof(l));
	pf_error_clear();
	if ((rc = pf_hub_api_resolve(c, &l)) < 0) {
		/* as huggingface_hub does: unreachable, or refused (expired token, revoked gate), the
		 * snapshot already cached for this revision is still the one asked for */
		if ((rc == PF_EENV || rc == PF_EAUTH) && !o->local_dir) {
			char *why = pf_xstrdup(pf_error_last());
			pf_log_warn("%s; trying the cache", why);
			if (from_cache(rec, c) == 0) {
				free(why);
				rc = 0;
				goto done;
			}
			pf_error_code(PF_EENV, "%s", why);
			free(why);
		}
		goto done;
	}
	{
		/* a commit's listing never changes: a cached trees/<commit>.json spares the tree API */
		pf_hub_listing cached = {0};
		if (!o->local_dir && pf_hub_tree_cache_read(&cached, c->repo_dir, l.commit) == 0) {
			pf_hub_listing_dispose(&l);
			l = cached;
		} else {
			pf_hub_listing_dispose(&cached);
			if ((rc = pf_hub_api_list(c, &l)) < 0)
				goto done;
			if (!o->local_dir && select_files(&l, &no_patterns) == 0 && pf_fs_mkdir_p(c->repo_dir) == 0)
				pf_hub_tree_cache_write(c->repo_dir, &l);
			pf_error_clear();
		}
	}
listed:
	if ((rc = select_files(&l, o)) < 0)
		goto done;
	rec->commit = pf_xstrdup(l.commit);
	if (!o->local_dir) {
		char *snap = pf_xasprintf("%s/snapshots/%s", c->repo_dir, l.commit);
		char *tag = pf_fs_join(c->cache_root, "CACHEDIR.TAG");
		rc = pf_fs_mkdir_p(snap);
		if (rc == 0)
			rc = pf_hub_ref_write(c->repo_dir, c->revision, l.commit);
		if (rc == 0 && !pf_fs_exists(tag))
			pf_fs_write_atomic(tag, cachedir_tag, sizeof(cachedir_tag) - 1);
		free(tag);
		rec->snapshot_dir = snap;
	} else {
		rc = pf_fs_mkdir_p(o->local_dir);
		if (rc == 0) {
			char *meta = pf_fs_join(o->local_dir, ".cache/huggingface");
			char *gi = pf_fs_join(meta, ".gitignore");
			rc = pf_fs_mkdir_p(meta);
			if (rc == 0 && !pf_fs_exists(gi))
				rc = pf_fs_write_atomic(gi, "*", 1);
			free(gi);
			free(meta);
		}
		rec->snapshot_dir = pf_fs_absolute(o->local_dir);
	}
	if (rc < 0)
		goto done;
	pf_hub_progress_init(&prog, o->progress);
	rc = pf_hub_transfer_all(c, rec, &l, &prog);
	if (rc == 0)
		pf_hub_progress_end(&prog);
done:
	pf_hub_listing_dispose(&l);
	return rc;
}

int pf_hub_fetch(pf_model_record **out, const pf_hub_options *opts)
{
	pf_hub_ctx c;
	pf_model_record *rec = NULL;
	uint64_t start = pf_hub_now_ms();
	int rc;
	memset(&c, 0, sizeof(c));
	*out = NULL;
	if ((rc = check_options(opts)) < 0)
		return rc;
	if ((rc = pf_hub_ctx_init(&c, opts)) < 0)
		goto done;
	rec = record_new(&c);
	if (opts->offline || pf_hub_env_true("HF_HUB_OFFLINE") || pf_hub_env_true("TRANSFORMERS_OFFLINE")) {
		rc = from_cache(rec, &c);
		goto done;
	}
	if ((rc = pf_hub_curl_ready()) < 0)
		goto done;
	srand((unsigned)(start ^ (uint64_t)(uintptr_t)&c));
	rc = online(rec, &c, opts);
done:
	if (rec)
		rec->duration_ms = pf_hub_now_ms() - start;
	if (rc < 0) {
		pf_model_record_free(rec);
		rec = NULL;
	}
	*out = rec;
	pf_hub_ctx_dispose(&c);
	return rc;
}
