/*-------------------------------------------------------------------------
 *
 * latency_pending.c
 *	  Per-backend pending executions: how a statement is recorded without a
 *	  shared write.  Each backend owns an area in shared memory, a ring of
 *	  executions not yet merged into the shared histograms, and a private
 *	  cache from digest key to (slot, generation), so that in the steady
 *	  state (the digest exists) a statement touches no lock and performs no
 *	  atomic read-modify-write: it reads its cache, writes one event into
 *	  its own ring and publishes the new head with a plain atomic store.
 *
 * How readers and writers meet (the whole protocol):
 *
 *	* An area's head is written only by its owner (pg_atomic_write_u64,
 *	  after a write barrier that orders the event before it).  Its tail is
 *	  written only under the area's flush lock, by whoever merges: the owner
 *	  (ring full, or WG_FLUSH_INTERVAL since its last merge, or at exit) or
 *	  a reader.  The owner writes ev[head % WG_RING] only while
 *	  head - tail < WG_RING, so it never writes an event a merger is still
 *	  reading; a merger publishes the new tail after a full barrier, once it
 *	  has read the events.
 *	* A merge holds the flush lock, then wg_lat->lock in SHARED mode (the
 *	  digests' in_use and generation cannot change under it) and adds the
 *	  events with the digest's atomics (once per batch).  An event whose
 *	  slot was evicted or reset since (in_use false, or another generation)
 *	  is dropped: those statements belonged to a digest that is gone.
 *	* Readers (every view and SQL function of the latency files, through
 *	  wg_latency_fold_all()) merge every area that has pending events before
 *	  they read, so every statement that completed before the read began is
 *	  counted.  Idle areas (head == tail) cost two reads, no lock.
 *	* Lock order: a flush lock, then wg_lat->lock.  Creation, eviction and
 *	  reset take wg_lat->lock exclusively and never a flush lock.
 *	* The owner's cache entry is checked against the slot (in_use and
 *	  generation: plain reads of fields written under the exclusive lock)
 *	  at every statement; a stale entry sends the statement down the shared
 *	  path (latency.c), which refreshes it.
 *	* At shutdown every backend has merged its ring (before_shmem_exit), so
 *	  the stats file (written by the postmaster, latency_file.c) is complete.
 *
 * Size: WG_RING events of 32 bytes plus two counters per backend:
 * about 2.1 kB per max_connections (+ autovacuum and background workers)
 * of shared memory; the owner's cache is 32 kB of its private memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"

#include "compat.h"
#include "latency_internal.h"

#define WG_RING				64	/* pending executions per backend */
#define WG_FLUSH_INTERVAL	(100 * UINT64CONST(1000000))	/* ns */
#define WG_LOCAL_SIZE		1024	/* local cache entries (a power of 2) */

typedef struct WgPendingEvent
{
	int32		slot;
	uint32		generation;
	uint64		ns;
	uint64		end_ns;
	uint32		flags;			/* WG_EV_* */
} WgPendingEvent;

#define WG_EV_FAILED	0x1
#define WG_EV_CANCELED	0x2

typedef struct WgBackendArea
{
	pg_atomic_uint64 head;		/* written by the owner only */
	pg_atomic_uint64 tail;		/* written under the flush lock only */
	WgPendingEvent ev[WG_RING];
} WgBackendArea;

/*
 * The owner's cache from digest key to slot: direct-mapped, no allocation,
 * one probe.  Two keys that map to one entry take it in turn; the other
 * goes down the shared path, which puts it back (a miss costs one shared
 * lookup, never a wrong slot: the whole key is compared).
 */
typedef struct WgLocalEntry
{
	WgLatencyKey key;
	int			slot;			/* -1: empty */
	uint32		generation;
} WgLocalEntry;

static WgBackendArea *areas = NULL;
static LWLockPadded *flush_locks = NULL;
static int	n_areas = 0;

/* the owner's side */
static WgBackendArea *my_area = NULL;
static LWLock *my_lock = NULL;
static uint64 my_head = 0;
static uint64 last_flush_ns = 0;
static bool attached = false;
static WgLocalEntry local_cache[WG_LOCAL_SIZE];

static inline WgLocalEntry *
local_entry(const WgLatencyKey *key)
{
	return &local_cache[wg_latency_key_hash_of(key) &
						(WG_LOCAL_SIZE - 1)];
}

static inline bool
local_key_equal(const WgLatencyKey *a, const WgLatencyKey *b)
{
	return a->queryid == b->queryid && a->userid == b->userid &&
		a->dbid == b->dbid && a->toplevel == b->toplevel;
}

static int
areas_wanted(void)
{
	return MaxBackends + NUM_AUXILIARY_PROCS;
}

Size
wg_latency_pending_shmem_size(void)
{
	return mul_size(areas_wanted(), sizeof(WgBackendArea));
}

void
wg_latency_pending_shmem_request(void)
{
	RequestAddinShmemSpace(wg_latency_pending_shmem_size());
	RequestNamedLWLockTranche("workload_guard_latency_flush", areas_wanted());
}

/* caller holds AddinShmemInitLock */
void
wg_latency_pending_shmem_startup(void)
{
	bool		found;
	int			i;

	n_areas = areas_wanted();
	areas = (WgBackendArea *) ShmemInitStruct("workload_guard latency pending",
											  wg_latency_pending_shmem_size(),
											  &found);
	flush_locks = GetNamedLWLockTranche("workload_guard_latency_flush");
	if (!found)
		for (i = 0; i < n_areas; i++)
		{
			pg_atomic_init_u64(&areas[i].head, 0);
			pg_atomic_init_u64(&areas[i].tail, 0);
		}
}

/*
 * Merge an area's pending events into the shared digests.  Caller holds the
 * area's flush lock (or runs alone).
 */
static void
fold_locked(WgBackendArea *a)
{
	uint64		head = pg_atomic_read_u64(&a->head);
	uint64		tail;
	WgDigest   *cur = NULL;
	WgDigestSum sum;

	pg_read_barrier();			/* the events are read after the head */
	tail = pg_atomic_read_u64(&a->tail);
	if (head == tail)
		return;

	LWLockAcquire(wg_lat->lock, LW_SHARED);
	for (; tail < head; tail++)
	{
		WgPendingEvent *ev = &a->ev[tail % WG_RING];
		WgDigest   *d;
		WgHistRange range;
		int			bucket;
		bool		failed = (ev->flags & WG_EV_FAILED) != 0;

		if (ev->slot < 0 || ev->slot >= wg_lat->max_digests)
			continue;
		d = &wg_lat->digests[ev->slot];
		if (!d->in_use || d->generation != ev->generation)
			continue;			/* evicted or reset since */

		/* a run of one digest's executions sums into one set of adds */
		if (d != cur)
		{
			if (cur != NULL)
				wg_latency_digest_add_sum(cur, &sum);
			cur = d;
			wg_digest_sum_init(&sum);
		}
		bucket = wg_hist_bucket(ev->ns, &range);
		wg_digest_sum_add(&sum, ev->ns, range, failed,
						  (ev->flags & WG_EV_CANCELED) != 0);
		wg_latency_digest_add_event(d, bucket, ev->end_ns, failed);
	}
	if (cur != NULL)
		wg_latency_digest_add_sum(cur, &sum);
	LWLockRelease(wg_lat->lock);

	pg_memory_barrier();		/* done reading before the slots are reused */
	pg_atomic_write_u64(&a->tail, head);
}

static void
fold_area(int i)
{
	WgBackendArea *a = &areas[i];

	if (pg_atomic_read_u64(&a->head) == pg_atomic_read_u64(&a->tail))
		return;
	LWLockAcquire(&flush_locks[i].lock, LW_EXCLUSIVE);
	fold_locked(a);
	LWLockRelease(&flush_locks[i].lock);
}

/*
 * Every backend's pending executions, merged: called by every reader before
 * it reads the digests.  Without a PGPROC (the postmaster at shutdown, when
 * every backend has merged its own) there is nothing to do.
 */
void
wg_latency_fold_all(void)
{
	int			i;

	if (areas == NULL || MyProc == NULL)
		return;
	for (i = 0; i < n_areas; i++)
		fold_area(i);
}

static void
pending_exit(int code, Datum arg)
{
	if (my_area != NULL && wg_lat != NULL)
	{
		LWLockAcquire(my_lock, LW_EXCLUSIVE);
		fold_locked(my_area);
		LWLockRelease(my_lock);
	}
	my_area = NULL;
}

static bool
attach(void)
{
	int			me = WG_MY_PROC_INDEX();
	int			i;

	attached = true;
	for (i = 0; i < WG_LOCAL_SIZE; i++)
		local_cache[i].slot = -1;
	if (areas == NULL || me < 0 || me >= n_areas)
		return false;
	my_area = &areas[me];
	my_lock = &flush_locks[me].lock;
	/* the previous owner merged everything at its exit: head == tail */
	my_head = pg_atomic_read_u64(&my_area->head);
	before_shmem_exit(pending_exit, (Datum) 0);
	return true;
}

/*
 * Record one execution in the backend's ring, if the digest is in the
 * local cache and still valid; false sends the caller down the shared path.
 * Never raises an error.
 */
bool
wg_latency_pending_add(const WgLatencyKey *key, uint64 ns, uint64 end_ns,
					   bool failed, bool canceled)
{
	WgLocalEntry *e;
	WgDigest   *d;
	WgPendingEvent *ev;

	/* at exit (after pending_exit, or before any attach): the shared path */
	if (unlikely(!attached) && (proc_exit_inprogress || !attach()))
		return false;
	if (my_area == NULL)
		return false;

	e = local_entry(key);
	if (e->slot < 0 || !local_key_equal(&e->key, key))
		return false;
	d = &wg_lat->digests[e->slot];
	if (!d->in_use || d->generation != e->generation)
		return false;

	if (unlikely(my_head - pg_atomic_read_u64(&my_area->tail) >= WG_RING))
	{
		LWLockAcquire(my_lock, LW_EXCLUSIVE);
		fold_locked(my_area);
		LWLockRelease(my_lock);
	}
	pg_read_barrier();			/* the slot is written after the tail is read */

	ev = &my_area->ev[my_head % WG_RING];
	ev->slot = e->slot;
	ev->generation = e->generation;
	ev->ns = ns;
	ev->end_ns = end_ns;
	ev->flags = (failed ? WG_EV_FAILED : 0) | (canceled ? WG_EV_CANCELED : 0);
	pg_write_barrier();			/* the event before the head */
	pg_atomic_write_u64(&my_area->head, ++my_head);

	if (unlikely(end_ns - last_flush_ns > WG_FLUSH_INTERVAL))
	{
		last_flush_ns = end_ns;
		LWLockAcquire(my_lock, LW_EXCLUSIVE);
		fold_locked(my_area);
		LWLockRelease(my_lock);
	}
	return true;
}

/*
 * The shared path found (or created) the digest of key in slot: remember it,
 * so that the next execution stays local.  Caller holds wg_lat->lock (either
 * mode).
 */
void
wg_latency_pending_remember(const WgLatencyKey *key, int slot)
{
	WgLocalEntry *e;

	if (!attached && !proc_exit_inprogress)
		(void) attach();
	if (my_area == NULL)
		return;
	e = local_entry(key);
	e->key = *key;
	e->slot = slot;
	e->generation = wg_lat->digests[slot].generation;
}
