/*-------------------------------------------------------------------------
 *
 * histogram.h
 *	  Log-linear latency histogram: bucket math only.
 *
 * Values are durations in nanoseconds.  They are mapped to "ticks" of
 * 1/32 µs (31.25 ns), and ticks to a log-linear layout: 32 octaves (powers
 * of two) of 32 equal-width sub-buckets each, covering [1 µs, 2^32 µs), that
 * is 1 µs to 71.6 minutes, in 1024 buckets.  A bucket's width is 1/32 of its
 * lower bound, so reporting the bucket's midpoint is off by at most 1/64
 * (1.56%) of the true value.  Values below 1 µs and at or above 2^32 µs are
 * clamped into the first and last bucket and counted apart, so a caller
 * knows when the bound does not hold.
 *
 * Nothing here knows about shared memory, locks or hooks: the functions are
 * pure and are exercised from SQL by the histogram_* test functions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WG_HISTOGRAM_H
#define WG_HISTOGRAM_H

#include "c.h"

#define WG_HIST_SUB_BITS	5	/* 32 sub-buckets per power of two */
#define WG_HIST_SUB			(1 << WG_HIST_SUB_BITS)
#define WG_HIST_OCTAVES		32	/* 1 µs .. 2^32 µs */
#define WG_HIST_BUCKETS		(WG_HIST_SUB * WG_HIST_OCTAVES)	/* 1024 */

/* where a value landed, relative to the covered range */
typedef enum WgHistRange
{
	WG_HIST_IN_RANGE = 0,
	WG_HIST_UNDERFLOW,			/* below 1 µs: counted in bucket 0 */
	WG_HIST_OVERFLOW			/* 2^32 µs or more: counted in the last bucket */
} WgHistRange;

/* bucket index for a duration in nanoseconds */
extern int	wg_hist_bucket(uint64 nanos, WgHistRange *range);

/* bounds of a bucket in nanoseconds (lower inclusive, upper exclusive) */
extern double wg_hist_lower_ns(int bucket);
extern double wg_hist_upper_ns(int bucket);

/* the value reported for a bucket: its midpoint, in nanoseconds */
extern double wg_hist_mid_ns(int bucket);

/*
 * Percentile by nearest rank over "nbuckets" counts (bucket i holds
 * counts[i]), over all WG_HIST_BUCKETS buckets.
 * Returns the midpoint of the bucket that holds the ceil(fraction * total)th
 * value, clamped to [min_ns, max_ns] when those are known (pass 0 and
 * UINT64_MAX when not), or -1 when total is 0.
 */
extern double wg_hist_percentile_u64(const uint64 *counts, double fraction,
									 uint64 min_ns, uint64 max_ns);

/* ERROR unless 0 <= fraction <= 1 (histogram_sql.c: it reports to SQL) */
extern void wg_hist_check_fraction(double fraction);

/* SQL arrays (int4 buckets, int8 counts) added into counts, checked */
struct ArrayType;
extern void wg_hist_counts_from_arrays(struct ArrayType *barr,
									   struct ArrayType *carr, uint64 *counts);

#endif							/* WG_HISTOGRAM_H */
