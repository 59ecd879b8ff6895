/*-------------------------------------------------------------------------
 *
 * workload_guard.h
 *	  Declarations shared by every workload_guard module.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WORKLOAD_GUARD_H
#define WORKLOAD_GUARD_H

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/*
 * Executor/utility nesting depth of the current backend, maintained by the
 * hooks in workload_guard.c (0 = a statement sent by the client).
 */
extern int	wg_nesting_level;

/*
 * Statements workload_guard runs itself through SPI (rule writes, the DDL
 * history row, disabled-index bookkeeping) are never timed and never subject
 * to digest rules: the hooks skip them while wg_internal_level > 0.  Bracket
 * every such section with wg_internal_begin() and wg_internal_end().  A
 * section an error leaves open is closed by the abort of the (sub)transaction
 * it began in, and every top-level commit or abort closes them all, so a
 * caught error never leaves the session exempt.
 */
extern int	wg_internal_level;
extern void wg_internal_begin(void);
extern void wg_internal_end(void);

/* ERROR unless the library was loaded via shared_preload_libraries */
extern void wg_require_loaded(void);

/*
 * The reason an operator gives for a rule (block_digest, cap_digest,
 * disable_index): at most WG_MAX_REASON characters, checked the same way
 * everywhere.
 */
#define WG_MAX_REASON	1000

static inline void
wg_check_reason(const char *reason)
{
	int			len = pg_mbstrlen(reason);

	if (len > WG_MAX_REASON)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("reason is too long"),
				 errdetail("The reason has %d characters, the most allowed is %d.",
						   len, WG_MAX_REASON)));
}

/* one message for a NULL argument of any function of ours */
static inline void
wg_null_argument(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("argument \"%s\" must not be null", name)));
}

/* "schema"."relation", quoted where needed, for messages and records */
static inline char *
wg_qualified_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

#endif							/* WORKLOAD_GUARD_H */
