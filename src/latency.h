/*-------------------------------------------------------------------------
 *
 * latency.h
 *	  Per-digest latency histograms in shared memory (see latency.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WG_LATENCY_H
#define WG_LATENCY_H

#include "c.h"
#include "executor/execdesc.h"
#include "nodes/plannodes.h"
#include "portability/instr_time.h"
#include "datatype/timestamp.h"
#include "utils/elog.h"

/* workload_guard.track */
typedef enum WgTrackLevel
{
	WG_TRACK_NONE,
	WG_TRACK_TOP,
	WG_TRACK_ALL
} WgTrackLevel;

extern int	wg_track;

/* GUCs, shared memory */
extern void wg_latency_define_gucs(void);
extern void wg_latency_shmem_request(void);
extern void wg_latency_shmem_startup(void);

/* is a statement at this nesting level recorded at all? */
#define wg_latency_enabled(level) \
	(wg_track == WG_TRACK_ALL || (wg_track == WG_TRACK_TOP && (level) == 0))

/* parse analysis: constant locations, for a normalized sample text */
struct JumbleState;
struct Query;
extern void wg_latency_post_parse_analyze(struct Query *query,
										  const struct JumbleState *jstate, int level);

/* planner: when the statement began, for the coming execution */
extern void wg_latency_plan_begin(uint64 queryid, int level, const char *query,
								  int stmt_location, int stmt_len);
extern void wg_latency_plan_end(int level);

/*
 * executor: the caller (workload_guard.c) owns the hooks and nesting level.
 * starting and run_enter return the execution's slot (-1: not tracked) for
 * started, run_exit and (run_enter before ExecutorEnd) executor_end.  No
 * hook catches errors: an execution that fails is found active at the
 * abort (wg_latency_abort).
 */
extern int	wg_latency_executor_starting(QueryDesc *queryDesc, int eflags, int level);
extern void wg_latency_executor_started(QueryDesc *queryDesc, int slot);
extern int	wg_latency_run_enter(QueryDesc *queryDesc);
extern void wg_latency_run_exit(QueryDesc *queryDesc, int slot);
extern void wg_latency_executor_end(QueryDesc *queryDesc, int slot);

/*
 * The code and time of an error raised beneath a hook: an error context
 * callback pushed around the calls the hooks time (cheaper than PG_TRY, and
 * it changes nothing in the error).
 */
extern void wg_latency_error_seen(void *arg);

static inline void
wg_latency_watch_errors(ErrorContextCallback *cb)
{
	cb->callback = wg_latency_error_seen;
	cb->arg = NULL;
	cb->previous = error_context_stack;
	error_context_stack = cb;
}

static inline void
wg_latency_unwatch_errors(ErrorContextCallback *cb)
{
	error_context_stack = cb->previous;
}

/* utility statements, timed as a whole around ProcessUtility */
extern uint64 wg_latency_utility_queryid(PlannedStmt *pstmt, int level);
extern bool wg_latency_utility_tracked(PlannedStmt *pstmt, uint64 queryid, int level);
extern TimestampTz wg_latency_utility_begin(int level);
struct WgRedaction;
extern void wg_latency_utility_done(uint64 queryid, int level,
									const struct WgRedaction *redaction,
									const char *queryString,
									int stmt_location, int stmt_len,
									TimestampTz start, bool failed);

/*
 * Transaction end.  xact_end: committed (or prepared), executions that
 * never reached ExecutorEnd are forgotten.  abort: the transaction
 * (InvalidSubTransactionId) or that subtransaction aborted, and the code
 * handling the error runs at nesting level "level": executions and
 * plannings active at that level or deeper are recorded as failed.
 */
extern void wg_latency_xact_end(void);
extern void wg_latency_abort(SubTransactionId aborted_subxid, int level);

/*
 * Server time (ns, estimated) recorded for queryid in database dbid over
 * the recent window, whose length in seconds goes to *seconds (time
 * budgets, digest_rules.c).
 */
extern double wg_latency_recent_busy_ns(uint64 queryid, Oid dbid, double *seconds);

#endif							/* WG_LATENCY_H */
