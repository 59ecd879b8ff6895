/*-------------------------------------------------------------------------
 *
 * ddl_rejection_counts.h
 *	  Cumulative counters of refused, timed-out and failed DDL by rule
 *	  (see ddl_rejection_counts.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WG_DDL_REJECTION_COUNTS_H
#define WG_DDL_REJECTION_COUNTS_H

extern void wg_ddl_counts_shmem_request(void);
extern void wg_ddl_counts_shmem_startup(void);

/* one more rejection under this rule name (as ddl_rejections.rule shows it) */
extern void wg_ddl_count_rejection(const char *rule);

#endif							/* WG_DDL_REJECTION_COUNTS_H */
