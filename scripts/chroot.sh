#!/bin/bash
# chroot.sh MAJOR [COMMAND...]: a Debian chroot with PostgreSQL MAJOR's server
# and headers, created on first use and cached outside the tree.
#
#   scripts/chroot.sh 17            create if missing; print the chroot's root
#   scripts/chroot.sh 19 CMD ARGS   run CMD inside it (proc, /dev and /dev/shm
#                                   mounted for the duration, unmounted on exit)
#
#   major  suite                            packages
#   17     trixie                           postgresql-17, postgresql-server-dev-17
#   18     sid                              postgresql-18, postgresql-server-dev-18
#   19     sid + experimental (same chroot) postgresql-19, postgresql-server-dev-19
#
# The mirror is the one this machine's apt uses, read from
# /etc/apt/sources.list.d/debian.sources at run time.  sid's and experimental's
# Release files in that archive are past their Valid-Until date, hence
# Acquire::Check-Valid-Until=false there.  The cache directory defaults to
# /var/cache/workload_guard/chroots (WG_CHROOT_CACHE overrides it); a lock per
# chroot serialises creation and use, so parallel runs wait rather than collide.
set -euo pipefail

MAJOR=${1:?usage: chroot.sh MAJOR [COMMAND...]}
shift
CACHE=${WG_CHROOT_CACHE:-/var/cache/workload_guard/chroots}

case $MAJOR in
	17) SUITE=trixie ;;
	18 | 19) SUITE=sid ;;
	*) echo "chroot.sh: no Debian chroot for PostgreSQL $MAJOR (17, 18, 19)" >&2; exit 2 ;;
esac
ROOT=$CACHE/$SUITE
PKGS="postgresql-$MAJOR postgresql-server-dev-$MAJOR libipc-run-perl libkrb5-dev make gcc"
# the monitoring chain of test/t/060_prometheus.pl, as scripts/deps.sh does
if [ "${WG_WITH_MONITORING:-1}" = 1 ]; then
	PKGS="$PKGS prometheus prometheus-postgres-exporter curl"
fi

[ "$(id -u)" = 0 ] || { echo "chroot.sh: must run as root" >&2; exit 1; }

# the first URI of the machine's Debian entry (not -security)
mirror() {
	awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
		/etc/apt/sources.list.d/debian.sources
}

in_root() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
	DEBIAN_FRONTEND=noninteractive "$@"; }
# apt, quiet: its output goes to a log, shown only when it fails
apt_q() {
	in_root apt-get -qq -o Dpkg::Use-Pty=0 "$@" >>"$CACHE/$SUITE.apt.log" 2>&1 ||
		{ echo "chroot.sh: apt-get $* failed:" >&2; tail -30 "$CACHE/$SUITE.apt.log" >&2; return 1; }
}

mounted() { mountpoint -q "$ROOT/$1"; }
mount_all() {
	mounted proc || mount -t proc proc "$ROOT/proc"
	mounted dev || mount --bind /dev "$ROOT/dev"
	mounted dev/shm || mount --bind /dev/shm "$ROOT/dev/shm"
}
umount_all() {
	for m in dev/shm dev proc; do
		! mounted "$m" || umount "$ROOT/$m" || umount -l "$ROOT/$m"
	done
}

create_root() {
	local uri
	uri=$(mirror)
	[ -n "$uri" ] || { echo "chroot.sh: no URI in debian.sources" >&2; exit 1; }
	command -v debootstrap >/dev/null ||
		{ apt-get -qq update >/dev/null; apt-get -qq install -y debootstrap >/dev/null; }
	echo "chroot.sh: creating $SUITE chroot in $ROOT from $uri" >&2
	rm -rf "$ROOT.tmp"
	mkdir -p "$CACHE"
	debootstrap --variant=minbase "$SUITE" "$ROOT.tmp" "$uri" >"$CACHE/$SUITE.debootstrap.log" 2>&1 ||
		{ tail -20 "$CACHE/$SUITE.debootstrap.log" >&2; exit 1; }
	{
		echo "deb $uri $SUITE main"
		[ "$SUITE" = sid ] && echo "deb $uri experimental main"
	} > "$ROOT.tmp/etc/apt/sources.list"
	cat > "$ROOT.tmp/etc/apt/apt.conf.d/90workload_guard" <<-EOF
		Acquire::Check-Valid-Until "false";
		APT::Install-Recommends "false";
		Acquire::Languages "none";
	EOF
	# packages must not start servers inside the chroot
	printf '#!/bin/sh\nexit 101\n' > "$ROOT.tmp/usr/sbin/policy-rc.d"
	chmod +x "$ROOT.tmp/usr/sbin/policy-rc.d"
	mv "$ROOT.tmp" "$ROOT"
}

install_pkgs() {
	local missing="" p
	for p in $PKGS; do
		in_root dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	[ -n "$missing" ] || return 0
	echo "chroot.sh: installing$missing in $SUITE" >&2
	apt_q update
	if [ "$MAJOR" = 19 ]; then
		apt_q install -y -t experimental $missing
	else
		apt_q install -y $missing
	fi
	# no cluster of Debian's is needed: the tests bring their own
	in_root pg_dropcluster --stop "$MAJOR" main >/dev/null 2>&1 || true
}

mkdir -p "$CACHE"
exec 9>"$CACHE/$SUITE.lock"
flock 9
trap umount_all EXIT
[ -x "$ROOT/usr/bin/apt-get" ] || create_root
mount_all			# apt's postinst scripts want /proc and /dev too
install_pkgs
if [ $# = 0 ]; then
	echo "$ROOT"
	exit 0
fi
in_root "$@"
