/*
 * Parser for HTTP response header lines as libcurl hands them to the header
 * callback (one line at a time, every hop of a redirect chain). Names are
 * matched case-insensitively (HTTP/2 lower-cases them); each line and the
 * count of lines are bounded because a hostile server controls them. A few
 * dozen lines per request. Fuzzed by tests/fuzz/fuzz_hub_headers.c.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hub/hub_internal.h"
#include "util/error.h"
#include "util/mem.h"

void pf_hub_headers_init(pf_hub_headers *h)
{
	memset(h, 0, sizeof(*h));
	h->retry_after_s = -1;
	h->ratelimit_reset_s = -1;
}

void pf_hub_headers_dispose(pf_hub_headers *h)
{
	free(h->repo_commit);
	free(h->etag);
	free(h->linked_etag);
	free(h->location);
	free(h->content_range);
	free(h->error_code);
	free(h->error_message);
	free(h->link_next);
	free(h->content_encoding);
	pf_hub_headers_init(h);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const char **s, size_t *len)
{
	while (*len && is_space(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len && is_space((*s)[*len - 1]))
		(*len)--;
}

static bool name_is(const char *name, size_t n, const char *want)
{
	size_t wl = strlen(want);
	if (n != wl)
		return false;
	for (size_t i = 0; i < n; i++) {
		char a = name[i], b = want[i];
		if (a >= 'A' && a <= 'Z')
			a = (char)(a - 'A' + 'a');
		if (a != b)
			return false;
	}
	return true;
}

int pf_hub_parse_u64(uint64_t *out, const char *s, size_t len)
{
	uint64_t v = 0;
	if (len == 0 || len > 20)
		return PF_EINVALID;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return PF_EINVALID;
		if (pf_mul_overflow(v, 10, &v) || pf_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
			return PF_EINVALID;
	}
	*out = v;
	return 0;
}

char *pf_hub_etag_normalise(const char *v, size_t len)
{
	while (len && (*v == 'W' || *v == '/')) {
		v++;
		len--;
	}
	while (len && *v == '"') {
		v++;
		len--;
	}
	while (len && v[len - 1] == '"')
		len--;
	return pf_xstrndup(v, len);
}

char *pf_hub_link_next(const char *v, size_t len)
{
	size_t i = 0;
	while (i < len) {
		const char *url;
		size_t url_len, elem_end;
		while (i < len && (is_space(v[i]) || v[i] == ','))
			i++;
		if (i >= len || v[i] != '<')
			return NULL;
		url = v + i + 1;
		{
			const char *gt = memchr(url, '>', len - i - 1);
			if (!gt)
				return NULL;
			url_len = (size_t)(gt - url);
			i = (size_t)(gt - v) + 1;
		}
		/* parameters up to the next ',' that starts a new <...> element */
		elem_end = i;
		while (elem_end < len && v[elem_end] != '<')
			elem_end++;
		{
			const char *params = v + i;
			size_t plen = elem_end - i;
			for (size_t k = 0; k + 3 <= plen; k++) {
				size_t rest;
				const char *val;
				if (!name_is(params + k, 3, "rel"))
					continue;
				rest = k + 3;
				while (rest < plen && is_space(params[rest]))
					rest++;
				if (rest >= plen || params[rest] != '=')
					continue;
				rest++;
				while (rest < plen && is_space(params[rest]))
					rest++;
				val = params + rest;
				if (rest < plen && *val == '"')
					val++;
				if ((size_t)(val - params) + 4 <= plen && name_is(val, 4, "next") &&
				    ((size_t)(val - params) + 4 == plen || val[4] == '"' || val[4] == ';' ||
				     val[4] == ',' || is_space(val[4])))
					return url_len ? pf_xstrndup(url, url_len) : NULL;
			}
		}
		i = elem_end;
	}
	return NULL;
}

/* RateLimit: "bucket";r=<remaining>;t=<seconds> -> t when r == 0 */
static long ratelimit_reset(const char *v, size_t len)
{
	long r = -1, t = -1;
	for (size_t i = 0; i < len; i++) {
		if ((v[i] == 'r' || v[i] == 't') && i + 1 < len && v[i + 1] == '=' && (i == 0 || v[i - 1] == ';')) {
			size_t j = i + 2;
			uint64_t num;
			while (j < len && v[j] >= '0' && v[j] <= '9')
				j++;
			if (pf_hub_parse_u64(&num, v + i + 2, j - i - 2) == 0 && num < 86400) {
				if (v[i] == 'r')
					r = (long)num;
				else
					t = (long)num;
			}
		}
	}
	return r == 0 ? t : -1;
}

static void set_str(char **slot, char *value)
{
	free(*slot);
	*slot = value;
}

static int status_line(pf_hub_headers *h, const char *s, size_t len)
{
	size_t i = 5;
	uint64_t code;
	while (i < len && s[i] != ' ')
		i++;
	while (i < len && s[i] == ' ')
		i++;
	if (i + 3 > len || pf_hub_parse_u64(&code, s + i, 3) < 0 || code < 100)
		return pf_error_code(PF_EINVALID, "the server sent a malformed status line");
	pf_hub_headers_dispose(h);
	h->status = (long)code;
	return 0;
}

int pf_hub_headers_feed(pf_hub_headers *h, const char *line, size_t len)
{
	const char *colon, *value;
	size_t name_len, vlen;
	if (len > PF_HUB_HEADER_LINE_MAX)
		return pf_error_code(PF_ELIMIT, "the server sent a header line longer than %d bytes",
		                     PF_HUB_HEADER_LINE_MAX);
	if (len >= 5 && !memcmp(line, "HTTP/", 5))
		return status_line(h, line, len);
	if (++h->n_lines > PF_HUB_HEADERS_MAX)
		return pf_error_code(PF_ELIMIT, "the server sent more than %d header lines", PF_HUB_HEADERS_MAX);
	colon = memchr(line, ':', len);
	if (!colon)
		return 0; /* the blank line ending the block, or junk: ignored */
	name_len = (size_t)(colon - line);
	value = colon + 1;
	vlen = len - name_len - 1;
	trim(&value, &vlen);
	if (memchr(value, '\0', vlen))
		return 0;
	if (name_is(line, name_len, "x-repo-commit"))
		set_str(&h->repo_commit, pf_xstrndup(value, vlen));
	else if (name_is(line, name_len, "etag"))
		set_str(&h->etag, pf_hub_etag_normalise(value, vlen));
	else if (name_is(line, name_len, "x-linked-etag"))
		set_str(&h->linked_etag, pf_hub_etag_normalise(value, vlen));
	else if (name_is(line, name_len, "location"))
		set_str(&h->location, pf_xstrndup(value, vlen));
	else if (name_is(line, name_len, "x-error-code"))
		set_str(&h->error_code, pf_xstrndup(value, vlen));
	else if (name_is(line, name_len, "x-error-message"))
		set_str(&h->error_message, pf_xstrndup(value, vlen));
	else if (name_is(line, name_len, "content-encoding"))
		set_str(&h->content_encoding, pf_xstrndup(value, vlen));
	else if (name_is(line, name_len, "link")) {
		char *next = pf_hub_link_next(value, vlen);
		if (next)
			set_str(&h->link_next, next);
	} else if (name_is(line, name_len, "x-linked-size")) {
		h->has_linked_size = pf_hub_parse_u64(&h->linked_size, value, vlen) == 0;
	} else if (name_is(line, name_len, "content-length")) {
		h->has_content_length = pf_hub_parse_u64(&h->content_length, value, vlen) == 0;
	} else if (name_is(line, name_len, "retry-after")) {
		uint64_t s;
		h->retry_after_s = (pf_hub_parse_u64(&s, value, vlen) == 0 && s < 86400) ? (long)s : -1;
	} else if (name_is(line, name_len, "ratelimit")) {
		h->ratelimit_reset_s = ratelimit_reset(value, vlen);
	} else if (name_is(line, name_len, "content-range")) {
		const char *slash = memchr(value, '/', vlen);
		set_str(&h->content_range, pf_xstrndup(value, vlen));
		h->has_range_total =
		    slash && pf_hub_parse_u64(&h->range_total, slash + 1, vlen - (size_t)(slash + 1 - value)) == 0;
		h->has_range_start = false;
		if (vlen > 6 && !strncasecmp(value, "bytes ", 6)) {
			const char *dash = memchr(value + 6, '-', vlen - 6);
			h->has_range_start =
			    dash && pf_hub_parse_u64(&h->range_start, value + 6, (size_t)(dash - value - 6)) == 0;
		}
	}
	return 0;
}
