#!/bin/bash
# Hot-path cost of workload_guard, in instructions per statement, measured
# with callgrind against three baselines (see test/bench/README.md).
#
# For each configuration, N and 2N point SELECTs (plain text, one statement
# per line) are fed to "postgres --single" under callgrind, each run on a
# fresh copy of a throwaway data directory; (Ir(2N) - Ir(N)) / N is the cost
# of one statement with start-up and shutdown cancelled out.
#
#   bash test/bench/callgrind.sh            (as root: installs valgrind)
#
# Environment:
#   BENCH_N=2000        statements in the short run (the long run has 2N)
#   BENCH_WORKLOADS="select prepared update"   statements measured (default
#                       all): point SELECT as text, the same SELECT through
#                       PREPARE/EXECUTE, a primary-key UPDATE
#   BENCH_PROFILE=1     also print, per function, the instructions per
#                       statement that workload_guard adds over
#                       compute_query_id = on (default 1)
#   BENCH_CONFIGS="..." subset of "off on pgss wg wgnone wgext both wg1000 wgrate wgapp" to run (default all;
#                       the deltas need "off" and "on", the ratio "pgss")
#   BENCH_KEEP=1        keep the scratch directory (callgrind.out.* files)
#   BENCH_SO=path       workload_guard.so to load (default: the one built
#                       here by this script; nothing is installed, so no
#                       install lock is needed and the numbers are those of
#                       this tree)
#
# It is a benchmark, not a test: it exits non-zero only when it cannot set
# up or run a configuration, never because of the numbers.
set -uo pipefail
cd "$(dirname "$0")/../.."
SRC=$(pwd)

N=${BENCH_N:-2000}
PROFILE=${BENCH_PROFILE:-1}

die() { echo "bench: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs valgrind and runs postgres as the postgres user)"
WG_WITH_BENCH=1 bash scripts/deps.sh || die "could not install dependencies"
. scripts/env.sh
command -v valgrind >/dev/null || die "valgrind not found"
id postgres >/dev/null 2>&1 || die "no postgres user"

if [ -z "${BENCH_SO:-}" ]; then
	make -s PG_CONFIG="$PG_CONFIG" >/dev/null || die "build failed"
	BENCH_SO="$SRC/workload_guard.so"
fi
[ -f "$BENCH_SO" ] || die "$BENCH_SO not found"
PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)
[ -f "$PKGLIBDIR/pg_stat_statements.so" ] || die "pg_stat_statements.so not in $PKGLIBDIR"

WORK=$(mktemp -d /tmp/wg_bench.XXXXXX)
cleanup() { [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$WORK"; }
trap cleanup EXIT
cp "$BENCH_SO" "$WORK/workload_guard.so"
chown -R postgres: "$WORK"
chmod 755 "$WORK"
as_pg() { runuser -u postgres -- env PATH="$PATH" "$@"; }

# ---- a throwaway cluster with a small table that has a primary key
as_pg initdb -D "$WORK/pristine" -A trust -U postgres >"$WORK/initdb.log" 2>&1 ||
	{ cat "$WORK/initdb.log"; die "initdb failed"; }
as_pg postgres --single -D "$WORK/pristine" postgres >"$WORK/setup.log" 2>&1 <<'EOF' ||
CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL)
INSERT INTO t SELECT g, g * 7 FROM generate_series(1, 1000) g
VACUUM ANALYZE t
EOF
	{ cat "$WORK/setup.log"; die "setup failed"; }
grep -q "ERROR" "$WORK/setup.log" && { cat "$WORK/setup.log"; die "setup failed"; }

# ---- the same cluster with the extension created and rules in place that
# the workload's digest does not match (a block of another digest, a
# disabled index of another table): the path every statement takes on a
# server whose brakes are in use elsewhere
cp -a "$WORK/pristine" "$WORK/pristine_ext"
as_pg postgres --single -D "$WORK/pristine_ext" \
	-c shared_preload_libraries="$WORK/workload_guard.so" postgres >"$WORK/setup_ext.log" 2>&1 <<'EOF' ||
CREATE EXTENSION workload_guard
CREATE TABLE other (id int PRIMARY KEY)
SELECT workload_guard.block_digest(workload_guard.queryid_of('SELECT id FROM other'), 'bench')
SELECT workload_guard.disable_index('other_pkey', 'bench', force => true)
EOF
	{ cat "$WORK/setup_ext.log"; die "setup of the extension failed"; }
grep -q "ERROR" "$WORK/setup_ext.log" && { cat "$WORK/setup_ext.log"; die "setup of the extension failed"; }

# ---- traffic (rate limits, budgets): two more clusters with the extension
#   wg1000: 1,000 digest rules, none of which matches the workload (one
#           hash probe per statement, whatever the number of rules)
#   wgrate: a rate rule on the workload's digest that admits every
#           statement (the token bucket's arithmetic on every statement)
#   wgapp:  1,000 rules, none matching: 450 digest rules, 450 digest rules
#           of another application, 100 rules over every digest of other
#           applications (the session's application is matched once, not
#           per statement)
traffic_pristine() {
	local cfg=$1 sql=$2
	cp -a "$WORK/pristine_ext" "$WORK/pristine_$cfg"
	echo "$sql" | as_pg postgres --single -D "$WORK/pristine_$cfg" \
		-c shared_preload_libraries="$WORK/workload_guard.so" postgres \
		>"$WORK/setup_$cfg.log" 2>&1 || { cat "$WORK/setup_$cfg.log"; die "setup of $cfg failed"; }
	grep -q "ERROR" "$WORK/setup_$cfg.log" && { cat "$WORK/setup_$cfg.log"; die "setup of $cfg failed"; }
}
traffic_pristine wg1000 "SELECT count(workload_guard.block_digest(g, 'bench')) FROM generate_series(1, 1000) g"
traffic_pristine wgrate "SELECT workload_guard.rate_limit_digest(workload_guard.queryid_of('SELECT v FROM t WHERE id = 1'), 1000000, 1000000, 'bench')"
traffic_pristine wgapp "SELECT count(workload_guard.block_digest(g, 'bench', application_name => CASE WHEN g % 2 = 0 THEN 'other-app' END)) + count(workload_guard.block_digest(NULL, 'bench', application_name => 'other-app-' || g)) FILTER (WHERE g <= 100) FROM generate_series(1, 900) g"

# ---- the workloads: one digest each, with varying constants, one statement
# per line, the last one newline-terminated
gen() {
	local w=$1 n=$2 i
	[ "$w" = prepared ] && echo "PREPARE p(int) AS SELECT v FROM t WHERE id = \$1"
	for ((i = 0; i < n; i++)); do
		case $w in
			select) echo "SELECT v FROM t WHERE id = $((i % 1000 + 1))" ;;
			prepared) echo "EXECUTE p($((i % 1000 + 1)))" ;;
			update) echo "UPDATE t SET v = v + 1 WHERE id = $((i % 1000 + 1))" ;;
		esac
	done
}
# shellcheck disable=SC2206
WORKLOADS=(${BENCH_WORKLOADS:-select prepared update})
for w in "${WORKLOADS[@]}"; do
	gen "$w" "$N" >"$WORK/stmts_${w}_1.sql"
	gen "$w" $((2 * N)) >"$WORK/stmts_${w}_2.sql"
done
chown postgres: "$WORK"/stmts_*.sql

# settings every run shares: small shared memory, nothing that could do work
# in the background or differently between N and 2N
COMMON=(-c shared_buffers=16MB -c max_connections=10 -c jit=off -c fsync=off
	-c autovacuum=off -c log_min_messages=warning)

# shellcheck disable=SC2206
CONFIGS=(${BENCH_CONFIGS:-off on pgss wg wgnone wgext both wg1000 wgrate wgapp})
declare -A LABEL=(
	[off]="nothing loaded, compute_query_id = off"
	[on]="nothing loaded, compute_query_id = on"
	[pgss]="pg_stat_statements (defaults)"
	[wg]="workload_guard (defaults)"
	[wgnone]="workload_guard, track = none"
	[wgext]="workload_guard, extension created, rules"
	[both]="pg_stat_statements + workload_guard"
	[wg1000]="workload_guard, 1,000 rules, none matching"
	[wgrate]="workload_guard, a rate rule admitting all"
	[wgapp]="workload_guard, 1,000 rules, app-scoped, none"
)
declare -A OPTS=(
	[off]="-c compute_query_id=off"
	[on]="-c compute_query_id=on"
	[pgss]="-c shared_preload_libraries=pg_stat_statements"
	[wg]="-c shared_preload_libraries=$WORK/workload_guard.so"
	[wgnone]="-c shared_preload_libraries=$WORK/workload_guard.so -c workload_guard.track=none"
	[wgext]="-c shared_preload_libraries=$WORK/workload_guard.so"
	[both]="-c shared_preload_libraries=pg_stat_statements,$WORK/workload_guard.so"
	[wg1000]="-c shared_preload_libraries=$WORK/workload_guard.so"
	[wgrate]="-c shared_preload_libraries=$WORK/workload_guard.so"
	[wgapp]="-c shared_preload_libraries=$WORK/workload_guard.so"
)

# run <config> <1|2>: callgrind total instructions of one run of workload $W
run() {
	local cfg=$1 k=$2
	# same data directory path and a clean environment in every run: the
	# stack layout then depends on the configuration's settings only, not
	# on the caller's environment (memcpy/memset costs vary with alignment)
	local dir="$WORK/data" out="$WORK/callgrind.out.${W}.${cfg}_$k"
	local pristine="$WORK/pristine"
	[ "$cfg" = wgext ] && pristine="$WORK/pristine_ext"
	[ -d "$WORK/pristine_$cfg" ] && pristine="$WORK/pristine_$cfg"
	rm -rf "$dir"
	cp -a "$pristine" "$dir"
	# shellcheck disable=SC2086
	runuser -u postgres -- env -i PATH="$PATH" LC_ALL=C \
		valgrind --tool=callgrind --callgrind-out-file="$out" \
		postgres --single -D "$dir" "${COMMON[@]}" ${OPTS[$cfg]} postgres \
		<"$WORK/stmts_${W}_$k.sql" >"$WORK/run_${W}_${cfg}_$k.out" 2>"$WORK/run_${W}_${cfg}_$k.err" ||
		{ tail -20 "$WORK/run_${W}_${cfg}_$k.err" >&2; return 1; }
	# each SELECT must have returned its row, and nothing may have failed
	local rows
	rows=$(grep -c '^	 1: v = ' "$WORK/run_${W}_${cfg}_$k.out")
	if { [ "$W" != update ] && [ "$rows" != $((k * N)) ]; } ||
		grep -q "ERROR" "$WORK/run_${W}_${cfg}_$k.out" "$WORK/run_${W}_${cfg}_$k.err"; then
		echo "bench: $W/$cfg/$k: $rows rows instead of $((k * N))" >&2
		grep -m5 "ERROR" "$WORK/run_${W}_${cfg}_$k.out" "$WORK/run_${W}_${cfg}_$k.err" >&2
		return 1
	fi
	rm -rf "$dir"
	awk '/^(summary|totals):/ { print $2; exit }' "$out"
}

# calls_of <callgrind.out> <LWLockAcquire|clock>: how many calls the run
# made to the function (clock: clock_gettime and gettimeofday, whichever
# entry points libc has; under valgrind the vDSO is not used)
calls_of() {
	awk -v want="$2" '
		function name_of(s,   id, rest) {
			if (match(s, /^\([0-9]+\)/)) {
				id = substr(s, RSTART, RLENGTH); rest = substr(s, RLENGTH + 2)
				if (rest != "") names[id] = rest
				return names[id]
			}
			return s
		}
		/^c?fn=/ { is_c = ($0 ~ /^cfn=/); n = name_of(substr($0, index($0, "=") + 1)); if (is_c) callee = n; next }
		/^calls=/ {
			split(substr($0, 7), a, " ")
			if ((want == "clock" && callee ~ /^(__)?(clock_gettime|gettimeofday)/) ||
				(want != "clock" && callee == want))
				total += a[1]
		}
		END { print total + 0 }' "$1"
}

declare -A IR1 IR2 PER CALLS
for W in "${WORKLOADS[@]}"; do
for cfg in "${CONFIGS[@]}"; do
	IR1[$cfg]=$(run "$cfg" 1) || die "configuration '$cfg' failed (logs in $WORK)"
	IR2[$cfg]=$(run "$cfg" 2) || die "configuration '$cfg' failed (logs in $WORK)"
	PER[$cfg]=$(( (IR2[$cfg] - IR1[$cfg]) / N ))
	for f in LWLockAcquire clock; do
		c1=$(calls_of "$WORK/callgrind.out.${W}.${cfg}_1" "$f")
		c2=$(calls_of "$WORK/callgrind.out.${W}.${cfg}_2" "$f")
		CALLS[$cfg.$f]=$(awk -v a="$c1" -v b="$c2" -v n="$N" 'BEGIN { printf "%.2f", (b - a) / n }')
	done
done

echo
echo "workload_guard hot path, callgrind, postgres --single, N = $N statements: $W"
echo "$(postgres --version), $(uname -m), $(valgrind --version)"
echo
printf "%-44s %15s %15s %12s %9s %9s\n" "configuration" "Ir(N)" "Ir(2N)" "Ir/stmt" "LWLock/st" "clock/st"
for cfg in "${CONFIGS[@]}"; do
	printf "%-44s %15s %15s %12s %9s %9s\n" "${LABEL[$cfg]}" "${IR1[$cfg]}" "${IR2[$cfg]}" "${PER[$cfg]}" \
		"${CALLS[$cfg.LWLockAcquire]}" "${CALLS[$cfg.clock]}"
done

has() { [ -n "${PER[$1]:-}" ]; }
echo
echo "instructions added per statement"
printf "%-44s %12s %12s\n" "" "vs off" "vs on"
for cfg in pgss wg wgnone wgext both wg1000 wgrate wgapp; do
	has "$cfg" || continue
	printf "%-44s %12s %12s\n" "${LABEL[$cfg]}" \
		"$(has off && echo $((PER[$cfg] - PER[off])))" \
		"$(has on && echo $((PER[$cfg] - PER[on])))"
done
if has both && has pgss; then
	printf "%-44s %12s %12s\n" "workload_guard on top of pg_stat_statements" "" \
		"$((PER[both] - PER[pgss]))"
fi

if has on && has pgss && has wg; then
	pgss_add=$((PER[pgss] - PER[on]))
	wg_add=$((PER[wg] - PER[on]))
	echo
	if [ "$pgss_add" -gt 0 ]; then
		ratio=$(awk -v a="$wg_add" -v b="$pgss_add" 'BEGIN { printf "%.2f", a / b }')
		verdict=$(awk -v r="$ratio" 'BEGIN { print (r <= 0.25) ? "meets" : "MISSES" }')
		echo "ratio (workload_guard - on) / (pg_stat_statements - on) = $wg_add / $pgss_add = $ratio ($verdict the target <= 0.25)"
	else
		echo "ratio: pg_stat_statements adds nothing over compute_query_id = on here ($pgss_add); no ratio"
	fi
fi

echo
done
# ---- where workload_guard's instructions go: per function, self cost per
# statement in the wg runs minus the same in the compute_query_id = on runs
if [ "$PROFILE" = 1 ] && has on && has pgss && has wg && command -v callgrind_annotate >/dev/null; then
	selfcost() {
		# the "Ir (pct)  file:function [object]" list: self cost, no threshold
		callgrind_annotate --inclusive=no --threshold=100 --auto=no "$1" 2>/dev/null |
			awk '/file:function/ { on = 1; next }
				on && /^-+$/ { next }
				on && NF == 0 { exit }
				on && $1 ~ /^[0-9,]+$/ {
					ir = $1; gsub(",", "", ir); $1 = "";
					sub(/^ *\( *[0-9.]+%\) */, "");
					# callgrind_annotate tags an unnamed (static) function
					# with either object sharing its offset: drop the tag
					if ($0 ~ /^\?\?\?:0x/) sub(/ \[.*\]$/, "");
					cost[$0] += ir }
			END { for (f in cost) print cost[f] "\t" f }'
	}
	for cfg in on pgss wg; do
		for k in 1 2; do
			selfcost "$WORK/callgrind.out.${WORKLOADS[0]}.${cfg}_$k" >"$WORK/self.${cfg}_$k"
		done
	done
	# delta <cfg> <top>: per-statement self cost of cfg minus that of "on"
	delta() {
		awk -F'\t' -v n="$N" '
			FILENAME ~ /on_1$/ { b1[$2] = $1; f[$2] = 1; next }
			FILENAME ~ /on_2$/ { b2[$2] = $1; f[$2] = 1; next }
			FILENAME ~ /_1$/ { c1[$2] = $1; f[$2] = 1; next }
			{ c2[$2] = $1; f[$2] = 1 }
			END {
				for (k in f) {
					d = ((c2[k] - c1[k]) - (b2[k] - b1[k])) / n;
					if (d >= 0.5 || d <= -0.5) printf "%10.1f  %s\n", d, k
				}
			}' "$WORK/self.on_1" "$WORK/self.on_2" "$WORK/self.${1}_1" "$WORK/self.${1}_2" |
			sed "s|$WORK/||" | sort -k1,1 -g -r | head -"$2"
	}
	echo
	echo "workload_guard minus compute_query_id = on: self instructions per statement, by function (${WORKLOADS[0]})"
	delta wg 25
	echo
	echo "pg_stat_statements minus compute_query_id = on: self instructions per statement, by function"
	delta pgss 25
fi

[ "${BENCH_KEEP:-0}" = 1 ] && echo && echo "kept: $WORK"
exit 0
