/*-------------------------------------------------------------------------
 *
 * secrets.c
 *	  The one rule for which text of a statement workload_guard may keep.
 *	  Texts are kept in places more people can read than the catalogs the
 *	  statements write: statement_latency.query (pg_read_all_stats members
 *	  and the statement's role), the latency stats file, ddl_history and
 *	  ddl_rejections (every role).  No secret may reach any of them.
 *
 * The rule, applied by latency.c and ddl_guard.c alike:
 *
 * 1. Statements that may carry a credential keep their command tag only,
 *	  as "ALTER ROLE <REDACTED>", whether they succeed or fail:
 *	  - CREATE/ALTER ROLE (USER, GROUP) with a PASSWORD option;
 *	  - CREATE/ALTER USER MAPPING, SERVER and FOREIGN DATA WRAPPER (their
 *		OPTIONS may hold a password; user mapping options are hidden by
 *		core, server options of some wrappers hold credentials);
 *	  - CREATE SUBSCRIPTION, ALTER SUBSCRIPTION ... CONNECTION (conninfo);
 *	  - ALTER SYSTEM, ALTER ROLE/DATABASE ... SET (values that core shows
 *		only to superusers, such as primary_conninfo, or custom settings);
 *	  - SET of a custom setting no module defines ("app.api_key") or of one
 *		core shows only to superusers;
 *	  - DO (its body is code that may hold anything and is stored nowhere
 *		else), COPY ... PROGRAM (the command line).
 * 2. Statements that carry values rather than definitions (CALL, EXECUTE,
 *	  PREPARE, EXPLAIN, CREATE TABLE AS / MATERIALIZED VIEW, DECLARE CURSOR,
 *	  COPY (query), NOTIFY) keep their text up to the first literal, then
 *	  " <REDACTED>": their constants are arguments (a password passed to a
 *	  procedure, to dblink_connect() in an EXPLAIN) that no catalog keeps.
 * 3. Plannable statements (SELECT, INSERT, UPDATE, DELETE, MERGE) keep
 *	  their normalized text (normalize.c: every constant a $n), or their
 *	  text as sent when the parse found no constant in it.  A statement that
 *	  failed is normalized without the scanner (wg_normalize_failed_query),
 *	  and what that leaves is cut at its first literal.  When the constants
 *	  are not known at all (too many, a plan parsed long before, no query
 *	  jumbling) the text is kept up to the first literal, as in 2.
 * 4. Other utility statements (CREATE TABLE, ALTER TABLE, CREATE INDEX,
 *	  CREATE FUNCTION, VACUUM, ...) keep their text as sent: their values
 *	  (defaults, constraints, bodies, comments) land in catalogs that every
 *	  role can read.
 *
 * "The first literal" is found without the scanner (it can raise errors,
 * and latency calls this in error recovery): the first quote, the first $
 * not followed by a digit (dollar quoting; $1 is a parameter), the first
 * digit not inside a word.  That may cut earlier than the true first
 * literal (a digit in a quoted identifier, a quote in a comment), never
 * later.  Comments are not literals: a secret written into a comment of a
 * plannable statement is kept (pg_stat_statements keeps it too).
 *
 * Pure functions: no hooks, no catalog access, no allocation (but the
 * palloc'd wrapper for ddl_guard.c), no error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/guc.h"

#include "secrets.h"

static bool
has_password_option(List *options)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		if (strcmp(lfirst_node(DefElem, lc)->defname, "password") == 0)
			return true;
	}
	return false;
}

/*
 * SET name = value: may the value be a secret?  Yes for a setting core
 * shows only to superusers, and for a custom one no loaded module defines
 * (a placeholder: "app.api_key" holds whatever the application puts there).
 * A module's own settings ("workload_guard.track") say what they are.
 */
static bool
setting_may_be_secret(VariableSetStmt *set)
{
	if (set == NULL || set->kind != VAR_SET_VALUE || set->name == NULL)
		return false;
	if (GetConfigOption(set->name, true, false) == NULL)
		return true;			/* not defined yet: a new placeholder */
	return (GetConfigOptionFlags(set->name, true) &
			(GUC_SUPERUSER_ONLY | GUC_CUSTOM_PLACEHOLDER)) != 0;
}

static WgTextRule
utility_text_rule(Node *parsetree)
{
	if (parsetree == NULL)
		return WG_TEXT_UNTIL_LITERAL;

	switch (nodeTag(parsetree))
	{
		case T_CreateRoleStmt:
			return has_password_option(((CreateRoleStmt *) parsetree)->options) ?
				WG_TEXT_TAG_ONLY : WG_TEXT_AS_SENT;
		case T_AlterRoleStmt:
			return has_password_option(((AlterRoleStmt *) parsetree)->options) ?
				WG_TEXT_TAG_ONLY : WG_TEXT_AS_SENT;
		case T_CreateUserMappingStmt:
		case T_AlterUserMappingStmt:
		case T_CreateForeignServerStmt:
		case T_AlterForeignServerStmt:
		case T_CreateFdwStmt:
		case T_AlterFdwStmt:
		case T_CreateSubscriptionStmt:
		case T_AlterSystemStmt:
		case T_AlterRoleSetStmt:
		case T_AlterDatabaseSetStmt:
		case T_DoStmt:
			return WG_TEXT_TAG_ONLY;
		case T_AlterSubscriptionStmt:
			return ((AlterSubscriptionStmt *) parsetree)->kind ==
				ALTER_SUBSCRIPTION_CONNECTION ? WG_TEXT_TAG_ONLY : WG_TEXT_AS_SENT;
		case T_VariableSetStmt:
			return setting_may_be_secret((VariableSetStmt *) parsetree) ?
				WG_TEXT_TAG_ONLY : WG_TEXT_AS_SENT;
		case T_CopyStmt:
			if (((CopyStmt *) parsetree)->is_program)
				return WG_TEXT_TAG_ONLY;
			return ((CopyStmt *) parsetree)->query != NULL ?
				WG_TEXT_UNTIL_LITERAL : WG_TEXT_AS_SENT;
		case T_CallStmt:
		case T_ExecuteStmt:
		case T_PrepareStmt:
		case T_ExplainStmt:
		case T_CreateTableAsStmt:
		case T_DeclareCursorStmt:
		case T_NotifyStmt:
			return WG_TEXT_UNTIL_LITERAL;
		default:
			return WG_TEXT_AS_SENT;
	}
}

static inline bool
is_word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '$' || IS_HIGHBIT_SET(c);
}

int
wg_literal_free_prefix(const char *text, int len)
{
	int			i;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) text[i];

		if (c == '\'')
			return i;
		if (c == '$')
		{
			/* $1 is a parameter; $$ and $tag$ start a dollar-quoted string */
			if (i + 1 < len && text[i + 1] >= '0' && text[i + 1] <= '9' &&
				(i == 0 || !is_word_byte((unsigned char) text[i - 1])))
			{
				while (i + 1 < len && text[i + 1] >= '0' && text[i + 1] <= '9')
					i++;
				continue;
			}
			if (i > 0 && is_word_byte((unsigned char) text[i - 1]))
				continue;		/* inside a word: "a$b" is an identifier */
			return i;
		}
		if (c >= '0' && c <= '9' &&
			(i == 0 || !is_word_byte((unsigned char) text[i - 1])))
			return i;
	}
	return len;
}

/* copy at most bufsize - 1 bytes of src without cutting a character */
static int
clip_copy(char *buf, int bufsize, const char *src, int len)
{
	if (len >= bufsize)
		len = pg_mbcliplen(src, len, bufsize - 1);
	memcpy(buf, src, len);
	buf[len] = '\0';
	return len;
}

WgRedaction
wg_redaction(Node *parsetree)
{
	WgRedaction r;

	r.rule = utility_text_rule(parsetree);
	r.tag = (r.rule == WG_TEXT_TAG_ONLY) ? CreateCommandTag(parsetree) :
		CMDTAG_UNKNOWN;
	return r;
}

int
wg_redact_text(const WgRedaction *redaction, const char *text, int len,
			   char *buf, int bufsize)
{
	WgTextRule	rule = redaction->rule;
	int			marker = strlen(" " WG_REDACTED);
	int			keep;

	Assert(bufsize > marker + 1);
	if (rule == WG_TEXT_AS_SENT)
		return clip_copy(buf, bufsize, text, len);

	if (rule == WG_TEXT_TAG_ONLY)
		return snprintf(buf, bufsize, "%s " WG_REDACTED,
						GetCommandTagName(redaction->tag));

	keep = wg_literal_free_prefix(text, len);
	if (keep == len)
		return clip_copy(buf, bufsize, text, len);
	while (keep > 0 && (text[keep - 1] == ' ' || text[keep - 1] == '\t' ||
						text[keep - 1] == '\n' || text[keep - 1] == '\r'))
		keep--;
	keep = clip_copy(buf, bufsize - marker, text, keep);
	if (keep == 0)
		return snprintf(buf, bufsize, WG_REDACTED);
	memcpy(buf + keep, " " WG_REDACTED, marker + 1);
	return keep + marker;
}

char *
wg_redact_utility_text(Node *parsetree, const char *text)
{
	WgRedaction r = wg_redaction(parsetree);
	int			len = strlen(text);
	int			size = len + NAMEDATALEN + sizeof(" " WG_REDACTED);
	char	   *buf;

	if (r.rule == WG_TEXT_AS_SENT)
		return pstrdup(text);
	buf = palloc(size);
	(void) wg_redact_text(&r, text, len, buf, size);
	return buf;
}
