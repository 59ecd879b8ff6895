/*-------------------------------------------------------------------------
 *
 * ext_objects.h
 *	  What belongs to the extension: the verified OIDs of workload_guard's
 *	  own tables and functions, and running SQL as the owner of one of its
 *	  tables (see ext_objects.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WG_EXT_OBJECTS_H
#define WG_EXT_OBJECTS_H

#include "access/tupdesc.h"

/* one column a reader of the table relies on, in attribute order */
typedef struct WgExtColumn
{
	const char *name;
	Oid			type;
} WgExtColumn;

/* a table of the extension, in schema workload_guard, and its shape */
typedef struct WgExtTable
{
	const char *relname;
	/* every column, in order; ncolumns 0: the shape is not checked */
	const WgExtColumn *columns;
	int			ncolumns;
	/* > 0: an earlier version's table may end after this many columns */
	int			ncolumns_min;
} WgExtTable;

/* OID of extension workload_guard in this database; InvalidOid: none */
extern Oid	wg_ext_oid(void);

/*
 * The OID of our table t, verified: schema workload_guard holds a table of
 * that name, pg_depend records it as a member of the extension, and its
 * columns (every one, none dropped) have the names and types of t.
 * InvalidOid otherwise: extension not created here, or the table is
 * someone else's.  Catalog access; never raises an error of its own.
 */
extern Oid	wg_ext_table(const WgExtTable *t);

/* the same, for a management function: an error instead of InvalidOid */
extern Oid	wg_ext_table_required(const WgExtTable *t);

/* the same check of a tuple descriptor (after the table was locked) */
extern bool wg_ext_tupdesc_matches(const WgExtTable *t, TupleDesc desc);

/* is the object a member of the extension (pg_depend, deptype 'e')? */
extern bool wg_ext_owns(Oid classid, Oid objid);

/*
 * The OID of our function workload_guard.name(argtypes), verified as a
 * member of the extension; InvalidOid otherwise.
 */
extern Oid	wg_ext_function(const char *name, int nargs, const Oid *argtypes);

/*
 * Run fn(arg) as the owner of our table relid (an OID from wg_ext_table):
 * with SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION, with
 * search_path pinned to "pg_catalog, pg_temp" (as RestrictSearchPath does)
 * and as an internal section (wg_internal_begin: its statements are neither
 * timed nor subject to digest rules).
 * fn does its own SPI_connect/SPI_finish.  An error propagates; the
 * identity and the GUC level are then restored by the (sub)transaction
 * abort that must follow, as for a SECURITY DEFINER function.
 */
extern void wg_run_as_owner(Oid relid, void (*fn) (void *arg), void *arg);

/*
 * SPI_execute_with_args (not read-only, no row limit) that raises an error
 * unless the result code is expected; returns SPI_processed.
 */
extern uint64 wg_spi_exec(const char *sql, int nargs, Oid *types,
						  Datum *values, const char *nulls, int expected);

#endif							/* WG_EXT_OBJECTS_H */
