-- Monitoring exports, deterministically: the text chart of a histogram built
-- from known values, latency values (compact, validated on input, merged),
-- and the shape of prometheus_latency's histograms (exact fine-bucket bounds,
-- cumulative counts).  No timing is involved.
CREATE EXTENSION workload_guard;
SET search_path = workload_guard, public;

-- a chart of 100 known latencies: 1, 2, ..., 100 ms
SELECT * FROM latency_chart(
    ARRAY(SELECT histogram_bucket(v) FROM generate_series(1, 100) v),
    array_fill(1::bigint, ARRAY[100]));
-- a narrow distribution gets fine rows: 90 calls at 1 ms, 10 at 1.2 ms
SELECT * FROM latency_chart(ARRAY[histogram_bucket(1), histogram_bucket(1.2)], ARRAY[90, 10]::bigint[]);
-- the marks are the percentiles histogram_percentile reports
SELECT round(histogram_percentile(ARRAY(SELECT histogram_bucket(v) FROM generate_series(1, 100) v),
                                  array_fill(1::bigint, ARRAY[100]), f)::numeric, 2) AS pct
  FROM unnest(ARRAY[0.5, 0.95, 0.99]) f;
-- nothing to draw, and bad input
SELECT count(*) FROM latency_chart('{}'::int[], '{}'::bigint[]);
SELECT * FROM latency_chart(ARRAY[1024], ARRAY[1]::bigint[]);
SELECT * FROM latency_chart(ARRAY[1, 2], ARRAY[1]::bigint[]);
SELECT * FROM latency_chart(ARRAY[1], ARRAY[-1]::bigint[]);

-- a valid value: 2 calls of 1 us (bucket 0), 1 of 2 us (bucket 32)
\set v '\'\\x0102000000e803000000000000d007000000000000000000000040af400000020000000000000020000100000000000000\'::bytea'
SELECT * FROM latency_value_stats(:v);
SELECT latency_value_percentile(:v, 0.5) AS p50, latency_value_percentile(:v, 1) AS p100;
SELECT * FROM latency_chart(:v);
-- merging adds counts; NULLs are skipped; no input gives NULL
SELECT (latency_value_stats(latency_merge(v))).* FROM (VALUES (:v), (NULL), (:v)) t(v);
SELECT latency_merge(v) IS NULL AS no_rows FROM (SELECT :v AS v WHERE false) t;
SELECT latency_merge(v) IS NULL AS only_nulls FROM (VALUES (NULL::bytea)) t(v);
-- an empty value is valid and has no percentile
SELECT * FROM latency_value_stats('\x0100000000000000000000000000000000000000000000000000000000');
SELECT latency_value_percentile('\x0100000000000000000000000000000000000000000000000000000000', 0.99);
-- a value exported and read back is the same value
SELECT latency_merge(v) = :v AS round_trip FROM (VALUES (:v)) t(v);

-- every field of a value from the outside is checked
\set VERBOSITY default
SELECT latency_value_percentile('\x0202000000e803000000000000d007000000000000000000000040af400000020000000000000020000100000000000000', 0.5);
\set VERBOSITY terse
SELECT latency_value_percentile('', 0.5);
SELECT latency_value_percentile('\x01', 0.5);
-- one byte more, one less, a count saying 3 entries for 2
SELECT latency_value_percentile(:v || '\x00'::bytea, 0.5);
SELECT latency_value_percentile(substring(:v FROM 1 FOR 48), 0.5);
SELECT latency_value_percentile('\x0103000000e803000000000000d007000000000000000000000040af400000020000000000000020000100000000000000', 0.5);
-- buckets out of order, an empty entry, a bucket past the last
SELECT latency_value_percentile('\x0102000000e803000000000000d007000000000000000000000040af402000010000000000000000000200000000000000', 0.5);
SELECT latency_value_percentile('\x0102000000e803000000000000d007000000000000000000000040af400000000000000000000020000100000000000000', 0.5);
SELECT latency_value_percentile('\x0102000000e803000000000000d007000000000000000000000040af400000020000000000000000040100000000000000', 0.5);
-- a minimum outside the first bucket, a sum that cannot be, a NaN sum
SELECT latency_value_percentile('\x0102000000dc05000000000000d007000000000000000000000040af400000020000000000000020000100000000000000', 0.5);
SELECT latency_value_percentile('\x0102000000e803000000000000d00700000000000000000000f069f8400000020000000000000020000100000000000000', 0.5);
SELECT latency_value_percentile('\x0102000000e803000000000000d007000000000000000000000000f87f0000020000000000000020000100000000000000', 0.5);
-- an empty value with extremes
SELECT latency_value_percentile('\x0100000000e80300000000000000000000000000000000000000000000', 0.5);
-- counts that overflow when added up (2^63 calls each)
SELECT latency_merge(v) FROM (VALUES ('\x0101000000e803000000000000e8030000000000000000000000407f4400000000000000000080'::bytea),
                                     ('\x0101000000e803000000000000e8030000000000000000000000407f4400000000000000000080'::bytea)) t(v);
-- a bad fraction
SELECT latency_value_percentile(:v, 1.5);

-- prometheus_latency: 27 bounds, 4 us .. 268 s, each the lower bound of a
-- fine bucket; cumulative counts that never decrease and end at most at count
SELECT count(*) > 0 AS has_rows FROM prometheus_latency(5);
SELECT array_length(le, 1) AS bounds, le[1] AS first_s, le[27] AS last_s
  FROM prometheus_latency(1);
SELECT bool_and(abs((histogram_bucket_bounds(histogram_bucket(l * 1000))).lower_ms - l * 1000) < 1e-9)
         AS exact_bounds,
       bool_and(l * 2 = lead) FILTER (WHERE lead IS NOT NULL) AS factor_two
  FROM (SELECT l, lead(l) OVER (ORDER BY l) FROM unnest((SELECT le FROM prometheus_latency(1))) l) s;
SELECT bool_and(b[27] <= count AND
                (SELECT bool_and(b[i] <= b[i + 1]) FROM generate_series(1, 26) i)) AS cumulative
  FROM (SELECT bucket AS b, count FROM prometheus_latency(100)) s;
SELECT count(*) <= 2 AS top_bounds FROM prometheus_latency(2);
SELECT * FROM prometheus_latency(0);

-- another role's digests: left out of prometheus_latency and latency_export
-- (as their queryids are hidden in statement_latency), unless the reader has
-- pg_read_all_stats
CREATE ROLE regress_export_a;
CREATE ROLE regress_export_b;
GRANT USAGE ON SCHEMA workload_guard TO regress_export_a, regress_export_b;
SET ROLE regress_export_a;
-- a shape no other test runs (a digest is merged over roles and databases)
SELECT pg_catalog.quote_ident('only a') AS a_statement;
RESET ROLE;
SELECT queryid AS a_qid FROM statement_latency
 WHERE query = 'SELECT pg_catalog.quote_ident($1) AS a_statement' \gset
SET ROLE regress_export_b;
SELECT count(*) AS b_sees_a FROM prometheus_latency(1000) WHERE role = 'regress_export_a';
SELECT latency_export(:a_qid) IS NULL AS b_exports_nothing;
RESET ROLE;
GRANT pg_read_all_stats TO regress_export_b;
SET ROLE regress_export_b;
SELECT count(*) > 0 AS b_sees_a FROM prometheus_latency(1000) WHERE role = 'regress_export_a';
SELECT (latency_value_stats(latency_export(:a_qid))).calls AS b_exports_a;
RESET ROLE;
REVOKE USAGE ON SCHEMA workload_guard FROM regress_export_a, regress_export_b;
DROP ROLE regress_export_a, regress_export_b;

-- DDL rejection counters: one row per rule, a refusal counts
SELECT count(*) AS rules FROM ddl_rejection_counts();
CREATE TABLE public.export_t (a int);
SELECT rejections AS before FROM ddl_rejection_counts() WHERE rule = 'index' \gset
CREATE INDEX ON public.export_t (a);
SELECT rejections - :before AS refused FROM ddl_rejection_counts() WHERE rule = 'index';
DROP TABLE public.export_t;

RESET search_path;
DROP EXTENSION workload_guard;
