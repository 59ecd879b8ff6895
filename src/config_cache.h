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
#include "utils/palloc.h"

typedef struct WgConfigCache WgConfigCache;

typedef struct WgConfigCacheDef
{
	/* table name in schema workload_guard */
	const char *relname;

	/*
	 * A new build starts: the previous contents are gone (their memory
	 * context was reset), allocate the new ones in cxt.  relid is the
	 * table's OID, or InvalidOid when the table does not exist in this
	 * database (extension not installed): then no row follows.
	 */
	void		(*begin) (MemoryContext cxt, Oid relid, void *arg);
	/* one committed row of the table; called in cxt */
	void		(*row) (TupleDesc desc, HeapTuple tuple, void *arg);

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
 * is locked exclusively): the caller carries on without rules and the
 * load is retried at the next call.
 */
extern bool wg_config_cache_ensure(WgConfigCache *cache);

/* cheap test: is the cache current? */
extern bool wg_config_cache_is_valid(WgConfigCache *cache);

#endif							/* WG_CONFIG_CACHE_H */
