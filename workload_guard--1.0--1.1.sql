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

-- The sql_drop event trigger's DELETE of the rules of dropped indexes runs
-- in C (src/index_hide.c) as an internal statement of workload_guard, like
-- all the others: never recorded in statement_latency, never subject to a
-- digest rule.  Same owner, privileges, SECURITY DEFINER and search_path.
CREATE OR REPLACE FUNCTION _index_rules_on_drop()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'wg_index_rules_on_drop'
LANGUAGE C SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

------------------------------------------------------------------------------
-- Monitoring: Prometheus histograms, fleet-wide latency values, text charts
-- (src/latency_export.c)
------------------------------------------------------------------------------

-- The "top" digests by calls as classic Prometheus histograms: cumulative
-- counts at 27 fixed bounds (2^k µs, k = 2..28, exact fine-bucket bounds),
-- sum and count, with error and cancel counters; one row per (database,
-- role, queryid), top-level and nested executions added up.  The shape of
-- postgres_exporter's HISTOGRAM columns (monitoring/queries.yaml).
CREATE FUNCTION prometheus_latency(top int DEFAULT 100,
    OUT database text, OUT role text, OUT queryid bigint,
    OUT le float8[], OUT bucket bigint[], OUT sum_seconds float8,
    OUT count bigint, OUT errors bigint, OUT cancels bigint,
    OUT stats_since timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'wg_prometheus_latency'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION prometheus_latency(int) IS
    'The top digests by calls as Prometheus histograms (le bounds in seconds, cumulative counts, sum, count), for postgres_exporter';

-- A digest's histogram as one compact value (every role and database of
-- this node); values from many nodes add up with latency_merge().
CREATE FUNCTION latency_export(queryid bigint)
RETURNS bytea
AS 'MODULE_PATHNAME', 'wg_latency_export'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE FUNCTION _latency_merge_step(internal, bytea)
RETURNS internal
AS 'MODULE_PATHNAME', 'wg_latency_merge_step'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION _latency_merge_final(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'wg_latency_merge_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE latency_merge(bytea) (
    SFUNC = _latency_merge_step,
    STYPE = internal,
    FINALFUNC = _latency_merge_final
);

COMMENT ON AGGREGATE latency_merge(bytea) IS
    'Adds up latency values (from latency_export) of many nodes or periods into one';

CREATE FUNCTION latency_value_percentile(value bytea, fraction float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'wg_latency_value_percentile'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION latency_value_stats(value bytea,
    OUT calls bigint, OUT min_ms float8, OUT max_ms float8, OUT mean_ms float8)
RETURNS record
AS 'MODULE_PATHNAME', 'wg_latency_value_stats'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

-- The distribution as text bars, p50/p95/p99 marked: of a digest, of a
-- (merged) value, or of bucket numbers and counts.
CREATE FUNCTION latency_chart(queryid bigint)
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'wg_latency_chart'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE FUNCTION latency_chart(value bytea)
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'wg_latency_value_chart'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION latency_chart(buckets int[], counts bigint[])
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'wg_histogram_chart'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

-- Refused, timed-out and failed DDL by rule since stats_since (the start
-- of shared memory): counters for monitoring, where the ddl_rejections ring
-- only keeps its last entries (src/ddl_rejection_counts.c).
CREATE FUNCTION ddl_rejection_counts(
    OUT rule text, OUT rejections bigint, OUT stats_since timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'wg_ddl_rejection_counts'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

REVOKE ALL ON FUNCTION _latency_merge_step(internal, bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION _latency_merge_final(internal) FROM PUBLIC;

-- Dump and restore (src/restore.c).  pg_dump copies ddl_history,
-- digest_rules and disabled_index_rules back after the restore has created
-- the extension and run DDL of its own, which ddl_history recorded under
-- ids 1, 2, ...: a restored row takes its own id back (the row recorded by
-- the restore moves to the next free id), and the identity always
-- continues after the highest id, so that DDL after the restore is
-- recorded too.
CREATE FUNCTION _ddl_history_keep_id()
RETURNS trigger
AS 'MODULE_PATHNAME', 'wg_ddl_history_keep_id'
LANGUAGE C;

CREATE TRIGGER ddl_history_keep_id
    BEFORE INSERT ON ddl_history
    FOR EACH ROW EXECUTE FUNCTION _ddl_history_keep_id();

-- Disabled-index rules are keyed by OID, and a restore gives every index a
-- new one.  Each rule also records the qualified name of its index: when
-- an index is created (CREATE INDEX, or a constraint of ALTER TABLE) and a
-- rule's OID pair no longer names an index with its recorded name, the rule
-- moves to the index that now has that name.  Renames (ALTER INDEX/TABLE)
-- update the recorded name first, so a new index with a disabled index's
-- old name never takes over its rule.  A rule whose index never comes back
-- shows as resolved = false in disabled_indexes.
-- (src/restore.c; SECURITY DEFINER: whoever creates an index may not write
-- the rules table)
CREATE FUNCTION _index_rules_resolve()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'wg_index_rules_resolve'
LANGUAGE C SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE EVENT TRIGGER workload_guard_disabled_index_resolve ON ddl_command_end
    WHEN TAG IN ('CREATE INDEX', 'ALTER TABLE', 'ALTER INDEX')
    EXECUTE FUNCTION _index_rules_resolve();
ALTER EVENT TRIGGER workload_guard_disabled_index_resolve ENABLE ALWAYS;

CREATE OR REPLACE VIEW disabled_indexes AS
    SELECT i.indexrelid::regclass AS index,
           i.indrelid::regclass AS "table",
           r.index_name,
           r.disabled_by,
           r.disabled_at,
           r.reason,
           r.forced,
           CASE WHEN NOT pg_catalog.pg_is_in_recovery()
                 AND i.indexrelid IS NOT NULL
                 AND @extschema@.index_scan_count(i.indexrelid) >= r.scans_at_disable
                THEN @extschema@.index_scan_count(i.indexrelid) - r.scans_at_disable
           END AS scans_since_disabled,
           i.indexrelid IS NOT NULL AS resolved
      FROM @extschema@.disabled_index_rules r
      LEFT JOIN pg_catalog.pg_index i
        ON i.indexrelid = r.indexrelid AND i.indrelid = r.indrelid;

REVOKE ALL ON FUNCTION _ddl_history_keep_id() FROM PUBLIC;
REVOKE ALL ON FUNCTION _index_rules_resolve() FROM PUBLIC;

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

-- The sql_drop event trigger's DELETE (C since the brakes section above)
-- fires this trigger like any other write.
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
-- (a data-only pg_restore --disable-triggers runs in replica mode too)
ALTER TABLE ddl_history ENABLE ALWAYS TRIGGER ddl_history_keep_id;

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

------------------------------------------------------------------------------
-- traffic: rate limits, time budgets, application and every-digest scopes,
-- per-rule activity and the record of rule changes (src/digest_rules.c)
------------------------------------------------------------------------------

-- A rate rule: at most per_second executions per second of the digest on
-- each server, with bursts of up to burst (a token bucket in shared memory).
-- dry_run is its warn mode, as for block and cap: the statement runs and
-- the client gets a WARNING naming the rule.
ALTER TABLE digest_rules ADD COLUMN per_second double precision;
ALTER TABLE digest_rules ADD COLUMN burst integer;
-- A budget rule: while the digest's recorded execution time over the recent
-- window (workload_guard.recent_window), divided by the window's length,
-- exceeds backends, new executions are refused.
ALTER TABLE digest_rules ADD COLUMN backends double precision;
ALTER TABLE digest_rules DROP CONSTRAINT digest_rules_mode_check;
ALTER TABLE digest_rules ADD CONSTRAINT digest_rules_mode_check
    CHECK (mode IN ('block', 'cap', 'rate', 'budget'));
ALTER TABLE digest_rules ADD CONSTRAINT digest_rules_budget_check
    CHECK ((mode = 'budget') = (backends IS NOT NULL)
           AND (backends IS NULL OR backends > 0));
ALTER TABLE digest_rules ADD CONSTRAINT digest_rules_rate_check
    CHECK ((mode = 'rate') = (per_second IS NOT NULL AND burst IS NOT NULL)
           AND (per_second IS NULL OR per_second > 0)
           AND (burst IS NULL OR burst > 0));

COMMENT ON COLUMN digest_rules.per_second IS
    'mode rate: executions admitted per second on each server';
COMMENT ON COLUMN digest_rules.burst IS
    'mode rate: executions admitted at once after a quiet period (the token bucket''s size)';
COMMENT ON COLUMN digest_rules.backends IS
    'mode budget: server time the digest may use over the recent window, in backends (time / window length)';

-- application_name: the rule applies only to sessions whose
-- application_name (as pg_stat_activity shows it) is exactly this; NULL:
-- any.  queryid NULL: the rule covers every digest, and then names a role,
-- an application or both (a rule on every statement of everyone would lock
-- the operator out too).
ALTER TABLE digest_rules ADD COLUMN application_name text;
ALTER TABLE digest_rules ALTER COLUMN queryid DROP NOT NULL;
ALTER TABLE digest_rules ADD CONSTRAINT digest_rules_application_name_check
    CHECK (application_name IS NULL
           OR (application_name <> '' AND pg_catalog.octet_length(application_name) < 64));
ALTER TABLE digest_rules ADD CONSTRAINT digest_rules_every_digest_check
    CHECK (queryid IS NOT NULL OR role IS NOT NULL OR application_name IS NOT NULL);
ALTER TABLE digest_rules ADD CONSTRAINT digest_rules_every_digest_budget_check
    CHECK (queryid IS NOT NULL OR mode <> 'budget');
ALTER TABLE digest_rules DROP CONSTRAINT digest_rules_queryid_role_database_key;
ALTER TABLE digest_rules ADD CONSTRAINT digest_rules_queryid_role_database_application_name_key
    UNIQUE NULLS NOT DISTINCT (queryid, role, database, application_name);

COMMENT ON COLUMN digest_rules.queryid IS
    'The digest the rule applies to; NULL: every digest (of the role and/or application named)';
COMMENT ON COLUMN digest_rules.application_name IS
    'The application the rule applies to (exact application_name, as pg_stat_activity shows it); NULL: any';

DROP FUNCTION block_digest(bigint, text, interval, regrole, name, boolean);
CREATE FUNCTION block_digest(queryid bigint, reason text DEFAULT NULL,
    expires_in interval DEFAULT NULL, role regrole DEFAULT NULL,
    database name DEFAULT NULL, dry_run boolean DEFAULT false,
    application_name text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'wg_block_digest'
LANGUAGE C VOLATILE;

DROP FUNCTION cap_digest(bigint, integer, text, interval, regrole, name, boolean);
CREATE FUNCTION cap_digest(queryid bigint, max_running integer,
    reason text DEFAULT NULL, expires_in interval DEFAULT NULL,
    role regrole DEFAULT NULL, database name DEFAULT NULL,
    dry_run boolean DEFAULT false, application_name text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'wg_cap_digest'
LANGUAGE C VOLATILE;

CREATE FUNCTION rate_limit_digest(queryid bigint, per_second double precision,
    burst integer DEFAULT NULL, reason text DEFAULT NULL,
    expires_in interval DEFAULT NULL, role regrole DEFAULT NULL,
    database name DEFAULT NULL, dry_run boolean DEFAULT false,
    application_name text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'wg_rate_limit_digest'
LANGUAGE C VOLATILE;

CREATE FUNCTION budget_digest(queryid bigint, backends double precision,
    reason text DEFAULT NULL, expires_in interval DEFAULT NULL,
    role regrole DEFAULT NULL, database name DEFAULT NULL,
    dry_run boolean DEFAULT false, application_name text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'wg_budget_digest'
LANGUAGE C VOLATILE;

-- queryid NULL: the rules over every digest; application_name NULL: the
-- rules of any application (so unblock_digest(q) still lifts every rule of
-- the digest); role NULL: the rules of any role and none, a role: only the
-- rules scoped to it (unblock_digest(NULL, role => 'r') lifts r's rules
-- over every digest and no other role's)
DROP FUNCTION unblock_digest(bigint);
CREATE FUNCTION unblock_digest(queryid bigint, application_name text DEFAULT NULL,
    role regrole DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'wg_unblock_digest'
LANGUAGE C VOLATILE;

REVOKE ALL ON FUNCTION block_digest(bigint, text, interval, regrole, name, boolean, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION cap_digest(bigint, integer, text, interval, regrole, name, boolean, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION rate_limit_digest(bigint, double precision, integer, text, interval, regrole, name, boolean, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION budget_digest(bigint, double precision, text, interval, regrole, name, boolean, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION unblock_digest(bigint, text, regrole) FROM PUBLIC;

-- The shared counters gain the application of the rule's key (appended:
-- the C function fills the columns its SQL declaration has, so 1.0's
-- declaration keeps working with this library).  blocked_digests: active
-- means not expired, and its role (if any) still the one it was written for.
DROP VIEW blocked_digests;
DROP FUNCTION digest_rule_counters();
CREATE FUNCTION digest_rule_counters(
    OUT queryid bigint, OUT roleid oid, OUT dbid oid, OUT running integer,
    OUT blocked bigint, OUT warned bigint, OUT capped bigint,
    OUT last_hit timestamptz, OUT rule_created_at timestamptz,
    OUT application_name text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'wg_digest_rule_counters'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE VIEW blocked_digests AS
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
           c.last_hit,
           r.application_name
    FROM digest_rules r
    LEFT JOIN pg_catalog.pg_database d ON d.datname OPERATOR(pg_catalog.=) r.database
    LEFT JOIN digest_rule_counters() cr
      ON cr.queryid IS NOT DISTINCT FROM r.queryid
     AND cr.roleid OPERATOR(pg_catalog.=) coalesce(r.role::oid, 0)
     AND cr.dbid OPERATOR(pg_catalog.=) CASE WHEN r.database IS NULL THEN 0 ELSE d.oid END
     AND cr.application_name IS NOT DISTINCT FROM r.application_name
    -- hit counters of an earlier rule with the same scope are not this one's
    LEFT JOIN LATERAL (SELECT cr.blocked, cr.warned, cr.capped, cr.last_hit
                       WHERE cr.rule_created_at OPERATOR(pg_catalog.=) r.created_at) c ON true;

COMMENT ON VIEW blocked_digests IS
    'Blocked and capped query digests, with hits counted on this server since it started';
GRANT SELECT ON blocked_digests TO PUBLIC;

-- What each rule did on this server since it was written (or the server
-- started): refused (blocked, capped, limited), warned (warn mode's
-- would-be refusals), admitted (by a rate limit), last hit.
CREATE FUNCTION digest_rule_activity_counters(
    OUT queryid bigint, OUT roleid oid, OUT dbid oid, OUT running integer,
    OUT blocked bigint, OUT warned bigint, OUT capped bigint,
    OUT limited bigint, OUT admitted bigint, OUT observed_per_second double precision,
    OUT last_hit timestamptz, OUT rule_created_at timestamptz,
    OUT application_name text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'wg_digest_rule_activity'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE VIEW digest_rule_activity AS
    SELECT r.queryid, r.mode, r.dry_run AS warn_only, r.role, r.database,
           r.max_running, r.per_second, r.burst, r.backends,
           coalesce(cr.running, 0) AS running,
           coalesce(c.blocked, 0) + coalesce(c.capped, 0)
             + coalesce(c.limited, 0) AS refused,
           coalesce(c.warned, 0) AS warned,
           coalesce(c.admitted, 0) AS admitted,
           c.observed_per_second,
           c.last_hit,
           r.application_name
    FROM digest_rules r
    LEFT JOIN pg_catalog.pg_database d ON d.datname OPERATOR(pg_catalog.=) r.database
    LEFT JOIN digest_rule_activity_counters() cr
      ON cr.queryid IS NOT DISTINCT FROM r.queryid
     AND cr.roleid OPERATOR(pg_catalog.=) coalesce(r.role::oid, 0)
     AND cr.dbid OPERATOR(pg_catalog.=) CASE WHEN r.database IS NULL THEN 0 ELSE d.oid END
     AND cr.application_name IS NOT DISTINCT FROM r.application_name
    LEFT JOIN LATERAL (SELECT cr.blocked, cr.warned, cr.capped, cr.limited,
                              cr.admitted, cr.observed_per_second, cr.last_hit
                       WHERE cr.rule_created_at OPERATOR(pg_catalog.=) r.created_at) c ON true;

COMMENT ON VIEW digest_rule_activity IS
    'Per digest rule: what it refused, warned about and admitted on this server';
GRANT SELECT ON digest_rule_activity TO PUBLIC;

-- The record of rule changes: one row per row written to digest_rules
-- (block_digest, cap_digest, rate_limit_digest, budget_digest,
-- unblock_digest, the housekeeping of expired rules and dropped roles, or a
-- superuser's own DML), with the row before and after as jsonb.  Written by
-- a trigger on the primary; reaches the standbys with the WAL and pg_dump
-- saves it.  trim_digest_rule_history() is its retention.
CREATE TABLE digest_rule_history (
    changed_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    changed_by  name NOT NULL DEFAULT session_user,
    action      text NOT NULL CHECK (action IN ('insert', 'update', 'delete', 'truncate')),
    queryid     bigint,
    before      jsonb,
    after       jsonb,
    application_name text
);
CREATE INDEX ON digest_rule_history (changed_at);
SELECT pg_catalog.pg_extension_config_dump('digest_rule_history', '');
REVOKE ALL ON digest_rule_history FROM PUBLIC;

COMMENT ON COLUMN digest_rule_history.changed_by IS
    'The session''s user; after->>''created_by'' names the role that called the function';

CREATE FUNCTION _digest_rule_history()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO @extschema@.digest_rule_history (action) VALUES ('truncate');
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO @extschema@.digest_rule_history (action, queryid, after, application_name)
        VALUES ('insert', NEW.queryid, to_jsonb(NEW), NEW.application_name);
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO @extschema@.digest_rule_history (action, queryid, before, after, application_name)
        VALUES ('update', NEW.queryid, to_jsonb(OLD), to_jsonb(NEW), NEW.application_name);
    ELSE
        INSERT INTO @extschema@.digest_rule_history (action, queryid, before, application_name)
        VALUES ('delete', OLD.queryid, to_jsonb(OLD), OLD.application_name);
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION _digest_rule_history() FROM PUBLIC;

CREATE TRIGGER digest_rules_history
    AFTER INSERT OR UPDATE OR DELETE ON digest_rules
    FOR EACH ROW EXECUTE FUNCTION _digest_rule_history();
CREATE TRIGGER digest_rules_history_truncate
    AFTER TRUNCATE ON digest_rules
    FOR EACH STATEMENT EXECUTE FUNCTION _digest_rule_history();
ALTER TABLE digest_rules ENABLE ALWAYS TRIGGER digest_rules_history;
ALTER TABLE digest_rules ENABLE ALWAYS TRIGGER digest_rules_history_truncate;

-- retention: delete the record older than keep; returns the rows deleted
CREATE FUNCTION trim_digest_rule_history(keep interval)
RETURNS bigint
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    WITH d AS (DELETE FROM @extschema@.digest_rule_history
                WHERE changed_at < pg_catalog.now() OPERATOR(pg_catalog.-) keep
               RETURNING 1)
    SELECT count(*) FROM d
$$;
REVOKE ALL ON FUNCTION trim_digest_rule_history(interval) FROM PUBLIC;
