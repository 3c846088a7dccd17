/*
 * Checks of untrusted text shared by the readers of manifests, store records
 * and provenance envelopes: digest form, and JSON nesting depth counted
 * before cJSON (which recurses) ever sees the text.
 */
#ifndef PF_UTIL_TEXT_H
#define PF_UTIL_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* true when s is 64 lower-case hex digits (a SHA-256 as pteflow writes them). */
bool pf_is_sha256_hex(const char *s);

/* false when JSON text nests deeper than max (strings skipped; counted without recursion). */
bool pf_json_depth_ok(const char *s, size_t len, int max);

/*
 * Text from a record or manifest, safe for a terminal (heap): control
 * characters and DEL become "\xNN", a backslash "\\"; the rest is kept.
 */
char *pf_text_printable(const char *s);

typedef enum pf_url_kind { PF_URL_OK = 0, PF_URL_NOT_HTTP, PF_URL_CREDENTIALS } pf_url_kind;
/*
 * Whether url is http:// or https:// with a host, and carries no user info
 * ("user:pass@"): where a URL is written down (a pipeline, a log line), its
 * credentials must come from elsewhere.
 */
pf_url_kind pf_url_check(const char *url);

#endif
