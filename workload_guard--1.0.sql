/* workload_guard--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION workload_guard" to load this file. \quit

------------------------------------------------------------------------------
-- Latency histograms per query digest (src/latency.c, src/histogram*.c)
------------------------------------------------------------------------------

CREATE FUNCTION statement_latency(showtext boolean,
    OUT userid oid, OUT dbid oid, OUT queryid bigint, OUT toplevel boolean,
    OUT query text, OUT calls bigint, OUT errors bigint, OUT cancels bigint,
    OUT total_ms float8, OUT mean_ms float8, OUT min_ms float8, OUT max_ms float8,
    OUT p50_ms float8, OUT p90_ms float8, OUT p95_ms float8, OUT p99_ms float8,
    OUT p999_ms float8, OUT out_of_range bigint,
    OUT recent_calls bigint, OUT recent_errors bigint,
    OUT recent_p50_ms float8, OUT recent_p95_ms float8, OUT recent_p99_ms float8,
    OUT recent_p999_ms float8, OUT recent_seconds float8,
    OUT stats_since timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'wg_statement_latency'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE VIEW statement_latency AS
    SELECT * FROM statement_latency(true);

COMMENT ON VIEW statement_latency IS
    'Latency percentiles per (role, database, queryid, top-level), cumulative and over the recent window';

CREATE FUNCTION latency_info(
    OUT max_statements int, OUT statements int, OUT evictions bigint,
    OUT dropped bigint, OUT recent_window_s int, OUT stats_reset timestamptz)
RETURNS record
AS 'MODULE_PATHNAME', 'wg_latency_info'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE VIEW latency_info AS SELECT * FROM latency_info();

CREATE FUNCTION latency_histogram(queryid bigint,
    OUT bucket int, OUT lower_ms float8, OUT upper_ms float8, OUT count bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'wg_latency_histogram'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE FUNCTION latency_percentile(queryid bigint, fraction float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'wg_latency_percentile'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE FUNCTION latency_buckets(
    OUT userid oid, OUT dbid oid, OUT queryid bigint, OUT toplevel boolean,
    OUT bucket int, OUT lower_ms float8, OUT count bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'wg_latency_buckets'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE FUNCTION reset_latency(queryid bigint DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'wg_reset_latency'
LANGUAGE C VOLATILE PARALLEL SAFE;

-- pure bucket math: no shared memory needed
CREATE FUNCTION histogram_bucket(value_ms float8)
RETURNS int
AS 'MODULE_PATHNAME', 'wg_histogram_bucket'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION histogram_bucket_bounds(bucket int,
    OUT lower_ms float8, OUT upper_ms float8)
RETURNS record
AS 'MODULE_PATHNAME', 'wg_histogram_bucket_bounds'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION histogram_estimate(values_ms float8[], fraction float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'wg_histogram_estimate'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION histogram_percentile(buckets int[], counts bigint[], fraction float8)
RETURNS float8
AS 'MODULE_PATHNAME', 'wg_histogram_percentile'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

-- Reading is for everyone (query texts and queryids of other roles are
-- hidden unless the reader has pg_read_all_stats); resetting is not.
GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;
GRANT SELECT ON statement_latency, latency_info TO PUBLIC;
REVOKE ALL ON FUNCTION reset_latency(bigint) FROM PUBLIC;

------------------------------------------------------------------------------
-- Schema-change guard and DDL history (src/ddl_*.c)
------------------------------------------------------------------------------

-- One row per schema change that ran, written in its own transaction by the
-- ProcessUtility hook (src/ddl_history.c) as the table's owner.
CREATE TABLE ddl_history (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at        timestamptz NOT NULL,
    duration_ms       float8 NOT NULL,
    lock_wait_ms      float8 NOT NULL,
    session_role      name NOT NULL,
    effective_role    name NOT NULL,
    database_name     name NOT NULL,
    application_name  text,
    client_addr       inet,
    backend_pid       int NOT NULL,
    command_tag       text NOT NULL,
    object_types      text[] NOT NULL,
    object_identities text[] NOT NULL,
    statement         text NOT NULL,
    top_level         boolean NOT NULL,
    rewrote           boolean NOT NULL,
    rewrite_reason    text,
    rules             text[] NOT NULL,
    bypassed          boolean NOT NULL
);
CREATE INDEX ddl_history_started_at ON ddl_history (started_at);
SELECT pg_catalog.pg_extension_config_dump('ddl_history', '');

COMMENT ON TABLE ddl_history IS
    'One row per schema change that ran (workload_guard schema-change guard)';

CREATE FUNCTION trim_ddl_history(older_than interval DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'wg_trim_ddl_history'
LANGUAGE C VOLATILE;

-- Refused, timed-out and failed DDL: kept in shared memory, outside the
-- aborted transaction; saved across clean restarts.
CREATE FUNCTION ddl_rejections(
    OUT rejected_at timestamptz, OUT pid int, OUT dbid oid, OUT userid oid,
    OUT sqlstate text, OUT rule text, OUT command_tag text, OUT relation text,
    OUT message text, OUT blockers text, OUT statement text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'wg_ddl_rejections'
LANGUAGE C STRICT VOLATILE;

CREATE VIEW ddl_rejections AS
    SELECT r.rejected_at, r.pid, d.datname AS database_name,
           pg_catalog.pg_get_userbyid(r.userid) AS role_name,
           r.sqlstate, r.rule, r.command_tag, r.relation, r.message,
           r.blockers, r.statement
    FROM ddl_rejections() r
    LEFT JOIN pg_catalog.pg_database d ON d.oid = r.dbid;

COMMENT ON VIEW ddl_rejections IS
    'Recent refused, timed-out and failed schema changes (kept across clean restarts)';

CREATE FUNCTION reset_ddl_rejections()
RETURNS bigint
AS 'MODULE_PATHNAME', 'wg_reset_ddl_rejections'
LANGUAGE C STRICT VOLATILE;

-- Pure classification, as the guard sees each statement of a string.
CREATE FUNCTION ddl_classify(sql text,
    OUT command_tag text, OUT is_ddl boolean, OUT is_concurrent boolean,
    OUT rule text, OUT clause text, OUT relation text, OUT is_temporary boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'wg_ddl_classify_sql'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

-- PostgreSQL's own rewrite decision, and the object identities of each
-- statement.  ENABLE ALWAYS: session_replication_role = replica must not
-- switch the guard off.
CREATE FUNCTION ddl_table_rewrite() RETURNS event_trigger
AS 'MODULE_PATHNAME', 'wg_ddl_table_rewrite'
LANGUAGE C;
CREATE EVENT TRIGGER workload_guard_table_rewrite ON table_rewrite
    EXECUTE FUNCTION ddl_table_rewrite();
ALTER EVENT TRIGGER workload_guard_table_rewrite ENABLE ALWAYS;

CREATE FUNCTION ddl_command_end() RETURNS event_trigger
AS 'MODULE_PATHNAME', 'wg_ddl_command_end'
LANGUAGE C;
CREATE EVENT TRIGGER workload_guard_ddl_command_end ON ddl_command_end
    EXECUTE FUNCTION ddl_command_end();
ALTER EVENT TRIGGER workload_guard_ddl_command_end ENABLE ALWAYS;

-- DROP reports its objects here, not to ddl_command_end
CREATE FUNCTION ddl_sql_drop() RETURNS event_trigger
AS 'MODULE_PATHNAME', 'wg_ddl_sql_drop'
LANGUAGE C;
CREATE EVENT TRIGGER workload_guard_ddl_sql_drop ON sql_drop
    EXECUTE FUNCTION ddl_sql_drop();
ALTER EVENT TRIGGER workload_guard_ddl_sql_drop ENABLE ALWAYS;

-- Everyone reads the record; nobody but the owner writes it.
GRANT SELECT ON ddl_history, ddl_rejections TO PUBLIC;
REVOKE ALL ON FUNCTION trim_ddl_history(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION reset_ddl_rejections() FROM PUBLIC;
REVOKE ALL ON FUNCTION ddl_table_rewrite() FROM PUBLIC;
REVOKE ALL ON FUNCTION ddl_command_end() FROM PUBLIC;
REVOKE ALL ON FUNCTION ddl_sql_drop() FROM PUBLIC;

-- The digest (queryid) of a statement as EXPLAIN VERBOSE computes it: the
-- number to pass to block_digest() or latency_percentile() before the
-- statement has even run.  The statement is planned, never executed, with
-- the caller's privileges.  Constants and $n parameters give different
-- digests, as they do for pg_stat_statements.
CREATE FUNCTION queryid_of(statement text) RETURNS bigint
LANGUAGE plpgsql STRICT VOLATILE
AS $$
DECLARE
    plan json;
    qid text;
BEGIN
    BEGIN
        EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF, FORMAT JSON) ' || statement INTO plan;
    EXCEPTION WHEN syntax_error THEN
        -- the position would point into our EXPLAIN, not into the argument
        RAISE EXCEPTION '%', SQLERRM
            USING ERRCODE = 'syntax_error',
                  HINT = 'Pass one statement that EXPLAIN accepts: SELECT, INSERT, UPDATE, DELETE, MERGE, VALUES, or CREATE TABLE AS.';
    END;
    qid := plan -> 0 -> 'Plan' ->> 'Query Identifier';
    IF qid IS NULL THEN
        qid := plan -> 0 ->> 'Query Identifier';
    END IF;
    IF qid IS NULL THEN
        RAISE EXCEPTION 'statement has no query identifier'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Load workload_guard via shared_preload_libraries, or set compute_query_id = on.';
    END IF;
    RETURN qid::bigint;
END
$$;

------------------------------------------------------------------------------
-- Incident brakes: blocked digests, disabled indexes (src/digest_rules.c,
-- src/index_hide.c, src/config_cache.c)
------------------------------------------------------------------------------

-- Soft-disabled indexes (src/index_hide.c).  One row per rule, keyed by the
-- index OID; indrelid guards against OID reuse (a rule whose pair no longer
-- matches pg_index is ignored and purged by the next disable/enable).
CREATE TABLE disabled_index_rules (
    indexrelid       oid PRIMARY KEY,
    indrelid         oid NOT NULL,
    index_name       text NOT NULL,        -- qualified name when disabled
    disabled_by      name NOT NULL,
    disabled_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    reason           text,
    forced           boolean NOT NULL,
    scans_at_disable bigint NOT NULL       -- index_scan_count() on the primary
);
SELECT pg_catalog.pg_extension_config_dump('disabled_index_rules', '');
REVOKE ALL ON disabled_index_rules FROM PUBLIC;

-- idx_scan of an index, summed over the leaf indexes of a partitioned one
CREATE FUNCTION index_scan_count(index regclass)
RETURNS bigint
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(sum(pg_stat_get_numscans(r)), 0)::bigint
      FROM (SELECT relid FROM pg_partition_tree($1) WHERE isleaf
            UNION SELECT $1::oid) s(r)
$$;

CREATE FUNCTION disable_index(index regclass, reason text DEFAULT NULL,
                              force boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'wg_disable_index'
LANGUAGE C VOLATILE;

CREATE FUNCTION enable_index(index regclass)
RETURNS boolean
AS 'MODULE_PATHNAME', 'wg_enable_index'
LANGUAGE C VOLATILE;

CREATE FUNCTION _index_rules_changed()
RETURNS void
AS 'MODULE_PATHNAME', 'wg_index_rules_changed'
LANGUAGE C VOLATILE;

-- DROP INDEX (and DROP TABLE, DROP SCHEMA ... CASCADE) removes the rule.
-- SECURITY DEFINER: whoever drops an index may not write the rules table.
CREATE FUNCTION _index_rules_on_drop()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM @extschema@.disabled_index_rules r
     USING pg_event_trigger_dropped_objects() d
     WHERE d.classid = 'pg_class'::regclass AND d.objid = r.indexrelid;
    IF FOUND THEN
        PERFORM @extschema@._index_rules_changed();
    END IF;
END
$$;

CREATE EVENT TRIGGER workload_guard_disabled_index_drop ON sql_drop
    EXECUTE FUNCTION _index_rules_on_drop();

CREATE VIEW disabled_indexes AS
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
           END AS scans_since_disabled
      FROM @extschema@.disabled_index_rules r
      LEFT JOIN pg_catalog.pg_index i
        ON i.indexrelid = r.indexrelid AND i.indrelid = r.indrelid;

COMMENT ON VIEW disabled_indexes IS
    'Indexes hidden from the planner; scans_since_disabled counts this node''s scans (NULL on standbys and after a statistics reset)';

GRANT SELECT ON disabled_indexes TO PUBLIC;
REVOKE ALL ON FUNCTION disable_index(regclass, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION enable_index(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION _index_rules_changed() FROM PUBLIC;
REVOKE ALL ON FUNCTION _index_rules_on_drop() FROM PUBLIC;

-- Backend caches of config tables are dropped by a relcache invalidation
-- that this trigger sends for every change (plain DML sends none); the
-- commit record carries it to the standbys (src/config_cache.c).
CREATE FUNCTION config_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'wg_config_changed'
LANGUAGE C;

-- Blocked and capped digests (src/digest_rules.c).  Rows are written by
-- block_digest/cap_digest/unblock_digest; NULL role or database means
-- "every role", "every database".
CREATE TABLE digest_rules (
    queryid     bigint NOT NULL CHECK (queryid <> 0),
    role        regrole,
    database    name,
    mode        text NOT NULL CHECK (mode IN ('block', 'cap')),
    max_running integer CHECK ((mode = 'cap') = (max_running IS NOT NULL)
                               AND (max_running IS NULL OR max_running > 0)),
    dry_run     boolean NOT NULL DEFAULT false,
    reason      text,
    created_by  name NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    UNIQUE NULLS NOT DISTINCT (queryid, role, database)
);
SELECT pg_catalog.pg_extension_config_dump('digest_rules', '');

CREATE TRIGGER digest_rules_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON digest_rules
    FOR EACH STATEMENT EXECUTE FUNCTION config_changed();

CREATE FUNCTION block_digest(queryid bigint, reason text DEFAULT NULL,
    expires_in interval DEFAULT NULL, role regrole DEFAULT NULL,
    database name DEFAULT NULL, dry_run boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'wg_block_digest'
LANGUAGE C VOLATILE;

CREATE FUNCTION cap_digest(queryid bigint, max_running integer,
    reason text DEFAULT NULL, expires_in interval DEFAULT NULL,
    role regrole DEFAULT NULL, database name DEFAULT NULL,
    dry_run boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'wg_cap_digest'
LANGUAGE C VOLATILE;

CREATE FUNCTION unblock_digest(queryid bigint)
RETURNS integer
AS 'MODULE_PATHNAME', 'wg_unblock_digest'
LANGUAGE C VOLATILE;

CREATE FUNCTION digest_rule_counters(
    OUT queryid bigint, OUT roleid oid, OUT dbid oid, OUT running integer,
    OUT blocked bigint, OUT warned bigint, OUT capped bigint,
    OUT last_hit timestamptz, OUT rule_created_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'wg_digest_rule_counters'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE VIEW blocked_digests AS
    SELECT r.queryid, r.mode, r.max_running, r.dry_run, r.role, r.database,
           r.reason, r.created_by, r.created_at, r.expires_at,
           (r.expires_at IS NULL OR r.expires_at > statement_timestamp()) AS active,
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

COMMENT ON VIEW blocked_digests IS
    'Blocked and capped query digests, with hits counted on this server since it started';

REVOKE ALL ON FUNCTION block_digest(bigint, text, interval, regrole, name, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION cap_digest(bigint, integer, text, interval, regrole, name, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION unblock_digest(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION config_changed() FROM PUBLIC;
GRANT SELECT ON blocked_digests TO PUBLIC;
