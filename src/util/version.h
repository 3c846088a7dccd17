/* Versions of pteflow and of the libraries it runs with (for `version` and the manifest). */
#ifndef PF_UTIL_VERSION_H
#define PF_UTIL_VERSION_H

typedef struct pf_versions {
	const char *pteflow, *curl, *openssl, *yaml, *git2, *cjson;
} pf_versions;

void pf_versions_get(pf_versions *out);

#endif
