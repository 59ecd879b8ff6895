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
#include "nodes/plannodes.h"

#include "config_cache.h"

/*
 * True while this backend's rule cache is stale or holds at least one rule
 * for this database; false means no rule can apply, and that single test is
 * all a statement pays.
 */
extern bool wg_digest_rules_armed;

/* cap slots this backend holds right now */
extern int	wg_digest_rules_nheld;

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
		if (unlikely(wg_digest_rules_armed)) \
			wg_digest_rules_check_slow((queryDesc), (eflags)); \
	} while (0)

/*
 * ProcessUtility, before the statement runs: the rules of the utility's
 * digest (CALL, COPY, ...); may refuse it by ERROR.  Cap slots are taken on
 * behalf of token (any address unique while the statement runs).
 */
extern void wg_digest_rules_utility_check_slow(PlannedStmt *pstmt,
											   uint64 queryid,
											   const void *token);
#define wg_digest_rules_utility_check(pstmt, queryid, token) \
	do { \
		if (unlikely(wg_digest_rules_armed)) \
			wg_digest_rules_utility_check_slow((pstmt), (queryid), (token)); \
	} while (0)

/* after a successful DROP ROLE: delete this database's rules of the roles */
extern void wg_digest_rules_roles_dropped(void);

/*
 * ExecutorEnd, or the end of a utility statement (success or error): give
 * back the cap slots of this execution (owner: its QueryDesc or token).
 */
extern void wg_digest_rules_release_slow(const void *owner);
#define wg_digest_rules_release(owner) \
	do { \
		if (unlikely(wg_digest_rules_nheld > 0)) \
			wg_digest_rules_release_slow(owner); \
	} while (0)

/*
 * (Sub)transaction end: give back the slots of executions that will never
 * reach ExecutorEnd.  At an abort, those taken in aborted_subxid or later
 * (InvalidSubTransactionId: all); at a top-level commit (commit = true),
 * all but those of utility statements (a procedure that commits runs on).
 */
extern void wg_digest_rules_xact_cleanup(SubTransactionId aborted_subxid,
										 bool commit);

#endif							/* WG_DIGEST_RULES_H */
