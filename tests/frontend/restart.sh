#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Runs tests/frontend/restart.c in a fresh network namespace: unlike run.sh, the test program
# starts, kills and restarts vhostd itself (it must wait for each daemon it kills).
#
#   restart.sh PROG      (KEEP=1 keeps the scratch directory with the daemon's log)
set -u
prog=${1:?usage: restart.sh PROG}
: "${VHOSTD:?VHOSTD must point at the daemon}"

ns=vhr-$$-$RANDOM
d=$(mktemp -d /tmp/vhr.XXXXXX)
status=1

# cleanup: the namespace (and the persistent tap in it) and the scratch directory; the daemon's
# log when the test failed.
cleanup() {
	if [ "$status" -ne 0 ] && [ -s "$d/vhostd.log" ]; then
		echo "restart.sh: vhostd log (last 60 lines):" >&2
		tail -n 60 "$d/vhostd.log" >&2
	fi
	ip netns del "$ns" 2>/dev/null
	if [ "${KEEP:-0}" = 1 ]; then
		echo "restart.sh: kept $d" >&2
	else
		rm -rf "$d"
	fi
}
trap cleanup EXIT

ip netns add "$ns" || exit 1
# No IPv6: the kernel would send router solicitations into the tap and spoil exact counts.
ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
	net.ipv6.conf.default.disable_ipv6=1 || exit 1
ip -n "$ns" link set lo up || exit 1
VUF_DIR="$d" ip netns exec "$ns" "$prog"
status=$?
exit $status
