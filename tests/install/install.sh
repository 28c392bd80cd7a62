#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck disable=SC2016,SC2317 # '$MAINPID' is the unit's text; check() calls the helpers
#
# What `make install` installs, checked in a DESTDIR install of the build (meson install
# --destdir, what `DESTDIR=... make install` runs):
#
#   files     vhostd and vhostctl (executable), vhostd(8), vhostctl(8), vhostd.conf(5), the
#             systemd unit vhostd.service and vhostd.conf.example, each where the build's
#             directories put it
#   pages     each page renders with man -l, groff warnings on, without a warning, and its NAME
#             line reads as whatis wants it (lexgrog); skipped without man
#   unit      systemd-analyze verify accepts the unit, ExecStart pointed at the installed
#             vhostd and MANPATH at the installed pages (so Documentation= resolves); it says
#             Type=notify, ExecReload and WatchdogSec; skipped without systemd-analyze
#   service   (root) the installed vhostd run on the installed example configuration as the
#             unit runs it (its capability bounding set, NoNewPrivileges and UMask through
#             setpriv; NOTIFY_SOCKET, WATCHDOG_USEC and JOURNAL_STREAM as systemd sets them),
#             in a network namespace of its own that takes the example's tap with it; see
#             service.py for the notify, watchdog, reload, vhostctl and logging checks
#
# Usage: install.sh (meson sets VHOSTD_BUILDDIR and VHOSTD_SRCDIR). INSTALL_TEST_KEEP=1 keeps
# the scratch directory. Prints "ok"/"not ok" per check and a closing "N passed, N failed"
# line; exits 1 if anything failed.

set -u -o pipefail
export LC_ALL=C

BUILD=${VHOSTD_BUILDDIR:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/vhostd-install.XXXXXX)
DEST=$WORK/dest
PASSED=0
FAILED=0

cleanup() {
	if [ "${INSTALL_TEST_KEEP:-0}" = 1 ]; then
		echo "kept $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

ok() {
	echo "ok - $1"
	PASSED=$((PASSED + 1))
}

not_ok() {
	echo "not ok - $1${2:+: $2}"
	FAILED=$((FAILED + 1))
}

# check WHAT COMMAND...: ok when COMMAND succeeds.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}

finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" = 0 ]
	exit
}

# --- files ---------------------------------------------------------------------------------

if ! meson install -C "$BUILD" --no-rebuild --destdir "$DEST" >"$WORK/install.log" 2>&1; then
	not_ok "meson install --destdir" "$(tail -5 "$WORK/install.log")"
	finish
fi
ok "meson install --destdir"

# Where the build installs each file: "BASENAME PATH" lines from meson's introspection.
meson introspect "$BUILD" --installed >"$WORK/installed.json"
python3 -c '
import json, os, sys
for dest in json.load(open(sys.argv[1])).values():
    print(os.path.basename(dest), dest)
' "$WORK/installed.json" >"$WORK/installed"

# installed NAME: the path NAME is installed at (empty when the build does not install it).
installed() {
	awk -v n="$1" '$1 == n { print $2 }' "$WORK/installed"
}

# in_dir PATH DIR: PATH is installed (non-empty under DEST) and its directory ends with DIR.
in_dir() {
	[[ -n $1 && -s $DEST$1 && $(dirname "$1") == *"/$2" ]]
}

# in_bin PATH: PATH is installed, executable, in a bin directory.
in_bin() {
	in_dir "$1" bin && [[ -x $DEST$1 ]]
}

# has_name PAGE: whatis can read PAGE's NAME line.
has_name() {
	lexgrog "$1" >/dev/null
}

for f in vhostd vhostctl; do
	p=$(installed "$f")
	check "files: $f installed executable in bin (${p:-not installed})" in_bin "$p"
done
for f in vhostd.8 vhostctl.8 vhostd.conf.5; do
	p=$(installed "$f")
	check "files: $f installed in man${f##*.} (${p:-not installed})" in_dir "$p" "man${f##*.}"
done
UNIT=$(installed vhostd.service)
check "files: vhostd.service installed in a systemd/system directory (${UNIT:-not installed})" \
	in_dir "$UNIT" systemd/system
EXAMPLE=$(installed vhostd.conf.example)
check "files: vhostd.conf.example installed in a vhostd directory (${EXAMPLE:-not installed})" \
	in_dir "$EXAMPLE" vhostd
check "files: no vhostd.conf installed" test -z "$(installed vhostd.conf)"

# --- pages ---------------------------------------------------------------------------------

if command -v man >/dev/null; then
	for f in vhostd.8 vhostctl.8 vhostd.conf.5; do
		p=$DEST$(installed "$f")
		[ -s "$p" ] || continue
		MANWIDTH=80 MANPAGER=cat man --warnings -l "$p" >"$WORK/$f.txt" 2>"$WORK/$f.err"
		rc=$?
		if [ $rc = 0 ] && [ ! -s "$WORK/$f.err" ] && grep -q '^NAME' "$WORK/$f.txt" &&
			grep -q '^SEE ALSO' "$WORK/$f.txt"; then
			ok "pages: man -l $f renders without warnings"
		else
			not_ok "pages: man -l $f renders without warnings" \
				"status $rc, $(head -3 "$WORK/$f.err")"
		fi
		if command -v lexgrog >/dev/null; then
			check "pages: $f has a NAME line (lexgrog)" has_name "$p"
		fi
	done
else
	echo "# man not found: pages not rendered"
fi

# --- unit ----------------------------------------------------------------------------------

if [ -n "$UNIT" ] && [ -s "$DEST$UNIT" ]; then
	EXEC=$(sed -n 's/^ExecStart=\([^ ]*\) .*/\1/p' "$DEST$UNIT")
	check "unit: ExecStart is the installed vhostd ($EXEC)" \
		test -n "$EXEC" -a "$EXEC" = "$(installed vhostd)"
	check "unit: ExecStart reads /etc/vhostd/vhostd.conf" \
		grep -qx "ExecStart=$EXEC --config /etc/vhostd/vhostd.conf" "$DEST$UNIT"
	for line in 'Type=notify' 'ExecReload=/bin/kill -HUP $MAINPID' 'RuntimeDirectory=vhostd'; do
		check "unit: $line" grep -qxF "$line" "$DEST$UNIT"
	done
	check "unit: WatchdogSec= set" grep -qE '^WatchdogSec=[1-9]' "$DEST$UNIT"
	if command -v systemd-analyze >/dev/null; then
		# verify wants ExecStart's binary on this system: point it at the installed one.
		mkdir -p "$WORK/unit"
		sed "s#^ExecStart=$EXEC #ExecStart=$DEST$EXEC #" "$DEST$UNIT" >"$WORK/unit/vhostd.service"
		man_dir=$DEST$(dirname "$(dirname "$(installed vhostd.8)")")
		MANPATH=$man_dir systemd-analyze verify "$WORK/unit/vhostd.service" \
			>"$WORK/verify.log" 2>&1
		rc=$?
		# verify also reports on units it pulls in; only what it says of ours counts.
		if [ $rc = 0 ] && ! grep -q 'vhostd' "$WORK/verify.log"; then
			ok "unit: systemd-analyze verify accepts it"
		else
			not_ok "unit: systemd-analyze verify accepts it" \
				"status $rc, $(grep vhostd "$WORK/verify.log" | head -5)"
		fi
	else
		echo "# systemd-analyze not found: unit not verified"
	fi
fi

# --- service -------------------------------------------------------------------------------

if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null || ! command -v setpriv >/dev/null ||
	[ -z "$UNIT" ] || [ -z "$EXAMPLE" ]; then
	echo "# not root, or no unshare/setpriv: the service run is skipped"
	finish
fi
# The unit's capabilities as setpriv spells them: "-all,+net_admin,+chown,...".
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$DEST$UNIT" | tr ' ' '\n' |
	sed -n 's/^CAP_\(.*\)/+\L\1/p' | paste -sd, -)
umask_=$(sed -n 's/^UMask=//p' "$DEST$UNIT")
nnp=
grep -qx 'NoNewPrivileges=yes' "$DEST$UNIT" && nnp=--no-new-privs
# The example's sockets go to the scratch directory instead of /run/vhostd.
sed "s#/run/vhostd/#$WORK/#g" "$DEST$EXAMPLE" >"$WORK/vhostd.conf"
mapfile -t ports < <(sed -n 's/^\[port[[:space:]]\+\([^]]*\)\].*/\1/p' "$WORK/vhostd.conf")
(
	umask "${umask_:-0022}"
	python3 "$HERE/service.py" "$WORK" "$DEST$(installed vhostctl)" "$WORK/control.sock" \
		"${ports[@]}" -- \
		unshare -n setpriv $nnp --bounding-set "-all${caps:+,$caps}" --inh-caps=-all -- \
		"$DEST$EXEC" --config "$WORK/vhostd.conf" --control "$WORK/control.sock"
) >"$WORK/service.out"
cat "$WORK/service.out"
PASSED=$((PASSED + $(grep -c '^ok' "$WORK/service.out")))
FAILED=$((FAILED + $(grep -c '^not ok' "$WORK/service.out")))
if grep -q '^not ok' "$WORK/service.out"; then
	echo "# vhostd's log:"
	sed 's/^/#   /' "$WORK/vhostd.log"
fi
finish
