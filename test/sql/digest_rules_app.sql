-- Rules by application_name, and rules over every digest of a role or an
-- application (queryid NULL): which sessions they hit (exact,
-- case-sensitive name), SET application_name taking a session in and out
-- of a rule at its next statement, a statement having to satisfy every
-- rule that matches it, what a refusal says, the statements that stay
-- exempt (so an operator can always lift such a rule), the unique key, the
-- counters and the record, and 1.0's argument lists of the same C symbols.
-- (Under pgbench load and on a standby: test/t/092_app_rules.pl.)
CREATE EXTENSION workload_guard;
CREATE TABLE t (id int);
INSERT INTO t VALUES (1);
CREATE ROLE regress_wg_app_r1;
GRANT SELECT ON t TO regress_wg_app_r1;
CREATE FUNCTION qid(q text) RETURNS bigint LANGUAGE sql
  AS $$ SELECT workload_guard.queryid_of(q) $$;

-- run q as application app (and role r), report how it ended; volatile
-- parts (queryids, timestamps, the observed rate) replaced.  The caller's
-- own statement runs under the caller's application and role.
CREATE FUNCTION try(q text, app text DEFAULT NULL, r text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; det text; hint text;
BEGIN
  BEGIN
    IF app IS NOT NULL THEN
      PERFORM set_config('application_name', app, true);
    END IF;
    IF r IS NOT NULL THEN
      EXECUTE format('SET LOCAL ROLE %I', r);
    END IF;
    EXECUTE q;
    RAISE EXCEPTION 'ran' USING ERRCODE = 'P0001';  -- undo the settings
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
        det = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
  END;
  IF st = 'P0001' AND msg = 'ran' THEN
    RETURN 'ok';
  END IF;
  RETURN st || ': ' || regexp_replace(msg, '-?\d{6,}', 'Q', 'g') || ' | ' ||
         regexp_replace(regexp_replace(det, '\d{4}-\d\d-\d\d [0-9:.]+[+-]\d\d', 'T', 'g'),
                        '-?\d{6,}', 'Q', 'g') ||
         ' | ' || regexp_replace(regexp_replace(hint, '-?\d{6,}', 'Q', 'g'),
                                 'about [0-9.]+ times', 'about N times');
END $$;

-- bad input: a rule on every statement of everyone, a budget over every
-- digest, names no session can have
SELECT workload_guard.block_digest(NULL);
SELECT workload_guard.cap_digest(NULL, 1, database => current_database());
SELECT workload_guard.budget_digest(NULL, 1, application_name => 'batch');
\set VERBOSITY terse
SELECT workload_guard.block_digest(1, application_name => '');
SELECT workload_guard.block_digest(1, application_name => repeat('a', 64));
SELECT workload_guard.block_digest(1, application_name => 'caf' || chr(233));
-- the table's CHECKs say the same to direct writes
INSERT INTO workload_guard.digest_rules (queryid, mode, created_by)
  VALUES (NULL, 'block', 'x');
INSERT INTO workload_guard.digest_rules (queryid, mode, created_by, application_name)
  VALUES (1, 'block', 'x', '');
\set VERBOSITY default
SELECT count(*) FROM workload_guard.digest_rules;

-- a digest's rule for one application: exact and case-sensitive, taken
-- into account at the session's next statement after SET application_name
SELECT workload_guard.block_digest(qid('SELECT id FROM t'), 'app a', application_name => 'app-a');
\set VERBOSITY sqlstate
SET application_name = 'app-a';
SELECT id FROM t;
SELECT id FROM t WHERE id = 1;
SET application_name = 'app-b';
SELECT id FROM t;
SET application_name = 'app-a';
SELECT id FROM t;
SET application_name = 'App-a';
SELECT id FROM t;
RESET application_name;
SELECT id FROM t;
\set VERBOSITY default
SELECT try('SELECT id FROM t', app => 'app-a');

-- the unique key is (queryid, role, database, application_name): one rule
-- per application next to the digest's rule for every application;
-- writing one again replaces it
SELECT workload_guard.cap_digest(qid('SELECT id FROM t'), 3, 'app b', application_name => 'app-b');
SELECT workload_guard.cap_digest(qid('SELECT id FROM t'), 2, 'app b again', application_name => 'app-b');
SELECT workload_guard.rate_limit_digest(qid('SELECT id FROM t'), 1000, 1000, 'any app');
SELECT mode, max_running, reason, application_name
  FROM workload_guard.digest_rules ORDER BY application_name NULLS FIRST;
-- unblock_digest(q, app) lifts that application's rule only
SELECT workload_guard.unblock_digest(qid('SELECT id FROM t'), 'app-a');
SELECT mode, application_name FROM workload_guard.digest_rules
 ORDER BY application_name NULLS FIRST;
-- unblock_digest(q) still lifts every rule of the digest
SELECT workload_guard.unblock_digest(qid('SELECT id FROM t'));

-- a cap's slots are counted per full rule key: the caps of one digest for
-- two applications never share them (an open cursor holds its slot)
SELECT workload_guard.cap_digest(qid('SELECT id FROM t'), 1, application_name => 'app-a');
SELECT workload_guard.cap_digest(qid('SELECT id FROM t'), 1, application_name => 'app-b');
BEGIN;
SET LOCAL application_name = 'app-a';
DECLARE c1 CURSOR FOR SELECT id FROM t;
SET LOCAL application_name = 'app-b';
DECLARE c2 CURSOR FOR SELECT id FROM t;
SELECT application_name, running FROM workload_guard.digest_rule_activity
 ORDER BY application_name;
SET LOCAL application_name = 'app-a';
SAVEPOINT s;
\set VERBOSITY sqlstate
DECLARE c3 CURSOR FOR SELECT id FROM t;
\set VERBOSITY default
ROLLBACK TO s;
COMMIT;
SELECT application_name, running, refused FROM workload_guard.digest_rule_activity
 ORDER BY application_name;
SELECT workload_guard.unblock_digest(qid('SELECT id FROM t'));

-- a rule over every digest of an application: every statement refused,
-- except what an operator needs to lift it
SELECT workload_guard.block_digest(NULL, 'broken deploy', application_name => 'broken-deploy',
                                   expires_in => '10 min');
SELECT queryid, mode, application_name, active FROM workload_guard.blocked_digests;
\set VERBOSITY sqlstate
SET application_name = 'broken-deploy';
SELECT id FROM t;
SELECT 1;
CREATE TABLE t2 (id int);
BEGIN;
SHOW application_name;
ROLLBACK;
SET workload_guard.bypass_rules = on;
SELECT 1 AS bypassed;
RESET workload_guard.bypass_rules;
SELECT 2;
-- the self-lockout exemption: rule writes and lifting run
SELECT workload_guard.block_digest(4242, 'from the blocked session');
SELECT workload_guard.unblock_digest(4242);
SELECT workload_guard.unblock_digest(NULL, application_name => 'broken-deploy');
SELECT 3 AS lifted;
RESET application_name;
\set VERBOSITY default

-- a rule over every digest of a role (rate), and of a role in one
-- application (block); the refusal names the rule
SELECT workload_guard.rate_limit_digest(NULL, 0.001, 2, 'reporting storm', role => 'regress_wg_app_r1');
SELECT workload_guard.block_digest(NULL, 'r1 in app-c', role => 'regress_wg_app_r1',
                                   application_name => 'app-c');
SELECT try('SELECT id FROM t', r => 'regress_wg_app_r1');
SELECT try('SELECT 1', r => 'regress_wg_app_r1');
SELECT try('SELECT 2', r => 'regress_wg_app_r1');
SELECT try('SELECT 2', r => 'regress_wg_app_r1', app => 'app-c');
-- the role's rules are not the superuser's, in any application
SELECT try('SELECT 2', app => 'app-c');
\set VERBOSITY sqlstate
SET ROLE regress_wg_app_r1;
SELECT 4;
RESET ROLE;
SELECT 5 AS not_the_role;
\set VERBOSITY default
SELECT queryid, mode, role, application_name, refused, admitted
  FROM workload_guard.digest_rule_activity ORDER BY mode;
-- lifting one role's rules over every digest leaves the other rules
SELECT workload_guard.block_digest(NULL, 'everyone in app-d', application_name => 'app-d');
SELECT workload_guard.unblock_digest(NULL, role => 'regress_wg_app_r1') AS lifted;
SELECT queryid IS NULL AS every_digest, role, application_name
  FROM workload_guard.digest_rules ORDER BY application_name;
SELECT workload_guard.unblock_digest(NULL, role => 0);
SELECT workload_guard.unblock_digest(NULL);

-- a statement must satisfy every rule that matches it: its digest's and
-- the rules over every digest, whichever refuses first
SELECT workload_guard.block_digest(qid('SELECT id FROM t'), 'the digest', dry_run => true);
SELECT workload_guard.block_digest(NULL, 'the application', application_name => 'mix', dry_run => true);
SET client_min_messages = error;   -- the two warnings name the queryid
SELECT try('SELECT id FROM t', app => 'mix');
RESET client_min_messages;
SELECT queryid IS NULL AS every_digest, application_name, warned, refused
  FROM workload_guard.digest_rule_activity ORDER BY 1;
SELECT workload_guard.block_digest(NULL, 'the application', application_name => 'mix');
SET client_min_messages = error;
SELECT try('SELECT id FROM t', app => 'mix');
SELECT try('SELECT id FROM t', app => 'other');
RESET client_min_messages;
SELECT workload_guard.block_digest(qid('SELECT id FROM t'), 'the digest');
SELECT workload_guard.block_digest(NULL, 'the application', application_name => 'mix', dry_run => true);
SET client_min_messages = error;
SELECT try('SELECT id FROM t', app => 'mix');
RESET client_min_messages;
SELECT workload_guard.unblock_digest(NULL);
SELECT workload_guard.unblock_digest(qid('SELECT id FROM t'));

-- a cap over every digest counts backends: the statements nested in one
-- that holds its slot take no other
CREATE FUNCTION nested() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  PERFORM id FROM t;
  RETURN 1;
END $$;
SELECT workload_guard.cap_digest(NULL, 1, 'one backend', application_name => 'nest');
SET application_name = 'nest';
SELECT nested();
RESET application_name;
SELECT queryid, max_running, running, refused, application_name
  FROM workload_guard.digest_rule_activity;
SELECT workload_guard.unblock_digest(NULL, 'nest');

-- the record names the application; queryid NULL for every digest
SELECT action, queryid IS NULL AS every_digest, application_name,
       coalesce(after, before)->>'reason' AS reason
  FROM workload_guard.digest_rule_history
 WHERE application_name IN ('broken-deploy', 'nest') ORDER BY changed_at, action;

-- 1.0's argument lists of the same C symbols: queryid is required, no
-- application, and the counters' 1.0 columns
CREATE FUNCTION pg_temp.block_digest_1_0(queryid bigint, reason text DEFAULT NULL,
    expires_in interval DEFAULT NULL, role regrole DEFAULT NULL,
    database name DEFAULT NULL, dry_run boolean DEFAULT false)
RETURNS void AS 'workload_guard', 'wg_block_digest' LANGUAGE C VOLATILE;
CREATE FUNCTION pg_temp.unblock_digest_1_0(queryid bigint)
RETURNS integer AS 'workload_guard', 'wg_unblock_digest' LANGUAGE C VOLATILE;
CREATE FUNCTION pg_temp.digest_rule_counters_1_0(
    OUT queryid bigint, OUT roleid oid, OUT dbid oid, OUT running integer,
    OUT blocked bigint, OUT warned bigint, OUT capped bigint,
    OUT last_hit timestamptz, OUT rule_created_at timestamptz)
RETURNS SETOF record AS 'workload_guard', 'wg_digest_rule_counters'
LANGUAGE C STRICT VOLATILE;
SELECT pg_temp.block_digest_1_0(NULL);
SELECT pg_temp.unblock_digest_1_0(NULL);
SELECT pg_temp.block_digest_1_0(qid('SELECT id FROM t'), '1.0');
\set VERBOSITY sqlstate
SELECT id FROM t;
\set VERBOSITY default
SELECT c.queryid = qid('SELECT id FROM t') AS same, c.blocked
  FROM pg_temp.digest_rule_counters_1_0() c
  JOIN workload_guard.digest_rules r
    ON r.queryid = c.queryid AND r.created_at = c.rule_created_at;
SELECT pg_temp.unblock_digest_1_0(qid('SELECT id FROM t'));

DROP EXTENSION workload_guard CASCADE;
DROP TABLE t;
DROP TABLE IF EXISTS t2;
DROP FUNCTION nested();
DROP FUNCTION try(text, text, text);
DROP FUNCTION qid(text);
DROP ROLE regress_wg_app_r1;
