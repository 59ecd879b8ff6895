-- No self-lockout through bookkeeping: a rule on the digest of a statement
-- workload_guard runs for its own records (the DDL history, the
-- disabled-index rule a DROP INDEX removes) never fails a user's DDL.
CREATE EXTENSION workload_guard;
\set VERBOSITY terse

-- the queryid of a statement, as EXPLAIN VERBOSE shows it
CREATE FUNCTION qid(q text) RETURNS bigint LANGUAGE sql
  AS $$ SELECT workload_guard.queryid_of(q) $$;

-- what ddl_command_end runs (src/ddl_history.c)
SELECT workload_guard.block_digest(qid(
  'SELECT object_type, object_identity FROM pg_catalog.pg_event_trigger_ddl_commands()'),
  'internal: objects of a DDL');
-- what the sql_drop event trigger runs (workload_guard--1.0.sql)
SELECT workload_guard.block_digest(qid(
  'DELETE FROM workload_guard.disabled_index_rules r
     USING pg_event_trigger_dropped_objects() d
     WHERE d.classid = ''pg_class''::regclass AND d.objid = r.indexrelid'),
  'internal: rules of dropped indexes');
-- the history row (its text has parameters: take its queryid from the view)
SET workload_guard.track = 'all';
CREATE TABLE lockout_probe (a int);
RESET workload_guard.track;
SELECT workload_guard.block_digest(queryid, 'internal: history row')
  FROM workload_guard.statement_latency
 WHERE query LIKE 'INSERT INTO workload_guard.ddl_history %' AND NOT toplevel;
SELECT count(*) AS rules FROM workload_guard.blocked_digests;

CREATE TABLE lockout (a int);
CREATE INDEX CONCURRENTLY lockout_a ON lockout (a);
DROP INDEX CONCURRENTLY lockout_a;
DROP TABLE lockout, lockout_probe;
SELECT command_tag, object_identities FROM workload_guard.ddl_history
 WHERE statement LIKE '%lockout%' AND statement NOT LIKE '%probe%'
 ORDER BY started_at;
SELECT sum(blocked) AS hits FROM workload_guard.blocked_digests;

DROP EXTENSION workload_guard CASCADE;
DROP FUNCTION qid(text);
