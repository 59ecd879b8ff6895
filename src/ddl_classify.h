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
#include "tcop/cmdtag.h"

/* the rules of the schema-change guard */
typedef enum WgDdlRule
{
	WG_RULE_NONE = 0,
	WG_RULE_REWRITE,			/* statement rewrites a table */
	WG_RULE_VALIDATION,			/* validates a constraint under a strong lock */
	WG_RULE_INDEX,				/* builds or drops an index without CONCURRENTLY */
	WG_RULE_NEW_TABLE,			/* creates a permanent table */
	WG_NUM_RULES				/* size of arrays indexed by rule (NONE too) */
} WgDdlRule;

/* everything about one rule, in one place: wg_ddl_rules[rule] */
typedef struct WgDdlRuleInfo
{
	const char *name;			/* in messages, ddl_history.rules, rejections */
	const char *setting;		/* workload_guard.<setting> holds its mode */
	const char *description;	/* that setting's short description */
	bool		enforced;		/* its default mode: enforce (else off) */
} WgDdlRuleInfo;

extern const WgDdlRuleInfo wg_ddl_rules[WG_NUM_RULES];

typedef struct WgDdlClass
{
	bool		is_ddl;			/* schema change at all (guarded, recorded) */
	bool		concurrently;	/* CONCURRENTLY variant: no DDL timeouts */
	CommandTag	cmdtag;			/* what the command is */
	const char *tag;			/* its name, e.g. "ALTER TABLE" */
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

	/* what only the catalogs can decide (ddl_guard.c) */
	PartitionCmd *attach;		/* ATTACH PARTITION: relation is the table
								 * attached, parent its new parent */
	RangeVar   *parent;			/* ATTACH / PARTITION OF: the parent */
	PartitionBoundSpec *partbound;	/* ATTACH / PARTITION OF: raw bound */
	bool		detach;			/* DETACH PARTITION: relation is the partition */
	char	   *pk_index;		/* ADD PRIMARY KEY USING INDEX: its index */
	List	   *type_changes;	/* ALTER COLUMN TYPE commands (AlterTableCmd) */
	List	   *domain;			/* ALTER DOMAIN that scans: its name */
} WgDdlClass;

/*
 * Classifies a utility statement.  Accepts both the raw parse tree and the
 * one ProcessUtility receives (EXPLAIN and CREATE TABLE AS carry an analyzed
 * Query there).  Does no catalog access: exemptions that need the catalogs
 * (table created in this transaction) are the guard's business.
 */
extern void wg_ddl_classify(Node *parsetree, WgDdlClass *out);

/*
 * True for utility statements that are never DDL whatever they contain
 * (EXECUTE, transaction control, SET, cursors, CALL, DO, ...): the guard
 * skips them without classifying.  GetCommandLogLevel(EXECUTE) looks the
 * prepared statement up by name, about 350 instructions per EXECUTE.
 */
extern bool wg_ddl_never_ddl(Node *parsetree);

extern const char *wg_ddl_rule_name(WgDdlRule rule);

/* a boolean DefElem option as the command reads it: the last one wins */
extern bool wg_option_bool(List *options, const char *name);

#endif							/* WG_DDL_CLASSIFY_H */
