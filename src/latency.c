/*-------------------------------------------------------------------------
 *
 * latency.c
 *	  Per-digest latency histograms: the shared table, timing of each
 *	  execution, eviction, persistence across clean restarts, and the SQL
 *	  functions behind workload_guard.statement_latency.
 *
 * Locking protocol (the whole of it):
 *
 *	* wg->lock (an LWLock of our own tranche) guards the hash table, the
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

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/parallel.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "compat.h"
#include "histogram.h"
#include "latency.h"
#include "normalize.h"
#include "workload_guard.h"

#define WG_QUERY_TEXT_LEN	1024	/* sample text kept per digest, bytes */
#define WG_EVICT_SCAN		64		/* slots inspected per eviction, at most */
#define WG_MAX_EXEC_SLOTS	64		/* executions open at once per backend */
#define WG_MAX_PLAN_LEVELS	16		/* nesting levels with planning time kept */
#define WG_EPOCH_CLEARING	PG_UINT64_MAX

#define WG_DUMP_FILE		PGSTAT_STAT_PERMANENT_DIRECTORY "/workload_guard.stat"
#define WG_DUMP_MAGIC		0x57474c31	/* "WGL1" */
#define WG_DUMP_VERSION		1

typedef struct WgLatencyKey
{
	Oid			userid;
	Oid			dbid;
	uint64		queryid;
	bool		toplevel;
} WgLatencyKey;

typedef struct WgHashEntry
{
	WgLatencyKey key;			/* hash key; must be first */
	int			slot;			/* index into wg->digests */
} WgHashEntry;

typedef struct WgDigest
{
	/* guarded by wg->lock: set at creation, read by views */
	WgLatencyKey key;
	bool		in_use;
	int			query_len;
	TimestampTz stats_since;
	uint64		calls_at_sweep; /* clock sweep bookkeeping (exclusive lock) */

	/* lock-free counters */
	pg_atomic_uint64 calls;
	pg_atomic_uint64 errors;	/* ended in an error, cancels included */
	pg_atomic_uint64 cancels;	/* query_canceled: statement_timeout, cancel */
	pg_atomic_uint64 total_ns;
	pg_atomic_uint64 min_ns;
	pg_atomic_uint64 max_ns;
	pg_atomic_uint64 out_of_range;	/* clamped below 1 µs or above 2^32 µs */

	/* recent window: two epoch slots */
	pg_atomic_uint64 recent_epoch[2];
	pg_atomic_uint32 recent_errors[2];
	pg_atomic_uint32 recent[2][WG_HIST_BUCKETS];

	pg_atomic_uint64 buckets[WG_HIST_BUCKETS];

	char		query[WG_QUERY_TEXT_LEN];
} WgDigest;

typedef struct WgLatencyShared
{
	LWLock	   *lock;
	int			max_digests;
	int			nfree;			/* entries in free_slots */
	int			clock_hand;
	TimestampTz stats_reset;
	pg_atomic_uint64 evictions;
	pg_atomic_uint64 dropped;	/* executions not recorded (see views) */
	int		   *free_slots;		/* [max_digests] */
	WgDigest   *digests;		/* [max_digests] */
} WgLatencyShared;

/* GUCs */
int			wg_track = WG_TRACK_TOP;
static int	wg_max_statements = 1000;
static bool wg_track_utility = true;
static int	wg_recent_window = 60;	/* seconds */
static bool wg_save = true;

static const struct config_enum_entry track_options[] = {
	{"none", WG_TRACK_NONE, false},
	{"top", WG_TRACK_TOP, false},
	{"all", WG_TRACK_ALL, false},
	{NULL, 0, false}
};

/* shared state */
static WgLatencyShared *wg = NULL;
static HTAB *wg_hash = NULL;

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

static void wg_latency_shmem_shutdown(int code, Datum arg);

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
 * Caller holds wg->lock exclusively.
 */
static int
digest_take_slot(void)
{
	int			scan = Min(WG_EVICT_SCAN, wg->max_digests);
	int			victim = -1;
	uint64		victim_activity = PG_UINT64_MAX;
	int			i;

	if (wg->nfree > 0)
		return wg->free_slots[--wg->nfree];

	for (i = 0; i < scan; i++)
	{
		int			s = wg->clock_hand;
		WgDigest   *d = &wg->digests[s];
		uint64		calls = pg_atomic_read_u64(&d->calls);
		uint64		activity = calls - d->calls_at_sweep;

		wg->clock_hand = (wg->clock_hand + 1) % wg->max_digests;
		d->calls_at_sweep = calls;
		if (activity < victim_activity)
		{
			victim = s;
			victim_activity = activity;
			if (activity == 0)
				break;
		}
	}

	Assert(victim >= 0 && wg->digests[victim].in_use);
	hash_search(wg_hash, &wg->digests[victim].key, HASH_REMOVE, NULL);
	wg->digests[victim].in_use = false;
	pg_atomic_fetch_add_u64(&wg->evictions, 1);
	return victim;
}

/*
 * The sample text of a new digest, prepared before the exclusive lock is
 * taken: the statement's own slice of the source string, normalized when
 * the parse of this very statement left its constant locations (and the
 * statement did not fail: the scanner must not run in an aborted state),
 * else as it was sent.
 */
static int
digest_text(char *buf, uint64 queryid, int level, bool failed,
			const char *query, int location, int len)
{
	int			loc = location;
	int			orig_len = len;
	const char *text;

	buf[0] = '\0';
	if (query == NULL)
		return 0;
	text = CleanQuerytext(query, &loc, &len);

	if (!failed && level < WG_MAX_PLAN_LEVELS &&
		pending_norm[level].queryid == queryid &&
		pending_norm[level].stmt_location == location &&
		pending_norm[level].stmt_len == orig_len)
	{
		MemoryContext oldcxt = CurrentMemoryContext;
		volatile int result = -1;

		pending_norm[level].queryid = 0;

		/*
		 * The scanner can raise an error (a setting it depends on changed
		 * since the parse, memory): keep the text as sent then, never fail
		 * the statement.  It holds no resource but memory, so no
		 * subtransaction is needed to recover.
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
	}

	if (len >= WG_QUERY_TEXT_LEN)
		len = pg_mbcliplen(text, len, WG_QUERY_TEXT_LEN - 1);
	memcpy(buf, text, len);
	buf[len] = '\0';
	return len;
}

/*
 * Find or create the digest for a key; caller holds the lock exclusively.
 */
static WgDigest *
digest_enter(const WgLatencyKey *key, TimestampTz since)
{
	WgHashEntry *he;
	bool		found;
	int			slot;

	he = (WgHashEntry *) hash_search(wg_hash, key, HASH_FIND, NULL);
	if (he)
		return &wg->digests[he->slot];

	slot = digest_take_slot();
	he = (WgHashEntry *) hash_search(wg_hash, key, HASH_ENTER_NULL, &found);
	if (he == NULL)
	{
		/* cannot happen: the table is sized for max_digests entries */
		wg->free_slots[wg->nfree++] = slot;
		return NULL;
	}
	he->slot = slot;
	digest_init(&wg->digests[slot], key, since);
	return &wg->digests[slot];
}

void
wg_latency_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;
	char	   *ptr;
	FILE	   *file;
	uint32		header[4];
	int			i;

	wg = NULL;
	wg_hash = NULL;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);

	ptr = ShmemInitStruct("workload_guard latency",
						  MAXALIGN(sizeof(WgLatencyShared)) +
						  MAXALIGN(mul_size(wg_max_statements, sizeof(int))) +
						  mul_size(wg_max_statements, sizeof(WgDigest)),
						  &found);
	wg = (WgLatencyShared *) ptr;
	if (!found)
	{
		wg->lock = &(GetNamedLWLockTranche("workload_guard_latency"))->lock;
		wg->max_digests = wg_max_statements;
		wg->free_slots = (int *) (ptr + MAXALIGN(sizeof(WgLatencyShared)));
		wg->digests = (WgDigest *) (ptr + MAXALIGN(sizeof(WgLatencyShared)) +
									MAXALIGN(mul_size(wg_max_statements, sizeof(int))));
		wg->clock_hand = 0;
		wg->stats_reset = GetCurrentTimestamp();
		pg_atomic_init_u64(&wg->evictions, 0);
		pg_atomic_init_u64(&wg->dropped, 0);
		/* free list handed out from slot 0 upwards */
		wg->nfree = wg_max_statements;
		for (i = 0; i < wg_max_statements; i++)
		{
			wg->free_slots[i] = wg_max_statements - 1 - i;
			wg->digests[i].in_use = false;
		}
	}

	info.keysize = sizeof(WgLatencyKey);
	info.entrysize = sizeof(WgHashEntry);
	info.hash = wg_key_hash;
	info.match = wg_key_match;
	wg_hash = wg_shmem_init_hash("workload_guard latency hash",
								 wg_max_statements, &info,
								 HASH_ELEM | HASH_FUNCTION | HASH_COMPARE);

	LWLockRelease(AddinShmemInitLock);

	/* the postmaster (or a standalone backend) saves the table at shutdown */
	if (!IsUnderPostmaster)
		on_shmem_exit(wg_latency_shmem_shutdown, (Datum) 0);

	if (found)
		return;

	/*
	 * Load what the last clean shutdown saved.  No other process runs yet,
	 * so no lock is needed.  The file is removed once read: after a crash
	 * there is nothing to load, which is what we want (counts since the last
	 * save would be missing and the rest would look current).
	 */
	file = AllocateFile(WG_DUMP_FILE, PG_BINARY_R);
	if (file == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", WG_DUMP_FILE)));
		return;
	}

	if (fread(header, sizeof(header), 1, file) != 1 ||
		header[0] != WG_DUMP_MAGIC || header[1] != WG_DUMP_VERSION ||
		header[2] != WG_HIST_BUCKETS)
	{
		ereport(LOG,
				(errmsg("ignoring workload_guard statistics file \"%s\": wrong format",
						WG_DUMP_FILE)));
		goto done;
	}

	if (wg_save)
	{
		for (i = 0; i < (int) header[3]; i++)
		{
			WgLatencyKey key;
			TimestampTz since;
			uint64		counters[7];
			uint64		buckets[WG_HIST_BUCKETS];
			int32		qlen;
			char		query[WG_QUERY_TEXT_LEN];
			WgDigest   *d;
			int			b;

			if (fread(&key, sizeof(key), 1, file) != 1 ||
				fread(&since, sizeof(since), 1, file) != 1 ||
				fread(counters, sizeof(counters), 1, file) != 1 ||
				fread(&qlen, sizeof(qlen), 1, file) != 1 ||
				qlen < 0 || qlen >= WG_QUERY_TEXT_LEN ||
				fread(query, 1, qlen, file) != (size_t) qlen ||
				fread(buckets, sizeof(buckets), 1, file) != 1)
			{
				ereport(LOG,
						(errmsg("ignoring the rest of workload_guard statistics file \"%s\": truncated",
								WG_DUMP_FILE)));
				break;
			}
			if (wg->nfree == 0)
				break;			/* max_statements was lowered */

			d = digest_enter(&key, since);
			if (d == NULL)
				break;
			memcpy(d->query, query, qlen);
			d->query[qlen] = '\0';
			d->query_len = qlen;
			pg_atomic_write_u64(&d->calls, counters[0]);
			pg_atomic_write_u64(&d->errors, counters[1]);
			pg_atomic_write_u64(&d->cancels, counters[2]);
			pg_atomic_write_u64(&d->total_ns, counters[3]);
			pg_atomic_write_u64(&d->min_ns, counters[4]);
			pg_atomic_write_u64(&d->max_ns, counters[5]);
			pg_atomic_write_u64(&d->out_of_range, counters[6]);
			for (b = 0; b < WG_HIST_BUCKETS; b++)
				pg_atomic_write_u64(&d->buckets[b], buckets[b]);
		}
		if (fread(&wg->stats_reset, sizeof(TimestampTz), 1, file) != 1)
			wg->stats_reset = GetCurrentTimestamp();
	}

done:
	FreeFile(file);
	unlink(WG_DUMP_FILE);
}

/*
 * on_shmem_exit callback in the postmaster: write the table to disk with an
 * atomic rename.  Not on a crash (code != 0): shared memory may be corrupt.
 */
static void
wg_latency_shmem_shutdown(int code, Datum arg)
{
	FILE	   *file;
	uint32		header[4];
	int			i;
	int			n = 0;

	if (code || !wg || !wg_hash || !wg_save)
		return;

	file = AllocateFile(WG_DUMP_FILE ".tmp", PG_BINARY_W);
	if (file == NULL)
		goto error;

	for (i = 0; i < wg->max_digests; i++)
		if (wg->digests[i].in_use)
			n++;
	header[0] = WG_DUMP_MAGIC;
	header[1] = WG_DUMP_VERSION;
	header[2] = WG_HIST_BUCKETS;
	header[3] = n;
	if (fwrite(header, sizeof(header), 1, file) != 1)
		goto error;

	for (i = 0; i < wg->max_digests; i++)
	{
		WgDigest   *d = &wg->digests[i];
		uint64		counters[7];
		uint64		buckets[WG_HIST_BUCKETS];
		int32		qlen = d->query_len;
		int			b;

		if (!d->in_use)
			continue;
		counters[0] = pg_atomic_read_u64(&d->calls);
		counters[1] = pg_atomic_read_u64(&d->errors);
		counters[2] = pg_atomic_read_u64(&d->cancels);
		counters[3] = pg_atomic_read_u64(&d->total_ns);
		counters[4] = pg_atomic_read_u64(&d->min_ns);
		counters[5] = pg_atomic_read_u64(&d->max_ns);
		counters[6] = pg_atomic_read_u64(&d->out_of_range);
		for (b = 0; b < WG_HIST_BUCKETS; b++)
			buckets[b] = pg_atomic_read_u64(&d->buckets[b]);
		if (fwrite(&d->key, sizeof(d->key), 1, file) != 1 ||
			fwrite(&d->stats_since, sizeof(TimestampTz), 1, file) != 1 ||
			fwrite(counters, sizeof(counters), 1, file) != 1 ||
			fwrite(&qlen, sizeof(qlen), 1, file) != 1 ||
			fwrite(d->query, 1, qlen, file) != (size_t) qlen ||
			fwrite(buckets, sizeof(buckets), 1, file) != 1)
			goto error;
	}
	if (fwrite(&wg->stats_reset, sizeof(TimestampTz), 1, file) != 1)
		goto error;

	if (FreeFile(file))
	{
		file = NULL;
		goto error;
	}
	(void) durable_rename(WG_DUMP_FILE ".tmp", WG_DUMP_FILE, LOG);
	return;

error:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("could not write file \"%s\": %m", WG_DUMP_FILE ".tmp")));
	if (file)
		FreeFile(file);
	unlink(WG_DUMP_FILE ".tmp");
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
 * Epochs are numbered from 2, so that neither "epoch - 1" nor a freshly
 * zeroed slot (epoch 0) can be mistaken for a real period, even in the first
 * window after the machine booted (the monotonic clock starts near 0).
 */
#define WG_EPOCH_BASE	2

static inline uint64
recent_window_ns(void)
{
	return (uint64) wg_recent_window * UINT64CONST(1000000000);
}

static inline uint64
recent_epoch_of(uint64 now_ns)
{
	return now_ns / recent_window_ns() + WG_EPOCH_BASE;
}

/*
 * Add one execution to a digest.  Caller holds wg->lock (either mode).
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
			   int sqlerrcode, const char *query, int location, int len)
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

	if (!wg)
		return;

	memset(&key, 0, sizeof(key));	/* padding goes to the stats file */
	key.userid = GetUserId();
	key.dbid = MyDatabaseId;
	key.queryid = queryid;
	key.toplevel = (level == 0);
	bucket = wg_hist_bucket(ns, &range);

	LWLockAcquire(wg->lock, LW_SHARED);
	he = (WgHashEntry *) hash_search(wg_hash, &key, HASH_FIND, NULL);
	if (likely(he != NULL))
	{
		digest_add(&wg->digests[he->slot], ns, now_ns, bucket, range,
				   failed, canceled);
		LWLockRelease(wg->lock);
		return;
	}
	LWLockRelease(wg->lock);

	/* new digest: bounded work under the exclusive lock */
	text_len = digest_text(text, queryid, level, failed, query, location, len);
	LWLockAcquire(wg->lock, LW_EXCLUSIVE);
	d = digest_enter(&key, GetCurrentTimestamp());
	if (d != NULL)
	{
		if (d->query_len == 0)
		{
			memcpy(d->query, text, text_len + 1);
			d->query_len = text_len;
		}
		digest_add(d, ns, now_ns, bucket, range, failed, canceled);
	}
	else
		pg_atomic_fetch_add_u64(&wg->dropped, 1);
	LWLockRelease(wg->lock);
}

static inline uint64
clock_ns(void)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	return INSTR_TIME_GET_NANOSEC(now);
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
	if (jstate == NULL || jstate->clocations_count == 0 ||
		query->queryId == UINT64CONST(0) || level >= WG_MAX_PLAN_LEVELS ||
		!wg_latency_enabled(level))
		return;
	if (jstate->clocations_count > WG_MAX_NORM_CONSTS)
	{
		pending_norm[level].queryid = 0;	/* too many: keep the text as sent */
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
				   now, geterrcode(), queryString, stmt_location, stmt_len);
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

	if (queryid == UINT64CONST(0) || !wg || !wg_latency_enabled(level) ||
		IsParallelWorker() || (eflags & EXEC_FLAG_EXPLAIN_ONLY))
		return;

	if (unlikely(n_exec_slots >= WG_MAX_EXEC_SLOTS))
	{
		static bool warned = false;

		/* degrade: count it, and say so once per backend */
		pg_atomic_fetch_add_u64(&wg->dropped, 1);
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
					   src, ps->stmt_location, ps->stmt_len);
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
				   queryDesc->sourceText, ps->stmt_location, ps->stmt_len);
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

	return wg && wg_track_utility && wg_latency_enabled(level) &&
		queryid != UINT64CONST(0) && !IsParallelWorker() &&
		!IsA(parsetree, ExecuteStmt) &&
		!IsA(parsetree, PrepareStmt) &&
		!IsA(parsetree, DeallocateStmt);
}

void
wg_latency_utility_done(uint64 queryid, int level, const char *queryString,
						int stmt_location, int stmt_len,
						instr_time *start, bool failed)
{
	uint64		now = clock_ns();

	latency_record(queryid, level, now - INSTR_TIME_GET_NANOSEC(*start),
				   now, failed ? geterrcode() : 0,
				   queryString, stmt_location, stmt_len);
}

void
wg_latency_xact_cleanup(SubTransactionId aborted_subxid)
{
	if (aborted_subxid != InvalidSubTransactionId)
	{
		/* executions begun in the aborted subtransaction will never end */
		while (n_exec_slots > 0 &&
			   exec_slots[n_exec_slots - 1].subxid >= aborted_subxid)
			n_exec_slots--;
		/* nor will a planned statement whose start failed */
		memset(pending_plan, 0, sizeof(pending_plan));
	}
	else
	{
		n_exec_slots = 0;
		memset(pending_plan, 0, sizeof(pending_plan));
	}
}

/* ----------------------------------------------------------------
 * SQL functions
 * ----------------------------------------------------------------
 */
static void
check_loaded(void)
{
	if (!wg || !wg_hash)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("workload_guard must be loaded via shared_preload_libraries"),
				 errhint("Add workload_guard to shared_preload_libraries and restart the server.")));
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
 * A private copy of one digest.  Readers copy digests one at a time, each
 * under the shared lock held for that copy only, and compute everything
 * else (percentiles, tuples) without the lock: a scan of the whole table by
 * a monitoring tool never keeps a backend that must create a digest (which
 * takes the lock exclusively) waiting longer than one copy.
 */
typedef struct WgDigestSnap
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
	uint64		recent_calls;
	uint64		recent_errors;
	double		recent_seconds;
	char		query[WG_QUERY_TEXT_LEN];
	uint64		buckets[WG_HIST_BUCKETS];
	uint64		recent[WG_HIST_BUCKETS];
} WgDigestSnap;

/*
 * Copies slot into *out; false if the slot is free or (queryid != NULL)
 * holds another digest.  The recent window is copied when now_ns != 0.
 */
static bool
digest_snapshot(int slot, const uint64 *queryid, uint64 now_ns, WgDigestSnap *out)
{
	WgDigest   *d = &wg->digests[slot];
	int			b;

	LWLockAcquire(wg->lock, LW_SHARED);
	if (!d->in_use || (queryid != NULL && d->key.queryid != *queryid))
	{
		LWLockRelease(wg->lock);
		return false;
	}
	out->key = d->key;
	out->stats_since = d->stats_since;
	memcpy(out->query, d->query, d->query_len + 1);
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
	LWLockRelease(wg->lock);
	return true;
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

	for (i = 0; i < wg->max_digests; i++)
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
			values[c++] = CStringGetTextDatum(d->query);
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

	for (i = 0; i < wg->max_digests; i++)
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

	for (i = 0; i < wg->max_digests; i++)
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
	int64		removed = 0;
	int			i;

	check_loaded();

	LWLockAcquire(wg->lock, LW_EXCLUSIVE);
	for (i = 0; i < wg->max_digests; i++)
	{
		WgDigest   *d = &wg->digests[i];

		if (!d->in_use || (!all && d->key.queryid != queryid))
			continue;
		hash_search(wg_hash, &d->key, HASH_REMOVE, NULL);
		d->in_use = false;
		wg->free_slots[wg->nfree++] = i;
		removed++;
	}
	if (all)
	{
		wg->stats_reset = GetCurrentTimestamp();
		pg_atomic_write_u64(&wg->evictions, 0);
		pg_atomic_write_u64(&wg->dropped, 0);
	}
	LWLockRelease(wg->lock);

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

	LWLockAcquire(wg->lock, LW_SHARED);
	used = wg->max_digests - wg->nfree;
	values[0] = Int32GetDatum(wg->max_digests);
	values[1] = Int32GetDatum(used);
	values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&wg->evictions));
	values[3] = Int64GetDatum((int64) pg_atomic_read_u64(&wg->dropped));
	values[4] = Int32GetDatum(wg_recent_window);
	values[5] = TimestampTzGetDatum(wg->stats_reset);
	LWLockRelease(wg->lock);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
