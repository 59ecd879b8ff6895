-- Latency recording: calls counted exactly, per track level, utility,
-- errors and cancels, and the SQL surface around the histograms.
CREATE EXTENSION workload_guard;
SET workload_guard.track = 'top';
SELECT workload_guard.reset_latency() >= 0 AS reset;

CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g;

-- simple protocol: 5 executions of one digest
SELECT v FROM t WHERE id = 1;
SELECT v FROM t WHERE id = 2;
SELECT v FROM t WHERE id = 3;
SELECT v FROM t WHERE id = 4;
SELECT v FROM t WHERE id = 5;

-- prepared statement: the digest of the prepared query, not EXECUTE's
PREPARE p(int) AS SELECT v FROM t WHERE id = $1 AND v IS NOT NULL;
EXECUTE p(1);
EXECUTE p(2);
EXECUTE p(3);

SELECT calls, errors, toplevel, query,
       p50_ms > 0 AS p50_pos, p50_ms <= p99_ms AS ordered, p99_ms <= max_ms AS below_max,
       min_ms <= p50_ms AS above_min
FROM workload_guard.statement_latency
WHERE query LIKE 'SELECT v FROM t%' ORDER BY query;

-- the queryid is the core one: same number as EXPLAIN VERBOSE shows
CREATE FUNCTION explain_queryid(q text) RETURNS bigint LANGUAGE sql
  AS $$ SELECT workload_guard.queryid_of(q) $$;
SELECT count(*) AS same_queryid
FROM workload_guard.statement_latency
WHERE queryid = explain_queryid('SELECT v FROM t WHERE id = 1');

-- sample texts are normalized like pg_stat_statements: constants become
-- $n (numbered after the statement's own parameters), each statement of a
-- multi-statement string keeps its own slice
SELECT -7 AS neg, 'secret' AS s, 2.5e3 AS f FROM t WHERE id = 3;
SELECT 11 AS norm_a \; SELECT 'x' AS norm_b FROM t WHERE v = 'v1';
PREPARE q(int) AS SELECT v FROM t WHERE id = $1 AND v <> 'zz';
EXECUTE q(4);
SELECT query FROM workload_guard.statement_latency
WHERE query LIKE '%AS neg%' OR query LIKE '%AS norm_a' OR query LIKE '%AS norm_b%'
   OR query LIKE 'PREPARE q%' ORDER BY query;
-- a statement that failed keeps the text as sent (no scanner after an error)
SELECT id / 0 AS failing FROM t WHERE id = 5;
SELECT query FROM workload_guard.statement_latency WHERE query LIKE '%AS failing%';

-- queryid_of(): the digest of a statement without running it
SELECT workload_guard.queryid_of('SELECT v FROM t WHERE id = 1') =
       workload_guard.queryid_of('SELECT v FROM t WHERE id = 99') AS constants_ignored;
SELECT workload_guard.queryid_of('DELETE FROM t') IS NOT NULL AS dml_planned_only,
       (SELECT count(*) FROM t) AS rows_still_there;
SELECT workload_guard.queryid_of(NULL) IS NULL AS null_in_null_out;
\set VERBOSITY terse
SELECT workload_guard.queryid_of('SELEC 1');
SELECT workload_guard.queryid_of('VACUUM t') <> 0 AS utility_accepted;
\set VERBOSITY default

-- nested statements follow workload_guard.track
CREATE FUNCTION nested_count() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN RETURN (SELECT count(*) FROM t WHERE id > 50); END $$;
SELECT nested_count();
SELECT count(*) AS nested_with_top FROM workload_guard.statement_latency
WHERE NOT toplevel AND query LIKE '%FROM t WHERE id > %';
SET workload_guard.track = 'all';
SELECT nested_count();
SELECT nested_count();
SELECT calls, toplevel FROM workload_guard.statement_latency
WHERE NOT toplevel AND query LIKE '%FROM t WHERE id > %';
SET workload_guard.track = 'none';
SELECT nested_count();
SELECT calls FROM workload_guard.statement_latency
WHERE query LIKE 'SELECT nested_count()%';
SET workload_guard.track = 'top';

-- utility statements are timed
CREATE TABLE u1 (a int);
DROP TABLE u1;
SELECT calls, errors FROM workload_guard.statement_latency
WHERE query LIKE 'CREATE TABLE u1%' OR query LIKE 'DROP TABLE u1%' ORDER BY query;

-- errors are recorded and counted apart
SELECT 1 / (id - id) FROM t WHERE id = 7;
SELECT 1 / (id - id) FROM t WHERE id = 8;
SELECT calls, errors, cancels FROM workload_guard.statement_latency
WHERE query LIKE 'SELECT $1 / (id - id)%';

-- cancels: statement_timeout is the tail an operator looks for
SET statement_timeout = '50ms';
SELECT count(*) FROM generate_series(1, 100000000) g;
RESET statement_timeout;
SELECT calls, errors, cancels, max_ms > 0 AS timed
FROM workload_guard.statement_latency
WHERE query LIKE 'SELECT count(*) FROM generate_series($1, $2)%';

-- an error inside a PL/pgSQL EXCEPTION block leaves nothing behind
SET workload_guard.track = 'all';
DO $$
BEGIN
  BEGIN
    PERFORM 1 / (id - id) FROM t WHERE id = 9;
  EXCEPTION WHEN division_by_zero THEN NULL;
  END;
END $$;
SELECT calls, errors FROM workload_guard.statement_latency
WHERE NOT toplevel AND query LIKE 'SELECT $1 / (id - id) FROM t WHERE id = $2%';
SET workload_guard.track = 'top';

-- parallel workers do not record: the leader counts each execution once
-- (force_parallel_mode is called debug_parallel_query from PostgreSQL 16)
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000
       THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END AS parallel_guc \gset
SET :parallel_guc = on;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT count(*) FROM t WHERE v LIKE 'v1%';
SELECT count(*) FROM t WHERE v LIKE 'v2%';
SELECT count(*) FROM t WHERE v LIKE 'v3%';
RESET :parallel_guc;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SELECT calls FROM workload_guard.statement_latency
WHERE query LIKE 'SELECT count(*) FROM t WHERE v LIKE%';

-- latency_percentile / latency_histogram agree with the view
SELECT l.p99_ms = workload_guard.latency_percentile(l.queryid, 0.99) AS same_p99,
       (SELECT sum(count) FROM workload_guard.latency_histogram(l.queryid)) = l.calls AS hist_sum
FROM workload_guard.statement_latency l WHERE query LIKE 'PREPARE p%';
SELECT workload_guard.latency_percentile(12345, 0.5) AS unknown_digest;
SELECT count(*) FROM workload_guard.latency_histogram(12345);

-- bad input
SELECT workload_guard.latency_percentile(1, 1.5);
SELECT workload_guard.latency_percentile(1, 'NaN');
SELECT workload_guard.latency_percentile(NULL, 0.5) IS NULL AS null_in_null_out;

-- raw buckets sum to calls, for monitoring tools to diff and merge
SELECT bool_and(b.total = l.calls) AS buckets_match_calls
FROM workload_guard.statement_latency l
JOIN (SELECT userid, dbid, queryid, toplevel, sum(count) AS total
      FROM workload_guard.latency_buckets() GROUP BY 1, 2, 3, 4) b
  USING (userid, dbid, queryid, toplevel);

-- recent window: the same executions are in it
SELECT recent_calls = calls AS recent_has_all, recent_p99_ms = p99_ms AS recent_p99,
       recent_seconds > 0 AND recent_seconds <= 2 * 60 AS window_ok
FROM workload_guard.statement_latency WHERE query LIKE 'PREPARE p%';

-- reset of one digest, then of everything
SELECT workload_guard.reset_latency(queryid) FROM workload_guard.statement_latency
WHERE query LIKE 'PREPARE p%';
SELECT count(*) FROM workload_guard.statement_latency WHERE query LIKE 'PREPARE p%';
SELECT workload_guard.reset_latency() > 0 AS reset_all;
SELECT statements <= 1 AS empty, evictions, dropped FROM workload_guard.latency_info;

DROP TABLE t;
DROP FUNCTION explain_queryid(text), nested_count();
DROP EXTENSION workload_guard;
