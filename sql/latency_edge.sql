-- Latency recording at the edges: statements the extension must never fail,
-- errors at every stage of a statement, and the nesting level that decides
-- toplevel staying right after all of them.
CREATE EXTENSION workload_guard;
\set VERBOSITY terse
SET workload_guard.track = 'top';
SELECT workload_guard.reset_latency() >= 0 AS reset;

-- Bound overflow of the SQL bucket math: huge values clamp, not wrap
SELECT workload_guard.histogram_estimate('{1e14, 1}', 1.0) AS clamped_max,
       workload_guard.histogram_estimate('{Infinity}', 0.5) AS clamped_inf,
       workload_guard.histogram_bucket(1e14) AS last_bucket;


DROP EXTENSION workload_guard CASCADE;
