/*
 * stderr diagnostics and secret redaction. The secret list is small (a token
 * or two), so redaction is a plain search per secret.
 */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/mem.h"

#define MAX_SECRETS 64

static bool quiet;
static char *secrets[MAX_SECRETS];
static size_t n_secrets;
static pf_secret_hook secret_hook;

void pf_log_set_quiet(bool q)
{
	quiet = q;
}

bool pf_log_quiet(void)
{
	return quiet;
}

static void emit(const char *level, const char *fmt, va_list ap) PF_PRINTF(2, 0);

static void emit(const char *level, const char *fmt, va_list ap)
{
	char line[2048];
	char *clean;
	vsnprintf(line, sizeof(line), fmt, ap);
	clean = pf_secret_redact(line);
	fprintf(stderr, "pteflow: %s%s\n", level, clean);
	free(clean);
}

void pf_log_info(const char *fmt, ...)
{
	va_list ap;
	if (quiet)
		return;
	va_start(ap, fmt);
	emit("", fmt, ap);
	va_end(ap);
}

void pf_log_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit("warning: ", fmt, ap);
	va_end(ap);
}

void pf_log_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit("error: ", fmt, ap);
	va_end(ap);
}

void pf_secret_set_hook(pf_secret_hook hook)
{
	secret_hook = hook;
}

void pf_secret_add(const char *value)
{
	if (!value || strlen(value) < 4 || n_secrets == MAX_SECRETS)
		return;
	for (size_t i = 0; i < n_secrets; i++)
		if (strcmp(secrets[i], value) == 0)
			return;
	secrets[n_secrets++] = pf_xstrdup(value);
	if (secret_hook)
		secret_hook(value);
}

void pf_secret_foreach(pf_secret_hook fn)
{
	for (size_t i = 0; i < n_secrets; i++)
		fn(secrets[i]);
}

void pf_secret_clear(void)
{
	for (size_t i = 0; i < n_secrets; i++)
		free(secrets[i]);
	n_secrets = 0;
}

size_t pf_secret_max_len(void)
{
	size_t m = 0;
	for (size_t i = 0; i < n_secrets; i++)
		if (strlen(secrets[i]) > m)
			m = strlen(secrets[i]);
	return m;
}

static const char *find_n(const char *hay, size_t n, const char *needle, size_t nl)
{
	if (nl == 0 || nl > n)
		return NULL;
	for (size_t i = 0; i + nl <= n; i++)
		if (hay[i] == needle[0] && memcmp(hay + i, needle, nl) == 0)
			return hay + i;
	return NULL;
}

bool pf_secret_contains(const char *s, size_t n)
{
	for (size_t i = 0; i < n_secrets; i++)
		if (find_n(s, n, secrets[i], strlen(secrets[i])))
			return true;
	return false;
}

char *pf_secret_redact_n(const char *s, size_t n, size_t *out_len)
{
	pf_buf b;
	size_t i = 0;
	pf_buf_init(&b, SIZE_MAX);
	while (i < n) {
		size_t hit = 0;
		for (size_t k = 0; k < n_secrets; k++) {
			size_t l = strlen(secrets[k]);
			if (l <= n - i && memcmp(s + i, secrets[k], l) == 0 && l > hit)
				hit = l;
		}
		if (hit) {
			(void)pf_buf_append(&b, "***", 3);
			i += hit;
		} else {
			(void)pf_buf_append(&b, s + i, 1);
			i++;
		}
	}
	if (out_len)
		*out_len = b.len;
	return pf_buf_detach(&b);
}

char *pf_secret_redact(const char *s)
{
	if (n_secrets == 0)
		return pf_xstrdup(s);
	return pf_secret_redact_n(s, strlen(s), NULL);
}
