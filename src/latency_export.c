/*-------------------------------------------------------------------------
 *
 * latency_export.c
 *	  Latency for monitoring tools, read-only over the digest table:
 *
 *	  - prometheus_latency(top): the top digests by calls as classic
 *		Prometheus histograms (cumulative counts at fixed "le" bounds,
 *		sum, count) plus their error and cancel counters, one row per
 *		(database, role, queryid): the shape postgres_exporter's
 *		"usage: HISTOGRAM" columns take (monitoring/queries.yaml).
 *	  - latency values: one digest's histogram as one compact bytea
 *		(latency_export), an aggregate adding such values up over nodes
 *		(latency_merge) and percentiles of a value
 *		(latency_value_percentile): fleet-wide percentiles without
 *		shipping 1024 rows per digest and node.
 *	  - latency_chart: a distribution drawn as text bars, p50/p95/p99
 *		marked, from a digest, a value, or bucket numbers and counts.
 *
 * Nothing here writes shared memory: digests are copied one at a time with
 * wg_latency_snapshot() (latency_sql.c, under the protocol of latency.c)
 * and everything else is computed on the copy.
 *
 * Prometheus bounds.  A bound must be an exact boundary of the fine buckets,
 * or a fine bucket would be split between two Prometheus buckets and the
 * cumulative counts would be wrong for that bucket.  The octave boundaries
 * 2^k µs are such boundaries (the lower bound of bucket 32 k); k = 2 .. 28
 * gives 27 bounds from 4 µs to 268 s, a factor of 2 apart, as Prometheus'
 * own default buckets roughly are.  Everything slower is counted in +Inf.
 *
 * Latency value format, version 1 (all integers little-endian, so values
 * from nodes of any architecture merge):
 *	  byte 0		version (1)
 *	  bytes 1-4		n: number of non-empty buckets
 *	  bytes 5-12	minimum, nanoseconds (uint64)
 *	  bytes 13-20	maximum, nanoseconds (uint64)
 *	  bytes 21-28	sum of all latencies, nanoseconds (IEEE double: a fleet's
 *					sum over years does not fit 64 bits of nanoseconds)
 *	  then n times	uint16 bucket, uint64 count; buckets strictly increasing
 * A value comes from users (it crossed a network, a file, a psql variable),
 * so every field is checked on input (value_add) before it is used.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_authid.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/tuplestore.h"

#include "histogram.h"
#include "latency_internal.h"
#include "workload_guard.h"

#define PROM_FIRST_OCTAVE	2	/* 2^2 µs = 4 µs */
#define PROM_LAST_OCTAVE	28	/* 2^28 µs = 268 s */
#define PROM_BOUNDS			(PROM_LAST_OCTAVE - PROM_FIRST_OCTAVE + 1)

#define VALUE_VERSION		1
#define VALUE_HEADER		29
#define VALUE_ENTRY			10

#define PROMETHEUS_LATENCY_COLS 10

/* doubles; not core's NS_PER_* (int64, in instr_time.h from 16) */
#define WG_NS_PER_MS		1000000.0
#define WG_NS_PER_S			1000000000.0

/* a histogram with its exact extremes and sum, as a value carries it */
typedef struct WgHistValue
{
	uint64		counts[WG_HIST_BUCKETS];
	uint64		total;
	uint64		min_ns;			/* PG_UINT64_MAX while total == 0 */
	uint64		max_ns;
	double		sum_ns;
} WgHistValue;

static void
value_init(WgHistValue *v)
{
	memset(v, 0, sizeof(*v));
	v->min_ns = PG_UINT64_MAX;
}

/* can a role see this digest's queryid?  The rule of statement_latency. */
static inline bool
queryid_visible(Oid digest_user, Oid userid, bool see_all)
{
	return see_all || digest_user == userid;
}

/* ----------------------------------------------------------------
 * Prometheus
 * ----------------------------------------------------------------
 */
typedef struct PromKey
{
	Oid			dbid;
	Oid			userid;
	uint64		queryid;
} PromKey;

typedef struct PromEntry
{
	PromKey		key;			/* hash key; must be first */
	uint64		count;
	uint64		errors;
	uint64		cancels;
	uint64		total_ns;
	TimestampTz stats_since;
	uint64		cum[PROM_BOUNDS];	/* cumulative count at each bound */
} PromEntry;

/* upper bound k (0-based) in seconds: the lower bound of a fine bucket */
static double
prom_bound_seconds(int k)
{
	return wg_hist_lower_ns((PROM_FIRST_OCTAVE + k) * WG_HIST_SUB) / WG_NS_PER_S;
}

static int
prom_entry_cmp(const void *a, const void *b)
{
	const PromEntry *x = *(PromEntry *const *) a;
	const PromEntry *y = *(PromEntry *const *) b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	if (x->key.queryid != y->key.queryid)
		return x->key.queryid < y->key.queryid ? -1 : 1;
	if (x->key.dbid != y->key.dbid)
		return x->key.dbid < y->key.dbid ? -1 : 1;
	if (x->key.userid != y->key.userid)
		return x->key.userid < y->key.userid ? -1 : 1;
	return 0;
}

/* a label value: the name, or the OID of an object that is gone */
static Datum
name_or_oid(char *name, Oid oid)
{
	return CStringGetTextDatum(name ? name : psprintf("%u", oid));
}

/*
 * prometheus_latency(top int): one row per (database, role, queryid) among
 * the "top" with the most calls, top-level and nested executions added up.
 * Digests whose queryid the caller may not see are left out (their rows
 * would all carry the same empty label and collide); give the exporter's
 * role pg_monitor.  Counters are cumulative: they go down only when the
 * digest is reset or evicted, and stats_since moves then.
 */
PG_FUNCTION_INFO_V1(wg_prometheus_latency);

Datum
wg_prometheus_latency(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		top = PG_GETARG_INT32(0);
	Oid			userid = GetUserId();
	bool		see_all = has_privs_of_role(userid, ROLE_PG_READ_ALL_STATS);
	HASHCTL		ctl;
	HTAB	   *groups;
	HASH_SEQ_STATUS seq;
	PromEntry  *e;
	PromEntry **order;
	WgDigestSnap *d;
	Datum		bounds[PROM_BOUNDS];
	ArrayType  *le;
	long		n = 0;
	int			i,
				k;

	wg_require_loaded();
	if (top < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("top must be at least 1"),
				 errdetail("It is the number of digests exported, those with the most calls.")));
	InitMaterializedSRF(fcinfo, 0);

	ctl.keysize = sizeof(PromKey);
	ctl.entrysize = sizeof(PromEntry);
	ctl.hcxt = CurrentMemoryContext;
	groups = hash_create("workload_guard prometheus", 64, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	d = palloc(sizeof(WgDigestSnap));
	for (i = 0; i < wg_lat->max_digests; i++)
	{
		PromKey		key;
		bool		found;
		uint64		cum = 0;
		int			b = 0;

		if (!wg_latency_snapshot(i, NULL, 0, d) ||
			!queryid_visible(d->key.userid, userid, see_all))
			continue;
		memset(&key, 0, sizeof(key));
		key.dbid = d->key.dbid;
		key.userid = d->key.userid;
		key.queryid = d->key.queryid;
		e = hash_search(groups, &key, HASH_ENTER, &found);
		if (!found)
		{
			memset((char *) e + sizeof(PromKey), 0, sizeof(PromEntry) - sizeof(PromKey));
			e->stats_since = d->stats_since;
			n++;
		}
		/* a reset of either part is a reset of the sum: the later start */
		e->stats_since = Max(e->stats_since, d->stats_since);
		e->errors += d->errors;
		e->cancels += d->cancels;
		e->total_ns += d->total_ns;
		for (k = 0; k < PROM_BOUNDS; k++)
		{
			for (; b < (PROM_FIRST_OCTAVE + k) * WG_HIST_SUB; b++)
				cum += d->buckets[b];
			e->cum[k] += cum;
		}
		/*
		 * count is the sum of the buckets, not "calls": both are read
		 * without a lock, and only this way is +Inf never below a bound.
		 */
		for (; b < WG_HIST_BUCKETS; b++)
			cum += d->buckets[b];
		e->count += cum;
	}
	pfree(d);

	order = palloc(sizeof(PromEntry *) * Max(n, 1));
	n = 0;
	hash_seq_init(&seq, groups);
	while ((e = hash_seq_search(&seq)) != NULL)
		order[n++] = e;
	qsort(order, n, sizeof(PromEntry *), prom_entry_cmp);

	for (k = 0; k < PROM_BOUNDS; k++)
		bounds[k] = Float8GetDatum(prom_bound_seconds(k));
	le = construct_array(bounds, PROM_BOUNDS, FLOAT8OID, sizeof(float8),
						 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);

	for (i = 0; i < n && i < top; i++)
	{
		Datum		values[PROMETHEUS_LATENCY_COLS];
		bool		nulls[PROMETHEUS_LATENCY_COLS];
		Datum		cum[PROM_BOUNDS];
		int			c = 0;

		e = order[i];
		memset(nulls, 0, sizeof(nulls));
		for (k = 0; k < PROM_BOUNDS; k++)
			cum[k] = Int64GetDatum((int64) e->cum[k]);
		values[c++] = name_or_oid(get_database_name(e->key.dbid), e->key.dbid);
		values[c++] = name_or_oid(GetUserNameFromId(e->key.userid, true), e->key.userid);
		values[c++] = Int64GetDatum((int64) e->key.queryid);
		values[c++] = PointerGetDatum(le);
		values[c++] = PointerGetDatum(construct_array(cum, PROM_BOUNDS, INT8OID,
													  sizeof(int64), FLOAT8PASSBYVAL,
													  TYPALIGN_DOUBLE));
		values[c++] = Float8GetDatum((double) e->total_ns / WG_NS_PER_S);
		values[c++] = Int64GetDatum((int64) e->count);
		values[c++] = Int64GetDatum((int64) e->errors);
		values[c++] = Int64GetDatum((int64) e->cancels);
		values[c++] = TimestampTzGetDatum(e->stats_since);
		Assert(c == PROMETHEUS_LATENCY_COLS);
		if (rsinfo->setDesc->natts != PROMETHEUS_LATENCY_COLS)
			elog(ERROR, "prometheus_latency: expected %d columns, got %d",
				 PROMETHEUS_LATENCY_COLS, rsinfo->setDesc->natts);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ----------------------------------------------------------------
 * Latency values
 * ----------------------------------------------------------------
 */
static void
put_u16(unsigned char *p, uint16 v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void
put_u32(unsigned char *p, uint32 v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (v >> (8 * i)) & 0xff;
}

static void
put_u64(unsigned char *p, uint64 v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (v >> (8 * i)) & 0xff;
}

static uint16
get_u16(const unsigned char *p)
{
	return (uint16) (p[0] | (p[1] << 8));
}

static uint32
get_u32(const unsigned char *p)
{
	uint32		v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64
get_u64(const unsigned char *p)
{
	uint64		v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/*
 * Make the extremes and the sum agree with the buckets.  The counters of a
 * digest are read without a lock while executions go on, so the maximum may
 * lag the bucket an execution just landed in; a value must pass value_add's
 * checks on every node that imports it.
 */
static void
value_normalize(WgHistValue *v)
{
	int			first = -1,
				last = -1;
	WgHistRange range;

	for (int b = 0; b < WG_HIST_BUCKETS; b++)
	{
		if (v->counts[b] == 0)
			continue;
		if (first < 0)
			first = b;
		last = b;
	}
	if (first < 0)
	{
		v->min_ns = v->max_ns = 0;
		v->sum_ns = 0;
		return;
	}
	if (v->min_ns > v->max_ns || wg_hist_bucket(v->min_ns, &range) != first)
		v->min_ns = first == 0 ? 0 : (uint64) ceil(wg_hist_lower_ns(first));
	if (wg_hist_bucket(v->max_ns, &range) != last)
		v->max_ns = (uint64) ceil(wg_hist_upper_ns(last)) - 1;
	if (wg_hist_bucket(v->max_ns, &range) != last)	/* not reached */
		v->max_ns = (uint64) wg_hist_lower_ns(last);
	if (v->sum_ns < (double) v->min_ns * v->total)
		v->sum_ns = (double) v->min_ns * v->total;
	if (v->sum_ns > (double) v->max_ns * v->total)
		v->sum_ns = (double) v->max_ns * v->total;
}

static bytea *
value_encode(const WgHistValue *v)
{
	int			n = 0;
	bytea	   *out;
	unsigned char *p;
	uint64		sum_bits;

	for (int b = 0; b < WG_HIST_BUCKETS; b++)
		if (v->counts[b] > 0)
			n++;
	out = palloc(VARHDRSZ + VALUE_HEADER + n * VALUE_ENTRY);
	SET_VARSIZE(out, VARHDRSZ + VALUE_HEADER + n * VALUE_ENTRY);
	p = (unsigned char *) VARDATA(out);
	p[0] = VALUE_VERSION;
	put_u32(p + 1, n);
	put_u64(p + 5, v->total ? v->min_ns : 0);
	put_u64(p + 13, v->total ? v->max_ns : 0);
	StaticAssertStmt(sizeof(double) == sizeof(uint64), "double is 8 bytes");
	memcpy(&sum_bits, &v->sum_ns, sizeof(sum_bits));
	put_u64(p + 21, sum_bits);
	p += VALUE_HEADER;
	for (int b = 0; b < WG_HIST_BUCKETS; b++)
	{
		if (v->counts[b] == 0)
			continue;
		put_u16(p, (uint16) b);
		put_u64(p + 2, v->counts[b]);
		p += VALUE_ENTRY;
	}
	return out;
}

static void
invalid_value(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid latency value"),
			 errdetail_internal("%s", detail),
			 errhint("Pass values returned by workload_guard.latency_export() or latency_merge(), unchanged.")));
}

static void
sum_overflow(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("sum of bucket counts is out of range")));
}

/*
 * Check a value from the outside completely, then add it to acc.  Every
 * field is checked against what latency_export can produce: the version,
 * the length, bucket numbers in range and strictly increasing, no empty
 * entry, the extremes inside the first and last bucket, a finite sum
 * between count*min and count*max; adding must not overflow.
 */
static void
value_add(WgHistValue *acc, bytea *raw)
{
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(raw);
	Size		len = VARSIZE_ANY_EXHDR(raw);
	uint32		n;
	uint64		min_ns,
				max_ns,
				sum_bits,
				total = 0;
	double		sum_ns;
	int			prev = -1,
				first = -1;
	WgHistRange range;

	if (len < 1)
		invalid_value("The value is empty.");
	if (p[0] != VALUE_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("latency value version %d is not supported", p[0]),
				 errdetail("This version of workload_guard reads version %d.", VALUE_VERSION),
				 errhint("Merge values on a node running the workload_guard version that exported them.")));
	if (len < VALUE_HEADER)
		invalid_value("The value is shorter than its header.");
	n = get_u32(p + 1);
	if (n > WG_HIST_BUCKETS || len != VALUE_HEADER + (Size) n * VALUE_ENTRY)
		invalid_value("Its length does not match its number of buckets.");
	min_ns = get_u64(p + 5);
	max_ns = get_u64(p + 13);
	sum_bits = get_u64(p + 21);
	memcpy(&sum_ns, &sum_bits, sizeof(sum_ns));

	for (uint32 i = 0; i < n; i++)
	{
		const unsigned char *q = p + VALUE_HEADER + i * VALUE_ENTRY;
		int			b = get_u16(q);
		uint64		c = get_u64(q + 2);

		if (b >= WG_HIST_BUCKETS || b <= prev)
			invalid_value("Its bucket numbers are out of range or out of order.");
		if (c == 0)
			invalid_value("It has an empty bucket entry.");
		if (pg_add_u64_overflow(total, c, &total))
			sum_overflow();
		if (first < 0)
			first = b;
		prev = b;
	}
	if (n == 0)
	{
		if (min_ns != 0 || max_ns != 0 || sum_ns != 0)
			invalid_value("An empty value has extremes or a sum.");
		return;
	}
	if (min_ns > max_ns ||
		wg_hist_bucket(min_ns, &range) != first ||
		wg_hist_bucket(max_ns, &range) != prev)
		invalid_value("Its minimum or maximum lies outside its first or last bucket.");
	if (isnan(sum_ns) || isinf(sum_ns) ||
		sum_ns < (double) min_ns * total * (1 - 1e-9) ||
		sum_ns > (double) max_ns * total * (1 + 1e-9))
		invalid_value("Its sum is not between count times minimum and count times maximum.");

	/* valid: add it */
	if (pg_add_u64_overflow(acc->total, total, &acc->total))
		sum_overflow();
	for (uint32 i = 0; i < n; i++)
	{
		const unsigned char *q = p + VALUE_HEADER + i * VALUE_ENTRY;

		/* no bucket exceeds the total, which did not overflow */
		acc->counts[get_u16(q)] += get_u64(q + 2);
	}
	acc->min_ns = Min(acc->min_ns, min_ns);
	acc->max_ns = Max(acc->max_ns, max_ns);
	acc->sum_ns += sum_ns;
}

/*
 * The digests with this queryid that the caller may see, every role and
 * database, top-level and nested, added up; false when there is none.
 */
static bool
digest_value(uint64 queryid, WgHistValue *v)
{
	Oid			userid = GetUserId();
	bool		see_all = has_privs_of_role(userid, ROLE_PG_READ_ALL_STATS);
	WgDigestSnap *d = palloc(sizeof(WgDigestSnap));
	bool		found = false;

	value_init(v);
	for (int i = 0; i < wg_lat->max_digests; i++)
	{
		uint64		n = 0;

		if (!wg_latency_snapshot(i, &queryid, 0, d) ||
			!queryid_visible(d->key.userid, userid, see_all))
			continue;
		found = true;
		for (int b = 0; b < WG_HIST_BUCKETS; b++)
		{
			v->counts[b] += d->buckets[b];
			n += d->buckets[b];
		}
		v->total += n;
		if (n > 0)
		{
			v->min_ns = Min(v->min_ns, d->min_ns);
			v->max_ns = Max(v->max_ns, d->max_ns);
		}
		v->sum_ns += (double) d->total_ns;
	}
	pfree(d);
	value_normalize(v);
	return found;
}

/* latency_export(queryid bigint) returns bytea */
PG_FUNCTION_INFO_V1(wg_latency_export);

Datum
wg_latency_export(PG_FUNCTION_ARGS)
{
	WgHistValue *v = palloc(sizeof(WgHistValue));

	wg_require_loaded();
	if (!digest_value((uint64) PG_GETARG_INT64(0), v))
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(value_encode(v));
}

/* latency_merge(bytea) aggregate: transition, NULL inputs are skipped */
PG_FUNCTION_INFO_V1(wg_latency_merge_step);

Datum
wg_latency_merge_step(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	WgHistValue *acc;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("latency_merge_step can only be called as the transition function of latency_merge")));
	if (PG_ARGISNULL(0) && PG_ARGISNULL(1))
		PG_RETURN_NULL();		/* only NULLs so far: the result is NULL */
	if (PG_ARGISNULL(0))
	{
		acc = MemoryContextAlloc(aggcxt, sizeof(WgHistValue));
		value_init(acc);
	}
	else
		acc = (WgHistValue *) PG_GETARG_POINTER(0);
	if (!PG_ARGISNULL(1))
		value_add(acc, PG_GETARG_BYTEA_PP(1));
	PG_RETURN_POINTER(acc);
}

PG_FUNCTION_INFO_V1(wg_latency_merge_final);

Datum
wg_latency_merge_final(PG_FUNCTION_ARGS)
{
	WgHistValue *acc;

	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("latency_merge_final can only be called as the final function of latency_merge")));
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	acc = (WgHistValue *) PG_GETARG_POINTER(0);
	if (acc->total == 0)
	{
		WgHistValue empty;

		value_init(&empty);
		value_normalize(&empty);
		PG_RETURN_BYTEA_P(value_encode(&empty));
	}
	PG_RETURN_BYTEA_P(value_encode(acc));
}

/* latency_value_percentile(value bytea, fraction float8) returns float8 (ms) */
PG_FUNCTION_INFO_V1(wg_latency_value_percentile);

Datum
wg_latency_value_percentile(PG_FUNCTION_ARGS)
{
	double		fraction = PG_GETARG_FLOAT8(1);
	WgHistValue *v = palloc(sizeof(WgHistValue));
	double		ns;

	wg_hist_check_fraction(fraction);
	value_init(v);
	value_add(v, PG_GETARG_BYTEA_PP(0));
	if (v->total == 0)
		PG_RETURN_NULL();
	ns = wg_hist_percentile_u64(v->counts, fraction, v->min_ns, v->max_ns);
	PG_RETURN_FLOAT8(ns / WG_NS_PER_MS);
}

/*
 * latency_value_stats(value bytea, OUT calls, OUT min_ms, OUT max_ms,
 * OUT mean_ms): what else a value knows.
 */
PG_FUNCTION_INFO_V1(wg_latency_value_stats);

Datum
wg_latency_value_stats(PG_FUNCTION_ARGS)
{
	WgHistValue *v = palloc(sizeof(WgHistValue));
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	value_init(v);
	value_add(v, PG_GETARG_BYTEA_PP(0));
	values[0] = Int64GetDatum((int64) v->total);
	if (v->total == 0)
		nulls[1] = nulls[2] = nulls[3] = true;
	else
	{
		values[1] = Float8GetDatum(v->min_ns / WG_NS_PER_MS);
		values[2] = Float8GetDatum(v->max_ns / WG_NS_PER_MS);
		values[3] = Float8GetDatum(v->sum_ns / v->total / WG_NS_PER_MS);
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* ----------------------------------------------------------------
 * Charts
 * ----------------------------------------------------------------
 */
#define CHART_MAX_ROWS	30
#define CHART_BAR		40

/* a duration for a human: 4 significant digits and a unit */
static char *
human_ns(double ns)
{
	if (ns < 1000.0)
		return psprintf("%.4g ns", ns);
	if (ns < WG_NS_PER_MS)
		return psprintf("%.4g us", ns / 1000.0);
	if (ns < WG_NS_PER_S)
		return psprintf("%.4g ms", ns / WG_NS_PER_MS);
	return psprintf("%.4g s", ns / WG_NS_PER_S);
}

/*
 * Draw counts[] as rows of text bars: rows of 1, 2, 4, 8, 16 or 32 fine
 * buckets (the finest that needs at most CHART_MAX_ROWS rows from the first
 * to the last non-empty bucket), a header line with the count and the
 * percentiles, and "<- p50" etc. on the rows that hold them.  Percentiles
 * are those of statement_latency (midpoint of the bucket, clamped to the
 * exact extremes when known: pass 0 and PG_UINT64_MAX otherwise).
 */
static void
chart_rows(ReturnSetInfo *rsinfo, const uint64 *counts, uint64 min_ns,
		   uint64 max_ns)
{
	static const double fractions[] = {0.50, 0.95, 0.99};
	static const char *const names[] = {"p50", "p95", "p99"};
	double		pct[3];
	int			pct_bucket[3];
	int			first = -1,
				last = -1,
				group = 1,
				g0,
				p;
	uint64		total = 0,
				peak = 0;
	StringInfoData line;

	for (int b = 0; b < WG_HIST_BUCKETS; b++)
	{
		if (counts[b] == 0)
			continue;
		if (first < 0)
			first = b;
		last = b;
		total += counts[b];
	}
	if (total == 0)
		return;
	while (group < WG_HIST_SUB &&
		   last / group - first / group + 1 > CHART_MAX_ROWS)
		group *= 2;

	for (p = 0; p < 3; p++)
	{
		WgHistRange range;

		pct[p] = wg_hist_percentile_u64(counts, fractions[p], min_ns, max_ns);
		pct_bucket[p] = wg_hist_bucket((uint64) pct[p], &range);
	}
	for (g0 = first / group; g0 <= last / group; g0++)
	{
		uint64		c = 0;

		for (int b = g0 * group; b < (g0 + 1) * group; b++)
			c += counts[b];
		peak = Max(peak, c);
	}

	initStringInfo(&line);
	appendStringInfo(&line, "%llu executions   p50 %s   p95 %s   p99 %s",
					 (unsigned long long) total, human_ns(pct[0]),
					 human_ns(pct[1]), human_ns(pct[2]));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
						 (Datum[]) {CStringGetTextDatum(line.data)},
						 (bool[]) {false});

	for (g0 = first / group; g0 <= last / group; g0++)
	{
		int			lo = g0 * group,
					hi = (g0 + 1) * group - 1;
		uint64		c = 0;
		int			width;

		for (int b = lo; b <= hi; b++)
			c += counts[b];
		width = c == 0 ? 0 : Max(1, (int) ((c * CHART_BAR + peak - 1) / peak));
		resetStringInfo(&line);
		appendStringInfo(&line, "%10s .. %-10s |", human_ns(wg_hist_lower_ns(lo)),
						 human_ns(wg_hist_upper_ns(hi)));
		for (int w = 0; w < CHART_BAR; w++)
			appendStringInfoChar(&line, w < width ? '#' : ' ');
		appendStringInfo(&line, "| %llu", (unsigned long long) c);
		for (p = 0; p < 3; p++)
			if (pct_bucket[p] >= lo && pct_bucket[p] <= hi)
				appendStringInfo(&line, " <- %s", names[p]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
							 (Datum[]) {CStringGetTextDatum(line.data)},
							 (bool[]) {false});
	}
}

/* latency_chart(queryid bigint) returns setof text */
PG_FUNCTION_INFO_V1(wg_latency_chart);

Datum
wg_latency_chart(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	WgHistValue *v = palloc(sizeof(WgHistValue));

	wg_require_loaded();
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (digest_value((uint64) PG_GETARG_INT64(0), v))
		chart_rows(rsinfo, v->counts, v->min_ns, v->max_ns);
	return (Datum) 0;
}

/* latency_chart(value bytea) returns setof text */
PG_FUNCTION_INFO_V1(wg_latency_value_chart);

Datum
wg_latency_value_chart(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	WgHistValue *v = palloc(sizeof(WgHistValue));

	value_init(v);
	value_add(v, PG_GETARG_BYTEA_PP(0));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	chart_rows(rsinfo, v->counts, v->min_ns, v->max_ns);
	return (Datum) 0;
}

/*
 * latency_chart(buckets int[], counts bigint[]) returns setof text: the
 * same drawing for a histogram given as bucket numbers and counts (as
 * histogram_percentile takes them), so that it is testable without timing.
 */
PG_FUNCTION_INFO_V1(wg_histogram_chart);

Datum
wg_histogram_chart(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *barr = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *carr = PG_GETARG_ARRAYTYPE_P(1);
	uint64	   *counts = palloc0(sizeof(uint64) * WG_HIST_BUCKETS);

	wg_hist_counts_from_arrays(barr, carr, counts);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	chart_rows(rsinfo, counts, 0, PG_UINT64_MAX);
	return (Datum) 0;
}
