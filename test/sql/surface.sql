-- The extension's SQL surface as a whole: who may call what, pinned
-- search_paths, settings.  Guards against a new function or setting that
-- forgets its REVOKE, its SET search_path or its description.
CREATE EXTENSION workload_guard;

CREATE TEMP VIEW wg_functions AS
SELECT p.oid, p.oid::regprocedure AS func, p.prosecdef, p.proconfig
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                  AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'workload_guard';

-- PUBLIC may execute only readers and pure functions
SELECT func FROM wg_functions
 WHERE has_function_privilege('public', oid, 'EXECUTE')
 ORDER BY func::text;

-- management, trigger and event-trigger functions are not granted to PUBLIC
SELECT func FROM wg_functions
 WHERE NOT has_function_privilege('public', oid, 'EXECUTE')
 ORDER BY func::text;

-- every SECURITY DEFINER function pins its search_path
SELECT func FROM wg_functions
 WHERE prosecdef
   AND NOT coalesce(proconfig::text[] && ARRAY['search_path=pg_catalog, pg_temp'], false);
SELECT count(*) > 0 AS has_security_definer FROM wg_functions WHERE prosecdef;

-- PUBLIC may write no table of the extension, and read only what is meant
SELECT c.relname, c.relkind,
       has_table_privilege('public', c.oid, 'SELECT') AS public_reads
  FROM pg_class c
  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'workload_guard'
 WHERE c.relkind IN ('r', 'v')
 ORDER BY 1;
SELECT c.relname
  FROM pg_class c
 WHERE c.relnamespace = 'workload_guard'::regnamespace
   AND c.relkind IN ('r', 'v', 'S')
   AND (has_table_privilege('public', c.oid, 'INSERT')
        OR has_table_privilege('public', c.oid, 'UPDATE')
        OR has_table_privilege('public', c.oid, 'DELETE')
        OR has_table_privilege('public', c.oid, 'TRUNCATE')
        OR CASE WHEN c.relkind = 'S'
                THEN has_sequence_privilege('public', c.oid, 'USAGE') END);

-- internal trigger functions refuse to run outside their trigger
SELECT workload_guard.ddl_table_rewrite();
SELECT workload_guard.ddl_command_end();
SELECT workload_guard.config_changed();
CREATE TABLE surface_t (a int);
CREATE TRIGGER surface_row AFTER INSERT ON surface_t
  FOR EACH ROW EXECUTE FUNCTION workload_guard.config_changed();
INSERT INTO surface_t VALUES (1);
DROP TRIGGER surface_row ON surface_t;
CREATE TRIGGER surface_before BEFORE INSERT ON surface_t
  FOR EACH STATEMENT EXECUTE FUNCTION workload_guard.config_changed();
INSERT INTO surface_t VALUES (1);
DROP TABLE surface_t;

-- every trigger and event trigger of the extension fires in every
-- session_replication_role: 'A' (replica is what logical replication
-- workers and data loads use; a trigger that skips it loses a change)
SELECT t.tgname, c.relname, t.tgenabled
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relnamespace = 'workload_guard'::regnamespace AND NOT t.tgisinternal
 ORDER BY 1;
SELECT e.evtname, e.evtevent, e.evtenabled
  FROM pg_event_trigger e
  JOIN pg_depend d ON d.classid = 'pg_event_trigger'::regclass
                  AND d.objid = e.oid AND d.deptype = 'e'
  JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'workload_guard'
 ORDER BY 1;

-- settings: the README's table (default, context, unit, bounds)
SELECT name, boot_val, context, unit, min_val, max_val, enumvals
  FROM pg_settings WHERE name LIKE 'workload_guard.%' ORDER BY name;
-- short descriptions are sentences
SELECT name, short_desc FROM pg_settings
 WHERE name LIKE 'workload_guard.%'
   AND (short_desc !~ '^[A-Z]' OR short_desc !~ '\.$'
        OR coalesce(extra_desc, 'X.') !~ '^["A-Z0-9].*\.$');
-- the prefix is reserved: a misspelt setting is refused
SET workload_guard.no_such_setting = on;

DROP EXTENSION workload_guard CASCADE;
