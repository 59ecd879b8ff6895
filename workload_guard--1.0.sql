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
