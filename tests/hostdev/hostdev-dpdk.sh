#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# hostdev-dpdk: vhostd's packet and xdp back-ends against DPDK's virtio-user front-end
# (dpdk-testpmd), exact counts both ways, on a veth pair standing in for a NIC.
#
# usage: hostdev-dpdk.sh TAPINJECT BACKEND "QUEUE_COUNTS"   (as root)
#   BACKEND  packet or xdp
#
# Namespace layout: vhd0 (the port's dev=) and its peer vhp0, both in one namespace created
# here, with IPv6 off and no addresses, so the kernel sends nothing on them by itself. The veth
# has 4 queues each way, so xdp ports can have 4 queue pairs.
#   guest TX: testpmd sends K frames ("start tx_first"); vhp0's rx_packets/rx_bytes and
#             vhostd's tx_packets must grow by exactly K.
#   guest RX: tapinject sends exactly N frames out of vhp0 (so into vhd0), in rounds smaller than
#             the ring; testpmd's RX-packets/RX-bytes and vhostd's rx_packets grow by exactly N.
# 64- and 1518-byte frames; with several queue pairs, testpmd's per-queue xstats must show
# traffic on every queue both ways (for packet: the fanout group spreads the flows).
#   VHOSTD, VHOSTCTL  the daemon and its client (default from $VHOSTD_BUILDDIR)
#   HOSTDEV_KEEP=1    keep the work directory

set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/dpdk/lib.sh
. "$here/../dpdk/lib.sh"

TAPINJECT=${1:-${VHOSTD_BUILDDIR:-}/tests/dpdk/tapinject}
BE=${2:-packet}
QUEUES=${3:-"1 2"}
VHOSTD=${VHOSTD:-${VHOSTD_BUILDDIR:-}/vhostd}
VHOSTCTL=${VHOSTCTL:-${VHOSTD_BUILDDIR:-}/vhostctl}
NS=vhd-hd-$$
DEV=vhd0
PEER=vhp0
TAP=$PEER # lib.sh's tap_stat reads this interface's counters
BURST=32
TX_BURSTS=2
TX_ROUNDS=4
RX_CHUNK=128
RX_ROUNDS=4
RX_FLOWS=64
COUNT_S=15
SIZES="64 1518"
KEEP_WORK=${HOSTDEV_KEEP:-0}
VHOSTD_PID=
NS_MADE=0

# peer_stat NAME: the veth peer's statistics counter NAME.
peer_stat() {
	tap_stat "$1"
}

# snapshot: the peer's counters and vhostd's in PEER_* and VS_*.
snapshot() {
	PEER_RXP=$(peer_stat rx_packets) && PEER_RXB=$(peer_stat rx_bytes) &&
		PEER_TXP=$(peer_stat tx_packets) || exit 1
	vhostd_stats
	VS_TX=$(vs_field tx_packets) && VS_RX=$(vs_field rx_packets) || exit 1
}

# peer_rx_reached BASE N: succeeds once the peer received N frames more than BASE.
peer_rx_reached() {
	local now
	now=$(peer_stat rx_packets) || exit 1
	((now - $1 >= $2))
}

# fe_rx_reached BASE N: succeeds once testpmd received N frames more than BASE.
fe_rx_reached() {
	tp_stats fe
	((TP_RXP - $1 >= $2))
}

# check_guest_tx Q SIZE: every frame testpmd sends arrives on the peer, no more.
check_guest_tx() {
	local q=$1 size=$2 per_round=$((TX_BURSTS * BURST * $1)) round sent fe_txp0 fe_txb0
	local p_rx0 p_rxb0 vs0
	tp_run fe "$CMD_S" "stop" "set txpkts $size"
	tp_stats fe
	fe_txp0=$TP_TXP fe_txb0=$TP_TXB
	snapshot
	p_rx0=$PEER_RXP p_rxb0=$PEER_RXB vs0=$VS_TX
	for ((round = 1; round <= TX_ROUNDS; round++)); do
		tp_run fe "$CMD_S" "stop" "start tx_first $TX_BURSTS"
		wait_until "$COUNT_S" "the peer to receive $((round * per_round)) frames" \
			peer_rx_reached "$p_rx0" $((round * per_round))
	done
	tp_stats fe
	sent=$((TP_TXP - fe_txp0))
	expect_eq "q=$q size=$size testpmd TX-packets" "$sent" $((TX_ROUNDS * per_round))
	expect_eq "q=$q size=$size testpmd TX-bytes" $((TP_TXB - fe_txb0)) $((sent * size))
	snapshot
	expect_eq "q=$q size=$size peer rx_packets" $((PEER_RXP - p_rx0)) "$sent"
	expect_eq "q=$q size=$size peer rx_bytes" $((PEER_RXB - p_rxb0)) $((sent * size))
	wait_until "$COUNT_S" "vhostd tx_packets +$sent" vs_delta_is tx_packets "$vs0" "$sent"
	log "$BE guest TX q=$q size=$size: $sent frames, testpmd == peer == vhostd"
}

# check_guest_rx Q SIZE: every frame tapinject sends on the peer reaches testpmd, no more.
check_guest_rx() {
	local q=$1 size=$2 round total=0 base fe_rxb0 vs0 p_tx0
	tp_stats fe
	base=$TP_RXP fe_rxb0=$TP_RXB
	snapshot
	vs0=$VS_RX p_tx0=$PEER_TXP
	for ((round = 1; round <= RX_ROUNDS; round++)); do
		ip netns exec "$NS" "$TAPINJECT" -i "$PEER" -n "$RX_CHUNK" -s "$size" -f "$RX_FLOWS" \
			>>"$WORK/tapinject.log" 2>&1 || fail "tapinject could not send $RX_CHUNK frames"
		total=$((total + RX_CHUNK))
		wait_until "$COUNT_S" "testpmd to receive $total frames" fe_rx_reached "$base" "$total"
	done
	tp_stats fe
	expect_eq "q=$q size=$size testpmd RX-packets" $((TP_RXP - base)) "$total"
	expect_eq "q=$q size=$size testpmd RX-bytes" $((TP_RXB - fe_rxb0)) $((total * size))
	wait_until "$COUNT_S" "vhostd rx_packets +$total" vs_delta_is rx_packets "$vs0" "$total"
	snapshot
	expect_eq "q=$q size=$size peer tx_packets" $((PEER_TXP - p_tx0)) "$total"
	log "$BE guest RX q=$q size=$size: $total frames, peer == testpmd == vhostd"
}

# check_queues Q: with Q > 1, traffic on every queue in both directions.
check_queues() {
	local q=$1 i dir n
	((q > 1)) || return 0
	tp_run fe "$CMD_S" "show port xstats 0"
	for dir in rx tx; do
		for ((i = 0; i < q; i++)); do
			n=$(tp_field "${dir}_q${i}_good_packets") || exit 1
			((n > 0)) || fail "$BE: queue $i had no $dir traffic"
			log "  ${dir}_q${i}_good_packets=$n"
		done
	done
	log "$BE queues=$q: traffic on every queue both ways"
}

# session Q: vhostd with a Q-queue port on vhd0, testpmd on it, every size both ways.
session() {
	local q=$1 size cpu=$(($(nproc) - 1))
	# As many device queues as queue pairs: an XDP socket sees only its own queue's frames,
	# so a queue without a socket would let frames pass by (to the namespace's stack).
	ip netns exec "$NS" ethtool -L "$DEV" rx "$q" tx "$q" >/dev/null &&
		ip netns exec "$NS" ethtool -L "$PEER" rx "$q" tx "$q" >/dev/null ||
		fail "cannot give the veth $q queues"
	vhostd_launch "$NS" "$WORK/ctl" "name=p0,socket=$WORK/sock,backend=$BE,dev=$DEV,queues=$q"
	tp_start fe "$cpu" --vdev "net_virtio_user0,path=$WORK/sock,queues=$q,queue_size=256" \
		-- -i --rxq="$q" --txq="$q" --nb-cores=1 --burst=$BURST --txpkts=64 \
		--total-num-mbufs=16384 --forward-mode=rxonly --no-flush-rx --mask-event all
	tp_run fe "$STARTUP_S" "show port info 0"
	wait_until "$COUNT_S" "vhostd state=connected" vhostd_state_is connected
	tp_run fe "$CMD_S" "start"
	for size in $SIZES; do
		check_guest_tx "$q" "$size"
		check_guest_rx "$q" "$size"
	done
	check_queues "$q"
	tp_run fe "$CMD_S" "stop"
	vhostd_stats
	log "vhostd: $VS_LINE"
	expect_eq "vhostd ring_faults" "$(vs_field ring_faults)" 0
	expect_eq "vhostd tx_dropped" "$(vs_field tx_dropped)" 0
	expect_eq "vhostd rx_dropped" "$(vs_field rx_dropped)" 0
	tp_quit fe
	wait_until "$COUNT_S" "vhostd state=waiting after testpmd quit" vhostd_state_is waiting
	vhostd_stop_clean
	rm -f "$WORK/sock" "$WORK/ctl"
	if [[ $BE == xdp ]]; then
		# The XDP program goes with the last socket on the device.
		! ip -n "$NS" link show "$DEV" | grep -q 'xdp' ||
			fail "an XDP program is still attached to $DEV after vhostd exited"
		log "xdp: no program left on $DEV"
	fi
}

main() {
	now_ms START_MS
	[[ $(id -u) == 0 ]] || fail "must run as root"
	[[ -x $VHOSTD ]] || fail "vhostd not found at '$VHOSTD'"
	[[ -x $TAPINJECT ]] || fail "tapinject not found at '$TAPINJECT'"
	[[ $BE == packet || $BE == xdp ]] || fail "back-end must be packet or xdp"
	trap cleanup EXIT
	trap 'exit 1' HUP INT TERM
	WORK=$(mktemp -d /tmp/vhostd-hostdev.XXXXXX) || fail "mktemp"
	setup_hugepages
	netns_up "$NS"
	NS_MADE=1
	ip -n "$NS" link add name "$DEV" numtxqueues 4 numrxqueues 4 type veth peer name "$PEER" \
		numtxqueues 4 numrxqueues 4 || fail "cannot create the veth pair"
	# 1518-byte frames: MTU 1504 lets AF_PACKET send them; a deep queue drops nothing.
	ip -n "$NS" link set "$DEV" mtu 1504 up || fail "cannot set $DEV up"
	ip -n "$NS" link set "$PEER" mtu 1504 txqueuelen 4096 up || fail "cannot set $PEER up"
	local q
	for q in $QUEUES; do
		session "$q"
	done
	log "PASS ($BE back-end, queues: $QUEUES)"
}

main "$@"
