#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# hostdev-edge: the packet and xdp back-ends when the host device is missing, wrong or taken
# away, with one vhostd in a namespace of its own and DPDK virtio-user as the front-end.
#
# usage: hostdev-edge.sh BACKEND   (packet or xdp; as root)
#
#   1. Refused at port add with a clear error, the daemon and its other port untouched:
#      no dev=, a dev= that does not exist, queue= with packet, and for xdp a queue= or a queue
#      count beyond the device's queues.
#   2. Under a guest flood (testpmd txonly) and a flood from the peer: vhd0 set down (the port
#      keeps running; frames are dropped and counted), set up again (traffic resumes), then
#      deleted (the port reports it in the log and stays; the daemon answers and keeps running);
#      the port is deleted through the API, every fd it had given back.
#   3. vhostd exits 0 on SIGTERM with no sanitizer report.

set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/dpdk/lib.sh
. "$here/../dpdk/lib.sh"

BE=${1:-packet}
VHOSTD=${VHOSTD:-${VHOSTD_BUILDDIR:-}/vhostd}
VHOSTCTL=${VHOSTCTL:-${VHOSTD_BUILDDIR:-}/vhostctl}
NS=vhd-he-$$
DEV=vhd0
PEER=vhp0
TAP=$PEER
COUNT_S=15
KEEP_WORK=${HOSTDEV_KEEP:-0}
VHOSTD_PID=
NS_MADE=0
FLOOD_PID=

# ctl ARGS...: vhostctl against our daemon.
ctl() {
	"$VHOSTCTL" --control "$WORK/ctl" "$@"
}

# refused SPEC PATTERN: port add SPEC must fail (exit 1) with an error matching PATTERN.
refused() {
	local out rc
	out=$(ctl port add "$1" 2>&1)
	rc=$?
	((rc == 1)) || fail "port add $1: exit $rc, expected 1 (output: $out)"
	[[ $out == *$2* ]] || fail "port add $1: error '$out' does not say '$2'"
	kill -0 "$VHOSTD_PID" || fail "vhostd died on port add $1"
	log "refused: $1 -> ${out//$'\n'/ }"
}

# peer_rx_grows: succeeds once the peer's rx_packets moved past $P0.
peer_rx_grows() {
	(($(tap_stat rx_packets) > P0))
}

# tx_dropped_grows: succeeds once vhostd's tx_dropped for p0 moved past $D0.
tx_dropped_grows() {
	vhostd_stats
	(($(vs_field tx_dropped) > D0))
}

cleanup_hook() {
	[[ -n $FLOOD_PID ]] && kill "$FLOOD_PID" 2>/dev/null && wait "$FLOOD_PID" 2>/dev/null
	[[ -n ${VHOSTD_PID:-} ]] && stop_pid "$VHOSTD_PID" 5
	((NS_MADE)) && ip netns del "$NS" 2>/dev/null
	return 0
}

main() {
	now_ms START_MS
	[[ $(id -u) == 0 ]] || fail "must run as root"
	[[ -x $VHOSTD && -x $VHOSTCTL ]] || fail "vhostd or vhostctl missing"
	trap cleanup EXIT
	trap 'exit 1' HUP INT TERM
	WORK=$(mktemp -d /tmp/vhostd-hostedge.XXXXXX) || fail "mktemp"
	setup_hugepages
	netns_up "$NS"
	NS_MADE=1
	ip -n "$NS" link add name "$DEV" type veth peer name "$PEER" || fail "no veth"
	ip -n "$NS" link set "$DEV" up && ip -n "$NS" link set "$PEER" up || fail "link up"
	vhostd_launch "$NS" "$WORK/ctl" "name=p0,socket=$WORK/sock,backend=$BE,dev=$DEV"

	# 1. bad specs
	refused "name=e1,socket=$WORK/e1.sock,backend=$BE" "needs dev="
	refused "name=e2,socket=$WORK/e2.sock,backend=$BE,dev=nosuch0" "No such device"
	grep -q "no device 'nosuch0'" "$WORK/vhostd.log" || fail "the log does not name nosuch0"
	if [[ $BE == packet ]]; then
		refused "name=e3,socket=$WORK/e3.sock,backend=packet,dev=$DEV,queue=1" \
			"queue= goes with backend=xdp only"
	else
		refused "name=e3,socket=$WORK/e3.sock,backend=xdp,dev=$DEV,queue=1" "Invalid argument"
		grep -q "vhd0 has 1 receive queue(s): queues 1..1 do not exist" "$WORK/vhostd.log" ||
			fail "the log does not explain queue=1"
		refused "name=e4,socket=$WORK/e4.sock,backend=xdp,dev=$DEV,queues=2" \
			"Invalid argument"
		refused "name=e5,socket=$WORK/e5.sock,backend=xdp,dev=$DEV" "Device or resource busy"
	fi
	[[ $(ctl port list) == *p0* && $(ctl port list) != *e[1-5]* ]] ||
		fail "port list changed after refused adds: $(ctl port list)"
	[[ ! -e $WORK/e1.sock && ! -e $WORK/e2.sock && ! -e $WORK/e3.sock ]] ||
		fail "a refused port left its socket behind"

	# 2. the device taken away under traffic
	local fds0 cpu=$(($(nproc) - 1))
	tp_start fe "$cpu" --vdev "net_virtio_user0,path=$WORK/sock,queues=1,queue_size=256" \
		-- -i --nb-cores=1 --txpkts=64 --total-num-mbufs=16384 --forward-mode=txonly \
		--no-flush-rx --mask-event all
	tp_run fe "$STARTUP_S" "show port info 0"
	wait_until "$COUNT_S" "vhostd state=connected" vhostd_state_is connected
	tp_run fe "$CMD_S" "start"
	ip netns exec "$NS" "$TAPINJECT" -i "$PEER" -n 100000000 -s 64 -f 16 \
		>"$WORK/flood.log" 2>&1 &
	FLOOD_PID=$!
	P0=$(tap_stat rx_packets)
	wait_until "$COUNT_S" "guest frames on the peer" peer_rx_grows
	log "flooding both ways"
	vhostd_stats
	D0=$(vs_field tx_dropped)
	ip -n "$NS" link set "$DEV" down || fail "cannot set $DEV down"
	wait_until "$COUNT_S" "tx_dropped to grow with $DEV down" tx_dropped_grows
	kill -0 "$VHOSTD_PID" || fail "vhostd died with $DEV down"
	vhostd_state_is connected || fail "port not connected with $DEV down"
	log "$DEV down: port running, frames dropped and counted (tx_dropped $D0 -> $(vs_field tx_dropped))"
	ip -n "$NS" link set "$DEV" up || fail "cannot set $DEV up"
	P0=$(tap_stat rx_packets)
	wait_until "$COUNT_S" "guest frames on the peer after $DEV came back" peer_rx_grows
	log "$DEV up again: guest frames reach the peer"
	ip -n "$NS" link del "$DEV" || fail "cannot delete $DEV"
	kill "$FLOOD_PID" 2>/dev/null
	wait "$FLOOD_PID" 2>/dev/null
	FLOOD_PID=
	vhostd_stats
	D0=$(vs_field tx_dropped)
	wait_until "$COUNT_S" "tx_dropped to grow with $DEV gone" tx_dropped_grows
	kill -0 "$VHOSTD_PID" || fail "vhostd died when $DEV was deleted"
	vhostd_state_is connected || fail "port not connected after $DEV was deleted"
	grep -qE "(packet|XDP) socket of queue 0: |back-end refused a tx frame" "$WORK/vhostd.log" ||
		fail "nothing in the log about the lost device"
	log "$DEV deleted: port still there, the loss in the log: $(grep -E '(packet|XDP) socket of queue 0: |back-end refused' "$WORK/vhostd.log" | tail -n 1)"
	tp_quit fe
	wait_until "$COUNT_S" "vhostd state=waiting after testpmd quit" vhostd_state_is waiting
	fds0=$(proc_fds "$VHOSTD_PID")
	ctl port del p0 || fail "port del p0 failed"
	# At least the listening socket and the back-end's socket go with the port.
	(($(proc_fds "$VHOSTD_PID") <= fds0 - 2)) ||
		fail "port del gave back too few fds: $fds0 -> $(proc_fds "$VHOSTD_PID")"
	log "port deleted: fds $fds0 -> $(proc_fds "$VHOSTD_PID")"
	[[ $(ctl version) == *vhostd* ]] || fail "the daemon does not answer"
	vhostd_stop_clean
	log "PASS ($BE: bad specs refused, device down/up/deleted under traffic)"
}

TAPINJECT=${TAPINJECT:-${VHOSTD_BUILDDIR:-}/tests/dpdk/tapinject}
[[ ${2:-} ]] && TAPINJECT=$2
main "$@"
