/*
 * Include/exclude globs with the meaning huggingface_hub gives allow_patterns
 * and ignore_patterns: Python fnmatch.fnmatchcase against the whole
 * repo-relative path, where '*' crosses '/', '?' is one character, [seq] and
 * [!seq] are sets, an unclosed '[' is literal, a pattern ending in '/' gets
 * '*' appended and '\\' reads as '/'. A few patterns per file; the matcher
 * backtracks only to the last '*', so it is linear-ish on real inputs.
 */
#include <string.h>

#include "hub/hub.h"
#include "hub/hub_internal.h"

static char norm(char c)
{
	return c == '\\' ? '/' : c;
}

/*
 * Match the set starting at pat[0] == '[' against c. *consumed receives the
 * length of the set, or 0 when the '[' is unclosed (then it is a literal).
 */
static bool set_match(const char *pat, char c, size_t *consumed)
{
	size_t i = 1;
	bool negate = false, hit = false;
	if (pat[i] == '!') {
		negate = true;
		i++;
	}
	if (pat[i] == ']')
		i++; /* a ']' first in the set is literal */
	while (pat[i] && pat[i] != ']')
		i++;
	if (!pat[i]) {
		*consumed = 0;
		return false;
	}
	*consumed = i + 1;
	{
		size_t k = negate ? 2 : 1;
		size_t end = i;
		while (k < end) {
			char lo = norm(pat[k]);
			if (k + 2 < end && pat[k + 1] == '-') {
				char hi = norm(pat[k + 2]);
				if (lo <= c && c <= hi)
					hit = true;
				k += 3;
			} else {
				if (c == lo)
					hit = true;
				k++;
			}
		}
	}
	return negate ? !hit : hit;
}

static bool match(const char *pat, const char *s)
{
	const char *star_p = NULL, *star_s = NULL;
	while (*s) {
		char c = norm(*s);
		if (*pat == '*') {
			while (*pat == '*')
				pat++;
			star_p = pat;
			star_s = s;
			continue;
		}
		if (*pat == '?') {
			pat++;
			s++;
			continue;
		}
		if (*pat == '[') {
			size_t used;
			bool ok = set_match(pat, c, &used);
			if (used) {
				if (ok) {
					pat += used;
					s++;
					continue;
				}
				goto backtrack;
			}
			/* unclosed: literal '[' */
		}
		if (*pat && norm(*pat) == c) {
			pat++;
			s++;
			continue;
		}
	backtrack:
		if (!star_p)
			return false;
		pat = star_p;
		s = ++star_s;
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

bool pf_hub_pattern_match(const char *pattern, const char *path)
{
	size_t n = strlen(pattern);
	if (n > 0 && norm(pattern[n - 1]) == '/') {
		/* "dir/" means everything under dir */
		char buf[1024];
		if (n + 2 > sizeof(buf))
			return false;
		memcpy(buf, pattern, n);
		buf[n] = '*';
		buf[n + 1] = '\0';
		return match(buf, path);
	}
	return match(pattern, path);
}
