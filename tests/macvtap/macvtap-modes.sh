#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# macvtap-modes: what each macvtap mode means, with two guests (our own front-end, mvguest) on
# one lower device, and the life of the links vhostd makes.
#
# A veth pair stands in for the NIC: nic0 in namespace H (vhostd's, where the macvtap links are
# made), far0 in namespace F, a port of bridge br0 there (hairpin off unless a step turns it on).
# mvguest runs in F and counts frames guest A sends to guest B's MAC (unicast) or to everyone
# (broadcast), at B and arriving on far0.
#
#   bridge        A reaches B inside the host: unicast stays inside (b=N far=0), broadcast also
#                 goes out (b=N far=N)
#   private       A's broadcasts never reach B, even reflected by a hairpin bridge outside
#                 (b=0 far=N), so the guests cannot resolve each other (ARP). The kernel filters
#                 only those: a unicast frame the hairpin bridge reflects does arrive (logged,
#                 not asserted: that is the switch's doing, not the macvtap's)
#   vepa          everything goes out: B only through the hairpin bridge (off: b=0 far=N both
#                 kinds; on: b=N far=N both kinds)
#   passthrough   the port takes nic0 whole: a second port on it is refused with a clear error;
#                 the guest gets frames for any MAC (the device is promiscuous)
# Links: named mvt<port> without ifname=, marked with vhostd's pid, deleted by port del and on
# SIGTERM; a link a killed vhostd left is replaced at the next start and carries traffic; a
# macvtap of that name vhostd did not create is refused and left alone.
#
# usage: macvtap-modes.sh MVGUEST   (as root; meson passes the built mvguest)
#   VHOSTD, VHOSTCTL   the daemon and its client (default $VHOSTD_BUILDDIR/...)
#   MACVTAP_KEEP=1     keep the work directory
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/dpdk/lib.sh
. "$here/../dpdk/lib.sh"

MVGUEST=${1:-${VHOSTD_BUILDDIR:-}/tests/macvtap/mvguest}
VHOSTD=${VHOSTD:-${VHOSTD_BUILDDIR:-}/vhostd}
VHOSTCTL=${VHOSTCTL:-$(dirname "$VHOSTD")/vhostctl}
KEEP_WORK=${MACVTAP_KEEP:-0}

NSH=vhmv-h-$$
NSF=vhmv-f-$$
MAC_A=02:76:68:64:0a:01
MAC_B=02:76:68:64:0a:02
N=32
VHOSTD_PID=
MADE=0

cleanup_hook() {
	[[ -n $VHOSTD_PID ]] && stop_pid "$VHOSTD_PID" 5
	if ((MADE)); then
		ip netns del "$NSH" 2>/dev/null
		ip netns del "$NSF" 2>/dev/null
	fi
	return 0
}

# start_vhostd [ARGS...]: vhostd in H with control socket $WORK/ctl; waits for READY=1.
start_vhostd() {
	local line=
	rm -f "$WORK/ready"
	mkfifo "$WORK/ready" || fail "mkfifo"
	ip netns exec "$NSH" "$VHOSTD" --control "$WORK/ctl" --ready-fd 3 "$@" \
		3>"$WORK/ready" 2>>"$WORK/vhostd.log" &
	VHOSTD_PID=$!
	read -r -t 20 line <"$WORK/ready"
	rm -f "$WORK/ready"
	[[ $line == READY=1 ]] || fail "vhostd did not become ready (got '$line')"
}

# ctl ARGS...: vhostctl against our daemon.
ctl() {
	"$VHOSTCTL" --control "$WORK/ctl" "$@"
}

# port_add NAME MAC MODE [MORE]: adds a macvtap port over nic0; fails if refused.
port_add() {
	ctl port add "name=$1,socket=$WORK/$1.sock,backend=macvtap,dev=nic0,macvtap_mode=$3,mac=$2${4:+,$4}" \
		>/dev/null || fail "port add $1 ($3) refused"
}

# link_alias NAME: prints the alias of link NAME in H (fails when there is no such link).
link_alias() {
	ip -n "$NSH" -d link show "$1" 2>/dev/null | awk '$1 == "alias" { sub(/^ *alias /, ""); print; f = 1 } END { exit !f }'
}

# link_gone NAME: succeeds when H has no link NAME.
link_gone() {
	! ip -n "$NSH" link show "$1" >/dev/null 2>&1
}

# pair WHAT WANT [bcast]: guest A (p1) sends N frames to guest B (p2) (or broadcast); the counts
# must be WANT ("-": only logged).
pair() {
	local got
	got=$(ip netns exec "$NSF" "$MVGUEST" pair "$WORK/p1.sock" $MAC_A "$WORK/p2.sock" $MAC_B \
		far0 $N ${3:-}) || fail "$1: mvguest failed"
	[[ $2 == - || $got == "$2" ]] || fail "$1: got '$got', expected '$2'"
	log "$1: A->${3:-B} $got"
}

# mode_pair MODE: ports p1, p2 in MODE over nic0.
mode_pair() {
	port_add p1 $MAC_A "$1"
	port_add p2 $MAC_B "$1"
	link_alias mvtp1 | grep -q "^vhostd pid=$VHOSTD_PID start=" || fail "mvtp1 lacks vhostd's mark"
}

# del_pair: deletes p1 and p2; their links must be gone.
del_pair() {
	ctl port del p1 && ctl port del p2 || fail "port del failed"
	link_gone mvtp1 && link_gone mvtp2 || fail "port del left a link behind"
}

hairpin() {
	ip -n "$NSF" link set dev far0 type bridge_slave hairpin "$1" || fail "hairpin $1"
}

main() {
	now_ms START_MS
	[[ $(id -u) == 0 ]] || fail "must run as root"
	[[ -x $VHOSTD && -x $VHOSTCTL && -x $MVGUEST ]] || fail "missing vhostd, vhostctl or mvguest"
	trap cleanup EXIT
	trap 'exit 1' HUP INT TERM
	WORK=$(mktemp -d /tmp/vhostd-macvtap.XXXXXX) || fail "mktemp"
	MADE=1
	netns_up "$NSH"
	netns_up "$NSF"
	ip -n "$NSH" link add nic0 type veth peer name far0 netns "$NSF" || fail "veth"
	ip -n "$NSF" link add br0 type bridge stp_state 0 || fail "bridge"
	ip -n "$NSF" link set far0 master br0 || fail "far0 into br0"
	ip -n "$NSH" link set nic0 up && ip -n "$NSF" link set far0 up &&
		ip -n "$NSF" link set br0 up || fail "links up"

	start_vhostd --log-level debug

	mode_pair bridge
	pair bridge "b=$N far=0"
	pair bridge "b=$N far=$N" bcast
	del_pair
	log "bridge: links mvtp1/mvtp2 made with vhostd's mark, gone after port del"

	hairpin on
	mode_pair private
	pair "private (hairpin on)" "b=0 far=$N" bcast
	pair "private (hairpin on)" -
	del_pair

	hairpin off
	mode_pair vepa
	pair "vepa (hairpin off)" "b=0 far=$N"
	pair "vepa (hairpin off)" "b=0 far=$N" bcast
	hairpin on
	pair "vepa (hairpin on)" "b=$N far=$N"
	pair "vepa (hairpin on)" "b=$N far=$N" bcast
	del_pair
	hairpin off

	port_add p1 $MAC_A passthrough
	local err got
	err=$(ctl port add "name=p2,socket=$WORK/p2.sock,backend=macvtap,dev=nic0,macvtap_mode=bridge" 2>&1) &&
		fail "a second port on a passthrough device was accepted"
	[[ $err == *"share dev nic0"*"passthrough"* ]] || fail "unclear refusal: $err"
	log "passthrough: second port refused: $err"
	# Promiscuous: frames for a MAC the guest never announced reach it too.
	got=$(ip netns exec "$NSF" "$MVGUEST" far "$WORK/p1.sock" $MAC_A far0 $N 02:76:68:64:0b:99) ||
		fail "passthrough: mvguest failed"
	[[ $got == "tx=$N rx=$N" ]] || fail "passthrough: got '$got', expected 'tx=$N rx=$N'"
	log "passthrough: $got (frames to any MAC reach the guest)"
	ctl port del p1 || fail "port del p1"
	link_gone mvtp1 || fail "passthrough link left behind"

	# A crash leaves the link; the next start replaces it and the new one carries traffic.
	port_add p1 $MAC_A bridge
	local old_pid=$VHOSTD_PID
	kill -KILL "$VHOSTD_PID"
	wait "$VHOSTD_PID" 2>/dev/null
	VHOSTD_PID=
	link_alias mvtp1 | grep -q "^vhostd pid=$old_pid " || fail "the killed vhostd's link is not there"
	start_vhostd --port "name=p1,socket=$WORK/p1.sock,backend=macvtap,dev=nic0,macvtap_mode=bridge,mac=$MAC_A"
	link_alias mvtp1 | grep -q "^vhostd pid=$VHOSTD_PID " || fail "mvtp1 not re-made by the new vhostd"
	grep -q "mvtp1: deleted the link a vhostd that is gone (pid $old_pid)" "$WORK/vhostd.log" ||
		fail "no log line for the stale link"
	got=$(ip netns exec "$NSF" "$MVGUEST" far "$WORK/p1.sock" $MAC_A far0 $N $MAC_A) ||
		fail "after restart: mvguest failed"
	[[ $got == "tx=$N rx=$N" ]] || fail "after restart: got '$got', expected 'tx=$N rx=$N'"
	log "stale link of pid $old_pid replaced by pid $VHOSTD_PID, traffic: $got"

	# A macvtap vhostd did not make is never touched.
	ip -n "$NSH" link add link nic0 name mvtp9 type macvtap mode bridge || fail "foreign macvtap"
	err=$(ctl port add "name=p9,socket=$WORK/p9.sock,backend=macvtap,dev=nic0,macvtap_mode=bridge,mac=$MAC_B" 2>&1) &&
		fail "a port on a foreign link of its name was accepted"
	grep -q "macvtap mvtp9: a link of that name exists and vhostd did not create it" "$WORK/vhostd.log" ||
		fail "no log line for the foreign link ($err)"
	ip -n "$NSH" link show mvtp9 >/dev/null 2>&1 || fail "the foreign link was deleted"
	log "foreign link mvtp9 refused and left alone: $err"

	# Long port names get a hashed link name within IFNAMSIZ.
	port_add averyveryverylongname $MAC_B bridge
	local ifn
	ifn=$(ctl -j port show averyveryverylongname | python3 -c 'import json,sys; print(json.load(sys.stdin)["ifname"])')
	[[ $ifn =~ ^mvtaver[0-9a-f]{8}$ ]] || fail "unexpected default link name '$ifn'"
	ip -n "$NSH" link show "$ifn" >/dev/null || fail "no link $ifn"

	vhostd_stop_clean
	link_gone mvtp1 && link_gone "$ifn" || fail "SIGTERM left a link behind"
	log "SIGTERM: links deleted; PASS"
}

main "$@"
