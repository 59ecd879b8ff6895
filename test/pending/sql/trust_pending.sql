-- Trust cases of issue 7 whose fixes are not on main yet: enable by moving
-- this file to test/sql and its .out to test/expected once they are merged.
-- 7.1: in a database without the extension, tables planted under the name
-- workload_guard.* by a role that may create there are not obeyed (nor
-- decoded, whatever their column types).  7.4: no statement carrying a
-- password is kept in statement_latency.
SELECT current_user AS su, current_database() AS here \gset
CREATE ROLE regress_tp_owner LOGIN;
CREATE DATABASE regress_tp_planted OWNER regress_tp_owner;
\c regress_tp_planted regress_tp_owner
CREATE SCHEMA workload_guard;
CREATE TABLE workload_guard.digest_rules (
    queryid bigint, role regrole, database name, mode text, max_running int,
    dry_run boolean, reason text, created_by name, created_at timestamptz,
    expires_at timestamptz);
CREATE TABLE tp_t (a int);
CREATE INDEX CONCURRENTLY tp_t_a ON tp_t (a);
CREATE TABLE workload_guard.disabled_index_rules (
    indexrelid oid, indrelid oid, index_name text, disabled_by name,
    disabled_at timestamptz, reason text, forced boolean, scans_at_disable bigint);
INSERT INTO workload_guard.disabled_index_rules
    VALUES ('tp_t_a'::regclass, 'tp_t'::regclass, 'tp_t_a', 'x', now(), NULL, true, 0);
CREATE FUNCTION tp_qid(q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE plan json;
BEGIN
    EXECUTE 'EXPLAIN (VERBOSE, FORMAT JSON) ' || q INTO plan;
    RETURN (plan -> 0 -> 'Plan' ->> 'Query Identifier')::bigint;
END $$;
INSERT INTO workload_guard.digest_rules
    SELECT tp_qid('SELECT count(*) FROM pg_class WHERE relname = ''tp_planted'''),
           NULL, NULL, 'block', NULL, false, 'planted', 'x', now(), NULL;
\c regress_tp_planted :su
SET enable_seqscan = off;
SELECT count(*) AS superuser_not_refused FROM pg_class WHERE relname = 'tp_planted';
CREATE FUNCTION pg_temp.tp_uses_index() RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
    FOR l IN EXPLAIN (COSTS OFF) SELECT a FROM tp_t WHERE a = 1 LOOP
        IF l LIKE '%tp_t_a%' THEN RETURN true; END IF;
    END LOOP;
    RETURN false;
END $$;
SELECT pg_temp.tp_uses_index() AS planted_disabled_index_ignored;
-- the same names with other column types: still read nothing, no crash
\c regress_tp_planted regress_tp_owner
DROP TABLE workload_guard.digest_rules;
CREATE TABLE workload_guard.digest_rules (queryid text, role text, database int,
    mode int, max_running text, dry_run text, reason int, created_by int,
    created_at text, expires_at text);
INSERT INTO workload_guard.digest_rules VALUES
    (tp_qid('SELECT count(*) FROM pg_class WHERE relname = ''tp_planted''')::text,
     'x', 1, 1, 'x', 'x', 1, 1, 'x', 'x');
\c regress_tp_planted :su
SELECT count(*) AS still_not_refused FROM pg_class WHERE relname = 'tp_planted';
\c :here
DROP DATABASE regress_tp_planted;
DROP ROLE regress_tp_owner;

-- no statement text carrying a password is stored
CREATE EXTENSION workload_guard;
SET workload_guard.track_utility = on;
SELECT workload_guard.reset_latency() >= 0 AS reset;
CREATE ROLE regress_tp_pw PASSWORD 'tp_secret_1';
ALTER ROLE regress_tp_pw PASSWORD 'tp_secret_2';
CREATE FOREIGN DATA WRAPPER tp_fdw;
CREATE SERVER tp_srv FOREIGN DATA WRAPPER tp_fdw;
CREATE USER MAPPING FOR regress_tp_pw SERVER tp_srv OPTIONS (password 'tp_secret_3');
CREATE USER MAPPING FOR regress_tp_no_such_role SERVER tp_srv OPTIONS (password 'tp_secret_4');
SELECT count(*) AS latency_texts_with_a_password
  FROM workload_guard.statement_latency WHERE query LIKE '%tp_secret%';
SELECT count(*) AS history_rows_with_a_password
  FROM workload_guard.ddl_history WHERE statement LIKE '%tp_secret%';
SELECT count(*) AS rejections_with_a_password
  FROM workload_guard.ddl_rejections WHERE statement LIKE '%tp_secret%';
DROP SERVER tp_srv CASCADE;
DROP FOREIGN DATA WRAPPER tp_fdw;
DROP ROLE regress_tp_pw;
DROP EXTENSION workload_guard CASCADE;
