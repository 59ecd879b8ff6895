/*-------------------------------------------------------------------------
 *
 * latency.c
 *	  Per-digest latency histograms: the shared table, timing of each
 *	  execution and eviction.  Persistence across clean restarts is in
 *	  latency_file.c, the SQL functions behind workload_guard.statement_latency
 *	  in latency_sql.c; latency_internal.h is what the three share.
 *
 * Locking protocol (the whole of it):
 *
 *	* wg_lat->lock (an LWLock of our own tranche) guards the hash table, the
 *	  in_use/key/query fields of every digest slot, the free list and the
 *	  clock hand.  Recording into an existing digest takes it in SHARED mode
 *	  only, for one hash probe and a handful of atomic increments; creating,
 *	  evicting or resetting a digest takes it EXCLUSIVE, and does a bounded
 *	  amount of work there (at most WG_EVICT_SCAN slots are inspected).
 *	* Every counter of a digest (calls, errors, buckets, min/max, the recent
 *	  window) is a pg_atomic_* variable, updated lock-free by any number of
 *	  backends holding the shared lock.  Readers (the views) copy one digest
 *	  at a time under the shared lock, held for that copy only, and compute
 *	  percentiles and build tuples after releasing it, so a full scan never
 *	  delays a digest's creation by more than one copy.  A copy sees each
 *	  counter exactly but not all of them at one instant: a percentile may
 *	  include a call that "calls" does not yet show.  That is the price of
 *	  never serializing recorders, and it is far below the histogram's error.
 *	* The recent window is two slots, indexed by epoch parity (epoch = time
 *	  divided by workload_guard.recent_window).  The first recorder of a new
 *	  epoch claims the stale slot by compare-and-swap to WG_EPOCH_CLEARING,
 *	  zeroes it and publishes the new epoch; recorders that find a slot being
 *	  cleared skip the recent window for that one call.  Nobody waits.
 *
 * Per-backend state (exec_slots) maps a running QueryDesc to its accumulated
 * time without allocating anything: a small stack, searched from the top,
 * cleaned at (sub)transaction abort for executions that never reached
 * ExecutorEnd.
 *
 * Memory per digest is fixed: 8 KiB of cumulative buckets (1024 x uint64),
 * 8 KiB for the two recent-window slots (2 x 1024 x uint32), the sample
 * query text and ~200 bytes of counters; see WgDigest and the README.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"


#include "access/parallel.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "compat.h"
#include "histogram.h"
#include "latency.h"
#include "latency_internal.h"
#include "normalize.h"
#include "secrets.h"
#include "workload_guard.h"

#define WG_QUERY_TEXT_LEN	1024	/* sample text kept per digest, bytes */
#define WG_EVICT_SCAN		64		/* slots inspected per eviction, at most */
#define WG_MAX_EXEC_SLOTS	64		/* executions open at once per backend */
#define WG_MAX_PLAN_LEVELS	16		/* nesting levels with planning time kept */
#define WG_EPOCH_CLEARING	PG_UINT64_MAX

/* GUCs */
int			wg_track = WG_TRACK_TOP;
static int	wg_max_statements = 1000;
static bool wg_track_utility = true;
int			wg_recent_window = 60;	/* seconds */
bool		wg_save = true;

static const struct config_enum_entry track_options[] = {
	{"none", WG_TRACK_NONE, false},
	{"top", WG_TRACK_TOP, false},
	{"all", WG_TRACK_ALL, false},
	{NULL, 0, false}
};

/* shared state */
WgLatencyShared *wg_lat = NULL;
HTAB	   *wg_lat_hash = NULL;

/* per-backend: executions in flight and pending planning time */
typedef struct WgExecSlot
{
	QueryDesc  *qd;
	uint64		queryid;
	int			level;
	SubTransactionId subxid;
	uint64		plan_ns;
	uint64		exec_ns;
	uint64		end_ns;			/* clock at the last ExecutorRun exit */
} WgExecSlot;

static WgExecSlot exec_slots[WG_MAX_EXEC_SLOTS];
static int	n_exec_slots = 0;

static struct
{
	uint64		queryid;
	uint64		ns;
}			pending_plan[WG_MAX_PLAN_LEVELS];

/*
 * Constant locations of the statement last parsed at each nesting level,
 * kept (without allocating) until the execution that follows may need them
 * to create its digest with a normalized text.
 */
#define WG_MAX_NORM_CONSTS	32

static struct
{
	uint64		queryid;
	int			stmt_location;
	int			stmt_len;
	int			first_param;
	int			nlocs;
	WgLexSettings lex;			/* the lexer settings the parse ran under */
	LocationLen locs[WG_MAX_NORM_CONSTS];
}			pending_norm[WG_MAX_PLAN_LEVELS];

/*
 * The queryid of the utility statement last parsed at each nesting level.
 * pg_stat_statements zeroes PlannedStmt.queryId of utility statements
 * before passing them down the ProcessUtility chain; when it is loaded
 * after us (its hook runs first), this is where we find the id again.
 */
static struct
{
	uint64		queryid;
	int			stmt_location;
	int			stmt_len;
}			pending_utility[WG_MAX_PLAN_LEVELS];

/*
 * The queryid already is a 64-bit hash: fold the rest of the key into it
 * and mix, instead of hash_bytes() over 24 padded bytes (about 110
 * instructions per statement saved; test/bench/README.md).
 */
static uint32
wg_key_hash(const void *key, Size keysize)
{
	const WgLatencyKey *k = (const WgLatencyKey *) key;
	uint64		h = k->queryid ^ ((uint64) k->userid << 32) ^ k->dbid ^
		((uint64) k->toplevel << 31);

	h *= UINT64CONST(0x9E3779B97F4A7C15);	/* Fibonacci hashing */
	return (uint32) (h >> 32);
}

static int
wg_key_match(const void *a, const void *b, Size keysize)
{
	const WgLatencyKey *ka = (const WgLatencyKey *) a;
	const WgLatencyKey *kb = (const WgLatencyKey *) b;

	return !(ka->queryid == kb->queryid && ka->userid == kb->userid &&
			 ka->dbid == kb->dbid && ka->toplevel == kb->toplevel);
}

/* ----------------------------------------------------------------
 * GUCs and shared memory
 * ----------------------------------------------------------------
 */
void
wg_latency_define_gucs(void)
{
	DefineCustomIntVariable("workload_guard.max_statements",
							"Sets the maximum number of query digests tracked by workload_guard.",
							"Each digest takes about 17.6 kB of shared memory.",
							&wg_max_statements,
							1000, 10, 1000000,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("workload_guard.track",
							 "Selects which statements have their latency recorded.",
							 "\"top\" records statements issued by clients, \"all\" also statements inside functions, \"none\" nothing.",
							 &wg_track, WG_TRACK_TOP, track_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("workload_guard.track_utility",
							 "Selects whether utility commands have their latency recorded.",
							 NULL,
							 &wg_track_utility, true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("workload_guard.recent_window",
							"Sets the length of the recent-latency window.",
							"The recent_* columns cover between one and two windows of the most recent time.",
							&wg_recent_window,
							60, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("workload_guard.save",
							 "Saves latency histograms across server shutdowns.",
							 NULL,
							 &wg_save, true,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
}

static Size
wg_latency_shmem_size(void)
{
	Size		size;

	size = MAXALIGN(sizeof(WgLatencyShared));
	size = add_size(size, MAXALIGN(mul_size(wg_max_statements, sizeof(int))));
	size = add_size(size, mul_size(wg_max_statements, sizeof(WgDigest)));
	size = add_size(size, hash_estimate_size(wg_max_statements, sizeof(WgHashEntry)));
	return size;
}

void
wg_latency_shmem_request(void)
{
	RequestAddinShmemSpace(wg_latency_shmem_size());
	RequestNamedLWLockTranche("workload_guard_latency", 1);
}

static void
digest_init(WgDigest *d, const WgLatencyKey *key, TimestampTz since)
{
	int			i;

	d->key = *key;
	d->in_use = true;
	d->query_len = 0;
	d->encoding = GetDatabaseEncoding();
	d->query[0] = '\0';
	d->stats_since = since;
	d->calls_at_sweep = 0;
	pg_atomic_init_u64(&d->calls, 0);
	pg_atomic_init_u64(&d->errors, 0);
	pg_atomic_init_u64(&d->cancels, 0);
	pg_atomic_init_u64(&d->total_ns, 0);
	pg_atomic_init_u64(&d->min_ns, PG_UINT64_MAX);
	pg_atomic_init_u64(&d->max_ns, 0);
	pg_atomic_init_u64(&d->out_of_range, 0);
	for (i = 0; i < 2; i++)
	{
		pg_atomic_init_u64(&d->recent_epoch[i], 0);
		pg_atomic_init_u32(&d->recent_errors[i], 0);
	}
	for (i = 0; i < WG_HIST_BUCKETS; i++)
	{
		pg_atomic_init_u32(&d->recent[0][i], 0);
		pg_atomic_init_u32(&d->recent[1][i], 0);
		pg_atomic_init_u64(&d->buckets[i], 0);
	}
}

/*
 * Take a slot for a new digest: from the free list, else by evicting the
 * least active of at most WG_EVICT_SCAN slots after the clock hand.
 * "Activity" is the number of calls since the hand last passed the slot, so
 * a digest survives a sweep only if it was used since the previous one.
 * Caller holds wg_lat->lock exclusively.
 */
static int
digest_take_slot(void)
{
	int			scan = Min(WG_EVICT_SCAN, wg_lat->max_digests);
	int			victim = -1;
	uint64		victim_activity = PG_UINT64_MAX;
	int			i;

	if (wg_lat->nfree > 0)
		return wg_lat->free_slots[--wg_lat->nfree];

	for (i = 0; i < scan; i++)
	{
		int			s = wg_lat->clock_hand;
		WgDigest   *d = &wg_lat->digests[s];
		uint64		calls = pg_atomic_read_u64(&d->calls);
		uint64		activity = calls - d->calls_at_sweep;

		wg_lat->clock_hand = (wg_lat->clock_hand + 1) % wg_lat->max_digests;
		d->calls_at_sweep = calls;
		if (activity < victim_activity)
		{
			victim = s;
			victim_activity = activity;
			if (activity == 0)
				break;
		}
	}

	Assert(victim >= 0 && wg_lat->digests[victim].in_use);
	hash_search(wg_lat_hash, &wg_lat->digests[victim].key, HASH_REMOVE, NULL);
	wg_lat->digests[victim].in_use = false;
	pg_atomic_fetch_add_u64(&wg_lat->evictions, 1);
	return victim;
}

/*
 * The sample text of a new digest, prepared before the exclusive lock is
 * taken, under the rule of secrets.c: a utility statement's text as that
 * rule allows; a plannable statement's slice of the source string as sent
 * when its parse found no constant, normalized when the parse of this very
 * statement left its constant locations (and the statement did not fail:
 * the scanner must not run in error recovery), else up to its first
 * literal.
 */
static int
digest_text(char *buf, uint64 queryid, int level, bool failed,
			const WgRedaction *utility, const char *query, int location,
			int len)
{
	int			loc = location;
	int			orig_len = len;
	const char *text;
	WgRedaction plannable = {WG_TEXT_UNTIL_LITERAL, CMDTAG_UNKNOWN};

	buf[0] = '\0';
	if (query == NULL)
		return 0;
	text = CleanQuerytext(query, &loc, &len);
	if (utility != NULL)
		return wg_redact_text(utility, text, len, buf, WG_QUERY_TEXT_LEN);

	if (level < WG_MAX_PLAN_LEVELS &&
		pending_norm[level].queryid == queryid &&
		pending_norm[level].stmt_location == location &&
		pending_norm[level].stmt_len == orig_len)
	{
		MemoryContext oldcxt = CurrentMemoryContext;
		volatile int result = -1;

		pending_norm[level].queryid = 0;
		if (pending_norm[level].nlocs == 0)
		{
			/* no constant: the text as sent */
			if (len >= WG_QUERY_TEXT_LEN)
				len = pg_mbcliplen(text, len, WG_QUERY_TEXT_LEN - 1);
			memcpy(buf, text, len);
			buf[len] = '\0';
			return len;
		}
		if (failed)
			return wg_normalize_failed_query(text, loc, len,
											 pending_norm[level].locs,
											 pending_norm[level].nlocs,
											 pending_norm[level].first_param,
											 &pending_norm[level].lex,
											 buf, WG_QUERY_TEXT_LEN);

		/*
		 * The scanner can raise an error (a setting it depends on changed
		 * since the parse, memory): fall back to the scanner-free
		 * normalization then, never fail the statement.  It holds no resource but
		 * memory, so no subtransaction is needed to recover.
		 */
		PG_TRY();
		{
			result = wg_normalize_query(text, loc, len,
										pending_norm[level].locs,
										pending_norm[level].nlocs,
										pending_norm[level].first_param,
										&pending_norm[level].lex,
										buf, WG_QUERY_TEXT_LEN);
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(oldcxt);
			FlushErrorState();
		}
		PG_END_TRY();
		if (result >= 0)
			return result;
		return wg_normalize_failed_query(text, loc, len,
										 pending_norm[level].locs,
										 pending_norm[level].nlocs,
										 pending_norm[level].first_param,
										 &pending_norm[level].lex,
										 buf, WG_QUERY_TEXT_LEN);
	}

	/* constants unknown: never keep one */
	return wg_redact_text(&plannable, text, len, buf, WG_QUERY_TEXT_LEN);
}

/*
 * Find or create the digest for a key; caller holds the lock exclusively.
 */
WgDigest *
wg_latency_digest_enter(const WgLatencyKey *key, TimestampTz since)
{
	WgHashEntry *he;
	bool		found;
	int			slot;

	he = (WgHashEntry *) hash_search(wg_lat_hash, key, HASH_FIND, NULL);
	if (he)
		return &wg_lat->digests[he->slot];

	slot = digest_take_slot();
	he = (WgHashEntry *) hash_search(wg_lat_hash, key, HASH_ENTER_NULL, &found);
	if (he == NULL)
	{
		/* cannot happen: the table is sized for max_digests entries */
		wg_lat->free_slots[wg_lat->nfree++] = slot;
		return NULL;
	}
	he->slot = slot;
	digest_init(&wg_lat->digests[slot], key, since);
	return &wg_lat->digests[slot];
}
int64
wg_latency_store_remove(bool all, uint64 queryid)
{
	int64		removed = 0;
	int			i;

	for (i = 0; i < wg_lat->max_digests; i++)
	{
		WgDigest   *d = &wg_lat->digests[i];

		if (!d->in_use || (!all && d->key.queryid != queryid))
			continue;
		hash_search(wg_lat_hash, &d->key, HASH_REMOVE, NULL);
		d->in_use = false;
		wg_lat->free_slots[wg_lat->nfree++] = i;
		removed++;
	}
	return removed;
}

void
wg_latency_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;
	char	   *ptr;
	int			i;

	wg_lat = NULL;
	wg_lat_hash = NULL;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);

	ptr = ShmemInitStruct("workload_guard latency",
						  MAXALIGN(sizeof(WgLatencyShared)) +
						  MAXALIGN(mul_size(wg_max_statements, sizeof(int))) +
						  mul_size(wg_max_statements, sizeof(WgDigest)),
						  &found);
	wg_lat = (WgLatencyShared *) ptr;
	if (!found)
	{
		wg_lat->lock = &(GetNamedLWLockTranche("workload_guard_latency"))->lock;
		wg_lat->max_digests = wg_max_statements;
		wg_lat->free_slots = (int *) (ptr + MAXALIGN(sizeof(WgLatencyShared)));
		wg_lat->digests = (WgDigest *) (ptr + MAXALIGN(sizeof(WgLatencyShared)) +
									MAXALIGN(mul_size(wg_max_statements, sizeof(int))));
		wg_lat->clock_hand = 0;
		wg_lat->stats_reset = GetCurrentTimestamp();
		pg_atomic_init_u64(&wg_lat->evictions, 0);
		pg_atomic_init_u64(&wg_lat->dropped, 0);
		/* free list handed out from slot 0 upwards */
		wg_lat->nfree = wg_max_statements;
		for (i = 0; i < wg_max_statements; i++)
		{
			wg_lat->free_slots[i] = wg_max_statements - 1 - i;
			wg_lat->digests[i].in_use = false;
		}
	}

	info.keysize = sizeof(WgLatencyKey);
	info.entrysize = sizeof(WgHashEntry);
	info.hash = wg_key_hash;
	info.match = wg_key_match;
	wg_lat_hash = wg_shmem_init_hash("workload_guard latency hash",
									 wg_max_statements, &info,
									 HASH_ELEM | HASH_FUNCTION | HASH_COMPARE);

	LWLockRelease(AddinShmemInitLock);

	/* the postmaster (or a standalone backend) saves the table at shutdown */
	if (!IsUnderPostmaster)
		on_shmem_exit(wg_latency_file_save, (Datum) 0);

	if (found)
		return;

	wg_latency_file_load();
}

/* ----------------------------------------------------------------
 * Recording
 * ----------------------------------------------------------------
 */
static inline void
atomic_min_u64(pg_atomic_uint64 *v, uint64 x)
{
	uint64		cur = pg_atomic_read_u64(v);

	while (x < cur)
		if (pg_atomic_compare_exchange_u64(v, &cur, x))
			break;
}

static inline void
atomic_max_u64(pg_atomic_uint64 *v, uint64 x)
{
	uint64		cur = pg_atomic_read_u64(v);

	while (x > cur)
		if (pg_atomic_compare_exchange_u64(v, &cur, x))
			break;
}

/*
 * Add one execution to a digest.  Caller holds wg_lat->lock (either mode).
 */
static void
digest_add(WgDigest *d, uint64 ns, uint64 now_ns, int bucket, WgHistRange range,
		   bool failed, bool canceled)
{
	uint64		epoch = recent_epoch_of(now_ns);
	int			s = (int) (epoch & 1);
	uint64		ep;

	pg_atomic_fetch_add_u64(&d->calls, 1);
	pg_atomic_fetch_add_u64(&d->total_ns, ns);
	pg_atomic_fetch_add_u64(&d->buckets[bucket], 1);
	atomic_min_u64(&d->min_ns, ns);
	atomic_max_u64(&d->max_ns, ns);
	if (unlikely(range != WG_HIST_IN_RANGE))
		pg_atomic_fetch_add_u64(&d->out_of_range, 1);
	if (unlikely(failed))
	{
		pg_atomic_fetch_add_u64(&d->errors, 1);
		if (canceled)
			pg_atomic_fetch_add_u64(&d->cancels, 1);
	}

	/* recent window; see the protocol in the file header */
	ep = pg_atomic_read_u64(&d->recent_epoch[s]);
	if (unlikely(ep != epoch))
	{
		if (ep == WG_EPOCH_CLEARING)
			return;
		if (pg_atomic_compare_exchange_u64(&d->recent_epoch[s], &ep, WG_EPOCH_CLEARING))
		{
			int			i;

			for (i = 0; i < WG_HIST_BUCKETS; i++)
				pg_atomic_write_u32(&d->recent[s][i], 0);
			pg_atomic_write_u32(&d->recent_errors[s], 0);
			pg_write_barrier();
			pg_atomic_write_u64(&d->recent_epoch[s], epoch);
		}
		else if (ep != epoch)
			return;				/* another backend is rotating the slot */
	}
	pg_atomic_fetch_add_u32(&d->recent[s][bucket], 1);
	if (unlikely(failed))
		pg_atomic_fetch_add_u32(&d->recent_errors[s], 1);
}

/*
 * Record one execution.  Never raises an error: it may run inside PG_CATCH.
 * When the table cannot take the digest, the execution is counted as
 * dropped instead.
 */
static void
latency_record(uint64 queryid, int level, uint64 ns, uint64 now_ns,
			   int sqlerrcode, const WgRedaction *utility, const char *query, int location,
			   int len)
{
	char		text[WG_QUERY_TEXT_LEN];
	int			text_len;
	WgLatencyKey key;
	WgHashEntry *he;
	WgDigest   *d;
	WgHistRange range;
	int			bucket;
	bool		failed = (sqlerrcode != 0);
	bool		canceled = (sqlerrcode == ERRCODE_QUERY_CANCELED);

	if (!wg_lat)
		return;

	memset(&key, 0, sizeof(key));	/* padding goes to the stats file */
	key.userid = GetUserId();
	key.dbid = MyDatabaseId;
	key.queryid = queryid;
	key.toplevel = (level == 0);
	bucket = wg_hist_bucket(ns, &range);

	LWLockAcquire(wg_lat->lock, LW_SHARED);
	he = (WgHashEntry *) hash_search(wg_lat_hash, &key, HASH_FIND, NULL);
	if (likely(he != NULL))
	{
		digest_add(&wg_lat->digests[he->slot], ns, now_ns, bucket, range,
				   failed, canceled);
		LWLockRelease(wg_lat->lock);
		return;
	}
	LWLockRelease(wg_lat->lock);

	/* new digest: bounded work under the exclusive lock */
	text_len = digest_text(text, queryid, level, failed, utility,
						  query, location, len);
	LWLockAcquire(wg_lat->lock, LW_EXCLUSIVE);
	d = wg_latency_digest_enter(&key, GetCurrentTimestamp());
	if (d != NULL)
	{
		if (d->query_len == 0)
		{
			memcpy(d->query, text, text_len + 1);
			d->query_len = text_len;
			d->encoding = GetDatabaseEncoding();
		}
		digest_add(d, ns, now_ns, bucket, range, failed, canceled);
	}
	else
		pg_atomic_fetch_add_u64(&wg_lat->dropped, 1);
	LWLockRelease(wg_lat->lock);
}

void
wg_latency_post_parse_analyze(Query *query, const JumbleState *jstate, int level)
{
	int			n;

	if (query->utilityStmt != NULL && level < WG_MAX_PLAN_LEVELS)
	{
		pending_utility[level].queryid = query->queryId;
		pending_utility[level].stmt_location = query->stmt_location;
		pending_utility[level].stmt_len = query->stmt_len;
		return;
	}
	if (query->queryId == WG_NO_QUERYID || level >= WG_MAX_PLAN_LEVELS ||
		!wg_latency_enabled(level))
		return;
	if (jstate == NULL || jstate->clocations_count > WG_MAX_NORM_CONSTS)
	{
		/* constants unknown, or too many: the text up to the first literal */
		pending_norm[level].queryid = 0;
		return;
	}
	pending_norm[level].queryid = query->queryId;
	pending_norm[level].stmt_location = query->stmt_location;
	pending_norm[level].stmt_len = query->stmt_len;
	pending_norm[level].first_param = jstate->highest_extern_param_id;
	pending_norm[level].lex.standard_conforming_strings = wg_standard_conforming_strings();
	pending_norm[level].lex.backslash_quote = backslash_quote;
	/* the statement's own parameters stay as written (compat.h) */
	n = 0;
	for (int i = 0; i < jstate->clocations_count; i++)
		if (!wg_location_is_param(&jstate->clocations[i]))
			pending_norm[level].locs[n++] = jstate->clocations[i];
	pending_norm[level].nlocs = n;
}

void
wg_latency_planned(uint64 queryid, int level, instr_time *duration)
{
	if (level < WG_MAX_PLAN_LEVELS)
	{
		pending_plan[level].queryid = queryid;
		pending_plan[level].ns = INSTR_TIME_GET_NANOSEC(*duration);
	}
}

/*
 * Planning ended in an error (statement_timeout in a long planning, an
 * error folding constants): no execution follows, so the planning time is
 * recorded now as a failed execution.  Called in PG_CATCH.
 */
void
wg_latency_plan_failed(uint64 queryid, int level, const char *queryString,
					   int stmt_location, int stmt_len, instr_time *start)
{
	uint64		now = clock_ns();

	latency_record(queryid, level, now - INSTR_TIME_GET_NANOSEC(*start),
				   now, geterrcode(), NULL, queryString, stmt_location, stmt_len);
}

static inline WgExecSlot *
exec_slot_find(QueryDesc *qd)
{
	int			i;

	for (i = n_exec_slots - 1; i >= 0; i--)
		if (exec_slots[i].qd == qd)
			return &exec_slots[i];
	return NULL;
}

static inline void
exec_slot_release(WgExecSlot *slot)
{
	int			i = slot - exec_slots;

	if (i < n_exec_slots - 1)
		memmove(&exec_slots[i], &exec_slots[i + 1],
				(n_exec_slots - 1 - i) * sizeof(WgExecSlot));
	n_exec_slots--;
}

void
wg_latency_executor_start(QueryDesc *queryDesc, int eflags, int level)
{
	uint64		queryid = queryDesc->plannedstmt->queryId;
	WgExecSlot *slot;

	if (queryid == UINT64CONST(0) || !wg_lat || !wg_latency_enabled(level) ||
		IsParallelWorker() || (eflags & EXEC_FLAG_EXPLAIN_ONLY))
		return;

	if (unlikely(n_exec_slots >= WG_MAX_EXEC_SLOTS))
	{
		static bool warned = false;

		/* degrade: count it, and say so once per backend */
		pg_atomic_fetch_add_u64(&wg_lat->dropped, 1);
		if (!warned)
		{
			warned = true;
			ereport(LOG,
					(errmsg("workload_guard is not recording latency for statements nested more than %d deep",
							WG_MAX_EXEC_SLOTS),
					 errdetail("Such executions are counted in workload_guard.latency_info.dropped.")));
		}
		return;
	}

	slot = &exec_slots[n_exec_slots++];
	slot->qd = queryDesc;
	slot->queryid = queryid;
	slot->level = level;
	slot->subxid = GetCurrentSubTransactionId();
	slot->plan_ns = 0;
	slot->exec_ns = 0;
	slot->end_ns = 0;
	if (level < WG_MAX_PLAN_LEVELS && pending_plan[level].queryid == queryid)
	{
		slot->plan_ns = pending_plan[level].ns;
		pending_plan[level].queryid = 0;
	}
}

void
wg_latency_run_enter(QueryDesc *queryDesc, instr_time *start)
{
	if (n_exec_slots > 0 && exec_slot_find(queryDesc) != NULL)
		INSTR_TIME_SET_CURRENT(*start);
	else
		INSTR_TIME_SET_ZERO(*start);
}

void
wg_latency_run_exit(QueryDesc *queryDesc, instr_time *start, bool failed)
{
	WgExecSlot *slot;
	uint64		now;

	if (INSTR_TIME_IS_ZERO(*start) || (slot = exec_slot_find(queryDesc)) == NULL)
		return;

	now = clock_ns();
	slot->exec_ns += now - INSTR_TIME_GET_NANOSEC(*start);
	slot->end_ns = now;

	if (unlikely(failed))
	{
		/* we are in PG_CATCH: the error being thrown is on the stack */
		const char *src = queryDesc->sourceText;
		PlannedStmt *ps = queryDesc->plannedstmt;

		latency_record(slot->queryid, slot->level,
					   slot->plan_ns + slot->exec_ns, now, geterrcode(),
					   NULL, src, ps->stmt_location, ps->stmt_len);
		exec_slot_release(slot);
	}
}

void
wg_latency_executor_end(QueryDesc *queryDesc)
{
	WgExecSlot *slot;
	PlannedStmt *ps = queryDesc->plannedstmt;

	if (n_exec_slots == 0 || (slot = exec_slot_find(queryDesc)) == NULL)
		return;

	latency_record(slot->queryid, slot->level,
				   slot->plan_ns + slot->exec_ns,
				   slot->end_ns ? slot->end_ns : clock_ns(), 0,
				   NULL, queryDesc->sourceText, ps->stmt_location, ps->stmt_len);
	exec_slot_release(slot);
}

/*
 * EXECUTE, PREPARE and DEALLOCATE are not timed as utilities: the executor
 * hooks time the prepared statement itself under its own queryid, as
 * pg_stat_statements does.
 */
uint64
wg_latency_utility_queryid(PlannedStmt *pstmt, int level)
{
	uint64		queryid = pstmt->queryId;

	if (level >= WG_MAX_PLAN_LEVELS)
		return queryid;

	/*
	 * The remembered id is good for the execution that follows its parse
	 * only: consumed either way, so that a later statement at the same
	 * place (a cached plan, a CREATE SCHEMA subcommand) never inherits it.
	 */
	if (queryid == UINT64CONST(0) &&
		pending_utility[level].stmt_location == pstmt->stmt_location &&
		pending_utility[level].stmt_len == pstmt->stmt_len)
		queryid = pending_utility[level].queryid;
	pending_utility[level].queryid = UINT64CONST(0);
	return queryid;
}

bool
wg_latency_utility_tracked(PlannedStmt *pstmt, uint64 queryid, int level)
{
	Node	   *parsetree = pstmt->utilityStmt;

	return wg_lat && wg_track_utility && wg_latency_enabled(level) &&
		queryid != UINT64CONST(0) && !IsParallelWorker() &&
		!IsA(parsetree, ExecuteStmt) &&
		!IsA(parsetree, PrepareStmt) &&
		!IsA(parsetree, DeallocateStmt);
}

void
wg_latency_utility_done(uint64 queryid, int level,
						const WgRedaction *redaction,
						const char *queryString,
						int stmt_location, int stmt_len,
						instr_time *start, bool failed)
{
	uint64		now = clock_ns();

	latency_record(queryid, level, now - INSTR_TIME_GET_NANOSEC(*start),
				   now, failed ? geterrcode() : 0,
				   redaction, queryString, stmt_location, stmt_len);
}

void
wg_latency_xact_cleanup(SubTransactionId aborted_subxid)
{
	int			keep = 0;
	int			i;

	/*
	 * At the end of the transaction (commit or abort) no execution is left:
	 * the ones that never reached ExecutorEnd (an error, a portal that
	 * failed and was dropped without ExecutorEnd) are forgotten.  At a
	 * subtransaction abort, every execution begun in it or in its children
	 * (subxid >= the aborted one, wherever it sits in the stack) will never
	 * end either.
	 */
	if (aborted_subxid != InvalidSubTransactionId)
	{
		for (i = 0; i < n_exec_slots; i++)
			if (exec_slots[i].subxid < aborted_subxid)
				exec_slots[keep++] = exec_slots[i];
	}
	n_exec_slots = keep;
	/* nor will a planned statement whose start failed */
	memset(pending_plan, 0, sizeof(pending_plan));
}
