/* Git provenance of the folder a pipeline lives in (libgit2). */
#ifndef PF_VCS_VCS_H
#define PF_VCS_VCS_H

#include "manifest/record.h"

/* Discover the repository containing `path`; out->present is false when there is none (not an error). */
int pf_vcs_describe(pf_git_record *out, const char *path);

#endif
