/*-------------------------------------------------------------------------
 *
 * queryid.c
 *	  workload_guard.queryid_of(statement): the digest (core query
 *	  identifier) of one statement, without planning or executing it.
 *
 * The string goes through what PostgreSQL does with a statement before it
 * plans it, and nothing more: raw_parser() (exactly one statement: more,
 * or none, is an error), then parse analysis with variable parameters
 * (parse_analyze_varparams, as an extended-protocol Parse message is
 * analyzed, so that "$1"-style text as pg_stat_activity shows it for
 * drivers using the extended protocol is accepted, each parameter's type
 * inferred from its use), during which core's jumbling computes the
 * queryid exactly as compute_query_id does for the statement itself.  A
 * parameter whose type cannot be inferred is an error, as it is for Parse:
 * such a statement never runs, so it has no digest.
 *
 * The caller's privileges and search_path apply: parse analysis looks
 * names up (and takes the locks a parse takes) but checks no permission on
 * tables; nothing is planned, executed or rewritten.  The identifier
 * equals the one the extended protocol records when the client lets the
 * server infer parameter types (as pgbench and libpq do); a client that
 * declares other types gets another identifier, since parameter types are
 * part of the jumble.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "catalog/pg_type.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "compat.h"

/*
 * Errors in the argument (a syntax error, an unknown table) carry a cursor
 * position into the argument, not into the query that called us: report it
 * as an internal query position, as SQL functions do for their bodies.
 */
static void
queryid_of_error_callback(void *arg)
{
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery((const char *) arg);
	}
}

PG_FUNCTION_INFO_V1(wg_queryid_of);

Datum
wg_queryid_of(PG_FUNCTION_ARGS)
{
	char	   *sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ErrorContextCallback errcallback;
	List	   *raw;
	Query	   *query;
	Oid		   *paramTypes = NULL;
	int			numParams = 0;
	int			i;

	if (!IsQueryIdEnabled())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("query identifiers are not computed"),
				 errdetail("compute_query_id is \"%s\".",
						   GetConfigOption("compute_query_id", false, false)),
				 errhint("Set compute_query_id to on, or to auto with workload_guard in shared_preload_libraries.")));

	errcallback.callback = queryid_of_error_callback;
	errcallback.arg = sql;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	if (list_length(raw) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("queryid_of() takes exactly one statement"),
				 list_length(raw) == 0 ?
				 errdetail("The string holds no statement.") :
				 errdetail("The string holds %d statements.", list_length(raw)),
				 list_length(raw) > 1 ?
				 errhint("Pass the statements one at a time.") : 0));

	query = parse_analyze_varparams(linitial_node(RawStmt, raw), sql,
									&paramTypes, &numParams, NULL);
	for (i = 0; i < numParams; i++)
	{
		if (paramTypes[i] == InvalidOid || paramTypes[i] == UNKNOWNOID)
			ereport(ERROR,
					(errcode(ERRCODE_INDETERMINATE_DATATYPE),
					 errmsg("could not determine data type of parameter $%d", i + 1),
					 errhint("Add a cast, as in $%d::integer: a client must declare such a parameter's type, which is part of the digest.", i + 1)));
	}

	error_context_stack = errcallback.previous;

	if (query->queryId == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("statement has no query identifier"),
				 errhint("Load workload_guard via shared_preload_libraries, or set compute_query_id = on.")));

	PG_RETURN_INT64((int64) query->queryId);
}
