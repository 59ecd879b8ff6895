#!/bin/bash
# make soak: test/t/051_soak.pl for WG_SOAK_SECONDS (default 600): 32 pgbench
# clients (simple and prepared, select-only and TPC-B) while the
# configuration churns at 12 changes a second; prints the TAP output and the
# figures (duration, clients, changes, executions).  make test runs the same
# file for 60 s.  Like make test, it installs its dependencies, builds,
# installs into PG_CONFIG's tree and runs as postgres in a scratch copy.
set -uo pipefail
cd "$(dirname "$0")/.."
export WG_SOAK_SECONDS=${WG_SOAK_SECONDS:-600}

bash scripts/deps.sh || { echo "FAILED: could not install dependencies"; exit 1; }
. scripts/env.sh
make -s PG_CONFIG="$PG_CONFIG" >/dev/null || { echo "FAILED: build"; exit 1; }
make -s PG_CONFIG="$PG_CONFIG" install >/dev/null || { echo "FAILED: install"; exit 1; }

WORK=$(mktemp -d /tmp/workload_guard_soak.XXXXXX)
cp -a . "$WORK/"
run() { "$@"; }
if [ "$(id -u)" = 0 ]; then
	chown -R postgres: "$WORK"
	run() { runuser -u postgres -- env PATH="$PATH" WG_SOAK_SECONDS="$WG_SOAK_SECONDS" "$@"; }
fi
echo "soak: $WG_SOAK_SECONDS s (WG_SOAK_SECONDS), logs in $WORK"
run make -C "$WORK" -s PG_CONFIG="$PG_CONFIG" installcheck REGRESS= ISOLATION= \
	PROVE_TESTS=test/t/051_soak.pl PROVE_FLAGS=-v > "$WORK/soak.log" 2>&1
rc=$?
grep -E "^(ok|not ok)|soak:|^#  |Result:" "$WORK/soak.log"
if [ $rc != 0 ]; then
	echo "FAILED: see $WORK/soak.log and $WORK/tmp_check/log"
	exit 1
fi
rm -rf "$WORK"
exit 0
