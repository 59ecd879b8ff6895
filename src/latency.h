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

/* planner: remember how long planning took for the coming execution */
extern void wg_latency_planned(uint64 queryid, int level, instr_time *duration);
extern void wg_latency_plan_failed(uint64 queryid, int level,
								   const char *queryString,
								   int stmt_location, int stmt_len,
								   instr_time *start);

/* executor: the caller (workload_guard.c) owns the hooks and nesting level */
extern void wg_latency_executor_start(QueryDesc *queryDesc, int eflags, int level);
extern void wg_latency_run_enter(QueryDesc *queryDesc, instr_time *start);
extern void wg_latency_run_exit(QueryDesc *queryDesc, instr_time *start, bool failed);
extern void wg_latency_executor_end(QueryDesc *queryDesc);

/* utility statements, timed as a whole around ProcessUtility */
extern uint64 wg_latency_utility_queryid(PlannedStmt *pstmt, int level);
extern bool wg_latency_utility_tracked(PlannedStmt *pstmt, uint64 queryid, int level);
struct WgRedaction;
extern void wg_latency_utility_done(uint64 queryid, int level,
									const struct WgRedaction *redaction,
									const char *queryString,
									int stmt_location, int stmt_len,
									instr_time *start, bool failed);

/*
 * (Sub)transaction end: forget executions that will never reach
 * ExecutorEnd.  InvalidSubTransactionId means the top-level transaction
 * (commit, prepare or abort); otherwise the subtransaction that aborted.
 */
extern void wg_latency_xact_cleanup(SubTransactionId aborted_subxid);

/*
 * Server time (ns, estimated) recorded for queryid in database dbid over
 * the recent window, whose length in seconds goes to *seconds (time
 * budgets, digest_rules.c).
 */
extern double wg_latency_recent_busy_ns(uint64 queryid, Oid dbid, double *seconds);

#endif							/* WG_LATENCY_H */
