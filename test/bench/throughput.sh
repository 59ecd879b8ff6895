#!/bin/bash
# Throughput of workload_guard against pg_stat_statements and against
# compute_query_id = on, with pgbench (see test/bench/README.md).
#
# pgbench -S (point SELECT) and the TPC-B-like script, -M prepared, with 1
# and 2 clients (THR_CLIENTS), each configuration restarted in turn within
# each round and rounds repeated (THR_ROUNDS), so that the machine's drift
# (other load, frequency) spreads over every configuration alike; the
# median and the spread (min..max) of the rounds are printed.
#
#   bash test/bench/throughput.sh      (as root; PG_CONFIG selects the build)
#
# Environment:
#   THR_ROUNDS=5        rounds
#   THR_SECONDS=10      seconds per pgbench run
#   THR_CLIENTS="1 2"   client counts (on a bigger machine: "1 8 32 64")
#   THR_SCALE=10        pgbench scale factor
#   THR_CONFIGS="on pgss wg"
#   THR_PORT=55499
set -uo pipefail
cd "$(dirname "$0")/../.."
SRC=$(pwd)
. scripts/env.sh

ROUNDS=${THR_ROUNDS:-5}
SECS=${THR_SECONDS:-10}
# shellcheck disable=SC2206
CLIENTS=(${THR_CLIENTS:-1 2})
# shellcheck disable=SC2206
CONFIGS=(${THR_CONFIGS:-on pgss wg})
SCALE=${THR_SCALE:-10}
PORT=${THR_PORT:-55499}

die() { echo "throughput: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (it runs postgres as the postgres user)"

make -s PG_CONFIG="$PG_CONFIG" >/dev/null || die "build failed"
WORK=$(mktemp -d /tmp/wg_thr.XXXXXX)
trap 'as_pg pg_ctl -D "$WORK/data" -m fast stop >/dev/null 2>&1; rm -rf "$WORK"' EXIT
cp "$SRC/workload_guard.so" "$WORK/"
chown -R postgres: "$WORK"
as_pg() { runuser -u postgres -- env PATH="$PATH" "$@"; }

as_pg initdb -D "$WORK/data" -A trust -U postgres >"$WORK/initdb.log" 2>&1 || die "initdb failed"
cat >>"$WORK/data/postgresql.conf" <<EOF
port = $PORT
unix_socket_directories = '$WORK'
listen_addresses = ''
shared_buffers = 256MB
max_connections = 100
synchronous_commit = off
jit = off
include_if_exists = 'bench.conf'
EOF

declare -A SETTINGS=(
	[on]="compute_query_id = on"
	[pgss]="shared_preload_libraries = 'pg_stat_statements'"
	[wg]="shared_preload_libraries = '$WORK/workload_guard.so'"
	[both]="shared_preload_libraries = 'pg_stat_statements,$WORK/workload_guard.so'"
)

start_with() {
	echo "${SETTINGS[$1]}" >"$WORK/data/bench.conf"
	chown postgres: "$WORK/data/bench.conf"
	as_pg pg_ctl -D "$WORK/data" -l "$WORK/server.log" -w restart >/dev/null 2>&1 ||
		as_pg pg_ctl -D "$WORK/data" -l "$WORK/server.log" -w start >/dev/null ||
		die "server did not start with $1"
}

start_with on
as_pg pgbench -h "$WORK" -p "$PORT" -i -q -s "$SCALE" postgres >"$WORK/init.log" 2>&1 ||
	die "pgbench -i failed"

declare -A TPS
for ((r = 1; r <= ROUNDS; r++)); do
	for cfg in "${CONFIGS[@]}"; do
		start_with "$cfg"
		for wl in select tpcb; do
			for c in "${CLIENTS[@]}"; do
				opt=()
				[ "$wl" = select ] && opt=(-S)
				tps=$(as_pg pgbench -h "$WORK" -p "$PORT" -n -M prepared "${opt[@]}" \
					-c "$c" -j "$c" -T "$SECS" postgres 2>/dev/null |
					awk '/^tps = / { print $3; exit }')
				TPS[$cfg.$wl.$c]+="${tps:-0} "
				echo "round $r $cfg $wl c=$c: $tps" >&2
			done
		done
	done
done

stats() {
	tr ' ' '\n' | grep -v '^$' | sort -g |
		awk '{ v[NR] = $1 } END {
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
			printf "%10.0f  %8.0f..%-8.0f", m, v[1], v[NR] }'
}

echo
echo "throughput, pgbench -M prepared, $ROUNDS rounds of ${SECS}s, scale $SCALE, $(nproc) CPUs"
printf "%-8s %-6s %4s  %10s  %18s  %8s\n" workload config c "median tps" "min..max" "vs on"
for wl in select tpcb; do
	for c in "${CLIENTS[@]}"; do
		base=$(echo "${TPS[on.$wl.$c]:-}" | stats | awk '{ print $1 }')
		for cfg in "${CONFIGS[@]}"; do
			line=$(echo "${TPS[$cfg.$wl.$c]}" | stats)
			med=$(echo "$line" | awk '{ print $1 }')
			rel=$(awk -v a="$med" -v b="${base:-0}" 'BEGIN { if (b > 0) printf "%+.1f %%", (a - b) / b * 100 }')
			printf "%-8s %-6s %4s  %s  %8s\n" "$wl" "$cfg" "$c" "$line" "$rel"
		done
	done
done
