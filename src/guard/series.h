/*
 * A step's memory over time: a bounded series of samples that max-pools
 * into wider buckets when it fills up, so the peak is never lost. Filled by
 * the guard (guard.c) while the step runs, written to the manifest under
 * the step's "memory" (src/manifest/render.c), drawn by src/report/ and
 * src/gha/. Plain data: copied by value with the guard's report.
 */
#ifndef PF_GUARD_SERIES_H
#define PF_GUARD_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* At most this many points: a 2-hour step sampled every 250 ms ends with buckets of 64 s. */
#define PF_SERIES_MAX 120
#define PF_SERIES_DEFAULT_MS 250

typedef struct pf_series_point {
	uint32_t t_ms;  /* since the step started: when the bucket's largest sample was taken */
	uint64_t bytes; /* the largest sample of the bucket */
} pf_series_point;

typedef struct pf_series {
	uint32_t interval_ms; /* sampling interval asked for; 0: no series */
	uint32_t bucket_ms;   /* current width of a point: interval_ms doubled at each merge */
	bool from_cgroup;     /* samples are the cgroup's usage, else the tree's resident memory */
	bool peak_settled;    /* the largest point was raised to the step's peak figure (see pf_series_settle) */
	size_t n;
	pf_series_point pts[PF_SERIES_MAX];
	/* the bucket being filled */
	bool has_open;
	uint32_t open_start_ms;
	pf_series_point open;
} pf_series;

/* Start an empty series sampled every `interval_ms` (0: off, every call is a no-op). */
void pf_series_init(pf_series *s, uint32_t interval_ms);

/*
 * One sample at `t_ms` (non-decreasing). Samples in the same bucket keep
 * their largest; when PF_SERIES_MAX points are full, neighbours are merged
 * pairwise (the larger one stays) and buckets double in width.
 */
void pf_series_add(pf_series *s, uint32_t t_ms, uint64_t bytes);

/*
 * Close the open bucket and make the curve's top the step's `peak_bytes`
 * (the kernel's high-water mark or the watchdog's, which can fall between
 * two samples): the largest point is raised to it, or, with no point at
 * all, one point at `end_ms` holds it. Samples above the peak are left.
 */
void pf_series_settle(pf_series *s, uint64_t peak_bytes, uint32_t end_ms);

/* Largest point's bytes (0 when empty); *index (when not NULL) its position. */
uint64_t pf_series_max(const pf_series *s, size_t *index);

/*
 * The series on an even grid of `columns` over [0, end_ms) (end_ms: the
 * step's duration; later points fall in the last column), for charts that
 * space values evenly (Mermaid, sparklines). A column holds the largest
 * point inside it, so the peak survives; an empty one repeats the value
 * before it (the first point's, at the start). Returns how many columns
 * were filled: `columns`, or 0 when the series is empty.
 */
size_t pf_series_resample(uint64_t *out, size_t columns, const pf_series *s, uint32_t end_ms);

/*
 * A one-line sparkline of the series into out (NUL-terminated, `columns`
 * wide, at most columns x 3 + 1 bytes), scaled to its peak: Unicode blocks
 * U+2581..U+2588 with `utf8`, else the ASCII ramp "_.-~=+*#". "" when the
 * series is empty. Returns out.
 */
char *pf_series_sparkline(char *out, size_t cap, const pf_series *s, uint32_t end_ms, size_t columns, bool utf8);

#endif
