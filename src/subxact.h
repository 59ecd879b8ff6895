/*-------------------------------------------------------------------------
 *
 * subxact.h
 *	  Run a piece of work in an internal subtransaction, turning its error
 *	  into a value (see subxact.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WG_SUBXACT_H
#define WG_SUBXACT_H

#include "utils/elog.h"

typedef void (*WgSubxactFn) (void *arg);

extern ErrorData *wg_run_in_subxact(WgSubxactFn fn, void *arg);

#endif							/* WG_SUBXACT_H */
