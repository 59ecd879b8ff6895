-- Blocked and capped digests: rules, scope, dry run, caps and their slots,
-- transactional behaviour, bad input.
CREATE EXTENSION workload_guard;
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g;
CREATE ROLE regress_wg_app;
GRANT SELECT ON t TO regress_wg_app;

-- the queryid of a statement, as EXPLAIN VERBOSE shows it
CREATE FUNCTION qid(q text) RETURNS bigint LANGUAGE sql
  AS $$ SELECT workload_guard.queryid_of(q) $$;
-- run a statement, report how it ended (timestamps masked)
CREATE FUNCTION try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; det text; hint text;
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
      det = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
  RETURN st || ': ' || regexp_replace(msg, '-?\d{6,}', 'Q', 'g') || ' | ' ||
         regexp_replace(regexp_replace(det, '\d{4}-\d\d-\d\d [0-9:.]+[+-]\d\d', 'T', 'g'),
                        '-?\d{6,}', 'Q', 'g') ||
         ' | ' || regexp_replace(hint, '-?\d{6,}', 'Q', 'g');
END $$;
CREATE TEMP TABLE q AS SELECT qid('SELECT v FROM t WHERE id = 1') AS id;
SELECT id <> 0 AS have_queryid FROM q;

SELECT * FROM workload_guard.blocked_digests;

-- bad input: clear errors, nothing written
SELECT workload_guard.block_digest(NULL);
SELECT workload_guard.block_digest(0);
SELECT workload_guard.block_digest(1, 'x', '-1 hour');
SELECT workload_guard.block_digest(1, 'x', '0');
SELECT workload_guard.block_digest(1, 'x', '1 mon -30 days');
SELECT workload_guard.block_digest(1, 'x', '400 days');
SELECT workload_guard.block_digest(1, 'x', '1000000 years');
SELECT workload_guard.block_digest(1, repeat('x', 1001));
SELECT workload_guard.block_digest(1, role => '999999'::regrole);
SELECT workload_guard.block_digest(1, role => 'regress_no_such_role');
SELECT workload_guard.block_digest(1, role => '-');
SELECT workload_guard.block_digest(1, database => 'no_such_db');
SELECT workload_guard.block_digest(1, dry_run => NULL);
SELECT workload_guard.cap_digest(1, NULL);
SELECT workload_guard.cap_digest(1, 0);
\set VERBOSITY terse
SELECT workload_guard.cap_digest(1, 1000000);
\set VERBOSITY default
SELECT workload_guard.unblock_digest(NULL);
SELECT workload_guard.unblock_digest(0);
SELECT count(*) AS rules FROM workload_guard.digest_rules;

-- only roles granted the functions may call them
SET ROLE regress_wg_app;
SELECT workload_guard.block_digest(1);
SELECT workload_guard.unblock_digest(1);
SELECT count(*) AS visible FROM workload_guard.blocked_digests;
RESET ROLE;

-- prepared before the rule exists
PREPARE p AS SELECT v FROM t WHERE id = 1;
EXECUTE p;

-- block: every later execution of the digest is refused, whatever the
-- constants and the path into the executor
SELECT workload_guard.block_digest(id, 'incident 42') FROM q;
\set VERBOSITY sqlstate
SELECT v FROM t WHERE id = 2;
EXECUTE p;
BEGIN;
DECLARE c CURSOR FOR SELECT v FROM t WHERE id = 3;
ROLLBACK;
CREATE TABLE ctas AS SELECT v FROM t WHERE id = 4;
COPY (SELECT v FROM t WHERE id = 5) TO STDOUT;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT v FROM t WHERE id = 6;
CREATE FUNCTION nested() RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN RETURN QUERY SELECT v FROM t WHERE id = 7; END $$;
SELECT nested();
\set VERBOSITY default
-- message, detail and hint
SELECT try('SELECT v FROM t WHERE id = 8');
-- plain EXPLAIN still works; other digests run
EXPLAIN (COSTS OFF) SELECT v FROM t WHERE id = 9;
SELECT v FROM t WHERE id > 99;
SELECT mode, dry_run, role, database, reason, created_by = current_user AS by_me,
       created_at <= now() AS at_block, expires_at, active, running, blocked, warned, capped,
       last_hit IS NOT NULL AS hit
FROM workload_guard.blocked_digests;

-- superusers are subject too, unless they set the bypass
SET workload_guard.bypass_rules = on;
SELECT v FROM t WHERE id = 10;
RESET workload_guard.bypass_rules;
SET ROLE regress_wg_app;
SET workload_guard.bypass_rules = on;
RESET ROLE;

-- no self-lockout: a rule on the statement that lifts it does not refuse it
SELECT workload_guard.block_digest(qid('SELECT workload_guard.unblock_digest(1)'), 'oops');
SELECT workload_guard.unblock_digest(1);
SELECT workload_guard.unblock_digest(qid('SELECT workload_guard.unblock_digest(1)'));

-- unblock: allowed again; an unknown queryid is not an error
SELECT workload_guard.unblock_digest(id) FROM q;
SELECT v FROM t WHERE id = 11;
EXECUTE p;
SELECT workload_guard.unblock_digest(424242);

-- transactional: a rolled-back block never took effect, a block is seen by
-- its own transaction at once
BEGIN;
SELECT workload_guard.block_digest(id, 'rolled back') FROM q;
SAVEPOINT s;
SELECT try('SELECT v FROM t WHERE id = 12') LIKE '2F003%' AS blocked_inside;
ROLLBACK;
SELECT v FROM t WHERE id = 13;
SELECT count(*) AS rules FROM workload_guard.digest_rules;

-- expiry needs no write: a rule already past its expiry is ignored
SELECT workload_guard.block_digest(id, 'for an hour', '1 hour') FROM q;
SELECT expires_at - created_at AS lasts, active FROM workload_guard.blocked_digests;
UPDATE workload_guard.digest_rules SET expires_at = now() - interval '1 second';
SELECT v FROM t WHERE id = 14;
SELECT active FROM workload_guard.blocked_digests;
SELECT workload_guard.unblock_digest(id) FROM q;

-- dry run: the statement runs, a WARNING is raised, the hit is counted
SELECT workload_guard.block_digest(id, 'rehearsal', dry_run => true) FROM q;
\set VERBOSITY sqlstate
SELECT v FROM t WHERE id = 15;
\set VERBOSITY default
SELECT mode, dry_run, blocked, warned FROM workload_guard.blocked_digests;
SELECT workload_guard.unblock_digest(id) FROM q;

-- scope: a role
SELECT workload_guard.block_digest(id, 'app only', role => 'regress_wg_app') FROM q;
SELECT v FROM t WHERE id = 16;
SET ROLE regress_wg_app;
SELECT try('SELECT v FROM t WHERE id = 17') LIKE '2F003%' AS app_blocked;
RESET ROLE;
-- scope: a database (rules of another database do not apply here)
SELECT workload_guard.block_digest(id, 'other db', database => 'postgres') FROM q;
SELECT v FROM t WHERE id = 18;
SELECT workload_guard.block_digest(id, 'this db', database => current_database()) FROM q;
SELECT try('SELECT v FROM t WHERE id = 19') LIKE '2F003%' AS db_blocked;
SELECT role, database, reason, blocked FROM workload_guard.blocked_digests
ORDER BY reason;
-- one call lifts every rule of the digest
SELECT workload_guard.unblock_digest(id) FROM q;

-- cap: at most N executions in flight; an open cursor holds its slot
SELECT workload_guard.cap_digest(id, 1, 'one at a time') FROM q;
BEGIN;
DECLARE c1 CURSOR FOR SELECT v FROM t WHERE id = 20;
SELECT running FROM workload_guard.blocked_digests;
SELECT try('SELECT v FROM t WHERE id = 21');
\set VERBOSITY sqlstate
DECLARE c2 CURSOR FOR SELECT v FROM t WHERE id = 22;
\set VERBOSITY default
ROLLBACK;
-- the slot came back at the abort
SELECT running, capped FROM workload_guard.blocked_digests;
BEGIN;
DECLARE c1 CURSOR FOR SELECT v FROM t WHERE id = 23;
CLOSE c1;
DECLARE c2 CURSOR FOR SELECT v FROM t WHERE id = 24;
FETCH c2;
COMMIT;
SELECT running FROM workload_guard.blocked_digests;
-- ... after an error, a statement_timeout and inside an exception block
SELECT workload_guard.unblock_digest(id) FROM q;
CREATE TEMP TABLE q2 AS
  SELECT qid('SELECT count(*) FROM generate_series(1, 10) g WHERE g / (g - 5) > 0') AS id;
SELECT workload_guard.cap_digest(id, 1, 'slow one') FROM q2;
SELECT count(*) FROM generate_series(1, 10) g WHERE g / (g - 5) > 0;
SELECT running FROM workload_guard.blocked_digests;
SET statement_timeout = '50ms';
SELECT count(*) FROM generate_series(6, 100000000) g WHERE g / (g - 5) > 0;
RESET statement_timeout;
SELECT running FROM workload_guard.blocked_digests;
DO $$
BEGIN
  BEGIN
    PERFORM count(*) FROM generate_series(1, 10) g WHERE g / (g - 5) > 0;
  EXCEPTION WHEN division_by_zero THEN NULL;
  END;
END $$;
SELECT running, capped FROM workload_guard.blocked_digests;
-- a cursor that fails inside a savepoint opened after it is dropped without
-- ExecutorEnd (the portal is failed): its slot comes back at commit
BEGIN;
DECLARE c1 CURSOR FOR SELECT count(*) FROM generate_series(1, 10) g WHERE g / (g - 5) > 0;
SAVEPOINT s;
FETCH c1;
ROLLBACK TO s;
CLOSE c1;
COMMIT;
SELECT running, capped FROM workload_guard.blocked_digests;
SELECT count(*) FROM generate_series(6, 8) g WHERE g / (g - 5) > 0;
-- a dry-run cap warns instead
SELECT workload_guard.cap_digest(id, 1, 'rehearse the cap', dry_run => true) FROM q2;
BEGIN;
DECLARE c1 CURSOR FOR SELECT count(*) FROM generate_series(6, 8) g WHERE g / (g - 5) > 0;
\set VERBOSITY sqlstate
DECLARE c2 CURSOR FOR SELECT count(*) FROM generate_series(6, 9) g WHERE g / (g - 5) > 0;
\set VERBOSITY default
SELECT running, capped, warned FROM workload_guard.blocked_digests;
COMMIT;
SELECT mode, max_running, dry_run, running, capped, warned FROM workload_guard.blocked_digests;
SELECT workload_guard.unblock_digest(id) FROM q2;
-- a running statement holds its slot: this one counts itself
SELECT workload_guard.cap_digest(
  qid('SELECT running FROM workload_guard.blocked_digests WHERE reason = ''self'''), 5, 'self');
SELECT running FROM workload_guard.blocked_digests WHERE reason = 'self';
SELECT running FROM workload_guard.blocked_digests;
SELECT workload_guard.unblock_digest(queryid) FROM workload_guard.digest_rules;

-- rules are plain rows: removing them by hand also reaches the caches
SELECT workload_guard.block_digest(id) FROM q;
DELETE FROM workload_guard.digest_rules;
SELECT v FROM t WHERE id = 25;

-- an empty reason is none: the detail is one whole sentence
SELECT workload_guard.block_digest(id, '') FROM q;
SELECT reason IS NULL AS no_reason FROM workload_guard.blocked_digests;
SELECT try('SELECT v FROM t WHERE id = 26');
SELECT workload_guard.unblock_digest(id) FROM q;

DEALLOCATE p;
DROP FUNCTION nested(), qid(text), try(text);
DROP TABLE t;
DROP ROLE regress_wg_app;
DROP EXTENSION workload_guard CASCADE;
