/*-------------------------------------------------------------------------
 *
 * config_cache.h
 *	  Backend-local caches of workload_guard's configuration tables,
 *	  dropped by invalidation (see config_cache.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WG_CONFIG_CACHE_H
#define WG_CONFIG_CACHE_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "access/xact.h"
#include "utils/inval.h"
#include "utils/palloc.h"

#include "ext_objects.h"

typedef struct WgConfigCache WgConfigCache;

typedef struct WgConfigCacheDef
{
	/*
	 * The table, in schema workload_guard, and the columns row() decodes:
	 * only a member of the extension with exactly these columns is read
	 * (ext_objects.c).
	 */
	const WgExtTable *table;

	/*
	 * Wait for a lock on the table held by someone else (VACUUM FULL,
	 * TRUNCATE) instead of carrying on with an empty cache.  For contents
	 * baked into cached plans, which a load without the rules would leave
	 * wrong until the next invalidation.
	 */
	bool		wait_for_lock;

	/*
	 * A new build starts: the previous contents are gone (their memory
	 * context was reset), allocate the new ones in cxt.  relid is the
	 * table's OID, or InvalidOid when the extension's table does not exist
	 * in this database: then no row follows.
	 */
	void		(*begin) (MemoryContext cxt, Oid relid, void *arg);
	/* one committed row of the table (of the shape of table); called in cxt */
	void		(*row) (TupleDesc desc, HeapTuple tuple, void *arg);
	/* optional: the last row was handed over; called in cxt */
	void		(*end) (void *arg);

	/*
	 * The cache was dropped.  Called from an invalidation callback: set
	 * flags only, no catalog access, no freeing (the owner may be in the
	 * middle of reading the old contents).
	 */
	void		(*dropped) (void *arg);
	void	   *arg;
} WgConfigCacheDef;

/* call from _PG_init; def must stay valid for the life of the process */
extern WgConfigCache *wg_config_cache_register(const WgConfigCacheDef *def);

/*
 * Make the cache current, (re)loading the table if it was dropped.  Needs
 * a transaction.  Returns false when the table could not be read now (it
 * is locked exclusively and the cache does not wait): the caller carries
 * on without rules and the load is retried at the next call; or when it
 * kept changing during the load: the contents are then those of one of the
 * reads and the next call reads again.
 */
extern bool wg_config_cache_ensure(WgConfigCache *cache);

/* cheap test: is the cache current? */
extern bool wg_config_cache_is_valid(WgConfigCache *cache);

/*
 * From begin/row/end: an invalidation of relid (besides the table itself)
 * also drops the cache.  For contents derived from other relations.
 */
extern void wg_config_cache_watch(WgConfigCache *cache, Oid relid);

/*
 * Where a cache is consulted (executor start, planning, utility
 * statements): process pending invalidations first, so that a change
 * committed by another session, or replayed on a standby, is seen even by
 * a transaction that takes no new lock (core processes invalidations only
 * when it starts a transaction or takes a lock it does not hold yet, so a
 * DO loop, a procedure or a long transaction would never see them).
 *
 * Cost: AcceptInvalidationMessages is one unlocked test of a flag of our
 * own slot in the shared invalidation queue when nothing is pending
 * (SIGetDataEntries' hasMessages), but with its calls about 75
 * instructions.  It is skipped where it cannot find anything core has not
 * just read: at the first consultation of each point in a transaction
 * that this very statement started (statement_timestamp() equals
 * transaction_timestamp(); a transaction opened by an earlier BEGIN, or
 * inside a procedure, has a different start), since starting it read the
 * queue a moment ago.  A single-statement transaction thus pays two
 * compares per point; the second and later consultations in a
 * transaction (the statements of a DO loop, of a procedure, of an open
 * transaction) read the queue.
 */
typedef enum WgSyncPoint
{
	WG_SYNC_EXECUTOR,
	WG_SYNC_PLANNER,
	WG_SYNC_UTILITY,
	WG_SYNC_POINTS
} WgSyncPoint;

/* true until the point is consulted in the current transaction */
extern bool wg_sync_fresh[WG_SYNC_POINTS];

static inline void
wg_config_caches_sync(WgSyncPoint point)
{
	if (wg_sync_fresh[point])
	{
		wg_sync_fresh[point] = false;
		if (GetCurrentStatementStartTimestamp() ==
			GetCurrentTransactionStartTimestamp())
			return;
	}
	AcceptInvalidationMessages();
}

/* transaction end (commit, abort, prepare): every point is fresh again */
extern void wg_config_caches_xact_end(void);

#endif							/* WG_CONFIG_CACHE_H */
