-- Bad input, one case a line, over every argument of every function of the
-- extension and every setting: NULLs, out-of-range numbers, zero and
-- negative limits, too-long text, the wrong kind of relation, objects that
-- do not exist (dropped, in another database), settings set in the wrong
-- context or by a role that may not.  Each case runs in a subtransaction
-- that is always rolled back, so cases are independent; the output is one
-- row per case: "ok" (with the first value returned) or "SQLSTATE: message".
-- The last queries list every function argument and setting that has no
-- case (so a new one fails this test until it gets cases) and every case
-- naming something that no longer exists.
-- Cases whose correct behaviour is not yet on main (issue 7) are in
-- test/pending/sql/bad_input_pending.sql.
CREATE EXTENSION workload_guard;

-- fixtures: each kind of relation a regclass argument may be given
-- an index of another database: its OID means nothing here
SELECT current_database() AS here \gset
CREATE DATABASE regress_bi_other;
\c regress_bi_other
CREATE TABLE other_t (a int);
CREATE INDEX other_t_a ON other_t (a);
SELECT 'other_t_a'::regclass::oid AS other_index \gset
\c :here
CREATE ROLE regress_bi_plain;
CREATE TABLE bi_t (id int PRIMARY KEY, v text, n int);
CREATE INDEX CONCURRENTLY bi_t_v ON bi_t (v);
CREATE INDEX CONCURRENTLY bi_t_n ON bi_t (n);
CREATE SEQUENCE bi_seq;
CREATE VIEW bi_view AS SELECT 1 AS one;
CREATE MATERIALIZED VIEW bi_mv AS SELECT 1 AS one;
CREATE TYPE bi_type AS (a int);
BEGIN;
CREATE TABLE bi_part (a int) PARTITION BY RANGE (a);
CREATE TABLE bi_part1 PARTITION OF bi_part FOR VALUES FROM (0) TO (10);
CREATE INDEX bi_part_a ON bi_part (a);
COMMIT;
BEGIN;
CREATE TEMP TABLE bi_temp (a int);
CREATE INDEX bi_temp_a ON bi_temp (a);
COMMIT;
-- an index that was dropped
BEGIN;
CREATE TABLE bi_gone (a int);
CREATE INDEX bi_gone_a ON bi_gone (a);
COMMIT;
SELECT 'bi_gone_a'::regclass::oid AS gone_index \gset
DROP TABLE bi_gone;
CREATE TEMP TABLE bi_oid (what text, oid oid);
INSERT INTO bi_oid VALUES ('gone', :gone_index), ('other', :other_index);

-- run one case: 'ok' or 'ok: <first value>', else 'SQLSTATE: message' with
-- OIDs and temporary schema numbers masked (terse: the SQLSTATE alone, for
-- settings, whose messages are core's and vary across major versions);
-- always rolled back
CREATE FUNCTION pg_temp.bi_try(sql text, terse boolean) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v text;
    st text;
    msg text;
BEGIN
    BEGIN
        IF sql ~* '^\s*SELECT' THEN
            EXECUTE sql INTO v;
        ELSE
            EXECUTE sql;
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'WGOK0',
            MESSAGE = coalesce('ok: ' || nullif(v, ''), 'ok');
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    END;
    IF st = 'WGOK0' THEN
        RETURN msg;
    ELSIF terse THEN
        RETURN st;
    END IF;
    msg := regexp_replace(msg, 'OID \d+', 'OID N', 'g');
    msg := regexp_replace(msg, 'pg_temp_\d+', 'pg_temp_N', 'g');
    -- from PostgreSQL 17 a range error shows the units: "(0 ms .. 10 ms)"
    msg := regexp_replace(msg, '\((-?\d+) (\w+) \.\. (-?\d+) \2\)', '(\1 .. \3)', 'g');
    RETURN st || ': ' || msg;
END
$$;

-- a function taking "internal" must not be callable from SQL: 42883 (no
-- such function for unknown arguments) from 15.20 on, 0A000 (cannot accept
-- a value of type internal) before
CREATE FUNCTION pg_temp.bi_uncallable(sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'callable';
EXCEPTION WHEN undefined_function OR feature_not_supported THEN
    RETURN 'not callable from SQL';
END
$$;

-- obj: a function's name or a setting's; arg: the function argument the case
-- is about ('' for a function without arguments, NULL for a setting)
CREATE TEMP TABLE bi_case (n serial, obj text, arg text, sql text);
INSERT INTO bi_case (obj, arg, sql) VALUES
-- latency (src/latency.c)
('statement_latency', 'showtext', $$SELECT count(*) FROM workload_guard.statement_latency(NULL)$$),
('statement_latency', 'showtext', $$SELECT count(*) >= 0 FROM workload_guard.statement_latency(false) WHERE query IS NOT NULL$$),
('latency_info', '', $$SELECT max_statements FROM workload_guard.latency_info()$$),
('latency_histogram', 'queryid', $$SELECT count(*) FROM workload_guard.latency_histogram(NULL)$$),
('latency_histogram', 'queryid', $$SELECT count(*) FROM workload_guard.latency_histogram(0)$$),
('latency_histogram', 'queryid', $$SELECT count(*) FROM workload_guard.latency_histogram(-9223372036854775808)$$),
('latency_histogram', 'queryid', $$SELECT count(*) FROM workload_guard.latency_histogram(9223372036854775807)$$),
('latency_percentile', 'queryid', $$SELECT workload_guard.latency_percentile(NULL, 0.5)$$),
('latency_percentile', 'queryid', $$SELECT workload_guard.latency_percentile(0, 0.5)$$),
('latency_percentile', 'fraction', $$SELECT workload_guard.latency_percentile(1, NULL)$$),
('latency_percentile', 'fraction', $$SELECT workload_guard.latency_percentile(1, -0.01)$$),
('latency_percentile', 'fraction', $$SELECT workload_guard.latency_percentile(1, 1.01)$$),
('latency_percentile', 'fraction', $$SELECT workload_guard.latency_percentile(1, 'NaN')$$),
('latency_percentile', 'fraction', $$SELECT workload_guard.latency_percentile(1, '-Infinity')$$),
('latency_percentile', 'fraction', $$SELECT workload_guard.latency_percentile(1, 0)$$),
('latency_percentile', 'fraction', $$SELECT workload_guard.latency_percentile(1, 1)$$),
('latency_buckets', '', $$SELECT count(*) >= 0 FROM workload_guard.latency_buckets()$$),
('reset_latency', 'queryid', $$SELECT workload_guard.reset_latency(NULL) >= 0$$),
('reset_latency', 'queryid', $$SELECT workload_guard.reset_latency(0)$$),
('reset_latency', 'queryid', $$SELECT workload_guard.reset_latency(-1)$$),
('reset_latency', 'queryid', $$SET ROLE regress_bi_plain; SELECT workload_guard.reset_latency()$$),
('queryid_of', 'statement', $$SELECT workload_guard.queryid_of(NULL)$$),
('queryid_of', 'statement', $$SELECT workload_guard.queryid_of('')$$),
('queryid_of', 'statement', $$SELECT workload_guard.queryid_of('not sql at all')$$),
('queryid_of', 'statement', $$SELECT workload_guard.queryid_of('SELECT * FROM no_such_table')$$),
('queryid_of', 'statement', $$SELECT workload_guard.queryid_of('VACUUM bi_t') <> 0$$),	-- (the number differs between majors)
('queryid_of', 'statement', $$SELECT workload_guard.queryid_of(') SELECT 1')$$),
('queryid_of', 'statement', $$SELECT workload_guard.queryid_of('SELECT 1') <> 0$$),
('queryid_of', 'statement', $$SELECT workload_guard.queryid_of(repeat(' ', 100000) || 'SELECT 1') <> 0$$),
-- histogram math (src/histogram_sql.c)
('histogram_bucket', 'value_ms', $$SELECT workload_guard.histogram_bucket(NULL)$$),
('histogram_bucket', 'value_ms', $$SELECT workload_guard.histogram_bucket(-1)$$),
('histogram_bucket', 'value_ms', $$SELECT workload_guard.histogram_bucket(0)$$),
('histogram_bucket', 'value_ms', $$SELECT workload_guard.histogram_bucket('NaN')$$),
('histogram_bucket', 'value_ms', $$SELECT workload_guard.histogram_bucket('Infinity')$$),
('histogram_bucket', 'value_ms', $$SELECT workload_guard.histogram_bucket(1e308)$$),
('histogram_bucket_bounds', 'bucket', $$SELECT workload_guard.histogram_bucket_bounds(NULL)$$),
('histogram_bucket_bounds', 'bucket', $$SELECT workload_guard.histogram_bucket_bounds(-1)$$),
('histogram_bucket_bounds', 'bucket', $$SELECT upper_ms FROM workload_guard.histogram_bucket_bounds(1023)$$),
('histogram_bucket_bounds', 'bucket', $$SELECT workload_guard.histogram_bucket_bounds(1024)$$),
('histogram_bucket_bounds', 'bucket', $$SELECT workload_guard.histogram_bucket_bounds(2147483647)$$),
('histogram_estimate', 'values_ms', $$SELECT workload_guard.histogram_estimate(NULL, 0.5)$$),
('histogram_estimate', 'values_ms', $$SELECT workload_guard.histogram_estimate('{}', 0.5)$$),
('histogram_estimate', 'values_ms', $$SELECT workload_guard.histogram_estimate('{1,NULL}', 0.5)$$),
('histogram_estimate', 'values_ms', $$SELECT workload_guard.histogram_estimate('{{1},{2}}', 0.5)$$),
('histogram_estimate', 'values_ms', $$SELECT workload_guard.histogram_estimate('{-1}', 0.5)$$),
('histogram_estimate', 'values_ms', $$SELECT workload_guard.histogram_estimate('{NaN}', 0.5)$$),
('histogram_estimate', 'values_ms', $$SELECT workload_guard.histogram_estimate('[5:6]={1,2}', 0.5)$$),
('histogram_estimate', 'fraction', $$SELECT workload_guard.histogram_estimate('{1}', NULL)$$),
('histogram_estimate', 'fraction', $$SELECT workload_guard.histogram_estimate('{1}', 2)$$),
('histogram_estimate', 'fraction', $$SELECT workload_guard.histogram_estimate('{1}', 'NaN')$$),
('histogram_percentile', 'buckets', $$SELECT workload_guard.histogram_percentile(NULL, '{1}', 0.5)$$),
('histogram_percentile', 'buckets', $$SELECT workload_guard.histogram_percentile('{}', '{}', 0.5)$$),
('histogram_percentile', 'buckets', $$SELECT workload_guard.histogram_percentile('{-1}', '{1}', 0.5)$$),
('histogram_percentile', 'buckets', $$SELECT workload_guard.histogram_percentile('{1024}', '{1}', 0.5)$$),
('histogram_percentile', 'buckets', $$SELECT workload_guard.histogram_percentile('{NULL}', '{1}', 0.5)$$),
('histogram_percentile', 'buckets', $$SELECT workload_guard.histogram_percentile('{{1}}', '{1}', 0.5)$$),
('histogram_percentile', 'buckets', $$SELECT workload_guard.histogram_percentile('{1,1}', '{1,1}', 0.5)$$),
('histogram_percentile', 'counts', $$SELECT workload_guard.histogram_percentile('{1}', NULL, 0.5)$$),
('histogram_percentile', 'counts', $$SELECT workload_guard.histogram_percentile('{1,2}', '{1}', 0.5)$$),
('histogram_percentile', 'counts', $$SELECT workload_guard.histogram_percentile('{1}', '{-1}', 0.5)$$),
('histogram_percentile', 'counts', $$SELECT workload_guard.histogram_percentile('{1}', '{0}', 0.5)$$),
('histogram_percentile', 'counts', $$SELECT workload_guard.histogram_percentile('{1,2}', '{9223372036854775807,1}', 0.5)$$),
('histogram_percentile', 'fraction', $$SELECT workload_guard.histogram_percentile('{1}', '{1}', NULL)$$),
('histogram_percentile', 'fraction', $$SELECT workload_guard.histogram_percentile('{1}', '{1}', -1)$$),
-- DDL guard and history (src/ddl_*.c)
('trim_ddl_history', 'older_than', $$SELECT workload_guard.trim_ddl_history(NULL) >= 0$$),
('trim_ddl_history', 'older_than', $$SELECT workload_guard.trim_ddl_history('-1 day')$$),
('trim_ddl_history', 'older_than', $$SELECT workload_guard.trim_ddl_history('0') >= 0$$),
('trim_ddl_history', 'older_than', $$SELECT workload_guard.trim_ddl_history('1 month -31 days')$$),
('trim_ddl_history', 'older_than', $$SELECT workload_guard.trim_ddl_history('178000000 years')$$),
('trim_ddl_history', 'older_than', $$SET ROLE regress_bi_plain; SELECT workload_guard.trim_ddl_history()$$),
('ddl_rejections', '', $$SELECT count(*) >= 0 FROM workload_guard.ddl_rejections()$$),
('reset_ddl_rejections', '', $$SELECT workload_guard.reset_ddl_rejections() >= 0$$),
('reset_ddl_rejections', '', $$SET ROLE regress_bi_plain; SELECT workload_guard.reset_ddl_rejections()$$),
('ddl_classify', 'sql', $$SELECT count(*) FROM workload_guard.ddl_classify(NULL)$$),
('ddl_classify', 'sql', $$SELECT count(*) FROM workload_guard.ddl_classify('')$$),
('ddl_classify', 'sql', $$SELECT count(*) FROM workload_guard.ddl_classify(';;;')$$),
('ddl_classify', 'sql', $$SELECT count(*) FROM workload_guard.ddl_classify('not sql at all')$$),
('ddl_classify', 'sql', $$SELECT count(*) FROM workload_guard.ddl_classify(repeat('VACUUM FULL bi_t;', 10000))$$),
('ddl_classify', 'sql', $$SELECT rule FROM workload_guard.ddl_classify('CREATE INDEX ON ' || repeat('x', 1000) || ' (a)')$$),
('ddl_table_rewrite', '', $$SELECT workload_guard.ddl_table_rewrite()$$),
('ddl_command_end', '', $$SELECT workload_guard.ddl_command_end()$$),
('ddl_sql_drop', '', $$SELECT workload_guard.ddl_sql_drop()$$),
-- digest rules (src/digest_rules.c)
('block_digest', 'queryid', $$SELECT workload_guard.block_digest(NULL)$$),
('block_digest', 'queryid', $$SELECT workload_guard.block_digest(0)$$),
('block_digest', 'queryid', $$SELECT workload_guard.block_digest(-9223372036854775808)$$),
('block_digest', 'reason', $$SELECT workload_guard.block_digest(1, NULL)$$),
('block_digest', 'reason', $$SELECT workload_guard.block_digest(1, '')$$),
('block_digest', 'reason', $$SELECT workload_guard.block_digest(1, repeat('r', 1000))$$),
('block_digest', 'reason', $$SELECT workload_guard.block_digest(1, repeat('r', 1001))$$),
('block_digest', 'reason', $$SELECT workload_guard.block_digest(1, repeat('é', 1000))$$),
('block_digest', 'expires_in', $$SELECT workload_guard.block_digest(1, expires_in => NULL)$$),
('block_digest', 'expires_in', $$SELECT workload_guard.block_digest(1, expires_in => '0')$$),
('block_digest', 'expires_in', $$SELECT workload_guard.block_digest(1, expires_in => '-1 second')$$),
('block_digest', 'expires_in', $$SELECT workload_guard.block_digest(1, expires_in => '1 month -30 days')$$),
('block_digest', 'expires_in', $$SELECT workload_guard.block_digest(1, expires_in => '1 microsecond')$$),
('block_digest', 'expires_in', $$SELECT workload_guard.block_digest(1, expires_in => '366 days')$$),
('block_digest', 'expires_in', $$SELECT workload_guard.block_digest(1, expires_in => '367 days')$$),
('block_digest', 'expires_in', $$SELECT workload_guard.block_digest(1, expires_in => '178000000 years')$$),
('block_digest', 'role', $$SELECT workload_guard.block_digest(1, role => NULL)$$),
('block_digest', 'role', $$SELECT workload_guard.block_digest(1, role => 'regress_bi_no_such_role')$$),
('block_digest', 'role', $$SELECT workload_guard.block_digest(1, role => 999999::oid::regrole)$$),
('block_digest', 'role', $$SELECT workload_guard.block_digest(1, role => 'regress_bi_plain')$$),
('block_digest', 'role', $$SELECT workload_guard.block_digest(1, role => '-')$$),
('block_digest', 'database', $$SELECT workload_guard.block_digest(1, database => NULL)$$),
('block_digest', 'database', $$SELECT workload_guard.block_digest(1, database => 'regress_bi_no_such_db')$$),
('block_digest', 'database', $$SELECT workload_guard.block_digest(1, database => '')$$),
('block_digest', 'database', $$SELECT workload_guard.block_digest(1, database => repeat('d', 100))$$),
('block_digest', 'database', $$SELECT workload_guard.block_digest(1, database => current_database())$$),
('block_digest', 'database', $$SELECT workload_guard.block_digest(1, database => 'template1')$$),
('block_digest', 'dry_run', $$SELECT workload_guard.block_digest(1, dry_run => NULL)$$),
('block_digest', 'dry_run', $$SELECT workload_guard.block_digest(1, dry_run => true)$$),
('block_digest', 'queryid', $$SET ROLE regress_bi_plain; SELECT workload_guard.block_digest(1)$$),
('cap_digest', 'queryid', $$SELECT workload_guard.cap_digest(NULL, 1)$$),
('cap_digest', 'queryid', $$SELECT workload_guard.cap_digest(0, 1)$$),
('cap_digest', 'max_running', $$SELECT workload_guard.cap_digest(1, NULL)$$),
('cap_digest', 'max_running', $$SELECT workload_guard.cap_digest(1, 0)$$),
('cap_digest', 'max_running', $$SELECT workload_guard.cap_digest(1, -1)$$),
('cap_digest', 'max_running', $$SELECT workload_guard.cap_digest(1, 1)$$),
('cap_digest', 'max_running', $$SELECT workload_guard.cap_digest(1, 2147483647)$$),
('cap_digest', 'reason', $$SELECT workload_guard.cap_digest(1, 1, repeat('r', 1001))$$),
('cap_digest', 'reason', $$SELECT workload_guard.cap_digest(1, 1, NULL)$$),
('cap_digest', 'expires_in', $$SELECT workload_guard.cap_digest(1, 1, expires_in => '-1 day')$$),
('cap_digest', 'expires_in', $$SELECT workload_guard.cap_digest(1, 1, expires_in => '367 days')$$),
('cap_digest', 'role', $$SELECT workload_guard.cap_digest(1, 1, role => 999999::oid::regrole)$$),
('cap_digest', 'role', $$SELECT workload_guard.cap_digest(1, 1, role => '-')$$),
('cap_digest', 'database', $$SELECT workload_guard.cap_digest(1, 1, database => 'regress_bi_no_such_db')$$),
('cap_digest', 'dry_run', $$SELECT workload_guard.cap_digest(1, 1, dry_run => NULL)$$),
('unblock_digest', 'queryid', $$SELECT workload_guard.unblock_digest(NULL)$$),
('unblock_digest', 'queryid', $$SELECT workload_guard.unblock_digest(0)$$),
('unblock_digest', 'queryid', $$SELECT workload_guard.unblock_digest(42)$$),
('unblock_digest', 'queryid', $$SELECT workload_guard.block_digest(42); SELECT workload_guard.unblock_digest(42)$$),
('unblock_digest', 'queryid', $$SET ROLE regress_bi_plain; SELECT workload_guard.unblock_digest(42)$$),
('digest_rule_counters', '', $$SELECT count(*) >= 0 FROM workload_guard.digest_rule_counters()$$),
('rate_limit_digest', 'queryid', $$SELECT workload_guard.rate_limit_digest(NULL, 1)$$),
('rate_limit_digest', 'queryid', $$SELECT workload_guard.rate_limit_digest(0, 1)$$),
('rate_limit_digest', 'per_second', $$SELECT workload_guard.rate_limit_digest(1, NULL)$$),
('rate_limit_digest', 'per_second', $$SELECT workload_guard.rate_limit_digest(1, 0)$$),
('rate_limit_digest', 'per_second', $$SELECT workload_guard.rate_limit_digest(1, -1)$$),
('rate_limit_digest', 'per_second', $$SELECT workload_guard.rate_limit_digest(1, 'NaN')$$),
('rate_limit_digest', 'per_second', $$SELECT workload_guard.rate_limit_digest(1, 'Infinity')$$),
('rate_limit_digest', 'per_second', $$SELECT workload_guard.rate_limit_digest(1, 1e7)$$),
('rate_limit_digest', 'per_second', $$SELECT workload_guard.rate_limit_digest(1, 0.5)$$),
('rate_limit_digest', 'burst', $$SELECT workload_guard.rate_limit_digest(1, 1, 0)$$),
('rate_limit_digest', 'burst', $$SELECT workload_guard.rate_limit_digest(1, 1, 1000001)$$),
('rate_limit_digest', 'burst', $$SELECT workload_guard.rate_limit_digest(1, 1, NULL)$$),
('rate_limit_digest', 'reason', $$SELECT workload_guard.rate_limit_digest(1, 1, reason => repeat('r', 1001))$$),
('rate_limit_digest', 'expires_in', $$SELECT workload_guard.rate_limit_digest(1, 1, expires_in => '-1 day')$$),
('rate_limit_digest', 'role', $$SELECT workload_guard.rate_limit_digest(1, 1, role => 999999::oid::regrole)$$),
('rate_limit_digest', 'database', $$SELECT workload_guard.rate_limit_digest(1, 1, database => 'regress_bi_no_such_db')$$),
('rate_limit_digest', 'dry_run', $$SELECT workload_guard.rate_limit_digest(1, 1, dry_run => NULL)$$),
('rate_limit_digest', 'queryid', $$SET ROLE regress_bi_plain; SELECT workload_guard.rate_limit_digest(42, 1)$$),
('budget_digest', 'queryid', $$SELECT workload_guard.budget_digest(NULL, 1)$$),
('budget_digest', 'queryid', $$SELECT workload_guard.budget_digest(0, 1)$$),
('budget_digest', 'backends', $$SELECT workload_guard.budget_digest(1, NULL)$$),
('budget_digest', 'backends', $$SELECT workload_guard.budget_digest(1, 0)$$),
('budget_digest', 'backends', $$SELECT workload_guard.budget_digest(1, 'NaN')$$),
('budget_digest', 'backends', $$SELECT workload_guard.budget_digest(1, 1e9)$$),
('budget_digest', 'backends', $$SELECT workload_guard.budget_digest(1, 0.5)$$),
('budget_digest', 'reason', $$SELECT workload_guard.budget_digest(1, 1, repeat('r', 1001))$$),
('budget_digest', 'expires_in', $$SELECT workload_guard.budget_digest(1, 1, expires_in => '-1 day')$$),
('budget_digest', 'role', $$SELECT workload_guard.budget_digest(1, 1, role => 999999::oid::regrole)$$),
('budget_digest', 'database', $$SELECT workload_guard.budget_digest(1, 1, database => 'regress_bi_no_such_db')$$),
('budget_digest', 'dry_run', $$SELECT workload_guard.budget_digest(1, 1, dry_run => NULL)$$),
('budget_digest', 'queryid', $$SET ROLE regress_bi_plain; SELECT workload_guard.budget_digest(42, 1)$$),
('trim_digest_rule_history', 'keep', $$SELECT workload_guard.trim_digest_rule_history(NULL)$$),
('trim_digest_rule_history', 'keep', $$SELECT workload_guard.trim_digest_rule_history('1 day')$$),
('trim_digest_rule_history', 'keep', $$SET ROLE regress_bi_plain; SELECT workload_guard.trim_digest_rule_history('1 day')$$),
('_digest_rule_history', '', $$SELECT workload_guard._digest_rule_history()$$),
('digest_rule_activity_counters', '', $$SELECT count(*) >= 0 FROM workload_guard.digest_rule_activity_counters()$$),
('config_changed', '', $$SELECT workload_guard.config_changed()$$),
-- disabled indexes (src/index_hide.c)
('disable_index', 'index', $$SELECT workload_guard.disable_index(NULL)$$),
('disable_index', 'index', $$SELECT workload_guard.disable_index('bi_no_such_index')$$),
('disable_index', 'index', $$SELECT workload_guard.disable_index(0)$$),
('disable_index', 'index', $$SELECT workload_guard.disable_index((SELECT oid FROM bi_oid WHERE what = 'gone')::regclass)$$),
('disable_index', 'index', $$SELECT workload_guard.disable_index((SELECT oid FROM bi_oid WHERE what = 'other')::regclass)$$),
('disable_index', 'index', $$SELECT workload_guard.disable_index('bi_t')$$),
('disable_index', 'index', $$SELECT workload_guard.disable_index('bi_seq')$$),
('disable_index', 'index', $$SELECT workload_guard.disable_index('bi_view')$$),
('disable_index', 'index', $$SELECT workload_guard.disable_index('bi_mv')$$),
('disable_index', 'index', $$SELECT workload_guard.disable_index('bi_type')$$),
('disable_index', 'index', $$SELECT workload_guard.disable_index('bi_part')$$),
('disable_index', 'index', $$SELECT workload_guard.disable_index('pg_class_oid_index')$$),
('disable_index', 'index', $$SELECT workload_guard.disable_index('pg_toast.pg_toast_2618_index')$$),
('disable_index', 'index', $$SELECT workload_guard.disable_index('workload_guard.digest_rules_queryid_role_database_application_name_key')$$),
('disable_index', 'index', $$SELECT workload_guard.disable_index('bi_temp_a')$$),
('disable_index', 'index', $$SELECT workload_guard.disable_index('bi_t_pkey')$$),
('disable_index', 'index', $$SELECT workload_guard.disable_index('bi_t_v')$$),
('disable_index', 'index', $$SELECT workload_guard.disable_index('bi_t_v'); SELECT workload_guard.disable_index('bi_t_v')$$),
('disable_index', 'index', $$SELECT workload_guard.disable_index('bi_part_a')$$),
('disable_index', 'index', $$SET ROLE regress_bi_plain; SELECT workload_guard.disable_index('bi_t_v')$$),
('disable_index', 'reason', $$SELECT workload_guard.disable_index('bi_t_v', NULL)$$),
('disable_index', 'reason', $$SELECT workload_guard.disable_index('bi_t_v', repeat('r', 1000))$$),
('disable_index', 'reason', $$SELECT workload_guard.disable_index('bi_t_v', repeat('r', 1001))$$),
('disable_index', 'force', $$SELECT workload_guard.disable_index('bi_t_v', force => NULL)$$),
('disable_index', 'force', $$SELECT workload_guard.disable_index('bi_t_pkey', force => true)$$),
('disable_index', 'force', $$SELECT workload_guard.disable_index('pg_class_oid_index', force => true)$$),
('enable_index', 'index', $$SELECT workload_guard.enable_index(NULL)$$),
('enable_index', 'index', $$SELECT workload_guard.enable_index('bi_no_such_index')$$),
('enable_index', 'index', $$SELECT workload_guard.enable_index((SELECT oid FROM bi_oid WHERE what = 'gone')::regclass)$$),
('enable_index', 'index', $$SELECT workload_guard.enable_index((SELECT oid FROM bi_oid WHERE what = 'other')::regclass)$$),
('enable_index', 'index', $$SELECT workload_guard.enable_index('bi_t')$$),
('enable_index', 'index', $$SELECT workload_guard.enable_index('bi_seq')$$),
('enable_index', 'index', $$SELECT workload_guard.enable_index('pg_class_oid_index')$$),
('enable_index', 'index', $$SELECT workload_guard.enable_index('bi_temp_a')$$),
('enable_index', 'index', $$SELECT workload_guard.enable_index('bi_t_n')$$),
('enable_index', 'index', $$SELECT workload_guard.disable_index('bi_t_n'); SELECT workload_guard.enable_index('bi_t_n')$$),
('enable_index', 'index', $$SELECT workload_guard.disable_index('bi_part_a'); SELECT workload_guard.enable_index('bi_part1_a_idx')$$),
('enable_index', 'index', $$SET ROLE regress_bi_plain; SELECT workload_guard.enable_index('bi_t_n')$$),
('index_scan_count', 'index', $$SELECT workload_guard.index_scan_count(NULL)$$),
('index_scan_count', 'index', $$SELECT workload_guard.index_scan_count((SELECT oid FROM bi_oid WHERE what = 'gone')::regclass)$$),
('index_scan_count', 'index', $$SELECT workload_guard.index_scan_count('bi_t') >= 0$$),
('index_scan_count', 'index', $$SELECT workload_guard.index_scan_count('bi_seq')$$),
('index_scan_count', 'index', $$SELECT workload_guard.index_scan_count('bi_part_a')$$),
('_index_rules_changed', '', $$SELECT workload_guard._index_rules_changed()$$),
('_index_rules_changed', '', $$SET ROLE regress_bi_plain; SELECT workload_guard._index_rules_changed()$$),
('_index_rules_on_drop', '', $$SELECT workload_guard._index_rules_on_drop()$$),
-- settings: invalid values, wrong context, a role that may not set them
('workload_guard.bypass_rules', NULL, $$SET workload_guard.bypass_rules = 'maybe'$$),
('workload_guard.bypass_rules', NULL, $$SET ROLE regress_bi_plain; SET workload_guard.bypass_rules = on$$),
('workload_guard.bypass_rules', NULL, $$SET ROLE regress_bi_plain; SELECT set_config('workload_guard.bypass_rules', 'on', true)$$),
('workload_guard.bypass_rules', NULL, $$SET ROLE regress_bi_plain; ALTER ROLE regress_bi_plain SET workload_guard.bypass_rules = on$$),
('workload_guard.ddl_bypass', NULL, $$SET workload_guard.ddl_bypass = 2$$),
('workload_guard.ddl_bypass', NULL, $$SET ROLE regress_bi_plain; SET workload_guard.ddl_bypass = on$$),
('workload_guard.ddl_bypass', NULL, $$SET ROLE regress_bi_plain; ALTER ROLE regress_bi_plain SET workload_guard.ddl_bypass = on$$),
('workload_guard.ddl_history_retention', NULL, $$SET workload_guard.ddl_history_retention = -1$$),
('workload_guard.ddl_history_retention', NULL, $$SET workload_guard.ddl_history_retention = 36501$$),
('workload_guard.ddl_history_retention', NULL, $$SET workload_guard.ddl_history_retention = '1 year'$$),
('workload_guard.ddl_history_retention', NULL, $$SET workload_guard.ddl_history_retention = 0$$),
('workload_guard.ddl_history_retention', NULL, $$SET ROLE regress_bi_plain; SET workload_guard.ddl_history_retention = 1$$),
('workload_guard.ddl_index', NULL, $$SET workload_guard.ddl_index = 'bogus'$$),
('workload_guard.ddl_index', NULL, $$SET workload_guard.ddl_index = ''$$),
('workload_guard.ddl_index', NULL, $$SET ROLE regress_bi_plain; SET workload_guard.ddl_index = off$$),
('workload_guard.ddl_lock_timeout', NULL, $$SET workload_guard.ddl_lock_timeout = -1$$),
('workload_guard.ddl_lock_timeout', NULL, $$SET workload_guard.ddl_lock_timeout = 2147483648$$),
('workload_guard.ddl_lock_timeout', NULL, $$SET workload_guard.ddl_lock_timeout = '5 fortnights'$$),
('workload_guard.ddl_lock_timeout', NULL, $$SET workload_guard.ddl_lock_timeout = '1 min'$$),
('workload_guard.ddl_lock_timeout', NULL, $$SET ROLE regress_bi_plain; SET workload_guard.ddl_lock_timeout = 0$$),
('workload_guard.ddl_mode', NULL, $$SET workload_guard.ddl_mode = 'enforced'$$),
('workload_guard.ddl_mode', NULL, $$SET ROLE regress_bi_plain; SET workload_guard.ddl_mode = off$$),
('workload_guard.ddl_mode', NULL, $$SET ROLE regress_bi_plain; SET LOCAL workload_guard.ddl_mode = off$$),
('workload_guard.ddl_mode', NULL, $$SET ROLE regress_bi_plain; ALTER ROLE regress_bi_plain SET workload_guard.ddl_mode = off$$),
('workload_guard.ddl_mode', NULL, $$SET ROLE regress_bi_plain; CREATE FUNCTION pg_temp.bi_f() RETURNS int LANGUAGE sql SET workload_guard.ddl_mode = off AS 'SELECT 1'$$),
('workload_guard.ddl_new_tables', NULL, $$SET workload_guard.ddl_new_tables = 1$$),
('workload_guard.ddl_new_tables', NULL, $$SET ROLE regress_bi_plain; SET workload_guard.ddl_new_tables = off$$),
('workload_guard.ddl_rejections_max', NULL, $$SET workload_guard.ddl_rejections_max = 1000$$),
('workload_guard.ddl_rejections_max', NULL, $$SET workload_guard.ddl_rejections_max = 1$$),
('workload_guard.ddl_rewrite', NULL, $$SET workload_guard.ddl_rewrite = 'sometimes'$$),
('workload_guard.ddl_rewrite', NULL, $$SET ROLE regress_bi_plain; SET workload_guard.ddl_rewrite = warn$$),
('workload_guard.ddl_statement_timeout', NULL, $$SET workload_guard.ddl_statement_timeout = -5$$),
('workload_guard.ddl_statement_timeout', NULL, $$SET workload_guard.ddl_statement_timeout = '1e20'$$),
('workload_guard.ddl_statement_timeout', NULL, $$SET ROLE regress_bi_plain; SET workload_guard.ddl_statement_timeout = '1s'$$),
('workload_guard.ddl_validation', NULL, $$SET workload_guard.ddl_validation = 'true'$$),
('workload_guard.ddl_validation', NULL, $$SET ROLE regress_bi_plain; SET workload_guard.ddl_validation = off$$),
('workload_guard.ignore_disabled_indexes', NULL, $$SET workload_guard.ignore_disabled_indexes = 'maybe'$$),
('workload_guard.ignore_disabled_indexes', NULL, $$SET ROLE regress_bi_plain; SET workload_guard.ignore_disabled_indexes = on$$),
('workload_guard.max_digest_rules', NULL, $$SET workload_guard.max_digest_rules = 100$$),
('workload_guard.max_digest_rules', NULL, $$SELECT set_config('workload_guard.max_digest_rules', '0', false)$$),
('workload_guard.max_statements', NULL, $$SET workload_guard.max_statements = 5$$),
('workload_guard.max_statements', NULL, $$SET ROLE regress_bi_plain; SET workload_guard.max_statements = 100$$),
('workload_guard.recent_window', NULL, $$SET workload_guard.recent_window = 10$$),
('workload_guard.recent_window', NULL, $$SET workload_guard.recent_window = 0$$),
('workload_guard.save', NULL, $$SET workload_guard.save = off$$),
('workload_guard.track', NULL, $$SET workload_guard.track = 'everything'$$),
('workload_guard.track', NULL, $$SET workload_guard.track = 'ALL'$$),
('workload_guard.track', NULL, $$SET ROLE regress_bi_plain; SET workload_guard.track = none$$),
('workload_guard.track_utility', NULL, $$SET workload_guard.track_utility = 'no way'$$),
('workload_guard.track_utility', NULL, $$SET ROLE regress_bi_plain; SET workload_guard.track_utility = off$$),
('workload_guard.no_such_setting', NULL, $$SET workload_guard.no_such_setting = on$$);
-- monitoring (src/latency_export.c, src/ddl_rejection_counts.c)
INSERT INTO bi_case (obj, arg, sql) VALUES
('prometheus_latency', 'top', $$SELECT count(*) FROM workload_guard.prometheus_latency(NULL)$$),
('prometheus_latency', 'top', $$SELECT count(*) FROM workload_guard.prometheus_latency(0)$$),
('prometheus_latency', 'top', $$SELECT count(*) FROM workload_guard.prometheus_latency(-2147483648)$$),
('prometheus_latency', 'top', $$SELECT count(*) >= 0 FROM workload_guard.prometheus_latency(2147483647)$$),
('latency_export', 'queryid', $$SELECT workload_guard.latency_export(NULL)$$),
('latency_export', 'queryid', $$SELECT workload_guard.latency_export(0)$$),
('latency_export', 'queryid', $$SELECT workload_guard.latency_export(-9223372036854775808)$$),
('latency_merge', '$1', $$SELECT workload_guard.latency_merge(v) FROM (VALUES (NULL::bytea)) t(v)$$),
('latency_merge', '$1', $$SELECT workload_guard.latency_merge(v) FROM (VALUES ('\x'::bytea)) t(v)$$),
('latency_merge', '$1', $$SELECT workload_guard.latency_merge(v) FROM (VALUES ('\xff'::bytea)) t(v)$$),
('_latency_merge_step', '$1', $$SELECT pg_temp.bi_uncallable('SELECT workload_guard._latency_merge_step(NULL, NULL)')$$),
('_latency_merge_step', '$2', $$SELECT pg_temp.bi_uncallable('SELECT workload_guard._latency_merge_step(NULL, ''\x01''::bytea)')$$),
('_latency_merge_final', '$1', $$SELECT pg_temp.bi_uncallable('SELECT workload_guard._latency_merge_final(NULL)')$$),
('latency_value_percentile', 'value', $$SELECT workload_guard.latency_value_percentile(NULL, 0.5)$$),
('latency_value_percentile', 'value', $$SELECT workload_guard.latency_value_percentile('\x0100', 0.5)$$),
('latency_value_percentile', 'fraction', $$SELECT workload_guard.latency_value_percentile('\x0102000000e803000000000000d007000000000000000000000040af400000020000000000000020000100000000000000'::bytea, NULL)$$),
('latency_value_percentile', 'fraction', $$SELECT workload_guard.latency_value_percentile('\x0102000000e803000000000000d007000000000000000000000040af400000020000000000000020000100000000000000'::bytea, 'NaN')$$),
('latency_value_percentile', 'fraction', $$SELECT workload_guard.latency_value_percentile('\x0102000000e803000000000000d007000000000000000000000040af400000020000000000000020000100000000000000'::bytea, -1)$$),
('latency_value_stats', 'value', $$SELECT workload_guard.latency_value_stats(NULL)$$),
('latency_value_stats', 'value', $$SELECT workload_guard.latency_value_stats('\x00')$$),
('latency_chart', 'queryid', $$SELECT count(*) FROM workload_guard.latency_chart(NULL::bigint)$$),
('latency_chart', 'queryid', $$SELECT count(*) FROM workload_guard.latency_chart(0)$$),
('latency_chart', 'value', $$SELECT count(*) FROM workload_guard.latency_chart(NULL::bytea)$$),
('latency_chart', 'value', $$SELECT count(*) FROM workload_guard.latency_chart('\x01ffffffff'::bytea)$$),
('latency_chart', 'buckets', $$SELECT count(*) FROM workload_guard.latency_chart(NULL, '{1}'::bigint[])$$),
('latency_chart', 'buckets', $$SELECT count(*) FROM workload_guard.latency_chart('{-1}'::int[], '{1}'::bigint[])$$),
('latency_chart', 'buckets', $$SELECT count(*) FROM workload_guard.latency_chart('{{1}}'::int[], '{1}'::bigint[])$$),
('latency_chart', 'counts', $$SELECT count(*) FROM workload_guard.latency_chart('{1}'::int[], NULL)$$),
('latency_chart', 'counts', $$SELECT count(*) FROM workload_guard.latency_chart('{1}'::int[], '{NULL}'::bigint[])$$),
('latency_chart', 'counts', $$SELECT count(*) FROM workload_guard.latency_chart('{1,2}'::int[], '{9223372036854775807,1}'::bigint[])$$),
('ddl_rejection_counts', '', $$SELECT count(*) FROM workload_guard.ddl_rejection_counts()$$),
('_ddl_history_keep_id', '', $$SELECT workload_guard._ddl_history_keep_id()$$),
('_index_rules_resolve', '', $$SELECT workload_guard._index_rules_resolve()$$),
('block_digest', 'application_name', $$SELECT workload_guard.block_digest(1, application_name => NULL)$$),
('block_digest', 'application_name', $$SELECT workload_guard.block_digest(1, application_name => '')$$),
('block_digest', 'application_name', $$SELECT workload_guard.block_digest(1, application_name => repeat('a', 63))$$),
('block_digest', 'application_name', $$SELECT workload_guard.block_digest(1, application_name => repeat('a', 64))$$),
('block_digest', 'application_name', $$SELECT workload_guard.block_digest(1, application_name => 'caf' || chr(233))$$),
('block_digest', 'application_name', $$SELECT workload_guard.block_digest(1, application_name => E'a\tb')$$),
('block_digest', 'application_name', $$SELECT workload_guard.block_digest(NULL, application_name => 'batch')$$),
('block_digest', 'role', $$SELECT workload_guard.block_digest(NULL, role => 'regress_bi_plain')$$),
('cap_digest', 'application_name', $$SELECT workload_guard.cap_digest(1, 1, application_name => '')$$),
('cap_digest', 'application_name', $$SELECT workload_guard.cap_digest(1, 1, application_name => repeat('a', 64))$$),
('cap_digest', 'application_name', $$SELECT workload_guard.cap_digest(NULL, 2, application_name => 'batch')$$),
('rate_limit_digest', 'application_name', $$SELECT workload_guard.rate_limit_digest(1, 1, application_name => '')$$),
('rate_limit_digest', 'application_name', $$SELECT workload_guard.rate_limit_digest(1, 1, application_name => repeat('a', 64))$$),
('rate_limit_digest', 'application_name', $$SELECT workload_guard.rate_limit_digest(NULL, 1, role => 'regress_bi_plain')$$),
('budget_digest', 'application_name', $$SELECT workload_guard.budget_digest(1, 1, application_name => '')$$),
('budget_digest', 'application_name', $$SELECT workload_guard.budget_digest(1, 1, application_name => repeat('a', 64))$$),
('budget_digest', 'application_name', $$SELECT workload_guard.budget_digest(1, 1, application_name => 'batch')$$),
('budget_digest', 'queryid', $$SELECT workload_guard.budget_digest(NULL, 1, application_name => 'batch')$$),
('unblock_digest', 'application_name', $$SELECT workload_guard.unblock_digest(1, NULL)$$),
('unblock_digest', 'application_name', $$SELECT workload_guard.unblock_digest(1, '')$$),
('unblock_digest', 'application_name', $$SELECT workload_guard.unblock_digest(1, repeat('a', 64))$$),
('unblock_digest', 'application_name', $$SELECT workload_guard.block_digest(NULL, application_name => 'batch'); SELECT workload_guard.unblock_digest(NULL, 'batch')$$),
('unblock_digest', 'role', $$SELECT workload_guard.unblock_digest(1, role => NULL)$$),
('unblock_digest', 'role', $$SELECT workload_guard.unblock_digest(1, role => 0)$$),
('unblock_digest', 'role', $$SELECT workload_guard.unblock_digest(1, role => 4294967290::oid::regrole)$$),
('unblock_digest', 'role', $$SELECT workload_guard.unblock_digest(1, role => 'no_such_role_bi')$$);

\pset format unaligned
\pset footer off
SET client_min_messages = warning;
SELECT n, obj, coalesce(arg, '-') AS arg, sql, pg_temp.bi_try(sql, arg IS NULL) AS result
  FROM bi_case ORDER BY n;
RESET client_min_messages;
\pset format aligned
\pset footer on

-- nothing above changed anything, and the server is still there
SELECT count(*) AS rules FROM workload_guard.digest_rules;
SELECT count(*) AS disabled FROM workload_guard.disabled_index_rules;

-- every input argument of every function has a case ('' when it has none)
CREATE TEMP VIEW bi_needed AS
SELECT p.proname::text AS obj,
       coalesce(nullif(p.proargnames[a.n], ''), '$' || a.n) AS arg
  FROM pg_proc p
 CROSS JOIN LATERAL generate_series(1, coalesce(array_length(p.proallargtypes, 1),
                                                p.pronargs)) a(n)
 WHERE p.pronamespace = 'workload_guard'::regnamespace
   AND coalesce(p.proargmodes[a.n], 'i') IN ('i', 'b', 'v')
UNION
SELECT p.proname::text, ''
  FROM pg_proc p
 WHERE p.pronamespace = 'workload_guard'::regnamespace AND p.pronargs = 0
UNION
SELECT name, NULL FROM pg_settings WHERE name LIKE 'workload_guard.%';
SELECT obj, arg AS "argument without a case" FROM bi_needed
EXCEPT SELECT obj, arg FROM bi_case ORDER BY 1, 2;
SELECT DISTINCT obj, arg AS "case of nothing" FROM bi_case
 WHERE obj <> 'workload_guard.no_such_setting'
EXCEPT SELECT obj, arg FROM bi_needed ORDER BY 1, 2;

CREATE ROLE regress_bi_gone;
-- a role-scoped rule does not outlive its role (nor turns into a rule for
-- every role)
SELECT workload_guard.block_digest(4242, role => 'regress_bi_gone');
DROP ROLE regress_bi_gone;
SELECT count(*) AS active_rules_of_dropped_roles
  FROM workload_guard.blocked_digests
 WHERE queryid = 4242 AND (active OR role IS NULL);
SELECT workload_guard.unblock_digest(4242) >= 0 AS cleaned;

DROP EXTENSION workload_guard CASCADE;
DROP TABLE bi_t, bi_part, bi_temp;
DROP SEQUENCE bi_seq;
DROP VIEW bi_view;
DROP MATERIALIZED VIEW bi_mv;
DROP TYPE bi_type;
DROP DATABASE regress_bi_other;
DROP ROLE regress_bi_plain;
