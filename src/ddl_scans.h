/*-------------------------------------------------------------------------
 *
 * ddl_scans.h
 *	  What a schema change would scan, rebuild or lock, from the catalogs
 *	  (ddl_scans.c): the questions ddl_guard.c's rules ask.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WG_DDL_SCANS_H
#define WG_DDL_SCANS_H

#include "nodes/parsenodes.h"

/* created in this transaction (relcache's rd_createSubid) */
extern bool wg_relation_is_new(Oid relid);

/* temporary, or new with every partition and child: blocks nobody */
extern bool wg_relation_private(Oid relid);

/* the key columns of an index of relid's schema, as names (NIL: none) */
extern List *wg_index_key_columns(Oid relid, const char *indexname);

/* the first table (or InvalidOid) these commands make PostgreSQL scan */
extern Oid	wg_attach_scans(RangeVar *parentrv, Oid attachid,
							PartitionBoundSpec *raw);
extern Oid	wg_default_partition_scans(RangeVar *parentrv,
									   PartitionBoundSpec *raw, bool attach);
extern Oid	wg_domain_first_table(Oid domainoid);

/* the first index ALTER COLUMN TYPE rebuilds on relid without a rewrite */
extern Oid	wg_type_change_rebuilds(Oid relid, AlterTableCmd *cmd);

#endif							/* WG_DDL_SCANS_H */
