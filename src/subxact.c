/*-------------------------------------------------------------------------
 *
 * subxact.c
 *	  Bookkeeping that must never fail the user's statement (a history row
 *	  after a DDL, carrying index rules over REINDEX CONCURRENTLY) runs here:
 *	  in an internal subtransaction, so that its error is rolled back alone
 *	  and handed to the caller, who degrades to a WARNING.  The pattern is
 *	  PL/pgSQL's exception block (pl_exec.c, exec_stmt_block).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "subxact.h"

/*
 * Runs fn(arg) in an internal subtransaction.  Returns NULL when it
 * succeeded (the subtransaction is committed into the caller's), or the
 * error it raised, copied into the caller's memory context, after rolling
 * the subtransaction back.  Rolling back also restores the user ID and
 * security context in force when it began.
 */
ErrorData *
wg_run_in_subxact(WgSubxactFn fn, void *arg)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_END_TRY();

	return edata;
}
