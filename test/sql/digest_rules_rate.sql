-- Rate limits (rate_limit_digest): the rule row, the token bucket's burst
-- (deterministic: a burst of 3 and 0.001 tokens a second), warn mode, role
-- scope, the activity view, and a rate rule on top of a cap.  The rate
-- itself over time is measured by test/t/090_rate_limit.pl.
CREATE EXTENSION workload_guard;
CREATE TABLE rt (id int PRIMARY KEY, v text);
INSERT INTO rt SELECT g, 'v' || g FROM generate_series(1, 10) g;
CREATE ROLE regress_wg_rate;
GRANT SELECT ON rt TO regress_wg_rate;

CREATE FUNCTION rate_try(q text) RETURNS text LANGUAGE plpgsql AS $$
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
         ' | ' || regexp_replace(regexp_replace(hint, '-?\d{6,}', 'Q', 'g'),
                                 'about [0-9.]+ times', 'about N times');
END $$;
CREATE TEMP TABLE q AS
  SELECT workload_guard.queryid_of('SELECT v FROM rt WHERE id = 1') AS id;

-- bad input
SELECT workload_guard.rate_limit_digest(0, 1);
SELECT workload_guard.rate_limit_digest(1, 0);
SELECT workload_guard.rate_limit_digest(1, 'NaN');
SELECT workload_guard.rate_limit_digest(1, 1, 0);
SELECT workload_guard.rate_limit_digest(1, NULL);
SELECT count(*) FROM workload_guard.digest_rules;
-- the table's CHECK: a rate rule has both columns
\set VERBOSITY terse
INSERT INTO workload_guard.digest_rules (queryid, mode, created_by)
  VALUES (1, 'rate', 'x');
\set VERBOSITY default

-- default burst: one second's worth
SELECT workload_guard.rate_limit_digest(1, 2.5);
SELECT queryid, mode, per_second, burst, max_running FROM workload_guard.digest_rules;
SELECT workload_guard.unblock_digest(1);

-- a burst of 3, then nothing for 1000 seconds
SELECT workload_guard.rate_limit_digest(id, 0.001, 3, 'incident 7') FROM q;
SELECT rate_try('SELECT v FROM rt WHERE id = ' || g) FROM generate_series(1, 5) g;
SELECT mode, warn_only, refused, warned, admitted, last_hit IS NOT NULL AS hit
  FROM workload_guard.digest_rule_activity;
-- other digests are not limited
SELECT rate_try('SELECT id FROM rt WHERE v = ''x''');
-- the operator can always lift it (the statement calling unblock_digest
-- would itself match no rule, and is exempt anyway)
SELECT workload_guard.unblock_digest(id) FROM q;
SELECT rate_try('SELECT v FROM rt WHERE id = 1');

-- warn mode: the statement runs, with a WARNING; counted as warned
SELECT workload_guard.rate_limit_digest(id, 0.001, 1, dry_run => true) FROM q;
\set VERBOSITY sqlstate
SELECT v FROM rt WHERE id = 1;
SELECT v FROM rt WHERE id = 2;
SELECT v FROM rt WHERE id = 3;
\set VERBOSITY default
SELECT mode, warn_only, refused, warned, admitted FROM workload_guard.digest_rule_activity;

-- a rewritten rule starts with a full bucket and fresh counters
SELECT workload_guard.rate_limit_digest(id, 0.001, 1) FROM q;
SELECT rate_try('SELECT v FROM rt WHERE id = 1');
SELECT rate_try('SELECT v FROM rt WHERE id = 1');
SELECT mode, warn_only, refused, warned, admitted FROM workload_guard.digest_rule_activity;
SELECT workload_guard.unblock_digest(id) FROM q;

-- role scope: only regress_wg_rate is limited
SELECT workload_guard.rate_limit_digest(id, 0.001, 1, role => 'regress_wg_rate') FROM q;
SELECT rate_try('SELECT v FROM rt WHERE id = 1') FROM generate_series(1, 3);
SET ROLE regress_wg_rate;
SELECT rate_try('SELECT v FROM rt WHERE id = 1') FROM generate_series(1, 3);
RESET ROLE;
SELECT mode, role, refused, admitted FROM workload_guard.digest_rule_activity;
SELECT workload_guard.unblock_digest(id) FROM q;

-- bypass_rules: a superuser runs past the limit
SELECT workload_guard.rate_limit_digest(id, 0.001, 1) FROM q;
SET workload_guard.bypass_rules = on;
SELECT rate_try('SELECT v FROM rt WHERE id = 1') FROM generate_series(1, 3);
RESET workload_guard.bypass_rules;
SELECT admitted, refused FROM workload_guard.digest_rule_activity;

-- block and rate on one digest (two scopes): every matching rule applies
SELECT workload_guard.block_digest(id, role => 'regress_wg_rate') FROM q;
SET ROLE regress_wg_rate;
SELECT rate_try('SELECT v FROM rt WHERE id = 1');
RESET ROLE;
SELECT mode, role IS NOT NULL AS scoped, refused, admitted
  FROM workload_guard.digest_rule_activity ORDER BY mode;

-- a rate rule on a utility statement's digest (CALL), checked in
-- ProcessUtility
SELECT workload_guard.unblock_digest(id) FROM q;
CREATE PROCEDURE rate_p() LANGUAGE sql AS $$ SELECT 1 $$;
CALL rate_p();
CREATE FUNCTION rate_uqid(q text) RETURNS bigint LANGUAGE sql
  AS $$ SELECT queryid FROM workload_guard.statement_latency
         WHERE query = q AND toplevel $$;
SELECT workload_guard.rate_limit_digest(rate_uqid('CALL rate_p()'), 0.001, 1);
\set VERBOSITY sqlstate
CALL rate_p();
CALL rate_p();
\set VERBOSITY default
SELECT mode, refused, admitted FROM workload_guard.digest_rule_activity;
SELECT workload_guard.unblock_digest(rate_uqid('CALL rate_p()'));

-- time budgets (budget_digest): bad input, then a budget of 0.01 backends
-- that one execution of 1.5 s exceeds (1.5 s over a recent window of at
-- most 120 s is at least 0.0125 backends)
\set VERBOSITY terse
SELECT workload_guard.budget_digest(1, 0);
SELECT workload_guard.budget_digest(1, 'NaN');
SELECT workload_guard.budget_digest(1, NULL);
\set VERBOSITY default
CREATE TEMP TABLE bq AS
  SELECT workload_guard.queryid_of('SELECT pg_sleep(1.5)') AS id;
SELECT workload_guard.budget_digest(id, 0.01, 'report') FROM bq;
SELECT queryid = bq.id AS same, mode, backends FROM workload_guard.digest_rules, bq;
SELECT pg_sleep(1.5);
\set VERBOSITY sqlstate
SELECT pg_sleep(0.0);
\set VERBOSITY default
SELECT mode, warn_only, refused, warned, admitted FROM workload_guard.digest_rule_activity;
-- warn mode: it runs, with a WARNING
SELECT workload_guard.budget_digest(id, 0.01, dry_run => true) FROM bq;
\set VERBOSITY sqlstate
SELECT pg_sleep(0.0);
\set VERBOSITY default
SELECT mode, warn_only, refused, warned, admitted FROM workload_guard.digest_rule_activity;
SELECT workload_guard.unblock_digest(id) FROM bq;

-- the record: every change above, who, when, before and after
SELECT action, before->>'mode' AS before_mode, after->>'mode' AS after_mode,
       coalesce(after->>'per_second', after->>'backends') AS limit,
       changed_by = session_user AS by_me, changed_at <= now() AS ok_time
  FROM workload_guard.digest_rule_history ORDER BY changed_at LIMIT 8;
SELECT count(*) > 20 AS many, count(*) FILTER (WHERE action = 'delete') AS deletes
  FROM workload_guard.digest_rule_history;
SELECT workload_guard.trim_digest_rule_history('1 hour');
SELECT workload_guard.trim_digest_rule_history('-1 hour') > 0 AS trimmed;
SELECT count(*) FROM workload_guard.digest_rule_history;

DROP EXTENSION workload_guard;
DROP TABLE rt;
DROP FUNCTION rate_try(text);
DROP FUNCTION rate_uqid(text);
DROP PROCEDURE rate_p();
DROP ROLE regress_wg_rate;

