-- queryid_of(statement): the digest of exactly one statement, computed by
-- parse analysis as compute_query_id does, never planned nor executed;
-- $1-style parameters accepted; utility statements; clear errors.
CREATE EXTENSION workload_guard;
SET workload_guard.track = 'top';
CREATE TABLE qo_t (id int PRIMARY KEY, v text);
INSERT INTO qo_t SELECT g, 'v' || g FROM generate_series(1, 10) g;
\set VERBOSITY terse

-- nothing runs: not the second statement, not DML, not DDL, not a DO block
SELECT workload_guard.queryid_of('SELECT 1; DELETE FROM qo_t');
\echo :LAST_ERROR_SQLSTATE
SELECT workload_guard.queryid_of('DELETE FROM qo_t') <> 0 AS delete_digest;
SELECT workload_guard.queryid_of('INSERT INTO qo_t VALUES (99, $1)') <> 0 AS insert_digest;
SELECT workload_guard.queryid_of('CREATE TABLE qo_made (a int)') <> 0 AS create_digest;
SELECT workload_guard.queryid_of('EXPLAIN ANALYZE DELETE FROM qo_t') <> 0 AS explain_digest;
SELECT workload_guard.queryid_of($$DO 'BEGIN DELETE FROM qo_t; END'$$) <> 0 AS do_digest;
SELECT count(*) AS rows_left FROM qo_t;
SELECT to_regclass('qo_made') IS NULL AS not_created;

-- exactly one statement (DETAIL and HINT shown once)
\set VERBOSITY default
SELECT workload_guard.queryid_of('SELECT 1; SELECT 2');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
SELECT workload_guard.queryid_of('');
\echo :LAST_ERROR_SQLSTATE
SELECT workload_guard.queryid_of(' ; -- nothing');
\echo :LAST_ERROR_SQLSTATE
SELECT workload_guard.queryid_of('SELECT 1;') = workload_guard.queryid_of('SELECT 1') AS trailing_semicolon;

-- the digest of the statement as it runs, constants or not
SELECT id FROM qo_t WHERE id = 3;
SELECT queryid = workload_guard.queryid_of('SELECT id FROM qo_t WHERE id = 7') AS same_as_run
FROM workload_guard.statement_latency WHERE query = 'SELECT id FROM qo_t WHERE id = $1';
VACUUM qo_t;
SELECT queryid = workload_guard.queryid_of('VACUUM qo_t') AS utility_same_as_run
FROM workload_guard.statement_latency WHERE query = 'VACUUM qo_t';

-- $1-style parameters, as pg_stat_activity shows extended-protocol queries
SELECT workload_guard.queryid_of('SELECT v FROM qo_t WHERE id = $1') <> 0 AS param_ok;
SELECT workload_guard.queryid_of('SELECT v FROM qo_t WHERE id = $1') =
       workload_guard.queryid_of('SELECT v FROM qo_t WHERE id = $1::int4') AS inferred_int4;
SELECT workload_guard.queryid_of('SELECT v FROM qo_t WHERE id = $1') <>
       workload_guard.queryid_of('SELECT v FROM qo_t WHERE id = 1') AS param_is_not_constant;
SELECT workload_guard.queryid_of('SELECT $1 IS NULL');
\echo :LAST_ERROR_SQLSTATE

-- errors
SELECT workload_guard.queryid_of('SELEC 1');
\echo :LAST_ERROR_SQLSTATE
SELECT workload_guard.queryid_of('SELECT * FROM qo_nosuch');
\echo :LAST_ERROR_SQLSTATE
SELECT workload_guard.queryid_of(NULL) IS NULL AS null_in_null_out;
SET compute_query_id = off;
\set VERBOSITY default
SELECT workload_guard.queryid_of('SELECT 1');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
RESET compute_query_id;

-- runs with the caller's privileges (not SECURITY DEFINER); no privilege on
-- the table is needed: names are resolved, nothing is read
SELECT p.prosecdef FROM pg_proc p WHERE p.oid = 'workload_guard.queryid_of(text)'::regprocedure;
CREATE ROLE regress_qo_plain;
SET ROLE regress_qo_plain;
SELECT workload_guard.queryid_of('SELECT v FROM qo_t WHERE id = $1') <> 0 AS plain_role_ok;
SELECT workload_guard.queryid_of('DELETE FROM qo_t') <> 0 AS plain_role_delete_digest;
RESET ROLE;
SELECT count(*) AS rows_still FROM qo_t;
DROP ROLE regress_qo_plain;

DROP TABLE qo_t;
DROP EXTENSION workload_guard;
