/*-------------------------------------------------------------------------
 *
 * ddl_scans.c
 *	  What a schema change would scan, rebuild or lock, decided the way
 *	  PostgreSQL's tablecmds.c decides it, from the catalogs: whether a
 *	  relation is private to this session or transaction, which table an
 *	  ATTACH PARTITION or a new partition makes PostgreSQL scan (using its
 *	  own proof, PartConstraintImpliedByRelConstraint), which tables an
 *	  ALTER DOMAIN checks, which indexes an ALTER COLUMN TYPE rebuilds.
 *
 * No policy here (ddl_guard.c applies the rules) and no hook code.  No lock
 * is taken: the relations are read through the relcache as the statement
 * is about to lock them itself; a relation that vanished meanwhile is
 * PostgreSQL's to report.  Partition bounds are transformed here only when
 * they are made of constants, so that no user function runs twice.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/tablecmds.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_node.h"
#include "parser/parse_type.h"
#include "parser/parse_utilcmd.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "compat.h"
#include "ddl_scans.h"

/* was this relation (or an index's table) created in this transaction? */
bool
wg_relation_is_new(Oid relid)
{
	Relation	rel = RelationIdGetRelation(relid);
	bool		result;

	if (!RelationIsValid(rel))
		return false;
	result = rel->rd_createSubid != InvalidSubTransactionId;
	RelationClose(rel);
	return result;
}

/*
 * Can a statement on this relation block nobody?  A temporary relation is
 * private to the session (whenever it was created); a relation created in
 * this transaction is invisible to others, but only if every partition or
 * child the statement recurses to is too: an old table attached to a new
 * partitioned parent is scanned, rebuilt or locked like any other.
 */
bool
wg_relation_private(Oid relid)
{
	List	   *rels;
	ListCell   *lc;

	if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		return true;
	if (!wg_relation_is_new(relid))
		return false;
	rels = find_all_inheritors(relid, NoLock, NULL);
	foreach(lc, rels)
	{
		Oid			child = lfirst_oid(lc);

		if (get_rel_persistence(child) != RELPERSISTENCE_TEMP &&
			!wg_relation_is_new(child))
			return false;
	}
	return true;
}

/*
 * The key columns of index indexname (in relid's schema), as names; NIL if
 * there is no such index (PostgreSQL reports that itself).
 */
List *
wg_index_key_columns(Oid relid, const char *indexname)
{
	Oid			indexoid = get_relname_relid(indexname, get_rel_namespace(relid));
	HeapTuple	tup;
	Form_pg_index ix;
	List	   *cols = NIL;

	if (!OidIsValid(indexoid))
		return NIL;
	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
	if (!HeapTupleIsValid(tup))
		return NIL;
	ix = (Form_pg_index) GETSTRUCT(tup);
	for (int i = 0; i < ix->indnkeyatts; i++)
	{
		char	   *name = ix->indkey.values[i] > 0 ?
			get_attname(relid, ix->indkey.values[i], true) : NULL;

		if (name)
			cols = lappend(cols, name);
	}
	ReleaseSysCache(tup);
	return cols;
}

/*
 * A raw partition bound made of constants only (MINVALUE and MAXVALUE are
 * column references in the raw tree): transforming it here runs no user
 * function a second time.  Anything else is not proven, only refused.
 */
static bool
bound_is_constant(Node *n)
{
	ListCell   *lc;

	if (n == NULL || IsA(n, A_Const) || IsA(n, ColumnRef))
		return true;
	if (IsA(n, TypeCast))
		return bound_is_constant(((TypeCast *) n)->arg);
	if (IsA(n, List))
	{
		foreach(lc, (List *) n)
			if (!bound_is_constant(lfirst(lc)))
				return false;
		return true;
	}
	return false;
}

/*
 * The quals of a bound of parent's, in parent's attribute numbers
 * (get_qual_from_partbound on the transformed bound); NULL with *ok false
 * when the bound is not made of constants.
 */
static List *
bound_quals(Relation parent, PartitionBoundSpec *raw, bool *ok)
{
	PartitionBoundSpec *bound;

	*ok = bound_is_constant((Node *) raw->listdatums) &&
		bound_is_constant((Node *) raw->lowerdatums) &&
		bound_is_constant((Node *) raw->upperdatums);
	if (!*ok)
		return NIL;
	bound = transformPartitionBound(make_parsestate(NULL), parent, copyObject(raw));
	return get_qual_from_partbound(parent, bound);
}

/*
 * The first table that checking quals on scanrel would scan, as
 * QueuePartitionConstraintValidation decides (a table whose constraints
 * imply the quals is skipped, a partitioned one is looked at partition by
 * partition, a foreign one is not scanned), leaving out tables no other
 * session can see; InvalidOid if none.
 */
static Oid
first_scanned(Relation scanrel, List *quals)
{
	char		kind = scanrel->rd_rel->relkind;

	if (PartConstraintImpliedByRelConstraint(scanrel, quals))
		return InvalidOid;
	if (kind == RELKIND_RELATION)
		return wg_relation_private(RelationGetRelid(scanrel)) ? InvalidOid :
			RelationGetRelid(scanrel);
	if (kind == RELKIND_PARTITIONED_TABLE)
	{
		PartitionDesc pd = RelationGetPartitionDesc(scanrel, true);

		for (int i = 0; i < pd->nparts; i++)
		{
			Relation	part = RelationIdGetRelation(pd->oids[i]);
			Oid			found;

			if (!RelationIsValid(part))
				continue;
			found = first_scanned(part, map_partition_varattnos(quals, 1, part, scanrel));
			RelationClose(part);
			if (OidIsValid(found))
				return found;
		}
	}
	return InvalidOid;
}

/*
 * ATTACH PARTITION: the first table of the attached one (attachid) that
 * checking the partition constraint scans (ATExecAttachPartition: the
 * bound's quals and the parent's own partition constraint); InvalidOid if
 * none.  Not proven (a non-constant bound): attachid.
 */
Oid
wg_attach_scans(RangeVar *parentrv, Oid attachid, PartitionBoundSpec *raw)
{
	Oid			parentid = RangeVarGetRelid(parentrv, NoLock, true);
	Relation	parent,
				attachrel;
	List	   *quals;
	bool		ok;
	Oid			result = attachid;

	if (!OidIsValid(parentid) || wg_relation_private(attachid) ||
		get_rel_relkind(parentid) != RELKIND_PARTITIONED_TABLE)
		return InvalidOid;		/* PostgreSQL refuses it, or nobody waits */
	parent = RelationIdGetRelation(parentid);
	attachrel = RelationIdGetRelation(attachid);
	if (RelationIsValid(parent) && RelationIsValid(attachrel))
	{
		quals = bound_quals(parent, raw, &ok);
		if (ok)
		{
			quals = list_concat(quals, RelationGetPartitionQual(parent));
			result = InvalidOid;
			if (quals)
			{
				quals = (List *) eval_const_expressions(NULL, (Node *) quals);
				quals = list_make1(make_ands_explicit(quals));
				quals = map_partition_varattnos(quals, 1, attachrel, parent);
				result = first_scanned(attachrel, quals);
			}
		}
	}
	if (RelationIsValid(attachrel))
		RelationClose(attachrel);
	if (RelationIsValid(parent))
		RelationClose(parent);
	return result;
}

/*
 * A new partition (CREATE TABLE ... PARTITION OF, ATTACH PARTITION) of a
 * parent with a default partition: the default partition is scanned for
 * rows that belong to the new one, under an ACCESS EXCLUSIVE lock, unless
 * its constraints prove there are none (check_default_partition_contents
 * for PARTITION OF: one proof for the whole default partition;
 * ATExecAttachPartition via QueuePartitionConstraintValidation for ATTACH:
 * partition by partition).  Returns the table scanned, or InvalidOid.
 */
Oid
wg_default_partition_scans(RangeVar *parentrv, PartitionBoundSpec *raw,
						   bool attach)
{
	Oid			parentid;
	Oid			defid;
	Oid			scanned;
	Relation	parent,
				defrel;
	List	   *quals;
	bool		ok;

	parentid = RangeVarGetRelid(parentrv, NoLock, true);
	if (!OidIsValid(parentid) || get_rel_relkind(parentid) != RELKIND_PARTITIONED_TABLE)
		return InvalidOid;
	defid = get_default_partition_oid(parentid);
	if (!OidIsValid(defid) || wg_relation_private(defid))
		return InvalidOid;

	parent = RelationIdGetRelation(parentid);
	defrel = RelationIdGetRelation(defid);
	if (!RelationIsValid(parent) || !RelationIsValid(defrel))
		scanned = InvalidOid;
	else
	{
		scanned = defid;
		quals = bound_quals(parent, raw, &ok);
		if (ok && attach)
			quals = list_concat(quals, RelationGetPartitionQual(parent));
		if (ok && quals)
		{
			quals = get_proposed_default_constraint(quals);
			quals = map_partition_varattnos(quals, 1, defrel, parent);
			if (attach)
				scanned = first_scanned(defrel, quals);
			else if (PartConstraintImpliedByRelConstraint(defrel, quals))
				scanned = InvalidOid;
		}
	}
	if (RelationIsValid(defrel))
		RelationClose(defrel);
	if (RelationIsValid(parent))
		RelationClose(parent);
	return scanned;
}

/*
 * The first table with a column of the domain (or of a domain over it)
 * that ALTER DOMAIN would scan (get_rels_with_domain), leaving out tables
 * no other session can see; InvalidOid if none.
 */
Oid
wg_domain_first_table(Oid domainoid)
{
	Relation	dep = table_open(DependRelationId, AccessShareLock);
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			result = InvalidOid;

	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(TypeRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(domainoid));
	scan = systable_beginscan(dep, DependReferenceIndexId, true, NULL, 2, key);
	while (!OidIsValid(result) && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);

		if (d->classid == TypeRelationId && get_typtype(d->objid) == TYPTYPE_DOMAIN)
			result = wg_domain_first_table(d->objid);
		else if (d->classid == RelationRelationId && d->objsubid > 0)
		{
			char		kind = get_rel_relkind(d->objid);

			if ((kind == RELKIND_RELATION || kind == RELKIND_MATVIEW) &&
				!wg_relation_private(d->objid))
				result = d->objid;
		}
	}
	systable_endscan(scan);
	table_close(dep, AccessShareLock);
	return result;
}

/*
 * Does changing the column's type rewrite the table?  The assignment
 * coercion PostgreSQL builds, simplified as ATPrepAlterColumnType does,
 * then ATColumnChangeRequiresRewrite's test: only relabelings and domains
 * without constraints keep the rows.  No coercion: PostgreSQL refuses it.
 */
static bool
type_change_rewrites(AttrNumber attnum, Oid oldtype, int32 typmod, Oid oldcoll,
					 Oid newtype, int32 newtypmod)
{
	Node	   *expr = (Node *) makeVar(1, attnum, oldtype, typmod, oldcoll, 0);

	expr = coerce_to_target_type(NULL, expr, oldtype, newtype, newtypmod,
								 COERCION_ASSIGNMENT, COERCE_IMPLICIT_CAST, -1);
	if (expr == NULL)
		return true;
	expr = (Node *) expression_planner((Expr *) expr);
	for (;;)
	{
		if (IsA(expr, Var) && ((Var *) expr)->varattno == attnum)
			return false;
		else if (IsA(expr, RelabelType))
			expr = (Node *) ((RelabelType *) expr)->arg;
		else if (IsA(expr, CoerceToDomain) &&
				 !WG_DOMAIN_HAS_CONSTRAINTS(((CoerceToDomain *) expr)->resulttype))
			expr = (Node *) ((CoerceToDomain *) expr)->arg;
		else
			return true;
	}
}

/*
 * ALTER COLUMN ... TYPE without a rewrite still rebuilds, under its ACCESS
 * EXCLUSIVE lock, every index on the column whose storage cannot be kept
 * (ATPostAlterTypeCleanup, TryReuseIndex, CheckIndexCompatible): a partial
 * or expression index always; otherwise one whose operator class or
 * collation changes (text to citext, int4 to oid, a new collation), or with
 * a polymorphic operator class when the type changes.  A change that
 * rewrites the table is the table_rewrite event's to decide.  Returns the
 * first index rebuilt, or InvalidOid.
 */
Oid
wg_type_change_rebuilds(Oid relid, AlterTableCmd *cmd)
{
	ColumnDef  *def = (ColumnDef *) cmd->def;
	AttrNumber	attnum = get_attnum(relid, cmd->name);
	Oid			oldtype,
				oldcoll,
				newtype,
				newcoll;
	int32		typmod,
				newtypmod;
	Type		typtup;
	Relation	rel;
	List	   *indexes;
	ListCell   *lc;
	Oid			result = InvalidOid;

	if (attnum <= 0 || wg_relation_private(relid) || def == NULL ||
		!IsA(def, ColumnDef) || def->raw_default != NULL)
		return InvalidOid;		/* USING: rewrites */
	typtup = LookupTypeName(NULL, def->typeName, &newtypmod, true);
	if (typtup == NULL)
		return InvalidOid;		/* PostgreSQL reports it */
	newtype = typeTypeId(typtup);
	ReleaseSysCache(typtup);
	get_atttypetypmodcoll(relid, attnum, &oldtype, &typmod, &oldcoll);
	if (type_change_rewrites(attnum, oldtype, typmod, oldcoll, newtype, newtypmod))
		return InvalidOid;
	if (!type_is_collatable(newtype))
		newcoll = InvalidOid;
	else if (def->collClause)
		newcoll = get_collation_oid(def->collClause->collname, true);
	else
		newcoll = get_typcollation(newtype);

	rel = RelationIdGetRelation(relid);
	if (!RelationIsValid(rel))
		return InvalidOid;
	indexes = RelationGetIndexList(rel);
	RelationClose(rel);
	foreach(lc, indexes)
	{
		Oid			indexoid = lfirst_oid(lc);
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
		Form_pg_index ix;
		bool		uses = false;
		bool		rebuilt;
		oidvector  *indclass;
		oidvector  *indcoll;
		bool		isnull;
		Oid			amoid = InvalidOid;

		if (!HeapTupleIsValid(tup))
			continue;
		ix = (Form_pg_index) GETSTRUCT(tup);
		rebuilt = !heap_attisnull(tup, Anum_pg_index_indexprs, NULL) ||
			!heap_attisnull(tup, Anum_pg_index_indpred, NULL) || !ix->indisvalid;
		for (int i = 0; i < ix->indnatts; i++)
			if (ix->indkey.values[i] == attnum)
				uses = true;
		if (rebuilt && !uses)
		{
			/* an expression or predicate on the column? */
			Relation	irel = RelationIdGetRelation(indexoid);
			Bitmapset  *attrs = NULL;

			if (RelationIsValid(irel))
			{
				pull_varattnos((Node *) RelationGetIndexExpressions(irel), 1, &attrs);
				pull_varattnos((Node *) RelationGetIndexPredicate(irel), 1, &attrs);
				RelationClose(irel);
			}
			uses = bms_is_member(attnum - FirstLowInvalidHeapAttributeNumber, attrs);
		}
		if (uses && !rebuilt)
		{
			HeapTuple	reltup = SearchSysCache1(RELOID, ObjectIdGetDatum(indexoid));

			if (HeapTupleIsValid(reltup))
			{
				amoid = ((Form_pg_class) GETSTRUCT(reltup))->relam;
				ReleaseSysCache(reltup);
			}
			indclass = (oidvector *) DatumGetPointer(SysCacheGetAttr(INDEXRELID, tup,
																	 Anum_pg_index_indclass, &isnull));
			indcoll = (oidvector *) DatumGetPointer(SysCacheGetAttr(INDEXRELID, tup,
																	Anum_pg_index_indcollation, &isnull));
			for (int i = 0; i < ix->indnkeyatts && !rebuilt; i++)
			{
				Oid			oldopc = indclass->values[i];
				Oid			newopc = oldopc;
				Oid			idxcoll = indcoll->values[i];
				Oid			newidxcoll = idxcoll;

				if (ix->indkey.values[i] != attnum)
					continue;
				/* the index definition names its opclass unless the default */
				if (oldopc == GetDefaultOpClass(oldtype, amoid))
					newopc = GetDefaultOpClass(newtype, amoid);
				/* and its collation unless the column's */
				if (idxcoll == oldcoll)
					newidxcoll = newcoll;
				if (!type_is_collatable(newtype))
					newidxcoll = InvalidOid;
				rebuilt = newopc != oldopc || newidxcoll != idxcoll ||
					(OidIsValid(newopc) &&
					 IsPolymorphicType(get_opclass_input_type(newopc)) &&
					 oldtype != newtype);
			}
		}
		ReleaseSysCache(tup);
		if (uses && rebuilt)
		{
			result = indexoid;
			break;
		}
	}
	return result;
}
