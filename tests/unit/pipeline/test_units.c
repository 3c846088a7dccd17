/* Unit tests of src/pipeline/units.c: sizes and durations, parsing and formatting. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline.h"
#include "util/error.h"

static uint64_t size_ok(const char *text)
{
	uint64_t v = 12345;
	int rc = pf_parse_size(&v, text);
	cr_assert_eq(rc, 0, "\"%s\" should parse: %s", text, pf_error_last());
	return v;
}

static void size_bad(const char *text, const char *needle)
{
	uint64_t v = 777;
	int rc = pf_parse_size(&v, text);
	cr_assert_eq(rc, PF_EINVALID, "\"%s\" should be refused", text);
	cr_assert_eq(v, 777, "\"%s\": output written on failure", text);
	cr_assert(strstr(pf_error_last(), needle), "\"%s\": message \"%s\" lacks \"%s\"", text, pf_error_last(),
	          needle);
}

Test(pipeline_units, every_size_unit)
{
	cr_assert_eq(size_ok("0"), 0);
	cr_assert_eq(size_ok("100"), 100);
	cr_assert_eq(size_ok("100B"), 100);
	cr_assert_eq(size_ok("1KB"), 1000);
	cr_assert_eq(size_ok("1kB"), 1000);
	cr_assert_eq(size_ok("2MB"), 2000000);
	cr_assert_eq(size_ok("3GB"), 3000000000ULL);
	cr_assert_eq(size_ok("4TB"), 4000000000000ULL);
	cr_assert_eq(size_ok("5PB"), 5000000000000000ULL);
	cr_assert_eq(size_ok("1KiB"), 1024);
	cr_assert_eq(size_ok("512MiB"), 512ULL << 20);
	cr_assert_eq(size_ok("6GiB"), 6ULL << 30);
	cr_assert_eq(size_ok("2TiB"), 2ULL << 40);
	cr_assert_eq(size_ok("3PiB"), 3ULL << 50);
}

Test(pipeline_units, exact_fractions)
{
	cr_assert_eq(size_ok("1.5GB"), 1500000000ULL);
	cr_assert_eq(size_ok("5.5GiB"), 5905580032ULL);
	cr_assert_eq(size_ok("0.5KiB"), 512);
	cr_assert_eq(size_ok("1.25KiB"), 1280);
	cr_assert_eq(size_ok("1.000KB"), 1000);
	cr_assert_eq(size_ok("1.5000000000000000000000000GB"), 1500000000ULL); /* trailing zeros are free */
	cr_assert_eq(size_ok("0.00000095367431640625MiB"), 1);                 /* 2^-20 MiB is one byte */
	cr_assert_eq(size_ok("0.001KB"), 1);
}

Test(pipeline_units, refuses_rounding)
{
	size_bad("1.0000000001KB", "not a whole number of bytes");
	size_bad("1.5B", "not a whole number of bytes");
	size_bad("0.0001KB", "not a whole number of bytes");
	size_bad("1.1KiB", "not a whole number of bytes");
	size_bad("1.000000000000000000001PB", "more than 20 decimals");
}

Test(pipeline_units, refuses_overflow)
{
	cr_assert_eq(size_ok("18446744073709551615"), UINT64_MAX);
	size_bad("18446744073709551616", "too large");
	size_bad("99999999999999999999999999", "too large");
	size_bad("16385PiB", "too large");
	size_bad("18446744073709551.616KB", "too large");
	cr_assert_eq(size_ok("16383.5PiB"), (16383ULL << 50) + (1ULL << 49));
}

Test(pipeline_units, refuses_malformed_sizes)
{
	size_bad("", "invalid size");
	size_bad("GB", "invalid size");
	size_bad("1.5XB", "unknown unit \"XB\"");
	size_bad("1.5 GB", "unknown unit");
	size_bad("1gb", "unknown unit");
	size_bad("-1GB", "invalid size");
	size_bad("1.GB", "a digit must follow the point");
	size_bad(".5GB", "invalid size");
	size_bad("1e9", "unknown unit");
	size_bad("1GBB", "unknown unit");
}

static uint64_t dur_ok(const char *text)
{
	uint64_t v = 0;
	cr_assert_eq(pf_parse_duration(&v, text), 0, "\"%s\" should parse: %s", text, pf_error_last());
	return v;
}

static void dur_bad(const char *text, const char *needle)
{
	uint64_t v = 5;
	cr_assert_eq(pf_parse_duration(&v, text), PF_EINVALID, "\"%s\" should be refused", text);
	cr_assert_eq(v, 5);
	cr_assert(strstr(pf_error_last(), needle), "\"%s\": message \"%s\" lacks \"%s\"", text, pf_error_last(),
	          needle);
}

Test(pipeline_units, durations)
{
	cr_assert_eq(dur_ok("90s"), 90000);
	cr_assert_eq(dur_ok("30m"), 1800000);
	cr_assert_eq(dur_ok("2h"), 7200000);
	cr_assert_eq(dur_ok("500ms"), 500);
	cr_assert_eq(dur_ok("1h30m"), 5400000);
	cr_assert_eq(dur_ok("1h2m3s4ms"), 3723004);
	cr_assert_eq(dur_ok("0s"), 0);
	cr_assert_eq(dur_ok("1m500ms"), 60500);
}

Test(pipeline_units, bad_durations)
{
	dur_bad("", "empty duration");
	dur_bad("90", "has no unit");
	dur_bad("90x", "unknown unit");
	dur_bad("30m1h", "out of order");
	dur_bad("1h1h", "out of order");
	dur_bad("1.5h", "fractions are not accepted");
	dur_bad("h", "invalid duration");
	dur_bad("-5s", "invalid duration");
	dur_bad("1h 30m", "invalid duration");
	dur_bad("99999999999999999999h", "too large");
	dur_bad("5124095576030432h", "too large");
}

static void fmt_is(char *got, const char *want)
{
	cr_assert_str_eq(got, want);
	free(got);
}

Test(pipeline_units, formats)
{
	fmt_is(pf_format_size(0), "0 B");
	fmt_is(pf_format_size(1023), "1023 B");
	fmt_is(pf_format_size(1536), "1.5 KiB");
	fmt_is(pf_format_size(6ULL << 30), "6.0 GiB");
	fmt_is(pf_format_size(1500000000ULL), "1.4 GiB");
	fmt_is(pf_format_size(UINT64_MAX), "16.0 EiB");
	fmt_is(pf_format_duration(0), "0s");
	fmt_is(pf_format_duration(500), "500ms");
	fmt_is(pf_format_duration(3723000), "1h 2m 3s");
	fmt_is(pf_format_duration(3723004), "1h 2m 3s 4ms");
	fmt_is(pf_format_duration(5400000), "1h 30m");
}

Test(pipeline_units, exact_format_round_trips)
{
	static const uint64_t values[] = {
	    0, 1, 100, 1000, 1024, 1500000000ULL, 6ULL << 30, 5905580032ULL, 123456789, 3ULL << 50, UINT64_MAX};
	fmt_is(pf_format_size_exact(6ULL << 30), "6GiB");
	fmt_is(pf_format_size_exact(1500000000ULL), "1.5GB");
	fmt_is(pf_format_size_exact(100), "100B");
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		char *s = pf_format_size_exact(values[i]);
		uint64_t back = 0;
		cr_assert_eq(pf_parse_size(&back, s), 0, "%s: %s", s, pf_error_last());
		cr_assert_eq(back, values[i], "%s read back as %llu", s, (unsigned long long)back);
		free(s);
	}
}

Test(pipeline_units, durations_are_bounded)
{
	/* the run engine counts a deadline in nanoseconds: 10^16 ms wrapped around and killed the step at once */
	cr_assert_eq(dur_ok("8760h"), 8760ULL * 3600000);
	cr_assert_eq(dur_ok("525600m"), 8760ULL * 3600000);
	dur_bad("8761h", "the maximum is 8760h");
	dur_bad("8760h1ms", "the maximum is 8760h");
	dur_bad("10000000000000000ms", "the maximum is 8760h");
	dur_bad("99999999999999999999h", "the maximum is 8760h");
}

Test(pipeline_units, messages_say_what_to_do)
{
	char *huge = malloc(4001);
	size_bad("-5", "cannot be negative");
	size_bad("-1GB", "cannot be negative");
	/* a long value is cut in the message, so the fix at its end survives the 1 KiB error buffer */
	memset(huge, 'x', 4000);
	huge[0] = '1';
	huge[4000] = '\0';
	size_bad(huge, "e.g. 1.5GB or 6GiB");
	dur_bad(huge, "e.g. 90s");
	free(huge);
}
