/* workload_guard--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION workload_guard UPDATE TO '1.1'" to load this file. \quit

-- CREATE EXTENSION workload_guard installs 1.0 and then runs this script, so
-- every test exercises the upgrade path.  The C library keeps every symbol
-- that 1.0's script names, so a 1.0 database keeps working until it runs
-- ALTER EXTENSION workload_guard UPDATE.
--
-- One section per concern, in the order of workload_guard--1.0.sql.

------------------------------------------------------------------------------
-- Brakes: digest rule scopes (src/digest_rules.c)
------------------------------------------------------------------------------

-- A role-scoped rule records the role's name next to its OID, and applies
-- only while a role with that OID still has that name: after DROP ROLE the
-- OID may be given to a new role, which must never inherit the rule.
ALTER TABLE digest_rules ADD COLUMN role_name name;
UPDATE digest_rules r SET role_name = a.rolname
  FROM pg_catalog.pg_roles a WHERE a.oid = r.role::oid;
-- a role already dropped: no role is named '', so the rule never applies
-- again (the next rule write deletes it)
UPDATE digest_rules SET role_name = '' WHERE role IS NOT NULL AND role_name IS NULL;

COMMENT ON COLUMN digest_rules.role IS
    'The role the rule applies to (NULL: every role); it applies only while this role still has the name in role_name';
COMMENT ON COLUMN digest_rules.database IS
    'NULL or the name of this database: a rule applies to the sessions of the database whose table holds it';

-- active: not expired, and its role (if any) still the one it was written for
CREATE OR REPLACE VIEW blocked_digests AS
    SELECT r.queryid, r.mode, r.max_running, r.dry_run, r.role, r.database,
           r.reason, r.created_by, r.created_at, r.expires_at,
           ((r.expires_at IS NULL OR r.expires_at > pg_catalog.statement_timestamp())
            AND (r.role IS NULL OR EXISTS
                 (SELECT 1 FROM pg_catalog.pg_roles a
                   WHERE a.oid OPERATOR(pg_catalog.=) r.role::oid
                     AND a.rolname OPERATOR(pg_catalog.=) r.role_name))) AS active,
           coalesce(cr.running, 0) AS running,
           coalesce(c.blocked, 0) AS blocked,
           coalesce(c.warned, 0) AS warned,
           coalesce(c.capped, 0) AS capped,
           c.last_hit
    FROM digest_rules r
    LEFT JOIN pg_catalog.pg_database d ON d.datname = r.database
    LEFT JOIN digest_rule_counters() cr
      ON cr.queryid = r.queryid
     AND cr.roleid = coalesce(r.role::oid, 0)
     AND cr.dbid = CASE WHEN r.database IS NULL THEN 0 ELSE d.oid END
    -- hit counters of an earlier rule with the same scope are not this one's
    LEFT JOIN LATERAL (SELECT cr.blocked, cr.warned, cr.capped, cr.last_hit
                       WHERE cr.rule_created_at = r.created_at) c ON true;

------------------------------------------------------------------------------
-- Latency: queryid_of() without running anything (src/queryid.c)
------------------------------------------------------------------------------

-- 1.0's queryid_of() appended the string to EXPLAIN and ran it, so
-- 'SELECT 1; DELETE FROM t' ran the DELETE.  The C version parses exactly
-- one statement and analyzes it (accepting $1-style parameters), nothing
-- more.  Same signature: grants and comments stay.
CREATE OR REPLACE FUNCTION queryid_of(statement text) RETURNS bigint
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'wg_queryid_of';
