/*
 * The clock shared by the run, the store and provenance (clock.h).
 */
#define _GNU_SOURCE
#include "util/clock.h"

#include <time.h>

#include "util/mem.h"

uint64_t pf_clock_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

char *pf_clock_utc_now(void)
{
	time_t t = time(NULL);
	struct tm tm;
	char buf[32];
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return pf_xstrdup(buf);
}
