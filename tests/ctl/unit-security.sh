#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The hardened unit (data/vhostd-unprivileged.service, as the build generates it): systemd's own
# judgement, `systemd-analyze security --offline=yes`, must rate its exposure at most 2.0 ("OK"),
# and it must run vhostd as user vhostd with no capability and no way to gain one. The root unit's
# rating is printed for comparison, not judged.
set -u
: "${VHOSTD_BUILDDIR:?VHOSTD_BUILDDIR must point at the build directory}"
UNIT=$VHOSTD_BUILDDIR/data/vhostd-unprivileged.service
THRESHOLD=20 # tenths: exposure 2.0
failures=0

check() {
	local what=$1
	shift
	if "$@"; then
		echo "ok - $what"
	else
		echo "not ok - $what"
		failures=$((failures + 1))
	fi
}

if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP: no systemd-analyze"
	exit 77
fi
check "the build generated $UNIT" test -s "$UNIT"
for line in User=vhostd CapabilityBoundingSet= AmbientCapabilities= NoNewPrivileges=yes \
	ProtectSystem=strict SystemCallFilter=@system-service "DeviceAllow=/dev/net/tun rw"; do
	check "unit: $line" grep -qxF "$line" "$UNIT"
done
check "unit: no DynamicUser=" bash -c "! grep -q '^DynamicUser=' '$UNIT'"
out=$(systemd-analyze security --offline=yes --threshold=$THRESHOLD "$UNIT" 2>&1)
st=$?
echo "$out" | tail -n 1
check "systemd-analyze security: exposure at most $((THRESHOLD / 10)).$((THRESHOLD % 10))" \
	[ "$st" -eq 0 ]
check "systemd-analyze security rated it OK or better" \
	grep -Eq 'Overall exposure level .*: [0-9.]+ (OK|SAFE|PERFECT)' <<<"$out"
systemd-analyze security --offline=yes "$VHOSTD_BUILDDIR/data/vhostd.service" 2>&1 | tail -n 1
[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
