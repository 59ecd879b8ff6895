/*-------------------------------------------------------------------------
 *
 * digest_rules.c
 *	  Blocked and capped query digests: the rules cache, the check at
 *	  executor start, the per-node hit counters and cap slots in shared
 *	  memory, and the SQL functions block_digest, cap_digest,
 *	  unblock_digest and digest_rule_counters.
 *
 * Where rules live.  Table workload_guard.digest_rules (an extension config
 * table, so WAL takes it to every standby and pg_dump saves it).  Each
 * backend holds the rows that apply to its database in a hash table keyed
 * by queryid, built by config_cache.c and dropped by invalidation (see the
 * protocol there).  The management functions write the table; its trigger
 * sends the invalidation.  They refuse to run during recovery.
 *
 * The check (ExecutorStart, before the statement starts).  wg_rules_armed is
 * false when the cache is current and holds no rule for this database: the
 * only cost then is that one test (the macro in digest_rules.h).  Otherwise
 * one dynahash probe on the queryid; only a hit looks further (scope,
 * expiry against the statement's start time, self-lockout exemption,
 * counters).  Plain EXPLAIN (EXEC_FLAG_EXPLAIN_ONLY), parallel workers (the
 * leader was checked), statements workload_guard runs itself
 * (wg_rules_internal) and sessions with workload_guard.bypass_rules are not
 * checked.  A statement that calls block_digest, cap_digest or
 * unblock_digest is never refused: it is recognized by the plan's
 * dependency on those functions (PlannedStmt.invalItems, PROCOID hash
 * values), so a rule on the very digest that would lift it cannot lock the
 * operator out.  Nor is one that writes a table of ours (the history row a
 * DDL writes, the disabled-index rule a DROP INDEX deletes): a rule on it
 * would fail users' DDL through our bookkeeping.
 *
 * Shared memory: one WgRuleCounters per rule key (queryid, role, database;
 * 0 = any) that was hit on this node, in a fixed-size hash.  Locking:
 *	* rules->lock guards the hash's structure (insert, remove).  Looking up
 *	  an entry and updating its counters happen under the lock in SHARED
 *	  mode; all counters are atomics.  Creating an entry (its first hit on
 *	  this node) takes the lock EXCLUSIVE once.  When the table is full, an
 *	  entry with no running execution and no rule in this backend's cache is
 *	  evicted, under the same exclusive lock.
 *	* running (a cap's slots in use) is incremented under the shared lock,
 *	  so an evictor holding the exclusive lock sees every holder; it is
 *	  decremented without the lock (an entry with running > 0 is never
 *	  evicted, so the pointer stays good).
 * Per backend, every slot taken is remembered with its QueryDesc and
 * subtransaction (held[]), and given back exactly once: at ExecutorEnd, at
 * the abort of the (sub)transaction that took it (errors, statement_timeout,
 * cancel; an execution that failed never reaches ExecutorEnd), or at
 * backend exit (FATAL, pg_terminate_backend) by a before_shmem_exit
 * callback.  A backend killed by SIGKILL makes the postmaster reinitialize
 * shared memory, counters included.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "parser/parse_node.h"
#include "parser/parsetree.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "config_cache.h"
#include "digest_rules.h"
#include "ext_objects.h"
#include "workload_guard.h"

#define WG_RULES_TABLE		"digest_rules"
#define WG_MAX_HELD			64	/* cap slots held at once by one backend */
#define WG_MAX_EXEMPT		8
#define WG_MAX_EXPIRY_DAYS	366

/* columns of workload_guard.digest_rules, in order */
enum
{
	Anum_queryid = 1,
	Anum_role,
	Anum_database,
	Anum_mode,
	Anum_max_running,
	Anum_dry_run,
	Anum_reason,
	Anum_created_by,
	Anum_created_at,
	Anum_expires_at,
	Natts_digest_rules = Anum_expires_at
};

/* what rules_cache_row decodes: only a table of exactly this shape is read */
static const WgExtColumn rules_columns[Natts_digest_rules] = {
	{"queryid", INT8OID},
	{"role", REGROLEOID},
	{"database", NAMEOID},
	{"mode", TEXTOID},
	{"max_running", INT4OID},
	{"dry_run", BOOLOID},
	{"reason", TEXTOID},
	{"created_by", NAMEOID},
	{"created_at", TIMESTAMPTZOID},
	{"expires_at", TIMESTAMPTZOID},
};

static const WgExtTable rules_table = {
	.relname = WG_RULES_TABLE,
	.columns = rules_columns,
	.ncolumns = Natts_digest_rules
};

typedef struct WgRuleKey
{
	uint64		queryid;
	Oid			roleid;			/* 0: every role */
	Oid			dbid;			/* 0: every database */
} WgRuleKey;

/* shared: hits on this node */
typedef struct WgRuleCounters
{
	WgRuleKey	key;			/* hash key; must be first */
	pg_atomic_uint64 rule_created_at;	/* which rule the hit counters are of */
	pg_atomic_uint32 running;	/* of any rule with this key */
	pg_atomic_uint64 blocked;
	pg_atomic_uint64 warned;
	pg_atomic_uint64 capped;
	pg_atomic_uint64 last_hit;	/* TimestampTz, 0 = never */
} WgRuleCounters;

typedef struct WgRulesShared
{
	LWLock	   *lock;
	pg_atomic_uint64 untracked; /* hits not counted: table full */
} WgRulesShared;

/* backend-local: one rule of the cache */
typedef struct WgRule
{
	WgRuleKey	key;
	bool		cap;
	bool		dry_run;
	int			max_running;
	TimestampTz created_at;
	TimestampTz expires_at;		/* DT_NOEND: never */
	char	   *created_by;
	char	   *reason;			/* NULL: none given */
	struct WgRule *next;
} WgRule;

typedef struct WgRuleEntry
{
	uint64		queryid;		/* hash key; must be first */
	WgRule	   *rules;
} WgRuleEntry;

typedef struct WgHeldSlot
{
	QueryDesc  *qd;
	WgRuleCounters *counters;
	SubTransactionId subxid;
} WgHeldSlot;

/* GUCs */
static int	wg_max_digest_rules = 5000;
static bool wg_bypass_rules = false;

/* shared state */
static WgRulesShared *rules_shared = NULL;
static HTAB *rules_counters = NULL;

/* backend-local cache, rebuilt by config_cache.c */
bool		wg_rules_armed = true;
static WgConfigCache *rules_cache = NULL;
static HTAB *rules_hash = NULL;
static int	rules_count = 0;
static char *rules_dbname = NULL;	/* this database's name, in the cache */
static uint32 exempt_hashes[WG_MAX_EXEMPT];
static int	n_exempt = 0;
static Oid	rules_nsp = InvalidOid;	/* our schema, in the cache */

/* held cap slots */
static WgHeldSlot held[WG_MAX_HELD];
int			wg_rules_nheld = 0;
static bool exit_cb_registered = false;

/*
 * > 0 while workload_guard runs statements of its own (the management
 * functions, the DDL history bookkeeping): those are never checked.
 */
int			wg_rules_internal = 0;

static bool warned_untracked = false;

static const char *const exempt_functions[] = {
	"block_digest", "cap_digest", "unblock_digest"
};

/* ----------------------------------------------------------------
 * GUCs and shared memory
 * ----------------------------------------------------------------
 */
void
wg_digest_rules_define_gucs(void)
{
	DefineCustomIntVariable("workload_guard.max_digest_rules",
							"Sets the maximum number of digest rules whose hits and running executions are counted on this server.",
							"Caps beyond this number of rules hit at once are not enforced.",
							&wg_max_digest_rules,
							5000, 16, 1000000,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("workload_guard.bypass_rules",
							 "Lets the session run query digests that are blocked or capped.",
							 "Only superusers and roles granted SET on this parameter can change it.",
							 &wg_bypass_rules, false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
}

static Size
rules_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(WgRulesShared)),
					hash_estimate_size(wg_max_digest_rules, sizeof(WgRuleCounters)));
}

void
wg_digest_rules_shmem_request(void)
{
	RequestAddinShmemSpace(rules_shmem_size());
	RequestNamedLWLockTranche("workload_guard_rules", 1);
}

void
wg_digest_rules_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	rules_shared = ShmemInitStruct("workload_guard rules", sizeof(WgRulesShared),
								   &found);
	if (!found)
	{
		rules_shared->lock = &(GetNamedLWLockTranche("workload_guard_rules"))->lock;
		pg_atomic_init_u64(&rules_shared->untracked, 0);
	}
	info.keysize = sizeof(WgRuleKey);
	info.entrysize = sizeof(WgRuleCounters);
	rules_counters = ShmemInitHash("workload_guard rules hash",
								   wg_max_digest_rules, wg_max_digest_rules,
								   &info, HASH_ELEM | HASH_BLOBS);
	LWLockRelease(AddinShmemInitLock);
}

/* every shared structure is created by the same shmem_startup hook */
static void
check_loaded(void)
{
	wg_require_loaded();
	Assert(rules_shared && rules_counters);
}

/* ----------------------------------------------------------------
 * The backend-local cache
 * ----------------------------------------------------------------
 */
static void
rules_cache_dropped(void *arg)
{
	wg_rules_armed = true;
}

static void
rules_cache_begin(MemoryContext cxt, Oid relid, void *arg)
{
	HASHCTL		ctl;
	Oid			nsp;
	int			i;

	rules_count = 0;
	n_exempt = 0;
	rules_nsp = InvalidOid;
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(WgRuleEntry);
	ctl.hcxt = cxt;
	rules_hash = hash_create("workload_guard digest rules", 64, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	rules_dbname = get_database_name(MyDatabaseId);

	if (!OidIsValid(relid))
		return;

	/* the management functions, by the hash their plans record them with */
	nsp = get_rel_namespace(relid);
	rules_nsp = nsp;
	for (i = 0; i < lengthof(exempt_functions); i++)
	{
		CatCList   *list;
		int			j;

		list = SearchSysCacheList1(PROCNAMEARGSNSP,
								   CStringGetDatum(exempt_functions[i]));
		for (j = 0; j < list->n_members; j++)
		{
			HeapTuple	tup = &list->members[j]->tuple;
			Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(tup);

			if (proc->pronamespace == nsp && n_exempt < WG_MAX_EXEMPT &&
				wg_ext_owns(ProcedureRelationId, proc->oid))
				exempt_hashes[n_exempt++] =
					GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(proc->oid));
		}
		ReleaseSysCacheList(list);
	}
}

static void
rules_cache_row(TupleDesc desc, HeapTuple tuple, void *arg)
{
	Datum		values[Natts_digest_rules];
	bool		nulls[Natts_digest_rules];
	WgRule	   *r;
	WgRuleEntry *e;
	bool		found;
	Oid			dbid = InvalidOid;
	int64		queryid;

	/* desc has the columns of rules_columns (config_cache.c checked it) */
	heap_deform_tuple(tuple, desc, values, nulls);
	if (nulls[Anum_queryid - 1] || nulls[Anum_mode - 1])
		return;

	/* rules of other databases are none of this backend's business */
	if (!nulls[Anum_database - 1])
	{
		if (rules_dbname == NULL ||
			strcmp(NameStr(*DatumGetName(values[Anum_database - 1])),
				   rules_dbname) != 0)
			return;
		dbid = MyDatabaseId;
	}

	queryid = DatumGetInt64(values[Anum_queryid - 1]);
	r = palloc0(sizeof(WgRule));
	r->key.queryid = (uint64) queryid;
	r->key.roleid = nulls[Anum_role - 1] ? InvalidOid :
		DatumGetObjectId(values[Anum_role - 1]);
	r->key.dbid = dbid;
	r->cap = strcmp(TextDatumGetCString(values[Anum_mode - 1]), "cap") == 0;
	r->max_running = nulls[Anum_max_running - 1] ? 0 :
		DatumGetInt32(values[Anum_max_running - 1]);
	r->dry_run = !nulls[Anum_dry_run - 1] && DatumGetBool(values[Anum_dry_run - 1]);
	r->reason = nulls[Anum_reason - 1] ? NULL :
		TextDatumGetCString(values[Anum_reason - 1]);
	r->created_by = nulls[Anum_created_by - 1] ? pstrdup("?") :
		pstrdup(NameStr(*DatumGetName(values[Anum_created_by - 1])));
	r->created_at = nulls[Anum_created_at - 1] ? 0 :
		DatumGetTimestampTz(values[Anum_created_at - 1]);
	r->expires_at = nulls[Anum_expires_at - 1] ? DT_NOEND :
		DatumGetTimestampTz(values[Anum_expires_at - 1]);
	if (r->cap && r->max_running <= 0)
		return;					/* the table's CHECK prevents it */

	e = (WgRuleEntry *) hash_search(rules_hash, &r->key.queryid, HASH_ENTER, &found);
	if (!found)
		e->rules = NULL;
	r->next = e->rules;
	e->rules = r;
	rules_count++;
}

static const WgConfigCacheDef rules_cache_def = {
	.table = &rules_table,
	.wait_for_lock = false,
	.begin = rules_cache_begin,
	.row = rules_cache_row,
	.dropped = rules_cache_dropped,
	.arg = NULL
};

void
wg_digest_rules_init(void)
{
	rules_cache = wg_config_cache_register(&rules_cache_def);
}

/* ----------------------------------------------------------------
 * Shared counters and cap slots
 * ----------------------------------------------------------------
 */

/* is a rule with this key in this backend's cache? */
static bool
key_in_cache(const WgRuleKey *key)
{
	WgRuleEntry *e;
	WgRule	   *r;

	if (rules_hash == NULL)
		return false;
	e = hash_search(rules_hash, &key->queryid, HASH_FIND, NULL);
	for (r = e ? e->rules : NULL; r; r = r->next)
		if (r->key.roleid == key->roleid && r->key.dbid == key->dbid)
			return true;
	return false;
}

/*
 * Count one hit of the rule (which counter: blocked, warned, capped, or
 * none for a cap slot) and, with take_slot, take a cap slot.  Returns the
 * entry (NULL when the table is full) and the number of slots in use
 * including ours.  Never raises an error.
 */
static WgRuleCounters *
counters_hit(const WgRule *rule, pg_atomic_uint64 *(*which) (WgRuleCounters *),
			 bool take_slot, uint32 *running)
{
	const WgRuleKey *key = &rule->key;
	WgRuleCounters *c;
	bool		found;
	LWLockMode	mode = LW_SHARED;
	uint64		gen;

	LWLockAcquire(rules_shared->lock, mode);
	c = hash_search(rules_counters, key, HASH_FIND, NULL);
	if (c == NULL)
	{
		LWLockRelease(rules_shared->lock);
		mode = LW_EXCLUSIVE;
		LWLockAcquire(rules_shared->lock, mode);
		c = hash_search(rules_counters, key, HASH_ENTER_NULL, &found);
		if (c == NULL)
		{
			/* full: evict one idle entry that is no rule of ours */
			HASH_SEQ_STATUS seq;
			WgRuleCounters *v;

			hash_seq_init(&seq, rules_counters);
			while ((v = hash_seq_search(&seq)) != NULL)
			{
				if (pg_atomic_read_u32(&v->running) == 0 && !key_in_cache(&v->key))
				{
					hash_seq_term(&seq);
					break;
				}
			}
			if (v != NULL)
			{
				hash_search(rules_counters, &v->key, HASH_REMOVE, NULL);
				c = hash_search(rules_counters, key, HASH_ENTER_NULL, &found);
			}
		}
		if (c != NULL && !found)
		{
			pg_atomic_init_u64(&c->rule_created_at, (uint64) rule->created_at);
			pg_atomic_init_u32(&c->running, 0);
			pg_atomic_init_u64(&c->blocked, 0);
			pg_atomic_init_u64(&c->warned, 0);
			pg_atomic_init_u64(&c->capped, 0);
			pg_atomic_init_u64(&c->last_hit, 0);
		}
	}
	if (c == NULL)
	{
		LWLockRelease(rules_shared->lock);
		pg_atomic_fetch_add_u64(&rules_shared->untracked, 1);
		return NULL;
	}

	/*
	 * The rule was replaced since the last hit (unblock, block again): its
	 * hit counters start from zero.  One backend wins the exchange and
	 * clears them; a hit racing with it may be lost, nothing worse.
	 */
	gen = pg_atomic_read_u64(&c->rule_created_at);
	if (unlikely(gen != (uint64) rule->created_at) &&
		pg_atomic_compare_exchange_u64(&c->rule_created_at, &gen,
									   (uint64) rule->created_at))
	{
		pg_atomic_write_u64(&c->blocked, 0);
		pg_atomic_write_u64(&c->warned, 0);
		pg_atomic_write_u64(&c->capped, 0);
	}
	if (which)
		pg_atomic_fetch_add_u64(which(c), 1);
	pg_atomic_write_u64(&c->last_hit, (uint64) GetCurrentTimestamp());
	if (take_slot)
		*running = pg_atomic_add_fetch_u32(&c->running, 1);
	LWLockRelease(rules_shared->lock);
	return c;
}

static pg_atomic_uint64 *
ctr_blocked(WgRuleCounters *c)
{
	return &c->blocked;
}

static pg_atomic_uint64 *
ctr_warned(WgRuleCounters *c)
{
	return &c->warned;
}

static void
held_release_at(int i)
{
	pg_atomic_fetch_sub_u32(&held[i].counters->running, 1);
	if (i < wg_rules_nheld - 1)
		memmove(&held[i], &held[i + 1], (wg_rules_nheld - 1 - i) * sizeof(WgHeldSlot));
	wg_rules_nheld--;
}

static void
rules_before_shmem_exit(int code, Datum arg)
{
	while (wg_rules_nheld > 0)
		held_release_at(wg_rules_nheld - 1);
}

void
wg_digest_rules_release_slow(QueryDesc *queryDesc)
{
	int			i;

	for (i = wg_rules_nheld - 1; i >= 0; i--)
		if (held[i].qd == queryDesc)
			held_release_at(i);
}

void
wg_digest_rules_xact_cleanup(SubTransactionId aborted_subxid)
{
	int			i;

	for (i = wg_rules_nheld - 1; i >= 0; i--)
		if (aborted_subxid == InvalidSubTransactionId ||
			held[i].subxid >= aborted_subxid)
			held_release_at(i);
}

static void
warn_untracked_once(uint64 queryid)
{
	if (warned_untracked)
		return;
	warned_untracked = true;
	ereport(WARNING,
			(errmsg("workload_guard could not enforce the cap on query %lld",
					(long long) queryid),
			 errdetail("The table of rule counters is full, or this backend runs more than %d capped executions at once.",
					   WG_MAX_HELD),
			 errhint("Increase workload_guard.max_digest_rules.")));
}

/* ----------------------------------------------------------------
 * The check
 * ----------------------------------------------------------------
 */

/*
 * Core computes no queryid for the query inside DECLARE CURSOR and CREATE
 * TABLE AS / SELECT INTO / CREATE MATERIALIZED VIEW (it jumbles only the
 * top-level statement, and EXPLAIN jumbles its own), so the executor would
 * see queryid 0 and no rule could catch a cursor or a CTAS.  Jumble the
 * inner query the way EXPLAIN does: the digest is the same as when the
 * query is sent on its own.  Done whether or not rules exist, because the
 * utility statement may be kept in a cached plan for later executions.
 */
void
wg_digest_rules_post_parse_analyze(ParseState *pstate, Query *query)
{
	Node	   *inner = NULL;

	if (query->utilityStmt == NULL || !IsQueryIdEnabled())
		return;
	if (IsA(query->utilityStmt, DeclareCursorStmt))
		inner = ((DeclareCursorStmt *) query->utilityStmt)->query;
	else if (IsA(query->utilityStmt, CreateTableAsStmt))
		inner = ((CreateTableAsStmt *) query->utilityStmt)->query;

	if (inner && IsA(inner, Query) && ((Query *) inner)->utilityStmt == NULL &&
		((Query *) inner)->queryId == UINT64CONST(0))
		(void) JumbleQuery((Query *) inner, pstate->p_sourcetext);
}

/*
 * Does the statement call one of our management functions, or write one of
 * our tables (the DDL history row, the disabled-index rule a DROP INDEX
 * removes)?  A rule on such a digest would make workload_guard fail a
 * user's DDL through its own bookkeeping, or lock the operator out.
 * Reading the views stays subject to rules.
 */
static bool
statement_exempt(PlannedStmt *ps)
{
	ListCell   *lc;
	int			i;

	foreach(lc, ps->resultRelations)
	{
		RangeTblEntry *rte = rt_fetch(lfirst_int(lc), ps->rtable);

		if (OidIsValid(rules_nsp) && get_rel_namespace(rte->relid) == rules_nsp)
			return true;
	}

	foreach(lc, ps->invalItems)
	{
		PlanInvalItem *item = lfirst_node(PlanInvalItem, lc);

		if (item->cacheId != PROCOID)
			continue;
		for (i = 0; i < n_exempt; i++)
			if (item->hashValue == exempt_hashes[i])
				return true;
	}
	return false;
}

/* "Blocked by role "alice" at <time>: <reason>." and the rest of the detail */
static char *
rule_detail(const WgRule *r)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, r->cap ? _("Capped by role \"%s\" at %s") :
					 _("Blocked by role \"%s\" at %s"),
					 r->created_by, timestamptz_to_str(r->created_at));
	if (r->reason)
		appendStringInfo(&buf, ": %s", r->reason);
	appendStringInfoChar(&buf, '.');
	if (r->expires_at != DT_NOEND)
		appendStringInfo(&buf, _(" The rule expires at %s."),
						 timestamptz_to_str(r->expires_at));
	if (r->dry_run)
		appendStringInfoString(&buf, _(" The rule is a dry run, so the statement runs."));
	return buf.data;
}

static void
report_block(const WgRule *r, int elevel)
{
	long long	qid = (long long) r->key.queryid;

	ereport(elevel,
			(elevel >= ERROR ? errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED) : 0,
			 errmsg("query %lld is blocked by workload_guard", qid),
			 errdetail_internal("%s", rule_detail(r)),
			 errhint("Call workload_guard.unblock_digest(%lld) to allow it again.", qid)));
}

static void
report_cap(const WgRule *r, int elevel)
{
	long long	qid = (long long) r->key.queryid;

	ereport(elevel,
			(elevel >= ERROR ? errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED) : 0,
			 errmsg_plural("query %lld is capped at %d concurrent execution by workload_guard",
						   "query %lld is capped at %d concurrent executions by workload_guard",
						   r->max_running, qid, r->max_running),
			 errdetail_internal("%s", rule_detail(r)),
			 errhint("Retry when an execution has finished, or call workload_guard.unblock_digest(%lld) to lift the cap.",
					 qid)));
}

void
wg_digest_rules_check_slow(QueryDesc *queryDesc, int eflags)
{
	uint64		queryid = queryDesc->plannedstmt->queryId;
	WgRuleEntry *e;
	WgRule	   *r;
	Oid			userid;
	TimestampTz now;
	bool		matched = false;

	if (queryid == UINT64CONST(0) || (eflags & EXEC_FLAG_EXPLAIN_ONLY) ||
		IsParallelWorker() || wg_rules_internal > 0 || wg_bypass_rules ||
		rules_shared == NULL || !IsTransactionState())
		return;

	if (!wg_config_cache_is_valid(rules_cache))
	{
		if (!wg_config_cache_ensure(rules_cache))
			return;				/* table locked: no rules this time */
		wg_rules_armed = !wg_config_cache_is_valid(rules_cache) || rules_count > 0;
	}
	if (rules_count == 0)
		return;

	e = hash_search(rules_hash, &queryid, HASH_FIND, NULL);
	if (likely(e == NULL))
		return;

	userid = GetUserId();
	now = GetCurrentStatementStartTimestamp();

	/* blocks first: a refused statement takes no cap slot */
	for (r = e->rules; r; r = r->next)
	{
		if (r->cap || (r->key.roleid != InvalidOid && r->key.roleid != userid) ||
			r->expires_at <= now)
			continue;
		if (!matched && statement_exempt(queryDesc->plannedstmt))
			return;
		matched = true;
		if (r->dry_run)
		{
			counters_hit(r, ctr_warned, false, NULL);
			report_block(r, WARNING);
		}
		else
		{
			counters_hit(r, ctr_blocked, false, NULL);
			report_block(r, ERROR);
		}
	}

	for (r = e->rules; r; r = r->next)
	{
		WgRuleCounters *c;
		uint32		running = 0;

		if (!r->cap || (r->key.roleid != InvalidOid && r->key.roleid != userid) ||
			r->expires_at <= now)
			continue;
		if (!matched && statement_exempt(queryDesc->plannedstmt))
			return;
		matched = true;

		if (wg_rules_nheld >= WG_MAX_HELD)
		{
			pg_atomic_fetch_add_u64(&rules_shared->untracked, 1);
			warn_untracked_once(queryid);
			continue;
		}
		c = counters_hit(r, NULL, true, &running);
		if (c == NULL)
		{
			warn_untracked_once(queryid);
			continue;
		}
		if (!exit_cb_registered)
		{
			before_shmem_exit(rules_before_shmem_exit, (Datum) 0);
			exit_cb_registered = true;
		}
		held[wg_rules_nheld].qd = queryDesc;
		held[wg_rules_nheld].counters = c;
		held[wg_rules_nheld].subxid = GetCurrentSubTransactionId();
		wg_rules_nheld++;

		if (running > (uint32) r->max_running)
		{
			if (r->dry_run)
			{
				pg_atomic_fetch_add_u64(&c->warned, 1);
				report_cap(r, WARNING);
			}
			else
			{
				pg_atomic_fetch_add_u64(&c->capped, 1);
				held_release_at(wg_rules_nheld - 1);
				/* slots taken for other caps go back at abort */
				report_cap(r, ERROR);
			}
		}
	}
}

/* ----------------------------------------------------------------
 * Management functions
 * ----------------------------------------------------------------
 */
static void
refuse_in_recovery(const char *fname)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot change digest rules on a standby"),
				 errdetail("Digest rules are stored in table workload_guard.digest_rules, which is read-only during recovery."),
				 errhint("Call workload_guard.%s() on the primary; the rule reaches every standby with the WAL.",
						 fname)));
}

static uint64
arg_queryid(FunctionCallInfo fcinfo, int argno)
{
	int64		queryid;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("queryid must not be null")));
	queryid = PG_GETARG_INT64(argno);
	if (queryid == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("queryid 0 is not a query digest"),
				 errdetail("Statements without a computed query identifier have queryid 0.")));
	return (uint64) queryid;
}

/* every statement a management function runs checks its result */
#define spi_exec wg_spi_exec

typedef struct RuleArgs
{
	uint64		queryid;
	bool		cap;
	int			max_running;
	text	   *reason;
	bool		has_expiry;
	TimestampTz expires_at;
	Oid			roleid;
	Name		dbname;
	bool		dry_run;
} RuleArgs;

/* write (replace) the rule; runs inside the identity switch */
static void
rules_write(const RuleArgs *a, const char *created_by)
{
	Oid			types[9] = {INT8OID, REGROLEOID, NAMEOID, TEXTOID, INT4OID,
	BOOLOID, TEXTOID, NAMEOID, TIMESTAMPTZOID};
	Datum		values[9];
	char		nulls[9];
	NameData	who;

	memset(nulls, ' ', sizeof(nulls));
	namestrcpy(&who, created_by);
	values[0] = Int64GetDatum((int64) a->queryid);
	values[1] = ObjectIdGetDatum(a->roleid);
	nulls[1] = OidIsValid(a->roleid) ? ' ' : 'n';
	values[2] = a->dbname ? NameGetDatum(a->dbname) : (Datum) 0;
	nulls[2] = a->dbname ? ' ' : 'n';
	values[3] = CStringGetTextDatum(a->cap ? "cap" : "block");
	values[4] = Int32GetDatum(a->max_running);
	nulls[4] = a->cap ? ' ' : 'n';
	values[5] = BoolGetDatum(a->dry_run);
	values[6] = a->reason ? PointerGetDatum(a->reason) : (Datum) 0;
	nulls[6] = a->reason ? ' ' : 'n';
	values[7] = NameGetDatum(&who);
	values[8] = TimestampTzGetDatum(a->expires_at);
	nulls[8] = a->has_expiry ? ' ' : 'n';

	/* one writer at a time; readers (cache loads) are not blocked */
	spi_exec("LOCK TABLE workload_guard.digest_rules IN SHARE ROW EXCLUSIVE MODE",
			 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	spi_exec("DELETE FROM workload_guard.digest_rules "
			 "WHERE expires_at <= statement_timestamp() "
			 "OR (queryid = $1 AND role IS NOT DISTINCT FROM $2 "
			 "AND database IS NOT DISTINCT FROM $3)",
			 3, types, values, nulls, SPI_OK_DELETE);
	spi_exec("INSERT INTO workload_guard.digest_rules "
			 "(queryid, role, database, mode, max_running, dry_run, reason, "
			 "created_by, created_at, expires_at) "
			 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, transaction_timestamp(), $9)",
			 9, types, values, nulls, SPI_OK_INSERT);
}

static int64
rules_delete(uint64 queryid)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1];
	int64		n;

	values[0] = Int64GetDatum((int64) queryid);
	spi_exec("LOCK TABLE workload_guard.digest_rules IN SHARE ROW EXCLUSIVE MODE",
			 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	spi_exec("DELETE FROM workload_guard.digest_rules WHERE queryid = $1",
			 1, types, values, NULL, SPI_OK_DELETE);
	n = (int64) SPI_processed;
	spi_exec("DELETE FROM workload_guard.digest_rules "
			 "WHERE expires_at <= statement_timestamp()",
			 0, NULL, NULL, NULL, SPI_OK_DELETE);
	return n;
}

typedef struct RulesOwnerArgs
{
	const RuleArgs *a;
	bool		delete;
	const char *created_by;
	int64		result;
} RulesOwnerArgs;

static void
rules_as_owner_cb(void *arg)
{
	RulesOwnerArgs *o = (RulesOwnerArgs *) arg;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (o->delete)
		o->result = rules_delete(o->a->queryid);
	else
		rules_write(o->a, o->created_by);
	SPI_finish();
}

/*
 * Write or delete the rule as the owner of the extension's rules table
 * (ext_objects.c: a restricted operation with a pinned search_path, and
 * the checks of this file off, so they never refuse the statements that
 * change the rules).
 */
static int64
rules_as_owner(const RuleArgs *a, bool delete)
{
	RulesOwnerArgs o;

	o.a = a;
	o.delete = delete;
	o.created_by = GetUserNameFromId(GetUserId(), false);
	o.result = 0;
	wg_run_as_owner(wg_ext_table_required(&rules_table), rules_as_owner_cb, &o);
	return o.result;
}

static void
arg_common(FunctionCallInfo fcinfo, RuleArgs *a, int reason_arg)
{
	int			expiry_arg = reason_arg + 1;
	int			role_arg = reason_arg + 2;
	int			db_arg = reason_arg + 3;
	int			dry_arg = reason_arg + 4;

	/* reason */
	a->reason = NULL;
	if (!PG_ARGISNULL(reason_arg))
	{
		text	   *t = PG_GETARG_TEXT_PP(reason_arg);
		wg_check_reason(text_to_cstring(t));
		a->reason = t;
	}

	/* expiry: positive, at most WG_MAX_EXPIRY_DAYS */
	a->has_expiry = !PG_ARGISNULL(expiry_arg);
	a->expires_at = 0;
	if (a->has_expiry)
	{
		Interval   *iv = PG_GETARG_INTERVAL_P(expiry_arg);
		double		span;
		TimestampTz now = GetCurrentTransactionStartTimestamp();

		span = (double) iv->time +
			((double) iv->day + (double) iv->month * DAYS_PER_MONTH) * USECS_PER_DAY;
		if (span <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("expiry interval must be positive"),
					 errhint("Pass NULL for a rule that does not expire.")));
		if (span > (double) WG_MAX_EXPIRY_DAYS * USECS_PER_DAY)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("expiry interval must be at most %d days", WG_MAX_EXPIRY_DAYS),
					 errhint("Pass NULL for a rule that does not expire.")));
		a->expires_at = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
																TimestampTzGetDatum(now),
																IntervalPGetDatum(iv)));
		if (a->expires_at <= now)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("expiry interval must be positive"),
					 errhint("Pass NULL for a rule that does not expire.")));
	}

	/* scope: role */
	a->roleid = PG_ARGISNULL(role_arg) ? InvalidOid : PG_GETARG_OID(role_arg);
	if (OidIsValid(a->roleid) &&
		!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(a->roleid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role with OID %u does not exist", a->roleid)));

	/* scope: database */
	a->dbname = PG_ARGISNULL(db_arg) ? NULL : PG_GETARG_NAME(db_arg);
	if (a->dbname && !OidIsValid(get_database_oid(NameStr(*a->dbname), true)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_DATABASE),
				 errmsg("database \"%s\" does not exist", NameStr(*a->dbname))));

	if (PG_ARGISNULL(dry_arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("dry_run must not be null")));
	a->dry_run = PG_GETARG_BOOL(dry_arg);
}

/*
 * block_digest(queryid bigint, reason text, expires_in interval,
 *				role regrole, database name, dry_run boolean)
 */
PG_FUNCTION_INFO_V1(wg_block_digest);

Datum
wg_block_digest(PG_FUNCTION_ARGS)
{
	RuleArgs	a;

	check_loaded();
	refuse_in_recovery("block_digest");
	a.queryid = arg_queryid(fcinfo, 0);
	a.cap = false;
	a.max_running = 0;
	arg_common(fcinfo, &a, 1);
	rules_as_owner(&a, false);
	PG_RETURN_VOID();
}

/*
 * cap_digest(queryid bigint, max_running int, reason text,
 *			  expires_in interval, role regrole, database name, dry_run boolean)
 */
PG_FUNCTION_INFO_V1(wg_cap_digest);

Datum
wg_cap_digest(PG_FUNCTION_ARGS)
{
	RuleArgs	a;

	check_loaded();
	refuse_in_recovery("cap_digest");
	a.queryid = arg_queryid(fcinfo, 0);
	a.cap = true;
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("max_running must not be null")));
	a.max_running = PG_GETARG_INT32(1);
	if (a.max_running < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_running must be at least 1"),
				 errhint("Use workload_guard.block_digest() to refuse every execution.")));
	if (a.max_running > MaxBackends)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_running must not exceed the number of server processes"),
				 errdetail("This server runs at most %d backends.", MaxBackends)));
	arg_common(fcinfo, &a, 2);
	rules_as_owner(&a, false);
	PG_RETURN_VOID();
}

/* unblock_digest(queryid bigint) returns the number of rules removed */
PG_FUNCTION_INFO_V1(wg_unblock_digest);

Datum
wg_unblock_digest(PG_FUNCTION_ARGS)
{
	RuleArgs	a;

	check_loaded();
	refuse_in_recovery("unblock_digest");
	memset(&a, 0, sizeof(a));
	a.queryid = arg_queryid(fcinfo, 0);
	PG_RETURN_INT32((int32) rules_as_owner(&a, true));
}

/* the shared counters of this node, for the blocked_digests view */
PG_FUNCTION_INFO_V1(wg_digest_rule_counters);

Datum
wg_digest_rule_counters(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS seq;
	WgRuleCounters *c;

	check_loaded();
	InitMaterializedSRF(fcinfo, 0);

	LWLockAcquire(rules_shared->lock, LW_SHARED);
	hash_seq_init(&seq, rules_counters);
	while ((c = hash_seq_search(&seq)) != NULL)
	{
		Datum		values[9];
		bool		nulls[9] = {false, false, false, false, false, false, false, false, false};
		uint64		last = pg_atomic_read_u64(&c->last_hit);

		values[0] = Int64GetDatum((int64) c->key.queryid);
		values[1] = ObjectIdGetDatum(c->key.roleid);
		values[2] = ObjectIdGetDatum(c->key.dbid);
		values[3] = Int32GetDatum((int32) pg_atomic_read_u32(&c->running));
		values[4] = Int64GetDatum((int64) pg_atomic_read_u64(&c->blocked));
		values[5] = Int64GetDatum((int64) pg_atomic_read_u64(&c->warned));
		values[6] = Int64GetDatum((int64) pg_atomic_read_u64(&c->capped));
		values[7] = TimestampTzGetDatum((TimestampTz) last);
		nulls[7] = (last == 0);
		values[8] = TimestampTzGetDatum((TimestampTz) pg_atomic_read_u64(&c->rule_created_at));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(rules_shared->lock);
	return (Datum) 0;
}
