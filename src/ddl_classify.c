/*-------------------------------------------------------------------------
 *
 * ddl_classify.c
 *	  Pure classification of utility statements for the schema-change
 *	  guard: is it DDL, is it CONCURRENTLY, which rule does its parse tree
 *	  alone say it breaks, and on which relation.
 *
 * No hook code, no catalog access, no shared state: the same function serves
 * the ProcessUtility hook (ddl_guard.c) and the SQL wrapper
 * workload_guard.ddl_classify(text), which parses a string and reports what
 * the guard would see, so that pg_regress can test the decisions
 * deterministically.
 *
 * What the parse tree cannot know is left to others: whether an ALTER TABLE
 * really rewrites (PostgreSQL decides that in ATRewriteTables and reports it
 * through the table_rewrite event, which ddl_guard.c listens to), and
 * whether the relation was created in the current transaction (exempt).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/defrem.h"
#include "fmgr.h"
#include "funcapi.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "compat.h"

#include "ddl_classify.h"

PG_FUNCTION_INFO_V1(wg_ddl_classify_sql);

static const char *const rule_names[WG_NUM_RULES] = {
	"none", "rewrite", "validation", "index", "new_table"
};

const char *
wg_ddl_rule_name(WgDdlRule rule)
{
	if (rule < 0 || rule >= WG_NUM_RULES)
		return "unknown";
	return rule_names[rule];
}

static void
set_rule(WgDdlClass *out, WgDdlRule rule, RangeVar *rel, const char *clause,
		 const char *hint)
{
	/* the first violation found is the one reported */
	if (out->rule != WG_RULE_NONE)
		return;
	out->rule = rule;
	out->relation = rel;
	out->clause = clause;
	out->hint = hint;
}

/*
 * A boolean option of a DefElem list (VACUUM, REINDEX, EXPLAIN, CLUSTER),
 * read the way the command itself reads it (ExecVacuum, ExecReindex,
 * ParseExplainOptionList): every occurrence is parsed in order with
 * defGetBoolean, so the last one wins, no value means true, and on/off,
 * true/false, 1/0 are accepted (anything else is the command's own error).
 * Names are compared exactly, as the commands do: the grammar folds
 * unquoted option names to lower case.  Absent: false.
 */
bool
wg_option_bool(List *options, const char *name)
{
	ListCell   *lc;
	bool		result = false;

	foreach(lc, options)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);

		if (strcmp(opt->defname, name) == 0)
			result = defGetBoolean(opt);
	}
	return result;
}

static bool
rangevar_is_temp(RangeVar *rv)
{
	if (rv == NULL)
		return false;
	if (rv->relpersistence == RELPERSISTENCE_TEMP)
		return true;
	return rv->schemaname && strcmp(rv->schemaname, "pg_temp") == 0;
}

#define HINT_VALIDATE "Add the constraint with NOT VALID, then run ALTER TABLE ... VALIDATE CONSTRAINT, which does not block reads or writes."
#define HINT_BYPASS "A superuser can set workload_guard.ddl_bypass for a planned maintenance window."

/* a constraint added to an existing table, alone or with a new column */
static void
classify_constraint(Constraint *con, RangeVar *rel, WgDdlClass *out)
{
	switch (con->contype)
	{
		case CONSTR_FOREIGN:
			if (!con->skip_validation)
				set_rule(out, WG_RULE_VALIDATION, rel,
						 "ADD FOREIGN KEY without NOT VALID", HINT_VALIDATE);
			break;
		case CONSTR_CHECK:
			if (!con->skip_validation)
				set_rule(out, WG_RULE_VALIDATION, rel,
						 "ADD CHECK without NOT VALID", HINT_VALIDATE);
			break;
		case CONSTR_PRIMARY:
		case CONSTR_UNIQUE:
		case CONSTR_EXCLUSION:
			if (con->indexname == NULL)
				set_rule(out, WG_RULE_INDEX, rel,
						 "ADD PRIMARY KEY, UNIQUE or EXCLUDE builds its index without CONCURRENTLY",
						 "Build the index with CREATE UNIQUE INDEX CONCURRENTLY, then add the constraint with ADD CONSTRAINT ... USING INDEX.");
			break;
		default:
			break;
	}
}

static void
classify_alter_table(AlterTableStmt *stmt, WgDdlClass *out)
{
	ListCell   *lc;
	List	   *notnull = NIL;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		switch (cmd->subtype)
		{
			case AT_SetTableSpace:
				set_rule(out, WG_RULE_REWRITE, stmt->relation,
						 "SET TABLESPACE copies every block under an ACCESS EXCLUSIVE lock",
						 "Create a copy in the new tablespace and switch over, or use pg_repack. " HINT_BYPASS);
				break;
			case AT_SetNotNull:
				/* last: the guard may find it proven (no scan) */
				notnull = lappend(notnull, cmd->name);
				break;
			case AT_AddConstraint:
				if (cmd->def && IsA(cmd->def, Constraint))
					classify_constraint((Constraint *) cmd->def, stmt->relation, out);
				break;
			case AT_AddColumn:
				if (cmd->def && IsA(cmd->def, ColumnDef))
				{
					ListCell   *lc2;

					foreach(lc2, ((ColumnDef *) cmd->def)->constraints)
					{
						Node	   *c = lfirst(lc2);

						if (IsA(c, Constraint))
							classify_constraint((Constraint *) c, stmt->relation, out);
					}
				}
				break;
			default:
				break;
		}
	}

	if (notnull != NIL && out->rule == WG_RULE_NONE)
	{
		set_rule(out, WG_RULE_VALIDATION, stmt->relation,
				 "SET NOT NULL scans the table under an ACCESS EXCLUSIVE lock",
				 "Add CHECK (column IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT it, then SET NOT NULL, which uses the validated constraint and skips the scan.");
		out->notnull_columns = notnull;
	}
}

static void
classify_new_table(RangeVar *rel, bool partition, WgDdlClass *out)
{
	out->temp = rangevar_is_temp(rel);
	/* a partition of an existing table is partition maintenance */
	if (!out->temp && !partition)
		set_rule(out, WG_RULE_NEW_TABLE, rel, "creates a new table",
				 "Creating tables is restricted by workload_guard.ddl_new_tables; ask for the table to be created in a reviewed migration. " HINT_BYPASS);
}

/* EXPLAIN ANALYZE runs its statement: classify what it runs */
static void
classify_explain(ExplainStmt *stmt, WgDdlClass *out)
{
	Node	   *q = stmt->query;

	if (!wg_option_bool(stmt->options, "analyze"))
		return;
	if (q && IsA(q, Query) && ((Query *) q)->commandType == CMD_UTILITY)
		q = ((Query *) q)->utilityStmt;
	if (q && IsA(q, CreateTableAsStmt))
	{
		CreateTableAsStmt *ctas = (CreateTableAsStmt *) q;

		if (ctas->into && !ctas->into->skipData)
		{
			out->is_ddl = true;
			classify_new_table(ctas->into->rel, false, out);
		}
	}
	else if (q && IsA(q, SelectStmt) && ((SelectStmt *) q)->intoClause)
	{
		out->is_ddl = true;
		classify_new_table(((SelectStmt *) q)->intoClause->rel, false, out);
	}
}

void
wg_ddl_classify(Node *parsetree, WgDdlClass *out)
{
	WgRewriteCommand rewrite;
	RangeVar   *rewritten;
	List	   *rewrite_options;

	memset(out, 0, sizeof(*out));
	out->tag = GetCommandTagName(CreateCommandTag(parsetree));

	/*
	 * CLUSTER and VACUUM FULL (one REPACK statement from PostgreSQL 19 on:
	 * see compat.h) keep their own tags and rules on every version.
	 */
	rewrite = wg_rewrite_command(parsetree, &rewritten, &rewrite_options);
	switch (rewrite)
	{
		case WG_REWRITE_VACUUM:
		case WG_REWRITE_VACUUM_FULL:
			/* plain VACUUM and ANALYZE are maintenance, not DDL */
			if (rewrite == WG_REWRITE_VACUUM &&
				!wg_option_bool(rewrite_options, "full"))
				return;
			out->is_ddl = true;
			out->tag = "VACUUM";
			set_rule(out, WG_RULE_REWRITE, rewritten,
					 "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock",
					 "Use plain VACUUM, or pg_repack for an online rewrite. " HINT_BYPASS);
			return;
		case WG_REWRITE_CLUSTER:
			out->is_ddl = true;
			out->tag = "CLUSTER";
			set_rule(out, WG_RULE_REWRITE, rewritten,
					 "CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock",
					 "Use pg_repack for an online reorder. " HINT_BYPASS);
			return;
		case WG_REWRITE_REPACK:
			out->is_ddl = true;
			out->concurrently = wg_option_bool(rewrite_options, "concurrently");
			if (!out->concurrently)
				set_rule(out, WG_RULE_REWRITE, rewritten,
						 "REPACK rewrites the table under an ACCESS EXCLUSIVE lock",
						 "Use REPACK CONCURRENTLY, or pg_repack for an online rewrite. " HINT_BYPASS);
			else
				out->relation = rewritten;
			return;
		case WG_REWRITE_NONE:
			break;
	}

	switch (nodeTag(parsetree))
	{
		case T_VacuumStmt:
			return;				/* ANALYZE */
		case T_ReindexStmt:
			{
				ReindexStmt *stmt = (ReindexStmt *) parsetree;

				out->is_ddl = true;
				out->concurrently = wg_option_bool(stmt->params, "concurrently");
				if (!out->concurrently)
				{
					set_rule(out, WG_RULE_INDEX, stmt->relation,
							 "REINDEX without CONCURRENTLY blocks writes (and reads using the index)",
							 "Use REINDEX ... CONCURRENTLY.");
					out->relation_is_index = (stmt->kind == REINDEX_OBJECT_INDEX);
				}
				return;
			}
		case T_ExplainStmt:
			classify_explain((ExplainStmt *) parsetree, out);
			return;
		case T_SelectStmt:
			/* only the raw tree of SELECT INTO gets here (SQL wrapper) */
			if (((SelectStmt *) parsetree)->intoClause)
			{
				out->is_ddl = true;
				out->tag = "SELECT INTO";
				classify_new_table(((SelectStmt *) parsetree)->intoClause->rel,
								   false, out);
			}
			return;
		default:
			break;
	}

	if (GetCommandLogLevel(parsetree) != LOGSTMT_DDL)
		return;
	out->is_ddl = true;

	switch (nodeTag(parsetree))
	{
		case T_AlterTableStmt:
			classify_alter_table((AlterTableStmt *) parsetree, out);
			if (out->relation == NULL)
				out->relation = ((AlterTableStmt *) parsetree)->relation;
			break;
		case T_AlterTableMoveAllStmt:
			set_rule(out, WG_RULE_REWRITE, NULL,
					 "ALTER TABLE ALL IN TABLESPACE copies every table it moves",
					 "Move tables one at a time in a maintenance window. " HINT_BYPASS);
			break;
		case T_RefreshMatViewStmt:
			{
				RefreshMatViewStmt *stmt = (RefreshMatViewStmt *) parsetree;

				out->concurrently = stmt->concurrent;
				if (!stmt->concurrent && !stmt->skipData)
					set_rule(out, WG_RULE_REWRITE, stmt->relation,
							 "REFRESH MATERIALIZED VIEW without CONCURRENTLY rewrites it under an ACCESS EXCLUSIVE lock",
							 "Use REFRESH MATERIALIZED VIEW CONCURRENTLY (it needs a unique index on the view).");
				break;
			}
		case T_IndexStmt:
			{
				IndexStmt  *stmt = (IndexStmt *) parsetree;

				out->concurrently = stmt->concurrent;
				if (!stmt->relation->inh)
					out->on_only = true;
				if (!stmt->concurrent)
					set_rule(out, WG_RULE_INDEX, stmt->relation,
							 "CREATE INDEX without CONCURRENTLY blocks writes to the table while it builds",
							 "Use CREATE INDEX CONCURRENTLY (on a partitioned table: CREATE INDEX ON ONLY the parent, CONCURRENTLY on each partition, then ALTER INDEX ... ATTACH PARTITION).");
				break;
			}
		case T_DropStmt:
			{
				DropStmt   *stmt = (DropStmt *) parsetree;

				if (stmt->removeType != OBJECT_INDEX)
					break;
				out->concurrently = stmt->concurrent;
				if (!stmt->concurrent)
				{
					ListCell   *lc;

					foreach(lc, stmt->objects)
						out->relations = lappend(out->relations,
												 makeRangeVarFromNameList(lfirst(lc)));
					set_rule(out, WG_RULE_INDEX, linitial(out->relations),
							 "DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the table",
							 "Use DROP INDEX CONCURRENTLY.");
					out->relation_is_index = true;
				}
				break;
			}
		case T_CreateStmt:
			{
				CreateStmt *stmt = (CreateStmt *) parsetree;

				classify_new_table(stmt->relation, stmt->partbound != NULL, out);
				break;
			}
		case T_CreateTableAsStmt:
			{
				CreateTableAsStmt *stmt = (CreateTableAsStmt *) parsetree;

				if (stmt->objtype == OBJECT_TABLE || stmt->objtype == OBJECT_MATVIEW)
					classify_new_table(stmt->into->rel, false, out);
				break;
			}
		default:
			break;
	}
}

/*
 * A syntax error's position is in the argument string, not in the query that
 * called ddl_classify(): report it as an internal query, as SQL functions do.
 */
static void
classify_parse_error_callback(void *arg)
{
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery((const char *) arg);
	}
}

/*
 * workload_guard.ddl_classify(sql text): one row per statement of the string,
 * as the guard classifies it before the catalog-based exemptions.
 */
Datum
wg_ddl_classify_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	List	   *stmts;
	ListCell   *lc;
	ErrorContextCallback errcb;

	InitMaterializedSRF(fcinfo, 0);
	errcb.callback = classify_parse_error_callback;
	errcb.arg = sql;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	stmts = raw_parser(sql, RAW_PARSE_DEFAULT);
	error_context_stack = errcb.previous;

	foreach(lc, stmts)
	{
		RawStmt    *raw = lfirst_node(RawStmt, lc);
		WgDdlClass c;
		Datum		values[7];
		bool		nulls[7] = {0};

		wg_ddl_classify(raw->stmt, &c);
		values[0] = CStringGetTextDatum(c.tag);
		values[1] = BoolGetDatum(c.is_ddl);
		values[2] = BoolGetDatum(c.concurrently);
		if (c.rule == WG_RULE_NONE)
		{
			nulls[3] = nulls[4] = true;
		}
		else
		{
			values[3] = CStringGetTextDatum(wg_ddl_rule_name(c.rule));
			values[4] = CStringGetTextDatum(c.clause);
		}
		if (c.relation)
			values[5] = CStringGetTextDatum(quote_qualified_identifier(c.relation->schemaname,
																	   c.relation->relname));
		else
			nulls[5] = true;
		values[6] = BoolGetDatum(c.temp);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
