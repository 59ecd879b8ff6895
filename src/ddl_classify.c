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

const WgDdlRuleInfo wg_ddl_rules[WG_NUM_RULES] = {
	[WG_RULE_NONE] = {"none", NULL, NULL, false},
	[WG_RULE_REWRITE] = {"rewrite", "ddl_rewrite",
		"Sets the mode of the rule against statements that rewrite a table.",
	true},
	[WG_RULE_VALIDATION] = {"validation", "ddl_validation",
		"Sets the mode of the rule against constraint validation under a strong lock.",
	true},
	[WG_RULE_INDEX] = {"index", "ddl_index",
		"Sets the mode of the rule that indexes on existing tables are built and dropped CONCURRENTLY.",
	true},
	[WG_RULE_NEW_TABLE] = {"new_table", "ddl_new_tables",
		"Sets the mode of the rule against creating permanent tables.",
	false},
};

const char *
wg_ddl_rule_name(WgDdlRule rule)
{
	if (rule < 0 || rule >= WG_NUM_RULES)
		return "unknown";
	return wg_ddl_rules[rule].name;
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
#define HINT_NOT_NULL "Add CHECK (column IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT it, then SET NOT NULL, which uses the validated constraint and skips the scan."
#define HINT_BYPASS "A superuser can set workload_guard.ddl_bypass for a planned maintenance window."

/*
 * A constraint added to an existing table, alone or with a new column.
 * new_column_fk: a FOREIGN KEY on a new column that PostgreSQL marks valid
 * without checking (see classify_alter_table).
 */
static void
classify_constraint(Constraint *con, RangeVar *rel, bool new_column_fk,
					WgDdlClass *out)
{
	switch (con->contype)
	{
		case CONSTR_FOREIGN:
			if (!con->skip_validation && !new_column_fk)
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
			else if (con->contype == CONSTR_PRIMARY)
			{
				/* the guard checks the index's columns are NOT NULL already */
				out->pk_index = con->indexname;
				set_rule(out, WG_RULE_VALIDATION, rel,
						 "ADD PRIMARY KEY USING INDEX sets NOT NULL on a nullable column, which scans the table under an ACCESS EXCLUSIVE lock",
						 HINT_NOT_NULL);
			}
			break;
		default:
			break;
	}
}

/* a new column's DEFAULT or GENERATED expression (raw tree: a constraint) */
static bool
column_has_default(ColumnDef *def)
{
	ListCell   *lc;

	if (def->raw_default != NULL || def->cooked_default != NULL)
		return true;
	foreach(lc, def->constraints)
	{
		Constraint *c = lfirst(lc);

		if (IsA(c, Constraint) &&
			(c->contype == CONSTR_DEFAULT || c->contype == CONSTR_GENERATED))
			return true;
	}
	return false;
}

static void
classify_alter_table(AlterTableStmt *stmt, WgDdlClass *out)
{
	ListCell   *lc;
	List	   *notnull = NIL;
	bool		new_column_fk = true;

	/*
	 * A FOREIGN KEY declared on a column the statement adds is marked valid
	 * without a check when no column it adds has a default and it adds no
	 * FOREIGN KEY constraint of its own (transformAlterTableStmt's
	 * skipValidation): the new column is NULL in every row.
	 */
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		if (cmd->subtype == AT_AddColumn && cmd->def && IsA(cmd->def, ColumnDef) &&
			column_has_default((ColumnDef *) cmd->def))
			new_column_fk = false;
		if (cmd->subtype == AT_AddConstraint && cmd->def && IsA(cmd->def, Constraint) &&
			((Constraint *) cmd->def)->contype == CONSTR_FOREIGN)
			new_column_fk = false;
	}

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		switch (cmd->subtype)
		{
			case AT_AttachPartition:
				if (stmt->objtype == OBJECT_TABLE && cmd->def &&
					IsA(cmd->def, PartitionCmd))
				{
					PartitionCmd *pc = (PartitionCmd *) cmd->def;

					/* the guard looks for constraints that prove the bound */
					out->attach = pc;
					out->parent = stmt->relation;
					out->partbound = pc->bound;
					set_rule(out, WG_RULE_VALIDATION, pc->name,
							 "ATTACH PARTITION checks every row against the partition bound",
							 "Add a CHECK constraint matching the partition bound to the table first (NOT VALID, then VALIDATE CONSTRAINT, which does not block writes): ATTACH PARTITION then skips the scan.");
				}
				break;
			case AT_DetachPartition:
				if (stmt->objtype == OBJECT_TABLE && cmd->def &&
					IsA(cmd->def, PartitionCmd))
				{
					/* the partition becomes a table of its own */
					out->detach = true;
					out->temp = rangevar_is_temp(((PartitionCmd *) cmd->def)->name);
					if (!out->temp)
						set_rule(out, WG_RULE_NEW_TABLE,
								 ((PartitionCmd *) cmd->def)->name,
								 "DETACH PARTITION makes the partition a table of its own",
								 "Drop the partition with DROP TABLE instead; creating tables (detaching partitions included) is restricted by workload_guard.ddl_new_tables. " HINT_BYPASS);
				}
				break;
			case AT_AlterColumnType:
				/* the guard predicts which indexes are rebuilt */
				out->type_changes = lappend(out->type_changes, cmd);
				break;
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
					classify_constraint((Constraint *) cmd->def, stmt->relation,
										false, out);
				break;
			case AT_AddColumn:
				if (cmd->def && IsA(cmd->def, ColumnDef))
				{
					ListCell   *lc2;

					foreach(lc2, ((ColumnDef *) cmd->def)->constraints)
					{
						Node	   *c = lfirst(lc2);

						if (IsA(c, Constraint))
							classify_constraint((Constraint *) c, stmt->relation,
												new_column_fk, out);
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
				 HINT_NOT_NULL);
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

/*
 * Statements PostgreSQL does not log as DDL that may still be one (VACUUM
 * FULL, REINDEX, EXPLAIN ANALYZE of CREATE TABLE AS, the raw tree of SELECT
 * INTO): true if parsetree is one of these kinds, classified.
 */
static bool
classify_maintenance(Node *parsetree, WgDdlClass *out)
{
	WgRewriteCommand rewrite;
	RangeVar   *rewritten;
	List	   *rewrite_options;

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
				return true;
			out->is_ddl = true;
			out->tag = "VACUUM";
			set_rule(out, WG_RULE_REWRITE, rewritten,
					 "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock",
					 "Use plain VACUUM, or pg_repack for an online rewrite. " HINT_BYPASS);
			return true;
		case WG_REWRITE_CLUSTER:
			out->is_ddl = true;
			out->tag = "CLUSTER";
			set_rule(out, WG_RULE_REWRITE, rewritten,
					 "CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock",
					 "Use pg_repack for an online reorder. " HINT_BYPASS);
			return true;
		case WG_REWRITE_REPACK:
			out->is_ddl = true;
			out->concurrently = wg_option_bool(rewrite_options, "concurrently");
			if (!out->concurrently)
				set_rule(out, WG_RULE_REWRITE, rewritten,
						 "REPACK rewrites the table under an ACCESS EXCLUSIVE lock",
						 "Use REPACK CONCURRENTLY, or pg_repack for an online rewrite. " HINT_BYPASS);
			else
				out->relation = rewritten;
			return true;
		case WG_REWRITE_NONE:
			break;
	}

	switch (nodeTag(parsetree))
	{
		case T_VacuumStmt:
			return true;		/* ANALYZE */
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
				return true;
			}
		case T_ExplainStmt:
			classify_explain((ExplainStmt *) parsetree, out);
			return true;
		case T_SelectStmt:
			/* only the raw tree of SELECT INTO gets here (SQL wrapper) */
			if (((SelectStmt *) parsetree)->intoClause)
			{
				out->is_ddl = true;
				out->cmdtag = CMDTAG_SELECT_INTO;
				out->tag = GetCommandTagName(out->cmdtag);
				classify_new_table(((SelectStmt *) parsetree)->intoClause->rel,
								   false, out);
			}
			return true;
		default:
			return false;
	}
}

/* statements PostgreSQL logs as DDL */
static void
classify_ddl(Node *parsetree, WgDdlClass *out)
{
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
		case T_AlterDomainStmt:
			{
				AlterDomainStmt *stmt = (AlterDomainStmt *) parsetree;
				Constraint *con = (Constraint *) stmt->def;

				/* validateDomainConstraint: every column of the domain */
				if (stmt->subtype == 'O' ||
					(stmt->subtype == 'C' && con && IsA(con, Constraint) &&
					 (con->contype == CONSTR_NOTNULL ||
					  (con->contype == CONSTR_CHECK && !con->skip_validation))))
				{
					out->domain = stmt->typeName;
					set_rule(out, WG_RULE_VALIDATION, NULL,
							 stmt->subtype == 'O' ?
							 "ALTER DOMAIN ... SET NOT NULL checks every column of the domain in every table" :
							 "ALTER DOMAIN ... ADD CONSTRAINT without NOT VALID checks every column of the domain in every table",
							 "Add a CHECK constraint with NOT VALID instead (CHECK (VALUE IS NOT NULL) for SET NOT NULL): new values are checked at once; check existing rows with ALTER DOMAIN ... VALIDATE CONSTRAINT at a quiet time. " HINT_BYPASS);
				}
				break;
			}
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
				/* the guard checks whether the default partition is scanned */
				if (stmt->partbound && stmt->inhRelations && !out->temp)
				{
					out->parent = linitial_node(RangeVar, stmt->inhRelations);
					out->partbound = stmt->partbound;
				}
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

bool
wg_ddl_never_ddl(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_ExecuteStmt:		/* PREPARE takes only plannable statements */
		case T_PrepareStmt:
		case T_DeallocateStmt:
		case T_TransactionStmt:
		case T_VariableSetStmt:
		case T_VariableShowStmt:
		case T_DeclareCursorStmt:
		case T_FetchStmt:
		case T_ClosePortalStmt:
		case T_CallStmt:		/* its body's statements are checked themselves */
		case T_DoStmt:
		case T_NotifyStmt:
		case T_ListenStmt:
		case T_UnlistenStmt:
		case T_DiscardStmt:
		case T_CheckPointStmt:
			return true;
		default:
			return false;
	}
}

void
wg_ddl_classify(Node *parsetree, WgDdlClass *out)
{
	memset(out, 0, sizeof(*out));
	out->cmdtag = CreateCommandTag(parsetree);
	out->tag = GetCommandTagName(out->cmdtag);

	if (!classify_maintenance(parsetree, out) &&
		GetCommandLogLevel(parsetree) == LOGSTMT_DDL)
		classify_ddl(parsetree, out);
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
