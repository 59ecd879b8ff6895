-- Bucket math, deterministically: the error bound at every magnitude from
-- 1 µs to 1 hour, edge values, and percentile estimation against exact
-- nearest-rank percentiles.  No server state is involved.
CREATE EXTENSION workload_guard;

-- layout: 1024 buckets, 32 per power of two, starting at 1 µs
SELECT workload_guard.histogram_bucket(0) AS below_1us,
       workload_guard.histogram_bucket(0.001) AS at_1us,
       workload_guard.histogram_bucket(0.002) AS at_2us,
       workload_guard.histogram_bucket(3600000) AS one_hour,
       workload_guard.histogram_bucket(1e9) AS clamped_high;
SELECT * FROM workload_guard.histogram_bucket_bounds(0);
SELECT * FROM workload_guard.histogram_bucket_bounds(1023);

-- buckets tile the range: each upper bound is the next lower bound
SELECT count(*) AS gaps
FROM generate_series(0, 1022) b,
     LATERAL workload_guard.histogram_bucket_bounds(b) x,
     LATERAL workload_guard.histogram_bucket_bounds(b + 1) y
WHERE x.upper_ms <> y.lower_ms;

-- every value maps to the bucket whose bounds contain it, and the bucket
-- midpoint is within 1/64 (1.6%) of the value: 20000 values spread
-- log-uniformly from 1 µs to 1 hour
WITH v AS (
  SELECT 0.001 * exp(ln(3600000 / 0.001) * g / 20000.0) AS ms
  FROM generate_series(0, 20000) g
), b AS (
  SELECT ms, workload_guard.histogram_bucket(ms) AS bucket FROM v
)
SELECT count(*) AS values_checked,
       -- (1 ns of slack: durations are whole nanoseconds)
       count(*) FILTER (WHERE ms < x.lower_ms - 1e-6 OR ms >= x.upper_ms + 1e-6) AS outside_bucket,
       max(abs((x.lower_ms + x.upper_ms) / 2 - ms) / ms) < 1.0 / 64 + 1e-9 AS within_bound
FROM b, LATERAL workload_guard.histogram_bucket_bounds(b.bucket) x;

-- edge values: exact powers of two of the tick and the bucket boundaries
SELECT workload_guard.histogram_bucket(0.001 * 2) - workload_guard.histogram_bucket(0.001 * 2 - 1e-9) AS step_at_2us,
       workload_guard.histogram_bucket(0.000999) AS just_below_1us;

-- percentile estimates within 2% of the exact nearest-rank percentile, for
-- several distributions and magnitudes
CREATE TEMP TABLE dist AS
SELECT d.name, s.g, d.scale * (CASE d.shape
          WHEN 'uniform' THEN 1 + (s.g % 997) / 997.0
          WHEN 'long_tail' THEN exp((s.g % 1009) / 1009.0 * 8)
          WHEN 'bimodal' THEN CASE WHEN s.g % 10 = 0 THEN 50 ELSE 1 END + (s.g % 13) / 100.0
        END) AS ms
FROM (VALUES ('us_uniform', 'uniform', 0.0013),
             ('ms_long_tail', 'long_tail', 0.7),
             ('s_bimodal', 'bimodal', 40.0),
             ('min_long_tail', 'long_tail', 1000.0)) d(name, shape, scale),
     generate_series(1, 5000) s(g);

SELECT name, f,
       abs(workload_guard.histogram_estimate(array_agg(ms), f) / percentile_disc(f) WITHIN GROUP (ORDER BY ms) - 1) <= 0.02 AS within_2pct
FROM dist, (VALUES (0.5), (0.9), (0.95), (0.99), (0.999)) p(f)
GROUP BY name, f ORDER BY name, f;

-- p0 and p100 are the exact extremes
SELECT workload_guard.histogram_estimate(ARRAY[0.0123, 7.5, 900], 0) AS p0,
       workload_guard.histogram_estimate(ARRAY[0.0123, 7.5, 900], 1) AS p100,
       workload_guard.histogram_estimate('{}', 0.5) AS empty;

-- merging bucket counts (as monitoring tools do across nodes or snapshots)
SELECT round(workload_guard.histogram_percentile(ARRAY[100, 100, 500], ARRAY[5, 4, 1]::bigint[], 0.5)::numeric, 6) AS merged_p50,
       round(workload_guard.histogram_percentile(ARRAY[100, 500], ARRAY[9, 1]::bigint[], 0.95)::numeric, 6) AS merged_p95;

-- bad input
SELECT workload_guard.histogram_bucket(-1);
SELECT workload_guard.histogram_bucket('NaN');
SELECT * FROM workload_guard.histogram_bucket_bounds(1024);
SELECT workload_guard.histogram_estimate(ARRAY[1, NULL]::float8[], 0.5);
SELECT workload_guard.histogram_estimate(ARRAY[1.0], -0.1);
SELECT workload_guard.histogram_percentile(ARRAY[1, 2], ARRAY[1]::bigint[], 0.5);
SELECT workload_guard.histogram_percentile(ARRAY[1], ARRAY[-1]::bigint[], 0.5);

DROP EXTENSION workload_guard;
