-- Trust case of issue 7.4: no statement carrying a password is kept in statement_latency (nor
-- in ddl_history and ddl_rejections, which already redact).  (7.1, planted
-- tables, is fixed on main and proved by test/t/010_untrusted_schema.pl.)
-- no statement text carrying a password is stored
CREATE EXTENSION workload_guard;
SET workload_guard.track_utility = on;
SELECT workload_guard.reset_latency() >= 0 AS reset;
CREATE ROLE regress_tp_pw PASSWORD 'tp_secret_1';
ALTER ROLE regress_tp_pw PASSWORD 'tp_secret_2';
CREATE FOREIGN DATA WRAPPER tp_fdw;
CREATE SERVER tp_srv FOREIGN DATA WRAPPER tp_fdw;
CREATE USER MAPPING FOR regress_tp_pw SERVER tp_srv OPTIONS (password 'tp_secret_3');
CREATE USER MAPPING FOR regress_tp_no_such_role SERVER tp_srv OPTIONS (password 'tp_secret_4');
SELECT count(*) AS latency_texts_with_a_password
  FROM workload_guard.statement_latency WHERE query LIKE '%tp_secret%';
SELECT count(*) AS history_rows_with_a_password
  FROM workload_guard.ddl_history WHERE statement LIKE '%tp_secret%';
SELECT count(*) AS rejections_with_a_password
  FROM workload_guard.ddl_rejections WHERE statement LIKE '%tp_secret%';
DROP SERVER tp_srv CASCADE;
DROP FOREIGN DATA WRAPPER tp_fdw;
DROP ROLE regress_tp_pw;
DROP EXTENSION workload_guard CASCADE;
