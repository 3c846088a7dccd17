/* Git provenance of the folder a pipeline lives in (libgit2). */
#ifndef PF_VCS_VCS_H
#define PF_VCS_VCS_H

#include "manifest/record.h"

/*
 * Discover the repository containing `path` (a pipeline file or a folder;
 * discovery starts from the file's folder and walks up). out->present is
 * false when there is none (not an error). Fills the HEAD commit (40 hex;
 * NULL for a repository without commits), the branch (NULL when detached),
 * dirty (a staged or unstaged change to a tracked file; untracked files do
 * not count), describe (`git describe --tags`, NULL when no tag is
 * reachable) and repository (the "origin" URL without credentials, else the
 * work tree's folder name). The strings are heap copies: free them with
 * pf_vcs_record_dispose() (pf_run_record_dispose() does the same). Returns
 * 0, or PF_EENV/PF_EGENERIC when a repository exists but cannot be read;
 * `out` is then left empty.
 */
int pf_vcs_describe(pf_git_record *out, const char *path);

/* Free the strings of a record filled by pf_vcs_describe() and zero it. NULL-safe. */
void pf_vcs_record_dispose(pf_git_record *rec);

/*
 * Heap copy of a remote URL without its userinfo: "https://user:pw@host/x"
 * and "https://TOKEN@host/x" become "https://host/x". scp-like
 * "git@host:org/x" is returned unchanged (a login name, not a credential).
 */
char *pf_vcs_strip_credentials(const char *url);

#endif
