/*
 * The memory series of one step (series.h): fed by the guard every time it
 * measures the step (every 1-250 ms), at most PF_SERIES_MAX points kept by
 * max-pooling, so a step of hours costs the same few KiB of manifest as one
 * of seconds and its peak survives every merge.
 */
#include "guard/series.h"

#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

void pf_series_init(pf_series *s, uint32_t interval_ms)
{
	memset(s, 0, sizeof(*s));
	s->interval_ms = interval_ms;
	s->bucket_ms = interval_ms;
}

/* Merge neighbours pairwise, keeping the larger of each pair (and its time). */
static void halve(pf_series *s)
{
	size_t w = 0;
	for (size_t i = 0; i < s->n; i += 2) {
		pf_series_point p = s->pts[i];
		if (i + 1 < s->n && s->pts[i + 1].bytes > p.bytes)
			p = s->pts[i + 1];
		s->pts[w++] = p;
	}
	s->n = w;
	if (s->bucket_ms <= UINT32_MAX / 2)
		s->bucket_ms *= 2;
}

static void close_open(pf_series *s)
{
	if (!s->has_open)
		return;
	if (s->n == PF_SERIES_MAX)
		halve(s);
	s->pts[s->n++] = s->open;
	s->has_open = false;
}

void pf_series_add(pf_series *s, uint32_t t_ms, uint64_t bytes)
{
	if (!s->interval_ms)
		return;
	if (s->has_open && t_ms >= s->open_start_ms && t_ms - s->open_start_ms >= s->bucket_ms)
		close_open(s);
	if (!s->has_open) {
		s->has_open = true;
		s->open_start_ms = t_ms;
		s->open.t_ms = t_ms;
		s->open.bytes = bytes;
	} else if (bytes > s->open.bytes) {
		s->open.t_ms = t_ms;
		s->open.bytes = bytes;
	}
}

uint64_t pf_series_max(const pf_series *s, size_t *index)
{
	uint64_t top = 0;
	size_t at = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (s->pts[i].bytes > top) {
			top = s->pts[i].bytes;
			at = i;
		}
	}
	if (index)
		*index = at;
	return top;
}

void pf_series_settle(pf_series *s, uint64_t peak_bytes, uint32_t end_ms)
{
	size_t at;
	if (!s->interval_ms)
		return;
	close_open(s);
	if (peak_bytes == 0)
		return;
	if (s->n == 0) {
		s->pts[s->n].t_ms = end_ms;
		s->pts[s->n++].bytes = peak_bytes;
		s->peak_settled = true;
		return;
	}
	if (pf_series_max(s, &at) < peak_bytes) {
		s->pts[at].bytes = peak_bytes;
		s->peak_settled = true;
	}
}

size_t pf_series_resample(uint64_t *out, size_t columns, const pf_series *s, uint32_t end_ms)
{
	uint64_t span;
	size_t k;
	if (s->n == 0 || columns == 0)
		return 0;
	span = end_ms > s->pts[s->n - 1].t_ms ? end_ms : (uint64_t)s->pts[s->n - 1].t_ms + 1;
	for (k = 0; k < columns; k++)
		out[k] = UINT64_MAX; /* empty */
	for (size_t i = 0; i < s->n; i++) {
		k = (size_t)((uint64_t)s->pts[i].t_ms * columns / span);
		if (k >= columns)
			k = columns - 1;
		if (out[k] == UINT64_MAX || s->pts[i].bytes > out[k])
			out[k] = s->pts[i].bytes;
	}
	for (k = 0; k < columns; k++)
		if (out[k] == UINT64_MAX)
			out[k] = k ? out[k - 1] : s->pts[0].bytes;
	return columns;
}

char *pf_series_sparkline(char *out, size_t cap, const pf_series *s, uint32_t end_ms, size_t columns, bool utf8)
{
	static const char ascii[] = "_.-~=+*#";
	uint64_t *v, top = 0;
	size_t used = 0;
	if (cap == 0)
		return out;
	out[0] = '\0';
	if (columns == 0 || s->n == 0)
		return out;
	v = pf_xcalloc(columns, sizeof(*v));
	pf_series_resample(v, columns, s, end_ms);
	for (size_t k = 0; k < columns; k++)
		top = v[k] > top ? v[k] : top;
	for (size_t k = 0; k < columns && used + 4 <= cap; k++) {
		size_t level = top ? (size_t)((double)v[k] / (double)top * 7.0 + 0.5) : 0;
		if (utf8) {
			/* U+2581 + level: E2 96 81..88 */
			out[used++] = '\xe2';
			out[used++] = '\x96';
			out[used++] = (char)(0x81 + level);
		} else {
			out[used++] = ascii[level];
		}
	}
	out[used] = '\0';
	free(v);
	return out;
}
