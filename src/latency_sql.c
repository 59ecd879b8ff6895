/*-------------------------------------------------------------------------
 *
 * latency_sql.c
 *	  The SQL functions behind workload_guard.statement_latency and its
 *	  siblings: copies of digests taken under the shared lock (see the
 *	  protocol in latency.c), percentiles and tuples built outside it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "common/string.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "latency.h"
#include "latency_internal.h"
#include "workload_guard.h"

/* ----------------------------------------------------------------
 * SQL functions
 * ----------------------------------------------------------------
 */
static void
check_loaded(void)
{
	if (!wg_lat || !wg_lat_hash)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("workload_guard must be loaded via shared_preload_libraries"),
				 errhint("Add workload_guard to shared_preload_libraries and restart the server.")));

	/* every statement that completed before this read is counted */
	wg_latency_fold_all();
}

void
wg_require_loaded(void)
{
	check_loaded();
}

static inline double
ns_to_ms(double ns)
{
	return ns / 1000000.0;
}

static Datum
percentile_datum(const uint64 *counts, double fraction, uint64 min_ns,
				 uint64 max_ns, bool *isnull)
{
	double		v = wg_hist_percentile_u64(counts, fraction, min_ns, max_ns);

	*isnull = (v < 0);
	return Float8GetDatum(ns_to_ms(v));
}

/*
 * Copy the recent-window counts of a digest that are current at now_ns into
 * out[], returning the number of calls and errors and the seconds covered.
 */
static uint64
digest_recent(WgDigest *d, uint64 now_ns, uint64 *out, uint64 *errors,
			  double *seconds)
{
	uint64		window_ns = recent_window_ns();
	uint64		epoch = recent_epoch_of(now_ns);
	uint64		calls = 0;
	uint64		oldest = epoch;
	int			s,
				i;

	memset(out, 0, sizeof(uint64) * WG_HIST_BUCKETS);
	*errors = 0;
	for (s = 0; s < 2; s++)
	{
		uint64		ep = pg_atomic_read_u64(&d->recent_epoch[s]);

		if (ep != epoch && ep != epoch - 1)
			continue;
		pg_read_barrier();
		/* calls are the sum of the buckets: one atomic less per execution */
		for (i = 0; i < WG_HIST_BUCKETS; i++)
		{
			uint32		n = pg_atomic_read_u32(&d->recent[s][i]);

			out[i] += n;
			calls += n;
		}
		*errors += pg_atomic_read_u32(&d->recent_errors[s]);
		if (ep < oldest)
			oldest = ep;
	}
	*seconds = (double) (now_ns - (oldest - WG_EPOCH_BASE) * window_ns) / 1e9;
	return calls;
}

/*
 * Copies slot into *out; false if the slot is free or (queryid != NULL)
 * holds another digest.  The recent window is copied when now_ns != 0.
 */
static bool
digest_snapshot(int slot, const uint64 *queryid, uint64 now_ns, WgDigestSnap *out)
{
	WgDigest   *d = &wg_lat->digests[slot];
	int			b;

	LWLockAcquire(wg_lat->lock, LW_SHARED);
	if (!d->in_use || (queryid != NULL && d->key.queryid != *queryid))
	{
		LWLockRelease(wg_lat->lock);
		return false;
	}
	out->key = d->key;
	out->stats_since = d->stats_since;
	memcpy(out->query, d->query, d->query_len + 1);
	out->encoding = d->encoding;
	out->calls = pg_atomic_read_u64(&d->calls);
	out->errors = pg_atomic_read_u64(&d->errors);
	out->cancels = pg_atomic_read_u64(&d->cancels);
	out->total_ns = pg_atomic_read_u64(&d->total_ns);
	out->min_ns = pg_atomic_read_u64(&d->min_ns);
	out->max_ns = pg_atomic_read_u64(&d->max_ns);
	out->out_of_range = pg_atomic_read_u64(&d->out_of_range);
	for (b = 0; b < WG_HIST_BUCKETS; b++)
		out->buckets[b] = pg_atomic_read_u64(&d->buckets[b]);
	if (now_ns != 0)
		out->recent_calls = digest_recent(d, now_ns, out->recent,
										  &out->recent_errors,
										  &out->recent_seconds);
	LWLockRelease(wg_lat->lock);
	return true;
}

/*
 * A sample text in the encoding of the database reading it.  The text was
 * kept in the encoding of the database that ran the statement; read in
 * another database it is converted, as pg_stat_statements does
 * (pg_any_to_server), but a character the reader's encoding cannot hold
 * becomes '?' instead of failing the whole view: a monitoring query must
 * not break because one digest came from a database in another encoding.
 * Bytes of a SQL_ASCII database are kept where valid, else '?'.
 */
static text *
query_text(const char *query, int encoding)
{
	int			server = GetDatabaseEncoding();
	int			len = strlen(query);
	Oid			proc = InvalidOid;
	StringInfoData out;
	int			i = 0;

	if (encoding == server || server == PG_SQL_ASCII ||
		pg_is_ascii(query) ||
		(encoding == PG_SQL_ASCII && pg_verify_mbstr(server, query, len, true)))
		return cstring_to_text_with_len(query, len);

	if (encoding != PG_SQL_ASCII)
		proc = FindDefaultConversionProc(encoding, server);

	initStringInfo(&out);
	while (i < len)
	{
		int			chunk;

		if (OidIsValid(proc))
		{
			unsigned char *dest;
			int			done;

			enlargeStringInfo(&out, (len - i) * MAX_CONVERSION_GROWTH + 1);
			dest = (unsigned char *) out.data + out.len;
			done = pg_do_encoding_conversion_buf(proc, encoding, server,
												 (unsigned char *) query + i,
												 len - i, dest,
												 (len - i) * MAX_CONVERSION_GROWTH + 1,
												 true);
			out.len += strlen((char *) dest);
			i += done;
			if (i >= len)
				break;
		}
		else if (!IS_HIGHBIT_SET(query[i]))
		{
			appendStringInfoChar(&out, query[i++]);
			continue;
		}
		/* a character that does not convert: one '?' for it */
		chunk = (encoding == PG_SQL_ASCII) ? 1 :
			pg_encoding_mblen_bounded(encoding, query + i);
		appendStringInfoChar(&out, '?');
		i += Max(chunk, 1);
	}
	return cstring_to_text_with_len(out.data, out.len);
}

PG_FUNCTION_INFO_V1(wg_statement_latency);

#define STATEMENT_LATENCY_COLS 26

Datum
wg_statement_latency(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		showtext = PG_GETARG_BOOL(0);
	Oid			userid = GetUserId();
	bool		see_all = has_privs_of_role(userid, ROLE_PG_READ_ALL_STATS);
	uint64		now = clock_ns();
	WgDigestSnap *d;
	int			i;

	check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	d = palloc(sizeof(WgDigestSnap));

	for (i = 0; i < wg_lat->max_digests; i++)
	{
		Datum		values[STATEMENT_LATENCY_COLS];
		bool		nulls[STATEMENT_LATENCY_COLS];
		int			c = 0;
		bool		visible;

		if (!digest_snapshot(i, NULL, now, d))
			continue;
		memset(nulls, 0, sizeof(nulls));
		visible = see_all || d->key.userid == userid;

		values[c++] = ObjectIdGetDatum(d->key.userid);
		values[c++] = ObjectIdGetDatum(d->key.dbid);
		if (visible)
			values[c++] = Int64GetDatum((int64) d->key.queryid);
		else
			nulls[c++] = true;
		values[c++] = BoolGetDatum(d->key.toplevel);
		if (!showtext)
			nulls[c++] = true;
		else if (visible)
			values[c++] = PointerGetDatum(query_text(d->query, d->encoding));
		else
			values[c++] = CStringGetTextDatum("<insufficient privilege>");
		values[c++] = Int64GetDatum((int64) d->calls);
		values[c++] = Int64GetDatum((int64) d->errors);
		values[c++] = Int64GetDatum((int64) d->cancels);
		values[c++] = Float8GetDatum(ns_to_ms((double) d->total_ns));
		if (d->calls > 0)
		{
			values[c++] = Float8GetDatum(ns_to_ms((double) d->total_ns / d->calls));
			values[c++] = Float8GetDatum(ns_to_ms((double) d->min_ns));
			values[c++] = Float8GetDatum(ns_to_ms((double) d->max_ns));
		}
		else
		{
			nulls[c++] = true;
			nulls[c++] = true;
			nulls[c++] = true;
		}
		values[c] = percentile_datum(d->buckets, 0.50, d->min_ns, d->max_ns, &nulls[c]);
		c++;
		values[c] = percentile_datum(d->buckets, 0.90, d->min_ns, d->max_ns, &nulls[c]);
		c++;
		values[c] = percentile_datum(d->buckets, 0.95, d->min_ns, d->max_ns, &nulls[c]);
		c++;
		values[c] = percentile_datum(d->buckets, 0.99, d->min_ns, d->max_ns, &nulls[c]);
		c++;
		values[c] = percentile_datum(d->buckets, 0.999, d->min_ns, d->max_ns, &nulls[c]);
		c++;
		values[c++] = Int64GetDatum((int64) d->out_of_range);

		values[c++] = Int64GetDatum((int64) d->recent_calls);
		values[c++] = Int64GetDatum((int64) d->recent_errors);
		values[c] = percentile_datum(d->recent, 0.50, d->min_ns, d->max_ns, &nulls[c]);
		c++;
		values[c] = percentile_datum(d->recent, 0.95, d->min_ns, d->max_ns, &nulls[c]);
		c++;
		values[c] = percentile_datum(d->recent, 0.99, d->min_ns, d->max_ns, &nulls[c]);
		c++;
		values[c] = percentile_datum(d->recent, 0.999, d->min_ns, d->max_ns, &nulls[c]);
		c++;
		values[c++] = Float8GetDatum(d->recent_seconds);
		values[c++] = TimestampTzGetDatum(d->stats_since);
		Assert(c == STATEMENT_LATENCY_COLS);

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	pfree(d);

	return (Datum) 0;
}

/*
 * Merge the cumulative buckets of every digest with this queryid that the
 * caller may see (its own, or all with pg_read_all_stats: the rule of the
 * statement_latency view for queryids) into counts[]; returns false when
 * there is none.
 */
static bool
merge_queryid(uint64 queryid, uint64 *counts, uint64 *min_ns, uint64 *max_ns)
{
	Oid			userid = GetUserId();
	bool		see_all = has_privs_of_role(userid, ROLE_PG_READ_ALL_STATS);
	WgDigestSnap *d = palloc(sizeof(WgDigestSnap));
	bool		found = false;
	int			i,
				b;

	memset(counts, 0, sizeof(uint64) * WG_HIST_BUCKETS);
	*min_ns = PG_UINT64_MAX;
	*max_ns = 0;

	for (i = 0; i < wg_lat->max_digests; i++)
	{
		if (!digest_snapshot(i, &queryid, 0, d) ||
			(!see_all && d->key.userid != userid))
			continue;
		found = true;
		for (b = 0; b < WG_HIST_BUCKETS; b++)
			counts[b] += d->buckets[b];
		*min_ns = Min(*min_ns, d->min_ns);
		*max_ns = Max(*max_ns, d->max_ns);
	}
	pfree(d);
	return found;
}

PG_FUNCTION_INFO_V1(wg_latency_percentile);

Datum
wg_latency_percentile(PG_FUNCTION_ARGS)
{
	uint64		queryid = (uint64) PG_GETARG_INT64(0);
	double		fraction = PG_GETARG_FLOAT8(1);
	uint64		counts[WG_HIST_BUCKETS];
	uint64		min_ns,
				max_ns;
	bool		isnull;
	Datum		result;

	check_loaded();
	wg_hist_check_fraction(fraction);
	if (!merge_queryid(queryid, counts, &min_ns, &max_ns))
		PG_RETURN_NULL();
	result = percentile_datum(counts, fraction, min_ns, max_ns, &isnull);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

PG_FUNCTION_INFO_V1(wg_latency_histogram);

Datum
wg_latency_histogram(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	uint64		queryid = (uint64) PG_GETARG_INT64(0);
	uint64		counts[WG_HIST_BUCKETS];
	uint64		min_ns,
				max_ns;
	int			b;

	check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	if (!merge_queryid(queryid, counts, &min_ns, &max_ns))
		return (Datum) 0;

	for (b = 0; b < WG_HIST_BUCKETS; b++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		if (counts[b] == 0)
			continue;
		values[0] = Int32GetDatum(b);
		values[1] = Float8GetDatum(ns_to_ms(wg_hist_lower_ns(b)));
		values[2] = Float8GetDatum(ns_to_ms(wg_hist_upper_ns(b)));
		values[3] = Int64GetDatum((int64) counts[b]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * Raw cumulative bucket counts of every digest, for monitoring tools that
 * subtract snapshots or merge nodes.  Same visibility rule for queryid as
 * the statement_latency view.
 */
PG_FUNCTION_INFO_V1(wg_latency_buckets);

Datum
wg_latency_buckets(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			userid = GetUserId();
	bool		see_all = has_privs_of_role(userid, ROLE_PG_READ_ALL_STATS);
	WgDigestSnap *d;
	int			i,
				b;

	check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	d = palloc(sizeof(WgDigestSnap));

	for (i = 0; i < wg_lat->max_digests; i++)
	{
		if (!digest_snapshot(i, NULL, 0, d))
			continue;
		for (b = 0; b < WG_HIST_BUCKETS; b++)
		{
			Datum		values[7];
			bool		nulls[7] = {false, false, false, false, false, false, false};

			if (d->buckets[b] == 0)
				continue;
			values[0] = ObjectIdGetDatum(d->key.userid);
			values[1] = ObjectIdGetDatum(d->key.dbid);
			if (see_all || d->key.userid == userid)
				values[2] = Int64GetDatum((int64) d->key.queryid);
			else
				nulls[2] = true;
			values[3] = BoolGetDatum(d->key.toplevel);
			values[4] = Int32GetDatum(b);
			values[5] = Float8GetDatum(ns_to_ms(wg_hist_lower_ns(b)));
			values[6] = Int64GetDatum((int64) d->buckets[b]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	pfree(d);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(wg_reset_latency);

Datum
wg_reset_latency(PG_FUNCTION_ARGS)
{
	bool		all = PG_ARGISNULL(0);
	uint64		queryid = all ? 0 : (uint64) PG_GETARG_INT64(0);
	int64		removed;

	check_loaded();

	LWLockAcquire(wg_lat->lock, LW_EXCLUSIVE);
	removed = wg_latency_store_remove(all, queryid);
	if (all)
	{
		wg_lat->stats_reset = GetCurrentTimestamp();
		pg_atomic_write_u64(&wg_lat->evictions, 0);
		pg_atomic_write_u64(&wg_lat->dropped, 0);
	}
	LWLockRelease(wg_lat->lock);

	PG_RETURN_INT64(removed);
}

PG_FUNCTION_INFO_V1(wg_latency_info);

Datum
wg_latency_info(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	int			used;

	check_loaded();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	LWLockAcquire(wg_lat->lock, LW_SHARED);
	used = wg_lat->max_digests - wg_lat->nfree;
	values[0] = Int32GetDatum(wg_lat->max_digests);
	values[1] = Int32GetDatum(used);
	values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&wg_lat->evictions));
	values[3] = Int64GetDatum((int64) pg_atomic_read_u64(&wg_lat->dropped));
	values[4] = Int32GetDatum(wg_recent_window);
	values[5] = TimestampTzGetDatum(wg_lat->stats_reset);
	LWLockRelease(wg_lat->lock);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * digest_snapshot() for the other latency files (latency_export.c): the one
 * way to read a digest, under the protocol above.
 */
bool
wg_latency_snapshot(int slot, const uint64 *queryid, uint64 now_ns,
					WgDigestSnap *out)
{
	return digest_snapshot(slot, queryid, now_ns, out);
}

/*
 * Server time recorded for one digest (every role, statements at every
 * level) in database dbid over the recent window, estimated from the
 * window's histogram (each execution counted at its bucket's midpoint),
 * and the window's length in seconds (the current epoch and the one
 * before it).  For the time budgets of digest_rules.c: the one call that
 * couples them to the recorder.  Like every reader it first merges the
 * backends' pending executions: a long statement whose session then sits
 * idle (a pool's connection) would otherwise stay in its ring, unseen by
 * the budget.  Scans the table under the shared lock; the caller limits
 * how often.
 */
double
wg_latency_recent_busy_ns(uint64 queryid, Oid dbid, double *seconds)
{
	uint64		now_ns = clock_ns();
	uint64		window_ns = recent_window_ns();
	uint64		epoch = recent_epoch_of(now_ns);
	double		busy = 0;
	int			i;

	*seconds = (double) (now_ns - (epoch - 1 - WG_EPOCH_BASE) * window_ns) / 1e9;
	if (wg_lat == NULL)
		return 0;
	wg_latency_fold_all();
	LWLockAcquire(wg_lat->lock, LW_SHARED);
	for (i = 0; i < wg_lat->max_digests; i++)
	{
		WgDigest   *d = &wg_lat->digests[i];
		int			s,
					b;

		if (!d->in_use || d->key.queryid != queryid || d->key.dbid != dbid)
			continue;
		for (s = 0; s < 2; s++)
		{
			uint64		ep = pg_atomic_read_u64(&d->recent_epoch[s]);

			if (ep != epoch && ep != epoch - 1)
				continue;
			pg_read_barrier();
			for (b = 0; b < WG_HIST_BUCKETS; b++)
			{
				uint32		n = pg_atomic_read_u32(&d->recent[s][b]);

				if (n > 0)
					busy += (double) n * wg_hist_mid_ns(b);
			}
		}
	}
	LWLockRelease(wg_lat->lock);
	return busy;
}
