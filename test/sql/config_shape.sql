-- A config table of the extension whose columns are not the ones this
-- version of the library decodes is not read: its rules are not applied,
-- and each backend says so once (config_cache.c).  Rows are never decoded
-- with a descriptor of another shape.
CREATE EXTENSION workload_guard;
SELECT workload_guard.block_digest(workload_guard.queryid_of(
         'SELECT count(*) FROM generate_series(1, 9) g WHERE g < 0'), 'shape');
-- (sqlstate only: the queryid in the message differs between majors)
\set VERBOSITY sqlstate
SELECT count(*) FROM generate_series(1, 9) g WHERE g < 0;
\set VERBOSITY terse
ALTER TABLE workload_guard.digest_rules ADD COLUMN note text;
SELECT count(*) FROM generate_series(1, 9) g WHERE g < 0;
SELECT count(*) FROM generate_series(1, 9) g WHERE g < 0;
\set VERBOSITY default
DROP EXTENSION workload_guard CASCADE;
