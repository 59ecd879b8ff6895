/*-------------------------------------------------------------------------
 *
 * latency_internal.h
 *	  What the latency files share among themselves: the layout of the
 *	  shared digest table and the helpers every one of them needs.  Only
 *	  latency.c (recording, store, eviction), latency_file.c (persistence),
 *	  latency_sql.c (SQL functions) and latency_export.c (monitoring
 *	  exports, read-only) include it; the locking protocol is
 *	  in latency.c's header.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WG_LATENCY_INTERNAL_H
#define WG_LATENCY_INTERNAL_H

#include "port/atomics.h"
#include "portability/instr_time.h"
#include "storage/lwlock.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "histogram.h"

#define WG_QUERY_TEXT_LEN	1024	/* sample text kept per digest, bytes */
#define WG_NS_PER_US		UINT64CONST(1000)

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
	int			slot;			/* index into wg_lat->digests */
} WgHashEntry;

typedef struct WgDigest
{
	/* guarded by wg_lat->lock: set at creation, read by views */
	WgLatencyKey key;
	bool		in_use;
	int			query_len;
	int			encoding;		/* of query: its database's encoding */
	TimestampTz stats_since;
	uint64		calls_at_sweep; /* clock sweep bookkeeping (exclusive lock) */
	uint32		generation;		/* bumped when the slot gets a new digest */

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
	int			encoding;		/* of query */
	char		query[WG_QUERY_TEXT_LEN];
	uint64		buckets[WG_HIST_BUCKETS];
	uint64		recent[WG_HIST_BUCKETS];
} WgDigestSnap;

/* copy one slot (latency_sql.c); see WgDigestSnap */
extern bool wg_latency_snapshot(int slot, const uint64 *queryid, uint64 now_ns,
								WgDigestSnap *out);

/* shared state (latency.c) */
extern WgLatencyShared *wg_lat;
extern HTAB *wg_lat_hash;

/* GUCs (latency.c) */
extern int	wg_recent_window;
extern bool wg_save;

/* find or create a digest; caller holds wg_lat->lock exclusively */
extern WgDigest *wg_latency_digest_enter(const WgLatencyKey *key, TimestampTz since);

/* remove every digest (all) or those of one queryid; caller holds the
 * lock exclusively (or runs alone); returns how many were removed */
extern int64 wg_latency_store_remove(bool all, uint64 queryid);

/* add one execution to a digest; caller holds wg_lat->lock (either mode) */
/* a batch of one digest's executions, for the counters that only sum */
typedef struct WgDigestSum
{
	uint64		calls;
	uint64		total_ns;
	uint64		min_ns;
	uint64		max_ns;
	uint64		out_of_range;
	uint64		errors;
	uint64		cancels;
} WgDigestSum;

static inline void
wg_digest_sum_init(WgDigestSum *sum)
{
	memset(sum, 0, sizeof(*sum));
	sum->min_ns = PG_UINT64_MAX;
}

static inline void
wg_digest_sum_add(WgDigestSum *sum, uint64 ns, WgHistRange range,
				  bool failed, bool canceled)
{
	sum->calls++;
	sum->total_ns += ns;
	if (ns < sum->min_ns)
		sum->min_ns = ns;
	if (ns > sum->max_ns)
		sum->max_ns = ns;
	if (range != WG_HIST_IN_RANGE)
		sum->out_of_range++;
	if (failed)
		sum->errors++;
	if (canceled)
		sum->cancels++;
}

extern void wg_latency_digest_add_sum(WgDigest *d, const WgDigestSum *sum);
extern void wg_latency_digest_add_event(WgDigest *d, int bucket, uint64 now_ns,
										bool failed);
extern void wg_latency_digest_add(WgDigest *d, uint64 ns, uint64 now_ns, int bucket,
								  WgHistRange range, bool failed, bool canceled);
/*
 * The queryid already is a 64-bit hash: fold the rest of the key into it
 * and mix (Fibonacci hashing), instead of hash_bytes() over 24 padded bytes.
 */
static inline uint32
wg_latency_key_hash_of(const WgLatencyKey *k)
{
	uint64		h = k->queryid ^ ((uint64) k->userid << 32) ^ k->dbid ^
		((uint64) k->toplevel << 31);

	h *= UINT64CONST(0x9E3779B97F4A7C15);
	return (uint32) (h >> 32);
}

extern uint32 wg_latency_key_hash(const void *key, Size keysize);
extern int	wg_latency_key_match(const void *a, const void *b, Size keysize);

/* per-backend pending executions (latency_pending.c) */
extern Size wg_latency_pending_shmem_size(void);
extern void wg_latency_pending_shmem_request(void);
extern void wg_latency_pending_shmem_startup(void);
extern bool wg_latency_pending_add(const WgLatencyKey *key, uint64 ns, uint64 end_ns,
								   bool failed, bool canceled);
extern void wg_latency_pending_remember(const WgLatencyKey *key, int slot);
extern void wg_latency_fold_all(void);

/* persistence (latency_file.c) */
extern void wg_latency_file_load(void);
extern void wg_latency_file_save(int code, Datum arg);

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
 * The recorder's clock: the wall clock of statement_timestamp() and of the
 * server log's durations (GetCurrentTimestamp, microseconds), in ns.
 */
static inline uint64
clock_ns(void)
{
	return (uint64) GetCurrentTimestamp() * WG_NS_PER_US;
}

#endif							/* WG_LATENCY_INTERNAL_H */
