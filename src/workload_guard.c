/*-------------------------------------------------------------------------
 *
 * workload_guard.c
 *	  Module entry point: GUC definitions, shared memory requests and every
 *	  hook workload_guard installs.
 *
 * This file owns all *_hook variables.  Each hook saves the previous value
 * as prev_X and calls it (or the standard_X function) exactly once; the hook
 * bodies only dispatch into the feature files, which never touch a hook
 * variable themselves.  The order inside each hook is deliberate:
 *
 *	ExecutorStart	policy checks first (a refused statement never starts:
 *					digest_rules.c), then the statement is started, then its
 *					clock.
 *	ExecutorEnd		latency recorded, cap slots given back, then the end.
 *	ExecutorRun/Finish	the execution is marked active while they run.
 *
 * No hook on the path of a plannable statement catches errors (a PG_TRY
 * costs a setjmp per hook and statement).  The planner, ExecutorStart, Run
 * and Finish raise the nesting level around the call and lower it on
 * return; an error unwinds past that, and the level is put right where the
 * error is handled: at the abort of a subtransaction, to the level at which
 * it began (subxact_start_level); after the abort of a transaction, to 0 at
 * the first statement of the next client message (a procedure's ROLLBACK
 * aborts one without an error, and its next statements stay nested).  The
 * failed execution is found active at that abort and recorded there
 * (latency.c, "Failures").
 *	ProcessUtility	DDL rules and timeouts before the statement runs (a
 *					refused statement is neither run nor timed), timing
 *					around it, the DDL history row after it; on error the
 *					latency is recorded first, then the DDL guard records
 *					the rejection (and may rethrow a clearer error).
 *					Disabled-index rules are carried over REINDEX
 *					CONCURRENTLY after it succeeded; the digest rules of
 *					dropped roles are deleted after DROP ROLE.  Digest
 *					rules on the utility's own digest come first of all.
 *	get_relation_info (build_simple_rel from 19)	previous hook first (it
 *					may add hypothetical indexes), then disabled indexes are
 *					removed from the list.
 *
 * Statements workload_guard runs itself (wg_internal_level > 0) are neither
 * timed nor checked against digest rules, in every hook.
 *
 * Where a config cache is consulted (the rule check in ExecutorStart, the
 * index removal in get_relation_info, the start of ProcessUtility) pending
 * invalidations are read first (wg_config_caches_sync, config_cache.h), so
 * that a rule committed elsewhere reaches transactions that take no new
 * lock; the transaction callback marks every such point fresh again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "optimizer/plancat.h"
#include "optimizer/planner.h"
#include "parser/analyze.h"
#include "storage/ipc.h"
#include "tcop/utility.h"
#include "utils/guc.h"

#include "compat.h"
#include "config_cache.h"
#include "ddl_guard.h"
#include "ddl_rejection_counts.h"
#include "index_hide.h"
#include "digest_rules.h"
#include "latency.h"
#include "secrets.h"
#include "workload_guard.h"

PG_MODULE_MAGIC;

int			wg_nesting_level = 0;

/* the nesting level at which each subtransaction began, by its depth */
#define WG_MAX_SUBXACT_DEPTH	256
static int	subxact_start_level[WG_MAX_SUBXACT_DEPTH];

/* a transaction aborted in this message: level 0 again at the next one */
static bool level_resync = false;
static TimestampTz level_resync_msg = 0;

static void
nesting_resync_slow(void)
{
	if (GetCurrentStatementStartTimestamp() != level_resync_msg)
	{
		wg_nesting_level = 0;
		level_resync = false;
	}
}

static inline void
nesting_resync(void)
{
	if (unlikely(level_resync))
		nesting_resync_slow();
}

/* internal sections: depth, and the subtransaction each one began in */
#define WG_MAX_INTERNAL		16
int			wg_internal_level = 0;
static SubTransactionId internal_subxid[WG_MAX_INTERNAL];

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static post_parse_analyze_hook_type prev_post_parse_analyze_hook = NULL;
static planner_hook_type prev_planner_hook = NULL;
static wg_relinfo_hook_type prev_relinfo_hook = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

void		_PG_init(void);

static void wg_shmem_request(void);
static void wg_shmem_startup(void);
static void wg_post_parse_analyze(ParseState *pstate, Query *query,
								  WG_HOOK_JUMBLESTATE *jstate);
static PlannedStmt *wg_planner(WG_PLANNER_ARGS);
static void wg_relation_info(WG_RELINFO_ARGS);
static void wg_ExecutorStart(QueryDesc *queryDesc, int eflags);
static void wg_ExecutorRun(WG_EXECUTORRUN_ARGS);
static void wg_ExecutorFinish(QueryDesc *queryDesc);
static void wg_ExecutorEnd(QueryDesc *queryDesc);
static void wg_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
							  bool readOnlyTree, ProcessUtilityContext context,
							  ParamListInfo params, QueryEnvironment *queryEnv,
							  DestReceiver *dest, QueryCompletion *qc);
static void wg_xact_callback(XactEvent event, void *arg);
static void internal_cleanup(SubTransactionId aborted_subxid);
static void wg_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								SubTransactionId parentSubid, void *arg);

void
_PG_init(void)
{
	/*
	 * Shared memory and the hooks only make sense when preloaded; loaded
	 * later (CREATE EXTENSION without preloading), the SQL functions report
	 * that clearly instead.
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;

	wg_latency_define_gucs();
	wg_ddl_define_gucs();
	wg_index_hide_define_gucs();
	wg_digest_rules_define_gucs();
	MarkGUCPrefixReserved("workload_guard");

	/* queryids as pg_stat_statements and EXPLAIN VERBOSE show them */
	EnableQueryId();

	/* backend-local caches of the config tables (invalidation callbacks) */
	wg_digest_rules_init();

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = wg_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = wg_shmem_startup;
	prev_post_parse_analyze_hook = post_parse_analyze_hook;
	post_parse_analyze_hook = wg_post_parse_analyze;
	prev_planner_hook = planner_hook;
	planner_hook = wg_planner;
	prev_relinfo_hook = wg_relinfo_hook;
	wg_relinfo_hook = wg_relation_info;
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = wg_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = wg_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = wg_ExecutorFinish;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = wg_ExecutorEnd;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = wg_ProcessUtility;

	wg_index_hide_init();

	RegisterXactCallback(wg_xact_callback, NULL);
	RegisterSubXactCallback(wg_subxact_callback, NULL);
}

static void
wg_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();

	wg_latency_shmem_request();
	wg_ddl_shmem_request();
	wg_ddl_counts_shmem_request();
	wg_digest_rules_shmem_request();
}

static void
wg_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	wg_latency_shmem_startup();
	wg_ddl_shmem_startup();
	wg_ddl_counts_shmem_startup();
	wg_digest_rules_shmem_startup();
}

/*
 * Digests for the queries inside DECLARE CURSOR and CREATE TABLE AS, which
 * core leaves at queryid 0 (see digest_rules.c).
 */
static void
wg_post_parse_analyze(ParseState *pstate, Query *query,
					  WG_HOOK_JUMBLESTATE *jstate)
{
	if (prev_post_parse_analyze_hook)
		prev_post_parse_analyze_hook(pstate, query, jstate);

	nesting_resync();
	if (wg_internal_level == 0)
		wg_latency_post_parse_analyze(query, jstate, wg_nesting_level);
	wg_digest_rules_post_parse_analyze(pstate, query);
}

/*
 * Planning is part of the execution that follows it (its start is the
 * statement's, see latency.c); a planning that fails (statement_timeout in
 * a long planning, an error folding constants) is recorded as a failed
 * execution of its own at the abort, since none follows.  The nesting
 * level is raised while planning, since planning can run nested statements
 * (constant folding of SQL functions).
 */
static PlannedStmt *
wg_planner(WG_PLANNER_ARGS)
{
	PlannedStmt *result;
	int			level;
	bool		timed;
	ErrorContextCallback errcb;

	nesting_resync();
	level = wg_nesting_level;
	timed = parse->queryId != WG_NO_QUERYID &&
		wg_latency_enabled(level) && wg_internal_level == 0;
	if (timed)
	{
		wg_latency_plan_begin(parse->queryId, level, query_string,
							  parse->stmt_location, parse->stmt_len);
		wg_latency_watch_errors(&errcb);
	}

	wg_nesting_level = level + 1;
	if (prev_planner_hook)
		result = prev_planner_hook(WG_PLANNER_PASS);
	else
		result = standard_planner(WG_PLANNER_PASS);
	wg_nesting_level = level;

	if (timed)
	{
		wg_latency_unwatch_errors(&errcb);
		wg_latency_plan_end(level);
	}
	return result;
}

/*
 * Disabled indexes are removed after the previous hook ran, so an index it
 * adds (HypoPG's hypothetical ones are skipped by flag) or removes is seen.
 * The hook is get_relation_info_hook up to 18 and build_simple_rel_hook from
 * 19 (compat.h): either way it runs once the relation's index list is built.
 */
static void
wg_relation_info(WG_RELINFO_ARGS)
{
	if (prev_relinfo_hook)
		prev_relinfo_hook(WG_RELINFO_PASS);

	if (WG_RELINFO_IS_RELATION)
		wg_index_hide_relation_info(root, WG_RELINFO_RELID, WG_RELINFO_INH, rel);
}

/*
 * Statements that ExecutorStart runs (a function evaluated for initial
 * partition pruning) are nested: the level is raised around it as well.
 */
static void
wg_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	int			level;
	int			slot = -1;
	ErrorContextCallback errcb;

	/* policy first: a blocked or capped digest never starts */
	wg_digest_rules_check(queryDesc, eflags);

	nesting_resync();
	level = wg_nesting_level;
	if (likely(wg_internal_level == 0))
		slot = wg_latency_executor_starting(queryDesc, eflags, level);
	if (slot >= 0)
		wg_latency_watch_errors(&errcb);

	wg_nesting_level = level + 1;
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
	wg_nesting_level = level;

	if (slot >= 0)
	{
		wg_latency_unwatch_errors(&errcb);
		wg_latency_executor_started(queryDesc, slot);
	}
}

/*
 * ExecutorRun, ExecutorFinish and ExecutorEnd: the execution is active and
 * the level raised while they run; no PG_TRY (see the file header).
 */
typedef struct WgPhase
{
	int			level;			/* the level to go back to */
	int			slot;			/* latency slot, -1: not tracked */
	ErrorContextCallback errcb;
} WgPhase;

static inline void
phase_begin(QueryDesc *queryDesc, WgPhase *ph)
{
	ph->level = wg_nesting_level;
	ph->slot = wg_latency_run_enter(queryDesc);
	if (ph->slot >= 0)
		wg_latency_watch_errors(&ph->errcb);
	wg_nesting_level = ph->level + 1;
}

/* the phase returned: the level back, errors no longer watched */
static inline void
phase_leave(WgPhase *ph)
{
	wg_nesting_level = ph->level;
	if (ph->slot >= 0)
		wg_latency_unwatch_errors(&ph->errcb);
}

static inline void
phase_end(QueryDesc *queryDesc, WgPhase *ph)
{
	phase_leave(ph);
	if (ph->slot >= 0)
		wg_latency_run_exit(queryDesc, ph->slot);
}

static void
wg_ExecutorRun(WG_EXECUTORRUN_ARGS)
{
	WgPhase		ph;

	phase_begin(queryDesc, &ph);
	if (prev_ExecutorRun)
		prev_ExecutorRun(WG_EXECUTORRUN_PASS);
	else
		standard_ExecutorRun(WG_EXECUTORRUN_PASS);
	phase_end(queryDesc, &ph);
}

static void
wg_ExecutorFinish(QueryDesc *queryDesc)
{
	WgPhase		ph;

	/*
	 * A plain SELECT has nothing to finish: no ModifyTable to run to
	 * completion, no AFTER trigger events at its own query level (nested
	 * statements fire theirs in their own ExecutorFinish).
	 */
	if (queryDesc->operation == CMD_SELECT &&
		!queryDesc->plannedstmt->hasModifyingCTE)
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
		return;
	}

	phase_begin(queryDesc, &ph);
	if (prev_ExecutorFinish)
		prev_ExecutorFinish(queryDesc);
	else
		standard_ExecutorFinish(queryDesc);
	phase_end(queryDesc, &ph);
}

static void
wg_ExecutorEnd(QueryDesc *queryDesc)
{
	WgPhase		ph;

	wg_digest_rules_release(queryDesc);

	/* part of the execution: recorded once it has returned */
	phase_begin(queryDesc, &ph);
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
	phase_leave(&ph);
	if (ph.slot >= 0)
		wg_latency_executor_end(queryDesc, ph.slot);
}

/* what wg_ProcessUtility found before the statement, for utility_guarded */
typedef struct WgUtilityState
{
	uint64		queryid;
	int			stmt_location;
	int			stmt_len;
	int			level;
	bool		timed;
	bool		drops_roles;
	List	   *hidden_saved;
	WgDdlState *ddl;
	char	   *rules_token;
} WgUtilityState;

static void utility_guarded(PlannedStmt *pstmt, const char *queryString,
							bool readOnlyTree, ProcessUtilityContext context,
							ParamListInfo params, QueryEnvironment *queryEnv,
							DestReceiver *dest, QueryCompletion *qc,
							const WgUtilityState *st);

static void
wg_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
				  bool readOnlyTree, ProcessUtilityContext context,
				  ParamListInfo params, QueryEnvironment *queryEnv,
				  DestReceiver *dest, QueryCompletion *qc)
{
	WgUtilityState st;
	char		rules_token;	/* its address: this statement's cap slots */
	int			held_before;

	/* pstmt may be freed by the statement (ROLLBACK): copy what we need */
	nesting_resync();
	st.level = wg_nesting_level;
	st.queryid = wg_latency_utility_queryid(pstmt, st.level);
	st.stmt_location = pstmt->stmt_location;
	st.stmt_len = pstmt->stmt_len;
	st.timed = wg_latency_utility_tracked(pstmt, st.queryid, st.level) &&
		wg_internal_level == 0;
	st.drops_roles = IsA(pstmt->utilityStmt, DropRoleStmt);
	st.rules_token = &rules_token;

	/*
	 * A rule or disabled index committed since the last statement: seen by
	 * this statement, and by EXECUTE and EXPLAIN EXECUTE of a cached plan,
	 * which is checked for invalidation before any other hook runs (see
	 * config_cache.c).
	 */
	if (IsTransactionState())
		wg_config_caches_sync(WG_SYNC_UTILITY);

	/*
	 * Digest rules first: a blocked utility never starts.  A cap slot taken
	 * here is given back when the statement ends; should the two calls
	 * below fail, by the abort of the (sub)transaction.
	 */
	held_before = wg_digest_rules_nheld;
	wg_digest_rules_utility_check(pstmt, st.queryid, &rules_token);

	st.hidden_saved = wg_index_hide_utility_before(pstmt);

	/* DDL policy: a refused DDL raises its error here, before it runs */
	st.ddl = wg_ddl_begin(pstmt, queryString, context);

	/*
	 * Nothing to time, no cap slot taken, no DDL and no bookkeeping after
	 * it (EXECUTE, transaction control, SET, ...): nothing to do on the way
	 * out either, so no PG_TRY (about 250 instructions per EXECUTE).
	 */
	if (!st.timed && st.ddl == NULL && st.hidden_saved == NIL &&
		!st.drops_roles && wg_digest_rules_nheld == held_before)
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
		return;
	}
	utility_guarded(pstmt, queryString, readOnlyTree, context, params,
					queryEnv, dest, qc, &st);
}

/*
 * The statement, with what must happen when it ends or fails: its latency,
 * its cap slots, the DDL guard's record, the bookkeeping after it.
 */
static pg_noinline void
utility_guarded(PlannedStmt *pstmt, const char *queryString,
				bool readOnlyTree, ProcessUtilityContext context,
				ParamListInfo params, QueryEnvironment *queryEnv,
				DestReceiver *dest, QueryCompletion *qc,
				const WgUtilityState *st)
{
	uint64		queryid = st->queryid;
	int			stmt_location = st->stmt_location;
	int			stmt_len = st->stmt_len;
	int			level = st->level;
	bool		timed = st->timed;
	WgDdlState *ddl = st->ddl;
	WgRedaction redaction = wg_redaction(timed ? pstmt->utilityStmt : NULL);
	volatile TimestampTz start = 0;

	/*
	 * As in pg_stat_statements, the nesting level is raised only around
	 * timed utilities, so the query run by EXECUTE stays top-level while the
	 * query inside CREATE TABLE AS or EXPLAIN ANALYZE is nested.
	 */
	if (timed)
	{
		start = wg_latency_utility_begin(level);
		wg_nesting_level++;
	}
	PG_TRY();
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_CATCH();
	{
		if (timed)
		{
			wg_nesting_level = level;
			wg_latency_utility_done(queryid, level, &redaction, queryString,
									stmt_location, stmt_len, start, true);
		}
		wg_digest_rules_release(st->rules_token);
		if (ddl)
			wg_ddl_error(ddl);
		PG_RE_THROW();
	}
	PG_END_TRY();
	wg_digest_rules_release(st->rules_token);

	/*
	 * The bookkeeping after the statement (REINDEX carry-over, the DDL
	 * history row) runs SQL of its own: statements nested in the user's,
	 * never top-level ones of their own.
	 */
	wg_nesting_level = level + 1;
	PG_TRY();
	{
		wg_index_hide_utility_after(st->hidden_saved);
		if (st->drops_roles)
			wg_digest_rules_roles_dropped();

		if (timed)
			wg_latency_utility_done(queryid, level, &redaction, queryString,
									stmt_location, stmt_len, start, false);
		if (ddl)
			wg_ddl_end(ddl);
	}
	PG_FINALLY();
	{
		wg_nesting_level = level;
	}
	PG_END_TRY();
}

static void
wg_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			wg_config_caches_xact_end();
			wg_latency_abort(InvalidSubTransactionId, 0);
			level_resync = true;
			level_resync_msg = GetCurrentStatementStartTimestamp();
			wg_ddl_xact_abort();
			wg_digest_rules_xact_cleanup(InvalidSubTransactionId, false);
			internal_cleanup(InvalidSubTransactionId);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
			wg_config_caches_xact_end();

			/*
			 * Every execution of the transaction has ended by now (holdable
			 * portals were persisted, the others dropped), but a portal that
			 * failed inside a subtransaction it did not open (FETCH from an
			 * outer cursor, rolled back to a savepoint) is dropped without
			 * ExecutorEnd: its cap slot would never come back, nor its
			 * latency slot.
			 */
			wg_latency_xact_end();
			if (wg_digest_rules_nheld > 0)
				wg_digest_rules_xact_cleanup(InvalidSubTransactionId, true);
			internal_cleanup(InvalidSubTransactionId);
			break;
		default:
			break;
	}
}

static void
wg_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg)
{
	int			depth = GetCurrentTransactionNestLevel();

	if (event == SUBXACT_EVENT_START_SUB)
	{
		if (depth < WG_MAX_SUBXACT_DEPTH)
			subxact_start_level[depth] = wg_nesting_level;
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		/* the error is handled where the subtransaction began */
		if (depth < WG_MAX_SUBXACT_DEPTH)
		{
			wg_nesting_level = subxact_start_level[depth];
			wg_latency_abort(mySubid, wg_nesting_level);
		}
		else
		{
			/* deeper than we keep: by subtransaction only, level at the next message */
			wg_latency_abort(mySubid, INT_MAX);
			level_resync = true;
			level_resync_msg = GetCurrentStatementStartTimestamp();
		}
		wg_digest_rules_xact_cleanup(mySubid, false);
		wg_ddl_subxact_abort();
		internal_cleanup(mySubid);
	}
}

/* ----------------------------------------------------------------
 * Internal sections (see workload_guard.h)
 * ----------------------------------------------------------------
 */
void
wg_internal_begin(void)
{
	if (wg_internal_level >= WG_MAX_INTERNAL)
		elog(ERROR, "workload_guard internal statements nested too deeply");
	internal_subxid[wg_internal_level++] = GetCurrentSubTransactionId();
}

void
wg_internal_end(void)
{
	if (wg_internal_level > 0)
		wg_internal_level--;
}

/*
 * Close the sections an error left open: those begun in aborted_subxid or a
 * later subtransaction; every one at a top-level commit or abort (no
 * section spans a transaction boundary).
 */
static void
internal_cleanup(SubTransactionId aborted_subxid)
{
	while (wg_internal_level > 0 &&
		   (aborted_subxid == InvalidSubTransactionId ||
			internal_subxid[wg_internal_level - 1] >= aborted_subxid))
		wg_internal_level--;
}
