/*
 * Untrusted-text checks (text.h). Linear scans, no allocation.
 */
#include "util/text.h"

#include <string.h>

#include "util/mem.h"

bool pf_is_sha256_hex(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool pf_json_depth_ok(const char *s, size_t len, int max)
{
	int depth = 0;
	bool in_str = false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max)
				return false;
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return true;
}

char *pf_text_printable(const char *s)
{
	static const char digits[] = "0123456789abcdef";
	size_t n = 0;
	char *out, *o;
	for (const char *c = s ? s : ""; *c; c++)
		n += ((unsigned char)*c < 0x20 || *c == 0x7f) ? 4 : *c == '\\' ? 2 : 1;
	out = o = pf_xmalloc(n + 1);
	for (const char *c = s ? s : ""; *c; c++) {
		unsigned char u = (unsigned char)*c;
		if (u < 0x20 || u == 0x7f) {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = digits[u >> 4];
			*o++ = digits[u & 15];
		} else if (u == '\\') {
			*o++ = '\\';
			*o++ = '\\';
		} else {
			*o++ = (char)u;
		}
	}
	*o = '\0';
	return out;
}

pf_url_kind pf_url_check(const char *url)
{
	const char *rest, *slash, *at;
	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
		return PF_URL_NOT_HTTP;
	rest = strstr(url, "://") + 3;
	if (rest[0] == '\0' || rest[0] == '/')
		return PF_URL_NOT_HTTP;
	slash = strchr(rest, '/');
	at = strchr(rest, '@');
	return at && (!slash || at < slash) ? PF_URL_CREDENTIALS : PF_URL_OK;
}
