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
 * Which table: only the extension's own (ext_objects.c: a member of
 * extension workload_guard per pg_depend, with exactly the columns the
 * owner decodes, checked again on the locked table's descriptor before the
 * first row is read).  In a database without the extension nothing is
 * read, whatever a schema named workload_guard holds.
 *
 * Who tells it: plain DML on a table sends no invalidation at all.  Every
 * config table therefore carries the statement-level trigger
 * workload_guard.config_changed() (wg_config_changed below), ENABLE ALWAYS
 * so that it fires under session_replication_role = replica and in logical
 * replication workers too, which registers a relcache invalidation of the
 * table in the writing transaction.  That message is
 *	- delivered to the other backends only if and when the transaction
 *	  commits, and to the writing backend itself at its next command
 *	  (so a rolled-back change never takes effect anywhere);
 *	- carried in the commit WAL record, and replayed on every standby into
 *	  its shared invalidation queue after the commit is visible there.
 * Our relcache callback (one for all caches) then marks the matching cache
 * invalid.  An invalidation of every relation (InvalidOid: sinval queue
 * overflow) drops every cache.  A cache that found no table (extension not
 * installed in this database) drops itself on any relcache invalidation,
 * since it cannot know the OID the table will get.  A cache whose contents
 * are derived from other relations too (the indexes a disabled-index rule
 * hides) names them with wg_config_cache_watch; an invalidation of one of
 * them drops it as well.
 *
 * When: core reads the invalidation queue only when it starts a
 * transaction or takes a lock it does not already hold, so a transaction
 * that keeps executing the same statements (a DO loop, a procedure, a long
 * transaction) would never see a change.  wg_config_caches_sync() is
 * called where a cache is consulted (executor start, planning, utility
 * statements); it reads the queue unless core just did (config_cache.h).
 *
 * Loading (wg_config_cache_ensure) happens in a transaction, at the first
 * use after a drop: the table is locked AccessShare, *conditionally* unless
 * the owner asked to wait (wait_for_lock: never wait behind a TRUNCATE or
 * VACUUM FULL of the config table, carry on with no rules and retry next
 * time; but contents that end up in cached plans wait, as planning waits
 * for any table it reads), the cache is marked valid, then every row
 * visible to a fresh snapshot (GetLatestSnapshot, which includes the
 * current transaction's own earlier changes) is handed to the owner.  Why
 * marking valid before reading is race-free: a committing transaction
 * becomes visible before it sends its invalidation (CommitTransaction, and
 * xact_redo_commit on a standby, keep that order), so a commit our snapshot
 * misses sends its message after we marked the cache valid, and the message
 * drops it again.  A message that arrives during the scan (detoasting takes
 * a lock, which accepts invalidations, and so do the owner's catalog
 * lookups; since the watched set is still being collected then, any
 * message counts) makes the loop read the table again.
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
#include "commands/extension.h"
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
#include "ext_objects.h"

#define WG_MAX_CONFIG_CACHES	8
#define WG_MAX_LOAD_ATTEMPTS	10

struct WgConfigCache
{
	const WgConfigCacheDef *def;
	bool		valid;
	bool		building;		/* inside wg_config_cache_ensure's scan */
	bool		warned;			/* the table is the extension's, but unusable */
	Oid			relid;			/* InvalidOid: no table of ours here */
	MemoryContext cxt;
	List	   *watch_list;		/* wg_config_cache_watch, during a build */
	Oid		   *watched;		/* sorted, for the callback */
	int			nwatched;
};

static WgConfigCache caches[WG_MAX_CONFIG_CACHES];
static int	ncaches = 0;

bool		wg_sync_fresh[WG_SYNC_POINTS] = {true, true, true};

void
wg_config_caches_xact_end(void)
{
	int			i;

	for (i = 0; i < WG_SYNC_POINTS; i++)
		wg_sync_fresh[i] = true;
}

static int
oid_cmp(const void *a, const void *b)
{
	Oid			x = *(const Oid *) a;
	Oid			y = *(const Oid *) b;

	return (x > y) - (x < y);
}

/* does an invalidation of relid drop cache c? */
static bool
concerns(const WgConfigCache *c, Oid relid)
{
	if (relid == InvalidOid || c->relid == InvalidOid || relid == c->relid)
		return true;

	/*
	 * During a build the watched set is still being collected: any message
	 * may be about a relation the contents are being derived from.
	 */
	if (c->building)
		return true;
	return c->nwatched > 0 &&
		bsearch(&relid, c->watched, c->nwatched, sizeof(Oid), oid_cmp) != NULL;
}

static void
config_cache_relcache_cb(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < ncaches; i++)
	{
		WgConfigCache *c = &caches[i];

		if (c->valid && concerns(c, relid))
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
	memset(c, 0, sizeof(*c));
	c->def = def;
	c->relid = InvalidOid;
	return c;
}

/* the owner's previous contents go only now, right before a new build */
static void
config_cache_reset(WgConfigCache *c, Oid relid)
{
	if (c->cxt == NULL)
		c->cxt = AllocSetContextCreate(TopMemoryContext,
									   "workload_guard config cache",
									   ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(c->cxt);
	c->watch_list = NIL;
	c->watched = NULL;
	c->nwatched = 0;
	c->relid = relid;
	c->valid = true;
}

bool
wg_config_cache_is_valid(WgConfigCache *cache)
{
	return cache->valid;
}

void
wg_config_cache_watch(WgConfigCache *c, Oid relid)
{
	MemoryContext old = MemoryContextSwitchTo(c->cxt);

	c->watch_list = lappend_oid(c->watch_list, relid);
	MemoryContextSwitchTo(old);
}

/* the watched relations collected during the build, sorted for bsearch */
static void
config_cache_watch_done(WgConfigCache *c)
{
	ListCell   *lc;
	int			n = 0;

	if (c->watch_list == NIL)
		return;
	c->watched = MemoryContextAlloc(c->cxt, list_length(c->watch_list) * sizeof(Oid));
	foreach(lc, c->watch_list)
		c->watched[n++] = lfirst_oid(lc);
	qsort(c->watched, n, sizeof(Oid), oid_cmp);
	c->nwatched = n;
}

/* no table of ours in this database: an empty cache, dropped by any change */
static void
config_cache_empty(WgConfigCache *c)
{
	MemoryContext old;

	config_cache_reset(c, InvalidOid);
	old = MemoryContextSwitchTo(c->cxt);
	c->def->begin(c->cxt, InvalidOid, c->def->arg);
	if (c->def->end)
		c->def->end(c->def->arg);
	MemoryContextSwitchTo(old);
}

/* read every row of rel (locked) into the cache */
static void
config_cache_build(WgConfigCache *c, Relation rel)
{
	Snapshot	snap;
	TableScanDesc scan;
	HeapTuple	tup;
	MemoryContext old;

	config_cache_reset(c, RelationGetRelid(rel));
	c->building = true;
	PG_TRY();
	{
		old = MemoryContextSwitchTo(c->cxt);
		c->def->begin(c->cxt, c->relid, c->def->arg);

		snap = RegisterSnapshot(GetLatestSnapshot());
		scan = wg_table_beginscan(rel, snap);
		while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
			c->def->row(RelationGetDescr(rel), tup, c->def->arg);
		table_endscan(scan);
		UnregisterSnapshot(snap);

		if (c->def->end)
			c->def->end(c->def->arg);
		config_cache_watch_done(c);
		MemoryContextSwitchTo(old);
	}
	PG_CATCH();
	{
		/* half-built contents are never used: build again next time */
		c->building = false;
		c->valid = false;
		c->def->dropped(c->def->arg);
		PG_RE_THROW();
	}
	PG_END_TRY();
	c->building = false;
}

/*
 * No table of the right shape: normal without the extension, but where the
 * extension exists its table was altered (or an upgrade went wrong) and its
 * rules are not applied.  Say so once per backend: silently no brakes is
 * the worst way to degrade.  Not during CREATE or ALTER EXTENSION, whose
 * scripts run statements before the tables have their final shape.
 */
static void
config_cache_unusable(WgConfigCache *c)
{
	if (c->warned || creating_extension || !OidIsValid(wg_ext_oid()))
		return;
	c->warned = true;
	ereport(WARNING,
			(errcode(ERRCODE_WARNING),
			 errmsg("workload_guard is not applying the rules of table \"workload_guard.%s\"",
					c->def->table->relname),
			 errdetail("The table is missing from the extension or its columns are not the ones this version of workload_guard reads."),
			 errhint("Run ALTER EXTENSION workload_guard UPDATE, or undo the change to the table.")));
}

bool
wg_config_cache_ensure(WgConfigCache *c)
{
	int			attempt;

	for (attempt = 0; !c->valid && attempt < WG_MAX_LOAD_ATTEMPTS; attempt++)
	{
		Oid			relid = wg_ext_table(c->def->table);
		Relation	rel;

		if (!OidIsValid(relid))
		{
			config_cache_empty(c);
			config_cache_unusable(c);
			return true;
		}

		if (c->def->wait_for_lock)
			LockRelationOid(relid, AccessShareLock);
		else if (!ConditionalLockRelationOid(relid, AccessShareLock))
			return false;

		/* dropped between the lookup and the lock: look again */
		rel = RelationIdGetRelation(relid);
		if (!RelationIsValid(rel))
		{
			UnlockRelationOid(relid, AccessShareLock);
			continue;
		}

		/*
		 * The descriptor the rows are decoded with is checked too: the
		 * table may have been altered between the lookup and the lock.
		 */
		if (wg_ext_tupdesc_matches(c->def->table, RelationGetDescr(rel)))
			config_cache_build(c, rel);
		else
		{
			config_cache_empty(c);
			config_cache_unusable(c);
		}

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
