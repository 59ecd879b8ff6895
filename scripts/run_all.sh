#!/bin/bash
# make test: install dependencies, build, install, then run every suite
# (pg_regress, isolation, TAP) as the postgres user in a scratch copy of
# the tree, and finish with "N passed, N failed".
#
# For everyday work a subset can be run: WG_REGRESS, WG_ISOLATION and WG_TAP
# name the tests of each suite to run ("none" skips the suite), e.g.
#   WG_REGRESS=digest_rules WG_ISOLATION=none WG_TAP=none make test
#   WG_REGRESS=none WG_ISOLATION=none WG_TAP=test/t/003_ddl_standby.pl make test
set -uo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)

# WG_SKIP_DEPS=1: the caller installed them (scripts/chroot.sh does)
[ "${WG_SKIP_DEPS:-0}" = 1 ] || bash scripts/deps.sh ||
	{ echo "FAILED: could not install dependencies"; exit 1; }
. scripts/env.sh

make -s PG_CONFIG="$PG_CONFIG" >/dev/null || { echo "FAILED: build"; exit 1; }
make -s PG_CONFIG="$PG_CONFIG" install >/dev/null || { echo "FAILED: install"; exit 1; }

# initdb refuses root: run the suites as postgres in a copy it owns.
WORK=$(mktemp -d /tmp/workload_guard_test.XXXXXX)
cp -a "$SRC/." "$WORK/"
chown -R postgres: "$WORK"
# the sanitizer runtimes' options must reach every server the suites start
run() {
	runuser -u postgres -- env PATH="$PATH" ${ASAN_OPTIONS:+ASAN_OPTIONS="$ASAN_OPTIONS"} \
		${UBSAN_OPTIONS:+UBSAN_OPTIONS="$UBSAN_OPTIONS"} "$@"
}

passed=0
failed=0
suites_failed=""

# scan_logs NAME FILE|DIR...: a failed Assert or a sanitizer report in any
# log fails the run even when every test passed (a report from a process
# whose output no test reads).  Called after each suite: the TAP suite
# empties tmp_check before it starts.
scan_logs() {
	local name=$1 hits
	shift
	hits=$(grep -rlE "TRAP: |runtime error:|AddressSanitizer|LeakSanitizer" "$@" 2>/dev/null)
	[ -z "$hits" ] && return 0
	suites_failed="$suites_failed $name-logs"
	failed=$((failed + 1))
	for l in $hits; do
		echo "--- $l"
		grep -m3 -A30 -E "TRAP: |runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer" "$l"
	done
}

# run_suite NAME LOGNAME DIFFS SERVERLOGS MAKEARGS...: one pg_regress-style
# suite whose temporary instance logs into SERVERLOGS
run_suite() {
	local name=$1 log=$2 diffs=$3 slogs=$4 rc p f
	shift 4
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
	scan_logs "$name" "$WORK/$log" "$WORK/$slogs"
	return 0
}

# subset selection: make's command-line variables override the Makefile's
sel() { [ -n "${2:-}" ] && { [ "$2" = none ] && echo "$1=" || echo "$1=$2"; } || true; }
# (one word each, so that "WG_REGRESS='a b'" selects two tests)
REG_SEL=$(sel REGRESS "${WG_REGRESS:-}")
ISO_SEL=$(sel ISOLATION "${WG_ISOLATION:-}")
TAP_SEL=$(sel PROVE_TESTS "${WG_TAP:-}")

[ "${WG_REGRESS:-}" != none ] &&
	run_suite pg_regress regress.log regression.diffs log ISOLATION= TAP_TESTS= ${REG_SEL:+"$REG_SEL"}
[ "${WG_ISOLATION:-}" != none ] &&
	run_suite isolation isolation.log output_iso/regression.diffs output_iso/log REGRESS= TAP_TESTS= ${ISO_SEL:+"$ISO_SEL"}

rc=0
: > "$WORK/tap.log"
if [ "${WG_TAP:-}" != none ]; then
echo "== TAP"
run make -C "$WORK" -s PG_CONFIG="$PG_CONFIG" installcheck REGRESS= ISOLATION= ${TAP_SEL:+"$TAP_SEL"} \
	> "$WORK/tap.log" 2>&1
rc=$?
fi
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
[ "${WG_TAP:-}" != none ] && scan_logs tap "$WORK/tap.log" "$WORK"/tmp_check/log

echo
if [ -n "$suites_failed" ]; then
	echo "logs kept in $WORK"
	echo "FAILED suites:$suites_failed"
	echo "$passed passed, $failed failed"
	exit 1
fi
# keep the scratch copy only when something failed (or WG_KEEP=1)
if [ "${WG_KEEP:-0}" = 1 ]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
echo "$passed passed, $failed failed"
exit 0
