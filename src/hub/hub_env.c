/*
 * Where to talk to and as whom, read from the environment exactly as
 * huggingface_hub reads it: the endpoint (HF_ENDPOINT), the token (HF_TOKEN,
 * HUGGING_FACE_HUB_TOKEN, the file at HF_TOKEN_PATH or $HF_HOME/token or
 * ~/.cache/huggingface/token; none at all under HF_HUB_DISABLE_IMPLICIT_TOKEN), the
 * cache root and offline mode. Called once per fetch. The token is registered
 * as a secret the moment it is read, before anything could print it.
 */
#include <stdlib.h>
#include <string.h>

#include "hub/hub.h"
#include "hub/hub_internal.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/mem.h"

char *pf_hub_endpoint(void)
{
	const char *e = getenv("HF_ENDPOINT");
	size_t n;
	if (!e || !*e) {
		const char *staging = getenv("HUGGINGFACE_CO_STAGING");
		e = (staging && pf_hub_env_true("HUGGINGFACE_CO_STAGING")) ? "https://hub-ci.huggingface.co"
		                                                           : "https://huggingface.co";
	}
	n = strlen(e);
	while (n > 0 && e[n - 1] == '/')
		n--;
	return pf_xstrndup(e, n);
}

bool pf_hub_env_true(const char *name)
{
	const char *v = getenv(name);
	static const char *const yes[] = {"1", "ON", "YES", "TRUE", "on", "yes", "true", "On", "Yes", "True"};
	if (!v)
		return false;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!strcmp(v, yes[i]))
			return true;
	return false;
}

/* CR/LF removed, surrounding whitespace stripped; NULL when nothing is left. */
static char *clean(const char *v, size_t len)
{
	char *out = pf_xmalloc(len + 1);
	size_t n = 0, start = 0;
	for (size_t i = 0; i < len; i++)
		if (v[i] != '\r' && v[i] != '\n' && v[i] != '\0')
			out[n++] = v[i];
	while (start < n && (out[start] == ' ' || out[start] == '\t'))
		start++;
	while (n > start && (out[n - 1] == ' ' || out[n - 1] == '\t'))
		n--;
	if (n == start) {
		free(out);
		return NULL;
	}
	memmove(out, out + start, n - start);
	out[n - start] = '\0';
	return out;
}

/* "~" and "~/x" as huggingface_hub's expanduser reads them (HOME); anything else as written. */
static char *expand_user(const char *p)
{
	const char *home = getenv("HOME");
	if (p[0] == '~' && (p[1] == '\0' || p[1] == '/') && home && *home)
		return pf_xasprintf("%s%s", home, p + 1);
	return pf_xstrdup(p);
}

static char *hf_home(void)
{
	const char *h = getenv("HF_HOME");
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	if (h && *h)
		return expand_user(h);
	if (xdg && *xdg) {
		char *x = expand_user(xdg), *r = pf_xasprintf("%s/huggingface", x);
		free(x);
		return r;
	}
	return pf_xasprintf("%s/.cache/huggingface", home && *home ? home : "/");
}

static char *token_file(void)
{
	const char *p = getenv("HF_TOKEN_PATH");
	char *home, *path;
	pf_buf b;
	char *tok = NULL;
	if (p && *p) {
		path = expand_user(p);
	} else {
		home = hf_home();
		path = pf_fs_join(home, "token");
		free(home);
	}
	pf_buf_init(&b, 64 * 1024);
	if (pf_fs_read_file(&b, path, 64 * 1024) == 0)
		tok = clean(pf_buf_cstr(&b), b.len);
	pf_error_clear();
	pf_buf_dispose(&b);
	free(path);
	return tok;
}

char *pf_hub_token_source(const char **source)
{
	static const char *const vars[] = {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"};
	char *tok = NULL;
	*source = NULL;
	/* as in huggingface_hub, every token not passed explicitly is "implicit" */
	if (pf_hub_env_true("HF_HUB_DISABLE_IMPLICIT_TOKEN"))
		return NULL;
	for (size_t i = 0; i < 2 && !tok; i++) {
		const char *v = getenv(vars[i]);
		if (v && (tok = clean(v, strlen(v))))
			*source = vars[i];
	}
	if (!tok) {
		tok = token_file();
		if (tok)
			*source = getenv("HF_TOKEN_PATH") ? "HF_TOKEN_PATH" : "the saved login token file";
	}
	if (tok)
		pf_secret_add(tok);
	return tok;
}

char *pf_hub_token(void)
{
	const char *src;
	return pf_hub_token_source(&src);
}

char *pf_hub_cache_root(const char *override)
{
	const char *v;
	char *home, *root;
	if (override && *override)
		return expand_user(override);
	if ((v = getenv("HF_HUB_CACHE")) && *v)
		return expand_user(v);
	if ((v = getenv("HUGGINGFACE_HUB_CACHE")) && *v)
		return expand_user(v);
	home = hf_home();
	root = pf_fs_join(home, "hub");
	free(home);
	return root;
}
