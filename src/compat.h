/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Every PostgreSQL-version difference workload_guard depends on.
 *
 * One tree builds against PostgreSQL 15 to 19.  Anything that changed between
 * major versions is wrapped here, once, with the upstream change it follows,
 * so that the feature files never test PG_VERSION_NUM themselves and call
 * version-neutral helpers instead (TimescaleDB's src/compat/compat.h is the
 * model; HypoPG's scattered #ifs are the warning).  Rules:
 *
 *	- a shim is named for what it does (wg_vxid_proc), not for a version;
 *	- each cites the upstream commit, or, where none could be pinned down
 *	  from the sources at hand, the header that shows the new API;
 *	- behaviour differences (not just spelling) are described in README
 *	  "Supported versions", and the tests are the same on every version.
 *
 * Tested on 15, 17, 18 and 19 ("make test-all"); 16 builds through the same
 * shims but no 16 server is at hand to test it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WG_COMPAT_H
#define WG_COMPAT_H

#include "postgres.h"

#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "optimizer/pathnode.h"
#include "optimizer/plancat.h"
#include "optimizer/planner.h"
#include "portability/instr_time.h"
#include "storage/proc.h"
#include "utils/backend_status.h"
#include "utils/hsearch.h"

#if PG_VERSION_NUM < 150000
#error "workload_guard requires PostgreSQL 15 or later"
#endif
#if PG_VERSION_NUM >= 200000
#error "workload_guard has not been ported to PostgreSQL 20 yet: see src/compat.h"
#endif

/* ----------------------------------------------------------------
 * PostgreSQL 16
 * ----------------------------------------------------------------
 */

/*
 * Nanoseconds from an instr_time.  PostgreSQL 16 (commit 03023a2664) made
 * instr_time an int64 nanosecond tick count and added INSTR_TIME_GET_NANOSEC;
 * in 15 it is a struct timespec (or LARGE_INTEGER on Windows).
 */
#ifndef INSTR_TIME_GET_NANOSEC
#ifdef WIN32
#define INSTR_TIME_GET_NANOSEC(t) \
	((uint64) (((double) (t).QuadPart * 1000000000.0) / GetTimerFrequency()))
#else
#define INSTR_TIME_GET_NANOSEC(t) \
	(((uint64) (t).tv_sec * UINT64CONST(1000000000)) + (uint64) (t).tv_nsec)
#endif
#endif

/*
 * Query jumbling moved from utils/misc/queryjumble.h to nodes/queryjumble.h
 * in PostgreSQL 16 (commit 3db72ebcbe, generated jumbling functions), where
 * JumbleQuery() takes no query text any more (17's and later headers show
 * the one-argument form; 16 is not tested here).
 */
#if PG_VERSION_NUM >= 160000
#include "nodes/queryjumble.h"
#define wg_jumble_query(query, text)	JumbleQuery(query)
#else
#include "utils/queryjumble.h"
#define wg_jumble_query(query, text)	JumbleQuery(query, text)
#endif

/*
 * The idx-th entry (1-based) of this backend's snapshot of the backend
 * status array: pgstat_fetch_stat_local_beentry() was renamed
 * pgstat_get_local_beentry_by_index() in PostgreSQL 16 (commit 8dfa37b797),
 * when the "beid" functions were split into by-index and by-id lookups.
 */
#if PG_VERSION_NUM >= 160000
#define wg_local_beentry(idx)	pgstat_get_local_beentry_by_index(idx)
#else
#define wg_local_beentry(idx)	pgstat_fetch_stat_local_beentry(idx)
#endif

/* ----------------------------------------------------------------
 * PostgreSQL 17
 * ----------------------------------------------------------------
 */

/*
 * This backend's local transaction id, and the PGPROC behind a virtual
 * transaction id.  PostgreSQL 17 moved PGPROC.lxid into PGPROC.vxid.lxid
 * (commit ab355e3a88, "Redefine backend ID to be an index into the proc
 * array") and replaced BackendIds by 0-based ProcNumbers: vxid.backendId
 * became vxid.procNumber and BackendIdGetProc() ProcNumberGetProc() (commit
 * 024c521117).
 */
#if PG_VERSION_NUM >= 170000
#include "storage/procarray.h"
#define wg_my_lxid()			(MyProc->vxid.lxid)
#define wg_vxid_proc(vxid)		ProcNumberGetProc((vxid).procNumber)
#else
#include "storage/sinvaladt.h"
#define wg_my_lxid()			(MyProc->lxid)
#define wg_vxid_proc(vxid)		BackendIdGetProc((vxid).backendId)
#endif

/* ----------------------------------------------------------------
 * PostgreSQL 18
 * ----------------------------------------------------------------
 */

/*
 * The type of Query.queryId / PlannedStmt.queryId: uint64 up to 17, int64
 * from PostgreSQL 18 (commit c3eda50b06, "Use int64 instead of uint64 for
 * query IDs"; SQL always showed them as bigint).  Our shared tables keep
 * their own uint64 keys (the bits are the same); this type is for values
 * read from or compared with core's fields.
 */
#if PG_VERSION_NUM >= 180000
typedef int64 WgQueryId;
#else
typedef uint64 WgQueryId;
#endif
#define WG_NO_QUERYID	((WgQueryId) 0)

/*
 * What a recorded location of JumbleState.clocations is.  From PostgreSQL 18
 * the jumble records a list of constants as one squashed location covering
 * the list (commits 62d712ecf, c2da1a5d6: "IN (1, 2, 3)" and "IN (1, 2)"
 * share a queryid), and PARAM_EXTERN parameters too (LocationLen.squashed,
 * .extern_param).  A normalizer writes a squashed list as one $n followed by
 * a ", ... " comment, as pg_stat_statements does, and leaves parameters as
 * written.
 */
#if PG_VERSION_NUM >= 180000
#define wg_location_is_param(loc)		((loc)->extern_param)
#define wg_location_is_squashed(loc)	((loc)->squashed)
#else
#define wg_location_is_param(loc)		false
#define wg_location_is_squashed(loc)	false
#endif

/*
 * ExecutorRun lost its execute_once argument in PostgreSQL 18 (commit
 * 3eea7a0c97).  ExecutorStart_hook still returns void in 18 and 19
 * (executor/executor.h): commit 525392d572 made it return bool during 18's
 * development, and that was reverted before the release.  ProcessUtility has
 * been stable since 14.
 */
#if PG_VERSION_NUM >= 180000
#define WG_EXECUTORRUN_ARGS QueryDesc *queryDesc, ScanDirection direction, uint64 count
#define WG_EXECUTORRUN_PASS queryDesc, direction, count
#else
#define WG_EXECUTORRUN_ARGS QueryDesc *queryDesc, ScanDirection direction, uint64 count, bool execute_once
#define WG_EXECUTORRUN_PASS queryDesc, direction, count, execute_once
#endif

/* ----------------------------------------------------------------
 * PostgreSQL 19
 *
 * No commit is cited where the 19 sources were not at hand (Debian ships
 * 19rc1's headers only): the header named shows the API used.
 * ----------------------------------------------------------------
 */

/*
 * planner_hook and standard_planner() gained an ExplainState argument in
 * PostgreSQL 19 (commit c83ac02, optimizer/planner.h), so that EXPLAIN
 * options reach planner extensions.
 */
#if PG_VERSION_NUM >= 190000
#define WG_PLANNER_ARGS Query *parse, const char *query_string, int cursorOptions, \
	ParamListInfo boundParams, ExplainState *es
#define WG_PLANNER_PASS parse, query_string, cursorOptions, boundParams, es
#else
#define WG_PLANNER_ARGS Query *parse, const char *query_string, int cursorOptions, \
	ParamListInfo boundParams
#define WG_PLANNER_PASS parse, query_string, cursorOptions, boundParams
#endif

/*
 * post_parse_analyze_hook receives a const JumbleState from PostgreSQL 19
 * (parser/analyze.h).  Our readers never write it, so they take a const
 * pointer on every version; only the hook's own signature differs.
 */
#if PG_VERSION_NUM >= 190000
#define WG_HOOK_JUMBLESTATE const JumbleState
#else
#define WG_HOOK_JUMBLESTATE JumbleState
#endif

/*
 * The planner's per-relation hook.  get_relation_info_hook (called at the
 * end of get_relation_info(), with the relation's OID and whether it is an
 * inheritance parent) is gone in PostgreSQL 19 in favour of
 * build_simple_rel_hook (optimizer/pathnode.h), called by build_simple_rel()
 * for every base relation once get_relation_info() has filled in its index
 * list.  The OID and the inheritance flag are the RTE's, as build_simple_rel()
 * passes them to get_relation_info(); RTEs other than plain relations never
 * reached get_relation_info() and are skipped.
 *
 *	WG_RELINFO_ARGS / _PASS		the hook's parameters, to declare and forward
 *	WG_RELINFO_IS_RELATION		whether get_relation_info() ran for it
 *	WG_RELINFO_RELID / _INH		what get_relation_info() was given
 */
#if PG_VERSION_NUM >= 190000
typedef build_simple_rel_hook_type wg_relinfo_hook_type;
#define wg_relinfo_hook			build_simple_rel_hook
#define WG_RELINFO_ARGS PlannerInfo *root, RelOptInfo *rel, RangeTblEntry *rte
#define WG_RELINFO_PASS root, rel, rte
#define WG_RELINFO_IS_RELATION	(rte->rtekind == RTE_RELATION)
#define WG_RELINFO_RELID		(rte->relid)
#define WG_RELINFO_INH			(rte->inh)
#else
typedef get_relation_info_hook_type wg_relinfo_hook_type;
#define wg_relinfo_hook			get_relation_info_hook
#define WG_RELINFO_ARGS PlannerInfo *root, Oid relationObjectId, bool inhparent, RelOptInfo *rel
#define WG_RELINFO_PASS root, relationObjectId, inhparent, rel
#define WG_RELINFO_IS_RELATION	true
#define WG_RELINFO_RELID		relationObjectId
#define WG_RELINFO_INH			inhparent
#endif

/*
 * A plain sequential scan of a table: table_beginscan() takes a ScanOptions
 * flags argument from PostgreSQL 19 (access/tableam.h).
 */
#if PG_VERSION_NUM >= 190000
#define wg_table_beginscan(rel, snap)	table_beginscan(rel, snap, 0, NULL, SO_NONE)
#else
#define wg_table_beginscan(rel, snap)	table_beginscan(rel, snap, 0, NULL)
#endif

/*
 * A fixed-size shared hash table: ShmemInitHash() lost its separate initial
 * size in PostgreSQL 19 (storage/shmem.h); ours were always created at their
 * maximum size.
 */
#if PG_VERSION_NUM >= 190000
#define wg_shmem_init_hash(name, nelems, info, flags) \
	ShmemInitHash(name, nelems, info, flags)
#else
#define wg_shmem_init_hash(name, nelems, info, flags) \
	ShmemInitHash(name, nelems, nelems, info, flags)
#endif

/*
 * The result relations (INSERT/UPDATE/DELETE/MERGE targets) of a plan, as
 * range-table indexes: PlannedStmt.resultRelations (an integer List) became
 * the Bitmapset resultRelationRelids in PostgreSQL 19 (nodes/plannodes.h).
 * Iterate without allocating (this runs in ExecutorStart):
 *
 *		int		state = -1, rti;
 *		while ((rti = wg_next_result_relation(ps, &state)) > 0) ...
 */
static inline int
wg_next_result_relation(PlannedStmt *ps, int *state)
{
#if PG_VERSION_NUM >= 190000
	*state = bms_next_member(ps->resultRelationRelids, *state);
	return *state >= 0 ? *state : 0;
#else
	(*state)++;
	return *state < list_length(ps->resultRelations) ?
		list_nth_int(ps->resultRelations, *state) : 0;
#endif
}

/*
 * VACUUM, CLUSTER and REPACK: the maintenance commands that may rewrite a
 * whole table.  Up to 18 they are VacuumStmt (a rewrite with the FULL option)
 * and ClusterStmt; PostgreSQL 19 parses CLUSTER, VACUUM FULL and its new
 * REPACK command into one RepackStmt (nodes/parsenodes.h: RepackCommand).
 * Returns which one the statement is (WG_REWRITE_NONE for anything else,
 * ANALYZE included), sets *relation to the table it names (NULL: every
 * table) and *options to its option list (DefElems: FULL, CONCURRENTLY),
 * which the caller reads as the command does.  The caller reports CLUSTER
 * and VACUUM FULL under the same command tag on every version.
 */
typedef enum WgRewriteCommand
{
	WG_REWRITE_NONE = 0,
	WG_REWRITE_VACUUM,			/* VACUUM: a rewrite if FULL */
	WG_REWRITE_VACUUM_FULL,
	WG_REWRITE_CLUSTER,
	WG_REWRITE_REPACK,
} WgRewriteCommand;

static inline WgRewriteCommand
wg_rewrite_command(Node *parsetree, RangeVar **relation, List **options)
{
	*relation = NULL;
	*options = NIL;
	if (IsA(parsetree, VacuumStmt))
	{
		VacuumStmt *stmt = (VacuumStmt *) parsetree;

		if (!stmt->is_vacuumcmd)
			return WG_REWRITE_NONE;
		if (stmt->rels)
			*relation = linitial_node(VacuumRelation, stmt->rels)->relation;
		*options = stmt->options;
		return WG_REWRITE_VACUUM;
	}
#if PG_VERSION_NUM >= 190000
	if (IsA(parsetree, RepackStmt))
	{
		RepackStmt *stmt = (RepackStmt *) parsetree;

		if (stmt->relation)
			*relation = stmt->relation->relation;
		*options = stmt->params;
		switch (stmt->command)
		{
			case REPACK_COMMAND_CLUSTER:
				return WG_REWRITE_CLUSTER;
			case REPACK_COMMAND_VACUUMFULL:
				return WG_REWRITE_VACUUM_FULL;
			case REPACK_COMMAND_REPACK:
				break;
		}
		return WG_REWRITE_REPACK;
	}
#else
	if (IsA(parsetree, ClusterStmt))
	{
		*relation = ((ClusterStmt *) parsetree)->relation;
		return WG_REWRITE_CLUSTER;
	}
#endif
	return WG_REWRITE_NONE;
}

/*
 * The lexer settings a statement was parsed under, to scan its text again
 * later (normalize.c).  PostgreSQL 19 removed standard_conforming_strings =
 * off and escape_string_warning (parser/scanner.h: core_yy_extra_type keeps
 * only backslash_quote): strings are always standard there.
 */
#if PG_VERSION_NUM >= 190000
#define wg_standard_conforming_strings()	true
#define wg_scanner_set_strings(yyextra, standard) ((void) (standard))
#else
#include "parser/parser.h"
#define wg_standard_conforming_strings()	standard_conforming_strings
#define wg_scanner_set_strings(yyextra, standard) \
	((yyextra).escape_string_warning = false, \
	 (yyextra).standard_conforming_strings = (standard))
#endif

/* ----------------------------------------------------------------
 * Shims added by other concerns go below, one block each, with the upstream
 * change they follow.
 * ----------------------------------------------------------------
 */

/* ---- ddl: shims for the DDL guard (src/ddl_guard.c) ---- */

/*
 * DomainHasConstraints() gained an output argument, has_volatile, in
 * PostgreSQL 19 (utils/typcache.h); NULL asks only whether there are any.
 */
#if PG_VERSION_NUM >= 190000
#define WG_DOMAIN_HAS_CONSTRAINTS(typid) DomainHasConstraints((typid), NULL)
#else
#define WG_DOMAIN_HAS_CONSTRAINTS(typid) DomainHasConstraints(typid)
#endif

/* ---- latency: the recorder's per-backend areas (src/latency_pending.c) ---- */

/*
 * The index of this backend's PGPROC: PGPROC.pgprocno up to 16, the global
 * MyProcNumber from 17 (commit 024c521117, "Replace BackendIds with
 * 0-based ProcNumbers"); -1 without a PGPROC.
 */
#if PG_VERSION_NUM >= 170000
#define WG_MY_PROC_INDEX()	((int) MyProcNumber)
#else
#define WG_MY_PROC_INDEX()	(MyProc != NULL ? MyProc->pgprocno : -1)
#endif

#endif							/* WG_COMPAT_H */
