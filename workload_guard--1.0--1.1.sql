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
-- (the C function behind it stays in the library for 1.0 databases)
DROP FUNCTION _index_rules_changed();

-- Triggers and event triggers fire by default only in sessions with
-- session_replication_role = origin: not under "replica" (set by logical
-- replication apply workers, by tools that load data, by hand), where a
-- DROP INDEX would leave its rule behind and a write to a config table
-- would reach no backend's cache.  The DDL event triggers of 1.0 already
-- fire always.
ALTER TABLE digest_rules ENABLE ALWAYS TRIGGER digest_rules_changed;
ALTER TABLE disabled_index_rules ENABLE ALWAYS TRIGGER disabled_index_rules_changed;
ALTER EVENT TRIGGER workload_guard_disabled_index_drop ENABLE ALWAYS;
