-- No self-lockout through bookkeeping: the statements workload_guard runs
-- itself (the DDL history, carrying disabled-index rules over REINDEX
-- CONCURRENTLY and ALTER COLUMN TYPE, the rule writes) are exempt from
-- digest rules and never recorded in statement_latency.
CREATE EXTENSION workload_guard;
\set VERBOSITY terse

-- the queryid of a statement, as EXPLAIN VERBOSE shows it
CREATE FUNCTION qid(q text) RETURNS bigint LANGUAGE sql
  AS $$ SELECT workload_guard.queryid_of(q) $$;

-- what ddl_command_end runs (src/ddl_history.c)
SELECT workload_guard.block_digest(qid(
  'SELECT object_type, object_identity FROM pg_catalog.pg_event_trigger_ddl_commands()'),
  'internal: objects of a DDL');
-- what the sql_drop event trigger runs (src/index_hide.c)
SELECT workload_guard.block_digest(qid(
  'DELETE FROM workload_guard.disabled_index_rules r'
  ' USING pg_catalog.pg_event_trigger_dropped_objects() d'
  ' WHERE d.classid OPERATOR(pg_catalog.=) ''pg_catalog.pg_class''::pg_catalog.regclass'
  '   AND d.objid OPERATOR(pg_catalog.=) r.indexrelid'),
  'internal: rules of dropped indexes');
-- what REINDEX CONCURRENTLY and ALTER COLUMN TYPE run first (src/index_hide.c)
SELECT workload_guard.block_digest(qid(
  'SELECT r.indexrelid, r.indrelid, c.relnamespace, c.relname::text'
  '  FROM workload_guard.disabled_index_rules r'
  '  JOIN pg_catalog.pg_class c ON c.oid = r.indexrelid'
  ' WHERE c.relkind IN (''i'', ''I'')'),
  'internal: disabled indexes before a rebuild');
SELECT count(*) AS rules FROM workload_guard.blocked_digests;

SET workload_guard.track = 'all';
SELECT workload_guard.reset_latency() >= 0 AS reset;
CREATE TABLE lockout (a int, b varchar(10));
CREATE INDEX CONCURRENTLY lockout_a ON lockout (a);
CREATE INDEX CONCURRENTLY lockout_b ON lockout (b);
SELECT workload_guard.disable_index('lockout_a', 'internal test');
SELECT workload_guard.disable_index('lockout_b', 'internal test');
REINDEX INDEX CONCURRENTLY lockout_a;
-- rebuilds lockout_b under its name, without a rewrite
ALTER TABLE lockout ALTER COLUMN b TYPE varchar(20);
-- the rules followed the rebuilt indexes
SELECT index, index_name FROM workload_guard.disabled_indexes ORDER BY 2;
SELECT workload_guard.enable_index('lockout_a');
-- DROP INDEX deletes lockout_b's rule (the sql_drop event trigger)
DROP INDEX CONCURRENTLY lockout_b;
SELECT count(*) AS rules_left FROM workload_guard.disabled_indexes;
DROP INDEX CONCURRENTLY lockout_a;
DROP TABLE lockout;
RESET workload_guard.track;
-- none of workload_guard's own statements was recorded, at any level
SELECT toplevel, query FROM workload_guard.statement_latency
 WHERE query ~* 'workload_guard\.(ddl_history|disabled_index_rules|digest_rules)|pg_event_trigger'
   AND query !~* '^SELECT workload_guard\.'
 ORDER BY query;
-- (REINDEX's objects are left out: event triggers see REINDEX from
-- PostgreSQL 17 on, so only there does its row name the index)
SELECT command_tag,
       CASE WHEN command_tag <> 'REINDEX' THEN object_identities END AS object_identities
  FROM workload_guard.ddl_history
 WHERE statement LIKE '%lockout%'
 ORDER BY started_at;
SELECT sum(blocked) AS hits FROM workload_guard.blocked_digests;

-- a caught error inside workload_guard's own statements leaves the session
-- checked as before (the internal section closes with the subtransaction)
CREATE TABLE t (a int PRIMARY KEY);
SELECT workload_guard.block_digest(qid('SELECT count(*) FROM t'), 'after a caught error');
BEGIN;
DO $$
BEGIN
  PERFORM workload_guard.disable_index('t_pkey');	-- refused: backs a constraint
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'refused: %', SQLERRM;
END $$;
\set VERBOSITY sqlstate
SELECT count(*) FROM t;
\set VERBOSITY terse
ROLLBACK;
DROP TABLE t;

DROP EXTENSION workload_guard CASCADE;
DROP FUNCTION qid(text);
