#!/bin/bash
# make test-sanitize: every suite (pg_regress, isolation, TAP) against a
# PostgreSQL built with assertions (--enable-cassert) and with AddressSanitizer
# and UndefinedBehaviorSanitizer in the server and in workload_guard.  Fails
# if a test fails, or if any server log holds a sanitizer report or a failed
# Assert (scripts/run_all.sh scans the logs after the suites).
#
#   WG_SANITIZE_PG=18|15   major to build (default 18)
#   WG_SANITIZE_CACHE=DIR  where built servers are kept (/var/cache/workload_guard)
#   WG_REGRESS / WG_ISOLATION / WG_TAP   subsets, as for make test
#
# The server is built once from the upstream tarball of Debian's source
# package (postgresql-<major>: bookworm for 15, sid for 18, source only) and
# kept in a cache directory named by source version and build flags, so a
# changed flag or a new upstream release builds anew.  Each run tests a
# scratch copy of that installation, so the cached one stays pristine.
#
# The flags follow PostgreSQL's own CI (.cirrus.tasks.yml, "Linux - Debian
# Trixie"): -Og -ggdb, -fno-sanitize-recover, detect_leaks=0 (short-lived
# binaries leak by design) and abort_on_error=1 (a report is a crash the
# postmaster notices).  CI splits address and undefined into two builds for
# speed; one build with both costs us less.  Stack-use-after-return detection
# stays off (GCC's runtime default): its fake stacks defeat
# check_stack_depth().
#
# Known limit: libubsan reads UBSAN_OPTIONS lazily from /proc/self/environ,
# which a backend has overwritten with its process title (ps_status.c), so a
# backend's UBSan report has file:line but no stack trace, and the backend
# exits with code 1 instead of aborting (the postmaster still restarts as
# after a crash, and the log scan still fails the run).  ASan reads its
# options at the postmaster's start: its reports have full stacks.
set -uo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)

MAJOR=${WG_SANITIZE_PG:-18}
CACHE=${WG_SANITIZE_CACHE:-/var/cache/workload_guard}
SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
PG_BUILD_CFLAGS="-Og -ggdb $SANITIZE"
CONFIGURE="--enable-cassert --enable-debug --enable-tap-tests --without-readline --without-icu --without-zlib"
DEPS="gcc make perl libipc-run-perl bzip2 bison flex"	# 18: configure wants bison and flex
APT="apt-get -q -o DPkg::Lock::Timeout=600"

case $MAJOR in
	15) SUITE=bookworm ;;
	18) SUITE=sid ;;
	*) echo "FAILED: WG_SANITIZE_PG=$MAJOR: only 15 and 18 are supported"; exit 1 ;;
esac
PKG=postgresql-$MAJOR

# deb-src for $SUITE, only if no configured source already offers $PKG.
# sid gets no "deb" line, and a pin besides: no binary package comes from sid.
need_apt_source() {
	[ -n "$(apt-cache showsrc "$PKG" 2>/dev/null | grep '^Version:')" ] && return 0
	[ "$(id -u)" = 0 ] || { echo "FAILED: no deb-src for $PKG (run as root)"; return 1; }
	local uri
	# the mirror this machine's apt already uses (its first non-security URI)
	uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
		/etc/apt/sources.list.d/debian.sources 2>/dev/null)
	[ -n "$uri" ] || { echo "FAILED: no URI in /etc/apt/sources.list.d/debian.sources"; return 1; }
	cat > /etc/apt/sources.list.d/workload_guard-$SUITE-src.sources <<-EOF
	# workload_guard make test-sanitize: source packages only, for $PKG
	Types: deb-src
	URIs: $uri
	Suites: $SUITE
	Components: main
	Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	if [ "$SUITE" = sid ]; then
		printf 'Package: *\nPin: release n=sid\nPin-Priority: -1\n' \
			> /etc/apt/preferences.d/workload_guard-sid
	fi
	$APT update >/dev/null || return 1
	[ -n "$(apt-cache showsrc "$PKG" 2>/dev/null | grep '^Version:')" ]
}

install_deps() {
	local missing="" p
	for p in $DEPS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "test-sanitize: installing$missing"
	DEBIAN_FRONTEND=noninteractive $APT install -y --no-install-recommends $missing >/dev/null
}

# fetch_source: VERSION and ORIG, the newest version of $PKG whose source
# can be had (a mirror may list a version it does not hold yet), kept in
# $CACHE/src
fetch_source() {
	local ver upstream
	mkdir -p "$CACHE/src" && cd "$CACHE/src" || return 1
	for ver in $(apt-cache showsrc "$PKG" | sed -n 's/^Version: //p' | sort -rV); do
		upstream=${ver%%-*}
		ORIG=$(ls "${PKG}_${upstream}".orig.tar.* 2>/dev/null | head -1)
		if [ -z "$ORIG" ] && $APT source --download-only "$PKG=$ver" >/dev/null 2>&1; then
			ORIG=$(ls "${PKG}_${upstream}".orig.tar.* 2>/dev/null | head -1)
		fi
		[ -n "$ORIG" ] && { ORIG=$CACHE/src/$ORIG; VERSION=$ver; return 0; }
	done
	return 1
}

# build_pg DIR: configure, build and install $ORIG into DIR/install
build_pg() {
	local dir=$1 build rc
	build=$(mktemp -d /tmp/wg_pg_build.XXXXXX)
	tar -xf "$ORIG" -C "$build" --strip-components=1 || return 1
	cd "$build" || return 1
	# run from "make test-sanitize": PostgreSQL generates its headers only
	# in a top-level make (MAKELEVEL 0)
	unset MAKELEVEL MAKEFLAGS MFLAGS
	echo "test-sanitize: building PostgreSQL $VERSION (assertions, ASan+UBSan) into $dir"
	{ ./configure --prefix="$dir/install" $CONFIGURE \
			CFLAGS="$PG_BUILD_CFLAGS" LDFLAGS="$SANITIZE" &&
		make -s -j2 &&
		make -s -C contrib/pg_stat_statements &&
		make -s install &&
		make -s -C contrib/pg_stat_statements install; } > "$build/build.log" 2>&1
	rc=$?
	if [ $rc != 0 ]; then
		tail -40 "$build/build.log"
		echo "FAILED: PostgreSQL build (log in $build/build.log)"
		return 1
	fi
	cd / && rm -rf "$build"
	return 0
}

# one build at a time per major: a second run waits, then reuses it
mkdir -p "$CACHE"
exec 9> "$CACHE/pg-$MAJOR-cassert.lock"
flock 9
t0=$(date +%s)
need_apt_source || { echo "FAILED: no source package for $PKG"; exit 1; }
install_deps || { echo "FAILED: could not install build dependencies"; exit 1; }
fetch_source || { echo "FAILED: apt-get source $PKG"; exit 1; }
KEY=$(echo "$VERSION $CONFIGURE $PG_BUILD_CFLAGS" | md5sum | cut -c1-8)
PGDIR=$CACHE/pg-$MAJOR-cassert-$VERSION-$KEY

if [ -x "$PGDIR/install/bin/pg_config" ] && [ -f "$PGDIR/built" ]; then
	echo "test-sanitize: reusing $PGDIR (built in $(cat "$PGDIR/built") s)"
	build_msg="cached build"
else
	rm -rf "$PGDIR"
	mkdir -p "$PGDIR"
	build_pg "$PGDIR" || exit 1
	build_s=$(($(date +%s) - t0))
	echo "$build_s" > "$PGDIR/built"
	build_msg="built in $build_s s"
fi
flock -u 9
cd "$SRC" || exit 1

# a scratch copy of the installation: make install of the extension goes
# there, never into the cache (PostgreSQL's installation is relocatable)
PGCOPY=$(mktemp -d /tmp/wg_sanitize_pg.XXXXXX)
cp -a "$PGDIR/install/." "$PGCOPY/"
chmod 755 "$PGCOPY"
# and a clean copy of the tree: objects built for another server (another
# major, or without sanitizers) must not be linked in, and ours must not be
# left behind for a plain "make test" to reuse
TREE=$(mktemp -d /tmp/wg_sanitize_src.XXXXXX)
tar -C "$SRC" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
	--exclude=tmp_check --exclude=tmp_check_iso --exclude=results \
	--exclude=output_iso --exclude=log -cf - . | tar -C "$TREE" -xf -
trap 'rm -rf "$PGCOPY" "$TREE"' EXIT

# the sanitizer runtimes read these in every process the suites start,
# postmasters included (pg_regress and the TAP framework start them from
# this environment)
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:print_stacktrace=1:disable_coredump=0:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1:disable_coredump=0"
export PG_CONFIG=$PGCOPY/bin/pg_config
# the server's own flags (pg_config --cflags) already carry -fsanitize;
# stated again so the extension is built sanitized whatever the server.
# -Wno-clobbered: at -Og, GCC warns that PG_TRY()'s own _do_rethrow "might be
# clobbered by longjmp", though it is only written after the longjmp; the
# -O2 build of make test still checks our variables.
export WG_EXTRA_CFLAGS="$SANITIZE -Wno-clobbered"

t1=$(date +%s)
out=$(mktemp /tmp/wg_sanitize_out.XXXXXX)
bash "$TREE/scripts/run_all.sh" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
suites_s=$(($(date +%s) - t1))
counts=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -1)
rm -f "$out"
[ $rc != 0 ] && [ -z "$counts" ] && counts="0 passed, 1 failed"
echo "sanitize: PostgreSQL $VERSION with assertions and ASan+UBSan ($build_msg," \
	"suites in ${suites_s} s): $([ $rc = 0 ] && echo "no test failed, no sanitizer report, no failed Assert" || echo FAILED)"
echo "sanitize: $counts"
exit $rc
