/*
 * Error codes and the thread-local last-error message.
 *
 * Every function that can fail returns 0 or a negative PF_E* code and, on
 * failure, leaves a one-line message (lower case, no final period, says what
 * to do) in the thread-local slot read by pf_error_last(). Callers pass the
 * code up and do not overwrite the message.
 */
#ifndef PF_UTIL_ERROR_H
#define PF_UTIL_ERROR_H

enum {
	PF_OK = 0,
	PF_EGENERIC = -1,  /* anything a caller does not branch on */
	PF_ENOTFOUND = -2, /* a file, repo, revision or key is absent */
	PF_EAUTH = -3,     /* a token is missing, wrong or lacks access */
	PF_ELIMIT = -4,    /* a size, memory or time limit was crossed */
	PF_EINVALID = -5,  /* the input (file, option, bytes) is malformed */
	PF_EENV = -6,      /* the environment is unfit: no interpreter, disk full, no network */
	PF_EINTR = -7,     /* interrupted by a signal to pteflow */
	PF_EFAILED = -8    /* a step, gate or check ran and failed */
};

#if defined(__GNUC__)
#define PF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PF_PRINTF(a, b)
#endif

/* Set the last error message (printf-style); returns PF_EGENERIC for `return pf_error_set(...)`. */
int pf_error_set(const char *fmt, ...) PF_PRINTF(1, 2);

/* Same as pf_error_set but returns `code`, for `return pf_error_code(PF_ENOTFOUND, ...)`. */
int pf_error_code(int code, const char *fmt, ...) PF_PRINTF(2, 3);

/* Set the message from errno: "<what>: <strerror(errno)>". Returns PF_EENV for ENOSPC/EDQUOT/EROFS/EACCES, else PF_EGENERIC. */
int pf_error_errno(const char *fmt, ...) PF_PRINTF(1, 2);

/* The last message set on this thread, or "" if none. Never NULL. */
const char *pf_error_last(void);

/* Forget the last message. */
void pf_error_clear(void);

#endif
