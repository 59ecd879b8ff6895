/*-------------------------------------------------------------------------
 *
 * index_hide.h
 *	  Soft-disabled indexes: hidden from the planner, still maintained
 *	  (see index_hide.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WG_INDEX_HIDE_H
#define WG_INDEX_HIDE_H

#include "nodes/pathnodes.h"
#include "nodes/pg_list.h"
#include "nodes/plannodes.h"

/* workload_guard.ignore_disabled_indexes */
extern bool wg_ignore_disabled_indexes;

/* _PG_init: GUCs and the relcache callback that drops the backend cache */
extern void wg_index_hide_define_gucs(void);
extern void wg_index_hide_init(void);

/* get_relation_info_hook: remove disabled indexes from rel->indexlist */
extern void wg_index_hide_relation_info(PlannerInfo *root, Oid relationObjectId,
										bool inhparent, RelOptInfo *rel);

/*
 * ProcessUtility: REINDEX CONCURRENTLY gives each rebuilt index a new OID.
 * _before remembers the disabled indexes' names (NIL when the statement is
 * something else or no rule exists), _after moves their rules to the new
 * OIDs once the statement succeeded.
 */
extern List *wg_index_hide_utility_before(PlannedStmt *pstmt);
extern void wg_index_hide_utility_after(List *saved);

#endif							/* WG_INDEX_HIDE_H */
