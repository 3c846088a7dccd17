/*
 * Allocation that exits with a message on exhaustion (as git and Redis do),
 * so call sites carry no untested NULL branches; and overflow-checked size
 * arithmetic for everything computed from untrusted counts.
 */
#ifndef PF_UTIL_MEM_H
#define PF_UTIL_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

void *pf_xmalloc(size_t n);
void *pf_xcalloc(size_t count, size_t size);
void *pf_xrealloc(void *p, size_t n);
/* realloc to count*size bytes, exiting on overflow as on exhaustion. */
void *pf_xreallocarray(void *p, size_t count, size_t size);
char *pf_xstrdup(const char *s);
char *pf_xstrndup(const char *s, size_t n);
/* Formatted string on the heap; caller frees. */
char *pf_xasprintf(const char *fmt, ...) PF_PRINTF(1, 2);

/* true when a + b (or a * b) overflows uint64_t; else *out receives the result. */
static inline bool pf_add_overflow(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_add_overflow(a, b, out);
}
static inline bool pf_mul_overflow(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_mul_overflow(a, b, out);
}

/* Free an array of `n` heap strings and the array itself; NULL-safe. */
void pf_strv_free(char **v, size_t n);
/* Free a NULL-terminated array of heap strings and the array; NULL-safe. */
void pf_strv0_free(char **v);

#endif
