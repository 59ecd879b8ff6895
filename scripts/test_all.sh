#!/bin/bash
# make test-all (or PG=17 make test): the suites of scripts/run_all.sh on
# every supported major, then per-major results and one total line.
#
#   15      the machine's own PostgreSQL (PG_CONFIG from the environment, else
#           PATH, else Debian 12's), exactly as "make test" runs it
#   17..19  a Debian chroot per major (scripts/chroot.sh creates and caches
#           it), into which a clean copy of the tree is put and tested
#
# WG_MAJORS (or PG) selects majors ("17 19"); WG_REGRESS / WG_ISOLATION /
# WG_TAP select a subset of every suite, as for "make test".  Exits nonzero
# when any test of any major failed.
set -uo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
MAJORS=${WG_MAJORS:-${PG:-15 17 18 19}}
LOGDIR=$(mktemp -d /tmp/workload_guard_matrix.XXXXXX)

total_p=0
total_f=0
summary=""
start_all=$(date +%s)

# the suite selection travels into the chroot explicitly (chroot.sh clears
# the environment)
sel_env=()
for v in WG_REGRESS WG_ISOLATION WG_TAP; do
	[ -n "${!v:-}" ] && sel_env+=("$v=${!v}")
done

run_major() {
	local m=$1 root
	if [ "$m" = 15 ]; then
		bash scripts/run_all.sh
		return
	fi
	root=$(bash scripts/chroot.sh "$m") || { echo "FAILED: chroot for $m"; return 1; }
	# a clean copy: objects built for another major must not be reused
	rm -rf "$root/build/wg$m"
	mkdir -p "$root/build/wg$m"
	tar -C "$SRC" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		--exclude=tmp_check --exclude=tmp_check_iso --exclude=results \
		--exclude=output_iso --exclude=log -cf - . | tar -C "$root/build/wg$m" -xf -
	bash scripts/chroot.sh "$m" env "${sel_env[@]}" WG_SKIP_DEPS=1 \
		PG_CONFIG="/usr/lib/postgresql/$m/bin/pg_config" \
		bash "/build/wg$m/scripts/run_all.sh"
}

for m in $MAJORS; do
	t0=$(date +%s)
	echo "==== PostgreSQL $m"
	run_major "$m" 2>&1 | tee "$LOGDIR/$m.log"
	line=$(grep -E "^[0-9]+ passed, [0-9]+ failed$" "$LOGDIR/$m.log" | tail -1)
	if [ -z "$line" ]; then
		line="0 passed, 1 failed"	# build or set-up failure: no suite ran
	fi
	p=${line%% passed*}
	f=${line#*, }
	f=${f%% failed}
	total_p=$((total_p + p))
	total_f=$((total_f + f))
	summary="$summary$(printf 'PostgreSQL %-3s %s (%ss)' "$m" "$line" $(($(date +%s) - t0)))\n"
done

echo
echo "==== matrix ($(($(date +%s) - start_all))s; logs in $LOGDIR)"
printf "%b" "$summary"
echo "$total_p passed, $total_f failed"
[ "$total_f" = 0 ]
