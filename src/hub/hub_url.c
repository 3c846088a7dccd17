/*
 * URL building for Hub requests, byte for byte as huggingface_hub builds them
 * (Python quote: the revision encoded including '/', the file path keeping
 * '/'), plus origin comparison used to decide where the token may go. Called
 * a few times per file; strings are short.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub_internal.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
	       c == '-' || c == '~';
}

char *pf_hub_quote(const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	uint64_t cap;
	char *out, *w;
	if (pf_mul_overflow(n, 3, &cap) || pf_add_overflow(cap, 1, &cap) || cap > SIZE_MAX)
		return pf_xstrdup("");
	out = pf_xmalloc((size_t)cap);
	w = out;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (unreserved(*p) || (keep_slash && *p == '/')) {
			*w++ = (char)*p;
		} else {
			*w++ = '%';
			*w++ = hex[*p >> 4];
			*w++ = hex[*p & 15];
		}
	}
	*w = '\0';
	return out;
}

const char *pf_hub_type_api(const char *repo_type)
{
	if (!repo_type || !strcmp(repo_type, "model"))
		return "models";
	if (!strcmp(repo_type, "dataset"))
		return "datasets";
	if (!strcmp(repo_type, "space"))
		return "spaces";
	return NULL;
}

const char *pf_hub_type_prefix(const char *repo_type)
{
	if (repo_type && !strcmp(repo_type, "dataset"))
		return "datasets/";
	if (repo_type && !strcmp(repo_type, "space"))
		return "spaces/";
	return "";
}

static bool id_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
	       c == '-';
}

int pf_hub_repo_id_check(const char *repo_id)
{
	size_t n = repo_id ? strlen(repo_id) : 0, seg = 0;
	int slashes = 0;
	if (n == 0)
		goto bad;
	/* the hub allows up to 96 characters in each of namespace and name */
	for (size_t i = 0; i < n; i++) {
		if (repo_id[i] == '/') {
			slashes++;
			seg = 0;
		} else if (!id_char(repo_id[i]) || ++seg > 96) {
			goto bad;
		}
	}
	if (slashes > 1 || repo_id[0] == '/' || repo_id[n - 1] == '/' || strstr(repo_id, "--") ||
	    strstr(repo_id, "..") || repo_id[0] == '.' || strstr(repo_id, "/."))
		goto bad;
	return 0;
bad:
	return pf_error_code(PF_EINVALID,
	                     "\"%s\" is not a valid repo id: use \"org/name\" with letters, digits, '-', '_' and '.'",
	                     repo_id ? repo_id : "");
}

char *pf_hub_repo_folder(const char *repo_type, const char *repo_id)
{
	const char *api = pf_hub_type_api(repo_type);
	pf_buf b;
	pf_buf_init(&b, 4096);
	pf_buf_puts(&b, api ? api : "models");
	pf_buf_puts(&b, "--");
	for (const char *p = repo_id; *p; p++) {
		if (*p == '/')
			pf_buf_puts(&b, "--");
		else
			pf_buf_append(&b, p, 1);
	}
	return pf_buf_detach(&b);
}

char *pf_hub_resolve_url(const char *endpoint, const char *repo_type, const char *repo_id, const char *revision,
                         const char *path)
{
	char *rev = pf_hub_quote(revision, false);
	char *p = pf_hub_quote(path, true);
	char *url = pf_xasprintf("%s/%s%s/resolve/%s/%s", endpoint, pf_hub_type_prefix(repo_type), repo_id, rev, p);
	free(rev);
	free(p);
	return url;
}

bool pf_hub_url_is_absolute(const char *location)
{
	const char *p = location;
	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
		return false;
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '+' ||
	       *p == '-' || *p == '.')
		p++;
	return p[0] == ':' && p[1] == '/' && p[2] == '/';
}

char *pf_hub_url_origin(const char *url)
{
	const char *rest, *end, *host_end, *port = NULL;
	const char *def;
	size_t scheme_len;
	pf_buf b;
	if (!strncmp(url, "http://", 7) || !strncmp(url, "HTTP://", 7)) {
		scheme_len = 4;
		def = "80";
	} else if (!strncmp(url, "https://", 8) || !strncmp(url, "HTTPS://", 8)) {
		scheme_len = 5;
		def = "443";
	} else {
		return NULL;
	}
	rest = url + scheme_len + 3;
	end = rest + strcspn(rest, "/?#");
	/* userinfo never belongs in the origin */
	for (const char *q = rest; q < end; q++)
		if (*q == '@')
			rest = q + 1;
	if (rest == end)
		return NULL;
	host_end = end;
	if (*rest == '[') {
		const char *rb = memchr(rest, ']', (size_t)(end - rest));
		if (!rb)
			return NULL;
		host_end = rb + 1;
		if (host_end < end && *host_end == ':')
			port = host_end + 1;
	} else {
		const char *colon = memchr(rest, ':', (size_t)(end - rest));
		if (colon) {
			host_end = colon;
			port = colon + 1;
		}
	}
	pf_buf_init(&b, 1024);
	pf_buf_append(&b, scheme_len == 4 ? "http://" : "https://", scheme_len + 3);
	for (const char *q = rest; q < host_end; q++) {
		char c = *q;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (pf_buf_append(&b, &c, 1) < 0)
			break;
	}
	pf_buf_puts(&b, ":");
	if (port && port < end)
		pf_buf_append(&b, port, (size_t)(end - port));
	else
		pf_buf_puts(&b, def);
	return pf_buf_detach(&b);
}

char *pf_hub_url_relative(const char *base, const char *location)
{
	const char *sep, *auth;
	size_t alen;
	if (!base || !location)
		return NULL;
	if (pf_hub_url_is_absolute(location))
		return pf_xstrdup(location);
	sep = strstr(base, "://");
	if (!sep || !pf_hub_url_is_absolute(base))
		return NULL;
	if (location[0] == '/' && location[1] == '/') /* network-path reference: the base's scheme */
		return pf_xasprintf("%.*s:%s", (int)(sep - base), base, location);
	/* keep the scheme+authority exactly as written in base (not the normalised origin) */
	auth = sep + 3;
	alen = strcspn(auth, "/?#");
	if (location[0] == '/')
		return pf_xasprintf("%.*s%s", (int)(auth - base + alen), base, location);
	{
		/* a relative path or query: against the base's path (RFC 3986 5.2.3, without dot segments) */
		const char *path = auth + alen, *end = path + strcspn(path, "?#"), *dir = path;
		if (location[0] == '?')
			return pf_xasprintf("%.*s%s", (int)(end - base), base, location);
		for (const char *q = path; q < end; q++)
			if (*q == '/')
				dir = q + 1;
		if (dir == path) /* no path in base: the root */
			return pf_xasprintf("%.*s/%s", (int)(path - base), base, location);
		return pf_xasprintf("%.*s%s", (int)(dir - base), base, location);
	}
}

static bool lower_hex(const char *s, size_t want)
{
	size_t i = 0;
	if (!s)
		return false;
	for (; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == want;
}

bool pf_hub_is_commit(const char *s)
{
	return lower_hex(s, 40);
}

bool pf_hub_is_sha256(const char *s)
{
	return lower_hex(s, 64);
}
