/* Bounded growable buffer; see buf.h. */
#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

void pf_buf_init(pf_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void pf_buf_dispose(pf_buf *b)
{
	free(b->data);
	pf_buf_init(b, b->max);
}

void pf_buf_reset(pf_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

int pf_buf_append(pf_buf *b, const void *data, size_t n)
{
	size_t need;
	if (__builtin_add_overflow(b->len, n, &need) || need > b->max)
		return pf_error_code(PF_ELIMIT, "buffer limit of %zu bytes exceeded", b->max);
	if (need + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < need + 1)
			cap = cap > SIZE_MAX / 2 ? need + 1 : cap * 2;
		b->data = pf_xrealloc(b->data, cap);
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, data, n);
	b->len = need;
	b->data[b->len] = '\0';
	return 0;
}

int pf_buf_puts(pf_buf *b, const char *s)
{
	return pf_buf_append(b, s, strlen(s));
}

int pf_buf_printf(pf_buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	int n;
	int rc;
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return pf_error_set("cannot format text");
	if ((size_t)n < sizeof(small))
		return pf_buf_append(b, small, (size_t)n);
	{
		char *big = pf_xmalloc((size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		rc = pf_buf_append(b, big, (size_t)n);
		free(big);
	}
	return rc;
}

const char *pf_buf_cstr(const pf_buf *b)
{
	return b->data ? b->data : "";
}

char *pf_buf_detach(pf_buf *b)
{
	char *s = b->data ? b->data : pf_xstrdup("");
	pf_buf_init(b, b->max);
	return s;
}
