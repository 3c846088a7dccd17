/*
 * Thread-local last error. Messages are truncated at 1 KiB; they are meant
 * for one line of a terminal, not for data.
 */
#include "util/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[1024];

static void set_va(const char *fmt, va_list ap) PF_PRINTF(1, 0);

/* Through a copy: callers often wrap the last message in a new one (pf_error_code(..., "x: %s", pf_error_last())). */
static void set_va(const char *fmt, va_list ap)
{
	char msg[sizeof(last_error)];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	memcpy(last_error, msg, sizeof(last_error));
}

int pf_error_set(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_va(fmt, ap);
	va_end(ap);
	return PF_EGENERIC;
}

int pf_error_code(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_va(fmt, ap);
	va_end(ap);
	return code;
}

int pf_error_errno(const char *fmt, ...)
{
	int saved = errno;
	char what[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (saved == ENOSPC || saved == EDQUOT)
		snprintf(last_error, sizeof(last_error), "%s: %s: free some disk space and run again", what, strerror(saved));
	else
		snprintf(last_error, sizeof(last_error), "%s: %s", what, strerror(saved));
	if (saved == ENOSPC || saved == EDQUOT || saved == EROFS || saved == EACCES || saved == EPERM)
		return PF_EENV;
	return PF_EGENERIC;
}

const char *pf_error_last(void)
{
	return last_error;
}

void pf_error_clear(void)
{
	last_error[0] = '\0';
}
