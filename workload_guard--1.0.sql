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

------------------------------------------------------------------------------
-- Incident brakes: blocked digests, disabled indexes (src/digest_rules.c,
-- src/index_hide.c, src/config_cache.c)
------------------------------------------------------------------------------

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
