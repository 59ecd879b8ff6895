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
-- config: one invalidation protocol for both config tables, and every
-- trigger the extension relies on fires in every session_replication_role
-- (src/config_cache.c, src/index_hide.c)
------------------------------------------------------------------------------

-- disabled_index_rules is invalidated as digest_rules is: by the trigger
-- config_changed() on every write (the management functions and the
-- sql_drop event trigger no longer have to remember it).
CREATE TRIGGER disabled_index_rules_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON disabled_index_rules
    FOR EACH STATEMENT EXECUTE FUNCTION config_changed();

CREATE OR REPLACE FUNCTION _index_rules_on_drop()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM @extschema@.disabled_index_rules r
     USING pg_event_trigger_dropped_objects() d
     WHERE d.classid = 'pg_class'::regclass AND d.objid = r.indexrelid;
END
$$;
-- _index_rules_changed() is no longer needed by it; it stays (an explicit
-- invalidation of the rules table, harmless), as does its C symbol.

-- Triggers and event triggers fire by default only in sessions with
-- session_replication_role = origin: not under "replica" (set by logical
-- replication apply workers, by tools that load data, by hand), where a
-- DROP INDEX would leave its rule behind and a write to a config table
-- would reach no backend's cache.  The DDL event triggers of 1.0 already
-- fire always.
ALTER TABLE digest_rules ENABLE ALWAYS TRIGGER digest_rules_changed;
ALTER TABLE disabled_index_rules ENABLE ALWAYS TRIGGER disabled_index_rules_changed;
ALTER EVENT TRIGGER workload_guard_disabled_index_drop ENABLE ALWAYS;
