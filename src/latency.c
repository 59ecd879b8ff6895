/*-------------------------------------------------------------------------
 *
 * latency.c
 *	  Per-digest latency histograms: the shared table, timing of each
 *	  execution and eviction.  Per-backend pending executions (the path of
 *	  a statement whose digest the backend knows: no shared write) are in
 *	  latency_pending.c, persistence across clean restarts in
 *	  latency_file.c, the SQL functions behind workload_guard.statement_latency
 *	  in latency_sql.c; latency_internal.h is what they share.
 *
 * What is timed: from the statement's start to its end on the wall clock of
 * statement_timestamp() (GetCurrentTimestamp, µs).  A top-level statement
 * starts when its message arrived (the first of a query string) or where
 * the previous statement of the string ended, so parse analysis and its
 * lock waits are in; no clock is read at its start.  Its end is one clock
 * read when ExecutorEnd returns (or at the end of its last ExecutorRun when
 * that ran in a later message than its start: an extended-protocol SELECT,
 * whose portal may be dropped only at the next Bind).  Nested statements read
 * the clock at their planning or start.
 *
 * Locking protocol (the whole of it):
 *
 *	* wg_lat->lock (an LWLock of our own tranche) guards the hash table, the
 *	  in_use/key/query/generation fields of every digest slot, the free list
 *	  and the clock hand.  A statement whose digest the backend has cached
 *	  takes no lock at all (latency_pending.c, with its protocol); the first
 *	  statement of a digest in a backend, and the merges of pending
 *	  executions, take it in SHARED mode, for one hash probe and a handful
 *	  of atomic increments per execution; creating,
 *	  evicting or resetting a digest takes it EXCLUSIVE, and does a bounded
 *	  amount of work there (at most WG_EVICT_SCAN slots are inspected).
 *	* Every counter of a digest (calls, errors, buckets, min/max, the recent
 *	  window) is a pg_atomic_* variable, updated lock-free by any number of
 *	  backends holding the shared lock.  Readers (the views) first merge
 *	  every backend's pending executions, then copy one digest
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
 *	  cleared wait for it (WG_CLEAR_SPINS spins, then 10 µs naps): the
 *	  clearing is a bounded loop of stores that no error or interrupt can
 *	  cut short, and skipping the slot would lose the execution from the
 *	  window and from the time budgets computed over it.  It happens once
 *	  per window per digest, and only to recorders that collide with it.
 *
 * Per-backend state (exec_slots) maps a running QueryDesc to its accumulated
 * time without allocating anything: a small stack, searched from the top,
 * cleaned at (sub)transaction abort for executions that never reached
 * ExecutorEnd.
 *
 * Failures.  No hook catches errors (a PG_TRY costs a setjmp per hook and
 * statement).  An execution is active while one of its hooks is on the
 * stack (ExecutorStart, Run, Finish; pending_start[level].planning for its
 * planning).  An error unwinds past those hooks and is handled where a
 * (sub)transaction aborts: there (wg_latency_abort) every execution and
 * planning still active at the level of the code handling the error or
 * deeper (workload_guard.c restores that level), or begun in the aborted
 * subtransaction, is recorded as failed, once, and forgotten.  Its end and
 * its error code come from an error context callback the hooks push
 * (wg_latency_error_seen): errfinish runs it for every error raised beneath
 * them, before any handler, so the time is the error's, not the abort's,
 * and a cancel (statement_timeout) is told apart from other errors even
 * when a PL/pgSQL EXCEPTION block flushes the error before it rolls back.
 * The memory of a failed execution (its source text) is still there at the
 * abort callbacks: portals and SPI memory are released after them.  A
 * statement ended by the backend's exit (pg_terminate_backend, a fast
 * shutdown, any FATAL) is found the same way, at the abort that
 * ShutdownPostgres runs: by then the backend's ring has been merged
 * (latency_pending.c), so it goes down the shared path.
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
#define WG_CLEAR_SPINS		1000	/* spins on a slot being cleared, then naps */

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
	int			active;			/* its hooks on the stack (start, run, finish) */
	SubTransactionId subxid;
	TimestampTz start;			/* when the statement began (see below) */
	TimestampTz start_msg;		/* statement_timestamp() at ExecutorStart */
	TimestampTz run_end;		/* clock at a run exit in a later message */
	/*
	 * For the sample text of a failed one, copied from the QueryDesc: by
	 * the abort callback the QueryDesc may be freed (AtAbort_Portals
	 * deletes the portal's child contexts first), the text it points to is
	 * not (the message's, the plan source's).
	 */
	const char *source;
	int			stmt_location;
	int			stmt_len;
} WgExecSlot;

static WgExecSlot exec_slots[WG_MAX_EXEC_SLOTS];
static int	n_exec_slots = 0;

/*
 * When the statement being planned at each nesting level began, for the
 * execution that follows (the planning of an extended-protocol statement
 * happens in its Bind message, its execution in the Execute message).
 */
static struct
{
	uint64		queryid;
	TimestampTz start;
	TimestampTz msg;			/* statement_timestamp() when planned */
	bool		planning;		/* the planner is on the stack */
	SubTransactionId subxid;
	const char *query;			/* for the sample text of a failed planning */
	int			stmt_location;
	int			stmt_len;
}			pending_start[WG_MAX_PLAN_LEVELS];
static int	n_pending_start = 0;	/* levels of pending_start ever set */

/*
 * Where the next top-level statement begins.  msg_ts is the
 * statement_timestamp() last seen (postgres.c sets it when a Query, Parse,
 * Bind or Execute message arrives); top_cursor is where the next top-level
 * statement of that message starts: the message's arrival for the first,
 * the end of the previous one for the others (a multi-statement string).
 */
/*
 * The top-level statement parsed last, and the message it was parsed in:
 * an extended-protocol statement parsed in the message just before the
 * one that plans it (Parse, then Bind) was parsed for this execution, and
 * its time starts at the Parse message.
 */
static uint64 parsed_queryid = 0;
static TimestampTz parsed_msg = 0;

/* the last error seen beneath a hook of ours (wg_latency_error_seen) */
static int	last_error_code = 0;
static TimestampTz last_error_at = 0;

static TimestampTz msg_ts = 0;
static TimestampTz msg_prev_ts = 0;
static TimestampTz top_cursor = 0;

static inline TimestampTz
top_start(void)
{
	TimestampTz ts = GetCurrentStatementStartTimestamp();

	if (ts != msg_ts)
	{
		msg_prev_ts = msg_ts;
		msg_ts = ts;
		top_cursor = ts;
	}
	return top_cursor;
}

/* a top-level statement ended at end: the next one of its message starts there */
static inline void
top_ended(TimestampTz end)
{
	if (GetCurrentStatementStartTimestamp() == msg_ts && end > top_cursor)
		top_cursor = end;
}

/* the start of a statement at this level, without a clock read at level 0 */
static inline TimestampTz
statement_start(int level)
{
	return level == 0 ? top_start() : GetCurrentTimestamp();
}

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

/* dynahash's hash function for WgLatencyKey (latency_internal.h) */
uint32
wg_latency_key_hash(const void *key, Size keysize)
{
	return wg_latency_key_hash_of((const WgLatencyKey *) key);
}

int
wg_latency_key_match(const void *a, const void *b, Size keysize)
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
	wg_latency_pending_shmem_request();
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
	d->generation++;			/* events for the slot's last digest: dropped */
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
			wg_lat->digests[i].generation = 0;
		}
	}
	wg_latency_pending_shmem_startup();

	info.keysize = sizeof(WgLatencyKey);
	info.entrysize = sizeof(WgHashEntry);
	info.hash = wg_latency_key_hash;
	info.match = wg_latency_key_match;
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
 * Add executions to a digest.  Caller holds wg_lat->lock (either mode).
 * The counters that only sum (calls, total, min/max, errors) take a batch
 * at once (wg_latency_digest_add_sum); each execution's buckets, the
 * cumulative one and the recent window's, are added one by one
 * (wg_latency_digest_add_event).  Merged executions may be older than the
 * recent window's slots: they count in the window only while their epoch
 * is still there.
 */
void
wg_latency_digest_add_sum(WgDigest *d, const WgDigestSum *sum)
{
	pg_atomic_fetch_add_u64(&d->calls, sum->calls);
	pg_atomic_fetch_add_u64(&d->total_ns, sum->total_ns);
	atomic_min_u64(&d->min_ns, sum->min_ns);
	atomic_max_u64(&d->max_ns, sum->max_ns);
	if (unlikely(sum->out_of_range > 0))
		pg_atomic_fetch_add_u64(&d->out_of_range, sum->out_of_range);
	if (unlikely(sum->errors > 0))
		pg_atomic_fetch_add_u64(&d->errors, sum->errors);
	if (unlikely(sum->cancels > 0))
		pg_atomic_fetch_add_u64(&d->cancels, sum->cancels);
}

/*
 * Make recent slot s hold epoch, whose slot it is, given that it held ep:
 * clear it when it is stale, wait while another recorder clears it.  False
 * when the slot already holds a later epoch (the execution is older than
 * the window).
 */
static pg_noinline bool
recent_slot_claim(WgDigest *d, int s, uint64 epoch, uint64 ep)
{
	int			spins = 0;

	for (;;)
	{
		if (ep == WG_EPOCH_CLEARING)
		{
			if (++spins < WG_CLEAR_SPINS)
				pg_spin_delay();
			else
				pg_usleep(10L);
			ep = pg_atomic_read_u64(&d->recent_epoch[s]);
			continue;
		}
		if (ep == epoch)
			return true;
		if (ep > epoch)
			return false;
		if (pg_atomic_compare_exchange_u64(&d->recent_epoch[s], &ep,
										   WG_EPOCH_CLEARING))
		{
			int			i;

			for (i = 0; i < WG_HIST_BUCKETS; i++)
				pg_atomic_write_u32(&d->recent[s][i], 0);
			pg_atomic_write_u32(&d->recent_errors[s], 0);
			pg_write_barrier();
			pg_atomic_write_u64(&d->recent_epoch[s], epoch);
			return true;
		}
		/* lost the race: the compare-and-swap left the slot's epoch in ep */
	}
}

void
wg_latency_digest_add_event(WgDigest *d, int bucket, uint64 now_ns, bool failed)
{
	uint64		epoch = recent_epoch_of(now_ns);
	int			s = (int) (epoch & 1);
	uint64		ep;

	pg_atomic_fetch_add_u64(&d->buckets[bucket], 1);

	/* recent window; see the protocol in the file header */
	ep = pg_atomic_read_u64(&d->recent_epoch[s]);
	if (unlikely(ep != epoch) && !recent_slot_claim(d, s, epoch, ep))
		return;
	pg_atomic_fetch_add_u32(&d->recent[s][bucket], 1);
	if (unlikely(failed))
		pg_atomic_fetch_add_u32(&d->recent_errors[s], 1);
}

/* one execution */
void
wg_latency_digest_add(WgDigest *d, uint64 ns, uint64 now_ns, int bucket, WgHistRange range,
					  bool failed, bool canceled)
{
	WgDigestSum sum;

	wg_digest_sum_init(&sum);
	wg_digest_sum_add(&sum, ns, range, failed, canceled);
	wg_latency_digest_add_sum(d, &sum);
	wg_latency_digest_add_event(d, bucket, now_ns, failed);
}

/*
 * Record one execution on the shared path: the digest is not in this
 * backend's cache (its first execution here, or evicted since), or the
 * backend has no ring.  When the table cannot take the digest, the
 * execution is counted as dropped instead.
 */
static pg_noinline void
latency_record_shared(const WgLatencyKey *keyp, int level, uint64 ns,
					  uint64 now_ns, int sqlerrcode, const WgRedaction *utility,
					  const char *query, int location, int len)
{
	char		text[WG_QUERY_TEXT_LEN];
	int			text_len;
	WgLatencyKey key = *keyp;
	uint64		queryid = key.queryid;
	WgHashEntry *he;
	WgDigest   *d;
	WgHistRange range;
	int			bucket;
	bool		failed = (sqlerrcode != 0);
	bool		canceled = (sqlerrcode == ERRCODE_QUERY_CANCELED);

	bucket = wg_hist_bucket(ns, &range);
	LWLockAcquire(wg_lat->lock, LW_SHARED);
	he = (WgHashEntry *) hash_search(wg_lat_hash, &key, HASH_FIND, NULL);
	if (likely(he != NULL))
	{
		if (!failed)
			wg_latency_pending_remember(&key, he->slot);
		wg_latency_digest_add(&wg_lat->digests[he->slot], ns, now_ns, bucket, range,
				   failed, canceled);
		LWLockRelease(wg_lat->lock);
		return;
	}
	LWLockRelease(wg_lat->lock);

	/*
	 * A full table evicts by activity, which counts merged calls only:
	 * merge every backend's pending executions first, so that a digest
	 * busy in the rings is not taken for an idle one (and its pending
	 * calls lost).  Once per new digest, and only when the table is full.
	 */
	if (wg_lat->nfree == 0)
		wg_latency_fold_all();

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
		wg_latency_digest_add(d, ns, now_ns, bucket, range, failed, canceled);
		if (!failed)
			wg_latency_pending_remember(&key, d - wg_lat->digests);
	}
	else
		pg_atomic_fetch_add_u64(&wg_lat->dropped, 1);
	LWLockRelease(wg_lat->lock);
}

/*
 * Record one execution.  Never raises an error: it may run in an abort.
 * The steady state is the backend's own ring, with no shared write
 * (latency_pending.c).
 */
static inline void
latency_record(uint64 queryid, int level, uint64 ns, uint64 now_ns,
			   int sqlerrcode, const WgRedaction *utility, const char *query,
			   int location, int len)
{
	WgLatencyKey key;

	if (unlikely(!wg_lat))
		return;

	memset(&key, 0, sizeof(key));	/* padding goes to the stats file */
	key.userid = GetUserId();
	key.dbid = MyDatabaseId;
	key.queryid = queryid;
	key.toplevel = (level == 0);

	if (likely(wg_latency_pending_add(&key, ns, now_ns, sqlerrcode != 0,
									  sqlerrcode == ERRCODE_QUERY_CANCELED)))
		return;
	latency_record_shared(&key, level, ns, now_ns, sqlerrcode, utility,
						  query, location, len);
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
	if (level == 0)
	{
		(void) top_start();		/* msg_ts: this message */
		parsed_queryid = query->queryId;
		parsed_msg = msg_ts;
	}
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

/*
 * Planning begins: remember when the statement began, for the execution
 * that follows (or for the failure of the planning itself, found at the
 * abort: see "Failures").  At level 0 no clock is read: the start is the
 * message's arrival or the end of the previous statement of the same
 * string.
 */
void
wg_latency_plan_begin(uint64 queryid, int level, const char *query,
					  int stmt_location, int stmt_len)
{
	if (level < WG_MAX_PLAN_LEVELS)
	{
		pending_start[level].start = statement_start(level);
		/* parsed in the message before this one, for this execution */
		if (level == 0 && parsed_queryid == queryid)
		{
			if (parsed_msg == msg_prev_ts && parsed_msg != 0)
				pending_start[0].start = Min(pending_start[0].start, parsed_msg);
			parsed_queryid = 0;
		}
		pending_start[level].msg = msg_ts;
		pending_start[level].queryid = queryid;
		pending_start[level].planning = true;
		pending_start[level].subxid = GetCurrentSubTransactionId();
		pending_start[level].query = query;
		pending_start[level].stmt_location = stmt_location;
		pending_start[level].stmt_len = stmt_len;
		if (level >= n_pending_start)
			n_pending_start = level + 1;
	}
}

/* planning returned: its start stays for the execution that follows */
void
wg_latency_plan_end(int level)
{
	if (level < WG_MAX_PLAN_LEVELS)
		pending_start[level].planning = false;
}

/*
 * The start of the execution of queryid at this level: where its planning
 * began when it was planned for this execution (in this message or, for the
 * extended protocol, in the Bind message just before), else now.
 */
static TimestampTz
execution_start(uint64 queryid, int level)
{
	TimestampTz start = statement_start(level);

	if (level < WG_MAX_PLAN_LEVELS && pending_start[level].queryid == queryid)
	{
		if (level > 0 || pending_start[level].msg == msg_ts ||
			pending_start[level].msg == msg_prev_ts)
			start = Min(start, pending_start[level].start);
		pending_start[level].queryid = 0;
	}
	return start;
}

/* record an execution that began at start and ended at end (wall clock) */
static inline void
latency_record_span(uint64 queryid, int level, TimestampTz start, TimestampTz end,
					int sqlerrcode, const WgRedaction *utility,
					const char *query, int location, int len)
{
	uint64		ns = end > start ? (uint64) (end - start) * WG_NS_PER_US : 0;

	if (level == 0)
		top_ended(end);
	latency_record(queryid, level, ns, (uint64) end * WG_NS_PER_US, sqlerrcode,
				   utility, query, location, len);
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

static inline bool
executor_tracked(QueryDesc *queryDesc, int eflags, int level)
{
	return queryDesc->plannedstmt->queryId != UINT64CONST(0) && wg_lat &&
		wg_latency_enabled(level) && !IsParallelWorker() &&
		!(eflags & EXEC_FLAG_EXPLAIN_ONLY);
}

/*
 * ExecutorStart is about to run: the execution is tracked from here, active
 * until wg_latency_executor_started (an error in between is found at the
 * abort).  Returns the slot, or -1 when the execution is not tracked.
 */
int
wg_latency_executor_starting(QueryDesc *queryDesc, int eflags, int level)
{
	PlannedStmt *ps = queryDesc->plannedstmt;
	uint64		queryid = ps->queryId;
	WgExecSlot *slot;

	if (!executor_tracked(queryDesc, eflags, level))
		return -1;

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
		return -1;
	}

	slot = &exec_slots[n_exec_slots];
	slot->qd = queryDesc;
	slot->queryid = queryid;
	slot->level = level;
	slot->active = 1;
	slot->subxid = GetCurrentSubTransactionId();
	slot->start = execution_start(queryid, level);
	/* at level 0 execution_start has just seen the message's timestamp */
	slot->start_msg = level == 0 ? msg_ts : GetCurrentStatementStartTimestamp();
	slot->run_end = 0;
	slot->source = queryDesc->sourceText;
	slot->stmt_location = ps->stmt_location;
	slot->stmt_len = ps->stmt_len;
	return n_exec_slots++;
}

/* the slot of queryDesc: at i (as returned earlier) or searched for */
static inline WgExecSlot *
exec_slot_at(QueryDesc *queryDesc, int i)
{
	if (likely(i >= 0 && i < n_exec_slots && exec_slots[i].qd == queryDesc))
		return &exec_slots[i];
	return exec_slot_find(queryDesc);
}

void
wg_latency_executor_started(QueryDesc *queryDesc, int i)
{
	WgExecSlot *slot = exec_slot_at(queryDesc, i);

	if (slot != NULL && slot->active > 0)
		slot->active--;
}

/*
 * No clock is read around ExecutorRun: the statement's time is its start to
 * its end.  run_enter marks the execution active and returns its slot (-1:
 * not tracked), for run_exit.
 */
int
wg_latency_run_enter(QueryDesc *queryDesc)
{
	WgExecSlot *slot;

	if (n_exec_slots == 0 || (slot = exec_slot_find(queryDesc)) == NULL)
		return -1;
	slot->active++;
	return slot - exec_slots;
}

void
wg_latency_run_exit(QueryDesc *queryDesc, int i)
{
	WgExecSlot *slot;

	if (i < 0 || (slot = exec_slot_at(queryDesc, i)) == NULL)
		return;
	if (slot->active > 0)
		slot->active--;

	if (unlikely(GetCurrentStatementStartTimestamp() != slot->start_msg))
	{
		/*
		 * Run in a later message than it started (an extended-protocol
		 * SELECT starts in Bind and runs in Execute): its portal may be
		 * dropped only in a later message still (the next Bind in a
		 * transaction block), after the client's round trip.  The end of
		 * the last run is its end then.
		 */
		slot->run_end = GetCurrentTimestamp();
	}
}

/*
 * ExecutorEnd has returned (it ran with the execution active: an error in
 * it is a failure found at the abort): the execution ends now, or where its
 * last run ended when that was in a later message than its start (see
 * run_exit).
 */
void
wg_latency_executor_end(QueryDesc *queryDesc, int i)
{
	WgExecSlot *slot;

	if ((slot = exec_slot_at(queryDesc, i)) == NULL)
		return;

	latency_record_span(slot->queryid, slot->level, slot->start,
						slot->run_end ? slot->run_end : GetCurrentTimestamp(), 0,
						NULL, slot->source, slot->stmt_location, slot->stmt_len);
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

TimestampTz
wg_latency_utility_begin(int level)
{
	return statement_start(level);
}

void
wg_latency_utility_done(uint64 queryid, int level,
						const WgRedaction *redaction,
						const char *queryString,
						int stmt_location, int stmt_len,
						TimestampTz start, bool failed)
{
	latency_record_span(queryid, level, start, GetCurrentTimestamp(),
						failed ? geterrcode() : 0,
						redaction, queryString, stmt_location, stmt_len);
}

/*
 * The end of a transaction that committed (or was prepared): every
 * execution of it has ended by now, but a portal that failed inside a
 * subtransaction it did not open (FETCH from an outer cursor, rolled back
 * to a savepoint) is dropped without ExecutorEnd: its slot is forgotten.
 */
void
wg_latency_xact_end(void)
{
	if (n_exec_slots == 0 && n_pending_start == 0)
		return;
	n_exec_slots = 0;
	memset(pending_start, 0, n_pending_start * sizeof(pending_start[0]));
	n_pending_start = 0;
}

/* the end of a failed execution or planning that began at start */
static inline TimestampTz
failure_end(TimestampTz start)
{
	return last_error_at >= start ? last_error_at : GetCurrentTimestamp();
}

/*
 * A transaction (aborted_subxid invalid) or subtransaction aborted; the
 * code that handles the error runs at nesting level "level" (see
 * "Failures").  Executions and plannings active at that level or deeper,
 * or begun in the aborted subtransaction, failed: recorded, then
 * forgotten, with every other execution begun in the aborted
 * subtransaction (or, at the top, in the transaction), which will never
 * reach ExecutorEnd.  Also at backend exit (FATAL, pg_terminate_backend):
 * AbortTransaction has released every LWLock before its callbacks run.
 */
void
wg_latency_abort(SubTransactionId aborted_subxid, int level)
{
	bool		top = (aborted_subxid == InvalidSubTransactionId);
	bool		record = wg_lat != NULL;
	int			code = last_error_code != 0 ? last_error_code : ERRCODE_INTERNAL_ERROR;
	int			keep = 0;
	int			i;

	if (n_exec_slots == 0 && n_pending_start == 0)
		return;

	/* plannings first: they began after the executions still on the stack */
	for (i = n_pending_start - 1; i >= 0; i--)
	{
		if (!pending_start[i].planning ||
			!(top || i >= level || pending_start[i].subxid >= aborted_subxid))
			continue;
		pending_start[i].planning = false;
		if (record)
			latency_record_span(pending_start[i].queryid, i,
								pending_start[i].start,
								failure_end(pending_start[i].start), code,
								NULL, pending_start[i].query,
								pending_start[i].stmt_location,
								pending_start[i].stmt_len);
	}

	for (i = n_exec_slots - 1; i >= 0; i--)
	{
		WgExecSlot *slot = &exec_slots[i];

		if (slot->active > 0 && (top || slot->level >= level ||
								 slot->subxid >= aborted_subxid))
		{
			if (record)
				latency_record_span(slot->queryid, slot->level, slot->start,
									failure_end(slot->start), code, NULL,
									slot->source, slot->stmt_location,
									slot->stmt_len);
			slot->qd = NULL;	/* forgotten below */
		}
	}
	for (i = 0; i < n_exec_slots; i++)
		if (exec_slots[i].qd != NULL && !top &&
			exec_slots[i].subxid < aborted_subxid)
			exec_slots[keep++] = exec_slots[i];
	n_exec_slots = keep;

	/* nor will a planned statement whose start failed ever start */
	memset(pending_start, 0, n_pending_start * sizeof(pending_start[0]));
	n_pending_start = 0;
	last_error_code = 0;
	last_error_at = 0;
}

/*
 * Error context callback, pushed by the hooks around the calls they time
 * (wg_latency_watch_errors): errfinish calls it for every message raised
 * beneath them.  It keeps the code and time of the last error, for the
 * failures found at the abort.  Messages that are not errors (NOTICE,
 * WARNING: classes 00, 01, 02) are ignored.
 */
void
wg_latency_error_seen(void *arg)
{
	int			code = geterrcode();
	int			cat = ERRCODE_TO_CATEGORY(code);

	if (cat == ERRCODE_SUCCESSFUL_COMPLETION || cat == ERRCODE_WARNING ||
		cat == ERRCODE_NO_DATA)
		return;
	last_error_code = code;
	last_error_at = GetCurrentTimestamp();
}
