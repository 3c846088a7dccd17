/*
 * Diagnostics on stderr, each line prefixed "pteflow: ", and the registry of
 * secret values that must never be printed or written.
 *
 * Every line that goes through pf_log_* is redacted first: any registered
 * secret is replaced by "***". Modules that write files (logs, manifests)
 * call pf_secret_redact() on what they write.
 */
#ifndef PF_UTIL_LOG_H
#define PF_UTIL_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

void pf_log_set_quiet(bool quiet);
bool pf_log_quiet(void);

/* Progress and notes: hidden by --quiet. */
void pf_log_info(const char *fmt, ...) PF_PRINTF(1, 2);
/* Warnings and errors: always shown. */
void pf_log_warn(const char *fmt, ...) PF_PRINTF(1, 2);
void pf_log_error(const char *fmt, ...) PF_PRINTF(1, 2);

/* A hook called once for each newly registered secret (GitHub Actions masks it). */
typedef void (*pf_secret_hook)(const char *value);
void pf_secret_set_hook(pf_secret_hook hook);

/* Call fn on every registered secret (GitHub Actions masks those registered before it started). */
void pf_secret_foreach(pf_secret_hook fn);
/* Register a secret value (copied). Values shorter than 4 bytes are ignored: they would redact ordinary text. */
void pf_secret_add(const char *value);
/* Forget every registered secret (tests). */
void pf_secret_clear(void);
/* Heap copy of `s` with every registered secret replaced by "***"; caller frees. */
char *pf_secret_redact(const char *s);
/* Redact `n` bytes of `s` into a heap string of at most... same as above for non-terminated data; *out_len receives the length. */
char *pf_secret_redact_n(const char *s, size_t n, size_t *out_len);
/* true if `s` contains a registered secret. */
bool pf_secret_contains(const char *s, size_t n);
/* Length of the longest registered secret (0 if none): streaming redactors keep that much tail. */
size_t pf_secret_max_len(void);

#endif
