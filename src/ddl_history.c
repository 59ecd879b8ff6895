/*-------------------------------------------------------------------------
 *
 * ddl_history.c
 *	  Writing and reading the DDL record: the history table
 *	  workload_guard.ddl_history (one row per schema change that ran, written
 *	  in the DDL's own transaction), the ddl_command_end event trigger that
 *	  collects the object identities for it, retention, and the ring of
 *	  refused, timed-out and failed DDL in shared memory behind the view
 *	  workload_guard.ddl_rejections.
 *
 * History rows are inserted through SPI as the owner of the table (ordinary
 * roles may only read it), inside an internal subtransaction.  The DDL and
 * its row commit together or not at all: a failure to record (a
 * statement_timeout or cancel arriving during the insert included) fails the
 * DDL, with the insert's error, and is on record in the rejection ring.  No
 * interrupt is held off: a cancel during the insert aborts both, one after
 * it aborts the transaction that holds both.
 *
 * Locking protocol of the rejection ring: ring->lock (an LWLock of tranche
 * "workload_guard_ddl") guards every field of the ring.  Writers (only on
 * the error path of a DDL) take it EXCLUSIVE to copy one entry in; readers
 * take it SHARED and copy the entries out.  The ring is saved at a clean
 * shutdown and read back at start-up; a crash loses it.
 * Memory: workload_guard.ddl_rejections_max entries of about 2.3 kB.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "ddl_guard.h"
#include "digest_rules.h"
#include "ext_objects.h"
#include "subxact.h"
#include "workload_guard.h"

#define WG_REJ_STATEMENT_LEN	1024
#define WG_REJ_MESSAGE_LEN		384
#define WG_REJ_BLOCKERS_LEN		640
#define WG_REJ_RELATION_LEN		(2 * NAMEDATALEN + 6)

typedef struct WgRejection
{
	TimestampTz at;
	int			pid;
	Oid			dbid;
	Oid			userid;
	int			sqlstate;
	char		rule[24];
	char		tag[32];
	char		relation[WG_REJ_RELATION_LEN];
	char		message[WG_REJ_MESSAGE_LEN];
	char		blockers[WG_REJ_BLOCKERS_LEN];
	char		statement[WG_REJ_STATEMENT_LEN];
} WgRejection;

typedef struct WgRejectRing
{
	LWLock	   *lock;
	uint64		total;			/* entries ever written; next slot = total % size */
	int			size;
	WgRejection entries[FLEXIBLE_ARRAY_MEMBER];
} WgRejectRing;

int			wg_ddl_history_retention = 365;
static int	wg_ddl_rejections_max = 128;
static WgRejectRing *ring = NULL;
static TimestampTz last_trim = 0;

PG_FUNCTION_INFO_V1(wg_ddl_command_end);
PG_FUNCTION_INFO_V1(wg_ddl_sql_drop);
PG_FUNCTION_INFO_V1(wg_ddl_rejections);
PG_FUNCTION_INFO_V1(wg_reset_ddl_rejections);
PG_FUNCTION_INFO_V1(wg_trim_ddl_history);

void
wg_ddl_history_define_gucs(void)
{
	DefineCustomIntVariable("workload_guard.ddl_history_retention",
							"Sets how many days of DDL history are kept.",
							"Older rows are deleted as new ones are written (at most hourly per session); 0 keeps everything.",
							&wg_ddl_history_retention, 365, 0, 36500,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("workload_guard.ddl_rejections_max",
							"Sets how many refused, timed-out or failed schema changes are kept in memory.",
							NULL, &wg_ddl_rejections_max, 128, 16, 100000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
}

static Size
ring_size(void)
{
	return add_size(offsetof(WgRejectRing, entries),
					mul_size(wg_ddl_rejections_max, sizeof(WgRejection)));
}

void
wg_ddl_shmem_request(void)
{
	RequestAddinShmemSpace(ring_size());
	RequestNamedLWLockTranche("workload_guard_ddl", 1);
}

/*
 * The ring is saved at a clean shutdown and read back at start-up, like the
 * latency histograms (latency.c): the rejections of the last days survive a
 * planned restart.  After a crash they are lost with shared memory.
 */
#define WG_REJ_FILE		PGSTAT_STAT_PERMANENT_DIRECTORY "/workload_guard_ddl.stat"
#define WG_REJ_MAGIC	0x57474431	/* "WGD1" */

static void
ring_save(int code, Datum arg)
{
	FILE	   *file;
	uint32		header[3];
	uint64		total;
	int			n,
				i;

	if (code || ring == NULL)
		return;
	total = ring->total;
	n = (int) Min(total, (uint64) ring->size);

	file = AllocateFile(WG_REJ_FILE ".tmp", PG_BINARY_W);
	if (file == NULL)
		goto error;
	header[0] = WG_REJ_MAGIC;
	header[1] = sizeof(WgRejection);
	header[2] = n;
	if (fwrite(header, sizeof(header), 1, file) != 1)
		goto error;
	for (i = 0; i < n; i++)
		if (fwrite(&ring->entries[(total - n + i) % ring->size],
				   sizeof(WgRejection), 1, file) != 1)
			goto error;
	if (FreeFile(file))
	{
		file = NULL;
		goto error;
	}
	(void) durable_rename(WG_REJ_FILE ".tmp", WG_REJ_FILE, LOG);
	return;

error:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("could not write file \"%s\": %m", WG_REJ_FILE ".tmp")));
	if (file)
		FreeFile(file);
	unlink(WG_REJ_FILE ".tmp");
}

static void
ring_load(void)
{
	FILE	   *file = AllocateFile(WG_REJ_FILE, PG_BINARY_R);
	uint32		header[3];
	uint32		i;

	if (file == NULL)
		return;
	if (fread(header, sizeof(header), 1, file) == 1 &&
		header[0] == WG_REJ_MAGIC && header[1] == sizeof(WgRejection))
	{
		for (i = 0; i < header[2]; i++)
		{
			WgRejection *e = &ring->entries[ring->total % ring->size];

			if (fread(e, sizeof(WgRejection), 1, file) != 1)
				break;
			ring->total++;
		}
	}
	else
		ereport(LOG,
				(errmsg("ignoring workload_guard rejections file \"%s\": wrong format",
						WG_REJ_FILE)));
	FreeFile(file);
	unlink(WG_REJ_FILE);
}

void
wg_ddl_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	ring = ShmemInitStruct("workload_guard ddl rejections", ring_size(), &found);
	if (!found)
	{
		ring->lock = &(GetNamedLWLockTranche("workload_guard_ddl"))->lock;
		ring->total = 0;
		ring->size = wg_ddl_rejections_max;
	}
	LWLockRelease(AddinShmemInitLock);

	/* the postmaster (or a standalone backend) saves the ring at shutdown */
	if (!IsUnderPostmaster)
		on_shmem_exit(ring_save, (Datum) 0);
	if (!found)
		ring_load();			/* no other process runs yet */
}

/* copy at most dstlen-1 bytes without cutting a multibyte character */
static void
clip_copy(char *dst, const char *src, int dstlen)
{
	int			len;

	if (src == NULL)
	{
		dst[0] = '\0';
		return;
	}
	len = strlen(src);
	if (len >= dstlen)
		len = pg_mbcliplen(src, len, dstlen - 1);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/*
 * Records a refused, timed-out or failed DDL.  Called on the error path:
 * no catalog access, no allocation beyond the caller's strings.
 */
void
wg_ddl_reject(WgDdlState *st, int sqlstate, const char *rule,
			  const char *message, const char *blockers)
{
	WgRejection *e;

	if (ring == NULL)
		return;
	LWLockAcquire(ring->lock, LW_EXCLUSIVE);
	e = &ring->entries[ring->total % ring->size];
	ring->total++;
	e->at = GetCurrentTimestamp();
	e->pid = MyProcPid;
	e->dbid = MyDatabaseId;
	e->userid = st->current_user;
	e->sqlstate = sqlstate;
	clip_copy(e->rule, rule, sizeof(e->rule));
	clip_copy(e->tag, st->cls.tag, sizeof(e->tag));
	clip_copy(e->relation, st->relname, sizeof(e->relation));
	clip_copy(e->message, message, sizeof(e->message));
	clip_copy(e->blockers, blockers, sizeof(e->blockers));
	clip_copy(e->statement, st->statement, sizeof(e->statement));
	LWLockRelease(ring->lock);
}

Datum
wg_ddl_rejections(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	WgRejection *copy;
	uint64		total;
	int			n;

	wg_require_loaded();
	InitMaterializedSRF(fcinfo, 0);
	if (ring == NULL)
		return (Datum) 0;

	copy = palloc(sizeof(WgRejection) * ring->size);
	LWLockAcquire(ring->lock, LW_SHARED);
	total = ring->total;
	n = (int) Min(total, (uint64) ring->size);
	for (int i = 0; i < n; i++)
		copy[i] = ring->entries[(total - n + i) % ring->size];
	LWLockRelease(ring->lock);

	for (int i = 0; i < n; i++)
	{
		WgRejection *e = &copy[i];
		Datum		values[11];
		bool		nulls[11] = {0};

		values[0] = TimestampTzGetDatum(e->at);
		values[1] = Int32GetDatum(e->pid);
		values[2] = ObjectIdGetDatum(e->dbid);
		values[3] = ObjectIdGetDatum(e->userid);
		values[4] = CStringGetTextDatum(unpack_sql_state(e->sqlstate));
		values[5] = CStringGetTextDatum(e->rule);
		values[6] = CStringGetTextDatum(e->tag);
		values[7] = CStringGetTextDatum(e->relation);
		nulls[7] = (e->relation[0] == '\0');
		values[8] = CStringGetTextDatum(e->message);
		values[9] = CStringGetTextDatum(e->blockers);
		nulls[9] = (e->blockers[0] == '\0');
		values[10] = CStringGetTextDatum(e->statement);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

Datum
wg_reset_ddl_rejections(PG_FUNCTION_ARGS)
{
	int64		n;

	wg_require_loaded();
	LWLockAcquire(ring->lock, LW_EXCLUSIVE);
	n = (int64) Min(ring->total, (uint64) ring->size);
	ring->total = 0;
	LWLockRelease(ring->lock);
	PG_RETURN_INT64(n);
}

/* ----------------------------------------------------------------
 * ddl_command_end: the objects PostgreSQL reports for the statement
 * ----------------------------------------------------------------
 */
/*
 * Adds the (object_type, object_identity) rows of an event trigger query to
 * the objects of the running DDL.
 */
static void
collect_objects(FunctionCallInfo fcinfo, const char *fname, const char *sql)
{
	WgDdlState *st = wg_ddl_current;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by the event trigger manager",
						fname)));
	if (st == NULL || !st->record)
		return;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* our bookkeeping: neither timed nor subject to digest rules */
	wg_internal_begin();
	PG_TRY();
	{
		if (SPI_execute(sql, true, 0) == SPI_OK_SELECT)
		{
			MemoryContext old = MemoryContextSwitchTo(st->mcxt);

			for (uint64 i = 0; i < SPI_processed; i++)
			{
				HeapTuple	tup = SPI_tuptable->vals[i];
				TupleDesc	desc = SPI_tuptable->tupdesc;
				char	   *type = SPI_getvalue(tup, desc, 1);
				char	   *id = SPI_getvalue(tup, desc, 2);

				st->obj_types = lappend(st->obj_types, type ? type : pstrdup(""));
				st->obj_ids = lappend(st->obj_ids, id ? id : pstrdup(""));
			}
			MemoryContextSwitchTo(old);
		}
	}
	PG_FINALLY();
	{
		wg_internal_end();
	}
	PG_END_TRY();
	SPI_finish();
}

/* ddl_command_end: the objects a DDL created or altered */
Datum
wg_ddl_command_end(PG_FUNCTION_ARGS)
{
	collect_objects(fcinfo, "ddl_command_end",
					"SELECT object_type, object_identity "
					"FROM pg_catalog.pg_event_trigger_ddl_commands()");
	PG_RETURN_VOID();
}

/*
 * sql_drop: the objects a DROP named (not those it dropped by cascade or as
 * internal dependencies); ddl_command_end reports none for a DROP.
 */
Datum
wg_ddl_sql_drop(PG_FUNCTION_ARGS)
{
	collect_objects(fcinfo, "ddl_sql_drop",
					"SELECT object_type, object_identity "
					"FROM pg_catalog.pg_event_trigger_dropped_objects() WHERE original");
	PG_RETURN_VOID();
}

static Datum
text_array(List *l)
{
	ArrayBuildState *astate = NULL;
	ListCell   *lc;

	foreach(lc, l)
		astate = accumArrayResult(astate, CStringGetTextDatum(lfirst(lc)),
								  false, TEXTOID, CurrentMemoryContext);
	if (astate == NULL)
		return PointerGetDatum(construct_empty_array(TEXTOID));
	return makeArrayResult(astate, CurrentMemoryContext);
}

static void
history_insert_spi(WgDdlState *st, double duration_ms, double lock_wait_ms)
{
	Oid			argtypes[13] = {TIMESTAMPTZOID, FLOAT8OID, FLOAT8OID, TEXTOID,
	TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTOID, BOOLOID, BOOLOID, TEXTOID,
	TEXTARRAYOID, BOOLOID};
	Datum		values[13];
	char		nulls[13];
	List	   *rules = NIL;
	List	   *types = st->obj_types;
	List	   *ids = st->obj_ids;
	char	   *curuser = GetUserNameFromId(st->current_user, true);

	memset(nulls, ' ', sizeof(nulls));
	/* statements without ddl_command_end report what they name */
	if (types == NIL && st->relname)
	{
		types = list_make1(pstrdup("relation"));
		ids = list_make1(st->relname);
	}
	if (st->violated != WG_RULE_NONE)
		rules = list_make1((char *) wg_ddl_rule_name(st->violated));

	values[0] = TimestampTzGetDatum(st->started_at);
	values[1] = Float8GetDatum(duration_ms);
	values[2] = Float8GetDatum(lock_wait_ms);
	values[3] = CStringGetTextDatum(curuser ? curuser : "");
	values[4] = CStringGetTextDatum(st->cls.tag);
	values[5] = text_array(types);
	values[6] = text_array(ids);
	values[7] = CStringGetTextDatum(st->statement);
	values[8] = BoolGetDatum(st->toplevel);
	values[9] = BoolGetDatum(st->rewrote);
	if (st->rewrite_reason)
		values[10] = CStringGetTextDatum(st->rewrite_reason);
	else
		nulls[10] = 'n';
	values[11] = text_array(rules);
	values[12] = BoolGetDatum(st->bypassed);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	wg_internal_begin();		/* an error closes it with the subxact */
	if (SPI_execute_with_args(
							  "INSERT INTO workload_guard.ddl_history "
							  "(started_at, duration_ms, lock_wait_ms, session_role, effective_role,"
							  " database_name, application_name, client_addr, backend_pid,"
							  " command_tag, object_types, object_identities, statement, top_level,"
							  " rewrote, rewrite_reason, rules, bypassed) "
							  "VALUES ($1, $2, $3, session_user, $4, current_database(),"
							  " current_setting('application_name'), inet_client_addr(),"
							  " pg_backend_pid(), $5, $6, $7, $8, $9, $10, $11, $12, $13)",
							  13, argtypes, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into workload_guard.ddl_history");

	/* retention, at most hourly per session */
	if (wg_ddl_history_retention > 0 &&
		TimestampDifferenceExceeds(last_trim, GetCurrentTimestamp(), 3600 * 1000))
	{
		Oid			t[1] = {INT4OID};
		Datum		v[1] = {Int32GetDatum(wg_ddl_history_retention)};

		SPI_execute_with_args("DELETE FROM workload_guard.ddl_history "
							  "WHERE started_at < now() - make_interval(days => $1)",
							  1, t, v, NULL, false, 0);
		last_trim = GetCurrentTimestamp();
	}
	wg_internal_end();
	SPI_finish();
}

/* the history table: found only if it is the extension's (ext_objects.c) */
static const WgExtTable history_table = {.relname = "ddl_history"};

typedef struct HistoryInsertArgs
{
	WgDdlState *st;
	double		duration_ms;
	double		lock_wait_ms;
	Oid			relid;
} HistoryInsertArgs;

static void
history_insert_cb(void *arg)
{
	HistoryInsertArgs *a = (HistoryInsertArgs *) arg;

	history_insert_spi(a->st, a->duration_ms, a->lock_wait_ms);
}

/*
 * The statements name functions and operators without a schema: run them
 * as the table's owner with search_path pinned (wg_run_as_owner); an error
 * restores the identity with the subtransaction.
 */
static void
history_insert_as_owner(void *arg)
{
	HistoryInsertArgs *a = (HistoryInsertArgs *) arg;

	wg_run_as_owner(a->relid, history_insert_cb, a);
}

/*
 * Writes the history row of a DDL that ran, in its transaction, as the
 * table's owner.  A failure fails the DDL: a schema change is recorded or
 * not made at all (a statement_timeout firing during the insert used to let
 * the DDL commit without its row).
 */
void
wg_ddl_history_insert(WgDdlState *st, double duration_ms, double lock_wait_ms)
{
	HistoryInsertArgs args;
	ErrorData  *edata;

	if (!IsTransactionState())
		return;
	args.relid = wg_ext_table(&history_table);
	if (!OidIsValid(args.relid))
		return;					/* DROP EXTENSION, or not installed here */
	args.st = st;
	args.duration_ms = duration_ms;
	args.lock_wait_ms = lock_wait_ms;

	edata = wg_run_in_subxact(history_insert_as_owner, &args);
	if (edata == NULL)
		return;
	wg_ddl_reject(st, edata->sqlerrcode, "history_failed", edata->message, NULL);

	/* a cancel or timeout is the caller's own error: give it back as it was */
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
		edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
		edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
		ReThrowError(edata);
	ereport(ERROR,
			(errcode(edata->sqlerrcode),
			 errmsg("could not record schema change in workload_guard.ddl_history: %s",
					edata->message),
			 errdetail("The schema change is rolled back: workload_guard records every schema change it lets run, or none.")));
}

/* workload_guard.trim_ddl_history(older_than interval) */
Datum
wg_trim_ddl_history(PG_FUNCTION_ARGS)
{
	Datum		arg;
	Oid			argtypes[1] = {INTERVALOID};
	int64		n;

	if (PG_ARGISNULL(0))
	{
		if (wg_ddl_history_retention == 0)
			PG_RETURN_INT64(0);
		arg = DirectFunctionCall7(make_interval, Int32GetDatum(0), Int32GetDatum(0),
								  Int32GetDatum(0), Int32GetDatum(wg_ddl_history_retention),
								  Int32GetDatum(0), Int32GetDatum(0), Float8GetDatum(0));
	}
	else
	{
		Interval   *iv = PG_GETARG_INTERVAL_P(0);

		if (iv->month < 0 || iv->day < 0 || iv->time < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("older_than must not be negative")));
		arg = PG_GETARG_DATUM(0);
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* runs as the caller, under their search_path: qualify everything */
	wg_internal_begin();
	if (SPI_execute_with_args("DELETE FROM workload_guard.ddl_history "
							  "WHERE started_at OPERATOR(pg_catalog.<) "
							  "(pg_catalog.now() OPERATOR(pg_catalog.-) $1)",
							  1, argtypes, &arg, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not trim workload_guard.ddl_history");
	n = (int64) SPI_processed;
	wg_internal_end();
	SPI_finish();
	PG_RETURN_INT64(n);
}
