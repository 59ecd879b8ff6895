/*-------------------------------------------------------------------------
 *
 * workload_guard.h
 *	  Declarations shared by every workload_guard module.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WORKLOAD_GUARD_H
#define WORKLOAD_GUARD_H

/*
 * Executor/utility nesting depth of the current backend, maintained by the
 * hooks in workload_guard.c (0 = a statement sent by the client).
 */
extern int	wg_nesting_level;

/* ERROR unless the library was loaded via shared_preload_libraries */
extern void wg_require_loaded(void);

#endif							/* WORKLOAD_GUARD_H */
