/*-------------------------------------------------------------------------
 *
 * config_cache.c
 *	  Backend-local caches of workload_guard's configuration tables
 *	  (extension tables in schema workload_guard) and their invalidation.
 *
 * Why tables and invalidation: configuration that lives in an extension
 * table is WAL-logged, so every physical standby (cascaded ones too) has it
 * as soon as it replays the WAL, and pg_dump saves it with the extension
 * (pg_extension_config_dump).  Reading a table on every statement is out of
 * the question, so each backend keeps a copy and drops it when told to.
 *
 * Who tells it: plain DML on a table sends no invalidation at all.  Every
 * config table therefore carries the statement-level trigger
 * workload_guard.config_changed() (wg_config_changed below), which
 * registers a relcache invalidation of the table in the writing
 * transaction.  That message is
 *	- delivered to the other backends only if and when the transaction
 *	  commits, and to the writing backend itself at its next command
 *	  (so a rolled-back change never takes effect anywhere);
 *	- carried in the commit WAL record, and replayed on every standby into
 *	  its shared invalidation queue after the commit is visible there.
 * Our relcache callback (one for all caches) then marks the matching cache
 * invalid.  An invalidation of every relation (InvalidOid: sinval queue
 * overflow) drops every cache.  A cache that found no table (extension not
 * installed in this database) drops itself on any relcache invalidation,
 * since it cannot know the OID the table will get.
 *
 * Loading (wg_config_cache_ensure) happens in a transaction, at the first
 * use after a drop: the table is locked AccessShare *conditionally* (never
 * wait behind a TRUNCATE or VACUUM FULL of the config table: carry on with
 * no rules and retry next time), the cache is marked valid, then every row
 * visible to a fresh snapshot (GetLatestSnapshot, which includes the
 * current transaction's own earlier changes) is handed to the owner.  Why
 * marking valid before reading is race-free: a committing transaction
 * becomes visible before it sends its invalidation (CommitTransaction, and
 * xact_redo_commit on a standby, keep that order), so a commit our snapshot
 * misses sends its message after we marked the cache valid, and the message
 * drops it again.  A message that arrives during the scan (detoasting takes
 * a lock, which accepts invalidations) makes the loop read the table again.
 *
 * No shared state; the callback only flips flags, memory is released at
 * the next load.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "storage/lmgr.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "compat.h"

#include "config_cache.h"

#define WG_MAX_CONFIG_CACHES	8
#define WG_CONFIG_SCHEMA		"workload_guard"
#define WG_MAX_LOAD_ATTEMPTS	10

struct WgConfigCache
{
	const WgConfigCacheDef *def;
	bool		valid;
	Oid			relid;			/* InvalidOid: no table in this database */
	MemoryContext cxt;
};

static WgConfigCache caches[WG_MAX_CONFIG_CACHES];
static int	ncaches = 0;

static void
config_cache_relcache_cb(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < ncaches; i++)
	{
		WgConfigCache *c = &caches[i];

		if (!c->valid)
			continue;
		if (relid == InvalidOid || c->relid == InvalidOid || relid == c->relid)
		{
			c->valid = false;
			c->def->dropped(c->def->arg);
		}
	}
}

WgConfigCache *
wg_config_cache_register(const WgConfigCacheDef *def)
{
	WgConfigCache *c;

	if (ncaches >= WG_MAX_CONFIG_CACHES)
		elog(ERROR, "too many workload_guard configuration caches");

	/* one callback serves every cache (the callback slots are few) */
	if (ncaches == 0)
		CacheRegisterRelcacheCallback(config_cache_relcache_cb, (Datum) 0);

	c = &caches[ncaches++];
	c->def = def;
	c->valid = false;
	c->relid = InvalidOid;
	c->cxt = NULL;
	return c;
}

/* the owner's previous contents go only now, right before a new build */
static void
config_cache_reset(WgConfigCache *c)
{
	if (c->cxt == NULL)
		c->cxt = AllocSetContextCreate(TopMemoryContext,
									   "workload_guard config cache",
									   ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(c->cxt);
}

bool
wg_config_cache_is_valid(WgConfigCache *cache)
{
	return cache->valid;
}

bool
wg_config_cache_ensure(WgConfigCache *c)
{
	int			attempt;

	for (attempt = 0; !c->valid && attempt < WG_MAX_LOAD_ATTEMPTS; attempt++)
	{
		Oid			nsp;
		Oid			relid = InvalidOid;
		Relation	rel;
		Snapshot	snap;
		TableScanDesc scan;
		HeapTuple	tup;
		MemoryContext old;

		nsp = get_namespace_oid(WG_CONFIG_SCHEMA, true);
		if (OidIsValid(nsp))
			relid = get_relname_relid(c->def->relname, nsp);

		if (!OidIsValid(relid))
		{
			/* not installed here: an empty cache, dropped by any change */
			c->relid = InvalidOid;
			c->valid = true;
			config_cache_reset(c);
			old = MemoryContextSwitchTo(c->cxt);
			c->def->begin(c->cxt, InvalidOid, c->def->arg);
			MemoryContextSwitchTo(old);
			return true;
		}

		if (!ConditionalLockRelationOid(relid, AccessShareLock))
			return false;

		/* dropped between the lookup and the lock: look again */
		rel = RelationIdGetRelation(relid);
		if (!RelationIsValid(rel))
		{
			UnlockRelationOid(relid, AccessShareLock);
			continue;
		}

		c->relid = relid;
		c->valid = true;
		config_cache_reset(c);

		old = MemoryContextSwitchTo(c->cxt);
		c->def->begin(c->cxt, relid, c->def->arg);

		snap = RegisterSnapshot(GetLatestSnapshot());
		scan = wg_table_beginscan(rel, snap);
		while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
			c->def->row(RelationGetDescr(rel), tup, c->def->arg);
		table_endscan(scan);
		UnregisterSnapshot(snap);

		MemoryContextSwitchTo(old);
		RelationClose(rel);
		UnlockRelationOid(relid, AccessShareLock);
	}

	return c->valid;
}

/*
 * Statement-level AFTER trigger on every config table: make the change
 * reach every backend's cache, here and on the standbys (see the header).
 */
PG_FUNCTION_INFO_V1(wg_config_changed);

Datum
wg_config_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by trigger manager",
						"config_changed")));
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired AFTER STATEMENT",
						"config_changed")));

	CacheInvalidateRelcache(trigdata->tg_relation);

	return PointerGetDatum(NULL);
}
