/*
 * Git provenance for the manifest: which repository, commit, branch and tag
 * the pipeline file came from, and whether the work tree had uncommitted
 * changes. Called once per run (by src/run/) with the pipeline's path; reads
 * the repository through libgit2 and never writes to it. Workload: one
 * status scan of the work tree (the cost of `git status`), so repositories
 * of ordinary size take milliseconds.
 *
 * "dirty" means a staged or unstaged change to a tracked file (added,
 * modified, deleted, renamed, type change, conflict). Untracked files are
 * ignored on purpose: an export writes its output folder (often inside the
 * work tree and not ignored), and that must not make every run look dirty.
 */
#include "vcs/vcs.h"

#include <git2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/error.h"
#include "util/log.h"
#include "util/mem.h"

void pf_vcs_record_dispose(pf_git_record *rec)
{
	if (!rec)
		return;
	free(rec->repository);
	free(rec->commit);
	free(rec->branch);
	free(rec->describe);
	memset(rec, 0, sizeof(*rec));
}

/* "scheme://user:pass@host/x" -> "scheme://host/x"; scp-like "git@host:x" is kept (a login, not a credential). */
char *pf_vcs_strip_credentials(const char *url)
{
	const char *scheme_end = strstr(url, "://");
	const char *host, *slash, *at = NULL;
	if (!scheme_end)
		return pf_xstrdup(url);
	host = scheme_end + 3;
	slash = strchr(host, '/');
	/* The userinfo ends at the last '@' before the path: passwords may hold '@' percent-encoded or not. */
	for (const char *p = host; *p && (!slash || p < slash); p++)
		if (*p == '@')
			at = p;
	if (!at)
		return pf_xstrdup(url);
	return pf_xasprintf("%.*s%s", (int)(host - url), url, at + 1);
}

static int git_fail(const char *what, const char *path)
{
	const git_error *e = git_error_last();
	return pf_error_set("cannot read git %s for \"%s\": %s", what, path,
			    e && e->message ? e->message : "unknown libgit2 error");
}

/* Base name of a folder path, ignoring trailing slashes. */
static char *base_name(const char *dir)
{
	size_t end = strlen(dir), start;
	while (end > 1 && dir[end - 1] == '/')
		end--;
	start = end;
	while (start > 0 && dir[start - 1] != '/')
		start--;
	return pf_xstrndup(dir + start, end - start);
}

static int read_head(pf_git_record *out, git_repository *repo, const char *path)
{
	git_reference *head = NULL;
	int rc = 0, unborn = git_repository_head_unborn(repo);
	if (unborn < 0)
		return git_fail("HEAD", path);
	if (unborn == 1) {
		/* No commit yet: HEAD is a symbolic ref to a branch that does not exist. */
		if (git_reference_lookup(&head, repo, "HEAD") == 0 && git_reference_symbolic_target(head)) {
			const char *t = git_reference_symbolic_target(head);
			if (strncmp(t, "refs/heads/", 11) == 0)
				t += 11;
			out->branch = pf_xstrdup(t);
		}
		goto done;
	}
	if (git_repository_head(&head, repo) != 0) {
		rc = git_fail("HEAD", path);
		goto done;
	}
	{
		git_reference *resolved = NULL;
		char hex[GIT_OID_HEXSZ + 1];
		if (git_reference_resolve(&resolved, head) != 0) {
			rc = git_fail("HEAD", path);
			goto done;
		}
		git_oid_tostr(hex, sizeof(hex), git_reference_target(resolved));
		git_reference_free(resolved);
		out->commit = pf_xstrdup(hex);
	}
	if (git_repository_head_detached(repo) != 1 && git_reference_is_branch(head))
		out->branch = pf_xstrdup(git_reference_shorthand(head));
done:
	git_reference_free(head);
	return rc;
}

static int read_dirty(bool *out, git_repository *repo, const char *path)
{
	git_status_options opts;
	git_status_list *list = NULL;
	size_t n;
	*out = false;
	if (git_repository_is_bare(repo))
		return 0;
	/* The *_init() functions rather than the INIT macros: the macros trip -Wmissing-field-initializers. */
	git_status_options_init(&opts, GIT_STATUS_OPTIONS_VERSION);
	opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	/* No INCLUDE_UNTRACKED: untracked files do not count (see the top of this file). */
	opts.flags = GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
	if (git_status_list_new(&list, repo, &opts) != 0)
		return git_fail("status", path);
	n = git_status_list_entrycount(list);
	for (size_t i = 0; i < n; i++) {
		const git_status_entry *e = git_status_byindex(list, i);
		unsigned s = e->status & ~(unsigned)(GIT_STATUS_IGNORED | GIT_STATUS_WT_NEW);
		if (s != GIT_STATUS_CURRENT) {
			*out = true;
			break;
		}
	}
	git_status_list_free(list);
	return 0;
}

static void read_describe(pf_git_record *out, git_repository *repo)
{
	git_object *commit = NULL;
	git_describe_result *res = NULL;
	git_describe_options opts;
	git_describe_format_options fmt;
	git_buf text = {NULL, 0, 0};
	if (!out->commit)
		return;
	git_describe_options_init(&opts, GIT_DESCRIBE_OPTIONS_VERSION);
	git_describe_format_options_init(&fmt, GIT_DESCRIBE_FORMAT_OPTIONS_VERSION);
	opts.describe_strategy = GIT_DESCRIBE_TAGS;
	/* No tag reachable is normal (GIT_ENOTFOUND): describe stays NULL, no error. */
	if (git_revparse_single(&commit, repo, out->commit) == 0 &&
	    git_describe_commit(&res, commit, &opts) == 0 && git_describe_format(&text, res, &fmt) == 0)
		out->describe = pf_xstrdup(text.ptr);
	git_buf_dispose(&text);
	git_describe_result_free(res);
	git_object_free(commit);
	git_error_clear();
}

static void read_repository_name(pf_git_record *out, git_repository *repo)
{
	git_config *snap = NULL;
	const char *url = NULL;
	/*
	 * The configured URL is read directly rather than through
	 * git_remote_lookup(): that one applies url.*.insteadOf through a regex
	 * iterator that leaks in libgit2 1.5 with PCRE2 (match data not freed on
	 * a non-match), which would fail every sanitizer run inside a clone.
	 */
	if (git_repository_config_snapshot(&snap, repo) == 0 &&
	    git_config_get_string(&url, snap, "remote.origin.url") == 0 && url && *url) {
		char *clean = pf_vcs_strip_credentials(url);
		/* Belt and braces: a registered secret in a URL path or query is redacted too. */
		out->repository = pf_secret_redact(clean);
		free(clean);
	} else {
		const char *dir = git_repository_workdir(repo);
		out->repository = base_name(dir ? dir : git_repository_path(repo));
	}
	git_config_free(snap);
	git_error_clear();
}

int pf_vcs_describe(pf_git_record *out, const char *path)
{
	git_repository *repo = NULL;
	char *start = NULL;
	struct stat st;
	int rc = 0, g;
	memset(out, 0, sizeof(*out));
	/* Reference-counted in libgit2: pairing init and shutdown per call is correct and cheap. */
	if (git_libgit2_init() < 0)
		return pf_error_code(PF_EENV, "cannot initialise libgit2 for \"%s\"", path);
	/* A pipeline file: discovery starts from its folder. */
	start = pf_xstrdup(path && *path ? path : ".");
	if (stat(start, &st) == 0 && !S_ISDIR(st.st_mode)) {
		char *slash = strrchr(start, '/');
		if (!slash) {
			free(start);
			start = pf_xstrdup(".");
		} else if (slash == start) {
			slash[1] = '\0';
		} else {
			*slash = '\0';
		}
	}
	g = git_repository_open_ext(&repo, start, 0, NULL);
	if (g == GIT_ENOTFOUND) {
		git_error_clear();
		goto done;
	}
	if (g == GIT_EOWNER) {
		rc = pf_error_code(PF_EENV,
				   "git repository of \"%s\" is owned by another user: run `git config --global "
				   "--add safe.directory <repo>` or run pteflow as its owner",
				   path);
		goto done;
	}
	if (g != 0) {
		rc = git_fail("repository", path);
		goto done;
	}
	out->present = true;
	if ((rc = read_head(out, repo, path)) != 0)
		goto done;
	if ((rc = read_dirty(&out->dirty, repo, path)) != 0)
		goto done;
	read_describe(out, repo);
	read_repository_name(out, repo);
done:
	if (rc != 0)
		pf_vcs_record_dispose(out);
	git_repository_free(repo);
	free(start);
	git_libgit2_shutdown();
	return rc;
}
