/*
 * Time for records and durations: a monotonic millisecond clock for
 * measuring, and the UTC wall time in RFC 3339 for manifests, store records
 * and provenance.
 */
#ifndef PF_UTIL_CLOCK_H
#define PF_UTIL_CLOCK_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC: for durations only. */
uint64_t pf_clock_mono_ms(void);
/* Now in UTC as "2026-12-04T17:30:15Z" (heap; caller frees). */
char *pf_clock_utc_now(void);

#endif
