/*-------------------------------------------------------------------------
 *
 * index_hide.c
 *	  Soft-disabled indexes: the planner never sees them, the executor keeps
 *	  maintaining them (and enforcing their uniqueness).  Owns the rules table
 *	  workload_guard.disabled_index_rules as seen from C, the per-backend
 *	  cache of hidden index OIDs, the get_relation_info dispatch target, the
 *	  management functions disable_index()/enable_index(), and carrying rules
 *	  over REINDEX CONCURRENTLY and ALTER COLUMN ... TYPE.
 *
 * Where the state lives, and how it reaches every session on every node:
 *
 *	* The rules are rows of an extension table (keyed by index OID, with the
 *	  table OID as a guard against OID reuse), so they are transactional and
 *	  WAL carries them to standbys, cascaded ones included.
 *	* The management functions queue a relcache invalidation of the rules
 *	  table and of every table whose index changes state.  Those messages go
 *	  out only if the transaction commits; they are written into its commit
 *	  record and replayed by standbys.  The table invalidation makes every
 *	  cached plan on the table (prepared statements, PL/pgSQL, generic plans)
 *	  replan; the rules-table invalidation drops the backend cache below.
 *
 * Backend cache (no shared memory, no locks): a config_cache.c cache of the
 * rules table (the one protocol for config tables: only the extension's
 * own table is read, its trigger config_changed() and the functions here
 * send the invalidation, a pending one is processed at every planning).
 * It holds one sorted OID array in the cache's memory context, "hidden"
 * (index OIDs to remove, partitioned-index rules expanded to every
 * descendant index), and watches the tables of those indexes and the
 * partitioned tables in between: attaching a partition invalidates its
 * parent, which is watched, so later partitions are covered; DROP INDEX and
 * REINDEX invalidate the index's table.  Until the extension exists in the
 * database every invalidation drops the cache (CREATE EXTENSION creates
 * the table).  Rebuilding reads the rules table inside the planner, and
 * waits for a lock on it (what is read ends up in cached plans); an
 * invalidation arriving during the rebuild makes it read again.  The hot
 * path is one branch when no rule exists, a binary search per index
 * otherwise.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/catalog.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "compat.h"
#include "config_cache.h"
#include "ext_objects.h"
#include "ddl_classify.h"
#include "index_hide.h"
#include "subxact.h"
#include "workload_guard.h"

#define WG_IH_SCHEMA	"workload_guard"
#define WG_IH_TABLE		"disabled_index_rules"

/* columns of workload_guard.disabled_index_rules read by the cache */
#define Anum_rule_indexrelid	1
#define Anum_rule_indrelid		2

/* the table's shape: only a table of exactly these columns is read */
static const WgExtColumn ih_columns[] = {
	{"indexrelid", OIDOID},
	{"indrelid", OIDOID},
	{"index_name", TEXTOID},
	{"disabled_by", NAMEOID},
	{"disabled_at", TIMESTAMPTZOID},
	{"reason", TEXTOID},
	{"forced", BOOLOID},
	{"scans_at_disable", INT8OID},
};

static const WgExtTable ih_table = {
	.relname = WG_IH_TABLE,
	.columns = ih_columns,
	.ncolumns = lengthof(ih_columns)
};

bool		wg_ignore_disabled_indexes = false;

/* the backend cache (config_cache.c) and its contents */
static WgConfigCache *ih_cache = NULL;
static bool ih_stale = true;
static List *ih_hidden_list = NIL;	/* during a build */
static Oid *wg_ih_hidden = NULL;
static int	wg_ih_nhidden = 0;

/* what wg_index_hide_utility_before remembers of one rule */
typedef struct WgIhSaved
{
	Oid			indexoid;
	Oid			heapoid;
	Oid			nspoid;
	char	   *relname;
} WgIhSaved;

PG_FUNCTION_INFO_V1(wg_disable_index);
PG_FUNCTION_INFO_V1(wg_enable_index);
PG_FUNCTION_INFO_V1(wg_index_rules_changed);
PG_FUNCTION_INFO_V1(wg_index_rules_on_drop);

/* ---------------------------------------------------------------------
 * Setup
 * ---------------------------------------------------------------------
 */

void
wg_index_hide_define_gucs(void)
{
	DefineCustomBoolVariable("workload_guard.ignore_disabled_indexes",
							 "Makes the planner of this session consider disabled indexes.",
							 "Plans made while it is on use every index, as if none were disabled; "
							 "plans cached earlier are not replanned.",
							 &wg_ignore_disabled_indexes, false,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
}

static int
oid_cmp_local(const void *a, const void *b)
{
	Oid			x = *(const Oid *) a;
	Oid			y = *(const Oid *) b;

	return (x > y) - (x < y);
}

static inline bool
oid_in(Oid oid, const Oid *arr, int n)
{
	return n > 0 && bsearch(&oid, arr, n, sizeof(Oid), oid_cmp_local) != NULL;
}

/* ---------------------------------------------------------------------
 * Backend cache
 * ---------------------------------------------------------------------
 */

/* OID of the extension's rules table, InvalidOid without it (or not ours) */
static Oid
rules_relid(void)
{
	return wg_ext_table(&ih_table);
}

/* the indexes a rule on indexoid hides: itself and, if partitioned, all below */
static List *
index_tree(Oid indexoid)
{
	if (get_rel_relkind(indexoid) == RELKIND_PARTITIONED_INDEX)
		return find_all_inheritors(indexoid, NoLock, NULL);
	return list_make1_oid(indexoid);
}

/* sort and deduplicate an OID list into an array allocated in cxt */
static Oid *
oid_array(List *oids, MemoryContext cxt, int *n)
{
	Oid		   *arr;
	int			i = 0,
				j;
	ListCell   *lc;

	*n = 0;
	if (oids == NIL)
		return NULL;
	arr = MemoryContextAlloc(cxt, list_length(oids) * sizeof(Oid));
	foreach(lc, oids)
		arr[i++] = lfirst_oid(lc);
	qsort(arr, i, sizeof(Oid), oid_cmp_local);
	for (j = 1, *n = 1; j < i; j++)
		if (arr[j] != arr[*n - 1])
			arr[(*n)++] = arr[j];
	return arr;
}

static void
ih_cache_dropped(void *arg)
{
	ih_stale = true;
}

static void
ih_cache_begin(MemoryContext cxt, Oid relid, void *arg)
{
	ih_hidden_list = NIL;
	wg_ih_hidden = NULL;
	wg_ih_nhidden = 0;
}

static void
ih_cache_row(TupleDesc desc, HeapTuple tup, void *arg)
{
	bool		isnull1,
				isnull2;
	Oid			indexoid = DatumGetObjectId(heap_getattr(tup, Anum_rule_indexrelid,
														 desc, &isnull1));
	Oid			heapoid = DatumGetObjectId(heap_getattr(tup, Anum_rule_indrelid,
														desc, &isnull2));
	ListCell   *lc;

	/*
	 * A rule whose index is gone (dropped without the event trigger firing,
	 * or restored from a dump into other OIDs) must not hide an unrelated
	 * index that reuses the OID: the pair must match.
	 */
	if (isnull1 || isnull2 || IndexGetRelation(indexoid, true) != heapoid)
		return;

	foreach(lc, index_tree(indexoid))
	{
		Oid			idx = lfirst_oid(lc);
		Oid			tbl = IndexGetRelation(idx, true);

		ih_hidden_list = lappend_oid(ih_hidden_list, idx);
		if (OidIsValid(tbl))
			wg_config_cache_watch(ih_cache, tbl);
	}
}

static void
ih_cache_end(void *arg)
{
	wg_ih_hidden = oid_array(ih_hidden_list, CurrentMemoryContext, &wg_ih_nhidden);
	ih_hidden_list = NIL;
}

static const WgConfigCacheDef ih_cache_def = {
	.table = &ih_table,

	/*
	 * Wait if someone holds an exclusive lock on the rules table (VACUUM
	 * FULL, TRUNCATE: its owner only).  Unlike the digest rules, which are
	 * looked up at every execution, what is read here is baked into cached
	 * plans: planning with a stale rule set because the table was locked
	 * would leave those plans wrong until the next invalidation.  So the
	 * rebuild (only after a rule change) waits, as planning waits for any
	 * locked table it reads.
	 */
	.wait_for_lock = true,
	.begin = ih_cache_begin,
	.row = ih_cache_row,
	.end = ih_cache_end,
	.dropped = ih_cache_dropped,
	.arg = NULL
};

void
wg_index_hide_init(void)
{
	ih_cache = wg_config_cache_register(&ih_cache_def);
}

/*
 * get_relation_info_hook target.  Removing the IndexOptInfo is what DROP
 * INDEX would do to the planner's view, so every path type (plain, index
 * only, bitmap, parallel, ordered, MIN/MAX, parameterized inner) and every
 * proof built on rel->indexlist (unique joins, left-join removal, semi-join
 * unique-ification, actual-range selectivity) behaves as after the drop.
 * Hypothetical indexes (HypoPG) are never ours to remove.
 */
void
wg_index_hide_relation_info(PlannerInfo *root, Oid relationObjectId,
							bool inhparent, RelOptInfo *rel)
{
	ListCell   *lc;

	if (rel->indexlist == NIL || wg_ignore_disabled_indexes)
		return;
	/* a rule committed since: seen by this plan, even in an open transaction */
	wg_config_caches_sync(WG_SYNC_PLANNER);
	if (unlikely(ih_stale))
	{
		/* used for this planning either way; read again next time if stale */
		(void) wg_config_cache_ensure(ih_cache);
		ih_stale = !wg_config_cache_is_valid(ih_cache);
	}
	if (wg_ih_nhidden == 0)
		return;

	foreach(lc, rel->indexlist)
	{
		IndexOptInfo *info = lfirst_node(IndexOptInfo, lc);

		if (!info->hypothetical &&
			oid_in(info->indexoid, wg_ih_hidden, wg_ih_nhidden))
			rel->indexlist = foreach_delete_current(rel->indexlist, lc);
	}
}

/* ---------------------------------------------------------------------
 * Management functions
 * ---------------------------------------------------------------------
 */

static void
null_argument(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("argument \"%s\" must not be null", name)));
}

static void
prevent_on_standby(const char *func)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot execute %s() during recovery", func),
				 errdetail("Disabled indexes are set on the primary and reach standbys through WAL."),
				 errhint("Call workload_guard.%s() on the primary server.", func)));
}

/*
 * Check that indexoid is an existing index and lock it and its table for the
 * rest of the transaction (table first, as DROP INDEX does), so that a
 * concurrent DROP INDEX waits for us and its event trigger sees our row.
 * Returns the table's OID.
 */
static Oid
lock_index(Oid indexoid)
{
	char		relkind = get_rel_relkind(indexoid);
	Oid			heapoid;

	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("relation with OID %u does not exist", indexoid)));
	if (relkind != RELKIND_INDEX && relkind != RELKIND_PARTITIONED_INDEX)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an index", get_rel_name(indexoid))));

	heapoid = IndexGetRelation(indexoid, false);
	LockRelationOid(heapoid, AccessShareLock);
	LockRelationOid(indexoid, AccessShareLock);
	/* locking processed invalidations: look again */
	if (IndexGetRelation(indexoid, true) != heapoid)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("index with OID %u was dropped concurrently", indexoid)));
	return heapoid;
}

/*
 * The rules table is readable and writable by its owner only; the right to
 * change rules is the EXECUTE privilege on the management functions.  They
 * run their SQL as the table's owner (wg_run_as_owner: a restricted
 * operation with search_path pinned, as a SECURITY DEFINER function's SET
 * clause does: the statements name operators (=, <>) without a schema, and
 * REINDEX CONCURRENTLY runs them under the search_path of whoever owns the
 * table being reindexed), after recording who called them.
 */

/*
 * Queue the invalidations that make the change visible at commit: the rules
 * table (backend caches: in 1.1 its trigger config_changed() sends this
 * too, a 1.0 database has no trigger on it) and each table whose index
 * changes (cached plans).
 */
static void
invalidate_rules(Oid cfg, List *indexes)
{
	ListCell   *lc;

	CacheInvalidateRelcacheByRelid(cfg);
	foreach(lc, indexes)
	{
		Oid			tbl = IndexGetRelation(lfirst_oid(lc), true);

		if (OidIsValid(tbl))
			CacheInvalidateRelcacheByRelid(tbl);
	}
}

static Datum
oid_list_array(List *oids)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(oids), 1));
	int			i = 0;
	ListCell   *lc;

	foreach(lc, oids)
		elems[i++] = ObjectIdGetDatum(lfirst_oid(lc));
	return PointerGetDatum(construct_array(elems, i, OIDOID, sizeof(Oid),
										   true, TYPALIGN_INT));
}

static char *
spi_text(int row, int col)
{
	char	   *v = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);

	return v ? v : "";
}

/*
 * Refuse an index that backs a constraint or a foreign key, unless forced:
 * the constraint would stay enforced but the lookups that rely on the index
 * (foreign key checks above all) would read whole tables.
 */
static void
check_constraints(Oid indexoid, List *tree)
{
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		values[1] = {oid_list_array(tree)};
	char	   *idx = wg_qualified_name(indexoid);
	char	   *contype,
			   *conname,
			   *conrel,
			   *confrel;

	if (wg_spi_exec("SELECT c.contype::text, c.conname::text, c.conrelid::pg_catalog.regclass::text, "
					"       c.confrelid::pg_catalog.regclass::text "
					"  FROM pg_catalog.pg_constraint c "
					" WHERE c.conindid = ANY ($1) AND c.contype IN ('f', 'p', 'u', 'x') "
					" ORDER BY c.contype <> 'f', c.oid LIMIT 1",
					1, argtypes, values, NULL, SPI_OK_SELECT) == 0)
		return;

	contype = spi_text(0, 1);
	conname = spi_text(0, 2);
	conrel = spi_text(0, 3);
	confrel = spi_text(0, 4);

	if (contype[0] == 'f')
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("index \"%s\" is used by foreign key constraint \"%s\" on table \"%s\"",
						idx, conname, conrel),
				 errdetail("With the index disabled, every foreign key check of table \"%s\" would read table \"%s\" in full.",
						   conrel, confrel),
				 errhint("Pass force => true to disable it anyway.")));
	ereport(ERROR,
			(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
			 errmsg("index \"%s\" backs %s \"%s\" of table \"%s\"", idx,
					contype[0] == 'p' ? "primary key" :
					contype[0] == 'u' ? "unique constraint" : "exclusion constraint",
					conname, conrel),
			 errdetail("The constraint stays enforced, but lookups by its key, including foreign key checks, would read the table in full."),
			 errhint("Pass force => true to disable it anyway.")));
}

/* drop rules whose index no longer exists (missed drop, restored dump) */
static void
purge_stale_rules(void)
{
	(void) wg_spi_exec("DELETE FROM " WG_IH_SCHEMA "." WG_IH_TABLE " r "
					   " WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i "
					   "                    WHERE i.indexrelid = r.indexrelid "
					   "                      AND i.indrelid = r.indrelid)",
					   0, NULL, NULL, NULL, SPI_OK_DELETE);
}

/* what disable_index() and enable_index() hand to their part run as owner */
typedef struct IhChange
{
	Oid			indexoid;
	Oid			heapoid;
	List	   *tree;
	bool		force;
	bool		has_reason;
	Datum		reason;
	const char *who;
	MemoryContext caller_cxt;	/* for what survives SPI_finish */
	bool		changed;		/* a rule was inserted / deleted */
	char	   *parent;			/* enable: disabled through this index */
} IhChange;

static void
disable_as_owner(void *arg)
{
	IhChange   *c = (IhChange *) arg;
	Oid			argtypes[7] = {OIDOID, OIDOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID, INT8OID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Oid			regclass = REGCLASSOID;
	Oid			scan_count = wg_ext_function("index_scan_count", 1, &regclass);

	if (!OidIsValid(scan_count))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("function workload_guard.index_scan_count(regclass) of extension \"workload_guard\" is missing"),
				 errhint("Run ALTER EXTENSION workload_guard UPDATE, or drop and create the extension again.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!c->force)
		check_constraints(c->indexoid, c->tree);
	purge_stale_rules();

	values[0] = ObjectIdGetDatum(c->indexoid);
	values[1] = ObjectIdGetDatum(c->heapoid);
	values[2] = CStringGetTextDatum(wg_qualified_name(c->indexoid));
	values[3] = CStringGetTextDatum(c->who);
	values[4] = c->reason;
	if (!c->has_reason)
		nulls[4] = 'n';
	values[5] = BoolGetDatum(c->force);
	values[6] = OidFunctionCall1(scan_count, ObjectIdGetDatum(c->indexoid));
	c->changed = wg_spi_exec("INSERT INTO " WG_IH_SCHEMA "." WG_IH_TABLE
							 " (indexrelid, indrelid, index_name, disabled_by, reason, forced, scans_at_disable)"
							 " VALUES ($1, $2, $3, $4, $5, $6, $7)"
							 " ON CONFLICT (indexrelid) DO NOTHING",
							 7, argtypes, values, nulls, SPI_OK_INSERT) == 1;
	SPI_finish();
}

/*
 * disable_index(index regclass, reason text DEFAULT NULL,
 *				 force boolean DEFAULT false) RETURNS boolean
 *
 * True when the index was disabled by this call, false (with a NOTICE) when
 * it already was.
 */
Datum
wg_disable_index(PG_FUNCTION_ARGS)
{
	Oid			cfg;
	Form_pg_class classForm;
	HeapTuple	tp;
	IhChange	c;

	wg_require_loaded();
	if (PG_ARGISNULL(0))
		null_argument("index");
	if (PG_ARGISNULL(2))
		null_argument("force");
	memset(&c, 0, sizeof(c));
	c.indexoid = PG_GETARG_OID(0);
	c.has_reason = !PG_ARGISNULL(1);
	c.reason = c.has_reason ? PG_GETARG_DATUM(1) : (Datum) 0;
	c.force = PG_GETARG_BOOL(2);
	if (c.has_reason)
		wg_check_reason(TextDatumGetCString(c.reason));

	prevent_on_standby("disable_index");
	cfg = wg_ext_table_required(&ih_table);
	c.heapoid = lock_index(c.indexoid);

	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(c.indexoid));
	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for relation %u", c.indexoid);
	classForm = (Form_pg_class) GETSTRUCT(tp);
	if (IsSystemClass(c.indexoid, classForm))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied: \"%s\" is a system index",
						NameStr(classForm->relname)),
				 errdetail("Indexes of system catalogs and TOAST tables cannot be disabled.")));
	if (classForm->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot disable temporary index \"%s\"",
						NameStr(classForm->relname)),
				 errdetail("Disabled indexes apply to every session and standby; a temporary index belongs to one session.")));
	ReleaseSysCache(tp);

	c.tree = index_tree(c.indexoid);
	c.who = GetUserNameFromId(GetUserId(), false);
	wg_run_as_owner(cfg, disable_as_owner, &c);

	if (c.changed)
		invalidate_rules(cfg, c.tree);
	else
		ereport(NOTICE,
				(errmsg("index \"%s\" is already disabled, nothing changed",
						wg_qualified_name(c.indexoid))));
	PG_RETURN_BOOL(c.changed);
}

static void
enable_as_owner(void *arg)
{
	IhChange   *c = (IhChange *) arg;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	purge_stale_rules();
	values[0] = ObjectIdGetDatum(c->indexoid);
	c->changed = wg_spi_exec("DELETE FROM " WG_IH_SCHEMA "." WG_IH_TABLE
							 " WHERE indexrelid = $1",
							 1, argtypes, values, NULL, SPI_OK_DELETE) > 0;
	if (!c->changed &&
		wg_spi_exec("SELECT r.indexrelid::pg_catalog.regclass::text"
					"  FROM " WG_IH_SCHEMA "." WG_IH_TABLE " r"
					"  JOIN pg_catalog.pg_partition_ancestors($1) a"
					"    ON a.relid = r.indexrelid LIMIT 1",
					1, argtypes, values, NULL, SPI_OK_SELECT) > 0)
		c->parent = MemoryContextStrdup(c->caller_cxt, spi_text(0, 1));
	SPI_finish();
}

/*
 * enable_index(index regclass) RETURNS boolean
 *
 * True when a rule was removed, false (with a NOTICE) when the index was not
 * disabled; an error when it is disabled through a partitioned parent.
 */
Datum
wg_enable_index(PG_FUNCTION_ARGS)
{
	Oid			cfg;
	IhChange	c;

	wg_require_loaded();
	if (PG_ARGISNULL(0))
		null_argument("index");
	memset(&c, 0, sizeof(c));
	c.indexoid = PG_GETARG_OID(0);
	c.caller_cxt = CurrentMemoryContext;

	prevent_on_standby("enable_index");
	cfg = wg_ext_table_required(&ih_table);
	(void) lock_index(c.indexoid);

	wg_run_as_owner(cfg, enable_as_owner, &c);
	if (c.parent)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index \"%s\" is disabled through partitioned index \"%s\"",
						wg_qualified_name(c.indexoid), c.parent),
				 errhint("Enable \"%s\" to enable the indexes of all its partitions, or detach the partition.",
						 c.parent)));

	if (c.changed)
		invalidate_rules(cfg, index_tree(c.indexoid));
	else
		ereport(NOTICE,
				(errmsg("index \"%s\" is not disabled, nothing changed",
						wg_qualified_name(c.indexoid))));
	PG_RETURN_BOOL(c.changed);
}

/*
 * _index_rules_changed(): called by the sql_drop event trigger after it
 * deleted the rules of dropped indexes, so backend caches are rebuilt.
 */
Datum
wg_index_rules_changed(PG_FUNCTION_ARGS)
{
	Oid			cfg = rules_relid();

	if (OidIsValid(cfg))
		CacheInvalidateRelcacheByRelid(cfg);
	PG_RETURN_VOID();
}

static void
on_drop_as_owner(void *arg)
{
	Oid			cfg = *(Oid *) arg;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (wg_spi_exec("DELETE FROM " WG_IH_SCHEMA "." WG_IH_TABLE " r"
					" USING pg_catalog.pg_event_trigger_dropped_objects() d"
					" WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
					"   AND d.objid OPERATOR(pg_catalog.=) r.indexrelid",
					0, NULL, NULL, NULL, SPI_OK_DELETE) > 0)
		CacheInvalidateRelcacheByRelid(cfg);
	SPI_finish();
}

/*
 * _index_rules_on_drop(): the sql_drop event trigger since 1.1 (1.0's is
 * PL/pgSQL).  Deletes the rules of dropped indexes as every other statement
 * of ours on the table runs (wg_run_as_owner: the table's owner, a
 * security-restricted operation, an internal section neither timed nor
 * subject to digest rules); the function is also SECURITY DEFINER.
 */
Datum
wg_index_rules_on_drop(PG_FUNCTION_ARGS)
{
	Oid			cfg;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by the event trigger manager",
						"_index_rules_on_drop")));
	cfg = rules_relid();
	if (!OidIsValid(cfg))
		PG_RETURN_VOID();
	wg_run_as_owner(cfg, on_drop_as_owner, &cfg);
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * REINDEX CONCURRENTLY and ALTER COLUMN ... TYPE
 *
 * REINDEX CONCURRENTLY builds a new index next to each old one, swaps their names and drops
 * the old ones, in transactions of its own, without firing sql_drop.  The
 * surviving index thus has a new OID and the old name: remember the names
 * before, move the rules to the OIDs found under those names after.
 * Between the swap and the end of the statement the new index is briefly
 * visible to the planner.  Rules on partitioned indexes need nothing: the
 * swap keeps the partition tree, which the cache follows.  ALTER COLUMN
 * ... TYPE recreates the indexes on the column (partitioned ones included)
 * under their old names in its own transaction: the same move applies.
 * ---------------------------------------------------------------------
 */

static bool
rebuilds_indexes(PlannedStmt *pstmt)
{
	ReindexStmt *stmt;
	ListCell   *lc;

	if (pstmt == NULL)
		return false;

	/*
	 * ALTER COLUMN ... TYPE rebuilds the indexes on the column the same way:
	 * new OIDs, old names (ATPostAlterTypeCleanup), partitioned ones too,
	 * even when the table is not rewritten (varchar(10) to varchar(20)).
	 */
	if (IsA(pstmt->utilityStmt, AlterTableStmt))
	{
		foreach(lc, ((AlterTableStmt *) pstmt->utilityStmt)->cmds)
		{
			if (lfirst_node(AlterTableCmd, lc)->subtype == AT_AlterColumnType)
				return true;
		}
		return false;
	}
	if (!IsA(pstmt->utilityStmt, ReindexStmt))
		return false;
	stmt = (ReindexStmt *) pstmt->utilityStmt;
	/* read as ExecReindex reads it: (CONCURRENTLY true, CONCURRENTLY false) is not */
	return wg_option_bool(stmt->params, "concurrently");
}

typedef struct IhSaveArgs
{
	MemoryContext keep;
	List	   *saved;
} IhSaveArgs;

static void
save_rules_as_owner(void *arg)
{
	IhSaveArgs *a = (IhSaveArgs *) arg;
	uint64		n,
				i;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	n = wg_spi_exec("SELECT r.indexrelid, r.indrelid, c.relnamespace, c.relname::text"
					"  FROM " WG_IH_SCHEMA "." WG_IH_TABLE " r"
					"  JOIN pg_catalog.pg_class c ON c.oid = r.indexrelid"
					" WHERE c.relkind IN ('i', 'I')",
					0, NULL, NULL, NULL, SPI_OK_SELECT);
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(a->keep);
		WgIhSaved  *s = palloc(sizeof(WgIhSaved));

		s->indexoid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		s->heapoid = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		s->nspoid = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
		s->relname = SPI_getvalue(tup, desc, 4);
		a->saved = lappend(a->saved, s);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
}

List *
wg_index_hide_utility_before(PlannedStmt *pstmt)
{
	IhSaveArgs	args;
	Oid			cfg;

	if (!rebuilds_indexes(pstmt) || !IsTransactionState())
		return NIL;
	cfg = rules_relid();
	if (!OidIsValid(cfg))
		return NIL;

	/* the portal's context: survives the statement's transactions */
	args.keep = CurrentMemoryContext;
	args.saved = NIL;
	wg_run_as_owner(cfg, save_rules_as_owner, &args);
	return args.saved;
}

typedef struct MoveRulesArgs
{
	List	   *saved;
	Oid			cfg;
} MoveRulesArgs;

static void
move_rules_as_owner(void *arg)
{
	MoveRulesArgs *a = (MoveRulesArgs *) arg;
	ListCell   *lc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	foreach(lc, a->saved)
	{
		WgIhSaved  *s = (WgIhSaved *) lfirst(lc);
		Oid			newoid;
		Oid			argtypes[3] = {OIDOID, OIDOID, TEXTOID};
		Datum		values[3];

		if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(s->indexoid)))
			continue;			/* not rebuilt */
		newoid = get_relname_relid(s->relname, s->nspoid);
		if (!OidIsValid(newoid) || IndexGetRelation(newoid, true) != s->heapoid)
			continue;

		values[0] = ObjectIdGetDatum(s->indexoid);
		values[1] = ObjectIdGetDatum(newoid);
		values[2] = CStringGetTextDatum(wg_qualified_name(newoid));
		if (wg_spi_exec("UPDATE " WG_IH_SCHEMA "." WG_IH_TABLE
						"   SET indexrelid = $2, index_name = $3"
						" WHERE indexrelid = $1",
						3, argtypes, values, NULL, SPI_OK_UPDATE) > 0)
			invalidate_rules(a->cfg, list_make1_oid(newoid));
	}
	SPI_finish();
}

/*
 * The statement has succeeded and committed its work: a failure here must
 * not turn it into an error, so it runs in a subtransaction and degrades to
 * a WARNING naming what to do.
 */
static void
move_rules_cb(void *arg)
{
	MoveRulesArgs *a = (MoveRulesArgs *) arg;

	wg_run_as_owner(a->cfg, move_rules_as_owner, a);
}

void
wg_index_hide_utility_after(List *saved)
{
	MoveRulesArgs args;
	ErrorData  *edata;

	if (saved == NIL || !IsTransactionState())
		return;
	args.saved = saved;
	args.cfg = rules_relid();
	if (!OidIsValid(args.cfg))
		return;

	edata = wg_run_in_subxact(move_rules_cb, &args);
	if (edata == NULL)
		return;
	ereport(WARNING,
			(errmsg("could not carry disabled index rules over the rebuild of their indexes: %s",
					edata->message),
			 errhint("Check workload_guard.disabled_indexes and disable the rebuilt indexes again.")));
	FreeErrorData(edata);
}
