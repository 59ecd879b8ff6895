/*-------------------------------------------------------------------------
 *
 * ddl_guard.h
 *	  Schema-change guard (ddl_guard.c) and DDL history (ddl_history.c):
 *	  what the hooks in workload_guard.c call.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WG_DDL_GUARD_H
#define WG_DDL_GUARD_H

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "nodes/plannodes.h"
#include "portability/instr_time.h"
#include "tcop/utility.h"
#include "utils/timestamp.h"

#include "ddl_classify.h"

/*
 * A process that held a lock a DDL gave up waiting for, as recorded: shown
 * (in the error and in ddl_rejections) under pg_stat_activity's rules, so
 * the state, statement start and queryid only to roles that may see them.
 */
typedef enum WgBlockerState
{
	WG_BLOCKER_NO_STATUS = 0,	/* no backend status found */
	WG_BLOCKER_ACTIVE,
	WG_BLOCKER_IDLE_IN_XACT,
	WG_BLOCKER_OTHER
} WgBlockerState;

typedef struct WgBlocker
{
	int			pid;
	Oid			userid;			/* its role (InvalidOid: not a user backend) */
	int			state;			/* WgBlockerState */
	TimestampTz since;			/* its statement's start, 0 if unknown */
	int64		queryid;
} WgBlocker;

#define WG_MAX_BLOCKERS 8

/* One guarded DDL statement in progress (innermost is wg_ddl_current). */
typedef struct WgDdlState
{
	struct WgDdlState *outer;	/* enclosing guarded DDL, if nested */
	MemoryContext mcxt;			/* lives as long as the statement */
	WgDdlClass	cls;
	bool		outermost;		/* owns the timeouts and the lock ticker */
	bool		toplevel;		/* sent by the client (not nested) */
	bool		record;			/* writes a history row (not a subcommand) */
	char	   *statement;		/* this statement's slice of the string */
	char	   *relname;		/* relation the rule is about, for messages */
	TimestampTz started_at;
	instr_time	start;
	Oid			current_user;

	/* policy outcome */
	WgDdlRule	violated;		/* rule broken but allowed (warn or bypass) */
	bool		bypassed;
	WgDdlRule	refused;		/* rule that raised the error, if any */
	bool		rewrote;
	char	   *rewrite_reason;

	/* timeouts (outermost only) */
	int			guc_level;		/* 0 if lock_timeout left alone */
	LocalTransactionId lxid;	/* to notice statements that commit inside */
	int			lock_timeout_ms;	/* effective, for messages */
	bool		stmt_timer;

	/* objects reported by ddl_command_end */
	List	   *obj_types;
	List	   *obj_ids;
} WgDdlState;

extern WgDdlState *wg_ddl_current;

/* settings */
extern int	wg_ddl_history_retention;

extern void wg_ddl_define_gucs(void);
extern void wg_ddl_history_define_gucs(void);
extern void wg_ddl_shmem_request(void);
extern void wg_ddl_shmem_startup(void);

/* ProcessUtility: NULL when the statement is not guarded */
extern WgDdlState *wg_ddl_begin(PlannedStmt *pstmt, const char *queryString,
								ProcessUtilityContext context);
extern void wg_ddl_end(WgDdlState *st);
/* in PG_CATCH: records the failure; may rethrow a clearer error itself */
extern void wg_ddl_error(WgDdlState *st);

/* top-level abort: forget any state an error skipped past */
extern void wg_ddl_xact_abort(void);
/* subtransaction abort: the error being recorded, if any, was caught */
extern void wg_ddl_subxact_abort(void);

/* ddl_history.c */
extern void wg_ddl_history_insert(WgDdlState *st, double duration_ms,
								  double lock_wait_ms);
extern void wg_ddl_reject(WgDdlState *st, int sqlstate, const char *rule,
						  const char *message, const WgBlocker *blockers,
						  int nblockers);

/* ddl_guard.c: "pid 123 (active, ...)", filtered for the current role */
extern void wg_ddl_format_blockers(StringInfo buf, const WgBlocker *blockers,
								   int n, TimestampTz at);

#endif							/* WG_DDL_GUARD_H */
