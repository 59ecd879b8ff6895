-- DDL history: one row per schema change that ran, in its transaction;
-- DDL timeouts restored exactly; failures on record; who may read/write.
CREATE EXTENSION workload_guard;
\set VERBOSITY terse
TRUNCATE workload_guard.ddl_history;
SELECT workload_guard.reset_ddl_rejections() >= 0 AS reset;
SET application_name = 'wg_history_test';

CREATE TABLE h (id int PRIMARY KEY, v text);
-- a multi-statement string: each DDL gets its own slice
SELECT 1 \; ALTER TABLE h ADD COLUMN w int \; COMMENT ON TABLE h IS 'x' \; SELECT 2;
DO $$ BEGIN EXECUTE 'CREATE VIEW hv AS SELECT id FROM h'; END $$;
BEGIN;
ALTER TABLE h ADD COLUMN gone int;
ROLLBACK;                                 -- leaves no row
CREATE SCHEMA hs CREATE TABLE ht (id serial);
SET workload_guard.ddl_rewrite = warn;
ALTER TABLE h ALTER COLUMN w TYPE bigint;
RESET workload_guard.ddl_rewrite;
SET workload_guard.ddl_bypass = on;
VACUUM FULL h;
RESET workload_guard.ddl_bypass;
ALTER TABLE h ALTER COLUMN w TYPE int;    -- refused: no row
DROP VIEW hv;                             -- objects from sql_drop

SELECT command_tag, statement, top_level, object_types, object_identities,
       rewrote, rewrite_reason, rules, bypassed
FROM workload_guard.ddl_history ORDER BY id;

SELECT count(*) = count(*) FILTER (WHERE duration_ms >= 0 AND lock_wait_ms >= 0
         AND lock_wait_ms <= duration_ms AND session_role = session_user
         AND effective_role = current_user AND database_name = current_database()
         AND application_name = 'wg_history_test' AND backend_pid = pg_backend_pid()
         AND started_at <= now() + interval '1 minute') AS all_consistent
FROM workload_guard.ddl_history;

-- caller's timeouts intact: value and source, after success and after errors
SET lock_timeout = '7s';
SHOW lock_timeout;
ALTER TABLE h ADD COLUMN t1 int;
SHOW lock_timeout;
ALTER TABLE h ALTER COLUMN t1 TYPE text;  -- refused by the rewrite event
SHOW lock_timeout;
RESET lock_timeout;
DO $$
BEGIN
  BEGIN
    ALTER TABLE h ALTER COLUMN t1 TYPE text;
  EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'caught: %, lock_timeout is %', SQLSTATE, current_setting('lock_timeout');
  END;
  BEGIN
    ALTER TABLE h ADD COLUMN id int;     -- duplicate column
  EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'caught: %, lock_timeout is %', SQLSTATE, current_setting('lock_timeout');
  END;
END $$;
SELECT setting, source FROM pg_settings WHERE name IN ('lock_timeout', 'statement_timeout');
-- our lock timeout is what the DDL runs with, the shorter caller's wins
CREATE FUNCTION seen_lock_timeout() RETURNS event_trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE NOTICE 'DDL runs with lock_timeout %', current_setting('lock_timeout'); END $$;
CREATE EVENT TRIGGER seen ON ddl_command_start EXECUTE FUNCTION seen_lock_timeout();
SET workload_guard.ddl_lock_timeout = '3s';
ALTER TABLE h ADD COLUMN t2 int;
SET lock_timeout = '1s';
ALTER TABLE h ADD COLUMN t3 int;
SHOW lock_timeout;
RESET lock_timeout;
RESET workload_guard.ddl_lock_timeout;
DROP EVENT TRIGGER seen;
DROP FUNCTION seen_lock_timeout();

-- the DDL statement timeout really fires (a timer of our own: changing
-- statement_timeout mid-statement would not arm anything)
SET workload_guard.ddl_statement_timeout = '200ms';
CREATE TABLE slow AS SELECT 1 AS x FROM pg_sleep(30);
SHOW statement_timeout;
RESET workload_guard.ddl_statement_timeout;
-- a shorter caller statement_timeout wins, and is reported as such
SET workload_guard.ddl_statement_timeout = '60s';
SET statement_timeout = '200ms';
CREATE TABLE slow AS SELECT 1 AS x FROM pg_sleep(30);
RESET statement_timeout;
RESET workload_guard.ddl_statement_timeout;
SELECT rule, sqlstate, command_tag, message FROM workload_guard.ddl_rejections
WHERE rule LIKE '%timeout' ORDER BY rejected_at;
-- a failure caught inside the statement does not hide the statement's own
CREATE FUNCTION add_dup_then_sleep() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    ALTER TABLE h ADD COLUMN id int;     -- duplicate column, caught
  EXCEPTION WHEN duplicate_column THEN NULL;
  END;
  PERFORM pg_sleep(30);
  RETURN 1;
END $$;
SET workload_guard.ddl_statement_timeout = '200ms';
CREATE TABLE slow AS SELECT add_dup_then_sleep() AS x;
RESET workload_guard.ddl_statement_timeout;
SELECT rule, sqlstate, statement FROM workload_guard.ddl_rejections
WHERE statement LIKE '%add_dup_then_sleep%'
ORDER BY rejected_at;
DROP FUNCTION add_dup_then_sleep();

-- the DDL and its history row commit together or not at all: a
-- statement_timeout firing during the insert (a slow trigger here; a lock on
-- the table does the same) rolls both back, every time; any other failure
-- to record fails the DDL too
CREATE FUNCTION slow_history() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN
  IF NEW.statement LIKE '%unrecorded_fail%' THEN RAISE EXCEPTION 'history is full'; END IF;
  PERFORM pg_catalog.pg_sleep(30); RETURN NEW;
END $$;
CREATE TRIGGER slow_history BEFORE INSERT ON workload_guard.ddl_history
  FOR EACH ROW WHEN (NEW.command_tag = 'CREATE TABLE') EXECUTE FUNCTION slow_history();
SET statement_timeout = '200ms';
CREATE TABLE unrecorded1 (id int);        -- canceled during the insert
CREATE TABLE unrecorded2 (id int);        -- again, not silently
RESET statement_timeout;
CREATE TABLE unrecorded_fail (id int);    -- the insert fails: so does the DDL
SELECT to_regclass('unrecorded1') AS t1, to_regclass('unrecorded2') AS t2,
       to_regclass('unrecorded_fail') AS t3;
SELECT count(*) FROM workload_guard.ddl_history WHERE statement LIKE '%unrecorded%';
SELECT rule, sqlstate, statement FROM workload_guard.ddl_rejections
WHERE statement LIKE '%unrecorded%' ORDER BY rejected_at;
DROP TRIGGER slow_history ON workload_guard.ddl_history;
DROP FUNCTION slow_history();

-- CONCURRENTLY gets no DDL timeouts; a failed one never leaves an invalid
-- index silently
INSERT INTO h (id, v) VALUES (1, 'dup'), (2, 'dup');
\set VERBOSITY default
CREATE UNIQUE INDEX CONCURRENTLY h_v ON h (v);
\set VERBOSITY terse
SELECT indexrelid::regclass, indisvalid FROM pg_index WHERE indrelid = 'h'::regclass AND NOT indisvalid;
SELECT rule, sqlstate, statement FROM workload_guard.ddl_rejections WHERE rule = 'concurrently_failed';
DROP INDEX CONCURRENTLY h_v;

-- one role cannot push another's rejections out of the ring: when it is
-- full, the oldest entry of the role with the most entries is replaced
SELECT workload_guard.reset_ddl_rejections() >= 0 AS reset;
CREATE ROLE wg_victim;
CREATE ROLE wg_flooder;
GRANT CREATE ON SCHEMA public TO wg_victim, wg_flooder;
SET ROLE wg_victim;
CREATE TABLE victim_t (id int);
ALTER TABLE victim_t ALTER COLUMN id TYPE bigint;   -- refused: on record
RESET ROLE;
ALTER TABLE h ALTER COLUMN w TYPE numeric;          -- refused: the superuser's
SET ROLE wg_flooder;
CREATE TABLE flood_t (id int);
DO $$ BEGIN FOR i IN 1..300 LOOP
  BEGIN ALTER TABLE flood_t ALTER COLUMN id TYPE bigint; EXCEPTION WHEN OTHERS THEN NULL; END;
END LOOP; END $$;
RESET ROLE;
SELECT CASE WHEN role_name = current_user THEN 'superuser' ELSE role_name END AS role, count(*)
FROM workload_guard.ddl_rejections GROUP BY 1 ORDER BY 1;
SET ROLE wg_victim;
ALTER TABLE victim_t ALTER COLUMN id TYPE bigint;   -- replaces a flooder's entry
RESET ROLE;
SELECT CASE WHEN role_name = current_user THEN 'superuser' ELSE role_name END AS role, count(*)
FROM workload_guard.ddl_rejections GROUP BY 1 ORDER BY 1;
-- entries are read in the order they were written
SELECT bool_and(ok) AS in_order FROM (
  SELECT rejected_at >= lag(rejected_at, 1, '-infinity') OVER () AS ok
  FROM workload_guard.ddl_rejections) s;
DROP TABLE victim_t, flood_t;
REVOKE CREATE ON SCHEMA public FROM wg_victim, wg_flooder;
DROP ROLE wg_victim, wg_flooder;

-- ordinary roles read, cannot write or forge
CREATE ROLE wg_reader;
SET ROLE wg_reader;
SELECT count(*) > 0 AS can_read FROM workload_guard.ddl_history;
SELECT count(*) > 0 AS can_read FROM workload_guard.ddl_rejections;
INSERT INTO workload_guard.ddl_history (started_at, duration_ms, lock_wait_ms, session_role,
  effective_role, database_name, backend_pid, command_tag, object_types, object_identities,
  statement, top_level, rewrote, rules, bypassed)
VALUES (now(), 0, 0, 'x', 'x', 'x', 0, 'x', '{}', '{}', 'x', true, false, '{}', false);
UPDATE workload_guard.ddl_history SET statement = 'forged';
DELETE FROM workload_guard.ddl_history;
SELECT workload_guard.trim_ddl_history('0 days');
SELECT workload_guard.reset_ddl_rejections();
RESET ROLE;
DROP ROLE wg_reader;

-- the history row is written as the table's owner: the DDL author's
-- search_path must not reach its function calls
CREATE ROLE wg_author;
CREATE SCHEMA wg_author AUTHORIZATION wg_author;
SET ROLE wg_author;
SET search_path = wg_author, pg_catalog;
CREATE FUNCTION wg_author.pg_backend_pid() RETURNS int LANGUAGE sql
  AS $$ ALTER ROLE wg_author SUPERUSER; SELECT 42 $$;
CREATE TABLE wg_author.t (a int);
RESET search_path;
RESET ROLE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'wg_author';
SELECT backend_pid = pg_backend_pid() AS real_pid FROM workload_guard.ddl_history
WHERE statement = 'CREATE TABLE wg_author.t (a int)';
DROP SCHEMA wg_author CASCADE;
DROP ROLE wg_author;

-- everyone reads the history: passwords are not recorded
SELECT max(id) AS before_pw FROM workload_guard.ddl_history \gset
CREATE ROLE wg_pw PASSWORD 'sekrit1';
ALTER ROLE wg_pw PASSWORD 'sekrit2';
ALTER ROLE wg_pw CONNECTION LIMIT 3;
SELECT command_tag, statement FROM workload_guard.ddl_history
WHERE id > :before_pw ORDER BY id;
DROP ROLE wg_pw;

-- retention
SELECT workload_guard.trim_ddl_history('-1 day');
-- runs as the caller: a now() of the caller's search_path is not used
CREATE SCHEMA wg_evil;
CREATE FUNCTION wg_evil.now() RETURNS timestamptz LANGUAGE sql
  AS $$ SELECT 'infinity'::timestamptz $$;
SET search_path = wg_evil, pg_catalog;
SELECT workload_guard.trim_ddl_history('1 day');
RESET search_path;
DROP SCHEMA wg_evil CASCADE;
SELECT workload_guard.trim_ddl_history('1 day');
SELECT workload_guard.trim_ddl_history('0 days') > 0 AS trimmed;
SELECT count(*) FROM workload_guard.ddl_history;
SHOW workload_guard.ddl_history_retention;

DROP SCHEMA hs CASCADE;
DROP TABLE h CASCADE;
DROP EXTENSION workload_guard CASCADE;
