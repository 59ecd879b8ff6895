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

/*
 * Lexer settings in force when the statement was parsed: the text is
 * scanned again later (at its first execution), maybe under other values.
 */
typedef struct WgLexSettings
{
	bool		standard_conforming_strings;
	int			backslash_quote;
} WgLexSettings;

extern int	wg_normalize_query(const char *query, int query_loc, int query_len,
							   LocationLen *locs, int nlocs, int first_param,
							   const WgLexSettings *lex,
							   char *buf, int bufsize);

/* the same without the scanner or palloc, for a statement that failed */
#define WG_NORMALIZE_MAX_TEXT	2048
extern int	wg_normalize_failed_query(const char *text, int query_loc,
									  int query_len, LocationLen *locs,
									  int nlocs, int first_param,
									  const WgLexSettings *lex,
									  char *buf, int bufsize);

#endif							/* WG_NORMALIZE_H */
