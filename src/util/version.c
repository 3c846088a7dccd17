/*
 * Library versions at run time. This file is the one place in util/ that
 * asks each outside library for its version string: a read-only query, not
 * use of the library.
 */
#include "util/version.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <git2.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <yaml.h>

void pf_versions_get(pf_versions *out)
{
	static char git2[32];
	int maj = 0, min = 0, rev = 0;
	git_libgit2_version(&maj, &min, &rev);
	snprintf(git2, sizeof(git2), "%d.%d.%d", maj, min, rev);
	out->pteflow = PTEFLOW_VERSION;
	out->curl = curl_version_info(CURLVERSION_NOW)->version;
	out->openssl = OpenSSL_version(OPENSSL_VERSION_STRING);
	out->yaml = yaml_get_version_string();
	out->git2 = git2;
	out->cjson = cJSON_Version();
}
