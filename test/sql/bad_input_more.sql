-- Bad input cases of issue 7 (queryid_of executes nothing, rules of dropped
-- roles, other databases, ...).  Asserted as properties (refused or not, executed or not), not
-- as message texts, so that the fixes may word their errors freely.
CREATE EXTENSION workload_guard;
CREATE TABLE bip_t (id int PRIMARY KEY);

-- true if sql raises an error (always rolled back)
CREATE FUNCTION pg_temp.bip_fails(sql text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        EXECUTE sql;
    EXCEPTION WHEN OTHERS THEN
        RETURN true;
    END;
    RAISE EXCEPTION USING ERRCODE = 'WGOK0';
EXCEPTION WHEN SQLSTATE 'WGOK0' THEN
    RETURN false;
END
$$;

-- issue 7.8: queryid_of() computes the digest of exactly one statement and
-- never executes anything, even when the rest of the string is crafted to
-- look like EXPLAIN's output
SELECT pg_temp.bip_fails($$SELECT workload_guard.queryid_of('SELECT 1; SELECT 2')$$) AS two_selects_refused;
SELECT pg_temp.bip_fails($q$SELECT workload_guard.queryid_of($s$SELECT 1; WITH i AS (INSERT INTO bip_t VALUES (1) RETURNING 1) SELECT '[{"Query Identifier": "7"}]'::json FROM i$s$)$q$) AS crafted_refused;
DO $$
BEGIN
    PERFORM workload_guard.queryid_of($s$SELECT 1; WITH i AS (INSERT INTO bip_t VALUES (2) RETURNING 1) SELECT '[{"Query Identifier": "7"}]'::json FROM i$s$);
EXCEPTION WHEN OTHERS THEN
    NULL;
END
$$;
SELECT count(*) AS rows_inserted_by_queryid_of FROM bip_t;
-- issue 7.8: $n parameters, as pg_stat_activity shows extended-protocol
-- queries, give the digest of the prepared statement
PREPARE bip_p AS SELECT id FROM bip_t WHERE id = $1;
CREATE TEMP TABLE bip_plan (qid bigint);
INSERT INTO bip_plan VALUES (NULL);
DO $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF, FORMAT JSON) EXECUTE bip_p(1)' INTO plan;
    UPDATE bip_plan SET qid = (plan -> 0 ->> 'Query Identifier')::bigint;
END
$$;
SELECT workload_guard.queryid_of('SELECT id FROM bip_t WHERE id = $1') = qid
       AS parameter_digest_matches_prepared
  FROM bip_plan;

DROP TABLE bip_t;
DROP EXTENSION workload_guard CASCADE;
