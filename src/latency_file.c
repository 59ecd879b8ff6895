/*-------------------------------------------------------------------------
 *
 * latency_file.c
 *	  Persistence of the latency digest table across clean restarts: the
 *	  postmaster writes it at a clean shutdown, shared-memory startup reads
 *	  it back and removes it.
 *
 * The file (stats_file.c: CRC-32C over all of it, atomic durable rename)
 * holds a header (histogram width, digest count, stats_reset) and one
 * record per digest: WgDigestRecord, the query text, the buckets.  Every
 * field is checked on load against what recording can produce (calls equal
 * the sum of the buckets, errors <= calls, min and max in the lowest and
 * highest used buckets, times not in the future, text terminated and valid
 * in its encoding, no duplicate key); the first bad field rejects the whole
 * file with one LOG line and the server starts with an empty table.
 *
 * Saved only at a clean shutdown (wg_stats_file_should_save): after an
 * immediate stop or a crash the statistics are discarded, as core's
 * cumulative statistics are, and the file read at start-up is removed so
 * that a later crash cannot bring back stale counts either.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"

#include "latency_internal.h"
#include "stats_file.h"

#define WG_DUMP_FILE		PGSTAT_STAT_PERMANENT_DIRECTORY "/workload_guard.stat"
#define WG_DUMP_MAGIC		0x57474c31	/* "WGL1" */
#define WG_DUMP_VERSION		2	/* 2: CRC, encoding, WgDigestRecord */

/* after the magic and version */
typedef struct WgDumpHeader
{
	uint32		hist_buckets;	/* WG_HIST_BUCKETS of the writer */
	uint32		ndigests;
	TimestampTz stats_reset;
} WgDumpHeader;

/* one digest; followed by query_len bytes of text and the buckets */
typedef struct WgDigestRecord
{
	WgLatencyKey key;
	TimestampTz stats_since;
	uint64		calls;
	uint64		errors;
	uint64		cancels;
	uint64		total_ns;
	uint64		min_ns;
	uint64		max_ns;
	uint64		out_of_range;
	int32		encoding;
	int32		query_len;
} WgDigestRecord;

/* a timestamp a running server could have written: not after "now" */
static bool
timestamp_ok(TimestampTz t, TimestampTz now)
{
	return t >= 0 && t <= now + USECS_PER_DAY;
}

/*
 * Why a record cannot have been written by recording, or NULL if it can.
 */
static const char *
record_invalid(const WgDigestRecord *r, const uint64 *buckets, TimestampTz now)
{
	uint64		sum = 0;
	int			lowest = -1;
	int			highest = -1;
	int			b;
	WgHistRange range;

	if (r->key.queryid == UINT64CONST(0) || r->key.userid == InvalidOid ||
		r->key.dbid == InvalidOid ||
		(*(const uint8 *) &r->key.toplevel) > 1)
		return "A digest has an impossible key.";
	if (!timestamp_ok(r->stats_since, now))
		return "A digest's stats_since is out of range.";
	for (b = 0; b < WG_HIST_BUCKETS; b++)
	{
		if (buckets[b] == 0)
			continue;
		if (buckets[b] > PG_UINT64_MAX - sum)
			return "A digest's bucket counts overflow.";
		sum += buckets[b];
		if (lowest < 0)
			lowest = b;
		highest = b;
	}
	if (r->calls == 0 || sum != r->calls)
		return "A digest's call count does not match its histogram.";
	if (r->errors > r->calls || r->cancels > r->errors ||
		r->out_of_range > buckets[0] + buckets[WG_HIST_BUCKETS - 1])
		return "A digest counts more errors, cancels or out-of-range calls than calls.";
	if (r->min_ns > r->max_ns ||
		wg_hist_bucket(r->min_ns, &range) != lowest ||
		wg_hist_bucket(r->max_ns, &range) != highest ||
		r->total_ns / r->calls < r->min_ns ||
		r->total_ns / r->calls > r->max_ns)
		return "A digest's minimum, maximum or total time does not match its histogram.";
	if (!PG_VALID_BE_ENCODING(r->encoding) ||
		r->query_len < 0 || r->query_len >= WG_QUERY_TEXT_LEN)
		return "A digest's query text has an impossible length or encoding.";
	return NULL;
}

/*
 * Called once at shared-memory creation, before any other process runs (so
 * without the lock).  Loads everything or nothing.
 */
void
wg_latency_file_load(void)
{
	WgStatsFile sf;
	WgDumpHeader header;
	TimestampTz now = GetCurrentTimestamp();
	const char *bad = NULL;
	uint32		i;

	if (!wg_stats_file_open(&sf, WG_DUMP_FILE, WG_DUMP_MAGIC, WG_DUMP_VERSION))
		return;
	if (!wg_save)
	{
		wg_stats_file_close(&sf, true);
		return;
	}

	memset(&header, 0, sizeof(header));
	if (!wg_stats_file_read(&sf, &header, sizeof(header)))
		bad = "The file is too short for its header.";
	else if (header.hist_buckets != WG_HIST_BUCKETS)
		bad = "The file was written with another histogram layout.";
	else if (!timestamp_ok(header.stats_reset, now))
		bad = "The file's stats_reset is out of range.";

	for (i = 0; bad == NULL && i < header.ndigests; i++)
	{
		WgDigestRecord r;
		char		query[WG_QUERY_TEXT_LEN];
		uint64		buckets[WG_HIST_BUCKETS];
		WgDigest   *d;
		int			b;

		if (!wg_stats_file_read(&sf, &r, sizeof(r)))
			bad = "The file ends inside a digest.";
		else if (r.query_len < 0 || r.query_len >= WG_QUERY_TEXT_LEN ||
			!PG_VALID_BE_ENCODING(r.encoding) ||
			!wg_stats_file_read_text(&sf, query, r.query_len, sizeof(query),
									 r.encoding))
			bad = "A digest's query text is truncated, unterminated or not valid in its encoding.";
		else if (!wg_stats_file_read(&sf, buckets, sizeof(buckets)))
			bad = "The file ends inside a digest.";
		else
			bad = record_invalid(&r, buckets, now);
		if (bad != NULL)
			break;

		if (wg_lat->nfree == 0)
			continue;			/* max_statements was lowered: drop the rest */
		if (hash_search(wg_lat_hash, &r.key, HASH_FIND, NULL) != NULL)
		{
			bad = "A digest appears twice.";
			break;
		}
		d = wg_latency_digest_enter(&r.key, r.stats_since);
		if (d == NULL)
			break;
		memcpy(d->query, query, r.query_len + 1);
		d->query_len = r.query_len;
		d->encoding = r.encoding;
		pg_atomic_write_u64(&d->calls, r.calls);
		pg_atomic_write_u64(&d->errors, r.errors);
		pg_atomic_write_u64(&d->cancels, r.cancels);
		pg_atomic_write_u64(&d->total_ns, r.total_ns);
		pg_atomic_write_u64(&d->min_ns, r.min_ns);
		pg_atomic_write_u64(&d->max_ns, r.max_ns);
		pg_atomic_write_u64(&d->out_of_range, r.out_of_range);
		for (b = 0; b < WG_HIST_BUCKETS; b++)
			pg_atomic_write_u64(&d->buckets[b], buckets[b]);
	}
	if (bad == NULL && !wg_stats_file_at_end(&sf))
		bad = "The file has data after its last digest.";

	if (bad != NULL)
	{
		wg_stats_file_reject(&sf, bad);
		(void) wg_latency_store_remove(true, 0);
	}
	else
		wg_lat->stats_reset = header.stats_reset;
	wg_stats_file_close(&sf, true);
}

/*
 * on_shmem_exit callback in the postmaster (or a standalone backend): write
 * the table, at a clean shutdown only.
 */
void
wg_latency_file_save(int code, Datum arg)
{
	WgStatsFile sf;
	WgDumpHeader header;
	int			i;

	if (!wg_lat || !wg_lat_hash || !wg_save ||
		!wg_stats_file_should_save(code))
	{
		/* nothing from an earlier run may come back after this one */
		unlink(WG_DUMP_FILE);
		return;
	}

	if (!wg_stats_file_create(&sf, WG_DUMP_FILE, WG_DUMP_MAGIC, WG_DUMP_VERSION))
		return;

	memset(&header, 0, sizeof(header));
	header.hist_buckets = WG_HIST_BUCKETS;
	header.ndigests = wg_lat->max_digests - wg_lat->nfree;
	header.stats_reset = wg_lat->stats_reset;
	wg_stats_file_write(&sf, &header, sizeof(header));

	for (i = 0; i < wg_lat->max_digests; i++)
	{
		WgDigest   *d = &wg_lat->digests[i];
		WgDigestRecord r;
		uint64		buckets[WG_HIST_BUCKETS];
		int			b;

		if (!d->in_use)
			continue;
		memset(&r, 0, sizeof(r));
		r.key = d->key;
		r.stats_since = d->stats_since;
		r.calls = pg_atomic_read_u64(&d->calls);
		r.errors = pg_atomic_read_u64(&d->errors);
		r.cancels = pg_atomic_read_u64(&d->cancels);
		r.total_ns = pg_atomic_read_u64(&d->total_ns);
		r.min_ns = pg_atomic_read_u64(&d->min_ns);
		r.max_ns = pg_atomic_read_u64(&d->max_ns);
		r.out_of_range = pg_atomic_read_u64(&d->out_of_range);
		r.encoding = d->encoding;
		r.query_len = d->query_len;
		for (b = 0; b < WG_HIST_BUCKETS; b++)
			buckets[b] = pg_atomic_read_u64(&d->buckets[b]);
		wg_stats_file_write(&sf, &r, sizeof(r));
		wg_stats_file_write(&sf, d->query, r.query_len);
		wg_stats_file_write(&sf, buckets, sizeof(buckets));
	}
	(void) wg_stats_file_commit(&sf);
}
