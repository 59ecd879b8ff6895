/*-------------------------------------------------------------------------
 *
 * ddl_classify.h
 *	  What a utility statement is, from its parse tree alone (ddl_classify.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WG_DDL_CLASSIFY_H
#define WG_DDL_CLASSIFY_H

#include "nodes/parsenodes.h"

/* the rules of the schema-change guard; the order is the GUC array order */
typedef enum WgDdlRule
{
	WG_RULE_NONE = 0,
	WG_RULE_REWRITE,			/* statement rewrites a table */
	WG_RULE_VALIDATION,			/* validates a constraint under a strong lock */
	WG_RULE_INDEX,				/* builds or drops an index without CONCURRENTLY */
	WG_RULE_NEW_TABLE			/* creates a permanent table */
} WgDdlRule;

#define WG_NUM_RULES 5

typedef struct WgDdlClass
{
	bool		is_ddl;			/* schema change at all (guarded, recorded) */
	bool		concurrently;	/* CONCURRENTLY variant: no DDL timeouts */
	const char *tag;			/* command tag, e.g. "ALTER TABLE" */
	WgDdlRule	rule;			/* rule the parse tree says it breaks, if any */
	const char *clause;			/* the clause that breaks it, for messages */
	const char *hint;			/* the lightweight alternative */
	RangeVar   *relation;		/* relation the rule is about (may be NULL) */
	List	   *relations;		/* every index DROP INDEX names; relation is
								 * the first */
	bool		relation_is_index;	/* relation names an index, not a table */
	bool		on_only;		/* CREATE INDEX ON ONLY a partitioned table */
	bool		temp;			/* new table is temporary */
	List	   *notnull_columns;	/* SET NOT NULL column names, when that is
									 * the only violation (rule validation) */
} WgDdlClass;

/*
 * Classifies a utility statement.  Accepts both the raw parse tree and the
 * one ProcessUtility receives (EXPLAIN and CREATE TABLE AS carry an analyzed
 * Query there).  Does no catalog access: exemptions that need the catalogs
 * (table created in this transaction) are the guard's business.
 */
extern void wg_ddl_classify(Node *parsetree, WgDdlClass *out);

extern const char *wg_ddl_rule_name(WgDdlRule rule);

/* a boolean DefElem option as the command reads it: the last one wins */
extern bool wg_option_bool(List *options, const char *name);

#endif							/* WG_DDL_CLASSIFY_H */
