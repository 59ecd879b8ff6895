#!/bin/bash
# make test: install dependencies, build, install, then run every suite
# (pg_regress, isolation, TAP) as the postgres user in a scratch copy of
# the tree, and finish with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)

bash scripts/deps.sh || { echo "FAILED: could not install dependencies"; exit 1; }
. scripts/env.sh

make -s PG_CONFIG="$PG_CONFIG" >/dev/null || { echo "FAILED: build"; exit 1; }
make -s PG_CONFIG="$PG_CONFIG" install >/dev/null || { echo "FAILED: install"; exit 1; }

# initdb refuses root: run the suites as postgres in a copy it owns.
WORK=$(mktemp -d /tmp/workload_guard_test.XXXXXX)
cp -a "$SRC/." "$WORK/"
chown -R postgres: "$WORK"
run() { runuser -u postgres -- env PATH="$PATH" "$@"; }

passed=0
failed=0
suites_failed=""

# run_suite NAME LOGNAME DIFFS MAKEARGS...: one pg_regress-style suite
run_suite() {
	local name=$1 log=$2 diffs=$3 rc p f
	shift 3
	echo "== $name"
	run make -C "$WORK" -s PG_CONFIG="$PG_CONFIG" installcheck "$@" > "$WORK/$log" 2>&1
	rc=$?
	grep -E "^(ok|not ok|test |     )|tests (passed|failed)" "$WORK/$log" || true
	p=$(grep -cE "^ok |^test .* \.\.\. ok|^     .* \.\.\. ok" "$WORK/$log")
	f=$(grep -cE "^not ok |FAILED" "$WORK/$log")
	passed=$((passed + p)); failed=$((failed + f))
	if [ $rc != 0 ]; then
		suites_failed="$suites_failed $name"
		[ -f "$WORK/$diffs" ] && head -200 "$WORK/$diffs"
		[ "$f" = 0 ] && failed=$((failed + 1))
	fi
	return 0
}

run_suite pg_regress regress.log regression.diffs ISOLATION= TAP_TESTS=
run_suite isolation isolation.log output_iso/regression.diffs REGRESS= TAP_TESTS=

echo "== TAP"
run make -C "$WORK" -s PG_CONFIG="$PG_CONFIG" installcheck REGRESS= ISOLATION= \
	> "$WORK/tap.log" 2>&1
rc=$?
grep -vE "^\s*$" "$WORK/tap.log" | grep -E "^t/|^test/|\.\. |Result|Files=|not ok|Failed" || true
p=$(grep -cE "^test/t/.*\.pl \.+ ok" "$WORK/tap.log")
f=$(grep -cE "^test/t/.*\.pl \.+ .*(Failed|Dubious|not ok)" "$WORK/tap.log")
passed=$((passed + p)); failed=$((failed + f))
if [ $rc != 0 ]; then
	suites_failed="$suites_failed tap"
	for l in "$WORK"/tmp_check/log/regress_log_*; do
		[ -f "$l" ] && grep -q "not ok" "$l" && { echo "--- $l"; tail -60 "$l"; }
	done
	[ "$f" = 0 ] && failed=$((failed + 1))
fi

echo
if [ -n "$suites_failed" ]; then
	echo "logs kept in $WORK"
	echo "FAILED suites:$suites_failed"
	echo "$passed passed, $failed failed"
	exit 1
fi
rm -rf "$WORK"			# keep the scratch copy only when something failed
echo "$passed passed, $failed failed"
exit 0
