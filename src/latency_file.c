/*-------------------------------------------------------------------------
 *
 * latency_file.c
 *	  Persistence of the latency digest table across clean restarts: the
 *	  postmaster writes it at shutdown, shared-memory startup reads it back.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"

#include "latency_internal.h"

#define WG_DUMP_FILE		PGSTAT_STAT_PERMANENT_DIRECTORY "/workload_guard.stat"
#define WG_DUMP_MAGIC		0x57474c31	/* "WGL1" */
#define WG_DUMP_VERSION		1

/*
 * Called once at shared-memory creation, before any other process runs.
 */
void
wg_latency_file_load(void)
{
	FILE	   *file;
	uint32		header[4];
	int			i;

	/*
	 * Load what the last clean shutdown saved.  No other process runs yet,
	 * so no lock is needed.  The file is removed once read: after a crash
	 * there is nothing to load, which is what we want (counts since the last
	 * save would be missing and the rest would look current).
	 */
	file = AllocateFile(WG_DUMP_FILE, PG_BINARY_R);
	if (file == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", WG_DUMP_FILE)));
		return;
	}

	if (fread(header, sizeof(header), 1, file) != 1 ||
		header[0] != WG_DUMP_MAGIC || header[1] != WG_DUMP_VERSION ||
		header[2] != WG_HIST_BUCKETS)
	{
		ereport(LOG,
				(errmsg("ignoring workload_guard statistics file \"%s\": wrong format",
						WG_DUMP_FILE)));
		goto done;
	}

	if (wg_save)
	{
		for (i = 0; i < (int) header[3]; i++)
		{
			WgLatencyKey key;
			TimestampTz since;
			uint64		counters[7];
			uint64		buckets[WG_HIST_BUCKETS];
			int32		qlen;
			char		query[WG_QUERY_TEXT_LEN];
			WgDigest   *d;
			int			b;

			if (fread(&key, sizeof(key), 1, file) != 1 ||
				fread(&since, sizeof(since), 1, file) != 1 ||
				fread(counters, sizeof(counters), 1, file) != 1 ||
				fread(&qlen, sizeof(qlen), 1, file) != 1 ||
				qlen < 0 || qlen >= WG_QUERY_TEXT_LEN ||
				fread(query, 1, qlen, file) != (size_t) qlen ||
				fread(buckets, sizeof(buckets), 1, file) != 1)
			{
				ereport(LOG,
						(errmsg("ignoring the rest of workload_guard statistics file \"%s\": truncated",
								WG_DUMP_FILE)));
				break;
			}
			if (wg_lat->nfree == 0)
				break;			/* max_statements was lowered */

			d = wg_latency_digest_enter(&key, since);
			if (d == NULL)
				break;
			memcpy(d->query, query, qlen);
			d->query[qlen] = '\0';
			d->query_len = qlen;
			pg_atomic_write_u64(&d->calls, counters[0]);
			pg_atomic_write_u64(&d->errors, counters[1]);
			pg_atomic_write_u64(&d->cancels, counters[2]);
			pg_atomic_write_u64(&d->total_ns, counters[3]);
			pg_atomic_write_u64(&d->min_ns, counters[4]);
			pg_atomic_write_u64(&d->max_ns, counters[5]);
			pg_atomic_write_u64(&d->out_of_range, counters[6]);
			for (b = 0; b < WG_HIST_BUCKETS; b++)
				pg_atomic_write_u64(&d->buckets[b], buckets[b]);
		}
		if (fread(&wg_lat->stats_reset, sizeof(TimestampTz), 1, file) != 1)
			wg_lat->stats_reset = GetCurrentTimestamp();
	}

done:
	FreeFile(file);
	unlink(WG_DUMP_FILE);
}

/*
 * on_shmem_exit callback in the postmaster: write the table to disk with an
 * atomic rename.  Not on a crash (code != 0): shared memory may be corrupt.
 */
void
wg_latency_file_save(int code, Datum arg)
{
	FILE	   *file;
	uint32		header[4];
	int			i;
	int			n = 0;

	if (code || !wg_lat || !wg_lat_hash || !wg_save)
		return;

	file = AllocateFile(WG_DUMP_FILE ".tmp", PG_BINARY_W);
	if (file == NULL)
		goto error;

	for (i = 0; i < wg_lat->max_digests; i++)
		if (wg_lat->digests[i].in_use)
			n++;
	header[0] = WG_DUMP_MAGIC;
	header[1] = WG_DUMP_VERSION;
	header[2] = WG_HIST_BUCKETS;
	header[3] = n;
	if (fwrite(header, sizeof(header), 1, file) != 1)
		goto error;

	for (i = 0; i < wg_lat->max_digests; i++)
	{
		WgDigest   *d = &wg_lat->digests[i];
		uint64		counters[7];
		uint64		buckets[WG_HIST_BUCKETS];
		int32		qlen = d->query_len;
		int			b;

		if (!d->in_use)
			continue;
		counters[0] = pg_atomic_read_u64(&d->calls);
		counters[1] = pg_atomic_read_u64(&d->errors);
		counters[2] = pg_atomic_read_u64(&d->cancels);
		counters[3] = pg_atomic_read_u64(&d->total_ns);
		counters[4] = pg_atomic_read_u64(&d->min_ns);
		counters[5] = pg_atomic_read_u64(&d->max_ns);
		counters[6] = pg_atomic_read_u64(&d->out_of_range);
		for (b = 0; b < WG_HIST_BUCKETS; b++)
			buckets[b] = pg_atomic_read_u64(&d->buckets[b]);
		if (fwrite(&d->key, sizeof(d->key), 1, file) != 1 ||
			fwrite(&d->stats_since, sizeof(TimestampTz), 1, file) != 1 ||
			fwrite(counters, sizeof(counters), 1, file) != 1 ||
			fwrite(&qlen, sizeof(qlen), 1, file) != 1 ||
			fwrite(d->query, 1, qlen, file) != (size_t) qlen ||
			fwrite(buckets, sizeof(buckets), 1, file) != 1)
			goto error;
	}
	if (fwrite(&wg_lat->stats_reset, sizeof(TimestampTz), 1, file) != 1)
		goto error;

	if (FreeFile(file))
	{
		file = NULL;
		goto error;
	}
	(void) durable_rename(WG_DUMP_FILE ".tmp", WG_DUMP_FILE, LOG);
	return;

error:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("could not write file \"%s\": %m", WG_DUMP_FILE ".tmp")));
	if (file)
		FreeFile(file);
	unlink(WG_DUMP_FILE ".tmp");
}
