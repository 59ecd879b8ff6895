-- Privilege matrix: who may execute every function and read or write every
-- table, view and sequence of the extension, and what each role sees of
-- the others' statements.  The roles: a superuser; an operator granted the
-- management functions as README says; a pg_monitor member; a
-- pg_read_all_stats member; a plain role; the (non-superuser) owner of the
-- database.  The object list comes from pg_depend, so a new function or
-- relation adds rows to the matrix and fails this test until its
-- privileges are reviewed here.
-- A cell is "ok", or the SQLSTATE of the attempt: 42501 is "no privilege";
-- any other state means the privilege check passed and the call failed on
-- its all-NULL arguments or its context (e.g. 39P01: not called as a
-- trigger).  Functions taking "internal" cannot be called from SQL: their
-- cell is their ACL (has_function_privilege).  Every attempt is rolled back.
CREATE ROLE regress_wg_super SUPERUSER;
CREATE ROLE regress_wg_operator;
CREATE ROLE regress_wg_monitor IN ROLE pg_monitor;
CREATE ROLE regress_wg_stats IN ROLE pg_read_all_stats;
CREATE ROLE regress_wg_plain;
CREATE ROLE regress_wg_dbowner;
CREATE DATABASE regress_wg_priv OWNER regress_wg_dbowner;
SELECT current_database() AS here \gset
\c regress_wg_priv
CREATE EXTENSION workload_guard;

-- what README says to grant an operator (on-call) role
GRANT EXECUTE ON FUNCTION
    workload_guard.block_digest(bigint, text, interval, regrole, name, boolean, text),
    workload_guard.cap_digest(bigint, integer, text, interval, regrole, name, boolean, text),
    workload_guard.unblock_digest(bigint, text, regrole),
    workload_guard.rate_limit_digest(bigint, double precision, integer, text, interval, regrole, name, boolean, text),
    workload_guard.budget_digest(bigint, double precision, text, interval, regrole, name, boolean, text),
    workload_guard.disable_index(regclass, text, boolean),
    workload_guard.enable_index(regclass),
    workload_guard.reset_latency(bigint),
    workload_guard.reset_ddl_rejections(),
    workload_guard.trim_ddl_history(interval)
  TO regress_wg_operator;
GRANT DELETE ON workload_guard.ddl_history TO regress_wg_operator;

CREATE TEMP TABLE pm_role (n int, r name);
INSERT INTO pm_role VALUES (1, 'regress_wg_super'), (2, 'regress_wg_operator'),
    (3, 'regress_wg_monitor'), (4, 'regress_wg_stats'), (5, 'regress_wg_plain'),
    (6, 'regress_wg_dbowner');
GRANT SELECT ON pm_role TO PUBLIC;

-- one attempt as one role: 'ok' or its SQLSTATE, always rolled back
CREATE FUNCTION pg_temp.pm_try(r name, sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    st text;
BEGIN
    BEGIN
        EXECUTE format('SET LOCAL ROLE %I', r);
        EXECUTE sql;
        RAISE EXCEPTION USING ERRCODE = 'WGOK0';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
    END;
    RETURN CASE st WHEN 'WGOK0' THEN 'ok' ELSE st END;
END
$$;

-- the extension's members, and one attempt per privilege that matters
CREATE TEMP VIEW pm_member AS
SELECT d.classid, d.objid, pg_describe_object(d.classid, d.objid, 0) AS descr
  FROM pg_depend d
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'workload_guard'
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e';

CREATE TEMP VIEW pm_action AS
-- functions: called with NULL arguments (the privilege check comes first);
-- those taking "internal" cannot be called from SQL at all: the ACL is shown
SELECT m.descr AS object, 'EXECUTE' AS action,
       CASE WHEN 'internal'::regtype = ANY (p.proargtypes::oid[])
       THEN format('DO $$BEGIN IF NOT has_function_privilege(%s::regprocedure, ''EXECUTE'') THEN RAISE EXCEPTION USING ERRCODE = ''42501''; END IF; END$$',
                   quote_literal(p.oid::regprocedure::text))
       ELSE format('SELECT %s.%I(%s)', p.pronamespace::regnamespace, p.proname,
              (SELECT string_agg(format('NULL::%s', t::regtype), ', ' ORDER BY i)
                 FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY a(t, i)))
       END AS sql
  FROM pm_member m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
UNION ALL
SELECT m.descr, a.action,
       CASE a.action
         WHEN 'SELECT' THEN format('SELECT 1 FROM %s LIMIT 0', c.oid::regclass)
         WHEN 'INSERT' THEN format('INSERT INTO %s DEFAULT VALUES', c.oid::regclass)
         WHEN 'UPDATE' THEN format('UPDATE %s SET %I = DEFAULT WHERE false', c.oid::regclass,
                                   (SELECT attname FROM pg_attribute
                                     WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped
                                       AND attidentity = '' ORDER BY attnum DESC LIMIT 1))
         WHEN 'DELETE' THEN format('DELETE FROM %s WHERE false', c.oid::regclass)
         WHEN 'TRUNCATE' THEN format('TRUNCATE %s', c.oid::regclass)
         WHEN 'nextval' THEN format('SELECT nextval(%L)', c.oid::regclass)
         -- setval is not rolled back: set it to where it is
         WHEN 'setval' THEN format('SELECT setval(%L, last_value, is_called) FROM %s',
                                   c.oid::regclass, c.oid::regclass)
       END
  FROM pm_member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
  CROSS JOIN LATERAL unnest(CASE c.relkind
        WHEN 'r' THEN ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']
        WHEN 'v' THEN ARRAY['SELECT']
        WHEN 'S' THEN ARRAY['SELECT', 'nextval', 'setval'] END) a(action)
UNION ALL
SELECT m.descr, 'DISABLE', format('ALTER EVENT TRIGGER %I DISABLE', t.evtname)
  FROM pm_member m JOIN pg_event_trigger t
    ON m.classid = 'pg_event_trigger'::regclass AND t.oid = m.objid
UNION ALL
-- the extension as a whole: its schema, the extension itself
VALUES ('schema workload_guard', 'CREATE', 'CREATE TABLE workload_guard.pm_planted (a int)'),
       ('schema workload_guard', 'CREATE FUNCTION', 'CREATE FUNCTION workload_guard.pm_f() RETURNS int LANGUAGE sql AS ''SELECT 1'''),
       ('extension workload_guard', 'DROP', 'DROP EXTENSION workload_guard CASCADE'),
       ('extension workload_guard', 'UPDATE', 'ALTER EXTENSION workload_guard UPDATE'),
       ('table workload_guard.digest_rules', 'DISABLE TRIGGER', 'ALTER TABLE workload_guard.digest_rules DISABLE TRIGGER USER'),
       ('setting workload_guard.bypass_rules', 'SET', 'SET workload_guard.bypass_rules = on'),
       ('setting workload_guard.ddl_bypass', 'SET', 'SET workload_guard.ddl_bypass = on'),
       ('setting workload_guard.ddl_mode', 'SET', 'SET workload_guard.ddl_mode = off'),
       ('setting workload_guard.ddl_mode', 'ALTER DATABASE SET', 'ALTER DATABASE regress_wg_priv SET workload_guard.ddl_mode = off'),
       ('setting workload_guard.ddl_mode', 'ALTER ROLE SET', 'ALTER ROLE CURRENT_USER SET workload_guard.ddl_mode = off'),
       ('setting workload_guard.ddl_mode', 'GRANT SET', 'GRANT SET ON PARAMETER workload_guard.ddl_mode TO PUBLIC');

-- every member is of a kind handled above
-- (a relation's row type and its array type go with the relation: from
-- PostgreSQL 17 they are extension members of their own)
SELECT descr AS "member without a row" FROM pm_member m
 WHERE classid NOT IN ('pg_proc'::regclass, 'pg_class'::regclass, 'pg_event_trigger'::regclass)
   AND NOT (classid = 'pg_type'::regclass AND EXISTS
            (SELECT FROM pg_type t LEFT JOIN pg_type e ON e.oid = t.typelem
              WHERE t.oid = m.objid AND (t.typrelid <> 0 OR e.typrelid <> 0)))
    OR (classid = 'pg_class'::regclass
        AND (SELECT relkind FROM pg_class WHERE oid = m.objid) NOT IN ('r', 'v', 'S'));

\pset format unaligned
\pset footer off
SET client_min_messages = error;
SELECT a.object, a.action,
       pg_temp.pm_try('regress_wg_super', a.sql) AS super,
       pg_temp.pm_try('regress_wg_operator', a.sql) AS operator,
       pg_temp.pm_try('regress_wg_monitor', a.sql) AS monitor,
       pg_temp.pm_try('regress_wg_stats', a.sql) AS read_all_stats,
       pg_temp.pm_try('regress_wg_plain', a.sql) AS plain,
       pg_temp.pm_try('regress_wg_dbowner', a.sql) AS dbowner
  FROM pm_action a ORDER BY a.object, a.action;
RESET client_min_messages;
\pset format aligned
\pset footer on

-- What each role sees of another role's statements: each role runs a
-- statement of its own (an alias marks it), then reads the others'.
SET workload_guard.track_utility = off;
SELECT workload_guard.reset_latency() >= 0 AS reset;
SET ROLE regress_wg_plain;
SELECT count(*) FROM pg_am WHERE amname = 'pm_plain';
RESET ROLE;
SET ROLE regress_wg_operator;
SELECT count(*) FROM pg_namespace WHERE nspname = 'pm_operator';
RESET ROLE;
SELECT queryid AS plain_qid FROM workload_guard.statement_latency
 WHERE query LIKE '%pg_am%' \gset
-- the database owner's DDL: one that ran, one that was refused
SET ROLE regress_wg_dbowner;
CREATE TABLE pm_owned (a int);
CREATE INDEX pm_owned_a ON pm_owned (a);
RESET ROLE;
CREATE TEMP TABLE pm_seen (n int, r name, what text, seen text);
GRANT INSERT ON pm_seen TO PUBLIC;
CREATE FUNCTION pg_temp.pm_look(r name, plain_qid bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SET LOCAL ROLE %I', r);
    INSERT INTO pm_seen
    SELECT 0, r, 'statement_latency.query of plain', string_agg(DISTINCT query, ', ')
      FROM workload_guard.statement_latency
     WHERE userid = 'regress_wg_plain'::regrole
    UNION ALL
    SELECT 0, r, 'statement_latency.queryid of plain',
           CASE WHEN bool_and(queryid IS NULL) THEN 'NULL' ELSE 'shown' END
      FROM workload_guard.statement_latency
     WHERE userid = 'regress_wg_plain'::regrole
    UNION ALL
    SELECT 0, r, 'latency_buckets().queryid of plain',
           CASE WHEN bool_and(queryid IS NULL) THEN 'NULL' ELSE 'shown' END
      FROM workload_guard.latency_buckets()
     WHERE userid = 'regress_wg_plain'::regrole
    UNION ALL
    SELECT 0, r, 'latency_percentile(plain''s queryid)',
           CASE WHEN workload_guard.latency_percentile(plain_qid, 0.5) IS NULL
                THEN 'NULL' ELSE 'shown' END
    UNION ALL
    SELECT 0, r, 'latency_histogram(plain''s queryid)',
           CASE WHEN EXISTS (SELECT FROM workload_guard.latency_histogram(plain_qid))
                THEN 'shown' ELSE 'none' END
    UNION ALL
    SELECT 0, r, 'ddl_history.statement of dbowner',
           CASE WHEN EXISTS (SELECT FROM workload_guard.ddl_history
                              WHERE statement = 'CREATE TABLE pm_owned (a int)')
                THEN 'shown' ELSE 'none' END
    UNION ALL
    SELECT 0, r, 'ddl_rejections.statement of dbowner',
           CASE WHEN EXISTS (SELECT FROM workload_guard.ddl_rejections
                              WHERE statement = 'CREATE INDEX pm_owned_a ON pm_owned (a)')
                THEN 'shown' ELSE 'none' END
    UNION ALL
    SELECT 0, r, 'statement_latency.query of operator', string_agg(DISTINCT query, ', ')
      FROM workload_guard.statement_latency
     WHERE userid = 'regress_wg_operator'::regrole;
    RESET ROLE;
END
$$;
SELECT count(pg_temp.pm_look(r, :plain_qid)) AS looked FROM pm_role;
\pset format unaligned
\pset footer off
SELECT what, max(seen) FILTER (WHERE r = 'regress_wg_super') AS super,
       max(seen) FILTER (WHERE r = 'regress_wg_operator') AS operator,
       max(seen) FILTER (WHERE r = 'regress_wg_monitor') AS monitor,
       max(seen) FILTER (WHERE r = 'regress_wg_stats') AS read_all_stats,
       max(seen) FILTER (WHERE r = 'regress_wg_plain') AS plain,
       max(seen) FILTER (WHERE r = 'regress_wg_dbowner') AS dbowner
  FROM pm_seen GROUP BY what ORDER BY what;
\pset format aligned
\pset footer on
RESET workload_guard.track_utility;

\c :here
DROP DATABASE regress_wg_priv;
DROP ROLE regress_wg_super, regress_wg_operator, regress_wg_monitor,
          regress_wg_stats, regress_wg_plain, regress_wg_dbowner;
