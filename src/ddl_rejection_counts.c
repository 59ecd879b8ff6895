/*-------------------------------------------------------------------------
 *
 * ddl_rejection_counts.c
 *	  Counters of refused, timed-out and failed DDL per rule, for monitoring:
 *	  the ddl_rejections ring keeps only its last entries, so counts taken
 *	  from it go down when it wraps; these only go down when the server's
 *	  shared memory starts over (start, crash), and ddl_rejection_counts()
 *	  says since when (stats_since).  reset_ddl_rejections() empties the
 *	  ring, not these.
 *
 * One pg_atomic_uint64 per rule name in shared memory, bumped by
 * wg_ddl_reject (ddl_history.c) on the error path of a DDL; no lock.
 * Rule names not in the list (a future rule) count under "other".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "ddl_rejection_counts.h"
#include "workload_guard.h"

/* the rules of ddl_rejections.rule; "other" last */
static const char *const count_rules[] = {
	"rewrite", "validation", "index", "new_table", "lock_timeout",
	"statement_timeout", "concurrently_failed", "history_failed", "error",
	"other"
};

#define NUM_COUNT_RULES ((int) lengthof(count_rules))
#define DDL_REJECTION_COUNTS_COLS 3

typedef struct WgDdlCounts
{
	TimestampTz since;			/* set once, when shared memory starts */
	pg_atomic_uint64 counts[NUM_COUNT_RULES];
} WgDdlCounts;

static WgDdlCounts *ddl_counts = NULL;

void
wg_ddl_counts_shmem_request(void)
{
	RequestAddinShmemSpace(sizeof(WgDdlCounts));
}

void
wg_ddl_counts_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	ddl_counts = ShmemInitStruct("workload_guard ddl rejection counts",
								 sizeof(WgDdlCounts), &found);
	if (!found)
	{
		ddl_counts->since = GetCurrentTimestamp();
		for (int i = 0; i < NUM_COUNT_RULES; i++)
			pg_atomic_init_u64(&ddl_counts->counts[i], 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
wg_ddl_count_rejection(const char *rule)
{
	int			i;

	if (ddl_counts == NULL)
		return;
	for (i = 0; i < NUM_COUNT_RULES - 1; i++)
		if (strcmp(rule, count_rules[i]) == 0)
			break;
	pg_atomic_fetch_add_u64(&ddl_counts->counts[i], 1);
}

/*
 * ddl_rejection_counts(OUT rule text, OUT rejections bigint,
 * OUT stats_since timestamptz): one row per rule, zeros included, so that
 * a monitoring system has every series from the start.
 */
PG_FUNCTION_INFO_V1(wg_ddl_rejection_counts);

Datum
wg_ddl_rejection_counts(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	wg_require_loaded();
	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != DDL_REJECTION_COUNTS_COLS)
		elog(ERROR, "ddl_rejection_counts: expected %d columns, got %d",
			 DDL_REJECTION_COUNTS_COLS, rsinfo->setDesc->natts);
	for (int i = 0; i < NUM_COUNT_RULES; i++)
	{
		Datum		values[DDL_REJECTION_COUNTS_COLS];
		bool		nulls[DDL_REJECTION_COUNTS_COLS] = {false, false, false};

		values[0] = CStringGetTextDatum(count_rules[i]);
		values[1] = Int64GetDatum((int64) pg_atomic_read_u64(&ddl_counts->counts[i]));
		values[2] = TimestampTzGetDatum(ddl_counts->since);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
