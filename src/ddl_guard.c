/*-------------------------------------------------------------------------
 *
 * ddl_guard.c
 *	  Policy and timeouts around schema changes: the rules (no rewrites, no
 *	  long-lock validations, indexes only CONCURRENTLY, optionally no new
 *	  tables), the DDL lock and statement timeouts, and the clear error a
 *	  DDL gets when it gave up waiting for a lock or ran too long.
 *
 * Flow (called from wg_ProcessUtility in workload_guard.c):
 *
 *	wg_ddl_begin	classify (ddl_classify.c); apply the parse-tree rules,
 *					with the catalog-based exemptions; push a WgDdlState;
 *					on the outermost DDL arm the timeouts.
 *	  ...the statement runs; PostgreSQL's table_rewrite event calls
 *	  wg_ddl_table_rewrite (an event trigger the extension script creates,
 *	  ENABLE ALWAYS so session_replication_role = replica does not skip it),
 *	  which applies the rewrite rule with PostgreSQL's own reason; the
 *	  ddl_command_end trigger (ddl_history.c) collects object identities.
 *	wg_ddl_end		disarm, restore, write the history row.
 *	wg_ddl_error	disarm, record the rejection outside the transaction,
 *					turn a timeout into an error that says what happened.
 *
 * Timeouts.  lock_timeout is read by every lock wait, so it is set with
 * GUC_ACTION_SAVE in a GUC nest level of our own, exactly as a function's
 * SET clause does: the value and its source come back exactly at the end,
 * and an error pops the level with the (sub)transaction, which is what makes
 * PL/pgSQL EXCEPTION blocks safe.  statement_timeout, in contrast, is armed
 * once when the client's statement starts; changing it later arms nothing.
 * So the DDL statement timeout is a timeout of our own (RegisterTimeout +
 * enable_timeout_after) whose handler requests a query cancel; the error is
 * rewritten here.  While a DDL runs a 10 ms ticker samples MyProc->waitLock:
 * that measures the time spent waiting for locks and remembers the lock
 * waited for, so that the blockers can be named when the wait is given up
 * (the wait is over by the time the error is caught).  The blocker lookup
 * (GetLockConflicts, backend status) runs only on that error path.
 *
 * CONCURRENTLY operations get no DDL timeouts: they take only locks that do
 * not block reads or writes, they wait for every older transaction by
 * design, and a timeout in the middle leaves an INVALID index behind.  When
 * one fails anyway, the error says an invalid index may remain.
 *
 * State is per backend only (no shared memory here); the rejection ring
 * lives in ddl_history.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "parser/parse_type.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "commands/tablecmds.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/scansup.h"
#include "pgstat.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "catalog/pg_authid.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timeout.h"

#include "compat.h"
#include "ddl_classify.h"
#include "ddl_guard.h"
#include "ddl_scans.h"
#include "secrets.h"
#include "workload_guard.h"

#define WG_TICK_MS 10

typedef enum WgMode
{
	WG_MODE_OFF = 0,
	WG_MODE_WARN,
	WG_MODE_ENFORCE
} WgMode;

static const struct config_enum_entry mode_options[] = {
	{"enforce", WG_MODE_ENFORCE, false},
	{"warn", WG_MODE_WARN, false},
	{"off", WG_MODE_OFF, false},
	{NULL, 0, false}
};

static int	wg_ddl_mode = WG_MODE_ENFORCE;
/* each rule's mode; defaults from wg_ddl_rules[rule].enforced */
static int	wg_rule_mode[WG_NUM_RULES];
static bool wg_ddl_bypass = false;
static int	wg_ddl_lock_timeout = 5000;
static int	wg_ddl_statement_timeout = 0;

WgDdlState *wg_ddl_current = NULL;

/* timeouts of our own, registered on first use */
static TimeoutId stmt_timeout_id = MAX_TIMEOUTS;
static TimeoutId tick_timeout_id = MAX_TIMEOUTS;

/* written by the timeout handlers */
static volatile sig_atomic_t stmt_fired = false;
static volatile sig_atomic_t stmt_fired_waiting = false;
static volatile sig_atomic_t tick_waiting = false;
static volatile int tick_lock_ticks = 0;
static volatile sig_atomic_t tick_have_tag = false;
static LOCKTAG tick_tag;
static LOCKMODE tick_mode;

/*
 * An error already recorded by an inner frame (or by the refusal itself), on
 * its way out through the outer frames.  An error caught by an exception
 * block is over when its subtransaction rolls back (wg_ddl_subxact_abort):
 * the next failure of an enclosing DDL is a new one and must be recorded.
 */
static bool error_recorded = false;

PG_FUNCTION_INFO_V1(wg_ddl_table_rewrite);

void
wg_ddl_define_gucs(void)
{
	DefineCustomEnumVariable("workload_guard.ddl_mode",
							 "Sets how the schema-change rules are applied: enforce, warn or off.",
							 "Caps every rule's own setting: warn turns refusals into warnings, off disables all rules.",
							 &wg_ddl_mode, WG_MODE_ENFORCE, mode_options,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	/* one setting per rule, from the rule table */
	for (int rule = WG_RULE_NONE + 1; rule < WG_NUM_RULES; rule++)
	{
		const WgDdlRuleInfo *info = &wg_ddl_rules[rule];

		wg_rule_mode[rule] = info->enforced ? WG_MODE_ENFORCE : WG_MODE_OFF;
		DefineCustomEnumVariable(psprintf("workload_guard.%s", info->setting),
								 info->description, NULL,
								 &wg_rule_mode[rule], wg_rule_mode[rule],
								 mode_options, PGC_SUSET, 0, NULL, NULL, NULL);
	}
	DefineCustomBoolVariable("workload_guard.ddl_bypass",
							 "Lets schema changes that break a rule run; they are recorded as bypassed.",
							 NULL, &wg_ddl_bypass, false,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("workload_guard.ddl_lock_timeout",
							"Sets the longest time a schema change waits for a lock.",
							"0 uses the caller's lock_timeout; a shorter lock_timeout wins.",
							&wg_ddl_lock_timeout, 5000, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("workload_guard.ddl_statement_timeout",
							"Sets the longest time a schema change may run, lock waits included.",
							"0 uses the caller's statement_timeout; a shorter statement_timeout wins.",
							&wg_ddl_statement_timeout, 0, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	wg_ddl_history_define_gucs();
}

/* ----------------------------------------------------------------
 * Timeout handlers: signal context, only flags and plain copies.
 * ----------------------------------------------------------------
 */
static void
stmt_timeout_handler(void)
{
	stmt_fired = true;
	stmt_fired_waiting = (MyProc != NULL && MyProc->waitLock != NULL);
	InterruptPending = true;
	QueryCancelPending = true;
	SetLatch(MyLatch);
}

static void
tick_handler(void)
{
	LOCK	   *lock;

	if (MyProc == NULL || (lock = MyProc->waitLock) == NULL)
	{
		tick_waiting = false;
		return;
	}
	tick_waiting = true;
	tick_lock_ticks++;
	/* the LOCK cannot go away while we hold a PROCLOCK on it */
	memcpy(&tick_tag, &lock->tag, sizeof(LOCKTAG));
	tick_mode = MyProc->waitLockMode;
	tick_have_tag = true;
}

static void
timers_arm(WgDdlState *st)
{
	if (stmt_timeout_id == MAX_TIMEOUTS)
	{
		stmt_timeout_id = RegisterTimeout(USER_TIMEOUT, stmt_timeout_handler);
		tick_timeout_id = RegisterTimeout(USER_TIMEOUT, tick_handler);
	}
	stmt_fired = stmt_fired_waiting = false;
	tick_waiting = false;
	tick_lock_ticks = 0;
	tick_have_tag = false;

	/* the caller's statement_timeout is running already: shorter wins */
	if (wg_ddl_statement_timeout > 0 &&
		(StatementTimeout == 0 || StatementTimeout > wg_ddl_statement_timeout))
	{
		enable_timeout_after(stmt_timeout_id, wg_ddl_statement_timeout);
		st->stmt_timer = true;
	}
	enable_timeout_every(tick_timeout_id,
						 TimestampTzPlusMilliseconds(GetCurrentTimestamp(), WG_TICK_MS),
						 WG_TICK_MS);
}

static void
timers_disarm(WgDdlState *st)
{
	if (st->stmt_timer)
		disable_timeout(stmt_timeout_id, false);
	disable_timeout(tick_timeout_id, false);
	st->stmt_timer = false;
}

/* ----------------------------------------------------------------
 * Rules
 * ----------------------------------------------------------------
 */
static WgMode
rule_mode(WgDdlRule rule)
{
	int			m = wg_rule_mode[rule];

	return (WgMode) Min(m, wg_ddl_mode);
}

/*
 * Applies a rule the statement breaks: refuse (enforce), warn, or let it run
 * as bypassed.  The refusal is recorded in the rejection ring before the
 * error is raised, since the transaction is about to abort.
 *
 * One format string per message (per rule, with or without the relation's
 * name): RULE_REPORT builds the text recorded in the ring from the same
 * literal the report uses.
 */
#define RULE_REPORT(fmt, ...) \
	do { \
		if (mode == WG_MODE_ENFORCE) \
		{ \
			st->refused = rule; \
			wg_ddl_reject(st, ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED, \
						  info->name, psprintf(_(fmt), __VA_ARGS__), NULL, 0); \
			error_recorded = true; \
		} \
		else \
			st->violated = rule; \
		ereport(mode == WG_MODE_ENFORCE ? ERROR : WARNING, \
				(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED), \
				 errmsg(fmt, __VA_ARGS__), \
				 mode == WG_MODE_ENFORCE ? \
				 errdetail("Refused by workload_guard rule \"%s\" (workload_guard.%s = enforce): %s.", \
						   info->name, info->setting, clause) : \
				 errdetail("Allowed because workload_guard.%s is \"warn\": %s.", \
						   info->setting, clause), \
				 errhint("%s", hint))); \
	} while (0)

static void
apply_rule(WgDdlState *st, WgDdlRule rule, const char *relname,
		   const char *clause, const char *hint)
{
	WgMode		mode = rule_mode(rule);
	const WgDdlRuleInfo *info = &wg_ddl_rules[rule];
	const char *tag = st->cls.tag;

	if (mode == WG_MODE_OFF)
		return;
	if (wg_ddl_bypass)
	{
		st->violated = rule;
		st->bypassed = true;
		return;
	}

	switch (rule)
	{
		case WG_RULE_REWRITE:
			if (relname)
				RULE_REPORT("%s would rewrite table \"%s\"", tag, relname);
			else
				RULE_REPORT("%s would rewrite tables", tag);
			break;
		case WG_RULE_VALIDATION:
			if (relname)
				RULE_REPORT("%s would scan table \"%s\" while holding a lock that blocks writes",
							tag, relname);
			else
				RULE_REPORT("%s would scan tables while holding a lock that blocks writes",
							tag);
			break;
		case WG_RULE_INDEX:
			if (relname)
				RULE_REPORT("%s on \"%s\" without CONCURRENTLY would block writes to the table",
							tag, relname);
			else
				RULE_REPORT("%s would block writes while it rebuilds indexes", tag);
			break;
		case WG_RULE_NEW_TABLE:
			if (relname)
				RULE_REPORT("%s would create table \"%s\"", tag, relname);
			else
				RULE_REPORT("%s would create a table", tag);
			break;
		default:
			elog(ERROR, "unexpected workload_guard rule %d", (int) rule);
	}
}

/*
 * SET NOT NULL scans nothing when the column is NOT NULL already or a
 * validated CHECK constraint proves it (tablecmds.c,
 * NotNullImpliedByRelConstraints): the lightweight path the rule's hint
 * names.  Checked on every table SET NOT NULL recurses to; partitioned
 * tables hold no rows.  No lock is taken (the statement takes its own).
 */
static bool
not_null_proven(Oid relid, List *columns, bool recurse)
{
	List	   *rels = recurse ? find_all_inheritors(relid, NoLock, NULL) :
		list_make1_oid(relid);
	ListCell   *lc;

	foreach(lc, rels)
	{
		Relation	rel = RelationIdGetRelation(lfirst_oid(lc));
		ListCell   *lc2;
		bool		proven = true;

		if (!RelationIsValid(rel))
			return false;
		foreach(lc2, columns)
		{
			AttrNumber	attnum = get_attnum(RelationGetRelid(rel),
											(char *) lfirst(lc2));
			Form_pg_attribute att;
			NullTest   *nt;

			if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
				break;
			if (attnum <= 0)
			{
				proven = false;
				break;
			}
			att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
			if (att->attnotnull)
				continue;
			nt = makeNode(NullTest);
			nt->arg = (Expr *) makeVar(1, attnum, att->atttypid, att->atttypmod,
									   att->attcollation, 0);
			nt->nulltesttype = IS_NOT_NULL;
			nt->argisrow = false;
			nt->location = -1;
			if (!PartConstraintImpliedByRelConstraint(rel, list_make1(nt)))
			{
				proven = false;
				break;
			}
		}
		RelationClose(rel);
		if (!proven)
			return false;
	}
	return true;
}

/*
 * A new partition of a parent with a default partition: the default
 * partition is scanned unless its constraints prove it holds none of the
 * new partition's rows (wg_default_partition_scans).
 */
static void
check_default_partition(WgDdlState *st)
{
	WgDdlClass *c = &st->cls;
	Oid			scanned;

	if (c->parent == NULL || c->partbound == NULL || c->partbound->is_default ||
		rule_mode(WG_RULE_VALIDATION) == WG_MODE_OFF)
		return;
	scanned = wg_default_partition_scans(c->parent, c->partbound, c->attach != NULL);
	if (!OidIsValid(scanned))
		return;
	st->relname = wg_qualified_name(scanned);
	apply_rule(st, WG_RULE_VALIDATION, st->relname,
			   "the default partition is checked for rows that belong to the new partition",
			   "Add a CHECK constraint to the default partition that excludes the new partition's values (NOT VALID, then VALIDATE CONSTRAINT, which does not block writes): PostgreSQL then skips the scan.");
}

/* ALTER COLUMN TYPE on every table it recurses to */
static void
check_type_changes(WgDdlState *st)
{
	WgDdlClass *c = &st->cls;
	Oid			relid;
	List	   *rels;
	ListCell   *lc,
			   *lc2;

	if (c->type_changes == NIL || c->relation == NULL ||
		rule_mode(WG_RULE_INDEX) == WG_MODE_OFF)
		return;
	relid = RangeVarGetRelid(c->relation, NoLock, true);
	if (!OidIsValid(relid))
		return;
	rels = c->relation->inh ? find_all_inheritors(relid, NoLock, NULL) :
		list_make1_oid(relid);
	foreach(lc, c->type_changes)
	{
		foreach(lc2, rels)
		{
			Oid			index = wg_type_change_rebuilds(lfirst_oid(lc2), lfirst(lc));

			if (OidIsValid(index))
			{
				st->relname = wg_qualified_name(lfirst_oid(lc2));
				apply_rule(st, WG_RULE_INDEX, st->relname,
						   psprintf("ALTER COLUMN TYPE rebuilds index \"%s\" under an ACCESS EXCLUSIVE lock (a partial or expression index, or its operator class or collation changes)",
									get_rel_name(index)),
						   "Drop the index with DROP INDEX CONCURRENTLY before the type change and create it again with CREATE INDEX CONCURRENTLY after it, or make the change at a quiet time with workload_guard.ddl_bypass.");
				return;
			}
		}
	}
}

/*
 * The exemptions that need the catalogs, for one relation the statement
 * names: it does not exist (PostgreSQL reports that itself, or IF EXISTS
 * skips it), it (an index's table) is private (relation_private), CREATE
 * INDEX ON ONLY a partitioned table, SET NOT NULL or ADD PRIMARY KEY USING
 * INDEX that needs no scan, ATTACH PARTITION that needs no scan.  Sets
 * st->relname when it exists.
 */
static bool
relation_exempt(WgDdlState *st, RangeVar *rv)
{
	WgDdlClass *c = &st->cls;
	Oid			relid = RangeVarGetRelid(rv, NoLock, true);

	if (!OidIsValid(relid))
		return true;
	st->relname = wg_qualified_name(relid);
	if (c->relation_is_index)
	{
		/* what an index statement locks, scans or rebuilds is its table */
		Oid			tableid = IndexGetRelation(relid, true);

		if (OidIsValid(tableid) && wg_relation_private(tableid))
			return true;
	}
	else if (wg_relation_private(relid))
		return true;
	if (c->on_only && get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE)
		return true;
	if (c->notnull_columns &&
		not_null_proven(relid, c->notnull_columns, rv->inh))
		return true;
	if (c->pk_index)
	{
		List	   *cols = wg_index_key_columns(relid, c->pk_index);

		return cols == NIL || not_null_proven(relid, cols, rv->inh);
	}
	if (c->attach)
		return !OidIsValid(wg_attach_scans(c->parent, relid, c->partbound));
	return false;
}

/*
 * Parse-tree rules, with the exemptions above.  DROP INDEX a, b is exempt
 * only if every index it names is: DROP INDEX IF EXISTS missing, big_idx
 * (or new_idx, big_idx) must not pass.
 */
static void
check_parse_tree_rules(WgDdlState *st)
{
	WgDdlClass *c = &st->cls;
	const char *hint = c->hint;

	check_default_partition(st);
	check_type_changes(st);
	if (c->rule == WG_RULE_NONE)
		return;
	if (c->rule == WG_RULE_NEW_TABLE && creating_extension)
		return;					/* the extension is the reviewed unit */
	if (c->rule == WG_RULE_NEW_TABLE && c->detach)
	{
		/* DETACH PARTITION: a temporary partition stays temporary */
		Oid			relid = RangeVarGetRelid(c->relation, NoLock, true);

		if (OidIsValid(relid) && get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
			return;
	}
	if (c->domain)
	{
		Oid			domainoid = LookupTypeNameOid(NULL, makeTypeNameFromNameList(c->domain), true);
		Oid			table = OidIsValid(domainoid) ? wg_domain_first_table(domainoid) : InvalidOid;

		if (!OidIsValid(table))
			return;				/* no column to check, or no such domain */
		st->relname = wg_qualified_name(table);
	}

	if (c->relation && c->rule != WG_RULE_NEW_TABLE)
	{
		List	   *rels = c->relations ? c->relations : list_make1(c->relation);
		ListCell   *lc;
		bool		exempt = true;

		foreach(lc, rels)
		{
			if (!relation_exempt(st, lfirst(lc)))
			{
				Oid			relid = RangeVarGetRelid(lfirst(lc), NoLock, true);

				/* CONCURRENTLY is no way out there: say what is */
				if (c->rule == WG_RULE_INDEX && c->cmdtag == CMDTAG_DROP_INDEX &&
					get_rel_relkind(relid) == RELKIND_PARTITIONED_INDEX)
					hint = "PostgreSQL cannot drop a partitioned index CONCURRENTLY: drop it at a quiet time with workload_guard.ddl_bypass = on (the lock is taken on every partition).";
				exempt = false;
				break;
			}
		}
		if (exempt)
			return;
	}
	apply_rule(st, c->rule, st->relname, c->clause, hint);
}

static Oid
extension_oid(void)
{
	return get_extension_oid("workload_guard", true);
}

static char *
statement_slice(const char *query, int location, int len)
{
	if (query == NULL)
		return pstrdup("");
	if (location >= 0 && location <= (int) strlen(query))
	{
		query += location;
		if (len <= 0)
			len = strlen(query);
	}
	else
		len = strlen(query);
	while (len > 0 && scanner_isspace(*query))
		query++, len--;
	while (len > 0 && (scanner_isspace(query[len - 1]) || query[len - 1] == ';'))
		len--;
	return pnstrdup(query, len);
}

/*
 * The schema of a table a statement creates.  An unqualified CREATE SCHEMA
 * element is created in the new schema: up to PostgreSQL 18 parse analysis
 * qualifies the element's name with it, 19 leaves it unqualified and relies
 * on the search path CREATE SCHEMA sets for its elements.  Looking the
 * schema up shows the same name on every version.
 */
static const char *
new_table_schema(const WgDdlClass *cls, ProcessUtilityContext context)
{
	RangeVar   *rv = cls->relation;

	if (rv->schemaname != NULL || cls->rule != WG_RULE_NEW_TABLE ||
		cls->temp || context != PROCESS_UTILITY_SUBCOMMAND)
		return rv->schemaname;
	return get_namespace_name(RangeVarGetCreationNamespace(rv));
}

WgDdlState *
wg_ddl_begin(PlannedStmt *pstmt, const char *queryString,
			 ProcessUtilityContext context)
{
	WgDdlClass	cls;
	WgDdlState *st;
	Oid			extoid;

	if (wg_ddl_never_ddl(pstmt->utilityStmt))
		return NULL;

	/* no DDL on a standby, and nothing to look up there */
	if (RecoveryInProgress() || IsParallelWorker() || !IsTransactionState())
		return NULL;

	wg_ddl_classify(pstmt->utilityStmt, &cls);
	if (!cls.is_ddl)
		return NULL;

	/* the guard covers the databases where the extension is installed */
	extoid = extension_oid();
	if (!OidIsValid(extoid))
		return NULL;
	if (creating_extension && CurrentExtensionObject == extoid)
		return NULL;			/* our own script */

	st = palloc0(sizeof(WgDdlState));
	st->mcxt = CurrentMemoryContext;
	st->cls = cls;
	st->toplevel = (context == PROCESS_UTILITY_TOPLEVEL);
	st->record = (context != PROCESS_UTILITY_SUBCOMMAND);
	/* no secret in history or rejections: one rule with latency (secrets.c) */
	st->statement = wg_redact_utility_text(pstmt->utilityStmt,
										   statement_slice(queryString,
														   pstmt->stmt_location,
														   pstmt->stmt_len));
	if (cls.relation)
		st->relname = quote_qualified_identifier(new_table_schema(&cls, context),
												 cls.relation->relname);
	st->current_user = GetUserId();
	st->outermost = (wg_ddl_current == NULL);
	error_recorded = false;

	check_parse_tree_rules(st);

	/* from here on the state is on the stack and must be popped */
	st->outer = wg_ddl_current;
	wg_ddl_current = st;
	st->started_at = GetCurrentTimestamp();
	INSTR_TIME_SET_CURRENT(st->start);

	if (st->outermost && !cls.concurrently)
	{
		int			lock_ms = wg_ddl_lock_timeout;

		st->lock_timeout_ms = LockTimeout;
		if (lock_ms > 0 && (LockTimeout == 0 || LockTimeout > lock_ms))
		{
			char		buf[32];

			snprintf(buf, sizeof(buf), "%d", lock_ms);
			st->lxid = wg_my_lxid();
			st->guc_level = NewGUCNestLevel();
			(void) set_config_option("lock_timeout", buf, PGC_USERSET,
									 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0,
									 false);
			st->lock_timeout_ms = lock_ms;
		}
		timers_arm(st);
	}
	else if (st->outermost)
	{
		/* CONCURRENTLY: no timeouts, but lock waits are still measured */
		timers_arm(st);
		if (st->stmt_timer)
		{
			disable_timeout(stmt_timeout_id, false);
			st->stmt_timer = false;
		}
	}
	return st;
}

static void
pop_state(WgDdlState *st)
{
	wg_ddl_current = st->outer;
	if (st->outermost)
		timers_disarm(st);
}

/*
 * Every guarded statement is popped by wg_ddl_end or wg_ddl_error; this is
 * the safety net for an error raised between wg_ddl_begin and the hook's
 * PG_TRY (by another feature's code).  Only at top-level abort: statements
 * like CREATE INDEX CONCURRENTLY commit inside themselves.
 */
void
wg_ddl_xact_abort(void)
{
	if (wg_ddl_current == NULL)
		return;
	/* the states themselves may be in freed memory: do not look at them */
	if (stmt_timeout_id != MAX_TIMEOUTS)
	{
		disable_timeout(stmt_timeout_id, false);
		disable_timeout(tick_timeout_id, false);
	}
	wg_ddl_current = NULL;
}

void
wg_ddl_subxact_abort(void)
{
	error_recorded = false;
}

void
wg_ddl_end(WgDdlState *st)
{
	instr_time	duration;
	double		lock_wait_ms = 0;

	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, st->start);
	if (st->outermost)
		lock_wait_ms = (double) tick_lock_ticks * WG_TICK_MS;
	pop_state(st);

	/*
	 * The history row first, still under the DDL's lock timeout: the DDL
	 * keeps its locks until the row is written, so a lock held on
	 * ddl_history must not leave it (and every query queued behind it)
	 * waiting without end.  A failure fails the DDL (ddl_history.c); the
	 * abort then pops our GUC level.
	 */
	if (st->record)
		wg_ddl_history_insert(st, INSTR_TIME_GET_MILLISEC(duration),
							  Min(lock_wait_ms, INSTR_TIME_GET_MILLISEC(duration)));

	/*
	 * Restore lock_timeout, unless the statement committed inside itself
	 * (then that commit popped our level already).
	 */
	if (st->guc_level > 0 && wg_my_lxid() == st->lxid)
		AtEOXact_GUC(true, st->guc_level);
	st->guc_level = 0;
}

/*
 * The processes holding the lock the DDL waited for, with what the backend
 * status says of them; at most max.  Called only on the error path.
 */
static int
collect_blockers(WgBlocker *out, int max)
{
	VirtualTransactionId *vxids;
	int			n;
	int			count = 0;

	if (!tick_have_tag)
		return 0;
	vxids = GetLockConflicts(&tick_tag, tick_mode, &n);
	for (int i = 0; i < n && count < max && VirtualTransactionIdIsValid(vxids[i]); i++)
	{
		PGPROC	   *proc = wg_vxid_proc(vxids[i]);
		WgBlocker  *b;
		int			pid;

		if (proc == NULL)
			continue;
		pid = proc->pid;
		b = &out[count++];
		memset(b, 0, sizeof(*b));
		b->pid = pid;
		b->state = WG_BLOCKER_NO_STATUS;
		for (int be = 1; be <= pgstat_fetch_stat_numbackends(); be++)
		{
			LocalPgBackendStatus *l = wg_local_beentry(be);

			if (l == NULL || l->backendStatus.st_procpid != pid)
				continue;
			b->userid = l->backendStatus.st_userid;
			if (l->backendStatus.st_activity_start_timestamp != 0)
			{
				b->state = l->backendStatus.st_state == STATE_RUNNING ? WG_BLOCKER_ACTIVE :
					l->backendStatus.st_state == STATE_IDLEINTRANSACTION ? WG_BLOCKER_IDLE_IN_XACT :
					WG_BLOCKER_OTHER;
				b->since = l->backendStatus.st_activity_start_timestamp;
				b->queryid = (int64) l->backendStatus.st_query_id;
			}
			break;
		}
	}
	return count;
}

/*
 * "pid 123 (active, statement running 4.2 s, queryid 42), ...".  As in
 * pg_stat_activity, every role sees the pid, and the state, statement start
 * and queryid are shown only to members of the blocker's role or of
 * pg_read_all_stats.
 */
void
wg_ddl_format_blockers(StringInfo buf, const WgBlocker *blockers, int n,
					   TimestampTz at)
{
	bool		all_stats = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);

	for (int i = 0; i < n; i++)
	{
		const WgBlocker *b = &blockers[i];

		if (i > 0)
			appendStringInfoString(buf, ", ");
		appendStringInfo(buf, "pid %d", b->pid);
		if (!all_stats && !(OidIsValid(b->userid) &&
							has_privs_of_role(GetUserId(), b->userid)))
			appendStringInfoString(buf, " (insufficient privilege)");
		else if (b->state == WG_BLOCKER_NO_STATUS)
			appendStringInfoString(buf, " (no status)");
		else
			appendStringInfo(buf, " (%s, statement running %.1f s, queryid %lld)",
							 b->state == WG_BLOCKER_ACTIVE ? "active" :
							 b->state == WG_BLOCKER_IDLE_IN_XACT ? "idle in transaction" :
							 "other",
							 (double) (at - b->since) / 1000000.0,
							 (long long) b->queryid);
	}
}

#define LOCK_WAIT_REL_MSG "%s gave up waiting for a lock on \"%s\" after %d ms (%s)"
#define LOCK_WAIT_MSG "%s gave up waiting for a lock after %d ms (%s)"
#define RAN_TOO_LONG_MSG "%s ran longer than %s (%d ms)"
#define LOCK_WAIT_DETAIL "The statement was waiting for a lock, not running. Blocking processes: %s."
#define LOCK_WAIT_HINT "Retry when the blocking sessions have finished (see pg_stat_activity); a schema change waiting for its lock blocks every later query on the table."

void
wg_ddl_error(WgDdlState *st)
{
	MemoryContext oldcxt;
	ErrorData  *edata;
	bool		lock_wait = false;
	bool		ran_too_long = false;
	const char *setting = NULL;
	int			limit_ms = 0;
	bool		fired = stmt_fired,
				fired_waiting = stmt_fired_waiting,
				was_waiting = tick_waiting;

	pop_state(st);

	oldcxt = MemoryContextSwitchTo(st->mcxt);
	edata = CopyErrorData();

	if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE && edata->message_id &&
		strcmp(edata->message_id, "canceling statement due to lock timeout") == 0)
	{
		lock_wait = true;
		limit_ms = LockTimeout;	/* still ours until the abort pops it */
		setting = (st->guc_level > 0) ? "workload_guard.ddl_lock_timeout" : "lock_timeout";
	}
	else if (st->outermost && fired && edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
	{
		limit_ms = wg_ddl_statement_timeout;
		setting = "workload_guard.ddl_statement_timeout";
		lock_wait = fired_waiting;
		ran_too_long = !fired_waiting;
	}
	else if (st->outermost && edata->sqlerrcode == ERRCODE_QUERY_CANCELED &&
			 edata->message_id &&
			 strcmp(edata->message_id, "canceling statement due to statement timeout") == 0)
	{
		limit_ms = StatementTimeout;
		setting = "statement_timeout";
		lock_wait = was_waiting;
		ran_too_long = !was_waiting;
	}

	if (lock_wait || ran_too_long)
	{
		/*
		 * A new error that says what happened, in place of core's cancel:
		 * one format string per message, recorded from the same literal.
		 */
		WgBlocker	blockers[WG_MAX_BLOCKERS];
		int			nblockers = lock_wait ? collect_blockers(blockers, WG_MAX_BLOCKERS) : 0;
		const char *tag = st->cls.tag;
		const char *rel = st->relname;
		char	   *msg;
		StringInfoData shown;

		FlushErrorState();
		FreeErrorData(edata);
		MemoryContextSwitchTo(oldcxt);
		if (lock_wait && rel)
			msg = psprintf(_(LOCK_WAIT_REL_MSG), tag, rel, limit_ms, setting);
		else if (lock_wait)
			msg = psprintf(_(LOCK_WAIT_MSG), tag, limit_ms, setting);
		else
			msg = psprintf(_(RAN_TOO_LONG_MSG), tag, setting, limit_ms);
		if (!error_recorded)
			wg_ddl_reject(st, lock_wait ? ERRCODE_LOCK_NOT_AVAILABLE : ERRCODE_QUERY_CANCELED,
						  lock_wait ? "lock_timeout" : "statement_timeout",
						  msg, blockers, nblockers);
		error_recorded = true;

		if (!lock_wait)
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg(RAN_TOO_LONG_MSG, tag, setting, limit_ms),
					 errdetail("The statement held its locks and was running, not waiting for a lock, when it was canceled.")));
		initStringInfo(&shown);
		wg_ddl_format_blockers(&shown, blockers, nblockers, GetCurrentTimestamp());
		if (rel)
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg(LOCK_WAIT_REL_MSG, tag, rel, limit_ms, setting),
					 errdetail(LOCK_WAIT_DETAIL, nblockers > 0 ? shown.data : "unknown"),
					 errhint(LOCK_WAIT_HINT)));
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg(LOCK_WAIT_MSG, tag, limit_ms, setting),
				 errdetail(LOCK_WAIT_DETAIL, nblockers > 0 ? shown.data : "unknown"),
				 errhint(LOCK_WAIT_HINT)));
	}

	if (st->cls.concurrently &&
		(st->cls.cmdtag == CMDTAG_CREATE_INDEX || st->cls.cmdtag == CMDTAG_REINDEX) &&
		edata->sqlerrcode != ERRCODE_SYNTAX_ERROR)
	{
		/* never leave an invalid index behind silently */
		FlushErrorState();
		edata->hint = psprintf("%s%s%s CONCURRENTLY may have left an INVALID index behind: check pg_index.indisvalid, then drop it with DROP INDEX CONCURRENTLY or rebuild it with REINDEX INDEX CONCURRENTLY.",
							   edata->hint ? edata->hint : "",
							   edata->hint ? " " : "", st->cls.tag);
		if (!error_recorded)
			wg_ddl_reject(st, edata->sqlerrcode, "concurrently_failed",
						  edata->message, NULL, 0);
		error_recorded = true;
		MemoryContextSwitchTo(oldcxt);
		ReThrowError(edata);
	}

	if (!error_recorded)
		wg_ddl_reject(st, edata->sqlerrcode,
					  st->refused != WG_RULE_NONE ? wg_ddl_rule_name(st->refused) : "error",
					  edata->message, NULL, 0);
	error_recorded = true;
	FreeErrorData(edata);
	MemoryContextSwitchTo(oldcxt);
}

/* ----------------------------------------------------------------
 * table_rewrite event trigger: PostgreSQL's own decision that a table is
 * about to be rewritten, before any data is copied.
 * ----------------------------------------------------------------
 */
static void
rewrite_reason(int reason, const char **clause, const char **hint)
{
	if (reason & AT_REWRITE_COLUMN_REWRITE)
	{
		*clause = "the column type change rewrites every row";
		*hint = "Add a new column of the new type, backfill it in batches and switch over; binary-compatible changes such as widening a varchar do not rewrite.";
	}
	else if (reason & AT_REWRITE_DEFAULT_VAL)
	{
		*clause = "a volatile default (or a stored generated or identity column) must be computed for every row";
		*hint = "Add the column without a default, then ALTER COLUMN ... SET DEFAULT and backfill existing rows in batches; a constant default does not rewrite.";
	}
	else if (reason & AT_REWRITE_ALTER_PERSISTENCE)
	{
		*clause = "SET LOGGED or SET UNLOGGED copies the table";
		*hint = "Create the table with the persistence it needs, or copy the data into a new table in batches and switch over.";
	}
	else
	{
		*clause = "SET ACCESS METHOD copies the table";
		*hint = "Copy the data into a new table with the new access method in batches and switch over.";
	}
}

static Datum
call_noarg(PGFunction fn)
{
	LOCAL_FCINFO(fcinfo, 0);

	InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	return fn(fcinfo);
}

Datum
wg_ddl_table_rewrite(PG_FUNCTION_ARGS)
{
	WgDdlState *st = wg_ddl_current;
	Oid			relid;
	int			reason;
	const char *clause,
			   *hint;
	char	   *relname;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by the event trigger manager",
						"ddl_table_rewrite")));
	if (st == NULL)
		PG_RETURN_VOID();		/* not guarded here (our own script, ...) */

	relid = DatumGetObjectId(call_noarg(pg_event_trigger_table_rewrite_oid));
	reason = DatumGetInt32(call_noarg(pg_event_trigger_table_rewrite_reason));
	rewrite_reason(reason, &clause, &hint);

	if (!st->rewrote)
	{
		MemoryContext old = MemoryContextSwitchTo(st->mcxt);

		st->rewrote = true;
		st->rewrite_reason = pstrdup(clause);
		MemoryContextSwitchTo(old);
	}
	if (wg_relation_is_new(relid) || get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		PG_RETURN_VOID();		/* nobody else can be waiting for it */

	relname = wg_qualified_name(relid);
	st->relname = MemoryContextStrdup(st->mcxt, relname);
	apply_rule(st, WG_RULE_REWRITE, relname, clause, hint);
	PG_RETURN_VOID();
}
