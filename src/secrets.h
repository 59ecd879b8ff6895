/*-------------------------------------------------------------------------
 *
 * secrets.h
 *	  The one rule for statement texts that may carry a secret (see
 *	  secrets.c): which text workload_guard may keep of a statement.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WG_SECRETS_H
#define WG_SECRETS_H

#include "nodes/nodes.h"
#include "tcop/cmdtag.h"

#define WG_REDACTED		"<REDACTED>"

/* what may be kept of a utility statement's text */
typedef enum WgTextRule
{
	WG_TEXT_AS_SENT,			/* a definition: its values are in catalogs
								 * anyone may read anyway */
	WG_TEXT_UNTIL_LITERAL,		/* carries values: up to the first literal */
	WG_TEXT_TAG_ONLY			/* may carry a secret: the command tag only */
} WgTextRule;

/*
 * The decision for one statement, taken while its parse tree is alive (a
 * COMMIT frees it before latency records the statement).
 */
typedef struct WgRedaction
{
	WgTextRule	rule;
	CommandTag	tag;			/* for WG_TEXT_TAG_ONLY */
} WgRedaction;

/* parsetree: a utility statement, or NULL for a plannable one (rule 3) */
extern WgRedaction wg_redaction(Node *parsetree);

/* bytes of text before its first possible literal (quote, $n-less $, number) */
extern int	wg_literal_free_prefix(const char *text, int len);

/*
 * Write what the decision allows of a statement's text into buf
 * (NUL-terminated, at most bufsize - 1 bytes, never cutting a character);
 * returns its length.  Allocates nothing and raises no error: latency calls
 * it in error recovery.
 */
extern int	wg_redact_text(const WgRedaction *redaction, const char *text,
						   int len, char *buf, int bufsize);

/* the same, palloc'd, for a utility statement (ddl_history) */
extern char *wg_redact_utility_text(Node *parsetree, const char *text);

#endif							/* WG_SECRETS_H */
