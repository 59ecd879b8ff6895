-- Under session_replication_role = replica (logical replication workers,
-- data loads) ordinary triggers and event triggers do not fire: every
-- trigger the extension relies on must.  A DROP INDEX removes its
-- disabled-index rule, and a rule written there reaches the caches.
CREATE EXTENSION workload_guard;
SET workload_guard.ddl_index = off;
CREATE TABLE rr (id int, val int);
INSERT INTO rr SELECT g, g % 10 FROM generate_series(1, 1000) g;
CREATE INDEX rr_val ON rr (val);
ANALYZE rr;
SET session_replication_role = replica;

-- DROP INDEX takes its rule with it
SELECT workload_guard.disable_index('rr_val');
DROP INDEX rr_val;
SELECT count(*) AS rules_left FROM workload_guard.disabled_index_rules;

-- a rule written in replica mode drops this session's loaded cache (the
-- digest reads no table: its queryid, in the error, is the same every run)
SELECT count(*) FROM generate_series(1, 7) g WHERE g < 0;
SELECT workload_guard.block_digest(workload_guard.queryid_of('SELECT count(*) FROM generate_series(1, 7) g WHERE g < 0'),
                                   'written in replica mode');
-- (sqlstate only: the queryid in the message differs between majors)
\set VERBOSITY sqlstate
SELECT count(*) FROM generate_series(1, 7) g WHERE g < 0;
\set VERBOSITY default

-- the management functions do not depend on the trigger: with it disabled
-- (or left ENABLE ORIGIN by pg_restore --disable-triggers), an unblock
-- still reaches the cache
ALTER TABLE workload_guard.digest_rules DISABLE TRIGGER digest_rules_changed;
SELECT workload_guard.unblock_digest(workload_guard.queryid_of('SELECT count(*) FROM generate_series(1, 7) g WHERE g < 0'));
SELECT count(*) FROM generate_series(1, 7) g WHERE g < 0;
ALTER TABLE workload_guard.digest_rules ENABLE ALWAYS TRIGGER digest_rules_changed;

-- disabled_index_rules has the same trigger as digest_rules (one protocol):
-- a write of its owner's own reaches the caches too
CREATE INDEX rr_id ON rr (id);
SET enable_seqscan = off;
-- whether the plan uses the index (18 marks the seq scan "Disabled: true")
CREATE FUNCTION pg_temp.uses_index(q text, idx text) RETURNS bool LANGUAGE plpgsql AS $f$
DECLARE l text;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
    IF l LIKE '%' || idx || '%' THEN RETURN true; END IF;
  END LOOP;
  RETURN false;
END $f$;
SELECT workload_guard.disable_index('rr_id');
SELECT pg_temp.uses_index('SELECT id FROM rr WHERE id = 5', 'rr_id');
DELETE FROM workload_guard.disabled_index_rules;
SELECT pg_temp.uses_index('SELECT id FROM rr WHERE id = 5', 'rr_id');
RESET enable_seqscan;

RESET session_replication_role;
DROP TABLE rr;
DROP EXTENSION workload_guard CASCADE;
