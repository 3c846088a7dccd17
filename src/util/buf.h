/*
 * A growable byte buffer with a hard maximum set at creation (curl's dynbuf
 * idea): an attacker-controlled stream can make it fail, never grow without
 * bound. Always NUL-terminated for convenience.
 */
#ifndef PF_UTIL_BUF_H
#define PF_UTIL_BUF_H

#include <stddef.h>

#include "util/error.h"

typedef struct pf_buf {
	char *data; /* NUL-terminated; NULL until the first append */
	size_t len;
	size_t cap;
	size_t max; /* appends that would exceed this fail with PF_ELIMIT */
} pf_buf;

void pf_buf_init(pf_buf *b, size_t max);
void pf_buf_dispose(pf_buf *b);
void pf_buf_reset(pf_buf *b);
int pf_buf_append(pf_buf *b, const void *data, size_t n);
int pf_buf_puts(pf_buf *b, const char *s);
int pf_buf_printf(pf_buf *b, const char *fmt, ...) PF_PRINTF(2, 3);
/* The contents (never NULL: "" when empty). */
const char *pf_buf_cstr(const pf_buf *b);
/* Hand the heap string to the caller (who frees it) and reset the buffer. */
char *pf_buf_detach(pf_buf *b);

#endif
