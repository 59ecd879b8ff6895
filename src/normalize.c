/*-------------------------------------------------------------------------
 *
 * normalize.c
 *	  Normalized query text: a statement with each constant replaced by a
 *	  $n parameter symbol, as pg_stat_statements shows it, so that one
 *	  digest reads as one query shape and no literal values (which may be
 *	  secrets) are kept in shared memory.
 *
 * The parser only records where constants start (JumbleState.clocations);
 * their lengths are found by running the core scanner over the text, the
 * way contrib/pg_stat_statements does (fill_in_constant_lengths and
 * generate_normalized_query there; this is the same algorithm writing into
 * a caller's fixed-size buffer).  No hooks, no shared memory: latency.c
 * calls it on the rare path that creates a digest, outside any lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/keywords.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "parser/scanner.h"

#include "normalize.h"

static int
comp_location(const void *a, const void *b)
{
	int			l = ((const LocationLen *) a)->location;
	int			r = ((const LocationLen *) b)->location;

	return (l > r) - (l < r);
}

/*
 * Sets the length of each constant (locations relative to the start of the
 * whole source string; query points query_loc bytes into it).  Duplicates
 * and constants not found keep length -1 and are left as they are.
 */
static void
fill_in_constant_lengths(LocationLen *locs, int nlocs, const char *query,
						 int query_loc, const WgLexSettings *lex)
{
	core_yyscan_t yyscanner;
	core_yy_extra_type yyextra;
	core_YYSTYPE yylval;
	YYLTYPE		yylloc;
	int			last_loc = -1;
	int			i;

	if (nlocs > 1)
		qsort(locs, nlocs, sizeof(LocationLen), comp_location);

	yyscanner = scanner_init(query, &yyextra, &ScanKeywords, ScanKeywordTokens);
	/* tokenize as the parse did, whatever the settings are now */
	wg_scanner_set_strings(yyextra, lex->standard_conforming_strings);
	yyextra.backslash_quote = lex->backslash_quote;

	for (i = 0; i < nlocs; i++)
	{
		int			loc = locs[i].location - query_loc;
		int			tok;

		if (wg_location_is_squashed(&locs[i]))
			continue;			/* a list: the jumble measured it */
		locs[i].length = -1;
		if (loc <= last_loc)
			continue;			/* duplicate */
		for (;;)
		{
			tok = core_yylex(&yylval, &yylloc, yyscanner);
			if (tok == 0)
				break;
			if (yylloc >= loc)
			{
				/* a negative constant: the '-' and the number go together */
				if (query[loc] == '-')
				{
					tok = core_yylex(&yylval, &yylloc, yyscanner);
					if (tok == 0)
						break;
				}
				/* flex leaves a zero byte after the current token */
				locs[i].length = strlen(yyextra.scanbuf + loc);
				break;
			}
		}
		if (tok == 0)
			break;
		last_loc = loc;
	}
	scanner_finish(yyscanner);
}

/*
 * Writes the normalized form of query[0 .. query_len) into buf (bufsize
 * bytes, terminated), cut at a character boundary if it does not fit, and
 * returns its length.  Parameter symbols are numbered from first_param + 1
 * so that they do not collide with the statement's own $n.  locs is sorted
 * and its lengths filled in place.  lex: the lexer settings of the parse.
 */
int
wg_normalize_query(const char *query, int query_loc, int query_len,
				   LocationLen *locs, int nlocs, int first_param,
				   const WgLexSettings *lex, char *buf, int bufsize)
{
	StringInfoData out;
	int			quer_loc = 0;
	int			n = 0;
	int			i;
	int			len;
	char	   *text = pnstrdup(query, query_len);

	fill_in_constant_lengths(locs, nlocs, text, query_loc, lex);

	initStringInfo(&out);
	for (i = 0; i < nlocs; i++)
	{
		int			off = locs[i].location - query_loc;

		if (locs[i].length < 0 || off < quer_loc || off + locs[i].length > query_len)
			continue;
		appendBinaryStringInfo(&out, text + quer_loc, off - quer_loc);
		appendStringInfo(&out, wg_location_is_squashed(&locs[i]) ?
						 "$%d /*, ... */" : "$%d", first_param + ++n);
		quer_loc = off + locs[i].length;
	}
	appendBinaryStringInfo(&out, text + quer_loc, query_len - quer_loc);

	len = out.len;
	if (len >= bufsize)
		len = pg_mbcliplen(out.data, len, bufsize - 1);
	memcpy(buf, out.data, len);
	buf[len] = '\0';
	pfree(out.data);
	pfree(text);
	return len;
}
