/*
 * Sizes ("1.5GB", "6GiB", "100B", plain bytes) and durations ("90s",
 * "1h30m", "500ms") for the pipeline's limits and gates, and their human
 * forms for messages. Exact arithmetic only: a value that is not a whole
 * number of bytes or milliseconds, or that overflows 64 bits, is refused
 * rather than rounded. Called a few times per pipeline: no speed concern.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline.h"
#include "util/error.h"
#include "util/mem.h"

__extension__ typedef unsigned __int128 u128;

typedef struct unit {
	const char *name;
	uint64_t mult;
} unit;

static const unit size_units[] = {
    {"B", 1ULL},
    {"KB", 1000ULL},
    {"kB", 1000ULL},
    {"MB", 1000000ULL},
    {"GB", 1000000000ULL},
    {"TB", 1000000000000ULL},
    {"PB", 1000000000000000ULL},
    {"KiB", 1ULL << 10},
    {"MiB", 1ULL << 20},
    {"GiB", 1ULL << 30},
    {"TiB", 1ULL << 40},
    {"PiB", 1ULL << 50},
    {NULL, 0},
};

#define SIZE_HINT                                                                                                      \
	"use a whole number of bytes or a number with a unit: B, KB, MB, GB, TB, PB (powers of 1000) "                 \
	"or KiB, MiB, GiB, TiB, PiB (powers of 1024), e.g. 1.5GB or 6GiB"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int pf_parse_size(uint64_t *out, const char *text)
{
	const char *p = text;
	u128 whole = 0, frac = 0, scale = 1, total;
	size_t n_whole = 0, n_frac = 0;
	uint64_t mult = 0;
	if (!text)
		return pf_error_code(PF_EINVALID, "missing size: " SIZE_HINT);
	for (; is_digit(*p); p++, n_whole++) {
		whole = whole * 10 + (u128)(*p - '0');
		if (whole > UINT64_MAX)
			return pf_error_code(PF_EINVALID, "size \"%.80s\" is too large: the maximum is 16 EiB", text);
	}
	if (*p == '.') {
		const char *first = ++p;
		size_t n_sig;
		while (is_digit(*p))
			p++;
		n_frac = (size_t)(p - first);
		n_sig = n_frac;
		while (n_sig > 0 && first[n_sig - 1] == '0') /* trailing zeros change nothing */
			n_sig--;
		if (n_sig > 20)
			return pf_error_code(PF_EINVALID, "size \"%.80s\" has more than 20 decimals: " SIZE_HINT, text);
		for (size_t k = 0; k < n_sig; k++) {
			frac = frac * 10 + (u128)(first[k] - '0');
			scale *= 10;
		}
		if (n_frac == 0)
			return pf_error_code(PF_EINVALID,
			                     "invalid size \"%.80s\": a digit must follow the point: " SIZE_HINT, text);
	}
	if (n_whole == 0 && *text == '-')
		return pf_error_code(PF_EINVALID, "invalid size \"%.80s\": a size cannot be negative: " SIZE_HINT,
		                     text);
	if (n_whole == 0)
		return pf_error_code(PF_EINVALID, "invalid size \"%.80s\": " SIZE_HINT, text);
	if (*p == '\0') {
		mult = 1;
	} else {
		for (const unit *u = size_units; u->name; u++)
			if (!strcmp(p, u->name))
				mult = u->mult;
	}
	if (mult == 0)
		return pf_error_code(PF_EINVALID, "invalid size \"%.80s\": unknown unit \"%.80s\": " SIZE_HINT, text,
		                     p);
	total = whole * mult;
	if (total > UINT64_MAX)
		return pf_error_code(PF_EINVALID, "size \"%.80s\" is too large: the maximum is 16 EiB", text);
	/* frac < 10^20 < 2^67 and mult <= 2^50: the product fits in 128 bits */
	if ((frac * mult) % scale != 0)
		return pf_error_code(PF_EINVALID,
		                     "size \"%.80s\" is not a whole number of bytes: pteflow does not round; "
		                     "write it exactly (e.g. in bytes)",
		                     text);
	total += frac * mult / scale;
	if (total > UINT64_MAX)
		return pf_error_code(PF_EINVALID, "size \"%.80s\" is too large: the maximum is 16 EiB", text);
	*out = (uint64_t)total;
	return 0;
}

#define DURATION_HINT "use whole numbers with units h, m, s, ms in that order, e.g. 90s, 30m, 2h, 500ms or 1h30m"
/*
 * One year. Far above any step, and far below what the run engine can count:
 * it turns a timeout into a deadline in nanoseconds (src/proc/proc.c), and
 * 10^16 ms wrapped around and killed the step at once.
 */
#define DURATION_MAX_MS (8760ULL * 3600000ULL)
#define DURATION_TOO_LARGE "duration \"%.80s\" is too large: the maximum is 8760h (a year); remove the key for none"

int pf_parse_duration(uint64_t *out_ms, const char *text)
{
	static const unit dur_units[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
	const char *p = text;
	uint64_t total = 0;
	size_t next_unit = 0;
	if (!text || !*text)
		return pf_error_code(PF_EINVALID, "empty duration: " DURATION_HINT);
	while (*p) {
		uint64_t n = 0, part;
		size_t digits = 0, u;
		for (; is_digit(*p); p++, digits++)
			if (pf_mul_overflow(n, 10, &n) || pf_add_overflow(n, (uint64_t)(*p - '0'), &n))
				return pf_error_code(PF_EINVALID, DURATION_TOO_LARGE, text);
		if (digits == 0) {
			if (*p == '.' || (p > text && p[-1] == '.'))
				return pf_error_code(
				    PF_EINVALID,
				    "invalid duration \"%.80s\": fractions are not accepted: " DURATION_HINT, text);
			return pf_error_code(PF_EINVALID, "invalid duration \"%.80s\": " DURATION_HINT, text);
		}
		if (*p == '\0')
			return pf_error_code(PF_EINVALID,
			                     "invalid duration \"%.80s\": \"%.80s\" has no unit: " DURATION_HINT, text,
			                     text);
		if (*p == '.')
			return pf_error_code(PF_EINVALID,
			                     "invalid duration \"%.80s\": fractions are not accepted: " DURATION_HINT,
			                     text);
		if (p[0] == 'm' && p[1] == 's')
			u = 3;
		else if (*p == 'h')
			u = 0;
		else if (*p == 'm')
			u = 1;
		else if (*p == 's')
			u = 2;
		else
			return pf_error_code(PF_EINVALID,
			                     "invalid duration \"%.80s\": unknown unit at \"%.80s\": " DURATION_HINT,
			                     text, p);
		if (u < next_unit)
			return pf_error_code(
			    PF_EINVALID, "invalid duration \"%.80s\": units repeat or are out of order: " DURATION_HINT,
			    text);
		next_unit = u + 1;
		p += strlen(dur_units[u].name);
		if (pf_mul_overflow(n, dur_units[u].mult, &part) || pf_add_overflow(total, part, &total) ||
		    total > DURATION_MAX_MS)
			return pf_error_code(PF_EINVALID, DURATION_TOO_LARGE, text);
	}
	*out_ms = total;
	return 0;
}

char *pf_format_size(uint64_t bytes)
{
	static const char *names[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	size_t i = 0;
	uint64_t div = 1024;
	uint64_t tenths;
	if (bytes < 1024)
		return pf_xasprintf("%llu B", (unsigned long long)bytes);
	while (i + 1 < sizeof(names) / sizeof(names[0]) && bytes / div >= 1024) {
		div *= 1024;
		i++;
	}
	/* one decimal, rounded to nearest; 128-bit so bytes*10 cannot overflow */
	tenths = (uint64_t)(((u128)bytes * 10 + div / 2) / div);
	return pf_xasprintf("%llu.%llu %s", (unsigned long long)(tenths / 10), (unsigned long long)(tenths % 10),
	                    names[i]);
}

char *pf_format_size_exact(uint64_t bytes)
{
	static const unit units[] = {{"PiB", 1ULL << 50},      {"PB", 1000000000000000ULL}, {"TiB", 1ULL << 40},
	                             {"TB", 1000000000000ULL}, {"GiB", 1ULL << 30},         {"GB", 1000000000ULL},
	                             {"MiB", 1ULL << 20},      {"MB", 1000000ULL},          {"KiB", 1ULL << 10},
	                             {"KB", 1000ULL}};
	char *best = pf_xasprintf("%lluB", (unsigned long long)bytes);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && bytes > 0; i++) {
		char *cand = NULL;
		uint64_t m = units[i].mult;
		if (bytes < m)
			continue;
		if (bytes % m == 0)
			cand = pf_xasprintf("%llu%s", (unsigned long long)(bytes / m), units[i].name);
		else if (m % 10 == 0 && bytes % (m / 10) == 0) /* one decimal, decimal units only */
			cand = pf_xasprintf("%llu.%llu%s", (unsigned long long)(bytes / m),
			                    (unsigned long long)(bytes % m / (m / 10)), units[i].name);
		if (cand && strlen(cand) < strlen(best)) {
			free(best);
			best = cand;
		} else {
			free(cand);
		}
	}
	return best;
}

char *pf_format_duration(uint64_t ms)
{
	uint64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, rest = ms % 1000;
	char part[4][32];
	size_t n = 0;
	if (h)
		snprintf(part[n++], sizeof(part[0]), "%lluh", (unsigned long long)h);
	if (m)
		snprintf(part[n++], sizeof(part[0]), "%llum", (unsigned long long)m);
	if (s)
		snprintf(part[n++], sizeof(part[0]), "%llus", (unsigned long long)s);
	if (rest)
		snprintf(part[n++], sizeof(part[0]), "%llums", (unsigned long long)rest);
	if (n == 0)
		return pf_xstrdup("0s");
	if (n == 1)
		return pf_xasprintf("%s", part[0]);
	if (n == 2)
		return pf_xasprintf("%s %s", part[0], part[1]);
	if (n == 3)
		return pf_xasprintf("%s %s %s", part[0], part[1], part[2]);
	return pf_xasprintf("%s %s %s %s", part[0], part[1], part[2], part[3]);
}
