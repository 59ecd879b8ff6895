-- Soft-disabled indexes: hidden from every kind of plan, still maintained,
-- cached plans replanned, constraints refused unless forced, partitions,
-- DROP / REINDEX CONCURRENTLY, the session override and bad input.
CREATE EXTENSION workload_guard;
SET search_path = public, workload_guard;
-- plain CREATE/DROP INDEX below: the DDL guard's index rule is not under test
SET workload_guard.ddl_index = off;

CREATE TABLE ih (id int, val int, code int, pad text);
INSERT INTO ih SELECT g, g % 100, g, repeat('x', 50) FROM generate_series(1, 10000) g;
CREATE INDEX ih_val_idx ON ih (val);
CREATE UNIQUE INDEX ih_code_key ON ih (code);
CREATE TABLE ih_small (x int);
INSERT INTO ih_small VALUES (1), (2), (3);
VACUUM ANALYZE ih;
VACUUM ANALYZE ih_small;

-- the plan as EXPLAIN (COSTS OFF) shows it, less what PostgreSQL versions
-- print differently around the same plan: "Disabled: true" on nodes an
-- enable_* setting disallows (18), InitPlan labels ("InitPlan 1 (returns
-- $0)" up to 16, "InitPlan minmax_1" and "Replaces: MinMaxAggregate" in 19)
CREATE FUNCTION plan(q text) RETURNS SETOF text LANGUAGE plpgsql AS $f$
DECLARE l text;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
    CONTINUE WHEN l ~ '^\s*(Disabled: true|Replaces: )';
    RETURN NEXT regexp_replace(l, '^(\s*InitPlan) \S+( \(returns \$\d+\))?$', '\1');
  END LOOP;
END $f$;

-- every plan below would use ih_val_idx if it could
SET enable_seqscan = off;
SET max_parallel_workers_per_gather = 0;
PREPARE q_generic(int) AS SELECT id FROM ih WHERE val = $1;
SET plan_cache_mode = force_generic_plan;
-- a PL/pgSQL body caches its plan on first call
CREATE FUNCTION ih_count(v int) RETURNS bigint LANGUAGE plpgsql AS
$$ BEGIN RETURN (SELECT count(*) FROM ih WHERE val = v AND pad IS NOT NULL); END $$;
SELECT ih_count(5);
SELECT pg_stat_force_next_flush();	-- the baseline taken at disable includes it

-- before: the index is used
SELECT plan($$SELECT * FROM ih WHERE val = 5$$);
SELECT plan($$SELECT val FROM ih WHERE val < 3$$);
SELECT plan($$SELECT * FROM ih ORDER BY val LIMIT 3$$);
SELECT plan($$SELECT max(val) FROM ih$$);
SELECT plan($$EXECUTE q_generic(5)$$);

SELECT disable_index('ih_val_idx', reason => 'rehearse the drop');
SELECT index, "table", index_name, disabled_by, reason, forced, scans_since_disabled
  FROM disabled_indexes;

-- after: never chosen, whatever the plan shape
SELECT plan($$SELECT * FROM ih WHERE val = 5$$);				-- index / bitmap
SELECT plan($$SELECT val FROM ih WHERE val < 3$$);			-- index only
SELECT plan($$SELECT * FROM ih ORDER BY val LIMIT 3$$);		-- ordered
SELECT plan($$SELECT max(val) FROM ih$$);					-- MIN/MAX
SELECT plan($$EXECUTE q_generic(5)$$);						-- cached generic plan
SET enable_hashjoin = off;
SET enable_mergejoin = off;
SET enable_material = off;
SELECT plan($$SELECT * FROM ih_small s JOIN ih ON ih.val = s.x$$);	-- inner of a nested loop
SET workload_guard.ignore_disabled_indexes = on;				-- this session only
SELECT plan($$SELECT * FROM ih_small s JOIN ih ON ih.val = s.x$$);
RESET workload_guard.ignore_disabled_indexes;
RESET enable_hashjoin;
RESET enable_mergejoin;
RESET enable_material;
SET enable_indexscan = off;
SELECT plan($$SELECT * FROM ih WHERE val IN (5, 7)$$);		-- bitmap
SET workload_guard.ignore_disabled_indexes = on;
SELECT plan($$SELECT * FROM ih WHERE val IN (5, 7)$$);
RESET workload_guard.ignore_disabled_indexes;
RESET enable_indexscan;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET min_parallel_index_scan_size = 0;
-- (18 plans a parallel seq scan here where 15 plans a serial one: only
-- whether the index is used is the same everywhere)
SELECT bool_or(p LIKE '%ih_val_idx%') AS uses_index
  FROM plan('SELECT count(*) FROM ih WHERE val < 50') p;		-- parallel
SET workload_guard.ignore_disabled_indexes = on;
SELECT plan($$SELECT count(*) FROM ih WHERE val < 50$$);
RESET workload_guard.ignore_disabled_indexes;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET min_parallel_index_scan_size;
SET max_parallel_workers_per_gather = 0;

-- the cached PL/pgSQL plan was replanned too: the index sees no scan
SELECT ih_count(5), ih_count(6);
SELECT pg_stat_force_next_flush();
SELECT index, scans_since_disabled FROM disabled_indexes;

-- still maintained: after enabling, the index finds rows inserted meanwhile
INSERT INTO ih VALUES (10001, 4242, 10001, 'new');
SELECT disable_index('ih_val_idx');								-- already disabled: false
SELECT enable_index('ih_val_idx');
SELECT enable_index('ih_val_idx');								-- not disabled: false
SELECT plan($$SELECT id FROM ih WHERE val = 4242$$);
SELECT id FROM ih WHERE val = 4242;
SELECT plan($$EXECUTE q_generic(5)$$);

-- transactional: a rolled-back disable never took effect
BEGIN;
SELECT disable_index('ih_val_idx');
SELECT plan($$SELECT id FROM ih WHERE val = 5$$);
ROLLBACK;
SELECT plan($$SELECT id FROM ih WHERE val = 5$$);
SELECT count(*) FROM disabled_indexes;

-- a unique index keeps enforcing uniqueness and arbitrating ON CONFLICT
SELECT disable_index('ih_code_key');
INSERT INTO ih VALUES (0, 0, 7, 'dup');
INSERT INTO ih VALUES (0, 0, 7, 'dup') ON CONFLICT (code) DO NOTHING;
SELECT plan($$INSERT INTO ih VALUES (0, 0, 7, 'dup')
    ON CONFLICT (code) DO UPDATE SET pad = 'updated'$$);
INSERT INTO ih VALUES (0, 0, 7, 'dup') ON CONFLICT (code) DO UPDATE SET pad = 'updated';
SELECT id, pad FROM ih WHERE code = 7;
SELECT plan($$SELECT * FROM ih WHERE code = 7$$);

-- planner proofs: a disabled unique index proves nothing, as if dropped
-- (left-join removal needs it)
CREATE TABLE ih_ref (code int, note text);
SELECT plan($$SELECT r.note FROM ih_ref r LEFT JOIN ih ON ih.code = r.code$$);
SELECT enable_index('ih_code_key');
SELECT plan($$SELECT r.note FROM ih_ref r LEFT JOIN ih ON ih.code = r.code$$);

-- indexes behind constraints are refused unless forced
CREATE TABLE ih_parent (id int PRIMARY KEY, u int UNIQUE, k int,
                        e int, EXCLUDE USING btree (e WITH =));
CREATE UNIQUE INDEX ih_parent_k_key ON ih_parent (k);
CREATE TABLE ih_child (k int REFERENCES ih_parent (k));
SELECT disable_index('ih_parent_pkey');
SELECT disable_index('ih_parent_u_key');
SELECT disable_index('ih_parent_e_excl');
SELECT disable_index('ih_parent_k_key');
SELECT count(*) FROM disabled_indexes;
SELECT disable_index('ih_parent_k_key', 'incident 42', force => true);
SELECT index, reason, forced FROM disabled_indexes;
INSERT INTO ih_parent VALUES (1, 1, 1, 1);
INSERT INTO ih_child VALUES (1);								-- FK check still works
INSERT INTO ih_child VALUES (2);

-- DROP INDEX and DROP TABLE remove the rule
DROP INDEX ih_parent_k_key CASCADE;
SELECT count(*) FROM disabled_indexes;
CREATE INDEX ih_small_x_idx ON ih_small (x);
SELECT disable_index('ih_small_x_idx');
DROP TABLE ih_small;
SELECT count(*) FROM disabled_index_rules;
CREATE INDEX ih_pad_idx ON ih (pad);
SELECT disable_index('ih_pad_idx');
DROP INDEX CONCURRENTLY ih_pad_idx;
SELECT count(*) FROM disabled_index_rules;

-- REINDEX CONCURRENTLY gives the index a new OID and keeps the rule
SELECT disable_index('ih_val_idx');
SELECT 'ih_val_idx'::regclass::oid AS old_oid \gset
REINDEX INDEX CONCURRENTLY ih_val_idx;
SELECT 'ih_val_idx'::regclass::oid <> :old_oid AS new_oid,
       index, index_name FROM disabled_indexes;
SELECT plan($$SELECT id FROM ih WHERE val = 5$$);
REINDEX TABLE CONCURRENTLY ih;
SELECT index FROM disabled_indexes;
-- options are read as REINDEX reads them: the last CONCURRENTLY wins
REINDEX (CONCURRENTLY false, CONCURRENTLY true) INDEX ih_val_idx;
SELECT index FROM disabled_indexes;
SELECT plan($$SELECT id FROM ih WHERE val = 5$$);
SELECT enable_index('ih_val_idx');

-- ALTER COLUMN ... TYPE recreates the indexes on the column under new OIDs,
-- even without a rewrite: the rule follows
CREATE TABLE iht (v varchar(10));
INSERT INTO iht SELECT 'v' || g FROM generate_series(1, 10000) g;
CREATE INDEX iht_v_idx ON iht (v);
ANALYZE iht;
SELECT disable_index('iht_v_idx');
SELECT 'iht_v_idx'::regclass::oid AS old_oid \gset
ALTER TABLE iht ALTER COLUMN v TYPE varchar(20);
SELECT 'iht_v_idx'::regclass::oid <> :old_oid AS new_oid,
       index, index_name FROM disabled_indexes;
SELECT plan($$SELECT * FROM iht WHERE v = 'v5'$$);
SELECT enable_index('iht_v_idx');
DROP TABLE iht;

-- partitioned index: every partition's index, including later partitions
CREATE TABLE ihp (a int, b int) PARTITION BY RANGE (a);
CREATE TABLE ihp1 PARTITION OF ihp FOR VALUES FROM (0) TO (1000);
CREATE TABLE ihp2 PARTITION OF ihp FOR VALUES FROM (1000) TO (2000)
    PARTITION BY RANGE (a);
CREATE TABLE ihp21 PARTITION OF ihp2 FOR VALUES FROM (1000) TO (2000);
CREATE INDEX ihp_b_idx ON ihp (b);
INSERT INTO ihp SELECT g, g FROM generate_series(0, 1999) g;
ANALYZE ihp;
SELECT plan($$SELECT * FROM ihp WHERE b = 5$$);
SELECT disable_index('ihp_b_idx');
SELECT plan($$SELECT * FROM ihp WHERE b = 5$$);
SELECT plan($$SELECT * FROM ihp21 WHERE b = 5$$);
ALTER TABLE ihp ALTER COLUMN b TYPE int;    -- recreates the partitioned index
ANALYZE ihp;
SELECT index FROM disabled_indexes;
SELECT plan($$SELECT * FROM ihp21 WHERE b = 5$$);
CREATE TABLE ihp3 PARTITION OF ihp FOR VALUES FROM (2000) TO (3000);
BEGIN;                                      -- new: ATTACH scans nothing others see
CREATE TABLE ihp22 (a int, b int);
CREATE INDEX ihp22_b_idx ON ihp22 (b);
ALTER TABLE ihp2 ATTACH PARTITION ihp22 FOR VALUES FROM (2000) TO (3000);
COMMIT;
SELECT plan($$SELECT * FROM ihp WHERE b = 5$$);
SELECT plan($$SELECT * FROM ihp22 WHERE b = 5$$);
SELECT enable_index('ihp21_b_idx');
ALTER TABLE ihp2 DETACH PARTITION ihp22;
SELECT plan($$SELECT * FROM ihp22 WHERE b = 5$$);
SELECT index, "table", scans_since_disabled FROM disabled_indexes;
SELECT enable_index('ihp_b_idx');
SELECT plan($$SELECT * FROM ihp WHERE b = 5$$);

-- bad input: clear errors, nothing changed
\set VERBOSITY terse
SELECT disable_index(NULL);
SELECT disable_index('ih_val_idx', force => NULL);
SELECT disable_index('ih_val_idx', repeat('x', 1001));
SELECT enable_index(NULL);
SELECT disable_index('ih');
SELECT enable_index('ih');
SELECT disable_index('no_such_index');
SELECT disable_index(1::regclass);
SELECT disable_index('pg_class_oid_index');
SELECT disable_index('pg_toast.pg_toast_1262_index');
CREATE TEMP TABLE ih_temp (x int);
CREATE INDEX ih_temp_idx ON ih_temp (x);
SELECT disable_index('ih_temp_idx');
\set VERBOSITY default

-- privileges: revoked from PUBLIC, granted explicitly
CREATE ROLE regress_ih_operator;
SET ROLE regress_ih_operator;
SELECT disable_index('ih_val_idx');
SELECT enable_index('ih_val_idx');
SELECT * FROM disabled_index_rules;
SELECT count(*) FROM disabled_indexes;
RESET ROLE;
GRANT EXECUTE ON FUNCTION disable_index(regclass, text, boolean),
                          enable_index(regclass) TO regress_ih_operator;
SET ROLE regress_ih_operator;
SELECT disable_index('ih_val_idx', 'by the operator');
SELECT index, disabled_by, reason FROM disabled_indexes;
SELECT enable_index('ih_val_idx');
RESET ROLE;
SELECT count(*) FROM disabled_indexes;

-- REINDEX CONCURRENTLY by a table owner reads the rules as their owner:
-- an operator of the reindexer's search_path must not run there
SELECT disable_index('ih_val_idx');
CREATE ROLE regress_ih_owner;
CREATE SCHEMA regress_ih_owner AUTHORIZATION regress_ih_owner;
SET ROLE regress_ih_owner;
SET search_path = regress_ih_owner, pg_catalog;
CREATE TABLE regress_ih_owner.t (a int);
CREATE INDEX t_a ON regress_ih_owner.t (a);
CREATE FUNCTION regress_ih_owner.oideq(oid, oid) RETURNS boolean
  LANGUAGE plpgsql AS $$
BEGIN
  ALTER ROLE regress_ih_owner SUPERUSER;
  RETURN $1 OPERATOR(pg_catalog.=) $2;
END $$;
CREATE OPERATOR regress_ih_owner.= (LEFTARG = oid, RIGHTARG = oid,
                                    FUNCTION = regress_ih_owner.oideq);
REINDEX INDEX CONCURRENTLY regress_ih_owner.t_a;
RESET ROLE;
SET search_path = public, workload_guard;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_ih_owner';
SELECT enable_index('ih_val_idx');
DROP SCHEMA regress_ih_owner CASCADE;
DROP ROLE regress_ih_owner;

DROP FUNCTION ih_count(int);
DROP TABLE ih, ih_ref, ih_child, ih_parent, ihp, ihp22, ih_temp;
DROP EXTENSION workload_guard CASCADE;
DROP ROLE regress_ih_operator;
