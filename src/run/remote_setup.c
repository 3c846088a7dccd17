/*
 * Which remote store a run uses and how (run/internal.h): the first of
 * --remote-store, PTEFLOW_REMOTE_STORE and the pipeline's store.remote;
 * the mode from --remote-store-mode, PTEFLOW_REMOTE_STORE_MODE or
 * store.mode, else readwrite, except under a pull_request event on GitHub
 * Actions, where a run from a fork must not write what the next release
 * restores. The credential only ever comes from PTEFLOW_REMOTE_STORE_TOKEN
 * (the pipeline is committed: no secrets in it). Once per run.
 */
#include <stdlib.h>
#include <string.h>

#include "run/internal.h"
#include "util/error.h"
#include "util/log.h"

static const char *first_set(const char *a, const char *b, const char *c)
{
	if (a && a[0])
		return a;
	if (b && b[0])
		return b;
	return c && c[0] ? c : NULL;
}

/* Read-only unless asked otherwise on a pull request of GitHub Actions. */
static bool default_write(void)
{
	const char *event = getenv("GITHUB_EVENT_NAME");
	return !(event && (!strcmp(event, "pull_request") || !strcmp(event, "pull_request_target")));
}

/* host[:port][/...] names this machine. */
static bool loopback(const char *host)
{
	static const char *const names[] = {"127.0.0.1", "localhost", "[::1]", NULL};
	for (size_t i = 0; names[i]; i++) {
		size_t n = strlen(names[i]);
		if (!strncmp(host, names[i], n) && (host[n] == '\0' || host[n] == ':' || host[n] == '/'))
			return true;
	}
	return false;
}

int run_remote_open(pf_remote **out, const pf_run_options *opt, const pf_plan *plan)
{
	const pf_store_settings *st = &plan->store;
	const char *url = first_set(opt->remote_store, getenv("PTEFLOW_REMOTE_STORE"), st->remote);
	const char *mode = first_set(opt->remote_mode, getenv("PTEFLOW_REMOTE_STORE_MODE"), st->mode);
	pf_remote_options ro;
	memset(&ro, 0, sizeof(ro));
	*out = NULL;
	if (!url)
		return 0;
	if (mode && strcmp(mode, "read") && strcmp(mode, "readwrite"))
		return pf_error_code(PF_EINVALID, "remote store mode \"%s\": use read or readwrite", mode);
	ro.url = url;
	ro.write = mode ? !strcmp(mode, "readwrite") : default_write();
	ro.token = getenv("PTEFLOW_REMOTE_STORE_TOKEN");
	ro.trust_key = opt->remote_key;
	ro.sign_key = opt->sign_key;
	ro.upload_timeout_ms = opt->remote_upload_timeout_ms ? opt->remote_upload_timeout_ms : st->upload_timeout_ms;
	if (pf_remote_new(out, &ro) < 0)
		return PF_EINVALID;
	if (ro.token && ro.token[0] && !strncmp(url, "http://", 7) && !loopback(url + 7))
		pf_log_warn("remote store %s is plain http: PTEFLOW_REMOTE_STORE_TOKEN crosses the network unencrypted "
			    "(use https)",
			    url);
	pf_log_info("remote store %s (%s%s)", pf_remote_url(*out), ro.write ? "readwrite" : "read only",
		    ro.trust_key ? ", records must be signed" : "");
	return 0;
}
