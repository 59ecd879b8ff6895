/*-------------------------------------------------------------------------
 *
 * stats_file.c
 *	  Files that carry shared-memory state across a clean restart (the
 *	  latency digests, the DDL rejection ring): written whole at shutdown,
 *	  read whole at start-up, trusted only when intact.
 *
 * Format:	uint32 magic, uint32 version, the caller's payload, and a
 * CRC-32C (port/pg_crc32c.h) of every byte before it.
 *
 * Writing: the file is written under "<path>.tmp" and renamed with
 * durable_rename(), which fsyncs the file before and the directory after the
 * rename: a reader sees the old file, the new one, or none, never a torn
 * one.  Any failure is a LOG line and no file: losing statistics must never
 * keep the server from shutting down.
 *
 * Reading: wg_stats_file_open() reads the whole file once to check its
 * length and CRC before the caller sees a single byte, then the header;
 * any mismatch is one LOG line and the file is ignored.  The CRC catches
 * a flipped bit or a torn write, not a file built to deceive (anyone who
 * may write into the data directory owns the server anyway), and not a bug
 * of the writer: callers still validate every field they read (ranges,
 * counts, strings with wg_stats_file_read_text()) and reject the whole file
 * at the first bad one.
 *
 * When to save: wg_stats_file_should_save() is true only after a clean
 * shutdown (the control file says "shut down"), not after an immediate
 * shutdown or a crash.  Core's cumulative statistics behave the same way:
 * what shared memory held when the server stopped without a shutdown
 * checkpoint may be incomplete, and a file that looks current would be
 * worse than none.
 *
 * No hook code here: callers are the shmem_startup and on_shmem_exit
 * callbacks of their own concern.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xlog_internal.h"
#include "catalog/pg_control.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"

#include "stats_file.h"

#define WG_STATS_FILE_HEADER	(2 * sizeof(uint32))
#define WG_STATS_FILE_TRAILER	sizeof(pg_crc32c)

/*
 * Did the cluster shut down cleanly?  Called by on_shmem_exit callbacks of
 * the postmaster (or a standalone backend) with the exit code.  A clean
 * shutdown leaves the control file in state "shut down" (or "shut down in
 * recovery" on a standby) before the postmaster exits; an immediate stop
 * exits with code 0 too but leaves it "in production", and a crash exits
 * with a non-zero code.  The file is read directly (no ereport(ERROR) at
 * exit time); an unreadable or inconsistent control file means "no".
 */
bool
wg_stats_file_should_save(int code)
{
	ControlFileData control;
	pg_crc32c	crc;
	char		path[MAXPGPATH];
	int			fd;
	ssize_t		n;

	if (code != 0)
		return false;
	snprintf(path, sizeof(path), "%s/%s", DataDir, XLOG_CONTROL_FILE);
	fd = open(path, O_RDONLY | PG_BINARY, 0);
	if (fd < 0)
		return false;
	n = read(fd, &control, sizeof(control));
	close(fd);
	if (n != sizeof(control))
		return false;
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, &control, offsetof(ControlFileData, crc));
	FIN_CRC32C(crc);
	if (!EQ_CRC32C(crc, control.crc))
		return false;
	return control.state == DB_SHUTDOWNED ||
		control.state == DB_SHUTDOWNED_IN_RECOVERY;
}

/* ----------------------------------------------------------------
 * Writing
 * ----------------------------------------------------------------
 */
bool
wg_stats_file_create(WgStatsFile *sf, const char *path, uint32 magic,
					 uint32 version)
{
	uint32		header[2];

	memset(sf, 0, sizeof(*sf));
	sf->path = path;
	snprintf(sf->tmppath, sizeof(sf->tmppath), "%s.tmp", path);
	INIT_CRC32C(sf->crc);
	sf->file = AllocateFile(sf->tmppath, PG_BINARY_W);
	if (sf->file == NULL)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", sf->tmppath)));
		return false;
	}
	header[0] = magic;
	header[1] = version;
	wg_stats_file_write(sf, header, sizeof(header));
	return true;
}

void
wg_stats_file_write(WgStatsFile *sf, const void *data, size_t len)
{
	if (sf->failed || len == 0)
		return;
	COMP_CRC32C(sf->crc, data, len);
	if (fwrite(data, 1, len, sf->file) != len)
	{
		sf->failed = true;
		sf->save_errno = errno;
	}
}

/*
 * Append the CRC, close, and rename into place.  On failure: LOG, remove
 * the temporary file, leave whatever was at "path" before.
 */
bool
wg_stats_file_commit(WgStatsFile *sf)
{
	pg_crc32c	crc = sf->crc;

	FIN_CRC32C(crc);
	if (!sf->failed && fwrite(&crc, sizeof(crc), 1, sf->file) != 1)
	{
		sf->failed = true;
		sf->save_errno = errno;
	}
	if (FreeFile(sf->file) != 0 && !sf->failed)
	{
		sf->failed = true;
		sf->save_errno = errno;
	}
	sf->file = NULL;
	if (sf->failed)
	{
		errno = sf->save_errno;
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", sf->tmppath)));
		unlink(sf->tmppath);
		return false;
	}
	/* fsyncs the file, renames, fsyncs the directory; LOGs its own failure */
	if (durable_rename(sf->tmppath, sf->path, LOG) != 0)
	{
		unlink(sf->tmppath);
		return false;
	}
	return true;
}

void
wg_stats_file_abort(WgStatsFile *sf)
{
	if (sf->file)
		FreeFile(sf->file);
	sf->file = NULL;
	unlink(sf->tmppath);
}

/* ----------------------------------------------------------------
 * Reading
 * ----------------------------------------------------------------
 */

/* LOG why the file is ignored; detail is a full sentence */
void
wg_stats_file_reject(WgStatsFile *sf, const char *detail)
{
	ereport(LOG,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("ignoring workload_guard file \"%s\"", sf->path),
			 errdetail_internal("%s", detail),
			 errhint("The state it held is lost; the server starts with none.")));
}

/*
 * Open path for reading after checking its length, CRC, magic and version.
 * False (with a LOG line, except when the file does not exist) if it cannot
 * be used; the file is then closed and removed.
 */
bool
wg_stats_file_open(WgStatsFile *sf, const char *path, uint32 magic,
				   uint32 version)
{
	struct stat st;
	pg_crc32c	crc;
	pg_crc32c	stored;
	uint32		header[2];
	uint64		left;
	char	   *buf;
	const Size	bufsize = 65536;

	memset(sf, 0, sizeof(*sf));
	sf->path = path;
	sf->file = AllocateFile(path, PG_BINARY_R);
	if (sf->file == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not open file \"%s\": %m", path)));
		return false;
	}
	if (fstat(fileno(sf->file), &st) != 0)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", path)));
		wg_stats_file_close(sf, true);
		return false;
	}
	if (st.st_size < (off_t) (WG_STATS_FILE_HEADER + WG_STATS_FILE_TRAILER))
	{
		wg_stats_file_reject(sf, "The file is too short to hold a header and a checksum.");
		wg_stats_file_close(sf, true);
		return false;
	}

	/* pass 1: the CRC of everything before the trailer */
	buf = palloc(bufsize);
	INIT_CRC32C(crc);
	left = (uint64) st.st_size - WG_STATS_FILE_TRAILER;
	while (left > 0)
	{
		size_t		chunk = (size_t) Min(left, (uint64) bufsize);

		if (fread(buf, 1, chunk, sf->file) != chunk)
			break;
		COMP_CRC32C(crc, buf, chunk);
		left -= chunk;
	}
	pfree(buf);
	FIN_CRC32C(crc);
	if (left > 0 || fread(&stored, sizeof(stored), 1, sf->file) != 1)
	{
		wg_stats_file_reject(sf, "The file could not be read to its end.");
		wg_stats_file_close(sf, true);
		return false;
	}
	if (!EQ_CRC32C(crc, stored))
	{
		wg_stats_file_reject(sf, "The file's checksum does not match its contents.");
		wg_stats_file_close(sf, true);
		return false;
	}

	/* pass 2 starts: the header */
	if (fseeko(sf->file, 0, SEEK_SET) != 0 ||
		fread(header, sizeof(header), 1, sf->file) != 1 ||
		header[0] != magic || header[1] != version)
	{
		wg_stats_file_reject(sf, "The file was written by another version of workload_guard or is not one of its files.");
		wg_stats_file_close(sf, true);
		return false;
	}
	sf->remaining = (uint64) st.st_size - WG_STATS_FILE_HEADER -
		WG_STATS_FILE_TRAILER;
	return true;
}

/* exactly len bytes of the payload, or false */
bool
wg_stats_file_read(WgStatsFile *sf, void *data, size_t len)
{
	if (len > sf->remaining)
		return false;
	if (len > 0 && fread(data, 1, len, sf->file) != len)
		return false;
	sf->remaining -= len;
	return true;
}

/*
 * A text of len bytes into buf (bufsize bytes, NUL-terminated here): false
 * unless it fits, holds no NUL byte and is valid in the given encoding.
 */
bool
wg_stats_file_read_text(WgStatsFile *sf, char *buf, int len, int bufsize,
						int encoding)
{
	if (len < 0 || len >= bufsize || !PG_VALID_ENCODING(encoding))
		return false;
	if (!wg_stats_file_read(sf, buf, len))
		return false;
	buf[len] = '\0';
	if (strlen(buf) != (size_t) len)
		return false;
	return pg_verify_mbstr(encoding, buf, len, true);
}

/* every byte of the payload was read: no trailing data */
bool
wg_stats_file_at_end(WgStatsFile *sf)
{
	return sf->remaining == 0;
}

void
wg_stats_file_close(WgStatsFile *sf, bool remove)
{
	if (sf->file)
		FreeFile(sf->file);
	sf->file = NULL;
	if (remove)
		unlink(sf->path);
}
