/*-------------------------------------------------------------------------
 *
 * ext_objects.c
 *	  What belongs to the extension.  Every object the C code finds by name
 *	  (the config tables, the history table, the functions it calls, the
 *	  schema its SQL names) is looked up here and trusted only if pg_depend
 *	  records it as a member of extension workload_guard, and, for a table
 *	  whose rows are decoded, only if its columns are the ones the decoder
 *	  expects.  Also the one way workload_guard runs SQL as the owner of its
 *	  tables.
 *
 * Why: the library is preloaded into every database of the cluster, also
 * into those where the extension was never created.  There, any role that
 * may CREATE in the database (its owner, a CREATEDB role in its own
 * database) can create a schema workload_guard with tables of the same
 * names.  Found by name, their rows would refuse the superuser's queries or
 * hide indexes from every session, and rows of other column types would be
 * decoded as ours (a crash).  Membership in the extension cannot be faked
 * without superuser rights: CREATE EXTENSION records it, ALTER EXTENSION
 * ADD needs the extension's owner.  The table must also still be in schema
 * workload_guard (the extension is not relocatable), so the SQL texts that
 * name workload_guard.<table> resolve to the verified table: a schema holds
 * one relation of a name.
 *
 * Running SQL as the table owner (wg_run_as_owner): the tables are
 * readable and writable by their owner only; the right to change them is
 * the EXECUTE privilege on the management functions (or running DDL, for
 * the history).  The statements run with the owner's identity, in a
 * security-restricted operation (no temporary objects, no SET ROLE, no
 * session state the caller could leave behind: what a SECURITY DEFINER
 * function with a pinned search_path gives, and what maintenance commands
 * use when they run user code), with search_path "pg_catalog, pg_temp" so
 * that no unqualified name in our SQL resolves to a caller's object.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "ext_objects.h"
#include "workload_guard.h"

#define WG_EXT_NAME		"workload_guard"
#define WG_EXT_SCHEMA	"workload_guard"

Oid
wg_ext_oid(void)
{
	return get_extension_oid(WG_EXT_NAME, true);
}

bool
wg_ext_owns(Oid classid, Oid objid)
{
	Oid			ext = wg_ext_oid();

	return OidIsValid(ext) && getExtensionOfObject(classid, objid) == ext;
}

/* as many columns as this version, or as an earlier one, has */
static bool
natts_ok(const WgExtTable *t, int natts)
{
	return natts == t->ncolumns ||
		(t->ncolumns_min > 0 && natts >= t->ncolumns_min && natts <= t->ncolumns);
}

/* the columns of relid (natts of them, per pg_class) against t */
static bool
columns_match(const WgExtTable *t, Oid relid, int natts)
{
	int			i;

	if (t->ncolumns == 0)
		return true;
	if (!natts_ok(t, natts))
		return false;
	for (i = 0; i < natts; i++)
	{
		HeapTuple	tp = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid),
										 Int16GetDatum(i + 1));
		Form_pg_attribute att;
		bool		ok;

		if (!HeapTupleIsValid(tp))
			return false;
		att = (Form_pg_attribute) GETSTRUCT(tp);
		ok = !att->attisdropped && att->atttypid == t->columns[i].type &&
			strcmp(NameStr(att->attname), t->columns[i].name) == 0;
		ReleaseSysCache(tp);
		if (!ok)
			return false;
	}
	return true;
}

bool
wg_ext_tupdesc_matches(const WgExtTable *t, TupleDesc desc)
{
	int			i;

	if (t->ncolumns == 0)
		return true;
	if (!natts_ok(t, desc->natts))
		return false;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->atttypid != t->columns[i].type ||
			strcmp(NameStr(att->attname), t->columns[i].name) != 0)
			return false;
	}
	return true;
}

Oid
wg_ext_table(const WgExtTable *t)
{
	Oid			ext,
				nsp,
				relid;
	HeapTuple	tp;
	Form_pg_class cls;
	bool		ok;

	/* the cheap tests first: in most databases there is no such schema */
	nsp = get_namespace_oid(WG_EXT_SCHEMA, true);
	if (!OidIsValid(nsp))
		return InvalidOid;
	relid = get_relname_relid(t->relname, nsp);
	if (!OidIsValid(relid))
		return InvalidOid;
	ext = wg_ext_oid();
	if (!OidIsValid(ext) || getExtensionOfObject(RelationRelationId, relid) != ext)
		return InvalidOid;

	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tp))
		return InvalidOid;
	cls = (Form_pg_class) GETSTRUCT(tp);
	ok = cls->relkind == RELKIND_RELATION &&
		columns_match(t, relid, cls->relnatts);
	ReleaseSysCache(tp);
	return ok ? relid : InvalidOid;
}

Oid
wg_ext_table_required(const WgExtTable *t)
{
	Oid			relid = wg_ext_table(t);

	if (OidIsValid(relid))
		return relid;
	if (!OidIsValid(wg_ext_oid()))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"%s\" is not installed in this database",
						WG_EXT_NAME),
				 errhint("Run CREATE EXTENSION %s first.", WG_EXT_NAME)));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("table \"%s.%s\" of extension \"%s\" is missing or has unexpected columns",
					WG_EXT_SCHEMA, t->relname, WG_EXT_NAME),
			 errhint("Run ALTER EXTENSION %s UPDATE, or drop and create the extension again.",
					 WG_EXT_NAME)));
	return InvalidOid;			/* keep the compiler quiet */
}

Oid
wg_ext_function(const char *name, int nargs, const Oid *argtypes)
{
	List	   *qname;
	Oid			fn;

	if (!OidIsValid(get_namespace_oid(WG_EXT_SCHEMA, true)))
		return InvalidOid;
	qname = list_make2(makeString(WG_EXT_SCHEMA), makeString(pstrdup(name)));
	fn = LookupFuncName(qname, nargs, argtypes, true);
	if (!OidIsValid(fn) || !wg_ext_owns(ProcedureRelationId, fn))
		return InvalidOid;
	return fn;
}

void
wg_run_as_owner(Oid relid, void (*fn) (void *arg), void *arg)
{
	HeapTuple	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;
	Oid			save_userid;
	int			save_sec;
	int			save_nestlevel;

	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tp))->relowner;
	ReleaseSysCache(tp);

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);

	/*
	 * On error, the (sub)transaction abort restores the identity, pops the
	 * GUC level (as after a SECURITY DEFINER function) and closes the
	 * internal section.
	 */
	wg_internal_begin();
	fn(arg);
	wg_internal_end();

	AtEOXact_GUC(true, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec);
}

uint64
wg_spi_exec(const char *sql, int nargs, Oid *types, Datum *values,
			const char *nulls, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls,
										   false, 0);

	if (rc != expected)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	return SPI_processed;
}
