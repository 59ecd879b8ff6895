#!/bin/bash
# Install what building and testing workload_guard needs on Debian 12.
# Idempotent and quiet when everything is already there.
set -euo pipefail

PKGS="postgresql-15 postgresql-server-dev-15 postgresql-contrib libipc-run-perl libkrb5-dev make gcc"
if [ "${WG_WITH_BENCH:-0}" = 1 ]; then
	PKGS="$PKGS valgrind"
fi
# the real monitoring chain for test/t/060_prometheus.pl (WG_WITH_MONITORING=0
# skips them, and the test says so); the test runs
# its own exporter and prometheus on free ports, not the packages' services
if [ "${WG_WITH_MONITORING:-1}" = 1 ]; then
	PKGS="$PKGS prometheus prometheus-postgres-exporter curl"
fi

missing=""
for p in $PKGS; do
	# postgresql-contrib is a virtual package on bookworm: it is in postgresql-15
	[ "$p" = postgresql-contrib ] && continue
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "workload_guard: missing packages:$missing (run as root to install them)" >&2
		exit 1
	fi
	echo "workload_guard: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends $missing >/dev/null
fi

# Debian's postgresql-15 starts a cluster on 5432; the tests bring their own.
exit 0
