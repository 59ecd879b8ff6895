-- Every statement workload_guard runs as the owner of one of its tables
-- runs in one context, whichever file runs it: as the table's owner, in a
-- security-restricted operation, with search_path pinned to
-- "pg_catalog, pg_temp" (src/ext_objects.c, wg_run_as_owner).  A probe
-- trigger on each table reports the context of the statement that fired it.
CREATE EXTENSION workload_guard;
SET workload_guard.ddl_index = off;
CREATE ROLE regress_oc_operator;
GRANT EXECUTE ON FUNCTION workload_guard.block_digest(bigint, text, interval, regrole, name, boolean, text),
                          workload_guard.disable_index(regclass, text, boolean)
   TO regress_oc_operator;

CREATE TABLE public.owner_probe (via text, as_owner boolean, search_path text,
                                 restricted boolean);
GRANT ALL ON public.owner_probe TO PUBLIC;
CREATE FUNCTION public.owner_probe() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  restricted boolean := false;
BEGIN
  BEGIN
    -- refused only within a security-restricted operation
    EXECUTE 'LISTEN regress_owner_probe';
    EXECUTE 'UNLISTEN regress_owner_probe';
  EXCEPTION WHEN insufficient_privilege THEN
    restricted := true;
  END;
  INSERT INTO public.owner_probe VALUES (
    TG_TABLE_NAME || ' ' || lower(TG_OP),
    current_user = (SELECT c.relowner::regrole::name FROM pg_catalog.pg_class c
                     WHERE c.oid = TG_RELID),
    current_setting('search_path'), restricted);
  RETURN NULL;
END $$;
CREATE TRIGGER probe AFTER INSERT OR UPDATE ON workload_guard.digest_rules
  FOR EACH ROW EXECUTE FUNCTION public.owner_probe();
CREATE TRIGGER probe AFTER INSERT OR UPDATE OR DELETE ON workload_guard.disabled_index_rules
  FOR EACH ROW EXECUTE FUNCTION public.owner_probe();
CREATE TRIGGER probe AFTER INSERT ON workload_guard.ddl_history
  FOR EACH ROW EXECUTE FUNCTION public.owner_probe();

CREATE TABLE oc_t (a int);
CREATE INDEX oc_t_a ON oc_t (a);
ALTER TABLE oc_t OWNER TO regress_oc_operator;
SET search_path = public, pg_catalog;

-- digest_rules.c: a rule written by an operator
SET ROLE regress_oc_operator;
SELECT workload_guard.block_digest(4242, 'owner context');
-- index_hide.c: a disabled index, by the operator
SELECT workload_guard.disable_index('oc_t_a');
RESET ROLE;
-- index_hide.c: the rule carried over REINDEX CONCURRENTLY
REINDEX INDEX CONCURRENTLY oc_t_a;
-- index_hide.c: the rule of a dropped index (sql_drop event trigger)
DROP INDEX oc_t_a;
-- ddl_history.c: the history row of a DDL (also written for the others)
SELECT DISTINCT via, as_owner, search_path, restricted
  FROM public.owner_probe ORDER BY via;

RESET search_path;
DROP TRIGGER probe ON workload_guard.ddl_history;
DROP TRIGGER probe ON workload_guard.digest_rules;
DROP TRIGGER probe ON workload_guard.disabled_index_rules;
DROP TABLE oc_t, public.owner_probe;
DROP FUNCTION public.owner_probe();
DROP EXTENSION workload_guard CASCADE;
DROP ROLE regress_oc_operator;
