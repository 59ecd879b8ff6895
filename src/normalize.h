/*-------------------------------------------------------------------------
 *
 * normalize.h
 *	  Query text with its constants replaced by $n (see normalize.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WG_NORMALIZE_H
#define WG_NORMALIZE_H

#include "compat.h"				/* JumbleState, LocationLen */

extern int	wg_normalize_query(const char *query, int query_loc, int query_len,
							   LocationLen *locs, int nlocs, int first_param,
							   char *buf, int bufsize);

#endif							/* WG_NORMALIZE_H */
