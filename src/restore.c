/*-------------------------------------------------------------------------
 *
 * restore.c
 *	  What makes the extension's tables survive pg_dump and a restore into
 *	  another cluster (their rows are dumped by pg_extension_config_dump):
 *
 *	  - _ddl_history_keep_id(), BEFORE INSERT on ddl_history: the restore
 *		creates the extension and runs DDL of its own, which is recorded
 *		under ids 1, 2, ... before COPY brings the old rows back with their
 *		ids.  A row arriving with an id already taken takes it back (the
 *		row recorded by the restore moves to the next id), and the identity
 *		always continues after the highest id, so that DDL after the
 *		restore is recorded too.
 *	  - _index_rules_resolve(), on ddl_command_end of CREATE INDEX, ALTER
 *		TABLE and ALTER INDEX: disabled-index rules are keyed by OID, and a
 *		restore gives every index a new one.  A rule also records the
 *		qualified name of its index; when its OID pair no longer names an
 *		index of that name, the rule moves to the index that now has it.
 *		Renames update the recorded name first, so a new index under a
 *		disabled index's old name never takes over its rule.
 *
 * Both run their statements through SPI as internal statements (neither
 * timed nor subject to digest rules: a rule on one of their digests must
 * never fail a user's DDL).  No hook code here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "workload_guard.h"

/* the schema of the calling function: the extension's */
static const char *
own_schema(FunctionCallInfo fcinfo)
{
	return quote_identifier(get_namespace_name(get_func_namespace(fcinfo->flinfo->fn_oid)));
}

static void
spi_exec(const char *sql, int nargs, Oid *types, Datum *values, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);

	if (rc != expected)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
}

PG_FUNCTION_INFO_V1(wg_ddl_history_keep_id);

Datum
wg_ddl_history_keep_id(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	HeapTuple	tuple;
	TupleDesc	desc;
	char	   *table;
	char	   *seq;
	int64		id,
				last;
	bool		isnull,
				called;
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2];

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired BEFORE INSERT FOR EACH ROW",
						"_ddl_history_keep_id")));
	rel = trigdata->tg_relation;
	tuple = trigdata->tg_trigtuple;
	desc = RelationGetDescr(rel);
	id = DatumGetInt64(heap_getattr(tuple, SPI_fnumber(desc, "id"), desc, &isnull));
	if (isnull)
		return PointerGetDatum(tuple);	/* the NOT NULL constraint says so */
	table = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
									   RelationGetRelationName(rel));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	wg_internal_begin();		/* an error closes it with the (sub)xact */

	values[0] = CStringGetTextDatum(table);
	spi_exec("SELECT pg_catalog.pg_get_serial_sequence($1, 'id')", 1, types, values,
			 SPI_OK_SELECT);
	seq = SPI_processed == 1 ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : NULL;
	if (seq == NULL)
		elog(ERROR, "ddl_history has no identity sequence");
	spi_exec(psprintf("SELECT last_value, is_called FROM %s", seq), 0, NULL, NULL, SPI_OK_SELECT);
	last = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	called = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));

	values[1] = Int64GetDatum(id);
	if (id > last || (id == last && !called))
	{
		/* an id from the outside, past the identity: continue after it */
		values[0] = CStringGetTextDatum(seq);
		spi_exec("SELECT pg_catalog.setval($1::regclass, $2)", 2, types, values, SPI_OK_SELECT);
	}
	else if (id != last)
	{
		/*
		 * An id from the outside, below the identity: if a row has it (one
		 * the restore recorded), that row moves to the next id, which no
		 * row has: the identity is never behind the highest id.
		 */
		spi_exec(psprintf("UPDATE %s SET id = DEFAULT WHERE id = $1", table),
				 1, &types[1], &values[1], SPI_OK_UPDATE);
	}

	wg_internal_end();
	SPI_finish();
	return PointerGetDatum(tuple);
}

PG_FUNCTION_INFO_V1(wg_index_rules_resolve);

Datum
wg_index_rules_resolve(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata = (EventTriggerData *) fcinfo->context;
	const char *nsp;
	const char *tag;
	uint64		moved;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by the event trigger manager",
						"_index_rules_resolve")));
	nsp = own_schema(fcinfo);
	tag = GetCommandTagName(trigdata->tag);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	wg_internal_begin();		/* an error closes it with the (sub)xact */

	spi_exec(psprintf("SELECT 1 FROM %s.disabled_index_rules LIMIT 1", nsp), 0, NULL, NULL,
			 SPI_OK_SELECT);
	if (SPI_processed == 0)
	{
		wg_internal_end();
		SPI_finish();
		PG_RETURN_VOID();
	}

	/* renamed, or moved with its table: the rule follows its index by OID */
	if (strcmp(tag, "ALTER INDEX") == 0 || strcmp(tag, "ALTER TABLE") == 0)
		spi_exec(psprintf("UPDATE %s.disabled_index_rules r"
						  "   SET index_name = pg_catalog.quote_ident(n.nspname) || '.' ||"
						  "                    pg_catalog.quote_ident(c.relname)"
						  "  FROM pg_catalog.pg_event_trigger_ddl_commands() d,"
						  "       pg_catalog.pg_index i, pg_catalog.pg_class c,"
						  "       pg_catalog.pg_namespace n"
						  " WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass"
						  "   AND d.objid IN (r.indexrelid, r.indrelid)"
						  "   AND i.indexrelid = r.indexrelid AND i.indrelid = r.indrelid"
						  "   AND c.oid = r.indexrelid AND n.oid = c.relnamespace"
						  "   AND r.index_name <> pg_catalog.quote_ident(n.nspname) || '.' ||"
						  "                       pg_catalog.quote_ident(c.relname)", nsp),
				 0, NULL, NULL, SPI_OK_UPDATE);

	/* restored: the rule moves to the index that has its recorded name */
	spi_exec(psprintf("UPDATE %s.disabled_index_rules r"
					  "   SET indexrelid = i.indexrelid, indrelid = i.indrelid"
					  "  FROM pg_catalog.pg_index i"
					  " WHERE i.indexrelid = pg_catalog.to_regclass(r.index_name)"
					  "   AND i.indexrelid <> r.indexrelid"
					  "   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index p,"
					  "                          pg_catalog.pg_class c, pg_catalog.pg_namespace n"
					  "                    WHERE p.indexrelid = r.indexrelid"
					  "                      AND p.indrelid = r.indrelid"
					  "                      AND c.oid = p.indexrelid AND n.oid = c.relnamespace"
					  "                      AND pg_catalog.quote_ident(n.nspname) || '.' ||"
					  "                          pg_catalog.quote_ident(c.relname) = r.index_name)"
					  "   AND NOT EXISTS (SELECT 1 FROM %s.disabled_index_rules o"
					  "                    WHERE o.indexrelid = i.indexrelid)", nsp, nsp),
			 0, NULL, NULL, SPI_OK_UPDATE);
	moved = SPI_processed;
	if (moved > 0)
		spi_exec(psprintf("SELECT %s._index_rules_changed()", nsp), 0, NULL, NULL,
				 SPI_OK_SELECT);

	wg_internal_end();
	SPI_finish();
	PG_RETURN_VOID();
}
