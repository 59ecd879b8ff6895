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
 * take it SHARED and copy the entries out.  Entries are not kept in
 * writing order (see Eviction): each carries its sequence number, and
 * readers sort by it.  The ring is saved at a clean shutdown and read back
 * at start-up; a crash loses it.
 * Memory: workload_guard.ddl_rejections_max entries of about 2.5 kB.
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
#include "common/string.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
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
#include "utils/tuplestore.h"

#include "compat.h"
#include "ddl_guard.h"
#include "ddl_rejection_counts.h"
#include "digest_rules.h"
#include "ext_objects.h"
#include "stats_file.h"
#include "subxact.h"
#include "workload_guard.h"

#define WG_REJ_RULE_LEN			24
#define WG_REJ_TAG_LEN			32
#define WG_REJ_STATEMENT_LEN	1024
#define WG_REJ_MESSAGE_LEN		384
#define WG_REJ_RELATION_LEN		(2 * NAMEDATALEN + 6)

typedef struct WgRejection
{
	uint64		seq;			/* order of writing: 1, 2, ... (ring->total) */
	TimestampTz at;
	int			pid;
	Oid			dbid;
	Oid			userid;
	int			sqlstate;
	int			encoding;		/* of the texts: the recording database's */
	int			nblockers;
	WgBlocker	blockers[WG_MAX_BLOCKERS];	/* filtered when read */
	char		rule[WG_REJ_RULE_LEN];
	char		tag[WG_REJ_TAG_LEN];
	char		relation[WG_REJ_RELATION_LEN];
	char		message[WG_REJ_MESSAGE_LEN];
	char		statement[WG_REJ_STATEMENT_LEN];
} WgRejection;

typedef struct WgRejectRing
{
	LWLock	   *lock;
	uint64		total;			/* entries ever written: the last seq */
	int			used;			/* entries[0 .. used-1] are filled */
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
 * The ring is saved at a clean shutdown and read back at start-up: the
 * rejections of the last days survive a planned restart.  After a crash
 * or an immediate stop they are lost with shared memory.
 *
 * The file goes through stats_file.c (CRC-32C over the whole file, durable
 * rename).  Payload: uint32 entry size, uint32 count, uint64 total, then
 * count WgRejection structs in writing order.  Every field of every entry
 * is validated on load (ranges, order, NUL termination, encoding); the
 * first bad one discards the whole file with a LOG line, and the server
 * starts with an empty ring.
 */
#define WG_REJ_FILE		PGSTAT_STAT_PERMANENT_DIRECTORY "/workload_guard_ddl.stat"
#define WG_REJ_MAGIC	0x57474432	/* "WGD2" */
#define WG_REJ_VERSION	1

static int	seq_cmp(const void *a, const void *b);

static void
ring_save(int code, Datum arg)
{
	WgStatsFile sf;
	uint32		header[2];
	uint64		total;
	WgRejection **order;

	if (ring == NULL || !wg_stats_file_should_save(code))
		return;
	if (!wg_stats_file_create(&sf, WG_REJ_FILE, WG_REJ_MAGIC, WG_REJ_VERSION))
		return;
	/* no other process is left: no lock needed */
	total = ring->total;
	header[0] = sizeof(WgRejection);
	header[1] = ring->used;
	wg_stats_file_write(&sf, header, sizeof(header));
	wg_stats_file_write(&sf, &total, sizeof(total));
	order = palloc(sizeof(WgRejection *) * Max(ring->used, 1));
	for (int i = 0; i < ring->used; i++)
		order[i] = &ring->entries[i];
	qsort(order, ring->used, sizeof(WgRejection *), seq_cmp);
	for (int i = 0; i < ring->used; i++)
		wg_stats_file_write(&sf, order[i], sizeof(WgRejection));
	(void) wg_stats_file_commit(&sf);
}

/* a NUL-terminated string of printable ASCII, at least min_len long */
static bool
valid_ascii(const char *buf, int size, int min_len)
{
	const char *end = memchr(buf, '\0', size);

	if (end == NULL || end - buf < min_len)
		return false;
	for (const char *c = buf; c < end; c++)
		if (*c < 0x20 || *c > 0x7e)
			return false;
	return true;
}

/* a NUL-terminated string, valid in the given encoding */
static bool
valid_text(const char *buf, int size, int encoding)
{
	const char *end = memchr(buf, '\0', size);

	return end != NULL && pg_verify_mbstr(encoding, buf, end - buf, true);
}

/* the first thing wrong with an entry read from the file, or NULL */
static const char *
invalid_entry(const WgRejection *e, uint64 prev_seq, uint64 total,
			  TimestampTz latest)
{
	const char *sqlstate;

	if (e->seq <= prev_seq || e->seq > total)
		return "An entry is out of order.";
	if (e->at < 0 || e->at > latest)
		return "An entry has a time out of range.";
	if (e->pid <= 0 || !OidIsValid(e->dbid) || !OidIsValid(e->userid))
		return "An entry has an invalid process, database or role.";
	sqlstate = unpack_sql_state(e->sqlstate);
	for (int i = 0; i < 5; i++)
		if (!((sqlstate[i] >= '0' && sqlstate[i] <= '9') ||
			  (sqlstate[i] >= 'A' && sqlstate[i] <= 'Z')))
			return "An entry has an invalid SQLSTATE.";
	if (!PG_VALID_BE_ENCODING(e->encoding))
		return "An entry has an invalid encoding.";
	if (e->nblockers < 0 || e->nblockers > WG_MAX_BLOCKERS)
		return "An entry has an invalid number of blocking processes.";
	for (int i = 0; i < e->nblockers; i++)
	{
		const WgBlocker *b = &e->blockers[i];

		if (b->pid <= 0 || b->state < WG_BLOCKER_NO_STATUS ||
			b->state > WG_BLOCKER_OTHER || b->since < 0 || b->since > latest)
			return "An entry has an invalid blocking process.";
	}
	if (!valid_ascii(e->rule, sizeof(e->rule), 1) ||
		!valid_ascii(e->tag, sizeof(e->tag), 1))
		return "An entry has an invalid rule or command tag.";
	if (!valid_text(e->relation, sizeof(e->relation), e->encoding) ||
		!valid_text(e->message, sizeof(e->message), e->encoding) ||
		!valid_text(e->statement, sizeof(e->statement), e->encoding))
		return "An entry has a text that is not terminated or not valid in its encoding.";
	return NULL;
}

/*
 * Loads the saved ring into the empty one (start-up: no other process
 * runs yet).  More entries than the ring holds now: the newest are kept.
 */
static void
ring_load(void)
{
	WgStatsFile sf;
	uint32		header[2];
	uint64		total;
	uint64		prev_seq = 0;
	TimestampTz latest = GetCurrentTimestamp() + USECS_PER_DAY;
	WgRejection scratch;
	const char *bad = NULL;

	if (!wg_stats_file_open(&sf, WG_REJ_FILE, WG_REJ_MAGIC, WG_REJ_VERSION))
		return;
	if (!wg_stats_file_read(&sf, header, sizeof(header)) ||
		!wg_stats_file_read(&sf, &total, sizeof(total)))
		bad = "The file is too short for its header.";
	else if (header[0] != sizeof(WgRejection))
		bad = "The file was written by another build of workload_guard.";
	else if (header[1] > total || header[1] > 100000)
		bad = "The file's entry count is out of range.";

	for (uint32 i = 0; bad == NULL && i < header[1]; i++)
	{
		/* the oldest ones that do not fit are read (and checked) only */
		int			slot = (int) i - (int) (header[1] - Min(header[1], (uint32) ring->size));
		WgRejection *e = slot >= 0 ? &ring->entries[slot] : &scratch;

		if (!wg_stats_file_read(&sf, e, sizeof(WgRejection)))
			bad = "The file ends before its last entry.";
		else if ((bad = invalid_entry(e, prev_seq, total, latest)) == NULL)
		{
			prev_seq = e->seq;
			if (slot >= 0)
				ring->used = slot + 1;
		}
	}
	if (bad == NULL && !wg_stats_file_at_end(&sf))
		bad = "The file has data after its last entry.";

	if (bad != NULL)
	{
		wg_stats_file_reject(&sf, bad);
		ring->used = 0;
		total = 0;
	}
	ring->total = total;
	wg_stats_file_close(&sf, true);
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
		ring->used = 0;
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

/* ----------------------------------------------------------------
 * Eviction.  A full ring must not let one role erase the record of
 * another's: ~130 refused DDLs of one table owner used to push every other
 * role's rejections out.  When the ring is full, the entry replaced is the
 * oldest one of the role that has the most entries (ties: the role whose
 * oldest entry is the oldest).  A role flooding the ring so replaces only
 * its own entries once it holds the most, and every other role keeps at
 * least its share (ring size / number of roles).  Found with one sort of
 * (role, seq) pairs, on the error path only; without memory for it, the
 * oldest entry of all is replaced.
 * ----------------------------------------------------------------
 */
typedef struct RoleSeq
{
	Oid			userid;
	uint64		seq;
	int			slot;
} RoleSeq;

static int
role_seq_cmp(const void *a, const void *b)
{
	const RoleSeq *x = a,
			   *y = b;

	if (x->userid != y->userid)
		return x->userid < y->userid ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return 0;
}

/* ring->lock held exclusively, the ring full; pairs has ring->size slots */
static int
eviction_slot(RoleSeq *pairs)
{
	int			n = ring->used;
	int			best = -1;
	int			best_count = 0;

	if (pairs == NULL)
	{
		for (int i = 0; i < n; i++)
			if (best < 0 || ring->entries[i].seq < ring->entries[best].seq)
				best = i;
		return best;
	}
	for (int i = 0; i < n; i++)
	{
		pairs[i].userid = ring->entries[i].userid;
		pairs[i].seq = ring->entries[i].seq;
		pairs[i].slot = i;
	}
	qsort(pairs, n, sizeof(RoleSeq), role_seq_cmp);
	for (int i = 0; i < n;)
	{
		int			j = i;

		while (j < n && pairs[j].userid == pairs[i].userid)
			j++;
		/* pairs[i] is this role's oldest entry */
		if (j - i > best_count ||
			(j - i == best_count && pairs[i].seq < pairs[best].seq))
		{
			best = i;
			best_count = j - i;
		}
		i = j;
	}
	return pairs[best].slot;
}

/*
 * Records a refused, timed-out or failed DDL.  Called on the error path:
 * no catalog access; the only allocation is the eviction's sort array,
 * done without the lock and allowed to fail.
 */
void
wg_ddl_reject(WgDdlState *st, int sqlstate, const char *rule,
			  const char *message, const WgBlocker *blockers, int nblockers)
{
	WgRejection *e;
	RoleSeq    *pairs;

	if (ring == NULL)
		return;
	/* the sort array only once the ring is full (it stays full) */
	pairs = ring->used < ring->size ? NULL :
		palloc_extended(sizeof(RoleSeq) * ring->size,
						MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	LWLockAcquire(ring->lock, LW_EXCLUSIVE);
	if (ring->used >= ring->size && pairs == NULL)
	{
		/* it filled up meanwhile: allocate without the lock, then retry */
		LWLockRelease(ring->lock);
		pairs = palloc_extended(sizeof(RoleSeq) * ring->size,
								MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
		LWLockAcquire(ring->lock, LW_EXCLUSIVE);
	}
	if (ring->used < ring->size)
		e = &ring->entries[ring->used++];
	else
		e = &ring->entries[eviction_slot(pairs)];
	e->seq = ++ring->total;
	e->at = GetCurrentTimestamp();
	e->pid = MyProcPid;
	e->dbid = MyDatabaseId;
	e->userid = st->current_user;
	e->sqlstate = sqlstate;
	e->encoding = GetDatabaseEncoding();
	e->nblockers = Min(Max(nblockers, 0), WG_MAX_BLOCKERS);
	memset(e->blockers, 0, sizeof(e->blockers));
	if (e->nblockers > 0)
		memcpy(e->blockers, blockers, sizeof(WgBlocker) * e->nblockers);
	clip_copy(e->rule, rule, sizeof(e->rule));
	clip_copy(e->tag, st->cls.tag, sizeof(e->tag));
	clip_copy(e->relation, st->relname, sizeof(e->relation));
	clip_copy(e->message, message, sizeof(e->message));
	clip_copy(e->statement, st->statement, sizeof(e->statement));
	LWLockRelease(ring->lock);
	wg_ddl_count_rejection(rule);
	if (pairs)
		pfree(pairs);
}

static int
seq_cmp(const void *a, const void *b)
{
	const WgRejection *x = *(WgRejection *const *) a;
	const WgRejection *y = *(WgRejection *const *) b;

	return x->seq < y->seq ? -1 : (x->seq > y->seq ? 1 : 0);
}

/*
 * A text recorded in another database's encoding: converted when that is
 * possible without error (same encoding, or plain ASCII), else its
 * non-ASCII bytes are shown as '?' (the view must never fail to read).
 */
static Datum
text_in_db_encoding(const char *str, int encoding)
{
	char	   *copy;

	if (encoding == GetDatabaseEncoding() || pg_is_ascii(str))
		return CStringGetTextDatum(str);
	copy = pstrdup(str);
	for (char *c = copy; *c; c++)
		if (IS_HIGHBIT_SET(*c))
			*c = '?';
	return CStringGetTextDatum(copy);
}

Datum
wg_ddl_rejections(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	WgRejection *copy;
	WgRejection **order;
	int			n;

	wg_require_loaded();
	InitMaterializedSRF(fcinfo, 0);
	if (ring == NULL)
		return (Datum) 0;

	copy = palloc(sizeof(WgRejection) * ring->size);
	order = palloc(sizeof(WgRejection *) * ring->size);
	LWLockAcquire(ring->lock, LW_SHARED);
	n = ring->used;
	memcpy(copy, ring->entries, sizeof(WgRejection) * n);
	LWLockRelease(ring->lock);
	for (int i = 0; i < n; i++)
		order[i] = &copy[i];
	qsort(order, n, sizeof(WgRejection *), seq_cmp);

	for (int i = 0; i < n; i++)
	{
		WgRejection *e = order[i];
		Datum		values[11];
		bool		nulls[11] = {0};

		values[0] = TimestampTzGetDatum(e->at);
		values[1] = Int32GetDatum(e->pid);
		values[2] = ObjectIdGetDatum(e->dbid);
		values[3] = ObjectIdGetDatum(e->userid);
		values[4] = CStringGetTextDatum(unpack_sql_state(e->sqlstate));
		values[5] = CStringGetTextDatum(e->rule);
		values[6] = CStringGetTextDatum(e->tag);
		values[7] = text_in_db_encoding(e->relation, e->encoding);
		nulls[7] = (e->relation[0] == '\0');
		values[8] = text_in_db_encoding(e->message, e->encoding);
		if (e->nblockers > 0)
		{
			/* pg_stat_activity's visibility rules, for the reader */
			StringInfoData buf;

			initStringInfo(&buf);
			wg_ddl_format_blockers(&buf, e->blockers, e->nblockers, e->at);
			values[9] = CStringGetTextDatum(buf.data);
		}
		else
			nulls[9] = true;
		values[10] = text_in_db_encoding(e->statement, e->encoding);
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
	n = (int64) ring->used;
	ring->used = 0;
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
	wg_internal_begin();		/* an error closes it with the (sub)xact */
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
	wg_ddl_reject(st, edata->sqlerrcode, "history_failed", edata->message,
				  NULL, 0);

	/* a cancel or statement timeout is the caller's own: give it back as is */
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
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
