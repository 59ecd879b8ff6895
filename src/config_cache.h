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
 * Where a cache is consulted (executor start, planning): process pending
 * invalidations first, so that a change committed by another session, or
 * replayed on a standby, is seen even by a transaction that takes no new
 * lock (core processes invalidations only when it takes a lock it does not
 * hold yet, so a DO loop or a long transaction would never see them).
 * When no message is pending this is one unlocked test of a flag of our
 * own slot in the shared invalidation queue (SIGetDataEntries'
 * hasMessages), a few dozen instructions; when one is, it is processed
 * now instead of at the next lock, work the backend does in any case.
 */
static inline void
wg_config_caches_sync(void)
{
	AcceptInvalidationMessages();
}

#endif							/* WG_CONFIG_CACHE_H */
