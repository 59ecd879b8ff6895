#!/bin/bash
# make demo: build and install workload_guard, start a throwaway PostgreSQL 15
# with it preloaded (loopback only, data under the build tree), run a mixed
# workload with pgbench, print what the views show, and stop the server.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)

bash scripts/deps.sh
. scripts/env.sh
make -s PG_CONFIG="$PG_CONFIG" >/dev/null
make -s PG_CONFIG="$PG_CONFIG" install >/dev/null

# initdb refuses root: the cluster belongs to postgres.  Keep it under the
# build tree when postgres can reach it, else in a temporary directory.
DATA="$SRC/demo_data"
if ! runuser -u postgres -- test -x "$SRC"; then
	DATA=$(mktemp -d /tmp/workload_guard_demo.XXXXXX)
fi
PORT=${WG_DEMO_PORT:-54329}
as_pg() { runuser -u postgres -- env PATH="$PATH" "$@"; }

rm -rf "$DATA"
mkdir -p "$DATA"
chown postgres: "$DATA"
as_pg initdb -A trust -U postgres -D "$DATA/pgdata" >/dev/null
cat >> "$DATA/pgdata/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DATA'
shared_preload_libraries = 'workload_guard'
workload_guard.recent_window = 30s
CONF

stop() { as_pg pg_ctl -D "$DATA/pgdata" -m fast stop >/dev/null 2>&1 || true; }
trap stop EXIT
as_pg pg_ctl -D "$DATA/pgdata" -l "$DATA/server.log" -w start >/dev/null

export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
psql_() { as_pg env PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER psql -X -q -v ON_ERROR_STOP=1 "$@"; }
title() { printf '\n=== %s\n' "$*"; }

title "setup: pgbench tables (scale 5) and the extension"
as_pg env PGHOST=$PGHOST PGPORT=$PGPORT pgbench -q -i -s 5 postgres 2>&1 | tail -1
psql_ -c "CREATE EXTENSION workload_guard" -c "SELECT workload_guard.reset_latency()" >/dev/null

# A mixed workload: fast point reads, the TPC-B-like write transaction, a
# slow report with a heavy tail, and a report that sometimes hits
# statement_timeout (those are the executions an operator hunts for).
cat > "$DATA/point.sql" <<'SQL'
\set aid random(1, 500000)
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
SQL
cat > "$DATA/report.sql" <<'SQL'
\set bid random(1, 5)
\set lim random(1, 100)
SELECT bid, count(*), sum(abalance) FROM pgbench_accounts WHERE bid = :bid AND aid % :lim = 0 GROUP BY bid;
SQL
# pgbench stops a client at its first error, so the statements that run
# into statement_timeout come from a psql session on the side.
{
	for i in $(seq 1 20); do
		echo "SET statement_timeout = '40ms';"
		echo "SELECT count(*) FROM pgbench_accounts a JOIN pgbench_accounts b USING (bid) WHERE a.aid < 300;"
		echo "RESET statement_timeout;"
		echo "SELECT pg_sleep(0.5);"
	done
} > "$DATA/timeout.sql"
chmod 644 "$DATA"/*.sql

title "workload: 15 s of pgbench, 4 clients (point reads, tpcb-like, reports) + 20 timeouts"
psql_ -v ON_ERROR_STOP=0 -f "$DATA/timeout.sql" >/dev/null 2>&1 &
as_pg env PGHOST=$PGHOST PGPORT=$PGPORT pgbench -n -c 4 -j 2 -T 15 -M prepared \
	-f "$DATA/point.sql@20" -b tpcb-like@4 -f "$DATA/report.sql@1" \
	postgres 2>&1 | grep -E "^(tps|number of transactions actually|latency average)" || true
wait

title "top digests by p99 (cumulative and recent window)"
psql_ -c "
SELECT queryid, calls, errors, cancels,
       round(p50_ms::numeric, 3) AS p50_ms, round(p95_ms::numeric, 3) AS p95_ms,
       round(p99_ms::numeric, 3) AS p99_ms, round(p999_ms::numeric, 3) AS p999_ms,
       round(max_ms::numeric, 3) AS max_ms,
       recent_calls, round(recent_p99_ms::numeric, 3) AS recent_p99_ms,
       left(regexp_replace(query, '\s+', ' ', 'g'), 60) AS query
FROM workload_guard.statement_latency
ORDER BY p99_ms DESC NULLS LAST LIMIT 10"

title "latency distribution of the point read and of the report (workload_guard.latency_chart)"
psql_ -c "
SELECT * FROM workload_guard.latency_chart(
  (SELECT queryid FROM workload_guard.statement_latency
   WHERE query LIKE 'SELECT abalance FROM pgbench_accounts%' ORDER BY calls DESC LIMIT 1)) AS point_read" \
	-c "
SELECT * FROM workload_guard.latency_chart(
  (SELECT queryid FROM workload_guard.statement_latency
   WHERE query LIKE 'SELECT bid, count(*)%' ORDER BY calls DESC LIMIT 1)) AS report"

title "p99.9 of the report query, and the table state"
psql_ -c "
SELECT round(workload_guard.latency_percentile(queryid, 0.999)::numeric, 3) AS report_p999_ms
FROM workload_guard.statement_latency WHERE query LIKE 'SELECT bid, count(*)%' LIMIT 1" \
	-c "SELECT * FROM workload_guard.latency_info"

title "what Prometheus scrapes (monitoring/queries.yaml): the top 3 digests as histograms"
psql_ -c "
SELECT role, queryid, count, round(sum_seconds::numeric, 3) AS sum_seconds, errors, cancels,
       (SELECT string_agg(format('le=%s:%s', l, b), ' ')
          FROM (SELECT l, b FROM unnest(le, bucket) u(l, b) WHERE b > 0 LIMIT 4) f) AS first_buckets
FROM workload_guard.prometheus_latency(3)"

title "a fleet-wide p99 from compact per-node values (here: this node twice, as if two nodes)"
psql_ -c "
WITH q AS (SELECT queryid FROM workload_guard.statement_latency
           WHERE query LIKE 'SELECT bid, count(*)%' LIMIT 1),
     nodes AS (SELECT workload_guard.latency_export(queryid) AS v FROM q, generate_series(1, 2))
SELECT max(length(v)) AS bytes_per_node,
       round(workload_guard.latency_value_percentile(workload_guard.latency_merge(v), 0.99)::numeric, 3) AS fleet_p99_ms,
       (workload_guard.latency_value_stats(workload_guard.latency_merge(v))).calls AS fleet_calls
FROM nodes"

if [ -f scripts/demo_features.sh ]; then
	. scripts/demo_features.sh
fi

title "done: server stopped, data in $DATA"
