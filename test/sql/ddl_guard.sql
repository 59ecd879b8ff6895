-- Schema-change guard: each rule's positive and negative cases, modes,
-- bypass, and where the DDL comes from.
CREATE EXTENSION workload_guard;
\set VERBOSITY terse
SELECT workload_guard.reset_ddl_rejections() >= 0 AS reset;

-- defaults: enforce everywhere except new tables
SHOW workload_guard.ddl_mode;
SHOW workload_guard.ddl_rewrite;
SHOW workload_guard.ddl_new_tables;
SHOW workload_guard.ddl_lock_timeout;

CREATE TABLE acct (id int PRIMARY KEY, v varchar(10), n int, d text);    -- ok: own PK index
INSERT INTO acct SELECT g, 'v' || g, g, 'x' FROM generate_series(1, 50) g;
CREATE TABLE other (id int PRIMARY KEY);                                 -- ok
INSERT INTO other SELECT g FROM generate_series(1, 50) g;

-- 1. rewrites: PostgreSQL's own table_rewrite decision
ALTER TABLE acct ALTER COLUMN n TYPE bigint;                             -- refused
ALTER TABLE acct ALTER COLUMN v TYPE varchar(20);                        -- ok: no rewrite
ALTER TABLE acct ALTER COLUMN v TYPE text;                               -- ok: binary compatible
ALTER TABLE acct ADD COLUMN r float8 DEFAULT random();                   -- refused: volatile default
ALTER TABLE acct ADD COLUMN c int DEFAULT 42;                            -- ok: constant default
ALTER TABLE acct ADD COLUMN s int GENERATED ALWAYS AS (id * 2) STORED;   -- refused
ALTER TABLE acct DROP COLUMN c;                                          -- ok
ALTER TABLE acct SET UNLOGGED;                                           -- refused
ALTER TABLE acct SET ACCESS METHOD heap;                                 -- ok: same method, no rewrite
CREATE ACCESS METHOD heap2 TYPE TABLE HANDLER heap_tableam_handler;      -- ok: a second table AM
ALTER TABLE acct SET ACCESS METHOD heap2;                                -- refused: access method
ALTER TABLE acct SET TABLESPACE pg_default;                              -- refused (parse tree)
VACUUM FULL acct;                                                        -- refused
VACUUM (FULL false, FULL true) acct;                                     -- refused: the last FULL wins
VACUUM (FULL true, FULL off) acct;                                       -- ok: the last FULL wins
VACUUM acct;                                                             -- ok
CLUSTER acct USING acct_pkey;                                            -- refused
CREATE MATERIALIZED VIEW mv AS SELECT id FROM acct;                      -- ok
CREATE UNIQUE INDEX mv_id ON mv (id);                                    -- refused: existing
REFRESH MATERIALIZED VIEW mv;                                            -- refused
REFRESH MATERIALIZED VIEW mv WITH NO DATA;                               -- ok: no copy

-- 2. long-lock validations
ALTER TABLE acct ADD CONSTRAINT acct_other FOREIGN KEY (n) REFERENCES other (id);          -- refused
ALTER TABLE acct ADD CONSTRAINT acct_other FOREIGN KEY (n) REFERENCES other (id) NOT VALID; -- ok
ALTER TABLE acct VALIDATE CONSTRAINT acct_other;                          -- ok
ALTER TABLE acct ADD CONSTRAINT n_pos CHECK (n > 0);                      -- refused
ALTER TABLE acct ADD CONSTRAINT n_pos CHECK (n > 0) NOT VALID;            -- ok
ALTER TABLE acct ALTER COLUMN n SET NOT NULL;                             -- refused
ALTER TABLE acct ADD CONSTRAINT d_nn CHECK (d IS NOT NULL) NOT VALID;     -- ok
ALTER TABLE acct ALTER COLUMN d SET NOT NULL;                             -- refused: not validated yet
ALTER TABLE acct VALIDATE CONSTRAINT d_nn;                                -- ok
ALTER TABLE acct ALTER COLUMN d SET NOT NULL, ALTER COLUMN n SET NOT NULL; -- refused: n unproven
ALTER TABLE acct ALTER COLUMN d SET NOT NULL;                             -- ok: proven, no scan
ALTER TABLE acct ALTER COLUMN d SET NOT NULL;                             -- ok: already NOT NULL
ALTER TABLE acct ADD COLUMN f int REFERENCES other (id);                  -- ok: a new column is NULL, nothing to check
ALTER TABLE acct ADD COLUMN g int DEFAULT 1 REFERENCES other (id);       -- refused: the default is checked
ALTER TABLE acct ADD COLUMN g int REFERENCES other (id), ADD COLUMN h int DEFAULT 0; -- refused: so does any default
ALTER TABLE acct ADD CONSTRAINT acct_v UNIQUE (v);                        -- refused: index rule

-- 3. indexes only CONCURRENTLY on existing tables
CREATE INDEX acct_v_idx ON acct (v);                                      -- refused
CREATE INDEX CONCURRENTLY acct_v_idx ON acct (v);                         -- ok
REINDEX INDEX acct_v_idx;                                                 -- refused
REINDEX (CONCURRENTLY true, CONCURRENTLY false) INDEX acct_v_idx;        -- refused: the last one wins
REINDEX (CONCURRENTLY false) INDEX CONCURRENTLY acct_v_idx;              -- ok: the keyword comes last
REINDEX INDEX CONCURRENTLY acct_v_idx;                                    -- ok
DROP INDEX acct_v_idx;                                                    -- refused
DROP INDEX IF EXISTS no_such_idx, acct_v_idx;                             -- refused: every index counts
DROP INDEX CONCURRENTLY acct_v_idx;                                       -- ok
BEGIN;
CREATE TABLE fresh (id int, v text);
CREATE INDEX fresh_v ON fresh (v);                                        -- ok: table is new
ALTER TABLE fresh ALTER COLUMN id TYPE bigint;                            -- ok: table is new
ALTER TABLE fresh ADD CONSTRAINT fresh_pos CHECK (id > 0);                -- ok: table is new
COMMIT;
CREATE INDEX ON nosuchtable (id);                                         -- PostgreSQL's own error

-- partitioned tables
CREATE TABLE meas (id int, at date) PARTITION BY RANGE (at);              -- ok
CREATE TABLE meas_2024 PARTITION OF meas FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO meas VALUES (1, '2024-06-01');
CREATE INDEX meas_id ON meas (id);                                        -- refused
CREATE INDEX meas_id ON ONLY meas (id);                                   -- ok
CREATE INDEX CONCURRENTLY meas_2024_id ON meas_2024 (id);                 -- ok
ALTER INDEX meas_id ATTACH PARTITION meas_2024_id;                        -- ok
ALTER TABLE meas ALTER COLUMN id TYPE bigint;                             -- refused (partition rewrite)
\set VERBOSITY default
DROP INDEX meas_id;                                                       -- refused: no CONCURRENTLY for it
\set VERBOSITY terse

-- 3b. scans and index rebuilds that only the catalogs show
-- an old table attached to a new parent: the exemption covers new tables only
CREATE TABLE old_part (id int, v text);
INSERT INTO old_part SELECT g, 'v' FROM generate_series(1, 10) g;
BEGIN;
CREATE TABLE newp (id int, v text) PARTITION BY RANGE (id);
ALTER TABLE newp ATTACH PARTITION old_part FOR VALUES FROM (0) TO (100);  -- refused: scans old_part
ROLLBACK;
ALTER TABLE old_part ADD CONSTRAINT old_range CHECK (id IS NOT NULL AND id >= 0 AND id < 100) NOT VALID; -- ok
ALTER TABLE old_part VALIDATE CONSTRAINT old_range;                       -- ok
BEGIN;
CREATE TABLE newp (id int, v text) PARTITION BY RANGE (id);
ALTER TABLE newp ATTACH PARTITION old_part FOR VALUES FROM (0) TO (50);   -- refused: the CHECK does not prove this bound
ROLLBACK;
BEGIN;
CREATE TABLE newp (id int, v text) PARTITION BY RANGE (id);
ALTER TABLE newp ATTACH PARTITION old_part FOR VALUES FROM (0) TO (100);  -- ok: the CHECK proves the bound
SAVEPOINT s;
CREATE INDEX newp_v ON newp (v);                                          -- refused: builds on old_part
ROLLBACK TO s;
ALTER TABLE newp ADD CONSTRAINT newp_v CHECK (v <> '');                   -- refused: scans old_part
ROLLBACK TO s;
ALTER TABLE newp ALTER COLUMN v SET NOT NULL;                             -- refused: scans old_part
ROLLBACK;
-- a new partition of a parent whose default partition holds rows
CREATE TABLE lp (id int) PARTITION BY LIST (id);
CREATE TABLE lp_def PARTITION OF lp DEFAULT;
INSERT INTO lp VALUES (5);
CREATE TABLE lp_2 (id int CHECK (id IS NOT NULL AND id = 2));
CREATE TABLE lp_1 PARTITION OF lp FOR VALUES IN (1);                      -- refused: scans lp_def
ALTER TABLE lp ATTACH PARTITION lp_2 FOR VALUES IN (2);                   -- refused: scans lp_def
ALTER TABLE lp_def ADD CONSTRAINT lp_def_rest CHECK (id <> 1 AND id <> 2) NOT VALID; -- ok
ALTER TABLE lp_def VALIDATE CONSTRAINT lp_def_rest;                       -- ok
CREATE TABLE lp_1 PARTITION OF lp FOR VALUES IN (1);                      -- ok: proven, no scan
ALTER TABLE lp ATTACH PARTITION lp_2 FOR VALUES IN (2);                   -- ok: both proven
BEGIN;
CREATE TABLE lp_3 (id int);
ALTER TABLE lp ATTACH PARTITION lp_3 FOR VALUES IN (3);                   -- refused: lp_3 is new, lp_def is not
ROLLBACK;
-- ADD PRIMARY KEY USING INDEX sets NOT NULL
CREATE TABLE pk_t (id int);
INSERT INTO pk_t VALUES (1);
CREATE UNIQUE INDEX CONCURRENTLY pk_t_id ON pk_t (id);                    -- ok
ALTER TABLE pk_t ADD PRIMARY KEY USING INDEX pk_t_id;                     -- refused: id is nullable
ALTER TABLE pk_t ADD CONSTRAINT pk_t_nn CHECK (id IS NOT NULL) NOT VALID; -- ok
ALTER TABLE pk_t VALIDATE CONSTRAINT pk_t_nn;                             -- ok
ALTER TABLE pk_t ADD PRIMARY KEY USING INDEX pk_t_id;                     -- ok: proven, no scan
-- ALTER COLUMN TYPE without a rewrite still rebuilds some indexes
CREATE DOMAIN wg_text AS text;
CREATE TABLE tchg (a text, b int, c varchar(10), d text);
INSERT INTO tchg VALUES ('a', 1, 'c', 'd');
CREATE INDEX CONCURRENTLY tchg_a ON tchg (a);
CREATE INDEX CONCURRENTLY tchg_b ON tchg (b);
CREATE INDEX CONCURRENTLY tchg_c ON tchg (c) WHERE c <> '';
CREATE INDEX CONCURRENTLY tchg_d ON tchg (d);
ALTER TABLE tchg ALTER COLUMN a TYPE text COLLATE "C";                    -- refused: the index's collation changes
ALTER TABLE tchg ALTER COLUMN b TYPE oid;                                 -- refused: another operator class
ALTER TABLE tchg ALTER COLUMN c TYPE varchar(20);                         -- refused: a partial index is always rebuilt
ALTER TABLE tchg ALTER COLUMN b TYPE bigint;                              -- refused: rewrite (the event says so)
ALTER TABLE tchg ALTER COLUMN d TYPE wg_text;                             -- ok: same operator class and collation
ALTER TABLE tchg ALTER COLUMN a TYPE varchar;                             -- ok: same operator class and collation
-- ALTER DOMAIN checks every column of the domain
CREATE DOMAIN wg_pos AS int;
CREATE DOMAIN wg_unused AS int;
CREATE TABLE dom_t (v wg_pos);
INSERT INTO dom_t VALUES (1);
ALTER DOMAIN wg_pos ADD CONSTRAINT wg_pos_pos CHECK (VALUE > 0);          -- refused: scans dom_t
ALTER DOMAIN wg_pos ADD CONSTRAINT wg_pos_pos CHECK (VALUE > 0) NOT VALID; -- ok
ALTER DOMAIN wg_pos SET NOT NULL;                                         -- refused: scans dom_t
ALTER DOMAIN wg_unused SET NOT NULL;                                      -- ok: no column uses it
-- temporary tables are private to the session, whenever they were created
CREATE TEMP TABLE tmp_later (id int, v text);
INSERT INTO tmp_later VALUES (1, 'x');
ALTER TABLE tmp_later ALTER COLUMN id TYPE bigint;                        -- ok: temporary
CREATE INDEX tmp_later_v ON tmp_later (v);                                -- ok: temporary
ALTER TABLE tmp_later ALTER COLUMN v SET NOT NULL;                        -- ok: temporary

-- 4. new tables: allowed by default, forbidden by a setting
SET workload_guard.ddl_new_tables = enforce;
CREATE TABLE nt (id int);                                                 -- refused
CREATE TABLE nt AS SELECT 1 AS x;                                         -- refused
SELECT 1 AS x INTO nt;                                                    -- refused
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) CREATE TABLE nt AS SELECT 1 AS x; -- refused
EXPLAIN (ANALYZE false, ANALYZE true, COSTS OFF, TIMING OFF, SUMMARY OFF) CREATE TABLE nt AS SELECT 1 AS x; -- refused
EXPLAIN (ANALYZE true, ANALYZE false, COSTS OFF) CREATE TABLE nt AS SELECT 1 AS x; -- ok: not run
EXPLAIN (COSTS OFF) CREATE TABLE nt AS SELECT 1 AS x;                     -- ok: not run
CREATE SCHEMA sch CREATE TABLE t1 (id int);                               -- refused
CREATE TEMP TABLE tt (id int);                                            -- ok: temporary
CREATE TABLE pg_temp.tt2 (id int);                                        -- ok: temporary
CREATE TEMP TABLE tt3 AS SELECT 1 AS x;                                   -- ok: temporary
CREATE TABLE meas_2025 PARTITION OF meas FOR VALUES FROM ('2025-01-01') TO ('2026-01-01'); -- ok: partition
ALTER TABLE meas DETACH PARTITION meas_2025;                             -- refused: a table of its own
CREATE TEMP TABLE tmp_parts (id int) PARTITION BY LIST (id);
CREATE TEMP TABLE tmp_part1 PARTITION OF tmp_parts FOR VALUES IN (1);
ALTER TABLE tmp_parts DETACH PARTITION tmp_part1;                         -- ok: stays temporary
RESET workload_guard.ddl_new_tables;
CREATE SCHEMA sch CREATE TABLE t1 (id int);                               -- ok now

-- 5. wherever the DDL comes from
DO $$ BEGIN ALTER TABLE acct ALTER COLUMN d TYPE int USING length(d); END $$; -- refused
CREATE FUNCTION mkidx() RETURNS void LANGUAGE plpgsql AS
$$ BEGIN CREATE INDEX acct_d ON acct (d); END $$;
SELECT mkidx();                                                           -- refused
CREATE FUNCTION mkidx_sql() RETURNS void LANGUAGE sql AS
$$ CREATE INDEX acct_d ON acct (d) $$;
SELECT mkidx_sql();                                                       -- refused
SELECT 1 \; CREATE INDEX acct_d ON acct (d) \; SELECT 2;                 -- refused
SET session_replication_role = replica;
ALTER TABLE acct ALTER COLUMN n TYPE bigint;                              -- still refused
RESET session_replication_role;

-- 6. modes
SET workload_guard.ddl_index = warn;
CREATE INDEX acct_d ON acct (d);                                          -- warns, runs
SET workload_guard.ddl_index = off;
DROP INDEX acct_d;                                                        -- runs silently
RESET workload_guard.ddl_index;
SET workload_guard.ddl_mode = warn;
ALTER TABLE acct ALTER COLUMN n TYPE bigint;                              -- warns, runs
SET workload_guard.ddl_mode = off;
ALTER TABLE acct ALTER COLUMN n TYPE int;                                 -- runs silently
RESET workload_guard.ddl_mode;

-- 7. bypass: superuser only, still recorded
SET workload_guard.ddl_bypass = on;
VACUUM FULL acct;                                                         -- runs
ALTER TABLE acct ALTER COLUMN n TYPE bigint;                              -- runs
RESET workload_guard.ddl_bypass;
CREATE ROLE wg_ddl_user;
SET ROLE wg_ddl_user;
SET workload_guard.ddl_bypass = on;                                       -- not allowed
SET workload_guard.ddl_mode = off;                                        -- not allowed
SET lock_timeout = '1s';                                                  -- allowed (shorter wins)
RESET lock_timeout;
RESET ROLE;

-- what the messages say, in full
\set VERBOSITY default
ALTER TABLE acct ALTER COLUMN d TYPE int USING length(d);
ALTER TABLE acct ALTER COLUMN n SET NOT NULL;
CREATE INDEX ON acct (d);
ALTER TABLE old_part ADD COLUMN w int DEFAULT 0 REFERENCES other (id);
ALTER TABLE tchg ALTER COLUMN b TYPE oid;
ALTER DOMAIN wg_pos SET NOT NULL;
CREATE TABLE lp_9 PARTITION OF lp FOR VALUES IN (9);
SET workload_guard.ddl_new_tables = warn;
CREATE TABLE nt (id int);
RESET workload_guard.ddl_new_tables;
DROP TABLE nt;
\set VERBOSITY terse

-- the classification alone, as the SQL wrapper shows it
SELECT command_tag, is_ddl, is_concurrent, rule, relation, is_temporary
FROM workload_guard.ddl_classify($$
  SELECT 1; SET x.y = 1; VACUUM t; VACUUM (FULL) t; ANALYZE t;
  CREATE INDEX i ON t (a); CREATE INDEX CONCURRENTLY i ON t (a); CREATE INDEX i ON ONLY t (a);
  REINDEX TABLE t; REINDEX (CONCURRENTLY) TABLE t; DROP INDEX s.i; DROP TABLE t;
  ALTER TABLE t ADD CONSTRAINT c FOREIGN KEY (a) REFERENCES u NOT VALID;
  ALTER TABLE t ALTER a SET NOT NULL; ALTER TABLE t SET TABLESPACE x;
  ALTER TABLE ALL IN TABLESPACE a SET TABLESPACE b; CLUSTER t;
  REFRESH MATERIALIZED VIEW CONCURRENTLY m; CREATE TEMP TABLE x (a int);
  SELECT 1 INTO y; EXPLAIN ANALYZE SELECT 1 INTO y; GRANT SELECT ON t TO PUBLIC;
  VACUUM (FULL false, FULL true) t; VACUUM (FULL 1, FULL 0) t; VACUUM (FULL on, VERBOSE) t;
  REINDEX (CONCURRENTLY true, CONCURRENTLY false) TABLE t; REINDEX (CONCURRENTLY off) TABLE CONCURRENTLY t;
  EXPLAIN (ANALYZE false, ANALYZE on) SELECT 1 INTO y; EXPLAIN (ANALYZE, ANALYZE 0) SELECT 1 INTO y;
  ALTER TABLE p ATTACH PARTITION c FOR VALUES IN (1); ALTER TABLE p DETACH PARTITION c;
  ALTER INDEX pi ATTACH PARTITION ci; ALTER DOMAIN d SET NOT NULL; ALTER DOMAIN d DROP NOT NULL;
  ALTER DOMAIN d ADD CONSTRAINT k CHECK (VALUE > 0); ALTER DOMAIN d ADD CONSTRAINT k CHECK (VALUE > 0) NOT VALID;
  ALTER TABLE t ADD PRIMARY KEY USING INDEX i; ALTER TABLE t ADD UNIQUE USING INDEX i;
  ALTER TABLE t ADD COLUMN c int REFERENCES u; ALTER TABLE t ADD COLUMN c int DEFAULT 0 REFERENCES u
$$);

-- a syntax error points into the argument, not into the calling query
\set VERBOSITY default
SELECT * FROM workload_guard.ddl_classify('VACUUM t; ALTER TABLE t ADD');
\set VERBOSITY terse

-- every refusal is on record with its rule and SQLSTATE
SELECT rule, sqlstate, command_tag, relation, count(*)
FROM workload_guard.ddl_rejections
GROUP BY 1, 2, 3, 4 ORDER BY 1, 3, 4;

DROP FUNCTION mkidx(), mkidx_sql();
DROP ROLE wg_ddl_user;
DROP SCHEMA sch CASCADE;
DROP TABLE acct, other, fresh, meas, tt, tt2, tt3, old_part, lp, pk_t, tchg, dom_t, tmp_later CASCADE;
DROP DOMAIN wg_text, wg_pos, wg_unused;
DROP ACCESS METHOD heap2;
DROP EXTENSION workload_guard CASCADE;
