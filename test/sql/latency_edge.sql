-- Latency recording at the edges: statements the extension must never fail,
-- errors at every stage of a statement, and the nesting level that decides
-- toplevel staying right after all of them.
CREATE EXTENSION workload_guard;
\set VERBOSITY terse
SET workload_guard.track = 'top';
SELECT workload_guard.reset_latency() >= 0 AS reset;

-- The sample text is normalized at the first execution, by scanning the
-- text again: under the lexer settings of the parse, not those the
-- statement itself changed meanwhile (the statement must not fail).
-- (from PostgreSQL 19 standard_conforming_strings cannot be turned off:
-- there the statement leaves it on and the check is that nothing breaks)
SELECT current_setting('server_version_num')::int >= 190000 AS scs_always_on \gset
SELECT U&'\0041' AS uesc, set_config('standard_conforming_strings', CASE WHEN :'scs_always_on'::bool THEN 'on' ELSE 'off' END, false) IS NOT NULL AS scs;
RESET standard_conforming_strings;
-- A scanner error there (backslash_quote = safe_encoding and a client-only
-- encoding now) falls back to normalizing without the scanner (as for a
-- failed statement); the statement does not fail.
SELECT E'\'' AS bq, 1 AS one, set_config('client_encoding', 'SJIS', false) AS enc;
RESET client_encoding;
SELECT calls, errors, query FROM workload_guard.statement_latency
WHERE query LIKE '%AS uesc%' OR query LIKE '%AS bq%' ORDER BY query;

-- An error while planning (constant folding) ends the statement: recorded
SELECT 1 / 0 AS plan_fail;
SELECT 2 / 0 AS plan_fail;
-- statement_timeout while planning (an immutable function folded forever)
CREATE FUNCTION edge_spin() RETURNS int IMMUTABLE LANGUAGE plpgsql
  AS 'BEGIN LOOP END LOOP; END';
SET statement_timeout = '50ms';
SELECT edge_spin() AS plan_cancel;
RESET statement_timeout;
SELECT calls, errors, cancels, toplevel, query FROM workload_guard.statement_latency
WHERE query LIKE '%AS plan_fail%' OR query LIKE '%AS plan_cancel%' ORDER BY query;
DROP FUNCTION edge_spin();

-- The extension's own bookkeeping SQL after a DDL (the history row) is
-- nested in the user's statement, never a top-level statement of its own
CREATE TABLE edge_ddl (a int);
DROP TABLE edge_ddl;
SELECT count(*) AS bookkeeping_as_toplevel FROM workload_guard.statement_latency
WHERE toplevel AND query LIKE '%ddl_history%';

-- Bound overflow of the SQL bucket math: huge values clamp, not wrap
SELECT workload_guard.histogram_estimate('{1e14, 1}', 1.0) AS clamped_max,
       workload_guard.histogram_estimate('{Infinity}', 0.5) AS clamped_inf,
       workload_guard.histogram_bucket(1e14) AS last_bucket;
-- bucket counts whose sum does not fit: an error, not a wrapped total
SELECT workload_guard.histogram_percentile('{0,1,2}',
  ARRAY[9223372036854775807, 9223372036854775807, 9223372036854775807]::bigint[], 0.5);

-- The nesting level returns to 0 after errors everywhere: a top-level
-- probe after each one is still recorded as top-level
CREATE TABLE edge_t (id int PRIMARY KEY, v text);
INSERT INTO edge_t SELECT g, 'v' || g FROM generate_series(1, 20) g;
CREATE TABLE edge_trg (a int);
CREATE FUNCTION edge_trgf() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.a < 0 THEN RAISE EXCEPTION 'negative'; END IF; RETURN NEW; END $$;
CREATE TRIGGER edge_after AFTER INSERT ON edge_trg
  FOR EACH ROW EXECUTE FUNCTION edge_trgf();
CREATE CONSTRAINT TRIGGER edge_deferred AFTER INSERT ON edge_trg
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION edge_trgf();
SET workload_guard.track = 'all';
-- ExecutorFinish: AFTER trigger
INSERT INTO edge_trg VALUES (-1);
SELECT 'probe' AS nesting_probe;
-- deferred trigger at COMMIT
BEGIN;
ALTER TABLE edge_trg DISABLE TRIGGER edge_after;
INSERT INTO edge_trg VALUES (-2);
COMMIT;
ALTER TABLE edge_trg ENABLE TRIGGER edge_after;
SELECT 'probe' AS nesting_probe;
-- cursors: left open at commit, WITH HOLD across it, open at abort
BEGIN;
DECLARE c1 CURSOR FOR SELECT * FROM edge_t;
FETCH 2 FROM c1;
DECLARE h1 CURSOR WITH HOLD FOR SELECT * FROM edge_t WHERE id < 5;
FETCH 1 FROM h1;
COMMIT;
FETCH 1 FROM h1;
CLOSE h1;
BEGIN;
DECLARE c2 CURSOR FOR SELECT 1 / (id - 3) FROM edge_t;
FETCH 2 FROM c2;
FETCH 2 FROM c2;
ROLLBACK;
SELECT 'probe' AS nesting_probe;
-- a procedure committing and rolling back inside a loop over a query
CREATE PROCEDURE edge_proc() LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT id FROM edge_t WHERE id < 5 LOOP
    INSERT INTO edge_trg VALUES (r.id);
    IF r.id % 2 = 0 THEN COMMIT; ELSE ROLLBACK; END IF;
  END LOOP;
END $$;
CALL edge_proc();
SELECT 'probe' AS nesting_probe;
-- PL/pgSQL EXCEPTION blocks catching errors from planning, execution,
-- and an AFTER trigger, more than 64 executions deep
CREATE FUNCTION edge_rec(n int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  IF n = 0 THEN
    INSERT INTO edge_trg VALUES (-3);
  END IF;
  IF n = 1 THEN
    RETURN (SELECT 1 / (id - id) FROM edge_t WHERE id = 1);
  END IF;
  IF n = 2 THEN
    RETURN 1 / 0;
  END IF;
  RETURN edge_rec(n - 1);
EXCEPTION WHEN division_by_zero OR raise_exception THEN
  RETURN -n;
END $$;
SELECT edge_rec(0), edge_rec(1), edge_rec(2), edge_rec(80);
SELECT 'probe' AS nesting_probe;
-- errors inside utility statements that run a query
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT 1 / (id - id) FROM edge_t;
CREATE TABLE edge_ctas AS SELECT 1 / (id - id) AS x FROM edge_t;
COPY (SELECT 1 / (id - id) FROM edge_t) TO STDOUT;
SELECT 'probe' AS nesting_probe;
SET workload_guard.track = 'top';
SELECT calls, toplevel FROM workload_guard.statement_latency
WHERE query LIKE '%AS nesting_probe';

-- Failures are found at the abort of the (sub)transaction that handles
-- them (no hook catches errors): the failed statement is recorded once,
-- with its error, and every level is right afterwards.
SELECT workload_guard.reset_latency() >= 0 AS reset;
SET workload_guard.track = 'all';
-- permission denied in ExecutorStart
CREATE ROLE regress_edge_noperm;
GRANT USAGE ON SCHEMA workload_guard TO regress_edge_noperm;
SET ROLE regress_edge_noperm;
SELECT count(*) AS start_fail FROM edge_t;
RESET ROLE;
-- an error caught by an EXCEPTION block: the statement that failed is
-- nested and failed, the one after it in the function still nested
CREATE FUNCTION edge_catch() RETURNS int LANGUAGE plpgsql AS $$
DECLARE x int;
BEGIN
  BEGIN
    SELECT 1 / (id - id) AS caught_fail INTO x FROM edge_t WHERE id = 1;
  EXCEPTION WHEN division_by_zero THEN NULL;
  END;
  SELECT count(*) AS after_catch INTO x FROM edge_t WHERE id > 0;
  RETURN x;
END $$;
SELECT edge_catch() AS catch_top;
-- a procedure's ROLLBACK aborts its transaction without an error: its
-- next statements are still nested
CREATE PROCEDURE edge_rollback() LANGUAGE plpgsql AS $$
DECLARE x int;
BEGIN
  INSERT INTO edge_trg VALUES (1);
  ROLLBACK;
  SELECT max(id) AS after_rollback INTO x FROM edge_t;
END $$;
CALL edge_rollback();
-- a cursor's query failing in FETCH, rolled back to a savepoint
BEGIN;
DECLARE c3 CURSOR FOR SELECT 1 / (id - 2) AS fetch_fail FROM edge_t;
SAVEPOINT s1;
FETCH 3 FROM c3;
ROLLBACK TO SAVEPOINT s1;
COMMIT;
SET workload_guard.track = 'top';
-- (the cursor's query has the text of its DECLARE up to PostgreSQL 17,
-- its own from 18)
SELECT calls, errors, toplevel,
       CASE WHEN query ~ '^DECLARE c3' AND toplevel THEN 'declare'
            WHEN query ~ '^DECLARE c3' OR query ~ 'AS fetch_fail' THEN 'fetch_fail'
            ELSE regexp_replace(query, '^.* AS ([a-z_]+).*$', '\1') END AS what
FROM workload_guard.statement_latency
WHERE (query ~ ' AS (start_fail|caught_fail|after_catch|catch_top|after_rollback|fetch_fail)'
       AND query !~ '^(CREATE|DECLARE)') OR query ~ '^DECLARE c3'
ORDER BY what, toplevel;
DROP PROCEDURE edge_rollback();
DROP FUNCTION edge_catch();
REVOKE USAGE ON SCHEMA workload_guard FROM regress_edge_noperm;
DROP ROLE regress_edge_noperm;

DROP PROCEDURE edge_proc();
DROP FUNCTION edge_rec(int);
DROP TABLE edge_t, edge_trg;
DROP FUNCTION edge_trgf();

DROP EXTENSION workload_guard CASCADE;
