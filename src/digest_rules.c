/*-------------------------------------------------------------------------
 *
 * digest_rules.c
 *	  Blocked and capped query digests: the rules cache, the check at
 *	  executor start, the per-node hit counters and cap slots in shared
 *	  memory, and the SQL functions block_digest, cap_digest,
 *	  rate_limit_digest, budget_digest, unblock_digest and the counters.
 *
 * Where rules live.  Table workload_guard.digest_rules (an extension config
 * table, so WAL takes it to every standby and pg_dump saves it).  Each
 * backend holds the rows that apply to its database in a hash table keyed
 * by queryid, built by config_cache.c and dropped by invalidation (see the
 * protocol there); the rules over every digest (queryid NULL, always with a
 * role or an application) in a separate list.  The management functions
 * write the table; its trigger sends the invalidation.  They refuse to run
 * during recovery.
 *
 * Scope.  A rule applies to the sessions of the database whose table holds
 * it: database => NULL means exactly that, database => current_database()
 * too (the name only has to stay true), and another database's name is
 * refused, since no session there ever reads this table.  A role-scoped
 * rule records the role's OID and name and applies only while a role with
 * that OID still has that name: after DROP ROLE the OID may be given to a
 * new role, which the rule must never hit (a renamed role's rules go
 * inactive too; block it again under its new name).  An application-scoped
 * rule applies only while the session's application_name, as
 * pg_stat_activity shows it (NAMEDATALEN - 1 bytes), is exactly its name.
 * Which rules match the application is computed once per cache load and
 * per change of application_name (session_sync), not per statement.  A
 * statement must satisfy every rule that matches it: its digest's and every
 * matching rule over every digest, in the order blocks, budgets, rates,
 * caps.  A backend holds at most one slot of a cap over every digest (the
 * statements nested in one are the same job).
 *
 * The check (ExecutorStart, before the statement starts; ProcessUtility
 * for utility statements' digests: CALL, COPY, DO, ...).
 * wg_digest_rules_armed is false when the cache is current and holds no
 * rule for this database: the only cost then is that one test (the macro
 * in digest_rules.h).  Otherwise
 * one dynahash probe on the queryid, and a test of the session's list of
 * rules over every digest (while rules name an application, also a compare
 * of application_name with the name that list was computed for); only a
 * hit looks further (scope, expiry against the statement's start time,
 * self-lockout exemption, counters).  Plain EXPLAIN
 * (EXEC_FLAG_EXPLAIN_ONLY), parallel workers (the leader was checked),
 * statements workload_guard runs itself (wg_internal_level,
 * workload_guard.h), transaction control and SET (see utility_exempt) and
 * sessions with workload_guard.bypass_rules are not checked.  A statement that calls block_digest, cap_digest or
 * unblock_digest is never refused: it is recognized by the plan's
 * dependency on those functions (PlannedStmt.invalItems, PROCOID hash
 * values), so a rule on the very digest that would lift it cannot lock the
 * operator out.  Nor is one that writes a table of ours (the history row a
 * DDL writes, the disabled-index rule a DROP INDEX deletes): a rule on it
 * would fail users' DDL through our bookkeeping.
 *
 * Shared memory: one WgRuleCounters per rule key (queryid, role, database,
 * application; 0 or "" = any) and database holding the rule that was hit
 * on this node (a cap's slots are counted per full key), in a
 * fixed-size hash: caps of two databases never share slots.  Locking:
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
 * Per backend, every slot taken is remembered with its QueryDesc (for a
 * utility statement: a token of its ProcessUtility call) and subtransaction
 * (held[]), and given back exactly once: at ExecutorEnd or the end of the
 * utility statement, at the abort of the (sub)transaction that took it
 * (errors, statement_timeout, cancel; an execution that failed never
 * reaches ExecutorEnd), or at backend exit (FATAL, pg_terminate_backend) by
 * a before_shmem_exit callback.  A backend killed by SIGKILL makes the
 * postmaster reinitialize shared memory, counters included.
 *
 * Rule writes take a SHARE ROW EXCLUSIVE lock on the table: one writer at a
 * time.  Under READ COMMITTED each statement after the lock sees every
 * committed rule, so concurrent writes of one digest simply apply in turn.
 * Under REPEATABLE READ and SERIALIZABLE the snapshot may predate the lock:
 * a write whose digest's rules changed since then fails with SQLSTATE 40001
 * and a hint to retry (rules_check_snapshot), instead of overwriting or
 * missing a rule the transaction never saw.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
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
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "compat.h"
#include "config_cache.h"
#include "digest_rules.h"
#include "ext_objects.h"
#include "latency.h"
#include "subxact.h"
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
	Natts_digest_rules_1_0 = Anum_expires_at,
	Anum_role_name,				/* 1.1 */
	Anum_per_second,			/* 1.1, rate limits */
	Anum_burst,
	Anum_backends,				/* 1.1, time budgets */
	Anum_application_name,		/* 1.1, application scope */
	Natts_digest_rules = Anum_application_name
};

/*
 * What rules_cache_row decodes: only a table of exactly this shape is read
 * (1.0's table ends after expires_at).
 */
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
	{"role_name", NAMEOID},
	{"per_second", FLOAT8OID},
	{"burst", INT4OID},
	{"backends", FLOAT8OID},
	{"application_name", TEXTOID},
};

static const WgExtTable rules_table = {
	.relname = WG_RULES_TABLE,
	.columns = rules_columns,
	.ncolumns = Natts_digest_rules,
	.ncolumns_min = Natts_digest_rules_1_0
};

typedef struct WgRuleKey
{
	uint64		queryid;		/* 0: every digest */
	Oid			roleid;			/* 0: every role */
	Oid			dbid;			/* 0: every database */
	char		appname[NAMEDATALEN];	/* "": every application; zero-padded */
} WgRuleKey;

/*
 * The shared counters of a rule: its key, and the database whose table
 * holds it, so that rules of two databases on the same digest (one with no
 * relation in it has the same queryid everywhere) never share a budget.
 * Built zeroed (HASH_BLOBS compares the padding too).
 */
typedef struct WgCounterKey
{
	WgRuleKey	rule;
	Oid			tabledb;		/* MyDatabaseId of the backends it applies to */
} WgCounterKey;

/* shared: hits on this node */
typedef struct WgRuleCounters
{
	WgCounterKey key;			/* hash key; must be first */
	pg_atomic_uint64 rule_created_at;	/* which rule the hit counters are of */
	pg_atomic_uint32 running;	/* of any rule with this key */
	pg_atomic_uint64 blocked;
	pg_atomic_uint64 warned;
	pg_atomic_uint64 capped;
	pg_atomic_uint64 last_hit;	/* TimestampTz, 0 = never */
	pg_atomic_uint64 admitted;	/* by a rate limit */
	pg_atomic_uint64 limited;	/* refused by a rate limit */

	/*
	 * A rate limit's token bucket.  bucket_lock is held only for the
	 * arithmetic of one admission (never across a statement, never with an
	 * error raised), always under rules->lock in SHARED mode, so the entry
	 * cannot be evicted meanwhile.
	 */
	slock_t		bucket_lock;
	double		tokens;			/* available now, at most the burst */
	TimestampTz bucket_at;		/* when tokens was computed; 0: full */
	TimestampTz window_start;	/* the observed rate: starts counted */
	uint32		window_count;	/* since window_start */
	double		observed;		/* per second, in the last full window */

	/* a time budget's last estimate (under bucket_lock too) */
	TimestampTz busy_at;		/* when computed; 0: never */
	double		busy_backends;	/* recorded time / window length */
	double		busy_seconds;	/* the window's length */
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
	bool		rate;			/* a rate limit (cap is false) */
	bool		budget;			/* a time budget (cap, rate are false) */
	double		backends;		/* budget: server time / window length */
	bool		dry_run;
	int			max_running;
	double		per_second;		/* rate: tokens added per second */
	int			burst;			/* rate: the bucket's size */
	TimestampTz created_at;
	TimestampTz expires_at;		/* DT_NOEND: never */
	char	   *created_by;
	char	   *reason;			/* NULL: none given */
	char	   *role_name;		/* role's name when the rule was written;
								 * NULL: not recorded (a 1.0 table) */
	bool		app_ok;			/* key.appname is this session's (see
								 * session_sync); true without an appname */
	struct WgRule *next;		/* the digest's rules, or every_digest_rules */
	struct WgRule *app_next;	/* app_rules: rules with an application */
	struct WgRule *session_next;	/* session_rules */
} WgRule;

typedef struct WgRuleEntry
{
	uint64		queryid;		/* hash key; must be first */
	WgRule	   *rules;
} WgRuleEntry;

typedef struct WgHeldSlot
{
	const void *owner;			/* the QueryDesc, or a utility's token */
	WgRuleCounters *counters;
	SubTransactionId subxid;
	bool		utility;		/* survives a commit inside the statement */
} WgHeldSlot;

/* GUCs */
static int	wg_max_digest_rules = 5000;
static bool wg_bypass_rules = false;

/* shared state */
static WgRulesShared *rules_shared = NULL;
static HTAB *rules_counters = NULL;

/* backend-local cache, rebuilt by config_cache.c */
bool		wg_digest_rules_armed = true;
static WgConfigCache *rules_cache = NULL;
static HTAB *rules_hash = NULL;
static int	rules_count = 0;
static char *rules_dbname = NULL;	/* this database's name, in the cache */
static uint32 exempt_hashes[WG_MAX_EXEMPT];
static int	n_exempt = 0;
static Oid	rules_nsp = InvalidOid;	/* our schema, in the cache */

/*
 * Rules over every digest (queryid NULL in the table) are not in rules_hash
 * but in every_digest_rules.  Which of them may apply to this session
 * depends on its application_name, which changes rarely: session_sync
 * computes it once per change (and per cache load) into session_rules, and
 * sets app_ok of every rule that names an application (app_rules, digest
 * rules included), so that a statement tests a flag and a list head, and
 * matches no application name itself (it only compares application_name
 * with session_app while rules name an application).  Roles are compared
 * per statement (an OID compare: SET ROLE changes it at any time).
 */
static WgRule *every_digest_rules = NULL;
static WgRule *app_rules = NULL;
static WgRule *session_rules = NULL;	/* every_digest_rules that match the
										 * session's application */
static bool session_valid = false;	/* session_rules and app_ok computed */
static char session_app[NAMEDATALEN];	/* for this application_name */

/* held cap slots */
static WgHeldSlot held[WG_MAX_HELD];
int			wg_digest_rules_nheld = 0;
static bool exit_cb_registered = false;

static bool warned_untracked = false;

static const char *const exempt_functions[] = {
	"block_digest", "cap_digest", "unblock_digest", "rate_limit_digest",
	"budget_digest"
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
	info.keysize = sizeof(WgCounterKey);
	info.entrysize = sizeof(WgRuleCounters);
	rules_counters = wg_shmem_init_hash("workload_guard rules hash",
										wg_max_digest_rules,
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
	wg_digest_rules_armed = true;
	/* the lists point into the cache's memory */
	every_digest_rules = NULL;
	app_rules = NULL;
	session_rules = NULL;
	session_valid = false;
}

/*
 * The rules hash is keyed by queryid, itself a 64-bit hash: mixing it
 * (Fibonacci hashing) and comparing it as an integer is cheaper than
 * HASH_BLOBS' hash_bytes and memcmp, and this probe runs at every statement
 * while the database holds a rule.
 */
static uint32
queryid_hash(const void *key, Size keysize)
{
	return (uint32) ((*(const uint64 *) key * UINT64CONST(0x9E3779B97F4A7C15)) >> 32);
}

static int
queryid_match(const void *a, const void *b, Size keysize)
{
	return *(const uint64 *) a != *(const uint64 *) b;
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
	every_digest_rules = NULL;
	app_rules = NULL;
	session_rules = NULL;
	session_valid = false;
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(WgRuleEntry);
	ctl.hash = queryid_hash;
	ctl.match = queryid_match;
	ctl.hcxt = cxt;
	rules_hash = hash_create("workload_guard digest rules", 64, &ctl,
							 HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	rules_dbname = get_database_name(MyDatabaseId);

	if (!OidIsValid(relid))
		return;

	/* the management functions, by the hash their plans record them with */
	nsp = get_rel_namespace(relid);
	rules_nsp = nsp;
	for (i = 0; i < (int) lengthof(exempt_functions); i++)
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

	/*
	 * desc has the columns of rules_columns, 1.0's or 1.1's (config_cache.c
	 * checked it); 1.0's table ends before role_name
	 */
	memset(nulls, true, sizeof(nulls));
	heap_deform_tuple(tuple, desc, values, nulls);
	if (nulls[Anum_mode - 1])
		return;
	/* a rule over every digest names a role or an application (CHECK) */
	if (nulls[Anum_queryid - 1] && nulls[Anum_role - 1] &&
		(desc->natts < Anum_application_name || nulls[Anum_application_name - 1]))
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

	queryid = nulls[Anum_queryid - 1] ? 0 : DatumGetInt64(values[Anum_queryid - 1]);
	r = palloc0(sizeof(WgRule));
	r->key.queryid = (uint64) queryid;
	r->app_ok = true;
	if (desc->natts >= Anum_application_name && !nulls[Anum_application_name - 1])
	{
		char	   *app = TextDatumGetCString(values[Anum_application_name - 1]);

		/* the table's CHECK keeps it non-empty and shorter than a name */
		if (app[0] == '\0' || strlen(app) >= NAMEDATALEN)
			return;
		strlcpy(r->key.appname, app, NAMEDATALEN);
		r->app_ok = false;		/* until session_sync says */
	}
	r->key.roleid = nulls[Anum_role - 1] ? InvalidOid :
		DatumGetObjectId(values[Anum_role - 1]);
	r->key.dbid = dbid;
	r->cap = strcmp(TextDatumGetCString(values[Anum_mode - 1]), "cap") == 0;
	r->rate = strcmp(TextDatumGetCString(values[Anum_mode - 1]), "rate") == 0;
	if (r->rate)
	{
		/* the table's CHECKs keep both set and positive */
		if (desc->natts < Anum_burst || nulls[Anum_per_second - 1] ||
			nulls[Anum_burst - 1])
			return;
		r->per_second = DatumGetFloat8(values[Anum_per_second - 1]);
		r->burst = DatumGetInt32(values[Anum_burst - 1]);
		if (!(r->per_second > 0) || r->burst < 1)
			return;
	}
	r->budget = strcmp(TextDatumGetCString(values[Anum_mode - 1]), "budget") == 0;
	if (r->budget)
	{
		if (desc->natts < Anum_backends || nulls[Anum_backends - 1])
			return;
		r->backends = DatumGetFloat8(values[Anum_backends - 1]);
		if (!(r->backends > 0))
			return;
	}
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
	r->role_name = (desc->natts < Anum_role_name || nulls[Anum_role_name - 1] ||
					TupleDescAttr(desc, Anum_role_name - 1)->atttypid != NAMEOID) ?
		NULL : pstrdup(NameStr(*DatumGetName(values[Anum_role_name - 1])));
	if (r->cap && r->max_running <= 0)
		return;					/* the table's CHECK prevents it */
	if (r->budget && r->key.queryid == 0)
		return;					/* likewise: a budget is a digest's */

	if (r->key.appname[0] != '\0')
	{
		r->app_next = app_rules;
		app_rules = r;
	}
	if (r->key.queryid == 0)
	{
		r->next = every_digest_rules;
		every_digest_rules = r;
		rules_count++;
		return;
	}
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
key_in_cache(const WgCounterKey *ckey)
{
	const WgRuleKey *key = &ckey->rule;
	WgRuleEntry *e;
	WgRule	   *r;

	if (rules_hash == NULL || ckey->tabledb != MyDatabaseId)
		return false;
	if (key->queryid == 0)
		r = every_digest_rules;
	else
	{
		e = hash_search(rules_hash, &key->queryid, HASH_FIND, NULL);
		r = e ? e->rules : NULL;
	}
	for (; r; r = r->next)
		if (memcmp(&r->key, key, sizeof(WgRuleKey)) == 0)
			return true;
	return false;
}

/*
 * The shared entry of the rule, created if need be, with rules->lock held
 * (released by the caller); NULL, without the lock, when the table is full.
 * Never raises an error.
 */
static WgRuleCounters *
counters_acquire(const WgRule *rule)
{
	WgCounterKey ckey;
	const WgCounterKey *key = &ckey;
	WgRuleCounters *c;
	bool		found;
	LWLockMode	mode = LW_SHARED;
	uint64		gen;

	memset(&ckey, 0, sizeof(ckey));
	ckey.rule = rule->key;
	ckey.tabledb = MyDatabaseId;

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
			pg_atomic_init_u64(&c->admitted, 0);
			pg_atomic_init_u64(&c->limited, 0);
			SpinLockInit(&c->bucket_lock);
			c->tokens = 0;
			c->bucket_at = 0;
			c->window_start = 0;
			c->window_count = 0;
			c->observed = 0;
			c->busy_at = 0;
			c->busy_backends = 0;
			c->busy_seconds = 0;
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
		pg_atomic_write_u64(&c->admitted, 0);
		pg_atomic_write_u64(&c->limited, 0);
		SpinLockAcquire(&c->bucket_lock);
		c->bucket_at = 0;		/* a new rule starts with a full bucket */
		c->window_start = 0;
		c->window_count = 0;
		c->observed = 0;
		c->busy_at = 0;
		SpinLockRelease(&c->bucket_lock);
	}
	return c;
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
	WgRuleCounters *c = counters_acquire(rule);

	if (c == NULL)
		return NULL;
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
	if (i < wg_digest_rules_nheld - 1)
		memmove(&held[i], &held[i + 1], (wg_digest_rules_nheld - 1 - i) * sizeof(WgHeldSlot));
	wg_digest_rules_nheld--;
}

static void
rules_before_shmem_exit(int code, Datum arg)
{
	while (wg_digest_rules_nheld > 0)
		held_release_at(wg_digest_rules_nheld - 1);
}

void
wg_digest_rules_release_slow(const void *owner)
{
	int			i;

	for (i = wg_digest_rules_nheld - 1; i >= 0; i--)
		if (held[i].owner == owner)
			held_release_at(i);
}

/*
 * At a top-level commit, the slots of utility statements stay: a procedure
 * that commits is still running (its CALL gives them back when it ends).
 */
void
wg_digest_rules_xact_cleanup(SubTransactionId aborted_subxid, bool commit)
{
	int			i;

	for (i = wg_digest_rules_nheld - 1; i >= 0; i--)
		if (commit ? !held[i].utility :
			(aborted_subxid == InvalidSubTransactionId ||
			 held[i].subxid >= aborted_subxid))
			held_release_at(i);
}

static void
warn_untracked_once(uint64 queryid)
{
	if (warned_untracked)
		return;
	warned_untracked = true;
	ereport(WARNING,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("workload_guard could not enforce the cap on query %lld",
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
		((Query *) inner)->queryId == WG_NO_QUERYID)
		(void) wg_jumble_query((Query *) inner, pstate->p_sourcetext);
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
	int			state = -1;
	int			rti;

	while ((rti = wg_next_result_relation(ps, &state)) > 0)
	{
		RangeTblEntry *rte = rt_fetch(rti, ps->rtable);

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

/*
 * Which rule it is, when not simply the digest's: a rule over every digest
 * of a role and/or application, or a digest's rule for one application.
 * (A rule's role is in its record, created with it.)
 */
static void
rule_scope_sentence(StringInfo buf, const WgRule *r)
{
	const char *role = r->role_name ? r->role_name : "?";
	const char *app = r->key.appname;

	if (r->key.queryid != 0 && app[0] == '\0')
		return;
	appendStringInfoChar(buf, ' ');
	if (r->key.queryid != 0)
		appendStringInfo(buf, _("The rule applies to application \"%s\" only."), app);
	else if (OidIsValid(r->key.roleid) && app[0] != '\0')
		appendStringInfo(buf, _("The rule covers every statement of role \"%s\" in application \"%s\"."),
						 role, app);
	else if (OidIsValid(r->key.roleid))
		appendStringInfo(buf, _("The rule covers every statement of role \"%s\"."), role);
	else
		appendStringInfo(buf, _("The rule covers every statement of application \"%s\"."), app);
}

/*
 * The call that lifts the rule, for HINTs: unblock_digest of the digest,
 * or of the rules over every digest (of the application, when it has one).
 */
static char *
rule_lift_call(const WgRule *r)
{
	if (r->key.queryid != 0)
		return psprintf("workload_guard.unblock_digest(%lld)",
						(long long) r->key.queryid);
	if (r->key.appname[0] != '\0')
		return psprintf("workload_guard.unblock_digest(NULL, application_name => %s)",
						quote_literal_cstr(r->key.appname));
	return pstrdup("workload_guard.unblock_digest(NULL)");
}

/*
 * The DETAIL of a refusal or a dry-run warning: whole sentences, one
 * translatable string per case.
 */
static char *
rule_detail(const WgRule *r)
{
	const char *at = timestamptz_to_str(r->created_at);
	StringInfoData buf;

	initStringInfo(&buf);
	if (r->reason && r->budget)
		appendStringInfo(&buf, _("Budgeted by role \"%s\" at %s: %s."),
						 r->created_by, at, r->reason);
	else if (r->budget)
		appendStringInfo(&buf, _("Budgeted by role \"%s\" at %s."),
						 r->created_by, at);
	else if (r->reason && r->rate)
		appendStringInfo(&buf, _("Rate-limited by role \"%s\" at %s: %s."),
						 r->created_by, at, r->reason);
	else if (r->rate)
		appendStringInfo(&buf, _("Rate-limited by role \"%s\" at %s."),
						 r->created_by, at);
	else if (r->reason && r->cap)
		appendStringInfo(&buf, _("Capped by role \"%s\" at %s: %s."),
						 r->created_by, at, r->reason);
	else if (r->reason)
		appendStringInfo(&buf, _("Blocked by role \"%s\" at %s: %s."),
						 r->created_by, at, r->reason);
	else if (r->cap)
		appendStringInfo(&buf, _("Capped by role \"%s\" at %s."),
						 r->created_by, at);
	else
		appendStringInfo(&buf, _("Blocked by role \"%s\" at %s."),
						 r->created_by, at);
	rule_scope_sentence(&buf, r);
	if (r->expires_at != DT_NOEND)
	{
		appendStringInfoChar(&buf, ' ');
		appendStringInfo(&buf, _("The rule expires at %s."),
						 timestamptz_to_str(r->expires_at));
	}
	if (r->dry_run)
	{
		appendStringInfoChar(&buf, ' ');
		appendStringInfoString(&buf, _("The rule is a dry run, so the statement runs."));
	}
	return buf.data;
}

/* dry runs warn with the SQLSTATE the rule would raise */
static void
report_block(const WgRule *r, uint64 queryid, int elevel)
{
	long long	qid = (long long) queryid;

	ereport(elevel,
			(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
			 errmsg("query %lld is blocked by workload_guard", qid),
			 errdetail_internal("%s", rule_detail(r)),
			 errhint("Call %s to allow it again.", rule_lift_call(r))));
}

static void
report_cap(const WgRule *r, uint64 queryid, int elevel)
{
	long long	qid = (long long) queryid;

	ereport(elevel,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg_plural("query %lld is capped at %d concurrent execution by workload_guard",
						   "query %lld is capped at %d concurrent executions by workload_guard",
						   r->max_running, qid, r->max_running),
			 errdetail_internal("%s", rule_detail(r)),
			 errhint("Retry when an execution has finished, or call %s to lift the cap.",
					 rule_lift_call(r))));
}

/*
 * Is the role a rule names still the role it was written for?  Roles are
 * not objects a table can depend on: after DROP ROLE the OID may come back
 * for a new role.  The name recorded with the rule tells them apart (a
 * renamed role thus leaves its rules inactive too).  Only called on a hit.
 */
static bool
role_still_named(const WgRule *r)
{
	HeapTuple	tup;
	bool		same;

	if (r->role_name == NULL)
		return true;			/* written by 1.0: the OID is all we have */
	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(r->key.roleid));
	if (!HeapTupleIsValid(tup))
		return false;
	same = strcmp(NameStr(((Form_pg_authid) GETSTRUCT(tup))->rolname),
				  r->role_name) == 0;
	ReleaseSysCache(tup);
	return same;
}

/*
 * does the rule apply to a statement of userid starting at now, in this
 * session (app_ok: its application, computed by session_sync)?
 */
static bool
rule_applies(const WgRule *r, Oid userid, TimestampTz now)
{
	if (r->expires_at <= now || !r->app_ok)
		return false;
	if (r->key.roleid == InvalidOid)
		return true;
	return r->key.roleid == userid && role_still_named(r);
}

/*
 * Compute which rules over every digest may apply to this session, and
 * app_ok of every rule that names an application, for the session's
 * application_name as pg_stat_activity shows it (at most NAMEDATALEN - 1
 * bytes; core keeps it ASCII).
 */
static void
session_compute(void)
{
	WgRule	   *r;

	strlcpy(session_app, application_name ? application_name : "", NAMEDATALEN);
	for (r = app_rules; r; r = r->app_next)
		r->app_ok = strcmp(r->key.appname, session_app) == 0;
	session_rules = NULL;
	for (r = every_digest_rules; r; r = r->next)
		if (r->app_ok)
		{
			r->session_next = session_rules;
			session_rules = r;
		}
	session_valid = true;
}

/*
 * Once per cache load, and once per change of application_name: while
 * rules name an application, a statement compares the session's name with
 * the one session_rules were computed for (no string compare at all
 * without such rules).
 */
static inline void
session_sync(void)
{
	if (likely(session_valid) &&
		(app_rules == NULL ||
		 strncmp(session_app, application_name ? application_name : "",
				 NAMEDATALEN - 1) == 0))
		return;
	session_compute();
}

/* the statement being checked, and the rules that may apply to it */
typedef struct WgCheck
{
	uint64		queryid;
	const WgRule *digest;		/* its digest's rules (linked by next) */
	const WgRule *every;		/* session_rules (linked by session_next) */
	Oid			userid;
	TimestampTz now;
} WgCheck;

/* every rule of the statement: its digest's, then those over every digest */
#define foreach_rule(r, chk) \
	for (int list_ = 0; list_ < 2; list_++) \
		for ((r) = list_ == 0 ? (chk)->digest : (chk)->every; (r) != NULL; \
			 (r) = list_ == 0 ? (r)->next : (r)->session_next)

/*
 * The rules of the statement's digest and this session's rules over every
 * digest, loading the cache first if it was dropped: one probe.  False when
 * there are none (or the table is locked now).
 */
static bool
rules_lookup(WgCheck *chk)
{
	WgRuleEntry *e;

	if (!wg_config_cache_is_valid(rules_cache))
	{
		if (!wg_config_cache_ensure(rules_cache))
			return false;		/* table locked: no rules this time */
		wg_digest_rules_armed = !wg_config_cache_is_valid(rules_cache) || rules_count > 0;
	}
	if (rules_count == 0)
		return false;
	e = hash_search(rules_hash, &chk->queryid, HASH_FIND, NULL);
	chk->digest = e ? e->rules : NULL;
	chk->every = NULL;
	/* digest rules only, none naming an application: nothing more to test */
	if (likely(app_rules == NULL && every_digest_rules == NULL))
		return chk->digest != NULL;
	session_sync();
	chk->every = session_rules;
	return chk->digest != NULL || chk->every != NULL;
}

static bool
any_rule_applies(const WgCheck *chk)
{
	const WgRule *r;

	foreach_rule(r, chk)
		if (rule_applies(r, chk->userid, chk->now))
			return true;
	return false;
}

/* blocks come first: a refused statement takes no cap slot */
static void
check_blocks(const WgCheck *chk)
{
	const WgRule *r;

	foreach_rule(r, chk)
	{
		if (r->cap || r->rate || r->budget ||
			!rule_applies(r, chk->userid, chk->now))
			continue;
		if (r->dry_run)
		{
			counters_hit(r, ctr_warned, false, NULL);
			report_block(r, chk->queryid, WARNING);
		}
		else
		{
			counters_hit(r, ctr_blocked, false, NULL);
			report_block(r, chk->queryid, ERROR);
		}
	}
}

/*
 * Does this backend hold a slot of the rule already?  A rule over every
 * digest counts backends: the statements nested in one that holds its slot
 * (a function's, a cursor's) are the same job and take no other.
 */
static bool
holds_slot_of(const WgRule *r)
{
	int			i;

	for (i = 0; i < wg_digest_rules_nheld; i++)
		if (held[i].counters->key.tabledb == MyDatabaseId &&
			memcmp(&held[i].counters->key.rule, &r->key, sizeof(WgRuleKey)) == 0)
			return true;
	return false;
}

/*
 * Take a slot of every cap that applies, on behalf of owner (the QueryDesc,
 * or a utility statement's token); refuse the statement when a cap is full.
 */
static void
check_caps(const WgCheck *chk, const void *owner, bool utility)
{
	const WgRule *r;

	foreach_rule(r, chk)
	{
		WgRuleCounters *c;
		uint32		running = 0;

		if (!r->cap || !rule_applies(r, chk->userid, chk->now))
			continue;
		if (r->key.queryid == 0 && holds_slot_of(r))
			continue;
		if (wg_digest_rules_nheld >= WG_MAX_HELD)
		{
			pg_atomic_fetch_add_u64(&rules_shared->untracked, 1);
			warn_untracked_once(chk->queryid);
			continue;
		}
		c = counters_hit(r, NULL, true, &running);
		if (c == NULL)
		{
			warn_untracked_once(chk->queryid);
			continue;
		}
		if (!exit_cb_registered)
		{
			before_shmem_exit(rules_before_shmem_exit, (Datum) 0);
			exit_cb_registered = true;
		}
		held[wg_digest_rules_nheld].owner = owner;
		held[wg_digest_rules_nheld].counters = c;
		held[wg_digest_rules_nheld].subxid = GetCurrentSubTransactionId();
		held[wg_digest_rules_nheld].utility = utility;
		wg_digest_rules_nheld++;

		if (running > (uint32) r->max_running)
		{
			if (r->dry_run)
			{
				pg_atomic_fetch_add_u64(&c->warned, 1);
				report_cap(r, chk->queryid, WARNING);
			}
			else
			{
				pg_atomic_fetch_add_u64(&c->capped, 1);
				held_release_at(wg_digest_rules_nheld - 1);
				/* slots taken for other caps go back at abort */
				report_cap(r, chk->queryid, ERROR);
			}
		}
	}
}

/*
 * A token bucket: tokens accrue at per_second up to burst; an execution
 * takes one.  Pure arithmetic on the state (*tokens as of *at; *at == 0: a
 * full bucket), so that it can run under a spinlock.  Returns true when a
 * token was taken.
 */
static bool
bucket_take(double *tokens, TimestampTz *at, double per_second, int burst,
			TimestampTz now)
{
	double		t;

	if (*at == 0)
		t = burst;
	else if (now <= *at)
	{
		/*
		 * Backends read the clock before they take the bucket's spinlock, so
		 * a backend may arrive with a time earlier than the last one the
		 * bucket saw: that adds no tokens (treating it as a new bucket gave
		 * a full burst away on every such race, unlimited under load).
		 */
		t = *tokens;
		now = *at;
	}
	else
	{
		t = *tokens + (double) (now - *at) * per_second / USECS_PER_SEC;
		if (t > burst)
			t = burst;
	}
	*at = now;
	if (t >= 1.0)
	{
		*tokens = t - 1.0;
		return true;
	}
	*tokens = t;
	return false;
}

static void
report_rate(const WgRule *r, uint64 queryid, double observed, int elevel)
{
	long long	qid = (long long) queryid;

	ereport(elevel,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("query %lld is rate-limited to %g executions per second (burst %d) by workload_guard",
					qid, r->per_second, r->burst),
			 errdetail_internal("%s", rule_detail(r)),
			 errhint("It was started about %.1f times per second on this server recently. Retry later, or call %s to lift the limit.",
					 observed, rule_lift_call(r))));
}

/*
 * Take a token of every rate limit that applies; refuse the statement when
 * a bucket is empty (warn mode: warn, take nothing, run).  Raises its error
 * after every lock is released.
 */
static void
check_rates(const WgCheck *chk)
{
	const WgRule *r;

	foreach_rule(r, chk)
	{
		WgRuleCounters *c;
		TimestampTz t;
		bool		ok;
		double		observed;

		if (!r->rate || !rule_applies(r, chk->userid, chk->now))
			continue;
		c = counters_acquire(r);
		if (c == NULL)
		{
			warn_untracked_once(chk->queryid);
			continue;
		}
		t = GetCurrentTimestamp();
		SpinLockAcquire(&c->bucket_lock);
		ok = bucket_take(&c->tokens, &c->bucket_at, r->per_second, r->burst, t);
		if (c->window_start == 0 || t < c->window_start)
		{
			c->window_start = t;
			c->window_count = 0;
		}
		else if (t - c->window_start >= USECS_PER_SEC)
		{
			c->observed = (double) c->window_count * USECS_PER_SEC /
				(double) (t - c->window_start);
			c->window_start = t;
			c->window_count = 0;
		}
		c->window_count++;
		observed = Max(c->observed, (double) c->window_count);
		SpinLockRelease(&c->bucket_lock);
		pg_atomic_fetch_add_u64(ok ? &c->admitted :
								r->dry_run ? &c->warned : &c->limited, 1);
		pg_atomic_write_u64(&c->last_hit, (uint64) t);
		LWLockRelease(rules_shared->lock);
		if (!ok)
			report_rate(r, chk->queryid, observed, r->dry_run ? WARNING : ERROR);
	}
}

#define WG_BUDGET_REFRESH_US	100000	/* recompute a budget's use at most 10/s */

static void
report_budget(const WgRule *r, uint64 queryid, double used, double seconds,
			  int elevel)
{
	long long	qid = (long long) queryid;

	ereport(elevel,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("query %lld is over its time budget of %g backends by workload_guard",
					qid, r->backends),
			 errdetail_internal("%s", rule_detail(r)),
			 errhint("Its executions used %.2f backends' worth of server time over the last %.0f seconds on this server. Retry later, or call %s to lift the budget.",
					 used, seconds, rule_lift_call(r))));
}

/*
 * Refuse the statement while its digest used more server time over the
 * recent window than the budgets that apply allow (warn mode: warn and
 * run).  The use comes from the latency recorder
 * (wg_latency_recent_busy_ns), recomputed at most every
 * WG_BUDGET_REFRESH_US per rule and server; only digests with a budget
 * ever pay for it.
 */
static void
check_budgets(const WgCheck *chk)
{
	const WgRule *r;

	/* a budget is a digest's: never a rule over every digest */
	for (r = chk->digest; r; r = r->next)
	{
		WgRuleCounters *c;
		TimestampTz t;
		TimestampTz at;
		double		used;
		double		seconds;
		bool		ok;

		if (!r->budget || !rule_applies(r, chk->userid, chk->now))
			continue;
		c = counters_acquire(r);
		if (c == NULL)
		{
			warn_untracked_once(chk->queryid);
			continue;
		}
		t = GetCurrentTimestamp();
		SpinLockAcquire(&c->bucket_lock);
		at = c->busy_at;
		used = c->busy_backends;
		seconds = c->busy_seconds;
		SpinLockRelease(&c->bucket_lock);
		if (at == 0 || t < at || t - at >= WG_BUDGET_REFRESH_US)
		{
			/* no spinlock across the scan; a racing refresh is harmless */
			double		busy = wg_latency_recent_busy_ns(r->key.queryid,
														 MyDatabaseId, &seconds);

			used = seconds > 0 ? busy / 1e9 / seconds : 0;
			SpinLockAcquire(&c->bucket_lock);
			c->busy_at = t;
			c->busy_backends = used;
			c->busy_seconds = seconds;
			SpinLockRelease(&c->bucket_lock);
		}
		ok = used <= r->backends;
		pg_atomic_fetch_add_u64(ok ? &c->admitted :
								r->dry_run ? &c->warned : &c->limited, 1);
		pg_atomic_write_u64(&c->last_hit, (uint64) t);
		LWLockRelease(rules_shared->lock);
		if (!ok)
			report_budget(r, chk->queryid, used, seconds, r->dry_run ? WARNING : ERROR);
	}
}

/* what neither the executor nor the utility path checks */
static inline bool
not_checked(uint64 queryid)
{
	return queryid == UINT64CONST(0) || IsParallelWorker() ||
		wg_internal_level > 0 || wg_bypass_rules || rules_shared == NULL ||
		!IsTransactionState();
}

void
wg_digest_rules_check_slow(QueryDesc *queryDesc, int eflags)
{
	WgCheck		chk;

	chk.queryid = queryDesc->plannedstmt->queryId;
	if (not_checked(chk.queryid) || (eflags & EXEC_FLAG_EXPLAIN_ONLY))
		return;
	if (likely(!rules_lookup(&chk)))
		return;

	chk.userid = GetUserId();
	chk.now = GetCurrentStatementStartTimestamp();
	if (!any_rule_applies(&chk) ||
		statement_exempt(queryDesc->plannedstmt))
		return;
	check_blocks(&chk);
	check_budgets(&chk);
	check_rates(&chk);
	check_caps(&chk, queryDesc, false);
}

/*
 * Utility statements that are never checked: transaction control and the
 * session settings an operator needs (ROLLBACK, SET bypass_rules) must
 * always run, and the statements that only wrap a query leave it to the
 * executor check (EXECUTE, EXPLAIN: the query they run is checked under its
 * own digest; PREPARE runs nothing).
 */
static bool
utility_exempt(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_TransactionStmt:
		case T_VariableSetStmt:
		case T_VariableShowStmt:
		case T_DiscardStmt:
		case T_ClosePortalStmt:
		case T_PrepareStmt:
		case T_ExecuteStmt:
		case T_DeallocateStmt:
		case T_ExplainStmt:
			return true;
		default:
			return false;
	}
}

/*
 * ProcessUtility, before the statement runs: the same rules for a utility
 * statement's digest (CALL, COPY, DO, VACUUM, ...).  Cap slots are taken on
 * behalf of token, given back by wg_digest_rules_release(token) when the
 * statement ends, however it ends.
 */
void
wg_digest_rules_utility_check_slow(PlannedStmt *pstmt, uint64 queryid,
								   const void *token)
{
	WgCheck		chk;

	if (not_checked(queryid) || utility_exempt(pstmt->utilityStmt))
		return;
	chk.queryid = queryid;
	if (likely(!rules_lookup(&chk)))
		return;

	chk.userid = GetUserId();
	chk.now = GetCurrentStatementStartTimestamp();
	if (!any_rule_applies(&chk))
		return;
	check_blocks(&chk);
	check_budgets(&chk);
	check_rates(&chk);
	check_caps(&chk, token, true);
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
				 errmsg("cannot execute %s() during recovery", fname),
				 errdetail("Digest rules are stored in table workload_guard.digest_rules, which is read-only during recovery."),
				 errhint("Call workload_guard.%s() on the primary; the rule reaches every standby with the WAL.",
						 fname)));
}

/*
 * The queryid argument; 0 for NULL where allow_null (every digest: 1.1's
 * signatures, which have application_name).
 */
static uint64
arg_queryid(FunctionCallInfo fcinfo, int argno, bool allow_null)
{
	int64		queryid;

	if (PG_ARGISNULL(argno) && allow_null)
		return 0;
	if (PG_ARGISNULL(argno))
		wg_null_argument("queryid");
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
	uint64		queryid;		/* 0: every digest (with every_digest) */
	bool		every_digest;	/* queryid NULL */
	char		appname[NAMEDATALEN];	/* "": any application */
	bool		cap;
	bool		rate;
	int			max_running;
	double		per_second;		/* rate */
	int			burst;			/* rate */
	bool		budget;
	double		backends;		/* budget */
	text	   *reason;
	bool		has_expiry;
	TimestampTz expires_at;
	Oid			roleid;
	Name		dbname;
	bool		dry_run;
	NameData	role_name;		/* of roleid, when valid */
} RuleArgs;

/*
 * Under REPEATABLE READ or SERIALIZABLE, the transaction's snapshot may be
 * older than the lock just taken.  If another transaction changed the rules
 * of this digest since, a write from the old view would overwrite or miss a
 * rule this transaction never saw (and the INSERT would hit the unique key
 * with a raw duplicate-key error): refuse with a serialization failure, as
 * PostgreSQL does for a concurrent update, and a hint to retry.  Runs under
 * the lock, so the answer cannot change before commit.
 */
static void
rules_check_snapshot(uint64 queryid, bool every_digest)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum((int64) queryid)};
	SPIPlanPtr	plan;
	char	   *seen[2];
	int			i;

	if (!IsolationUsesXactSnapshot())
		return;
	plan = SPI_prepare(every_digest ?
					   "SELECT string_agg(ctid::text, ',' ORDER BY ctid) "
					   "FROM workload_guard.digest_rules WHERE queryid IS NULL" :
					   "SELECT string_agg(ctid::text, ',' ORDER BY ctid) "
					   "FROM workload_guard.digest_rules WHERE queryid = $1",
					   every_digest ? 0 : 1, types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	for (i = 0; i < 2; i++)
	{
		/* 0: the transaction's snapshot, 1: every committed row */
		int			rc = SPI_execute_snapshot(plan, every_digest ? NULL : values, NULL,
											  i == 0 ? InvalidSnapshot : GetLatestSnapshot(),
											  InvalidSnapshot, false, false, 1);

		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "SPI_execute_snapshot failed: %s", SPI_result_code_string(rc));
		seen[i] = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	}
	SPI_freeplan(plan);
	if ((seen[0] == NULL) != (seen[1] == NULL) ||
		(seen[0] != NULL && strcmp(seen[0], seen[1]) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 every_digest ?
				 errmsg("could not serialize access to the rules over every digest due to a concurrent change") :
				 errmsg("could not serialize access to the rules of query %lld due to a concurrent change",
						(long long) queryid),
				 errdetail("Another transaction changed the rules of this query after this transaction took its snapshot."),
				 errhint("Retry the transaction.")));
}

/*
 * spi_exec with every committed row in view: under REPEATABLE READ the
 * snapshot may miss rows committed before the lock was taken, and the
 * housekeeping DELETE (expired rules, rules of dropped roles) would fail on
 * a row another writer already deleted.  Used only under the lock and
 * after rules_check_snapshot, so this digest's rules are the same in both
 * views.
 */
static void
spi_exec_latest(const char *sql, int nargs, Oid *types, Datum *values,
				const char *nulls, int expected)
{
	SPIPlanPtr	plan;
	int			rc;

	if (!IsolationUsesXactSnapshot())
	{
		spi_exec(sql, nargs, types, values, nulls, expected);
		return;
	}
	plan = SPI_prepare(sql, nargs, types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	rc = SPI_execute_snapshot(plan, values, nulls, GetLatestSnapshot(),
							  InvalidSnapshot, false, true, 0);
	SPI_freeplan(plan);
	if (rc != expected)
		elog(ERROR, "SPI_execute_snapshot failed: %s", SPI_result_code_string(rc));
}

/* expired rules, and rules of roles that no longer exist */
#define RULES_HOUSEKEEPING \
	"expires_at <= statement_timestamp() " \
	"OR (role IS NOT NULL AND NOT EXISTS " \
	"    (SELECT 1 FROM pg_roles a WHERE a.oid = role::oid))"

/* does the table have 1.1's role_name column (else: a 1.0 database)? */
static bool
rules_have_role_name(void)
{
	return get_attnum(wg_ext_table_required(&rules_table), "role_name") !=
		InvalidAttrNumber;
}

/* does the table have 1.1's application_name column? */
static bool
rules_have_app(void)
{
	return get_attnum(wg_ext_table_required(&rules_table), "application_name") !=
		InvalidAttrNumber;
}

/* does the table have 1.1's rate limit columns? */
static bool
rules_have_rate(void)
{
	return get_attnum(wg_ext_table_required(&rules_table), "backends") !=
		InvalidAttrNumber;
}

/* write (replace) the rule; runs inside the identity switch */
static void
rules_write(const RuleArgs *a, const char *created_by)
{
	Oid			types[14] = {INT8OID, REGROLEOID, NAMEOID, TEXTOID, INT4OID,
		BOOLOID, TEXTOID, NAMEOID, TIMESTAMPTZOID, NAMEOID, FLOAT8OID, INT4OID,
	FLOAT8OID, TEXTOID};
	Datum		values[14];
	char		nulls[14];
	NameData	who;
	bool		have_app = rules_have_app();

	memset(nulls, ' ', sizeof(nulls));
	namestrcpy(&who, created_by);
	values[0] = Int64GetDatum((int64) a->queryid);
	nulls[0] = a->every_digest ? 'n' : ' ';
	values[1] = ObjectIdGetDatum(a->roleid);
	nulls[1] = OidIsValid(a->roleid) ? ' ' : 'n';
	values[2] = a->dbname ? NameGetDatum(a->dbname) : (Datum) 0;
	nulls[2] = a->dbname ? ' ' : 'n';
	values[3] = CStringGetTextDatum(a->cap ? "cap" : a->rate ? "rate" :
									a->budget ? "budget" : "block");
	values[4] = Int32GetDatum(a->max_running);
	nulls[4] = a->cap ? ' ' : 'n';
	values[5] = BoolGetDatum(a->dry_run);
	values[6] = a->reason ? PointerGetDatum(a->reason) : (Datum) 0;
	nulls[6] = a->reason ? ' ' : 'n';
	values[7] = NameGetDatum(&who);
	values[8] = TimestampTzGetDatum(a->expires_at);
	nulls[8] = a->has_expiry ? ' ' : 'n';
	values[9] = NameGetDatum(&a->role_name);
	nulls[9] = OidIsValid(a->roleid) ? ' ' : 'n';
	values[10] = Float8GetDatum(a->per_second);
	nulls[10] = a->rate ? ' ' : 'n';
	values[11] = Int32GetDatum(a->burst);
	nulls[11] = a->rate ? ' ' : 'n';
	values[12] = Float8GetDatum(a->backends);
	nulls[12] = a->budget ? ' ' : 'n';
	values[13] = CStringGetTextDatum(a->appname);
	nulls[13] = a->appname[0] != '\0' ? ' ' : 'n';

	if (!have_app && (a->every_digest || a->appname[0] != '\0'))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table workload_guard.digest_rules has no application_name column"),
				 errhint("Run ALTER EXTENSION workload_guard UPDATE.")));

	/* one writer at a time; readers (cache loads) are not blocked */
	spi_exec("LOCK TABLE workload_guard.digest_rules IN SHARE ROW EXCLUSIVE MODE",
			 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	rules_check_snapshot(a->queryid, a->every_digest);
	if (have_app)
	{
		/* $4..$13 unused: the same arrays serve both statements */
		Oid			dtypes[4] = {types[0], types[1], types[2], types[13]};
		Datum		dvalues[4] = {values[0], values[1], values[2], values[13]};
		char		dnulls[4] = {nulls[0], nulls[1], nulls[2], nulls[13]};

		spi_exec_latest("DELETE FROM workload_guard.digest_rules "
						"WHERE " RULES_HOUSEKEEPING
						"OR (queryid IS NOT DISTINCT FROM $1 AND role IS NOT DISTINCT FROM $2 "
						"AND database IS NOT DISTINCT FROM $3 "
						"AND application_name IS NOT DISTINCT FROM $4)",
						4, dtypes, dvalues, dnulls, SPI_OK_DELETE);
		spi_exec_latest("INSERT INTO workload_guard.digest_rules "
						"(queryid, role, database, mode, max_running, dry_run, reason, "
						"created_by, created_at, expires_at, role_name, per_second, burst, backends, "
						"application_name) "
						"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, transaction_timestamp(), $9, $10, $11, $12, $13, $14)",
						14, types, values, nulls, SPI_OK_INSERT);
		return;
	}
	spi_exec_latest("DELETE FROM workload_guard.digest_rules "
					"WHERE " RULES_HOUSEKEEPING
					"OR (queryid = $1 AND role IS NOT DISTINCT FROM $2 "
					"AND database IS NOT DISTINCT FROM $3)",
					3, types, values, nulls, SPI_OK_DELETE);
	if (rules_have_rate())
		spi_exec_latest("INSERT INTO workload_guard.digest_rules "
						"(queryid, role, database, mode, max_running, dry_run, reason, "
						"created_by, created_at, expires_at, role_name, per_second, burst, backends) "
						"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, transaction_timestamp(), $9, $10, $11, $12, $13)",
						13, types, values, nulls, SPI_OK_INSERT);
	else if (a->rate || a->budget)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table workload_guard.digest_rules has no rate limit or budget columns"),
				 errhint("Run ALTER EXTENSION workload_guard UPDATE.")));
	else if (rules_have_role_name())
		spi_exec_latest("INSERT INTO workload_guard.digest_rules "
						"(queryid, role, database, mode, max_running, dry_run, reason, "
						"created_by, created_at, expires_at, role_name) "
						"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, transaction_timestamp(), $9, $10)",
						10, types, values, nulls, SPI_OK_INSERT);
	else
		spi_exec_latest("INSERT INTO workload_guard.digest_rules "
						"(queryid, role, database, mode, max_running, dry_run, reason, "
						"created_by, created_at, expires_at) "
						"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, transaction_timestamp(), $9)",
						9, types, values, nulls, SPI_OK_INSERT);
}

/*
 * unblock_digest: delete the rules of the digest (every_digest: the rules
 * over every digest), of the application only when one is named; a->queryid
 * 0 without every_digest deletes none (the housekeeping after DROP ROLE).
 */
static int64
rules_delete(const RuleArgs *a)
{
	Oid			types[3] = {INT8OID, TEXTOID, OIDOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	int64		n = 0;

	values[0] = Int64GetDatum((int64) a->queryid);
	values[1] = CStringGetTextDatum(a->appname);
	nulls[1] = a->appname[0] != '\0' ? ' ' : 'n';
	values[2] = ObjectIdGetDatum(a->roleid);
	nulls[2] = OidIsValid(a->roleid) ? ' ' : 'n';
	spi_exec("LOCK TABLE workload_guard.digest_rules IN SHARE ROW EXCLUSIVE MODE",
			 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	rules_check_snapshot(a->queryid, a->every_digest);
	if (a->every_digest || a->appname[0] != '\0' || OidIsValid(a->roleid))
	{
		/* 1.1's arguments: the table has application_name (1.1's script) */
		nulls[0] = a->every_digest ? 'n' : ' ';
		spi_exec_latest("DELETE FROM workload_guard.digest_rules "
						"WHERE queryid IS NOT DISTINCT FROM $1 "
						"AND ($2 IS NULL OR application_name = $2) "
						"AND ($3 IS NULL OR role::oid = $3)",
						3, types, values, nulls, SPI_OK_DELETE);
		n = (int64) SPI_processed;
	}
	else if (a->queryid != 0)
	{
		spi_exec_latest("DELETE FROM workload_guard.digest_rules WHERE queryid = $1",
						1, types, values, NULL, SPI_OK_DELETE);
		n = (int64) SPI_processed;
	}
	spi_exec_latest("DELETE FROM workload_guard.digest_rules WHERE " RULES_HOUSEKEEPING,
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
		o->result = rules_delete(o->a);
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
	Oid			relid = wg_ext_table_required(&rules_table);

	o.a = a;
	o.delete = delete;
	o.created_by = GetUserNameFromId(GetUserId(), false);
	o.result = 0;
	wg_run_as_owner(relid, rules_as_owner_cb, &o);

	/*
	 * The table's trigger sends this too; sent here as well, a rule written
	 * by these functions reaches the caches even where the trigger is off
	 * (pg_restore --disable-triggers leaves it ENABLE instead of ENABLE
	 * ALWAYS; a superuser may disable it).
	 */
	CacheInvalidateRelcacheByRelid(relid);
	return o.result;
}

/*
 * application_name: as pg_stat_activity shows it, so only a name core could
 * give a session (it keeps NAMEDATALEN - 1 bytes of printable ASCII);
 * anything else would be a rule that never applies.
 */
static void
arg_application_name(FunctionCallInfo fcinfo, int argno, char *appname)
{
	text	   *t;
	int			len;
	const char *p;
	int			i;

	appname[0] = '\0';
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return;
	t = PG_GETARG_TEXT_PP(argno);
	len = VARSIZE_ANY_EXHDR(t);
	p = VARDATA_ANY(t);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("application_name must not be empty"),
				 errhint("Pass application_name => NULL for a rule on every application.")));
	if (len > NAMEDATALEN - 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("application_name is too long"),
				 errdetail("PostgreSQL keeps at most %d bytes of a session's application_name, so a rule on a longer name would never apply.",
						   NAMEDATALEN - 1)));
	for (i = 0; i < len; i++)
		if (p[i] < 32 || p[i] > 126)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("application_name must consist of printable ASCII characters"),
					 errdetail("PostgreSQL replaces any other character of a session's application_name, so the rule would never apply.")));
	memcpy(appname, p, len);
	appname[len] = '\0';
}

/* scope: role, by OID and (to tell a reused OID apart) name */
static void
arg_role(FunctionCallInfo fcinfo, int role_arg, RuleArgs *a)
{
	a->roleid = PG_ARGISNULL(role_arg) ? InvalidOid : PG_GETARG_OID(role_arg);
	if (!PG_ARGISNULL(role_arg) && !OidIsValid(a->roleid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role with OID 0 does not exist"),
				 errhint("Pass role => NULL for a rule on every role.")));
	if (OidIsValid(a->roleid))
	{
		char	   *name = GetUserNameFromId(a->roleid, true);

		if (name == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("role with OID %u does not exist", a->roleid)));
		namestrcpy(&a->role_name, name);
	}
}

/*
 * The arguments every rule function shares, from reason on (reason,
 * expires_in, role, database, dry_run, and in 1.1 application_name), and
 * the queryid (NULL only in 1.1's signatures, and only with a role or an
 * application).
 */
static void
arg_common(FunctionCallInfo fcinfo, RuleArgs *a, int reason_arg,
		   const char *fname)
{
	int			expiry_arg = reason_arg + 1;
	int			role_arg = reason_arg + 2;
	int			db_arg = reason_arg + 3;
	int			dry_arg = reason_arg + 4;
	int			app_arg = reason_arg + 5;

	a->queryid = arg_queryid(fcinfo, 0, PG_NARGS() > app_arg);
	a->every_digest = (a->queryid == 0);
	arg_application_name(fcinfo, app_arg, a->appname);

	/* reason; an empty one is none */
	a->reason = NULL;
	if (!PG_ARGISNULL(reason_arg))
	{
		text	   *t = PG_GETARG_TEXT_PP(reason_arg);

		wg_check_reason(text_to_cstring(t));
		if (VARSIZE_ANY_EXHDR(t) > 0)
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
		if (span > (double) WG_MAX_EXPIRY_DAYS * USECS_PER_DAY)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("expiry interval must be at most %d days", WG_MAX_EXPIRY_DAYS),
					 errhint("Pass NULL for a rule that does not expire.")));
		/* the span, and the calendar ('1 mon -30 days' is 0 in February) */
		if (span > 0)
			a->expires_at = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
																	TimestampTzGetDatum(now),
																	IntervalPGetDatum(iv)));
		if (span <= 0 || a->expires_at <= now)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("expiry interval must be positive"),
					 errhint("Pass NULL for a rule that does not expire.")));
	}

	arg_role(fcinfo, role_arg, a);

	/* scope: database; only this one's sessions read this table */
	a->dbname = PG_ARGISNULL(db_arg) ? NULL : PG_GETARG_NAME(db_arg);
	if (a->dbname && !OidIsValid(get_database_oid(NameStr(*a->dbname), true)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_DATABASE),
				 errmsg("database \"%s\" does not exist", NameStr(*a->dbname))));
	if (a->dbname && get_database_oid(NameStr(*a->dbname), false) != MyDatabaseId)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot create a digest rule for database \"%s\" in database \"%s\"",
						NameStr(*a->dbname), get_database_name(MyDatabaseId)),
				 errdetail("Digest rules are stored in each database's table workload_guard.digest_rules and apply only to the sessions of that database."),
				 errhint("Connect to database \"%s\" and call workload_guard.%s() there, or pass database => NULL for this database.",
						 NameStr(*a->dbname), fname)));

	if (PG_ARGISNULL(dry_arg))
		wg_null_argument("dry_run");
	a->dry_run = PG_GETARG_BOOL(dry_arg);

	if (a->every_digest && !OidIsValid(a->roleid) && a->appname[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a rule on every statement of every session is not allowed"),
				 errdetail("queryid => NULL makes a rule on every digest; it must be limited to a role or an application."),
				 errhint("Pass role => or application_name =>, or the queryid of one digest.")));
}

/* the first steps of every management function */
static void
rule_function_begin(FunctionCallInfo fcinfo, RuleArgs *a, const char *fname)
{
	check_loaded();
	refuse_in_recovery(fname);
	memset(a, 0, sizeof(*a));
}

/*
 * A rule's float argument (per_second, backends): not NULL; false when it
 * is outside [min, max] (NaN is), for the function's own error.
 */
static bool
arg_float8_within(FunctionCallInfo fcinfo, int argno, const char *name,
				  double min, double max, double *v)
{
	if (PG_ARGISNULL(argno))
		wg_null_argument(name);
	*v = PG_GETARG_FLOAT8(argno);
	return *v >= min && *v <= max;
}

/*
 * block_digest(queryid bigint, reason text, expires_in interval,
 *				role regrole, database name, dry_run boolean
 *				[, application_name text])
 */
PG_FUNCTION_INFO_V1(wg_block_digest);

Datum
wg_block_digest(PG_FUNCTION_ARGS)
{
	RuleArgs	a;

	rule_function_begin(fcinfo, &a, "block_digest");
	arg_common(fcinfo, &a, 1, "block_digest");
	rules_as_owner(&a, false);
	PG_RETURN_VOID();
}

/*
 * cap_digest(queryid bigint, max_running int, reason text,
 *			  expires_in interval, role regrole, database name, dry_run boolean
 *			  [, application_name text])
 */
PG_FUNCTION_INFO_V1(wg_cap_digest);

Datum
wg_cap_digest(PG_FUNCTION_ARGS)
{
	RuleArgs	a;

	rule_function_begin(fcinfo, &a, "cap_digest");
	a.cap = true;
	if (PG_ARGISNULL(1))
		wg_null_argument("max_running");
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
	arg_common(fcinfo, &a, 2, "cap_digest");
	rules_as_owner(&a, false);
	PG_RETURN_VOID();
}

/*
 * rate_limit_digest(queryid bigint, per_second float8, burst int,
 *					 reason text, expires_in interval, role regrole,
 *					 database name, dry_run boolean [, application_name text])
 */
PG_FUNCTION_INFO_V1(wg_rate_limit_digest);

Datum
wg_rate_limit_digest(PG_FUNCTION_ARGS)
{
	RuleArgs	a;

	rule_function_begin(fcinfo, &a, "rate_limit_digest");
	a.rate = true;
	if (!arg_float8_within(fcinfo, 1, "per_second", 0.001, 1000000.0, &a.per_second))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("per_second must be between 0.001 and 1000000"),
				 errhint("Use workload_guard.block_digest() to refuse every execution.")));
	/* burst: by default, one second's worth */
	if (PG_ARGISNULL(2))
		a.burst = (int) Max(1.0, ceil(a.per_second));
	else
	{
		a.burst = PG_GETARG_INT32(2);
		if (a.burst < 1 || a.burst > 1000000)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("burst must be between 1 and 1000000"),
					 errhint("Pass burst => NULL for one second's worth of executions.")));
	}
	arg_common(fcinfo, &a, 3, "rate_limit_digest");
	rules_as_owner(&a, false);
	PG_RETURN_VOID();
}

/*
 * budget_digest(queryid bigint, backends float8, reason text,
 *				 expires_in interval, role regrole, database name,
 *				 dry_run boolean [, application_name text])
 */
PG_FUNCTION_INFO_V1(wg_budget_digest);

Datum
wg_budget_digest(PG_FUNCTION_ARGS)
{
	RuleArgs	a;

	rule_function_begin(fcinfo, &a, "budget_digest");
	a.budget = true;
	if (!arg_float8_within(fcinfo, 1, "backends", 0.01, MaxBackends, &a.backends))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("backends must be between 0.01 and the number of server processes"),
				 errdetail("This server runs at most %d backends.", MaxBackends),
				 errhint("Use workload_guard.block_digest() to refuse every execution.")));
	arg_common(fcinfo, &a, 2, "budget_digest");
	/* its use is measured per digest by the latency recorder */
	if (a.every_digest)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a time budget needs a query digest"),
				 errdetail("A budget is measured from the server time recorded for one digest."),
				 errhint("Pass the queryid of the digest, or use workload_guard.cap_digest(NULL, ...) to limit the backends of a role or application.")));
	rules_as_owner(&a, false);
	PG_RETURN_VOID();
}

/*
 * unblock_digest(queryid bigint [, application_name text]) returns the
 * number of rules removed: every rule of the digest, or (queryid NULL, 1.1
 * only) every rule over every digest; of the application only, when named.
 */
PG_FUNCTION_INFO_V1(wg_unblock_digest);

Datum
wg_unblock_digest(PG_FUNCTION_ARGS)
{
	RuleArgs	a;

	rule_function_begin(fcinfo, &a, "unblock_digest");
	a.queryid = arg_queryid(fcinfo, 0, PG_NARGS() > 1);
	a.every_digest = (a.queryid == 0);
	arg_application_name(fcinfo, 1, a.appname);
	if (PG_NARGS() > 2)
		arg_role(fcinfo, 2, &a);
	PG_RETURN_INT32((int32) rules_as_owner(&a, true));
}

/*
 * After DROP ROLE: delete this database's rules of roles that no longer
 * exist (an unblock of no digest is exactly the housekeeping).  Other
 * databases' rules of the role are inactive already (role_still_named) and
 * go at their next rule write.  The DROP ROLE has succeeded: a failure here
 * is a WARNING, never its error.  Nor does it wait for the table's lock
 * (a rule write in progress): the rules are inactive already, and the next
 * rule write deletes them.
 */
static void
roles_dropped_cb(void *arg)
{
	RuleArgs	a;

	memset(&a, 0, sizeof(a));
	(void) rules_as_owner(&a, true);
}

void
wg_digest_rules_roles_dropped(void)
{
	Oid			relid;
	ErrorData  *edata;

	if (!IsTransactionState() || RecoveryInProgress() || rules_shared == NULL)
		return;
	/* the extension's table only: a planted one is none of our business */
	relid = wg_ext_table(&rules_table);
	if (!OidIsValid(relid) ||
		!ConditionalLockRelationOid(relid, ShareRowExclusiveLock))
		return;
	edata = wg_run_in_subxact(roles_dropped_cb, NULL);
	if (edata == NULL)
		return;
	ereport(WARNING,
			(errcode(edata->sqlerrcode),
			 errmsg("could not delete the digest rules of dropped roles: %s",
					edata->message),
			 errdetail("The rules no longer apply to any role."),
			 errhint("The next call of workload_guard.block_digest(), cap_digest() or unblock_digest() in this database deletes them.")));
	FreeErrorData(edata);
}

/*
 * The columns of digest_rule_counters() and digest_rule_activity_counters():
 * 1.1 appended application_name; the functions fill the columns their SQL
 * declaration has, so a 1.0 database keeps working with this library.
 */
#define RULE_COUNTERS_COLS_1_0	9
#define RULE_COUNTERS_COLS		10
#define RULE_ACTIVITY_COLS_1_0	12	/* a 1.1 beta's */
#define RULE_ACTIVITY_COLS		13

/* the key's columns: queryid (NULL: every digest), and application_name */
static void
counter_key_values(const WgRuleCounters *c, Datum *values, bool *nulls,
				   int app_col)
{
	values[0] = Int64GetDatum((int64) c->key.rule.queryid);
	nulls[0] = (c->key.rule.queryid == 0);
	values[1] = ObjectIdGetDatum(c->key.rule.roleid);
	values[2] = ObjectIdGetDatum(c->key.rule.dbid);
	if (app_col >= 0)
	{
		values[app_col] = CStringGetTextDatum(c->key.rule.appname);
		nulls[app_col] = (c->key.rule.appname[0] == '\0');
	}
}

static int
srf_natts(FunctionCallInfo fcinfo, int natts_old, int natts)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			n = rsinfo->setDesc->natts;

	if (n != natts_old && n != natts)
		elog(ERROR, "%s returns %d columns, expected %d or %d",
			 get_func_name(fcinfo->flinfo->fn_oid), n, natts_old, natts);
	return n;
}

/* the shared counters of this node for this database's rules (blocked_digests) */
PG_FUNCTION_INFO_V1(wg_digest_rule_counters);

Datum
wg_digest_rule_counters(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS seq;
	WgRuleCounters *c;

	int			natts;

	check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	natts = srf_natts(fcinfo, RULE_COUNTERS_COLS_1_0, RULE_COUNTERS_COLS);

	LWLockAcquire(rules_shared->lock, LW_SHARED);
	hash_seq_init(&seq, rules_counters);
	while ((c = hash_seq_search(&seq)) != NULL)
	{
		Datum		values[RULE_COUNTERS_COLS];
		bool		nulls[RULE_COUNTERS_COLS];
		uint64		last = pg_atomic_read_u64(&c->last_hit);

		/* the rules of other databases are not in this database's view */
		if (c->key.tabledb != MyDatabaseId)
			continue;
		memset(nulls, false, sizeof(nulls));
		counter_key_values(c, values, nulls,
						   natts == RULE_COUNTERS_COLS ? RULE_COUNTERS_COLS - 1 : -1);
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

/*
 * The shared counters of this node for this database's rules, with the
 * rate limits' admissions and refusals (digest_rule_activity).
 */
PG_FUNCTION_INFO_V1(wg_digest_rule_activity);

Datum
wg_digest_rule_activity(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS seq;
	WgRuleCounters *c;

	int			natts;

	check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	natts = srf_natts(fcinfo, RULE_ACTIVITY_COLS_1_0, RULE_ACTIVITY_COLS);

	LWLockAcquire(rules_shared->lock, LW_SHARED);
	hash_seq_init(&seq, rules_counters);
	while ((c = hash_seq_search(&seq)) != NULL)
	{
		Datum		values[RULE_ACTIVITY_COLS];
		bool		nulls[RULE_ACTIVITY_COLS];
		uint64		last = pg_atomic_read_u64(&c->last_hit);
		double		observed;

		if (c->key.tabledb != MyDatabaseId)
			continue;
		memset(nulls, false, sizeof(nulls));
		SpinLockAcquire(&c->bucket_lock);
		observed = c->observed;
		SpinLockRelease(&c->bucket_lock);
		counter_key_values(c, values, nulls,
						   natts == RULE_ACTIVITY_COLS ? RULE_ACTIVITY_COLS - 1 : -1);
		values[3] = Int32GetDatum((int32) pg_atomic_read_u32(&c->running));
		values[4] = Int64GetDatum((int64) pg_atomic_read_u64(&c->blocked));
		values[5] = Int64GetDatum((int64) pg_atomic_read_u64(&c->warned));
		values[6] = Int64GetDatum((int64) pg_atomic_read_u64(&c->capped));
		values[7] = Int64GetDatum((int64) pg_atomic_read_u64(&c->limited));
		values[8] = Int64GetDatum((int64) pg_atomic_read_u64(&c->admitted));
		values[9] = Float8GetDatum(observed);
		values[10] = TimestampTzGetDatum((TimestampTz) last);
		nulls[10] = (last == 0);
		values[11] = TimestampTzGetDatum((TimestampTz) pg_atomic_read_u64(&c->rule_created_at));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(rules_shared->lock);
	return (Datum) 0;
}
