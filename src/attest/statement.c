/*
 * The provenance of a run: the run record (manifest/record.h) to an in-toto
 * Statement v1 whose predicate is SLSA provenance v1, wrapped in a DSSE
 * envelope (signed when a key is given) and written atomically beside the
 * manifest as provenance.intoto.jsonl. Fields: README "Verifying a release"
 * and schemas/provenance.schema.json (keep the three in step, and verify.c,
 * which reads back predicate.buildDefinition.externalParameters.source).
 * Every string passes pf_secret_redact() on its way in, and the finished
 * statement once more, as render.c does for the manifest. Workload: once
 * per run, a few KiB.
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attest/attest.h"
#include "attest/internal.h"
#include "manifest/manifest.h"
#include "util/clock.h"
#include "util/text.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"
#include "verify/hash.h"

static void add_str(cJSON *obj, const char *key, const char *value)
{
	char *clean;
	if (!value) {
		cJSON_AddNullToObject(obj, key);
		return;
	}
	clean = pf_secret_redact(value);
	cJSON_AddStringToObject(obj, key, clean);
	free(clean);
}

static cJSON *digest(const char *algo, const char *hex)
{
	cJSON *d = cJSON_CreateObject();
	add_str(d, algo, hex);
	return d;
}

char *pf_attest_repo_slug(const char *url)
{
	const char *p, *end, *scheme, *colon, *slash, *cut;
	if (!url || !*url)
		return NULL;
	scheme = strstr(url, "://");
	colon = strchr(url, ':');
	slash = strchr(url, '/');
	if (scheme) {
		p = strchr(scheme + 3, '/'); /* the path after the host */
		if (!p)
			return NULL;
		p++;
	} else if (colon && (!slash || colon < slash)) {
		p = colon + 1; /* scp-like git@host:owner/name.git */
	} else {
		p = url;       /* no remote: the work tree's folder name */
	}
	end = p + strlen(p);
	while (end > p && end[-1] == '/')
		end--;
	if (end - p > 4 && !strncmp(end - 4, ".git", 4))
		end -= 4;
	/* OWNER/NAME: the last two components */
	cut = p;
	for (const char *c = p, *prev = NULL; c < end; c++) {
		if (*c != '/')
			continue;
		if (prev)
			cut = prev + 1;
		prev = c;
	}
	return end > cut ? pf_xstrndup(cut, (size_t)(end - cut)) : NULL;
}

static char *random_urn(void)
{
	unsigned char r[16];
	if (RAND_bytes(r, sizeof(r)) != 1)
		return NULL;
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* UUID version 4 */
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	return pf_xasprintf("urn:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
			    r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

static const char *env_or(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* RFC 3986 percent-encoding of everything but the unreserved characters; heap. */
static char *pct_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = pf_xmalloc(n > (SIZE_MAX - 1) / 3 ? SIZE_MAX : 3 * n + 1), *o = out;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		    *c == '.' || *c == '_' || *c == '~') {
			*o++ = (char)*c;
		} else {
			*o++ = '%';
			*o++ = hex[*c >> 4];
			*o++ = hex[*c & 15];
		}
	}
	*o = '\0';
	return out;
}

/*
 * The builder: the workflow file at its ref under GitHub Actions; elsewhere
 * PF_ATTEST_LOCAL_BUILDER@<host name>, a URI as SLSA v1 requires of
 * builder.id (the host name percent-encoded, so any name stays a URI).
 */
static char *builder_id(const pf_run_record *rec)
{
	const char *server = rec->ci.server_url ? rec->ci.server_url : "https://github.com";
	const char *workflow_ref = env_or("GITHUB_WORKFLOW_REF");
	if (rec->ci.present && workflow_ref)
		return pf_xasprintf("%s/%s", server, workflow_ref);
	if (rec->ci.present && rec->ci.repository)
		return pf_xasprintf("%s/%s/actions/workflows/%s", server, rec->ci.repository,
				    rec->ci.workflow ? rec->ci.workflow : "unknown");
	{
		char *host = pct_encode(rec->host.hostname && *rec->host.hostname ? rec->host.hostname : "localhost");
		char *id = pf_xasprintf("%s@%s", PF_ATTEST_LOCAL_BUILDER, host);
		free(host);
		return id;
	}
}

static char *invocation_id(const pf_run_record *rec, const pf_attest_params *p)
{
	const char *server = rec->ci.server_url ? rec->ci.server_url : "https://github.com";
	if (p->invocation_id)
		return pf_xstrdup(p->invocation_id);
	if (rec->ci.present && rec->ci.repository && rec->ci.run_id)
		return pf_xasprintf("%s/%s/actions/runs/%s/attempts/%s", server, rec->ci.repository, rec->ci.run_id,
				    rec->ci.run_attempt ? rec->ci.run_attempt : "1");
	return random_urn();
}

/* git+<url>[@ref] for a remote URL; scp-like user@host:path becomes ssh://user@host/path; NULL for no remote. */
static char *git_uri(const char *url, const char *ref)
{
	const char *colon = url ? strchr(url, ':') : NULL, *slash = url ? strchr(url, '/') : NULL;
	if (!url || !colon)
		return NULL;
	if (strstr(url, "://"))
		return pf_xasprintf("git+%s%s%s", url, ref ? "@" : "", ref ? ref : "");
	if (slash && slash < colon)
		return NULL; /* a local path */
	return pf_xasprintf("git+ssh://%.*s/%s%s%s", (int)(colon - url), url, colon + 1, ref ? "@" : "", ref ? ref : "");
}

/* externalParameters.source: where the pipeline came from (verify's --expect-repo/--expect-ref read it). */
static cJSON *source_of(const pf_run_record *rec, char **uri_out)
{
	cJSON *o = cJSON_CreateObject();
	char *slug = NULL, *ref = NULL, *uri = NULL;
	const char *commit = NULL;
	if (rec->ci.present && rec->ci.repository) {
		const char *server = rec->ci.server_url ? rec->ci.server_url : "https://github.com";
		slug = pf_xstrdup(rec->ci.repository);
		ref = rec->ci.ref ? pf_xstrdup(rec->ci.ref) : NULL;
		commit = rec->ci.sha ? rec->ci.sha : rec->git.commit;
		uri = pf_xasprintf("git+%s/%s%s%s", server, slug, ref ? "@" : "", ref ? ref : "");
	} else if (rec->git.present) {
		slug = pf_attest_repo_slug(rec->git.repository);
		ref = rec->git.branch ? pf_xasprintf("refs/heads/%s", rec->git.branch) : NULL;
		commit = rec->git.commit;
		uri = git_uri(rec->git.repository, ref);
	}
	add_str(o, "repository", slug);
	add_str(o, "ref", ref);
	add_str(o, "commit", commit);
	add_str(o, "uri", uri);
	cJSON_AddBoolToObject(o, "dirty", rec->git.present && rec->git.dirty);
	*uri_out = uri;
	free(slug);
	free(ref);
	return o;
}

static cJSON *external_parameters(const pf_run_record *rec, const pf_attest_params *p, cJSON *source)
{
	cJSON *o = cJSON_CreateObject(), *pipe = cJSON_CreateObject(), *vars = cJSON_CreateObject();
	add_str(pipe, "name", rec->pipeline_name);
	add_str(pipe, "path", rec->pipeline_path);
	add_str(pipe, "sha256", pf_is_sha256_hex(rec->pipeline_sha256) ? rec->pipeline_sha256 : NULL);
	cJSON_AddItemToObject(o, "pipeline", pipe);
	add_str(o, "target", rec->target);
	for (size_t i = 0; i < p->n_vars; i++) {
		char *key = pf_secret_redact(p->vars[i].key ? p->vars[i].key : "");
		if (!cJSON_GetObjectItemCaseSensitive(vars, key))
			add_str(vars, key, p->vars[i].value ? p->vars[i].value : "");
		free(key);
	}
	cJSON_AddItemToObject(o, "vars", vars);
	cJSON_AddItemToObject(o, "source", source);
	if (rec->model) {
		cJSON *m = cJSON_CreateObject();
		add_str(m, "repo", rec->model->repo);
		add_str(m, "repoType", rec->model->repo_type ? rec->model->repo_type : "model");
		add_str(m, "revision", rec->model->revision ? rec->model->revision : "main");
		cJSON_AddItemToObject(o, "model", m);
	} else {
		cJSON_AddNullToObject(o, "model");
	}
	return o;
}

static cJSON *internal_parameters(const pf_run_record *rec)
{
	cJSON *o = cJSON_CreateObject(), *steps = cJSON_CreateArray();
	add_str(o, "pteflowVersion", rec->pteflow_version);
	for (size_t i = 0; i < rec->n_steps; i++) {
		const pf_step_record *s = &rec->steps[i];
		cJSON *so = cJSON_CreateObject(), *argv = cJSON_CreateArray();
		add_str(so, "name", s->name);
		for (size_t k = 0; k < s->n_argv; k++) {
			char *clean = pf_secret_redact(s->argv[k] ? s->argv[k] : "");
			cJSON_AddItemToArray(argv, cJSON_CreateString(clean));
			free(clean);
		}
		cJSON_AddItemToObject(so, "argv", argv);
		add_str(so, "status", pf_manifest_step_status(s));
		if (s->cached) /* the bytes of a remote store are only as good as its writers, unless signed */
			add_str(so, "restoredFrom",
				!s->cache_source || strcmp(s->cache_source, "remote") ? "store"
				: s->cache_remote_verified			       ? "remote-store"
										       : "unverified-remote-store");
		cJSON_AddItemToArray(steps, so);
	}
	cJSON_AddItemToObject(o, "steps", steps);
	if (rec->tool_versions_json) {
		char *clean = pf_secret_redact(rec->tool_versions_json);
		cJSON *v = cJSON_ParseWithLength(clean, strlen(clean));
		free(clean);
		if (cJSON_IsObject(v))
			cJSON_AddItemToObject(o, "toolVersions", v);
		else
			cJSON_Delete(v);
	}
	return o;
}

/* The Hub's URL path for a repo type, as huggingface_hub spells it: models have none. */
static const char *hub_url_prefix(const char *repo_type)
{
	if (repo_type && !strcmp(repo_type, "dataset"))
		return "datasets/";
	if (repo_type && !strcmp(repo_type, "space"))
		return "spaces/";
	return "";
}

static cJSON *resolved_dependencies(const pf_run_record *rec, const char *source_uri)
{
	cJSON *deps = cJSON_CreateArray();
	const char *commit = rec->ci.present && rec->ci.sha ? rec->ci.sha : rec->git.commit;
	if (commit && (source_uri || rec->git.present)) {
		cJSON *d = cJSON_CreateObject();
		if (source_uri)
			add_str(d, "uri", source_uri);
		else
			add_str(d, "name", rec->git.repository ? rec->git.repository : "source");
		cJSON_AddItemToObject(d, "digest", digest("gitCommit", commit));
		cJSON_AddItemToArray(deps, d);
	}
	if (rec->model) {
		const pf_model_record *m = rec->model;
		cJSON *d = cJSON_CreateObject(), *ann = cJSON_CreateObject();
		char *uri = pf_xasprintf("%s/%s%s", m->endpoint ? m->endpoint : "https://huggingface.co",
					 hub_url_prefix(m->repo_type), m->repo ? m->repo : "");
		add_str(d, "uri", uri);
		add_str(d, "name", m->repo);
		cJSON_AddItemToObject(d, "digest", m->commit ? digest("gitCommit", m->commit) : cJSON_CreateObject());
		add_str(ann, "revision", m->revision ? m->revision : "main");
		cJSON_AddItemToObject(d, "annotations", ann);
		cJSON_AddItemToArray(deps, d);
		free(uri);
		for (size_t i = 0; i < m->n_files; i++) {
			cJSON *f;
			char *name;
			if (!pf_is_sha256_hex(m->files[i].sha256))
				continue;
			f = cJSON_CreateObject();
			name = pf_xasprintf("%s/%s", m->repo ? m->repo : "model", m->files[i].path ? m->files[i].path : "");
			add_str(f, "name", name);
			cJSON_AddItemToObject(f, "digest", digest("sha256", m->files[i].sha256));
			cJSON_AddItemToArray(deps, f);
			free(name);
		}
	}
	return deps;
}

int pf_attest_statement(char **out, const pf_run_record *rec, const pf_attest_params *p, const char *manifest_sha256)
{
	cJSON *root = cJSON_CreateObject(), *subjects = cJSON_CreateArray(), *pred = cJSON_CreateObject();
	cJSON *def = cJSON_CreateObject(), *run = cJSON_CreateObject(), *builder = cJSON_CreateObject();
	cJSON *version = cJSON_CreateObject(), *meta = cJSON_CreateObject(), *byproducts = cJSON_CreateArray();
	char *source_uri = NULL, *bid = builder_id(rec), *inv = invocation_id(rec, p), *finished = NULL, *text = NULL;
	cJSON *source = source_of(rec, &source_uri);
	int rc = 0;
	*out = NULL;

	add_str(root, "_type", PF_ATTEST_STATEMENT_TYPE);
	for (size_t i = 0; i < rec->n_artifacts; i++) {
		const pf_artifact_result *a = &rec->artifacts[i];
		cJSON *s;
		if (!a->exists || !pf_is_sha256_hex(a->sha256))
			continue;
		s = cJSON_CreateObject();
		add_str(s, "name", a->path);
		cJSON_AddItemToObject(s, "digest", digest("sha256", a->sha256));
		cJSON_AddItemToArray(subjects, s);
	}
	cJSON_AddItemToObject(root, "subject", subjects);
	add_str(root, "predicateType", PF_ATTEST_PREDICATE_TYPE);

	add_str(def, "buildType", PF_ATTEST_BUILD_TYPE);
	cJSON_AddItemToObject(def, "externalParameters", external_parameters(rec, p, source));
	cJSON_AddItemToObject(def, "internalParameters", internal_parameters(rec));
	cJSON_AddItemToObject(def, "resolvedDependencies", resolved_dependencies(rec, source_uri));
	cJSON_AddItemToObject(pred, "buildDefinition", def);

	add_str(builder, "id", bid);
	add_str(version, "pteflow", rec->pteflow_version);
	cJSON_AddItemToObject(builder, "version", version);
	cJSON_AddItemToObject(run, "builder", builder);
	add_str(meta, "invocationId", inv);
	add_str(meta, "startedOn", rec->created_utc);
	finished = p->finished_utc ? pf_xstrdup(p->finished_utc) : pf_clock_utc_now();
	add_str(meta, "finishedOn", finished);
	cJSON_AddItemToObject(run, "metadata", meta);
	if (manifest_sha256 && p->manifest_name) {
		cJSON *m = cJSON_CreateObject();
		add_str(m, "name", p->manifest_name);
		cJSON_AddItemToObject(m, "digest", digest("sha256", manifest_sha256));
		add_str(m, "mediaType", "application/json");
		cJSON_AddItemToArray(byproducts, m);
	}
	cJSON_AddItemToObject(run, "byproducts", byproducts);
	cJSON_AddItemToObject(pred, "runDetails", run);
	cJSON_AddItemToObject(root, "predicate", pred);

	text = cJSON_PrintUnformatted(root);
	if (!text) {
		rc = pf_error_set("out of memory rendering the provenance statement");
		goto done;
	}
	*out = pf_secret_redact(text); /* once more, in case a caller stored an unredacted string */
	cJSON_free(text);
done:
	cJSON_Delete(root);
	free(source_uri);
	free(bid);
	free(inv);
	free(finished);
	return rc;
}

int pf_attest_write_run(const pf_run_record *rec, const pf_attest_params *p)
{
	char *path = pf_fs_join(p->out_dir, PF_ATTEST_FILE_NAME), *manifest = NULL, *statement = NULL, *line = NULL;
	char manifest_sha256[65];
	pf_dsse_envelope *env = NULL;
	int rc = 0;
	if (!rec->passed) {
		/* nothing is attested for a failed run; a file from an earlier run would describe other bytes */
		if (unlink(path) != 0 && errno != ENOENT)
			rc = pf_error_errno("cannot remove the earlier provenance \"%s\"", path);
		goto done;
	}
	manifest = pf_fs_join(p->out_dir, p->manifest_name);
	if ((rc = pf_sha256_file(manifest_sha256, NULL, manifest)) < 0)
		goto done;
	if ((rc = pf_attest_statement(&statement, rec, p, manifest_sha256)) < 0)
		goto done;
	env = pf_attest_envelope_new(PF_ATTEST_PAYLOAD_TYPE, statement, strlen(statement));
	if (p->sign_key && (rc = pf_attest_envelope_sign_interop(env, p->sign_key)) < 0)
		goto done;
	line = pf_attest_envelope_render(env);
	rc = pf_fs_write_atomic(path, line, strlen(line));
	if (rc < 0)
		(void)unlink(path); /* an earlier run's file must not pass for this run's */
	if (rc == 0)
		pf_log_info("provenance: %s (%s)", path, p->sign_key ? "signed" : "unsigned: pass --sign-key to sign it");
done:
	pf_attest_envelope_free(env);
	free(path);
	free(manifest);
	free(statement);
	free(line);
	return rc;
}
