-- No secret reaches statement_latency.query (nor ddl_history): passwords of
-- roles, user mappings, servers and subscriptions, ALTER SYSTEM and custom
-- settings, DO bodies, arguments of CALL and EXPLAIN, and literals of
-- failing statements whose text was never normalized (secrets.c).  Every
-- secret below contains "sekret"; the last queries check none is kept.
CREATE EXTENSION workload_guard;
SET workload_guard.track = 'top';
SELECT workload_guard.reset_latency() >= 0 AS reset;
\set VERBOSITY terse

CREATE ROLE regress_wg_sec1 PASSWORD 'sekret01';
ALTER ROLE regress_wg_sec1 PASSWORD 'sekret02';
CREATE USER regress_wg_sec2 WITH ENCRYPTED PASSWORD 'sekret03';
ALTER USER regress_wg_sec2 WITH PASSWORD 'sekret04' VALID UNTIL 'infinity';
-- failing role statements
CREATE ROLE regress_wg_sec1 PASSWORD 'sekret05';
ALTER ROLE regress_wg_nosuch PASSWORD 'sekret06';
-- a role statement without a password keeps its text
ALTER ROLE regress_wg_sec1 NOLOGIN;

-- foreign servers and user mappings, failing ones included
CREATE USER MAPPING FOR regress_wg_sec1 SERVER regress_wg_nosuch OPTIONS (password 'sekret07');
CREATE FOREIGN DATA WRAPPER regress_wg_fdw OPTIONS (token 'sekret08');
CREATE SERVER regress_wg_srv FOREIGN DATA WRAPPER regress_wg_fdw OPTIONS (password 'sekret09');
ALTER SERVER regress_wg_srv OPTIONS (SET password 'sekret10');
CREATE USER MAPPING FOR regress_wg_sec1 SERVER regress_wg_srv OPTIONS (user 'u', password 'sekret11');
ALTER USER MAPPING FOR regress_wg_sec1 SERVER regress_wg_srv OPTIONS (SET password 'sekret12');
CREATE USER MAPPING FOR regress_wg_sec1 SERVER regress_wg_srv OPTIONS (password 'sekret13');

-- subscriptions: the conninfo
SET client_min_messages = error;	-- (17 words its "not connected" warning differently)
CREATE SUBSCRIPTION regress_wg_sub CONNECTION 'host=/nonexistent password=sekret14'
  PUBLICATION p WITH (connect = false);
RESET client_min_messages;
ALTER SUBSCRIPTION regress_wg_sub CONNECTION 'host=/nonexistent password=sekret15';
ALTER SUBSCRIPTION regress_wg_sub SET (slot_name = NONE);
DROP SUBSCRIPTION regress_wg_sub;

-- settings that may hold secrets
ALTER SYSTEM SET primary_conninfo = 'password=sekret16';
ALTER SYSTEM RESET primary_conninfo;
SET regress_wg.api_key = 'sekret17';
ALTER ROLE regress_wg_sec1 SET regress_wg.api_key = 'sekret18';
-- an ordinary SET keeps its text
SET work_mem = '4MB';
RESET work_mem;

-- code and arguments
DO $$BEGIN PERFORM 'sekret19'; END$$;
CREATE PROCEDURE regress_wg_proc(x text) LANGUAGE plpgsql AS $$BEGIN END$$;
CALL regress_wg_proc('sekret20');
EXPLAIN (COSTS OFF) SELECT 'sekret21' AS c;
COPY (SELECT 'sekret22') TO STDOUT;

-- failing plannable statements: planning (constant folding) and execution
SELECT 1 / 0, 'sekret23' AS c;
SELECT CASE WHEN x > 0 THEN 1 / (x - x) END, 'sekret24' AS c FROM (VALUES (1)) v(x);
-- a successful one is normalized
SELECT 'sekret25' AS c;
-- every literal form, in a failing statement (normalized without the
-- scanner): dollar quotes, escapes, prefixes, signs, exponents, keywords
SELECT 1 / 0, $$sekret27$$, $q$sek'ret28$q$, E'sek\'ret29', 'sek''ret30', U&'sekret31',
       B'101', X'ff', - 5, 1.5e-3, .5, TRUE, NULL, 'sekret32'::text AS lit;
-- string continuation across lines: the second part is cut, never kept
SELECT 1 / 0, 2, 'sekret33'
  'sekret34' AS cont;

-- nested statements (track = all): the EXECUTE'd text of a DO block
SET workload_guard.track = 'all';
DO $$BEGIN EXECUTE 'ALTER ROLE regress_wg_sec1 PASSWORD ''sekret26'''; END$$;
SET workload_guard.track = 'top';

-- the check: no secret anywhere
SELECT count(*) AS secrets_kept FROM workload_guard.statement_latency WHERE query ~ 'sekret';
SELECT query, calls, errors FROM workload_guard.statement_latency
WHERE query ~ 'REDACTED|regress_wg| AS c( |$)| AS (lit|cont)$'
ORDER BY query COLLATE "C", errors;
-- harmless settings are kept (as written up to 17, with $n from 18, whose
-- jumbling treats a SET's value as a constant)
SELECT count(*) AS harmless_sets_kept FROM workload_guard.statement_latency
WHERE query ~ '^(SET|RESET) work_mem';
SELECT count(*) AS secrets_in_history FROM workload_guard.ddl_history WHERE statement ~ 'sekret';
SELECT count(*) AS secrets_in_rejections FROM workload_guard.ddl_rejections WHERE statement ~ 'sekret';

DROP PROCEDURE regress_wg_proc(text);
DROP USER MAPPING FOR regress_wg_sec1 SERVER regress_wg_srv;
DROP SERVER regress_wg_srv;
DROP FOREIGN DATA WRAPPER regress_wg_fdw;
ALTER ROLE regress_wg_sec1 RESET ALL;
DROP ROLE regress_wg_sec1;
DROP ROLE regress_wg_sec2;
DROP EXTENSION workload_guard;
