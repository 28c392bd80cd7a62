#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck disable=SC2015 # "A && B || fail": fails when either does, as meant
#
# dpdk-switch: three DPDK virtio-user ports (one testpmd) on one vhostd VM switch, exact counts:
#   a (02:..:0a) and b (02:..:0b) untagged, c (02:..:0c) in access VLAN 10.
#   1. a broadcasts a burst: b gets all of it, c (another VLAN) none, a none (no hairpin).
#   2. b sends to a's address, which the switch learnt from step 1: a gets all of it, c none.
#   3. c broadcasts: no other port of VLAN 10, so nobody gets anything; vhostd counts the burst
#      as c's tx_dropped.
#   4. b sends to an address nobody has: flooded to a (unknown unicast), not to c.
# Each burst is sent with testpmd's tx_first while only the sending port forwards (`set
# portlist`), then every port polls its receive ring (rxonly) and the counts are read.
#
# usage: dpdk-switch.sh   (as root; VHOSTD and VHOSTCTL from the environment or the build)

set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/dpdk/lib.sh
. "$here/lib.sh"

VHOSTD=${VHOSTD:-${VHOSTD_BUILDDIR:-}/vhostd}
VHOSTCTL=${VHOSTCTL:-${VHOSTD_BUILDDIR:-$(dirname "$VHOSTD")}/vhostctl}
COUNT_S=15
BURST=32
VHOSTD_PID=
MAC_A=02:00:00:00:00:0a
MAC_B=02:00:00:00:00:0b
MAC_C=02:00:00:00:00:0c

cleanup_hook() {
	[[ -n ${VHOSTD_PID:-} ]] && stop_pid "$VHOSTD_PID" 5
	return 0
}

# rx_is P N: succeeds when testpmd's port P received N frames in all (fails if more).
rx_is() {
	tp_stats fe "$1"
	((TP_RXP <= $2)) || fail "port $1 received $TP_RXP frames, more than the expected $2"
	((TP_RXP == $2))
}

# burst PORT DST: PORT sends one burst of BURST frames to DST, then every port reads its ring.
burst() {
	tp_run fe "$CMD_S" "set eth-peer $1 $2" "set portlist $1" "start tx_first 1" "stop" \
		"set portlist 0,1,2" "start"
	tp_stats fe "$1"
}

# expect_rx A B C: waits until ports 0, 1, 2 received A, B and C frames in all; then checks
# again after the others had their chance (nothing more may come).
expect_rx() {
	local p=0 want
	for want in "$@"; do
		wait_fast "$COUNT_S" "port $p to have received $want frames" rx_is "$p" "$want"
		p=$((p + 1))
	done
	tp_run fe "$CMD_S" "stop"
	p=0
	for want in "$@"; do
		rx_is "$p" "$want" || fail "port $p: $TP_RXP frames, want $want"
		p=$((p + 1))
	done
}

# tx_dropped PORT: vhostd's tx_dropped of PORT.
tx_dropped() {
	vhostd_query "$WORK/ctl"
	vs_port "$1"
	vs_field tx_dropped
}

main() {
	local line
	now_ms START_MS
	WORK=$(mktemp -d /tmp/vhdt-switch.XXXXXX)
	trap cleanup EXIT
	[[ -x $VHOSTD ]] || fail "no daemon at $VHOSTD"
	setup_hugepages

	mkfifo "$WORK/ready" || fail "mkfifo"
	"$VHOSTD" --control "$WORK/ctl" --ready-fd 3 \
		--port "name=a,socket=$WORK/a.sock,backend=switch,switch=sw0" \
		--port "name=b,socket=$WORK/b.sock,backend=switch,switch=sw0" \
		--port "name=c,socket=$WORK/c.sock,backend=switch,switch=sw0,vlan=10" \
		3>"$WORK/ready" 2>>"$WORK/vhostd.log" &
	VHOSTD_PID=$!
	read -r -t 20 line <"$WORK/ready"
	[[ $line == READY=1 ]] || fail "vhostd did not become ready (got '$line')"

	tp_start fe 1 \
		--vdev "net_virtio_user0,path=$WORK/a.sock,queues=1,queue_size=256,mac=$MAC_A" \
		--vdev "net_virtio_user1,path=$WORK/b.sock,queues=1,queue_size=256,mac=$MAC_B" \
		--vdev "net_virtio_user2,path=$WORK/c.sock,queues=1,queue_size=256,mac=$MAC_C" \
		-- -i --no-flush-rx --txq=1 --rxq=1 --burst=$BURST
	tp_run fe "$STARTUP_S" "set fwd rxonly" "clear port stats all"
	log "three virtio-user ports on switch sw0 (c in VLAN 10)"

	burst 0 ff:ff:ff:ff:ff:ff
	((TP_TXP == BURST)) || fail "port 0 sent $TP_TXP frames, not $BURST"
	expect_rx 0 "$BURST" 0
	log "a's broadcast reached b only (c is in VLAN 10, a gets none back)"

	burst 1 "$MAC_A"
	expect_rx "$BURST" "$BURST" 0
	log "b's frames to a's learnt address reached a only"

	burst 2 ff:ff:ff:ff:ff:ff
	expect_rx "$BURST" "$BURST" 0
	wait_fast "$COUNT_S" "c's burst counted as dropped" test "$(tx_dropped c)" -ge "$BURST"
	log "c's broadcast in VLAN 10 reached nobody, counted as dropped ($(tx_dropped c))"

	burst 1 02:00:00:00:00:99
	expect_rx $((2 * BURST)) "$BURST" 0
	log "b's frames to an unknown address were flooded to a, not to c"

	tp_quit fe
	vhostd_stop_clean
	log "passed"
}

main "$@"
