/*-------------------------------------------------------------------------
 *
 * digest_rules.h
 *	  Blocked and capped query digests (see digest_rules.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WG_DIGEST_RULES_H
#define WG_DIGEST_RULES_H

#include "c.h"
#include "executor/execdesc.h"

#include "config_cache.h"

/*
 * True while this backend's rule cache is stale or holds at least one rule
 * for this database; false means no rule can apply, and that single test is
 * all a statement pays.
 */
extern bool wg_rules_armed;

/*
 * > 0 while workload_guard runs statements of its own: no rule applies to
 * them.  Raise it around SPI calls, and lower it in PG_FINALLY.
 */
extern int	wg_rules_internal;

/* cap slots this backend holds right now */
extern int	wg_rules_nheld;

extern void wg_digest_rules_define_gucs(void);
extern void wg_digest_rules_init(void);
extern void wg_digest_rules_shmem_request(void);
extern void wg_digest_rules_shmem_startup(void);

/* post parse analysis: give the inner query of DECLARE/CTAS its digest */
struct ParseState;
struct Query;
extern void wg_digest_rules_post_parse_analyze(struct ParseState *pstate,
											   struct Query *query);

/*
 * ExecutorStart, before the statement starts: may refuse it by ERROR.  A
 * rule committed since the last execution reaches this one even inside an
 * open transaction that takes no new lock (wg_config_caches_sync).
 */
extern void wg_digest_rules_check_slow(QueryDesc *queryDesc, int eflags);
#define wg_digest_rules_check(queryDesc, eflags) \
	do { \
		wg_config_caches_sync(WG_SYNC_EXECUTOR); \
		if (unlikely(wg_rules_armed)) \
			wg_digest_rules_check_slow((queryDesc), (eflags)); \
	} while (0)

/* ExecutorEnd: give back the cap slots of this execution */
extern void wg_digest_rules_release_slow(QueryDesc *queryDesc);
#define wg_digest_rules_release(queryDesc) \
	do { \
		if (unlikely(wg_rules_nheld > 0)) \
			wg_digest_rules_release_slow(queryDesc); \
	} while (0)

/*
 * (Sub)transaction abort: give back the slots of executions that will never
 * reach ExecutorEnd.  InvalidSubTransactionId means the top level.
 */
extern void wg_digest_rules_xact_cleanup(SubTransactionId aborted_subxid);

#endif							/* WG_DIGEST_RULES_H */
