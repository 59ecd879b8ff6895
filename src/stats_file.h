/*-------------------------------------------------------------------------
 *
 * stats_file.h
 *	  Checksummed files for state kept across clean restarts (see
 *	  stats_file.c for the format and the rules).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WG_STATS_FILE_H
#define WG_STATS_FILE_H

#include <stdio.h>

#include "port/pg_crc32c.h"

typedef struct WgStatsFile
{
	FILE	   *file;
	const char *path;			/* the final name; the caller's string */
	char		tmppath[MAXPGPATH]; /* writing: the temporary name */
	pg_crc32c	crc;			/* writing: of every byte written so far */
	uint64		remaining;		/* reading: payload bytes not yet read */
	bool		failed;			/* writing: a write failed (errno saved) */
	int			save_errno;
} WgStatsFile;

/* Shutdown: true only at a clean shutdown of the cluster (see .c) */
extern bool wg_stats_file_should_save(int code);

/* Writing: create, write any number of times, then commit (or abort) */
extern bool wg_stats_file_create(WgStatsFile *sf, const char *path,
								 uint32 magic, uint32 version);
extern void wg_stats_file_write(WgStatsFile *sf, const void *data, size_t len);
extern bool wg_stats_file_commit(WgStatsFile *sf);
extern void wg_stats_file_abort(WgStatsFile *sf);

/* Reading: open (checks the whole file's CRC first), read, close */
extern bool wg_stats_file_open(WgStatsFile *sf, const char *path,
							   uint32 magic, uint32 version);
extern bool wg_stats_file_read(WgStatsFile *sf, void *data, size_t len);
extern bool wg_stats_file_read_text(WgStatsFile *sf, char *buf, int len,
									int bufsize, int encoding);
extern bool wg_stats_file_at_end(WgStatsFile *sf);
extern void wg_stats_file_close(WgStatsFile *sf, bool remove);
extern void wg_stats_file_reject(WgStatsFile *sf, const char *detail);

#endif							/* WG_STATS_FILE_H */
