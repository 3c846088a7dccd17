/*
 * The pipeline's store: section (pipeline.h pf_store_settings): where the
 * remote store is and how it is used. Only settings that may be committed:
 * a URL that carries credentials is refused here, before any run, and the
 * README says where the token goes (PTEFLOW_REMOTE_STORE_TOKEN).
 */
#include <string.h>

#include "pipeline/loader.h"
#include "util/text.h"

static const char *const store_keys[] = {"remote", "mode", "upload_timeout", NULL};
static const char *const modes[] = {"read", "readwrite", NULL};

int pl_parse_store(loader *ld, const pl_node *n, pf_store_settings *out)
{
	const pl_node *v;
	int rc = pl_check_map(ld, n, "store", store_keys);
	if (rc < 0)
		return rc;
	if ((v = pl_map_get(n, "remote", NULL))) {
		if ((rc = pl_want_string(ld, v, "remote", false, &out->remote)) < 0)
			return rc;
		if (pf_url_check(out->remote) != PF_URL_OK)
			return pl_fail(ld, v->pos,
				       "store.remote: an http:// or https:// URL without credentials (the token goes "
				       "in PTEFLOW_REMOTE_STORE_TOKEN)");
	}
	if ((v = pl_map_get(n, "mode", NULL))) {
		if ((rc = pl_want_string(ld, v, "mode", false, &out->mode)) < 0)
			return rc;
		if (!pl_one_of(out->mode, modes))
			return pl_fail(ld, v->pos, "store.mode: read or readwrite, not \"%s\"", out->mode);
	}
	if ((v = pl_map_get(n, "upload_timeout", NULL)) &&
	    (rc = pl_want_duration(ld, v, "upload_timeout", &out->upload_timeout_ms)) < 0)
		return rc;
	return 0;
}
