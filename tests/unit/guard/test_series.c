/*
 * The memory series (src/guard/series.c): samples max-pool into buckets,
 * a full series halves into wider buckets without losing its peak, and the
 * step's peak figure becomes the curve's top.
 */
#include <criterion/criterion.h>

#include "guard/series.h"

Test(guard_series, off_records_nothing)
{
	pf_series s;
	pf_series_init(&s, 0);
	pf_series_add(&s, 0, 100);
	pf_series_settle(&s, 500, 10);
	cr_assert_eq(s.n, 0);
}

Test(guard_series, one_point_per_bucket_holds_its_largest_sample)
{
	pf_series s;
	pf_series_init(&s, 250);
	pf_series_add(&s, 0, 10);
	pf_series_add(&s, 20, 30);
	pf_series_add(&s, 240, 20);
	pf_series_add(&s, 250, 5);
	pf_series_settle(&s, 0, 300);
	cr_assert_eq(s.n, 2);
	cr_assert_eq(s.pts[0].bytes, 30);
	cr_assert_eq(s.pts[0].t_ms, 20);
	cr_assert_eq(s.pts[1].bytes, 5);
	cr_assert_eq(s.pts[1].t_ms, 250);
}

Test(guard_series, a_long_step_stays_bounded_and_keeps_its_peak)
{
	pf_series s;
	uint32_t t;
	pf_series_init(&s, 250);
	/* 10 hours at one sample every 250 ms, a single spike in the middle */
	for (t = 0; t < 36000000; t += 250)
		pf_series_add(&s, t, t == 18000000 ? 9000 : 100 + t % 7);
	pf_series_settle(&s, 9000, t);
	cr_assert_leq(s.n, PF_SERIES_MAX);
	cr_assert_geq(s.n, PF_SERIES_MAX / 2);
	cr_assert_gt(s.bucket_ms, 250);
	cr_assert_eq(pf_series_max(&s, NULL), 9000);
	cr_assert_not(s.peak_settled);
	for (size_t i = 1; i < s.n; i++)
		cr_assert_gt(s.pts[i].t_ms, s.pts[i - 1].t_ms);
}

Test(guard_series, a_peak_between_samples_becomes_the_top)
{
	pf_series s;
	size_t at;
	pf_series_init(&s, 100);
	pf_series_add(&s, 0, 10);
	pf_series_add(&s, 100, 80);
	pf_series_add(&s, 200, 40);
	pf_series_settle(&s, 95, 250);
	cr_assert_eq(pf_series_max(&s, &at), 95);
	cr_assert_eq(at, 1);
	cr_assert(s.peak_settled);
}

Test(guard_series, a_step_shorter_than_a_sample_gets_its_peak_as_one_point)
{
	pf_series s;
	pf_series_init(&s, 250);
	pf_series_settle(&s, 4096, 12);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.pts[0].bytes, 4096);
	cr_assert_eq(s.pts[0].t_ms, 12);
}
