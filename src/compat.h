/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Every PostgreSQL-version difference workload_guard depends on.
 *
 * The code base targets PostgreSQL 15.  Anything that changed between major
 * versions is wrapped here, once, with the upstream change it follows, so
 * that the feature files never test PG_VERSION_NUM themselves (TimescaleDB's
 * src/compat/compat.h is the model; HypoPG's scattered #ifs are the warning).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WG_COMPAT_H
#define WG_COMPAT_H

#include "postgres.h"
#include "portability/instr_time.h"

#if PG_VERSION_NUM < 150000
#error "workload_guard requires PostgreSQL 15 or later"
#endif

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
 * Hook signatures.  ExecutorStart_hook returns bool from PostgreSQL 18
 * (commit 525392d572) and ExecutorRun lost its execute_once argument there;
 * ProcessUtility and planner have been stable since 14.  Feature code calls
 * the WG_* wrappers declared in workload_guard.c, never the hooks directly.
 */
#if PG_VERSION_NUM >= 180000
#define WG_EXECUTORRUN_ARGS QueryDesc *queryDesc, ScanDirection direction, uint64 count
#define WG_EXECUTORRUN_PASS queryDesc, direction, count
#else
#define WG_EXECUTORRUN_ARGS QueryDesc *queryDesc, ScanDirection direction, uint64 count, bool execute_once
#define WG_EXECUTORRUN_PASS queryDesc, direction, count, execute_once
#endif

/*
 * shmem_request_hook appeared in PostgreSQL 15 (commit 4f2400cb3f); before it
 * RequestAddinShmemSpace was called straight from _PG_init.  15 is our floor,
 * so the hook is always used.
 */

/*
 * Query jumbling moved from utils/misc/queryjumble.h to nodes/queryjumble.h
 * in PostgreSQL 16 (commit 3db72ebcbe).
 */
#if PG_VERSION_NUM >= 160000
#include "nodes/queryjumble.h"
#else
#include "utils/queryjumble.h"
#endif

/*
 * Stats file location: PG_STAT_TMP_DIR vanished in 15; the permanent
 * directory is stable.
 */
#include "pgstat.h"
#ifndef PGSTAT_STAT_PERMANENT_DIRECTORY
#define PGSTAT_STAT_PERMANENT_DIRECTORY "pg_stat"
#endif

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

#endif							/* WG_COMPAT_H */
