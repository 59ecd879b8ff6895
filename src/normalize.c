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
#include "secrets.h"

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
 * Returns -1 when a constant inside the statement could not be measured.
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

	/*
	 * A constant of this statement the scanner did not find would be left
	 * in the text as it is: no literal may be kept (secrets.c), so let the
	 * caller fall back to wg_normalize_failed_query(), which cuts there.
	 */
	for (i = 0; i < nlocs; i++)
	{
		int			off = locs[i].location - query_loc;

		if (locs[i].length < 0 && off >= 0 && off < query_len &&
			(i == 0 || locs[i].location != locs[i - 1].location))
		{
			pfree(text);
			return -1;
		}
	}

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

/* ----------------------------------------------------------------
 * Without the scanner, for statements that failed
 * ----------------------------------------------------------------
 */

static inline bool
word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_' || IS_HIGHBIT_SET(c);
}

/* length of a quoted string starting at text[i] == '\'', or -1 */
static int
quoted_length(const char *text, int i, int len, bool backslash_escapes)
{
	int			start = i;

	for (i++; i < len; i++)
	{
		if (backslash_escapes && text[i] == '\\')
			i++;
		else if (text[i] == '\'')
		{
			if (i + 1 < len && text[i + 1] == '\'')
				i++;
			else
				return i + 1 - start;
		}
	}
	return -1;
}

/*
 * The length of the constant that starts at text[off], recognized without
 * the scanner: a number (with its sign), a quoted string with its E/B/X/N/U&
 * prefix, a dollar-quoted string, or a keyword constant (TRUE, NULL); -1
 * when it is none of these.  Pure byte arithmetic: it cannot fail.
 */
static int
literal_length(const char *text, int off, int len, const WgLexSettings *lex)
{
	int			i = off;
	unsigned char c;

	if (i >= len)
		return -1;
	if (text[i] == '-')
	{
		i++;
		while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
			i++;
	}
	if (i >= len)
		return -1;
	c = (unsigned char) text[i];
	if ((c >= '0' && c <= '9') || (c == '.' && i + 1 < len && text[i + 1] >= '0' && text[i + 1] <= '9'))
	{
		for (; i < len; i++)
		{
			c = (unsigned char) text[i];
			if ((c == 'e' || c == 'E') && i + 1 < len &&
				(text[i + 1] == '+' || text[i + 1] == '-'))
				i++;
			else if (!word_byte(c) && c != '.')
				break;
		}
		return i - off;
	}
	if (c == '\'')
	{
		int			q = quoted_length(text, i, len, !lex->standard_conforming_strings);

		return q < 0 ? -1 : i + q - off;
	}
	if ((c == 'e' || c == 'E') && i + 1 < len && text[i + 1] == '\'')
	{
		int			q = quoted_length(text, i + 1, len, true);

		return q < 0 ? -1 : i + 1 + q - off;
	}
	if (strchr("bBxXnN", c) != NULL && c != '\0' && i + 1 < len && text[i + 1] == '\'')
	{
		int			q = quoted_length(text, i + 1, len, false);

		return q < 0 ? -1 : i + 1 + q - off;
	}
	if ((c == 'u' || c == 'U') && i + 2 < len && text[i + 1] == '&' && text[i + 2] == '\'')
	{
		int			q = quoted_length(text, i + 2, len, false);

		return q < 0 ? -1 : i + 2 + q - off;
	}
	if (c == '$')
	{
		int			tag_end = i + 1;
		int			tag_len;
		int			j;

		while (tag_end < len && text[tag_end] != '$' && word_byte((unsigned char) text[tag_end]))
			tag_end++;
		if (tag_end >= len || text[tag_end] != '$')
			return -1;
		tag_len = tag_end - i + 1;
		for (j = tag_end + 1; j + tag_len <= len; j++)
			if (memcmp(text + j, text + i, tag_len) == 0)
				return j + tag_len - off;
		return -1;
	}
	if (word_byte(c))
	{
		while (i < len && word_byte((unsigned char) text[i]))
			i++;
		return i - off;			/* TRUE, FALSE, NULL */
	}
	return -1;
}

/*
 * wg_normalize_query() for a statement that failed: it runs in error
 * recovery, where neither the scanner (it may raise an error) nor palloc
 * may be used.  Constants are measured by literal_length(); the result is
 * then cut at anything that still looks like a literal (a constant not
 * recognized), so no literal survives whatever the text holds.  locs is
 * sorted in place.
 */
int
wg_normalize_failed_query(const char *text, int query_loc, int query_len,
						  LocationLen *locs, int nlocs, int first_param,
						  const WgLexSettings *lex, char *buf, int bufsize)
{
	int			out = 0;
	int			copied = 0;		/* bytes of text consumed */
	int			n = 0;
	int			i;
	char		param[16];
	WgRedaction plannable = {WG_TEXT_UNTIL_LITERAL, CMDTAG_UNKNOWN};
	char		cut[WG_NORMALIZE_MAX_TEXT];

	if (nlocs > 1)
		qsort(locs, nlocs, sizeof(LocationLen), comp_location);

	for (i = 0; i < nlocs && out < (int) sizeof(cut) - 1; i++)
	{
		int			off = locs[i].location - query_loc;
		int			l;
		int			chunk;
		int			plen;

		if (off < copied || off >= query_len)
			continue;			/* duplicate, or outside this statement */
		l = literal_length(text, off, query_len, lex);
		if (l <= 0)
			continue;
		chunk = Min(off - copied, (int) sizeof(cut) - 1 - out);
		memcpy(cut + out, text + copied, chunk);
		out += chunk;
		plen = snprintf(param, sizeof(param), "$%d", first_param + ++n);
		if (out + plen >= (int) sizeof(cut))
			break;
		memcpy(cut + out, param, plen);
		out += plen;
		copied = off + l;
	}
	if (copied < query_len && out < (int) sizeof(cut) - 1)
	{
		int			chunk = Min(query_len - copied, (int) sizeof(cut) - 1 - out);

		memcpy(cut + out, text + copied, chunk);
		out += chunk;
	}
	/* a constant the lexer above did not recognize is cut off here */
	return wg_redact_text(&plannable, cut, out, buf, bufsize);
}
