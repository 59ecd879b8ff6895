# Sourced by scripts/demo.sh once the workload ran: the schema-change guard,
# DDL history, soft-disabled indexes and incident brakes on the same server.

title "schema-change guard: a rewriting ALTER and a blocking CREATE INDEX are refused"
psql_ -v ON_ERROR_STOP=0 -c "ALTER TABLE pgbench_accounts ALTER COLUMN abalance TYPE bigint" 2>&1 || true
psql_ -v ON_ERROR_STOP=0 -c "CREATE INDEX accounts_bid ON pgbench_accounts (bid)" 2>&1 || true

title "the lightweight forms run"
psql_ -c "ALTER TABLE pgbench_accounts ADD COLUMN note text" \
	-c "CREATE INDEX CONCURRENTLY accounts_bid ON pgbench_accounts (bid)" \
	-c "ALTER TABLE pgbench_accounts DROP COLUMN note"

title "a DDL stuck behind a long transaction gives up after workload_guard.ddl_lock_timeout and names the blocker"
psql_ -c "BEGIN; SELECT count(*) FROM pgbench_branches; SELECT pg_sleep(4); COMMIT;" >/dev/null &
sleep 1
psql_ -v ON_ERROR_STOP=0 -c "SET workload_guard.ddl_lock_timeout = '1s'" \
	-c "ALTER TABLE pgbench_branches ADD COLUMN region text" 2>&1 || true
wait

title "ddl_history: every schema change that ran"
psql_ -c "
SELECT started_at::time(0), round(duration_ms::numeric, 1) AS ms, command_tag,
       object_identities, rewrote, bypassed, left(statement, 50) AS statement
FROM workload_guard.ddl_history ORDER BY id"

title "ddl_rejections: what was refused or gave up, with the blockers"
psql_ -c "
SELECT rejected_at::time(0), sqlstate, rule, command_tag, relation, left(blockers, 70) AS blockers
FROM workload_guard.ddl_rejections ORDER BY rejected_at"

title "soft-disabled index: rehearse dropping accounts_bid"
psql_ -c "EXPLAIN (COSTS OFF) SELECT count(*) FROM pgbench_accounts WHERE bid = 3" \
	-c "SELECT workload_guard.disable_index('accounts_bid', reason => 'drop candidate')" \
	-c "EXPLAIN (COSTS OFF) SELECT count(*) FROM pgbench_accounts WHERE bid = 3" \
	-c "SELECT index, \"table\", disabled_by, reason, scans_since_disabled FROM workload_guard.disabled_indexes" \
	-c "SELECT workload_guard.enable_index('accounts_bid')"

title "incident brake: the report query storms the primary; block its digest for 10 minutes"
QID=$(psql_ -At -c "SELECT queryid FROM workload_guard.statement_latency
                    WHERE query LIKE 'SELECT bid, count(*)%' ORDER BY calls DESC LIMIT 1")
psql_ -c "SELECT workload_guard.block_digest($QID, reason => 'incident 42: report storm', expires_in => '10 minutes')"
as_pg env PGHOST=$PGHOST PGPORT=$PGPORT pgbench -n -c 2 -t 5 -M prepared -f "$DATA/report.sql" postgres 2>&1 \
	| grep -E "ERROR|DETAIL|HINT|processed" | head -4 || true
title "a cap instead: at most 1 report in flight on this node"
psql_ -c "SELECT workload_guard.cap_digest($QID, 1, reason => 'incident 42: one at a time')"
as_pg env PGHOST=$PGHOST PGPORT=$PGPORT pgbench -n -c 4 -T 3 -M prepared -f "$DATA/report.sql" postgres 2>&1 \
	| grep -E "^ERROR|aborted|processed" | head -3 || true
psql_ -c "SELECT queryid, mode, max_running, reason, created_by, expires_at::time(0), blocked, capped, last_hit::time(0)
          FROM workload_guard.blocked_digests"
psql_ -c "SELECT workload_guard.unblock_digest($QID) AS rules_removed"
