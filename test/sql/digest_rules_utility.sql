-- Digest rules on utility statements (CALL, COPY, DO, ...): refused or
-- capped like queries, at any nesting level; the cap slot is held for the
-- whole statement, across a COMMIT inside a procedure, and given back on
-- error.  Transaction control and SET are never refused.
CREATE EXTENSION workload_guard;
CREATE TABLE t (a int);
INSERT INTO t VALUES (1), (2);
CREATE PROCEDURE p() LANGUAGE sql AS $$ SELECT 1 $$;

-- a utility's digest, as statement_latency records it for this role (from
-- 18 a SET's value is a constant of its digest, whose text is that of its
-- first execution: a SET is found by its setting's name)
CREATE FUNCTION uqid(q text) RETURNS bigint LANGUAGE sql
  AS $$ SELECT queryid FROM workload_guard.statement_latency
         WHERE toplevel AND userid = (SELECT oid FROM pg_roles WHERE rolname = current_user)
           AND (query = q OR (q ~ '^SET \S+ = ' AND
                              split_part(query, ' = ', 1) = split_part(q, ' = ', 1)))
         ORDER BY query = q DESC LIMIT 1 $$;
CREATE FUNCTION try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; hint text;
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
      hint = PG_EXCEPTION_HINT;
  RETURN st || ': ' || regexp_replace(msg, '-?\d{6,}', 'Q', 'g') || ' | ' ||
         regexp_replace(hint, '-?\d{6,}', 'Q', 'g');
END $$;

CALL p();
COPY t TO STDOUT;
BEGIN;
ROLLBACK;
SET workload_guard.bypass_rules = off;
SELECT count(*) AS digests FROM (VALUES (uqid('CALL p()')), (uqid('COPY t TO STDOUT')),
  (uqid('BEGIN')), (uqid('ROLLBACK')), (uqid('SET workload_guard.bypass_rules = off'))) v(q)
 WHERE q IS NOT NULL;

-- block: refused before it runs, top-level and nested
SELECT workload_guard.block_digest(uqid('CALL p()'), 'incident 7');
SELECT workload_guard.block_digest(uqid('COPY t TO STDOUT'), 'incident 7');
\set VERBOSITY sqlstate
CALL p();
COPY t TO STDOUT;
DO $$ BEGIN CALL p(); END $$;
\set VERBOSITY default
SELECT try('CALL p()');
SELECT mode, reason, blocked FROM workload_guard.blocked_digests ORDER BY blocked;

-- the bypass lets them run; unblock lifts the rule
SET workload_guard.bypass_rules = on;
CALL p();
RESET workload_guard.bypass_rules;
SELECT workload_guard.unblock_digest(uqid('CALL p()'));
SELECT workload_guard.unblock_digest(uqid('COPY t TO STDOUT'));
CALL p();
COPY t TO STDOUT;

-- never refused: transaction control and SET (an operator must always be
-- able to end a transaction and set the bypass)
SELECT workload_guard.block_digest(uqid('BEGIN'), 'never');
SELECT workload_guard.block_digest(uqid('ROLLBACK'), 'never');
SELECT workload_guard.block_digest(uqid('SET workload_guard.bypass_rules = off'), 'never');
BEGIN;
ROLLBACK;
SET workload_guard.bypass_rules = off;
SELECT sum(blocked) AS hits FROM workload_guard.blocked_digests;
SELECT workload_guard.unblock_digest(uqid('BEGIN')) + workload_guard.unblock_digest(uqid('ROLLBACK')) +
       workload_guard.unblock_digest(uqid('SET workload_guard.bypass_rules = off')) AS lifted;

-- cap: the slot is held while the procedure runs, across its own COMMIT,
-- and refuses a nested call of the same digest; an error gives it back
SELECT workload_guard.cap_digest(uqid('CALL p()'), 1, 'one at a time');
CALL p();
SELECT running FROM workload_guard.blocked_digests;
SELECT workload_guard.unblock_digest(uqid('CALL p()'));
CREATE PROCEDURE rec() LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
  IF current_setting('regress.commit_inside', true) = 'on' THEN
    COMMIT;
  END IF;
  SELECT running INTO n FROM workload_guard.blocked_digests WHERE mode = 'cap';
  RAISE NOTICE 'running: %', n;
  IF n IS NOT NULL THEN
    BEGIN
      CALL rec();
    EXCEPTION WHEN OTHERS THEN
      RAISE NOTICE 'nested call: %', SQLSTATE;
    END;
  END IF;
  IF current_setting('regress.fail', true) = 'on' THEN
    RAISE EXCEPTION 'failing after the nested call';
  END IF;
END $$;
CALL rec();
SELECT workload_guard.cap_digest(uqid('CALL rec()'), 1, 'one at a time');
CALL rec();
SELECT running, capped FROM workload_guard.blocked_digests;
SET regress.commit_inside = on;
CALL rec();
SET regress.fail = on;
\set VERBOSITY terse
CALL rec();
\set VERBOSITY default
RESET regress.commit_inside;
RESET regress.fail;
SELECT running, capped FROM workload_guard.blocked_digests;
SELECT workload_guard.unblock_digest(uqid('CALL rec()'));

DROP EXTENSION workload_guard CASCADE;
DROP TABLE t;
DROP PROCEDURE p(), rec();
DROP FUNCTION uqid(text), try(text);
