/*-------------------------------------------------------------------------
 *
 * histogram.c
 *	  Bucket math for the log-linear latency histogram (see histogram.h).
 *
 * The mapping is integer-only so that it is cheap on the executor's hot
 * path: one multiply, one count-leading-zeros, two shifts.
 *
 *	ticks = nanos * 32 / 1000				(1 tick = 1/32 µs)
 *	msb   = position of the highest set bit of ticks (5 for 1 µs)
 *	octave = msb - 5,  sub = (ticks >> octave) - 32
 *	bucket = octave * 32 + sub
 *
 * Bucket b of octave o = b / 32 and sub-bucket s = b % 32 covers ticks
 * [(32 + s) << o, (33 + s) << o).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "port/pg_bitutils.h"

#include "histogram.h"

/* 1 tick = 1000/32 ns; ticks are 64-bit, so nanos up to ~2^59 are safe */
#define NS_PER_TICK		(1000.0 / WG_HIST_SUB)
#define MAX_NANOS		(UINT64CONST(1) << 58)

int
wg_hist_bucket(uint64 nanos, WgHistRange *range)
{
	uint64		ticks;
	int			msb;

	if (nanos >= MAX_NANOS)
		nanos = MAX_NANOS;
	ticks = nanos * WG_HIST_SUB / 1000;

	if (ticks < WG_HIST_SUB)
	{
		*range = WG_HIST_UNDERFLOW;
		return 0;
	}

	msb = pg_leftmost_one_pos64(ticks);
	if (msb - WG_HIST_SUB_BITS >= WG_HIST_OCTAVES)
	{
		*range = WG_HIST_OVERFLOW;
		return WG_HIST_BUCKETS - 1;
	}

	*range = WG_HIST_IN_RANGE;
	return (msb - WG_HIST_SUB_BITS) * WG_HIST_SUB +
		(int) ((ticks >> (msb - WG_HIST_SUB_BITS)) - WG_HIST_SUB);
}

double
wg_hist_lower_ns(int bucket)
{
	int			octave = bucket / WG_HIST_SUB;
	int			sub = bucket % WG_HIST_SUB;

	Assert(bucket >= 0 && bucket < WG_HIST_BUCKETS);
	return ldexp((double) (WG_HIST_SUB + sub), octave) * NS_PER_TICK;
}

double
wg_hist_upper_ns(int bucket)
{
	int			octave = bucket / WG_HIST_SUB;
	int			sub = bucket % WG_HIST_SUB;

	Assert(bucket >= 0 && bucket < WG_HIST_BUCKETS);
	return ldexp((double) (WG_HIST_SUB + sub + 1), octave) * NS_PER_TICK;
}

double
wg_hist_mid_ns(int bucket)
{
	return (wg_hist_lower_ns(bucket) + wg_hist_upper_ns(bucket)) / 2.0;
}

double
wg_hist_percentile_u64(const uint64 *counts, double fraction,
					   uint64 min_ns, uint64 max_ns)
{
	uint64		total = 0;
	uint64		rank;
	uint64		seen = 0;
	int			i;

	for (i = 0; i < WG_HIST_BUCKETS; i++)
		total += counts[i];
	if (total == 0)
		return -1.0;

	if (fraction <= 0.0)
		rank = 1;
	else if (fraction >= 1.0)
		rank = total;
	else
	{
		/* nearest rank: the smallest value with at least fraction*total at or below it */
		rank = (uint64) ceil(fraction * (double) total - 1e-9);
		if (rank < 1)
			rank = 1;
	}

	/* the extremes are known exactly when the caller tracked them */
	if (rank == total && max_ns != PG_UINT64_MAX)
		return (double) max_ns;
	if (rank == 1 && min_ns != 0)
		return (double) min_ns;

	for (i = 0; i < WG_HIST_BUCKETS; i++)
	{
		seen += counts[i];
		if (seen >= rank)
		{
			double		v = wg_hist_mid_ns(i);

			/*
			 * The exact extremes are known; a percentile can never lie
			 * outside them, and clamping also makes p0/p100 exact.
			 */
			if (v < (double) min_ns)
				v = (double) min_ns;
			if (v > (double) max_ns)
				v = (double) max_ns;
			return v;
		}
	}
	return (double) max_ns;		/* not reached */
}
