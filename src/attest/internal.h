/* Helpers shared by the files of src/attest/ only. */
#ifndef PF_ATTEST_INTERNAL_H
#define PF_ATTEST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * OWNER/NAME of a repository from a remote URL ("https://github.com/o/r.git",
 * "git@github.com:o/r.git", "ssh://git@host/o/r") or a plain name (the work
 * tree's folder when there is no remote); heap, NULL when there is none.
 */
char *pf_attest_repo_slug(const char *url);


#endif
