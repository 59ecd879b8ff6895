/*-------------------------------------------------------------------------
 *
 * histogram_sql.c
 *	  SQL-callable wrappers around the pure bucket math of histogram.c.
 *
 * They need no shared memory, so they work whether or not the library is
 * preloaded.  pg_regress uses them to check the error bound at every
 * magnitude deterministically, and monitoring tools use
 * histogram_percentile() to compute percentiles from bucket counts they
 * merged across snapshots or nodes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "histogram.h"

static uint64
ms_to_ns(double ms)
{
	if (isnan(ms) || ms < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("duration %g ms is not a valid latency", ms),
				 errdetail("Latencies are non-negative numbers of milliseconds.")));
	/*
	 * ~31 years: beyond any bucket anyway, and the nanoseconds still fit in
	 * a uint64 (converting a larger double is undefined: 1e14 ms came back
	 * as 4.3e6 ms on x86-64).
	 */
	if (ms >= 1e12)
		ms = 1e12;
	return (uint64) (ms * 1000000.0);
}

void
wg_hist_check_fraction(double fraction)
{
	if (isnan(fraction) || fraction < 0.0 || fraction > 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("percentile fraction %g is out of range", fraction),
				 errdetail("The fraction must be between 0 and 1, for example 0.99 for p99.")));
}

static int
check_bucket(int32 bucket)
{
	if (bucket < 0 || bucket >= WG_HIST_BUCKETS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("histogram bucket %d does not exist", bucket),
				 errdetail("Buckets are numbered 0 to %d.", WG_HIST_BUCKETS - 1)));
	return bucket;
}

/*
 * Adds up a histogram given as SQL arrays (bucket numbers, counts) into
 * counts[WG_HIST_BUCKETS], checking every element: one-dimensional arrays
 * without NULLs of the same length, existing buckets, no negative count, a
 * total that does not wrap around (a percentile needs it).
 */
void
wg_hist_counts_from_arrays(ArrayType *barr, ArrayType *carr, uint64 *counts)
{
	int32	   *b;
	int64	   *c;
	uint64		total = 0;
	int			nb,
				nc;

	if (ARR_NDIM(barr) > 1 || ARR_HASNULL(barr) || ARR_ELEMTYPE(barr) != INT4OID ||
		ARR_NDIM(carr) > 1 || ARR_HASNULL(carr) || ARR_ELEMTYPE(carr) != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("buckets and counts must be one-dimensional arrays without NULLs")));
	nb = ArrayGetNItems(ARR_NDIM(barr), ARR_DIMS(barr));
	nc = ArrayGetNItems(ARR_NDIM(carr), ARR_DIMS(carr));
	if (nb != nc)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("buckets and counts must have the same length"),
				 errdetail("There are %d buckets and %d counts.", nb, nc)));
	b = (int32 *) ARR_DATA_PTR(barr);
	c = (int64 *) ARR_DATA_PTR(carr);
	for (int i = 0; i < nb; i++)
	{
		check_bucket(b[i]);
		if (c[i] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("bucket count %lld is negative", (long long) c[i]),
					 errhint("Subtract the older snapshot from the newer one.")));
		if (pg_add_u64_overflow(total, (uint64) c[i], &total))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("sum of bucket counts is out of range")));
		counts[b[i]] += (uint64) c[i];
	}
}

/* histogram_bucket(value_ms float8) returns int */
PG_FUNCTION_INFO_V1(wg_histogram_bucket);
Datum
wg_histogram_bucket(PG_FUNCTION_ARGS)
{
	WgHistRange range;

	PG_RETURN_INT32(wg_hist_bucket(ms_to_ns(PG_GETARG_FLOAT8(0)), &range));
}

/* histogram_bucket_bounds(bucket int, OUT lower_ms, OUT upper_ms) */
PG_FUNCTION_INFO_V1(wg_histogram_bucket_bounds);
Datum
wg_histogram_bucket_bounds(PG_FUNCTION_ARGS)
{
	int			b = check_bucket(PG_GETARG_INT32(0));
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Float8GetDatum(wg_hist_lower_ns(b) / 1e6);
	values[1] = Float8GetDatum(wg_hist_upper_ns(b) / 1e6);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

static float8 *
float8_array(ArrayType *arr, int *n)
{
	if (ARR_NDIM(arr) > 1 || ARR_HASNULL(arr) || ARR_ELEMTYPE(arr) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("latencies must be a one-dimensional float8 array without NULLs")));
	*n = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
	return (float8 *) ARR_DATA_PTR(arr);
}

/*
 * histogram_estimate(values_ms float8[], fraction float8) returns float8:
 * record the values into a fresh histogram exactly as the executor would,
 * and return the estimated percentile.
 */
PG_FUNCTION_INFO_V1(wg_histogram_estimate);
Datum
wg_histogram_estimate(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	double		fraction = PG_GETARG_FLOAT8(1);
	uint64	   *counts = palloc0(sizeof(uint64) * WG_HIST_BUCKETS);
	uint64		min_ns = PG_UINT64_MAX,
				max_ns = 0;
	float8	   *vals;
	int			n,
				i;
	double		v;

	wg_hist_check_fraction(fraction);
	vals = float8_array(arr, &n);
	for (i = 0; i < n; i++)
	{
		uint64		ns = ms_to_ns(vals[i]);
		WgHistRange range;

		counts[wg_hist_bucket(ns, &range)]++;
		min_ns = Min(min_ns, ns);
		max_ns = Max(max_ns, ns);
	}
	v = wg_hist_percentile_u64(counts, fraction, min_ns, max_ns);
	if (v < 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(v / 1e6);
}

/*
 * histogram_percentile(buckets int[], counts bigint[], fraction float8):
 * percentile of a histogram given as bucket numbers and counts, such as the
 * difference of two latency_buckets() snapshots or their sum over nodes.
 * Repeated bucket numbers add up.
 */
PG_FUNCTION_INFO_V1(wg_histogram_percentile);
Datum
wg_histogram_percentile(PG_FUNCTION_ARGS)
{
	ArrayType  *barr = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *carr = PG_GETARG_ARRAYTYPE_P(1);
	double		fraction = PG_GETARG_FLOAT8(2);
	uint64	   *counts = palloc0(sizeof(uint64) * WG_HIST_BUCKETS);
	double		v;

	wg_hist_check_fraction(fraction);
	wg_hist_counts_from_arrays(barr, carr, counts);
	v = wg_hist_percentile_u64(counts, fraction, 0, PG_UINT64_MAX);
	if (v < 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(v / 1e6);
}
