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
SELECT U&'\0041' AS uesc, set_config('standard_conforming_strings', 'off', false) AS scs;
RESET standard_conforming_strings;
-- A scanner error there (backslash_quote = safe_encoding and a client-only
-- encoding now) keeps the text as sent; the statement does not fail.
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


DROP EXTENSION workload_guard CASCADE;
